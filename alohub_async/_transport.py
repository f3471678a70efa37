"""The HTTP transport: the only module that knows aiohttp's request machinery.

Modelled on gidgethub's ``abc.GitHubAPI._request(method, url, headers, body)`` and its
small aiohttp backend: the session decides (retries, tokens, limits, stats) and the
transport moves bytes. It has two entry points:

* `Transport.send` sends one request and returns its status, headers and whole body,
  refusing a body larger than ``max_body_size`` once decompressed;
* `Transport.open_stream` opens a response whose body is read later, in chunks, through
  a `Stream` (recordings: a file is never held whole).

aiohttp's exceptions become ours here, and only here: `APITimeoutError` and
`APIConnectionError`, raised outside the ``except`` block on purpose, since aiohttp's
exception (whose ``request_info`` holds our headers, credentials included) must not be
chained to them.

The transport also owns the aiohttp ``ClientSession``: it creates one lazily (or uses the
one it was given, which it never closes), closes it, lets go of one whose event loop is
gone, and reports the connections in use for leak checks.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from .errors import AlohubError, APIConnectionError, APITimeoutError, ResponseFormatError

__all__ = ["Response", "Stream", "Transport"]

HeaderBuilder = Callable[[], Mapping[str, str]]
"""Builds a request's headers when the request is sent (see `Transport.send`)."""


class Response:
    """One complete response: status, headers and the (decompressed) body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: CIMultiDictProxy[str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"<Response {self.status} {len(self.body)} bytes>"


def _failure(method: str, url: str | URL, shown: str, exc: BaseException) -> AlohubError:
    """Our error for an aiohttp failure, naming the request by its ``shown`` URL only.

    aiohttp's message may quote the full URL; a signed recording URL's query is a
    secret, so it is replaced with the shown form.
    """
    detail = str(exc)
    full = str(url)
    if full != shown:
        detail = detail.replace(full, shown)
    return APIConnectionError(
        f"{method} {shown} failed: {type(exc).__name__}: {detail}", method=method, url=shown
    )


class Stream:
    """An open response whose body is read in chunks with `read`; `close` it when done.

    ``async with`` closes it too. Closing (not releasing) drops the connection: a
    half-read body must not go back to the pool.
    """

    __slots__ = ("_response", "_shown", "_timeout")

    def __init__(self, response: aiohttp.ClientResponse, shown: str, timeout: float) -> None:
        self._response = response
        self._shown = shown
        self._timeout = timeout

    @property
    def status(self) -> int:
        """The HTTP status."""
        return self._response.status

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The response headers."""
        return self._response.headers

    @property
    def content_length(self) -> int | None:
        """``Content-Length`` as an int, or None."""
        return self._response.content_length

    @property
    def content_type(self) -> str:
        """The media type of ``Content-Type`` (aiohttp's default when there is none)."""
        return self._response.content_type

    async def read(self, limit: int) -> bytes:
        """Read at most ``limit`` bytes of the body (``b""`` at its end).

        Raises:
            APITimeoutError: no data within the timeout (it bounds each read).
            APIConnectionError: the connection failed.
        """
        error: AlohubError
        try:
            return await self._response.content.read(limit)
        except (TimeoutError, asyncio.TimeoutError):
            error = APITimeoutError(
                f"GET {self._shown}: no data for {self._timeout:g}s", method="GET", url=self._shown
            )
        except aiohttp.ClientError as exc:
            error = _failure("GET", self._response.url, self._shown, exc)
        raise error

    def close(self) -> None:
        """Close the response and its connection; safe to call twice."""
        self._response.close()

    async def __aenter__(self) -> Stream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Transport:
    """Sends requests through one aiohttp ``ClientSession``, created here or borrowed.

    Args:
        ssl: what aiohttp's ``ssl`` argument takes (True, False or a context).
        timeout: seconds for one request (`send`: in total; `open_stream`: per read).
        max_body_size: `send` refuses larger bodies with ResponseFormatError.
        trace_configs: for the ``ClientSession`` created here.
        client_session: a ``ClientSession`` to use instead; it is never closed here.
    """

    def __init__(
        self,
        *,
        ssl: ssl_module.SSLContext | bool,
        timeout: float,
        max_body_size: int,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        client_session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.ssl = ssl
        self.timeout = timeout
        self.max_body_size = max_body_size
        self._trace_configs = list(trace_configs) if trace_configs else None
        self._client = client_session
        self.owns_client = client_session is None
        self._total_timeout = aiohttp.ClientTimeout(total=timeout)
        # Per read, not in total: a long recording on a slow link is fine, a stall is not.
        self._read_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeout, sock_read=timeout
        )

    def open(self) -> aiohttp.ClientSession:
        """Return the client, creating it first if needed (in the running loop)."""
        if self._client is None:
            self._client = client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self.ssl),
                trace_configs=self._trace_configs,
            )
            # aiohttp silently re-sends an idempotent request once when a pooled
            # connection drops; the session's retry loop owns every re-send (max_retries,
            # stats, rate limit), so switch that off on the client created here. aiohttp's
            # own test utilities set the same attribute; a borrowed client keeps its
            # owner's.
            if hasattr(client, "_retry_connection"):
                client._retry_connection = False
        return self._client

    async def send(
        self, method: str, url: str, headers: HeaderBuilder, body: bytes | None
    ) -> Response:
        """Send one request and return the response with its whole body.

        ``headers`` is called once, as the request is made: the credentials it returns
        go straight to aiohttp, never into a local variable of this frame, where an error
        reporter capturing locals would find them. Nothing awaits before that call, so a
        caller may note which token it sent right before calling.

        Raises:
            APITimeoutError: the request took longer than ``timeout``.
            APIConnectionError: the connection failed.
            ResponseFormatError: the body is larger than ``max_body_size``.
        """
        client = self._client or self.open()
        error: AlohubError
        try:
            async with client.request(
                method,
                url,
                data=body,
                headers=headers(),
                timeout=self._total_timeout,
                ssl=self.ssl,
                allow_redirects=False,
            ) as response:
                return Response(response.status, response.headers, await self._read(response))
        except (TimeoutError, asyncio.TimeoutError):  # distinct classes before Python 3.11
            error = APITimeoutError(
                f"{method} {url} timed out after {self.timeout:g}s", method=method, url=url
            )
        except aiohttp.ClientError as exc:
            error = _failure(method, url, url, exc)
        raise error

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        """Read a body, refusing more than ``max_body_size`` bytes once decompressed."""
        cap = self.max_body_size
        length = response.content_length
        if length is not None and length > cap:
            raise ResponseFormatError(f"response body of {length} bytes exceeds {cap} bytes")
        # Count what comes out of the decompressor: Content-Length is the compressed
        # size, and a small gzip body can inflate far past the cap.
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > cap:
                raise ResponseFormatError(f"response body exceeds {cap} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def open_stream(self, url: URL, headers: Mapping[str, str], *, shown: str) -> Stream:
        """Send a GET and return its response open, the body not yet read; close it.

        Redirects are not followed (the caller decides where credentials may go), and
        ``timeout`` bounds the connection and each read, not the whole body. ``shown``
        is how errors name the URL (without a signed URL's query).

        Raises:
            APITimeoutError: no connection or no response within ``timeout``.
            APIConnectionError: the connection failed.
        """
        client = self._client or self.open()
        error: AlohubError
        try:
            response = await client.get(
                url,
                headers=headers,
                timeout=self._read_timeout,
                ssl=self.ssl,
                allow_redirects=False,
            )
        except (TimeoutError, asyncio.TimeoutError):
            error = APITimeoutError(
                f"GET {shown} timed out after {self.timeout:g}s", method="GET", url=shown
            )
        except aiohttp.ClientError as exc:
            error = _failure("GET", url, shown, exc)
        else:
            return Stream(response, shown, self.timeout)
        raise error

    @property
    def connections_in_use(self) -> int:
        """Connections checked out by requests right now (idle pooled ones excluded).

        aiohttp has no public count: ``BaseConnector._acquired`` is the set of protocols
        handed out and not yet released (its public ``limit`` is checked against it).
        """
        connector = None if self._client is None else self._client.connector
        if connector is None:  # never opened, or closed
            return 0
        return len(getattr(connector, "_acquired", ()))

    async def close(self) -> None:
        """Close the client if it was created here; a borrowed one is left to its owner."""
        client = self._client
        if self.owns_client:
            self._client = None
            if client is not None:
                await client.close()

    def abandon(self) -> None:
        """Let go of a client whose event loop is closed, without "Unclosed" warnings.

        Its connections cannot be closed through their loop any more; the connector
        closes what it can without a loop, and the sockets are closed directly. A
        borrowed client is left alone.
        """
        client = self._client
        if not self.owns_client or client is None:
            return
        connector = client.connector
        if connector is not None:
            for transport in _transports(connector):
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    sock.close()
            connector._close()
        client.detach()


def _transports(connector: aiohttp.BaseConnector) -> list[asyncio.BaseTransport]:
    """The transports of the connector's pooled connections."""
    found = []
    for protocols in getattr(connector, "_conns", {}).values():
        for proto, _ in protocols:
            if proto.transport is not None:
                found.append(proto.transport)
    return found

"""AlohubSession: lifecycle, auth headers, and the request + retry loop (the only I/O).

aiohttp is wrapped, never subclassed, and its exceptions are translated into
`alohub_async.errors` in exactly one place, `AlohubSession._send`.

Secrets stay out of what the session says and keeps: a `Redactor` registered for the
session's lifetime masks the key and every token it sent in each error as it is built
and in each record of the ``alohub_async`` logger; and neither the key nor the token is
held in a local variable of the request frames (a callee builds the headers, and a
refused request remembers the token's generation, not the token), so error reporters
that capture frame locals do not collect them from there.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import platform
import ssl as ssl_module
import time
from collections.abc import AsyncGenerator, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import tzinfo
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

import aiohttp
from aiolimiter import AsyncLimiter
from multidict import CIMultiDictProxy

from . import _protocol as protocol
from . import _recordings as recordings
from ._auth import TokenProvider, TokenSource, check_secret
from ._converter import get_converter, structure_detail, structure_records
from ._doctor import Diagnosis, run_diagnosis
from ._pagination import WalkIterator, walk_details, walk_pages, walk_records
from ._redact import RedactingFilter, Redactor, register
from ._retry import describe_give_up, is_retryable, retry_attempts
from ._timeutil import (
    DEFAULT_SERVER_TZ,
    DEFAULT_TZ,
    TimeInput,
    resolve_range,
    resolve_tz,
    to_wire,
)
from .errors import (
    AlohubError,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ResponseFormatError,
)
from .models import CallDetail, CallPage, CallRecord, Stats

__all__ = ["AlohubSession"]

logger = logging.getLogger("alohub_async")
logger.addFilter(RedactingFilter())

T = TypeVar("T")

#: Response bodies larger than this are refused with ResponseFormatError.
DEFAULT_MAX_BODY_SIZE = 8 * 1024 * 1024

_ENV_API_KEY = "ALOHUB_API_KEY"
_ENV_ACCESS_TOKEN = "ALOHUB_ACCESS_TOKEN"  # noqa: S105 - the variable's name, not a secret
_ENV_BASE_URL = "ALOHUB_BASE_URL"


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


def _version() -> str:
    """Return the installed distribution's version ("0+unknown" in a bare checkout)."""
    try:
        return metadata.version("alohub-async")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def _user_agent() -> str:
    return (
        f"alohub-async/{_version()} aiohttp/{aiohttp.__version__} "
        f"{platform.python_implementation()}/{platform.python_version()}"
    )


class AlohubSession:
    """An asyncio client for the Alohub Call Logs API.

    Args:
        api_key: the tenant's API key, sent raw as ``Authorization``; defaults to
            ``$ALOHUB_API_KEY``.
        access_token: the JWT obtained after login, sent as ``X-ACCESS-TOKEN``; or an async
            callable returning one (called lazily, after a 401, and before a JWT expires,
            each call bounded by ``timeout``; its failures raise `TokenProviderError`);
            defaults to ``$ALOHUB_ACCESS_TOKEN``.
        base_url: defaults to ``$ALOHUB_BASE_URL``, then ``https://app.alohub.vn:9909``.
            Must be https, except for loopback hosts.
        page_size: records per list request (the ``limit`` field).
        concurrency: list or detail requests in flight at once during a walk.
        timeout: seconds for one attempt of one request, from connect to last byte.
        max_retries: retries per request after the first attempt (0 = one attempt).
        tz: the user's zone: naive datetimes and dates passed in are read in it, times are
            sent in it, and records' times are expressed in it.
        server_tz: the zone of the server's wall clock, in which the naive timestamps it
            sends (``"2024-01-13 15:00:30"``) are read; only change it for a server that is
            not in Vietnam. Changing ``tz`` never changes the instant a record's time denotes.
        client_session: an ``aiohttp.ClientSession`` to share; it is never closed here.
        rate_limit: at most this many requests per second across the whole session.
        ssl: ``True`` (verify, the default), an ``ssl.SSLContext``, or a CA bundle path.
        max_body_size: larger response bodies raise ResponseFormatError.
        trace_configs: aiohttp ``TraceConfig`` objects for the session this client creates.
        recording_base_url: the origin (and optional path prefix) that relative recording
            paths such as ``/recordings/ID.wav`` are read against; without it they are
            refused. Credentials go to it only if it is the API's own origin.
        max_recording_size: larger recordings are refused with ResponseFormatError
            (checked against ``Content-Length`` and while streaming).

    Raises:
        ValueError: a missing key or token, or a bad argument.
    """

    def __init__(
        self,
        api_key: str | None = None,
        access_token: str | TokenProvider | None = None,
        *,
        base_url: str | None = None,
        page_size: int = 50,
        concurrency: int = 4,
        timeout: float = 30.0,
        max_retries: int = 3,
        tz: str | tzinfo = DEFAULT_TZ,
        server_tz: str | tzinfo = DEFAULT_SERVER_TZ,
        client_session: aiohttp.ClientSession | None = None,
        rate_limit: float | None = None,
        ssl: ssl_module.SSLContext | bool | str | os.PathLike[str] = True,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        recording_base_url: str | None = None,
        max_recording_size: int = recordings.DEFAULT_MAX_RECORDING_SIZE,
        keep_raw: str = "all",
    ) -> None:
        if api_key is None:
            api_key = os.environ.get(_ENV_API_KEY)
        if api_key is None or api_key == "":
            raise ValueError(f"an API key is required: pass api_key= or set ${_ENV_API_KEY}")
        self._api_key = check_secret("api_key", api_key)
        if access_token is None:
            access_token = os.environ.get(_ENV_ACCESS_TOKEN)
        if access_token is None or access_token == "":
            raise ValueError(
                f"an access token is required: pass access_token= or set ${_ENV_ACCESS_TOKEN}"
            )
        self.base_url = protocol.normalize_base_url(
            base_url or os.environ.get(_ENV_BASE_URL) or protocol.DEFAULT_BASE_URL
        )
        self.page_size = protocol.validate_positive("page_size", page_size)
        self.concurrency = protocol.validate_positive("concurrency", concurrency)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        self.max_retries = max_retries
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.timeout = float(timeout)
        # Registered before anything can fail with server text; kept until the session
        # is garbage collected, so errors built after close() are masked too.
        self._redactor = Redactor(
            [self._api_key] + ([access_token] if isinstance(access_token, str) else [])
        )
        register(self._redactor)
        self._tokens = TokenSource(access_token, timeout=self.timeout, redactor=self._redactor)
        self.tz = resolve_tz(tz)
        self.server_tz = resolve_tz(server_tz)
        self.max_body_size = protocol.validate_positive("max_body_size", max_body_size)
        self._limiter: AsyncLimiter | None = None
        if rate_limit is not None:
            if isinstance(rate_limit, bool) or not isinstance(rate_limit, (int, float)):
                raise ValueError(f"rate_limit must be a positive number, got {rate_limit!r}")
            if not rate_limit > 0 or rate_limit == float("inf"):
                raise ValueError(f"rate_limit must be a positive number, got {rate_limit!r}")
            # One request every 1/R seconds: never more than R in any one-second window.
            self._limiter = AsyncLimiter(1, 1.0 / rate_limit)
        self.rate_limit = rate_limit
        if isinstance(ssl, (str, os.PathLike)):
            ssl = ssl_module.create_default_context(cafile=os.fspath(ssl))
        self._ssl: ssl_module.SSLContext | bool = ssl
        self._trace_configs = list(trace_configs) if trace_configs else None
        if client_session is not None and not isinstance(client_session, aiohttp.ClientSession):
            raise TypeError("client_session must be an aiohttp.ClientSession")
        self._client: aiohttp.ClientSession | None = client_session
        self._owns_client = client_session is None
        self._aiohttp_timeout = aiohttp.ClientTimeout(total=self.timeout)
        self._converter = get_converter(self.tz, self.server_tz, keep_raw)
        self._state = _State.UNOPENED
        self._entered = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing: asyncio.Future[None] | None = None
        #: Counters over the session's whole life: requests and retries sent, pages and
        #: records received (a walk's own ``stats`` counts what it yielded).
        self.stats = Stats()
        agent = _user_agent()
        self._get_headers = {
            "Authorization": self._api_key,
            "Accept": "application/json, text/plain, */*",
            "X-Requested-With": "XMLHttpRequest",
            "User-Agent": agent,
        }
        self._post_headers = {**self._get_headers, "Content-Type": "application/json"}
        self._recording_base_url: str | None = None
        if recording_base_url is not None:
            try:
                self._recording_base_url = protocol.normalize_base_url(recording_base_url)
            except ValueError as exc:  # the same rules, under this option's name
                raise ValueError(str(exc).replace("base_url", "recording_base_url")) from None
        self._max_recording_size = protocol.validate_positive(
            "max_recording_size", max_recording_size
        )

    @property
    def recording_base_url(self) -> str | None:
        """The origin relative recording paths are read against, or None (refused)."""
        return self._recording_base_url

    @property
    def max_recording_size(self) -> int:
        """The largest recording, in bytes, that is downloaded or streamed."""
        return self._max_recording_size

    def __repr__(self) -> str:
        return (
            f"<AlohubSession base_url={self.base_url!r} state={self._state.value} "
            f"page_size={self.page_size} concurrency={self.concurrency}>"
        )

    # --- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> AlohubSession:
        if self._state is _State.CLOSED:
            raise RuntimeError("this AlohubSession is closed; create a new one")
        if self._entered:
            raise RuntimeError("this AlohubSession is already open (async with entered twice)")
        self._entered = True
        self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        """True once `close` was called."""
        return self._state is _State.CLOSED

    async def close(self) -> None:
        """Close the session and the aiohttp session it created; safe to call twice.

        Requests still in flight for walks that were not closed are cancelled and awaited
        first (such a walk then raises RuntimeError if iterated again), and so is a call to
        the ``access_token`` provider (whoever waited for it gets RuntimeError). A
        ``client_session`` that was passed in is left open: its owner closes it. Calls made
        while a close is under way wait for it, and cancelling one does not stop it
        half-way.
        """
        if self._closing is None:
            self._state = _State.CLOSED
            self._tokens.close()
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        client, self._client = self._client, None
        if self._owns_client and client is not None:
            await client.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._state is _State.CLOSED:
            raise RuntimeError("this AlohubSession is closed; create a new one")
        if self._client is None:
            self._client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl),
                trace_configs=self._trace_configs,
            )
            # aiohttp silently re-sends an idempotent request once when a pooled
            # connection drops; our retry loop owns every re-send (max_retries, stats,
            # rate limit), so switch that off on the session we own. aiohttp's own
            # test utilities set the same attribute; a borrowed session keeps its owner's.
            if hasattr(self._client, "_retry_connection"):
                self._client._retry_connection = False
        self._state = _State.OPENED
        return self._client

    # --- the one I/O boundary ------------------------------------------------------------

    async def _read_body(self, response: aiohttp.ClientResponse) -> bytes:
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

    def _headers(self, with_body: bool) -> dict[str, str]:
        """The request headers, credentials included (built here, not in _send's frame)."""
        headers = dict(self._post_headers if with_body else self._get_headers)
        headers["X-ACCESS-TOKEN"] = self._tokens.current
        return headers

    async def _send(
        self,
        client: aiohttp.ClientSession,
        method: str,
        url: str,
        body: bytes | None,
        attempt: int,
        stats: Stats | None,
    ) -> tuple[int, CIMultiDictProxy[str], bytes, int]:
        """Send one HTTP request; every aiohttp exception becomes ours here, and only here.

        Returns the status, headers and body, and the generation of the token sent.
        """
        self.stats.requests += 1
        if stats is not None:
            stats.requests += 1
        if self._limiter is not None:
            await self._limiter.acquire()
        started = time.monotonic()
        error: AlohubError
        # Read right before the headers are built, with no await in between.
        generation = self._tokens.generation
        try:
            async with client.request(
                method,
                url,
                data=body,
                headers=self._headers(body is not None),
                timeout=self._aiohttp_timeout,
                ssl=self._ssl,
                allow_redirects=False,
            ) as response:
                data = await self._read_body(response)
                status, response_headers = response.status, response.headers
        except (TimeoutError, asyncio.TimeoutError):  # distinct classes before Python 3.11
            error = APITimeoutError(
                f"{method} {url} timed out after {self.timeout:g}s", method=method, url=url
            )
        except aiohttp.ClientError as exc:
            error = APIConnectionError(
                f"{method} {url} failed: {type(exc).__name__}: {exc}", method=method, url=url
            )
        else:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "%s %s -> %d (attempt %d, %.3fs, %d bytes)",
                    method,
                    url,
                    status,
                    attempt,
                    time.monotonic() - started,
                    len(data),
                )
            return status, response_headers, data, generation
        logger.debug(
            "%s %s -> %s (attempt %d, %.3fs)",
            method,
            url,
            type(error).__name__,
            attempt,
            time.monotonic() - started,
        )
        # Raised outside the except block on purpose: aiohttp's exception (whose
        # request_info holds our headers, credentials included) is not chained.
        raise error

    async def _request(
        self, method: str, path: str, body: bytes | None = None, stats: Stats | None = None
    ) -> Any:
        """Send a request with retries and return its decoded JSON body."""
        client = self._open()
        url = self.base_url + path
        refreshed = False
        tries = 0
        started = time.monotonic()
        try:
            async for attempt in retry_attempts(self.max_retries):
                with attempt:
                    self._check_usable()  # close() also stops requests between attempts
                    tries = attempt.num
                    if attempt.num > 1:
                        self._count_retry(stats)
                    await self._tokens.ready()
                    status, headers, data, sent = await self._send(
                        client, method, url, body, attempt.num, stats
                    )
                    try:
                        return protocol.read_response(status, headers, data, method=method, url=url)
                    except AuthenticationError:
                        # A 401 or a body's "invalid API key" code alike. Once per
                        # request: a provider's fresh token that is refused too is final.
                        if refreshed or not self._tokens.refreshable:
                            raise
                    refreshed = True
                    await self._tokens.refresh(stale=sent)
                    self._count_retry(stats)
                    status, headers, data, sent = await self._send(
                        client, method, url, body, attempt.num, stats
                    )
                    return protocol.read_response(status, headers, data, method=method, url=url)
        except AlohubError as error:
            if is_retryable(error):  # stamina ran out of attempts on it
                describe_give_up(error, tries, time.monotonic() - started)
            raise
        raise AssertionError("unreachable: stamina re-raises the last failure")  # pragma: no cover

    def _count_retry(self, stats: Stats | None) -> None:
        self.stats.retries += 1
        if stats is not None:
            stats.retries += 1

    # --- endpoints -----------------------------------------------------------------------

    def _resolve(self, start: TimeInput, end: TimeInput) -> tuple[str, str]:
        lo, hi = resolve_range(start, end, self.tz)
        return to_wire(lo), to_wire(hi)

    async def _fetch_rows(
        self, start: str, end: str, page: int, page_size: int, stats: Stats | None
    ) -> tuple[list[Any], int | None]:
        """Request one list page and return its raw records and total (not yet structured).

        A page holding more than ``page_size`` records is refused here, before any is
        structured.
        """
        body = protocol.encode_json(protocol.build_list_body(start, end, page, page_size))
        payload = await self._request("POST", protocol.LIST_PATH, body, stats)
        return protocol.read_list(payload, limit=page_size)

    def _build_page(self, page: int, page_size: int, raw: tuple[list[Any], int | None]) -> CallPage:
        """Structure a raw page through the converter."""
        rows, total = raw
        items = structure_records(self._converter, rows)
        self.stats.pages += 1
        self.stats.records += len(items)
        return CallPage(items=items, page=page, page_size=page_size, total=total)

    async def get_calls_page(
        self,
        start: TimeInput,
        end: TimeInput,
        page: int = 1,
        page_size: int | None = None,
    ) -> CallPage:
        """Fetch one page of the call list, as the server returns it.

        Raises:
            ValueError: bad arguments, before any request is sent.
        """
        wire_start, wire_end = self._resolve(start, end)
        protocol.validate_positive("page", page)
        size = self.page_size if page_size is None else page_size
        protocol.validate_positive("page_size", size)
        self._check_usable()
        raw = await self._fetch_rows(wire_start, wire_end, page, size, None)
        return self._build_page(page, size, raw)

    def _check_usable(self) -> None:
        if self._state is _State.CLOSED:
            raise RuntimeError("this AlohubSession is closed; create a new one")

    def _walk_args(
        self, start: TimeInput, end: TimeInput, page_size: int | None, concurrency: int | None
    ) -> tuple[str, str, int, int]:
        wire_start, wire_end = self._resolve(start, end)
        size = self.page_size if page_size is None else page_size
        limit = self.concurrency if concurrency is None else concurrency
        protocol.validate_positive("page_size", size)
        protocol.validate_positive("concurrency", limit)
        self._check_usable()
        return wire_start, wire_end, size, limit

    def _pages(
        self, start: str, end: str, size: int, concurrency: int, stats: Stats
    ) -> AsyncGenerator[CallPage, None]:
        # The walk may switch to a smaller limit (a server capping it), so both take it.
        def fetch(page: int, limit: int) -> Coroutine[Any, Any, tuple[list[Any], int | None]]:
            return self._fetch_rows(start, end, page, limit, stats)

        def build(page: int, limit: int, raw: tuple[list[Any], int | None]) -> CallPage:
            return self._build_page(page, limit, raw)

        return walk_pages(
            fetch,
            build,
            page_size=size,
            concurrency=concurrency,
            stats=stats,
            spawn=self._spawn,
            closed=lambda: self.closed,
        )

    def _spawn(self, request: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Start a walk's request as a task that close() will cancel and await."""
        task = asyncio.ensure_future(request)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def iter_pages(
        self,
        start: TimeInput,
        end: TimeInput,
        *,
        page_size: int | None = None,
        concurrency: int | None = None,
    ) -> WalkIterator[CallPage]:
        """Walk the call list page by page, in order; repeated records are removed.

        Raises:
            ValueError: bad arguments, immediately, before any request is sent.
        """
        wire_start, wire_end, size, limit = self._walk_args(start, end, page_size, concurrency)
        stats = Stats()
        return WalkIterator(self._pages(wire_start, wire_end, size, limit, stats), stats)

    def iter_calls(
        self,
        start: TimeInput,
        end: TimeInput,
        *,
        page_size: int | None = None,
        concurrency: int | None = None,
    ) -> WalkIterator[CallRecord]:
        """Yield every call between ``start`` and ``end``, in server order, each once.

        Pages are fetched ``concurrency`` at a time and handed out in order; a failure is
        raised only after every record before it was yielded.

        Raises:
            ValueError: bad arguments, immediately, before any request is sent.
        """
        wire_start, wire_end, size, limit = self._walk_args(start, end, page_size, concurrency)
        stats = Stats()
        pages = self._pages(wire_start, wire_end, size, limit, stats)
        return WalkIterator(walk_records(pages), stats)

    async def get_call(self, call_id: str) -> CallDetail:
        """Fetch one call's details, with its ``recording_url`` and ``transcript``.

        Raises:
            ValueError: an empty or unsafe ``call_id``, before any request is sent.
            NotFoundError: no such call.
        """
        path = protocol.detail_path(call_id)
        self._check_usable()
        return await self._get_detail(call_id, path, None)

    async def _get_detail(self, call_id: str, path: str, stats: Stats | None) -> CallDetail:
        payload = await self._request("GET", path, None, stats)
        record = protocol.read_detail(
            payload, call_id=call_id, method="GET", url=self.base_url + path
        )
        return structure_detail(self._converter, record)

    def iter_call_details(
        self,
        start: TimeInput,
        end: TimeInput,
        *,
        concurrency: int | None = None,
    ) -> WalkIterator[CallDetail]:
        """List the calls in a range, then yield each one's details in list order.

        Detail requests run ``concurrency`` at a time, overlapping with the listing.

        Raises:
            ValueError: bad arguments, immediately, before any request is sent.
        """
        wire_start, wire_end, size, limit = self._walk_args(start, end, None, concurrency)
        stats = Stats()
        records = walk_records(self._pages(wire_start, wire_end, size, self.concurrency, stats))

        async def fetch(call_id: str) -> CallDetail:
            try:
                path = protocol.detail_path(call_id)
            except ValueError as exc:  # an id the server listed but no URL can carry
                raise ResponseFormatError(f"the listing returned an unusable {exc}") from None
            return await self._get_detail(call_id, path, stats)

        details = walk_details(
            records, fetch, concurrency=limit, spawn=self._spawn, closed=lambda: self.closed
        )
        return WalkIterator(details, stats)

    async def diagnose(
        self, start: TimeInput | None = None, end: TimeInput | None = None
    ) -> Diagnosis:
        """Check the configuration, the connection, one list and one detail request.

        Then describe what the tenant returns: the envelope, which key fed each field,
        keys no field reads, timestamp and duration formats, the transcript's shape, and a
        redacted sample (`Diagnosis.capture`) to attach to a bug report. Failures are
        reported in the result, not raised; ``alohub-async doctor`` prints it.

        Args:
            start: First moment listed (default: 24 hours before ``end``).
            end: Last moment listed (default: now).

        Returns:
            The diagnosis.

        Raises:
            ValueError: bad ``start``/``end``, before any request is sent.
        """
        return await run_diagnosis(self, start, end)

    # --- recordings ------------------------------------------------------------------------

    async def download_recording(
        self,
        recording: recordings.RecordingSource,
        destination: str | os.PathLike[str] | IO[bytes],
    ) -> recordings.SavedRecording:
        """Download one call's recording, in chunks, to a path or a binary file object.

        A path is written atomically: into ``PATH.part``, renamed once complete (an
        existing file is replaced). When the server takes ``Range``, a cut connection is
        resumed from the bytes written, and a ``.part`` left by a failed download is
        continued the next time; otherwise the ``.part`` is removed on failure.
        Credentials are sent only if the URL has the API's own origin.

        Args:
            recording: A `CallDetail` or `CallRecord` whose ``recording_url`` is set, or a
                URL (a relative path needs ``recording_base_url``).
            destination: A file path, or a binary file object open for writing.

        Returns:
            What was saved: path, size, content type and SHA-256.

        Raises:
            RecordingURLError: no usable URL (relative without ``recording_base_url``,
                not https, no ``recording_url``), before any request is sent.
            NotFoundError: the server has no such recording (404).
            ResponseFormatError: an HTML page or JSON instead of audio, or a recording
                larger than ``max_recording_size``.
            APIConnectionError: the connection failed or stalled, after retries.
            OSError: the file cannot be written (e.g. its directory does not exist).
        """
        return await recordings.download_recording(self, recording, destination)

    def open_recording(
        self, recording: recordings.RecordingSource
    ) -> AbstractAsyncContextManager[recordings.RecordingStream]:
        """Open a recording to pass it on as it arrives, e.g. from a web app to a browser.

        ``async with alohub.open_recording(call) as audio:`` opens the response (errors
        raise here, before anything is sent on); ``audio.content_type`` and
        ``audio.content_length`` describe it and ``async for chunk in audio`` streams it.
        Leaving the block, cancellation included, closes the connection.

        Args:
            recording: A `CallDetail`, a `CallRecord` or a URL, as for `download_recording`.

        Returns:
            An async context manager yielding a `RecordingStream`.
        """
        return recordings.open_recording(self, recording)

    def download_recordings(
        self,
        start: TimeInput,
        end: TimeInput,
        directory: str | os.PathLike[str],
        *,
        concurrency: int | None = None,
    ) -> AsyncGenerator[recordings.RecordingResult, None]:
        """Download the recordings of every call in a range into ``directory``.

        Files are named from the call id (`recording_file_name`), never from a path the
        server gave; a file already there is skipped (files appear only once complete).
        One `RecordingResult` per call is yielded as its download ends (saved, skipped,
        no recording, or failed with its error); a failure never stops the others. If
        the listing itself fails, the downloads under way are reported, then it raises.

        Args:
            start: First moment of the range.
            end: Last moment of the range.
            directory: An existing directory.
            concurrency: Downloads at once (default: the session's ``concurrency``).

        Returns:
            An async generator of results, in completion order; ``aclose()`` it (or use
            ``contextlib.aclosing``) to stop early and cancel the downloads under way.

        Raises:
            ValueError: bad arguments or a missing directory, before any request is sent.
        """
        limit = self.concurrency if concurrency is None else concurrency
        protocol.validate_positive("concurrency", limit)
        folder = Path(directory)
        if not folder.is_dir():
            raise ValueError(f"{folder} is not an existing directory")
        calls = self.iter_calls(start, end)
        return recordings.download_recordings(self, calls, folder, limit, self._spawn)

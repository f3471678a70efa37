"""AlohubSession: lifecycle, auth headers, and the request + retry loop (the only I/O).

aiohttp is wrapped, never subclassed, and stays behind `_transport.Transport`, which
translates its exceptions into `alohub_async.errors`; the session keeps the lifecycle,
retries, token refresh, limits, stats and the wiring of walks.

Secrets stay out of what the session says and keeps: a `Redactor` registered for the
session's lifetime masks the key and every token it sent in each error as it is built
and in each record of the ``alohub_async`` logger; and neither the key nor the token is
held in a local variable of the request frames (the transport calls a header builder
right into the aiohttp call, and a refused request remembers the token's generation, not
the token), so error reporters that capture frame locals do not collect them from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import platform
import ssl as ssl_module
import time
from collections.abc import AsyncGenerator, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import tzinfo
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import cattrs
from aiolimiter import AsyncLimiter
from yarl import URL

from . import _protocol as protocol
from . import _recordings as recordings
from ._auth import TokenProvider, TokenSource, check_secret
from ._converter import get_converter, structure_detail, structure_records
from ._doctor import Diagnosis, run_diagnosis
from ._environment import ENV_ACCESS_TOKEN, ENV_API_KEY, ENV_BASE_URL
from ._pagination import WalkIterator, walk_details, walk_pages, walk_records
from ._redact import RedactingFilter, Redactor, register
from ._retry import describe_give_up, is_retryable, retry_attempts, retry_log
from ._timeutil import (
    DEFAULT_SERVER_TZ,
    DEFAULT_TZ,
    TimeInput,
    resolve_range,
    resolve_tz,
    to_wire,
)
from ._transport import Response, Stream, Transport
from .errors import (
    AlohubError,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    MissingCredentialsError,
    NotFoundError,
    ResponseFormatError,
    body_excerpt,
)
from .models import CallDetail, CallPage, CallRecord, Stats

__all__ = ["AlohubSession"]

logger = logging.getLogger("alohub_async")
logger.addFilter(RedactingFilter())
# A library's records go where the application's logging configuration sends them; with
# none, Python would print WARNING records (retries) to stderr via its last-resort handler.
logger.addHandler(logging.NullHandler())

T = TypeVar("T")

DEFAULT_MAX_BODY_SIZE = 8 * 1024 * 1024
"""Response bodies larger than this are refused with ResponseFormatError."""


def _check_type(name: str, value: object, kind: type | tuple[type, ...]) -> None:
    """Raise TypeError for a value of the wrong type (a bool is no number here)."""
    if isinstance(value, bool) or not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise TypeError(f"{name} must be {names}, got {type(value).__name__}")


def _positive_int(name: str, value: object) -> int:
    """Return a positive int, or raise TypeError (wrong type) or ValueError (< 1)."""
    _check_type(name, value, int)
    return protocol.validate_positive(name, value)


def locate(error: AlohubError, method: str, url: str) -> None:
    """Give an error the request it concerns, where the code that raised it did not know."""
    if not error.method:
        error.method = method
    if not error.url:
        error.url = url


def _wrong_endpoint(path: str, data: bytes) -> bool:
    """Tell whether a 404 says the base URL is wrong rather than "no such call".

    The list endpoint always exists, so any 404 from it does; from the detail endpoint,
    the API answers an unknown id in JSON, while a page that is not JSON (nginx's HTML,
    a framework's plain text) comes from something that is not the API.
    """
    if path == protocol.LIST_PATH:
        return True
    head = data.lstrip()[:1]
    return bool(head) and head not in (b"{", b"[")


# The "slot" of a session without ``max_in_flight``: reusable, holds nothing.
_NO_SLOT: AbstractAsyncContextManager[None] = contextlib.nullcontext()


class _Tries:
    """One request's progress across its attempts.

    Attributes:
        num: The attempt under way (1-based).
        refreshed: Whether the token was refreshed for this request already.
    """

    __slots__ = ("num", "refreshed")

    def __init__(self) -> None:
        self.num = 1
        self.refreshed = False


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
        concurrency: list or detail requests in flight at once during one walk (each
            walk has its own window of this size).
        max_in_flight: at most this many HTTP requests in flight at once across the whole
            session: every walk, detail and recording request shares it, so 50 web
            requests streaming walks at once never put more than this on the server.
            ``None`` (the default) sets no cap beyond each walk's ``concurrency``.
        timeout: seconds for one attempt of one request, from connect to last byte.
        max_retries: retries per request after the first attempt (0 = one attempt).
        tz: the user's zone: naive datetimes and dates passed in are read in it, times are
            sent in it, and records' times are expressed in it.
        server_tz: the zone of the server's wall clock, in which the naive timestamps it
            sends (``"2024-01-13 15:00:30"``) are read; only change it for a server that is
            not in Vietnam. Changing ``tz`` never changes the instant a record's time denotes.
        client_session: an ``aiohttp.ClientSession`` to share; it is never closed here.
        rate_limit: at most this many requests per second across the whole session
            (it spaces requests out in time; ``max_in_flight`` bounds how many overlap).
        ssl: ``True`` (verify, the default), an ``ssl.SSLContext``, or a CA bundle path.
        max_body_size: larger response bodies raise ResponseFormatError.
        trace_configs: aiohttp ``TraceConfig`` objects for the session this client creates.
        recording_base_url: the origin (and optional path prefix) that relative recording
            paths such as ``/recordings/ID.wav`` are read against; without it they are
            refused. Credentials go to it only if it is the API's own origin.
        max_recording_size: larger recordings are refused with ResponseFormatError
            (checked against ``Content-Length`` and while streaming).

    The configuration is read-only once the session is built (``session.timeout = 5``
    raises AttributeError): create another session for another configuration.

    A session belongs to the event loop it is first used in; using it from another loop
    (a second ``asyncio.run``) raises RuntimeError.

    Raises:
        TypeError: an argument of the wrong type.
        MissingCredentialsError: no key or no token, given or in the environment (a
            ValueError).
        ValueError: a bad argument.
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
        max_in_flight: int | None = None,
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
            api_key = os.environ.get(ENV_API_KEY)
        if access_token is None:
            access_token = os.environ.get(ENV_ACCESS_TOKEN)
        # Both are checked before either is used, so the error names everything missing.
        if api_key is None or api_key == "" or access_token is None or access_token == "":
            given = {"api_key": api_key, "access_token": access_token}
            raise MissingCredentialsError(
                tuple(name for name, value in given.items() if value is None or value == "")
            )
        self._api_key = check_secret("api_key", api_key)
        if base_url is not None and not isinstance(base_url, str):
            raise TypeError(f"base_url must be a str, got {type(base_url).__name__}")
        self._base_url = protocol.normalize_base_url(
            base_url or os.environ.get(ENV_BASE_URL) or protocol.DEFAULT_BASE_URL
        )
        self._page_size = _positive_int("page_size", page_size)
        self._concurrency = _positive_int("concurrency", concurrency)
        _check_type("max_retries", max_retries, int)
        if max_retries < 0:
            raise ValueError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        self._max_retries = max_retries
        _check_type("timeout", timeout, (int, float))
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self._timeout = float(timeout)
        self._max_in_flight = (
            None if max_in_flight is None else _positive_int("max_in_flight", max_in_flight)
        )
        # Created on first use, in the session's loop.
        self._in_flight: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Registered before anything can fail with server text; kept until the session
        # is garbage collected, so errors built after close() are masked too.
        self._redactor = Redactor(
            [self._api_key] + ([access_token] if isinstance(access_token, str) else [])
        )
        register(self._redactor)
        self._tokens = TokenSource(access_token, timeout=self.timeout, redactor=self._redactor)
        self._tz = resolve_tz(tz)
        self._server_tz = resolve_tz(server_tz)
        self._max_body_size = _positive_int("max_body_size", max_body_size)
        self._limiter: AsyncLimiter | None = None
        if rate_limit is not None:
            _check_type("rate_limit", rate_limit, (int, float))
            if not rate_limit > 0 or rate_limit == float("inf"):
                raise ValueError(f"rate_limit must be a positive number, got {rate_limit!r}")
            # One request every 1/R seconds: never more than R in any one-second window.
            self._limiter = AsyncLimiter(1, 1.0 / rate_limit)
        self._rate_limit = rate_limit
        if isinstance(ssl, (str, os.PathLike)):
            ssl = ssl_module.create_default_context(cafile=os.fspath(ssl))
        if client_session is not None and not isinstance(client_session, aiohttp.ClientSession):
            raise TypeError("client_session must be an aiohttp.ClientSession")
        self._transport = Transport(
            ssl=ssl,
            timeout=self._timeout,
            max_body_size=self._max_body_size,
            trace_configs=trace_configs,
            client_session=client_session,
        )
        self._converter = get_converter(self.tz, self.server_tz, keep_raw)
        self._state = _State.UNOPENED
        self._entered = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing: asyncio.Future[None] | None = None
        self._stats = Stats()
        self._user_agent = _user_agent()
        self._recording_base_url: str | None = None
        if recording_base_url is not None:
            try:
                self._recording_base_url = protocol.normalize_base_url(recording_base_url)
            except ValueError as exc:  # the same rules, under this option's name
                raise ValueError(str(exc).replace("base_url", "recording_base_url")) from None
        self._max_recording_size = _positive_int("max_recording_size", max_recording_size)

    # --- configuration (read-only: each value was validated, and derived state such as
    # --- the converter and the aiohttp timeout was built from it) -------------------------

    @property
    def base_url(self) -> str:
        """The API's origin (and path prefix, if any), without a trailing slash."""
        return self._base_url

    @property
    def page_size(self) -> int:
        """Records per list request (the ``limit`` field)."""
        return self._page_size

    @property
    def concurrency(self) -> int:
        """List or detail requests in flight at once during one walk."""
        return self._concurrency

    @property
    def max_in_flight(self) -> int | None:
        """The cap on HTTP requests in flight across the whole session, or None."""
        return self._max_in_flight

    @property
    def timeout(self) -> float:
        """Seconds for one attempt of one request, from connect to last byte."""
        return self._timeout

    @property
    def max_retries(self) -> int:
        """Retries per request after the first attempt."""
        return self._max_retries

    @property
    def tz(self) -> tzinfo:
        """The user's zone: naive inputs are read in it and record times expressed in it."""
        return self._tz

    @property
    def server_tz(self) -> tzinfo:
        """The zone of the server's wall clock, in which its naive timestamps are read."""
        return self._server_tz

    @property
    def rate_limit(self) -> float | None:
        """At most this many requests per second across the session, or None."""
        return self._rate_limit

    @property
    def max_body_size(self) -> int:
        """Larger response bodies, in bytes, raise ResponseFormatError."""
        return self._max_body_size

    @property
    def stats(self) -> Stats:
        """Counters over the session's whole life.

        ``requests`` and ``retries`` sent, list ``pages`` received, ``records_received``
        (the rows of every list page received) and ``records`` (the records handed to
        the caller by all its walks and `get_calls_page`); a walk's own ``stats`` counts
        the same for that walk alone.
        """
        return self._stats

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
            f"page_size={self.page_size} concurrency={self.concurrency} "
            f"max_in_flight={self.max_in_flight}>"
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

    @property
    def connections_in_use(self) -> int:
        """HTTP connections checked out by requests right now (idle pooled ones excluded).

        For a health check or a leak check: with no request under way it is 0, walks
        stopped early included. A borrowed ``client_session`` counts its other users'
        requests too; the aiohttp session created here counts 0 once closed.
        """
        return self._transport.connections_in_use

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
        await self._transport.close()

    def _open(self) -> None:
        """Make sure the session is usable here and its HTTP client exists."""
        if self._state is _State.CLOSED:
            raise RuntimeError("this AlohubSession is closed; create a new one")
        if self._state is _State.OPENED and self._loop is asyncio.get_running_loop():
            return  # the common case, on every request: nothing to create or check
        self._check_loop()
        self._transport.open()
        self._state = _State.OPENED

    def _check_loop(self) -> None:
        """Refuse to run in another event loop than the one the session was opened in.

        aiohttp's connections belong to the loop that made them: used from a second
        ``asyncio.run`` they fail with a bare "Event loop is closed". Say why instead, and
        let go of the connections the dead loop left, which nothing can close any more.
        """
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            return
        if self._loop is loop:
            return
        if self._loop.is_closed():
            self._transport.abandon()
        raise RuntimeError(
            "this AlohubSession was opened in another event loop, and a session belongs to "
            "the loop it was opened in (each asyncio.run() starts a new loop): create the "
            "session inside the loop that uses it, e.g. in main() or in a web app's lifespan"
        )

    def _slot(self) -> AbstractAsyncContextManager[None]:
        """Hold one of the session's ``max_in_flight`` request slots for the block.

        Every HTTP request the session sends goes through here (list pages, details,
        recordings), so the cap holds across walks, whatever their ``concurrency``.
        Without a cap, a shared do-nothing context (no generator made per request).
        """
        if self._max_in_flight is None:
            return _NO_SLOT
        if self._in_flight is None:
            self._in_flight = asyncio.Semaphore(self._max_in_flight)
        return self._in_flight

    # --- the one I/O boundary ------------------------------------------------------------

    def _get_headers(self) -> dict[str, str]:
        """A GET's headers, credentials included (built here, not in a request's frame)."""
        return protocol.request_headers(self._api_key, self._tokens.current, self._user_agent)

    def _post_headers(self) -> dict[str, str]:
        """A JSON POST's headers, credentials included (built here, not in a request's frame)."""
        return protocol.request_headers(
            self._api_key, self._tokens.current, self._user_agent, json_body=True
        )

    async def _send(
        self, method: str, url: str, body: bytes | None, attempt: int, stats: Stats | None
    ) -> tuple[Response, int]:
        """Send one HTTP request through the transport, within the session's limits.

        Returns the response and the generation of the token sent.
        """
        self._stats.requests += 1
        if stats is not None:
            stats.requests += 1
        started = time.monotonic()
        try:
            async with self._slot():
                # The rate limit is taken inside the slot, so a request waiting for a
                # slot does not use up a rate-limit turn meanwhile.
                if self._limiter is not None:
                    await self._limiter.acquire()
                started = time.monotonic()
                # Read right before the transport builds the headers, with no await in
                # between; the builder, not the headers, is what this frame holds.
                generation = self._tokens.generation
                response = await self._transport.send(
                    method, url, self._get_headers if body is None else self._post_headers, body
                )
        except (APITimeoutError, APIConnectionError) as error:
            logger.debug(
                "%s %s -> %s (attempt %d, %.3fs)",
                method,
                url,
                type(error).__name__,
                attempt,
                time.monotonic() - started,
            )
            raise
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %d (attempt %d, %.3fs, %d bytes)",
                method,
                url,
                response.status,
                attempt,
                time.monotonic() - started,
                len(response.body),
            )
        return response, generation

    async def _request(
        self, method: str, path: str, body: bytes | None = None, stats: Stats | None = None
    ) -> Any:
        """Send a request with retries and return its decoded JSON body.

        The first attempt runs outside stamina: setting up its retry loop cost about as
        much client CPU as the rest of the request path together, and most requests
        never retry. When that attempt fails with a retryable error, stamina takes over
        and its first attempt re-raises that failure, so the waits, the retry log, the
        hooks, the attempt count and stamina's testing mode are what they would have
        been with stamina around every attempt.
        """
        self._open()
        url = self._base_url + path
        state = _Tries()
        started = time.monotonic()
        try:
            try:
                return await self._attempt(method, url, path, body, state, stats)
            except AlohubError as error:
                if self._max_retries == 0 or not is_retryable(error):
                    raise
                failed = error
            with retry_log(method, path, self._max_retries + 1):
                async for attempt in retry_attempts(self._max_retries):
                    with attempt:
                        if attempt.num == 1:
                            raise failed  # the attempt made above, handed to stamina
                        self._check_usable()  # close() also stops requests between attempts
                        state.num = attempt.num
                        self._count_retry(stats)
                        return await self._attempt(method, url, path, body, state, stats)
        except AlohubError as error:
            locate(error, method, url)
            if is_retryable(error):  # out of attempts on it
                describe_give_up(error, state.num, time.monotonic() - started)
            raise
        raise AssertionError("unreachable: stamina re-raises the last failure")  # pragma: no cover

    async def _attempt(
        self,
        method: str,
        url: str,
        path: str,
        body: bytes | None,
        state: _Tries,
        stats: Stats | None,
    ) -> Any:
        """Make attempt ``state.num`` of a request: send it and check the response.

        A refused token (a 401 or a body's "invalid API key" code alike) is refreshed and
        the request sent again at once, once per request: a provider's fresh token
        refused too is final.
        """
        tokens = self._tokens
        await tokens.ready()
        response, sent = await self._send(method, url, body, state.num, stats)
        try:
            return self._read(response, method, path)
        except AuthenticationError:
            if state.refreshed or not tokens.refreshable:
                raise
        state.refreshed = True
        await tokens.refresh(stale=sent)
        self._count_retry(stats)
        response, sent = await self._send(method, url, body, state.num, stats)
        return self._read(response, method, path)

    def _read(self, response: Response, method: str, path: str) -> Any:
        """Check a response (`protocol.read_response`), naming a wrong base URL as such."""
        url = self._base_url + path
        status, headers, data = response.status, response.headers, response.body
        try:
            return protocol.read_response(status, headers, data, method=method, url=url)
        except NotFoundError as error:
            if error.status != 404 or not _wrong_endpoint(path, data):
                raise
            # Still a NotFoundError, so that code (and tests) catching the 404 class keep
            # working; the message says that the base URL, not a call, is missing.
            wrong = NotFoundError(
                404,
                data[:2000].decode("utf-8", "replace"),
                method=method,
                url=url,
                message=(
                    f"HTTP 404 for {method} {url}: there is no Alohub API at base_url "
                    f"{self.base_url!r}, so the base URL is wrong (the call list always "
                    "exists); it is the server's origin, such as "
                    f"{protocol.DEFAULT_BASE_URL!r}"
                    + (", without a path" if urlsplit(self.base_url).path else "")
                ),
            )
        except ResponseFormatError as error:
            error.body = error.body or body_excerpt(data)
            raise
        raise wrong

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
        try:
            return protocol.read_list(payload, limit=page_size)
        except AlohubError as error:
            locate(error, "POST", self.base_url + protocol.LIST_PATH)
            raise

    def _build_page(self, page: int, page_size: int, raw: tuple[list[Any], int | None]) -> CallPage:
        """Structure a raw page through the converter."""
        rows, total = raw
        items = structure_records(self._converter, rows)
        self.stats.pages += 1
        self.stats.records_received += len(items)
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
        _positive_int("page", page)
        size = self.page_size if page_size is None else page_size
        _positive_int("page_size", size)
        self._check_usable()
        raw = await self._fetch_rows(wire_start, wire_end, page, size, None)
        result = self._build_page(page, size, raw)
        self.stats.records += len(result.items)  # handed to the caller as they are
        return result

    def _internals(self) -> SessionInternals:
        """The named ways in that `_recordings` and `_doctor` use (see SessionInternals)."""
        return SessionInternals(self)

    def _check_usable(self) -> None:
        """Raise RuntimeError if the session is closed."""
        if self._state is _State.CLOSED:
            raise RuntimeError("this AlohubSession is closed; create a new one")

    def _walk_args(
        self, start: TimeInput, end: TimeInput, page_size: int | None, concurrency: int | None
    ) -> tuple[str, str, int, int]:
        wire_start, wire_end = self._resolve(start, end)
        size = self.page_size if page_size is None else page_size
        limit = self.concurrency if concurrency is None else concurrency
        _positive_int("page_size", size)
        _positive_int("concurrency", limit)
        self._check_usable()
        return wire_start, wire_end, size, limit

    def _walk(
        self, agen: AsyncGenerator[T, None], stats: Stats, what: str, start: str, end: str
    ) -> WalkIterator[T]:
        return WalkIterator(agen, stats, what=what, start=start, end=end, totals=self.stats)

    def _pages(
        self, start: str, end: str, size: int, concurrency: int, stats: Stats
    ) -> AsyncGenerator[CallPage, None]:
        # The walk may switch to a smaller limit (a server capping it), so both take it.
        def fetch(page: int, limit: int) -> Coroutine[Any, Any, tuple[list[Any], int | None]]:
            return self._fetch_rows(start, end, page, limit, stats)

        def build(page: int, limit: int, raw: tuple[list[Any], int | None]) -> CallPage:
            built = self._build_page(page, limit, raw)
            stats.records_received += len(built.items)
            return built

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
        pages = self._pages(wire_start, wire_end, size, limit, stats)
        return self._walk(pages, stats, "pages", wire_start, wire_end)

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
        return self._walk(walk_records(pages), stats, "calls", wire_start, wire_end)

    async def get_call(self, call_id: str) -> CallDetail:
        """Fetch one call's details, with its ``recording_url`` and ``transcript``.

        Raises:
            TypeError: a ``call_id`` that is not a str, before any request is sent.
            ValueError: an empty or unsafe ``call_id``, before any request is sent.
            NotFoundError: no such call; or, when the 404 page is not the API's JSON,
                no API at ``base_url`` (the message then says the base URL is wrong).
        """
        _check_type("call_id", call_id, str)
        path = protocol.detail_path(call_id)
        self._check_usable()
        return await self._get_detail(call_id, path, None)

    async def _get_detail(self, call_id: str, path: str, stats: Stats | None) -> CallDetail:
        payload = await self._request("GET", path, None, stats)
        url = self.base_url + path
        try:
            record = protocol.read_detail(payload, call_id=call_id, method="GET", url=url)
        except AlohubError as error:
            locate(error, "GET", url)
            raise
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
        return self._walk(details, stats, "call details", wire_start, wire_end)

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
        return await run_diagnosis(self._internals(), start, end)

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
        return await recordings.download_recording(self._internals(), recording, destination)

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
        return recordings.open_recording(self._internals(), recording)

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
        _positive_int("concurrency", limit)
        folder = Path(directory)
        if not folder.is_dir():
            raise ValueError(f"{folder} is not an existing directory")
        calls = self.iter_calls(start, end)
        return recordings.download_recordings(self._internals(), calls, folder, limit, self._spawn)


class SessionInternals:
    """What the recordings and doctor modules may use of a session beyond its public API.

    The session hands one to `_recordings` and `_doctor` (`AlohubSession._internals`), so
    they go through these named methods instead of reaching into its private attributes:
    the session's state stays its own, and this class lists every way in. It implements
    `_core.SessionCore`, the protocol those modules are written against, so they need not
    import this module back. It holds no state of its own and is cheap to make.

    Attributes:
        session: The session itself, for its public configuration and `stats`.
    """

    __slots__ = ("session",)

    def __init__(self, session: AlohubSession) -> None:
        self.session = session

    @property
    def tokens(self) -> TokenSource:
        """The access-token source: ``ready``, ``get``, ``generation``, ``refresh``."""
        return self.session._tokens

    @property
    def ssl(self) -> ssl_module.SSLContext | bool:
        """The TLS setting requests are sent with (a CA bundle path already loaded)."""
        return self.session._transport.ssl

    @property
    def converter(self) -> cattrs.Converter:
        """The converter that structures this session's records."""
        return self.session._converter

    @property
    def api_key(self) -> str:
        """The API key (for the doctor's redaction of its capture; never print it)."""
        return self.session._api_key

    @property
    def user_agent(self) -> str:
        """The ``User-Agent`` every request carries."""
        return self.session._user_agent

    def check_usable(self) -> None:
        """Raise RuntimeError if the session is closed."""
        self.session._check_usable()

    def slot(self) -> AbstractAsyncContextManager[None]:
        """Hold one of the session's ``max_in_flight`` request slots for the block."""
        return self.session._slot()

    def count_retry(self, stats: Stats | None) -> None:
        """Count a retry in the session's stats (and a walk's, if given)."""
        self.session._count_retry(stats)

    def credential_headers(self) -> dict[str, str]:
        """``Authorization`` and ``X-ACCESS-TOKEN``, for the API's own origin only.

        Await ``tokens.ready()`` first. Built here, so callers can pass them on without
        naming them.
        """
        session = self.session
        return protocol.credential_headers(session._api_key, session._tokens.current)

    async def request(self, method: str, path: str, body: bytes | None = None) -> Any:
        """Send an API request with the session's retries; return its decoded JSON body."""
        return await self.session._request(method, path, body)

    async def open_stream(self, url: URL, headers: Mapping[str, str], *, shown: str) -> Stream:
        """Open a GET response to read in chunks; ``close()`` it when done.

        See `Transport.open_stream`; the request is counted and rate limited as every
        request of the session is.
        """
        session = self.session
        session._open()
        session._stats.requests += 1
        if session._limiter is not None:
            await session._limiter.acquire()
        return await session._transport.open_stream(url, headers, shown=shown)

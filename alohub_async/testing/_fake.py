"""The fake Alohub backend: an ``aiohttp.web`` app with switchable envelopes and faults.

Request pipeline, in order, for each API request: count it (and its ``page``/``limit`` when
the list body carries integers), sleep the configured latency, check the credentials (401),
apply a scripted or random fault, validate the body (400), answer. Recording downloads skip
the credential check, like a plain file URL.
"""

from __future__ import annotations

import asyncio
import bisect
import io
import json
import math
import random
import ssl
import wave
from collections import Counter
from collections.abc import Callable, Container
from datetime import datetime, timedelta, timezone, tzinfo
from functools import cache
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

import attrs
from aiohttp import web

from alohub_async.testing._data import (
    DEFAULT_ANCHOR,
    DEFAULT_SPAN,
    LOCAL_TZ,
    CallDataset,
    Vocabulary,
    parse_time,
)

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from alohub_async import AlohubSession

__all__ = [
    "DEMO_ACCESS_TOKEN",
    "DEMO_API_KEY",
    "Counters",
    "Endpoint",
    "Envelope",
    "FakeAlohub",
    "Fault",
    "Latency",
    "RecordingFault",
    "recording_wav",
    "serve_forever",
]

DEMO_API_KEY: Final = "demo-api-key"
"""The API key a fake accepts when none is given."""

DEMO_ACCESS_TOKEN: Final = "demo-access-token"  # noqa: S105 - a public demo value
"""The access token a fake accepts when none is given."""

Endpoint: TypeAlias = Literal["list", "detail", "recording", "any"]
"""Which requests a fault or a latency applies to; ``"any"`` means all three."""

TotalFormat: TypeAlias = Literal["number", "string", "dotted", "garbage"]
"""How a fake writes its list total (see `FakeAlohub.total_format`)."""

Latency: TypeAlias = float | tuple[float, float]
"""Seconds of delay: fixed, or drawn uniformly from ``(low, high)`` by the fake's seeded RNG."""

LIST_PATH: Final = "/api/report/call-logs"
"""Path of the list endpoint (POST)."""

COUNTERS_PATH: Final = "/_fake/counters"
"""Path of the fake's own counters endpoint (GET, no credentials), answering `Counters.as_dict`
as JSON: what a test in another process reads to see what the server was asked. It is not
counted itself."""

# How many distinct page sizes a Counters repr lists before it says "...".
_LIMITS_SHOWN: Final = 4

_FAR_FUTURE: Final = datetime(9999, 12, 31, tzinfo=timezone.utc)
_JSON_TYPE: Final = "application/json"
_SUCCESS: Final = {"success": "1", "error_code": "SUCCESS", "error_message": "SUCCESS"}
_MALFORMED_JSON: Final = b'{"success": "1", "error_code": "SUCCESS", "data": [{"callId": "2026'
_REASONS: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}
_CODES: Final = {
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    429: "TOO_MANY_REQUESTS",
}

DOCUMENTED_RECORDS_KEYS: Final = ("data", "items", "list", "records", "rows", "results", "content")
"""Keys under which a list response may hold its records (the client reads each)."""

DOCUMENTED_TOTAL_KEYS: Final = (
    "total",
    "totalRecord",
    "totalRecords",
    "total_count",
    "totalCount",
    "totalElements",
    "totalItems",
    "count",
)
"""Keys under which a list response may hold its total (the client reads each)."""


def _dumps(value: Any) -> bytes:
    """Serialize compactly, keeping Vietnamese text readable."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


#: How many encoded list pages a fake keeps (a few MB at most).
_BODY_CACHE_PAGES = 256


def _json_response(value: Any, status: int = 200) -> web.Response:
    """Return a JSON response."""
    return web.Response(body=_dumps(value), status=status, content_type=_JSON_TYPE, charset="utf-8")


def _error_body(code: str, message: str) -> dict[str, Any]:
    """Return the backend's failure envelope."""
    return {"success": "0", "error_code": code, "error_message": message}


def _reflection(fault: Fault, request: web.Request) -> web.Response:
    """Echo the request's headers (credentials included) the way ``fault`` says."""
    token = request.headers.get("X-ACCESS-TOKEN", "")
    if fault.http_status == 200:
        return _json_response(_error_body("TOKEN_EXPIRED", f"token {token} expired"))
    echo = "; ".join(f"{name}={value}" for name, value in request.headers.items())
    if fault.html:
        page = f"<html><body><h1>{fault.http_status}</h1><pre>{echo}</pre></body></html>"
        return web.Response(text=page, status=fault.http_status, content_type="text/html")
    return web.Response(text=f"token={token}\n{echo}", status=fault.http_status)


def _html_page(status: int) -> str:
    """Return an nginx-style HTML error page."""
    title = f"{status} {_REASONS.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


@cache
def recording_wav() -> bytes:
    """Return the WAV file every recording URL serves: 0.2 s of a 440 Hz tone, 8 kHz mono.

    Returns:
        A complete 16-bit PCM WAV file.
    """
    rate, frames = 8000, 1600
    samples = bytearray()
    for n in range(frames):
        value = round(8000 * math.sin(2 * math.pi * 440 * n / rate))
        samples += value.to_bytes(2, "little", signed=True)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(samples))
    return buffer.getvalue()


RecordingFaultKind: TypeAlias = Literal["truncate", "drip", "redirect"]


@attrs.frozen
class RecordingFault:
    """A misbehaviour of the recording endpoint, queued with `FakeAlohub.script_recording`.

    The `Fault` kinds (a status, an HTML page with 200 via ``Fault.status(200, html=True)``,
    a reset, a hang) also apply to recordings through ``script(..., endpoint="recording")``;
    these are the ones only a file download has.

    Attributes:
        kind: What happens.
        after: ``truncate``: bytes of the body sent before the connection drops.
        chunk_size: ``drip``: bytes per write.
        interval: ``drip``: seconds between two writes.
        location: ``redirect``: the origin (``scheme://host:port``) redirected to; the
            path stays the same.
        status: ``redirect``: the HTTP status (301, 302, 303, 307 or 308).
    """

    kind: RecordingFaultKind
    after: int = 0
    chunk_size: int = 256
    interval: float = 0.0
    location: str = ""
    status: int = 302

    @classmethod
    def truncate(cls, after: int = 1000) -> RecordingFault:
        """Announce the whole body's length, send ``after`` bytes, then drop the connection.

        Args:
            after: Bytes sent before the drop.

        Returns:
            The fault.
        """
        if after < 0:
            raise ValueError("after must not be negative")
        return cls("truncate", after=after)

    @classmethod
    def drip(cls, chunk_size: int = 256, interval: float = 0.05) -> RecordingFault:
        """Send the body slowly: ``chunk_size`` bytes every ``interval`` seconds.

        Args:
            chunk_size: Bytes per write.
            interval: Seconds between writes.

        Returns:
            The fault.
        """
        if chunk_size < 1 or interval < 0:
            raise ValueError("chunk_size must be >= 1 and interval >= 0")
        return cls("drip", chunk_size=chunk_size, interval=interval)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> RecordingFault:
        """Redirect to the same path on another origin, e.g. a second fake's ``url``.

        Args:
            location: The origin redirected to.
            status: 301, 302, 303, 307 or 308.

        Returns:
            The fault.
        """
        if status not in (301, 302, 303, 307, 308):
            raise ValueError(f"not a redirect status: {status}")
        return cls("redirect", location=location.rstrip("/"), status=status)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Read ``Range: bytes=FIRST-[LAST]`` into ``(first, last)``; None: serve everything."""
    if header is None or not header.startswith("bytes="):
        return None
    first_text, _, last_text = header[len("bytes=") :].partition("-")
    if not first_text.isdigit() or (last_text and not last_text.isdigit()):
        return None
    first = int(first_text)
    last = min(int(last_text), size - 1) if last_text else size - 1
    return first, last


@attrs.frozen
class Envelope:
    """The shape of the fake's responses, one of those the client must read.

    The default is the shape of Alohub's sibling APIs:
    ``{"success": "1", "error_code": "SUCCESS", "error_message": "SUCCESS",
    "data": [...], "totalRecord": N}``.

    Examples: ``Envelope(records_key="items", total_key="total")`` gives
    ``{..., "items": [...], "total": N}``; ``Envelope(records_key="items",
    nested_under="data", total_key="totalCount", total_outside=True)`` gives
    ``{..., "data": {"items": [...]}, "totalCount": N}``; ``Envelope(total_key=None)`` drops
    the total; `bare_list` answers a plain JSON list.

    Attributes:
        records_key: Key of the record list, or None for a bare JSON list (no total).
        nested_under: Key of a dict wrapping the record list one level down, or None.
        total_key: Key of the total, or None for no total.
        total_outside: Put the total one level up, beside ``nested_under``, instead of
            beside the list.
        total_block: Key of a pagination block holding the total where it would be, e.g.
            ``"meta"`` gives ``{"data": [...], "meta": {"totalRecord": N}}``; None puts
            the total itself there.
        status_fields: Add ``success``/``error_code``/``error_message`` at the top.
        detail_key: Key holding a detail object, or None to answer the object itself
            (an unknown id then always answers 404).
    """

    records_key: str | None = "data"
    nested_under: str | None = None
    total_key: str | None = "totalRecord"
    total_outside: bool = False
    total_block: str | None = None
    status_fields: bool = True
    detail_key: str | None = "data"

    def __attrs_post_init__(self) -> None:
        if self.records_key is None and self.nested_under is not None:
            raise ValueError("a bare list cannot be nested")
        if self.total_outside and self.nested_under is None:
            raise ValueError("total_outside needs nested_under")

    @classmethod
    def bare_list(cls) -> Envelope:
        """Return the shape that answers a plain JSON list of records, without total.

        Returns:
            The envelope.
        """
        return cls(records_key=None, total_key=None)

    @classmethod
    def documented(cls) -> tuple[Envelope, ...]:
        """Return every list shape the client must read, for parametrized client tests.

        That is the bare list; the records under each documented key, with each
        documented total key or none; and under ``data`` one level down, with the total
        beside the list, one level up, or absent.

        Returns:
            The envelopes, the default first.
        """
        shapes = [cls(), cls.bare_list()]
        totals: tuple[str | None, ...] = (*DOCUMENTED_TOTAL_KEYS, None)
        for key in DOCUMENTED_RECORDS_KEYS:
            for total in totals:
                shapes.append(cls(records_key=key, total_key=total))
                shapes.append(cls(records_key=key, nested_under="data", total_key=total))
                if total is not None:
                    shapes.append(
                        cls(
                            records_key=key,
                            nested_under="data",
                            total_key=total,
                            total_outside=True,
                        )
                    )
        return tuple(dict.fromkeys(shapes))

    def list_body(
        self, records: list[dict[str, Any]], total: Any, *, with_total: bool = True
    ) -> Any:
        """Wrap one page of records.

        Args:
            records: The page's records.
            total: The window's row count (any JSON value, to serve odd totals).
            with_total: False leaves the total out of this page.

        Returns:
            The JSON-ready body.
        """
        if self.records_key is None:
            return records
        body: dict[str, Any] = dict(_SUCCESS) if self.status_fields else {}
        inner: dict[str, Any] = body if self.nested_under is None else {}
        inner[self.records_key] = records
        if self.total_key is not None and with_total:
            holder = body if self.total_outside else inner
            if self.total_block is not None:
                holder = holder.setdefault(self.total_block, {})
            holder[self.total_key] = total
        if self.nested_under is not None:
            body[self.nested_under] = inner
        return body

    def detail_body(self, detail: dict[str, Any] | None) -> Any:
        """Wrap one call detail (None for an unknown id).

        Args:
            detail: The detail, or None.

        Returns:
            The JSON-ready body.
        """
        if self.detail_key is None:
            return detail
        body: dict[str, Any] = dict(_SUCCESS) if self.status_fields else {}
        body[self.detail_key] = detail
        return body


FaultKind: TypeAlias = Literal[
    "status", "reset", "malformed_json", "failure_body", "hang", "null_data", "reflect"
]


@attrs.frozen
class Fault:
    """One misbehaviour of the fake, built with the class methods.

    Examples: ``Fault.status(503, html=True)``, ``Fault.status(429, retry_after=1)``,
    ``Fault.reset()``, ``Fault.malformed_json()``, ``Fault.null_data()``,
    ``Fault.failure_body(code="SYSTEM_ERROR", message="Hệ thống bận")``, ``Fault.hang(5)``,
    ``Fault.reflect(401)``.

    Attributes:
        kind: What happens.
        http_status: The status of a ``status`` fault.
        html: Whether a ``status`` fault's body is an nginx HTML page instead of JSON.
        retry_after: The ``Retry-After`` header (seconds or an HTTP date), if any.
        code: The ``error_code`` of a JSON failure body.
        message: The ``error_message`` of a JSON failure body.
        seconds: How long a ``hang`` lasts (None: until the client leaves or the fake closes).
    """

    kind: FaultKind
    http_status: int = 200
    html: bool = False
    retry_after: float | str | None = None
    code: str | None = None
    message: str | None = None
    seconds: float | None = None

    @classmethod
    def status(
        cls,
        status: int,
        *,
        html: bool = False,
        retry_after: float | str | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> Fault:
        """Answer ``status`` with a JSON failure body, or an nginx HTML page.

        Args:
            status: The HTTP status, e.g. 429, 500, 502, 503.
            html: Send ``text/html`` like a gateway does instead of a JSON failure body.
            retry_after: Value of a ``Retry-After`` header: seconds or an HTTP date.
            code: ``error_code`` of the JSON body (default from the status).
            message: ``error_message`` of the JSON body (default: the reason phrase).

        Returns:
            The fault.
        """
        if not 100 <= status <= 599:
            raise ValueError(f"not an HTTP status: {status}")
        return cls("status", status, html, retry_after, code, message)

    @classmethod
    def reset(cls) -> Fault:
        """Abort the connection without answering: the client sees a connection error.

        Returns:
            The fault.
        """
        return cls("reset")

    @classmethod
    def malformed_json(cls) -> Fault:
        """Answer 200 ``application/json`` with a truncated, invalid JSON body.

        Returns:
            The fault.
        """
        return cls("malformed_json")

    @classmethod
    def failure_body(cls, code: str = "SYSTEM_ERROR", message: str = "System error") -> Fault:
        """Answer 200 with ``{"success": "0", "error_code": code, "error_message": message}``.

        Args:
            code: The ``error_code``.
            message: The ``error_message``.

        Returns:
            The fault.
        """
        return cls("failure_body", code=code, message=message)

    @classmethod
    def reflect(cls, status: int = 500, *, html: bool = False) -> Fault:
        """Answer with the request's own headers echoed in the body, as a careless server does.

        ``status`` 200 echoes them in a JSON failure body's ``error_message`` (the
        credentials included, as ``token <X-ACCESS-TOKEN> expired``); any other status in
        a plain or an HTML page (``Authorization=...; X-ACCESS-TOKEN=...``). Used to prove
        that the client never repeats its secrets.

        Args:
            status: The HTTP status.
            html: Send the echo as an HTML page.

        Returns:
            The fault.
        """
        if not 100 <= status <= 599:
            raise ValueError(f"not an HTTP status: {status}")
        return cls("reflect", status, html)

    @classmethod
    def null_data(cls) -> Fault:
        """Answer 200 ``{"success": "1", ..., "data": null}``: success, no records, no total.

        Returns:
            The fault.
        """
        return cls("null_data")

    @classmethod
    def hang(cls, seconds: float | None = None) -> Fault:
        """Wait before answering normally; None waits until the client or the fake gives up.

        Args:
            seconds: How long to wait.

        Returns:
            The fault.
        """
        if seconds is not None and seconds < 0:
            raise ValueError("seconds must not be negative")
        return cls("hang", seconds=seconds)


@attrs.define
class Counters:
    """What the fake saw, measured server side; ``FakeAlohub.reset_counters()`` zeroes it.

    ``print(fake.counters)`` is one line: `list_pages` shows there as a summary
    (``<2000 requests, pages 1-40, limit 50>``). `as_dict` gives every value as JSON-ready
    data, which a running fake also serves at ``GET /_fake/counters``.

    Attributes:
        requests: Requests to the three endpoints.
        by_endpoint: The same, per endpoint (``"list"``, ``"detail"``, ``"recording"``).
        list_pages: ``(page, limit)`` of each list request, in arrival order (when both
            were integers).
        faults: Faults injected.
        in_flight: Requests being handled right now.
        max_in_flight: The most requests handled at the same time.
    """

    requests: int = 0
    by_endpoint: Counter[str] = attrs.field(factory=Counter)
    list_pages: list[tuple[int, int]] = attrs.field(factory=list)
    faults: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    def __repr__(self) -> str:
        # A long walk records thousands of (page, limit) pairs: the repr summarises them,
        # so print(fake.counters) stays one readable line. The list itself is unchanged.
        return (
            f"Counters(requests={self.requests}, by_endpoint={dict(self.by_endpoint)}, "
            f"list_pages={self._pages_summary()}, faults={self.faults}, "
            f"in_flight={self.in_flight}, max_in_flight={self.max_in_flight})"
        )

    def _pages_summary(self) -> str:
        """Summarise `list_pages`: ``<120 requests, pages 1-24, limit 50>``."""
        pairs = self.list_pages
        if not pairs:
            return "<0 requests>"
        pages = [page for page, _ in pairs]
        limits = sorted({limit for _, limit in pairs})
        shown = ",".join(map(str, limits[:_LIMITS_SHOWN]))
        if len(limits) > _LIMITS_SHOWN:
            shown += ",..."
        word = "limit" if len(limits) == 1 else "limits"
        count = "request" if len(pairs) == 1 else "requests"
        return f"<{len(pairs)} {count}, pages {min(pages)}-{max(pages)}, {word} {shown}>"

    def as_dict(self) -> dict[str, Any]:
        """Return the counters as a JSON-ready dict (what ``GET /_fake/counters`` answers).

        Returns:
            ``requests``, ``by_endpoint``, ``list_pages`` (``[page, limit]`` pairs in
            arrival order), ``faults``, ``in_flight`` and ``max_in_flight``.
        """
        return {
            "requests": self.requests,
            "by_endpoint": dict(self.by_endpoint),
            "list_pages": [[page, limit] for page, limit in self.list_pages],
            "faults": self.faults,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
        }


@attrs.define
class _Rule:
    """A fault and the requests it targets."""

    fault: Fault
    endpoint: Endpoint
    page: int | None
    probability: float = 1.0

    def matches(self, endpoint: str, page: int | None) -> bool:
        """Tell whether a request is targeted."""
        return (self.endpoint == "any" or self.endpoint == endpoint) and (
            self.page is None or self.page == page
        )


def _check_latency(value: Latency) -> Latency:
    """Validate a latency spec."""
    if isinstance(value, tuple):
        low, high = value
        if not 0 <= low <= high:
            raise ValueError(f"latency range must satisfy 0 <= low <= high, got {value}")
        return (float(low), float(high))
    if value < 0:
        raise ValueError("latency must not be negative")
    return float(value)


def _int(value: Any) -> int | None:
    """Return ``value`` when it is a JSON integer (not a bool)."""
    return value if type(value) is int else None


class FakeAlohub:
    """An in-process fake of the Alohub Call Logs backend, for tests and benchmarks.

    ``async with FakeAlohub(calls=1000, seed=1) as fake:`` serves on ``fake.url``
    (127.0.0.1, an ephemeral port by default). Every knob is an attribute or method that
    can change while it runs: ``envelope``, ``latency``/``set_latency()``, ``script()``,
    ``fail_page()``, ``error_rate()``, ``ignore_page``, ``insert_calls()``,
    ``auto_insert()``, ``access_token``, ``missing_detail_404``; what it saw is in
    ``counters``. Recordings honour ``Range``; ``recording_origin`` moves them to a second
    origin, ``script_recording()`` queues `RecordingFault` s, and ``recording_requests``
    keeps the headers each recording request carried.

    Args:
        calls: How many synthetic calls the log holds.
        seed: Seed of the synthetic data (same seed, same data).
        api_key: The accepted ``Authorization`` value (default `DEMO_API_KEY`).
        access_token: The accepted ``X-ACCESS-TOKEN`` (default `DEMO_ACCESS_TOKEN`).
        host: Interface to bind.
        port: Port to bind; 0 picks a free one.
        envelope: Shape of the responses.
        latency: Delay of every request (see `set_latency`).
        anchor: Newest time slot of the synthetic calls (naive = ``server_tz``).
        span: How far back from ``anchor`` the calls are spread.
        max_limit: Largest ``limit`` accepted; a larger one is a 400.
        missing_detail_404: Answer an unknown call id with 404 instead of ``data: null``.
        fault_seed: Seed of the RNG behind random latency and error rates (default ``seed``).
        cache_size: How many generated records to keep (an LRU cache in front of the
            generator; raise it for benchmarks that list the same calls again and again).
        ssl_context: Serve HTTPS with this server-side ``ssl.SSLContext`` (for TLS tests,
            e.g. with a certificate from ``trustme``); plain HTTP when None.
        vocabulary: The keys and value types of the records: ``"evidenced"`` (Alohub's own
            call-record vocabulary, the default), ``"camel"`` or ``"snake"`` (see
            `CallDataset`).
        server_tz: The fake server's clock: the zone of the naive times it writes in
            records and reads in requests (default Asia/Ho_Chi_Minh, like Alohub).
    """

    def __init__(
        self,
        calls: int = 1000,
        seed: int = 0,
        *,
        api_key: str | None = None,
        access_token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        envelope: Envelope | None = None,
        latency: Latency = 0.0,
        anchor: datetime = DEFAULT_ANCHOR,
        span: timedelta = DEFAULT_SPAN,
        max_limit: int = 1000,
        missing_detail_404: bool = False,
        fault_seed: int | None = None,
        cache_size: int = 1024,
        ssl_context: ssl.SSLContext | None = None,
        vocabulary: Vocabulary = "evidenced",
        server_tz: tzinfo = LOCAL_TZ,
    ) -> None:
        self.ssl_context = ssl_context
        self.data = CallDataset(
            calls,
            seed,
            anchor=anchor,
            span=span,
            cache_size=cache_size,
            vocabulary=vocabulary,
            server_tz=server_tz,
        )
        """The synthetic call log served."""
        self.api_key = DEMO_API_KEY if api_key is None else api_key
        """The accepted ``Authorization`` header value."""
        self.access_token = DEMO_ACCESS_TOKEN if access_token is None else access_token
        """The accepted ``X-ACCESS-TOKEN``; assign a new one to expire the old."""
        self.host = host
        self.port = port
        self.envelope = Envelope() if envelope is None else envelope
        """Shape of the responses; may change at any time."""
        self.max_limit = max_limit
        self.missing_detail_404 = missing_detail_404
        self.ignore_page = False
        """When true, every list request gets page 1, whatever page it asks for."""
        self.ignore_limit = False
        """When true, a list page holds every row from its offset on, whatever ``limit``."""
        self.limit_cap: int | None = None
        """When set, a list page holds at most this many rows, whatever ``limit`` asks."""
        self.cap_offsets: Literal["clamped", "requested"] = "clamped"
        """How a capped page finds its first row: ``"clamped"`` computes the offset from the
        capped limit, ``(page - 1) * limit_cap``; ``"requested"`` from the limit asked for,
        ``(page - 1) * limit``, then cuts the page to ``limit_cap`` rows."""
        self.total_pages: Container[int] | None = None
        """The list pages that carry a total (None: every page)."""
        self.total_error = 0
        """Added to the total the list pages report: above (positive) or below the truth."""
        self.total_format: TotalFormat = "number"
        """How the total is written: ``"number"`` (1000), ``"string"`` ("1000"),
        ``"dotted"`` ("1.000", unreadable) or ``"garbage"`` ("n/a", unreadable)."""
        self.duplicate_rows: frozenset[int] = frozenset()
        """Positions of the listing served twice in a row, like a join repeating a row;
        the reported total counts the repeats."""
        self.counters = Counters()
        # Not for secrets: a seeded RNG makes random latency and error rates reproducible.
        self._rng = random.Random(seed if fault_seed is None else fault_seed)  # noqa: S311
        self._latency: dict[str, Latency] = {"any": _check_latency(latency)}
        self._script: list[_Rule] = []
        self._rates: list[_Rule] = []
        self._auto_rows = 0
        self._auto_every = 1
        self._auto_seen = 0
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None
        self._url: str | None = None
        # Encoded list pages, so benchmarks that list the same pages again measure the
        # client rather than this server's JSON encoder. Keyed by everything a page
        # depends on, rows inserted so far included; bounded, oldest dropped first.
        self._bodies: dict[tuple[Any, ...], bytes] = {}
        self._recording_origin: str | None = None
        self._recording_faults: list[RecordingFault] = []
        self.recording_requests: list[tuple[str, dict[str, str]]] = []
        """``(path, headers)`` of every recording request, to check what a client sent."""

    def __repr__(self) -> str:
        return f"<FakeAlohub url={self._url!r} calls={self.data.calls} seed={self.data.seed}>"

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, like ``http://127.0.0.1:PORT``; available once started."""
        if self._url is None:
            raise RuntimeError("FakeAlohub is not running: use 'async with' or await start()")
        return self._url

    def make_app(self) -> web.Application:
        """Build the ``aiohttp.web`` application (``start()`` does this for you).

        Returns:
            The application, routed to this fake.
        """
        app = web.Application()
        app.router.add_post(LIST_PATH, self._handle_list)
        app.router.add_get(LIST_PATH + "/{call_id}", self._handle_detail)
        app.router.add_get("/recordings/{call_id}.wav", self._handle_recording)
        app.router.add_get(COUNTERS_PATH, self._handle_counters)
        return app

    async def start(self) -> None:
        """Bind and serve until `close`.

        Raises:
            RuntimeError: When already started.
        """
        if self._runner is not None:
            raise RuntimeError("FakeAlohub is already running")
        runner = web.AppRunner(
            self.make_app(), access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl_context).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._closing = asyncio.Event()
        address = runner.addresses[0]
        host, port = str(address[0]), int(address[1])
        if host in ("0.0.0.0", "::"):  # noqa: S104 - reading, not binding
            host = "127.0.0.1"
        scheme = "http" if self.ssl_context is None else "https"
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._url = f"{scheme}://{netloc}"
        origin = self._recording_origin
        self.data.base_url = self._url if origin is None else origin

    async def close(self) -> None:
        """Stop serving: wake hanging requests, close connections. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._closing is not None:
            self._closing.set()
        await runner.cleanup()
        self._url = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def session(self, **overrides: Any) -> AlohubSession:
        """Return an ``AlohubSession`` wired to this fake (use it with ``async with``).

        Args:
            **overrides: ``AlohubSession`` arguments; they win over the fake's ``api_key``,
                ``access_token`` and ``base_url``.

        Returns:
            The unopened session.
        """
        from alohub_async import AlohubSession  # lazy: the fake must not need the client

        kwargs: dict[str, Any] = {
            "api_key": self.api_key,
            "access_token": self.access_token,
            "base_url": self.url,
        }
        kwargs.update(overrides)
        return AlohubSession(**kwargs)

    # -- data --------------------------------------------------------------------------

    def expected_records(self, start: datetime | str, end: datetime | str) -> list[dict[str, Any]]:
        """Return what listing ``[start, end]`` page after page serves right now.

        Args:
            start: Window start (naive = the fake's ``server_tz``).
            end: Window end (naive = the fake's ``server_tz``).

        Returns:
            Copies of the records, in server order (newest first).
        """
        return self.data.records(start, end)

    def expected_detail(self, call_id: str) -> dict[str, Any] | None:
        """Return the detail object served for ``call_id``, or None when unknown.

        Args:
            call_id: The call id.

        Returns:
            The detail (before the envelope), or None.
        """
        return self.data.detail(call_id)

    def insert_calls(self, n: int = 1) -> None:
        """Add ``n`` newer calls at the head, as if they happened during a walk.

        They start at the same second as the newest original call, so they belong to
        exactly the windows covering it, and shift every later row there by ``n``.

        Args:
            n: How many calls to add.
        """
        self.data.insert(n)

    def auto_insert(self, rows: int, every: int = 1) -> None:
        """Insert ``rows`` calls after every ``every`` successful list requests.

        The page being answered is computed before the insertion. ``rows=0`` turns it off.

        Args:
            rows: Calls to insert each time.
            every: List requests between insertions.
        """
        if rows < 0 or every < 1:
            raise ValueError("rows must be >= 0 and every >= 1")
        self._auto_rows, self._auto_every, self._auto_seen = rows, every, 0

    # -- faults and latency ------------------------------------------------------------

    @property
    def latency(self) -> Latency:
        """The delay of every endpoint without a latency of its own."""
        return self._latency["any"]

    @latency.setter
    def latency(self, value: Latency) -> None:
        self._latency["any"] = _check_latency(value)

    def set_latency(self, value: Latency, endpoint: Endpoint = "any") -> None:
        """Set the delay of one endpoint, or of all those without their own.

        Args:
            value: Seconds, or ``(low, high)`` drawn uniformly from the seeded RNG.
            endpoint: ``"list"``, ``"detail"``, ``"recording"`` or ``"any"``.
        """
        self._latency[endpoint] = _check_latency(value)

    def script(self, *faults: Fault, endpoint: Endpoint = "any", page: int | None = None) -> None:
        """Queue faults, each consumed by the next matching request, in order.

        Args:
            *faults: The faults, first served first.
            endpoint: Which requests consume them.
            page: Only list requests for this page consume them.
        """
        self._script.extend(_Rule(fault, endpoint, page) for fault in faults)

    def fail_page(self, page: int, fault: Fault, times: int = 1) -> None:
        """Make the next ``times`` list requests for ``page`` fail with ``fault``.

        Args:
            page: The page number.
            fault: The fault.
            times: How many requests fail.
        """
        self.script(*[fault] * times, endpoint="list", page=page)

    def error_rate(
        self,
        probability: float,
        fault: Fault,
        *,
        endpoint: Endpoint = "any",
        page: int | None = None,
    ) -> None:
        """Inject ``fault`` into each matching request with ``probability`` (seeded RNG).

        Rates add up in order: the first one drawn wins. Scripted faults come first.

        Args:
            probability: Chance per request, in [0, 1].
            fault: The fault.
            endpoint: Which requests.
            page: Only list requests for this page.
        """
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be in [0, 1]")
        self._rates.append(_Rule(fault, endpoint, page, probability))

    @property
    def pending_faults(self) -> int:
        """How many scripted faults are still queued."""
        return len(self._script)

    def clear_faults(self) -> None:
        """Drop scripted faults and error rates (not latency, not ``ignore_page``)."""
        self._script.clear()
        self._rates.clear()

    def reset_counters(self) -> None:
        """Zero the counters (``in_flight`` stays live; its maximum restarts from it)."""
        in_flight = self.counters.in_flight
        self.counters = Counters(in_flight=in_flight, max_in_flight=in_flight)

    # -- auth --------------------------------------------------------------------------

    def is_api_key_valid(self, api_key: str) -> bool:
        """Tell whether an ``Authorization`` value is accepted; override to customise.

        Args:
            api_key: The header value.

        Returns:
            Whether it equals `api_key`.
        """
        return api_key == self.api_key

    def is_token_valid(self, token: str) -> bool:
        """Tell whether an ``X-ACCESS-TOKEN`` is accepted; override to customise.

        Args:
            token: The header value.

        Returns:
            Whether it equals `access_token`.
        """
        return token == self.access_token

    # -- handlers ----------------------------------------------------------------------

    def _enter(self, endpoint: str) -> Counters:
        """Count a request entering."""
        counters = self.counters
        counters.requests += 1
        counters.by_endpoint[endpoint] += 1
        counters.in_flight += 1
        if counters.in_flight > counters.max_in_flight:
            counters.max_in_flight = counters.in_flight
        return counters

    async def _delay(self, endpoint: str) -> None:
        """Sleep the endpoint's latency."""
        spec = self._latency.get(endpoint)
        if spec is None:
            spec = self._latency["any"]
        seconds = self._rng.uniform(*spec) if isinstance(spec, tuple) else spec
        if seconds > 0:
            await asyncio.sleep(seconds)

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        """Return a 401 unless the request carries valid credentials."""
        headers = request.headers
        api_key = headers.get("Authorization")
        if api_key is None or not self.is_api_key_valid(api_key):
            return _json_response(_error_body("UNAUTHORIZED", "Invalid API key"), 401)
        token = headers.get("X-ACCESS-TOKEN")
        if token is None or not self.is_token_valid(token):
            return _json_response(
                _error_body("TOKEN_EXPIRED", "Access token is invalid or expired"), 401
            )
        return None

    def _pick_fault(self, endpoint: str, page: int | None) -> Fault | None:
        """Consume the first matching scripted fault, else draw the error rates."""
        if self._script:
            for i, rule in enumerate(self._script):
                if rule.matches(endpoint, page):
                    del self._script[i]
                    return rule.fault
        for rule in self._rates:
            if rule.matches(endpoint, page) and self._rng.random() < rule.probability:
                return rule.fault
        return None

    async def _inject(self, fault: Fault, request: web.Request) -> web.StreamResponse | None:
        """Play a fault; return its response, or None to go on answering normally."""
        self.counters.faults += 1
        kind = fault.kind
        if kind == "hang":
            closing = self._closing
            if closing is None:  # pragma: no cover - handlers only run once started
                return None
            try:
                await asyncio.wait_for(closing.wait(), fault.seconds)
            except asyncio.TimeoutError:
                return None
            kind = "reset"
        if kind == "reset":
            transport = request.transport
            if transport is not None:
                transport.abort()
            return web.Response(status=500)
        if kind == "malformed_json":
            return web.Response(body=_MALFORMED_JSON, content_type=_JSON_TYPE, charset="utf-8")
        if kind == "failure_body":
            return _json_response(_error_body(fault.code or "", fault.message or ""))
        if kind == "null_data":
            return _json_response({**_SUCCESS, "data": None})
        if kind == "reflect":
            return _reflection(fault, request)
        status = fault.http_status
        headers = {}
        if fault.retry_after is not None:
            value = fault.retry_after
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            headers["Retry-After"] = str(value)
        if fault.html:
            return web.Response(
                text=_html_page(status), status=status, headers=headers, content_type="text/html"
            )
        body = _error_body(
            fault.code or _CODES.get(status, "SYSTEM_ERROR"),
            fault.message or _REASONS.get(status, "Error"),
        )
        return web.Response(
            body=_dumps(body), status=status, headers=headers, content_type=_JSON_TYPE
        )

    async def _handle_list(self, request: web.Request) -> web.StreamResponse:
        """Serve ``POST /api/report/call-logs``."""
        counters = self._enter("list")
        try:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            if not isinstance(body, dict):
                body = None
                page = limit = None
            else:
                page, limit = _int(body.get("page")), _int(body.get("limit"))
                if page is not None and limit is not None:
                    counters.list_pages.append((page, limit))
            await self._delay("list")
            denied = self._unauthorized(request)
            if denied is not None:
                return denied
            fault = self._pick_fault("list", page)
            if fault is not None:
                response = await self._inject(fault, request)
                if response is not None:
                    return response
            if body is None:
                return self._bad_request("Body must be a JSON object")
            window = self._parse_window(body, self.data.server_tz)
            if isinstance(window, str):
                return self._bad_request(window)
            if page is None or page < 1:
                return self._bad_request("page is required and must be an integer >= 1")
            if limit is None or not 1 <= limit <= self.max_limit:
                return self._bad_request(
                    f"limit is required and must be an integer in [1, {self.max_limit}]"
                )
            response = self._list_response(window, 1 if self.ignore_page else page, limit)
            if self._auto_rows:
                self._auto_seen += 1
                if self._auto_seen % self._auto_every == 0:
                    self.data.insert(self._auto_rows)
            return response
        finally:
            counters.in_flight -= 1

    @property
    def _quirky(self) -> bool:
        """Whether some list-page misbehaviour is switched on (the body cache is then off)."""
        return bool(
            self.ignore_limit
            or self.limit_cap is not None
            or self.total_pages is not None
            or self.total_error
            or self.total_format != "number"
            or self.duplicate_rows
        )

    def _format_total(self, total: int) -> Any:
        """Write a total the way `total_format` says."""
        total = max(0, total + self.total_error)
        if self.total_format == "string":
            return str(total)
        if self.total_format == "dotted":
            return f"{total:,}".replace(",", ".")
        if self.total_format == "garbage":
            return "n/a"
        return total

    def _listing_rows(
        self, window: tuple[datetime, datetime], offset: int, count: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Rows ``offset`` to ``offset + count`` of the listing with its repeated rows."""
        base_total = self.data.total(*window)
        repeats = sorted(d for d in self.duplicate_rows if 0 <= d < base_total)
        total = base_total + len(repeats)
        wanted: list[int] = []
        base = max(0, offset - len(repeats))
        position = base + bisect.bisect_left(repeats, base)
        while base < base_total and position < offset + count:
            for _ in range(2 if base in self.duplicate_rows else 1):
                if offset <= position < offset + count:
                    wanted.append(base)
                position += 1
            base += 1
        if not wanted:
            return [], total
        lo, size = wanted[0], wanted[-1] - wanted[0] + 1
        first = lo // size + 1  # two pages of ``size`` cover rows lo .. lo + size - 1
        rows = self.data.page(*window, first, size)[0] + self.data.page(*window, first + 1, size)[0]
        start = (first - 1) * size
        return [rows[b - start] for b in wanted], total

    def _quirky_body(self, window: tuple[datetime, datetime], page: int, limit: int) -> Any:
        """Build a list body with the misbehaviours switched on."""
        count = step = limit
        if self.limit_cap is not None and limit > self.limit_cap:
            count = self.limit_cap
            if self.cap_offsets == "clamped":
                step = self.limit_cap
        offset = (page - 1) * step
        if self.ignore_limit:
            count = self.data.total(*window) + len(self.duplicate_rows)
        records, total = self._listing_rows(window, offset, count)
        with_total = self.total_pages is None or page in self.total_pages
        return self.envelope.list_body(records, self._format_total(total), with_total=with_total)

    def _list_response(
        self, window: tuple[datetime, datetime], page: int, limit: int
    ) -> web.Response:
        """Answer one list page, from the encoded-page cache when possible."""
        if self._quirky:
            quirky = _dumps(self._quirky_body(window, page, limit))
            return web.Response(body=quirky, content_type=_JSON_TYPE, charset="utf-8")
        key = (self.data.inserted, window, page, limit, self.envelope)
        body = self._bodies.get(key)
        if body is None:
            records, total = self.data.page(*window, page, limit)
            body = _dumps(self.envelope.list_body(records, total))
            if len(self._bodies) >= _BODY_CACHE_PAGES:
                del self._bodies[next(iter(self._bodies))]
            self._bodies[key] = body
        return web.Response(body=body, content_type=_JSON_TYPE, charset="utf-8")

    @staticmethod
    def _bad_request(message: str) -> web.Response:
        """Return the backend's 400."""
        return _json_response(_error_body("INVALID_PARAM", message), 400)

    @staticmethod
    def _parse_window(body: dict[str, Any], tz: tzinfo) -> tuple[datetime, datetime] | str:
        """Read the time window of a list body (naive times in ``tz``), or say what is wrong."""
        start_text = body.get("callStartTime")
        if not isinstance(start_text, str):
            return "callStartTime is required and must be an ISO 8601 string"
        try:
            start = parse_time(start_text, tz)
        except ValueError:
            return f"callStartTime is not an ISO 8601 time: {start_text[:40]!r}"
        end_text = body.get("callEndtime")
        if end_text is None:
            if "callEndTime" in body:  # the backend silently ignores this misspelling
                return start, _FAR_FUTURE
            return "callEndtime is required"
        if not isinstance(end_text, str):
            return "callEndtime must be an ISO 8601 string"
        try:
            return start, parse_time(end_text, tz)
        except ValueError:
            return f"callEndtime is not an ISO 8601 time: {end_text[:40]!r}"

    async def _handle_detail(self, request: web.Request) -> web.StreamResponse:
        """Serve ``GET /api/report/call-logs/{call_id}``."""
        counters = self._enter("detail")
        try:
            await self._delay("detail")
            denied = self._unauthorized(request)
            if denied is not None:
                return denied
            fault = self._pick_fault("detail", None)
            if fault is not None:
                response = await self._inject(fault, request)
                if response is not None:
                    return response
            detail = self.data.detail(request.match_info["call_id"])
            if detail is None and (self.missing_detail_404 or self.envelope.detail_key is None):
                return _json_response(_error_body("NOT_FOUND", "Call not found"), 404)
            return _json_response(self.envelope.detail_body(detail))
        finally:
            counters.in_flight -= 1

    # -- recordings --------------------------------------------------------------------

    @property
    def recording_origin(self) -> str | None:
        """Where recording URLs point: None for this fake, ``""`` for bare paths.

        Set it to another fake's ``url`` to serve recordings from a second origin (that
        fake, built with the same ``calls`` and ``seed``, serves the same files), or to
        ``""`` for records that carry only ``/recordings/ID.wav``.
        """
        return self._recording_origin

    @recording_origin.setter
    def recording_origin(self, value: str | None) -> None:
        self._recording_origin = origin = None if value is None else value.rstrip("/")
        if self._url is not None:
            self.data.base_url = self._url if origin is None else origin

    def script_recording(self, *faults: RecordingFault) -> None:
        """Queue recording faults, each consumed by the next recording request, in order.

        Args:
            *faults: The faults, first served first.
        """
        self._recording_faults.extend(faults)

    async def _handle_counters(self, request: web.Request) -> web.StreamResponse:
        """Serve ``GET /_fake/counters``: what the fake saw, for programs outside the process.

        It is the fake's own endpoint, not Alohub's: it is not counted, not delayed, takes
        no credentials (counters hold none) and no fault applies to it.
        """
        return _json_response(self.counters.as_dict())

    async def _handle_recording(self, request: web.Request) -> web.StreamResponse:
        """Serve ``GET /recordings/{call_id}.wav`` (no credentials needed; Range honoured)."""
        counters = self._enter("recording")
        try:
            self.recording_requests.append((request.path, dict(request.headers)))
            await self._delay("recording")
            fault = self._pick_fault("recording", None)
            if fault is not None:
                response = await self._inject(fault, request)
                if response is not None:
                    return response
            planned = self._recording_faults.pop(0) if self._recording_faults else None
            if planned is not None and planned.kind == "redirect":
                self.counters.faults += 1
                location = planned.location + request.path_qs
                return web.Response(status=planned.status, headers={"Location": location})
            if not self.data.has_recording(request.match_info["call_id"]):
                return web.Response(status=404, text="recording not found")
            return await self._send_recording(request, planned)
        finally:
            counters.in_flight -= 1

    async def _send_recording(
        self, request: web.Request, fault: RecordingFault | None
    ) -> web.StreamResponse:
        """Stream the WAV (or the requested byte range of it), misbehaving as ``fault`` says."""
        audio = recording_wav()
        size = len(audio)
        wanted = _byte_range(request.headers.get("Range"), size)
        headers = {"Accept-Ranges": "bytes", "Content-Type": "audio/wav"}
        status = 200
        if wanted is not None:
            first, last = wanted
            if first >= size or last < first:
                headers["Content-Range"] = f"bytes */{size}"
                return web.Response(status=416, headers=headers)
            audio = audio[first : last + 1]
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
            status = 206
        headers["Content-Length"] = str(len(audio))
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        if fault is not None and fault.kind == "truncate":
            self.counters.faults += 1
            await response.write(audio[: fault.after])
            if request.transport is not None:
                request.transport.abort()
            return response
        step = len(audio)
        if fault is not None and fault.kind == "drip":
            self.counters.faults += 1
            step = fault.chunk_size
        for offset in range(0, len(audio), step):
            if offset and fault is not None:
                await asyncio.sleep(fault.interval)
            await response.write(audio[offset : offset + step])
        await response.write_eof()
        return response


async def serve_forever(
    host: str = "127.0.0.1",
    port: int = 9909,
    *,
    on_ready: Callable[[FakeAlohub], object] | None = None,
    **kwargs: Any,
) -> None:
    """Run a `FakeAlohub` until cancelled (e.g. by Ctrl-C under ``asyncio.run``).

    Prints nothing: ``on_ready`` receives the running fake, whose ``url``, ``api_key`` and
    ``access_token`` the caller may show.

    Args:
        host: Interface to bind.
        port: Port to bind (0 picks a free one).
        on_ready: Called once the fake listens.
        **kwargs: More `FakeAlohub` arguments (``calls``, ``seed``, ``latency``...).
    """
    async with FakeAlohub(host=host, port=port, **kwargs) as fake:
        if on_ready is not None:
            on_ready(fake)
        await asyncio.Event().wait()

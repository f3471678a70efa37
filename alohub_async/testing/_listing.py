"""The fake's list endpoint: reading a list request, and rendering the page it asks for.

Rendering covers the misbehaviours a list can be switched to (a capped or ignored
``limit``, odd totals, repeated rows) and keeps encoded pages in a cache, so benchmarks
that list the same pages again measure the client rather than this server's JSON encoder.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Container
from datetime import datetime, timezone, tzinfo
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, Protocol, TypeAlias

from aiohttp import web

from alohub_async._protocol import encode_json
from alohub_async.testing._data import parse_time
from alohub_async.testing._envelope import JSON_TYPE, error_body, json_response

if TYPE_CHECKING:
    from alohub_async.testing._data import CallDataset
    from alohub_async.testing._envelope import Envelope

__all__ = [
    "LIST_REQUEST",
    "ListPages",
    "ListRequest",
    "ListSource",
    "TotalFormat",
    "bad_request",
    "parse_window",
    "read_list_request",
]

TotalFormat: TypeAlias = Literal["number", "string", "dotted", "garbage"]
"""How a fake writes its list total (see `FakeAlohub.total_format`)."""

# How many encoded list pages a fake keeps (a few MB at most).
_BODY_CACHE_PAGES: Final = 256

_FAR_FUTURE: Final = datetime(9999, 12, 31, tzinfo=timezone.utc)

Window: TypeAlias = tuple[datetime, datetime]
"""The ``(start, end)`` a list request asks for."""


class ListRequest(NamedTuple):
    """A list request's body, read once by the request pipeline for the handler.

    Attributes:
        body: The JSON object sent, or None when the body is not one.
        page: ``page`` when it is a JSON integer, else None.
        limit: ``limit`` when it is a JSON integer, else None.
    """

    body: dict[str, Any] | None
    page: int | None
    limit: int | None


LIST_REQUEST: Final = web.RequestKey("list_request", ListRequest)
"""Where the pipeline leaves the `ListRequest` it read, for the list handler."""


def _int(value: Any) -> int | None:
    """Return ``value`` when it is a JSON integer (not a bool)."""
    return value if type(value) is int else None


async def read_list_request(request: web.Request) -> ListRequest:
    """Read a list request's body; nothing about it is refused here (the handler says 400).

    Args:
        request: The ``POST`` to the list path.

    Returns:
        The body, and its ``page`` and ``limit`` when they are integers.
    """
    raw = await request.read()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return ListRequest(None, None, None)
    return ListRequest(body, _int(body.get("page")), _int(body.get("limit")))


def bad_request(message: str) -> web.Response:
    """Return the backend's 400.

    Args:
        message: What is wrong with the request.

    Returns:
        The response.
    """
    return json_response(error_body("INVALID_PARAM", message), 400)


def parse_window(body: dict[str, Any], tz: tzinfo) -> Window | str:
    """Read the time window of a list body (naive times in ``tz``), or say what is wrong.

    Args:
        body: The list request's JSON object.
        tz: The server's zone.

    Returns:
        ``(start, end)``, or the message of a 400.
    """
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


class ListSource(Protocol):
    """What `ListPages` reads of a fake on each request: its data, envelope and list knobs.

    ``FakeAlohub`` implements it (see its attributes of the same names); the knobs can be
    switched while the fake serves, so they are read afresh every time.
    """

    @property
    def data(self) -> CallDataset:
        """The calls served."""

    @property
    def envelope(self) -> Envelope:
        """How list bodies are wrapped."""

    @property
    def ignore_limit(self) -> bool:
        """A page holds every row from its offset on, whatever ``limit`` asks."""

    @property
    def limit_cap(self) -> int | None:
        """At most this many rows a page, or None."""

    @property
    def cap_offsets(self) -> Literal["clamped", "requested"]:
        """Whether a capped page's offset comes from the cap or from the asked ``limit``."""

    @property
    def total_pages(self) -> Container[int] | None:
        """The pages that carry a total (None: every page)."""

    @property
    def total_error(self) -> int:
        """Added to the total the pages report."""

    @property
    def total_format(self) -> TotalFormat:
        """How the total is written."""

    @property
    def duplicate_rows(self) -> frozenset[int]:
        """Positions of the listing served twice in a row."""


class ListPages:
    """Renders a fake's list pages, the way its list knobs say, with a cache of encoded pages.

    Args:
        fake: The fake whose data, envelope and list knobs (``ignore_limit``,
            ``limit_cap``, ``total_format``...) are read on each request.
    """

    def __init__(self, fake: ListSource) -> None:
        self._fake = fake
        # Keyed by everything a page depends on, rows inserted so far included; bounded,
        # oldest dropped first.
        self._bodies: dict[tuple[Any, ...], bytes] = {}

    def response(self, window: Window, page: int, limit: int) -> web.Response:
        """Answer one list page, from the encoded-page cache when possible.

        Args:
            window: The time window.
            page: The page asked for (1 when the fake ignores pages).
            limit: The page size asked for.

        Returns:
            The response.
        """
        fake = self._fake
        if self._quirky:
            quirky = encode_json(self._quirky_body(window, page, limit))
            return web.Response(body=quirky, content_type=JSON_TYPE, charset="utf-8")
        key = (fake.data.inserted, window, page, limit, fake.envelope)
        body = self._bodies.get(key)
        if body is None:
            records, total = fake.data.page(*window, page, limit)
            body = encode_json(fake.envelope.list_body(records, total))
            if len(self._bodies) >= _BODY_CACHE_PAGES:
                del self._bodies[next(iter(self._bodies))]
            self._bodies[key] = body
        return web.Response(body=body, content_type=JSON_TYPE, charset="utf-8")

    @property
    def _quirky(self) -> bool:
        """Whether some list-page misbehaviour is switched on (the body cache is then off)."""
        fake = self._fake
        return bool(
            fake.ignore_limit
            or fake.limit_cap is not None
            or fake.total_pages is not None
            or fake.total_error
            or fake.total_format != "number"
            or fake.duplicate_rows
        )

    def _format_total(self, total: int) -> Any:
        """Write a total the way `total_format` says."""
        fake = self._fake
        total = max(0, total + fake.total_error)
        if fake.total_format == "string":
            return str(total)
        if fake.total_format == "dotted":
            return f"{total:,}".replace(",", ".")
        if fake.total_format == "garbage":
            return "n/a"
        return total

    def _listing_rows(
        self, window: Window, offset: int, count: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Rows ``offset`` to ``offset + count`` of the listing with its repeated rows."""
        data, duplicates = self._fake.data, self._fake.duplicate_rows
        base_total = data.total(*window)
        repeats = sorted(d for d in duplicates if 0 <= d < base_total)
        total = base_total + len(repeats)
        wanted: list[int] = []
        base = max(0, offset - len(repeats))
        position = base + bisect.bisect_left(repeats, base)
        while base < base_total and position < offset + count:
            for _ in range(2 if base in duplicates else 1):
                if offset <= position < offset + count:
                    wanted.append(base)
                position += 1
            base += 1
        if not wanted:
            return [], total
        lo, size = wanted[0], wanted[-1] - wanted[0] + 1
        first = lo // size + 1  # two pages of ``size`` cover rows lo .. lo + size - 1
        rows = data.page(*window, first, size)[0] + data.page(*window, first + 1, size)[0]
        start = (first - 1) * size
        return [rows[b - start] for b in wanted], total

    def _quirky_body(self, window: Window, page: int, limit: int) -> Any:
        """Build a list body with the misbehaviours switched on."""
        fake = self._fake
        count = step = limit
        if fake.limit_cap is not None and limit > fake.limit_cap:
            count = fake.limit_cap
            if fake.cap_offsets == "clamped":
                step = fake.limit_cap
        offset = (page - 1) * step
        if fake.ignore_limit:
            count = fake.data.total(*window) + len(fake.duplicate_rows)
        records, total = self._listing_rows(window, offset, count)
        with_total = fake.total_pages is None or page in fake.total_pages
        return fake.envelope.list_body(records, self._format_total(total), with_total=with_total)

"""Time handling: what callers pass in, what goes on the wire, what comes back.

The backend wants ``YYYY-MM-DDTHH:MM:SS±HH:MM`` (no microseconds) and answers with
timestamps in several shapes; everything here is pure and independent of I/O.

Two zones are kept apart. The *user's* zone (``tz``) reads the caller's naive datetimes
and dates and is the zone record times are expressed in. The *server's* zone
(``server_tz``) is the wall clock the backend writes its naive timestamps in
(``"2024-01-13 15:00:30"``): Alohub runs in Vietnam, whatever zone its user is in, so
reading those in ``tz`` would shift every call by the difference between the two.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, TypeAlias, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_orjson_dumps: Callable[[Any], bytes] | None
try:
    from orjson import dumps as _orjson_dumps
except ImportError:  # the optional "orjson" extra is not installed
    _orjson_dumps = None

__all__ = [
    "DEFAULT_SERVER_TZ",
    "DEFAULT_TZ",
    "TimeInput",
    "isoformat_column",
    "parse_timestamp",
    "resolve_range",
    "resolve_tz",
    "timestamp_reader",
    "to_wire",
]

DEFAULT_TZ = "Asia/Ho_Chi_Minh"
"""The session's default time zone: Alohub is a Vietnamese service."""

DEFAULT_SERVER_TZ = "Asia/Ho_Chi_Minh"
"""The zone of the naive timestamps the server sends: its own wall clock, in Vietnam."""

TimeInput: TypeAlias = "datetime | date | str"
"""What ``start``/``end`` may be."""

# Epoch numbers above this are milliseconds: 1e11 seconds is the year 5138.
_MS_THRESHOLD = 100_000_000_000
_NUMERIC = re.compile(r"^-?\d+(\.\d+)?$")
_DAY_FIRST = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y")
# No timestamp form is longer than this ("2026-01-21T09:52:27.123456+07:00" is 32);
# a longer string is garbage, refused before the slower parsers look at it.
_MAX_TIMESTAMP_CHARS = 64
# The datetime constructor's pickle form, datetime(state, tzinfo), which typeshed does not
# describe (see _attach).
_from_state = cast("Callable[[Any, tzinfo], datetime]", datetime)


def resolve_tz(tz: str | tzinfo) -> tzinfo:
    """Return a ``tzinfo`` for an IANA name or pass one through; unknown names are a ValueError."""
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc


def _from_iso(text: str) -> datetime | date:
    """Parse an ISO 8601 date or datetime string, also accepting a trailing ``Z``."""
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if len(text) == 8 and text.isdigit():  # a date in basic form (20250413), on any Python
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        return date.fromisoformat(text)
    except ValueError:
        return datetime.fromisoformat(text)


def _resolve(value: TimeInput, tz: tzinfo, *, is_end: bool, name: str) -> datetime:
    """Turn one caller-supplied bound into an aware datetime in ``tz``, whole seconds."""
    if isinstance(value, str):
        try:
            value = _from_iso(value.strip())
        except ValueError:
            raise ValueError(
                f"{name} must be an ISO 8601 date or datetime, got {value!r}"
            ) from None
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)
    elif isinstance(value, date):
        moment = datetime.combine(value, time(23, 59, 59) if is_end else time(0, 0, 0), tz)
    else:
        raise TypeError(
            f"{name} must be a datetime, a date or an ISO 8601 string, got {type(value).__name__}"
        )
    return moment.replace(microsecond=0)


def resolve_range(start: TimeInput, end: TimeInput, tz: tzinfo) -> tuple[datetime, datetime]:
    """Resolve a ``(start, end)`` pair to aware datetimes in ``tz``; ``start > end`` is an error.

    A ``date`` start means 00:00:00 of that day and a ``date`` end 23:59:59; naive
    datetimes are read in ``tz``.
    """
    lo = _resolve(start, tz, is_end=False, name="start")
    hi = _resolve(end, tz, is_end=True, name="end")
    if lo > hi:
        raise ValueError(f"start ({to_wire(lo)}) is after end ({to_wire(hi)})")
    return lo, hi


def to_wire(moment: datetime) -> str:
    """Format an aware datetime as the backend wants it: ``2025-04-13T00:00:00+07:00``.

    An offset with seconds (historical local mean time) has no ``±HH:MM`` form: such a
    moment is sent in UTC instead, which names the same instant.
    """
    offset = moment.utcoffset()
    if offset is not None and offset.total_seconds() % 60:
        moment = moment.astimezone(timezone.utc)
    return moment.isoformat(timespec="seconds")


def _from_epoch(number: float, tz: tzinfo) -> datetime | None:
    try:
        if abs(number) >= _MS_THRESHOLD:
            number /= 1000.0
        return datetime.fromtimestamp(number, tz)
    except (OverflowError, OSError, ValueError):
        return None


def parse_timestamp(value: object, tz: tzinfo, server_tz: tzinfo | None = None) -> datetime | None:
    """Read a timestamp the server sent, or return ``None`` when it is absent or unreadable.

    Accepts ISO 8601 with or without offset, ``YYYY-MM-DD HH:MM:SS``,
    ``DD/MM/YYYY HH:MM:SS``, and epoch seconds or milliseconds as numbers or digit strings.
    A time without offset is the server's wall clock, read in ``server_tz`` (``tz`` when
    None); the result is always expressed in ``tz``, so changing ``tz`` changes how a
    time is shown, never the instant it denotes. Unreadable values
    (``"0000-00-00 00:00:00"`` and the like) give ``None``; the record's ``raw`` still
    holds them.
    """
    if server_tz is None:
        server_tz = tz
    if type(value) is str and len(value) >= 19 and value[4] == "-":
        # The common case, kept fast: an ISO date-time ("2026-01-21 09:52:27").
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return _place(parsed, tz, server_tz)
    return _parse_other(value, tz, server_tz)


def timestamp_reader(
    tz: tzinfo, server_tz: tzinfo | None = None
) -> Callable[[str], datetime | None]:
    """Return ``parse_timestamp`` for one pair of zones, fast for what the server sends.

    Alohub writes its times as ``"2026-01-21 09:52:27"`` (naive, 19 characters) and
    sometimes as ``"2026-01-21T09:52:27+07:00"`` (25). For those two lengths the reader
    calls ``datetime.fromisoformat`` and places the result itself, in one Python call
    instead of three (`parse_timestamp` -> `_place` -> `_attach`), with the zones bound
    once: that is what a list page pays twice per record. Anything else, and any string
    ``fromisoformat`` refuses, goes to `parse_timestamp`, so the result is always the one
    it gives (tests/test_timeutil.py checks this on generated times and strings).
    """
    if server_tz is None:
        server_tz = tz
    fromiso = datetime.fromisoformat
    from_state = _from_state
    naive_in_tz = server_tz is tz

    def read(value: str) -> datetime | None:
        size = len(value)
        # The same guard as parse_timestamp's own ISO branch (value[4]), so no string
        # takes another route than it would there (a 19-digit epoch string, say).
        if (size == 19 or size == 25) and value[4] == "-":
            try:
                parsed = fromiso(value)
            except ValueError:
                return parse_timestamp(value, tz, server_tz)
            zone = parsed.tzinfo
            if zone is None:
                moment = from_state(parsed.__reduce__()[1][0], server_tz)  # _attach, inline
                return moment if naive_in_tz else moment.astimezone(tz)
            return parsed if zone is tz else parsed.astimezone(tz)
        return parse_timestamp(value, tz, server_tz)

    return read


def _place(parsed: datetime, tz: tzinfo, server_tz: tzinfo) -> datetime:
    """Express a parsed time in ``tz``; a naive one is first read in ``server_tz``."""
    if parsed.tzinfo is None:
        if server_tz is tz:  # the default, and the fast path: no conversion at all
            return _attach(parsed, tz)
        return _attach(parsed, server_tz).astimezone(tz)
    return parsed if parsed.tzinfo is tz else parsed.astimezone(tz)


def _attach(naive: datetime, tz: tzinfo) -> datetime:
    """Read a naive datetime in ``tz``.

    ``replace(tzinfo=tz)`` parses keywords and costs about five times as much before
    Python 3.12; passing the seven fields to the constructor, twice. Fastest is the
    constructor's pickle form, ``datetime(state, tz)``, with the 10-byte state
    ``__reduce__`` gives: every Python must keep reading it (pickles depend on it), and it
    carries every field but ``fold``, which a parsed naive time never sets.
    """
    return _from_state(naive.__reduce__()[1][0], tz)


def _parse_other(value: object, tz: tzinfo, server_tz: tzinfo) -> datetime | None:
    """The less common timestamp forms (see `parse_timestamp`)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _from_epoch(value, tz)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > _MAX_TIMESTAMP_CHARS:
        return None
    if _NUMERIC.match(text):
        return _from_epoch(float(text), tz)
    parsed: datetime | date | None
    try:
        parsed = _from_iso(text)
    except ValueError:
        parsed = None
        for fmt in _DAY_FIRST:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if parsed is None:
            return None
    if not isinstance(parsed, datetime):
        parsed = datetime.combine(parsed, time(0, 0, 0))
    return _place(parsed, tz, server_tz)


_MINUTE = timedelta(minutes=1)


def isoformat_column(column: Sequence[datetime], *, quoted: bool = False) -> list[str]:
    """Return ``isoformat()`` of each datetime (in double quotes if ``quoted``).

    Exports and the SQLite store write a page's or a window's timestamps at once; with the
    orjson extra installed, one ``orjson.dumps`` call spells the whole column, about ten
    times faster than an ``isoformat`` call per value. orjson writes RFC 3339 as
    ``isoformat`` does (microseconds only when not zero, ``+00:00``, no offset when naive)
    but rounds an offset to whole minutes where ``isoformat`` writes its seconds (local
    mean time before 1900, say), so such a column, or one whose tzinfo orjson cannot ask,
    keeps ``isoformat``, as does one with a tzinfo whose offset is None (``isoformat``
    writes no offset, orjson ``+00:00``). Checking the offsets costs a quarter of
    ``isoformat``.
    """
    if _orjson_dumps is not None and _orjson_writes_isoformat(column):
        try:
            # '["2026-01-21T09:52:27+07:00","..."]': RFC 3339 holds no quote or comma.
            text = _orjson_dumps(column)[1:-1].decode("ascii")
        except TypeError:  # a tzinfo orjson does not know
            pass
        else:
            if not text:
                return []
            return text.split(",") if quoted else text[1:-1].split('","')
    texts = list(map(datetime.isoformat, column))
    return ['"' + text + '"' for text in texts] if quoted else texts


def _orjson_writes_isoformat(column: Sequence[datetime]) -> bool:
    """Tell whether orjson's text of every datetime in ``column`` is its ``isoformat()``."""
    offsets = set(map(datetime.utcoffset, column))
    if None in offsets and any(moment.tzinfo is not None for moment in column):
        return False  # a tzinfo without an offset: isoformat writes none, orjson +00:00
    return not any(offset % _MINUTE for offset in offsets if offset is not None)

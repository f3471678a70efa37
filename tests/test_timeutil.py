"""Caller time inputs to the wire format, and server timestamps back to datetimes."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone, tzinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alohub_async._timeutil import (
    parse_timestamp,
    resolve_range,
    resolve_tz,
    timestamp_reader,
    to_wire,
)

VN = resolve_tz("Asia/Ho_Chi_Minh")
UTC_TZ = timezone.utc


def wire(start: object, end: object) -> tuple[str, str]:
    lo, hi = resolve_range(start, end, VN)  # type: ignore[arg-type]
    return to_wire(lo), to_wire(hi)


def test_dates_cover_whole_days() -> None:
    """A date start is 00:00:00 and a date end 23:59:59, in the session tz."""
    assert wire(date(2025, 4, 13), date(2025, 4, 14)) == (
        "2025-04-13T00:00:00+07:00",
        "2025-04-14T23:59:59+07:00",
    )


def test_naive_datetimes_are_read_in_the_session_tz() -> None:
    """A naive datetime is taken as local time of the session tz."""
    assert (
        wire(datetime(2025, 4, 13, 8), datetime(2025, 4, 13, 9))[0] == "2025-04-13T08:00:00+07:00"
    )


def test_aware_datetimes_are_converted() -> None:
    """An aware datetime is converted to the session tz."""
    utc = datetime(2025, 4, 13, 1, 0, tzinfo=timezone.utc)
    assert wire(utc, utc) == ("2025-04-13T08:00:00+07:00", "2025-04-13T08:00:00+07:00")


def test_microseconds_are_dropped() -> None:
    """The wire format has whole seconds only."""
    moment = datetime(2025, 4, 13, 8, 0, 0, 999_999)
    assert wire(moment, moment)[0] == "2025-04-13T08:00:00+07:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-04-13", "2025-04-13T00:00:00+07:00"),
        ("2025-04-13T08:30:00", "2025-04-13T08:30:00+07:00"),
        ("2025-04-13T01:30:00Z", "2025-04-13T08:30:00+07:00"),
        ("2025-04-13T08:30:00+07:00", "2025-04-13T08:30:00+07:00"),
        (" 2025-04-13 08:30:00 ", "2025-04-13T08:30:00+07:00"),
    ],
)
def test_iso_strings(text: str, expected: str) -> None:
    """ISO 8601 strings, with or without offset or time, are accepted."""
    assert wire(text, "2030-01-01")[0] == expected


def test_iso_date_string_end_is_end_of_day() -> None:
    """A date-only end string means 23:59:59 of that day."""
    assert wire("2025-04-13", "2025-04-13")[1] == "2025-04-13T23:59:59+07:00"


def test_basic_form_date_end_is_end_of_day() -> None:
    """A date in ISO basic form (20250413) is a whole day too."""
    assert wire("20250413", "20250413") == (
        "2025-04-13T00:00:00+07:00",
        "2025-04-13T23:59:59+07:00",
    )


def test_offsets_with_seconds_are_sent_in_utc() -> None:
    """A historical offset with seconds (no ±HH:MM form) is sent as the same instant in UTC."""
    lo, _ = resolve_range(date(1900, 1, 1), date(1900, 1, 1), VN)
    assert lo.utcoffset() == timedelta(hours=7, minutes=6, seconds=30)
    assert to_wire(lo) == "1899-12-31T16:53:30+00:00"


def test_start_after_end_is_an_error() -> None:
    """start > end raises ValueError."""
    with pytest.raises(ValueError, match="after end"):
        wire(date(2025, 4, 14), date(2025, 4, 13))


@pytest.mark.parametrize("bad", ["13/04/2025", "yesterday", ""])
def test_unreadable_strings_are_errors(bad: str) -> None:
    """A string that is not ISO 8601 raises ValueError naming the argument."""
    with pytest.raises(ValueError, match="start"):
        wire(bad, "2025-04-13")


def test_wrong_types_are_errors() -> None:
    """Numbers and other objects are refused with a TypeError."""
    with pytest.raises(TypeError, match="end"):
        wire("2025-04-13", 12345)


def test_other_session_tz() -> None:
    """The session tz decides the offset on the wire."""
    lo, _ = resolve_range(date(2025, 1, 1), date(2025, 1, 1), resolve_tz("UTC"))
    assert to_wire(lo) == "2025-01-01T00:00:00+00:00"


def test_unknown_tz_is_an_error() -> None:
    """An unknown zone name raises ValueError."""
    with pytest.raises(ValueError, match="Mars/Olympus"):
        resolve_tz("Mars/Olympus")


def test_tzinfo_passes_through() -> None:
    """A tzinfo object is used as is."""
    tz = timezone(timedelta(hours=3))
    assert resolve_tz(tz) is tz


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-21 09:52:27", datetime(2026, 1, 21, 9, 52, 27, tzinfo=VN)),
        ("2026-01-21T09:52:27", datetime(2026, 1, 21, 9, 52, 27, tzinfo=VN)),
        ("2026-01-21T02:52:27Z", datetime(2026, 1, 21, 9, 52, 27, tzinfo=VN)),
        ("2026-01-21T09:52:27+07:00", datetime(2026, 1, 21, 9, 52, 27, tzinfo=VN)),
        ("21/01/2026 09:52:27", datetime(2026, 1, 21, 9, 52, 27, tzinfo=VN)),
        ("2026-01-21", datetime(2026, 1, 21, 0, 0, 0, tzinfo=VN)),
        (1768963947, datetime(2026, 1, 21, 9, 52, 27, tzinfo=VN)),
        (1768963947000, datetime(2026, 1, 21, 9, 52, 27, tzinfo=VN)),
        (1768963947.5, datetime(2026, 1, 21, 9, 52, 27, 500000, tzinfo=VN)),
        ("1768963947", datetime(2026, 1, 21, 9, 52, 27, tzinfo=VN)),
        ("1768963947000", datetime(2026, 1, 21, 9, 52, 27, tzinfo=VN)),
    ],
)
def test_parse_timestamp_forms(value: object, expected: datetime) -> None:
    """Every documented server timestamp form is read to the same instant."""
    parsed = parse_timestamp(value, VN)
    assert parsed == expected
    assert parsed is not None and parsed.tzinfo is not None


@pytest.mark.parametrize(
    "value", [None, "", "  ", "0000-00-00 00:00:00", "soon", True, [], 1e300, 10**400]
)
def test_parse_timestamp_unreadable_is_none(value: object) -> None:
    """Absent or unreadable timestamps are None."""
    assert parse_timestamp(value, VN) is None


PARIS = resolve_tz("Europe/Paris")


@pytest.mark.parametrize(
    ("value", "tz", "expected"),
    [
        ("2026-01-31 23:58:55", UTC_TZ, "2026-01-31T16:58:55+00:00"),
        ("2026-01-31 23:58:55", PARIS, "2026-01-31T17:58:55+01:00"),
        ("2026-01-31 23:58:55", VN, "2026-01-31T23:58:55+07:00"),
        ("31/01/2026 23:58:55", UTC_TZ, "2026-01-31T16:58:55+00:00"),
        ("2026-01-31T23:58:55", UTC_TZ, "2026-01-31T16:58:55+00:00"),
        ("2026-01-31T16:58:55Z", PARIS, "2026-01-31T17:58:55+01:00"),
        (1769878735, UTC_TZ, "2026-01-31T16:58:55+00:00"),
    ],
)
def test_naive_server_times_are_read_in_server_tz(value: object, tz: object, expected: str) -> None:
    """A naive time is the server's clock (``server_tz``); the result is shown in ``tz``."""
    parsed = parse_timestamp(value, tz, VN)  # type: ignore[arg-type]
    assert parsed is not None
    assert parsed.isoformat() == expected


def test_server_tz_defaults_to_tz() -> None:
    """Without ``server_tz``, naive times are read in ``tz`` (the one-zone behaviour)."""
    parsed = parse_timestamp("2026-01-31 23:58:55", UTC_TZ)
    assert parsed is not None
    assert parsed.isoformat() == "2026-01-31T23:58:55+00:00"


@pytest.mark.parametrize("value", ["2026-01-31 23:58:55" + "9" * 100, "2" * 65])
def test_over_long_timestamps_are_unreadable(value: str) -> None:
    """A string longer than any timestamp form is ``None`` without reaching the slow parsers."""
    assert parse_timestamp(value, VN) is None


# --- the fast reader: identical to parse_timestamp ---------------------------------------

_ZONES = [VN, UTC_TZ, timezone(timedelta(hours=-3, minutes=-30)), resolve_tz("Europe/Paris")]


def _same(got: datetime | None, expected: datetime | None) -> None:
    """Identical, not merely equal: the same instant, the same tzinfo object and fold."""
    assert got == expected
    if got is not None and expected is not None:
        assert got.tzinfo is expected.tzinfo
        assert (got.fold, repr(got)) == (expected.fold, repr(expected))


@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.none()
    ),
    offset=st.integers(min_value=-14 * 60, max_value=14 * 60),
    tz=st.sampled_from(_ZONES),
    server_tz=st.sampled_from([*_ZONES, None]),
)
def test_timestamp_reader_matches_parse_timestamp(
    moment: datetime, offset: int, tz: tzinfo, server_tz: tzinfo | None
) -> None:
    """The server's two forms, and their neighbours, read exactly as parse_timestamp reads them."""
    read = timestamp_reader(tz, server_tz)
    zone = timezone(timedelta(minutes=offset))
    for text in (
        moment.isoformat(" ", timespec="seconds"),  # "2026-01-21 09:52:27", naive
        moment.isoformat(timespec="seconds"),  # "2026-01-21T09:52:27"
        moment.replace(tzinfo=zone).isoformat(timespec="seconds"),  # with its offset
        moment.replace(tzinfo=zone).isoformat(),  # microseconds: the general parser's
        moment.isoformat(" ", timespec="seconds")[:-1] + "x",  # garbage of the same length
    ):
        _same(read(text), parse_timestamp(text, tz, server_tz))


@given(text=st.text(max_size=30), tz=st.sampled_from(_ZONES))
def test_timestamp_reader_matches_parse_timestamp_on_any_string(text: str, tz: tzinfo) -> None:
    """Whatever the string, the fast reader gives what parse_timestamp gives."""
    _same(timestamp_reader(tz, VN)(text), parse_timestamp(text, tz, VN))


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-21 09:52:27",
        "2026-01-21T09:52:27+07:00",
        "2026-01-21T02:52:27+00:00",
        "0000-00-00 00:00:00",
        "2026-13-01 00:00:00",
        "1234567890123456789",  # 19 digits: epoch milliseconds, not ISO
        "2026-01-21 09:52:27 ",  # 20 characters: the general parser strips it
    ],
)
def test_timestamp_reader_on_the_server_forms(text: str) -> None:
    for tz in _ZONES:
        _same(timestamp_reader(tz)(text), parse_timestamp(text, tz))

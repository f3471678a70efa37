"""Property tests of the sync windows: every second of a range in exactly one window."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alohub_async.sync import Window, halve, split_range

ZONES = [
    ZoneInfo("Asia/Ho_Chi_Minh"),
    ZoneInfo("Europe/Paris"),  # DST: 23- and 25-hour days
    ZoneInfo("America/Santiago"),  # DST change at local midnight: 00:00 may not exist
    ZoneInfo("Australia/Lord_Howe"),  # a 30-minute DST shift
    timezone.utc,
]
SECOND = timedelta(seconds=1)

moments = st.datetimes(
    min_value=datetime(2019, 1, 1),
    max_value=datetime(2027, 12, 31),
    timezones=st.just(timezone.utc),
)
everies = st.sampled_from(
    [timedelta(days=1), timedelta(days=2), timedelta(hours=6), timedelta(minutes=7), SECOND * 61]
)


def check_tiling(windows: list[Window], lo: datetime, hi: datetime) -> None:
    assert windows[0].start == lo.replace(microsecond=0)
    assert windows[-1].end == hi.replace(microsecond=0)
    for before, after in itertools.pairwise(windows):
        assert after.start == before.end + SECOND  # no gap, no overlap
    for window in windows:
        assert window.start <= window.end
    assert (
        sum(w.seconds for w in windows)
        == int((windows[-1].end - windows[0].start).total_seconds()) + 1
    )


@settings(max_examples=300, deadline=None)
@given(a=moments, length=st.integers(0, 20 * 86400), tz=st.sampled_from(ZONES), every=everies)
def test_windows_tile_the_range(a: datetime, length: int, tz: ZoneInfo, every: timedelta) -> None:
    b = a + timedelta(seconds=length)
    windows = split_range(a, b, tz, every)
    check_tiling(windows, a, b)
    # Bounded: never more windows than the range spans steps (plus the clipped ends and
    # a DST day's extra boundary).
    assert len(windows) <= length // every.total_seconds() + 3


@settings(max_examples=200, deadline=None)
@given(a=moments, length=st.integers(0, 40 * 86400), tz=st.sampled_from(ZONES))
def test_day_windows_start_at_local_midnight(a: datetime, length: int, tz: ZoneInfo) -> None:
    windows = split_range(a, a + timedelta(seconds=length), tz)
    for window in windows[1:]:
        local = window.start.astimezone(tz)
        midnight = datetime(local.year, local.month, local.day, tzinfo=tz).astimezone(tz)
        # Local midnight, or the first instant after it when a DST jump skips midnight.
        assert local.replace(tzinfo=None) >= midnight.replace(tzinfo=None)
        assert local - midnight < timedelta(hours=2)
        assert (local.hour, local.minute, local.second) < (2, 0, 0)
    for window in windows:
        # A day window never crosses a local midnight.
        assert window.start.astimezone(tz).date() == window.end.astimezone(tz).date()


@settings(max_examples=300, deadline=None)
@given(a=moments, length=st.integers(1, 10**7))
def test_halves_tile_the_window(a: datetime, length: int) -> None:
    window = Window(a.replace(microsecond=0), a.replace(microsecond=0) + timedelta(seconds=length))
    first, second = halve(window)
    check_tiling([first, second], window.start, window.end)
    assert abs(first.seconds - second.seconds) <= 1


def test_a_day_range_in_vietnam_is_one_window_per_day() -> None:
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    windows = split_range(
        datetime(2026, 1, 1, tzinfo=tz), datetime(2026, 1, 3, 23, 59, 59, tzinfo=tz), tz
    )
    assert [
        (w.start.astimezone(tz).isoformat(), w.end.astimezone(tz).isoformat()) for w in windows
    ] == [
        ("2026-01-01T00:00:00+07:00", "2026-01-01T23:59:59+07:00"),
        ("2026-01-02T00:00:00+07:00", "2026-01-02T23:59:59+07:00"),
        ("2026-01-03T00:00:00+07:00", "2026-01-03T23:59:59+07:00"),
    ]


def test_a_dst_day_is_one_window_of_its_real_length() -> None:
    paris = ZoneInfo("Europe/Paris")
    windows = split_range(
        datetime(2026, 3, 29, tzinfo=paris), datetime(2026, 3, 30, 23, 59, 59, tzinfo=paris), paris
    )
    assert [w.seconds for w in windows] == [23 * 3600, 24 * 3600]


def test_bad_input_is_refused() -> None:
    tz = timezone.utc
    now = datetime(2026, 1, 1, tzinfo=tz)
    with pytest.raises(ValueError, match="after"):
        split_range(now, now - SECOND, tz)
    with pytest.raises(ValueError, match="aware"):
        split_range(now.replace(tzinfo=None), now, tz)
    with pytest.raises(ValueError, match="every"):
        split_range(now, now, tz, timedelta(milliseconds=1500))
    with pytest.raises(ValueError, match="one-second"):
        halve(Window(now, now))

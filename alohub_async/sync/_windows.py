"""Splitting a time range into sync windows; pure, no I/O.

A window is inclusive at both ends at second precision, exactly like the list endpoint's
``callStartTime``/``callEndtime``: consecutive windows meet with no gap and no overlap, so
every second of the range belongs to exactly one window. Windows are aligned to local
midnight in the session's zone (the natural unit a call centre reasons in), then every
``every`` from there, and the first and last are clipped to the range.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone, tzinfo

import attrs

__all__ = ["Window", "halve", "split_range"]

_SECOND = timedelta(seconds=1)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("window bounds must be timezone-aware")
    return moment.astimezone(timezone.utc)


@attrs.frozen(order=True)
class Window:
    """A closed time window ``[start, end]`` in whole seconds, held in UTC.

    Bounds are kept in UTC so that comparing and subtracting them is exact across
    daylight-saving changes (Python compares two times of one zone by wall clock); the
    session expresses them in its own zone on the wire.

    Attributes:
        start: First second in the window.
        end: Last second in the window (inclusive).
    """

    start: datetime = attrs.field(converter=_utc)
    end: datetime = attrs.field(converter=_utc)

    def __attrs_post_init__(self) -> None:
        if self.start.microsecond or self.end.microsecond:
            raise ValueError("window bounds must be whole seconds")
        if self.start > self.end:
            raise ValueError(f"window start {self.start} is after its end {self.end}")

    @property
    def seconds(self) -> int:
        """How many whole seconds the window covers (its bounds included)."""
        return int((self.end - self.start).total_seconds()) + 1


def _check_every(every: timedelta) -> None:
    if every < _SECOND or every % _SECOND:
        raise ValueError(f"every must be a whole number of seconds >= 1, got {every!r}")


def _boundaries(start: datetime, tz: tzinfo, every: timedelta) -> Iterator[datetime]:
    """Yield, in UTC, the window starts after ``start``: local midnight of its day, + every.

    Day-sized steps are taken on the local calendar (a DST day is 23 or 25 hours long and
    the next window still starts at local midnight); other steps are exact durations.
    """
    local = start.astimezone(tz)
    midnight = datetime(local.year, local.month, local.day)
    whole_days = every % timedelta(days=1) == timedelta(0)
    origin = midnight.replace(tzinfo=tz).astimezone(timezone.utc)
    n = 1
    while True:
        if whole_days:
            wall = midnight + every * n
            boundary = wall.replace(tzinfo=tz).astimezone(timezone.utc)
        else:
            boundary = origin + every * n
        n += 1
        yield boundary.replace(microsecond=0)


def split_range(
    start: datetime, end: datetime, tz: tzinfo, every: timedelta = timedelta(days=1)
) -> list[Window]:
    """Split ``[start, end]`` into consecutive windows aligned to local midnight in ``tz``.

    Args:
        start: First second of the range (aware; microseconds are dropped).
        end: Last second of the range, inclusive (aware; microseconds are dropped).
        tz: The zone whose midnight the windows align to.
        every: Window length: whole days step on the local calendar; shorter steps are
            exact durations from local midnight.

    Returns:
        The windows in time order: the first starts at ``start``, the last ends at ``end``,
        and each starts one second after the previous one ends.

    Raises:
        ValueError: naive bounds, ``start`` after ``end``, or a bad ``every``.
    """
    _check_every(every)
    lo = _utc(start).replace(microsecond=0)
    hi = _utc(end).replace(microsecond=0)
    if lo > hi:
        raise ValueError(f"start {lo} is after end {hi}")
    windows: list[Window] = []
    cursor = lo
    for boundary in _boundaries(lo, tz, every):
        if boundary <= cursor:  # the day's own midnight, or a boundary a DST jump repeated
            continue
        if boundary > hi:
            break
        windows.append(Window(cursor, boundary - _SECOND))
        cursor = boundary
    windows.append(Window(cursor, hi))
    return windows


def halve(window: Window) -> tuple[Window, Window]:
    """Split a window into two halves that meet with no gap and no overlap.

    Args:
        window: A window at least two seconds long.

    Returns:
        ``(first, second)``; ``first.end`` is one second before ``second.start``.

    Raises:
        ValueError: a one-second window, which cannot be split.
    """
    seconds = window.seconds
    if seconds < 2:
        raise ValueError("a one-second window cannot be split")
    middle = window.start + timedelta(seconds=seconds // 2)
    return Window(window.start, middle - _SECOND), Window(middle, window.end)

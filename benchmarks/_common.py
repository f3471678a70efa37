"""Shared pieces: the listing window, timing helpers, result rows and the plain-text table."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from alohub_async.testing import DEFAULT_ANCHOR, DEFAULT_SPAN

T = TypeVar("T")

#: A window holding every call of a fake with the default anchor and span.
START = (DEFAULT_ANCHOR - DEFAULT_SPAN - timedelta(days=1)).isoformat()
END = (DEFAULT_ANCHOR + timedelta(days=1)).isoformat()
#: The session's default zone, which the fake's naive timestamps are read in.
TZ_NAME = "Asia/Ho_Chi_Minh"


@dataclass
class Row:
    """One line of the results table."""

    bench: str
    case: str
    measured: str
    figures: str = ""
    goal: str = ""
    ok: bool | None = None

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "FAIL")


@dataclass
class Result:
    """What one benchmark produced: table rows, numbers for the plot, notes, its run time."""

    name: str
    rows: list[Row] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


async def timed(make: Callable[[], Awaitable[T]]) -> tuple[float, T]:
    """Run one coroutine after a full collection; return its wall time and result."""
    gc.collect()
    started = time.perf_counter()
    value = await make()
    return time.perf_counter() - started, value


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fmt_time(seconds: float) -> str:
    if seconds >= 10:
        return f"{seconds:.1f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.0f} ms"


def fmt_rate(per_second: float) -> str:
    if per_second >= 1e6:
        return f"{per_second / 1e6:.2f} M rec/s"
    return f"{per_second / 1e3:.0f} k rec/s"


def spread(values: Sequence[float]) -> str:
    """The range of repeated measurements, to show how noisy a figure was."""
    if len(values) < 2:
        return ""
    return f"[{fmt_time(min(values))}..{fmt_time(max(values))}]"


HEADERS = ("benchmark", "case", "measured", "figures", "goal", "result")


def format_table(rows: Sequence[Row]) -> str:
    """Align the rows as a plain-text table, one blank-ish rule between benchmarks."""
    cells = [HEADERS] + [(r.bench, r.case, r.measured, r.figures, r.goal, r.verdict) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADERS))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    out = [line(HEADERS), line(["-" * w for w in widths])]
    previous = None
    for row, values in zip(rows, cells[1:], strict=True):
        if previous is not None and row.bench != previous:
            out.append("")
        previous = row.bench
        out.append(line(values))
    return "\n".join(out)

"""Scaling: wall time of iter_calls over 1k, 10k and 100k calls at 5 ms, concurrency 8, 100 a page.

Linear means a fixed cost plus a constant time per record: the time per 1,000 records
falls from 1k to 10k (the fixed cost spreads out) and then holds. The check is the ratio of
the per-record times at 100k and 10k, which should be about 1 (above it: something grows
with the walk, like a cache or a list that is never trimmed).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from ._common import Result, Row, fmt_time, median, spread, timed
from ._server import FakeServer
from .p1_listing import walk

NAME = "Scaling"
GOAL_RATIO = 1.25


async def _measure(
    servers: dict[int, FakeServer], page_size: int, concurrency: int, rounds: int
) -> tuple[dict[int, list[float]], dict[int, list[float]]]:
    walls: dict[int, list[float]] = {calls: [] for calls in servers}
    cpus: dict[int, list[float]] = {calls: [] for calls in servers}
    for server in servers.values():
        await walk(server, page_size, concurrency)  # warm up: the server caches every record
    for _ in range(rounds):
        for calls, server in servers.items():
            cpu = time.process_time()
            seconds, count = await timed(lambda server=server: walk(server, page_size, concurrency))
            if count != calls:
                raise RuntimeError(f"scaling: got {count} records, expected {calls}")
            walls[calls].append(seconds)
            cpus[calls].append(time.process_time() - cpu)
    return walls, cpus


def run(
    *,
    sizes: tuple[int, ...] = (1_000, 10_000, 100_000),
    latency: float = 0.005,
    concurrency: int = 8,
    page_size: int = 100,
    rounds: int = 3,
) -> Result:
    with contextlib.ExitStack() as stack:
        servers = {
            calls: stack.enter_context(FakeServer(calls=calls, latency=latency, cache_size=calls))
            for calls in sizes
        }
        walls, cpus = asyncio.run(_measure(servers, page_size, concurrency, rounds))
    per_k = {calls: median(values) / (calls / 1000) for calls, values in walls.items()}
    cpu_per_k = {calls: median(values) / (calls / 1000) for calls, values in cpus.items()}
    result = Result(NAME, data={"walls": walls, "per_k": per_k, "cpu_per_k": cpu_per_k})
    mid, big = sizes[-2], sizes[-1]
    ratio = per_k[big] / per_k[mid]
    result.data["ratio"] = ratio
    for calls, values in walls.items():
        row = Row(
            NAME,
            f"iter_calls {calls:,} calls",
            f"{fmt_time(median(values))} {spread(values)}".strip(),
            f"{per_k[calls] * 1000:.1f} ms per 1k records "
            f"(client CPU {cpu_per_k[calls] * 1000:.1f} ms)",
        )
        if calls == big:
            row.figures += (
                f", x{ratio:.2f} the per-record time at {mid:,} "
                f"(CPU x{cpu_per_k[big] / cpu_per_k[mid]:.2f})"
            )
            row.goal = f"<= {GOAL_RATIO:g}x per-record time at {mid:,}"
            row.ok = ratio <= GOAL_RATIO
        result.rows.append(row)
    result.notes.append(
        f"{latency * 1000:g} ms latency, concurrency {concurrency}, page size {page_size}; "
        f"sizes interleaved, median of {rounds} rounds [min..max]"
    )
    return result

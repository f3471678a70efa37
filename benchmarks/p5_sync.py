"""P5 sync: CallLogSync of 100,000 calls into a database vs iter_calls alone, same fake.

Both run in a fresh client process (like P3) against one fake in its own process with the
same latency, and both keep the same number of list requests in flight: the listing walks
the whole range with ``concurrency = windows x per-window concurrency``, the sync walks
``windows`` day windows at once with ``per-window concurrency`` each, in two shapes with the
same product (4 x 2 and 8 x 1: a window walked at c=1 never waits for its first page
alone before fetching the rest, which costs 4 x 2 a round trip per window). The goal is a sync
rate of at least 0.8x the listing's records/s: storing must cost little next to fetching.
Peak RSS is measured for a log and one twice as large: a sync holds at most a few windows
of at most ``max_window_rows`` rows each (the larger log's day windows are split), so the
peak must stay flat in the number of calls. Client CPU over wall time near 100% means the
client, not the latency, limited the rate.

Other stores add a row by passing ``targets``: a label and a ``--db`` value (a SQLite path,
or a ``postgresql://`` DSN for the PostgreSQL store), e.g.
``run(targets={"SQLite": "", "PostgreSQL": dsn})`` where ``""`` means a fresh temp file and
a DSN a fresh database on that server per run. ``python -m benchmarks`` adds the PostgreSQL
row when ``ALOHUB_BENCH_POSTGRES_DSN`` names a server (a role with ``CREATEDB``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from alohub_async.sync._dsn import is_dsn

from ._client import report_child, run_client, session_from
from ._common import END, START, Result, Row, fmt_rate
from ._server import FakeServer
from .p3_memory import _walk

NAME = "P5 sync"
GOAL_FRACTION = 0.8
GOAL_MB = 25.0


async def _list(args: argparse.Namespace) -> int:
    """The reference: P3's walk, with as many requests in flight as the sync's windows."""
    return await _walk(
        argparse.Namespace(**{**vars(args), "concurrency": args.windows * args.concurrency})
    )


async def _sync(args: argparse.Namespace) -> int:
    from alohub_async.sync._engine import CallLogSync
    from alohub_async.sync._open import open_store

    store = open_store(args.db)
    await store.open()
    try:
        async with session_from(args) as alohub:
            summary = await CallLogSync(alohub, store, windows=args.windows).run(START, END)
    finally:
        await store.close()
    return summary.inserted


def child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.p5_sync")
    for name in ("--url", "--api-key", "--access-token", "--mode"):
        parser.add_argument(name, required=True)
    parser.add_argument("--db", default="")
    for name in ("--page-size", "--concurrency", "--windows"):
        parser.add_argument(name, type=int, required=True)
    args = parser.parse_args(argv)
    import alohub_async.sync  # noqa: F401 - count the imports in the starting RSS

    report_child(_sync(args) if args.mode == "sync" else _list(args))


def _client_run(
    server: FakeServer, mode: str, db: str, page_size: int, concurrency: int, windows: int
) -> dict[str, float]:
    return run_client(
        "benchmarks.p5_sync",
        server,
        [
            "--mode", mode,
            "--db", db,
            "--page-size", str(page_size),
            "--concurrency", str(concurrency),
            "--windows", str(windows),
        ],
    )  # fmt: skip


def _fresh(db: str, folder: str, label: str, calls: int) -> str:
    """A new SQLite file per run (``""``), a new database on a PostgreSQL server, or ``db``."""
    if not db:
        return str(Path(folder) / f"{label.lower()}-{calls}.sqlite3")
    if is_dsn(db):
        return asyncio.run(_fresh_postgres(db, _bench_database(calls)))
    return db


def _bench_database(calls: int) -> str:
    # The process id keeps two benchmarks on one server (other checkouts, say) from
    # dropping each other's database mid-run.
    return f"alohub_bench_{calls}_{os.getpid()}"


async def _drop(admin: Any, name: str) -> None:
    """Drop database ``name``, waiting out an autovacuum worker still in it.

    FORCE ends the sessions of the benchmark's own role, but not an autovacuum worker
    (a superuser's), which the server refuses with InsufficientPrivilegeError; it leaves
    within moments.
    """
    import asyncpg

    for attempt in range(20):
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except asyncpg.InsufficientPrivilegeError:
            if attempt == 19:
                raise
            await asyncio.sleep(0.5)


async def _drop_postgres(dsn: str, names: Sequence[str]) -> None:
    import asyncpg

    admin = await asyncpg.connect(dsn)
    try:
        for name in names:
            await _drop(admin, name)
    finally:
        await admin.close()


async def _fresh_postgres(dsn: str, name: str) -> str:
    """Recreate database ``name`` on ``dsn``'s server (its role needs CREATEDB); its DSN.

    The same range synced twice into one database would resume, not sync, so each run
    gets an empty database; the previous run's is dropped here rather than left behind.
    """
    import asyncpg

    admin = await asyncpg.connect(dsn)
    try:
        await _drop(admin, name)
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    finally:
        await admin.close()
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


def run(
    *,
    calls: int = 100_000,
    latency: float = 0.040,
    page_size: int = 500,
    shapes: Sequence[tuple[int, int]] = ((4, 2), (8, 1)),
    targets: Mapping[str, str] | None = None,
) -> Result:
    """Measure each target with each ``(windows, per-window concurrency)`` shape.

    Every shape keeps ``windows x concurrency`` list requests in flight, the listing's
    concurrency (so all shapes must have the same product). The listing's rate is measured
    right before the syncs, on the same fake, so each ratio comes from one stretch of time
    on a shared machine. Peak RSS is compared at twice the calls for the first shape only.
    """
    targets = {"SQLite": ""} if targets is None else dict(targets)
    in_flight = {w * c for w, c in shapes}
    if len(in_flight) != 1:
        raise ValueError(f"every shape must keep the same requests in flight, got {shapes}")
    (total,) = in_flight
    double = 2 * calls
    reports: dict[str, dict[int, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="alohub-bench-") as folder:
        for size in (calls, double):
            with FakeServer(calls=size, latency=latency, cache_size=0) as server:
                if size == calls:
                    reports["list"] = {size: _client_run(server, "list", "", page_size, total, 1)}
                for label, db in targets.items():
                    for n, (windows, concurrency) in enumerate(shapes):
                        if size == double and n > 0:
                            continue
                        reports.setdefault(f"{label} {windows}x{concurrency}", {})[size] = (
                            _client_run(
                                server,
                                "sync",
                                _fresh(db, folder, f"{label}-{windows}x{concurrency}", size),
                                page_size,
                                concurrency,
                                windows,
                            )
                        )
    for db in targets.values():
        if is_dsn(db):
            asyncio.run(_drop_postgres(db, [_bench_database(n) for n in (calls, double)]))
    result = Result(NAME, data={"reports": reports})
    listing = reports["list"][calls]
    list_rate = listing["records"] / listing["seconds"]
    result.rows.append(
        Row(
            NAME,
            f"iter_calls {calls:,} calls, c={total} (ref)",
            fmt_rate(list_rate),
            f"{listing['maxrss_kb'] / 1024:.1f} MB peak; client CPU "
            f"{listing['cpu'] / listing['seconds']:.0%} of wall",
        )
    )
    for label in targets:
        first = f"{label} {shapes[0][0]}x{shapes[0][1]}"
        for windows, concurrency in shapes:
            case = f"sync {calls:,} calls into {label}, {windows} windows x c={concurrency}"
            key = f"{label} {windows}x{concurrency}"
            result.rows.append(_sync_row(reports, key, first, case, calls))
    result.notes.append(
        f"fresh client process per run, fake latency {latency * 1000:g} ms, page size "
        f"{page_size}, the same {total} list requests in flight for all; a new database per "
        f"sync run; peak RSS of syncing {calls:,} then {double:,} calls with the first shape "
        "(day windows of the larger log are split to stay under max_window_rows, so memory "
        "stays flat)"
    )
    return result


def _sync_row(
    reports: dict[str, dict[int, dict[str, float]]], key: str, first: str, case: str, calls: int
) -> Row:
    """The row of one sync run: its rate against the listing's, its peak RSS growth."""
    listing = reports["list"][calls]
    list_rate = listing["records"] / listing["seconds"]
    one = reports[key][calls]
    rate = one["records"] / one["seconds"]
    # Memory growth is measured on the first shape, the one synced at both sizes.
    diff = (reports[first][2 * calls]["maxrss_kb"] - reports[first][calls]["maxrss_kb"]) / 1024
    return Row(
        NAME,
        case,
        fmt_rate(rate),
        f"{rate / list_rate:.2f}x the listing; client CPU "
        f"{one['cpu'] / one['seconds']:.0%} of wall; {one['maxrss_kb'] / 1024:.1f} MB "
        f"peak, {diff:+.1f} MB with {2 * calls:,} calls",
        f">= {GOAL_FRACTION:g}x listing, RSS +<= {GOAL_MB:g} MB",
        rate / list_rate >= GOAL_FRACTION and diff <= GOAL_MB,
    )


if __name__ == "__main__":
    child(sys.argv[1:])

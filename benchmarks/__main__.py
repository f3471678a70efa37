"""``python -m benchmarks``: run the suite against FakeAlohub, print the table, update the docs.

``--quick`` runs small sizes (a smoke test, well under a minute) and leaves the docs alone;
a full run rewrites the table in docs/performance.md (between its ``bench`` markers) and
redraws docs/performance.png unless ``--no-docs`` is given.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata

from . import _report, p1_listing, p2_cpu, p3_memory, p4_details, p5_sync, p6_peers, scaling
from ._common import Result, format_table

# P5 measures the PostgreSQL store too when a server is named (a role with CREATEDB: each
# run gets a fresh database); without one it measures SQLite alone.
_P5_TARGETS = {"SQLite": ""} | (
    {"PostgreSQL": dsn} if (dsn := os.environ.get("ALOHUB_BENCH_POSTGRES_DSN")) else {}
)

FULL: dict[str, Callable[[], Result]] = {
    "p1": lambda: p1_listing.run(),
    "p2": lambda: p2_cpu.run(),
    "p3": lambda: p3_memory.run(),
    "p4": lambda: p4_details.run(),
    "p5": lambda: p5_sync.run(targets=_P5_TARGETS),
    "p6": lambda: p6_peers.run(),
    "scaling": lambda: scaling.run(),
}
QUICK: dict[str, Callable[[], Result]] = {
    "p1": lambda: p1_listing.run(calls=1_000, rounds=1),
    "p2": lambda: p2_cpu.run(records=10_000, repeat=2),
    "p3": lambda: p3_memory.run(large=100_000),
    "p4": lambda: p4_details.run(calls=400, rounds=1),
    "p5": lambda: p5_sync.run(calls=5_000, targets=_P5_TARGETS),
    "p6": lambda: p6_peers.run(
        decode_records=2_000, held_records=10_000, export_calls=2_000, rounds=1, startup_rounds=3
    ),
    "scaling": lambda: scaling.run(sizes=(1_000, 5_000, 20_000), rounds=1),
}


def _versions() -> str:
    names = (
        "alohub-async", "aiohttp", "attrs", "cattrs", "pydantic", "orjson", "msgspec", "httpx",
    )  # fmt: skip
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True, text=True, check=True, cwd=_report.DOCS.parent,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke test")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(FULL)}")
    parser.add_argument("--no-docs", action="store_true", help="do not touch docs/")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when a goal is not met"
    )
    args = parser.parse_args(argv)
    suite = QUICK if args.quick else FULL
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(suite)
    unknown = set(chosen) - set(suite)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    started = time.perf_counter()
    results: dict[str, Result] = {}
    for name in chosen:
        print(f"running {name}...", file=sys.stderr, flush=True)
        began = time.perf_counter()
        results[name] = suite[name]()
        results[name].seconds = time.perf_counter() - began
        print(f"  {name} took {results[name].seconds:.0f} s", file=sys.stderr, flush=True)
    total = time.perf_counter() - started

    rows = [row for result in results.values() for row in result.rows]
    table = format_table(rows)
    notes = [f"{result.name}: {note}" for result in results.values() for note in result.notes]
    header = [
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC{' (--quick)' if args.quick else ''}"
        f" in {total:.0f} s on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; commit {_commit()}.  ",
        f"{_versions()}.",
    ]
    print()
    print("\n".join(header))
    print()
    print(table)
    print()
    for note in notes:
        print(f"- {note}")

    if not args.no_docs and not args.quick:
        block = _report.results_block(table, header, notes)
        if _report.write_markdown(block):
            print(f"\nupdated the table in {_report.MARKDOWN}")
        else:
            print(f"\n{_report.MARKDOWN} has no bench markers; paste this:\n\n{block}")
        if _report.plot(results):
            print(f"drew {_report.PLOT}")
        else:
            print("matplotlib is missing: no plot")
    failed = [row for row in rows if row.ok is False]
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())

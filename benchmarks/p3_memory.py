"""P3 memory: peak RSS of a client streaming 10,000 vs 1,000,000 records through iter_calls.

Each client run is a fresh ``python -m benchmarks.p3_memory`` subprocess that walks the
fake (its own process, latency 0), drops every record as it comes, and reports
``resource.getrusage(RUSAGE_SELF).ru_maxrss``. The difference between the two runs is what
streaming a hundred times more records costs; the walk's window bounds it at about
``concurrency x page_size`` records, whatever the total.

The run also tells who limited the throughput: the client's CPU time over its wall time
near 100% means the client was busy all along; well below, it was waiting for the fake.
"""

from __future__ import annotations

import argparse
import sys

from ._client import report_child, run_client, session_from
from ._common import END, START, Result, Row, fmt_rate
from ._server import FakeServer

NAME = "P3 memory"
GOAL_MB = 25.0


async def _walk(args: argparse.Namespace) -> int:
    count = 0
    async with session_from(args) as alohub:
        async for _ in alohub.iter_calls(START, END):
            count += 1
    return count


def child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.p3_memory")
    for name in ("--url", "--api-key", "--access-token"):
        parser.add_argument(name, required=True)
    parser.add_argument("--page-size", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    args = parser.parse_args(argv)
    import alohub_async  # noqa: F401 - count the imports in the starting RSS

    report_child(_walk(args))


def _client_run(server: FakeServer, page_size: int, concurrency: int) -> dict[str, float]:
    return run_client(
        "benchmarks.p3_memory",
        server,
        ["--page-size", str(page_size), "--concurrency", str(concurrency)],
    )


def run(
    *, small: int = 10_000, large: int = 1_000_000, page_size: int = 500, concurrency: int = 8
) -> Result:
    reports = {}
    for calls in (small, large):
        with FakeServer(calls=calls, latency=0.0) as server:
            reports[calls] = _client_run(server, page_size, concurrency)
    result = Result(NAME, data={"reports": reports, "small": small, "large": large})
    for calls, report in reports.items():
        peak = report["maxrss_kb"] / 1024
        rate = report["records"] / report["seconds"]
        row = Row(
            NAME,
            f"iter_calls {calls:,} records",
            f"{peak:.1f} MB peak",
            f"{report['start_kb'] / 1024:.1f} MB after import; {fmt_rate(rate)}, "
            f"client CPU {report['cpu'] / report['seconds']:.0%}, fake CPU "
            f"{report['server_cpu'] / report['seconds']:.0%} of wall",
        )
        if calls == large:
            diff = (report["maxrss_kb"] - reports[small]["maxrss_kb"]) / 1024
            row.goal = f"+{diff:.1f} MB over {small:,} (<= {GOAL_MB:g} MB)"
            row.ok = diff <= GOAL_MB
            result.data["diff_mb"] = diff
        result.rows.append(row)
    result.notes.append(
        f"fresh client process per run, page size {page_size}, concurrency {concurrency}, latency 0"
    )
    return result


if __name__ == "__main__":
    child(sys.argv[1:])

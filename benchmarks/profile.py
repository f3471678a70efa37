"""``python -m benchmarks.profile [p1|p2] [--top N] [--plain]``: where the client's time goes.

``p1`` profiles the client side of the P1 walk at concurrency 8 (the fake runs in its own
process, as in the benchmark); ``p2`` the decode + structure path over 100,000 records.
cProfile's top entries by own time are printed; ``--plain`` runs without cProfile, for an
outside sampler such as ``py-spy record -- python -m benchmarks.profile p1 --plain``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
from collections.abc import Callable
from zoneinfo import ZoneInfo

from ._common import TZ_NAME
from ._server import FakeServer
from .p1_listing import walk


def profile_p1(plain: bool, top: int, runs: int = 5) -> None:
    with FakeServer(calls=10_000, latency=0.040, cache_size=10_000) as server:
        asyncio.run(walk(server, 50, 8))  # warm the server's cache
        _profiled(lambda: [asyncio.run(walk(server, 50, 8)) for _ in range(runs)], plain, top)


def profile_p2(plain: bool, top: int) -> None:
    from .p2_cpu import cases, make_bodies

    bodies = make_bodies(100_000)
    ours = cases(ZoneInfo(TZ_NAME))["ours"]
    _profiled(lambda: [ours(body) for _ in range(3) for body in bodies], plain, top)


def _profiled(work: Callable[[], object], plain: bool, top: int) -> None:
    if plain:
        work()
        return
    profiler = cProfile.Profile()
    profiler.enable()
    work()
    profiler.disable()
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("target", choices=("p1", "p2"))
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--plain", action="store_true", help="no cProfile (for py-spy)")
    args = parser.parse_args()
    if args.target == "p1":
        profile_p1(args.plain, args.top)
    else:
        profile_p2(args.plain, args.top)


if __name__ == "__main__":
    main()

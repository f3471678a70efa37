"""P6 peers: the goals of issue 14, each measured against what a user would pick instead.

Every section interleaves its cases round after round, in this one run, and reports ratios
(the machine is shared: absolute times drift, ratios measured side by side hold better):

* **decode + structure** of one 10,000-record body (the fake's camelCase vocabulary, as in
  P2): ours (``decode_json`` + ``read_list`` + ``structure_records``), msgspec decoding
  into a ``Struct`` whose naive timestamps are then made aware in the zone (what msgspec
  needs for the server's ``"2026-01-21 09:52:27"``), and pydantic's
  ``TypeAdapter.validate_json``. Best of the rounds (CPU-bound).
* **held records**: bytes per record (``tracemalloc``) of 100,000 records kept in a list,
  against the decoded JSON dicts they came from, for each ``keep_raw``.
* **bulk export**: ``alohub-async calls list --format jsonl`` (and ``csv``) with the CLI's
  defaults, against a hand-written aiohttp script that fetches the same pages with the same
  page size and concurrency (the CLI's defaults, read from its parser) and writes the
  server's dicts with ``json.dumps`` or ``csv.DictWriter``; each a fresh process against
  one fake (latency 0), median of rounds.
* **start-up**: ``import alohub_async`` against ``import aiohttp`` in fresh interpreters,
  ``from alohub_async import AlohubSession`` and ``alohub-async --help`` for information
  (the CLI's start-up is another item of the issue), median of rounds.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from alohub_async import _protocol as protocol
from alohub_async._converter import get_converter, structure_records
from alohub_async.cli._parser import LIST_CONCURRENCY, LIST_PAGE_SIZE
from alohub_async.models import Direction

from ._common import END, START, TZ_NAME, Result, Row, fmt_rate, fmt_time, format_table
from ._server import _ROOT, FakeServer, child_env
from .p2_cpu import make_bodies, pydantic_cases

NAME = "P6 issue-14 goals"
GOAL_VS_MSGSPEC = 1.3  # our time per record at most this times msgspec's
GOAL_VS_PYDANTIC_JSON = 1.5  # our records/s at least this times validate_json's
GOAL_HELD = 0.7  # held records at most this fraction of the dicts' bytes
GOAL_EXPORT = 2.0  # the CLI's records/s at least this times the hand-written script's
GOAL_IMPORT = 1.1  # import alohub_async at most this times import aiohttp
GOAL_HELP_MS = 150.0

_HAS_ORJSON = importlib.util.find_spec("orjson") is not None  # the optional script's row

# The hand-written export: what a user writes without this package, with the CLI's page
# size and concurrency so only the per-record work differs.
HAND_EXPORT = r"""
import asyncio, csv, json, sys
import aiohttp

url, key, token, start, end, fmt, out, size, conc, codec = sys.argv[1:11]
size, conc = int(size), int(conc)
headers = {"Authorization": key, "X-ACCESS-TOKEN": token, "Content-Type": "application/json"}
if codec == "orjson":  # the same script with orjson, the fastest JSON a user can pick
    import orjson
    loads, dumps = orjson.loads, lambda row: orjson.dumps(row).decode()
else:
    loads, dumps = json.loads, lambda row: json.dumps(row, ensure_ascii=False)

async def main():
    async with aiohttp.ClientSession() as http:
        async def fetch(page):
            body = {"callStartTime": start, "callEndtime": end, "page": page, "limit": size}
            async with http.post(url + "/api/report/call-logs", json=body, headers=headers) as r:
                r.raise_for_status()
                payload = loads(await r.read())
            return payload["data"], payload.get("totalRecord")
        with open(out, "w", encoding="utf-8", newline="") as f:
            writer = None
            def write(rows):
                nonlocal writer
                for row in rows:
                    if fmt == "jsonl":
                        f.write(dumps(row) + "\n")
                    else:
                        if writer is None:
                            writer = csv.DictWriter(f, list(row), extrasaction="ignore")
                            writer.writeheader()
                        writer.writerow(row)
            rows, total = await fetch(1)
            write(rows)
            pages = -(-int(total) // size)
            for first in range(2, pages + 1, conc):
                batch = range(first, min(first + conc, pages + 1))
                for rows, _ in await asyncio.gather(*(fetch(p) for p in batch)):
                    write(rows)

asyncio.run(main())
"""


# --- decode + structure -------------------------------------------------------------------


try:
    import msgspec
except ImportError:  # pragma: no cover - optional: the msgspec row is skipped
    msgspec = None

_TZ = ZoneInfo(TZ_NAME)

if msgspec is not None:
    # At module level: msgspec resolves the (postponed) annotations in the module's namespace.

    class MsgCallRecord(msgspec.Struct, rename="camel"):
        """The camelCase record, as a msgspec user writes it."""

        call_id: str
        call_start_time: datetime | None = None
        call_endtime: datetime | None = None
        duration: float | None = None
        direction: Direction = Direction.UNKNOWN
        caller: str | None = None
        callee: str | None = None
        extension: str | None = None
        agent_name: str | None = None
        status: str | None = None
        customer_name: str | None = None
        recording_url: str | None = None

        def __post_init__(self) -> None:
            # The server's times are naive: msgspec needs this step to make them aware.
            if self.call_start_time is not None and self.call_start_time.tzinfo is None:
                self.call_start_time = self.call_start_time.replace(tzinfo=_TZ)
            if self.call_endtime is not None and self.call_endtime.tzinfo is None:
                self.call_endtime = self.call_endtime.replace(tzinfo=_TZ)

    class MsgPage(msgspec.Struct):
        data: list[MsgCallRecord]
        totalRecord: int | None = None


def msgspec_case() -> Callable[[bytes], object] | None:
    """msgspec into Structs, naive timestamps made aware in the zone as each one is built."""
    if msgspec is None:
        return None
    decode = msgspec.json.Decoder(MsgPage).decode

    def run(body: bytes) -> object:
        return decode(body).data

    return run


def _decode_section(records: int, rounds: int) -> tuple[list[Row], dict[str, float]]:
    tz = ZoneInfo(TZ_NAME)
    (body,) = make_bodies(records, page=records)
    converter = get_converter(tz)

    def ours(body: bytes) -> object:
        rows, _ = protocol.read_list(protocol.decode_json(body))
        return structure_records(converter, rows)

    cases: dict[str, Callable[[bytes], object]] = {"ours": ours}
    msg = msgspec_case()
    if msg is not None:
        cases["msgspec"] = msg
    cases["pydantic_json"] = pydantic_cases(tz)["pydantic_json"]
    mine = ours(body)
    for key, fn in cases.items():  # the same records from every case, before timing
        theirs = fn(body)
        assert len(theirs) == len(mine), key  # type: ignore[arg-type]
        first = theirs[0]  # type: ignore[index]
        start = getattr(first, "call_start_time", None) or getattr(first, "started_at", None)
        assert start == mine[0].started_at, key
        assert start.tzinfo is not None, key
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for key, fn in cases.items():
            gc.collect()
            began = time.perf_counter()
            fn(body)
            best[key] = min(best[key], time.perf_counter() - began)
    per = {key: seconds / records * 1e6 for key, seconds in best.items()}
    rows = [
        Row(
            NAME,
            f"decode+structure, ours ({_decoder()})",
            f"{per['ours']:.2f} us/rec",
            f"{fmt_rate(1e6 / per['ours'])}; one {records:,}-record body, best of {rounds}",
        )
    ]
    if "msgspec" in per:
        ratio = per["ours"] / per["msgspec"]
        rows.append(
            Row(
                NAME,
                "msgspec Struct, aware datetimes",
                f"{per['msgspec']:.2f} us/rec",
                f"ours x{ratio:.2f} its time per record",
                f"ours <= {GOAL_VS_MSGSPEC}x msgspec",
                ratio <= GOAL_VS_MSGSPEC,
            )
        )
    speed = per["pydantic_json"] / per["ours"]
    rows.append(
        Row(
            NAME,
            "pydantic TypeAdapter.validate_json",
            f"{per['pydantic_json']:.2f} us/rec",
            f"ours x{speed:.2f} its records/s",
            f"ours >= {GOAL_VS_PYDANTIC_JSON}x pydantic",
            speed >= GOAL_VS_PYDANTIC_JSON,
        )
    )
    return rows, per


def _decoder() -> str:
    return "orjson" if getattr(protocol, "_fast_loads", None) is not None else "json"


# --- held records ---------------------------------------------------------------------------


def _held_bytes(build: Callable[[], list[Any]]) -> tuple[int, list[Any]]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, kept


def _held_section(records: int) -> tuple[list[Row], dict[str, float]]:
    tz = ZoneInfo(TZ_NAME)
    bodies = make_bodies(records)

    def dicts() -> list[Any]:
        out: list[Any] = []
        for body in bodies:
            out.extend(protocol.read_list(protocol.decode_json(body))[0])
        return out

    def held(keep_raw: str) -> Callable[[], list[Any]]:
        converter = get_converter(tz, tz, keep_raw)

        def build() -> list[Any]:
            out: list[Any] = []
            for body in bodies:
                out.extend(
                    structure_records(converter, protocol.read_list(protocol.decode_json(body))[0])
                )
            return out

        return build

    size: dict[str, float] = {}
    base, kept = _held_bytes(dicts)
    size["dicts"] = base / len(kept)
    del kept
    for keep_raw in ("all", "unmapped", "none"):
        used, kept = _held_bytes(held(keep_raw))
        size[keep_raw] = used / len(kept)
        del kept
    rows = [Row(NAME, f"held: {records:,} decoded JSON dicts", f"{size['dicts']:,.0f} B/rec")]
    for keep_raw in ("all", "unmapped", "none"):
        ratio = size[keep_raw] / size["dicts"]
        row = Row(
            NAME,
            f'held: CallRecords, keep_raw="{keep_raw}"',
            f"{size[keep_raw]:,.0f} B/rec",
            f"x{ratio:.2f} the dicts",
        )
        if keep_raw == "none":
            row.goal = f"<= {GOAL_HELD}x the dicts"
            row.ok = ratio <= GOAL_HELD
        elif keep_raw == "unmapped":  # its size depends on what no field holds
            row.figures += "; raw keeps what no field holds (here billsec)"
        rows.append(row)
    return rows, size


# --- bulk export ------------------------------------------------------------------------------


def _run(command: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(command, check=True, cwd=_ROOT, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def _export_section(calls: int, rounds: int) -> tuple[list[Row], dict[str, float]]:
    env = child_env()
    times: dict[str, list[float]] = {}
    with (
        FakeServer(calls=calls, latency=0.0, cache_size=calls) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        env.update(
            ALOHUB_API_KEY=server.api_key,
            ALOHUB_ACCESS_TOKEN=server.access_token,
            ALOHUB_BASE_URL=server.url,
        )
        out = Path(tmp) / "out"
        cases: dict[str, list[str]] = {}
        for fmt in ("jsonl", "csv"):
            cases[f"cli_{fmt}"] = [
                sys.executable, "-m", "alohub_async", "calls", "list", "-q",
                "--start", START, "--end", END, "--format", fmt, "-o", str(out),
            ]  # fmt: skip
            for codec in ("json", "orjson") if fmt == "jsonl" and _HAS_ORJSON else ("json",):
                cases[f"hand_{codec}_{fmt}"] = [
                    sys.executable, "-c", HAND_EXPORT, server.url, server.api_key,
                    server.access_token, START, END, fmt, str(out),
                    str(LIST_PAGE_SIZE), str(LIST_CONCURRENCY), codec,
                ]  # fmt: skip
        # Warm the fake's cache and write both programs' compiled modules.
        for key in ("hand_json_jsonl", "cli_jsonl"):
            _run(cases[key], env)
        for _ in range(rounds):
            for key, command in cases.items():
                times.setdefault(key, []).append(_run(command, env))
                lines = _count_lines(out)
                expected = calls + (1 if key.endswith("csv") else 0)
                if lines != expected:
                    raise RuntimeError(f"P6 {key}: wrote {lines} lines, expected {expected}")
    wall = {key: statistics.median(values) for key, values in times.items()}
    rows = []
    for fmt in ("jsonl", "csv"):
        speed = wall[f"hand_json_{fmt}"] / wall[f"cli_{fmt}"]
        rows.append(
            Row(
                NAME,
                f"export {fmt}: hand-written aiohttp script",
                fmt_time(wall[f"hand_json_{fmt}"]),
                f"{fmt_rate(calls / wall[f'hand_json_{fmt}'])}",
            )
        )
        if f"hand_orjson_{fmt}" in wall:
            rows.append(
                Row(
                    NAME,
                    f"export {fmt}: the same script with orjson",
                    fmt_time(wall[f"hand_orjson_{fmt}"]),
                    f"{fmt_rate(calls / wall[f'hand_orjson_{fmt}'])}, "
                    f"x{wall[f'hand_json_{fmt}'] / wall[f'hand_orjson_{fmt}']:.2f} the script's "
                    "records/s (no records built: a bound on what decoding faster gives)",
                )
            )
        rows.append(
            Row(
                NAME,
                f"export {fmt}: alohub-async calls list (defaults)",
                fmt_time(wall[f"cli_{fmt}"]),
                f"{fmt_rate(calls / wall[f'cli_{fmt}'])}, x{speed:.2f} the script's records/s",
                f">= {GOAL_EXPORT:g}x the script",
                speed >= GOAL_EXPORT,
            )
        )
    return rows, wall


# --- start-up -------------------------------------------------------------------------------


def _startup_section(rounds: int) -> tuple[list[Row], dict[str, float]]:
    env = child_env()
    cases = {
        "python": [sys.executable, "-c", "pass"],
        "aiohttp": [sys.executable, "-c", "import aiohttp"],
        "package": [sys.executable, "-c", "import alohub_async"],
        "session": [sys.executable, "-c", "from alohub_async import AlohubSession"],
        "help": [sys.executable, "-m", "alohub_async", "--help"],
    }
    times: dict[str, list[float]] = {key: [] for key in cases}
    for command in cases.values():
        _run(command, env)  # warm the file cache and .pyc files
    for _ in range(rounds):
        for key, command in cases.items():
            times[key].append(_run(command, env))
    wall = {key: statistics.median(values) for key, values in times.items()}
    ratio = wall["package"] / wall["aiohttp"]
    rows = [
        Row(NAME, "start-up: python -c pass", fmt_time(wall["python"])),
        Row(NAME, "start-up: import aiohttp", fmt_time(wall["aiohttp"])),
        Row(
            NAME,
            "start-up: import alohub_async",
            fmt_time(wall["package"]),
            f"x{ratio:.2f} import aiohttp",
            f"<= {GOAL_IMPORT}x import aiohttp",
            ratio <= GOAL_IMPORT,
        ),
        Row(
            NAME,
            "start-up: from alohub_async import AlohubSession (info)",
            fmt_time(wall["session"]),
            f"x{wall['session'] / wall['aiohttp']:.2f} import aiohttp",
        ),
        Row(
            NAME,
            "start-up: alohub-async --help",
            fmt_time(wall["help"]),
            f"{(wall['help'] - wall['python']) * 1000:.0f} ms more than python -c pass; "
            "imports neither aiohttp nor cattrs",
            f"<= {GOAL_HELP_MS:g} ms",
            wall["help"] * 1000 <= GOAL_HELP_MS,
        ),
    ]
    return rows, wall


SECTIONS = ("decode", "held", "export", "startup")


def run(
    *,
    decode_records: int = 10_000,
    held_records: int = 100_000,
    export_calls: int = 50_000,
    rounds: int = 3,
    startup_rounds: int = 15,
    only: tuple[str, ...] = SECTIONS,
) -> Result:
    result = Result(NAME)
    for name, section in (
        ("decode", lambda: _decode_section(decode_records, max(rounds, 5))),
        ("held", lambda: _held_section(held_records)),
        ("export", lambda: _export_section(export_calls, rounds)),
        ("startup", lambda: _startup_section(startup_rounds)),
    ):
        if name not in only:
            continue
        rows, data = section()
        result.rows.extend(rows)
        result.data[name] = data
    result.notes.append(
        f"decode: one {decode_records:,}-record body, best of {max(rounds, 5)} interleaved runs; "
        f"held: {held_records:,} records, tracemalloc; export: {export_calls:,} calls, latency 0, "
        f"page size {LIST_PAGE_SIZE} and concurrency {LIST_CONCURRENCY} for both (the CLI's "
        f"defaults), median of {rounds} interleaved fresh "
        f"processes; start-up: median of {startup_rounds} interleaved fresh interpreters"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.p6_peers``: run some sections alone and print their rows."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.p6_peers", description=__doc__)
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of: {', '.join(SECTIONS)}",
    )
    parser.add_argument("--decode-records", type=int, default=10_000)
    parser.add_argument("--held-records", type=int, default=100_000)
    parser.add_argument("--export-calls", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--startup-rounds", type=int, default=15)
    args = parser.parse_args(argv)
    only = tuple(name.strip() for name in args.only.split(",") if name.strip())
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    result = run(
        decode_records=args.decode_records,
        held_records=args.held_records,
        export_calls=args.export_calls,
        rounds=args.rounds,
        startup_rounds=args.startup_rounds,
        only=only,
    )
    print(format_table(result.rows))
    for note in result.notes:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""P1 listing: 10,000 calls, 50 a page (200 pages), 40 ms a request.

Cases, interleaved round after round so drift on a shared machine hits them alike:

* the baseline, a loop as a user writes it from the API doc's sample: one aiohttp POST per
  page with the documented headers and body, ``resp.json()`` to dicts, until the total;
* ``iter_calls`` at concurrency 1, 4, 8 and 16 (records structured, counted);
* a reference: raw aiohttp requests fired in waves of 8 after page 1 (dicts only);
* a peer: the same sequential loop written with httpx (when installed), dicts out.

The ideal of a walk at concurrency ``c`` is ``(1 + ceil((pages - 1) / c)) * latency``:
page 1 alone, then full waves. Times are the median of the rounds.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
from typing import Any

import aiohttp

from alohub_async import AlohubSession

from ._common import END, START, Result, Row, fmt_time, median, spread, timed
from ._server import FakeServer

NAME = "P1 listing"
CONCURRENCIES = (1, 4, 8, 16)
GOAL_CONCURRENCY = 8
GOAL_FRACTION = 0.90
LIST_PATH = "/api/report/call-logs"


def doc_headers(server: FakeServer) -> dict[str, str]:
    """The headers the API doc lists for every request."""
    return {
        "Authorization": server.api_key,
        "X-ACCESS-TOKEN": server.access_token,
        "Accept": "application/json, text/plain, */*",
        "X-Requested-With": "XMLHttpRequest",
        "Content-Type": "application/json",
    }


async def baseline(server: FakeServer, page_size: int) -> int:
    """What a user writes from the doc's sample: one page after another, dicts out."""
    url = server.url + LIST_PATH
    headers = doc_headers(server)
    calls: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        page = 1
        while True:
            body = {"callStartTime": START, "callEndtime": END, "page": page, "limit": page_size}
            async with http.post(url, json=body, headers=headers) as resp:
                resp.raise_for_status()
                payload = await resp.json()
            rows = payload.get("data") or []
            calls.extend(rows)
            total = payload.get("totalRecord")
            if len(rows) < page_size or (total is not None and page * page_size >= int(total)):
                break
            page += 1
    return len(calls)


async def httpx_baseline(server: FakeServer, page_size: int) -> int:
    """The sequential loop written with httpx's AsyncClient instead of aiohttp."""
    import httpx

    url = server.url + LIST_PATH
    headers = doc_headers(server)
    count = 0
    async with httpx.AsyncClient(timeout=30.0) as http:
        page = 1
        while True:
            body = {"callStartTime": START, "callEndtime": END, "page": page, "limit": page_size}
            resp = await http.post(url, json=body, headers=headers)
            resp.raise_for_status()
            payload = resp.json()
            rows = payload.get("data") or []
            count += len(rows)
            total = payload.get("totalRecord")
            if len(rows) < page_size or (total is not None and page * page_size >= int(total)):
                break
            page += 1
    return count


async def raw_waves(server: FakeServer, page_size: int, concurrency: int) -> int:
    """The reference: page 1, then raw aiohttp requests in waves of ``concurrency``."""
    url = server.url + LIST_PATH
    headers = doc_headers(server)
    async with aiohttp.ClientSession() as http:

        async def fetch(page: int) -> list[Any]:
            body = {"callStartTime": START, "callEndtime": END, "page": page, "limit": page_size}
            async with http.post(url, json=body, headers=headers) as resp:
                resp.raise_for_status()
                payload = await resp.json()
            rows: list[Any] = payload["data"]
            return rows

        first = await fetch(1)
        count = len(first)
        pages = math.ceil(server.calls / page_size)
        for wave in range(2, pages + 1, concurrency):
            batch = range(wave, min(wave + concurrency, pages + 1))
            for rows in await asyncio.gather(*(fetch(p) for p in batch)):
                count += len(rows)
    return count


async def walk(server: FakeServer, page_size: int, concurrency: int) -> int:
    """``iter_calls`` as a user calls it, counting the records."""
    count = 0
    kwargs = server.session_kwargs(page_size=page_size, concurrency=concurrency)
    async with AlohubSession(**kwargs) as alohub:
        async for _ in alohub.iter_calls(START, END):
            count += 1
    return count


def ideal(pages: int, concurrency: int, latency: float) -> float:
    return (1 + math.ceil((pages - 1) / concurrency)) * latency


async def _measure(
    server: FakeServer, page_size: int, rounds: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    cases: dict[str, Any] = {"baseline": lambda: baseline(server, page_size)}
    for c in CONCURRENCIES:
        cases[f"c={c}"] = lambda c=c: walk(server, page_size, c)
    cases["raw"] = lambda: raw_waves(server, page_size, GOAL_CONCURRENCY)
    if importlib.util.find_spec("httpx") is not None:
        cases["httpx"] = lambda: httpx_baseline(server, page_size)
    times: dict[str, list[float]] = {key: [] for key in cases}
    fake_cpu = dict.fromkeys(cases, 0.0)
    await walk(server, page_size, 16)  # warm up: the server caches every record
    for _ in range(rounds):
        for key, make in cases.items():
            cpu = server.cpu_seconds()
            seconds, count = await timed(make)
            fake_cpu[key] += server.cpu_seconds() - cpu
            if count != server.calls:
                raise RuntimeError(f"P1 {key}: got {count} records, expected {server.calls}")
            times[key].append(seconds)
    return times, fake_cpu


def run(
    *, calls: int = 10_000, page_size: int = 50, latency: float = 0.040, rounds: int = 3
) -> Result:
    pages = math.ceil(calls / page_size)
    with FakeServer(calls=calls, latency=latency, cache_size=calls) as server:
        times, fake_cpu = asyncio.run(_measure(server, page_size, rounds))
    result = Result(NAME)
    base = median(times["baseline"])
    cfg = f"{calls:,} calls, {pages} pages of {page_size}, {latency * 1000:g} ms"
    result.data = {"times": times, "pages": pages, "latency": latency, "calls": calls}
    labels = {
        "baseline": "sequential aiohttp loop (baseline)",
        "raw": "raw aiohttp waves, c=8 (ref)",
        "httpx": "sequential httpx loop (peer)",
    }
    for key, values in times.items():
        wall = median(values)
        c = (
            1
            if key in ("baseline", "httpx")
            else GOAL_CONCURRENCY
            if key == "raw"
            else int(key[2:])
        )
        fraction = ideal(pages, c, latency) / wall
        row = Row(
            NAME,
            labels.get(key, f"iter_calls {key}"),
            f"{fmt_time(wall)} {spread(values)}".strip(),
            f"x{base / wall:.2f} vs baseline, "
            f"{fraction:.2f} of ideal {fmt_time(ideal(pages, c, latency))}",
        )
        if key == f"c={GOAL_CONCURRENCY}":
            row.figures += f", x{median(times['raw']) / wall:.2f} of raw waves"
            row.goal = f">= {GOAL_FRACTION:.2f} of ideal"
            row.ok = fraction >= GOAL_FRACTION
        result.rows.append(row)
        result.data.setdefault("fraction", {})[key] = fraction
        result.data.setdefault("speedup", {})[key] = base / wall
    per_request = sum(fake_cpu.values()) / (len(fake_cpu) * rounds * pages)
    result.data["fake_cpu_ms"] = per_request * 1000
    result.notes.append(f"{cfg}; median of {rounds} interleaved rounds [min..max]")
    result.notes.append(
        f"the fake spent {per_request * 1000:.2f} ms of CPU per list request: a wave of "
        f"{GOAL_CONCURRENCY} queues >= {GOAL_CONCURRENCY * per_request * 1000:.1f} ms in its one "
        "thread on top of the latency, which the ideal leaves out and the raw reference pays"
    )
    return result

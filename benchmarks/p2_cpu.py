"""P2 per-record CPU: decode and structure 100,000 list records from JSON bytes.

The records are the fake's own (:class:`~alohub_async.testing.CallDataset`), wrapped in
the fake's default envelope, 100 to a page body. Every case starts from the same bytes and
goes through all of them, page by page, keeping each page's result until the next one:

* ``json.loads`` to dicts: the floor every case pays;
* ours: ``_protocol.decode_json`` + ``_protocol.read_list`` +
  ``_converter.structure_records(get_converter(tz), rows)``, the exact path of a list page;
* pydantic v2 ``model_validate`` per dict, on a frozen model with ``AliasChoices`` and the
  same conversions (timestamps made aware in the zone, duration as float, direction enum);
  it is spared what ours also does (``raw``, blank strings as ``None``, ``HH:MM:SS``);
* a hand-written comprehension ``CallRecord(call_id=d["callId"], ...)`` with exact keys:
  the ceiling a generated converter can approach (no key folding, no aliases, no checks);
* informative: pydantic's fastest path, ``TypeAdapter.validate_json`` on the whole body,
  and ``orjson.loads`` in place of ``json.loads``, alone and in our path.

Each case runs ``repeat`` times, interleaved with the others; the best run counts (CPU-bound
code on a shared machine: the minimum is the least disturbed measurement).

Per request, the client's own CPU (``time.process_time``; the fake runs in its own process)
for sequential detail ``GET``s, against the same request written with plain aiohttp
(``client.get`` + ``read`` + ``json.loads``, headers built once):

* ours, the request path: `SessionInternals.request` (slot, rate limit, token, headers,
  retry loop, transport with the body cap, status and body checks, decoding), the goal
  being at most 1.1x plain aiohttp;
* ours, ``get_call``: the same plus checking and structuring the detail (informative).

``python -m benchmarks.p2_cpu`` prints where the request path's time goes, from a cProfile
of sequential requests (`request_path_profile`): the table in docs/performance.md.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import json
import pstats
import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import aiohttp

from alohub_async import AlohubSession
from alohub_async import _protocol as protocol
from alohub_async._converter import get_converter, structure_records
from alohub_async._timeutil import parse_timestamp
from alohub_async.models import CallRecord, Direction
from alohub_async.testing import CallDataset, Envelope

from ._common import END, START, TZ_NAME, Result, Row, fmt_rate
from ._server import FakeServer

try:
    import orjson
except ImportError:  # pragma: no cover - optional: the orjson rows are skipped
    orjson = None

NAME = "P2 per-record CPU"
PAGE = 100
GOAL_VS_PYDANTIC = 2.0
GOAL_VS_HAND = 0.5
#: Our request path's client CPU per request, at most this many times plain aiohttp's.
GOAL_VS_AIOHTTP = 1.1

_DIRECTIONS = {
    "0": Direction.INBOUND,
    "in": Direction.INBOUND,
    "inbound": Direction.INBOUND,
    "1": Direction.OUTBOUND,
    "out": Direction.OUTBOUND,
    "outbound": Direction.OUTBOUND,
    "internal": Direction.INTERNAL,
}


def make_bodies(records: int, seed: int = 1, page: int = PAGE) -> list[bytes]:
    """The fake's list responses for ``records`` calls, ``page`` records each, as bytes."""
    # The camelCase vocabulary: the hand-written and pydantic baselines read its keys, and
    # the recorded numbers in docs/performance.md were measured on it.
    data = CallDataset(
        records, seed, cache_size=0, base_url="http://127.0.0.1:9909", vocabulary="camel"
    )
    envelope = Envelope()
    rows = data.records(START, END)
    total = len(rows)
    return [
        json.dumps(
            envelope.list_body(rows[i : i + page], total), ensure_ascii=False, separators=(",", ":")
        ).encode()
        for i in range(0, total, page)
    ]


def pydantic_cases(tz: ZoneInfo) -> dict[str, Callable[[bytes], object]]:
    """Build the pydantic model lazily: pydantic is a benchmark-only dependency."""
    from pydantic import (
        AfterValidator,
        AliasChoices,
        BaseModel,
        BeforeValidator,
        ConfigDict,
        Field,
        TypeAdapter,
    )

    def aware(value: datetime | None) -> datetime | None:
        return value if value is None or value.tzinfo else value.replace(tzinfo=tz)

    def direction(value: object) -> object:
        if isinstance(value, str):
            return _DIRECTIONS.get(value.strip().lower(), Direction.UNKNOWN)
        return Direction.UNKNOWN if value is None else _DIRECTIONS.get(str(value), value)

    Moment = Annotated[datetime | None, AfterValidator(aware)]
    Way = Annotated[Direction, BeforeValidator(direction)]

    def alias(*names: str) -> Any:
        return Field(None, validation_alias=AliasChoices(*names))

    class PydCallRecord(BaseModel):
        model_config = ConfigDict(frozen=True, extra="ignore")

        call_id: str = Field(validation_alias=AliasChoices("callId", "call_id", "callID", "id"))
        started_at: Moment = alias("callStartTime", "call_start_time", "startTime", "start_time")
        ended_at: Moment = alias("callEndtime", "callEndTime", "call_end_time", "end_time")
        duration: float | None = alias("duration", "callDuration", "call_duration", "billsec")
        direction: Way = Field(
            Direction.UNKNOWN, validation_alias=AliasChoices("direction", "callType", "call_type")
        )
        caller: str | None = alias("caller", "from", "source", "callerNumber", "caller_number")
        callee: str | None = alias("callee", "called", "to", "destination", "receiverNumber")
        extension: str | None = alias("extension", "ipPhone", "ip_phone")
        agent: str | None = alias("agent", "agentName", "agent_name")
        status: str | None = alias("status", "disposition", "callStatus", "call_status")
        customer_name: str | None = alias("customerName", "customer_name")
        recording_url: str | None = alias("recordingUrl", "recording_url", "recording", "audioUrl")

    class PydPage(BaseModel):
        data: list[PydCallRecord]
        totalRecord: int | None = None

    validate = PydCallRecord.model_validate
    page_json = TypeAdapter(PydPage).validate_json

    def model_validate(body: bytes) -> object:
        return [validate(row) for row in json.loads(body)["data"]]

    def validate_json(body: bytes) -> object:
        return page_json(body).data

    return {"pydantic": model_validate, "pydantic_json": validate_json}


def cases(tz: ZoneInfo) -> dict[str, Callable[[bytes], object]]:
    converter = get_converter(tz)
    decode, read_list = protocol.decode_json, protocol.read_list
    dirs_get, unknown = _DIRECTIONS.get, Direction.UNKNOWN

    def floor(body: bytes) -> object:
        return json.loads(body)["data"]

    def ours(body: bytes) -> object:
        rows, _ = read_list(decode(body))
        return structure_records(converter, rows)

    def hand(body: bytes) -> object:
        return [
            CallRecord(
                call_id=d["callId"],
                started_at=parse_timestamp(d["callStartTime"], tz),
                ended_at=parse_timestamp(d["callEndtime"], tz),
                duration=float(d["duration"]),
                direction=dirs_get(d["direction"], unknown),
                caller=d["caller"],
                callee=d["callee"],
                extension=d["extension"],
                agent=d["agentName"],
                status=d["status"],
                customer_name=d["customerName"],
                recording_url=d["recordingUrl"],
                raw=d,
            )
            for d in json.loads(body)["data"]
        ]

    def ours_json(body: bytes) -> object:
        rows, _ = read_list(json.loads(body))
        return structure_records(converter, rows)

    out: dict[str, Callable[[bytes], object]] = {"floor": floor, "ours": ours, "hand": hand}
    out.update(pydantic_cases(tz))
    if decoder() != "json":
        out["ours_json"] = ours_json
    if orjson is not None:
        loads = orjson.loads

        def orjson_floor(body: bytes) -> object:
            return loads(body)["data"]

        def ours_orjson(body: bytes) -> object:
            rows, _ = read_list(loads(body))
            return structure_records(converter, rows)

        out["orjson_floor"] = orjson_floor
        if decoder() != "orjson":
            out["ours_orjson"] = ours_orjson
    return out


def decoder() -> str:
    """Which decoder ``_protocol.decode_json`` uses here: ``orjson`` (the extra) or ``json``."""
    return "orjson" if getattr(protocol, "_fast_loads", None) is not None else "json"


def _check(tz: ZoneInfo, body: bytes, fns: dict[str, Callable[[bytes], object]]) -> None:
    """Make sure every case builds the same records before timing them."""
    ours = fns["ours"](body)
    hand = fns["hand"](body)
    assert list(ours) == list(hand), "hand-written records differ from ours"  # type: ignore[call-overload]
    for mine, theirs in zip(ours, fns["pydantic"](body), strict=True):  # type: ignore[call-overload]
        for name in ("call_id", "started_at", "ended_at", "duration", "direction", "caller"):
            assert getattr(mine, name) == getattr(theirs, name), name
        assert theirs.started_at.tzinfo is tz


def _time(fn: Callable[[bytes], object], bodies: list[bytes]) -> float:
    gc.collect()
    started = time.perf_counter()
    for body in bodies:
        fn(body)
    return time.perf_counter() - started


LABELS = {
    "floor": "json.loads to dicts (floor)",
    "ours": "ours: decode_json + read_list + structure",
    "pydantic": "pydantic v2 model_validate",
    "hand": "hand-written comprehension (ceiling)",
    "pydantic_json": "pydantic TypeAdapter.validate_json (info)",
    "orjson_floor": "orjson.loads to dicts",
    "ours_json": "ours with stdlib json.loads (info)",
    "ours_orjson": "ours with orjson.loads (info)",
}


async def _request_cpu(server: FakeServer, requests: int, repeat: int) -> dict[str, float]:
    """Best client CPU seconds per request of each case, interleaved ``repeat`` times."""
    async with (
        AlohubSession(**server.session_kwargs(max_retries=0)) as alohub,
        aiohttp.ClientSession() as plain,
    ):
        call_id = (await alohub.get_calls_page(START, END, page_size=1)).items[0].call_id
        path = protocol.detail_path(call_id)
        url = server.url + path
        # What a plain script sends: the same headers, built once.
        headers = protocol.request_headers(
            server.api_key, server.access_token, "bench", json_body=False
        )
        internals = alohub._internals()  # the request path without structuring
        loads = json.loads

        async def aiohttp_get() -> object:
            async with plain.get(url, headers=headers) as response:
                body = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")
                return loads(body)

        cases: dict[str, Callable[[], Any]] = {
            "aiohttp": aiohttp_get,
            "request": lambda: internals.request("GET", path),
            "get_call": lambda: alohub.get_call(call_id),
        }
        best = {key: float("inf") for key in cases}
        for _ in range(repeat):
            for key, case in cases.items():
                for _ in range(20):  # warm the pool and the code paths
                    await case()
                gc.collect()
                started = time.process_time()
                for _ in range(requests):
                    await case()
                best[key] = min(best[key], (time.process_time() - started) / requests)
        return best


def request_rows(*, requests: int = 2_000, repeat: int = 5) -> tuple[list[Row], dict[str, float]]:
    """Measure the per-request client CPU against plain aiohttp; return rows and numbers."""
    with FakeServer(calls=100, cache_size=100) as server:
        best = asyncio.run(_request_cpu(server, requests, repeat))
    base = best["aiohttp"]
    labels = {
        "aiohttp": "per request: plain aiohttp GET + json.loads (baseline)",
        "request": "per request: ours, request path (no structuring)",
        "get_call": "per request: ours, get_call (info)",
    }
    rows = []
    for key, label in labels.items():
        row = Row(NAME, label, f"{best[key] * 1e6:.0f} us CPU", f"x{best[key] / base:.2f} aiohttp")
        if key == "request":
            row.goal = f"<= {GOAL_VS_AIOHTTP:g}x plain aiohttp"
            row.ok = best[key] <= GOAL_VS_AIOHTTP * base
        rows.append(row)
    return rows, best


def run(*, records: int = 100_000, repeat: int = 5, requests: int = 2_000) -> Result:
    tz = ZoneInfo(TZ_NAME)
    bodies = make_bodies(records)
    fns = cases(tz)
    _check(tz, bodies[0], fns)
    best = {key: float("inf") for key in fns}
    for _ in range(repeat):
        for key, fn in fns.items():
            best[key] = min(best[key], _time(fn, bodies))
    rate = {key: records / seconds for key, seconds in best.items()}
    result = Result(NAME, data={"rate": rate, "best": best, "records": records})
    used = decoder()
    ours_floor = best["orjson_floor"] if used == "orjson" else best["floor"]
    with_json = best["ours_json"] if used != "json" else best["ours"]
    with_orjson = best.get("ours_orjson", best["ours"] if used == "orjson" else None)
    for key in LABELS:
        if key not in rate:
            continue
        row = Row(NAME, LABELS[key], fmt_rate(rate[key]), f"{best[key] / records * 1e6:.2f} us/rec")
        if key in ("pydantic", "hand"):
            alone = (best[key] - best["floor"]) / (best["ours"] - ours_floor)
            row.figures += (
                f", ours x{rate['ours'] / rate[key]:.2f} of it (x{alone:.2f} structuring alone)"
            )
            goal = GOAL_VS_PYDANTIC if key == "pydantic" else GOAL_VS_HAND
            row.goal = f"ours >= {goal:g}x {'pydantic' if key == 'pydantic' else 'hand-written'}"
            row.ok = rate["ours"] >= goal * rate[key]
        elif key == "ours":
            row.case += f" ({used})"
            row.figures += f", decoding is {ours_floor / best['ours']:.0%} of it"
        elif key == "pydantic_json":
            row.figures += f", ours x{rate['ours'] / rate[key]:.2f} of it"
        elif key == "orjson_floor":
            row.figures += f", x{best['floor'] / best[key]:.2f} faster than json.loads"
        elif key in ("ours_json", "ours_orjson") and with_orjson is not None:
            row.figures += f", orjson makes our path x{with_json / with_orjson:.2f} faster"
        result.rows.append(row)
    if with_orjson is not None:
        result.data["orjson_speedup"] = with_json / with_orjson
    result.notes.append(
        f"{records:,} records in {len(bodies)} bodies of {PAGE}; best of {repeat} interleaved runs"
    )
    if orjson is None:
        result.notes.append("orjson is not installed: its rows are skipped")
    rows, per_request = request_rows(requests=requests, repeat=repeat)
    result.rows.extend(rows)
    result.data["per_request_cpu"] = per_request
    result.notes.append(
        f"per request: {requests:,} sequential detail GETs a run, client CPU only "
        f"(process_time; the fake runs in its own process), best of {repeat}"
    )
    return result


#: The parts of the request path, each a function's cumulative time minus its parts'.
_PATH_PARTS = (
    ("session: open check, retry set-up, token check", "_session.py", "_request"),
    ("session: slot, rate limit, stats, log level", "_session.py", "_send"),
    ("transport: aiohttp request, headers, socket I/O", "_transport.py", "send"),
    ("transport: body read with the size cap", "_transport.py", "_read"),
    ("checks: status, decode_json, body codes", "_session.py", "_read"),
)


def request_path_profile(requests: int = 3_000) -> list[tuple[str, float]]:
    """Profile sequential detail requests; return (part, profiled us per request) rows.

    cProfile inflates small calls, so the proportions, not the microseconds, are what
    the table is for. The event loop's own share (polling, callbacks) is the rest.
    """

    async def work(server: FakeServer) -> pstats.Stats:
        async with AlohubSession(**server.session_kwargs(max_retries=0)) as alohub:
            call_id = (await alohub.get_calls_page(START, END, page_size=1)).items[0].call_id
            path = protocol.detail_path(call_id)
            internals = alohub._internals()
            for _ in range(50):
                await internals.request("GET", path)
            profiler = cProfile.Profile(time.process_time)  # CPU, not waiting
            profiler.enable()
            for _ in range(requests):
                await internals.request("GET", path)
            profiler.disable()
            return pstats.Stats(profiler)

    with FakeServer(calls=100, cache_size=100) as server:
        stats = asyncio.run(work(server))
    table: dict[tuple[str, str], float] = {}
    for (file, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        key = (file.rsplit("/", 1)[-1], name)
        if key in {(f, n) for _, f, n in _PATH_PARTS}:
            table[key] = table.get(key, 0.0) + row[3]  # cumulative seconds
    total = stats.total_tt  # type: ignore[attr-defined]
    request = table[("_session.py", "_request")]
    send = table[("_session.py", "_send")]
    transport = table[("_transport.py", "send")]
    body = table[("_transport.py", "_read")]
    checks = table[("_session.py", "_read")]
    seconds = {
        "_request": request - send - checks,
        "_send": send - transport,
        "send": transport - body,
        "_read@_transport.py": body,
        "_read@_session.py": checks,
    }
    rows = [
        (_PATH_PARTS[0][0], seconds["_request"]),
        (_PATH_PARTS[1][0], seconds["_send"]),
        (_PATH_PARTS[2][0], seconds["send"]),
        (_PATH_PARTS[3][0], seconds["_read@_transport.py"]),
        (_PATH_PARTS[4][0], seconds["_read@_session.py"]),
        ("event loop: polling, callbacks, wake-ups", total - request),
    ]
    return [(part, value / requests * 1e6) for part, value in rows]


if __name__ == "__main__":
    parts = request_path_profile()
    whole = sum(us for _, us in parts)
    for part, us in parts:
        print(f"{part:50s} {us:7.1f} us  {us / whole:6.1%}")

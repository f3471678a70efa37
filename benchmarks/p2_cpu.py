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
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from alohub_async import _protocol as protocol
from alohub_async._converter import get_converter, structure_records
from alohub_async._timeutil import parse_timestamp
from alohub_async.models import CallRecord, Direction
from alohub_async.testing import CallDataset, Envelope

from ._common import END, START, TZ_NAME, Result, Row, fmt_rate

try:
    import orjson
except ImportError:  # pragma: no cover - optional: the orjson rows are skipped
    orjson = None

NAME = "P2 per-record CPU"
PAGE = 100
GOAL_VS_PYDANTIC = 2.0
GOAL_VS_HAND = 0.5

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


def run(*, records: int = 100_000, repeat: int = 5) -> Result:
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
    return result

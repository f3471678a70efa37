"""``keep_raw``: lighter records that keep every mapped field, and what ``raw`` still holds."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from alohub_async import CallRecord, Direction
from alohub_async._converter import get_converter, structure_records
from alohub_async.testing import VOCABULARIES, FakeAlohub

VN = ZoneInfo("Asia/Ho_Chi_Minh")
START, END = date(2025, 1, 1), date(2027, 1, 1)
MAPPED = [field.name for field in attrs.fields(CallRecord) if field.name != "raw"]


def mapped(record: CallRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in MAPPED}


@pytest.mark.parametrize("vocabulary", VOCABULARIES)
async def test_every_mapped_field_is_equal_whatever_raw_keeps(vocabulary: str) -> None:
    """Lighter records hold the same mapped fields; ``raw`` keeps what they do not hold."""
    walks: dict[str, list[CallRecord]] = {}
    async with FakeAlohub(calls=60, vocabulary=vocabulary) as fake:  # type: ignore[arg-type]
        for keep_raw in ("all", "unmapped", "none"):
            async with fake.session(keep_raw=keep_raw, page_size=25) as alohub:
                walks[keep_raw] = [call async for call in alohub.iter_calls(START, END)]
    full, unmapped, none = walks["all"], walks["unmapped"], walks["none"]
    assert len(full) == len(unmapped) == len(none) == 60
    for whole, light, bare in zip(full, unmapped, none, strict=True):
        assert mapped(light) == mapped(whole) == mapped(bare)
        assert bare.raw == {}
        # Whatever unmapped keeps is the server's own key and value.
        assert {key: whole.raw[key] for key in light.raw} == dict(light.raw)
        for key, value in whole.raw.items():
            if key not in light.raw:  # dropped: absent, or a field holds it
                assert value in (None, "") or key in _fed_keys(whole)


def _fed_keys(record: CallRecord) -> set[str]:
    """The keys whose values a field of this (fully kept) record was read from."""
    converter = get_converter(VN)
    fed = set()
    for key in record.raw:
        alone = structure_records(converter, [{"call_id": record.call_id, key: record.raw[key]}])
        if mapped(alone[0]) != mapped(CallRecord(call_id=record.call_id)) or key.lower() in (
            "call_id",
            "callid",
            "id",
        ):
            fed.add(key)
    return fed


def _one(row: dict[str, Any], keep_raw: str) -> CallRecord:
    return structure_records(get_converter(VN, VN, keep_raw), [row])[0]


def test_unmapped_keeps_unknown_keys_unusable_values_and_competing_sources() -> None:
    """Nothing but absent values and what a field holds is dropped."""
    row = {
        "callId": "A-1",
        "call_id": "A-2",  # a second source of call_id: which one fed it varies per record
        "starttime": "0000-00-00 00:00:00",  # unusable: kept
        "endtime": "2026-01-21 09:52:27",  # held by ended_at: dropped
        "answertime": "",  # absent: dropped
        "direction": "sideways",  # UNKNOWN: kept
        "caller_number": 912345678,  # held as "912345678": dropped
        "customer_name": None,  # absent: dropped
        "campaign": {"id": 7},  # no field reads it: kept
    }
    light = _one(row, "unmapped")
    assert dict(light.raw) == {
        "callId": "A-1",
        "call_id": "A-2",
        "starttime": "0000-00-00 00:00:00",
        "direction": "sideways",
        "campaign": {"id": 7},
    }
    whole = _one(row, "all")
    assert whole.raw is row
    assert mapped(light) == mapped(whole)
    assert light.direction is Direction.UNKNOWN and light.caller == "912345678"
    assert _one(row, "none").raw == {}


def test_unmapped_shares_the_empty_raw_when_every_key_is_held() -> None:
    """A record whose fields hold every key carries no dict of its own."""
    first = _one({"call_id": "B-1", "caller": "0901"}, "unmapped")
    second = _one({"call_id": "B-2", "caller": "0902"}, "unmapped")
    assert first.raw == {} and first.raw is second.raw


@pytest.mark.parametrize("keep_raw", ["some", "", None, "ALL"])
async def test_unknown_keep_raw_is_refused_before_any_request(keep_raw: object) -> None:
    async with FakeAlohub(calls=5) as fake:
        with pytest.raises(ValueError, match="keep_raw must be one of all, unmapped, none"):
            fake.session(keep_raw=keep_raw)
        assert fake.counters.requests == 0

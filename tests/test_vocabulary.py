"""Alohub's evidenced record vocabulary end to end, and the server's clock kept apart from tz.

Walks against FakeAlohub in each record vocabulary, through the public API and the CLI.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from alohub_async import AlohubSession, CallDetail, CallRecord, Direction
from alohub_async.cli import run
from alohub_async.testing import VOCABULARIES, CallDataset, FakeAlohub, Vocabulary

VN = ZoneInfo("Asia/Ho_Chi_Minh")
UTC = timezone.utc
START = "2026-01-25T00:00:00+07:00"
END = "2026-01-31T23:59:59+07:00"
CALLS = 300
NAIVE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


@pytest.fixture
async def fake() -> AsyncIterator[FakeAlohub]:
    """A fake in its default (evidenced) vocabulary."""
    async with FakeAlohub(calls=CALLS, seed=3) as server:
        yield server


async def walk(session: AlohubSession, start: Any = START, end: Any = END) -> list[CallRecord]:
    async with session as alohub:
        return [record async for record in alohub.iter_calls(start, end)]


def server_time(text: str, zone: Any = VN) -> datetime:
    """Read a naive server time the way the server means it."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)


def instants(records: list[CallRecord]) -> list[tuple[Any, ...]]:
    """What a record's times denote, whatever zone they are shown in."""
    return [
        (r.call_id, *(t and t.timestamp() for t in (r.started_at, r.answered_at, r.ended_at)))
        for r in records
    ]


# --- the fake's default records ----------------------------------------------------------------


def test_default_records_use_the_evidenced_vocabulary(fake: FakeAlohub) -> None:
    """Default records: naive server times, string durations, ``""`` while unknown."""
    records = fake.expected_records(START, END)
    assert records
    for row in records:
        assert row["source"] == "ipcc"
        assert NAIVE.fullmatch(row["starttime"]) and NAIVE.fullmatch(row["endtime"])
        assert row["total_duration"].isdigit() and row["holding_duration"].isdigit()
        assert row["call_status"] in {"answered", "missed"}
        assert row["hangup_by"] in {"customer", "agent", "system"}
        assert isinstance(row["caller_number"], str) and isinstance(row["called"], str)
        assert row["destination_number"] == row["call_id"].rsplit("-", 1)[1]
        if row["call_status"] == "answered":
            assert NAIVE.fullmatch(row["answertime"])
            assert row["recording_url"].endswith(f"/recordings/{row['call_id']}.wav")
        else:
            assert (row["answertime"], row["recording_url"]) == ("", "")
        if row["direction"] == "inbound":
            assert row["hotline"] == row["called"] != ""
        else:
            assert row["hotline"] == ""
        assert all(value is not None for value in row.values())
    assert {r["direction"] for r in records} == {"inbound", "OUTBOUND", "internal"}
    assert "" in {r["customerName"] for r in records}


def test_other_vocabularies_stay_available() -> None:
    """``vocabulary=`` picks the camelCase or snake_case shapes; unknown names are refused."""
    assert VOCABULARIES == ("evidenced", "camel", "snake")
    window = ("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")
    camel = CallDataset(5, seed=1, vocabulary="camel").records(*window)[0]
    snake = CallDataset(5, seed=1, vocabulary="snake").records(*window)[0]
    assert {"callId", "callStartTime", "billsec", "agentName"} <= set(camel)
    assert {"call_id", "start_time", "call_duration", "disposition"} <= set(snake)
    with pytest.raises(ValueError, match="vocabulary"):
        CallDataset(5, vocabulary="xml")  # type: ignore[arg-type]


# --- structuring through a walk -------------------------------------------------------------------


async def test_walk_sets_every_field_of_evidenced_records(fake: FakeAlohub) -> None:
    """Through a walk, each evidenced record fills every field from its own key."""
    records = await walk(fake.session())
    expected = fake.expected_records(START, END)
    assert [r.call_id for r in records] == [row["call_id"] for row in expected]
    for record, row in zip(records, expected, strict=True):
        assert record.raw == row
        assert record.started_at == server_time(row["starttime"])
        assert record.ended_at == server_time(row["endtime"])
        assert record.answered_at == (server_time(row["answertime"]) if row["answertime"] else None)
        assert record.duration == float(row["total_duration"])
        assert record.hold_duration == float(row["holding_duration"])
        assert record.direction is Direction(row["direction"].lower())
        assert (record.caller, record.callee) == (row["caller_number"], row["called"])
        assert (record.extension, record.agent) == (row["destination_number"], row["userName"])
        assert (record.status, record.hangup_by) == (row["call_status"], row["hangup_by"])
        assert record.hotline == (row["hotline"] or None)
        assert record.customer_name == (row["customerName"] or None)
        assert record.recording_url == (row["recording_url"] or None)
        assert record.caller != "ipcc"
    full = next(r for r in records if r.direction is Direction.INBOUND and r.answered_at)
    assert all(getattr(full, f.name) is not None for f in attrs.fields(CallRecord))


async def test_details_walk_reads_evidenced_details(fake: FakeAlohub) -> None:
    """``iter_call_details`` gives the same fields plus the transcript of answered calls."""
    async with fake.session() as alohub:
        details = [d async for d in alohub.iter_call_details(START, "2026-01-26T00:00:00+07:00")]
    assert details
    for item in details:
        assert isinstance(item, CallDetail)
        assert item.started_at is not None and item.duration is not None
        assert (item.transcript is not None) == (item.status == "answered")


@pytest.mark.parametrize("vocabulary", VOCABULARIES)
async def test_every_vocabulary_structures_to_the_same_calls(vocabulary: Vocabulary) -> None:
    """The three shapes of the same calls give the same ids, instants, lengths and parties."""

    def essentials(records: list[CallRecord]) -> list[tuple[Any, ...]]:
        return [
            (r.call_id, r.started_at, r.ended_at, r.duration, r.direction, r.caller, r.extension)
            for r in records
        ]

    async with FakeAlohub(calls=100, seed=5) as reference:
        expected = essentials(await walk(reference.session()))
    async with FakeAlohub(calls=100, seed=5, vocabulary=vocabulary) as server:
        got = essentials(await walk(server.session()))
    assert got == expected
    assert all(None not in row for row in got)


# --- tz and server_tz ----------------------------------------------------------------------------


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo"])
async def test_tz_never_changes_the_instant_of_a_record(fake: FakeAlohub, tz: str) -> None:
    """Changing ``tz`` changes how record times are shown, never what instant they denote."""
    reference = await walk(fake.session())
    shown = await walk(fake.session(tz=tz))
    assert instants(shown) == instants(reference)
    zone = ZoneInfo(tz)
    for record in shown:
        assert record.started_at is not None
        assert record.started_at.utcoffset() == record.started_at.astimezone(zone).utcoffset()


async def test_other_tz_returns_only_calls_in_the_range(fake: FakeAlohub) -> None:
    """With ``tz="Europe/Paris"``, every call listed started inside the range asked for."""
    start = datetime(2026, 1, 30, 9, 0, tzinfo=UTC)
    end = datetime(2026, 1, 30, 21, 0, tzinfo=UTC)
    records = await walk(fake.session(tz="Europe/Paris"), start, end)
    assert records
    assert all(r.started_at is not None and start <= r.started_at <= end for r in records)


async def test_server_tz_reads_naive_server_times() -> None:
    """A server whose clock is UTC is read right with ``server_tz="UTC"``, 7 h off without."""
    async with FakeAlohub(calls=50, seed=2) as vietnam:
        truth = await walk(vietnam.session())
    async with FakeAlohub(calls=50, seed=2, server_tz=UTC, anchor=vietnam.data.anchor) as server:
        assert (
            server.expected_records(START, END)[0]["starttime"]
            != (vietnam.expected_records(START, END)[0]["starttime"])
        )
        right = await walk(server.session(server_tz="UTC"))
        wrong = await walk(server.session())
    assert [r.started_at for r in right] == [r.started_at for r in truth]
    assert [r.ended_at for r in right] == [r.ended_at for r in truth]
    assert all(
        w.started_at is not None
        and t.started_at is not None
        and t.started_at - w.started_at == timedelta(hours=7)
        for w, t in zip(wrong, truth, strict=True)
    )


def test_bad_server_tz_is_refused_before_any_request() -> None:
    """An unknown ``server_tz`` is a ValueError at construction."""
    with pytest.raises(ValueError, match="unknown time zone"):
        AlohubSession("key", "token", base_url="http://127.0.0.1:9", server_tz="Mars/Olympus")


# --- the CLI -----------------------------------------------------------------------------------


def _connect(fake: FakeAlohub) -> list[str]:
    return ["--base-url", fake.url, "--api-key", fake.api_key, "--access-token", fake.access_token]


async def test_cli_tz_utc_prints_the_real_instant(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's repro: ``--tz UTC calls list ... --format jsonl`` shows the call's instant."""
    for name in ("ALOHUB_API_KEY", "ALOHUB_ACCESS_TOKEN", "ALOHUB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    row = fake.expected_records(START, END)[0]
    moment = server_time(row["starttime"]).astimezone(UTC)
    minute = moment.replace(second=0)
    window = [
        "--start",
        minute.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--end",
        (minute + timedelta(seconds=59)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    ]
    args = [*_connect(fake), "--tz", "UTC", "calls", "list", *window, "--format", "jsonl"]
    assert await run(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    printed = {line["call_id"]: line["started_at"] for line in lines}
    assert printed[row["call_id"]] == moment.isoformat()
    assert printed[row["call_id"]].endswith("+00:00")
    assert all(
        minute <= datetime.fromisoformat(text) <= minute + timedelta(seconds=59)
        for text in printed.values()
    )


async def test_cli_server_tz_option(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--server-tz`` reads a server whose clock is not Vietnam's."""
    for name in ("ALOHUB_API_KEY", "ALOHUB_ACCESS_TOKEN", "ALOHUB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    async with FakeAlohub(calls=20, seed=4, server_tz=UTC) as server:
        row = server.expected_records(START, END)[0]
        args = [*_connect(server), "--server-tz", "UTC", "calls", "list"]
        assert await run([*args, "--start", START, "--end", END, "--format", "jsonl"]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first["call_id"] == row["call_id"]
    assert datetime.fromisoformat(first["started_at"]) == server_time(row["starttime"], UTC)

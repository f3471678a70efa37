"""The SQLite store: schema, upserts with first/last seen, windows and leases, high-water mark."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alohub_async import CallDetail, CallRecord, Direction, Transcript
from alohub_async.sync import (
    SCHEMA_VERSION,
    SQLiteStore,
    SyncStore,
    UpsertResult,
    Window,
    WindowCounts,
    _sqlite,
    _store,
    schema_sql,
)
from alohub_async.sync._store import call_row

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
LEASE = timedelta(minutes=5)


def call(call_id: str, status: str = "ringing", **extra: object) -> CallRecord:
    raw = {"call_id": call_id, "status": status, **extra}
    return CallRecord(call_id=call_id, started_at=T0, status=status, raw=raw)


def window(hours: int) -> Window:
    return Window(
        T0 + timedelta(hours=hours), T0 + timedelta(hours=hours + 1) - timedelta(seconds=1)
    )


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        return db.execute(sql).fetchall()


async def test_sqlite_store_is_a_sync_store_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    async with SQLiteStore(path) as store:
        assert isinstance(store, SyncStore)
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]
    assert rows(path, "SELECT version FROM alohub_schema_version") == [(SCHEMA_VERSION,)]
    async with SQLiteStore(path):  # reopening does not add a version row
        pass
    assert rows(path, "SELECT COUNT(*) FROM alohub_schema_version") == [(1,)]


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    async with SQLiteStore(path):
        pass
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE alohub_schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(RuntimeError, match="newer"):
        await SQLiteStore(path).open()


async def test_upsert_inserts_updates_and_keeps_first_seen(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    async with SQLiteStore(path) as store:
        await store.add_windows("job", [window(0), window(1)])
        w = await store.claim_window("job", "me", LEASE)
        assert w == window(0)
        first = await store.commit_window("job", w, "me", [call("a"), call("b"), call("a")])
        assert first == UpsertResult(inserted=2, updated=0, unchanged=0)
        (first_seen,) = rows(path, "SELECT first_seen FROM alohub_calls WHERE call_id = 'a'")[0]

        assert await store.changed_calls([call("a"), call("b", "answered"), call("c")]) == {
            "b",
            "c",
        }
        w2 = await store.claim_window("job", "me", LEASE)
        assert w2 == window(1)
        second = await store.commit_window(
            "job", w2, "me", [call("a"), call("b", "answered"), call("c")]
        )
        assert second == UpsertResult(inserted=1, updated=1, unchanged=1)
    got = rows(
        path,
        "SELECT call_id, status, first_seen, last_seen, raw FROM alohub_calls ORDER BY call_id",
    )
    assert [r[:2] for r in got] == [("a", "ringing"), ("b", "answered"), ("c", "ringing")]
    assert got[0][2] == first_seen and str(got[0][3]) >= str(first_seen)
    assert json.loads(str(got[1][4]))["status"] == "answered"
    assert rows(
        path, "SELECT status, rows_seen FROM alohub_sync_windows ORDER BY window_start"
    ) == [
        ("done", 2),
        ("done", 3),
    ]


async def test_details_fill_transcript_and_keep_recording_url(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    detail = CallDetail(
        call_id="a", recording_url="https://r/a.wav", transcript=Transcript("hello"), raw={}
    )
    async with SQLiteStore(path) as store:
        await store.add_windows("job", [window(0)])
        w = await store.claim_window("job", "me", LEASE)
        assert w is not None
        await store.commit_window("job", w, "me", [call("a"), call("b")], [detail])
        # A later listing without a recording URL does not erase the detail's.
        await store.add_windows("job", [window(1)])
        w = await store.claim_window("job", "me", LEASE)
        assert w is not None
        await store.commit_window("job", w, "me", [call("a", "answered")])
        no_transcript = CallDetail(call_id="b", raw={})
        assert await store.save_details([no_transcript]) == 1
        assert await store.calls_without_transcript(T0 - timedelta(days=1), 10) == ["b"]
        assert await store.calls_without_transcript(T0 + timedelta(days=1), 10) == []
    (recording, transcript) = rows(
        path, "SELECT recording_url, transcript FROM alohub_calls WHERE call_id='a'"
    )[0]
    assert recording == "https://r/a.wav"
    assert json.loads(str(transcript))["text"] == "hello"


async def test_leases_split_release_and_stale_leases(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    async with SQLiteStore(path) as store:
        await store.add_windows("job", [window(0)])
        await store.add_windows("job", [window(0)])  # planned twice: still one window
        w = await store.claim_window("job", "me", LEASE)
        assert w is not None
        assert await store.claim_window("job", "other", LEASE) is None  # leased
        assert await store.window_counts("job") == WindowCounts(total=1, done=0, leased=1)
        assert await store.renew_lease("job", w, "me", LEASE)
        assert not await store.renew_lease("job", w, "other", LEASE)
        halves = (
            Window(w.start, w.start + timedelta(minutes=30) - timedelta(seconds=1)),
            Window(w.start + timedelta(minutes=30), w.end),
        )
        await store.split_window("job", w, halves, "me")
        assert await store.window_counts("job") == WindowCounts(total=2, done=0)
        first = await store.claim_window("job", "me", LEASE)
        assert first == halves[0]
        await store.release_window("job", first, "me")
        assert await store.claim_window("job", "other", LEASE) == halves[0]
        # An expired lease is claimable by anyone.
        assert await store.claim_window("job", "third", timedelta(seconds=-1)) == halves[1]
        assert await store.claim_window("job", "fourth", LEASE) == halves[1]
    # A process that died leaves leases behind: reopening the single-process store drops them.
    async with SQLiteStore(path) as store:
        assert await store.claim_window("job", "rerun", LEASE) == halves[0]


async def test_high_water_mark_only_moves_forward(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "calls.db") as store:
        assert await store.get_high_water("incremental") is None
        await store.set_high_water("incremental", T0)
        await store.set_high_water("incremental", T0 - timedelta(days=1))
        assert await store.get_high_water("incremental") == T0
        await store.set_high_water("incremental", T0 + timedelta(hours=1, microseconds=5))
        assert await store.get_high_water("incremental") == T0 + timedelta(hours=1)
        assert await store.get_high_water("other") is None


async def test_a_store_must_be_open(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "calls.db")
    with pytest.raises(RuntimeError, match="not open"):
        await store.window_counts("job")
    assert "calls.db" in repr(store)


def test_schema_sql_has_both_dialects() -> None:
    assert "TIMESTAMPTZ" in schema_sql("postgresql") and "JSONB" in schema_sql("postgresql")
    assert "TIMESTAMPTZ" not in schema_sql("sqlite")
    with pytest.raises(ValueError, match="dialect"):
        schema_sql("oracle")


_MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [timezone.utc, timezone(timedelta(hours=7)), timezone(timedelta(seconds=25600))]
    ),
)


@given(moment=_MOMENTS)
def test_stored_timestamps_are_utc_isoformat(moment: datetime) -> None:
    # SQLite keeps timestamps as this text and compares it as text (windows, the
    # high-water mark), so the faster encoder must write exactly what isoformat writes.
    record = CallRecord(call_id="c1", started_at=moment, ended_at=moment, raw={})
    expected = moment.astimezone(timezone.utc).isoformat()
    assert call_row(record)[1] == expected
    assert call_row(record)[3] == expected


def test_a_window_of_rows_is_each_records_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """call_rows, column by column, gives call_row of each record, in order.

    Timestamps missing in some records, a raw orjson refuses (an integer beyond 64 bits:
    the whole column then takes the standard library) and every direction.
    """
    zone = timezone(timedelta(hours=7))
    records = [
        CallRecord(
            call_id=f"c{n}",
            started_at=datetime(2026, 1, 2, 3, 4, n, tzinfo=zone),
            answered_at=None if n % 2 else datetime(2026, 1, 2, 3, 5, n, tzinfo=zone),
            direction=direction,
            raw={"n": n, "wide": 2**70} if n == 3 else {"n": n, "b": [1.5, None]},
        )
        for n, direction in enumerate(Direction)
    ]
    rows = _store.call_rows(records)
    for record, row in zip(records, rows, strict=True):
        assert row[6] == record.direction.value
        assert row[-2] == _store._canonical(record.raw)
        assert row[-1] == _store.content_hash(record.raw)
        assert row[2] == (
            None
            if record.answered_at is None
            else record.answered_at.astimezone(timezone.utc).isoformat()
        )
    assert [row[:6] for row in _store.call_rows(records, timestamps="datetime")] == [
        (r.call_id, r.started_at, r.answered_at, r.ended_at, r.duration, r.hold_duration)
        for r in records
    ]
    assert _store.call_rows([]) == []
    monkeypatch.setattr(_store, "_orjson_dumps", None)
    assert _store.call_rows(records) == rows


@pytest.mark.parametrize("n", [4001, 13001], ids=["batches", "over-the-limit"])
async def test_large_windows_are_upserted_in_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    # Several full statements plus a partial one, then a second pass updating half the
    # rows. Then one statement for 13,001 rows: 260,020 parameters, over the limit of
    # every common build (32,766 by default, 250,000 in Debian's): the store falls back
    # to the 999 parameters every build allows.
    if n > 5000:
        monkeypatch.setattr(_sqlite, "_MAX_PARAMETERS", 20 * n)
    path = tmp_path / "calls.db"
    async with SQLiteStore(path) as store:
        await store.add_windows("job", [window(0), window(1)])
        w = await store.claim_window("job", "me", LEASE)
        assert w is not None
        first = await store.commit_window("job", w, "me", [call(f"c{i}") for i in range(n)])
        assert first == UpsertResult(inserted=n, updated=0, unchanged=0)
        w = await store.claim_window("job", "me", LEASE)
        assert w is not None
        again = [call(f"c{i}", "answered" if i % 2 else "ringing") for i in range(n)]
        second = await store.commit_window("job", w, "me", again)
        assert second == UpsertResult(inserted=0, updated=n // 2, unchanged=n - n // 2)
    got = rows(path, "SELECT call_id, status FROM alohub_calls")
    assert sorted(got) == sorted((c.call_id, c.status) for c in again)

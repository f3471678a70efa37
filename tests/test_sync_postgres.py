"""The PostgreSQL store against a real server: the test database, the store contract, leases."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from alohub_async.models import CallDetail, CallRecord, Transcript
from alohub_async.sync import (
    SCHEMA_VERSION,
    PostgresStore,
    SyncStore,
    UpsertResult,
    Window,
    WindowCounts,
    halve,
)
from tests import pg


async def test_each_test_gets_an_empty_database_of_its_own(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        name = await conn.fetchval("SELECT current_database()")
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    assert name.startswith("alohub_t_")
    assert tables == 0


def test_without_a_server_ci_fails_and_a_developer_is_told_how_to_start_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(pg.DSN_VARIABLE, raising=False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        pg.base_dsn()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"source \.ci/postgres"):
        pg.base_dsn()


def test_failure_messages_hide_the_password() -> None:
    dsn = "postgresql://user:s3cret@127.0.0.1:5432/db"
    assert pg.redacted(dsn) == "postgresql://user:***@127.0.0.1:5432/db"
    assert pg.with_database(dsn, "other").endswith("@127.0.0.1:5432/other")


# -- the store ---------------------------------------------------------------------------------

UTC = timezone.utc
DAY = timedelta(days=1)
LEASE = timedelta(minutes=5)
JOB = "range:test"


def day(n: int) -> Window:
    start = datetime(2026, 1, 1, tzinfo=UTC) + n * DAY
    return Window(start, start + DAY - timedelta(seconds=1))


def call(call_id: str, n: int = 0, **raw: Any) -> CallRecord:
    started = datetime(2026, 1, 1, 8, tzinfo=UTC) + n * DAY
    return CallRecord(
        call_id=call_id,
        started_at=started,
        caller="0901234567",
        raw={"call_id": call_id, "starttime": started.isoformat(), **raw},
    )


@pytest.fixture
async def store(pg_dsn: str) -> AsyncIterator[PostgresStore]:
    async with PostgresStore(pg_dsn) as opened:
        yield opened


async def fetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        return rows
    finally:
        await conn.close()


async def expire_leases(dsn: str) -> None:
    """Move every lease into the past, as if its worker died long ago (no waiting)."""
    await fetch(dsn, "UPDATE alohub_sync_windows SET lease_until = now() - interval '1 second'")


def test_the_store_keeps_the_sync_store_contract() -> None:
    assert isinstance(PostgresStore("postgresql://u@127.0.0.1/db"), SyncStore)


@pytest.mark.parametrize(
    "dsn", ["sqlite:///x.db", "alohub.sqlite3", "mysql://user:s3cret@host/db", ""]
)
def test_a_dsn_that_is_not_postgresql_is_refused_before_connecting(dsn: str) -> None:
    with pytest.raises(ValueError, match="postgresql://") as caught:
        PostgresStore(dsn)
    assert "s3cret" not in str(caught.value)


def test_bad_pool_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="min_connections"):
        PostgresStore("postgresql://u@h/db", min_connections=3, max_connections=2)


def test_repr_and_dsn_never_show_the_password() -> None:
    store = PostgresStore("postgresql://worker:s3cret@db.internal:5432/calls")
    assert "s3cret" not in repr(store)
    assert "s3cret" not in store.dsn
    assert "worker:***@db.internal:5432/calls" in repr(store)
    assert (
        repr(PostgresStore("postgresql://worker@h/db"))
        == "PostgresStore('postgresql://worker@h/db')"
    )


async def test_a_refused_login_names_the_server_but_not_the_password(pg_dsn: str) -> None:
    parts = urlsplit(pg_dsn)
    wrong = pg_dsn.replace(f":{parts.password}@", ":not-the-s3cret@", 1)
    with pytest.raises(ConnectionError) as caught:
        await PostgresStore(wrong).open()
    assert "not-the-s3cret" not in str(caught.value)
    assert "***" in str(caught.value)


async def test_an_unreachable_server_is_a_connection_error_without_the_password() -> None:
    store = PostgresStore("postgresql://sync:pa55-SECRET-word@127.0.0.1:1/calls", connect_timeout=5)
    with pytest.raises(ConnectionError) as caught:  # nothing listens on port 1
        await store.open()
    message = str(caught.value)
    assert "pa55-SECRET-word" not in message
    assert message.startswith("cannot connect to PostgreSQL at postgresql://sync:***@127.0.0.1:1/")


async def test_an_unopened_store_says_so(pg_dsn: str) -> None:
    with pytest.raises(RuntimeError, match="open"):
        await PostgresStore(pg_dsn).window_counts(JOB)


async def test_the_schema_is_created_once_with_its_version_even_by_workers_starting_together(
    pg_dsn: str,
) -> None:
    stores = [PostgresStore(pg_dsn) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        assert [await s.schema_version() for s in stores] == [SCHEMA_VERSION] * 4
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    rows = await fetch(pg_dsn, "SELECT version FROM alohub_schema_version")
    assert [r["version"] for r in rows] == [SCHEMA_VERSION]
    tables = await fetch(
        pg_dsn, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    )
    assert {r["table_name"] for r in tables} == {
        "alohub_schema_version",
        "alohub_calls",
        "alohub_sync_windows",
        "alohub_sync_state",
    }


async def test_a_schema_newer_than_the_package_is_refused(pg_dsn: str) -> None:
    async with PostgresStore(pg_dsn):
        pass
    await fetch(pg_dsn, "UPDATE alohub_schema_version SET version = $1", SCHEMA_VERSION + 1)
    with pytest.raises(RuntimeError, match="upgrade alohub-async"):
        await PostgresStore(pg_dsn).open()


async def test_windows_are_planned_once_and_claimed_in_time_order(store: PostgresStore) -> None:
    await store.add_windows(JOB, [day(2), day(0), day(1)])
    await store.add_windows(JOB, [day(0), day(1), day(2)])  # planning again changes nothing
    assert await store.window_counts(JOB) == WindowCounts(total=3, done=0, leased=0)
    first = await store.claim_window(JOB, "a", LEASE)
    second = await store.claim_window(JOB, "b", LEASE)
    assert (first, second) == (day(0), day(1))
    assert await store.window_counts(JOB) == WindowCounts(total=3, done=0, leased=2)
    assert await store.claim_window(JOB, "c", LEASE) == day(2)
    assert await store.claim_window(JOB, "d", LEASE) is None  # every window is leased
    assert await store.claim_window("another job", "a", LEASE) is None


async def test_commit_upserts_rows_and_marks_the_window_done_together(
    store: PostgresStore, pg_dsn: str
) -> None:
    await store.add_windows(JOB, [day(0), day(1)])
    window = await store.claim_window(JOB, "a", LEASE)
    assert window == day(0)
    calls = [call("c1"), call("c2"), call("c2")]  # a call listed twice is stored once
    assert await store.changed_calls(calls) == {"c1", "c2"}
    result = await store.commit_window(JOB, window, "a", calls)
    assert result == UpsertResult(inserted=2)
    assert await store.window_counts(JOB) == WindowCounts(total=2, done=1, leased=0)
    assert await store.changed_calls([call("c1"), call("c2", status="x")]) == {"c2"}

    first = {r["call_id"]: r for r in await fetch(pg_dsn, "SELECT * FROM alohub_calls")}
    # The same calls again, one changed: updated in place, never duplicated.
    other = await store.claim_window(JOB, "a", LEASE)
    assert other == day(1)
    result = await store.commit_window(JOB, other, "a", [call("c1"), call("c2", status="x")])
    assert result == UpsertResult(updated=1, unchanged=1)
    rows = {r["call_id"]: r for r in await fetch(pg_dsn, "SELECT * FROM alohub_calls")}
    assert sorted(rows) == ["c1", "c2"]
    assert rows["c2"]["first_seen"] == first["c2"]["first_seen"]
    assert rows["c2"]["last_seen"] > first["c2"]["last_seen"]
    assert json.loads(rows["c2"]["raw"])["status"] == "x"
    assert rows["c1"]["caller"] == "0901234567"
    assert rows["c1"]["started_at"] == datetime(2026, 1, 1, 8, tzinfo=UTC)
    assert await store.claim_window(JOB, "a", LEASE) is None  # done windows stay done


async def test_details_fill_in_transcripts_without_erasing_them(
    store: PostgresStore, pg_dsn: str
) -> None:
    await store.add_windows(JOB, [day(0)])
    window = await store.claim_window(JOB, "a", LEASE)
    assert window is not None
    await store.commit_window(
        JOB, window, "a", [call("c1"), call("c2"), call("c3")], [CallDetail(call_id="c3")]
    )
    since = datetime(2026, 1, 1, tzinfo=UTC)
    # Only a fetched detail that lacked a transcript is due for another look.
    assert await store.calls_without_transcript(since, 10) == ["c3"]
    detail = CallDetail(
        call_id="c1", recording_url="http://127.0.0.1/r.wav", transcript=Transcript(text="alo")
    )
    assert await store.save_details([detail, CallDetail(call_id="c2")]) == 2
    assert await store.save_details([CallDetail(call_id="unknown")]) == 0
    assert await store.calls_without_transcript(since, 10) == ["c2", "c3"]
    assert await store.save_details([CallDetail(call_id="c1")]) == 1  # no transcript this time
    # A later listing without a recording URL keeps the one the detail brought.
    await store.add_windows(JOB, [day(1)])
    again = await store.claim_window(JOB, "a", LEASE)
    assert again == day(1)
    await store.commit_window(JOB, again, "a", [call("c1")])
    (row,) = await fetch(pg_dsn, "SELECT * FROM alohub_calls WHERE call_id = 'c1'")
    assert json.loads(row["transcript"])["text"] == "alo"
    assert row["recording_url"] == "http://127.0.0.1/r.wav"
    assert row["detail_fetched_at"] is not None


async def test_a_split_window_is_replaced_by_its_halves(store: PostgresStore) -> None:
    await store.add_windows(JOB, [day(0)])
    window = await store.claim_window(JOB, "a", LEASE)
    assert window is not None
    parts = halve(window)
    await store.split_window(JOB, window, parts, "a")
    assert await store.window_counts(JOB) == WindowCounts(total=2, done=0, leased=0)
    assert await store.claim_window(JOB, "a", LEASE) == parts[0]
    assert await store.claim_window(JOB, "b", LEASE) == parts[1]
    with pytest.raises(LookupError):  # only the lease's owner may split it
        await store.split_window(JOB, parts[1], halve(parts[1]), "a")


async def test_the_high_water_mark_only_moves_forward(store: PostgresStore) -> None:
    assert await store.get_high_water("incremental") is None
    later = datetime(2026, 1, 2, tzinfo=UTC)
    await store.set_high_water("incremental", later)
    await store.set_high_water("incremental", later - DAY)
    assert await store.get_high_water("incremental") == later
    await store.set_high_water("incremental", later + DAY)
    assert await store.get_high_water("incremental") == later + DAY


# -- leases ------------------------------------------------------------------------------------


async def test_concurrent_claims_never_hand_out_a_window_twice(pg_dsn: str) -> None:
    windows = [day(n) for n in range(12)]
    # Separate stores, as separate worker processes would have, racing for the same rows.
    stores = [PostgresStore(pg_dsn, max_connections=4) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        await stores[0].add_windows(JOB, windows)

        async def worker(index: int) -> list[Window]:
            store, got = stores[index % 4], []
            for _ in range(len(windows) + 1):  # bounded even if claims never ran dry
                window = await store.claim_window(JOB, f"w{index}", LEASE)
                if window is None:
                    break
                got.append(window)
            return got

        claimed = await asyncio.gather(*(worker(i) for i in range(16)))
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    flat = [w for got in claimed for w in got]
    assert sorted(flat) == windows  # each window exactly once


async def test_a_live_lease_is_renewed_and_a_released_window_is_claimable_again(
    store: PostgresStore,
) -> None:
    await store.add_windows(JOB, [day(0)])
    window = await store.claim_window(JOB, "a", timedelta(seconds=30))
    assert window is not None
    assert await store.renew_lease(JOB, window, "a", LEASE)
    assert not await store.renew_lease(JOB, window, "b", LEASE)  # not b's lease
    assert await store.claim_window(JOB, "b", LEASE) is None
    await store.release_window(JOB, window, "b")  # not b's to release: nothing happens
    assert await store.claim_window(JOB, "b", LEASE) is None
    await store.release_window(JOB, window, "a")
    assert await store.claim_window(JOB, "b", LEASE) == window


async def test_an_expired_lease_is_taken_over_and_the_dead_owner_cannot_commit(
    store: PostgresStore, pg_dsn: str
) -> None:
    await store.add_windows(JOB, [day(0)])
    window = await store.claim_window(JOB, "dead", LEASE)
    assert window is not None
    assert await store.claim_window(JOB, "live", LEASE) is None
    await expire_leases(pg_dsn)  # the owner stopped renewing: its worker died
    assert await store.window_counts(JOB) == WindowCounts(total=1, done=0, leased=0)
    assert await store.claim_window(JOB, "live", LEASE) == window
    # The first owner comes back from a long stall: its lease is gone, so it changes nothing.
    assert not await store.renew_lease(JOB, window, "dead", LEASE)
    with pytest.raises(LookupError, match="no longer holds the lease"):
        await store.commit_window(JOB, window, "dead", [call("stale")])
    await store.release_window(JOB, window, "dead")
    assert await store.window_counts(JOB) == WindowCounts(total=1, done=0, leased=1)
    assert await store.commit_window(JOB, window, "live", [call("c1")]) == UpsertResult(inserted=1)
    rows = await fetch(pg_dsn, "SELECT call_id FROM alohub_calls")
    assert [r["call_id"] for r in rows] == ["c1"]  # the stale commit wrote nothing
    (attempts,) = await fetch(pg_dsn, "SELECT attempts FROM alohub_sync_windows")
    assert attempts["attempts"] == 2


async def test_a_lease_expires_on_the_database_clock(store: PostgresStore) -> None:
    await store.add_windows(JOB, [day(0)])
    window = await store.claim_window(JOB, "dead", timedelta(milliseconds=50))
    assert window is not None
    # Bounded wait for the real expiry (no timing assertion: only that it happens).
    for _ in range(200):
        taken = await store.claim_window(JOB, "live", LEASE)
        if taken is not None:
            break
        await asyncio.sleep(0.01)
    assert taken == window


async def test_a_lease_must_be_positive(store: PostgresStore) -> None:
    with pytest.raises(ValueError, match="lease"):
        await store.claim_window(JOB, "a", timedelta(0))


async def test_without_asyncpg_opening_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as if the extra were not installed
    store = PostgresStore("postgresql://u:s3cret@127.0.0.1:1/db")  # constructing needs no driver
    with pytest.raises(ImportError, match=r"alohub-async\[postgres\]") as caught:
        await store.open()
    assert "s3cret" not in str(caught.value)

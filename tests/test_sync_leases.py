"""A sync that loses a window's lease drops that window and goes on, with either store.

A worker that stalls past its lease (a long pause, a slow database) comes back to find its
window claimed by another worker; the store then refuses its commit (or split) with a
`LookupError`. That is not a failure of the run: the window belongs to its new owner now.
The tests below make the lease expire and another owner take the window over right before
the engine's commit or split, through the stores' own methods, on a real database.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import pytest

from alohub_async.models import CallDetail, CallRecord
from alohub_async.sync import CallLogSync, PostgresStore, SQLiteStore, Window
from alohub_async.testing import FakeAlohub

VN = timezone(timedelta(hours=7))
ANCHOR = datetime(2026, 1, 31, 23, 59, 59, tzinfo=VN)
START = datetime(2026, 1, 28, tzinfo=VN)
USURPER = "usurper"
# The usurper's own lease: short, so that once it lapses the engine claims the window back
# and finishes it within the same run (the usurper never commits: a phantom worker).
USURPER_LEASE = timedelta(seconds=0.3)


async def take_over_sqlite(path: Path, window: Window) -> None:
    # What another process's claim does once the lease expired, in one statement: the
    # engine's own idle workers must not reclaim the window between an expiry and a claim.
    # aiosqlite, not sqlite3: a blocking connection waiting for the store's write lock would
    # stop the event loop that has to finish the transaction holding it.
    until = datetime.now(timezone.utc) + USURPER_LEASE
    async with aiosqlite.connect(path) as db:
        await db.execute(
            "UPDATE alohub_sync_windows SET lease_owner = ?, lease_until = ?,"
            " attempts = attempts + 1 WHERE window_start = ?",
            (USURPER, until.isoformat(), window.start.astimezone(timezone.utc).isoformat()),
        )
        await db.commit()


async def take_over_postgres(dsn: str, window: Window) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "UPDATE alohub_sync_windows SET lease_owner = $1, lease_until = now() + $2::interval,"
            " attempts = attempts + 1 WHERE window_start = $3",
            USURPER,
            USURPER_LEASE,
            window.start,
        )
    finally:
        await conn.close()


def usurped(base: type[Any], where: str, take_over: Any) -> Any:
    """A subclass of a real store whose first ``where`` call finds its lease taken over."""

    class Usurped(base):  # type: ignore[misc]
        usurped = 0

        async def _usurp(self, job: str, window: Window) -> None:
            # Once: both windows in flight may get here. The lease expired while this
            # worker stalled, and another worker claimed the window in the meantime.
            self.usurped += 1
            if self.usurped == 1:
                await take_over(window)

        async def commit_window(
            self,
            job: str,
            window: Window,
            owner: str,
            calls: Sequence[CallRecord],
            details: Sequence[CallDetail] = (),
        ) -> Any:
            if where == "commit":
                await self._usurp(job, window)
            return await super().commit_window(job, window, owner, calls, details)

        async def split_window(
            self, job: str, window: Window, parts: Sequence[Window], owner: str
        ) -> None:
            if where == "split":
                await self._usurp(job, window)
            await super().split_window(job, window, parts, owner)

    return Usurped


async def column(kind: str, target: str, sql: str) -> list[Any]:
    """The first column of a query's rows, from the SQLite file or PostgreSQL database."""
    if kind == "sqlite":
        with contextlib.closing(sqlite3.connect(target)) as db, db:
            return [row[0] for row in db.execute(sql)]
    conn = await asyncpg.connect(target)
    try:
        return [row[0] for row in await conn.fetch(sql)]
    finally:
        await conn.close()


@pytest.mark.parametrize("where", ["commit", "split"])
async def test_sqlite_a_lost_lease_drops_the_window_and_the_run_goes_on(
    where: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = str(tmp_path / "calls.db")
    store = usurped(SQLiteStore, where, lambda w: take_over_sqlite(Path(target), w))(target)
    await lose_a_lease_and_go_on("sqlite", target, store, where, caplog)


@pytest.mark.parametrize("where", ["commit", "split"])
async def test_postgres_a_lost_lease_drops_the_window_and_the_run_goes_on(
    where: str, pg_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = usurped(PostgresStore, where, lambda w: take_over_postgres(pg_dsn, w))(pg_dsn)
    await lose_a_lease_and_go_on("postgres", pg_dsn, store, where, caplog)


async def lose_a_lease_and_go_on(
    kind: str, target: str, store: Any, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    # With "split", the 400 calls over 4 day windows exceed max_window_rows: each day
    # window is split once before being walked, the first split being the one usurped.
    max_rows = 5000 if where == "commit" else 80
    caplog.set_level(logging.WARNING, logger="alohub_async")
    async with (
        FakeAlohub(calls=400, seed=11, span=timedelta(days=3)) as server,
        server.session(page_size=50) as session,
    ):
        await store.open()
        try:
            sync = CallLogSync(
                session, store, windows=2, max_window_rows=max_rows, poll_interval=0.05
            )
            summary = await sync.run(START, ANCHOR)
        finally:
            await store.close()
        expected = {r["call_id"] for r in server.expected_records(START, ANCHOR)}
    ids = await column(kind, target, "SELECT call_id FROM alohub_calls")

    assert store.usurped >= 1
    assert summary.windows_lost == 1
    assert "1 lost to another worker" in summary.line()
    # Nothing lost, nothing twice: the window taken over was synced once its new lease lapsed.
    assert len(ids) == len(set(ids)) == len(expected) == 400
    assert set(ids) == expected
    assert summary.windows_done == summary.windows_total
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "lost the lease" in r.message
    ]
    assert len(warnings) == 1 and warnings[0].name.startswith("alohub_async")
    # The usurped window was claimed three times: by the engine, the usurper, the engine.
    if where == "commit":
        done = "SELECT attempts FROM alohub_sync_windows WHERE status = 'done'"
        assert sorted(await column(kind, target, done)) == [1, 1, 1, 3]

"""The embedded default store: one SQLite file through aiosqlite, in WAL mode.

aiosqlite runs the connection on its own thread, so the event loop never blocks on the
disk. One connection serves every concurrent window; an ``asyncio.Lock`` makes each
store call one transaction at a time (SQLite allows one writer anyway). WAL with
``synchronous=NORMAL`` survives a killed process without losing a committed window; on a
power cut the last commits may be lost, never half of one, and a window that was not
marked done is simply walked again.

A SQLite file is meant for one sync process at a time: `open` drops every lease, so a
rerun after a crash resumes at once instead of waiting for the dead process's leases to
expire. Share a sync between processes with the PostgreSQL store.
"""

from __future__ import annotations

import asyncio
import functools
import operator
import os
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from itertools import chain, repeat
from typing import Any, Final

import aiosqlite

from ..models import CallDetail, CallRecord
from ._store import (
    CALL_COLUMNS,
    SCHEMA_VERSION,
    UpsertResult,
    WindowCounts,
    call_rows,
    conflict_updates,
    content_hash,
    lost_lease,
    schema_sql,
    transcript_json,
)
from ._windows import Window

__all__ = ["SQLiteStore"]

# Rows per upsert statement. ``sqlite3`` releases the GIL around every step of a statement
# and the database thread must take it back afterwards, waiting up to the switch interval
# (5 ms) whenever the event loop is busy structuring pages. One row per step made that
# convoy cost a sync a third of its rate; one step per batch of rows makes it negligible.
# A batch uses as many parameters as SQLite allows: 32,766 since 3.32, 999 before.
_MAX_PARAMETERS: Final = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
_SAFE_PARAMETERS: Final = 999
_UPSERT_WIDTH: Final = len(CALL_COLUMNS) + 2  # values per upserted row


@functools.lru_cache(maxsize=8)
def _upsert_sql(rows: int) -> str:
    """The calls upsert for ``rows`` rows of `CALL_COLUMNS` plus first/last seen."""
    values = "(" + ", ".join("?" * _UPSERT_WIDTH) + ")"
    return (
        f"INSERT INTO alohub_calls ({', '.join(CALL_COLUMNS)}, first_seen, last_seen) "  # noqa: S608
        f"VALUES {', '.join([values] * rows)} "
        "ON CONFLICT (call_id) DO UPDATE SET " + conflict_updates()
    )


_SAVE_DETAIL: Final = (
    "UPDATE alohub_calls SET recording_url = COALESCE(?, recording_url), "
    "transcript = COALESCE(?, transcript), detail_fetched_at = ? WHERE call_id = ?"
)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def _now() -> str:
    return _iso(datetime.now(timezone.utc))


# The row of one window that ``owner`` still holds (a lease that expired but that nobody
# took over is still held); the four parameters are `_held`'s.
_HELD: Final = (
    " WHERE job = ? AND window_start = ? AND window_end = ? AND lease_owner = ?"
    " AND status = 'pending'"
)


def _held(job: str, window: Window, owner: str) -> tuple[str, str, str, str]:
    return job, _iso(window.start), _iso(window.end), owner


def _detail_rows(details: Sequence[CallDetail], now: str) -> list[tuple[Any, ...]]:
    return [(d.recording_url, transcript_json(d.transcript), now, d.call_id) for d in details]


class SQLiteStore:
    """A `SyncStore` in one SQLite file (created if missing), for one process at a time.

    Args:
        path: The database file; ``":memory:"`` for a throwaway one.
        busy_timeout: Seconds to wait for another connection's write lock (a reader such
            as a report running while the sync writes).
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self.path = os.fspath(path)
        self.busy_timeout = busy_timeout
        self._db: aiosqlite.Connection | None = None
        self._max_parameters = _MAX_PARAMETERS
        self._lock = asyncio.Lock()
        # Commits take their turn here before queueing for the connection, so a claim or a
        # lease renewal waits behind at most one commit, never behind every window waiting
        # to be written: a worker claims its next window and fetches while commits queue.
        self._commit_turn = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<SQLiteStore path={self.path!r}>"

    async def __aenter__(self) -> SQLiteStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("the store is not open: await open() or use 'async with'")
        return self._db

    async def open(self) -> None:
        """Open the file, switch to WAL, create or check the schema, drop stale leases.

        Raises:
            RuntimeError: the file was written by a newer schema version.
        """
        if self._db is not None:
            return
        # isolation_level=None: transactions are begun explicitly, so each store call is
        # exactly one transaction and nothing is left open between calls.
        connecting = aiosqlite.connect(self.path, isolation_level=None)
        try:
            db = await connecting
        except BaseException:
            # aiosqlite then stops its worker thread without waiting for it; the thread
            # would report to this event loop later, possibly once it is closed. Wait.
            thread = getattr(connecting, "_thread", None)
            if thread is not None and thread.is_alive():
                await asyncio.to_thread(thread.join, 5)
            raise
        try:
            await db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            # executescript commits on its own; the statements are idempotent.
            await db.executescript(schema_sql("sqlite"))
            await db.execute("BEGIN IMMEDIATE")
            async with db.execute("SELECT MAX(version) FROM alohub_schema_version") as cursor:
                row = await cursor.fetchone()
            version = None if row is None else row[0]
            if version is None:
                await db.execute(
                    "INSERT INTO alohub_schema_version (version) VALUES (?)", (SCHEMA_VERSION,)
                )
            elif version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} has schema version {version}, newer than this "
                    f"alohub-async understands ({SCHEMA_VERSION}); upgrade the package"
                )
            await db.execute(
                "UPDATE alohub_sync_windows SET lease_owner = NULL, lease_until = NULL "
                "WHERE status = 'pending' AND lease_owner IS NOT NULL"
            )
            await db.commit()
        except BaseException:
            await db.close()
            raise
        self._db = db

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    # --- transactions -------------------------------------------------------------------

    async def _write(self, statements: Sequence[tuple[str, Any]]) -> None:
        """Run ``(sql, params)`` pairs in one transaction; a list of params is executemany."""
        async with self._lock:
            db = self._conn
            await db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    if isinstance(params, list):
                        await db.executemany(sql, params)
                    else:
                        await db.execute(sql, params)
                await db.commit()
            except BaseException:
                await db.rollback()
                raise

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._lock, self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    # --- windows ------------------------------------------------------------------------

    async def add_windows(self, job: str, windows: Sequence[Window]) -> None:
        """Plan windows for a job; a window the job already has is left as it is."""
        rows = [(job, _iso(w.start), _iso(w.end)) for w in windows]
        await self._write(
            [
                (
                    "INSERT OR IGNORE INTO alohub_sync_windows (job, window_start, window_end) "
                    "VALUES (?, ?, ?)",
                    rows,
                )
            ]
        )

    async def claim_window(self, job: str, owner: str, lease: timedelta) -> Window | None:
        """Lease the job's earliest pending window whose lease is free or expired."""
        now = datetime.now(timezone.utc)
        async with self._lock:
            db = self._conn
            await db.execute("BEGIN IMMEDIATE")
            try:
                async with db.execute(
                    "SELECT window_start, window_end FROM alohub_sync_windows "
                    "WHERE job = ? AND status = 'pending' "
                    "AND (lease_until IS NULL OR lease_until < ?) "
                    "ORDER BY window_start LIMIT 1",
                    (job, _iso(now)),
                ) as cursor:
                    row = await cursor.fetchone()
                if row is not None:
                    await db.execute(
                        "UPDATE alohub_sync_windows SET lease_owner = ?, lease_until = ?, "
                        "attempts = attempts + 1 "
                        "WHERE job = ? AND window_start = ? AND window_end = ?",
                        (owner, _iso(now + lease), job, row[0], row[1]),
                    )
                await db.commit()
            except BaseException:
                await db.rollback()
                raise
        if row is None:
            return None
        return Window(datetime.fromisoformat(row[0]), datetime.fromisoformat(row[1]))

    async def renew_lease(self, job: str, window: Window, owner: str, lease: timedelta) -> bool:
        """Extend ``owner``'s lease on a window; False when the lease was lost."""
        until = _iso(datetime.now(timezone.utc) + lease)
        async with self._lock:
            db = self._conn
            cursor = await db.execute(
                "UPDATE alohub_sync_windows SET lease_until = ?" + _HELD,  # noqa: S608 - a constant
                (until, *_held(job, window, owner)),
            )
            await db.commit()
            return cursor.rowcount == 1

    async def release_window(self, job: str, window: Window, owner: str) -> None:
        """Give a leased window back, still pending."""
        await self._write(
            [
                (
                    "UPDATE alohub_sync_windows SET lease_owner = NULL, lease_until = NULL" + _HELD,  # noqa: S608 - a constant
                    _held(job, window, owner),
                )
            ]
        )

    async def split_window(
        self, job: str, window: Window, parts: Sequence[Window], owner: str
    ) -> None:
        """Replace a leased window by ``parts`` (pending), atomically; it is marked split.

        Raises:
            LookupError: ``owner`` no longer holds the window's lease; nothing changed.
        """
        async with self._lock:
            db = self._conn
            await db.execute("BEGIN IMMEDIATE")
            try:
                cursor = await db.execute(
                    "UPDATE alohub_sync_windows SET status = 'split', lease_owner = NULL, "  # noqa: S608 - _HELD is a constant
                    "lease_until = NULL, done_at = ?" + _HELD,
                    (_now(), *_held(job, window, owner)),
                )
                if cursor.rowcount != 1:
                    raise LookupError(lost_lease(job, window, owner))
                await db.executemany(
                    "INSERT OR IGNORE INTO alohub_sync_windows (job, window_start, window_end) "
                    "VALUES (?, ?, ?)",
                    [(job, _iso(p.start), _iso(p.end)) for p in parts],
                )
                await db.commit()
            except BaseException:
                await db.rollback()
                raise

    async def window_counts(self, job: str) -> WindowCounts:
        """Count the job's windows (split ones count through their parts)."""
        rows = await self._fetch(
            "SELECT status, COUNT(*), SUM(lease_until IS NOT NULL AND lease_until >= ?) "
            "FROM alohub_sync_windows WHERE job = ? GROUP BY status",
            (_now(), job),
        )
        by_status = {status: (count, leased or 0) for status, count, leased in rows}
        done = by_status.get("done", (0, 0))[0]
        pending, leased = by_status.get("pending", (0, 0))
        return WindowCounts(total=done + pending, done=done, leased=leased)

    # --- calls --------------------------------------------------------------------------

    async def _stored_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        """Return ``call_id -> content_hash`` for the stored ones among ``ids`` (lock held)."""
        found: dict[str, str] = {}
        i = 0
        while i < len(ids):
            # As many ids per query as the build allows: each query is a few thread hops.
            chunk = ids[i : i + self._max_parameters]
            marks = ", ".join("?" * len(chunk))
            try:
                async with self._conn.execute(
                    f"SELECT call_id, content_hash FROM alohub_calls WHERE call_id IN ({marks})",  # noqa: S608 - only placeholders
                    tuple(chunk),
                ) as cursor:
                    # fetchall: iterating an aiosqlite cursor costs a thread hop per row.
                    found.update((row[0], row[1]) for row in await cursor.fetchall())
            except sqlite3.OperationalError as exc:
                if not self._fewer_parameters(exc, len(chunk)):
                    raise
                continue
            i += len(chunk)
        return found

    def _fewer_parameters(self, exc: sqlite3.OperationalError, used: int) -> bool:
        """After a statement the build refused for its parameters, use the safe limit.

        True when the statement is worth trying again in smaller batches. The refusal
        comes before the statement runs, so the transaction goes on.
        """
        if "too many SQL variables" not in str(exc) or used <= _SAFE_PARAMETERS:
            return False
        self._max_parameters = _SAFE_PARAMETERS
        return True

    async def changed_calls(self, calls: Sequence[CallRecord]) -> set[str]:
        """Return the ids among ``calls`` that are not stored or whose content changed."""
        hashes = {c.call_id: content_hash(c.raw) for c in calls}
        async with self._lock:
            stored = await self._stored_hashes(list(hashes))
        return {cid for cid, digest in hashes.items() if stored.get(cid) != digest}

    async def commit_window(
        self,
        job: str,
        window: Window,
        owner: str,
        calls: Sequence[CallRecord],
        details: Sequence[CallDetail] = (),
    ) -> UpsertResult:
        """Upsert ``calls`` (then ``details``) and mark the window done, in one transaction.

        The window must still be pending under ``owner``'s lease: a sync that stalled past
        its lease while another took the window over must not mark it done under the new
        owner's feet (the same rule as the PostgreSQL store's).

        Raises:
            LookupError: ``owner`` no longer holds the window's lease; nothing was written.
        """
        now = _now()
        rows = {row[0]: row for row in call_rows(calls)}  # the last of a repeated id wins
        async with self._commit_turn, self._lock:
            db = self._conn
            await db.execute("BEGIN IMMEDIATE")
            try:
                async with db.execute(
                    "SELECT 1 FROM alohub_sync_windows" + _HELD,  # noqa: S608 - a constant
                    _held(job, window, owner),
                ) as cursor:
                    if await cursor.fetchone() is None:
                        raise LookupError(lost_lease(job, window, owner))
                stored = await self._stored_hashes(list(rows))
                await self._upsert(list(rows.values()), now)
                if details:
                    await db.executemany(_SAVE_DETAIL, _detail_rows(details, now))
                await db.execute(
                    "UPDATE alohub_sync_windows SET status = 'done', lease_owner = NULL, "
                    "lease_until = NULL, rows_seen = ?, done_at = ? "
                    "WHERE job = ? AND window_start = ? AND window_end = ?",
                    (len(rows), now, job, _iso(window.start), _iso(window.end)),
                )
                await db.commit()
            except BaseException:
                await db.rollback()
                raise
        inserted = sum(1 for cid in rows if cid not in stored)
        updated = sum(1 for cid, row in rows.items() if cid in stored and stored[cid] != row[-1])
        return UpsertResult(inserted, updated, len(rows) - inserted - updated)

    async def _upsert(self, rows: list[tuple[Any, ...]], now: str) -> None:
        """Insert or update `call_row` rows (in the caller's transaction, lock held)."""
        i = 0
        while i < len(rows):
            batch = rows[i : i + self._max_parameters // _UPSERT_WIDTH]
            params = list(chain.from_iterable(map(operator.add, batch, repeat((now, now)))))
            try:
                await self._conn.execute(_upsert_sql(len(batch)), params)
            except sqlite3.OperationalError as exc:
                if not self._fewer_parameters(exc, len(params)):
                    raise
                continue
            i += len(batch)

    async def save_details(self, details: Sequence[CallDetail]) -> int:
        """Store fetched details for calls already stored; return how many were updated."""
        if not details:
            return 0
        async with self._lock:
            db = self._conn
            await db.execute("BEGIN IMMEDIATE")
            try:
                cursor = await db.executemany(_SAVE_DETAIL, _detail_rows(details, _now()))
                await db.commit()
            except BaseException:
                await db.rollback()
                raise
        return max(cursor.rowcount, 0)

    async def calls_without_transcript(self, since: datetime, limit: int) -> list[str]:
        """Return ids of calls started since ``since`` whose fetched detail had no transcript."""
        rows = await self._fetch(
            "SELECT call_id FROM alohub_calls WHERE transcript IS NULL "
            "AND detail_fetched_at IS NOT NULL AND started_at >= ? "
            "ORDER BY started_at DESC LIMIT ?",
            (_iso(since), limit),
        )
        return [row[0] for row in rows]

    # --- high-water mark ----------------------------------------------------------------

    async def get_high_water(self, job: str) -> datetime | None:
        """Return the job's high-water mark, or None before its first complete sync."""
        rows = await self._fetch("SELECT high_water FROM alohub_sync_state WHERE job = ?", (job,))
        if not rows or rows[0][0] is None:
            return None
        return datetime.fromisoformat(rows[0][0])

    async def set_high_water(self, job: str, moment: datetime) -> None:
        """Move the job's high-water mark forward to ``moment`` (never backwards)."""
        mark = _iso(moment.replace(microsecond=0))
        await self._write(
            [
                (
                    "INSERT INTO alohub_sync_state (job, high_water, updated_at) "
                    "VALUES (?, ?, ?) ON CONFLICT (job) DO UPDATE SET "
                    "high_water = MAX(COALESCE(alohub_sync_state.high_water, ''), "
                    "excluded.high_water), updated_at = excluded.updated_at",
                    (job, mark, _now()),
                )
            ]
        )

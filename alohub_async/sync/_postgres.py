"""The PostgreSQL sync store: one database shared by any number of worker processes.

Workers on any number of machines point at the same database and share one sync. Each
window is claimed with ``SELECT … FOR UPDATE SKIP LOCKED``: concurrent claims never block
on, nor take, the same row, and the claimed window gets a *lease* (``lease_owner``,
``lease_until``) that its worker renews while it walks the window. A worker that dies stops
renewing; once its lease expires the window is claimable again, so none is lost. A live
worker's lease never expires, so no window is done twice by live workers; and
``commit_window`` only marks a window done for the owner of its lease, in the same
transaction as the rows, so a worker that stalled past its lease cannot mark done a window
another worker now holds (its rows are still upserted by ``call_id``: nothing is duplicated).

Lease times come from the database's clock (``now()``), never from the workers', so clock
skew between machines cannot shorten or stretch a lease.

The schema is the one every SQL store shares (`schema_sql`), created when the store opens and
migrated through the ``alohub_schema_version`` table under an advisory lock, so workers that
start together do not race to create it. The DSN's password never appears in a repr, a log
line or an error this module raises.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Any, Final

from ..models import CallDetail, CallRecord
from ._dsn import is_dsn, redact_dsn
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

__all__ = ["PostgresStore"]

# Any constant works; it names the lock that serialises schema creation across workers.
_SCHEMA_LOCK: Final = 0x616C6F68  # "aloh"

# Migrations from version N to N + 1, applied in order inside the schema lock. Version 1 is
# the schema itself (`schema_sql`), so there is nothing to migrate yet.
_MIGRATIONS: Final[dict[int, str]] = {}

# Built from the fixed column names only; every value is a bind parameter.
# Array types of the ``unnest`` parameters, one per `CALL_COLUMNS` entry; ``raw`` travels as
# text (what `call_row` gives) and becomes JSONB in the SELECT.
_ARRAY_TYPES: Final = {
    "started_at": "timestamptz[]",
    "answered_at": "timestamptz[]",
    "ended_at": "timestamptz[]",
    "duration": "float8[]",
    "hold_duration": "float8[]",
}

# One statement per window, the rows passed as one array per column: a single round trip,
# many times faster than a statement per row. The list is built from the fixed column names
# only and every value is a bind parameter.
_UPSERT: Final = (
    f"INSERT INTO alohub_calls ({', '.join(CALL_COLUMNS)}, first_seen, last_seen) "  # noqa: S608
    "SELECT "
    + ", ".join(f"{c}::jsonb" if c == "raw" else c for c in CALL_COLUMNS)
    # now() is the transaction's start time: one instant for every row of the window.
    + ", now(), now() FROM unnest("
    + ", ".join(
        f"${i}::{_ARRAY_TYPES.get(c, 'text[]')}" for i, c in enumerate(CALL_COLUMNS, start=1)
    )
    + f") AS t({', '.join(CALL_COLUMNS)}) "
    "ON CONFLICT (call_id) DO UPDATE SET " + conflict_updates()
)

# A detail fills in what the list lacked; a detail without a recording URL or transcript
# keeps the one already stored rather than erasing it.
_SAVE_DETAIL: Final = (
    "UPDATE alohub_calls SET recording_url = COALESCE($2, recording_url), "
    "transcript = COALESCE($3::jsonb, transcript), detail_fetched_at = now() "
    "WHERE call_id = $1"
)


def _asyncpg() -> ModuleType:
    try:
        return importlib.import_module("asyncpg")
    except ImportError:
        raise ImportError(
            "PostgresStore needs asyncpg: pip install 'alohub-async[postgres]'"
        ) from None


def _check_lease(lease: timedelta) -> None:
    if lease <= timedelta(0):
        raise ValueError(f"lease must be positive, got {lease!r}")


class PostgresStore:
    """A `SyncStore` in PostgreSQL, shared by many worker processes (needs ``[postgres]``).

    Point every worker at the same database: each claims windows under a lease (see
    `claim_window`), so the workers split one sync between them and a crashed worker's window
    is taken over once its lease expires.

    Args:
        dsn: A ``postgresql://user:password@host:port/database`` DSN. Its password is never
            shown: ``repr`` and errors show it as ``***``.
        min_connections: Connections the pool keeps open.
        max_connections: Most connections the pool opens: one per window walked at once,
            plus one for lease renewals, is plenty.
        connect_timeout: Seconds to wait for each connection.

    Raises:
        ValueError: a DSN that is not ``postgresql://`` or ``postgres://``, or bad pool sizes.
    """

    def __init__(
        self,
        dsn: str,
        *,
        min_connections: int = 1,
        max_connections: int = 10,
        connect_timeout: float = 10.0,
    ) -> None:
        if not isinstance(dsn, str) or not is_dsn(dsn):
            # Nothing of it is shown: another scheme's URL may carry a password too.
            raise ValueError(
                "PostgresStore needs a postgresql://user:password@host:port/database DSN;"
                f" got a {type(dsn).__name__} that is not one"
            )
        if not 1 <= min_connections <= max_connections:
            raise ValueError(
                "connections must satisfy 1 <= min_connections <= max_connections, got "
                f"{min_connections} and {max_connections}"
            )
        if connect_timeout <= 0:
            raise ValueError(f"connect_timeout must be positive, got {connect_timeout!r}")
        self._dsn = dsn
        self._min = min_connections
        self._max = max_connections
        self._timeout = connect_timeout
        self._pool: Any = None

    def __repr__(self) -> str:
        return f"PostgresStore({redact_dsn(self._dsn)!r})"

    @property
    def dsn(self) -> str:
        """The DSN with its password redacted."""
        return redact_dsn(self._dsn)

    async def __aenter__(self) -> PostgresStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _require_pool(self) -> Any:
        if self._pool is None:
            raise RuntimeError("the PostgresStore is not open: call open() first")
        return self._pool

    async def open(self) -> None:
        """Connect, then create or migrate the schema.

        Raises:
            ConnectionError: the server cannot be reached or refuses the login (the message
                names the redacted DSN).
            RuntimeError: the database's schema is newer than this package knows, or the
                role may not create it.
        """
        if self._pool is not None:
            return
        asyncpg = _asyncpg()
        try:
            pool = await asyncpg.create_pool(
                self._dsn, min_size=self._min, max_size=self._max, timeout=self._timeout
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # asyncpg's own messages name the host and user, never the password; the DSN is
            # shown redacted. ``from None``: the chained exception would repeat nothing new.
            raise ConnectionError(
                f"cannot connect to PostgreSQL at {self.dsn}: {type(exc).__name__}: {exc}"
            ) from None
        try:
            await self._migrate(pool)
        except asyncpg.PostgresError as exc:
            await pool.close()
            # Typically "permission denied for schema public": since PostgreSQL 15 a role
            # may create tables only in a schema it owns or was granted CREATE on.
            raise RuntimeError(
                f"cannot create the alohub schema in {self.dsn}: {type(exc).__name__}: {exc}"
            ) from None
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def _migrate(self, pool: Any) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
            await conn.execute(schema_sql("postgresql"))
            stored = await conn.fetchval("SELECT max(version) FROM alohub_schema_version")
            if stored is None:
                await conn.execute(
                    "INSERT INTO alohub_schema_version (version) VALUES ($1)", SCHEMA_VERSION
                )
                return
            if stored > SCHEMA_VERSION:
                raise RuntimeError(
                    f"the database's schema is version {stored}, newer than this alohub-async"
                    f" knows ({SCHEMA_VERSION}): upgrade alohub-async"
                )
            for version in range(stored, SCHEMA_VERSION):
                await conn.execute(_MIGRATIONS[version])
            await conn.execute("UPDATE alohub_schema_version SET version = $1", SCHEMA_VERSION)

    async def close(self) -> None:
        """Close the pool; the store may not be used afterwards."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def schema_version(self) -> int:
        """Return the schema version stored in the database."""
        version: int = await self._require_pool().fetchval(
            "SELECT max(version) FROM alohub_schema_version"
        )
        return version

    async def add_windows(self, job: str, windows: Sequence[Window]) -> None:
        """Plan windows for a job; a window the job already has is left as it is."""
        await self._require_pool().executemany(
            "INSERT INTO alohub_sync_windows (job, window_start, window_end) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING",
            [(job, _utc(w.start), _utc(w.end)) for w in windows],
        )

    async def claim_window(self, job: str, owner: str, lease: timedelta) -> Window | None:
        """Lease the job's earliest pending window whose lease is free or expired.

        ``FOR UPDATE SKIP LOCKED`` makes concurrent claims pass over a row another worker is
        claiming at that instant, so two workers never get the same window and never wait for
        each other.

        Returns:
            The window, leased to ``owner`` until the database's now + ``lease``; None when
            every pending window is leased by someone else (or none is pending).
        """
        _check_lease(lease)
        row = await self._require_pool().fetchrow(
            """
            WITH free AS (
                SELECT job, window_start, window_end FROM alohub_sync_windows
                WHERE job = $1 AND status = 'pending'
                  AND (lease_until IS NULL OR lease_until <= now())
                ORDER BY window_start, window_end
                LIMIT 1
                FOR UPDATE SKIP LOCKED
            )
            UPDATE alohub_sync_windows AS w
            SET lease_owner = $2, lease_until = now() + $3::interval, attempts = w.attempts + 1
            FROM free
            WHERE w.job = free.job AND w.window_start = free.window_start
              AND w.window_end = free.window_end
            RETURNING w.window_start, w.window_end
            """,
            job,
            owner,
            lease,
        )
        if row is None:
            return None
        return Window(row["window_start"], row["window_end"])

    async def renew_lease(self, job: str, window: Window, owner: str, lease: timedelta) -> bool:
        """Extend ``owner``'s lease on a window to the database's now + ``lease``.

        Returns:
            False when the lease was lost: another worker claimed the window after it expired,
            or the window is no longer pending.
        """
        _check_lease(lease)
        status = await self._require_pool().execute(
            "UPDATE alohub_sync_windows SET lease_until = now() + $5::interval" + _HELD,  # noqa: S608
            *_held(job, window, owner),
            lease,
        )
        return bool(status == "UPDATE 1")

    async def release_window(self, job: str, window: Window, owner: str) -> None:
        """Give a leased window back, still pending; a lease ``owner`` lost is left alone."""
        await self._require_pool().execute(
            "UPDATE alohub_sync_windows SET lease_owner = NULL, lease_until = NULL" + _HELD,  # noqa: S608
            *_held(job, window, owner),
        )

    async def split_window(
        self, job: str, window: Window, parts: Sequence[Window], owner: str
    ) -> None:
        """Replace a leased window by ``parts`` (pending), atomically; it is marked split.

        Raises:
            LookupError: ``owner`` no longer holds the window's lease; nothing changed.
        """
        async with self._require_pool().acquire() as conn, conn.transaction():
            status = await conn.execute(
                "UPDATE alohub_sync_windows SET status = 'split', lease_owner = NULL,"  # noqa: S608
                " lease_until = NULL" + _HELD,
                *_held(job, window, owner),
            )
            if status != "UPDATE 1":
                raise LookupError(lost_lease(job, window, owner))
            await conn.executemany(
                "INSERT INTO alohub_sync_windows (job, window_start, window_end)"
                " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                [(job, _utc(p.start), _utc(p.end)) for p in parts],
            )

    async def changed_calls(self, calls: Sequence[CallRecord]) -> set[str]:
        """Return the ids among ``calls`` that are not stored or whose content changed."""
        rows = {c.call_id: content_hash(dict(c.raw)) for c in calls}
        stored = await self._require_pool().fetch(
            "SELECT call_id, content_hash FROM alohub_calls WHERE call_id = ANY($1::text[])",
            list(rows),
        )
        known = {r["call_id"]: r["content_hash"] for r in stored}
        return {call_id for call_id, digest in rows.items() if known.get(call_id) != digest}

    async def commit_window(
        self,
        job: str,
        window: Window,
        owner: str,
        calls: Sequence[CallRecord],
        details: Sequence[CallDetail] = (),
    ) -> UpsertResult:
        """Upsert ``calls`` (then ``details``) and mark the window done, in one transaction.

        The window row is locked first and must still be pending under ``owner``'s lease;
        otherwise the transaction rolls back and nothing is written. A worker that stalled past
        its lease therefore never marks done a window another worker holds; that worker
        commits the window's rows itself.

        Raises:
            LookupError: ``owner`` no longer holds the window's lease; nothing was written.
        """
        # The last copy of a call wins when one window lists it twice (rows moving between
        # pages); upserting it twice in one statement stream would count it twice.
        rows = {row[0]: row for row in call_rows(calls, timestamps="datetime")}
        async with self._require_pool().acquire() as conn, conn.transaction():
            # FOR UPDATE: the lease cannot change hands between this check and the commit.
            held = await conn.fetchval(
                "SELECT 1 FROM alohub_sync_windows" + _HELD + " FOR UPDATE",  # noqa: S608
                *_held(job, window, owner),
            )
            if held is None:
                raise LookupError(lost_lease(job, window, owner))
            result = await _upsert(conn, list(rows.values()))
            await _save_details(conn, details)
            await conn.execute(
                "UPDATE alohub_sync_windows SET status = 'done', done_at = now(),"
                " rows_seen = $4, lease_owner = NULL, lease_until = NULL"
                " WHERE job = $1 AND window_start = $2 AND window_end = $3",
                job,
                _utc(window.start),
                _utc(window.end),
                len(rows),
            )
        return result

    async def save_details(self, details: Sequence[CallDetail]) -> int:
        """Store fetched details (recording URL, transcript) for calls already stored.

        Returns:
            How many calls were updated.
        """
        async with self._require_pool().acquire() as conn, conn.transaction():
            return await _save_details(conn, details)

    async def calls_without_transcript(self, since: datetime, limit: int) -> list[str]:
        """Return up to ``limit`` ids, newest first, of calls started since ``since`` without one.

        Only calls whose detail was fetched and lacked a transcript are returned: those are the
        ones a later incremental run looks at again.
        """
        rows = await self._require_pool().fetch(
            "SELECT call_id FROM alohub_calls WHERE transcript IS NULL"
            " AND detail_fetched_at IS NOT NULL AND started_at >= $1"
            " ORDER BY started_at DESC, call_id LIMIT $2",
            _utc(since),
            limit,
        )
        return [r["call_id"] for r in rows]

    async def window_counts(self, job: str) -> WindowCounts:
        """Count the job's windows (a split window counts through its halves)."""
        row = await self._require_pool().fetchrow(
            "SELECT count(*) FILTER (WHERE status <> 'split') AS total,"
            " count(*) FILTER (WHERE status = 'done') AS done,"
            " count(*) FILTER (WHERE status = 'pending' AND lease_until > now()) AS leased"
            " FROM alohub_sync_windows WHERE job = $1",
            job,
        )
        return WindowCounts(total=row["total"], done=row["done"], leased=row["leased"])

    async def get_high_water(self, job: str) -> datetime | None:
        """Return the job's high-water mark: everything before it has been synced once."""
        moment: datetime | None = await self._require_pool().fetchval(
            "SELECT high_water FROM alohub_sync_state WHERE job = $1", job
        )
        return moment

    async def set_high_water(self, job: str, moment: datetime) -> None:
        """Move the job's high-water mark forward to ``moment`` (never backwards)."""
        await self._require_pool().execute(
            "INSERT INTO alohub_sync_state (job, high_water, updated_at) VALUES ($1, $2, now())"
            " ON CONFLICT (job) DO UPDATE SET updated_at = now(),"
            " high_water = GREATEST(alohub_sync_state.high_water, EXCLUDED.high_water)",
            job,
            _utc(moment).replace(microsecond=0),
        )


# The row of one window that ``owner`` still holds: parameters $1..$4 are `_held`'s. It is a
# constant, and every value a bind parameter, so the statements built with it are not
# injectable (hence the S608 waivers where it is used).
_HELD: Final = (
    " WHERE job = $1 AND window_start = $2 AND window_end = $3"
    " AND lease_owner = $4 AND status = 'pending'"
)


def _held(job: str, window: Window, owner: str) -> tuple[str, datetime, datetime, str]:
    return job, _utc(window.start), _utc(window.end), owner


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"store times must be timezone-aware, got {moment!r}")
    return moment.astimezone(timezone.utc)


async def _upsert(conn: Any, rows: list[tuple[Any, ...]]) -> UpsertResult:
    if not rows:
        return UpsertResult()
    # Rows in call_id order, and locked in that order: two workers upserting overlapping
    # calls then wait for each other instead of deadlocking. The lock also keeps the stored
    # hashes from changing between this read and the upsert.
    rows = sorted(rows, key=lambda row: str(row[0]))
    stored = await conn.fetch(
        "SELECT call_id, content_hash FROM alohub_calls WHERE call_id = ANY($1::text[])"
        " ORDER BY call_id FOR UPDATE",
        [row[0] for row in rows],
    )
    known = {r["call_id"]: r["content_hash"] for r in stored}
    await conn.execute(_UPSERT, *(list(column) for column in zip(*rows, strict=True)))
    inserted = sum(row[0] not in known for row in rows)
    unchanged = sum(known.get(row[0]) == row[-1] for row in rows)
    return UpsertResult(
        inserted=inserted, updated=len(rows) - inserted - unchanged, unchanged=unchanged
    )


async def _save_details(conn: Any, details: Sequence[CallDetail]) -> int:
    if not details:
        return 0
    updated = 0
    for detail in details:
        status = await conn.execute(
            _SAVE_DETAIL, detail.call_id, detail.recording_url, transcript_json(detail.transcript)
        )
        updated += status == "UPDATE 1"
    return updated

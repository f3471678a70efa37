"""The store interface a sync writes through, the schema SQL stores share, and row helpers.

A store keeps four things: the calls (one row per ``call_id``, upserted), the windows of
each sync *job* with their state (pending, leased, done, split), the high-water mark the
incremental sync starts from, and the schema version. The engine (`CallLogSync`) is the
only caller; it never holds more than one window's rows per concurrent walk, so memory
does not grow with the number of calls.

The contract every store keeps:

* ``commit_window`` upserts a window's rows **and** marks the window done in one
  transaction: after a crash a window is either done with all its rows or still pending.
* Upserts are keyed by ``call_id``: a row seen again is never duplicated; when its
  content changed (``content_hash``) it is updated; ``last_seen`` always moves on and
  ``first_seen`` never does.
* ``claim_window`` hands a pending window to one owner under a lease; a window whose
  lease expired (its worker died) is claimable again. A store meant for one process at a
  time (SQLite) may drop every lease when it opens, so a rerun after a crash resumes at
  once.
* ``commit_window`` and ``split_window`` act only for the window's lease owner: one whose
  lease was taken over raises `LookupError` and changes nothing (the engine then drops
  the window: its new owner finishes it).
* Times given to and returned by a store are aware datetimes; window bounds are UTC.

Windows and the high-water mark belong to a *job*, a string naming what is synced
(`range_job` for a fixed range, ``"incremental"`` for the incremental sync): the same job
planned again is resumed, not restarted.
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final, Protocol, runtime_checkable

import attrs

from .._timeutil import isoformat_column
from ..models import CallDetail, CallRecord, Direction, Transcript
from ._windows import Window

_orjson_dumps: Callable[..., bytes] | None
try:  # the optional "orjson" extra
    from orjson import OPT_SORT_KEYS as _ORJSON_SORTED
    from orjson import dumps as _orjson_dumps
except ImportError:  # pragma: no cover - exercised where orjson is absent
    _orjson_dumps = None
    _ORJSON_SORTED = 0


def _orjson_canonical(raw: Mapping[str, Any]) -> bytes:
    """Return the canonical JSON of a record by orjson (sorted keys); TypeError if refused."""
    assert _orjson_dumps is not None
    return _orjson_dumps(raw, option=_ORJSON_SORTED, default=str)


__all__ = [
    "CALL_COLUMNS",
    "INCREMENTAL_JOB",
    "SCHEMA_VERSION",
    "SyncStore",
    "UpsertResult",
    "WindowCounts",
    "call_row",
    "call_rows",
    "conflict_updates",
    "content_hash",
    "lost_lease",
    "range_job",
    "schema_sql",
    "transcript_json",
]

SCHEMA_VERSION: Final = 1
"""The schema version this code writes; ``alohub_schema_version`` holds the stored one."""

INCREMENTAL_JOB: Final = "incremental"
"""The job name of the incremental sync (`CallLogSync.run_incremental`)."""

CALL_COLUMNS: Final = (
    "call_id",
    "started_at",
    "answered_at",
    "ended_at",
    "duration",
    "hold_duration",
    "direction",
    "caller",
    "callee",
    "extension",
    "agent",
    "status",
    "hotline",
    "hangup_by",
    "customer_name",
    "recording_url",
    "raw",
    "content_hash",
)
"""Columns of ``alohub_calls`` filled from a `CallRecord`, in `call_row` order."""


def conflict_updates() -> str:
    """Return the ``SET`` list of ``INSERT ... ON CONFLICT (call_id) DO UPDATE``.

    A stored call takes every column but its id, and ``last_seen``, from a newer listing
    of it; a listing without a recording URL does not erase one a detail brought. Both
    SQL stores use it (SQLite and PostgreSQL read ``excluded`` alike).
    """
    return (
        ", ".join(
            f"{c} = COALESCE(excluded.{c}, alohub_calls.{c})"
            if c == "recording_url"
            else f"{c} = excluded.{c}"
            for c in CALL_COLUMNS[1:]
        )
        + ", last_seen = excluded.last_seen"
    )


# One schema for every SQL store; only the column types differ (``{ts}`` a timestamp,
# ``{json}`` a JSON document, ``{real}`` a float). SQLite stores timestamps as UTC ISO
# 8601 text, which sorts like the instants it names.
_SCHEMA_TEMPLATE: Final = """
CREATE TABLE IF NOT EXISTS alohub_schema_version (
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alohub_calls (
    call_id TEXT PRIMARY KEY,
    started_at {ts},
    answered_at {ts},
    ended_at {ts},
    duration {real},
    hold_duration {real},
    direction TEXT NOT NULL,
    caller TEXT,
    callee TEXT,
    extension TEXT,
    agent TEXT,
    status TEXT,
    hotline TEXT,
    hangup_by TEXT,
    customer_name TEXT,
    recording_url TEXT,
    raw {json} NOT NULL,
    content_hash TEXT NOT NULL,
    transcript {json},
    detail_fetched_at {ts},
    first_seen {ts} NOT NULL,
    last_seen {ts} NOT NULL
);
CREATE INDEX IF NOT EXISTS alohub_calls_started_at ON alohub_calls (started_at);
CREATE TABLE IF NOT EXISTS alohub_sync_windows (
    job TEXT NOT NULL,
    window_start {ts} NOT NULL,
    window_end {ts} NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    lease_owner TEXT,
    lease_until {ts},
    attempts INTEGER NOT NULL DEFAULT 0,
    rows_seen INTEGER,
    done_at {ts},
    PRIMARY KEY (job, window_start, window_end)
);
CREATE INDEX IF NOT EXISTS alohub_sync_windows_status ON alohub_sync_windows (job, status);
CREATE TABLE IF NOT EXISTS alohub_sync_state (
    job TEXT PRIMARY KEY,
    high_water {ts},
    updated_at {ts} NOT NULL
);
"""

_TYPES: Final = {
    "sqlite": {"ts": "TEXT", "json": "TEXT", "real": "REAL"},
    "postgresql": {"ts": "TIMESTAMPTZ", "json": "JSONB", "real": "DOUBLE PRECISION"},
}


def schema_sql(dialect: str) -> str:
    """Return the schema's ``CREATE`` statements for a SQL dialect.

    Args:
        dialect: ``"sqlite"`` or ``"postgresql"``.

    Returns:
        Idempotent statements (``IF NOT EXISTS``), separated by ``;``.

    Raises:
        ValueError: an unknown dialect.
    """
    try:
        types = _TYPES[dialect]
    except KeyError:
        raise ValueError(
            f"unknown SQL dialect {dialect!r}; expected one of {sorted(_TYPES)}"
        ) from None
    return _SCHEMA_TEMPLATE.format(**types)


def range_job(start: datetime, end: datetime, every: timedelta) -> str:
    """Name the job of a fixed-range sync: the same range and step resume the same job.

    Args:
        start: The range's first second (aware).
        end: The range's last second (aware).
        every: The window length.

    Returns:
        ``"range:<start UTC>/<end UTC>/<seconds>"``.
    """
    lo = start.astimezone(timezone.utc).replace(microsecond=0).isoformat()
    hi = end.astimezone(timezone.utc).replace(microsecond=0).isoformat()
    return f"range:{lo}/{hi}/{int(every.total_seconds())}"


@attrs.frozen
class UpsertResult:
    """What an upsert did.

    Attributes:
        inserted: Rows whose ``call_id`` was new.
        updated: Rows already stored whose content changed.
        unchanged: Rows already stored as they are (only ``last_seen`` moved).
    """

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@attrs.frozen
class WindowCounts:
    """How far a job is.

    Attributes:
        total: Windows to sync (split windows count through their halves).
        done: Windows done.
        leased: Pending windows a live lease holds.
    """

    total: int
    done: int
    leased: int = 0

    @property
    def pending(self) -> int:
        """Windows not done yet (leased ones included)."""
        return self.total - self.done


@runtime_checkable
class SyncStore(Protocol):
    """Where `CallLogSync` keeps calls, windows and its high-water mark.

    Implement these coroutines to sync into another database; `SQLiteStore` is the
    reference. Methods are called from one event loop, several at a time (one per
    concurrent window), so a store serialises its own transactions as it needs.
    """

    async def open(self) -> None:
        """Connect, and create or migrate the schema; called once before anything else."""

    async def close(self) -> None:
        """Release the connection; the store may not be used afterwards."""

    async def add_windows(self, job: str, windows: Sequence[Window]) -> None:
        """Plan windows for a job; a window the job already has is left as it is."""

    async def claim_window(self, job: str, owner: str, lease: timedelta) -> Window | None:
        """Lease the job's earliest pending window whose lease is free or expired.

        Returns:
            The window, now leased to ``owner`` until now + ``lease``; None when every
            pending window is leased by someone else (or none is pending).
        """

    async def renew_lease(self, job: str, window: Window, owner: str, lease: timedelta) -> bool:
        """Extend ``owner``'s lease on a window; False when the lease was lost."""

    async def release_window(self, job: str, window: Window, owner: str) -> None:
        """Give a leased window back, still pending (its walk failed or was cancelled)."""

    async def split_window(
        self, job: str, window: Window, parts: Sequence[Window], owner: str
    ) -> None:
        """Replace a leased window by ``parts`` (pending), atomically; it is marked split.

        Raises:
            LookupError: ``owner`` no longer holds the window's lease (see `commit_window`).
        """

    async def changed_calls(self, calls: Sequence[CallRecord]) -> set[str]:
        """Return the ids among ``calls`` that are not stored or whose content changed."""

    async def commit_window(
        self,
        job: str,
        window: Window,
        owner: str,
        calls: Sequence[CallRecord],
        details: Sequence[CallDetail] = (),
    ) -> UpsertResult:
        """Upsert ``calls`` (then ``details``) and mark the window done, in one transaction.

        Raises:
            LookupError: ``owner`` no longer holds the window's lease: it expired and
                another worker claimed the window. Nothing is written; the sync drops the
                window, which its new owner finishes. A lease that expired but that
                nobody claimed is still held.
        """

    async def save_details(self, details: Sequence[CallDetail]) -> int:
        """Store fetched details (recording URL, transcript) for calls already stored.

        Returns:
            How many calls were updated.
        """

    async def calls_without_transcript(self, since: datetime, limit: int) -> list[str]:
        """Return up to ``limit`` ids of calls started at or after ``since`` with no transcript."""

    async def window_counts(self, job: str) -> WindowCounts:
        """Count the job's windows."""

    async def get_high_water(self, job: str) -> datetime | None:
        """Return the job's high-water mark: everything before it has been synced once."""

    async def set_high_water(self, job: str, moment: datetime) -> None:
        """Move the job's high-water mark forward to ``moment`` (never backwards)."""


def _dumps(value: Any) -> str:
    # default=str: the converter keeps raw exactly as received, so it is JSON already;
    # anything else (a Decimal from a custom loader) degrades to text rather than failing.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _canonical(raw: Mapping[str, Any]) -> str:
    """Return a record as compact JSON with sorted keys: stored as ``raw``, and hashed.

    orjson (the optional extra) encodes several times faster, which matters when storing
    is as costly as fetching. The standard library takes over for what orjson refuses
    (integers beyond 64 bits); its text differs only in float exponents (``1e-07``), so
    switching encoders can at most make such a record count once as changed.
    """
    if _orjson_dumps is not None:
        try:
            return _orjson_canonical(raw).decode("utf-8")
        except TypeError:
            pass
    return json.dumps(raw, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(raw: Mapping[str, Any]) -> str:
    """Return a stable digest of a record's content (key order does not matter).

    Args:
        raw: The record as received.

    Returns:
        A hex SHA-256 of its canonical JSON.
    """
    return _digest(_canonical(raw))


def call_row(record: CallRecord, *, timestamps: str = "iso") -> tuple[Any, ...]:
    """Return a record's ``alohub_calls`` values, in `CALL_COLUMNS` order.

    Args:
        record: The call.
        timestamps: ``"iso"`` for UTC ISO 8601 text (SQLite), ``"datetime"`` for aware
            datetimes (drivers with a timestamp type).

    Returns:
        The values; ``raw`` as JSON text.
    """
    return call_rows([record], timestamps=timestamps)[0]


# Readers of the fields of CALL_COLUMNS up to raw (each column is named for its field).
_FIELDS: Final = tuple(map(operator.attrgetter, CALL_COLUMNS[: CALL_COLUMNS.index("raw")]))
_TIMESTAMPS: Final = tuple(map(CALL_COLUMNS.index, ("started_at", "answered_at", "ended_at")))
_DIRECTION: Final = CALL_COLUMNS.index("direction")
_TO_UTC: Final = operator.methodcaller("astimezone", timezone.utc)
_RAW: Final = operator.attrgetter("raw")
_HEXDIGEST: Final = operator.methodcaller("hexdigest")
_DIRECTION_VALUES: Final = {direction: direction.value for direction in Direction}


def call_rows(records: Sequence[CallRecord], *, timestamps: str = "iso") -> list[tuple[Any, ...]]:
    """Return `call_row` of each record, computed column by column.

    A store writes a whole window at once: each field is read, converted and encoded for
    all its records in a few C-level passes (the timestamps by `isoformat_column`), which
    costs about half of a `call_row` call per record.

    Args:
        records: The calls.
        timestamps: As for `call_row`.

    Returns:
        One tuple of values per record, in order.
    """
    if not records:
        return []
    # One list per field, not one tuple per record: fewer objects for the collector.
    columns: list[Sequence[Any]] = [list(map(field, records)) for field in _FIELDS]
    if timestamps == "iso":
        for index in _TIMESTAMPS:
            columns[index] = _utc_texts(columns[index])
    columns[_DIRECTION] = list(map(_DIRECTION_VALUES.__getitem__, columns[_DIRECTION]))
    raws = _canonical_column(list(map(_RAW, records)))
    digests = list(map(_HEXDIGEST, map(hashlib.sha256, map(str.encode, raws))))
    return list(zip(*columns, raws, digests, strict=True))


def _utc_texts(column: Sequence[datetime | None]) -> list[str | None]:
    """UTC ISO 8601 text of each datetime; None stays None."""
    present = [moment for moment in column if moment is not None]
    texts = iter(isoformat_column(list(map(_TO_UTC, present))))
    return [None if moment is None else next(texts) for moment in column]


def _canonical_column(raws: list[Mapping[str, Any]]) -> list[str]:
    """`_canonical` of each record, by C-level calls while orjson takes every one."""
    if _orjson_dumps is not None:
        try:
            return list(map(bytes.decode, map(_orjson_canonical, raws)))
        except TypeError:  # one orjson refuses: each goes its own way
            pass
    return list(map(_canonical, raws))


def lost_lease(job: str, window: Window, owner: str) -> str:
    """Return the message of the `LookupError` a store raises for a lease ``owner`` lost.

    Args:
        job: The window's job.
        window: The window.
        owner: The worker that no longer holds it.

    Returns:
        One line naming the window and why.
    """
    return (
        f"{owner!r} no longer holds the lease on window {window.start.isoformat()} .."
        f" {window.end.isoformat()} of job {job!r}: it expired and another worker took the"
        " window over, or the window is no longer pending"
    )


def transcript_json(transcript: Transcript | None) -> str | None:
    """Return a transcript as JSON text (``{"text": ..., "segments": [...]}``), or None.

    Args:
        transcript: The detail's transcript.

    Returns:
        The JSON, or None when there is no transcript.
    """
    if transcript is None:
        return None
    return _dumps(attrs.asdict(transcript))

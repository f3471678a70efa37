"""Keep a copy of the call logs in a database: windows, a resumable sync, stores.

`CallLogSync` walks a range window by window into a `SyncStore`; `SQLiteStore` is the
embedded default, `PostgresStore` (which loads asyncpg only when opened) the one many
workers share. These names are exported here rather than from ``alohub_async``, so
that a client that never syncs does not load a database driver. See the Workers guide.
"""

from __future__ import annotations

from ._engine import CallLogSync, SyncProgress, SyncSummary
from ._postgres import PostgresStore
from ._sqlite import SQLiteStore
from ._store import (
    INCREMENTAL_JOB,
    SCHEMA_VERSION,
    SyncStore,
    UpsertResult,
    WindowCounts,
    range_job,
    schema_sql,
)
from ._windows import Window, halve, split_range

__all__ = [
    "INCREMENTAL_JOB",
    "SCHEMA_VERSION",
    "CallLogSync",
    "PostgresStore",
    "SQLiteStore",
    "SyncProgress",
    "SyncStore",
    "SyncSummary",
    "UpsertResult",
    "Window",
    "WindowCounts",
    "halve",
    "range_job",
    "schema_sql",
    "split_range",
]

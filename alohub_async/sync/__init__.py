"""Keep a copy of the call logs in a database: windows, a resumable sync, stores.

``CallLogSync`` walks a range window by window into a `SyncStore`; `SQLiteStore` is the
embedded default. See the Workers guide in the documentation.
"""

from __future__ import annotations

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
    "SyncStore",
    "UpsertResult",
    "Window",
    "WindowCounts",
    "halve",
    "range_job",
    "schema_sql",
    "split_range",
]

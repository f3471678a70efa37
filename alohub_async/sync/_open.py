"""Build the store ``--db`` names: a SQLite file, or a PostgreSQL server by its DSN.

It sits above both stores (which read DSNs through `_dsn`), and loads the PostgreSQL
store, with its driver, an optional extra, only for a ``postgresql://`` DSN.
"""

from __future__ import annotations

from ._dsn import is_dsn
from ._sqlite import SQLiteStore
from ._store import SyncStore

__all__ = ["open_store"]

_POSTGRES_MISSING = (
    "the PostgreSQL store needs the postgres extra: pip install 'alohub-async[postgres]'"
)


def open_store(db: str) -> SyncStore:
    """Build the store ``--db`` names (not yet opened).

    Args:
        db: A SQLite file path, or a ``postgresql://`` DSN (needs the postgres extra).

    Returns:
        The store.

    Raises:
        ValueError: a DSN without the postgres extra installed.
    """
    if not is_dsn(db):
        return SQLiteStore(db)
    try:
        # Lazy: asyncpg is an optional extra, loaded only for a PostgreSQL DSN.
        from ._postgres import PostgresStore  # type: ignore[import-not-found,unused-ignore]
    except ModuleNotFoundError as exc:
        if exc.name in ("asyncpg", f"{__package__}._postgres"):
            raise ValueError(_POSTGRES_MISSING) from None
        raise
    store: SyncStore = PostgresStore(db)
    return store

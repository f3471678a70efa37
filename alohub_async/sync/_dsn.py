"""Which store ``--db`` names: a SQLite file, or a PostgreSQL server by its DSN.

`open_store` builds it, loading the PostgreSQL store (and its driver, an optional extra)
only for a ``postgresql://`` DSN; `redact_dsn` is the DSN fit to print.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ._sqlite import SQLiteStore
from ._store import SyncStore

__all__ = ["is_dsn", "open_store", "redact_dsn"]

_POSTGRES_SCHEMES = ("postgresql", "postgres")
_POSTGRES_MISSING = (
    "the PostgreSQL store needs the postgres extra: pip install 'alohub-async[postgres]'"
)


def is_dsn(db: str) -> bool:
    """Tell whether ``--db`` names a PostgreSQL server rather than a SQLite file."""
    return urlsplit(db).scheme in _POSTGRES_SCHEMES


def redact_dsn(db: str) -> str:
    """Return ``db`` fit to print: a DSN's password replaced by ``***``.

    Args:
        db: A SQLite path or a ``postgresql://`` DSN.

    Returns:
        The same text without the password.
    """
    if not is_dsn(db):
        return db
    parts = urlsplit(db)
    if parts.password is None:
        return db
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


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

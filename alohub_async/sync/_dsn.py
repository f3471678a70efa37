"""Whether ``--db`` names a PostgreSQL server by its DSN, and that DSN fit to print.

Pure text helpers with no store behind them, so both stores and whatever builds them
(`_open.open_store`) can use them.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["is_dsn", "redact_dsn"]

_POSTGRES_SCHEMES = ("postgresql", "postgres")


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

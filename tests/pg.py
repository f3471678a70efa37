"""A real PostgreSQL server for the tests: a fresh, empty database per test.

The server is the one ``ALOHUB_TEST_POSTGRES_DSN`` points at (``source .ci/postgres`` starts the
machine's cluster and sets it; docs/testing.md explains). Each test gets a database of its own,
created from ``template0`` and dropped afterwards, so tests never see each other's rows or leases.

Without the variable the PostgreSQL tests skip locally, saying how to start a server; with ``CI``
set they fail instead, so a CI run that forgot to start PostgreSQL cannot pass by skipping them.
A DSN that is set but cannot be reached always fails: whoever set it meant the tests to run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

DSN_VARIABLE = "ALOHUB_TEST_POSTGRES_DSN"

HOW_TO_START = (
    f"PostgreSQL tests need a server: set {DSN_VARIABLE} to a postgresql:// DSN of a role that may"
    " create databases, or run `source .ci/postgres` (as root) to start the machine's PostgreSQL"
    " 15 cluster and set it (see docs/testing.md)"
)


def with_database(dsn: str, database: str) -> str:
    """Return ``dsn`` pointing at ``database`` instead of the one it names."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def redacted(dsn: str) -> str:
    """``dsn`` without its password, for failure messages."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def base_dsn() -> str:
    """The configured DSN; skips the test (fails it under CI) when there is none."""
    dsn = os.environ.get(DSN_VARIABLE, "")
    if not dsn:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {DSN_VARIABLE} is not. {HOW_TO_START}")
        pytest.skip(HOW_TO_START)
    return dsn


@pytest.fixture
async def pg_dsn() -> AsyncIterator[str]:
    """A DSN for a fresh, empty PostgreSQL database of this test's own, dropped afterwards."""
    dsn = base_dsn()
    try:
        admin = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        # Reached only with the variable set: a configured server that is down is a failure.
        pytest.fail(
            f"cannot reach the PostgreSQL server at {redacted(dsn)} ({type(exc).__name__}: {exc})."
            f" {HOW_TO_START}"
        )
    name = f"alohub_t_{uuid.uuid4().hex[:16]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        yield with_database(dsn, name)
    finally:
        try:
            # FORCE ends sessions a test left open (a killed worker's, say) so the drop succeeds.
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

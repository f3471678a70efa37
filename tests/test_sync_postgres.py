"""The PostgreSQL store against a real server: the test database fixture first."""

from __future__ import annotations

import asyncpg
import pytest

import pg


async def test_each_test_gets_an_empty_database_of_its_own(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        name = await conn.fetchval("SELECT current_database()")
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    assert name.startswith("alohub_t_")
    assert tables == 0


def test_without_a_server_ci_fails_and_a_developer_is_told_how_to_start_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(pg.DSN_VARIABLE, raising=False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        pg.base_dsn()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"source \.ci/postgres"):
        pg.base_dsn()


def test_failure_messages_hide_the_password() -> None:
    dsn = "postgresql://user:s3cret@127.0.0.1:5432/db"
    assert pg.redacted(dsn) == "postgresql://user:***@127.0.0.1:5432/db"
    assert pg.with_database(dsn, "other").endswith("@127.0.0.1:5432/other")

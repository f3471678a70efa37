"""``alohub-async sync``: crash safety across processes, Ctrl-C, resumption, usage errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from alohub_async.cli import ExitCode, _output, run
from alohub_async.sync._dsn import redact_dsn
from alohub_async.testing import DEMO_ACCESS_TOKEN, DEMO_API_KEY, FakeAlohub
from tests.cli_helpers import POSIX_ONLY, FakeTty, child_env, cli_command, connect, fake_server

RANGE = ["--start", "2026-01-01", "--end", "2026-01-31"]
WAIT = 60.0


def counters(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/_fake/counters", timeout=WAIT) as response:
        data: dict[str, Any] = json.load(response)
    return data


def db_query(path: Path, sql: str) -> list[Any]:
    if not path.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=WAIT)) as db, db:
            return db.execute(sql).fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return []


def done_windows(path: Path) -> int:
    rows = db_query(path, "SELECT COUNT(*) FROM alohub_sync_windows WHERE status = 'done'")
    return int(rows[0][0]) if rows else 0


def start_sync(url: str, db: Path) -> subprocess.Popen[str]:
    env = child_env(
        ALOHUB_BASE_URL=url, ALOHUB_API_KEY=DEMO_API_KEY, ALOHUB_ACCESS_TOKEN=DEMO_ACCESS_TOKEN
    )
    command = cli_command("sync", *RANGE, "--db", str(db), "--windows", "1", "--page-size", "100")
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def wait_for_done(proc: subprocess.Popen[str], db: Path, at_least: int) -> None:
    deadline = time.monotonic() + WAIT
    while done_windows(db) < at_least:
        assert proc.poll() is None, "the sync ended before it could be interrupted"
        assert time.monotonic() < deadline, "the sync made no progress"
        time.sleep(0.02)


@POSIX_ONLY
def test_sync_survives_ctrl_c_and_sigkill_and_never_fetches_a_done_window(
    tmp_path: Path,
) -> None:
    db = tmp_path / "calls.sqlite3"
    # 600 calls over 30 days: one page of at most 100 rows per day window, 31 windows,
    # walked one at a time with 60 ms per request, so the run lasts about two seconds.
    with fake_server("--calls", "600", "--latency", "0.06", quiet=True) as server:
        url = server.url

        first = start_sync(url, db)
        wait_for_done(first, db, 3)
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=WAIT)
        assert first.returncode == ExitCode.INTERRUPTED, err
        assert "run the same command again to resume" in err

        second = start_sync(url, db)
        wait_for_done(second, db, done_windows(db) + 3)
        second.kill()  # SIGKILL: no cleanup at all
        second.communicate(timeout=WAIT)
        pending = db_query(db, "SELECT COUNT(*) FROM alohub_sync_windows WHERE status='pending'")
        assert pending[0][0] > 0
        before = counters(url)["by_endpoint"]["list"]

        third = start_sync(url, db)
        _, err = third.communicate(timeout=WAIT)
        assert third.returncode == 0, err
        assert "already done" in err
        after = counters(url)["by_endpoint"]["list"]

    # The last run listed the pending windows only (one page each), no finished one.
    assert after - before == pending[0][0]
    # Over the three runs, only the window in flight at each interruption was walked twice.
    assert after <= 31 + 2
    ids = [row[0] for row in db_query(db, "SELECT call_id FROM alohub_calls")]
    expected = {
        r["call_id"]
        for r in FakeAlohub(calls=600).expected_records(
            "2026-01-01T00:00:00+07:00", "2026-01-31T23:59:59+07:00"
        )
    }
    assert len(ids) == len(set(ids)) == 600
    assert set(ids) == expected
    assert done_windows(db) == 31


@pytest.fixture
async def fake() -> Any:
    async with FakeAlohub(calls=120, seed=3) as server:
        yield server


async def test_sync_prints_progress_and_a_summary_and_resumes(
    fake: FakeAlohub,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "calls.sqlite3"
    tty = FakeTty()
    monkeypatch.setattr("sys.stderr", tty)
    monkeypatch.setattr(_output, "PROGRESS_INTERVAL", 0.0)
    assert await run(connect(fake, "sync", *RANGE, "--db", str(db), "--every", "2d")) == 0
    err = tty.getvalue()
    assert "\r1/16 windows" in err  # the progress line: windows done/total
    assert "16 windows synced (0 already done, 0 split), 120 calls (120 new, 0 changed)" in err
    fake.reset_counters()
    tty.truncate(0)
    assert await run(connect(fake, "sync", *RANGE, "--db", str(db), "--every", "2d", "-q")) == 0
    assert fake.counters.requests == 0
    assert tty.getvalue() == ""
    assert len(db_query(db, "SELECT call_id FROM alohub_calls")) == 120
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sync", "--start", "2026-01-01"], "--start and --end are required"),
        (["sync", "--incremental", "--end", "2026-01-31"], "--end does not apply"),
        (["sync", *RANGE, "--every", "soon"], "expected a duration"),
        (["sync", *RANGE, "--windows", "0"], "windows must be an integer >= 1"),
        (["sync", *RANGE, "--interval", "0"], "--interval must be positive"),
        (["sync", "--start", "2026-02-01", "--end", "2026-01-01"], "is after end"),
    ],
)
async def test_bad_usage_fails_before_any_request(
    fake: FakeAlohub,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    assert await run(connect(fake, *args, "--db", str(tmp_path / "x.db"))) == ExitCode.USAGE
    assert message in capsys.readouterr().err
    assert fake.counters.requests == 0


async def test_incremental_without_a_mark_says_what_to_do(
    fake: FakeAlohub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run(connect(fake, "sync", "--incremental", "--db", str(tmp_path / "x.db")))
    assert code == ExitCode.USAGE
    assert "run a range sync first" in capsys.readouterr().err


async def test_a_postgres_dsn_without_the_extra_is_a_clear_error_without_the_password(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Make the PostgreSQL store unimportable, whether or not the extra is installed here.
    monkeypatch.setitem(__import__("sys").modules, "alohub_async.sync._postgres", None)
    dsn = "postgresql://sync:pa55-SECRET-word@127.0.0.1:1/calls"
    assert await run(connect(fake, "sync", *RANGE, "--db", dsn)) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "alohub-async[postgres]" in err
    assert "pa55-SECRET-word" not in err
    assert fake.counters.requests == 0


def test_redact_dsn_hides_only_the_password() -> None:
    assert redact_dsn("postgresql://u:secret@db.example:5432/x?sslmode=require") == (
        "postgresql://u:***@db.example:5432/x?sslmode=require"
    )
    assert redact_dsn("postgres://u@db/x") == "postgres://u@db/x"
    assert redact_dsn("calls.sqlite3") == "calls.sqlite3"


async def test_follow_repeats_the_incremental_sync_until_cancelled(
    fake: FakeAlohub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "calls.sqlite3"
    args = ["sync", "--incremental", "--start", "2026-01-01", "--follow", "--interval", "1"]
    task = asyncio.ensure_future(run(connect(fake, *args, "--every", "30d", "--db", str(db))))
    summaries: list[str] = []
    for _ in range(600):  # bounded: at most 60 s
        await asyncio.sleep(0.1)
        summaries += [line for line in capsys.readouterr().err.splitlines() if "synced" in line]
        if len(summaries) >= 2:
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "120 calls (120 new, 0 changed)" in summaries[0]
    assert "0 new, 0 changed" in summaries[1]  # the second run only re-read the overlap
    assert len(db_query(db, "SELECT call_id FROM alohub_calls")) == 120


@pytest.mark.parametrize("where", ["missing-dir", "not-a-database"])
async def test_a_sqlite_file_that_cannot_be_opened_is_one_line_and_bad_input(
    fake: FakeAlohub, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    if where == "missing-dir":
        db = tmp_path / "no-such-dir" / "calls.sqlite3"
    else:
        db = tmp_path / "notes.txt"
        db.write_bytes(b"these are not the tables you are looking for\n" * 200)
    assert await run(connect(fake, "sync", *RANGE, "--db", str(db))) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line, no traceback
    assert err.startswith("alohub-async: error: cannot open the database ")
    assert str(db) in err
    assert fake.counters.requests == 0


async def test_an_unreachable_postgres_is_one_line_without_the_password_and_a_network_error(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("asyncpg")
    dsn = "postgresql://sync:pa55-SECRET-word@127.0.0.1:1/calls"  # nothing listens on port 1
    assert await run(connect(fake, "sync", *RANGE, "--db", dsn)) == ExitCode.NETWORK
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "cannot connect to PostgreSQL at postgresql://sync:***@127.0.0.1:1/calls" in err
    assert "pa55-SECRET-word" not in err
    assert fake.counters.requests == 0


@POSIX_ONLY
def test_sigterm_stops_like_ctrl_c_hands_back_leases_and_exits_143(tmp_path: Path) -> None:
    db = tmp_path / "calls.sqlite3"
    with fake_server("--calls", "600", "--latency", "0.06", quiet=True) as server:
        first = start_sync(server.url, db)
        wait_for_done(first, db, 3)
        first.send_signal(signal.SIGTERM)  # what systemd's default KillSignal sends
        _, err = first.communicate(timeout=WAIT)
        assert first.returncode == ExitCode.TERMINATED, err
        assert "run the same command again to resume" in err
        assert "Traceback" not in err
        # Every window not done was handed back: a rerun (or another worker) takes it at once.
        leased = db_query(
            db, "SELECT COUNT(*) FROM alohub_sync_windows WHERE lease_owner IS NOT NULL"
        )
        assert leased[0][0] == 0
        pending = db_query(db, "SELECT COUNT(*) FROM alohub_sync_windows WHERE status='pending'")
        assert pending[0][0] > 0
        before = counters(server.url)["by_endpoint"]["list"]

        second = start_sync(server.url, db)
        _, err = second.communicate(timeout=WAIT)
        assert second.returncode == 0, err
        after = counters(server.url)["by_endpoint"]["list"]
    assert after - before == pending[0][0]  # finished windows were not fetched again
    ids = [row[0] for row in db_query(db, "SELECT call_id FROM alohub_calls")]
    assert len(ids) == len(set(ids)) == 600
    assert done_windows(db) == 31

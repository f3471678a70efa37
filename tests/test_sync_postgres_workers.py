"""Scale-out: three worker processes share one sync through one PostgreSQL database.

Also ``alohub-async sync --db postgresql://…`` end to end.

Every call is stored once; no window is claimed twice while its worker lives (each window's
``attempts`` stays 1); and the window of a worker killed mid-walk is finished by another
worker once its lease expires. Small and bounded: 31 one-day windows, a two-second lease,
every wait capped.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from urllib.parse import urlsplit

import asyncpg
import pytest

from alohub_async.cli import run
from alohub_async.testing import FakeAlohub, Fault
from tests.cli_helpers import connect

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")

START, END = "2026-01-01", "2026-01-31"
WINDOWS = 31  # one per day of January
LEASE_SECONDS = 2
WAIT = 60.0  # the cap on every wait below

# One worker process: the ten-line worker of the Workers guide, with a short lease so a
# killed worker's window is taken over quickly.
WORKER = f"""
import asyncio, sys
from datetime import timedelta
from alohub_async import AlohubSession
from alohub_async.sync import CallLogSync, PostgresStore

async def main(url, key, token, dsn, owner, windows):
    async with (
        AlohubSession(api_key=key, access_token=token, base_url=url, timeout=WAIT) as session,
        PostgresStore(dsn) as store,
    ):
        sync = CallLogSync(
            session, store, windows=int(windows), owner=owner, poll_interval=0.1,
            lease=timedelta(seconds={LEASE_SECONDS}),
        )
        summary = await sync.run("{START}", "{END}")
    print(summary.windows_done)

WAIT = {WAIT}
asyncio.run(main(*sys.argv[1:]))
"""


async def start_worker(
    fake: FakeAlohub, dsn: str, owner: str, windows: int
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WORKER,
        fake.url,
        fake.api_key,
        fake.access_token,
        dsn,
        owner,
        str(windows),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def wait_until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not await check():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_three_workers_share_one_sync_and_take_over_a_killed_workers_window(
    pg_dsn: str,
) -> None:
    db = await asyncpg.connect(pg_dsn)
    workers: list[asyncio.subprocess.Process] = []
    try:
        async with FakeAlohub(calls=600, seed=13) as fake:
            # The first list request never answers: the worker that sends it is stuck
            # mid-window, its lease renewed by its heartbeat, until it is killed.
            fake.script(Fault.hang(), endpoint="list")
            doomed = await start_worker(fake, pg_dsn, "doomed", windows=1)
            workers.append(doomed)

            async def schema() -> bool:
                return bool(
                    await db.fetchval("SELECT to_regclass('alohub_sync_windows') IS NOT NULL")
                )

            async def doomed_holds_a_window() -> bool:
                return bool(
                    await schema()
                    and await db.fetchval(
                        "SELECT count(*) FROM alohub_sync_windows WHERE lease_owner = 'doomed'"
                    )
                    and fake.counters.faults == 1
                )

            await wait_until(doomed_holds_a_window, "the first worker to claim a window")
            stuck = await db.fetchrow(
                "SELECT window_start, window_end FROM alohub_sync_windows"
                " WHERE lease_owner = 'doomed'"
            )
            workers += [await start_worker(fake, pg_dsn, f"w{i}", windows=2) for i in (1, 2)]

            async def others_progressed() -> bool:
                done = await db.fetchval(
                    "SELECT count(*) FROM alohub_sync_windows WHERE status = 'done'"
                )
                return bool(done >= WINDOWS // 2)

            await wait_until(others_progressed, "the other workers to finish windows")
            # While its worker lives, the stuck window stays its: nobody else claimed it.
            held = await db.fetchrow(
                "SELECT status, lease_owner, attempts FROM alohub_sync_windows"
                " WHERE window_start = $1 AND window_end = $2",
                stuck["window_start"],
                stuck["window_end"],
            )
            assert dict(held) == {"status": "pending", "lease_owner": "doomed", "attempts": 1}

            doomed.send_signal(signal.SIGKILL)
            assert await asyncio.wait_for(doomed.wait(), WAIT) == -signal.SIGKILL
            for worker in workers[1:]:
                _, err = await asyncio.wait_for(worker.communicate(), WAIT)
                assert worker.returncode == 0, err.decode()

            expected = {
                r["call_id"]
                for r in fake.expected_records(
                    "2026-01-01T00:00:00+07:00", "2026-01-31T23:59:59+07:00"
                )
            }

        windows = await db.fetch(
            "SELECT window_start, window_end, status, attempts FROM alohub_sync_windows"
        )
        assert len(windows) == WINDOWS
        assert {w["status"] for w in windows} == {"done"}
        attempts = {(w["window_start"], w["window_end"]): w["attempts"] for w in windows}
        # The killed worker's window was claimed twice: by it, then by a live worker once
        # its lease expired. Every other window was claimed exactly once.
        assert attempts.pop((stuck["window_start"], stuck["window_end"])) == 2
        assert set(attempts.values()) == {1}
        assert stuck["window_start"] == datetime(2025, 12, 31, 17, tzinfo=timezone.utc)

        stored = [r["call_id"] for r in await db.fetch("SELECT call_id FROM alohub_calls")]
        assert len(stored) == len(expected) > 0
        assert set(stored) == expected
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
        await db.close()


async def test_the_cli_syncs_into_postgresql_and_a_rerun_fetches_nothing(
    pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeAlohub(calls=90, seed=5) as fake:
        sync = connect(fake, "sync", "--start", START, "--end", END, "--db", pg_dsn, "-q")
        assert await run(sync) == 0
        fake.reset_counters()
        assert await run(sync) == 0  # resumed: every window is done already
        assert fake.counters.requests == 0
    db = await asyncpg.connect(pg_dsn)
    try:
        assert await db.fetchval("SELECT count(*) FROM alohub_calls") == 90
        assert await db.fetchval(
            "SELECT count(*) FROM alohub_sync_windows WHERE status = 'done'"
        ) == await db.fetchval("SELECT count(*) FROM alohub_sync_windows")
    finally:
        await db.close()
    password = urlsplit(pg_dsn).password
    assert password
    captured = capsys.readouterr()
    assert password not in captured.out + captured.err

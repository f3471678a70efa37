"""CallLogSync against the in-process fake: every call once, resumable, split, incremental."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from alohub_async import AlohubSession
from alohub_async.errors import ServerError
from alohub_async.sync import (
    CallLogSync,
    SQLiteStore,
    SyncProgress,
    SyncSummary,
    Window,
    split_range,
)
from alohub_async.testing import FakeAlohub, Fault

VN = timezone(timedelta(hours=7))
ANCHOR = datetime(2026, 1, 31, 23, 59, 59, tzinfo=VN)
START = datetime(2026, 1, 28, tzinfo=VN)  # the fakes below span 3 days back from ANCHOR


def fake(calls: int = 240, **kwargs: Any) -> FakeAlohub:
    return FakeAlohub(calls=calls, seed=7, span=timedelta(days=3), **kwargs)


def stored_ids(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        return [row[0] for row in db.execute("SELECT call_id FROM alohub_calls")]


def served_ids(server: FakeAlohub, start: datetime = START, end: datetime = ANCHOR) -> set[str]:
    return {record["call_id"] for record in server.expected_records(start, end)}


def windows_by_status(path: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        return dict(db.execute("SELECT status, COUNT(*) FROM alohub_sync_windows GROUP BY status"))


async def test_sync_stores_every_call_once_and_a_rerun_fetches_nothing(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    seen: list[SyncProgress] = []
    async with fake() as server, server.session(page_size=20) as session:
        async with SQLiteStore(path) as store:
            sync = CallLogSync(session, store, windows=3, on_progress=seen.append)
            summary = await sync.run(START, ANCHOR)
        ids = stored_ids(path)
        assert len(ids) == len(set(ids)) == summary.inserted == summary.rows
        assert set(ids) == served_ids(server) and len(ids) == 240
        assert summary.windows_done == summary.windows_total == 4
        assert summary.requests == server.counters.requests
        assert [p.windows_done for p in seen] == [1, 2, 3, 4]
        assert seen[-1].windows_total == 4 and seen[-1].rows == 240
        assert server.counters.max_in_flight <= 3 * session.concurrency

        server.reset_counters()
        async with SQLiteStore(path) as store:
            again = await CallLogSync(session, store).run(START, ANCHOR)
        assert server.counters.requests == 0  # every window was done: none fetched again
        assert again.windows_skipped == 4 and again.windows_done == 0
    assert len(stored_ids(path)) == 240


async def test_a_failed_run_keeps_finished_windows_and_the_rerun_does_the_rest(
    tmp_path: Path,
) -> None:
    path = tmp_path / "calls.db"
    async with fake() as server, server.session(max_retries=0, page_size=100) as session:

        def fail_after_two(progress: SyncProgress) -> None:
            if progress.windows_done == 2:  # a later window's list request fails
                server.script(Fault.status(503), endpoint="list")

        async with SQLiteStore(path) as store:
            sync = CallLogSync(session, store, windows=1, on_progress=fail_after_two)
            with pytest.raises(ServerError):
                await sync.run(START, ANCHOR)
        statuses = windows_by_status(path)
        assert statuses["done"] >= 2 and statuses["pending"] >= 1
        assert statuses["done"] + statuses["pending"] == 4
        done_ids = len(stored_ids(path))
        server.reset_counters()
        async with SQLiteStore(path) as store:
            summary = await CallLogSync(session, store, windows=1).run(START, ANCHOR)
        assert summary.windows_skipped == statuses["done"]
        assert summary.windows_done == statuses["pending"]
        # Only the pending windows are listed again (one page each).
        assert server.counters.by_endpoint["list"] == statuses["pending"]
        ids = stored_ids(path)
        assert len(ids) == len(set(ids)) == 240 and set(ids) == served_ids(server)
        assert summary.inserted == 240 - done_ids


async def test_full_windows_are_split_in_halves_before_being_walked(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    seen: list[SyncProgress] = []
    async with fake(calls=400) as server, server.session(page_size=25) as session:
        async with SQLiteStore(path) as store:
            sync = CallLogSync(session, store, max_window_rows=30, on_progress=seen.append)
            summary = await sync.run(START, ANCHOR)
        assert summary.windows_split > 0
        ids = stored_ids(path)
        assert len(ids) == len(set(ids)) == 400 and set(ids) == served_ids(server)
        # After a split nothing is walked past page 2: every walked window held <= 30 rows.
        assert max(page for page, _ in server.counters.list_pages) <= 2
    statuses = windows_by_status(path)
    assert statuses["split"] == summary.windows_split
    assert statuses["done"] == summary.windows_done == summary.windows_total
    # The done windows still tile the range: every second in exactly one of them.
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        done = [
            (datetime.fromisoformat(a), datetime.fromisoformat(b))
            for a, b in db.execute(
                "SELECT window_start, window_end FROM alohub_sync_windows "
                "WHERE status = 'done' ORDER BY window_start"
            )
        ]
    assert done[0][0] == START and done[-1][1] == ANCHOR
    assert all(b[0] - a[1] == timedelta(seconds=1) for a, b in itertools.pairwise(done))
    assert seen[-1].windows_done == seen[-1].windows_total == summary.windows_done


async def test_a_walk_longer_than_its_lease_keeps_the_lease(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    # Each window takes 4 sequential pages of 0.25 s, well past its 0.6 s lease: without
    # renewal the other worker would take the window over and list it a second time.
    async with (
        FakeAlohub(calls=80, seed=2, span=timedelta(days=2), latency=0.25) as server,
        server.session(page_size=10, concurrency=1) as session,
    ):
        async with SQLiteStore(path) as store:
            sync = CallLogSync(session, store, windows=2, lease=timedelta(seconds=0.6))
            summary = await sync.run(datetime(2026, 1, 29, tzinfo=VN), ANCHOR)
        # One request per full page of 10, and one for the short (or empty) page that ends
        # each window: a full last page is confirmed by the next one.
        pages = sum(
            len(server.expected_records(w.start, w.end)) // 10 + 1 for w in windows(summary)
        )
        assert server.counters.by_endpoint["list"] == pages
    ids = stored_ids(path)
    assert len(ids) == len(set(ids)) == 80


def windows(summary: SyncSummary) -> list[Window]:
    assert summary.start is not None and summary.end is not None
    return split_range(summary.start, summary.end, VN)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def hide_transcripts(server: FakeAlohub, hidden: set[str]) -> None:
    """Make the fake answer some details without their transcript, until un-hidden."""
    original: Callable[[str], dict[str, Any] | None] = server.data.detail

    def detail(call_id: str) -> dict[str, Any] | None:
        found = original(call_id)
        if found is not None and call_id in hidden:
            found["transcript"] = None
        return found

    server.data.detail = detail  # type: ignore[method-assign]


async def newest_call(session: AlohubSession) -> datetime:
    page = await session.get_calls_page(START, ANCHOR, page_size=1)  # newest first
    started = page.items[0].started_at
    assert started is not None
    return started


@pytest.mark.parametrize("mark_after_newest", [timedelta(minutes=10), timedelta(minutes=-10)])
async def test_incremental_picks_up_late_rows_and_late_transcripts(
    tmp_path: Path, mark_after_newest: timedelta
) -> None:
    """Rows inserted after a sync (inside the overlap, or past the mark) and a transcript
    that appears later are all stored by the next incremental run."""
    path = tmp_path / "calls.db"
    async with fake(calls=60) as server, server.session() as session:
        newest = await newest_call(session)
        answered = [
            r["call_id"]
            for r in server.expected_records(START, ANCHOR)
            if (server.expected_detail(r["call_id"]) or {}).get("transcript")
        ]
        hidden = {answered[0]}
        hide_transcripts(server, hidden)
        settle = timedelta(minutes=5)
        clock = Clock(newest + mark_after_newest + settle)
        async with SQLiteStore(path) as store:
            sync = CallLogSync(session, store, details=True, settle_delay=settle, clock=clock)
            with pytest.raises(ValueError, match="high-water"):
                await sync.run_incremental()
            first = await sync.run_incremental(start=START)
            assert first.details == first.inserted
            before = set(stored_ids(path))

            served_before = served_ids(server)
            server.insert_calls(3)  # they start at the newest call's second
            hidden.clear()  # the transcript is ready now
            clock.now += timedelta(hours=1)
            second = await sync.run_incremental()
        ids = stored_ids(path)
        assert len(ids) == len(set(ids))
        assert set(ids) == served_ids(server) and len(ids) == 63
        late = served_ids(server) - served_before
        assert len(late) == 3 and late <= set(ids)
        assert len(set(ids) - before) == second.inserted >= 3
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            (transcript,) = db.execute(
                "SELECT transcript FROM alohub_calls WHERE call_id = ?", (answered[0],)
            ).fetchone()
        assert transcript is not None and "text" in transcript
        assert second.start == newest + mark_after_newest - timedelta(hours=1)
        # Earlier runs' windows are not reported as skipped by this one.
        assert second.windows_skipped == 0
        assert second.windows_total == second.windows_done == len(windows(second))


async def test_bad_options_are_refused_before_any_request(tmp_path: Path) -> None:
    async with fake() as server, server.session() as session:
        async with SQLiteStore(tmp_path / "calls.db") as store:
            for bad in (
                {"windows": 0},
                {"max_window_rows": -1},
                {"every": timedelta(0)},
                {"every": timedelta(milliseconds=1500)},
                {"lease": timedelta(0)},
                {"overlap": timedelta(hours=-1)},
                {"poll_interval": 0},
            ):
                with pytest.raises(ValueError):
                    CallLogSync(session, store, **bad)
            with pytest.raises(ValueError, match="after"):
                await CallLogSync(session, store).run(ANCHOR, START)
        assert server.counters.requests == 0

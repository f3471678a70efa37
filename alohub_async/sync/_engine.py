"""`CallLogSync`: walk a range window by window into a store, resumably.

Each of ``windows`` workers loops: claim a pending window, walk it with
``AlohubSession.iter_pages``, optionally fetch the details of its new or changed calls,
then hand the rows to a commit task (which upserts them and marks the window done in one
store transaction) and claim the next window while the store writes. A window whose first
page reports more rows than ``max_window_rows`` is halved, as many times as its total
needs, before being walked (each part is checked again when claimed): short walks run
concurrently and see less row drift than deep offset pagination, and at most ``windows``
windows being fetched plus ``windows`` waiting for their commit are in memory, so memory
is flat in the number of calls.

A window is committed whole or not at all, so a crash (or Ctrl-C) loses at most the
windows in flight, which the next run walks again; finished windows are never fetched
again. The incremental sync re-walks ``[high-water mark - overlap, now - settle_delay]``:
calls still ringing when last seen, rows that arrived late and rows changed after first
sight come in again and are updated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from .._session import AlohubSession
from .._timeutil import TimeInput, resolve_range
from ..errors import NotFoundError
from ..models import CallDetail, CallRecord
from ._store import INCREMENTAL_JOB, SyncStore, UpsertResult, range_job
from ._windows import Window, halve, split_range

__all__ = ["CallLogSync", "SyncProgress", "SyncSummary"]

logger = logging.getLogger("alohub_async.sync")


@attrs.frozen
class SyncProgress:
    """Where a running sync is, as given to the ``on_progress`` callback.

    Attributes:
        windows_done: Windows of this run finished so far.
        windows_total: Windows this run has to finish (grows when one is split).
        rows: Call rows received so far.
        elapsed: Seconds since the run started.
    """

    windows_done: int
    windows_total: int
    rows: int
    elapsed: float

    @property
    def rate(self) -> float:
        """Rows per second so far."""
        return self.rows / self.elapsed if self.elapsed > 0 else 0.0


@attrs.define
class SyncSummary:
    """What a sync run did.

    Attributes:
        job: The job synced (see `range_job`, ``"incremental"``).
        start: The range's first second (None when an incremental run had nothing to do).
        end: The range's last second.
        windows_total: Windows of the job after the run.
        windows_skipped: Windows already done before the run (not fetched again).
        windows_done: Windows this run finished.
        windows_split: Windows split in halves because they held too many rows.
        windows_lost: Windows dropped because this sync lost their lease (it stalled past
            the lease and another worker took the window over): their new owner syncs them.
        rows: Call rows received.
        inserted: Calls stored for the first time.
        updated: Stored calls whose content changed.
        details: Details fetched and stored.
        requests: HTTP requests the session sent during the run (retries included).
        retries: Retries among them.
        duration: Seconds the run took.
    """

    job: str
    start: datetime | None = None
    end: datetime | None = None
    windows_total: int = 0
    windows_skipped: int = 0
    windows_done: int = 0
    windows_split: int = 0
    windows_lost: int = 0
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    details: int = 0
    requests: int = 0
    retries: int = 0
    duration: float = 0.0

    def line(self) -> str:
        """Return a one-line human summary."""
        rate = self.rows / self.duration if self.duration > 0 else 0.0
        return (
            f"{self.windows_done:,} windows synced ({self.windows_skipped:,} already done, "
            f"{self.windows_split:,} split"
            + (f", {self.windows_lost:,} lost to another worker" if self.windows_lost else "")
            + f"), {self.rows:,} calls "
            f"({self.inserted:,} new, {self.updated:,} changed"
            + (f", {self.details:,} details" if self.details else "")
            + f"), {self.requests:,} requests ({self.retries:,} retries) "
            f"in {self.duration:.1f}s ({rate:,.0f} calls/s)"
        )


@attrs.define
class _Run:
    """State shared by the workers of one run."""

    job: str
    summary: SyncSummary
    started: float
    commit_slots: asyncio.Semaphore
    active: set[Window] = attrs.Factory(set)
    changed: asyncio.Event = attrs.Factory(asyncio.Event)
    commits: set[asyncio.Task[None]] = attrs.Factory(set)
    failure: Exception | None = None
    added: int = 0  # windows that splits added to the plan

    def poke(self) -> None:
        """Wake workers waiting for a local window to finish or split."""
        self.changed.set()
        self.changed = asyncio.Event()


def _positive_delta(name: str, value: timedelta, *, zero_ok: bool = False) -> timedelta:
    if (
        not isinstance(value, timedelta)
        or value < timedelta(0)
        or (not zero_ok and value == timedelta(0))
    ):
        raise ValueError(f"{name} must be a {'non-negative' if zero_ok else 'positive'} timedelta")
    return value


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


class CallLogSync:
    """Sync call logs from a session into a store, window by window, resumably.

    Args:
        session: An open (or opening) `AlohubSession`; its limits (concurrency per walk,
            rate limit, retries) still apply, and its ``tz`` aligns the windows.
        store: Where calls and windows are kept (e.g. `SQLiteStore`), already open.
        every: Window length; whole days align to local midnight.
        windows: How many windows are walked at once.
        max_window_rows: A window whose listing reports more rows is split in halves
            before it is walked.
        details: Also fetch and store each new or changed call's detail (recording URL,
            transcript).
        detail_concurrency: Detail requests in flight at once across all windows
            (default: the session's ``concurrency``).
        overlap: How far before the high-water mark an incremental run starts again,
            to catch late-arriving and updated rows (default 1 hour).
        settle_delay: An incremental run stops this long before now, so calls still in
            progress are not taken as final (default 5 minutes).
        transcript_horizon: Incremental runs with ``details`` re-fetch details that had
            no transcript yet for calls started within this long before now (default
            2 days).
        lease: How long a claimed window stays reserved to this sync without renewal;
            a shorter lease lets another worker take over sooner after a crash.
        owner: This worker's name in leases (default: a random id).
        on_progress: Called after each finished window with a `SyncProgress`.
        poll_interval: Seconds between checks while other workers hold the remaining
            windows (a shared store).
        clock: Returns the current aware time (default: the system clock); the
            incremental sync reads it to know where "now" is.

    Raises:
        ValueError: a bad option.

    Attributes:
        max_refetch: At most this many transcript-less details are fetched again per
            incremental run.
        last_summary: The summary of the run in progress or the last one (updated as
            windows finish, so it is readable after a run was cancelled).
    """

    def __init__(
        self,
        session: AlohubSession,
        store: SyncStore,
        *,
        every: timedelta = timedelta(days=1),
        windows: int = 4,
        max_window_rows: int = 5000,
        details: bool = False,
        detail_concurrency: int | None = None,
        overlap: timedelta = timedelta(hours=1),
        settle_delay: timedelta = timedelta(minutes=5),
        transcript_horizon: timedelta = timedelta(days=2),
        lease: timedelta = timedelta(minutes=5),
        owner: str | None = None,
        on_progress: Callable[[SyncProgress], object] | None = None,
        poll_interval: float = 1.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.session = session
        self.store = store
        self.every = _positive_delta("every", every)
        if every % timedelta(seconds=1):
            raise ValueError("every must be a whole number of seconds")
        self.windows = _positive_int("windows", windows)
        self.max_window_rows = _positive_int("max_window_rows", max_window_rows)
        self.details = bool(details)
        self.detail_concurrency = _positive_int(
            "detail_concurrency",
            session.concurrency if detail_concurrency is None else detail_concurrency,
        )
        self.overlap = _positive_delta("overlap", overlap, zero_ok=True)
        self.settle_delay = _positive_delta("settle_delay", settle_delay, zero_ok=True)
        self.transcript_horizon = _positive_delta("transcript_horizon", transcript_horizon)
        self.lease = _positive_delta("lease", lease)
        self.owner = owner or f"alohub-{uuid.uuid4().hex[:12]}"
        self.on_progress = on_progress
        if not poll_interval > 0:
            raise ValueError("poll_interval must be a positive number of seconds")
        self.poll_interval = float(poll_interval)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self.max_refetch = 10_000
        self._detail_slots = asyncio.Semaphore(self.detail_concurrency)
        self.last_summary: SyncSummary | None = None
        # Ids whose detail this run fetched without a transcript: asking again a moment
        # later would be wasted, so the re-fetch pass skips them (small: only those ids).
        self._just_fetched: set[str] = set()

    def __repr__(self) -> str:
        return f"<CallLogSync store={self.store!r} windows={self.windows} owner={self.owner!r}>"

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("clock must return an aware datetime")
        return now

    # --- public runs ----------------------------------------------------------------------

    async def run(self, start: TimeInput, end: TimeInput) -> SyncSummary:
        """Sync every call between ``start`` and ``end``; a rerun resumes where one stopped.

        When the whole range is done, the incremental sync's high-water mark moves up to
        its end (but no later than now minus ``settle_delay``).

        Args:
            start: The range's first moment (a date means its midnight; naive = ``tz``).
            end: The range's last moment, inclusive (a date means its 23:59:59).

        Returns:
            The summary.

        Raises:
            ValueError: a bad range, before any request is sent.
        """
        lo, hi = resolve_range(start, end, self.session.tz)
        job = range_job(lo, hi, self.every)
        summary = await self._sync(job, lo, hi)
        await self.store.set_high_water(INCREMENTAL_JOB, min(hi, self._now() - self.settle_delay))
        return summary

    async def run_incremental(self, start: TimeInput | None = None) -> SyncSummary:
        """Sync from the high-water mark minus ``overlap`` to now minus ``settle_delay``.

        Rows already stored are updated when they changed, so calls finished, recorded
        or transcribed since they were first seen are picked up. With ``details``, calls
        within ``transcript_horizon`` whose detail had no transcript are fetched again.

        Args:
            start: Where to begin when the store has no high-water mark yet (ignored
                once it has one).

        Returns:
            The summary.

        Raises:
            ValueError: no high-water mark and no ``start``, before any request is sent.
        """
        now = self._now().replace(microsecond=0)
        hi = now - self.settle_delay
        mark = await self.store.get_high_water(INCREMENTAL_JOB)
        if mark is not None:
            lo = mark - self.overlap
        elif start is not None:
            lo, _ = resolve_range(start, start, self.session.tz)
        else:
            raise ValueError(
                "this store has no high-water mark yet: run a range sync first, "
                "or give the incremental sync a start"
            )
        if lo > hi:
            summary = self.last_summary = SyncSummary(job=INCREMENTAL_JOB)
        else:
            summary = await self._sync(INCREMENTAL_JOB, lo, hi)
            await self.store.set_high_water(INCREMENTAL_JOB, hi)
        if self.details:
            began = time.monotonic()
            summary.details += await self._refetch_transcripts(now - self.transcript_horizon)
            summary.duration += time.monotonic() - began
        self._just_fetched.clear()
        return summary

    # --- the run --------------------------------------------------------------------------

    async def _sync(self, job: str, lo: datetime, hi: datetime) -> SyncSummary:
        store = self.store
        await store.add_windows(job, split_range(lo, hi, self.session.tz, self.every))
        counts = await store.window_counts(job)
        # The incremental job keeps the windows of every earlier run: those are history,
        # not windows this run skipped.
        history = counts.done if job == INCREMENTAL_JOB else 0
        summary = SyncSummary(
            job=job,
            start=lo,
            end=hi,
            windows_skipped=counts.done - history,
            windows_total=counts.total - history,
        )
        self.last_summary = summary
        run = _Run(job, summary, time.monotonic(), asyncio.Semaphore(self.windows))
        requests, retries = self.session.stats.requests, self.session.stats.retries
        try:
            await _gather_or_cancel([self._worker(run) for _ in range(self.windows)])
        finally:
            # Windows fully fetched are committed even when the run stops (Ctrl-C, or a
            # failure elsewhere): their rows are already here, and a rerun skips them.
            if run.commits:
                await asyncio.shield(asyncio.gather(*run.commits, return_exceptions=True))
            summary.duration = time.monotonic() - run.started
            summary.requests = self.session.stats.requests - requests
            summary.retries = self.session.stats.retries - retries
        if run.failure is not None:
            raise run.failure
        summary.windows_total = (await store.window_counts(job)).total - history
        return summary

    async def _worker(self, run: _Run) -> None:
        store = self.store
        while True:
            if run.failure is not None:
                return
            window = await store.claim_window(run.job, self.owner, self.lease)
            if window is None:
                counts = await store.window_counts(run.job)
                if counts.pending == 0:
                    return
                if counts.pending > len(run.active):
                    # Others (another process on a shared store) hold windows: their
                    # leases may expire if they died, so look again in a while.
                    await asyncio.sleep(self.poll_interval)
                else:
                    # The rest is in this run's hands; one may still be split.
                    await run.changed.wait()
                continue
            run.active.add(window)
            handed_off = False
            try:
                handed_off = await self._window(run, window)
            finally:
                if not handed_off:
                    run.active.discard(window)
                    run.poke()

    async def _window(self, run: _Run, window: Window) -> bool:
        """Fetch a window, then hand its commit to a task; True once handed off.

        Committing in the background lets this worker fetch its next window while the
        store writes (SQLite has one writer anyway); at most ``windows`` commits wait, so
        memory stays bounded.
        """
        store, job = self.store, run.job
        lost = asyncio.Event()
        heartbeat = asyncio.ensure_future(self._heartbeat(job, window, lost))
        handed_off = settled = False
        try:
            walked = await self._walk(window)
            if isinstance(walked, int):
                # Enough halvings at once to bring an even spread under the threshold.
                levels = max(1, math.ceil(math.log2(walked / self.max_window_rows)))
                parts = _split(window, levels)
                try:
                    await store.split_window(job, window, parts, self.owner)
                except LookupError as exc:
                    self._lost(run, window, exc)
                else:
                    run.added += len(parts) - 1
                    run.summary.windows_split += 1
                settled = True
                return False
            details = await self._fetch_details(
                await store.changed_calls(walked) if self.details else ()
            )
            await run.commit_slots.acquire()
            task = asyncio.ensure_future(
                self._commit(run, window, walked, details, heartbeat, lost)
            )
            run.commits.add(task)
            task.add_done_callback(run.commits.discard)
            handed_off = True
            return True
        finally:
            if not handed_off:
                await _stop(heartbeat)
                if not settled:
                    await self._release(job, window)

    async def _commit(
        self,
        run: _Run,
        window: Window,
        calls: list[CallRecord],
        details: list[CallDetail],
        heartbeat: asyncio.Future[None],
        lost: asyncio.Event,
    ) -> None:
        job = run.job
        committed = False
        try:
            if lost.is_set():
                self._lost(run, window, "the lease could not be renewed")
                return
            result = await self.store.commit_window(job, window, self.owner, calls, details)
            committed = True
            self._count(run, len(calls), result, len(details))
        except LookupError as exc:
            # Not a failure of the run: this worker stalled past its lease (a long pause,
            # a slow database) and another one claimed the window, which the store then
            # refused to commit for us. The new owner walks and commits it.
            self._lost(run, window, exc)
        except Exception as exc:
            if run.failure is None:
                run.failure = exc
        finally:
            await _stop(heartbeat)
            if not committed:
                await self._release(job, window)
            run.commit_slots.release()
            run.active.discard(window)
            run.poke()

    async def _release(self, job: str, window: Window) -> None:
        # Hand the window back so a rerun or another worker takes it at once; shielded
        # so a Ctrl-C cannot interrupt the hand-back itself.
        with contextlib.suppress(Exception):
            await asyncio.shield(self.store.release_window(job, window, self.owner))

    def _lost(self, run: _Run, window: Window, why: object) -> None:
        logger.warning(
            "lost the lease on window %s..%s (%s); dropped it: its new owner syncs it",
            window.start.isoformat(),
            window.end.isoformat(),
            why,
        )
        run.summary.windows_lost += 1

    def _count(self, run: _Run, rows: int, result: UpsertResult, details: int) -> None:
        summary = run.summary
        summary.windows_done += 1
        summary.rows += rows
        summary.inserted += result.inserted
        summary.updated += result.updated
        summary.details += details
        if self.on_progress is not None:
            total = summary.windows_total + run.added - summary.windows_skipped
            self.on_progress(
                SyncProgress(
                    windows_done=summary.windows_done,
                    windows_total=max(total, summary.windows_done),
                    rows=summary.rows,
                    elapsed=time.monotonic() - run.started,
                )
            )

    async def _heartbeat(self, job: str, window: Window, lost: asyncio.Event) -> None:
        """Renew the window's lease every third of it until cancelled."""
        interval = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            if not await self.store.renew_lease(job, window, self.owner, self.lease):
                lost.set()
                return

    async def _walk(self, window: Window) -> list[CallRecord] | int:
        """Return the window's calls, or its total when it holds too many to walk."""
        rows: dict[str, CallRecord] = {}
        pages = self.session.iter_pages(window.start, window.end)
        try:
            async for page in pages:
                if (
                    page.page == 1
                    and page.total is not None
                    and page.total > self.max_window_rows
                    and window.seconds > 1
                ):
                    return page.total
                for call in page.items:
                    rows[call.call_id] = call
        finally:
            await pages.aclose()
        return list(rows.values())

    async def _fetch_details(self, call_ids: Sequence[str] | set[str]) -> list[CallDetail]:
        if not self.details or not call_ids:
            return []

        async def one(call_id: str) -> CallDetail | None:
            async with self._detail_slots:
                try:
                    return await self.session.get_call(call_id)
                except NotFoundError:
                    # Listed but without a detail (yet): the row is kept; a later run
                    # that sees it changed asks again.
                    logger.info("no detail for call %s", call_id)
                    return None

        found = await _gather_or_cancel([one(cid) for cid in sorted(call_ids)])
        details = [d for d in found if d is not None]
        self._just_fetched.update(d.call_id for d in details if d.transcript is None)
        return details

    async def _refetch_transcripts(self, since: datetime) -> int:
        """Fetch again the details that had no transcript, for calls started since ``since``."""
        ids = await self.store.calls_without_transcript(since, self.max_refetch)
        ids = [i for i in ids if i not in self._just_fetched]
        details = await self._fetch_details(ids)
        await self.store.save_details(details)
        return len(details)


def _split(window: Window, levels: int) -> list[Window]:
    """Halve a window ``levels`` times at once (parts of one second are not halved again).

    Halving once per walk would fetch, and throw away, the first page of every
    intermediate half; each part is checked again when it is walked anyway.
    """
    parts = [window]
    for _ in range(levels):
        parts = [half for part in parts for half in (halve(part) if part.seconds > 1 else (part,))]
    return parts


async def _stop(task: asyncio.Future[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _gather_or_cancel(coros: Sequence[Coroutine[Any, Any, Any]]) -> list[Any]:
    """Run coroutines concurrently; on the first failure cancel the rest, then raise it.

    ``asyncio.TaskGroup`` does this from Python 3.11; this package supports 3.10.
    """
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
    return [task.result() for task in tasks]

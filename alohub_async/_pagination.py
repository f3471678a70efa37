"""Page planning and the ordered sliding-window walk.

The rule every walk keeps, whatever the server does: either every row the server holds is
yielded exactly once, in order, or a typed `AlohubError` is raised after a correct prefix;
and no walk runs forever.

The decisions live in `_Planner`, a plain object fed one page at a time (no asyncio), and
the window mechanics in `walk_pages`. Page 1 is fetched alone. Then up to ``concurrency``
requests run at once and pages are consumed strictly in page order, so memory stays near
``concurrency * page_size`` records. With a total, requests go no further than the page
that total makes the first short one; without one, the walk looks ahead ``concurrency``
pages. Either way the walk ends only on a short page: a full last planned page means
"look once more", because a total can be wrong.

Pages are requested in order, so rows inserted at the head during a walk can only push rows
forward: they reappear on the next page (dropped as duplicates, like rows repeated inside
one page) or past the planned last page (fetched because the walk goes on until a short
page). A page whose total is lower than the latest one was answered from an older
snapshot, so it is fetched again rather than risk a gap.

A short page is checked against the best-known total (the latest seen on any page, not
only its own). When it holds fewer rows than asked while more are expected, or when no
total was ever seen, the walk switches once to the page's row count as ``limit`` and goes
on from the page whose offset skips nothing (the overlap is dropped as duplicates), which
works whether the server clamps ``limit`` before or after computing the offset. Without
totals that costs one request more per walk: it confirms the end. Rows ending before the
total raise `IncompleteListingError` after all were yielded. Pages that repeat far more
rows than insertions can explain, a listing that grows as fast as it is read, and full
pages far past the total first seen raise `PaginationError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Coroutine,
    Sequence,
)
from types import TracebackType
from typing import Any, Generic, TypeVar

import attrs

from ._protocol import page_count
from .errors import AlohubError, IncompleteListingError, PaginationError
from .models import CallDetail, CallPage, CallRecord, Stats

__all__ = ["WalkIterator", "walk_details", "walk_pages", "walk_records"]

logger = logging.getLogger("alohub_async")

T = TypeVar("T")

R = TypeVar("R")

DetailFetcher = Callable[[str], Coroutine[Any, Any, CallDetail]]

Spawner = Callable[[Coroutine[Any, Any, Any]], "asyncio.Future[Any]"]
"""Starts a request coroutine as a task (the session's spawner tracks them for close())."""

REPEAT_STRIKES = 3
"""Consecutive pages that mostly repeat rows already yielded before the walk gives up."""

STALL_PAGES = 3
"""Full pages in a row (beyond ``concurrency``) that bring the walk no closer to the total before it
concludes that the listing grows as fast as it is read."""


_NOTHING: Any = object()


class WalkIterator(AsyncIterator[T], Generic[T]):
    """An async iterator over a walk, with its `Stats` readable as it runs.

    Use it with ``async for``, ideally inside ``async with`` (which closes it on exit)::

        async with alohub.iter_calls("2026-01-01", "2026-01-31") as calls:
            async for call in calls:
                ...

    Leaving the block, breaking out of the loop and calling `aclose` all stop the walk:
    every request still in flight is cancelled and awaited. Nothing is requested until
    the first item is asked for, or until `start` is awaited.

    ``stats.records`` counts the items handed out so far (for `iter_pages`, the records
    of the pages handed out); ``stats.records_received`` the rows of the list pages
    received, duplicates included.

    Attributes:
        stats: Counters for this walk: requests, retries, pages, records handed out, rows
            received, duplicates dropped, page-size switches.
    """

    __slots__ = ("_agen", "_done", "_first", "_label", "_totals", "stats")

    def __init__(
        self,
        agen: AsyncGenerator[T, None],
        stats: Stats,
        *,
        what: str = "items",
        start: str = "",
        end: str = "",
        totals: Stats | None = None,
    ) -> None:
        self._agen = agen
        self.stats = stats
        self._label = f"{what} {start} .. {end}" if start or end else what
        self._totals = totals  # the session's counters, which add up every walk's
        self._first: Any = _NOTHING  # an item `start` fetched and kept
        self._done = False

    def __repr__(self) -> str:
        state = " closed" if self._done else ""
        return f"<WalkIterator {self._label}{state} {self.stats!r}>"

    def __aiter__(self) -> WalkIterator[T]:
        return self

    async def __anext__(self) -> T:
        item = self._first
        if item is _NOTHING:
            item = await self._pull()
        else:
            self._first = _NOTHING
        # Counted when handed out, so a consumer stopping early sees what it received.
        count = len(item.items) if isinstance(item, CallPage) else 1
        self.stats.records += count
        if self._totals is not None:
            self._totals.records += count
        return item  # type: ignore[no-any-return]

    async def _pull(self) -> Any:
        try:
            return await self._agen.__anext__()
        except StopAsyncIteration:
            self._done = True
            raise

    async def start(self) -> WalkIterator[T]:
        """Fetch the first item now and keep it for the iteration that follows.

        A web app awaits this before it sends its response headers, so a failure of
        the first request (bad credentials, a wrong base URL, the server down) raises
        here and can become an HTTP status; iterating afterwards yields that first item,
        then the rest. Calling it again, or after iterating began, does nothing.

        Returns:
            This iterator, so that ``calls = await alohub.iter_calls(...).start()`` works.

        Raises:
            AlohubError: the first request failed (after its retries).
        """
        if self._first is _NOTHING and not self._done and self.stats.records == 0:
            with contextlib.suppress(StopAsyncIteration):  # an empty walk ends at once
                self._first = await self._pull()
        return self

    async def aclose(self) -> None:
        """Stop the walk: cancel and await every request in flight."""
        self._done = True
        self._first = _NOTHING
        await self._agen.aclose()

    async def __aenter__(self) -> WalkIterator[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class _RecentIds:
    """The ids of the last few pages: enough to drop rows that shifted by less than that."""

    __slots__ = ("_ids", "_keep", "_pages")

    def __init__(self, pages: int) -> None:
        self._pages: deque[tuple[int, list[str]]] = deque()
        self._ids: dict[str, int] = {}
        self._keep = pages

    def __contains__(self, call_id: str) -> bool:
        return call_id in self._ids

    def keep_more(self, pages: int) -> None:
        """Remember ``pages`` more pages from now on."""
        self._keep += max(0, pages)

    def add_page(self, page_no: int, ids: list[str]) -> None:
        self._pages.append((page_no, ids))
        for call_id in ids:
            self._ids[call_id] = page_no
        while len(self._pages) > self._keep:
            old_no, old_ids = self._pages.popleft()
            for call_id in old_ids:
                if self._ids.get(call_id) == old_no:
                    del self._ids[call_id]


class _Next(enum.Enum):
    CONTINUE = "continue"  # consume the next page of the window
    END = "end"  # the walk is complete (or ends with the verdict's error)
    RESTART = "restart"  # drop the window; go on from `restart_page` with the new limit
    VERIFY = "verify"  # fetch page 1 at the new limit, then ask `verify` what to do


@attrs.frozen
class _Verdict:
    """What to do with one consumed page."""

    fresh: tuple[CallRecord, ...]
    duplicates: int
    emit: bool
    next: _Next
    error: AlohubError | None = None
    adapted: bool = False  # the first page after a limit switch brought new rows


class _Planner:
    """The walk's decisions, one page at a time; no I/O and no asyncio.

    ``limit`` is the page size requested now; `accept` takes each page in order and says
    what to yield and what comes next; `may_request` and `is_stale` steer the window.

    Attributes:
        first_total: The first total seen: the walk's bound is derived from it (see
            `_misbehaving`).
        horizon: The highest page worth requesting now; None without any total (look
            ahead).
    """

    def __init__(self, page_size: int, concurrency: int) -> None:
        self.page_size = page_size
        self.limit = page_size
        self.concurrency = concurrency
        # The window's pages, plus the page a switch or a stale re-fetch may go back to and
        # the one before it (rows pushed forward by insertions since it was read).
        self.recent = _RecentIds(concurrency + 3)
        self.latest_total: int | None = None
        self.first_total: int | None = None
        self.horizon: int | None = None
        self.yielded = 0  # distinct records yielded
        self.consumed = 0  # pages accepted, ever (the window's clock)
        self.since_restart = 0  # pages accepted since the last limit switch
        self.restarted = False
        self.restart_page: int | None = None
        self.full_seen = False  # some page came back full: the server does not cap below
        self.verify_head = False  # the switch needs the head check before it counts
        self.first_ids: frozenset[str] = frozenset()
        # The page after a short first page held only rows already yielded.
        self._nothing_new = False
        self._held: _Verdict | None = None
        self.shifted = False  # rows were seen to move between pages
        self.strikes = 0
        self.previous_total: int | None = None
        self.closest: int | None = None  # the least (total - rows before the page end) yet
        self.stalled = 0

    def may_request(self, page_no: int) -> bool:
        """Tell whether the window may request ``page_no`` now."""
        return self.horizon is None or page_no <= self.horizon

    def is_stale(self, page: CallPage, sent_at: int) -> bool:
        """Tell whether a page may predate its predecessor's snapshot (fetch it again).

        ``sent_at`` is the `consumed` count when the page was requested.
        """
        if page.total is not None:
            return self.latest_total is not None and page.total < self.latest_total
        # Without totals a stale snapshot cannot be seen, only suspected: once rows have
        # shifted during this walk, a page requested before its predecessor was answered
        # may predate rows inserted in between.
        return self.shifted and sent_at < self.consumed

    def accept(self, page: CallPage) -> _Verdict:
        """Take the next page in order and decide what to yield and what comes next."""
        page_no, limit = page.page, self.limit
        self.consumed += 1
        self.since_restart += 1
        first_after_restart = page_no == self.restart_page
        ids = [record.call_id for record in page.items]
        fresh: list[CallRecord] = []
        seen_here: set[str] = set()
        repeated = 0  # rows an earlier page yielded (in-page repeats excluded)
        for record in page.items:
            call_id = record.call_id
            if call_id in seen_here:
                continue
            seen_here.add(call_id)
            if call_id in self.recent:
                repeated += 1
            else:
                fresh.append(record)
        if first_after_restart and self.verify_head and not fresh:
            if not ids:
                return self._ended(page)
            # Only rows already yielded: pushed down by insertions at the head, or served
            # again by a server that ignores 'page'. Page 1 tells (see `verify`).
            self._held, self._nothing_new = self._ended(page), True
            return _Verdict((), 0, False, _Next.VERIFY)
        self.recent.add_page(self.consumed, ids)
        if self.consumed == 1:
            self.first_ids = frozenset(ids)
        rows = len(ids)
        duplicates = rows - len(fresh)
        self.yielded += len(fresh)
        growth = None
        if page.total is not None:
            if self.previous_total is not None:
                growth = page.total - self.previous_total
            self.latest_total = page.total
            if self.first_total is None:
                self.first_total = page.total
            self.horizon = max(self.horizon or 0, page.total // limit + 1)
        self.previous_total = page.total
        adapted = False
        if first_after_restart:
            self.restart_page = None
            duplicates = 0  # the overlap was asked for: not a duplicate of the server's
            adapted = bool(fresh) and limit < self.page_size
        else:
            self.shifted = self.shifted or repeated > 0
            explained = growth is not None and growth >= duplicates
            # Only full pages count: a server ignoring 'page' answers full pages, and a
            # short page holding a row pushed down by an insertion is the end, not a loop.
            if rows >= limit and duplicates * 2 > rows and not explained:
                self.strikes += 1
            else:
                self.strikes = 0
        fresh_items = tuple(fresh)
        error = self._misbehaving(page_no, rows, duplicates)
        if error is not None:
            return _Verdict(fresh_items, duplicates, False, _Next.END, error)
        # An empty page past the total only confirms the end ("look once more"): it is
        # not handed out, so pages still number exactly as the total says.
        emit = bool(fresh) or not (
            first_after_restart or (rows == 0 and page_no > 1 and self.latest_total is not None)
        )
        if rows >= limit:
            self.full_seen = True
            if self.horizon is not None:
                self.horizon = max(self.horizon, page_no + 1)  # a full page: look once more
            verdict = _Verdict(fresh_items, duplicates, emit, _Next.CONTINUE, adapted=adapted)
        else:
            verdict = self._short(page_no, rows, fresh_items, duplicates, emit, adapted)
        if adapted and self.verify_head:
            # Rows inserted at the head faster than this small page could also explain
            # unseen rows here: page 1 at the new limit tells (see `verify`).
            self._held = verdict
            return attrs.evolve(verdict, emit=False, next=_Next.VERIFY, adapted=False)
        if adapted:
            logger.debug("page %d held rows not yielded yet: limit %d goes on", page_no, limit)
        return verdict

    def verify(self, head: CallPage) -> _Verdict:
        """Finish the held verdict once page 1 at the new limit came back as ``head``.

        A server capping ``limit`` answers page 1 with rows of the first page again. If
        every row is new, rows are being inserted at the head at least a page at a time:
        the unseen rows of the confirmation page may be those, and following them at a
        small limit could never end, so the walk ends where the first short page did.

        When that page held only rows already yielded, page 1 with a new row shows they
        were pushed down by insertions (the listing ended); page 1 unchanged means the
        server served page 1's rows at a later offset: it ignores ``page``.
        """
        held, self._held = self._held, None
        assert held is not None
        self.verify_head = False
        if self._nothing_new:
            self._nothing_new = False
            if all(record.call_id in self.first_ids for record in head.items):
                # No insertion at the head, yet a later offset served rows of page 1.
                return _Verdict(
                    (),
                    0,
                    False,
                    _Next.END,
                    PaginationError(
                        f"page {self.consumed} at limit {self.limit} holds only rows of "
                        "page 1, and no row was inserted: the server seems to ignore the "
                        "'page' parameter; stopping instead of losing the rest"
                    ),
                )
            return held  # rows were inserted at the head: the listing ended
        if any(record.call_id in self.first_ids for record in head.items):
            logger.debug("page 1 is unchanged: the server caps 'limit' at %d", self.limit)
            return held
        self.yielded -= len(held.fresh)
        return _Verdict((), 0, False, _Next.END)

    def _ended(self, page: CallPage) -> _Verdict:
        """Finish a walk whose first page was short, without a total.

        The next page, asked at the first page's size, brought no row not yielded yet:
        it is empty, or holds rows pushed down by insertions at the head. Either way the
        listing ended; going on at that small size would chase the insertions.
        """
        self.verify_head = False
        error = None
        if page.total is not None and page.total > self.yielded:
            error = IncompleteListingError(
                f"the listing ended after {self.yielded} records, but the server's total "
                f"is {page.total}: page {page.page} (limit {self.limit}) holds no new row",
                expected=page.total,
                received=self.yielded,
            )
        return _Verdict((), 0, False, _Next.END, error)

    def _short(
        self,
        page_no: int,
        rows: int,
        fresh: tuple[CallRecord, ...],
        duplicates: int,
        emit: bool,
        adapted: bool,
    ) -> _Verdict:
        """Decide on a short page: the end, a capped 'limit', or rows missing."""
        limit = self.limit
        end = (page_no - 1) * limit + rows
        expected = self.latest_total
        missing = expected is not None and end < expected
        if rows and not self.restarted and (missing or expected is None):
            if expected is None and self.full_seen:
                # A full page already came back, so 'limit' is not capped below it: look
                # once more at the same limit (rows only shift forward, so this cannot
                # chase rows inserted at the head).
                self._restart(page_no, rows, limit, expected)
            else:
                # At the page's own size, the next offset is the same whichever way a
                # capping server computes it. Without a total, that page confirms the end
                # (nothing new there, see `_ended`) or proves a cap (see `verify`).
                self._restart(page_no, rows, rows, expected)
                self.verify_head = expected is None
            return _Verdict(fresh, duplicates, emit, _Next.RESTART, adapted=adapted)
        error = None
        if missing:
            assert expected is not None
            error = IncompleteListingError(
                f"the listing ended after {self.yielded} records, but the server's total "
                f"is {expected}: page {page_no} (limit {limit}) ends at row {end}; "
                "the rest were not returned",
                expected=expected,
                received=self.yielded,
            )
        return _Verdict(fresh, duplicates, emit, _Next.END, error, adapted)

    def _restart(self, page_no: int, rows: int, limit: int, expected: int | None) -> None:
        """Go on with ``limit`` from the page whose offset skips no row."""
        old = self.limit
        self.limit = limit
        self.restarted = True
        if limit == old:
            # Same limit, same offsets: ask the short page itself again. (Counting back
            # from the rows yielded would go back one page per `limit` rows inserted at
            # the head meanwhile, re-reading rows older than the remembered ids.)
            self.restart_page = page_no
        else:
            # Offsets change with the limit, and a capping server may compute them either
            # way: go on from the rows yielded, which skips none. Rows from that far back
            # must still be recognised, so remember as many more pages.
            self.restart_page = self.yielded // limit + 1
            back = (page_no - 1) * old + rows - (self.restart_page - 1) * limit
            self.recent.keep_more(-(-back // old) + 1)
        self.since_restart = 0
        self.strikes = 0
        self.closest = None
        self.stalled = 0
        self.horizon = None if expected is None else expected // limit + 1
        logger.debug(
            "page %d held %d of the %d rows asked for (total %s): continuing from page %d "
            "with limit %d",
            page_no,
            rows,
            old,
            "unknown" if expected is None else expected,
            self.restart_page,
            limit,
        )

    def _misbehaving(self, page_no: int, rows: int, duplicates: int) -> PaginationError | None:
        """Return the error for paging that cannot end well, or None."""
        if self.strikes >= REPEAT_STRIKES:
            return PaginationError(
                f"page {page_no} repeats {duplicates} of its {rows} rows, the "
                f"{REPEAT_STRIKES}th page in a row to repeat far more rows than insertions "
                "can explain: the server seems to ignore the 'page' parameter; stopping "
                "instead of looping forever"
            )
        if self.first_total is None or rows < self.limit:
            return None
        # A full page: make sure the walk still gets somewhere. The bound comes from the
        # first total, not the largest: a server inflating its total by half a page or
        # more per request would otherwise move the bound as fast as the walk reads. Rows
        # inserted during a walk may thus add up to the listing's size again, no more.
        limit = self.limit
        planned = page_count(self.first_total, limit)
        if self.since_restart > 2 * planned + self.concurrency + 2:
            return PaginationError(
                f"page {page_no} is still full after {self.since_restart} pages, twice "
                f"the {planned} pages of the total first seen ({self.first_total}): rows "
                "are inserted faster than the walk reads them, or the server ignores "
                "'page' or its total; stopping instead of looping forever"
            )
        assert self.latest_total is not None
        remaining = self.latest_total - page_no * limit
        if self.closest is None or remaining < self.closest:
            self.closest, self.stalled = remaining, 0
        else:
            self.stalled += 1
            if self.stalled > self.concurrency + STALL_PAGES:
                return PaginationError(
                    f"after page {page_no} the total ({self.latest_total}) is no closer than "
                    f"{self.stalled} pages ago: the listing grows as fast as the walk reads "
                    "it (or the server ignores 'page'); stopping instead of looping forever"
                )
        return None


async def _cancel_all(tasks: Sequence[asyncio.Future[Any]]) -> None:
    """Cancel tasks and wait until each has finished, retrieving their outcomes."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


async def _outcome(task: asyncio.Future[R], closed: Callable[[], bool]) -> R:
    """Await a request task; one cancelled by the session's close() is a clear RuntimeError.

    ``asyncio.wait`` (unlike awaiting the task) raises CancelledError only when the
    consumer itself is cancelled, so that cancellation is never mistaken for a close().
    """
    try:
        await asyncio.wait((task,))
    except asyncio.CancelledError:
        # The consumer is being cancelled: take the request down with it.
        await _cancel_all((task,))
        raise
    if task.cancelled() and closed():
        raise RuntimeError("the AlohubSession was closed during the walk")
    return task.result()


def _never_closed() -> bool:
    return False


async def walk_pages(
    fetch: Callable[[int, int], Coroutine[Any, Any, R]],
    build: Callable[[int, int, R], CallPage],
    *,
    page_size: int,
    concurrency: int,
    stats: Stats,
    spawn: Spawner = asyncio.ensure_future,
    closed: Callable[[], bool] = _never_closed,
) -> AsyncGenerator[CallPage, None]:
    """Yield every page of a listing in order, each with its repeated records removed.

    ``fetch(n, limit)`` requests page ``n`` of ``limit`` rows and returns its raw form;
    ``build(n, limit, raw)`` turns that into a CallPage. Building happens here, when the
    page's turn comes, after the window has been refilled: requests go out first, CPU
    work follows.
    """
    planner = _Planner(page_size, concurrency)
    # (page number, planner.consumed when it was requested, its request)
    window: deque[tuple[int, int, asyncio.Future[R]]] = deque()
    try:
        limit = page_size
        page = build(1, limit, await fetch(1, limit))
        next_page = 2
        while True:
            verdict = planner.accept(page)
            if verdict.next is _Next.VERIFY:
                verdict = planner.verify(build(1, limit, await fetch(1, limit)))
            if verdict.next is _Next.CONTINUE:
                # Keep the window full before handing records out, so requests overlap
                # with the consumer's work.
                launched = False
                while len(window) < concurrency and planner.may_request(next_page):
                    window.append((next_page, planner.consumed, spawn(fetch(next_page, limit))))
                    next_page += 1
                    launched = True
                if launched:
                    await asyncio.sleep(0)  # let the new requests reach the wire first
            stats.duplicates_dropped += verdict.duplicates
            stats.limit_adaptations += verdict.adapted
            if verdict.emit:
                stats.pages += 1
                if len(verdict.fresh) != len(page.items):
                    page = attrs.evolve(page, items=verdict.fresh)
                yield page
            if verdict.error is not None:
                raise verdict.error
            if verdict.next is _Next.END:
                return
            if verdict.next is _Next.RESTART:
                # Pages in flight were asked with the old limit: their offsets mean nothing
                # now.
                await _cancel_all([task for _, _, task in window])
                window.clear()
                limit, page_no = planner.limit, planner.restart_page
                assert page_no is not None
                page = build(page_no, limit, await fetch(page_no, limit))
                next_page = page_no + 1
                continue
            page_no, sent_at, task = window.popleft()
            page = build(page_no, limit, await _outcome(task, closed))
            if planner.is_stale(page, sent_at):
                # This page's snapshot is (or may be) older than the previous page's: rows
                # inserted in between could fall in the gap. A request sent now sees a
                # newer snapshot; the overlap it brings is dropped as duplicates.
                page = build(page_no, limit, await fetch(page_no, limit))
    finally:
        await _cancel_all([task for _, _, task in window])
        window.clear()


async def walk_records(pages: AsyncGenerator[CallPage, None]) -> AsyncGenerator[CallRecord, None]:
    """Yield the records of each page in order."""
    try:
        async for page in pages:
            for record in page.items:
                yield record
    finally:
        await pages.aclose()


async def walk_details(
    records: AsyncGenerator[CallRecord, None],
    fetch: DetailFetcher,
    *,
    concurrency: int,
    spawn: Spawner = asyncio.ensure_future,
    closed: Callable[[], bool] = _never_closed,
) -> AsyncGenerator[CallDetail, None]:
    """Fetch each listed call's details, ``concurrency`` at a time, and yield them in list order."""
    window: deque[asyncio.Future[CallDetail]] = deque()
    listing_error: AlohubError | None = None
    try:
        while True:
            try:
                record = await records.__anext__()
            except StopAsyncIteration:
                break
            except AlohubError as exc:
                # The listing failed: the calls listed before the failure still get
                # their details, in order, before its error is raised (a correct prefix).
                listing_error = exc
                break
            window.append(spawn(fetch(record.call_id)))
            if len(window) >= concurrency:
                yield await _outcome(window.popleft(), closed)
        while window:
            yield await _outcome(window.popleft(), closed)
        if listing_error is not None:
            raise listing_error
    finally:
        await _cancel_all(list(window))
        window.clear()
        await records.aclose()

"""Page planning and the ordered sliding-window walk.

Page 1 is fetched alone. With a total, pages 2..N then run with at most ``concurrency``
requests in flight and are consumed strictly in page order, so memory stays near
``concurrency * page_size`` records. Without a total, the walk looks ahead
``concurrency`` pages and stops at the first short page, yielding nothing from beyond
it. Pages are requested in order, so rows inserted at the head during a walk can only
push rows forward: they reappear on the next page (dropped here as duplicates) or past
the planned last page (fetched because the latest total says more rows exist). A page
whose total is lower than its predecessor's was answered from an older snapshot, so it
is fetched again rather than risk a gap.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Coroutine,
    Sequence,
)
from typing import Any, Generic, TypeVar

import attrs

from ._protocol import page_count
from .errors import AlohubError
from .models import CallDetail, CallPage, CallRecord, Stats

__all__ = ["WalkIterator", "walk_details", "walk_pages", "walk_records"]

T = TypeVar("T")

R = TypeVar("R")

DetailFetcher = Callable[[str], Coroutine[Any, Any, CallDetail]]
#: Starts a request coroutine as a task (the session's spawner tracks them for close()).
Spawner = Callable[[Coroutine[Any, Any, Any]], "asyncio.Future[Any]"]


class WalkIterator(AsyncIterator[T], Generic[T]):
    """An async iterator over a walk, with its `Stats` readable as it runs.

    Use it with ``async for``; break out of the loop, call `aclose` or wrap it in
    ``contextlib.aclosing`` to stop early: every request still in flight is cancelled and
    awaited.
    """

    __slots__ = ("_agen", "stats")

    def __init__(self, agen: AsyncGenerator[T, None], stats: Stats) -> None:
        self._agen = agen
        #: Counters for this walk: pages, requests, retries, records, duplicates dropped.
        self.stats = stats

    def __aiter__(self) -> WalkIterator[T]:
        return self

    async def __anext__(self) -> T:
        return await self._agen.__anext__()

    async def aclose(self) -> None:
        """Stop the walk: cancel and await every request in flight."""
        await self._agen.aclose()


class _RecentIds:
    """The ids of the last few pages: enough to drop rows that shifted by less than that."""

    __slots__ = ("_ids", "_keep", "_pages")

    def __init__(self, pages: int) -> None:
        self._pages: deque[tuple[int, list[str]]] = deque()
        self._ids: dict[str, int] = {}
        self._keep = pages

    def __contains__(self, call_id: str) -> bool:
        return call_id in self._ids

    def add_page(self, page_no: int, ids: list[str]) -> None:
        self._pages.append((page_no, ids))
        for call_id in ids:
            self._ids[call_id] = page_no
        while len(self._pages) > self._keep:
            old_no, old_ids = self._pages.popleft()
            for call_id in old_ids:
                if self._ids.get(call_id) == old_no:
                    del self._ids[call_id]


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
    fetch: Callable[[int], Coroutine[Any, Any, R]],
    build: Callable[[int, R], CallPage],
    *,
    page_size: int,
    concurrency: int,
    stats: Stats,
    spawn: Spawner = asyncio.ensure_future,
    closed: Callable[[], bool] = _never_closed,
) -> AsyncGenerator[CallPage, None]:
    """Yield every page of a listing in order, each with its repeated records removed.

    ``fetch(n)`` requests page ``n`` and returns its raw form; ``build(n, raw)`` turns that
    into a CallPage. Building happens here, when the page's turn comes, after the window
    has been refilled: requests go out first, CPU work follows.
    """
    # (page number, page consumed when it was requested, its request)
    window: deque[tuple[int, int, asyncio.Future[R]]] = deque()
    recent = _RecentIds(max(2, concurrency + 1))
    previous_ids: set[str] = set()
    previous_total: int | None = None
    try:
        page_no, next_page = 1, 2
        page = build(1, await fetch(1))
        latest_total = page.total
        limit = None if latest_total is None else page_count(latest_total, page_size)
        while True:
            ids = [record.call_id for record in page.items]
            full = len(page.items) >= page_size
            shifted_a_page = (
                page.total is not None
                and previous_total is not None
                and page.total >= previous_total + page_size
            )
            if full and page_no > 1 and previous_ids.issuperset(ids) and not shifted_a_page:
                raise AlohubError(
                    f"page {page_no} repeats page {page_no - 1} exactly: the server seems to "
                    "ignore the 'page' parameter; stopping instead of looping forever"
                )
            fresh = [record for record in page.items if record.call_id not in recent]
            stats.duplicates_dropped += len(page.items) - len(fresh)
            recent.add_page(page_no, ids)
            previous_ids, previous_total = set(ids), page.total
            if page.total is not None and limit is not None:
                latest_total = page.total
                limit = max(limit, page_count(latest_total, page_size))
            if not full:
                if page.total is not None and page.total > (page_no - 1) * page_size + len(ids):
                    # In one response, a short page and a total that says more rows exist:
                    # stopping here would silently drop them.
                    raise AlohubError(
                        f"page {page_no} holds {len(ids)} of the {page_size} records asked "
                        f"for, yet its total is {page.total}: the server seems to cap 'limit' "
                        "below page_size; retry with a smaller page_size"
                    )
                last = True
            elif limit is None or page_no < limit:
                last = False
            else:
                last = latest_total is None or latest_total <= page_no * page_size
            # Keep the window full before handing records out, so requests overlap with
            # the consumer's work.
            launched = False
            while not last and len(window) < concurrency and (limit is None or next_page <= limit):
                window.append((next_page, page_no, spawn(fetch(next_page))))
                next_page += 1
                launched = True
            if launched:
                await asyncio.sleep(0)  # let the new requests reach the wire before CPU work
            stats.pages += 1
            stats.records += len(fresh)
            if len(fresh) != len(page.items):
                page = attrs.evolve(page, items=tuple(fresh))
            yield page
            if last or not window:
                return
            page_no, sent_after, task = window.popleft()
            page = build(page_no, await _outcome(task, closed))
            if page.total is not None:
                stale = latest_total is not None and page.total < latest_total
            else:
                # Without totals a stale snapshot cannot be seen, only suspected: once rows
                # have shifted during this walk, a page requested before its predecessor
                # was answered may predate rows inserted in between.
                stale = stats.duplicates_dropped > 0 and sent_after < page_no - 1
            if stale:
                # This page's snapshot is (or may be) older than the previous page's: rows
                # inserted in between could fall in the gap. A request sent now sees a
                # newer snapshot; the overlap it brings is dropped as duplicates.
                page = build(page_no, await fetch(page_no))
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

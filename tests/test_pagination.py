"""The ordered sliding-window walk: unit tests on walk_pages, integration tests on FakeAlohub."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from aioresponses import aioresponses

from alohub_async import (
    AlohubError,
    AlohubSession,
    BadRequestError,
    CallPage,
    CallRecord,
    IncompleteListingError,
    NotFoundError,
    ResponseFormatError,
    ServerError,
    Stats,
)
from alohub_async._pagination import walk_pages
from alohub_async.testing import Envelope, FakeAlohub, Fault
from tests.helpers import BASE_URL, client_tasks

START, END = "2026-01-01T00:00:00+07:00", "2026-01-31T23:59:59+07:00"


def fake_page(page: int, ids: list[str], size: int, total: int | None) -> CallPage:
    items = tuple(CallRecord(call_id=i) for i in ids)
    return CallPage(items=items, page=page, page_size=size, total=total)


def keep(page_no: int, limit: int, page: CallPage) -> CallPage:
    """The build step for sources that already return CallPage objects."""
    return page


class Pages:
    """A scripted page source for walk_pages, recording which pages were asked for.

    Asked with another limit than ``size``, it serves a slice of all its pages' rows in
    page order, like a server computing ``offset = (page - 1) * limit``.
    """

    def __init__(self, pages: dict[int, list[str]], size: int, total: int | None) -> None:
        self.pages, self.size, self.total = pages, size, total
        self.asked: list[int] = []
        self.limits: list[int] = []
        self.failing: dict[int, BaseException] = {}
        self.delays: dict[int, float] = {}
        self.cancelled: list[int] = []

    def rows(self, page: int, limit: int) -> list[str]:
        if limit == self.size:
            return self.pages.get(page, [])
        flat = [i for n in sorted(self.pages) for i in self.pages[n]]
        return flat[(page - 1) * limit : page * limit]

    async def fetch(self, page: int, limit: int) -> CallPage:
        self.asked.append(page)
        self.limits.append(limit)
        try:
            await asyncio.sleep(self.delays.get(page, 0))
        except asyncio.CancelledError:
            self.cancelled.append(page)
            raise
        if page in self.failing:
            raise self.failing[page]
        return fake_page(page, self.rows(page, limit), limit, self.total)


async def collect(pages: Pages, concurrency: int = 3) -> list[str]:
    walk = walk_pages(
        pages.fetch, keep, page_size=pages.size, concurrency=concurrency, stats=Stats()
    )
    return [r.call_id for page in [p async for p in walk] for r in page.items]


def ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAlohub]:
    async with FakeAlohub(calls=523, seed=7) as server:
        yield server


def expected_ids(fake: FakeAlohub) -> list[str]:
    return [r["call_id"] for r in fake.expected_records(START, END)]


# --- walk_pages, pure -------------------------------------------------------------------


async def test_with_total_fetches_exactly_the_planned_pages() -> None:
    """With a total, pages 1..ceil(total/size) are fetched, each once, and yielded in order."""
    src = Pages({1: ids("a", 2), 2: ids("b", 2), 3: ids("c", 1)}, size=2, total=5)
    assert await collect(src) == ids("a", 2) + ids("b", 2) + ids("c", 1)
    assert sorted(src.asked) == [1, 2, 3]


async def test_without_total_a_short_page_is_confirmed_once() -> None:
    """Without a total, the first short page ends the walk once one more request is empty."""
    src = Pages({1: ids("a", 2), 2: ids("b", 1)}, 2, None)
    assert await collect(src, concurrency=3) == ids("a", 2) + ids("b", 1)
    # Pages 1-4 at the page size (3 looked ahead), then page 2 again: a full page came
    # back, so the limit is not capped and the same limit looks once more.
    assert list(zip(src.asked, src.limits, strict=True))[-1] == (2, 2)
    assert len(src.asked) == 5


async def test_without_total_stops_at_an_empty_page() -> None:
    """An empty page ends a walk without total."""
    src = Pages({1: ids("a", 2), 2: ids("b", 2)}, 2, None)
    assert await collect(src, concurrency=2) == ids("a", 2) + ids("b", 2)


async def test_empty_listing_yields_one_empty_page() -> None:
    """A range with no calls costs one request and yields nothing."""
    src = Pages({}, 50, 0)
    assert await collect(src) == []
    assert src.asked == [1]


async def test_ignored_page_parameter_is_an_error() -> None:
    """A full page that repeats the previous one raises instead of looping forever."""

    class Same(Pages):
        async def fetch(self, page: int, limit: int) -> CallPage:
            self.asked.append(page)
            return fake_page(page, ids("a", 2), 2, None)

    src = Same({}, 2, None)
    with pytest.raises(AlohubError, match="ignore the 'page' parameter"):
        await collect(src)
    assert len(src.asked) < 10


async def test_failure_raises_after_the_prefix() -> None:
    """A failing page raises only after every earlier record was yielded."""
    src = Pages({p: ids(f"p{p}-", 2) for p in range(1, 6)}, 2, 10)
    src.failing[4] = ServerError(503)
    src.delays = {2: 0.03, 3: 0.03}  # page 4 fails while 2 and 3 are still in flight
    got: list[str] = []
    walk = walk_pages(src.fetch, keep, page_size=2, concurrency=4, stats=Stats())
    with pytest.raises(ServerError):
        async for page in walk:
            got.extend(r.call_id for r in page.items)
    assert got == ids("p1-", 2) + ids("p2-", 2) + ids("p3-", 2)


async def test_stopping_cancels_and_awaits_in_flight_requests() -> None:
    """aclose() cancels every in-flight page request and waits for it to finish."""
    src = Pages({p: ids(f"p{p}-", 2) for p in range(1, 20)}, 2, 38)
    src.delays = dict.fromkeys(range(2, 20), 10.0)
    walk = walk_pages(src.fetch, keep, page_size=2, concurrency=4, stats=Stats())
    first = await walk.__anext__()
    assert first.page == 1
    await asyncio.sleep(0)
    await walk.aclose()
    assert sorted(src.cancelled) == [2, 3, 4, 5]
    assert not client_tasks()


async def test_short_page_contradicting_its_total_is_an_error() -> None:
    """A page shorter than asked whose total says more rows exist: one look at its size,
    then IncompleteListingError, not a silent truncation."""
    src = Pages({1: ids("a", 20)}, size=50, total=1000)
    with pytest.raises(IncompleteListingError) as caught:
        await collect(src)
    assert (caught.value.expected, caught.value.received) == (1000, 20)
    assert list(zip(src.asked, src.limits, strict=True)) == [(1, 50), (2, 20)]


async def test_duplicates_across_neighbouring_pages_are_dropped() -> None:
    """A record repeated on the next page (rows shifted) is yielded once and counted."""
    stats = Stats()
    src = Pages({1: ["a", "b"], 2: ["b", "c"], 3: ["d"]}, 2, 5)
    walk = walk_pages(src.fetch, keep, page_size=2, concurrency=2, stats=stats)
    got = [r.call_id for page in [p async for p in walk] for r in page.items]
    assert got == ["a", "b", "c", "d"]
    assert stats.duplicates_dropped == 1
    assert stats.pages == 3  # records are counted as handed out, by WalkIterator


async def test_dedupe_memory_is_bounded() -> None:
    """Only the ids of the last few pages are remembered, not every id seen."""
    src = Pages({p: ids(f"p{p}-", 2) for p in range(1, 40)}, 2, None)
    src.pages[39] = ["p1-0"]  # a far-away repeat is not a neighbour: it is yielded again
    got = await collect(src, concurrency=2)
    assert got.count("p1-0") == 2


async def test_rows_pushed_past_the_planned_end_are_fetched() -> None:
    """When the latest total grows, pages past the planned last one are walked too."""

    class Growing(Pages):
        async def fetch(self, page: int, limit: int) -> CallPage:
            self.asked.append(page)
            total = 4 if page == 1 else 6
            return fake_page(page, ids(f"p{page}-", 2 if page <= 3 else 0), 2, total)

    src = Growing({}, 2, None)
    got = await collect(src, concurrency=1)
    assert got == ids("p1-", 2) + ids("p2-", 2) + ids("p3-", 2)


async def test_a_page_from_an_older_snapshot_is_fetched_again() -> None:
    """A page whose total is below its predecessor's is re-requested to avoid a gap."""

    class Stale(Pages):
        async def fetch(self, page: int, limit: int) -> CallPage:
            self.asked.append(page)
            stale = page == 2 and self.asked.count(2) == 1
            rows = ids(f"p{page}-", 2 if page <= 3 else 0)
            return fake_page(page, rows, 2, 4 if stale else 6)

    src = Stale({}, 2, None)
    await collect(src, concurrency=1)
    assert src.asked.count(2) == 2


# --- against FakeAlohub -----------------------------------------------------------------


def session_for(fake: FakeAlohub, **kwargs: object) -> AlohubSession:
    return fake.session(**kwargs)


async def test_order_under_random_latency() -> None:
    """Records come out in server order even when pages finish out of order."""
    async with FakeAlohub(calls=523, seed=3, latency=(0.0, 0.03)) as fake:
        async with fake.session(page_size=20, concurrency=6) as alohub:
            got = [c.call_id async for c in alohub.iter_calls(START, END)]
    assert got == expected_ids(fake)


@pytest.mark.parametrize("envelope", [Envelope(), Envelope(total_key=None), Envelope.bare_list()])
async def test_every_record_once_with_and_without_total(envelope: Envelope) -> None:
    """The walk yields exactly the server's records with and without a total."""
    async with FakeAlohub(calls=211, seed=5, envelope=envelope) as fake:
        async with fake.session(page_size=25, concurrency=4) as alohub:
            got = [c.call_id async for c in alohub.iter_calls(START, END)]
    assert got == expected_ids(fake)


async def test_in_flight_bound_is_observed_server_side() -> None:
    """The server never sees more than `concurrency` requests at once, and does see several."""
    async with FakeAlohub(calls=600, seed=1, latency=0.02) as fake:
        async with fake.session(page_size=20, concurrency=5) as alohub:
            got = [c async for c in alohub.iter_calls(START, END)]
    assert len(got) == 600
    assert 2 <= fake.counters.max_in_flight <= 5


async def test_lookahead_without_total_stops() -> None:
    """Without a total the walk requests at most `concurrency` pages past the last one."""
    async with FakeAlohub(calls=95, seed=2, envelope=Envelope(total_key=None)) as fake:
        async with fake.session(page_size=10, concurrency=3) as alohub:
            got = [c.call_id async for c in alohub.iter_calls(START, END)]
    assert got == expected_ids(fake)
    asked = [page for page, limit in fake.counters.list_pages if limit == 10]
    assert max(asked) <= 10 + 3
    # Page 10 held 5 rows: page 10 again, at the same limit, confirms the end.
    assert fake.counters.list_pages[-1] == (10, 10)


async def test_dedupe_on_shifting_rows() -> None:
    """Rows inserted at the head during the walk cause no duplicate and no gap."""
    async with FakeAlohub(calls=300, seed=4, latency=0.005) as fake:
        before = expected_ids(fake)
        fake.auto_insert(rows=3, every=1)
        async with fake.session(page_size=20, concurrency=4) as alohub:
            walk = alohub.iter_calls(START, END)
            got = [c.call_id async for c in walk]
    assert len(got) == len(set(got))
    assert [i for i in got if i in set(before)] == before
    assert walk.stats.duplicates_dropped > 0


async def test_server_ignoring_page_is_an_error() -> None:
    """A server that always answers page 1 makes the walk fail, not loop."""
    async with FakeAlohub(calls=300, seed=4, envelope=Envelope(total_key=None)) as fake:
        fake.ignore_page = True
        async with fake.session(page_size=20, concurrency=2) as alohub:
            with pytest.raises(AlohubError, match="page"):
                async for _ in alohub.iter_calls(START, END):
                    pass


async def test_early_break_stops_requests_and_leaves_no_task() -> None:
    """After breaking out and closing, no request is sent and no task is pending."""
    async with FakeAlohub(calls=2000, seed=6, latency=0.01) as fake:
        async with fake.session(page_size=10, concurrency=4) as alohub:
            walk = alohub.iter_calls(START, END)
            async with contextlib.aclosing(walk):
                async for n, _ in aenumerate(walk):
                    if n == 25:
                        break
            sent = walk.stats.requests
            assert not client_tasks()
            await asyncio.sleep(0.05)
            assert walk.stats.requests == sent  # nothing sent after the walk closed
            assert fake.counters.requests <= sent  # the server saw only those
            assert sent <= 1 + 4 + 4


async def test_close_cancels_walks_left_open() -> None:
    """close() cancels and awaits the requests of a walk nobody closed; it then fails clearly."""
    async with FakeAlohub(calls=2000, seed=6, latency=0.05) as fake:
        alohub = fake.session(page_size=10, concurrency=4)
        walk = alohub.iter_calls(START, END)
        await walk.__anext__()
        await alohub.close()
        assert not client_tasks()
        with pytest.raises(RuntimeError, match="closed during the walk"):
            async for _ in walk:
                pass


async def test_close_cancels_detail_requests_left_open() -> None:
    """close() also cancels a detail fan-out left suspended."""
    async with FakeAlohub(calls=200, seed=6, latency=0.05) as fake:
        alohub = fake.session(page_size=10, concurrency=2)
        details = alohub.iter_call_details(START, END, concurrency=8)
        await details.__anext__()
        await alohub.close()
        assert not client_tasks()
        with pytest.raises(RuntimeError, match="closed"):
            async for _ in details:
                pass


async def test_plain_break_cleans_up_too() -> None:
    """A bare break (no aclosing) also cancels the in-flight requests soon after."""
    async with FakeAlohub(calls=2000, seed=6, latency=0.01) as fake:
        async with fake.session(page_size=10, concurrency=4) as alohub:
            async for _ in alohub.iter_calls(START, END):
                break
            for _ in range(5):
                await asyncio.sleep(0)
            assert not client_tasks()


async def test_correct_prefix_before_a_failure() -> None:
    """A page that finally fails raises after every record of the pages before it."""
    async with FakeAlohub(calls=200, seed=8, latency=(0.0, 0.01)) as fake:
        fake.fail_page(5, Fault.status(400))
        async with fake.session(page_size=10, concurrency=4) as alohub:
            got: list[str] = []
            with pytest.raises(BadRequestError):
                async for call in alohub.iter_calls(START, END):
                    got.append(call.call_id)
    assert got == expected_ids(fake)[:40]


async def test_transient_failures_are_retried_within_the_walk(no_retry_waits: None) -> None:
    """5xx and resets during the walk are retried and lose nothing."""
    async with FakeAlohub(calls=150, seed=9) as fake:
        fake.fail_page(2, Fault.status(503, html=True), times=2)
        fake.fail_page(4, Fault.reset())
        async with fake.session(page_size=10, concurrency=3) as alohub:
            walk = alohub.iter_calls(START, END)
            got = [c.call_id async for c in walk]
    assert got == expected_ids(fake)
    assert walk.stats.retries == 3


async def test_iter_pages_yields_pages_in_order() -> None:
    """iter_pages yields one CallPage per page, numbered in order, with the total."""
    async with FakeAlohub(calls=45, seed=1) as fake:
        async with fake.session(page_size=10, concurrency=3) as alohub:
            pages = [p async for p in alohub.iter_pages(START, END)]
    assert [p.page for p in pages] == [1, 2, 3, 4, 5]
    assert [len(p.items) for p in pages] == [10, 10, 10, 10, 5]
    assert {p.total for p in pages} == {45}


async def test_walk_stats() -> None:
    """A walk's stats count its pages, records and requests."""
    async with FakeAlohub(calls=45, seed=1) as fake:
        async with fake.session(page_size=10) as alohub:
            walk = alohub.iter_calls(START, END)
            got = [c async for c in walk]
    assert (walk.stats.pages, walk.stats.records, walk.stats.requests) == (5, 45, 5)
    assert len(got) == 45


async def test_iter_call_details_in_list_order_with_bounded_concurrency() -> None:
    """Details come back in list order, with at most `concurrency` detail requests at once."""
    async with FakeAlohub(calls=60, seed=2, latency=(0.0, 0.02)) as fake:
        async with fake.session(page_size=10, concurrency=2) as alohub:
            details = [d async for d in alohub.iter_call_details(START, END, concurrency=6)]
    assert [d.call_id for d in details] == expected_ids(fake)
    assert all(d.transcript is not None or d.status != "ANSWERED" for d in details)
    assert fake.counters.max_in_flight <= 6 + 2


async def test_iter_call_details_failure_keeps_the_prefix() -> None:
    """A detail that fails raises after the details before it were yielded, in order."""
    async with FakeAlohub(calls=30, seed=2) as fake:
        async with fake.session(page_size=10) as alohub:
            got: list[str] = []
            with pytest.raises(NotFoundError):
                async for detail in alohub.iter_call_details(START, END, concurrency=1):
                    got.append(detail.call_id)
                    if len(got) == 5:
                        fake.script(Fault.status(404), endpoint="detail")
    assert got == expected_ids(fake)[: len(got)]
    assert 5 <= len(got) <= 6


async def test_iter_call_details_listing_failure_keeps_listed_details() -> None:
    """When the listing fails, the details of calls listed before it are still yielded."""
    async with FakeAlohub(calls=30, seed=2) as fake:
        fake.fail_page(2, Fault.status(400))
        async with fake.session(page_size=10, concurrency=1) as alohub:
            got: list[str] = []
            with pytest.raises(BadRequestError):
                async for detail in alohub.iter_call_details(START, END, concurrency=4):
                    got.append(detail.call_id)
    assert got == expected_ids(fake)[:10]


async def test_failed_detail_is_raised_before_later_details() -> None:
    """A failed detail raises at its turn; details listed after it are never yielded."""
    rows = [{"callId": "a"}, {"callId": "b"}]
    with aioresponses() as mocked:
        mocked.post(f"{BASE_URL}/api/report/call-logs", payload={"data": rows, "total": 2})
        mocked.get(f"{BASE_URL}/api/report/call-logs/a", status=404)
        mocked.get(f"{BASE_URL}/api/report/call-logs/b", payload={"callId": "b"})
        async with AlohubSession(api_key="k", access_token="t", base_url=BASE_URL) as alohub:
            got: list[str] = []
            with pytest.raises(NotFoundError):
                async for detail in alohub.iter_call_details(START, END, concurrency=4):
                    got.append(detail.call_id)
    assert got == []


async def test_iter_call_details_unusable_listed_id_fails_at_its_turn() -> None:
    """A listed id that no URL can carry fails as ResponseFormatError after those before it."""
    rows = [{"callId": "a"}, {"callId": "b"}, {"callId": "c 1"}, {"callId": "d"}]
    with aioresponses() as mocked:
        mocked.post(f"{BASE_URL}/api/report/call-logs", payload={"data": rows, "total": 4})
        for call_id in "abd":
            mocked.get(f"{BASE_URL}/api/report/call-logs/{call_id}", payload={"callId": call_id})
        async with AlohubSession(api_key="k", access_token="t", base_url=BASE_URL) as alohub:
            got: list[str] = []
            with pytest.raises(ResponseFormatError, match="c 1"):
                async for detail in alohub.iter_call_details(START, END, concurrency=4):
                    got.append(detail.call_id)
    assert got == ["a", "b"]


async def aenumerate(iterator: AsyncIterator[CallRecord]) -> AsyncIterator[tuple[int, CallRecord]]:
    n = 0
    async for item in iterator:
        yield n, item
        n += 1

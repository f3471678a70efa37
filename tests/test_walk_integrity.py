"""Walk integrity against misbehaving list endpoints: every row once, or a typed error.

Each case is one way a server was seen to lose rows or loop. Cases the fake can play are
run against `FakeAlohub` with a list misbehaviour switched on; the rest against a small
scripted server on 127.0.0.1 whose list handler computes each answer from ``page`` and
``limit``. Every walk here is bounded: a test that would loop forever fails instead.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from alohub_async import (
    AlohubError,
    AlohubSession,
    IncompleteListingError,
    PaginationError,
    ResponseFormatError,
)
from alohub_async.testing import Envelope, FakeAlohub, Fault
from tests.helpers import serve

START, END = "2026-01-01T00:00:00+07:00", "2026-01-31T23:59:59+07:00"

#: A scripted list handler: (page, limit, requests so far) -> the JSON body.
Answer = Callable[[int, int, int], Any]

#: No walk here may yield more than this many records (a loop would, and then fails).
RECORD_BOUND = 20_000
#: A scripted server answers 400 after this many list requests, so that a walk looping
#: without yielding ends (with the wrong error) instead of running forever.
REQUEST_BOUND = 1000


def expected_ids(fake: FakeAlohub) -> list[str]:
    return [record["call_id"] for record in fake.expected_records(START, END)]


def rows(n: int) -> list[dict[str, str]]:
    """``n`` records with ids c0000, c0001, ..."""
    return [{"callId": f"c{i:04d}"} for i in range(n)]


def ids_of(records: list[dict[str, str]]) -> list[str]:
    return [record["callId"] for record in records]


@asynccontextmanager
async def scripted(answer: Answer, **session: Any) -> AsyncIterator[AlohubSession]:
    """A session on a loopback server whose list endpoint answers ``answer(page, limit, n)``."""
    requests: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        requests.append(1)
        if len(requests) > REQUEST_BOUND:
            return web.json_response({"success": "0", "error_code": "TOO_MANY"}, status=400)
        return web.json_response(answer(body["page"], body["limit"], len(requests)))

    app = web.Application()
    app.router.add_post("/api/report/call-logs", handle)
    async with serve(app) as base_url:
        async with AlohubSession(
            api_key="k", access_token="t", base_url=base_url, **session
        ) as alohub:
            yield alohub


async def collect(alohub: AlohubSession, **kwargs: Any) -> tuple[list[str], Exception | None]:
    """Walk iter_calls to its end or its error, never past RECORD_BOUND records."""
    got: list[str] = []
    try:
        async for call in alohub.iter_calls(START, END, **kwargs):
            got.append(call.call_id)
            assert len(got) <= RECORD_BOUND, "the walk does not end"
    except AlohubError as exc:
        return got, exc
    return got, None


# --- 1. a total on page 1 only -----------------------------------------------------------


async def test_total_only_on_page_1_and_a_short_page_5_loses_nothing() -> None:
    """Page 1 says 1,000 rows, later pages carry no total, page 5 holds 49: all 1,000."""
    data = rows(1000)

    def answer(page: int, limit: int, _: int) -> Any:
        offset = (page - 1) * limit
        size = 49 if (page, limit) == (5, 50) else limit
        body: dict[str, Any] = {"success": "1", "data": data[offset : offset + size]}
        if page == 1:
            body["totalRecord"] = 1000
        return body

    async with scripted(answer) as alohub:
        got, error = await collect(alohub)
    assert error is None, repr(error)
    assert got == ids_of(data)


async def test_total_only_on_page_1_then_20_rows_a_page_loses_nothing() -> None:
    """Page 1 says 1,000 rows; pages 2+ hold 20 rows and no total: all 1,000, in order."""
    data = rows(1000)

    def answer(page: int, limit: int, _: int) -> Any:
        offset = (page - 1) * limit
        if page == 1:
            return {"success": "1", "data": data[:limit], "totalRecord": 1000}
        return {"success": "1", "data": data[offset : offset + min(limit, 20)]}

    async with scripted(answer) as alohub:
        got, error = await collect(alohub)
    assert error is None, repr(error)
    assert got == ids_of(data)


# --- 2. a server capping 'limit' ------------------------------------------------------------


@pytest.mark.parametrize("offsets", ["clamped", "requested"])
@pytest.mark.parametrize("envelope", [Envelope(), Envelope(total_key=None)], ids=["total", "none"])
async def test_a_capped_limit_is_adapted_to(
    offsets: str, envelope: Envelope, caplog: pytest.LogCaptureFixture
) -> None:
    """A server returning 20 rows when asked for 50: every row once, the switch recorded."""
    caplog.set_level(logging.DEBUG, logger="alohub_async")
    async with FakeAlohub(calls=1000, seed=3, envelope=envelope) as fake:
        fake.limit_cap = 20
        fake.cap_offsets = "clamped" if offsets == "clamped" else "requested"
        async with fake.session() as alohub:
            walk = alohub.iter_calls(START, END)
            got = [call.call_id async for call in walk]
    assert got == expected_ids(fake)
    assert walk.stats.limit_adaptations == 1
    assert walk.stats.duplicates_dropped == 0
    assert "with limit 20" in caplog.text


@pytest.mark.parametrize(
    ("calls", "requests"),
    [
        # A full page came back, so 'limit' is not capped: the short page 3 is asked again.
        (120, [(1, 50), (2, 50), (3, 50), (3, 50)]),
        # Page 1 is short: page 2 at its size (7) either holds more rows (a cap) or none.
        (7, [(1, 50), (2, 7)]),
    ],
)
async def test_without_a_total_the_end_costs_one_request_more(
    calls: int, requests: list[tuple[int, int]]
) -> None:
    """Without totals, a walk ending on a short page confirms it with one more request."""
    async with FakeAlohub(calls=calls, seed=3, envelope=Envelope(total_key=None)) as fake:
        async with fake.session(page_size=50, concurrency=1) as alohub:
            walk = alohub.iter_calls(START, END)
            got = [call.call_id async for call in walk]
    assert got == expected_ids(fake)
    assert fake.counters.list_pages == requests
    assert walk.stats.limit_adaptations == 0


# --- 3. totals where the envelope reader did not look ----------------------------------------


@pytest.mark.parametrize(
    "envelope",
    [
        Envelope(
            records_key="items", nested_under="data", total_key="total", total_block="pagination"
        ),
        Envelope(total_key="total", total_block="meta"),
        Envelope(total_key="totalCount", total_block="paging"),
    ],
    ids=["data.pagination.total", "meta.total", "paging.totalCount"],
)
async def test_totals_in_pagination_blocks_are_read(envelope: Envelope) -> None:
    """``{"data": {"items": [...], "pagination": {"total": N}}}`` and the like carry N."""
    async with FakeAlohub(calls=37, seed=1, envelope=envelope) as fake:
        async with fake.session() as alohub:
            page = await alohub.get_calls_page(START, END, page_size=10)
    assert page.total == 37


@pytest.mark.parametrize("total_format", ["dotted", "garbage"])
async def test_an_unreadable_total_is_no_total_and_loses_nothing(total_format: str) -> None:
    """``"totalRecord": "1.000"`` reads as no total; a capped limit is then still found."""
    async with FakeAlohub(calls=1000, seed=2) as fake:
        fake.total_format = "dotted" if total_format == "dotted" else "garbage"
        fake.limit_cap = 20
        async with fake.session() as alohub:
            page = await alohub.get_calls_page(START, END, page_size=10)
            got, error = await collect(alohub)
    assert page.total is None
    assert error is None, repr(error)
    assert got == expected_ids(fake)


# --- 4. duplicates inside one page -------------------------------------------------------------


async def test_duplicates_inside_a_page_are_dropped_and_fetched_once() -> None:
    """A row repeated inside one page is yielded once and its details fetched once."""
    async with FakeAlohub(calls=60, seed=4) as fake:
        fake.duplicate_rows = frozenset({3, 10, 49})  # 49: the repeat opens the next page
        async with fake.session(page_size=20) as alohub:
            walk = alohub.iter_calls(START, END)
            got = [call.call_id async for call in walk]
            details = [d.call_id async for d in alohub.iter_call_details(START, END)]
    assert got == expected_ids(fake)
    assert walk.stats.duplicates_dropped == 3
    assert details == got
    assert fake.counters.by_endpoint["detail"] == 60


# --- 5. a server ignoring 'page' ---------------------------------------------------------------


@pytest.mark.parametrize("inserted", [1, 50], ids=["one-row", "one-page"])
async def test_ignored_page_while_rows_are_inserted_is_an_error(inserted: int) -> None:
    """Every page is page 1, with new rows each time: PaginationError, bounded.

    One new row a request makes pages repeat far more rows than insertions explain; a
    page of new rows a request makes a listing that grows as fast as it is read.
    """
    async with FakeAlohub(calls=1000, seed=5) as fake:
        fake.ignore_page = True
        fake.auto_insert(rows=inserted)
        async with fake.session(concurrency=4) as alohub:
            got, error = await collect(alohub)
    assert isinstance(error, PaginationError), repr(error)
    if inserted == 1:
        assert "ignore the 'page' parameter" in str(error)
    assert len(got) == len(set(got))
    assert fake.counters.by_endpoint["list"] <= 1 + 2 * (4 + 4) + 4


async def test_the_same_page_with_a_total_growing_a_page_each_time_is_an_error() -> None:
    """The same 50 rows, the total up by 50 per request: the walk stops, bounded."""
    data = rows(50)
    sent: list[int] = []

    def answer(page: int, limit: int, n: int) -> Any:
        sent.append(page)
        return {"success": "1", "data": data, "totalRecord": 1000 + 50 * n}

    async with scripted(answer, concurrency=4) as alohub:
        got, error = await collect(alohub)
    assert isinstance(error, PaginationError), repr(error)
    assert got == ids_of(data)
    assert len(sent) <= 1 + 2 * (4 + 4) + 4


async def test_full_pages_far_past_the_total_are_an_error() -> None:
    """A server answering full pages of new rows forever under a fixed total stops, bounded."""

    def answer(page: int, limit: int, _: int) -> Any:
        offset = (page - 1) * limit
        return {"data": [{"callId": f"c{i}"} for i in range(offset, offset + limit)], "total": 100}

    async with scripted(answer, concurrency=2) as alohub:
        got, error = await collect(alohub)
    assert isinstance(error, PaginationError), repr(error)
    assert "twice the 2 pages of the total first seen (100)" in str(error)
    assert got == [f"c{i}" for i in range(len(got))]
    assert len(got) <= 50 * (2 * 2 + 2 + 2 + 1)


# --- 6. totals that disagree with the rows ------------------------------------------------------


async def test_a_total_below_the_rows_still_yields_every_row() -> None:
    """Total 950 over 1,000 rows: a full last planned page means look once more."""
    async with FakeAlohub(calls=1000, seed=6) as fake:
        fake.total_error = -50
        async with fake.session() as alohub:
            got, error = await collect(alohub)
    assert error is None, repr(error)
    assert got == expected_ids(fake)


@pytest.mark.parametrize("calls", [1000, 1010])
async def test_a_total_above_the_rows_is_an_incomplete_listing(calls: int) -> None:
    """Total 1,200 over 1,000 rows: all 1,000 yielded, then IncompleteListingError."""
    async with FakeAlohub(calls=calls, seed=6) as fake:
        fake.total_error = 1200 - calls
        async with fake.session() as alohub:
            got, error = await collect(alohub)
    assert got == expected_ids(fake)
    assert isinstance(error, IncompleteListingError), repr(error)
    assert (error.expected, error.received) == (1200, calls)
    assert f"ended after {calls} records" in str(error)
    assert "total is 1200" in str(error)


# --- 7. data: null in the middle of a walk ----------------------------------------------------


async def test_null_data_mid_walk_is_an_incomplete_listing() -> None:
    """``{"success": "1", "data": null}`` on page 3 of 20 is not the end: an error after 100."""
    async with FakeAlohub(calls=1000, seed=7) as fake:
        fake.fail_page(3, Fault.null_data())
        async with fake.session(concurrency=3) as alohub:
            got, error = await collect(alohub)
    assert got == expected_ids(fake)[:100]
    assert isinstance(error, IncompleteListingError), repr(error)
    assert (error.expected, error.received) == (1000, 100)


async def test_null_data_mid_detail_walk_keeps_the_listed_details() -> None:
    """iter_call_details yields the details listed before it, then the same error."""
    async with FakeAlohub(calls=30, seed=7) as fake:
        fake.fail_page(2, Fault.null_data())
        async with fake.session(page_size=10) as alohub:
            got: list[str] = []
            with pytest.raises(IncompleteListingError):
                async for detail in alohub.iter_call_details(START, END):
                    got.append(detail.call_id)
    assert got == expected_ids(fake)[:10]


# --- 8. more rows than 'limit' ------------------------------------------------------------------


async def test_a_page_with_more_rows_than_limit_is_refused() -> None:
    """A server ignoring 'limit' gets ResponseFormatError, and nothing is yielded."""
    async with FakeAlohub(calls=300, seed=8) as fake:
        fake.ignore_limit = True
        async with fake.session(page_size=50) as alohub:
            got, error = await collect(alohub)
            with pytest.raises(ResponseFormatError, match="300 records, more than the 50"):
                await alohub.get_calls_page(START, END, page_size=50)
    assert got == []
    assert isinstance(error, ResponseFormatError), repr(error)


# --- 12. a total of hundreds of digits ----------------------------------------------------------


@pytest.mark.parametrize("total", [10**400, "9" * 400, 1e300], ids=["int", "digits", "float"])
async def test_an_absurd_total_is_a_format_error(total: object) -> None:
    """A 400-digit total is ResponseFormatError, never OverflowError or ValueError."""

    def answer(page: int, limit: int, _: int) -> Any:
        return {"success": "1", "data": rows(3), "totalRecord": total}

    async with scripted(answer) as alohub:
        got, error = await collect(alohub)
        with pytest.raises(ResponseFormatError, match="not a plausible row count"):
            await alohub.get_calls_page(START, END)
    assert got == []
    assert isinstance(error, ResponseFormatError), repr(error)


# --- the errors themselves ------------------------------------------------------------------


def test_incomplete_listing_error_pickles_with_its_counts() -> None:
    """The new errors survive pickling (multiprocessing, task queues) with their attributes."""
    error = IncompleteListingError("short", expected=12, received=10)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.expected, copy.received) == (
        IncompleteListingError,
        "short",
        12,
        10,
    )
    assert isinstance(copy, PaginationError)

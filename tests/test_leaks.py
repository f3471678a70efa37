"""Stopping a walk early leaves nothing behind: no task, no checked-out connection, no request.

A walk is stopped by ``break``, ``aclose()``, cancelling the task that consumes it, or an
outside timeout, at points hypothesis picks. Afterwards no pending task runs client code,
the fake sees no further request, its handlers all finish, the connector holds no
connection (an owned session's is closed; a borrowed one's has none checked out), and the
event loop reported no error (such as an exception never retrieved).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

import aiohttp
import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alohub_async import AlohubError, AlohubSession, WalkIterator
from alohub_async.testing import FakeAlohub, Fault, Latency
from tests.helpers import client_tasks

START, END = "2026-01-01T00:00:00+07:00", "2026-01-31T23:59:59+07:00"

#: Longer than any latency used here: a request still on its way would have arrived.
QUIET = 0.03
#: How long cleanup that runs on its own (a dropped walk is finalized by the loop) may take.
SETTLE = 2.0

How = Literal["break", "aclose", "cancel", "timeout"]
Kind = Literal["calls", "pages", "details"]


# --- what to look at ----------------------------------------------------------------------


async def until(condition: Callable[[], bool], seconds: float = SETTLE) -> bool:
    """Wait until ``condition()`` holds, at most ``seconds``; tell whether it does."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.001)
    return True


def request_counter() -> tuple[list[str], set[aiohttp.ClientSession], aiohttp.TraceConfig]:
    """A TraceConfig that notes the URL of every request aiohttp starts, client side.

    It also notes the aiohttp session each request went through: the public way to see
    the one an AlohubSession created for itself.
    """
    started: list[str] = []
    clients: set[aiohttp.ClientSession] = set()

    async def on_request_start(
        session: aiohttp.ClientSession,
        _context: object,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        started.append(str(params.url))
        clients.add(session)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    return started, clients, trace


@contextlib.contextmanager
def loop_errors() -> Iterator[list[dict[str, Any]]]:
    """Collect what the running loop reports (e.g. "Task exception was never retrieved")."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        yield errors
    finally:
        loop.set_exception_handler(previous)


# --- the generated stop -------------------------------------------------------------------


@attrs.frozen
class Stop:
    """A walk, how and when it is stopped, and the server and client it runs against.

    ``token_provider`` makes the token come from an async callable (a request may then be
    cancelled while it waits for the token); ``rate_limit`` makes requests queue.
    """

    how: How
    kind: Kind
    after: int  # items consumed before stopping (break, aclose, cancel)
    seconds: float  # how long the timeout allows, or how long before cancelling
    calls: int
    page_size: int
    concurrency: int
    latency: Latency
    fault_rate: float
    borrowed: bool
    rate_limit: float | None
    token_provider: bool


stops = st.builds(
    Stop,
    how=st.sampled_from(["break", "aclose", "cancel", "timeout"]),
    kind=st.sampled_from(["calls", "pages", "details"]),
    after=st.integers(0, 60),
    seconds=st.one_of(st.just(0.0), st.floats(0.0, 0.03)),
    calls=st.integers(0, 300),
    page_size=st.integers(1, 20),
    concurrency=st.integers(1, 8),
    latency=st.one_of(st.just(0.0), st.floats(0.0005, 0.005).map(lambda high: (0.0, high))),
    fault_rate=st.sampled_from([0.0, 0.0, 0.1]),
    borrowed=st.booleans(),
    rate_limit=st.sampled_from([None, None, 1000.0]),
    token_provider=st.booleans(),
)


def open_walk(alohub: AlohubSession, kind: Kind, concurrency: int) -> WalkIterator[Any]:
    """Start one of the three walks."""
    if kind == "calls":
        return alohub.iter_calls(START, END)
    if kind == "pages":
        return alohub.iter_pages(START, END)
    return alohub.iter_call_details(START, END, concurrency=concurrency)


async def consume(walk: WalkIterator[Any], after: int | None = None) -> int:
    """Take items from ``walk``: all, or ``after`` of them then break; a walk error ends it."""
    taken = 0
    if after is not None and after <= 0:
        return taken
    with contextlib.suppress(AlohubError):
        async for _ in walk:
            taken += 1
            if after is not None and taken >= after:
                break
    return taken


async def stop_walk(stop: Stop, alohub: AlohubSession) -> None:
    """Run a walk and stop it the generated way; return once the consumer has stopped."""
    if stop.how == "break":
        # The walk is not kept: dropping it after the break is the only way it ends.
        await consume(open_walk(alohub, stop.kind, stop.concurrency), stop.after)
    elif stop.how == "aclose":
        walk = open_walk(alohub, stop.kind, stop.concurrency)
        await consume(walk, stop.after)
        await walk.aclose()
        assert not client_tasks(), "aclose() returned with requests still in flight"
    elif stop.how == "cancel":
        reached = asyncio.Event()

        async def consumer() -> None:
            taken = 0
            with contextlib.suppress(AlohubError):
                async for _ in open_walk(alohub, stop.kind, stop.concurrency):
                    taken += 1
                    if taken == stop.after:
                        reached.set()
            reached.set()

        task = asyncio.ensure_future(consumer())
        await reached.wait() if stop.after else await asyncio.sleep(stop.seconds)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    else:
        walk = open_walk(alohub, stop.kind, stop.concurrency)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(consume(walk), stop.seconds)


async def check_stop(stop: Stop) -> None:
    """Stop a walk as generated, then check that nothing is left behind."""
    with loop_errors() as errors:
        async with FakeAlohub(calls=stop.calls, latency=stop.latency) as fake:
            if stop.fault_rate:
                fake.error_rate(stop.fault_rate, Fault.status(503, html=True))
            started, clients, trace = request_counter()
            http = aiohttp.ClientSession(trace_configs=[trace]) if stop.borrowed else None
            try:

                async def provider() -> str:
                    await asyncio.sleep(0.001)
                    return fake.access_token

                alohub = fake.session(
                    page_size=stop.page_size,
                    concurrency=stop.concurrency,
                    client_session=http,
                    trace_configs=None if stop.borrowed else [trace],
                    rate_limit=stop.rate_limit,
                    access_token=provider if stop.token_provider else fake.access_token,
                )
                async with alohub:
                    await stop_walk(stop, alohub)
                    assert await until(lambda: not client_tasks()), client_tasks()
                    sent = len(started)
                    await asyncio.sleep(QUIET)
                    assert len(started) == sent, "a request was sent after the walk ended"
                    assert fake.counters.requests <= sent
                assert alohub.connections_in_use == 0
                if http is not None:
                    assert not http.closed
                else:  # the aiohttp session the AlohubSession created (if it sent anything)
                    assert all(client.closed for client in clients)
                assert await until(lambda: fake.counters.in_flight == 0)
            finally:
                if http is not None:
                    await http.close()
        assert not errors


@pytest.mark.property
@pytest.mark.usefixtures("no_retry_waits")
@given(stop=stops)
def test_stopping_a_walk_anywhere_leaves_nothing_behind(stop: Stop) -> None:
    """Break, aclose, cancel or timeout at any point: no task, connection or request remains."""
    asyncio.run(check_stop(stop))


# --- targeted cases -----------------------------------------------------------------------


async def test_borrowed_session_has_no_connection_checked_out_after_close() -> None:
    """A borrowed ClientSession stays open, with no connection in use, once the session closes."""
    async with FakeAlohub(calls=200, latency=0.002) as fake, aiohttp.ClientSession() as http:
        async with fake.session(page_size=10, concurrency=6, client_session=http) as alohub:
            async for _ in alohub.iter_calls(START, END):
                break
        assert not http.closed
        assert alohub.connections_in_use == 0
        assert await until(lambda: not client_tasks())


async def test_owned_session_closes_its_connector() -> None:
    """The ClientSession an AlohubSession created is closed with it, mid-walk or not."""
    _, clients, trace = request_counter()
    async with FakeAlohub(calls=200, latency=0.002) as fake:
        async with fake.session(page_size=10, concurrency=6, trace_configs=[trace]) as alohub:
            walk = alohub.iter_calls(START, END)
            await walk.__anext__()
            await walk.aclose()
        assert alohub.connections_in_use == 0
        assert len(clients) == 1
        assert all(client.closed for client in clients)


async def test_walk_closed_before_its_first_step_sends_nothing() -> None:
    """aclose() on a walk never iterated sends no request and leaves no task."""
    async with FakeAlohub(calls=50) as fake:
        async with fake.session() as alohub:
            for walk in (
                alohub.iter_calls(START, END),
                alohub.iter_pages(START, END),
                alohub.iter_call_details(START, END),
            ):
                await walk.aclose()
        await asyncio.sleep(QUIET)
    assert fake.counters.requests == 0
    assert not client_tasks()


async def test_cancelling_during_a_retry_wait_is_prompt() -> None:
    """A walk cancelled while a request waits to retry (Retry-After 60) stops at once."""
    async with FakeAlohub(calls=100) as fake:
        fake.fail_page(2, Fault.status(429, retry_after=60), times=5)
        async with fake.session(page_size=10, concurrency=2) as alohub:
            task = asyncio.ensure_future(consume(alohub.iter_calls(START, END)))
            assert await until(lambda: fake.counters.faults > 0)
            task.cancel()
            # Not a timing assertion: 20 s only tells "stopped" from "slept out the 60 s
            # Retry-After", however loaded the machine is.
            done, _ = await asyncio.wait((task,), timeout=20)
            assert task in done
            assert task.cancelled()
            assert not client_tasks()
            sent = fake.counters.requests
            await asyncio.sleep(QUIET)
            assert fake.counters.requests == sent


async def test_timeout_while_the_server_hangs_frees_the_server() -> None:
    """An outside timeout during a hanging request closes it: the server's handler ends too."""
    async with FakeAlohub(calls=100) as fake:
        fake.fail_page(3, Fault.hang())  # until the client leaves
        async with fake.session(page_size=10, concurrency=3) as alohub:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(consume(alohub.iter_calls(START, END)), 0.2)
            assert not client_tasks()
            assert await until(lambda: fake.counters.in_flight == 0)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout() is new in 3.11")
async def test_asyncio_timeout_block_ends_the_walk_cleanly() -> None:
    """An ``async with asyncio.timeout()`` block around a walk cancels it and its requests."""
    async with FakeAlohub(calls=500, latency=0.01) as fake:
        async with fake.session(page_size=10, concurrency=4) as alohub:
            taken = 0
            if sys.version_info >= (3, 11):
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.05):
                        async for _ in alohub.iter_calls(START, END):
                            taken += 1
            assert taken < 500
            assert not client_tasks()
            assert await until(lambda: fake.counters.in_flight == 0)
            sent = fake.counters.requests
            await asyncio.sleep(QUIET)
            assert fake.counters.requests == sent


async def test_cancelling_a_detail_walk_cancels_its_detail_requests() -> None:
    """Cancelling a task consuming iter_call_details ends every detail and page request."""
    async with FakeAlohub(calls=200) as fake:
        fake.set_latency(0.05, "detail")
        async with fake.session(page_size=10, concurrency=2) as alohub:
            walk = alohub.iter_call_details(START, END, concurrency=8)
            task = asyncio.ensure_future(consume(walk))
            assert await until(lambda: fake.counters.in_flight >= 8)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert not client_tasks()
            assert await until(lambda: fake.counters.in_flight == 0)
            sent = fake.counters.requests
            await asyncio.sleep(0.1)
            assert fake.counters.requests == sent


async def test_a_failing_page_leaves_no_exception_unretrieved() -> None:
    """When a page fails, the requests still in flight are cancelled and their outcome read."""
    async with FakeAlohub(calls=300, latency=(0.0, 0.005)) as fake:
        with loop_errors() as errors:
            fake.fail_page(2, Fault.status(400))
            fake.error_rate(1.0, Fault.status(500), endpoint="list", page=4)
            async with fake.session(page_size=10, concurrency=6, max_retries=0) as alohub:
                with pytest.raises(AlohubError):
                    await consume_raising(alohub)
                assert not client_tasks()
        assert not errors


async def consume_raising(alohub: AlohubSession) -> None:
    """Consume iter_calls to the end, letting its error out."""
    async for _ in alohub.iter_calls(START, END):
        pass


async def test_closing_the_session_under_an_open_walk_cancels_it() -> None:
    """close() with a walk still open ends its requests at once; the walk then fails clearly."""
    async with FakeAlohub(calls=300, latency=(0.0, 0.005)) as fake, aiohttp.ClientSession() as http:
        async with fake.session(page_size=10, concurrency=4, client_session=http) as alohub:
            walk = alohub.iter_calls(START, END)
            await walk.__anext__()
        assert not client_tasks()
        assert alohub.connections_in_use == 0
        with pytest.raises(RuntimeError, match="closed"):
            async for _ in walk:
                pass
        await walk.aclose()
        assert not client_tasks()

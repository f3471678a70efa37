"""What a newcomer tripped over (issue 11): counters, read-only settings, loops, types,
starting a walk early, a session-wide request cap, errors, base URLs and retry logs."""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import stamina
from aiohttp import web
from aioresponses import aioresponses

import alohub_async
from alohub_async import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_RECORDING_SIZE,
    DEFAULT_SERVER_TZ,
    DEFAULT_TZ,
    AlohubError,
    AlohubSession,
    APIConnectionError,
    APIResponseError,
    AuthenticationError,
    CallPage,
    Direction,
    NotFoundError,
    RecordingOutcome,
    ResponseFormatError,
    ServerError,
    TimeInput,
    TokenProvider,
)
from alohub_async.testing import FakeAlohub, Fault
from tests.helpers import ACCESS_TOKEN, API_KEY, client_tasks, serve

START, END = date(2026, 1, 1), date(2026, 1, 31)


# --- 1. walk counters count what was handed out ----------------------------------------


async def test_walk_stats_count_the_records_yielded_not_the_pages() -> None:
    """Breaking after one record, or after 237, counts exactly that many records."""
    async with FakeAlohub(calls=400) as fake, fake.session(page_size=50) as alohub:
        async with alohub.iter_calls(START, END) as calls:
            async for _ in calls:
                break
        assert calls.stats.records == 1
        assert calls.stats.records_received >= 50  # a whole page did arrive
        taken = 0
        async with alohub.iter_calls(START, END) as calls:
            async for _ in calls:
                taken += 1
                if taken == 237:
                    break
        assert calls.stats.records == 237
        assert alohub.stats.records == 238  # the session adds up its walks
        assert alohub.stats.records_received >= calls.stats.records_received


async def test_page_and_detail_walks_count_what_they_handed_out() -> None:
    """iter_pages counts the records of the pages it yielded; details count details."""
    async with FakeAlohub(calls=120) as fake, fake.session(page_size=50) as alohub:
        async with alohub.iter_pages(START, END) as pages:
            first = await pages.__anext__()
        assert pages.stats.records == len(first.items) == 50
        async with alohub.iter_call_details(START, END) as details:
            got = [await details.__anext__() for _ in range(3)]
        assert len(got) == 3 and details.stats.records == 3


# --- 2. configuration is read-only -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("base_url", "http://example.com"),
        ("timeout", 0.001),
        ("tz", "UTC"),
        ("server_tz", "UTC"),
        ("page_size", 10),
        ("concurrency", 1),
        ("max_retries", 0),
        ("max_in_flight", 1),
        ("rate_limit", 1.0),
        ("max_body_size", 1),
        ("stats", None),
    ],
)
def test_configuration_cannot_be_assigned(name: str, value: object) -> None:
    """Assigning a setting raises AttributeError and leaves the session as configured."""
    alohub = AlohubSession(API_KEY, ACCESS_TOKEN)
    before = getattr(alohub, name)
    with pytest.raises(AttributeError):
        setattr(alohub, name, value)
    assert getattr(alohub, name) is before


# --- 3. one session, one event loop ------------------------------------------------------


def test_a_session_used_from_a_second_loop_says_so() -> None:
    """A second asyncio.run gets a clear RuntimeError, and nothing warns about leaks."""
    box: dict[str, Any] = {}

    async def first() -> None:
        fake = FakeAlohub(calls=10)
        await fake.start()
        box["alohub"] = fake.session()
        try:
            await box["alohub"].get_calls_page(START, END)
        finally:
            await fake.close()

    async def second() -> None:
        await box["alohub"].get_calls_page(START, END)

    asyncio.run(first())
    with pytest.raises(RuntimeError, match="another event loop"):
        asyncio.run(second())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del box["alohub"]
        gc.collect()
    assert [str(w.message) for w in caught] == []


# --- 4. wrong types are TypeError ----------------------------------------------------------


async def test_wrong_types_raise_type_error_before_sending(
    mocked: aioresponses, session: AlohubSession
) -> None:
    """get_call(123), an epoch number, a string page size: TypeError, nothing sent."""
    with pytest.raises(TypeError, match="call_id"):
        await session.get_call(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        session.iter_calls(1769792400, 1769878800)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="page_size"):
        session.iter_calls(START, END, page_size="50")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="page"):
        await session.get_calls_page(START, END, page="2")  # type: ignore[arg-type]
    assert not mocked.requests


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout": "30"}, {"max_retries": 2.0}, {"page_size": "50"}, {"rate_limit": "5"}],
)
def test_wrong_setting_types_raise_type_error(kwargs: dict[str, Any]) -> None:
    """The constructor refuses a setting of the wrong type with TypeError."""
    with pytest.raises(TypeError, match=next(iter(kwargs))):
        AlohubSession(API_KEY, ACCESS_TOKEN, **kwargs)


# --- 5. start a walk before streaming it ----------------------------------------------------


async def test_start_raises_a_first_page_error_before_iterating() -> None:
    """await walk.start() raises the first request's error, for each kind of walk."""
    async with FakeAlohub(calls=50) as fake, fake.session(max_retries=0) as alohub:
        for walk in (
            alohub.iter_calls(START, END),
            alohub.iter_pages(START, END),
            alohub.iter_call_details(START, END),
        ):
            fake.fail_page(1, Fault.status(401))
            with pytest.raises(AuthenticationError):
                await walk.start()
            await walk.aclose()


async def test_start_keeps_the_first_item_for_the_iteration() -> None:
    """After start() the walk yields everything, its first item included, exactly once."""
    async with FakeAlohub(calls=120) as fake, fake.session(page_size=50) as alohub:
        expected = [c.call_id async for c in alohub.iter_calls(START, END)]
        calls = await alohub.iter_calls(START, END).start()
        assert calls.stats.requests >= 1 and calls.stats.records == 0
        await calls.start()  # a second start changes nothing
        assert [c.call_id async for c in calls] == expected
        pages = await alohub.iter_pages(START, END).start()
        got = [p async for p in pages]
        assert isinstance(got[0], CallPage) and sum(len(p.items) for p in got) == 120
        details = await alohub.iter_call_details(START, END).start()
        assert [d.call_id async for d in details] == expected
        empty = await alohub.iter_calls(date(2001, 1, 1), date(2001, 1, 2)).start()
        assert [c async for c in empty] == []


# --- 7. str(Direction) --------------------------------------------------------------------


def test_direction_prints_its_value() -> None:
    """str() and f-strings give "inbound", not "Direction.INBOUND"."""
    assert str(Direction.INBOUND) == "inbound"
    assert f"{Direction.OUTBOUND}" == "outbound"
    assert f"{Direction.INTERNAL:>10}" == "  internal"


# --- 8. a session-wide cap on requests in flight -------------------------------------------


async def _crowd(fake: FakeAlohub, **settings: Any) -> int:
    """Run 6 walks and 6 detail requests at once; return the fake's peak concurrency."""
    async with fake.session(page_size=10, concurrency=4, **settings) as alohub:
        ids = [c.call_id for c in (await alohub.get_calls_page(START, END)).items[:6]]
        fake.counters.max_in_flight = 0

        async def walk() -> int:
            return len([c async for c in alohub.iter_calls(START, END)])

        jobs = [walk() for _ in range(6)] + [alohub.get_call(i) for i in ids]
        await asyncio.gather(*jobs)
    return fake.counters.max_in_flight


async def test_max_in_flight_caps_every_request_of_the_session() -> None:
    """Walks and detail requests together never exceed max_in_flight at the server."""
    async with FakeAlohub(calls=200, latency=0.02) as fake:
        assert await _crowd(fake) > 3  # without the cap the walks do overlap
        assert await _crowd(fake, max_in_flight=3) <= 3


async def _recording_crowd(fake: FakeAlohub, directory: Path, **settings: Any) -> int:
    """Download a day's recordings 6 at a time; return the fake's peak concurrency."""
    await asyncio.to_thread(directory.mkdir)
    async with fake.session(**settings) as alohub:
        fake.counters.max_in_flight = 0
        results = [
            result
            async for result in alohub.download_recordings(
                "2026-01-20", "2026-01-20", directory, concurrency=6
            )
        ]
    assert sum(result.outcome is RecordingOutcome.SAVED for result in results) > 6
    return fake.counters.max_in_flight


async def test_max_in_flight_caps_recording_downloads_too(tmp_path: Path) -> None:
    """A recording holds a slot from its request until its body is read."""
    async with FakeAlohub(calls=300) as fake:
        fake.set_latency(0.02, endpoint="recording")
        assert await _recording_crowd(fake, tmp_path / "free") > 2  # downloads overlap
        assert await _recording_crowd(fake, tmp_path / "capped", max_in_flight=2) <= 2


@pytest.mark.parametrize(("value", "error"), [(0, ValueError), ("3", TypeError)])
def test_max_in_flight_is_validated(value: object, error: type[Exception]) -> None:
    """A cap below 1 or of the wrong type is refused when the session is made."""
    with pytest.raises(error, match="max_in_flight"):
        AlohubSession(API_KEY, ACCESS_TOKEN, max_in_flight=value)  # type: ignore[arg-type]


# --- 9. WalkIterator: async with, repr -----------------------------------------------------


async def test_walk_is_an_async_context_manager_with_a_useful_repr() -> None:
    """async with closes the walk on exit (nothing left running); repr shows range, stats."""
    async with FakeAlohub(calls=300, latency=0.01) as fake, fake.session(page_size=10) as alohub:
        async with alohub.iter_calls(START, END) as calls:
            await calls.__anext__()
            assert client_tasks()  # page requests are in flight
        assert not client_tasks()
        text = repr(calls)
        assert "calls 2026-01-01T00:00:00+07:00 .. 2026-01-31T23:59:59+07:00" in text
        assert "records=1" in text and "closed" in text
        with pytest.raises(StopAsyncIteration):
            await calls.__anext__()


# --- 10. public names of help()'s types and defaults ---------------------------------------


def test_type_names_and_defaults_are_exported() -> None:
    """The names help() shows can be imported from the package."""
    assert AlohubSession(API_KEY, ACCESS_TOKEN).base_url == DEFAULT_BASE_URL
    assert AlohubSession(API_KEY, ACCESS_TOKEN).max_body_size == DEFAULT_MAX_BODY_SIZE
    assert DEFAULT_MAX_RECORDING_SIZE > 0
    assert DEFAULT_TZ == DEFAULT_SERVER_TZ == "Asia/Ho_Chi_Minh"

    async def provider() -> str:
        return ACCESS_TOKEN

    typed: TokenProvider = provider
    when: TimeInput = datetime(2026, 1, 1)
    assert typed is provider and when
    assert {"TimeInput", "TokenProvider", "DEFAULT_TZ"} <= set(alohub_async.__all__)


# --- 11. uniform errors --------------------------------------------------------------------

NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n" + "<!-- padding -->\r\n" * 80 + "</html>\r\n"
)


async def test_every_error_has_message_method_url_and_a_one_line_body() -> None:
    """.message is str(error) on every class; method, URL and a one-line body excerpt."""
    async with FakeAlohub(calls=20) as fake, fake.session(max_retries=0) as alohub:
        list_url = fake.url + "/api/report/call-logs"
        errors: list[AlohubError] = []
        for fault in (Fault.malformed_json(), Fault.failure_body("E9", "lạ"), Fault.reset()):
            fake.fail_page(1, fault)
            with pytest.raises(AlohubError) as info:
                await alohub.get_calls_page(START, END)
            errors.append(info.value)
        assert [type(e) for e in errors] == [
            ResponseFormatError,
            APIResponseError,
            APIConnectionError,
        ]
        for error in errors:
            assert error.message == str(error)
            assert (error.method, error.url) == ("POST", list_url)
        assert errors[0].body  # the body that was not JSON
        assert isinstance(errors[1], APIResponseError)
        assert (errors[1].code, errors[1].server_message) == ("E9", "lạ")


async def test_an_nginx_page_is_quoted_on_one_line() -> None:
    """A 502 HTML page with CR LF becomes a collapsed, capped excerpt, in .body and text."""

    async def nginx(request: web.Request) -> web.Response:
        return web.Response(status=502, text=NGINX_502, content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", nginx)
    async with (
        serve(app) as url,
        AlohubSession(API_KEY, ACCESS_TOKEN, base_url=url, max_retries=0) as alohub,
    ):
        with pytest.raises(ServerError) as info:
            await alohub.get_call("c1")
    error = info.value
    assert error.body.startswith("<html> <head><title>502 Bad Gateway</title>")
    assert len(error.body) <= 500 and error.body.endswith("...")
    for text in (error.body, error.message):
        assert "\r" not in text and "\n" not in text and "  " not in text
    assert error.message == str(error) and len(error.message) < 400


# --- 12. a base URL with a path -----------------------------------------------------------


async def test_a_base_url_with_a_path_is_named_as_the_problem() -> None:
    """A 404 from the list endpoint, or a non-JSON 404 for a detail, blames the base URL."""
    async with FakeAlohub(calls=5) as fake:
        async with fake.session(base_url=fake.url + "/api", max_retries=0) as alohub:
            with pytest.raises(AlohubError, match="base URL is wrong") as listing:
                await alohub.get_calls_page(START, END)
            with pytest.raises(AlohubError, match="base URL is wrong"):
                await alohub.get_call("20210222084953-NSOJCGOO-49278")
        assert "no such call" not in str(listing.value)
        assert f"base_url '{fake.url}/api'" in str(listing.value)
        assert "without a path" in str(listing.value)
        # The API's own JSON 404 for a detail still means "no such call".
        fake.missing_detail_404 = True
        async with fake.session(max_retries=0) as alohub:
            with pytest.raises(NotFoundError) as missing:
                await alohub.get_call("no-such-call")
        assert "base URL" not in str(missing.value)


# --- 13. retry logs --------------------------------------------------------------------------


async def test_each_retry_is_logged_under_alohub_async_only(
    caplog: pytest.LogCaptureFixture, no_retry_waits: None
) -> None:
    """One WARNING per retry with method, path, reason, attempt n/N, wait; no stamina line."""
    caplog.set_level(logging.DEBUG)
    async with FakeAlohub(calls=5) as fake, fake.session(max_retries=2) as alohub:
        fake.fail_page(1, Fault.status(503))
        fake.fail_page(1, Fault.reset())
        await alohub.get_calls_page(START, END)
    retries = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.name for r in retries] == ["alohub_async", "alohub_async"]
    first, second = (r.getMessage() for r in retries)
    assert first == (
        "POST /api/report/call-logs failed with HTTP 503 (attempt 1/3); retrying in 0.0 s"
    )
    assert second.endswith("failed with APIConnectionError (attempt 2/3); retrying in 0.0 s")
    assert not [r for r in caplog.records if r.name == "stamina"]


def test_a_users_own_stamina_retries_are_still_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Only alohub_async's retries lose stamina's line: the filter is scoped to them."""
    caplog.set_level(logging.DEBUG)
    calls = []

    @stamina.retry(on=ValueError, attempts=2, wait_initial=0, wait_jitter=0)
    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError

    flaky()
    assert [r.getMessage() for r in caplog.records if r.name == "stamina"] == [
        "stamina.retry_scheduled"
    ]

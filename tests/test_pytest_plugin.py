"""Tests of alohub_async.testing.pytest_plugin: the alohub_fake fixture and its marker."""

from __future__ import annotations

import re
import textwrap

import aiohttp
import pytest

from alohub_async import AlohubSession
from alohub_async._retry import retry_waits_enabled
from alohub_async.testing import DEMO_ACCESS_TOKEN, DEMO_API_KEY, Envelope, FakeAlohub

pytest_plugins = ["pytester"]


async def test_fixture_yields_a_running_fake(alohub_fake: FakeAlohub) -> None:
    """The fixture yields a FakeAlohub already serving on 127.0.0.1 with demo credentials."""
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", alohub_fake.url)
    assert (alohub_fake.api_key, alohub_fake.access_token) == (DEMO_API_KEY, DEMO_ACCESS_TOKEN)
    headers = {"Authorization": alohub_fake.api_key, "X-ACCESS-TOKEN": alohub_fake.access_token}
    body = {
        "callStartTime": "2026-01-01T00:00:00+07:00",
        "callEndtime": "2026-02-01T00:00:00+07:00",
        "page": 1,
        "limit": 1,
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(alohub_fake.url + "/api/report/call-logs", json=body, headers=headers) as resp,
    ):
        assert resp.status == 200
    assert alohub_fake.counters.requests == 1


@pytest.mark.alohub_fake(calls=25, seed=3, envelope=Envelope(records_key="items"))
async def test_marker_configures_the_fake(alohub_fake: FakeAlohub) -> None:
    """``@pytest.mark.alohub_fake(**kwargs)`` passes its arguments to FakeAlohub."""
    assert (alohub_fake.data.calls, alohub_fake.data.seed) == (25, 3)
    assert alohub_fake.envelope.records_key == "items"


async def test_fixture_keeps_retry_waits(alohub_fake: FakeAlohub) -> None:
    """The plugin changes no global state: retries still wait by default."""
    assert retry_waits_enabled()


async def test_session_factory_returns_an_alohub_session(alohub_fake: FakeAlohub) -> None:
    """``session()`` builds an AlohubSession pointed at the fake."""
    async with alohub_fake.session(max_retries=0) as alohub:
        assert isinstance(alohub, AlohubSession)
        assert alohub.base_url.rstrip("/") == alohub_fake.url


def test_fixture_works_in_strict_mode(pytester: pytest.Pytester) -> None:
    """A user suite in pytest-asyncio strict mode gets the fixture and the marker."""
    pytester.makepyfile(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.asyncio
            @pytest.mark.alohub_fake(calls=7)
            async def test_user(alohub_fake):
                assert alohub_fake.data.calls == 7
                assert alohub_fake.url.startswith("http://127.0.0.1:")
            """
        )
    )
    result = pytester.runpytest_inprocess(
        "-o",
        "asyncio_mode=strict",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "--strict-markers",
        "-W",
        "error",
    )
    result.assert_outcomes(passed=1)


def test_no_retry_waits_fixture_is_opt_in(alohub_no_retry_waits: None) -> None:
    """Requesting alohub_no_retry_waits switches waiting off for that test only."""
    assert not retry_waits_enabled()

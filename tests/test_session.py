"""AlohubSession: lifecycle, credentials, request shape, retries, error mapping."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import ssl
import tempfile
import time
from datetime import date, datetime
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web
from aioresponses import aioresponses
from yarl import URL

import alohub_async
from alohub_async import (
    AlohubError,
    AlohubSession,
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CallDetail,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
)
from alohub_async.testing import FakeAlohub, Fault
from tests.helpers import ACCESS_TOKEN, API_KEY, BASE_URL

LIST_URL = f"{BASE_URL}/api/report/call-logs"
CALL_ID = "20260121095227-IMCRRNJW-342"
DETAIL_URL = f"{LIST_URL}/{CALL_ID}"
RECORD = {"callId": CALL_ID, "callStartTime": "2026-01-21 09:52:27", "caller": "0912345678"}
OK_PAGE = {"success": "1", "error_code": "SUCCESS", "data": [RECORD], "totalRecord": 1}


def sent(mocked: aioresponses, method: str, url: str) -> list[Any]:
    """The calls aioresponses recorded for one method and URL."""
    return list(mocked.requests.get((method, URL(url)), []))


# --- construction -----------------------------------------------------------------------


def test_missing_api_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a key argument or ALOHUB_API_KEY, construction fails and says how to fix it."""
    monkeypatch.delenv("ALOHUB_API_KEY", raising=False)
    with pytest.raises(ValueError, match="ALOHUB_API_KEY"):
        AlohubSession(access_token="t")


def test_missing_access_token_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a token argument or ALOHUB_ACCESS_TOKEN, construction fails."""
    monkeypatch.delenv("ALOHUB_ACCESS_TOKEN", raising=False)
    with pytest.raises(ValueError, match="ALOHUB_ACCESS_TOKEN"):
        AlohubSession(api_key="k")


async def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Key, token and base URL fall back to the ALOHUB_* variables."""
    monkeypatch.setenv("ALOHUB_API_KEY", "env-key")
    monkeypatch.setenv("ALOHUB_ACCESS_TOKEN", "env-token")
    monkeypatch.setenv("ALOHUB_BASE_URL", "https://env.example/")
    with aioresponses() as mocked:
        mocked.get(f"https://env.example/api/report/call-logs/{CALL_ID}", payload=RECORD)
        async with AlohubSession() as alohub:
            assert alohub.base_url == "https://env.example"
            await alohub.get_call(CALL_ID)
        headers = sent(mocked, "GET", f"https://env.example/api/report/call-logs/{CALL_ID}")[0]
    assert headers.kwargs["headers"]["Authorization"] == "env-key"
    assert headers.kwargs["headers"]["X-ACCESS-TOKEN"] == "env-token"


def test_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without base_url or ALOHUB_BASE_URL the production URL is used."""
    monkeypatch.delenv("ALOHUB_BASE_URL", raising=False)
    assert AlohubSession(api_key="k", access_token="t").base_url == "https://app.alohub.vn:9909"


def test_plain_http_is_refused_off_loopback() -> None:
    """base_url must be https unless the host is loopback."""
    with pytest.raises(ValueError, match="https"):
        AlohubSession(api_key="k", access_token="t", base_url="http://app.alohub.vn:9909")
    AlohubSession(api_key="k", access_token="t", base_url="http://127.0.0.1:9909")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"page_size": 0}, "page_size"),
        ({"concurrency": -1}, "concurrency"),
        ({"max_retries": -1}, "max_retries"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"rate_limit": float("inf")}, "rate_limit"),
        ({"tz": "Nowhere/Land"}, "time zone"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"max_body_size": 0}, "max_body_size"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, Any], match: str) -> None:
    """Each invalid option is a ValueError naming it."""
    with pytest.raises(ValueError, match=match):
        AlohubSession(api_key="k", access_token="t", **kwargs)


def test_header_injection_is_refused() -> None:
    """A key with a newline is refused without echoing it."""
    with pytest.raises(ValueError, match="api_key") as info:
        AlohubSession(api_key="k\r\nX-Evil: 1", access_token="t")
    assert "Evil" not in str(info.value)


def test_repr_hides_secrets() -> None:
    """repr() shows the base URL and state but neither key nor token."""
    alohub = AlohubSession(api_key=API_KEY, access_token=ACCESS_TOKEN, base_url=BASE_URL)
    text = repr(alohub) + str(alohub)
    assert BASE_URL in text
    assert "SECRET" not in text


# --- lifecycle --------------------------------------------------------------------------


def client_spy() -> tuple[set[aiohttp.ClientSession], aiohttp.TraceConfig]:
    """A TraceConfig noting the aiohttp session each request goes through.

    aiohttp's public trace hooks receive it: the way to see, from outside, the one an
    AlohubSession created for itself.
    """
    clients: set[aiohttp.ClientSession] = set()

    async def on_request_start(client: aiohttp.ClientSession, *_: object) -> None:
        clients.add(client)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    return clients, trace


async def test_close_is_idempotent() -> None:
    """close() may be called any number of times."""
    alohub = AlohubSession(api_key="k", access_token="t", base_url=BASE_URL)
    await alohub.close()
    await alohub.close()
    assert alohub.closed


async def test_concurrent_closes_all_wait_for_the_close() -> None:
    """A close() called while another is under way returns only once closing is done."""
    clients, trace = client_spy()
    async with FakeAlohub(calls=500, latency=0.05) as fake:
        alohub = fake.session(page_size=10, trace_configs=[trace])
        walk = alohub.iter_calls(FAKE_START, FAKE_END)
        await walk.__anext__()  # leaves page requests in flight
        assert alohub.connections_in_use > 0
        first = asyncio.ensure_future(alohub.close())
        await asyncio.sleep(0)
        await alohub.close()
        assert len(clients) == 1
        assert all(client.closed for client in clients)
        assert alohub.connections_in_use == 0
        await first


async def test_cancelled_close_still_closes() -> None:
    """Cancelling close() does not leave the owned aiohttp session open."""
    clients, trace = client_spy()
    async with FakeAlohub(calls=5) as fake:
        alohub = fake.session(trace_configs=[trace])
        await alohub.get_calls_page(FAKE_START, FAKE_END)
        closing = asyncio.ensure_future(alohub.close())
        await asyncio.sleep(0)
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        await alohub.close()
        assert len(clients) == 1
        assert all(client.closed for client in clients)


async def test_closed_session_refuses_requests(mocked: aioresponses) -> None:
    """A closed session raises a clear error instead of sending."""
    async with AlohubSession(api_key="k", access_token="t", base_url=BASE_URL) as alohub:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        await alohub.get_call(CALL_ID)
    with pytest.raises(RuntimeError, match="closed"):
        alohub.iter_calls(date(2026, 1, 1), date(2026, 1, 2))
    with pytest.raises(RuntimeError, match="closed"):
        async with alohub:
            pass
    assert not mocked.requests


async def test_entering_twice_is_refused() -> None:
    """An open session cannot be entered again."""
    async with AlohubSession(api_key="k", access_token="t", base_url=BASE_URL) as alohub:
        with pytest.raises(RuntimeError, match="already open"):
            await alohub.__aenter__()


async def test_borrowed_client_session_is_not_closed(mocked: aioresponses) -> None:
    """A client_session passed in stays open after the AlohubSession closes."""
    mocked.get(DETAIL_URL, payload=RECORD)
    async with aiohttp.ClientSession() as client:
        async with AlohubSession(
            api_key="k", access_token="t", base_url=BASE_URL, client_session=client
        ) as alohub:
            await alohub.get_call(CALL_ID)
        assert not client.closed


async def test_owned_client_session_is_closed() -> None:
    """The aiohttp session the client created is closed with it."""
    clients, trace = client_spy()
    async with FakeAlohub(calls=5) as fake:
        async with fake.session(trace_configs=[trace]) as alohub:
            await alohub.get_calls_page(FAKE_START, FAKE_END)
            assert not any(client.closed for client in clients)
    assert len(clients) == 1
    assert all(client.closed for client in clients)


async def test_usable_without_async_with(mocked: aioresponses) -> None:
    """A session opens lazily on first use and closes with close()."""
    mocked.get(DETAIL_URL, payload=RECORD)
    alohub = AlohubSession(api_key="k", access_token="t", base_url=BASE_URL)
    try:
        assert (await alohub.get_call(CALL_ID)).call_id == CALL_ID
    finally:
        await alohub.close()


def test_version_comes_from_metadata() -> None:
    """__version__ is the installed distribution's version."""
    from importlib.metadata import version

    assert alohub_async.__version__ == version("alohub-async")


# --- request shape ----------------------------------------------------------------------


async def test_list_request_shape(mocked: aioresponses, session: AlohubSession) -> None:
    """The list call POSTs the four fields, times in the session tz, with every header."""
    mocked.post(LIST_URL, payload=OK_PAGE)
    page = await session.get_calls_page(date(2025, 4, 13), datetime(2025, 4, 14, 12, 30), page=1)
    assert [r.call_id for r in page.items] == [CALL_ID]
    assert page.total == 1
    (call,) = sent(mocked, "POST", LIST_URL)
    assert json.loads(call.kwargs["data"]) == {
        "callStartTime": "2025-04-13T00:00:00+07:00",
        "callEndtime": "2025-04-14T12:30:00+07:00",
        "page": 1,
        "limit": 50,
    }
    headers = call.kwargs["headers"]
    assert headers["Authorization"] == API_KEY
    assert headers["X-ACCESS-TOKEN"] == ACCESS_TOKEN
    assert headers["Accept"] == "application/json, text/plain, */*"
    assert headers["X-Requested-With"] == "XMLHttpRequest"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith(f"alohub-async/{alohub_async.__version__} ")
    assert not headers["Authorization"].startswith("Bearer")


async def test_detail_request_shape(mocked: aioresponses, session: AlohubSession) -> None:
    """The detail call GETs the call's path with the auth headers and no Content-Type."""
    mocked.get(DETAIL_URL, payload={"success": "1", "data": {**RECORD, "transcript": "Xin chào"}})
    detail = await session.get_call(CALL_ID)
    assert isinstance(detail, CallDetail)
    assert detail.transcript is not None and detail.transcript.text == "Xin chào"
    (call,) = sent(mocked, "GET", DETAIL_URL)
    assert "Content-Type" not in call.kwargs["headers"]
    assert call.kwargs["headers"]["X-ACCESS-TOKEN"] == ACCESS_TOKEN


async def test_redirects_are_not_followed(mocked: aioresponses, session: AlohubSession) -> None:
    """A redirect is an error, so credentials never travel to another host."""
    mocked.get(DETAIL_URL, status=302, headers={"Location": "https://evil.example/"})
    with pytest.raises(APIStatusError) as info:
        await session.get_call(CALL_ID)
    assert info.value.status == 302
    assert sent(mocked, "GET", DETAIL_URL)[0].kwargs["allow_redirects"] is False


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get_calls_page(date(2025, 4, 14), date(2025, 4, 13)),
        lambda s: s.get_calls_page(date(2025, 4, 13), date(2025, 4, 14), page=0),
        lambda s: s.get_calls_page(date(2025, 4, 13), date(2025, 4, 14), page_size=-5),
        lambda s: s.get_calls_page("not a date", date(2025, 4, 14)),
        lambda s: s.get_call(""),
        lambda s: s.get_call("../../admin"),
        lambda s: s.get_call("a/b"),
        lambda s: s.get_call("a b"),
        lambda s: s.get_call("a?x=1"),
        lambda s: s.get_call("a#b"),
        lambda s: s.get_call("a%2Fb"),
    ],
)
async def test_bad_input_sends_nothing(
    mocked: aioresponses, session: AlohubSession, call: Any
) -> None:
    """Invalid arguments raise ValueError before any request is sent."""
    with pytest.raises(ValueError):
        await call(session)
    assert not mocked.requests


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start": date(2025, 4, 14), "end": date(2025, 4, 13)},
        {"start": date(2025, 4, 13), "end": date(2025, 4, 14), "page_size": 0},
        {"start": date(2025, 4, 13), "end": date(2025, 4, 14), "concurrency": 0},
        {"start": date(2025, 4, 13), "end": date(2025, 4, 14), "concurrency": True},
    ],
)
async def test_bad_walk_arguments_fail_at_the_call(
    mocked: aioresponses, session: AlohubSession, kwargs: dict[str, Any]
) -> None:
    """iter_calls and iter_pages validate when called, before iterating or sending.

    A bool is the wrong type for a count: TypeError.
    """
    expected = TypeError if kwargs.get("concurrency") is True else ValueError
    with pytest.raises(expected):
        session.iter_calls(**kwargs)
    with pytest.raises(expected):
        session.iter_pages(**kwargs)
    assert not mocked.requests


async def test_bad_detail_walk_arguments(mocked: aioresponses, session: AlohubSession) -> None:
    """iter_call_details validates its concurrency before sending."""
    with pytest.raises(ValueError, match="concurrency"):
        session.iter_call_details(date(2025, 4, 13), date(2025, 4, 14), concurrency=0)
    assert not mocked.requests


# --- error mapping ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, APIStatusError),
        (422, BadRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
    ],
)
async def test_status_errors(
    mocked: aioresponses,
    session: AlohubSession,
    no_retry_waits: None,
    status: int,
    cls: type[APIStatusError],
) -> None:
    """Each HTTP error status raises its class with status, method, URL and a body snippet."""
    mocked.get(DETAIL_URL, status=status, body="<html>boom</html>", repeat=True)
    with pytest.raises(cls) as info:
        await session.get_call(CALL_ID)
    assert type(info.value) is cls
    assert info.value.status == status
    assert info.value.method == "GET"
    assert info.value.url == DETAIL_URL
    assert "boom" in info.value.body


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_other_4xx_are_not_retried(
    mocked: aioresponses, session: AlohubSession, status: int
) -> None:
    """Client errors other than 408 and 429 are sent once."""
    mocked.get(DETAIL_URL, status=status, repeat=True)
    with pytest.raises(APIStatusError):
        await session.get_call(CALL_ID)
    assert len(sent(mocked, "GET", DETAIL_URL)) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_retryable_statuses_use_every_retry(
    mocked: aioresponses, session: AlohubSession, no_retry_waits: None, status: int
) -> None:
    """Retryable statuses are tried 1 + max_retries times before the error surfaces."""
    mocked.get(DETAIL_URL, status=status, repeat=True)
    with pytest.raises(APIStatusError):
        await session.get_call(CALL_ID)
    assert len(sent(mocked, "GET", DETAIL_URL)) == 1 + session.max_retries
    assert session.stats.retries == session.max_retries


async def test_503_then_200_succeeds(
    mocked: aioresponses, session: AlohubSession, no_retry_waits: None
) -> None:
    """A transient 503 is retried and the retry's answer returned."""
    mocked.get(DETAIL_URL, status=503, body="<html>busy</html>")
    mocked.get(DETAIL_URL, payload=RECORD)
    assert (await session.get_call(CALL_ID)).call_id == CALL_ID
    assert len(sent(mocked, "GET", DETAIL_URL)) == 2


async def test_429_with_retry_after_then_200(mocked: aioresponses, session: AlohubSession) -> None:
    """A 429 with Retry-After is retried after the server's delay (0 s here)."""
    mocked.post(LIST_URL, status=429, headers={"Retry-After": "0"})
    mocked.post(LIST_URL, payload=OK_PAGE)
    page = await session.get_calls_page(date(2025, 4, 13), date(2025, 4, 13))
    assert len(page.items) == 1
    assert session.stats.retries == 1


async def test_reset_then_200(
    mocked: aioresponses, session: AlohubSession, no_retry_waits: None
) -> None:
    """A connection reset is retried."""
    mocked.get(DETAIL_URL, exception=aiohttp.ServerDisconnectedError())
    mocked.get(DETAIL_URL, payload=RECORD)
    assert (await session.get_call(CALL_ID)).call_id == CALL_ID


async def test_max_retries_zero_means_one_attempt(mocked: aioresponses) -> None:
    """max_retries=0 sends exactly one request."""
    mocked.get(DETAIL_URL, status=503, repeat=True)
    async with AlohubSession(
        api_key="k", access_token="t", base_url=BASE_URL, max_retries=0
    ) as alohub:
        with pytest.raises(ServerError):
            await alohub.get_call(CALL_ID)
    assert len(sent(mocked, "GET", DETAIL_URL)) == 1


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (aiohttp.ServerDisconnectedError(), APIConnectionError),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), APIConnectionError),
        (aiohttp.ClientPayloadError("truncated"), APIConnectionError),
        (aiohttp.ServerTimeoutError("read timeout"), APITimeoutError),
        (asyncio.TimeoutError(), APITimeoutError),
        (aiohttp.ClientConnectionError("refused"), APIConnectionError),
        (aiohttp.InvalidURL("x"), APIConnectionError),
    ],
)
async def test_aiohttp_errors_are_translated(
    mocked: aioresponses,
    session: AlohubSession,
    no_retry_waits: None,
    exc: Exception,
    cls: type[AlohubError],
) -> None:
    """Each kind of aiohttp failure surfaces as our error, after the retries, unchained."""
    mocked.get(DETAIL_URL, exception=exc, repeat=True)
    with pytest.raises(cls) as info:
        await session.get_call(CALL_ID)
    assert type(info.value) is cls
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert len(sent(mocked, "GET", DETAIL_URL)) == 1 + session.max_retries


async def test_body_failure_is_an_api_response_error(
    mocked: aioresponses, session: AlohubSession
) -> None:
    """A 200 whose body says success "0" raises APIResponseError with code and message."""
    mocked.post(LIST_URL, payload={"success": "0", "error_code": "E1", "error_message": "bad"})
    with pytest.raises(APIResponseError) as info:
        await session.get_calls_page(date(2025, 4, 13), date(2025, 4, 13))
    assert (info.value.code, info.value.server_message) == ("E1", "bad")
    assert len(sent(mocked, "POST", LIST_URL)) == 1


async def test_malformed_json_is_a_format_error(
    mocked: aioresponses, session: AlohubSession
) -> None:
    """A 200 with a body that is not JSON raises ResponseFormatError."""
    mocked.get(DETAIL_URL, body="{not json", content_type="application/json")
    with pytest.raises(ResponseFormatError):
        await session.get_call(CALL_ID)


async def test_detail_null_data_is_not_found(mocked: aioresponses, session: AlohubSession) -> None:
    """A detail with data: null raises NotFoundError."""
    mocked.get(DETAIL_URL, payload={"success": "1", "data": None})
    with pytest.raises(NotFoundError, match=CALL_ID):
        await session.get_call(CALL_ID)


async def test_oversized_body_is_refused(mocked: aioresponses) -> None:
    """A body larger than max_body_size raises ResponseFormatError."""
    mocked.get(DETAIL_URL, body=json.dumps({**RECORD, "pad": "x" * 5000}))
    async with AlohubSession(
        api_key="k", access_token="t", base_url=BASE_URL, max_body_size=1024
    ) as alohub:
        with pytest.raises(ResponseFormatError, match="exceeds"):
            await alohub.get_call(CALL_ID)


# --- secrets ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "configure",
    [
        lambda m: m.get(DETAIL_URL, status=500, body="oops", repeat=True),
        lambda m: m.get(DETAIL_URL, status=401, body="no", repeat=True),
        lambda m: m.get(DETAIL_URL, exception=aiohttp.ClientOSError(1, "x"), repeat=True),
        lambda m: m.get(DETAIL_URL, exception=asyncio.TimeoutError(), repeat=True),
        lambda m: m.get(DETAIL_URL, body="{bad", repeat=True),
        lambda m: m.get(DETAIL_URL, payload={"success": "0", "error_code": "X"}, repeat=True),
        lambda m: m.get(DETAIL_URL, payload={"data": None}, repeat=True),
    ],
)
async def test_secrets_never_in_errors_or_logs(
    mocked: aioresponses,
    session: AlohubSession,
    no_retry_waits: None,
    caplog: pytest.LogCaptureFixture,
    configure: Any,
) -> None:
    """No error message, attribute or DEBUG log line carries the key or the token."""
    configure(mocked)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AlohubError) as info:
        await session.get_call(CALL_ID)
    error = info.value
    dumped = " ".join([str(error), repr(error), repr(vars(error)), caplog.text])
    assert "SECRET" not in dumped
    assert error.__cause__ is None or "SECRET" not in repr(vars(error.__cause__))


# --- against a real server: timeouts, rate limit, TLS, tracing, logging -------------------

FAKE_START, FAKE_END = date(2026, 1, 1), date(2026, 1, 31)


async def test_timeouts_are_honoured() -> None:
    """A request slower than `timeout` raises APITimeoutError."""
    async with FakeAlohub(calls=10, latency=2.0) as fake:
        async with fake.session(timeout=0.1, max_retries=0) as alohub:
            with pytest.raises(APITimeoutError, match="timed out"):
                await alohub.get_calls_page(FAKE_START, FAKE_END)


async def test_rate_limit_spaces_requests() -> None:
    """rate_limit=R never lets more than R requests start in one second (lower bound only)."""
    async with FakeAlohub(calls=10) as fake:
        async with fake.session(rate_limit=50) as alohub:
            started = time.monotonic()
            await asyncio.gather(*(alohub.get_calls_page(FAKE_START, FAKE_END) for _ in range(11)))
            elapsed = time.monotonic() - started
    assert fake.counters.requests == 11
    assert elapsed >= 10 / 50 * 0.95


def test_rate_limit_must_be_positive() -> None:
    """A non-positive rate limit is a ValueError."""
    with pytest.raises(ValueError, match="rate_limit"):
        AlohubSession(api_key="k", access_token="t", rate_limit=-1)


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, str]:
    """A throwaway CA, a server context for 127.0.0.1 signed by it, and the CA's PEM path."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    handle = tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False)  # noqa: SIM115
    with handle:
        handle.write(ca.cert_pem.bytes())
    return server, handle.name


async def test_tls_is_verified_by_default(tls: tuple[ssl.SSLContext, str]) -> None:
    """An HTTPS server whose certificate the system does not trust is refused."""
    server_context, _ = tls
    async with FakeAlohub(calls=5, ssl_context=server_context) as fake:
        assert fake.url.startswith("https://127.0.0.1:")
        async with fake.session(max_retries=0) as alohub:
            with pytest.raises(APIConnectionError, match="certificate"):
                await alohub.get_calls_page(FAKE_START, FAKE_END)


async def test_custom_ca_bundle(tls: tuple[ssl.SSLContext, str]) -> None:
    """ssl= a CA bundle path trusts that CA, and only then does the request succeed."""
    server_context, ca_path = tls
    async with FakeAlohub(calls=5, ssl_context=server_context) as fake:
        async with fake.session(ssl=ca_path) as alohub:
            page = await alohub.get_calls_page(FAKE_START, FAKE_END)
    assert len(page.items) == 5


async def test_trace_configs_are_passed_to_aiohttp() -> None:
    """trace_configs reach the aiohttp session, so callers can observe each request."""
    seen: list[str] = []

    async def on_start(
        session: aiohttp.ClientSession, ctx: object, params: aiohttp.TraceRequestStartParams
    ) -> None:
        seen.append(params.method)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with FakeAlohub(calls=5) as fake:
        async with fake.session(trace_configs=[trace]) as alohub:
            await alohub.get_calls_page(FAKE_START, FAKE_END)
    assert seen == ["POST"]


async def test_debug_log_line_per_request(caplog: pytest.LogCaptureFixture) -> None:
    """Each request logs method, URL, status, attempt and elapsed time at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="alohub_async")
    async with FakeAlohub(calls=5) as fake:
        url = fake.url
        async with fake.session() as alohub:
            await alohub.get_calls_page(FAKE_START, FAKE_END)
    (record,) = [r for r in caplog.records if r.name == "alohub_async"]
    message = record.getMessage()
    assert message.startswith(f"POST {url}/api/report/call-logs -> 200 (attempt 1, ")
    assert fake.access_token not in message


async def test_close_stops_a_request_between_retries() -> None:
    """close() during a retry wait means no further attempt is sent; the caller gets an error."""
    async with FakeAlohub(calls=5) as fake:
        fake.script(Fault.status(503, retry_after=1), endpoint="list")
        alohub = fake.session()
        task = asyncio.ensure_future(alohub.get_calls_page(FAKE_START, FAKE_END))
        while fake.counters.requests == 0:  # noqa: ASYNC110 - polling the fake's counter
            await asyncio.sleep(0.01)
        await alohub.close()
        with pytest.raises(RuntimeError, match="closed"):
            await task
    assert fake.counters.requests == 1


async def test_decompressed_size_is_capped() -> None:
    """A small gzip body that inflates past max_body_size is refused."""
    inflated = b'{"data": [], "pad": "' + b" " * (4 * 1024 * 1024) + b'"}'

    async def bomb(request: web.Request) -> web.Response:
        body = gzip.compress(inflated)
        return web.Response(
            body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    app = web.Application()
    app.router.add_post("/api/report/call-logs", bomb)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        async with AlohubSession(
            api_key="k", access_token="t", base_url=f"http://127.0.0.1:{port}", max_body_size=2**20
        ) as alohub:
            with pytest.raises(ResponseFormatError, match="exceeds"):
                await alohub.get_calls_page(FAKE_START, FAKE_END)
    finally:
        await runner.cleanup()

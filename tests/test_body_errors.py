"""Failures reported in the body of an HTTP 200 answer, and gateway error bodies.

Alohub reports some failures with HTTP 200, ``success: "0"`` and an error code. Codes of
known meaning raise the class of their HTTP equivalent and are retried, or refresh the
token, exactly like it; ``.status`` stays the real status. Messages are Vietnamese and
must come through intact.
"""

from __future__ import annotations

import json
import pickle
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aioresponses import aioresponses
from yarl import URL

from alohub_async import (
    AlohubSession,
    APIResponseError,
    APIStatusError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from alohub_async import _protocol as protocol
from alohub_async._retry import is_retryable
from alohub_async.testing import FakeAlohub, Fault
from tests.helpers import ACCESS_TOKEN, API_KEY, BASE_URL

pytestmark = pytest.mark.usefixtures("no_retry_waits")

SAMPLES = Path(__file__).parent / "samples"
START, END = date(2026, 1, 1), date(2026, 1, 31)
LIST_URL = BASE_URL + "/api/report/call-logs"
CALL_ID = "20260121095227-IMCRRNJW-342"
DETAIL_URL = f"{LIST_URL}/{CALL_ID}"
MAX_RETRIES = 2

#: code -> (class, retried like its HTTP equivalent, sample file)
BODY_CODES: dict[str, tuple[type[APIStatusError], bool, str]] = {
    "0": (ServerError, True, "failure_code_0_system_error.json"),
    "1": (AuthenticationError, False, "failure_code_1_invalid_api_key.json"),
    "4": (RateLimitError, True, "failure_code_4_rate_limit.json"),
    "10": (ServerError, True, "failure_code_10_service_unavailable.json"),
}


def sample(name: str) -> dict[str, Any]:
    value = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
    assert isinstance(value, dict)
    return value


def body_fault(code: str) -> Fault:
    body = sample(BODY_CODES[code][2])
    return Fault.failure_body(code=body["error_code"], message=body["error_message"])


class Provider:
    """An async token provider that counts its calls and hands out the given tokens."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        return self.tokens[min(self.calls, len(self.tokens)) - 1]


# --- the table, per code, through the public API -------------------------------------------


@pytest.mark.parametrize("code", sorted(BODY_CODES))
def test_sample_maps_to_its_class(code: str) -> None:
    """Each recorded body-level failure reads as its class, from a list or a detail."""
    cls, _, name = BODY_CODES[code]
    body = sample(name)
    for read in (lambda: protocol.read_list(body), lambda: protocol.read_detail(body, call_id="x")):
        with pytest.raises(cls) as info:
            read()
        assert type(info.value) is cls
        assert info.value.status == 200
        assert (info.value.code, info.value.server_message) == (code, body["error_message"])


@pytest.mark.parametrize("code", sorted(BODY_CODES))
async def test_each_code_raises_its_class_after_its_retries(code: str) -> None:
    """Every attempt failing: the class, HTTP 200, the body's code and intact message."""
    cls, retried, name = BODY_CODES[code]
    message = sample(name)["error_message"]
    async with FakeAlohub(calls=5) as fake:
        fake.script(*[body_fault(code)] * (MAX_RETRIES + 1), endpoint="list")
        async with fake.session(max_retries=MAX_RETRIES) as alohub:
            with pytest.raises(cls) as info:
                await alohub.get_calls_page(START, END)
            assert alohub.stats.retries == (MAX_RETRIES if retried else 0)
        assert fake.counters.requests == (MAX_RETRIES + 1 if retried else 1)
    error = info.value
    assert type(error) is cls
    assert error.status == 200
    assert (error.code, error.server_message) == (code, message)
    # Non-ASCII text survives as is: not escaped, not mangled.
    assert message in str(error)
    assert f"code={code!r}" in str(error)
    assert error.method == "POST" and error.url.endswith("/api/report/call-logs")


@pytest.mark.parametrize("code", [c for c, (_, retried, _) in BODY_CODES.items() if retried])
async def test_retried_codes_recover(code: str) -> None:
    """A rate-limit or server-failure body once, then success: the page comes back."""
    async with FakeAlohub(calls=5) as fake:
        fake.script(body_fault(code), endpoint="list")
        async with fake.session(max_retries=MAX_RETRIES) as alohub:
            page = await alohub.get_calls_page(START, END)
            assert alohub.stats.retries == 1
        assert fake.counters.requests == 2
    assert len(page.items) == 5


@pytest.mark.parametrize("code", ["SYSTEM_ERROR", "2", "99", ""])
async def test_unknown_codes_stay_api_response_errors(code: str) -> None:
    """A code without a known meaning is an APIResponseError, raised at once."""
    async with FakeAlohub(calls=5) as fake:
        fake.script(Fault.failure_body(code=code, message="Lỗi không xác định"))
        async with fake.session(max_retries=MAX_RETRIES) as alohub:
            with pytest.raises(APIResponseError) as info:
                await alohub.get_calls_page(START, END)
        assert fake.counters.requests == 1
    assert info.value.code == code
    assert info.value.server_message == "Lỗi không xác định"
    assert "Lỗi không xác định" in str(info.value)


async def test_detail_rate_limit_body_is_retried() -> None:
    """get_call retries a body-level rate limit too, then returns the call."""
    async with FakeAlohub(calls=5) as fake:
        fake.script(body_fault("4"), endpoint="detail")
        async with fake.session(max_retries=MAX_RETRIES) as alohub:
            call_id = (await alohub.get_calls_page(START, END)).items[0].call_id
            detail = await alohub.get_call(call_id)
        assert fake.counters.by_endpoint["detail"] == 2
    assert detail.call_id == call_id


async def test_walk_survives_a_body_level_server_failure() -> None:
    """A walk whose page 2 reports "service unavailable" once still yields every call."""
    async with FakeAlohub(calls=25) as fake:
        fake.fail_page(2, body_fault("10"))
        async with fake.session(page_size=10, max_retries=MAX_RETRIES) as alohub:
            calls = [call async for call in alohub.iter_calls(START, END)]
    assert len(calls) == 25
    assert fake.counters.faults == 1


# --- token refresh ---------------------------------------------------------------------------


async def test_invalid_key_body_refreshes_a_provider_token_once() -> None:
    """Body code "1" asks the provider for a fresh token and repeats the request."""
    async with FakeAlohub(calls=5) as fake:
        fake.script(body_fault("1"))
        provider = Provider(fake.access_token, fake.access_token)
        async with fake.session(access_token=provider) as alohub:
            page = await alohub.get_calls_page(START, END)
            assert alohub.stats.retries == 1
        assert fake.counters.requests == 2
    assert provider.calls == 2
    assert len(page.items) == 5


async def test_invalid_key_body_after_refresh_is_final() -> None:
    """Refused again with the fresh token: AuthenticationError, no second refresh, no loop."""
    async with FakeAlohub(calls=5) as fake:
        fake.script(body_fault("1"), body_fault("1"), body_fault("1"))
        provider = Provider(fake.access_token)
        async with fake.session(access_token=provider, max_retries=MAX_RETRIES) as alohub:
            with pytest.raises(AuthenticationError) as info:
                await alohub.get_calls_page(START, END)
        assert fake.counters.requests == 2
    assert provider.calls == 2
    assert info.value.status == 200


async def test_invalid_key_body_with_a_static_token_is_final() -> None:
    """With a static token body code "1" is raised after one request."""
    async with FakeAlohub(calls=5) as fake:
        fake.script(body_fault("1"))
        async with fake.session(max_retries=MAX_RETRIES) as alohub:
            with pytest.raises(AuthenticationError):
                await alohub.get_calls_page(START, END)
        assert fake.counters.requests == 1


# --- the request layer: headers and gateway bodies -------------------------------------------


@pytest.fixture
async def once() -> Any:
    """A session against the mocked base URL that makes one attempt per request."""
    async with AlohubSession(
        api_key=API_KEY, access_token=ACCESS_TOKEN, base_url=BASE_URL, max_retries=0
    ) as alohub:
        yield alohub


async def test_body_rate_limit_keeps_retry_after(mocked: aioresponses, once: AlohubSession) -> None:
    """A body-level rate limit answered with Retry-After carries the hint."""
    mocked.post(LIST_URL, payload=sample(BODY_CODES["4"][2]), headers={"Retry-After": "2"})
    with pytest.raises(RateLimitError) as info:
        await once.get_calls_page(START, END)
    assert info.value.retry_after == 2.0
    assert info.value.status == 200


async def test_detail_with_null_data_stays_not_found(
    mocked: aioresponses, session: AlohubSession
) -> None:
    """data: null for a detail is NotFoundError (HTTP 200), raised at once."""
    mocked.get(DETAIL_URL, payload={"success": "1", "data": None}, repeat=True)
    with pytest.raises(NotFoundError) as info:
        await session.get_call(CALL_ID)
    assert info.value.status == 200
    assert CALL_ID in str(info.value)
    assert len(mocked.requests[("GET", URL(DETAIL_URL))]) == 1


GATEWAY = [
    (401, "UNAUTHORIZED", "Token không hợp lệ", AuthenticationError),
    (403, "INSUFFICIENT_SCOPE", "Không đủ quyền truy cập", PermissionDeniedError),
    (404, "NOT_FOUND", "Không tìm thấy cuộc gọi", NotFoundError),
    (429, "RATE_LIMIT_EXCEEDED", "Quá nhiều yêu cầu", RateLimitError),
]


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
@pytest.mark.parametrize(("status", "code", "message", "cls"), GATEWAY)
async def test_gateway_bodies_quote_their_code(
    mocked: aioresponses,
    once: AlohubSession,
    status: int,
    code: str,
    message: str,
    cls: type[APIStatusError],
    nested: bool,
) -> None:
    """The newer API's gateway errors give the class, .code, .server_message, and quote the code."""
    fields = {"code": code, "message": message}
    payload = {"error": fields} if nested else fields
    headers = {"Retry-After": "3"} if status == 429 else {}
    mocked.get(DETAIL_URL, status=status, payload=payload, headers=headers)
    with pytest.raises(cls) as info:
        await once.get_call(CALL_ID)
    error = info.value
    assert type(error) is cls
    assert error.status == status
    assert (error.code, error.server_message) == (code, message)
    assert code in str(error) and message in str(error)
    if status == 429:
        assert error.retry_after == 3.0


async def test_gateway_code_is_quoted_past_the_snippet(
    mocked: aioresponses, once: AlohubSession
) -> None:
    """A code sent after 500 characters of body still reaches the message."""
    payload = {"detail": "x" * 600, "code": "RATE_LIMIT_EXCEEDED"}
    mocked.post(LIST_URL, status=429, payload=payload)
    with pytest.raises(RateLimitError, match="RATE_LIMIT_EXCEEDED"):
        await once.get_calls_page(START, END)


async def test_gateway_rate_limit_is_retried(mocked: aioresponses, session: AlohubSession) -> None:
    """The gateway's 429 RATE_LIMIT_EXCEEDED is retried like any 429, then succeeds."""
    mocked.post(LIST_URL, status=429, payload={"code": "RATE_LIMIT_EXCEEDED", "message": "m"})
    mocked.post(LIST_URL, payload={"success": "1", "data": []})
    page = await session.get_calls_page(START, END)
    assert len(page.items) == 0
    assert session.stats.retries == 1


@pytest.mark.parametrize(
    "body", [b"<html>401</html>", b"[1, 2]", b'{"detail": "x"}', b"{oops", b"[" * 100_000]
)
def test_bodies_without_a_code_keep_the_snippet(body: bytes) -> None:
    """Bodies that report no code keep the plain HTTP message and no code."""
    with pytest.raises(AuthenticationError) as info:
        protocol.check_status(401, {}, body, method="GET", url="https://h/p")
    assert info.value.code is None and info.value.server_message is None
    assert str(info.value).startswith("HTTP 401 for GET https://h/p")


# --- the retry predicate and the errors themselves -------------------------------------------


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (RateLimitError(200, code="4"), True),
        (ServerError(200, code="0"), True),
        (ServerError(200, code="10"), True),
        (ServerError(503), True),
        (ServerError(501), False),
        (AuthenticationError(200, code="1"), False),
        (NotFoundError(200), False),
        (APIResponseError("4", "m"), False),
    ],
)
def test_retry_predicate(error: Exception, retried: bool) -> None:
    """Body-level rate limits and server failures are retried like 429 and 5xx, no more."""
    assert is_retryable(error) is retried


def test_body_level_errors_pickle() -> None:
    """A body-level error keeps its code and Vietnamese message through pickling."""
    error = protocol.body_failure(sample(BODY_CODES["4"][2]), records_key=None)
    assert isinstance(error, RateLimitError)
    clone = pickle.loads(pickle.dumps(error))
    assert vars(clone) == vars(error)
    assert str(clone) == str(error)

"""Hostile bodies, headers and statuses: only AlohubError comes out, with a clear message.

A small server on 127.0.0.1 answers with whatever each test needs: JSON nested a hundred
thousand levels deep, redirects, a Retry-After in the past, a server that never stops
failing. Whatever the bytes, the client raises an `AlohubError` subclass (or succeeds),
and says what happened in words a person can act on.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
import stamina.instrumentation
from aiohttp import web

from alohub_async import (
    AlohubError,
    AlohubSession,
    APIConnectionError,
    APIStatusError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
)
from alohub_async._auth import TokenSource, jwt_expiry
from tests.hostile import serve, serve_raw

START, END = date(2026, 1, 1), date(2026, 1, 31)
DEEP = b"[" * 100_000
DEEP_OBJECTS = b'{"a":' * 100_000
# Decodable (orjson reads up to 1024 levels) but too deep for code that recurses over it.
DECODABLE = b'{"success": "1", "data": ' + b"[" * 1000 + b"]" * 1000 + b"}"
KEY, TOKEN = "hostile-key-0123456789", "hostile-token-0123456789"


def _answer(status: int, body: bytes, **headers: str) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body, headers=headers)

    return handler


# --- item 12: nesting too deep for the stack --------------------------------------------


@pytest.mark.parametrize(
    "body", [DEEP, DEEP_OBJECTS, DECODABLE], ids=["arrays", "objects", "decodable"]
)
@pytest.mark.parametrize("endpoint", ["list", "detail", "walk"])
async def test_deeply_nested_body_is_a_format_error(
    decoder: str, body: bytes, endpoint: str
) -> None:
    """`[` x 100,000 (or objects as deep) is a ResponseFormatError, never RecursionError."""
    async with serve(_answer(200, body)) as url:
        async with AlohubSession(KEY, TOKEN, base_url=url) as alohub:
            with pytest.raises(ResponseFormatError, match="nested too deeply"):
                if endpoint == "list":
                    await alohub.get_calls_page(START, END)
                elif endpoint == "detail":
                    await alohub.get_call("call-1")
                else:
                    async for _ in alohub.iter_calls(START, END):
                        pass


@pytest.mark.parametrize("depth", [100, 400, 700, 900, 950, 980, 990, 995, 1000, 1500])
async def test_nesting_near_the_stack_limit_raises_only_our_errors(depth: int) -> None:
    """Depths that decode but may exhaust the stack later still end in AlohubError."""
    deep = "[" * depth + "]" * depth
    bodies = [
        f'{{"success": "1", "data": null, "x": {deep}}}',
        f'{{"success": "1", "data": {{"callId": {deep}}}}}',
        f'{{"success": "0", "error_code": {deep}, "error_message": {deep}}}',
        f'{{"success": "1", "data": [{{"callId": "a", "caller": {deep}}}]}}',
    ]
    for text in bodies:
        async with serve(_answer(200, text.encode())) as url:
            async with AlohubSession(KEY, TOKEN, base_url=url, max_retries=0) as alohub:
                with contextlib.suppress(AlohubError):
                    await alohub.get_call("call-1")
                with contextlib.suppress(AlohubError):
                    await alohub.get_calls_page(START, END)


def _jwt_with_payload(payload: bytes) -> str:
    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return f"{part(b'{}')}.{part(payload)}.c2lnbmF0dXJl"


def test_deeply_nested_jwt_payload_is_a_format_error() -> None:
    """The JWT reader turns a payload nested 100,000 deep into ResponseFormatError."""
    with pytest.raises(ResponseFormatError, match="nested too deeply"):
        jwt_expiry(_jwt_with_payload(DEEP))


async def test_provider_token_with_a_deep_payload_is_our_error() -> None:
    """Through the session: a provider's token whose payload is too deep is an AlohubError."""

    async def provider() -> str:
        return _jwt_with_payload(DEEP)

    source = TokenSource(provider)
    with pytest.raises(ResponseFormatError):
        await source.get()


# --- item 15: redirects --------------------------------------------------------------------


async def test_redirect_message_names_the_location() -> None:
    """A redirect says where it pointed, and that it was not followed, and why."""
    handler = _answer(302, b"", Location="https://elsewhere.example/next")
    async with serve(handler) as url:
        async with AlohubSession(KEY, TOKEN, base_url=url) as alohub:
            with pytest.raises(APIStatusError) as info:
                await alohub.get_call("call-1")
    assert info.value.status == 302
    assert (
        "redirect to https://elsewhere.example/next not followed "
        "(credentials are never sent to another origin)"
    ) in str(info.value)


async def test_redirect_location_is_capped_and_escaped() -> None:
    """A Location of 5,000 characters with terminal escapes is quoted short and inert."""

    def answer(head: bytes) -> bytes:
        location = b"https://evil.example/\x1b]52;c;ZXZpbA==\x07" + b"a" * 5000
        return b"HTTP/1.1 301 Moved\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n"

    async with serve_raw(answer) as url:
        async with AlohubSession(KEY, TOKEN, base_url=url) as alohub:
            with pytest.raises(APIStatusError) as info:
                await alohub.get_call("call-1")
    message = str(info.value)
    assert "redirect to https://evil.example/" in message
    assert "\x1b" not in message and "\x07" not in message
    assert len(message) < 600
    assert message.endswith("not followed (credentials are never sent to another origin)")


async def test_redirect_without_location() -> None:
    """A redirect with no Location still says it was not followed."""
    async with serve(_answer(307, b"")) as url:
        async with AlohubSession(KEY, TOKEN, base_url=url) as alohub:
            with pytest.raises(APIStatusError, match="not followed"):
                await alohub.get_call("call-1")


# --- item 15: giving up says how many attempts over how long -------------------------------


async def test_giving_up_on_a_status_says_attempts_and_time(no_retry_waits: None) -> None:
    """A server that always answers 503 ends in an error saying how hard the client tried."""
    async with serve(_answer(503, b"busy")) as url:
        async with AlohubSession(KEY, TOKEN, base_url=url, max_retries=3) as alohub:
            with pytest.raises(ServerError, match=r"gave up after 4 attempts in \d+(\.\d)? s"):
                await alohub.get_calls_page(START, END)


async def test_giving_up_on_connections_says_attempts_and_time(no_retry_waits: None) -> None:
    """Connection failures say it too, in the message and in `.message`."""
    async with serve_raw(lambda head: b"garbage\r\n\r\n") as url:
        async with AlohubSession(KEY, TOKEN, base_url=url, max_retries=2) as alohub:
            with pytest.raises(APIConnectionError) as info:
                await alohub.get_call("call-1")
    assert "gave up after 3 attempts in " in str(info.value)
    assert info.value.message == str(info.value)


async def test_a_final_error_does_not_claim_to_have_given_up() -> None:
    """A 404 is not retried, so its message says nothing about attempts."""
    async with serve(_answer(404, b"no such call")) as url:
        async with AlohubSession(KEY, TOKEN, base_url=url) as alohub:
            with pytest.raises(AlohubError) as info:
                await alohub.get_call("call-1")
    assert "gave up" not in str(info.value)


# --- item 15: Retry-After in the past or negative ------------------------------------------


@pytest.fixture
def scheduled_waits() -> Iterator[list[float]]:
    """The waits stamina schedules before each retry, as its retry hook reports them."""
    waits: list[float] = []
    previous = stamina.instrumentation.get_on_retry_hooks()

    def record(details: stamina.instrumentation.RetryDetails) -> None:
        waits.append(details.wait_for)

    stamina.instrumentation.set_on_retry_hooks([record])
    yield waits
    stamina.instrumentation.set_on_retry_hooks(previous)


@pytest.mark.parametrize(
    "retry_after",
    [
        "-30",
        format_datetime(datetime.now(timezone.utc) - timedelta(hours=1), usegmt=True),
    ],
    ids=["negative", "past date"],
)
async def test_unusable_retry_after_gets_the_normal_backoff(
    retry_after: str, scheduled_waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    """A negative Retry-After or a date already past does not mean "retry at once"."""
    caplog.set_level(logging.WARNING)
    answers = [web.Response(status=429, headers={"Retry-After": retry_after})]

    async def handler(request: web.Request) -> web.Response:
        return answers.pop() if answers else web.json_response({"data": [], "total": 0})

    async with serve(handler) as url:
        async with AlohubSession(KEY, TOKEN, base_url=url, max_retries=1) as alohub:
            await alohub.get_calls_page(START, END)
    assert len(scheduled_waits) == 1
    assert scheduled_waits[0] > 0  # stamina's own backoff (0.5 s and jitter), not zero


async def test_unusable_retry_after_is_not_reported_as_a_hint() -> None:
    """The RateLimitError carries no retry_after when the header was negative."""
    handler = _answer(429, b"slow down", **{"Retry-After": "-5"})
    async with serve(handler) as url:
        async with AlohubSession(KEY, TOKEN, base_url=url, max_retries=0) as alohub:
            with pytest.raises(RateLimitError) as info:
                await alohub.get_calls_page(START, END)
    assert info.value.retry_after is None

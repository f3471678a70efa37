"""Credentials: static tokens and token providers (lazy, on 401, before JWT expiry)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import date

import pytest

from alohub_async import AuthenticationError, TokenProviderError
from alohub_async._auth import TokenSource, jwt_expiry
from alohub_async.testing import FakeAlohub

START, END = date(2026, 1, 1), date(2026, 1, 31)


def jwt(exp: float | None, tag: str = "x") -> str:
    """An unsigned JWT-shaped token with an optional exp claim."""

    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    claims: dict[str, object] = {"sub": tag}
    if exp is not None:
        claims["exp"] = exp
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


class Provider:
    """An async token provider that counts its calls and hands out the given tokens."""

    def __init__(self, *tokens: str, delay: float = 0.0) -> None:
        self.tokens = list(tokens)
        self.calls = 0
        self.delay = delay

    async def __call__(self) -> str:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return self.tokens[min(self.calls, len(self.tokens)) - 1]


def test_jwt_expiry_reads_exp() -> None:
    """The exp claim of a JWT is read without verifying the signature."""
    assert jwt_expiry(jwt(1_800_000_000)) == 1_800_000_000.0


@pytest.mark.parametrize(
    "token", ["opaque-token", "a.b", "a.!!!.c", jwt(None), "x.eyJleHAiOiJ4In0.y"]
)
def test_jwt_expiry_of_other_tokens_is_none(token: str) -> None:
    """Opaque tokens, malformed JWTs and JWTs without a numeric exp have no expiry."""
    assert jwt_expiry(token) is None


def test_provider_must_be_callable() -> None:
    """A token that is neither a string nor callable is a TypeError."""
    with pytest.raises(TypeError, match="access_token"):
        TokenSource(42)  # type: ignore[arg-type]


async def test_provider_is_called_lazily() -> None:
    """Constructing a session does not call the provider; the first request does, once."""
    async with FakeAlohub(calls=10) as fake:
        provider = Provider(fake.access_token)
        async with fake.session(access_token=provider) as alohub:
            assert provider.calls == 0
            await alohub.get_calls_page(START, END)
            await alohub.get_calls_page(START, END)
    assert provider.calls == 1


async def test_401_refreshes_the_token_and_retries_once() -> None:
    """A 401 asks the provider for a new token and repeats the request with it."""
    async with FakeAlohub(calls=10) as fake:
        provider = Provider("old-token", "new-token")
        fake.access_token = "new-token"
        async with fake.session(access_token=provider) as alohub:
            page = await alohub.get_calls_page(START, END)
    assert len(page.items) == 10
    assert provider.calls == 2
    assert fake.counters.requests == 2


async def test_a_second_401_is_final() -> None:
    """If the fresh token is refused too, AuthenticationError is raised (no loop)."""
    async with FakeAlohub(calls=10) as fake:
        provider = Provider("bad-1", "bad-2", "bad-3")
        async with fake.session(access_token=provider) as alohub:
            with pytest.raises(AuthenticationError):
                await alohub.get_calls_page(START, END)
    assert provider.calls == 2
    assert fake.counters.requests == 2


async def test_static_token_is_never_refreshed() -> None:
    """With a static token a 401 is final after one request."""
    async with FakeAlohub(calls=10) as fake:
        async with fake.session(access_token="wrong") as alohub:
            with pytest.raises(AuthenticationError):
                await alohub.get_calls_page(START, END)
    assert fake.counters.requests == 1


async def test_already_expiring_token_is_used_not_refetched() -> None:
    """A provider whose fresh token already expires within 60 s is not asked on every call."""
    soon = jwt(time.time() + 30, "soon")
    provider = Provider(soon)
    source = TokenSource(provider)
    assert await source.get() == soon
    assert await source.get() == soon
    assert provider.calls == 1


async def test_token_refreshed_when_it_nears_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JWT that was fresh when fetched is replaced once it comes within 60 s of exp."""
    first, second = jwt(time.time() + 3600, "first"), jwt(time.time() + 7200, "second")
    provider = Provider(first, second)
    source = TokenSource(provider)
    assert await source.get() == first
    # Move the clock to 10 s before the first token's exp: it is now about to expire.
    later = time.time() + 3600 - 10
    monkeypatch.setattr(time, "time", lambda: later)
    assert await source.get() == second
    assert provider.calls == 2


async def test_concurrent_requests_share_one_refresh() -> None:
    """Many requests that all need a token trigger a single provider call."""
    async with FakeAlohub(calls=10) as fake:
        provider = Provider(fake.access_token, delay=0.05)
        async with fake.session(access_token=provider) as alohub:
            await asyncio.gather(*(alohub.get_calls_page(START, END) for _ in range(10)))
    assert provider.calls == 1


async def test_concurrent_401s_share_one_refresh() -> None:
    """Requests refused together with the same stale token cause one refresh."""
    async with FakeAlohub(calls=10, latency=0.02) as fake:
        provider = Provider("stale", fake.access_token, delay=0.02)
        async with fake.session(access_token=provider) as alohub:
            await asyncio.gather(*(alohub.get_calls_page(START, END) for _ in range(8)))
    assert provider.calls == 2


async def test_sync_provider_is_a_clear_type_error() -> None:
    """A provider that is not async fails with a TypeError saying so."""
    source = TokenSource(lambda: "token")  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="async callable"):
        await source.get()


async def test_provider_returning_garbage_is_an_error() -> None:
    """A provider that returns an empty or non-string token raises TokenProviderError."""
    source = TokenSource(Provider(""))
    with pytest.raises(TokenProviderError, match="token"):
        await source.get()

"""Credentials: the API key, and an access token that is static or comes from a provider.

A provider is an async callable returning a fresh token. It is called lazily, again
after a 401, and ahead of expiry when the token is a JWT whose ``exp`` is less than
60 s away; concurrent requests share one call, which the session's ``timeout`` bounds
and ``close()`` cancels. Whatever goes wrong inside it surfaces as `TokenProviderError`.
The JWT payload is decoded without verification: it is only read to learn when to
refresh.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from ._redact import Redactor, redact, redact_exception, still_leaks
from .errors import ResponseFormatError, TokenProviderError

__all__ = ["REFRESH_MARGIN", "TokenProvider", "TokenSource", "check_secret", "jwt_expiry"]

TokenProvider: TypeAlias = Callable[[], Awaitable[str]]
"""An async callable that returns a fresh access token."""

REFRESH_MARGIN = 60.0
"""Refresh a provider's JWT when it expires in less than this many seconds."""


def check_secret(name: str, value: object) -> str:
    """Return ``value`` if it can be sent as a header value, else raise without echoing it."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    if any(ch in value for ch in "\r\n\x00") or not value.isprintable():
        raise ValueError(f"{name} contains control characters and cannot be sent as a header")
    return value


def jwt_expiry(token: str) -> float | None:
    """Return a JWT's ``exp`` (epoch seconds), or ``None`` if the token is not a readable JWT.

    Raises:
        ResponseFormatError: the payload is JSON nested too deeply to read (tokens often
            come from a login server: its bytes may raise nothing but AlohubError).
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    segment = parts[1]
    try:
        payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except RecursionError:
        raise ResponseFormatError(
            "the access token's JWT payload is JSON nested too deeply to read"
        ) from None
    except (ValueError, binascii.Error):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        return None
    return float(exp)


class TokenSource:
    """Hands out the access token for each request and refreshes it when it can.

    A static token is returned as is and never refreshed. A provider is called in a task
    of its own, bounded by ``timeout`` and cancelled by `close`; its failures become
    `TokenProviderError`. Each token it returns is handed to ``redactor`` first, so a
    server echoing it is masked like the static secrets.

    The current token is read with `current` by whoever builds the request headers, and
    `generation` (bumped on each new token) tells a refused request which token it sent,
    so requests need not keep the token itself in a local variable.

    Attributes:
        refreshes: How many times the provider was called.
        generation: Bumped each time the token changes (0: no token yet).
    """

    __slots__ = (
        "_closed",
        "_expires_at",
        "_lock",
        "_pending",
        "_provider",
        "_redactor",
        "_timeout",
        "_token",
        "generation",
        "refreshes",
    )

    def __init__(
        self,
        token: str | TokenProvider,
        *,
        timeout: float | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self._provider: TokenProvider | None = None
        self._token: str | None = None
        self._expires_at: float | None = None
        self._lock: asyncio.Lock | None = None
        self._timeout = timeout
        self._redactor = redactor
        self._pending: asyncio.Task[str] | None = None
        self._closed = False
        self.refreshes = 0
        self.generation = 0
        if isinstance(token, str):
            self._token = check_secret("access_token", token)
            self.generation = 1
        elif callable(token):
            self._provider = token
        else:
            raise TypeError("access_token must be a string or an async callable returning one")

    def __repr__(self) -> str:
        kind = "provider" if self._provider is not None else "static"
        return f"<TokenSource {kind} generation={self.generation}>"

    @property
    def refreshable(self) -> bool:
        """True when the token comes from a provider that can be asked for a new one."""
        return self._provider is not None

    @property
    def current(self) -> str:
        """The token to send now (call `get` or `ready` first)."""
        if self._token is None:
            raise RuntimeError("no access token yet: await get() first")
        return self._token

    def _stale(self) -> bool:
        if self._token is None:
            return True
        return self._expires_at is not None and self._expires_at - time.time() < REFRESH_MARGIN

    async def ready(self) -> None:
        """Make sure `current` holds a usable token, asking the provider if needed."""
        if self._provider is not None and self._stale():
            await self._fetch(refused=None)

    async def get(self) -> str:
        """Return the current token, asking the provider first if there is none or it expires."""
        await self.ready()
        return self.current

    async def refresh(self, stale: int) -> None:
        """Replace the token of generation ``stale``, which the server refused.

        Nothing is asked of the provider when another request replaced it already.
        """
        if self._provider is None:
            raise RuntimeError("a static access token cannot be refreshed")
        await self._fetch(refused=stale)

    def close(self) -> None:
        """Refuse further provider calls and cancel the one under way, if any."""
        self._closed = True
        if self._pending is not None:
            self._pending.cancel()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this AlohubSession is closed; create a new one")

    async def _fetch(self, *, refused: int | None) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            self._check_open()
            # Whoever held the lock before us may have replaced the token already.
            if refused is not None and self.generation != refused and not self._stale():
                return
            if refused is None and not self._stale():
                return
            token = await self._call_provider()
            expires_at = jwt_expiry(token)
            # A provider that hands out an already-expiring token is used as is, once,
            # rather than asked again on every request.
            if expires_at is not None and expires_at - time.time() < REFRESH_MARGIN:
                expires_at = None
            self._token, self._expires_at = token, expires_at
            self.generation += 1

    async def _call_provider(self) -> str:
        """Call the provider once, bounded and cancellable; return its checked token."""
        assert self._provider is not None
        self.refreshes += 1
        pending = self._provider()
        if not inspect.isawaitable(pending):
            raise TypeError("access_token must be an async callable (it returned no awaitable)")
        task = asyncio.ensure_future(pending)
        task.add_done_callback(_retrieve)
        self._pending = task
        try:
            # asyncio.wait, unlike wait_for, leaves the task alone when we are cancelled
            # and tells "close() cancelled it" apart from "our caller was cancelled".
            done, _ = await asyncio.wait({task}, timeout=self._timeout)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            self._pending = None
        if not done:
            task.cancel()
            raise TokenProviderError(
                f"the access_token provider gave no token within {self._timeout:g}s"
            )
        if task.cancelled():
            self._check_open()  # close() cancelled it: say so, as other requests do
            raise TokenProviderError("the access_token provider was cancelled")
        failure = task.exception()
        if failure is not None:
            raise self._wrap(failure)
        token = task.result()
        if self._redactor is not None:
            self._redactor.add_token(token)  # before any message could quote it
        try:
            return check_secret("the token returned by access_token()", token)
        except ValueError as exc:
            raise TokenProviderError(str(exc)) from None

    def _wrap(self, failure: BaseException) -> TokenProviderError:
        """Turn a provider's exception into ours, keeping it as the (scrubbed) cause."""
        redact_exception(failure)
        error = TokenProviderError(
            f"the access_token provider failed: {type(failure).__name__}: {failure}"
        )
        # A secret can hide where masking text cannot reach (a request's headers held
        # by an aiohttp error); then a masked stand-in is chained instead of the original.
        error.__cause__ = failure if not still_leaks(failure) else _stand_in(failure)
        error.__suppress_context__ = True
        return error


class ProviderFailure(Exception):
    """Stands in for a provider's exception that still held a secret after masking."""


def _stand_in(failure: BaseException) -> ProviderFailure:
    return ProviderFailure(redact(f"{type(failure).__name__}: {failure}"))


def _retrieve(task: asyncio.Task[str]) -> None:
    """Mark a provider task's outcome as seen (it may end after nobody waits for it)."""
    if not task.cancelled():
        task.exception()

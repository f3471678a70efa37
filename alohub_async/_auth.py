"""Credentials: the API key, and an access token that is static or comes from a provider.

A provider is an async callable returning a fresh token. It is called lazily, again
after a 401, and ahead of expiry when the token is a JWT whose ``exp`` is less than
60 s away; concurrent requests share one call. The JWT payload is decoded without
verification: it is only read to learn when to refresh.
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

__all__ = ["REFRESH_MARGIN", "TokenProvider", "TokenSource", "check_secret", "jwt_expiry"]

#: An async callable that returns a fresh access token.
TokenProvider: TypeAlias = Callable[[], Awaitable[str]]

#: Refresh a provider's JWT when it expires in less than this many seconds.
REFRESH_MARGIN = 60.0


def check_secret(name: str, value: object) -> str:
    """Return ``value`` if it can be sent as a header value, else raise without echoing it."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    if any(ch in value for ch in "\r\n\x00") or not value.isprintable():
        raise ValueError(f"{name} contains control characters and cannot be sent as a header")
    return value


def jwt_expiry(token: str) -> float | None:
    """Return a JWT's ``exp`` (epoch seconds), or ``None`` if the token is not a readable JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    segment = parts[1]
    try:
        payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        return None
    return float(exp)


class TokenSource:
    """Hands out the access token for each request and refreshes it when it can.

    A static token is returned as is and never refreshed.
    """

    __slots__ = ("_expires_at", "_lock", "_provider", "_token", "refreshes")

    def __init__(self, token: str | TokenProvider) -> None:
        self._provider: TokenProvider | None = None
        self._token: str | None = None
        self._expires_at: float | None = None
        self._lock: asyncio.Lock | None = None
        #: How many times the provider was called.
        self.refreshes = 0
        if isinstance(token, str):
            self._token = check_secret("access_token", token)
        elif callable(token):
            self._provider = token
        else:
            raise TypeError("access_token must be a string or an async callable returning one")

    @property
    def refreshable(self) -> bool:
        """True when the token comes from a provider that can be asked for a new one."""
        return self._provider is not None

    def _stale(self) -> bool:
        if self._token is None:
            return True
        return self._expires_at is not None and self._expires_at - time.time() < REFRESH_MARGIN

    async def get(self) -> str:
        """Return the current token, asking the provider first if there is none or it expires."""
        if self._provider is None or not self._stale():
            assert self._token is not None
            return self._token
        return await self._fetch(stale=self._token)

    async def refresh(self, stale: str) -> str:
        """Replace ``stale`` (a token the server refused) unless another request already did."""
        if self._provider is None:
            raise RuntimeError("a static access token cannot be refreshed")
        return await self._fetch(stale=stale, refused=True)

    async def _fetch(self, *, stale: str | None, refused: bool = False) -> str:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            # Whoever held the lock before us may have replaced the token already.
            if self._token is not None and self._token != stale and not self._stale():
                return self._token
            if not refused and not self._stale():
                assert self._token is not None
                return self._token
            assert self._provider is not None
            self.refreshes += 1
            pending = self._provider()
            if not inspect.isawaitable(pending):
                raise TypeError("access_token must be an async callable (it returned no awaitable)")
            token = check_secret("the token returned by access_token()", await pending)
            expires_at = jwt_expiry(token)
            # A provider that hands out an already-expiring token is used as is, once,
            # rather than asked again on every request.
            if expires_at is not None and expires_at - time.time() < REFRESH_MARGIN:
                expires_at = None
            self._token, self._expires_at = token, expires_at
            return token

"""The request pipeline every request to one of the fake's Alohub endpoints goes through.

In order: count the request (and its ``page``/``limit`` when the list body carries
integers), sleep the configured latency, check the credentials (401), apply a scripted or
random fault, then hand the request to its endpoint's handler, which validates it (400) and
answers. It runs as an ``aiohttp`` middleware; the route table below says which endpoint a
route is and whether it needs credentials.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Literal, NamedTuple, Protocol, TypeAlias

from aiohttp import web
from aiohttp.typedefs import Handler

from alohub_async.testing._envelope import error_body, json_response
from alohub_async.testing._faults import FaultPlan, play
from alohub_async.testing._listing import LIST_REQUEST, read_list_request

if TYPE_CHECKING:
    from alohub_async.testing._counters import Counters

__all__ = ["Latency", "Pipeline", "PipelineHost", "RouteName", "check_latency"]

Latency: TypeAlias = float | tuple[float, float]
"""Seconds of delay: fixed, or drawn uniformly from ``(low, high)`` by the fake's seeded RNG."""

RouteName: TypeAlias = Literal["list", "detail", "recording"]
"""The aiohttp route names of the endpoints the pipeline serves, and their endpoint names."""


class _Route(NamedTuple):
    """What the pipeline knows about one of Alohub's endpoints.

    Attributes:
        endpoint: The name counters, latencies and faults use.
        authenticated: Whether the request must carry valid credentials.
    """

    endpoint: RouteName
    authenticated: bool


# The routes that go through the pipeline, by aiohttp route name. Any other request (the
# counters endpoint, aiohttp's own 404 and 405 answers) passes through untouched.
_ROUTES: Final[Mapping[str, _Route]] = {
    route.endpoint: route
    for route in (
        _Route("list", authenticated=True),
        _Route("detail", authenticated=True),
        # Recording downloads take no credentials, like a plain file URL.
        _Route("recording", authenticated=False),
    )
}


def check_latency(value: Latency) -> Latency:
    """Validate a latency spec.

    Args:
        value: Seconds, or a ``(low, high)`` range.

    Returns:
        The spec, as floats.

    Raises:
        ValueError: When negative, or a range with ``low > high``.
    """
    if isinstance(value, tuple):
        low, high = value
        if not 0 <= low <= high:
            raise ValueError(f"latency range must satisfy 0 <= low <= high, got {value}")
        return (float(low), float(high))
    if value < 0:
        raise ValueError("latency must not be negative")
    return float(value)


class PipelineHost(Protocol):
    """What a `Pipeline` reads of the fake it serves, on each request.

    ``FakeAlohub`` implements it; a subclass of the fake may override the credential checks.
    """

    @property
    def counters(self) -> Counters:
        """The fake's current counters (``reset_counters()`` swaps in new ones)."""

    @property
    def recording_requests(self) -> list[tuple[str, dict[str, str]]]:
        """``(path, headers)`` of every recording request, appended to as they come."""

    def is_api_key_valid(self, api_key: str) -> bool:
        """Whether the ``Authorization`` header's value is accepted."""

    def is_token_valid(self, token: str) -> bool:
        """Whether the ``X-ACCESS-TOKEN`` header's value is accepted."""


class Pipeline:
    """One fake's request pipeline, and the state only it uses.

    It reads the fake's public side (``counters``, ``recording_requests``, the credential
    checks, which a subclass may override) and owns the rest.

    Args:
        fake: The fake served.
        rng: The fake's seeded RNG, drawn by random latencies and error rates alike.
        latency: The delay of every endpoint without its own.

    Attributes:
        latency: Latency per endpoint; ``"any"`` holds the default.
        faults: The scripted faults and the error rates.
        closing: Set when the fake closes (it ends a hang); None until it starts.
    """

    def __init__(self, fake: PipelineHost, rng: random.Random, latency: Latency) -> None:
        self._fake = fake
        self._rng = rng
        self.latency: dict[str, Latency] = {"any": check_latency(latency)}
        self.faults = FaultPlan(rng)
        self.closing: asyncio.Event | None = None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Take an Alohub request through count, delay, auth and fault, then to its handler.

        Args:
            request: The request.
            handler: The route's handler (or aiohttp's answer for an unknown route).

        Returns:
            The response of the credential check, of a fault, or of the handler.
        """
        route = _ROUTES.get(request.match_info.route.name or "")
        if route is None:
            return await handler(request)
        fake, endpoint = self._fake, route.endpoint
        # The request leaves the counters it entered: reset_counters() swaps in new ones.
        counters = self._enter(fake.counters, endpoint)
        try:
            page = None
            if endpoint == "list":
                # Read once, before the delay, so a refused request still shows the page it
                # asked for; the handler takes this reading from the request.
                request[LIST_REQUEST] = listed = await read_list_request(request)
                page = listed.page
                if page is not None and listed.limit is not None:
                    counters.list_pages.append((page, listed.limit))
            elif endpoint == "recording":
                fake.recording_requests.append((request.path, dict(request.headers)))
            await self._delay(endpoint)
            if route.authenticated:
                denied = self._unauthorized(request)
                if denied is not None:
                    return denied
            fault = self.faults.pick(endpoint, page)
            if fault is not None:
                fake.counters.faults += 1
                played = await play(fault, request, self.closing)
                if played is not None:
                    return played
            return await handler(request)
        finally:
            counters.in_flight -= 1

    @staticmethod
    def _enter(counters: Counters, endpoint: str) -> Counters:
        """Count a request entering."""
        counters.requests += 1
        counters.by_endpoint[endpoint] += 1
        counters.in_flight += 1
        if counters.in_flight > counters.max_in_flight:
            counters.max_in_flight = counters.in_flight
        return counters

    async def _delay(self, endpoint: str) -> None:
        """Sleep the endpoint's latency."""
        spec = self.latency.get(endpoint)
        if spec is None:
            spec = self.latency["any"]
        seconds = self._rng.uniform(*spec) if isinstance(spec, tuple) else spec
        if seconds > 0:
            await asyncio.sleep(seconds)

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        """Return a 401 unless the request carries valid credentials."""
        headers = request.headers
        api_key = headers.get("Authorization")
        if api_key is None or not self._fake.is_api_key_valid(api_key):
            return json_response(error_body("UNAUTHORIZED", "Invalid API key"), 401)
        token = headers.get("X-ACCESS-TOKEN")
        if token is None or not self._fake.is_token_valid(token):
            return json_response(
                error_body("TOKEN_EXPIRED", "Access token is invalid or expired"), 401
            )
        return None

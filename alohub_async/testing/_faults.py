"""What the fake can be told to do wrong: `Fault`, `RecordingFault`, and playing a fault.

A `FaultPlan` holds the scripted faults and the error rates, and picks the one a request
gets; `play` turns that `Fault` into what the client sees (a status, a broken body, a
reset, a hang).
"""

from __future__ import annotations

import asyncio
import random
from typing import Final, Literal, TypeAlias

import attrs
from aiohttp import web

from alohub_async._protocol import encode_json
from alohub_async.testing._envelope import (
    JSON_TYPE,
    SUCCESS,
    error_body,
    json_response,
)

__all__ = ["Endpoint", "Fault", "FaultPlan", "RecordingFault", "play"]

Endpoint: TypeAlias = Literal["list", "detail", "recording", "any"]
"""Which requests a fault or a latency applies to; ``"any"`` means all three."""

_MALFORMED_JSON: Final = b'{"success": "1", "error_code": "SUCCESS", "data": [{"callId": "2026'
_REASONS: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}
_CODES: Final = {
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    429: "TOO_MANY_REQUESTS",
}

FaultKind: TypeAlias = Literal[
    "status", "reset", "malformed_json", "failure_body", "hang", "null_data", "reflect"
]


@attrs.frozen
class Fault:
    """One misbehaviour of the fake, built with the class methods.

    Examples: ``Fault.status(503, html=True)``, ``Fault.status(429, retry_after=1)``,
    ``Fault.reset()``, ``Fault.malformed_json()``, ``Fault.null_data()``,
    ``Fault.failure_body(code="SYSTEM_ERROR", message="Hệ thống bận")``, ``Fault.hang(5)``,
    ``Fault.reflect(401)``.

    Attributes:
        kind: What happens.
        http_status: The status of a ``status`` fault.
        html: Whether a ``status`` fault's body is an nginx HTML page instead of JSON.
        retry_after: The ``Retry-After`` header (seconds or an HTTP date), if any.
        code: The ``error_code`` of a JSON failure body.
        message: The ``error_message`` of a JSON failure body.
        seconds: How long a ``hang`` lasts (None: until the client leaves or the fake closes).
    """

    kind: FaultKind
    http_status: int = 200
    html: bool = False
    retry_after: float | str | None = None
    code: str | None = None
    message: str | None = None
    seconds: float | None = None

    @classmethod
    def status(
        cls,
        status: int,
        *,
        html: bool = False,
        retry_after: float | str | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> Fault:
        """Answer ``status`` with a JSON failure body, or an nginx HTML page.

        Args:
            status: The HTTP status, e.g. 429, 500, 502, 503.
            html: Send ``text/html`` like a gateway does instead of a JSON failure body.
            retry_after: Value of a ``Retry-After`` header: seconds or an HTTP date.
            code: ``error_code`` of the JSON body (default from the status).
            message: ``error_message`` of the JSON body (default: the reason phrase).

        Returns:
            The fault.
        """
        if not 100 <= status <= 599:
            raise ValueError(f"not an HTTP status: {status}")
        return cls("status", status, html, retry_after, code, message)

    @classmethod
    def reset(cls) -> Fault:
        """Abort the connection without answering: the client sees a connection error.

        Returns:
            The fault.
        """
        return cls("reset")

    @classmethod
    def malformed_json(cls) -> Fault:
        """Answer 200 ``application/json`` with a truncated, invalid JSON body.

        Returns:
            The fault.
        """
        return cls("malformed_json")

    @classmethod
    def failure_body(cls, code: str = "SYSTEM_ERROR", message: str = "System error") -> Fault:
        """Answer 200 with ``{"success": "0", "error_code": code, "error_message": message}``.

        Args:
            code: The ``error_code``.
            message: The ``error_message``.

        Returns:
            The fault.
        """
        return cls("failure_body", code=code, message=message)

    @classmethod
    def reflect(cls, status: int = 500, *, html: bool = False) -> Fault:
        """Answer with the request's own headers echoed in the body, as a careless server does.

        ``status`` 200 echoes them in a JSON failure body's ``error_message`` (the
        credentials included, as ``token <X-ACCESS-TOKEN> expired``); any other status in
        a plain or an HTML page (``Authorization=...; X-ACCESS-TOKEN=...``). Used to prove
        that the client never repeats its secrets.

        Args:
            status: The HTTP status.
            html: Send the echo as an HTML page.

        Returns:
            The fault.
        """
        if not 100 <= status <= 599:
            raise ValueError(f"not an HTTP status: {status}")
        return cls("reflect", status, html)

    @classmethod
    def null_data(cls) -> Fault:
        """Answer 200 ``{"success": "1", ..., "data": null}``: success, no records, no total.

        Returns:
            The fault.
        """
        return cls("null_data")

    @classmethod
    def hang(cls, seconds: float | None = None) -> Fault:
        """Wait before answering normally; None waits until the client or the fake gives up.

        Args:
            seconds: How long to wait.

        Returns:
            The fault.
        """
        if seconds is not None and seconds < 0:
            raise ValueError("seconds must not be negative")
        return cls("hang", seconds=seconds)


RecordingFaultKind: TypeAlias = Literal["truncate", "drip", "redirect"]


@attrs.frozen
class RecordingFault:
    """A misbehaviour of the recording endpoint, queued with `FakeAlohub.script_recording`.

    The `Fault` kinds (a status, an HTML page with 200 via ``Fault.status(200, html=True)``,
    a reset, a hang) also apply to recordings through ``script(..., endpoint="recording")``;
    these are the ones only a file download has.

    Attributes:
        kind: What happens.
        after: ``truncate``: bytes of the body sent before the connection drops.
        chunk_size: ``drip``: bytes per write.
        interval: ``drip``: seconds between two writes.
        location: ``redirect``: the origin (``scheme://host:port``) redirected to; the
            path stays the same.
        status: ``redirect``: the HTTP status (301, 302, 303, 307 or 308).
    """

    kind: RecordingFaultKind
    after: int = 0
    chunk_size: int = 256
    interval: float = 0.0
    location: str = ""
    status: int = 302

    @classmethod
    def truncate(cls, after: int = 1000) -> RecordingFault:
        """Announce the whole body's length, send ``after`` bytes, then drop the connection.

        Args:
            after: Bytes sent before the drop.

        Returns:
            The fault.
        """
        if after < 0:
            raise ValueError("after must not be negative")
        return cls("truncate", after=after)

    @classmethod
    def drip(cls, chunk_size: int = 256, interval: float = 0.05) -> RecordingFault:
        """Send the body slowly: ``chunk_size`` bytes every ``interval`` seconds.

        Args:
            chunk_size: Bytes per write.
            interval: Seconds between writes.

        Returns:
            The fault.
        """
        if chunk_size < 1 or interval < 0:
            raise ValueError("chunk_size must be >= 1 and interval >= 0")
        return cls("drip", chunk_size=chunk_size, interval=interval)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> RecordingFault:
        """Redirect to the same path on another origin, e.g. a second fake's ``url``.

        Args:
            location: The origin redirected to.
            status: 301, 302, 303, 307 or 308.

        Returns:
            The fault.
        """
        if status not in (301, 302, 303, 307, 308):
            raise ValueError(f"not a redirect status: {status}")
        return cls("redirect", location=location.rstrip("/"), status=status)


@attrs.define
class _Rule:
    """A fault and the requests it targets."""

    fault: Fault
    endpoint: Endpoint
    page: int | None
    probability: float = 1.0

    def matches(self, endpoint: str, page: int | None) -> bool:
        """Tell whether a request is targeted."""
        return (self.endpoint == "any" or self.endpoint == endpoint) and (
            self.page is None or self.page == page
        )


@attrs.define
class FaultPlan:
    """The faults a fake was told to inject: a script consumed in order, then error rates.

    Attributes:
        rng: The seeded RNG the rates draw from. The fake shares it with its random
            latency, so one seed reproduces the whole run.
    """

    rng: random.Random
    _script: list[_Rule] = attrs.field(factory=list, init=False)
    _rates: list[_Rule] = attrs.field(factory=list, init=False)

    def script(self, faults: tuple[Fault, ...], endpoint: Endpoint, page: int | None) -> None:
        """Queue faults, each consumed by the next matching request, in order."""
        self._script.extend(_Rule(fault, endpoint, page) for fault in faults)

    def add_rate(
        self, probability: float, fault: Fault, endpoint: Endpoint, page: int | None
    ) -> None:
        """Inject ``fault`` into each matching request with ``probability``."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be in [0, 1]")
        self._rates.append(_Rule(fault, endpoint, page, probability))

    @property
    def pending(self) -> int:
        """How many scripted faults are still queued."""
        return len(self._script)

    def clear(self) -> None:
        """Drop scripted faults and error rates."""
        self._script.clear()
        self._rates.clear()

    def pick(self, endpoint: str, page: int | None) -> Fault | None:
        """Consume the first matching scripted fault, else draw the error rates.

        Args:
            endpoint: ``"list"``, ``"detail"`` or ``"recording"``.
            page: The page of a list request (None when it has none, or for other endpoints).

        Returns:
            The fault this request gets, or None.
        """
        if self._script:
            for i, rule in enumerate(self._script):
                if rule.matches(endpoint, page):
                    del self._script[i]
                    return rule.fault
        for rule in self._rates:
            if rule.matches(endpoint, page) and self.rng.random() < rule.probability:
                return rule.fault
        return None


def _html_page(status: int) -> str:
    """Return an nginx-style HTML error page."""
    title = f"{status} {_REASONS.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


def _reflection(fault: Fault, request: web.Request) -> web.Response:
    """Echo the request's headers (credentials included) the way ``fault`` says."""
    token = request.headers.get("X-ACCESS-TOKEN", "")
    if fault.http_status == 200:
        return json_response(error_body("TOKEN_EXPIRED", f"token {token} expired"))
    echo = "; ".join(f"{name}={value}" for name, value in request.headers.items())
    if fault.html:
        page = f"<html><body><h1>{fault.http_status}</h1><pre>{echo}</pre></body></html>"
        return web.Response(text=page, status=fault.http_status, content_type="text/html")
    return web.Response(text=f"token={token}\n{echo}", status=fault.http_status)


async def play(
    fault: Fault, request: web.Request, closing: asyncio.Event | None
) -> web.StreamResponse | None:
    """Play a fault on a request.

    Args:
        fault: The fault.
        request: The request it hits.
        closing: Set when the fake closes: it ends a hang that has no time limit.

    Returns:
        The fault's response, or None to go on answering normally (a hang that ran out).
    """
    kind = fault.kind
    if kind == "hang":
        if closing is None:  # pragma: no cover - handlers only run once started
            return None
        try:
            await asyncio.wait_for(closing.wait(), fault.seconds)
        except asyncio.TimeoutError:
            return None
        kind = "reset"
    if kind == "reset":
        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=500)
    if kind == "malformed_json":
        return web.Response(body=_MALFORMED_JSON, content_type=JSON_TYPE, charset="utf-8")
    if kind == "failure_body":
        return json_response(error_body(fault.code or "", fault.message or ""))
    if kind == "null_data":
        return json_response({**SUCCESS, "data": None})
    if kind == "reflect":
        return _reflection(fault, request)
    status = fault.http_status
    headers = {}
    if fault.retry_after is not None:
        value = fault.retry_after
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        headers["Retry-After"] = str(value)
    if fault.html:
        return web.Response(
            text=_html_page(status), status=status, headers=headers, content_type="text/html"
        )
    body = error_body(
        fault.code or _CODES.get(status, "SYSTEM_ERROR"),
        fault.message or _REASONS.get(status, "Error"),
    )
    return web.Response(
        body=encode_json(body), status=status, headers=headers, content_type=JSON_TYPE
    )

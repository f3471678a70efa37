"""Secrets a server echoes back never reach an error, a log record or a frame's locals.

Each test runs a small hostile server on 127.0.0.1 that reflects what it received (the
request headers, the key, the token) into bodies, headers and status lines, and then
reads everything the client exposes: str, repr, args and attributes of the error and of
every exception chained to it, and every log record (the session's DEBUG lines and
stamina's per-retry WARNING with its ``caused_by`` extra).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import traceback
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any
from urllib.parse import quote, quote_plus

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from alohub_async import (
    AlohubError,
    AlohubSession,
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    TokenProviderError,
)
from alohub_async.testing import set_retry_waits
from tests.hostile import echo_headers, serve, serve_raw

# Characters that URL-encoding, JSON and HTML each rewrite, so every echoed form differs.
KEY = 'hostile-KEY-7f3a/b+c=d"e\\f&g<h>'
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJob3N0aWxlLVRPS0VOIn0.hostileSIGNATURE0123456789abcdef"
FRESH = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmcmVzaCJ9.providerTOKENfreshSIGNATURE0123456789"
# A piece of each secret that survives every encoding a server may apply to it.
MARKERS = ("hostile-KEY", "hostileSIGNATURE", "eyJzdWIiOiJob3N0aWxlLVRPS0VOIn0", "providerTOKEN")
START, END = date(2026, 1, 1), date(2026, 1, 31)

Respond = Callable[[web.Request], web.Response]


def exposed(error: BaseException, caplog: pytest.LogCaptureFixture | None = None) -> str:
    """Everything a caller, a log handler or an error reporter can read from a failure."""
    parts: list[str] = []
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args)]
        parts.append(repr(getattr(current, "__dict__", {})))
        parts += ["".join(traceback.format_exception_only(type(current), current))]
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    if caplog is not None:
        for record in caplog.records:
            if record.name.startswith(("aiohttp.access", "aiohttp.server", "aiohttp.web")):
                continue  # the test server's own logs, not the client's
            parts += [record.getMessage(), repr(vars(record))]
    return "\n".join(parts)


def assert_no_secret(text: str) -> None:
    """Fail naming the first secret marker found in ``text``."""
    for marker in MARKERS:
        assert marker not in text, f"{marker!r} leaked:\n{text}"


class Reflector:
    """A handler that answers with ``respond`` and remembers whether it echoed a secret."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.echoed = False

    async def __call__(self, request: web.Request) -> web.Response:
        response = self.respond(request)
        text = response.text or ""
        seen = text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
        self.echoed |= any(marker in seen for marker in MARKERS)
        return response


def _auth(request: web.Request) -> str:
    return request.headers["Authorization"]


def _token(request: web.Request) -> str:
    return request.headers["X-ACCESS-TOKEN"]


SCENARIOS: dict[str, tuple[Respond, str, type[AlohubError]]] = {
    "401 listing the request headers": (
        lambda r: web.Response(status=401, text=echo_headers(r)),
        "list",
        AuthenticationError,
    ),
    "500 with token=<X-ACCESS-TOKEN>": (
        lambda r: web.Response(status=500, text=f"token={_token(r)}"),
        "list",
        ServerError,
    ),
    "502 HTML page with Authorization=": (
        lambda r: web.Response(
            status=502,
            text=f"<html><body><pre>Authorization={_auth(r)}</pre></body></html>",
            content_type="text/html",
        ),
        "detail",
        ServerError,
    ),
    "200 failure: token <tok> expired": (
        lambda r: web.json_response(
            {"success": "0", "error_code": "E401", "error_message": f"token {_token(r)} expired"}
        ),
        "list",
        APIResponseError,
    ),
    "400 with the key URL-encoded": (
        lambda r: web.Response(status=400, text=f"bad: /login?key={quote(_auth(r), safe='')}"),
        "list",
        BadRequestError,
    ),
    "404 with the key JSON-escaped": (
        lambda r: web.Response(status=404, text=json.dumps({"error": f"no {_auth(r)}"})),
        "detail",
        NotFoundError,
    ),
    "403 with the key HTML-escaped": (
        lambda r: web.Response(status=403, text=f"<p>{html.escape(_auth(r))}</p>"),
        "detail",
        PermissionDeniedError,
    ),
    "429 listing the request headers": (
        lambda r: web.Response(status=429, text=echo_headers(r)),
        "list",
        RateLimitError,
    ),
    "401 quoting only the JWT signature": (
        lambda r: web.Response(status=401, text=f"bad signature {_token(r).split('.')[2]}"),
        "list",
        AuthenticationError,
    ),
    "302 to a Location holding key and token": (
        lambda r: web.Response(
            status=302,
            headers={
                "Location": f"https://evil.example/?k={quote(_auth(r))}&t={_token(r)}",
            },
        ),
        "detail",
        APIStatusError,
    ),
    "200 that is not JSON, quoting the token": (
        lambda r: web.Response(text=f"<html>session {_token(r)} rejected</html>"),
        "list",
        ResponseFormatError,
    ),
    "200 not JSON, cut mid-token by the quote limit": (
        lambda r: web.Response(text="x" * 185 + _token(r)),
        "list",
        ResponseFormatError,
    ),
    "200 detail with data null echoing the key": (
        lambda r: web.json_response({"success": "1", "data": None, "echo": _auth(r)}),
        "detail",
        NotFoundError,
    ),
}


async def _act(alohub: AlohubSession, action: str) -> None:
    if action == "list":
        await alohub.get_calls_page(START, END)
    else:
        await alohub.get_call("call-1")


@pytest.mark.parametrize("provider", [False, True], ids=["static token", "provider token"])
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_echoed_secrets_are_masked_everywhere(
    name: str, provider: bool, caplog: pytest.LogCaptureFixture, no_retry_waits: None
) -> None:
    """Every error type, its chain and every log record hide what the server echoed."""
    respond, action, expected = SCENARIOS[name]
    reflector = Reflector(respond)
    caplog.set_level(logging.DEBUG)

    async def fresh_token() -> str:
        return FRESH

    token: Any = fresh_token if provider else TOKEN
    async with serve(reflector) as url:
        async with AlohubSession(KEY, token, base_url=url, max_retries=2) as alohub:
            with pytest.raises(expected) as info:
                await _act(alohub, action)
    assert reflector.echoed  # the server did repeat a secret: the test can fail
    assert_no_secret(exposed(info.value, caplog))
    if expected in (ServerError, RateLimitError):  # retried: each retry was logged once
        retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
        assert len(retries) == 2
        assert all(r.name == "alohub_async" for r in retries)


async def test_a_status_line_echoing_the_key_is_masked(
    caplog: pytest.LogCaptureFixture, no_retry_waits: None
) -> None:
    """aiohttp quotes a malformed status line in its error: ours masks the echoed key."""

    def answer(head: bytes) -> bytes:
        auth = next(line for line in head.split(b"\r\n") if line.lower().startswith(b"auth"))
        return b"HTTP/1.1 2x0 " + auth + b"\r\nContent-Length: 0\r\n\r\n"

    caplog.set_level(logging.DEBUG)
    async with serve_raw(answer) as url:
        async with AlohubSession(KEY, TOKEN, base_url=url, max_retries=1) as alohub:
            with pytest.raises(APIConnectionError) as info:
                await alohub.get_call("call-1")
    assert "Bad status line" in str(info.value)  # aiohttp did quote the line
    assert "[redacted]" in info.value.message
    assert_no_secret(exposed(info.value, caplog))


async def test_a_listed_call_id_equal_to_the_key_is_masked_in_urls_and_logs(
    caplog: pytest.LogCaptureFixture, no_retry_waits: None
) -> None:
    """A listing that names a call after the key: its detail URL is masked in logs and errors."""
    key = "plainhostile-KEY-0123456789"
    markers = ("plainhostile-KEY",)

    async def handler(request: web.Request) -> web.Response:
        if request.method == "POST":
            row = {"callId": request.headers["Authorization"], "callStartTime": "2026-01-02"}
            return web.json_response({"success": "1", "data": [row], "totalRecord": 1})
        return web.Response(status=500, text="down")

    caplog.set_level(logging.DEBUG)
    async with serve(handler) as url:
        async with AlohubSession(key, TOKEN, base_url=url, max_retries=1) as alohub:
            with pytest.raises(ServerError) as info:
                async for _ in alohub.iter_call_details(START, END):
                    pass
    text = exposed(info.value, caplog)
    assert "/api/report/call-logs/[redacted]" in info.value.url
    assert any("[redacted]" in r.getMessage() for r in caplog.records if r.name == "alohub_async")
    for marker in markers:
        assert marker not in text


# --- item 10: a refused base_url is quoted without userinfo or query --------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://user:PASSWORD@127.0.0.1:8080/",
        "https://user:PASSWORD@example.com/?token=QUERYSECRET",
        "http://user:PASSWORD@app.alohub.vn:9909",
        "ftp://user:PASSWORD@example.com/",
        "user:PASSWORD@example.com",
        "https://user:pa/ssPASSWORD@example.com/",
        "https://example.com/?key=QUERYSECRET",
        "https://example.com/#QUERYSECRET",
        "https://example.com:bad/?key=QUERYSECRET",
        "http://example.com/?key=QUERYSECRET",
    ],
)
def test_refused_base_url_hides_userinfo_and_query(url: str) -> None:
    """The ValueError says what is wrong and quotes the URL without its secrets."""
    with pytest.raises(ValueError, match="base_url") as info:
        AlohubSession(api_key="k", access_token="t", base_url=url)
    message = str(info.value)
    assert "PASSWORD" not in message
    assert "QUERYSECRET" not in message
    assert "example.com" in message or "127.0.0.1" in message or "alohub" in message


# --- item 11: no secret in the locals of the request frames -------------------------------


def _client_frame_locals(error: BaseException) -> list[tuple[str, str]]:
    """(frame name, repr of its locals) for each client frame in the traceback."""
    found = []
    for frame, _ in traceback.walk_tb(error.__traceback__):
        if "alohub_async" in frame.f_code.co_filename:
            found.append((frame.f_code.co_name, repr(frame.f_locals)))
    return found


@pytest.mark.parametrize("fault", ["status", "connection"])
@pytest.mark.parametrize("provider", [False, True], ids=["static token", "provider token"])
async def test_request_frames_hold_no_secret(fault: str, provider: bool) -> None:
    """A locals-capturing error reporter finds neither key nor token in our frames."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=503, text="busy")

    def answer(head: bytes) -> bytes:
        return b"HTTP/1.1 2x0 nope\r\n\r\n"

    async def fresh_token() -> str:
        return FRESH

    token: Any = fresh_token if provider else TOKEN
    server = serve(handler) if fault == "status" else serve_raw(answer)
    async with server as url:
        async with AlohubSession(KEY, token, base_url=url, max_retries=0) as alohub:
            with pytest.raises(AlohubError) as info:
                await alohub.get_calls_page(START, END)
    frames = _client_frame_locals(info.value)
    assert {"_request", "get_calls_page"} <= {name for name, _ in frames}
    for name, local_values in frames:
        for secret in (KEY, TOKEN, FRESH):
            assert secret not in local_values, f"{name} holds a secret in its locals"


# --- item 14: provider failures ------------------------------------------------------------


def _failing_after_one(exc: BaseException) -> Callable[[], Awaitable[str]]:
    """A provider that hands out TOKEN, then fails when asked for a fresh one."""
    calls = 0

    async def provider() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            return TOKEN
        raise exc

    return provider


def _response_error() -> aiohttp.ClientResponseError:
    """What a provider's own aiohttp login call raises: its request info holds headers."""
    headers = CIMultiDictProxy(CIMultiDict({"X-ACCESS-TOKEN": TOKEN}))
    info = aiohttp.RequestInfo(URL("https://login.example/refresh"), "POST", headers)
    return aiohttp.ClientResponseError(info, (), status=500, message=f"old token {TOKEN}")


@pytest.mark.parametrize(
    "failure",
    [
        OSError(5, f"cannot read {TOKEN} from the vault"),
        aiohttp.ClientConnectionError(f"login refused for {KEY}"),
        _response_error(),
        RuntimeError("provider bug"),
    ],
    ids=["OSError", "ClientConnectionError", "ClientResponseError", "RuntimeError"],
)
async def test_provider_failures_are_wrapped_and_masked(
    failure: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider's exception is a TokenProviderError (cause kept, secrets masked).

    The provider first hands out TOKEN; the server refuses it, and the provider's failure
    to replace it quotes the old token, which the session remembers as one of its own.
    """
    caplog.set_level(logging.DEBUG)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=401, text="expired")

    async with serve(handler) as url:
        async with AlohubSession(KEY, _failing_after_one(failure), base_url=url) as alohub:
            with pytest.raises(AlohubError) as info:
                await alohub.get_calls_page(START, END)
    assert type(info.value) is TokenProviderError
    assert "provider" in str(info.value)
    assert info.value.__cause__ is not None
    assert type(failure).__name__ in str(info.value)
    assert_no_secret(exposed(info.value, caplog))


async def test_a_hanging_provider_is_bounded_by_the_timeout() -> None:
    """A provider that never answers fails after the session's timeout, as a request would."""
    cancelled = asyncio.Event()

    async def hang() -> str:
        try:
            await asyncio.sleep(3600)
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    async with AlohubSession(KEY, hang, base_url="http://127.0.0.1:9", timeout=0.1) as alohub:
        with pytest.raises(TokenProviderError, match=r"within 0\.1s"):
            await asyncio.wait_for(alohub.get_calls_page(START, END), 30)
    await asyncio.wait_for(cancelled.wait(), 30)


async def test_close_cancels_a_hanging_provider() -> None:
    """close() wakes a request waiting on the provider (RuntimeError) and cancels the call."""
    called, cancelled = asyncio.Event(), asyncio.Event()

    async def hang() -> str:
        called.set()
        try:
            await asyncio.sleep(3600)
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    alohub = AlohubSession(KEY, hang, base_url="http://127.0.0.1:9", timeout=3600)
    waiting = asyncio.ensure_future(alohub.get_calls_page(START, END))
    second = asyncio.ensure_future(alohub.get_calls_page(START, END))
    await asyncio.wait_for(called.wait(), 30)
    await asyncio.wait_for(alohub.close(), 30)
    for task in (waiting, second):
        with pytest.raises(RuntimeError, match="closed"):
            await asyncio.wait_for(task, 30)
    assert cancelled.is_set()


async def test_cancelling_the_caller_cancels_the_provider_call() -> None:
    """A request cancelled while the provider runs leaves no provider task behind."""
    called, cancelled = asyncio.Event(), asyncio.Event()

    async def hang() -> str:
        called.set()
        try:
            await asyncio.sleep(3600)
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    async with AlohubSession(KEY, hang, base_url="http://127.0.0.1:9") as alohub:
        task = asyncio.ensure_future(alohub.get_calls_page(START, END))
        await asyncio.wait_for(called.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(cancelled.wait(), 30)


async def test_an_error_built_while_handling_another_masks_the_whole_chain() -> None:
    """Errors raised ``from`` an exception quoting a secret mask it, its cause and context.

    This is how every module builds errors from server values (``raise ... from exc``
    inside ``except``): the chain is cleaned when the new error is built.
    """
    async with AlohubSession(KEY, TOKEN, base_url="http://127.0.0.1:9"):  # secrets are live
        try:
            try:
                vault = OSError(2, f"no token {TOKEN}", f"/vault/{KEY}")
                raise ValueError(f"unreadable value {TOKEN!r}") from vault
            except ValueError as exc:
                raise ResponseFormatError(f"call record could not be read: {exc!r}") from exc
        except ResponseFormatError as error:
            caught = error
    assert isinstance(caught.__cause__, ValueError)
    assert isinstance(caught.__cause__.__cause__, OSError)
    assert_no_secret(exposed(caught))
    assert "[redacted]" in caught.__cause__.__cause__.filename


# --- the class of bug: generated echoes -----------------------------------------------------

ENCODINGS: dict[str, Callable[[str], str]] = {
    "verbatim": lambda s: s,
    "quote": lambda s: quote(s, safe=""),
    "quote keeping /": quote,
    "quote_plus": lambda s: quote_plus(s),
    "json": lambda s: json.dumps(s)[1:-1],
    "html": html.escape,
    "repr": lambda s: repr(s)[1:-1],
    "repr of repr": lambda s: repr(repr(s))[1:-1],
    "Bearer": lambda s: f"Bearer {s}",
}


class _Records(logging.Handler):
    """Collects every record of every logger while an example runs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.property
@settings(deadline=None)
@given(
    status=st.sampled_from([200, 302, 400, 401, 403, 404, 429, 500, 502, 503]),
    failure_body=st.booleans(),
    secret=st.sampled_from(["key", "token", "provider token"]),
    encoding=st.sampled_from(sorted(ENCODINGS)),
    padding=st.sampled_from([0, 1, 150, 185, 195, 199, 480, 495, 1990, 1995]),
    endpoint=st.sampled_from(["list", "detail"]),
    retries=st.integers(0, 2),
)
def test_no_generated_echo_leaks(
    status: int,
    failure_body: bool,
    secret: str,
    encoding: str,
    padding: int,
    endpoint: str,
    retries: int,
) -> None:
    """Any status, any place, any encoding, any cut: the secret never comes out."""
    encode = ENCODINGS[encoding]

    def respond(request: web.Request) -> web.Response:
        value = request.headers["Authorization" if secret == "key" else "X-ACCESS-TOKEN"]
        echo = "x" * padding + encode(value)
        if status == 302:
            return web.Response(status=302, headers={"Location": f"https://e.example/{echo}"})
        if status == 200 and failure_body:
            return web.json_response({"success": "0", "error_code": echo, "error_message": echo})
        return web.Response(status=status, text=echo)

    async def fresh_token() -> str:
        return FRESH

    async def main() -> BaseException:
        token: Any = fresh_token if secret == "provider token" else TOKEN
        async with serve(Reflector(respond)) as url:
            async with AlohubSession(KEY, token, base_url=url, max_retries=retries) as alohub:
                try:
                    await _act(alohub, endpoint)
                except AlohubError as error:
                    return error
        raise AssertionError("every generated answer is a failure")

    handler = _Records()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    set_retry_waits(False)
    try:
        error = asyncio.run(main())
    finally:
        set_retry_waits(True)
        root.removeHandler(handler)
        root.setLevel(previous)
    client_records = [r for r in handler.records if not r.name.startswith("aiohttp.")]
    logged = "\n".join(r.getMessage() + repr(vars(r)) for r in client_records)
    assert_no_secret(exposed(error) + logged)

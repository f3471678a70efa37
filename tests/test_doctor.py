"""``AlohubSession.diagnose()`` and ``alohub-async doctor``: checks, report, redacted capture."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import trustme
from aiohttp import web

from alohub_async import AlohubSession, Diagnosis
from alohub_async._readers import _DETAIL_FIELDS, fold_key
from alohub_async.cli import ExitCode, run
from alohub_async.testing import Envelope, FakeAlohub

API_KEY = "doctor-api-key-SECRET-4711"
ACCESS_TOKEN = "doctor-access-token-SECRET-0815"
START, END = "2026-01-31T00:00:00+07:00", "2026-01-31T23:59:59+07:00"
ENV_NAMES = ("ALOHUB_API_KEY", "ALOHUB_ACCESS_TOKEN", "ALOHUB_BASE_URL")
# Values that describe the format, not a person, are kept by design: times, durations,
# direction and status (read from the converter's table, which other fields may join).
KEPT_KINDS = {"ts", "seconds", "direction"}
KEPT_FIELDS = {"status"}


@pytest.fixture(autouse=True)
def no_alohub_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own ALOHUB_* variables out of every test."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def _fake(**kwargs: Any) -> FakeAlohub:
    return FakeAlohub(calls=500, api_key=API_KEY, access_token=ACCESS_TOKEN, **kwargs)


def _expected_records_at(envelope: Envelope) -> str:
    if envelope.records_key is None:
        return "(the body itself)"
    if envelope.nested_under is None:
        return envelope.records_key
    return f"{envelope.nested_under}.{envelope.records_key}"


def _expected_total_at(envelope: Envelope) -> str | None:
    if envelope.total_key is None:
        return None
    if envelope.nested_under is None or envelope.total_outside:
        return envelope.total_key
    return f"{envelope.nested_under}.{envelope.total_key}"


@pytest.mark.parametrize("envelope", Envelope.documented(), ids=repr)
async def test_diagnose_every_documented_shape(envelope: Envelope) -> None:
    """Each fake shape: every check passes and the report says where everything was."""
    async with _fake(envelope=envelope) as fake, fake.session() as alohub:
        report = await alohub.diagnose(START, END)
        rows = fake.expected_records(START, END)
    assert [check.name for check in report.checks] == [
        "configuration",
        "connection",
        "list",
        "detail",
    ]
    assert [check.ok for check in report.checks] == [True, True, True, True], str(report)
    assert report.ok and report.failure is None
    assert report.list_envelope is not None
    assert report.list_envelope.records_at == _expected_records_at(envelope)
    assert report.list_envelope.total_at == _expected_total_at(envelope)
    assert report.list_envelope.total == (len(rows) if envelope.total_key else None)
    assert (report.list_envelope.success is not None) == (
        envelope.status_fields and envelope.records_key is not None
    )
    assert "TLS not applicable" in report.checks[1].summary
    # The key that fed call_id is the one holding the listed id, whatever the vocabulary.
    first = rows[0]
    call_id_keys = [key for key, value in first.items() if value == report_call_id(report)]
    call_id = report.field("call_id")
    assert call_id is not None and call_id.sources == tuple(call_id_keys[:1])
    assert report.records_read == 3
    assert report.recording_url_in_detail is not None
    assert report.transcript_shape is not None
    text = str(report)
    assert API_KEY not in text and ACCESS_TOKEN not in text


def report_call_id(report: Diagnosis) -> str:
    """The call id the detail check asked for, as its line says."""
    detail = report.checks[3].summary
    return detail.split("call ", 1)[1].split(":", 1)[0]


async def test_report_follows_the_field_table() -> None:
    """Every field of the converter's table is reported, with its timestamp format."""
    async with _fake() as fake, fake.session() as alohub:
        report = await alohub.diagnose(START, END)
        raw = fake.expected_records(START, END)[0]
    assert [f.field for f in report.fields] == [name for name, _, _ in _DETAIL_FIELDS]
    started = report.field("started_at")
    assert started is not None and started.sources
    value = raw[started.sources[0]]
    offset = "no offset" if isinstance(value, str) and value[-6] not in "+-" else "with offset"
    assert any(offset in fmt for fmt in started.formats), started
    duration = report.field("duration")
    assert duration is not None and duration.formats
    assert report.field("no_such_field") is None


def _jwt(exp: float) -> str:
    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'exp': exp, 'sub': 'x'})}.c2ln"


async def test_expired_jwt_is_an_auth_failure_of_the_configuration() -> None:
    """A JWT past its exp fails the configuration check as an auth problem."""
    token = _jwt(time.time() - 3600)
    async with FakeAlohub(calls=50, access_token=token) as fake, fake.session() as alohub:
        report = await alohub.diagnose(START, END)
    assert report.checks[0].ok is False
    assert "expired" in report.checks[0].summary
    assert report.failure == "auth"
    assert token not in str(report)


async def test_valid_jwt_reports_its_expiry() -> None:
    """A JWT with a future exp passes and says until when."""
    exp = time.time() + 7200
    async with FakeAlohub(calls=50, access_token=_jwt(exp)) as fake, fake.session() as alohub:
        report = await alohub.diagnose(START, END)
    assert report.checks[0].ok is True
    assert "JWT valid until" in report.checks[0].summary


async def test_refused_token_is_an_auth_failure() -> None:
    """A token the server refuses fails the list check as auth; the detail is skipped."""
    async with _fake() as fake, fake.session(access_token="wrong-token-123") as alohub:
        report = await alohub.diagnose(START, END)
    assert report.checks[2].ok is False and report.checks[2].failure == "auth"
    assert report.checks[3].ok is None
    assert report.failure == "auth"


async def test_unreachable_host_is_a_network_failure() -> None:
    """A port nobody listens on fails the connection check; later checks are skipped."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    alohub = AlohubSession(API_KEY, ACCESS_TOKEN, base_url=f"http://127.0.0.1:{port}")
    async with alohub:
        report = await alohub.diagnose(START, END)
    assert report.checks[1].ok is False and "TCP failed" in report.checks[1].summary
    assert [check.ok for check in report.checks[2:]] == [None, None]
    assert report.failure == "network"


async def test_tls_handshake_is_checked(tmp_path: Path) -> None:
    """Over https the connection check completes a verified TLS handshake."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(ca.cert_pem.bytes())
    async with _fake(ssl_context=server) as fake:
        async with fake.session(ssl=str(bundle)) as alohub:
            report = await alohub.diagnose(START, END)
        assert report.checks[1].ok is True and "TLSv1" in report.checks[1].summary
        async with fake.session() as untrusting:  # the system store does not know the CA
            refused = await untrusting.diagnose(START, END)
    assert refused.checks[1].ok is False and "TLS failed" in refused.checks[1].summary
    assert refused.failure == "network"


async def test_empty_range_skips_the_detail() -> None:
    """No call in the range: the detail check is skipped, with a hint, and nothing failed."""
    async with _fake() as fake, fake.session() as alohub:
        report = await alohub.diagnose("2020-01-01", "2020-01-02")
    assert report.checks[2].ok is True
    assert report.checks[3].ok is None and "widen" in report.checks[3].summary
    assert report.ok


async def test_default_range_is_the_last_24_hours() -> None:
    """Without start/end the list asks for the last 24 hours."""
    async with _fake() as fake, fake.session() as alohub:
        report = await alohub.diagnose()
        pages = fake.counters.list_pages
    assert report.checks[2].ok is True
    assert pages == [(1, 3)]


async def test_bad_range_raises_before_any_request() -> None:
    """start after end is a ValueError, and no request was sent."""
    async with _fake() as fake, fake.session() as alohub:
        with pytest.raises(ValueError, match="after"):
            await alohub.diagnose(END, START)
        assert fake.counters.requests == 0


# --- a server whose shape the converter cannot read ---------------------------------------


@asynccontextmanager
async def _hostile(list_body: Any, detail_body: Any = None) -> AsyncIterator[str]:
    async def listing(request: web.Request) -> web.Response:
        return web.json_response(list_body)

    async def detail(request: web.Request) -> web.Response:
        return web.json_response(detail_body)

    app = web.Application()
    app.router.add_post("/api/report/call-logs", listing)
    app.router.add_get("/api/report/call-logs/{call_id}", detail)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_unreadable_records_are_a_plain_report_line() -> None:
    """Records without any id key: a format failure saying so, the keys still listed."""
    body = {"success": "1", "data": [{"foo": "0901234567", "barBaz": 3}], "total": 1}
    async with _hostile(body) as url, AlohubSession(API_KEY, ACCESS_TOKEN, base_url=url) as s:
        report = await s.diagnose(START, END)
    listing = report.checks[2]
    assert listing.ok is False and listing.failure == "format"
    assert "no id field" in listing.summary
    assert report.checks[3].ok is None
    assert set(report.unread_keys) == {"foo", "barBaz"}
    call_id = report.field("call_id")
    assert call_id is not None and call_id.sources == () and call_id.unset == 1
    assert "0901234567" not in json.dumps(report.capture)
    assert "no id field" in str(report)


async def test_body_without_a_list_is_a_plain_report_line() -> None:
    """A body with no list anywhere: the envelope says none was found."""
    async with _hostile({"success": "1", "result": {"x": 1}}) as url:
        async with AlohubSession(API_KEY, ACCESS_TOKEN, base_url=url) as alohub:
            report = await alohub.diagnose(START, END)
    assert report.checks[2].ok is False and report.checks[2].failure == "format"
    assert report.list_envelope is not None and report.list_envelope.records_at is None
    assert "no records found" in str(report)


async def test_unread_keys_and_unusable_values_are_reported() -> None:
    """Keys no field reads are listed; an alias with an unusable value is named as unused."""
    record = {"call_id": "20260131000000-ABCDEFGH-100", "mysteryField": "x", "duration": "soon"}
    detail = {"data": {**record, "transcript": '[{"text": "hi"}]'}}
    async with _hostile({"data": [record]}, detail) as url:
        async with AlohubSession(API_KEY, ACCESS_TOKEN, base_url=url) as alohub:
            report = await alohub.diagnose(START, END)
    assert report.ok, str(report)
    assert report.unread_keys == ("mysteryField",)
    duration = report.field("duration")
    assert duration is not None and duration.sources == () and duration.ignored == ("duration",)
    assert report.transcript_shape is not None
    assert report.transcript_shape.startswith("JSON text of list")


# --- the redacted capture -----------------------------------------------------------------


def _kept_keys() -> set[str]:
    return {
        alias
        for name, kind, aliases in _DETAIL_FIELDS
        if kind in KEPT_KINDS or name in KEPT_FIELDS
        for alias in aliases
    }


def _sensitive_leaves(value: Any, kept: bool = False) -> Iterator[str]:
    """Every string (and long number) a person could be identified by, keys excepted."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _sensitive_leaves(inner, fold_key(key) in _kept_keys())
    elif isinstance(value, list):
        for item in value:
            yield from _sensitive_leaves(item)
    elif kept or value is None or isinstance(value, bool):
        return
    elif isinstance(value, str) and len(value.strip()) >= 3:  # "0" is in any placeholder
        yield value
    elif isinstance(value, int) and abs(value) >= 100:
        yield str(value)


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for inner in value.values():
            yield from _leaves(inner)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, str) and "://" in value:
        # A URL keeps its origin by design, and the fake's origin holds a random port that
        # may contain any short digit string: only the masked path is the capture's own.
        yield urlsplit(value).path
    else:
        yield json.dumps(value, ensure_ascii=False).strip('"')


def _same_shape(original: Any, redacted: Any, where: str = "") -> None:
    if isinstance(original, dict):
        assert isinstance(redacted, dict) and list(redacted) == list(original), where
        for key in original:
            _same_shape(original[key], redacted[key], f"{where}.{key}")
    elif isinstance(original, list):
        assert isinstance(redacted, list) and len(redacted) == len(original), where
        for n, (a, b) in enumerate(zip(original, redacted, strict=True)):
            _same_shape(a, b, f"{where}[{n}]")
    else:
        assert type(redacted) is type(original), where
        if isinstance(original, str) and "://" not in original and not original.startswith("/"):
            assert len(redacted) == len(original), where


async def test_capture_keeps_shape_and_no_sensitive_value() -> None:
    """No original phone, name, id, text or URL path survives; keys and types are exact."""
    async with _fake() as fake, fake.session() as alohub:
        report = await alohub.diagnose(START, END)
        rows = fake.expected_records(START, END)[:3]
        detail = fake.expected_detail(report_call_id(report))
    capture = report.capture
    assert detail is not None
    records = capture["list"]["data"]
    _same_shape(rows, records)
    _same_shape(detail, capture["detail"]["data"])
    survivors = list(_leaves(capture))
    sensitive = [*(v for row in rows for v in _sensitive_leaves(row)), *_sensitive_leaves(detail)]
    assert len(sensitive) > 20  # the test has teeth: names, phones, ids, transcript lines
    for original in sensitive:
        assert not any(original in leaf for leaf in survivors), original
    text = json.dumps(capture, ensure_ascii=False)
    assert API_KEY not in text and ACCESS_TOKEN not in text


async def test_capture_never_holds_the_credentials_even_when_echoed() -> None:
    """A server echoing the key and token (even as a key name) cannot put them in the sample."""
    record = {"call_id": "20260131000000-ABCDEFGH-100", API_KEY: ACCESS_TOKEN, "note": API_KEY}
    async with _hostile({"data": [record], "message": ACCESS_TOKEN}, {"data": record}) as url:
        async with AlohubSession(API_KEY, ACCESS_TOKEN, base_url=url) as alohub:
            report = await alohub.diagnose(START, END)
    text = json.dumps(report.capture) + str(report)
    assert API_KEY not in text and ACCESS_TOKEN not in text


async def test_capture_reduces_urls_to_a_pattern() -> None:
    """A URL keeps its scheme and host; path masked, extension kept, query dropped."""
    url_value = "https://cdn.example.vn/rec/2026/0901234567.mp3?sig=abc123"
    record = {"call_id": "20260131000000-ABCDEFGH-100", "recording_url": url_value}
    async with _hostile({"data": [record]}, {"data": record}) as url:
        async with AlohubSession(API_KEY, ACCESS_TOKEN, base_url=url) as alohub:
            report = await alohub.diagnose(START, END)
    masked = report.capture["list"]["data"][0]["recording_url"]
    assert masked == "https://cdn.example.vn/xxx/0000/0000000000.mp3"


# --- the command --------------------------------------------------------------------------


def _cli(fake: FakeAlohub, *extra: str) -> list[str]:
    return [
        "doctor",
        "--api-key",
        fake.api_key,
        "--access-token",
        fake.access_token,
        "--base-url",
        fake.url,
        *extra,
    ]


async def test_cli_doctor_prints_the_report_and_writes_the_capture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``doctor`` exits 0, prints each check, and --capture writes the redacted sample."""
    target = tmp_path / "sample.json"
    async with _fake() as fake:
        code = await run(_cli(fake, "--start", START, "--end", END, "--capture", str(target)))
    err = capsys.readouterr().err
    assert code == ExitCode.OK, err
    for name in ("configuration", "connection", "list", "detail"):
        assert f"✓ {name}" in err
    sample = json.loads(target.read_text(encoding="utf-8"))
    assert set(sample) == {"list", "detail"}
    assert API_KEY not in err + target.read_text() and ACCESS_TOKEN not in err


@pytest.mark.parametrize(
    ("make_args", "expected"),
    [
        (lambda fake: _cli(fake, "--access-token", "refused-token"), ExitCode.AUTH),
        (lambda fake: ["doctor", "--base-url", fake.url], ExitCode.AUTH),
        (lambda fake: _cli(fake, "--base-url", "http://example.com"), ExitCode.USAGE),
        (lambda fake: _cli(fake, "--start", END, "--end", START), ExitCode.USAGE),
    ],
    ids=["refused", "no-credentials", "plain-http", "bad-range"],
)
async def test_cli_doctor_exit_status(
    make_args: Callable[[FakeAlohub], list[str]],
    expected: ExitCode,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The exit status says what failed: auth, configuration or bad input."""
    async with _fake() as fake:
        code = await run(make_args(fake))
    err = capsys.readouterr().err
    assert code == expected, err
    assert API_KEY not in err and ACCESS_TOKEN not in err


async def test_cli_doctor_format_and_network_failures(capsys: pytest.CaptureFixture[str]) -> None:
    """An unreadable body exits 6 (response format); an unreachable host exits 5."""
    async with _hostile({"data": [{"foo": 1}]}) as url:
        code = await run(["doctor", "--api-key", API_KEY, "--access-token", ACCESS_TOKEN,
                          "--base-url", url, "--start", START, "--end", END])  # fmt: skip
    assert code == ExitCode.RESPONSE
    assert "✗ list" in capsys.readouterr().err
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = await run(["doctor", "--api-key", API_KEY, "--access-token", ACCESS_TOKEN,
                      "--base-url", f"http://127.0.0.1:{port}"])  # fmt: skip
    assert code == ExitCode.NETWORK
    assert "✗ connection" in capsys.readouterr().err

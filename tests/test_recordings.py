"""Recordings: streamed, resumable downloads, the credentials policy, bulk download, the CLI.

Recordings come from FakeAlohub (its own origin), from a second FakeAlohub (another
origin: another port), or from a small hostile ``aiohttp.web`` app on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from alohub_async import (
    AlohubSession,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    CallRecord,
    NotFoundError,
    RecordingOutcome,
    RecordingURLError,
    ResponseFormatError,
    recording_file_name,
)
from alohub_async.cli import ExitCode, run
from alohub_async.testing import FakeAlohub, Fault, RecordingFault, recording_wav

API_KEY = "rec-api-key-SECRET-1234"
ACCESS_TOKEN = "rec-access-token-SECRET-5678"
SECRETS = (API_KEY, ACCESS_TOKEN)
CALLS = 40
RANGE = ("2026-01-01", "2026-01-31")
WAV = recording_wav()
WAIT = 10.0

pytestmark = pytest.mark.usefixtures("no_retry_waits")


@pytest.fixture
async def fake() -> AsyncIterator[FakeAlohub]:
    """The API, which also serves recordings at its own origin."""
    async with FakeAlohub(calls=CALLS, seed=3, api_key=API_KEY, access_token=ACCESS_TOKEN) as f:
        yield f


@pytest.fixture
async def media(fake: FakeAlohub) -> AsyncIterator[FakeAlohub]:
    """A second origin serving the same recordings; ``fake``'s records point at it."""
    async with FakeAlohub(calls=CALLS, seed=3) as other:
        fake.recording_origin = other.url
        yield other


async def answered(alohub: AlohubSession) -> CallRecord:
    """The first listed call that has a recording."""
    async for call in alohub.iter_calls(*RANGE):
        if call.recording_url:
            return call
    raise AssertionError("no answered call in the fake")


def credentials_seen(server: FakeAlohub) -> list[str]:
    """Every credential header, or secret value, that reached ``server``'s recording URLs."""
    seen = []
    for _, headers in server.recording_requests:
        for name, value in headers.items():
            if name.lower() in ("authorization", "x-access-token", "cookie"):
                seen.append(name)
            seen.extend(secret for secret in SECRETS if secret in value)
    return seen


def files(folder: Path) -> list[str]:
    """The names of the files in ``folder``, sorted."""
    return sorted(path.name for path in folder.iterdir())


async def until(condition: Callable[[], bool], seconds: float = WAIT) -> bool:
    """Wait until ``condition()`` holds, at most ``seconds``; tell whether it does."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


@contextlib.asynccontextmanager
async def serve(
    handler: Callable[[web.Request], Any], path: str = "/rec.wav"
) -> AsyncIterator[str]:
    """Serve ``handler`` at ``path`` on 127.0.0.1 (ephemeral port); yield the base URL."""
    app = web.Application()
    app.router.add_get(path, handler)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def cut_body(
    request: web.Request, sent: int, headers: dict[str, str] | None = None
) -> web.StreamResponse:
    """Announce the whole WAV and send its first ``sent`` bytes; drop the connection if cut."""
    response = web.StreamResponse(headers={"Content-Type": "audio/wav", **(headers or {})})
    response.content_length = len(WAV)
    await response.prepare(request)
    await response.write(WAV[:sent])
    if sent < len(WAV):
        assert request.transport is not None
        request.transport.abort()
    return response


# --- one download ------------------------------------------------------------------------


async def test_download_to_a_path_streams_the_whole_file_atomically(
    fake: FakeAlohub, tmp_path: Path
) -> None:
    target = tmp_path / "call.wav"
    async with fake.session() as alohub:
        call = await answered(alohub)
        saved = await alohub.download_recording(call, target)
    assert target.read_bytes() == WAV
    assert saved.path == target and saved.size == len(WAV)
    assert saved.sha256 == hashlib.sha256(WAV).hexdigest()
    assert saved.content_type == "audio/wav" and not saved.resumed
    assert files(tmp_path) == ["call.wav"]  # no .part left


async def test_download_accepts_a_detail_a_url_and_a_binary_file(fake: FakeAlohub) -> None:
    async with fake.session() as alohub:
        call = await answered(alohub)
        detail = await alohub.get_call(call.call_id)
        assert detail.recording_url is not None
        for source in (detail, detail.recording_url):
            sink = io.BytesIO()
            saved = await alohub.download_recording(source, sink)
            assert sink.getvalue() == WAV and saved.path is None


async def test_credentials_go_to_the_api_origin_only(fake: FakeAlohub) -> None:
    """The positive half of the policy: the API's own origin gets the headers."""
    async with fake.session() as alohub:
        await alohub.download_recording(await answered(alohub), io.BytesIO())
    (_, headers), *_ = fake.recording_requests
    assert headers["Authorization"] == API_KEY
    assert headers["X-ACCESS-TOKEN"] == ACCESS_TOKEN


async def test_a_second_origin_never_sees_a_credential(
    fake: FakeAlohub, media: FakeAlohub, tmp_path: Path
) -> None:
    async with fake.session() as alohub:
        call = await answered(alohub)
        assert call.recording_url is not None and call.recording_url.startswith(media.url)
        await alohub.download_recording(call, tmp_path / "a.wav")
    assert (tmp_path / "a.wav").read_bytes() == WAV
    assert media.recording_requests and credentials_seen(media) == []
    assert fake.recording_requests == []


async def test_a_redirect_from_the_api_origin_carries_no_credential(
    fake: FakeAlohub, tmp_path: Path
) -> None:
    async with FakeAlohub(calls=CALLS, seed=3) as other:
        fake.script_recording(RecordingFault.redirect(other.url, status=307))
        async with fake.session() as alohub:
            saved = await alohub.download_recording(await answered(alohub), tmp_path / "a.wav")
        assert saved.size == len(WAV)
        assert len(fake.recording_requests) == 1  # answered with the redirect
        assert len(other.recording_requests) == 1
        assert credentials_seen(other) == []


async def test_a_redirect_to_plain_http_elsewhere_is_refused(
    fake: FakeAlohub, tmp_path: Path
) -> None:
    fake.script_recording(RecordingFault.redirect("http://media.example"))
    async with fake.session() as alohub:
        with pytest.raises(APIStatusError, match="redirect refused") as caught:
            await alohub.download_recording(await answered(alohub), tmp_path / "a.wav")
    assert caught.value.status == 302
    assert files(tmp_path) == []


async def test_redirects_are_bounded(tmp_path: Path) -> None:
    async def loop(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/rec.wav"})

    async with serve(loop) as url, AlohubSession(API_KEY, ACCESS_TOKEN, base_url=url) as alohub:
        with pytest.raises(APIStatusError, match="more than 5 redirects"):
            await alohub.download_recording(url + "/rec.wav", tmp_path / "a.wav")
        assert alohub.stats.requests == 6


async def test_a_relative_path_needs_recording_base_url(fake: FakeAlohub, tmp_path: Path) -> None:
    fake.recording_origin = ""  # records carry "/recordings/ID.wav"
    async with fake.session() as alohub:
        call = await answered(alohub)
        assert call.recording_url is not None and call.recording_url.startswith("/recordings/")
        with pytest.raises(RecordingURLError, match="recording_base_url"):
            await alohub.download_recording(call, tmp_path / "a.wav")
    assert fake.recording_requests == []
    async with fake.session(recording_base_url=fake.url) as alohub:
        saved = await alohub.download_recording(call, tmp_path / "a.wav")
    assert saved.size == len(WAV)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://media.example/r.wav", "https"),
        ("ftp://media.example/r.wav", "https"),
        ("https://user:pw-SECRET@media.example/r.wav", "user name or password"),
        ("//media.example/r.wav", "no scheme"),
        ("  ", "empty"),
    ],
)
async def test_unusable_urls_are_refused_before_any_request(url: str, match: str) -> None:
    async with AlohubSession(API_KEY, ACCESS_TOKEN) as alohub:
        with pytest.raises(RecordingURLError, match=match) as caught:
            await alohub.download_recording(url, io.BytesIO())
        assert alohub.stats.requests == 0
    assert "pw-SECRET" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


async def test_a_record_without_recording_is_refused() -> None:
    async with AlohubSession(API_KEY, ACCESS_TOKEN) as alohub:
        with pytest.raises(RecordingURLError, match="no recording_url"):
            await alohub.download_recording(CallRecord(call_id="x"), io.BytesIO())


async def test_bad_recording_base_url_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="recording_base_url must use https"):
        AlohubSession(API_KEY, ACCESS_TOKEN, recording_base_url="http://media.example")


# --- failures, retries, resume ------------------------------------------------------------


async def test_a_truncated_body_resumes_with_range(fake: FakeAlohub, tmp_path: Path) -> None:
    fake.script_recording(RecordingFault.truncate(after=1000))
    async with fake.session() as alohub:
        saved = await alohub.download_recording(await answered(alohub), tmp_path / "a.wav")
        assert alohub.stats.retries == 1
    assert (tmp_path / "a.wav").read_bytes() == WAV
    assert saved.resumed and saved.sha256 == hashlib.sha256(WAV).hexdigest()
    ranges = [headers.get("Range") for _, headers in fake.recording_requests]
    assert ranges == [None, "bytes=1000-"]


async def test_an_interrupted_download_keeps_its_part_and_the_next_one_continues(
    fake: FakeAlohub, tmp_path: Path
) -> None:
    target = tmp_path / "a.wav"
    fake.script_recording(RecordingFault.truncate(after=1200))
    async with fake.session(max_retries=0) as alohub:
        call = await answered(alohub)
        with pytest.raises(APIConnectionError):
            await alohub.download_recording(call, target)
        assert not target.exists()
        assert (tmp_path / "a.wav.part").read_bytes() == WAV[:1200]
        saved = await alohub.download_recording(call, target)
    assert target.read_bytes() == WAV and saved.resumed
    assert saved.sha256 == hashlib.sha256(WAV).hexdigest()  # the kept bytes are hashed too
    assert fake.recording_requests[-1][1]["Range"] == "bytes=1200-"
    assert not (tmp_path / "a.wav.part").exists()


async def test_a_server_without_range_support_starts_over(tmp_path: Path) -> None:
    """No Accept-Ranges: a cut body is fetched again whole, never spliced."""
    served = 0

    async def flaky(request: web.Request) -> web.StreamResponse:
        nonlocal served
        served += 1
        return await cut_body(request, 500 if served == 1 else len(WAV))

    async with serve(flaky) as url, AlohubSession(API_KEY, ACCESS_TOKEN, base_url=url) as alohub:
        saved = await alohub.download_recording(url + "/rec.wav", tmp_path / "a.wav")
    assert (tmp_path / "a.wav").read_bytes() == WAV and not saved.resumed
    assert served == 2


async def test_a_file_that_changed_between_attempts_is_fetched_whole(tmp_path: Path) -> None:
    """If-Range carries the first answer's ETag; a server whose file changed sends it all."""
    new_audio = b"RIFF" + bytes(range(256)) * 8
    if_range: list[str | None] = []

    async def changing(request: web.Request) -> web.StreamResponse:
        headers = {"Content-Type": "audio/wav", "Accept-Ranges": "bytes"}
        if "Range" not in request.headers:
            return await cut_body(request, 700, {**headers, "ETag": '"v1"'})
        if_range.append(request.headers.get("If-Range"))
        return web.Response(body=new_audio, headers={**headers, "ETag": '"v2"'})

    async with serve(changing) as url, AlohubSession(API_KEY, ACCESS_TOKEN, base_url=url) as alohub:
        saved = await alohub.download_recording(url + "/rec.wav", tmp_path / "a.wav")
    assert if_range == ['"v1"']
    assert (tmp_path / "a.wav").read_bytes() == new_audio and not saved.resumed
    assert saved.sha256 == hashlib.sha256(new_audio).hexdigest()


async def test_a_part_that_cannot_resume_is_removed(tmp_path: Path) -> None:
    async def cut(request: web.Request) -> web.StreamResponse:
        return await cut_body(request, 500)

    async with serve(cut) as url, AlohubSession(API_KEY, ACCESS_TOKEN, base_url=url) as alohub:
        with pytest.raises(APIConnectionError):
            await alohub.download_recording(url + "/rec.wav", tmp_path / "a.wav")
    assert files(tmp_path) == []


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_server_errors_are_retried(fake: FakeAlohub, status: int) -> None:
    fake.script(Fault.status(status), Fault.reset(), endpoint="recording")
    async with fake.session() as alohub:
        sink = io.BytesIO()
        await alohub.download_recording(await answered(alohub), sink)
    assert sink.getvalue() == WAV
    assert len(fake.recording_requests) == 3


async def test_a_missing_recording_is_not_found_and_leaves_nothing(
    fake: FakeAlohub, tmp_path: Path
) -> None:
    fake.script(Fault.status(404), endpoint="recording")
    async with fake.session() as alohub:
        with pytest.raises(NotFoundError):
            await alohub.download_recording(await answered(alohub), tmp_path / "a.wav")
    assert files(tmp_path) == []


@pytest.mark.parametrize(
    "fault",
    [Fault.status(200, html=True), Fault.failure_body("UNAUTHORIZED", "Please log in")],
    ids=["html-page", "json-envelope"],
)
async def test_a_page_or_json_instead_of_audio_is_an_error(
    fake: FakeAlohub, tmp_path: Path, fault: Fault
) -> None:
    fake.script(fault, endpoint="recording")
    async with fake.session() as alohub:
        with pytest.raises(ResponseFormatError, match="expected audio"):
            await alohub.download_recording(await answered(alohub), tmp_path / "a.wav")
    assert files(tmp_path) == []


async def test_html_served_as_audio_is_caught_by_its_first_bytes(tmp_path: Path) -> None:
    async def liar(request: web.Request) -> web.Response:
        return web.Response(body=b"\n<!DOCTYPE html><title>Login</title>", content_type="audio/wav")

    async with serve(liar) as url, AlohubSession(API_KEY, ACCESS_TOKEN, base_url=url) as alohub:
        with pytest.raises(ResponseFormatError, match="HTML page or JSON"):
            await alohub.download_recording(url + "/rec.wav", tmp_path / "a.wav")
    assert files(tmp_path) == []


async def test_the_size_cap_is_checked_against_content_length(
    fake: FakeAlohub, tmp_path: Path
) -> None:
    async with fake.session(max_recording_size=len(WAV) - 1) as alohub:
        with pytest.raises(ResponseFormatError, match="max_recording_size"):
            await alohub.download_recording(await answered(alohub), tmp_path / "a.wav")
    assert files(tmp_path) == []


async def test_the_size_cap_is_checked_while_streaming(tmp_path: Path) -> None:
    """A body without Content-Length is cut off once it passes the cap."""
    written = 0

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal written
        response = web.StreamResponse(headers={"Content-Type": "audio/wav"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(1000):  # bounded: 4 MB at most
            await response.write(b"RIFF" + bytes(4092))
            written += 4096
        return response

    async with (
        serve(endless) as url,
        AlohubSession(API_KEY, ACCESS_TOKEN, base_url=url, max_recording_size=10_000) as alohub,
    ):
        with pytest.raises(ResponseFormatError, match="exceeds max_recording_size"):
            await alohub.download_recording(url + "/rec.wav", tmp_path / "a.wav")
    assert files(tmp_path) == []


async def test_the_timeout_is_per_read_not_for_the_whole_file(fake: FakeAlohub) -> None:
    """Seven reads 0.1 s apart take longer than the 0.3 s timeout, and still succeed."""
    fake.script_recording(RecordingFault.drip(chunk_size=512, interval=0.1))
    async with fake.session(timeout=0.3, max_retries=0) as alohub:
        sink = io.BytesIO()
        await alohub.download_recording(await answered(alohub), sink)
    assert sink.getvalue() == WAV


async def test_a_stalled_body_times_out(fake: FakeAlohub, tmp_path: Path) -> None:
    fake.script_recording(RecordingFault.drip(chunk_size=512, interval=5.0))
    async with fake.session(timeout=0.2, max_retries=0) as alohub:
        with pytest.raises(APITimeoutError):
            await alohub.download_recording(await answered(alohub), tmp_path / "a.wav")
    # It had advertised Range, so what arrived is kept for the next attempt.
    assert (tmp_path / "a.wav.part").read_bytes() == WAV[:512]


async def test_a_refused_token_is_refreshed_once(tmp_path: Path) -> None:
    seen: list[str | None] = []

    async def guarded(request: web.Request) -> web.Response:
        seen.append(request.headers.get("X-ACCESS-TOKEN"))
        if request.headers.get("X-ACCESS-TOKEN") != "fresh-token":
            return web.json_response({"success": "0", "error_code": "TOKEN_EXPIRED"}, status=401)
        return web.Response(body=WAV, content_type="audio/wav")

    tokens = iter(["stale-token", "fresh-token"])

    async def provider() -> str:
        return next(tokens)

    async with serve(guarded) as url, AlohubSession(API_KEY, provider, base_url=url) as alohub:
        saved = await alohub.download_recording(url + "/rec.wav", tmp_path / "a.wav")
    assert saved.size == len(WAV) and seen == ["stale-token", "fresh-token"]


async def test_errors_never_carry_secrets_or_a_signed_query(tmp_path: Path) -> None:
    async def gone(request: web.Request) -> web.Response:
        return web.Response(status=404, text="gone")

    async with serve(gone) as url, AlohubSession(API_KEY, ACCESS_TOKEN, base_url=url) as alohub:
        with pytest.raises(NotFoundError) as caught:
            await alohub.download_recording(
                url + "/rec.wav?signature=SIGNED-SECRET", tmp_path / "a.wav"
            )
    text = str(caught.value) + repr(caught.value.__dict__)
    for secret in (*SECRETS, "SIGNED-SECRET"):
        assert secret not in text
    assert caught.value.__cause__ is None and caught.value.__context__ is None


async def test_a_part_longer_than_the_file_is_replaced(fake: FakeAlohub, tmp_path: Path) -> None:
    """416 for the Range of a stale .part: the download starts over instead of failing."""
    (tmp_path / "a.wav.part").write_bytes(WAV + b"stale tail")
    async with fake.session() as alohub:
        saved = await alohub.download_recording(await answered(alohub), tmp_path / "a.wav")
    assert (tmp_path / "a.wav").read_bytes() == WAV and not saved.resumed
    assert files(tmp_path) == ["a.wav"]


async def test_the_fake_serves_byte_ranges(fake: FakeAlohub) -> None:
    async with fake.session() as alohub:
        url = (await answered(alohub)).recording_url
    assert url is not None
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Range": "bytes=100-199"}) as response:
            assert response.status == 206
            assert response.headers["Content-Range"] == f"bytes 100-199/{len(WAV)}"
            assert await response.read() == WAV[100:200]
        async with http.get(url, headers={"Range": f"bytes={len(WAV)}-"}) as response:
            assert response.status == 416
        async with http.get(url) as response:
            assert response.headers["Accept-Ranges"] == "bytes"
            assert await response.read() == WAV


# --- the streaming form -------------------------------------------------------------------


async def test_open_recording_streams_type_length_and_chunks(fake: FakeAlohub) -> None:
    async with fake.session() as alohub:
        async with alohub.open_recording(await answered(alohub)) as audio:
            assert (audio.content_type, audio.content_length) == ("audio/wav", len(WAV))
            body = b"".join([chunk async for chunk in audio])
    assert body == WAV


async def test_open_recording_raises_before_anything_is_streamed(fake: FakeAlohub) -> None:
    fake.script(Fault.status(404), endpoint="recording")
    async with fake.session() as alohub:
        call = await answered(alohub)
        with pytest.raises(NotFoundError):
            async with alohub.open_recording(call):
                raise AssertionError("never entered")


async def test_open_recording_resumes_a_cut_body(fake: FakeAlohub) -> None:
    fake.script_recording(RecordingFault.truncate(after=2000))
    async with fake.session() as alohub:
        async with alohub.open_recording(await answered(alohub)) as audio:
            body = b"".join([chunk async for chunk in audio])
    assert body == WAV


async def test_cancelling_mid_stream_leaves_no_open_connection(fake: FakeAlohub) -> None:
    """A browser leaving a proxy cancels its handler: the upstream response is closed."""
    fake.script_recording(RecordingFault.drip(chunk_size=64, interval=0.2))
    started = asyncio.Event()
    async with aiohttp.ClientSession() as client, fake.session(client_session=client) as alohub:
        call = await answered(alohub)

        async def proxy() -> None:
            async with alohub.open_recording(call) as audio:
                async for _ in audio:
                    started.set()

        task = asyncio.create_task(proxy())
        await asyncio.wait_for(started.wait(), WAIT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert alohub.connections_in_use == 0
        # The fake's handler ends only when the connection is gone (the drip had ~10 s left).
        assert await until(lambda: fake.counters.in_flight == 0)


# --- bulk ---------------------------------------------------------------------------------


async def test_bulk_downloads_every_recording_once_and_skips_complete_files(
    fake: FakeAlohub, media: FakeAlohub, tmp_path: Path
) -> None:
    async with fake.session() as alohub:
        calls = [call async for call in alohub.iter_calls(*RANGE)]
        results = [r async for r in alohub.download_recordings(*RANGE, tmp_path, concurrency=3)]
        assert sorted(r.call_id for r in results) == sorted(c.call_id for c in calls)
        with_audio = {c.call_id for c in calls if c.recording_url}
        for result in results:
            if result.call_id in with_audio:
                assert result.outcome is RecordingOutcome.SAVED, result.error
                assert result.path == tmp_path / f"{result.call_id}.wav"
                assert result.path.read_bytes() == WAV
            else:
                assert result.outcome is RecordingOutcome.NO_RECORDING and result.path is None
        requests = len(media.recording_requests)
        assert requests == len(with_audio)
        again = [r async for r in alohub.download_recordings(*RANGE, tmp_path)]
    assert {r.outcome for r in again if r.call_id in with_audio} == {RecordingOutcome.SKIPPED}
    assert len(media.recording_requests) == requests
    assert credentials_seen(media) == []


async def test_bulk_reports_a_failure_and_goes_on(
    fake: FakeAlohub, media: FakeAlohub, tmp_path: Path
) -> None:
    media.script(Fault.status(404), endpoint="recording")
    async with fake.session() as alohub:
        results = [r async for r in alohub.download_recordings(*RANGE, tmp_path)]
    failed = [r for r in results if r.outcome is RecordingOutcome.FAILED]
    assert len(failed) == 1 and isinstance(failed[0].error, NotFoundError)
    assert failed[0].path is not None and not failed[0].path.exists()
    saved = [r for r in results if r.outcome is RecordingOutcome.SAVED]
    assert len(saved) == len(files(tmp_path)) > 1


async def test_bulk_concurrency_is_bounded(
    fake: FakeAlohub, media: FakeAlohub, tmp_path: Path
) -> None:
    media.set_latency(0.05, "recording")
    async with fake.session() as alohub:
        results = [r async for r in alohub.download_recordings(*RANGE, tmp_path, concurrency=2)]
    assert any(r.outcome is RecordingOutcome.SAVED for r in results)
    assert media.counters.max_in_flight == 2


async def test_bulk_bad_arguments_fail_before_any_request(fake: FakeAlohub, tmp_path: Path) -> None:
    async with fake.session() as alohub:
        with pytest.raises(ValueError, match="not an existing directory"):
            alohub.download_recordings(*RANGE, tmp_path / "missing")
        with pytest.raises(ValueError, match="concurrency"):
            alohub.download_recordings(*RANGE, tmp_path, concurrency=0)
        with pytest.raises(ValueError, match="start"):
            alohub.download_recordings("2026-02-01", "2026-01-01", tmp_path)
    assert fake.counters.requests == 0


async def test_breaking_out_of_a_bulk_download_cancels_the_rest(
    fake: FakeAlohub, media: FakeAlohub, tmp_path: Path
) -> None:
    media.set_latency(0.2, "recording")
    async with fake.session() as alohub:
        downloads = alohub.download_recordings(*RANGE, tmp_path, concurrency=4)
        async for _ in downloads:
            break
        await downloads.aclose()
        assert await until(lambda: media.counters.in_flight == 0)
        requests = len(media.recording_requests)
        await asyncio.sleep(0.3)  # longer than the latency: a download still going would show
        assert len(media.recording_requests) == requests <= 4  # none started after the break
    # A cut download keeps only what can be resumed: a non-empty prefix of the file.
    for name in files(tmp_path):
        if name.endswith(".part"):
            assert (
                WAV.startswith((tmp_path / name).read_bytes()) and (tmp_path / name).stat().st_size
            )


@pytest.mark.parametrize(
    ("call_id", "expected"),
    [
        ("20260121095227-IMCRRNJW-342", "20260121095227-IMCRRNJW-342.wav"),
        ("../../etc/passwd", None),
        ("..", None),
        ("a/b\\c:d", None),
    ],
)
def test_file_names_come_from_the_call_id_only(call_id: str, expected: str | None) -> None:
    name = recording_file_name(call_id, URL("https://m.example/x/../../evil.wav?a=/b"))
    if expected is not None:
        assert name == expected
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert name.endswith(".wav")


def test_different_ids_never_share_a_file_and_odd_suffixes_are_dropped() -> None:
    assert recording_file_name("a/b") != recording_file_name("a_b")
    assert recording_file_name("a", URL("https://m.example/a.exe")) == "a.audio"


# --- CLI ----------------------------------------------------------------------------------


def connect(fake: FakeAlohub, *args: str) -> list[str]:
    return [*args, "--base-url", fake.url, "--api-key", API_KEY, "--access-token", ACCESS_TOKEN]


async def test_cli_get_prints_a_transcript_export_and_saves_the_recording(
    fake: FakeAlohub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with fake.session() as alohub:
        call_id = (await answered(alohub)).call_id
    target = tmp_path / "call.wav"
    argv = ["calls", "get", call_id, "--transcript", "srt", "--save-recording", str(target)]
    assert await run(connect(fake, *argv)) == ExitCode.OK
    out, err = capsys.readouterr()
    assert out.startswith("1\n00:00:00,000 --> ")
    assert target.read_bytes() == WAV and "saved the recording" in err
    for kind, start in (("vtt", "WEBVTT\n"), ("json", '{\n  "text": '), ("text", "agent: ")):
        argv = ["calls", "get", call_id, "--transcript", kind]
        assert await run(connect(fake, *argv)) == ExitCode.OK
        assert capsys.readouterr().out.startswith(start)


async def test_cli_recordings_download_shows_progress_and_a_summary(
    fake: FakeAlohub, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    tty = _Tty()
    monkeypatch.setattr("alohub_async.cli._output.PROGRESS_INTERVAL", 0.0)
    monkeypatch.setattr("sys.stderr", tty)
    argv = ["recordings", "download", "--start", RANGE[0], "--end", RANGE[1]]
    argv += ["--dir", str(tmp_path), "--concurrency", "2"]
    assert await run(connect(fake, *argv)) == ExitCode.OK
    err = tty.getvalue()
    saved = len(files(tmp_path))
    assert saved > 1
    assert "\r" in err and " files, " in err and "/s" in err
    assert f"{saved} saved, 0 skipped" in err


async def test_cli_recordings_download_fails_listing_each_failure(
    fake: FakeAlohub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.script(Fault.status(404), Fault.status(404), endpoint="recording")
    argv = [
        "recordings",
        "download",
        "--start",
        RANGE[0],
        "--end",
        RANGE[1],
        "--dir",
        str(tmp_path),
    ]
    assert await run(connect(fake, *argv)) == ExitCode.NOT_FOUND
    err = capsys.readouterr().err
    assert err.count("failed: ") == 2 and "2 downloads failed" in err
    assert API_KEY not in err and ACCESS_TOKEN not in err


async def test_the_demo_saves_one_recording(capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(["demo"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "download_recording(): 2026" in out and f"{len(WAV):,} bytes of audio/wav" in out
    assert "resumed with Range" in out


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True

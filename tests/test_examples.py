"""Every example in examples/ runs here against FakeAlohub, so none of them can rot.

The web apps are served for real on 127.0.0.1 (uvicorn in-process for FastAPI, aiohttp's
own runner for the aiohttp app) and spoken to with a real HTTP client; the worker and the
scripts run as subprocesses with only ``ALOHUB_*`` variables pointing them at the fake,
exactly as their docstrings say to run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import uvicorn
from aiohttp import web

from alohub_async import csv_header, csv_row, to_dict
from alohub_async.testing import FakeAlohub, Fault, RecordingFault, recording_wav

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))

import aiohttp_app  # noqa: E402
import fastapi_app  # noqa: E402

API_KEY = "examples-api-key-SECRET"
ACCESS_TOKEN = "examples-access-token-SECRET"
DAY = "2026-01-21"
# How long a bounded wait may last: far below the session's 30 s timeout, so an upstream
# request left open by a handler cannot end by itself before the wait gives up.
PATIENCE = 10.0


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeAlohub]:
    """A fake with its credentials and URL exported as the examples read them."""
    async with FakeAlohub(calls=2000, api_key=API_KEY, access_token=ACCESS_TOKEN) as server:
        monkeypatch.setenv("ALOHUB_BASE_URL", server.url)
        monkeypatch.setenv("ALOHUB_API_KEY", API_KEY)
        monkeypatch.setenv("ALOHUB_ACCESS_TOKEN", ACCESS_TOKEN)
        yield server


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` until it holds, for at most `PATIENCE` seconds."""
    for _ in range(int(PATIENCE / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting until {what}")


# --- the web apps ------------------------------------------------------------------------


@asynccontextmanager
async def serve_fastapi() -> AsyncIterator[str]:
    config = uvicorn.Config(fastapi_app.app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started or task.done(), "uvicorn started")
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def serve_aiohttp() -> AsyncIterator[str]:
    # Not helpers.serve: the runner must take the example's own options, so that the test
    # of a client leaving mid-stream checks the example, not a setting of the test.
    runner = web.AppRunner(aiohttp_app.make_app(), **aiohttp_app.RUNNER_OPTIONS)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture(params=["fastapi", "aiohttp"])
async def app_url(request: pytest.FixtureRequest, fake: FakeAlohub) -> AsyncIterator[str]:
    """The base URL of one example web app, serving on loopback against the fake."""
    serve = serve_fastapi if request.param == "fastapi" else serve_aiohttp
    async with serve() as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def expected_calls(fake: FakeAlohub, start: str, end: str) -> list[dict[str, Any]]:
    async with fake.session() as alohub:
        return [to_dict(call) async for call in alohub.iter_calls(start, end)]


async def test_listing_streams_the_fakes_records_as_ndjson(
    fake: FakeAlohub, app_url: str, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{app_url}/calls", params={"start": DAY, "end": DAY}) as response:
        assert response.status == 200
        assert response.content_type == "application/x-ndjson"
        lines = (await response.text()).splitlines()
    expected = await expected_calls(fake, DAY, DAY)
    assert len(expected) == len(fake.expected_records(f"{DAY} 00:00:00", f"{DAY} 23:59:59"))
    assert len(expected) > 50  # more than one page
    assert [json.loads(line) for line in lines] == expected


@pytest.mark.parametrize(
    ("fault", "status", "error", "retry_after"),
    [
        (Fault.status(404), 404, "not_found", None),
        (Fault.status(401), 503, "upstream_credentials", None),
        (Fault.status(403), 503, "upstream_credentials", None),
        (Fault.status(429, retry_after=7), 503, "rate_limited", "7"),
        (Fault.status(429), 503, "rate_limited", "30"),
        (Fault.reset(), 504, "upstream_unreachable", None),
        (Fault.status(503, html=True), 502, "upstream_error", None),
        (Fault.malformed_json(), 502, "upstream_error", None),
    ],
)
@pytest.mark.usefixtures("no_retry_waits")
async def test_a_first_page_error_becomes_its_status(
    fake: FakeAlohub,
    app_url: str,
    http: aiohttp.ClientSession,
    fault: Fault,
    status: int,
    error: str,
    retry_after: str | None,
) -> None:
    fake.fail_page(1, fault, times=10)  # more than the session's retries
    async with http.get(f"{app_url}/calls", params={"start": DAY, "end": DAY}) as response:
        body = await response.text()
        assert response.status == status, body
        assert response.headers.get("Retry-After") == retry_after
    assert json.loads(body)["error"] == error
    assert API_KEY not in body and ACCESS_TOKEN not in body


async def test_bad_input_is_a_400_before_any_request(
    fake: FakeAlohub, app_url: str, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{app_url}/calls", params={"start": "soon", "end": DAY}) as response:
        assert response.status == 400
        body = await response.json()
    assert body["error"] == "bad_request"
    assert "soon" in body["detail"]
    assert fake.counters.requests == 0


async def test_a_later_page_error_ends_the_stream_visibly(
    fake: FakeAlohub, app_url: str, http: aiohttp.ClientSession
) -> None:
    fake.fail_page(2, Fault.status(400))  # not retried
    lines: list[bytes] = []
    async with http.get(f"{app_url}/calls", params={"start": DAY, "end": DAY}) as response:
        assert response.status == 200  # sent with the first page, before the failure
        with pytest.raises(aiohttp.ClientPayloadError):  # the body never ends properly
            async for line in response.content:
                lines.append(line)
    records = [json.loads(line) for line in lines[:-1]]
    assert records == (await expected_calls(fake, DAY, DAY))[:50]
    assert json.loads(lines[-1])["error"] == "upstream_error"


async def test_a_client_leaving_mid_listing_stops_the_upstream_requests(
    fake: FakeAlohub, app_url: str, http: aiohttp.ClientSession
) -> None:
    fake.fail_page(3, Fault.hang())  # page 3 never answers while anyone waits for it
    month = {"start": "2026-01-01", "end": "2026-01-31"}
    async with http.get(f"{app_url}/calls", params=month) as response:
        assert response.status == 200
        assert json.loads(await response.content.readline())["call_id"]
        await wait_until(
            lambda: fake.pending_faults == 0 and fake.counters.in_flight == 1,
            "the app waits for page 3",
        )
        response.close()  # the browser leaves
    await wait_until(lambda: fake.counters.in_flight == 0, "the app closed page 3's request")


async def test_details_endpoint_answers_the_calls_details(
    fake: FakeAlohub, app_url: str, http: aiohttp.ClientSession
) -> None:
    call_id = (await expected_calls(fake, DAY, DAY))[0]["call_id"]
    async with http.get(f"{app_url}/calls/{call_id}") as response:
        assert response.status == 200
        body = await response.json()
    async with fake.session() as alohub:
        assert body == to_dict(await alohub.get_call(call_id))
    assert body["transcript"] is None or body["transcript"]["text"]
    async with http.get(f"{app_url}/calls/20990101000000-NOSUCHID-000") as response:
        assert response.status == 404
        assert (await response.json())["error"] == "not_found"


async def recorded_and_unrecorded(fake: FakeAlohub) -> tuple[str, str]:
    calls = await expected_calls(fake, DAY, DAY)
    recorded = next(call["call_id"] for call in calls if call["recording_url"])
    unrecorded = next(call["call_id"] for call in calls if not call["recording_url"])
    return recorded, unrecorded


async def test_recording_proxy_streams_the_fakes_wav(
    fake: FakeAlohub, app_url: str, http: aiohttp.ClientSession
) -> None:
    recorded, unrecorded = await recorded_and_unrecorded(fake)
    async with http.get(f"{app_url}/calls/{recorded}/recording") as response:
        assert response.status == 200
        assert response.content_type == "audio/wav"
        assert response.content_length == len(recording_wav())
        assert await response.read() == recording_wav()
    async with http.get(f"{app_url}/calls/{unrecorded}/recording") as response:
        assert response.status == 404
    fake.script(Fault.status(404), endpoint="recording")
    async with http.get(f"{app_url}/calls/{recorded}/recording") as response:
        assert response.status == 404  # the upstream's own 404, before any audio was sent


async def test_a_client_leaving_mid_recording_closes_the_upstream_response(
    fake: FakeAlohub, app_url: str, http: aiohttp.ClientSession
) -> None:
    recorded, _ = await recorded_and_unrecorded(fake)
    fake.script_recording(RecordingFault.drip(chunk_size=256, interval=3600))
    async with http.get(f"{app_url}/calls/{recorded}/recording") as response:
        assert response.status == 200
        assert recording_wav().startswith(await response.content.readexactly(256))
        assert fake.counters.in_flight == 1  # the upstream response is still open
        response.close()  # the browser leaves
    await wait_until(lambda: fake.counters.in_flight == 0, "the app closed the recording")


# --- the worker ----------------------------------------------------------------------------


async def start_example(script: str, *args: str, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / script),
        *args,
        # The fake's URL and credentials (set by the fixture), none of the developer's
        # other ALOHUB_* settings, then the test's own.
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("ALOHUB_SYNC_")},
            **env,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def run_example(script: str, *args: str, **env: str) -> tuple[int, str, str]:
    process = await start_example(script, *args, **env)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def read_until(stream: asyncio.StreamReader, marker: str) -> str:
    seen = ""
    while marker not in seen:
        line = await asyncio.wait_for(stream.readline(), 60)
        assert line, f"the process ended before printing {marker!r}:\n{seen}"
        seen += line.decode()
    return seen


def stored(db: Path, sql: str) -> list[Any]:
    with contextlib.closing(sqlite3.connect(db)) as connection, connection:
        return connection.execute(sql).fetchall()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_worker_syncs_then_stops_cleanly_on_a_signal(
    fake: FakeAlohub, tmp_path: Path, signum: signal.Signals
) -> None:
    db = tmp_path / "calls.sqlite3"
    worker = await start_example(
        "sync_worker.py",
        ALOHUB_SYNC_DB=str(db),
        ALOHUB_SYNC_START="2026-01-01",
        ALOHUB_SYNC_INTERVAL="3600",
    )
    assert worker.stderr is not None
    log = await read_until(worker.stderr, "synced:")
    worker.send_signal(signum)
    rest = await asyncio.wait_for(worker.stderr.read(), 60)
    log += rest.decode()
    assert await asyncio.wait_for(worker.wait(), 60) == 0, log
    assert "stopped cleanly" in log
    ids = sorted(row[0] for row in stored(db, "SELECT call_id FROM alohub_calls"))
    assert ids == sorted(
        call["call_id"] for call in await expected_calls(fake, "2026-01-01", "2026-01-31")
    )
    assert API_KEY not in log and ACCESS_TOKEN not in log


async def test_worker_stopped_mid_run_hands_its_windows_back(
    fake: FakeAlohub, tmp_path: Path
) -> None:
    db = tmp_path / "calls.sqlite3"
    fake.set_latency(0.2, "list")
    worker = await start_example(
        "sync_worker.py", ALOHUB_SYNC_DB=str(db), ALOHUB_SYNC_START="2026-01-01"
    )
    await wait_until(lambda: fake.counters.requests >= 8, "the worker is mid-run")
    worker.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(worker.communicate(), 60)
    assert worker.returncode == 0, err.decode()
    assert "synced:" not in err.decode()
    assert stored(db, "SELECT COUNT(*) FROM alohub_sync_windows WHERE status = 'pending'")[0][0]
    leased = "SELECT COUNT(*) FROM alohub_sync_windows WHERE lease_owner IS NOT NULL"
    assert stored(db, leased) == [(0,)]  # every unfinished window is free for the next run


# --- the scripts ---------------------------------------------------------------------------


async def test_export_month_csv_writes_every_call_of_the_month(
    fake: FakeAlohub, tmp_path: Path
) -> None:
    target = tmp_path / "january.csv"
    status, out, err = await run_example("export_month_csv.py", "2026-01", str(target))
    assert status == 0, err
    async with fake.session() as alohub:
        expected = [csv_row(call) async for call in alohub.iter_calls("2026-01-01", "2026-01-31")]
    assert len(expected) == 2000  # the whole fake: its calls span January 2026
    with target.open(newline="", encoding="utf-8") as written:
        assert list(csv.reader(written)) == [csv_header(), *expected]
    assert out == f"2000 calls written to {target}\n"


@pytest.mark.usefixtures("no_retry_waits")
async def test_a_failed_export_leaves_no_file(fake: FakeAlohub, tmp_path: Path) -> None:
    target = tmp_path / "january.csv"
    fake.fail_page(3, Fault.status(400))
    status, _, err = await run_example("export_month_csv.py", "2026-01", str(target))
    assert status == 1
    assert "export failed" in err and "HTTP 400" in err
    assert API_KEY not in err and ACCESS_TOKEN not in err
    assert os.listdir(tmp_path) == []  # neither the file nor its .part


async def test_export_refuses_a_bad_month_before_any_request(
    fake: FakeAlohub, tmp_path: Path
) -> None:
    status, _, err = await run_example("export_month_csv.py", "2026-13", str(tmp_path / "x.csv"))
    assert status == 2
    assert "YYYY-MM" in err
    assert fake.counters.requests == 0


async def test_day_details_prints_each_call_and_saves_its_transcript(
    fake: FakeAlohub, tmp_path: Path
) -> None:
    status, out, err = await run_example("day_details.py", DAY, str(tmp_path / "out"))
    assert status == 0, err
    async with fake.session() as alohub:
        details = [detail async for detail in alohub.iter_call_details(DAY, DAY)]
    transcribed = [detail for detail in details if detail.transcript is not None]
    assert transcribed and len(transcribed) < len(details)  # both kinds are covered
    lines = out.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == [detail.call_id for detail in details]
    assert lines[-1] == f"{len(details)} calls, {len(transcribed)} transcripts written to " + str(
        tmp_path / "out"
    )
    files = {path.name: path.read_text("utf-8") for path in (tmp_path / "out").iterdir()}
    assert files == {
        f"{detail.call_id}.txt": detail.transcript.to_text() + "\n"
        for detail in transcribed
        if detail.transcript is not None
    }


def test_every_example_has_a_docstring_saying_how_to_run_it() -> None:
    for path in sorted(EXAMPLES.glob("*.py")):
        source = path.read_text("utf-8")
        docstring = source.split('"""')[1]
        assert "ALOHUB_" in docstring or path.name == "web_common.py", path.name
        assert "fake-server" in docstring or path.name == "web_common.py", path.name

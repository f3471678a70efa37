"""The fake as a tool: compact counters, the counters endpoint, the default span, and the
``fake-server`` options for testing another program (span, anchor, faults, exit summary)."""

from __future__ import annotations

import json
import re
import signal
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest

from alohub_async import AlohubSession, NotFoundError
from alohub_async.cli import ExitCode, build_parser, run
from alohub_async.testing import (
    DEFAULT_ANCHOR,
    DEFAULT_SPAN,
    DEMO_ACCESS_TOKEN,
    DEMO_API_KEY,
    CallDataset,
    Counters,
    FakeAlohub,
    Fault,
)
from tests.cli_helpers import POSIX_ONLY, WAIT, fake_server

ICT = timezone(timedelta(hours=7))


def get_json(url: str) -> Any:
    """GET a loopback URL and decode its JSON body (only ever a local fake)."""
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=WAIT) as response:
        return json.load(response)


# --- counters ----------------------------------------------------------------------------


async def test_counters_repr_is_one_short_line() -> None:
    """``print(fake.counters)`` summarises the (page, limit) pairs instead of dumping them."""
    async with FakeAlohub(calls=5000) as fake, fake.session(page_size=50) as alohub:
        count = 0
        async for _ in alohub.iter_calls("2026-01-01", "2026-01-31"):
            count += 1
        await alohub.get_call(fake.expected_records("2026-01-01", "2026-01-02")[0]["call_id"])
    assert count == 5000
    counters = fake.counters
    # 100 pages, then one more: a full last page is confirmed by an empty one.
    assert len(counters.list_pages) == 101  # the data itself is all there
    text = repr(counters)
    assert "\n" not in text
    assert len(text) < 250, text
    assert text == (
        "Counters(requests=102, by_endpoint={'list': 101, 'detail': 1}, "
        "list_pages=<101 requests, pages 1-101, limit 50>, faults=0, in_flight=0, "
        "max_in_flight=" + str(counters.max_in_flight) + ")"
    )


def test_counters_repr_of_empty_and_mixed_limits() -> None:
    """No list request, and several page sizes, read as such."""
    assert "list_pages=<0 requests>" in repr(Counters())
    mixed = Counters(list_pages=[(1, 10), (2, 20), (3, 30), (1, 40), (9, 50), (4, 60)])
    assert "list_pages=<6 requests, pages 1-9, limits 10,20,30,40,...>" in repr(mixed)
    one = Counters(list_pages=[(7, 25)])
    assert "list_pages=<1 request, pages 7-7, limit 25>" in repr(one)


async def test_counters_endpoint_serves_them_as_json() -> None:
    """``GET /_fake/counters`` answers ``as_dict()`` without credentials, uncounted."""
    async with FakeAlohub(calls=120) as fake:
        async with fake.session(page_size=50) as alohub:
            calls = [c async for c in alohub.iter_calls("2026-01-01", "2026-01-31")]
        assert len(calls) == 120
        async with aiohttp.ClientSession() as http:
            for _ in range(2):
                async with http.get(fake.url + "/_fake/counters") as response:
                    assert response.status == 200
                    assert response.content_type == "application/json"
                    body = await response.json()
        assert body == fake.counters.as_dict()
        assert body["requests"] == 3
        assert body["by_endpoint"] == {"list": 3}
        assert body["list_pages"] == [[1, 50], [2, 50], [3, 50]]
        assert fake.counters.requests == 3  # reading the counters is not a request


# --- the default span ----------------------------------------------------------------------


def test_default_span_covers_whole_days_from_january_1() -> None:
    """The default log starts on 2026-01-01, so a walk from "2026-01-01" has Jan 1 calls."""
    assert datetime(2026, 1, 1, tzinfo=ICT) == DEFAULT_ANCHOR - DEFAULT_SPAN
    data = CallDataset(100_000)
    assert data.total("2026-01-01T00:00:00", "2026-01-01T23:59:59") > 3000
    assert data.total("2025-01-01T00:00:00", "2025-12-31T23:59:59") == 0
    assert data.total("2026-01-01T00:00:00", "2026-01-31T23:59:59") == 100_000


async def test_a_walk_of_january_gets_every_default_call() -> None:
    """``iter_calls("2026-01-01", "2026-01-31")`` returns every call of a default fake."""
    async with FakeAlohub(calls=400) as fake, fake.session() as alohub:
        calls = [c async for c in alohub.iter_calls("2026-01-01", "2026-01-31")]
    assert len(calls) == 400
    oldest = calls[-1].started_at
    assert oldest is not None
    assert oldest.date().isoformat() == "2026-01-01"


# --- fake-server for testing another program ---------------------------------------------


@POSIX_ONLY
async def test_fake_server_span_anchor_faults_counters_and_summary(no_retry_waits: None) -> None:
    """Options move the data and inject faults; counters are readable outside; exit sums up."""
    args = ["--calls", "300", "--latency", "0", "--anchor", "2026-03-10T12:00:00", "--span", "2d"]
    args += ["--fault", "503:page=2", "--fault-rate", "1:404:endpoint=detail"]
    with fake_server(*args) as server:
        banner = "\n".join(server.banner)
        assert "from 2026-03-08 12:00:00+07:00 to 2026-03-10 12:00:00+07:00" in banner
        assert "faults:       --fault 503:page=2, --fault-rate 1:404:endpoint=detail" in banner
        counters_url = server.url + "/_fake/counters"
        assert counters_url in banner
        session = AlohubSession(
            DEMO_API_KEY, DEMO_ACCESS_TOKEN, base_url=server.url, page_size=50, concurrency=1
        )
        async with session as alohub:
            calls = [c async for c in alohub.iter_calls("2026-03-08", "2026-03-10")]
            assert len(calls) == 300
            with pytest.raises(NotFoundError):
                await alohub.get_call(calls[0].call_id)
        counters = get_json(counters_url)
        # Page 2 twice (the 503, then its retry); page 7 confirms that full page 6 was last.
        assert counters["list_pages"] == [[1, 50], [2, 50], [2, 50], [3, 50], [4, 50], [5, 50],
                                          [6, 50], [7, 50]]  # fmt: skip
        assert counters["by_endpoint"] == {"list": 8, "detail": 1}
        assert counters["faults"] == 2
        server.proc.send_signal(signal.SIGINT)
        rest = server.rest()
    assert server.proc.returncode == 0
    assert rest[-1] == (
        "Fake Alohub stopped. Served 9 requests (list 8 · detail 1), 2 faults injected, "
        f"at most {counters['max_in_flight']} in flight."
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fault", "999"], "not an HTTP status"),
        (["--fault", "boom"], "a fault is a status"),
        (["--fault", "503:page=0"], "page must be an integer >= 1"),
        (["--fault", "503:times=x"], "times must be an integer >= 1"),
        (["--fault", "503:bogus=1"], "unknown fault option 'bogus=1'"),
        (["--fault", "503:page=2:endpoint=detail"], "page= applies to list requests only"),
        (["--fault", "429:retry-after=soon"], "retry-after must be a number of seconds"),
        (["--fault", "hang:seconds=-1"], "seconds must be a number of seconds >= 0"),
        (["--fault-rate", "1.5"], "a probability in [0, 1]"),
        (["--fault-rate", "0.1:503:times=2"], "unknown fault option 'times=2'"),
        (["--span", "0d"], "--span must be longer than zero"),
        (["--span", "a week"], "not a duration"),
        (["--anchor", "yesterday"], "not an ISO 8601 time"),
    ],
)
async def test_fake_server_bad_options_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad span, anchor or fault spec is a usage error, before anything listens."""
    assert await run(["fake-server", "--port", "0", *args]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert message in err
    assert re.search(r"^alohub-async: error: ", err, re.MULTILINE)


def test_fault_specs_parse_to_the_fakes_faults() -> None:
    """Every kind and option of a spec reaches the Fault and the rule it is scripted with."""
    args = build_parser().parse_args(
        [
            "fake-server",
            "--fault",
            "502:html:retry-after=2:times=3:endpoint=detail",
            "--fault",
            "hang:seconds=1.5",
            "--fault-rate",
            "0.1:reset:endpoint=detail",
            "--fault-rate",
            "0.05",
        ]
    )
    status, hang = args.fault
    assert status.fault == Fault.status(502, html=True, retry_after=2.0)
    assert (status.endpoint, status.page, status.times) == ("detail", None, 3)
    assert (hang.fault, hang.endpoint) == (Fault.hang(1.5), "any")
    reset, default = args.fault_rate
    assert (reset.probability, reset.fault, reset.endpoint) == (0.1, Fault.reset(), "detail")
    assert (default.probability, default.fault, default.endpoint) == (
        0.05,
        Fault.status(503),
        "any",
    )

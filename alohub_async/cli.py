"""The ``alohub-async`` command: list and fetch calls, run a demo, or serve a fake Alohub.

``main()`` is the console script; it runs the coroutine `run()`, which parses the
arguments, runs one command and turns every expected failure into a one-line message on
stderr and an exit code (see `ExitCode`). Output is streamed: ``calls list`` writes
each record as the walk yields it, so memory stays bounded whatever the range.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import enum
import json
import logging
import os
import re
import shlex
import signal
import sys
import time
import urllib.parse
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime, tzinfo
from typing import Any, NoReturn, Protocol, TextIO

import attrs
import cattrs

from ._converter import get_converter, unstructure
from ._doctor import configuration_failure
from ._protocol import DEFAULT_BASE_URL
from ._session import AlohubSession, _version
from .errors import (
    AlohubError,
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from .models import CallDetail, CallRecord, Stats
from .testing import FakeAlohub, Fault

__all__ = ["ExitCode", "build_parser", "main", "run"]

PROG = "alohub-async"
ENV_API_KEY = "ALOHUB_API_KEY"
ENV_ACCESS_TOKEN = "ALOHUB_ACCESS_TOKEN"  # noqa: S105 - the variable's name, not a secret
ENV_BASE_URL = "ALOHUB_BASE_URL"

#: Seconds between two redraws of the progress line.
PROGRESS_INTERVAL = 0.25

#: The columns of ``--format csv``, in model order (``raw`` is the server's own record).
CSV_FIELDS: tuple[str, ...] = tuple(
    field.name for field in attrs.fields(CallRecord) if field.name != "raw"
)


class ExitCode(enum.IntEnum):
    """The exit status of ``alohub-async``, one per kind of failure."""

    OK = 0
    USAGE = 2
    AUTH = 3
    NOT_FOUND = 4
    NETWORK = 5
    RESPONSE = 6
    INTERRUPTED = 130
    BROKEN_PIPE = 141


_EPILOG = f"""\
credentials:
  --api-key/--access-token/--base-url, else ${ENV_API_KEY}, ${ENV_ACCESS_TOKEN},
  ${ENV_BASE_URL} (prefer the environment: command lines are visible to other users).

exit codes:
  0    success
  2    bad input or usage (unknown option, bad date, start after end, bad call id)
  3    authentication or permission refused, or credentials missing
  4    not found (no such call)
  5    network, timeout, rate limit or server (5xx) failure, after retries
  6    unexpected response (a body reporting failure, an unreadable body, other HTTP errors)
  130  interrupted (Ctrl-C)
  141  the output pipe was closed (e.g. '| head'); the output written so far is complete lines

examples:
  {PROG} demo
  {PROG} fake-server --port 9909
  {PROG} calls list --start 2026-01-01 --end 2026-01-31 --format jsonl --output calls.jsonl
  {PROG} calls get 20260121095227-IMCRRNJW-342
  {PROG} doctor --capture sample.json
  {PROG} sync --start 2026-01-01 --end 2026-01-31 --db calls.sqlite3
"""


# --- argument parsing --------------------------------------------------------------------


class _UsageError(Exception):
    """Bad command-line usage: exit 2."""


class _CredentialsError(Exception):
    """No API key or access token: exit 3."""


class _ListenError(Exception):
    """The fake server could not bind its address: exit 5."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises on bad usage instead of exiting, so ``run`` returns 2."""

    def error(self, message: str) -> NoReturn:
        """Print the usage line, then raise instead of exiting."""
        self.print_usage(sys.stderr)
        raise _UsageError(message)


def _client_options() -> _Parser:
    """Return the credential options, accepted before or after the command."""
    parent = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    group = parent.add_argument_group("connection")
    group.add_argument("--api-key", metavar="KEY", help=f"API key (default: ${ENV_API_KEY})")
    group.add_argument(
        "--access-token", metavar="TOKEN", help=f"access token (default: ${ENV_ACCESS_TOKEN})"
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        help=f"API base URL (default: ${ENV_BASE_URL}, else https://app.alohub.vn:9909)",
    )
    return parent


def _general_options() -> _Parser:
    """Return the behaviour options, accepted before or after the command."""
    parent = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    group = parent.add_argument_group("general")
    group.add_argument(
        "-q", "--quiet", action="store_true", help="no progress line and no summary on stderr"
    )
    group.add_argument(
        "--tz",
        metavar="ZONE",
        help="IANA time zone of dates, naive times and output (default: Asia/Ho_Chi_Minh)",
    )
    group.add_argument(
        "--server-tz",
        metavar="ZONE",
        help="IANA time zone of the server's clock, for the naive times it sends "
        "(default: Asia/Ho_Chi_Minh)",
    )
    group.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="per-attempt timeout (default: 30)"
    )
    group.add_argument(
        "--max-retries",
        type=int,
        metavar="N",
        help="retries per request after the first attempt; 0 = one attempt (default: 3)",
    )
    return parent


_DEFAULTS: dict[str, Any] = {
    "api_key": None,
    "access_token": None,
    "base_url": None,
    "quiet": False,
    "tz": None,
    "server_tz": None,
    "timeout": None,
    "max_retries": None,
}


def build_parser() -> argparse.ArgumentParser:
    """Build the ``alohub-async`` argument parser.

    Returns:
        The parser; each command's handler is stored as ``handler`` on the namespace.
    """
    client, general = _client_options(), _general_options()
    both = [client, general]
    parser = _Parser(
        prog=PROG,
        description="Command line for the Alohub Call Logs API, and a fake server to try it on.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=both,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        parents=[general],
        help="run the client against an embedded fake server (no credentials needed)",
        description=(
            "Start a fake Alohub in this process (2,000 calls, 20-40 ms per request, one "
            "injected 503 and one 429), then list every call concurrently, fetch a few "
            "details and print a summary."
        ),
    )
    demo.set_defaults(handler=_demo)

    fake = commands.add_parser(
        "fake-server",
        help="serve a fake Alohub until Ctrl-C or SIGTERM",
        description=(
            "Serve a deterministic fake Alohub on HOST:PORT until Ctrl-C or SIGTERM, and "
            "print its URL and credentials. Without --api-key/--access-token it accepts "
            "the demo credentials (demo-api-key / demo-access-token)."
        ),
    )
    fake.add_argument("--host", default="127.0.0.1", help="interface (default: 127.0.0.1)")
    fake.add_argument(
        "--port", type=int, default=9909, help="port; 0 picks a free one (default: 9909)"
    )
    fake.add_argument("--calls", type=int, default=100_000, help="calls served (default: 100000)")
    fake.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (default: 0)")
    fake.add_argument(
        "--latency",
        type=float,
        default=0.04,
        metavar="SECONDS",
        help="delay per request (default: 0.04)",
    )
    fake.add_argument(
        "--api-key",
        default=argparse.SUPPRESS,
        metavar="KEY",
        help="the API key it accepts (default: demo-api-key)",
    )
    fake.add_argument(
        "--access-token",
        default=argparse.SUPPRESS,
        metavar="TOKEN",
        help="the access token it accepts (default: demo-access-token)",
    )
    fake.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print only the URL line",
    )
    fake.set_defaults(handler=_fake_server)

    calls = commands.add_parser(
        "calls",
        parents=both,
        help="list calls or fetch one call's details",
        description="List the calls of a time range, or fetch one call's details.",
    )
    calls_commands = calls.add_subparsers(title="commands", metavar="COMMAND")
    calls.set_defaults(handler=_missing_subcommand(calls))

    listing = calls_commands.add_parser(
        "list",
        parents=both,
        help="stream every call between two times",
        description=(
            "Stream every call between --start and --end (dates or ISO 8601 datetimes; a "
            "date end means 23:59:59 of that day), in server order, each written as soon as "
            "it arrives. On failure, the records written so far are a correct prefix."
        ),
    )
    listing.add_argument("--start", required=True, help="first moment, e.g. 2026-01-01")
    listing.add_argument("--end", required=True, help="last moment, e.g. 2026-01-31")
    listing.add_argument(
        "--format",
        choices=("table", "jsonl", "csv"),
        default="table",
        help="output format (default: table)",
    )
    listing.add_argument(
        "--csv-raw",
        action="store_true",
        help=(
            "with --format csv, write cells exactly as received, even those a spreadsheet "
            "would run as a formula (by default, such cells get a leading ')"
        ),
    )
    listing.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE (UTF-8) instead of stdout"
    )
    listing.add_argument(
        "--page-size", type=int, metavar="N", help="records per page (default: 50)"
    )
    listing.add_argument(
        "--concurrency", type=int, metavar="N", help="list requests in flight at once (default: 4)"
    )
    listing.set_defaults(handler=_calls_list)

    get = calls_commands.add_parser(
        "get",
        parents=both,
        help="print one call's details and transcript",
        description="Fetch one call's details, recording URL and transcript.",
    )
    get.add_argument("call_id", metavar="CALL_ID", help="e.g. 20260121095227-IMCRRNJW-342")
    get.add_argument("--json", action="store_true", help="print the details as JSON")
    get.set_defaults(handler=_calls_get)

    doctor = commands.add_parser(
        "doctor",
        parents=both,
        help="check the setup and report what the tenant's responses look like",
        description=(
            "Check the configuration, DNS + TCP + TLS to the host, one list request and one "
            "detail request, each with its timing; then report the envelope, which key fed "
            "each field, keys no field reads, and the timestamp, duration and transcript "
            "formats. The exit status says what failed."
        ),
    )
    doctor.add_argument("--start", help="first moment listed (default: 24 hours before --end)")
    doctor.add_argument("--end", help="last moment listed (default: now)")
    doctor.add_argument(
        "--capture",
        metavar="FILE",
        help="write a redacted JSON sample (a few list records and one detail) to FILE",
    )
    doctor.set_defaults(handler=_doctor)
    _add_sync_command(commands, both)
    return parser


def _add_sync_command(commands: Any, parents: list[_Parser]) -> None:
    """Register ``sync``; its handler lives in ``alohub_async.sync``."""
    from .sync._cli import parse_duration  # here, not at the top: sync imports this module

    sync = commands.add_parser(
        "sync",
        parents=parents,
        help="copy the calls of a range into a database, resumably",
        description=(
            "Copy every call between --start and --end into a database (a SQLite file by "
            "default), window by window; each window's calls and its checkpoint are "
            "committed together, so Ctrl-C or a crash loses nothing and a rerun of the same "
            "command resumes. --incremental syncs from the last run's end (minus --overlap) "
            "to now (minus --settle); --follow repeats it every --interval."
        ),
    )
    sync.add_argument("--start", help="first moment, e.g. 2026-01-01")
    sync.add_argument("--end", help="last moment, e.g. 2026-01-31 (not with --incremental)")
    sync.add_argument(
        "--db",
        default="alohub.sqlite3",
        metavar="PATH|DSN",
        help="SQLite file, or postgresql://user@host/db (default: alohub.sqlite3)",
    )
    sync.add_argument(
        "--every", type=parse_duration, default="1d", help="window length (default: 1d)"
    )
    sync.add_argument(
        "--windows", type=int, default=4, metavar="N", help="windows synced at once (default: 4)"
    )
    sync.add_argument(
        "--max-window-rows",
        type=int,
        default=5000,
        metavar="N",
        help="split a window holding more calls in halves first (default: 5000)",
    )
    sync.add_argument(
        "--details", action="store_true", help="also store each new call's transcript"
    )
    sync.add_argument(
        "--incremental", action="store_true", help="sync from where the last run stopped"
    )
    sync.add_argument(
        "--follow", action="store_true", help="repeat --incremental every --interval until stopped"
    )
    sync.add_argument(
        "--interval",
        type=parse_duration,
        default="60",
        help="pause between two --follow runs (default: 60 seconds)",
    )
    sync.add_argument(
        "--overlap",
        type=parse_duration,
        default="1h",
        help="re-sync this much before the last run's end (default: 1h)",
    )
    sync.add_argument(
        "--settle",
        type=parse_duration,
        default="5m",
        help="leave out the calls of the last ... (still in progress; default: 5m)",
    )
    sync.add_argument("--page-size", type=int, metavar="N", help="records per page (default: 50)")
    sync.add_argument(
        "--concurrency", type=int, metavar="N", help="requests in flight per window (default: 4)"
    )
    sync.set_defaults(handler=_sync)


async def _sync(args: argparse.Namespace) -> int:
    """Run ``sync``, whose handler lives with the sync engine."""
    from .sync._cli import sync_command

    return await sync_command(args)


def _missing_subcommand(parser: argparse.ArgumentParser) -> Callable[..., NoReturn]:
    """Return a handler that reports a missing subcommand."""

    def handler(args: argparse.Namespace) -> NoReturn:
        parser.error("a command is required: list or get")

    return handler


# --- output helpers ----------------------------------------------------------------------


# Characters a terminal may act on instead of showing them, beyond the C0 controls:
# DEL and the C1 controls (0x9b is a one-byte CSI on some terminals), the bidirectional
# marks, embeddings, overrides and isolates that reorder what is shown (so a line can read
# differently from what it holds), the line and paragraph separators, and lone surrogates
# (a JSON body may hold them, and no encoding can write them).
_UNSAFE_BEYOND_C0 = r"\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff"
# With the C0 controls (ESC starts colour, cursor, title and OSC 52 clipboard sequences;
# CR and BS overwrite what was printed), everything `_printable` escapes.
_TERMINAL_UNSAFE = re.compile(rf"[\x00-\x1f{_UNSAFE_BEYOND_C0}]")
# json.dumps already escapes the C0 controls inside strings, and the only ones outside
# strings are its own indentation newlines, which must stay.
_JSON_UNSAFE = re.compile(f"[{_UNSAFE_BEYOND_C0}]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible_escape(match: re.Match[str]) -> str:
    r"""Spell one unsafe character as Python would: ``\n``, ``\x1b``, ``\u202e``."""
    char = match[0]
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _printable(text: str) -> str:
    """Return ``text`` safe to print on a terminal, every unsafe character made visible.

    Server text (record fields, transcripts, error bodies) may hold escape sequences that
    recolour the screen, move the cursor, set the window title or write the clipboard
    (OSC 52), or bidi overrides that make a line read differently from what it holds. Every
    piece of it that reaches a terminal goes through here, so none of them acts.
    """
    return _TERMINAL_UNSAFE.sub(_visible_escape, text)


def _json_escape(match: re.Match[str]) -> str:
    r"""Spell one character as a JSON ``\uXXXX`` escape."""
    return f"\\u{ord(match[0]):04x}"


def _json_text(value: Any, *, indent: int | None = None) -> str:
    r"""Serialize ``value`` as JSON that is exact and also safe to show on a terminal.

    Non-ASCII text stays readable (``ensure_ascii=False``); the characters `_printable`
    would escape become ``\uXXXX`` escapes (json.dumps already does so for the C0
    controls), which every JSON reader decodes back to the very same text.
    """
    return _JSON_UNSAFE.sub(_json_escape, json.dumps(value, ensure_ascii=False, indent=indent))


def _say(message: str) -> None:
    """Print an informational line on stderr."""
    print(_printable(message), file=sys.stderr, flush=True)


def _error(message: str) -> None:
    """Print a one-line error on stderr (it may quote server text: made printable)."""
    line = _printable(" ".join(message.split()))
    print(f"{PROG}: error: {line}", file=sys.stderr, flush=True)


def _quiet_retry_logs() -> None:
    """Keep stamina's per-retry WARNING off stderr when logging is not configured.

    Without a handler, Python's last-resort handler would print a bare
    ``stamina.retry_scheduled`` line for every retry, in the middle of the output. A
    NullHandler stops only that: an application that configures logging still gets them.
    """
    stamina_logger = logging.getLogger("stamina")
    if not any(isinstance(h, logging.NullHandler) for h in stamina_logger.handlers):
        stamina_logger.addHandler(logging.NullHandler())


#: Shorter "secrets" are not redacted: they cannot be real ones, and would garble the text.
_MIN_REDACTED = 6


def _dsn_password(db: str | None) -> str | None:
    """Return the password of a ``--db`` DSN, so no error message can show it."""
    if not db or "://" not in db:
        return None
    try:
        return urllib.parse.urlsplit(db).password
    except ValueError:
        return None


def _redact(text: str, secrets: Sequence[str]) -> str:
    """Replace every occurrence of a secret in ``text`` (a last line of defence)."""
    for secret in secrets:
        if len(secret) >= _MIN_REDACTED:
            text = text.replace(secret, "***")
    return text


class _Progress:
    """A progress line on a terminal, redrawn in place at most every PROGRESS_INTERVAL s."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self._started = self._last = time.monotonic()
        self._width = 0

    @property
    def elapsed(self) -> float:
        """Seconds since the work started."""
        return time.monotonic() - self._started

    def update(self, stats: Stats) -> None:
        """Redraw the line from a walk's stats, unless it was redrawn too recently."""
        if self._stream is None:
            return
        elapsed = self.elapsed
        rate = stats.records / elapsed if elapsed > 0 else 0.0
        text = (
            f"{stats.records:,} calls, {stats.pages:,} pages, {rate:,.0f} calls/s, {elapsed:.1f}s"
        )
        if stats.retries:
            text += f", {stats.retries:,} retries"
        self.show(text)

    def show(self, text: str) -> None:
        """Draw ``text`` as the line, unless it was redrawn less than PROGRESS_INTERVAL ago."""
        if self._stream is None:
            return
        now = time.monotonic()
        if now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        self._stream.write("\r" + text.ljust(self._width))
        self._stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        """Erase the line, if one was drawn."""
        if self._stream is None or not self._width:
            return
        self._stream.write("\r" + " " * self._width + "\r")
        self._stream.flush()
        self._width = 0


def _is_tty(stream: TextIO) -> bool:
    """Tell whether a stream is a terminal, treating odd stream objects as not."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _silence_stdout() -> None:
    """Point stdout at devnull after a broken pipe, so the exit-time flush cannot fail."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@contextlib.contextmanager
def _output_stream(path: str | None) -> Iterator[TextIO]:
    """Yield stdout, or FILE opened for UTF-8 text (created or truncated)."""
    if path is None or path == "-":
        yield sys.stdout
        return
    try:
        stream = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise _UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    with stream:
        yield stream


def _clock(seconds: float | None) -> str:
    """Format a duration as ``H:MM:SS``."""
    if seconds is None:
        return ""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _local(moment: datetime | None, tz: tzinfo) -> str:
    """Format a time in ``tz`` as ``YYYY-MM-DD HH:MM:SS``."""
    return "" if moment is None else moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _cut(text: str | None, width: int) -> str:
    """Fit ``text`` in ``width`` characters, marking a cut with ``~``."""
    text = text or ""
    return text if len(text) <= width else text[: width - 1] + "~"


class _RecordWriter(Protocol):
    """Writes call records to the output, after a header (if the format has one)."""

    def header(self) -> None:
        """Write the header, once, before the first record."""

    def write(self, record: CallRecord) -> None:
        """Write ``record``."""


class _JsonlWriter:
    """One JSON object per line: the record's unstructured fields, non-ASCII kept as is."""

    def __init__(self, stream: TextIO, converter: cattrs.Converter) -> None:
        self._stream = stream
        self._converter = converter

    def header(self) -> None:
        """Write nothing: JSON lines have no header."""

    def write(self, record: CallRecord) -> None:
        """Write ``record`` as one line of JSON."""
        self._stream.write(_json_text(unstructure(self._converter, record)) + "\n")


# Spreadsheets run a cell that starts with one of these as a formula: =HYPERLINK(...) that
# sends data away, or a DDE payload such as =cmd|' /C calc'!A0. Some importers drop a
# leading tab or CR and then read the formula behind it.
_FORMULA_START = ("=", "@", "+", "-", "\t", "\r")
# A sign is harmless when it starts a number or a phone number (+84901234567, -12.5): with
# no letter there can be no function or reference. Checking only the character after the
# sign would let "-2+3+cmd|' /C calc'!A0" through, so the whole cell must look like one.
_SIGNED_NUMBER = re.compile(r"[+-]\d[\d .,()/-]*")


def _defuse_formula(cell: str) -> str:
    """Prefix ``'`` to a cell a spreadsheet would run as a formula (it then shows as text)."""
    if cell.startswith(_FORMULA_START) and not _SIGNED_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


class _CsvWriter:
    """CSV with one header row of `CSV_FIELDS`.

    Unless ``raw``, cells a spreadsheet would run as formulas are defused; on a terminal,
    cells are also made printable (nothing parses a screen, so exactness does not matter
    there, and the cells are server text).
    """

    def __init__(self, stream: TextIO, converter: cattrs.Converter, *, raw: bool = False) -> None:
        self._converter = converter
        self._writer = csv.DictWriter(
            stream, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n"
        )
        # The csv module quotes a cell only for the characters of its own line terminator,
        # so a CR inside a cell would go out bare and split the row for every reader. Rows
        # holding one are written with every cell quoted instead.
        self._quoted = csv.DictWriter(
            stream,
            fieldnames=CSV_FIELDS,
            extrasaction="ignore",
            lineterminator="\n",
            quoting=csv.QUOTE_ALL,
        )
        self._raw = raw
        self._terminal = _is_tty(stream)

    def header(self) -> None:
        """Write the header row."""
        self._writer.writeheader()

    def write(self, record: CallRecord) -> None:
        """Write ``record`` as one CSV row."""
        row = unstructure(self._converter, record)
        bare_cr = False
        for name, cell in row.items():
            if isinstance(cell, str):
                if not self._raw:
                    cell = _defuse_formula(cell)
                if self._terminal:
                    cell = _printable(cell)
                row[name] = cell
                bare_cr = bare_cr or "\r" in cell
        (self._quoted if bare_cr else self._writer).writerow(row)


_TABLE: tuple[tuple[str, int, str], ...] = (
    ("CALL ID", 28, "<"),
    ("STARTED", 19, "<"),
    ("DIRECTION", 9, "<"),
    ("STATUS", 10, "<"),
    ("DURATION", 8, ">"),
    ("CALLER", 12, "<"),
    ("CALLEE", 12, "<"),
    ("AGENT", 0, "<"),
)


class _TableWriter:
    """Fixed-width columns of the main fields, one row per call, header first.

    A table is for reading, on a terminal or in a file shown later: every cell is made
    printable, which also keeps one call on one line.
    """

    def __init__(self, stream: TextIO, tz: tzinfo) -> None:
        self._stream = stream
        self._tz = tz

    def header(self) -> None:
        """Write the column titles."""
        self._row([name for name, _, _ in _TABLE])

    def _row(self, cells: Sequence[str]) -> None:
        parts = [
            format(
                _cut(_printable(cell), width) if width else _printable(cell),
                f"{align}{width}" if width else "",
            )
            for cell, (_, width, align) in zip(cells, _TABLE, strict=True)
        ]
        self._stream.write("  ".join(parts).rstrip() + "\n")

    def write(self, record: CallRecord) -> None:
        """Write ``record`` as one table row."""
        self._row(
            [
                record.call_id,
                _local(record.started_at, self._tz),
                record.direction.value,
                record.status or "",
                _clock(record.duration),
                record.caller or "",
                record.callee or "",
                record.agent or "",
            ]
        )


# --- commands ----------------------------------------------------------------------------


def _session(args: argparse.Namespace, **extra: Any) -> AlohubSession:
    """Build a session from the global options; missing credentials raise _CredentialsError."""
    missing = []
    if not (args.api_key or os.environ.get(ENV_API_KEY)):
        missing.append(f"an API key (--api-key or ${ENV_API_KEY})")
    if not (args.access_token or os.environ.get(ENV_ACCESS_TOKEN)):
        missing.append(f"an access token (--access-token or ${ENV_ACCESS_TOKEN})")
    if missing:
        raise _CredentialsError("missing " + " and ".join(missing))
    kwargs: dict[str, Any] = {
        name: value
        for name in ("tz", "server_tz", "timeout", "max_retries")
        if (value := getattr(args, name)) is not None
    }
    kwargs.update({name: value for name, value in extra.items() if value is not None})
    return AlohubSession(args.api_key, args.access_token, base_url=args.base_url, **kwargs)


def _progress_stream(args: argparse.Namespace, to_stdout: bool) -> TextIO | None:
    """Return stderr when a progress line belongs there, else None.

    Only on a terminal, never with ``--quiet``, and not when the records themselves go
    to the same terminal (they show the progress, and the line would garble them).
    """
    if args.quiet or not _is_tty(sys.stderr):
        return None
    if to_stdout and _is_tty(sys.stdout):
        return None
    return sys.stderr


async def _calls_list(args: argparse.Namespace) -> int:
    """Stream the calls of a range to stdout or a file."""
    if args.csv_raw and args.format != "csv":
        raise _UsageError("--csv-raw applies only to --format csv")
    async with _session(args, page_size=args.page_size, concurrency=args.concurrency) as alohub:
        walk = alohub.iter_calls(args.start, args.end)  # bad arguments raise here
        converter = get_converter(alohub.tz)
        to_stdout = args.output in (None, "-")
        progress = _Progress(_progress_stream(args, to_stdout))
        with _output_stream(args.output) as stream:
            writer: _RecordWriter
            if args.format == "jsonl":
                writer = _JsonlWriter(stream, converter)
            elif args.format == "csv":
                writer = _CsvWriter(stream, converter, raw=args.csv_raw)
            else:
                writer = _TableWriter(stream, alohub.tz)
            # The header waits for the first record (or the end of an empty walk), so a
            # walk that fails at once writes nothing.
            started = False
            try:
                async with contextlib.aclosing(walk):
                    async for call in walk:
                        if not started:
                            writer.header()
                            started = True
                        writer.write(call)
                        progress.update(walk.stats)
            finally:
                progress.clear()
            if not started:
                writer.header()
            stream.flush()
        stats = walk.stats
        if not args.quiet and _is_tty(sys.stderr):
            _say(
                f"{stats.records:,} calls, {stats.pages:,} pages, {stats.requests:,} requests "
                f"({stats.retries:,} retries) in {progress.elapsed:.2f}s"
            )
    return ExitCode.OK


def _print_detail(detail: CallDetail, tz: tzinfo) -> None:
    """Print a call's details and transcript for a human, server text made printable."""
    rows = (
        ("started", _local(detail.started_at, tz)),
        ("ended", _local(detail.ended_at, tz)),
        ("duration", _clock(detail.duration)),
        ("direction", detail.direction.value),
        ("caller", detail.caller),
        ("callee", detail.callee),
        ("extension", detail.extension),
        ("agent", detail.agent),
        ("status", detail.status),
        ("customer", detail.customer_name),
        ("recording", detail.recording_url),
    )
    print(f"Call {_printable(detail.call_id)}")
    for label, value in rows:
        if value:
            print(f"  {label:<10} {_printable(value)}")
    transcript = detail.transcript
    if transcript is None:
        print("Transcript: none")
        return
    if not transcript.segments:
        print("Transcript:")
        # A plain-text transcript keeps its line breaks; anything else is escaped.
        for line in transcript.text.splitlines():
            print(f"  {_printable(line)}")
        return
    print(f"Transcript ({len(transcript.segments)} segments):")
    for segment in transcript.segments:
        when = "" if segment.start is None else f"[{segment.start:7.1f}s] "
        speaker = f"{_printable(segment.speaker)}: " if segment.speaker else ""
        print(f"  {when}{speaker}{_printable(segment.text)}")


async def _calls_get(args: argparse.Namespace) -> int:
    """Print one call's details."""
    async with _session(args) as alohub:
        detail = await alohub.get_call(args.call_id)
        if args.json:
            data = unstructure(get_converter(alohub.tz), detail)
            print(_json_text(data, indent=2))
        else:
            _print_detail(detail, alohub.tz)
    return ExitCode.OK


#: The exit status of each kind of doctor failure.
_DOCTOR_EXIT: dict[str, ExitCode] = {
    "configuration": ExitCode.USAGE,
    "auth": ExitCode.AUTH,
    "network": ExitCode.NETWORK,
    "response": ExitCode.RESPONSE,
    "format": ExitCode.RESPONSE,
}


def _can_encode(text: str, stream: TextIO) -> bool:
    """Tell whether ``stream`` can encode ``text`` (a legacy console may not take ✓)."""
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


async def _doctor(args: argparse.Namespace) -> int:
    """Diagnose the setup and print the report; the exit status says what failed."""
    base_url = args.base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
    try:
        session = _session(args)
    except (_CredentialsError, ValueError) as exc:
        report = configuration_failure(base_url, exc, auth=isinstance(exc, _CredentialsError))
    else:
        async with session as alohub:
            report = await alohub.diagnose(args.start, args.end)
    for line in report.lines(ascii_marks=not _can_encode("✓✗", sys.stderr)):
        _say(line)
    if args.capture is not None:
        with _output_stream(args.capture) as stream:
            json.dump(report.capture, stream, ensure_ascii=False, indent=2)
            stream.write("\n")
        _say(f"Redacted sample written to {args.capture}")
    if report.failure is not None:
        failed = next(check for check in report.checks if check.ok is False)
        _error(f"doctor: the {failed.name} check failed")
        return _DOCTOR_EXIT[report.failure]
    return ExitCode.OK


async def _fake_server(args: argparse.Namespace) -> int:
    """Serve a fake Alohub until SIGINT or SIGTERM."""
    fake = FakeAlohub(
        calls=args.calls,
        seed=args.seed,
        api_key=args.api_key,
        access_token=args.access_token,
        host=args.host,
        port=args.port,
        latency=args.latency,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[tuple[signal.Signals, Any]] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not main thread
            continue
        installed.append((sig, previous))
    try:
        try:
            await fake.start()
        except OSError as exc:
            raise _ListenError(
                f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
            ) from None
        try:
            _print_banner(fake, quiet=args.quiet)
            await stop.wait()
        finally:
            await fake.close()
        if not args.quiet:
            print("Fake Alohub stopped.", flush=True)
    finally:
        for sig, previous in installed:
            loop.remove_signal_handler(sig)
            if previous is not None:
                signal.signal(sig, previous)
    return ExitCode.OK


def _print_banner(fake: FakeAlohub, *, quiet: bool) -> None:
    """Print where the fake listens, its credentials and how to point the CLI at it."""
    print(f"Fake Alohub listening on {fake.url}", flush=True)
    if quiet:
        return
    first = fake.data.anchor - fake.data.span
    exports = " ".join(
        f"{name}={shlex.quote(value)}"
        for name, value in (
            (ENV_BASE_URL, fake.url),
            (ENV_API_KEY, fake.api_key),
            (ENV_ACCESS_TOKEN, fake.access_token),
        )
    )
    print(
        f"  {fake.data.calls:,} calls (seed {fake.data.seed}) from "
        f"{first.isoformat(' ')} to {fake.data.anchor.isoformat(' ')}\n"
        f"  API key:      {fake.api_key}\n"
        f"  access token: {fake.access_token}\n"
        "\n"
        "Point the client at it:\n"
        f"  export {exports}\n"
        f"  {PROG} calls list --start {first.date()} --end {fake.data.anchor.date()} "
        "--format jsonl | head\n"
        "\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )


_DEMO_CALLS = 2000
_DEMO_LATENCY = (0.02, 0.04)
_DEMO_PAGE_SIZE = 50
_DEMO_CONCURRENCY = 8
_DEMO_DETAILS = 3


def _tally(counter: Counter[str]) -> str:
    """Format counts, largest first: ``a 3 · b 1`` (keys are server text: made printable)."""
    return " · ".join(f"{_printable(key)} {count:,}" for key, count in counter.most_common())


async def _timed_count(walk: Any) -> tuple[int, float]:
    """Consume a walk; return how many records it yielded and how long it took."""
    started = time.monotonic()
    count = 0
    async with contextlib.aclosing(walk):
        async for _ in walk:
            count += 1
    return count, time.monotonic() - started


def _answered(call: CallRecord) -> bool:
    """Tell whether a call was answered, in either wording (``answered``, ``ANSWERED``)."""
    return call.status is not None and call.status.strip().lower() == "answered"


async def _demo(args: argparse.Namespace) -> int:
    """Run the client against an embedded fake server and print what happened."""
    options: dict[str, Any] = {
        name: value
        for name in ("tz", "server_tz", "timeout", "max_retries")
        if (value := getattr(args, name)) is not None
    }
    async with FakeAlohub(calls=_DEMO_CALLS, seed=0, latency=_DEMO_LATENCY) as fake:
        fake.fail_page(3, Fault.status(503, html=True))
        fake.fail_page(5, Fault.status(429, retry_after=1))
        start, end = fake.data.anchor - fake.data.span, fake.data.anchor
        low, high = (round(s * 1000) for s in _DEMO_LATENCY)
        print(f"Fake Alohub on {fake.url}: {_DEMO_CALLS:,} calls, {low}-{high} ms per request.")
        print("Injected faults: page 3 answers 503 once, page 5 answers 429 (Retry-After: 1s).")
        print()
        session = fake.session(page_size=_DEMO_PAGE_SIZE, concurrency=_DEMO_CONCURRENCY, **options)
        async with session as alohub:
            tz = alohub.tz
            print(
                f"iter_calls({_local(start, tz)} .. {_local(end, tz)}, "
                f"page_size={_DEMO_PAGE_SIZE}, concurrency={_DEMO_CONCURRENCY})"
            )
            walk = alohub.iter_calls(start, end)
            directions: Counter[str] = Counter()
            statuses: Counter[str] = Counter()
            answered: list[str] = []
            progress = _Progress(_progress_stream(args, to_stdout=False))
            try:
                async with contextlib.aclosing(walk):
                    async for call in walk:
                        directions[call.direction.value] += 1
                        statuses[call.status or "?"] += 1
                        if _answered(call) and len(answered) < _DEMO_DETAILS:
                            answered.append(call.call_id)
                        progress.update(walk.stats)
            finally:
                progress.clear()
            elapsed = progress.elapsed
            stats = walk.stats
            print(f"  calls         {stats.records:,}")
            print(f"  by direction  {_tally(directions)}")
            print(f"  by status     {_tally(statuses)}")
            print(
                f"  pages {stats.pages:,} · requests {stats.requests:,} · "
                f"retries {stats.retries:,} · elapsed {elapsed:.2f}s"
            )
            print()

            details = await asyncio.gather(*(alohub.get_call(call_id) for call_id in answered))
            print(f"get_call() for {len(details)} answered calls, concurrently:")
            for detail in details:
                segments = len(detail.transcript.segments) if detail.transcript else 0
                print(
                    f"  {_printable(detail.call_id)}  {detail.direction.value:<8}  "
                    f"{_printable(detail.caller or '')} -> {_printable(detail.callee or '')}  "
                    f"{_clock(detail.duration)}  {segments} transcript segments"
                )
            shown = max(
                details,
                key=lambda d: len(d.transcript.segments) if d.transcript else 0,
                default=None,
            )
            if shown is not None and shown.transcript is not None:
                print(f"Transcript of {_printable(shown.call_id)} (first lines):")
                for segment in shown.transcript.segments[:4]:
                    when = 0.0 if segment.start is None else segment.start
                    speaker = _printable(segment.speaker or "?")
                    print(f"  [{when:6.1f}s] {speaker:<8} {_cut(_printable(segment.text), 60)}")
            print()

            fake.clear_faults()
            _, fast = await _timed_count(alohub.iter_calls(start, end))
            _, slow = await _timed_count(alohub.iter_calls(start, end, concurrency=1))
            print(
                f"Same walk without faults: {fast:.2f}s at concurrency {_DEMO_CONCURRENCY}, "
                f"{slow:.2f}s at concurrency 1 ({slow / fast:.1f}x faster)."
            )
            print(
                f"Session totals: {alohub.stats.requests:,} requests, "
                f"{alohub.stats.retries:,} retries, {alohub.stats.pages:,} pages."
            )
    print()
    print(f"Next: '{PROG} fake-server' serves a bigger fake for '{PROG} calls list'.")
    return ExitCode.OK


# --- entry points ------------------------------------------------------------------------


def _exit_code(exc: BaseException) -> ExitCode:
    """Map an expected failure to its exit code."""
    if isinstance(exc, (_CredentialsError, AuthenticationError, PermissionDeniedError)):
        return ExitCode.AUTH
    if isinstance(exc, NotFoundError):
        return ExitCode.NOT_FOUND
    if isinstance(exc, (APIConnectionError, ServerError, RateLimitError, _ListenError)):
        return ExitCode.NETWORK
    if isinstance(exc, APIStatusError) and exc.status == 408:
        return ExitCode.NETWORK
    if isinstance(exc, AlohubError):
        return ExitCode.RESPONSE
    return ExitCode.USAGE


def _describe(exc: BaseException) -> str:
    """Return the one-line message for an expected failure."""
    if isinstance(exc, UnicodeEncodeError):
        return (
            f"cannot encode the output as {exc.encoding}: use --output FILE (always UTF-8) "
            "or set PYTHONUTF8=1"
        )
    message = str(exc) or type(exc).__name__
    if isinstance(exc, (AuthenticationError, PermissionDeniedError)):
        message += f" (check --api-key/--access-token or ${ENV_API_KEY}/${ENV_ACCESS_TOKEN})"
    return message


async def run(argv: Sequence[str] | None = None) -> int:
    """Run one ``alohub-async`` command in the running event loop.

    Args:
        argv: The arguments, without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit code (see `ExitCode`); expected failures were reported on stderr.
    """
    _quiet_retry_logs()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        _error(str(exc))
        return ExitCode.USAGE
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    for name, default in _DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    handler: Callable[[argparse.Namespace], Awaitable[int]] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    secrets = [
        value
        for value in (
            args.api_key,
            args.access_token,
            os.environ.get(ENV_API_KEY),
            os.environ.get(ENV_ACCESS_TOKEN),
            _dsn_password(getattr(args, "db", None)),
        )
        if value
    ]
    try:
        return int(await handler(args))
    except BrokenPipeError:
        _silence_stdout()
        return ExitCode.BROKEN_PIPE
    except (
        AlohubError,
        ValueError,
        _UsageError,
        _CredentialsError,
        _ListenError,
    ) as exc:
        _error(_redact(_describe(exc), secrets))
        return _exit_code(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``alohub-async`` and return its exit code (the console script exits with it).

    Args:
        argv: The arguments, without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 on success, see `ExitCode` for the others.
    """
    try:
        return asyncio.run(run(argv))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        return ExitCode.INTERRUPTED

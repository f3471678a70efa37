"""The ``alohub-async`` argument parser: every command, option and help text.

Parsing loads nothing of the client: each command's handler is a `lazy_handler`, which
imports the module that runs the command only when it runs, so ``--help`` and usage
errors stay fast. `build_parser` is public (``alohub_async.cli.build_parser``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

from .._environment import DEFAULT_BASE_URL, ENV_ACCESS_TOKEN, ENV_API_KEY, ENV_BASE_URL
from ._exit_codes import UsageError
from ._help import VersionAction, epilog
from ._option_types import parse_anchor, parse_duration, parse_fault, parse_fault_rate, parse_span
from ._output import PROG

__all__ = [
    "FAKE_ANCHOR",
    "FAKE_SPAN",
    "GLOBAL_DEFAULTS",
    "LIST_CONCURRENCY",
    "LIST_PAGE_SIZE",
    "Handler",
    "Parser",
    "build_parser",
    "lazy_handler",
]

Handler = Callable[[argparse.Namespace], Awaitable[int]]
"""A command: it gets the parsed options and returns the exit code."""

FAKE_ANCHOR = "2026-01-31T23:59:59+07:00"
"""``fake-server``'s default ``--anchor``, as typed on the command line: argparse converts it
only when ``fake-server`` runs, so the fake's data module is not loaded to build the parser. It
equals `alohub_async.testing.DEFAULT_ANCHOR` (a test checks), so the fake serves the same calls
as its default."""

FAKE_SPAN = "30d23h59m59s"
"""``fake-server``'s default ``--span``, typed and converted like `FAKE_ANCHOR`; it equals
`alohub_async.testing.DEFAULT_SPAN` (a test checks), for the same reason."""


def lazy_handler(module: str, name: str) -> Handler:
    """Return a handler that runs ``name`` from ``alohub_async.cli.<module>``, imported then.

    The command modules load the client (aiohttp, cattrs), the fake (aiohttp.web) or the
    sync stores; importing them when the command runs keeps them out of ``--help``.
    """

    async def handler(args: argparse.Namespace) -> int:
        command: Handler = getattr(importlib.import_module(f"{__package__}.{module}"), name)
        return await command(args)

    handler.__qualname__ = handler.__name__ = name
    return handler


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises on bad usage instead of exiting, so ``run`` returns 2."""

    def error(self, message: str) -> NoReturn:
        """Print the usage line, then raise instead of exiting."""
        self.print_usage(sys.stderr)
        raise UsageError(message)


def _client_options() -> Parser:
    """Return the credential options, accepted before or after the command."""
    parent = Parser(add_help=False, argument_default=argparse.SUPPRESS)
    group = parent.add_argument_group("connection")
    group.add_argument("--api-key", metavar="KEY", help=f"API key (default: ${ENV_API_KEY})")
    group.add_argument(
        "--access-token", metavar="TOKEN", help=f"access token (default: ${ENV_ACCESS_TOKEN})"
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        help=f"API base URL (default: ${ENV_BASE_URL}, else {DEFAULT_BASE_URL})",
    )
    return parent


def _general_options() -> Parser:
    """Return the behaviour options, accepted before or after the command."""
    parent = Parser(add_help=False, argument_default=argparse.SUPPRESS)
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


# `calls list` is a bulk export: the API's recommended maximum page (100) and eight
# requests in flight. Measured against the session's defaults (50, 4) on 30,000 calls:
# 1.55x faster at 40 ms latency, 1.27x at none (docs/performance.md).
LIST_PAGE_SIZE = 100
LIST_CONCURRENCY = 8

GLOBAL_DEFAULTS: dict[str, Any] = {
    "api_key": None,
    "access_token": None,
    "base_url": None,
    "quiet": False,
    "tz": None,
    "server_tz": None,
    "timeout": None,
    "max_retries": None,
}


def _command_group(
    commands: Any,
    name: str,
    parents: Sequence[argparse.ArgumentParser],
    *,
    help: str,
    description: str,
) -> Any:
    """Add a command that only groups subcommands; return its subparsers."""
    group = commands.add_parser(name, parents=list(parents), help=help, description=description)
    group.set_defaults(handler=_missing_subcommand(group))
    return group.add_subparsers(title="commands", metavar="COMMAND")


def _range_options(parser: argparse.ArgumentParser) -> None:
    """Add the required ``--start`` and ``--end`` of a command that walks a time range."""
    parser.add_argument("--start", required=True, help="first moment, e.g. 2026-01-01")
    parser.add_argument("--end", required=True, help="last moment, e.g. 2026-01-31")


def build_parser() -> argparse.ArgumentParser:
    """Build the ``alohub-async`` argument parser.

    Returns:
        The parser; each command's handler is stored as ``handler`` on the namespace.
    """
    client, general = _client_options(), _general_options()
    both = [client, general]
    parser = Parser(
        prog=PROG,
        description="Command line for the Alohub Call Logs API, and a fake server to try it on.",
        epilog=epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=both,
    )
    parser.add_argument("--version", action=VersionAction)
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
    demo.set_defaults(handler=lazy_handler("_fake_server", "demo"))

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
        "--anchor",
        type=parse_anchor,
        default=FAKE_ANCHOR,
        metavar="TIME",
        help="start time of the newest call, ISO 8601; naive = Asia/Ho_Chi_Minh "
        "(default: %(default)s)",
    )
    fake.add_argument(
        "--span",
        type=parse_span,
        default=FAKE_SPAN,
        metavar="DURATION",
        help="how far back from --anchor the calls are spread, e.g. 7d, 36h, 1d12h, 90m "
        "(default: from 2026-01-01 00:00:00 to the anchor)",
    )
    fake.add_argument(
        "--fault",
        action="append",
        type=parse_fault,
        default=[],
        metavar="SPEC",
        help="answer the next matching request(s) with a fault; repeatable. SPEC is a status "
        "(429, 503...) or reset, malformed-json, failure-body, hang, then options: "
        "page=N (list page N), endpoint=list|detail|recording|any, times=N, "
        "retry-after=SECONDS, html, seconds=N (hang). E.g. 503:page=3, 429:retry-after=1:times=2",
    )
    fake.add_argument(
        "--fault-rate",
        action="append",
        type=parse_fault_rate,
        default=[],
        metavar="P[:SPEC]",
        help="inject a fault into each matching request with probability P (seeded by --seed); "
        "SPEC as for --fault without times, 503 by default; repeatable. E.g. 0.05, "
        "0.1:502:endpoint=list",
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
    fake.set_defaults(handler=lazy_handler("_fake_server", "fake_server"))

    calls_commands = _command_group(
        commands,
        "calls",
        both,
        help="list calls or fetch one call's details",
        description="List the calls of a time range, or fetch one call's details.",
    )

    listing = calls_commands.add_parser(
        "list",
        parents=both,
        help="stream every call between two times",
        description=(
            "Stream every call between --start and --end (dates or ISO 8601 datetimes; a "
            "date end means 23:59:59 of that day), in server order, each page written as "
            "soon as it arrives. On failure, the records written so far are a correct prefix."
        ),
    )
    _range_options(listing)
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
        "--page-size",
        type=int,
        default=LIST_PAGE_SIZE,
        metavar="N",
        help=f"records per page (default: {LIST_PAGE_SIZE})",
    )
    listing.add_argument(
        "--concurrency",
        type=int,
        default=LIST_CONCURRENCY,
        metavar="N",
        help=f"list requests in flight at once (default: {LIST_CONCURRENCY})",
    )
    listing.set_defaults(handler=lazy_handler("_commands", "calls_list"))

    get = calls_commands.add_parser(
        "get",
        parents=both,
        help="print one call's details and transcript",
        description="Fetch one call's details, recording URL and transcript.",
    )
    get.add_argument("call_id", metavar="CALL_ID", help="e.g. 20260121095227-IMCRRNJW-342")
    get.add_argument("--json", action="store_true", help="print the details as JSON")
    get.add_argument(
        "--transcript",
        choices=("text", "srt", "vtt", "json"),
        help="print only the transcript, as text with speakers, SRT or WebVTT subtitles, or JSON",
    )
    get.add_argument(
        "--save-recording",
        metavar="PATH",
        help="also download the call's recording to PATH (written atomically)",
    )
    get.set_defaults(handler=lazy_handler("_commands", "calls_get"))

    recordings_commands = _command_group(
        commands,
        "recordings",
        both,
        help="download call recordings",
        description="Download call recordings.",
    )
    download = recordings_commands.add_parser(
        "download",
        parents=both,
        help="download the recordings of every call between two times",
        description=(
            "Download the recording of every call between --start and --end into DIR, as "
            "CALL_ID.wav (or the recording's audio suffix). Files already there are skipped, "
            "so an interrupted run can simply be repeated. A failed download does not stop "
            "the others; the exit status is non-zero if any failed, and they are listed."
        ),
    )
    _range_options(download)
    download.add_argument(
        "--dir", required=True, metavar="DIR", help="directory to write to (created if missing)"
    )
    download.add_argument(
        "--concurrency", type=int, metavar="N", help="downloads at once (default: 4)"
    )
    download.set_defaults(handler=lazy_handler("_commands", "recordings_download"))

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
    doctor.set_defaults(handler=lazy_handler("_commands", "doctor"))
    _add_sync_command(commands, both)
    return parser


def _add_sync_command(commands: Any, parents: list[Parser]) -> None:
    """Register ``sync``, the copy of a range into a database."""
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
    sync.add_argument(
        "--page-size",
        type=int,
        metavar="N",
        default=LIST_PAGE_SIZE,
        help=f"records per page (default: {LIST_PAGE_SIZE}, the API's recommended maximum)",
    )
    sync.add_argument(
        "--concurrency", type=int, metavar="N", help="requests in flight per window (default: 4)"
    )
    sync.set_defaults(handler=lazy_handler("_sync", "sync_command"))


def _missing_subcommand(parser: argparse.ArgumentParser) -> Callable[..., NoReturn]:
    """Return a handler that reports a missing subcommand."""

    def handler(args: argparse.Namespace) -> NoReturn:
        parser.error("a command is required: list or get")

    return handler

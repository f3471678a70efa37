"""The ``alohub-async`` command: list and fetch calls, run a demo, or serve a fake Alohub.

``main()`` is the console script; it runs the coroutine `run()`, which parses the
arguments, runs one command and turns every expected failure into a one-line message on
stderr and an exit code (see `ExitCode`). Output is streamed: ``calls list`` writes
each page of records as the walk yields it, so memory stays bounded whatever the range.

The package's modules, by what they do: ``_parser`` (every command and option),
``_help`` (the epilog and ``--version``), ``_option_types`` (durations, fault specs),
``_exit_codes`` (`ExitCode`), ``_failures`` (expected failures: exit code and message),
``_output`` (terminal-safe messages, progress), ``_writers`` (table, JSON lines, CSV),
``_commands`` (``calls``, ``recordings``, ``doctor``), ``_fake_server`` (``demo``,
``fake-server``) and ``_sync`` (``sync``). Parsing imports none of the client: a command's
module is imported when it runs, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._environment import ENV_ACCESS_TOKEN, ENV_API_KEY
from ._exit_codes import ExitCode, UsageError
from ._output import PROG, dsn_password, error, quiet_retry_logs, redact, silence_stdout
from ._parser import GLOBAL_DEFAULTS, Handler, build_parser

if TYPE_CHECKING:
    CSV_FIELDS: tuple[str, ...]

__all__ = ["ExitCode", "build_parser", "main", "run"]


def __getattr__(name: str) -> object:
    """Load ``CSV_FIELDS`` (the ``--format csv`` columns) on first use: it needs the models."""
    if name == "CSV_FIELDS":
        from ._writers import CSV_FIELDS

        return CSV_FIELDS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace | int:
    """Parse the arguments: the options of the command to run, or the exit code if none is.

    ``--help``, ``--version``, a usage error and a missing command end here, before any
    event loop or client module is loaded.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        error(str(exc))
        return ExitCode.USAGE
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    for name, default in GLOBAL_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    return args


async def _run_command(args: argparse.Namespace) -> int:
    """Run the parsed command; report an expected failure in one line and return its code."""
    quiet_retry_logs()
    # Only now that a command runs: the client's errors are not needed to parse.
    from ._failures import EXPECTED, describe, exit_code_for

    handler: Handler = args.handler
    secrets = [
        value
        for value in (
            args.api_key,
            args.access_token,
            os.environ.get(ENV_API_KEY),
            os.environ.get(ENV_ACCESS_TOKEN),
            dsn_password(getattr(args, "db", None)),
        )
        if value
    ]
    try:
        return int(await handler(args))
    except BrokenPipeError:
        silence_stdout()
        return ExitCode.BROKEN_PIPE
    except EXPECTED as exc:
        error(redact(describe(exc), secrets))
        return exit_code_for(exc)


async def run(argv: Sequence[str] | None = None) -> int:
    """Run one ``alohub-async`` command in the running event loop.

    Args:
        argv: The arguments, without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit code (see `ExitCode`); expected failures were reported on stderr.
    """
    parsed = _parse(argv)
    return parsed if isinstance(parsed, int) else await _run_command(parsed)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``alohub-async`` and return its exit code (the console script exits with it).

    Args:
        argv: The arguments, without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 on success, see `ExitCode` for the others.
    """
    try:
        parsed = _parse(argv)
        if isinstance(parsed, int):
            return parsed
        import asyncio  # here: --help and usage errors need no event loop

        return asyncio.run(_run_command(parsed))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        return ExitCode.INTERRUPTED

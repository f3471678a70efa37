"""The exit codes of ``alohub-async``, what each means, and the CLI's own failures.

`ExitCode` is the one table of exit codes: ``--help`` prints it and docs/cli.md lists it
(a test keeps the two in step). Light on purpose: the parser imports it.
"""

from __future__ import annotations

import enum

__all__ = ["ExitCode", "ListenError", "UsageError"]


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
    TERMINATED = 143

    @property
    def description(self) -> str:
        """What the code means, as ``--help`` and docs/cli.md say it."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.USAGE: "bad input or usage (unknown option, bad date, start after end, bad call id)",
    ExitCode.AUTH: "authentication or permission refused, or credentials missing",
    ExitCode.NOT_FOUND: "not found (no such call)",
    ExitCode.NETWORK: "network, timeout, rate limit or server (5xx) failure, after retries",
    ExitCode.RESPONSE: (
        "unexpected response (a body reporting failure, an unreadable body, other HTTP errors)"
    ),
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
    ExitCode.BROKEN_PIPE: (
        "the output pipe was closed (e.g. '| head'); the output written so far is complete lines"
    ),
    # 128 + 15, what a shell reports for a process SIGTERM ended; only sync handles SIGTERM.
    ExitCode.TERMINATED: (
        "sync stopped by SIGTERM; the finished windows are committed, rerun to resume"
    ),
}


class UsageError(Exception):
    """Bad command-line usage, or an output the command cannot write: exit 2."""


class ListenError(Exception):
    """The fake server could not bind its address: exit 5."""

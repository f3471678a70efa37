"""The parts of ``alohub-async --help`` built from other tables, and ``--version``.

The epilog lists the credential variables (`alohub_async._environment`) and the exit codes
(`ExitCode`, each with its description), so neither is written out twice.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

from .._environment import ENV_ACCESS_TOKEN, ENV_API_KEY, ENV_BASE_URL
from ._exit_codes import ExitCode
from ._output import PROG

__all__ = ["VersionAction", "epilog"]

_EXAMPLES = (
    "demo",
    "fake-server --port 9909",
    "calls list --start 2026-01-01 --end 2026-01-31 --format jsonl --output calls.jsonl",
    "calls get 20260121095227-IMCRRNJW-342",
    "calls get 20260121095227-IMCRRNJW-342 --transcript srt --save-recording call.wav",
    "recordings download --start 2026-01-01 --end 2026-01-31 --dir recordings/",
    "doctor --capture sample.json",
    "sync --start 2026-01-01 --end 2026-01-31 --db calls.sqlite3",
)


def epilog() -> str:
    """Return the text after the options in ``alohub-async --help``; exit codes from `ExitCode`."""
    codes = "\n".join(f"  {code.value:<4} {code.description}" for code in ExitCode)
    examples = "\n".join(f"  {PROG} {example}" for example in _EXAMPLES)
    return (
        "credentials:\n"
        f"  --api-key/--access-token/--base-url, else ${ENV_API_KEY}, ${ENV_ACCESS_TOKEN},\n"
        f"  ${ENV_BASE_URL} (prefer the environment: command lines are visible to other users).\n"
        f"\nexit codes:\n{codes}\n"
        f"\nexamples:\n{examples}\n"
    )


class VersionAction(argparse.Action):
    """``--version``: print the installed version and exit, reading it only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(
            option_strings,
            dest=argparse.SUPPRESS,
            default=argparse.SUPPRESS,
            nargs=0,
            help="show program's version number and exit",
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> NoReturn:
        """Print ``alohub-async VERSION`` on stdout, then exit 0."""
        from .. import __version__  # the package metadata is slow to import: only now

        print(f"{parser.prog} {__version__}", flush=True)
        parser.exit()

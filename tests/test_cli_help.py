"""``alohub-async --help``: light to build, and saying what the docs say.

The structural tests run a fresh interpreter, since this one has long imported the client.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from alohub_async.cli import ExitCode, build_parser
from alohub_async.cli._parser import FAKE_ANCHOR
from alohub_async.testing import DEFAULT_ANCHOR, DEFAULT_SPAN

DOCS = Path(__file__).resolve().parent.parent / "docs" / "cli.md"

#: Modules that parsing and --help must not load: the client's I/O, the fake, the stores.
HEAVY = (
    "aiohttp",
    "aiohttp.web",
    "cattrs",
    "alohub_async.testing",
    "alohub_async._session",
    "alohub_async.sync",
)


@pytest.mark.parametrize("argv", [["--help"], ["calls", "list", "--help"], ["sync", "--help"]])
def test_help_loads_none_of_the_client(argv: list[str]) -> None:
    """Building the parser and printing help imports none of the heavy modules."""
    code = f"""
import contextlib, io, sys
from alohub_async.cli import build_parser
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    build_parser().parse_args({argv!r})
print(" ".join(name for name in {HEAVY!r} if name in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "", f"loaded for --help: {done.stdout.strip()}"


def test_console_script_help_loads_no_event_loop_or_client() -> None:
    """``python -m alohub_async --help`` (what the console script runs) stays light too."""
    code = """
import contextlib, io, sys
from alohub_async.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["--help"])
print(code, "asyncio" in sys.modules, "aiohttp" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["0", "False", "False"]


def test_epilog_lists_every_exit_code_with_its_description() -> None:
    """The exit codes in --help come from ExitCode, each with its description."""
    help_text = build_parser().format_help()
    for code in ExitCode:
        assert re.search(rf"^  {code.value}\s+{re.escape(code.description)}$", help_text, re.M)


def _docs_exit_codes() -> dict[int, str]:
    """The code and meaning columns of the table under docs/cli.md's "Errors and exit codes"."""
    section = DOCS.read_text("utf-8").split("## Errors and exit codes", 1)[1]
    rows: dict[int, str] = {}
    for line in section.splitlines():
        # Cells are split on "|" not escaped as "\|" (markdown's escape inside tables).
        cells = [cell.strip().replace(r"\|", "|") for cell in re.split(r"(?<!\\)\|", line)]
        if len(cells) > 3 and cells[1].isdigit():
            rows[int(cells[1])] = cells[2]
    return rows


def test_docs_exit_code_table_matches_the_enum() -> None:
    """docs/cli.md lists exactly the ExitCode members, with their values and descriptions."""
    assert _docs_exit_codes() == {code.value: code.description for code in ExitCode}


def test_fake_server_defaults_are_the_fakes(capsys: pytest.CaptureFixture[str]) -> None:
    """``fake-server``'s default --anchor and --span, typed as text, are the fake's own."""
    args = build_parser().parse_args(["fake-server"])
    assert (args.anchor, args.span) == (DEFAULT_ANCHOR, DEFAULT_SPAN)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fake-server", "--help"])
    assert f"(default: {FAKE_ANCHOR})" in " ".join(capsys.readouterr().out.split())

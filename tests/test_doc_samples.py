"""The samples of README.md and docs/ run as written: as scripts, against the fake, as a
user's pytest suite, and the README's test command is the one CI runs."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from alohub_async.cli import build_parser
from alohub_async.testing import CallDataset, FakeAlohub

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
QUICKSTART = ROOT / "docs" / "quickstart.md"
TESTING = ROOT / "docs" / "testing.md"
CLI = ROOT / "docs" / "cli.md"
WAIT = 60.0
CALL_ID = re.compile(r"\b\d{14}-[A-Z]{8}-\d{3,4}\b")


def blocks(path: Path, lang: str) -> list[str]:
    """The fenced code blocks of ``lang`` in a Markdown file, in order."""
    return re.findall(rf"^```{lang}\n(.*?)^```$", path.read_text("utf-8"), re.M | re.S)


def block_with(path: Path, lang: str, needle: str) -> str:
    """The first ``lang`` block of ``path`` that contains ``needle``."""
    found = [block for block in blocks(path, lang) if needle in block]
    assert found, f"no {lang} block with {needle!r} in {path.name}"
    return found[0]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a sample script: no ALOHUB_* of the developer's, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALOHUB_")}
    env.update(PYTHONUTF8="1", **extra)
    return env


async def run_script(code: str, **env: str) -> str:
    """Run ``code`` as a script in a new interpreter; return its stdout (it must exit 0).

    Asynchronous, so a fake in this process keeps serving while the script runs.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(**env),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode()
    return out.decode("utf-8")


def default_fake_server() -> FakeAlohub:
    """A fake with the data ``alohub-async fake-server`` serves by default, no latency."""
    args = build_parser().parse_args(["fake-server"])
    return FakeAlohub(args.calls, args.seed, anchor=args.anchor, span=args.span, latency=0)


# --- docs/testing.md -----------------------------------------------------------------------


async def test_testing_first_sample_runs_as_a_script() -> None:
    """The first sample of the testing guide is a complete script."""
    out = await run_script(blocks(TESTING, "python")[0])
    assert out.startswith("1000 calls, as the server holds them\nCounters(requests=")


@pytest.mark.parametrize("config", ["pyproject.toml", "pytest.ini"])
def test_testing_config_keeps_a_user_suite_clean_under_w_error(
    pytester: pytest.Pytester, config: str
) -> None:
    """With the ini lines the guide shows, its fixture sample passes under ``-W error``.

    Without ``asyncio_default_fixture_loop_scope``, pytest-asyncio's deprecation warning
    is an INTERNALERROR before any test runs.
    """
    toml = block_with(TESTING, "toml", "asyncio_default_fixture_loop_scope")
    if config == "pyproject.toml":
        pytester.makepyprojecttoml(toml)
    else:
        settings = [line.replace('"', "") for line in toml.splitlines()[1:] if line.strip()]
        pytester.makeini("\n".join(["[pytest]", *settings]))
    pytester.makepyfile(test_export=block_with(TESTING, "python", "alohub_fake"))
    result = pytester.runpytest_inprocess(
        "-W", "error", "--strict-markers", "-p", "no:cacheprovider"
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=2)


# --- README.md and docs/quickstart.md ------------------------------------------------------


@pytest.mark.parametrize("path", [README, QUICKSTART], ids=lambda p: p.name)
async def test_try_it_against_the_fake_sample_runs(path: Path) -> None:
    """The "run the fake inside the script" sample runs as is."""
    out = await run_script(block_with(path, "python", "FakeAlohub(calls=300)"))
    assert out.startswith("300 calls, newest first: ")
    assert out.count("\n") == 3


@pytest.mark.parametrize("path", [README, QUICKSTART], ids=lambda p: p.name)
async def test_quickstart_script_against_the_default_fake_server(path: Path) -> None:
    """The first script, pointed at the default fake-server data, finds its sample call."""
    code = block_with(path, "python", "AlohubSession(")
    async with default_fake_server() as fake:
        env = {
            "ALOHUB_BASE_URL": fake.url,
            "ALOHUB_API_KEY": fake.api_key,
            "ALOHUB_ACCESS_TOKEN": fake.access_token,
        }
        out = await run_script(code, **env)
    lines = out.splitlines()
    assert lines[0] == "3226 calls, newest first:"
    assert len(lines) < 20, out  # a handful of calls, not the whole listing
    assert "no such call" not in out
    assert "/recordings/20260121095216-VBHFEYGW-486.wav" in out
    assert "Dạ, em chào anh chị" in out  # the transcript


def test_call_ids_of_the_docs_exist_in_the_default_fake_server() -> None:
    """Every call id README, the quickstart and the CLI guide use is one the fake serves."""
    args = build_parser().parse_args(["fake-server"])
    data = CallDataset(args.calls, args.seed, anchor=args.anchor, span=args.span)
    ids = {m for path in (README, QUICKSTART) for m in CALL_ID.findall(path.read_text("utf-8"))}
    get = "\n".join(block for block in blocks(CLI, "text") if block.startswith("Call "))
    ids.update(CALL_ID.findall(get))
    assert ids
    assert sorted(i for i in ids if data.find(i) is None) == []


# --- README.md and .ci/run ------------------------------------------------------------------


def test_readme_test_command_installs_nox_and_ci_runs_exactly_it() -> None:
    """The README's test step installs what it needs, and .ci/run runs that very command."""
    section = README.read_text("utf-8").split("## Second command: the tests", 1)[1]
    command = blocks_in(section)[0].strip()
    assert command == "python -m pip install nox uv && python -m nox"
    ci_lines = (ROOT / ".ci" / "run").read_text("utf-8").splitlines()
    assert ci_lines[-1] == command
    assert "pyenv" in section  # other Pythons: how they are found


def blocks_in(text: str) -> list[str]:
    """The console blocks of a piece of Markdown."""
    return re.findall(r"^```console\n(.*?)^```$", text, re.M | re.S)

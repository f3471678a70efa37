"""Helpers for the tests that run the CLI: in-process with a fake, or as subprocesses."""

from __future__ import annotations

import contextlib
import io
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from alohub_async.testing import FakeAlohub

ENV_NAMES = ("ALOHUB_API_KEY", "ALOHUB_ACCESS_TOKEN", "ALOHUB_BASE_URL")
POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
WAIT = 60.0


class FakeTty(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def connect(fake: FakeAlohub, *args: str) -> list[str]:
    """Return the arguments that point the CLI at ``fake``, then ``args``."""
    return [
        "--base-url",
        fake.url,
        "--api-key",
        fake.api_key,
        "--access-token",
        fake.access_token,
        *args,
    ]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: no ALOHUB_* of the developer, UTF-8 output."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    """The command line of ``python -m alohub_async ARGS``."""
    return [sys.executable, "-m", "alohub_async", *args]


class ServerProcess:
    """A ``fake-server`` subprocess, its banner, and a thread draining its stdout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.banner: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def read_banner(self, *, quiet: bool) -> None:
        """Read stdout up to the 'Press Ctrl-C' line (just the URL line when quiet)."""
        last = "Fake Alohub listening" if quiet else "Press Ctrl-C"
        while True:
            line = self.lines.get(timeout=WAIT)
            if line is None:
                raise AssertionError(f"fake-server exited early: {self.banner}")
            self.banner.append(line)
            if line.startswith(last):
                return

    @property
    def url(self) -> str:
        match = re.search(r"http://127\.0\.0\.1:\d+", self.banner[0])
        assert match is not None, self.banner
        return match[0]

    def rest(self) -> list[str]:
        """Wait for the process to end; return the stdout lines after the banner."""
        self.proc.wait(timeout=WAIT)
        self._reader.join(timeout=WAIT)
        lines = []
        while (line := self.lines.get_nowait()) is not None:
            lines.append(line)
        return lines


@contextlib.contextmanager
def fake_server(*args: str, quiet: bool = False) -> Iterator[ServerProcess]:
    """Run ``alohub-async fake-server --port 0 ARGS`` until the block ends."""
    command = cli_command("fake-server", "--port", "0", *args, *(["--quiet"] if quiet else []))
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env=child_env(),
    ) as proc:
        server = ServerProcess(proc)
        try:
            server.read_banner(quiet=quiet)
            yield server
        finally:
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            server._reader.join(timeout=WAIT)

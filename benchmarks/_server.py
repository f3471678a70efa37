"""Run one FakeAlohub in its own process, so its CPU never competes with the client's loop.

``python -m benchmarks._server --calls N --latency S`` binds an ephemeral port on 127.0.0.1
and prints one JSON line ``{"url", "api_key", "access_token"}`` once it listens;
:class:`FakeServer` starts it, reads that line and stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from alohub_async.testing import FakeAlohub, serve_forever

_ROOT = Path(__file__).resolve().parent.parent


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a benchmark's child process: this checkout importable, ``extra`` set.

    ``PYTHONDONTWRITEBYTECODE`` is dropped: a normal install keeps compiled modules, so a
    fresh process that loads them should not recompile every import each time (a
    development shell may set it; it would add a third of a second to every start-up).
    """
    env = dict(os.environ, **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
    return env


_READY_TIMEOUT = 60.0


class FakeServer:
    """A FakeAlohub subprocess: ``with FakeServer(calls=10_000, latency=0.04) as server:``."""

    def __init__(self, *, calls: int, latency: float = 0.0, cache_size: int = 0, seed: int = 1):
        self.args = [
            "--calls", str(calls),
            "--latency", repr(latency),
            "--cache-size", str(cache_size),
            "--seed", str(seed),
        ]  # fmt: skip
        self.calls = calls
        self.latency = latency
        self.url = ""
        self.api_key = ""
        self.access_token = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> FakeServer:
        env = child_env()
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._server", *self.args],
            stdout=subprocess.PIPE,
            text=True,
            cwd=_ROOT,
            env=env,
        )
        self._proc = proc
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(_READY_TIMEOUT)
        if not line or not line[0].strip():
            self.__exit__(None, None, None)
            raise RuntimeError("the fake server did not start")
        info = json.loads(line[0])
        self.url, self.api_key, self.access_token = (
            info["url"],
            info["api_key"],
            info["access_token"],
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def cpu_seconds(self) -> float:
        """CPU time the server process used so far (0 where /proc is missing)."""
        if self._proc is None:
            return 0.0
        try:
            with open(f"/proc/{self._proc.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def session_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Arguments for an ``AlohubSession`` wired to this server."""
        return {
            "api_key": self.api_key,
            "access_token": self.access_token,
            "base_url": self.url,
            **overrides,
        }


def _ready(fake: FakeAlohub) -> None:
    info = {"url": fake.url, "api_key": fake.api_key, "access_token": fake.access_token}
    print(json.dumps(info), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._server")
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--cache-size", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve_forever(
                "127.0.0.1",
                0,
                on_ready=_ready,
                calls=args.calls,
                seed=args.seed,
                latency=args.latency,
                cache_size=args.cache_size,
            )
        )


if __name__ == "__main__":
    main()

"""A benchmark client in its own fresh process, for figures a shared process would blur.

Peak RSS (``ru_maxrss``) and CPU time belong to a whole process: measured in the process
that also runs the fake or earlier cases, they would report those. `run_client` starts
``python -m <module> <args>`` through a tiny launcher and reads the one JSON line that the
module's ``child()`` prints with `report_child`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from ._server import _ROOT, FakeServer, child_env

if TYPE_CHECKING:
    from alohub_async import AlohubSession

# ru_maxrss survives execve: a child exec'd straight from this (big) process would report
# this process's peak. A tiny launcher in between starts the client from a small image.
_LAUNCHER = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


def status_kb(field: str) -> int:
    """A ``/proc/self/status`` figure in kB (``VmRSS``, ``VmHWM``), or 0 where it is missing."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:  # not Linux
        pass
    return 0


def session_from(args: argparse.Namespace) -> AlohubSession:
    """The session a child measures with: the fake's URL and credentials, and ``args``'s
    ``page_size`` and ``concurrency``."""
    from alohub_async import AlohubSession

    return AlohubSession(
        api_key=args.api_key,
        access_token=args.access_token,
        base_url=args.url,
        page_size=args.page_size,
        concurrency=args.concurrency,
    )


def report_child(work: Coroutine[Any, Any, int]) -> None:
    """Run ``work`` (which returns a record count) and print its figures as one JSON line.

    Call it after the imports the measurement should count in its starting RSS.
    """
    start_kb = status_kb("VmRSS")
    cpu = time.process_time()
    started = time.perf_counter()
    count = asyncio.run(work)
    wall = time.perf_counter() - started
    report = {
        "records": count,
        "seconds": wall,
        "cpu": time.process_time() - cpu,
        "start_kb": start_kb,
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "hwm_kb": status_kb("VmHWM"),
    }
    print(json.dumps(report), flush=True)


def run_client(module: str, server: FakeServer, args: Sequence[str]) -> dict[str, float]:
    """Run ``python -m module`` against ``server`` in a fresh process; its JSON figures.

    The module gets ``--url``, ``--api-key`` and ``--access-token`` before ``args``. The
    report gains ``server_cpu``, the fake's CPU seconds meanwhile; a client that did not
    get every one of the fake's calls is an error, not a figure.
    """
    env = child_env()
    command = [
        sys.executable, "-c", _LAUNCHER,
        sys.executable, "-m", module,
        "--url", server.url,
        "--api-key", server.api_key,
        "--access-token", server.access_token,
        *args,
    ]  # fmt: skip
    server_cpu = server.cpu_seconds()
    done = subprocess.run(command, capture_output=True, text=True, cwd=_ROOT, env=env, check=True)
    report: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    report["server_cpu"] = server.cpu_seconds() - server_cpu
    if report["records"] != server.calls:
        raise RuntimeError(f"{module}: got {report['records']} records, expected {server.calls}")
    return report

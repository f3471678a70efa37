"""The commands that need no Alohub: ``demo`` and ``fake-server``.

``demo`` runs the client against a `FakeAlohub` in this process and narrates what it
did; ``fake-server`` serves one until Ctrl-C or SIGTERM. Imported only when one of them
runs: the fake pulls in ``aiohttp.web``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .._environment import ENV_ACCESS_TOKEN, ENV_API_KEY, ENV_BASE_URL
from .._recordings import recording_file_name
from ..models import CallRecord
from ..testing import Counters, FakeAlohub, Fault, RecordingFault
from ..testing._server import COUNTERS_PATH
from ._commands import session_options
from ._exit_codes import ExitCode, ListenError
from ._output import PROG, Progress, clock, cut, local, printable, progress_stream

__all__ = ["demo", "fake_server"]


async def fake_server(args: argparse.Namespace) -> int:
    """Serve a fake Alohub until SIGINT or SIGTERM."""
    fake = FakeAlohub(
        calls=args.calls,
        seed=args.seed,
        api_key=args.api_key,
        access_token=args.access_token,
        host=args.host,
        port=args.port,
        latency=args.latency,
        anchor=args.anchor,
        span=args.span,
    )
    for spec in args.fault:
        fake.script(*[spec.fault] * spec.times, endpoint=spec.endpoint, page=spec.page)
    for spec in args.fault_rate:
        fake.error_rate(spec.probability, spec.fault, endpoint=spec.endpoint, page=spec.page)
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
            raise ListenError(
                f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
            ) from None
        try:
            _print_banner(fake, args)
            await stop.wait()
        finally:
            await fake.close()
        if not args.quiet:
            print(f"Fake Alohub stopped. {_served(fake.counters)}", flush=True)
    finally:
        for sig, previous in installed:
            loop.remove_signal_handler(sig)
            if previous is not None:
                signal.signal(sig, previous)
    return ExitCode.OK


def _print_banner(fake: FakeAlohub, args: argparse.Namespace) -> None:
    """Print where the fake listens, its credentials and how to point the CLI at it."""
    print(f"Fake Alohub listening on {fake.url}", flush=True)
    if args.quiet:
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
        f"  faults:       {_faults_text(args)}\n"
        f"  counters:     GET {fake.url}{COUNTERS_PATH} (JSON)\n"
        "\n"
        "Point the client at it:\n"
        f"  export {exports}\n"
        f"  {PROG} calls list --start {first.date()} --end {fake.data.anchor.date()} "
        "--format jsonl | head\n"
        "\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )


def _faults_text(args: argparse.Namespace) -> str:
    """Describe the faults the command line asked for, as they were given."""
    given = [f"--fault {spec.text}" for spec in args.fault]
    given += [f"--fault-rate {spec.text}" for spec in args.fault_rate]
    return ", ".join(given) or "none"


def _served(counters: Counters) -> str:
    """Summarise a fake's counters in one line, for the exit of ``fake-server``."""
    parts = " · ".join(f"{name} {count:,}" for name, count in counters.by_endpoint.most_common())
    return (
        f"Served {counters.requests:,} requests{f' ({parts})' if parts else ''}, "
        f"{counters.faults:,} {'fault' if counters.faults == 1 else 'faults'} injected, "
        f"at most {counters.max_in_flight:,} in flight."
    )


_DEMO_CALLS = 2000
_DEMO_LATENCY = (0.02, 0.04)
_DEMO_PAGE_SIZE = 50
_DEMO_CONCURRENCY = 8
_DEMO_DETAILS = 3


def _tally(counter: Counter[str]) -> str:
    """Format counts, largest first: ``a 3 · b 1`` (keys are server text: made printable)."""
    return " · ".join(f"{printable(key)} {count:,}" for key, count in counter.most_common())


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


async def demo(args: argparse.Namespace) -> int:
    """Run the client against an embedded fake server and print what happened."""
    options = session_options(args)
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
                f"iter_calls({local(start, tz)} .. {local(end, tz)}, "
                f"page_size={_DEMO_PAGE_SIZE}, concurrency={_DEMO_CONCURRENCY})"
            )
            walk = alohub.iter_calls(start, end)
            directions: Counter[str] = Counter()
            statuses: Counter[str] = Counter()
            answered: list[str] = []
            progress = Progress(progress_stream(args, to_stdout=False))
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
                    f"  {printable(detail.call_id)}  {detail.direction.value:<8}  "
                    f"{printable(detail.caller or '')} -> {printable(detail.callee or '')}  "
                    f"{clock(detail.duration)}  {segments} transcript segments"
                )
            shown = max(
                details,
                key=lambda d: len(d.transcript.segments) if d.transcript else 0,
                default=None,
            )
            if shown is not None and shown.transcript is not None:
                print(f"Transcript of {printable(shown.call_id)} (first lines):")
                for segment in shown.transcript.segments[:4]:
                    when = 0.0 if segment.start is None else segment.start
                    speaker = printable(segment.speaker or "?")
                    print(f"  [{when:6.1f}s] {speaker:<8} {cut(printable(segment.text), 60)}")
                print()
                # The fake cuts the connection once, mid-file: the download resumes.
                fake.script_recording(RecordingFault.truncate(after=1000))
                with tempfile.TemporaryDirectory() as folder:
                    name = recording_file_name(shown.call_id, shown.recording_url)
                    saved = await alohub.download_recording(shown, Path(folder) / name)
                print(
                    f"download_recording(): {name}, {saved.size:,} bytes of "
                    f"{saved.content_type}, sha256 {saved.sha256[:16]}…"
                )
                print(
                    "  cut by the fake at byte 1,000, resumed with Range; "
                    "saved in a temporary directory, then removed."
                )
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

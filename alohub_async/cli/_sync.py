"""The ``alohub-async sync`` command: checks its options, opens the store, runs the loop.

The parser (``_parser``) registers the command; this module runs it, and is imported only
then: it loads the sync engine and the store ``--db`` names.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from ..sync._dsn import redact_dsn
from ..sync._engine import CallLogSync, SyncProgress, SyncSummary
from ..sync._open import open_store
from ..sync._store import SyncStore
from ._commands import build_session
from ._exit_codes import ExitCode, UsageError
from ._output import PROG, Progress, dsn_password, error, progress_stream, redact, say

__all__ = ["sync_command"]


async def _open(store: SyncStore, db: str) -> int | None:
    """Open the store; on failure print one line (password redacted) and return the exit code.

    An unreachable or refusing PostgreSQL server is a network failure (the same exit code
    as an unreachable API, worth retrying later); a SQLite path that cannot be opened or
    written, a file that is not a database, or a schema the role may not create is bad
    input: retrying will not help until ``--db`` or the database is fixed.
    """
    try:
        await store.open()
    except ConnectionError as exc:  # PostgresStore: unreachable, refused login, timeout
        code, message = ExitCode.NETWORK, str(exc)
    except (OSError, sqlite3.Error, RuntimeError) as exc:
        code = ExitCode.USAGE
        message = f"cannot open the database {redact_dsn(db)}: {exc}"
    else:
        return None
    # The stores never put the password in a message; this is a last line of defence.
    password = dsn_password(db)
    error(redact(message, [password] if password else []))
    return code


@contextlib.contextmanager
def _sigterm_cancels() -> Iterator[list[bool]]:
    """Make SIGTERM cancel the running task, as Ctrl-C does; yield a flag set when it came.

    systemd, docker and kill stop a process with SIGTERM, whose default action ends it on
    the spot: finished windows waiting for their commit would be fetched again and leases
    left to expire. Handled, it stops the sync the way Ctrl-C does. Only the first SIGTERM
    is handled; the previous handler is put back afterwards.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    received: list[bool] = []

    def terminate() -> None:
        if not received and task is not None:
            received.append(True)
            task.cancel()

    previous = signal.getsignal(signal.SIGTERM)
    try:
        loop.add_signal_handler(signal.SIGTERM, terminate)
    except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not main thread
        installed = False
    else:
        installed = True
    try:
        yield received
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGTERM)
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


async def sync_command(args: argparse.Namespace) -> int:
    """Run ``alohub-async sync`` (see ``alohub-async sync --help``).

    SIGTERM stops it like Ctrl-C (finished windows are committed, the others handed back)
    and it exits with ``ExitCode.TERMINATED`` (143) rather than Ctrl-C's 130.

    Args:
        args: The parsed options.

    Returns:
        The exit code.
    """
    with _sigterm_cancels() as terminated:
        try:
            return await _sync_command(args)
        except asyncio.CancelledError:
            if not terminated:
                raise
            # The cancellation was ours, and is complete: the task goes on to return.
            uncancel = getattr(asyncio.current_task(), "uncancel", None)
            if uncancel is not None:  # Python >= 3.11
                uncancel()
            say(f"{PROG}: terminated")
            return ExitCode.TERMINATED


async def _sync_command(args: argparse.Namespace) -> int:
    incremental = args.incremental or args.follow
    if incremental and args.end is not None:
        raise UsageError(
            "--end does not apply to --incremental/--follow: they sync up to now minus --settle"
        )
    if not incremental and (args.start is None or args.end is None):
        raise UsageError("--start and --end are required (or use --incremental)")
    if args.interval <= timedelta(0):
        raise UsageError("--interval must be positive")
    store = open_store(args.db)
    progress = Progress(progress_stream(args, to_stdout=False))

    def on_progress(state: SyncProgress) -> None:
        progress.show(
            lambda _elapsed: (
                f"{state.windows_done:,}/{state.windows_total:,} windows, {state.rows:,} calls, "
                f"{state.rate:,.0f} calls/s, {state.elapsed:.1f}s"
            )
        )

    def report(summary: SyncSummary) -> None:
        progress.clear()
        if not args.quiet:
            say(f"{summary.line()}, into {redact_dsn(args.db)}")

    session_options: dict[str, Any] = {
        "page_size": args.page_size,
        "concurrency": args.concurrency,
    }
    async with build_session(args, **session_options) as alohub:
        engine = CallLogSync(
            alohub,
            store,
            every=args.every,
            windows=args.windows,
            max_window_rows=args.max_window_rows,
            details=args.details,
            overlap=args.overlap,
            settle_delay=args.settle,
            on_progress=on_progress,
        )
        failure = await _open(store, args.db)
        if failure is not None:
            return failure
        try:
            if not incremental:
                report(await engine.run(args.start, args.end))
                return ExitCode.OK
            while True:
                report(await engine.run_incremental(args.start))
                if not args.follow:
                    return ExitCode.OK
                await asyncio.sleep(args.interval.total_seconds())
        except asyncio.CancelledError:
            progress.clear()
            done = engine.last_summary
            if not args.quiet and done is not None:
                say(
                    f"stopped: {done.windows_done:,} windows committed this run; "
                    "run the same command again to resume"
                )
            raise
        finally:
            await asyncio.shield(store.close())

"""The ``alohub-async sync`` command: options parsing help, store choice and the run loop.

``cli.py`` registers the command and calls `sync_command`; this module imports the CLI's
helpers at call time, as ``cli.py`` imports this one, and loads the PostgreSQL store (and
its driver, an optional extra) only for a ``postgresql://`` DSN.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from ._engine import CallLogSync, SyncProgress, SyncSummary
from ._sqlite import SQLiteStore
from ._store import SyncStore

__all__ = [
    "TERMINATED",
    "is_dsn",
    "open_store",
    "parse_duration",
    "redact_dsn",
    "sync_command",
]

#: The exit status of a sync stopped by SIGTERM (128 + 15, what a shell reports for a
#: process SIGTERM ended): its finished windows committed, the others handed back.
TERMINATED: Final = 143

_DURATION = re.compile(r"^\s*(\d+)\s*([dhms]?)\s*$")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}
_POSTGRES_SCHEMES = ("postgresql", "postgres")
_POSTGRES_MISSING = (
    "the PostgreSQL store needs the postgres extra: pip install 'alohub-async[postgres]'"
)


def parse_duration(text: str) -> timedelta:
    """Read ``1d``, ``6h``, ``30m``, ``45s`` or a bare number of seconds.

    Args:
        text: The option's value.

    Returns:
        The duration.

    Raises:
        argparse.ArgumentTypeError: anything else (argparse turns it into a usage error).
    """
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 1d, 6h, 30m, 45s or seconds, got {text!r}"
        )
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def is_dsn(db: str) -> bool:
    """Tell whether ``--db`` names a PostgreSQL server rather than a SQLite file."""
    return urlsplit(db).scheme in _POSTGRES_SCHEMES


def redact_dsn(db: str) -> str:
    """Return ``db`` fit to print: a DSN's password replaced by ``***``.

    Args:
        db: A SQLite path or a ``postgresql://`` DSN.

    Returns:
        The same text without the password.
    """
    if not is_dsn(db):
        return db
    parts = urlsplit(db)
    if parts.password is None:
        return db
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def open_store(db: str) -> SyncStore:
    """Build the store ``--db`` names (not yet opened).

    Args:
        db: A SQLite file path, or a ``postgresql://`` DSN (needs the postgres extra).

    Returns:
        The store.

    Raises:
        ValueError: a DSN without the postgres extra installed.
    """
    if not is_dsn(db):
        return SQLiteStore(db)
    try:
        # Lazy: asyncpg is an optional extra, loaded only for a PostgreSQL DSN.
        from ._postgres import PostgresStore  # type: ignore[import-not-found,unused-ignore]
    except ModuleNotFoundError as exc:
        if exc.name in ("asyncpg", f"{__package__}._postgres"):
            raise ValueError(_POSTGRES_MISSING) from None
        raise
    store: SyncStore = PostgresStore(db)
    return store


async def _open(store: SyncStore, db: str) -> int | None:
    """Open the store; on failure print one line (password redacted) and return the exit code.

    An unreachable or refusing PostgreSQL server is a network failure (the same exit code
    as an unreachable API, worth retrying later); a SQLite path that cannot be opened or
    written, a file that is not a database, or a schema the role may not create is bad
    input: retrying will not help until ``--db`` or the database is fixed.
    """
    from .. import cli

    try:
        await store.open()
    except ConnectionError as exc:  # PostgresStore: unreachable, refused login, timeout
        code, message = cli.ExitCode.NETWORK, str(exc)
    except (OSError, sqlite3.Error, RuntimeError) as exc:
        code = cli.ExitCode.USAGE
        message = f"cannot open the database {redact_dsn(db)}: {exc}"
    else:
        return None
    # The stores never put the password in a message; this is a last line of defence.
    password = cli._dsn_password(db)
    cli._error(cli._redact(message, [password] if password else []))
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
    and it exits with `TERMINATED` (143) rather than Ctrl-C's 130.

    Args:
        args: The parsed options.

    Returns:
        The exit code.
    """
    from .. import cli

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
            cli._say(f"{cli.PROG}: terminated")
            return TERMINATED


async def _sync_command(args: argparse.Namespace) -> int:
    from .. import cli  # at call time: cli imports this module lazily too

    incremental = args.incremental or args.follow
    if incremental and args.end is not None:
        raise cli._UsageError(
            "--end does not apply to --incremental/--follow: they sync up to now minus --settle"
        )
    if not incremental and (args.start is None or args.end is None):
        raise cli._UsageError("--start and --end are required (or use --incremental)")
    if args.interval <= timedelta(0):
        raise cli._UsageError("--interval must be positive")
    store = open_store(args.db)
    progress = cli._Progress(cli._progress_stream(args, to_stdout=False))

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
            cli._say(f"{summary.line()}, into {redact_dsn(args.db)}")

    session_options: dict[str, Any] = {
        "page_size": args.page_size,
        "concurrency": args.concurrency,
    }
    async with cli._session(args, **session_options) as alohub:
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
                return 0
            while True:
                report(await engine.run_incremental(args.start))
                if not args.follow:
                    return 0
                await asyncio.sleep(args.interval.total_seconds())
        except asyncio.CancelledError:
            progress.clear()
            done = engine.last_summary
            if not args.quiet and done is not None:
                cli._say(
                    f"stopped: {done.windows_done:,} windows committed this run; "
                    "run the same command again to resume"
                )
            raise
        finally:
            await asyncio.shield(store.close())

r"""A long-running asyncio worker: keep a SQLite copy of the call log, stop cleanly on a signal.

Run it against the fake (no credentials, no network) in two terminals::

    alohub-async fake-server --port 9909
    export ALOHUB_BASE_URL=http://127.0.0.1:9909 ALOHUB_API_KEY=demo-api-key \
           ALOHUB_ACCESS_TOKEN=demo-access-token
    ALOHUB_SYNC_START=2026-01-01 python examples/sync_worker.py

and stop it with Ctrl-C (SIGINT) or ``kill PID`` (SIGTERM, what systemd, Docker and
Kubernetes send). Its configuration, besides the session's own ``ALOHUB_*`` variables:

* ``ALOHUB_SYNC_DB``: the SQLite file (default ``alohub.sqlite3``);
* ``ALOHUB_SYNC_START``: where the first run begins, on an empty database (default: 7
  days ago); later runs continue from the database's high-water mark;
* ``ALOHUB_SYNC_INTERVAL``: seconds between two incremental runs (default 60);
* ``ALOHUB_SYNC_DETAILS``: ``1`` to also store each call's details and transcript.

Every interval it runs `CallLogSync.run_incremental`, which commits each window's calls
and its checkpoint in one transaction and logs one summary line. A failed run (Alohub
down, credentials refused) is logged and tried again at the next tick: a worker should
outlive an outage. On SIGINT or SIGTERM it cancels the run in progress, which hands the
unfinished windows back (the next start walks them again; finished ones are never fetched
again), closes the database and the session, and exits with status 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from datetime import date, timedelta

from alohub_async import AlohubError, AlohubSession
from alohub_async.sync import CallLogSync, SQLiteStore

logger = logging.getLogger("alohub_examples.worker")


async def sync_forever(sync: CallLogSync, start: str, interval: float) -> None:
    """Run incremental syncs every ``interval`` seconds, until cancelled.

    Args:
        sync: The configured sync.
        start: Where the very first run begins (an empty store has no high-water mark).
        interval: Seconds between the end of a run and the start of the next.
    """
    while True:
        try:
            summary = await sync.run_incremental(start=start)
        except AlohubError as exc:
            logger.warning("sync failed, retrying in %.0fs: %s", interval, exc)
        else:
            logger.info("synced: %s", summary.line())
        await asyncio.sleep(interval)


async def main() -> None:
    """Sync until SIGINT or SIGTERM, then shut down cleanly."""
    path = os.environ.get("ALOHUB_SYNC_DB", "alohub.sqlite3")
    start = os.environ.get("ALOHUB_SYNC_START") or (date.today() - timedelta(days=7)).isoformat()
    interval = float(os.environ.get("ALOHUB_SYNC_INTERVAL", "60"))
    details = os.environ.get("ALOHUB_SYNC_DETAILS", "") == "1"

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Handled in the loop, not by a KeyboardInterrupt that could land anywhere (in
        # the middle of a database write, say): the worker decides where it stops.
        loop.add_signal_handler(signum, stop.set)

    async with AlohubSession() as alohub, SQLiteStore(path) as store:
        sync = CallLogSync(alohub, store, details=details)
        worker = asyncio.create_task(sync_forever(sync, start, interval))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        # Cancelling the run hands its unfinished windows back before it returns.
        worker.cancel()
        try:
            await worker  # re-raises what ended it early: a bug or a failing database
        except asyncio.CancelledError:
            if not stop.is_set():  # cancelled from outside, not by a signal
                raise
    logger.info("stopped cleanly")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(main())

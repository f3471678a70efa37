"""Constants and small helpers shared by the test modules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

API_KEY = "test-api-key-SECRET"
ACCESS_TOKEN = "test-access-token-SECRET"
BASE_URL = "https://alohub.test"


def client_tasks() -> list[asyncio.Task[object]]:
    """Pending tasks running client code (the in-process fake server's own are ignored)."""
    return [
        task
        for task in asyncio.all_tasks()
        if task is not asyncio.current_task() and not task.done() and _is_client_code(task)
    ]


def _is_client_code(task: asyncio.Task[object]) -> bool:
    coro = task.get_coro()
    code = getattr(coro, "cr_code", None) or getattr(coro, "ag_code", None)
    filename = code.co_filename if code is not None else ""
    return "alohub_async" in filename and "testing" not in filename


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 on an ephemeral port and yield its base URL."""
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()

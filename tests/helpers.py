"""Constants and small helpers shared by the test modules."""

from __future__ import annotations

import asyncio

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

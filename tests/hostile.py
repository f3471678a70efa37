"""Small hostile servers on 127.0.0.1 for tests: the test supplies the misbehaviour."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RawHandler = Callable[[bytes], bytes]


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    """Run ``handler`` for every method and path on an ephemeral port; yield the base URL."""

    async def route(request: web.Request) -> web.StreamResponse:
        return await handler(request)  # any awaitable-returning callable, not only functions

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", route)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def serve_raw(answer: RawHandler) -> AsyncIterator[str]:
    """Answer each request's head with the bytes ``answer`` returns, then close."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            writer.write(answer(head))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


def echo_headers(request: web.Request) -> str:
    """The request headers as a server that "helpfully" shows them would print them."""
    return "\n".join(f"{name}: {value}" for name, value in request.headers.items())

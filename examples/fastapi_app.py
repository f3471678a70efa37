r"""A FastAPI app in front of the Alohub call log: streamed listings, details, recordings.

Run it against the fake (no credentials, no network) in two terminals::

    alohub-async fake-server --port 9909
    export ALOHUB_BASE_URL=http://127.0.0.1:9909 ALOHUB_API_KEY=demo-api-key \
           ALOHUB_ACCESS_TOKEN=demo-access-token
    pip install fastapi uvicorn
    uvicorn fastapi_app:app --app-dir examples --port 8000

then ``curl 'http://127.0.0.1:8000/calls?start=2026-01-21&end=2026-01-21'``, ``curl
http://127.0.0.1:8000/calls/20260121095216-VBHFEYGW-486`` and ``curl -o call.wav
http://127.0.0.1:8000/calls/20260121095216-VBHFEYGW-486/recording``. With a real tenant,
set the three variables to its URL, API key and token instead.

What it shows:

* **One session for the whole app**, opened in the lifespan and closed at shutdown: its
  connection pool, rate limit and token are shared by every request. `AlohubSession()`
  reads ``ALOHUB_API_KEY``, ``ALOHUB_ACCESS_TOKEN`` and ``ALOHUB_BASE_URL`` itself.
* **GET /calls?start=&end=** streams the range as NDJSON. The first page is fetched
  *before* the response starts, so a refused range or an unreachable Alohub becomes a
  proper status (see `web_common` for the mapping); a failure after that ends the body
  with an error line and drops the connection, so a cut listing never looks complete.
* **GET /calls/{call_id}** answers one call's details as JSON (transcript included).
* **GET /calls/{call_id}/recording** proxies the audio chunk by chunk with
  `AlohubSession.open_recording`: nothing is buffered, the browser gets the status and
  length before the first byte, and the upstream connection is closed as soon as the
  browser leaves.
* A browser that disconnects mid-stream stops the work: Starlette cancels the streaming
  body, and the cleanup (closing the walk or the recording, which cancels every request
  still in flight) runs shielded from that cancellation and again as the response's
  background task, whichever comes first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Annotated, Any, cast

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask

from alohub_async import AlohubError, AlohubSession, CallDetail, to_dict, to_json_line
from web_common import (
    NDJSON,
    HTTPFailure,
    Refused,
    StreamCutShort,
    error_line,
    http_failure,
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the one `AlohubSession` the app shares, and close it at shutdown."""
    async with AlohubSession() as alohub:
        app.state.alohub = alohub
        yield


app = FastAPI(title="Alohub call log", lifespan=lifespan)


def get_alohub(request: Request) -> AlohubSession:
    """Return the app's shared session (a FastAPI dependency)."""
    return cast(AlohubSession, request.app.state.alohub)


Alohub = Annotated[AlohubSession, Depends(get_alohub)]


def _error_response(failure: HTTPFailure) -> JSONResponse:
    return JSONResponse(failure.body(), status_code=failure.status, headers=failure.headers)


@app.exception_handler(AlohubError)
async def alohub_error(request: Request, exc: Exception) -> JSONResponse:
    """Turn an error raised before a response started into its mapped status."""
    return _error_response(http_failure(exc))


@app.exception_handler(Refused)
async def refused(request: Request, exc: Exception) -> JSONResponse:
    """Answer a `Refused` request with its status."""
    return _error_response(cast(Refused, exc).failure)


def bad_input(exc: Exception) -> Refused:
    """Return the 400 for an argument the library refused before sending anything."""
    return Refused(http_failure(exc))


async def _close_shielded(resource: AbstractAsyncContextManager[Any] | AsyncExitStack) -> None:
    # Starlette cancels the streaming task when the browser leaves, and under anyio every
    # await in a cancelled task is cancelled again, so an unshielded close would stop at
    # its first await and leave upstream requests running.
    with anyio.CancelScope(shield=True):
        await resource.__aexit__(None, None, None)


@app.get("/calls")
async def list_calls(alohub: Alohub, start: str, end: str) -> StreamingResponse:
    """Stream every call of ``[start, end]`` as NDJSON, one `to_json_line` per call."""
    try:
        walk = alohub.iter_calls(start, end)
    except (ValueError, TypeError) as exc:
        raise bad_input(exc) from None
    stack = AsyncExitStack()
    stack.push_async_callback(walk.aclose)
    try:
        calls = await walk.start()  # errors of the first page raise here: a status
    except BaseException:
        await stack.aclose()
        raise

    async def body() -> AsyncIterator[str]:
        try:
            async for call in calls:
                yield to_json_line(call)
        except AlohubError as exc:
            # Too late for a status: say why in a last line, then drop the connection.
            yield error_line(exc)
            raise StreamCutShort(f"listing cut short after the response started: {exc}") from exc
        finally:
            await _close_shielded(stack)

    return StreamingResponse(
        body(), media_type=NDJSON, background=BackgroundTask(_close_shielded, stack)
    )


async def _detail(alohub: AlohubSession, call_id: str) -> CallDetail:
    try:
        return await alohub.get_call(call_id)
    except AlohubError:
        raise  # the exception handler maps it
    except (ValueError, TypeError) as exc:  # an id no URL can carry
        raise bad_input(exc) from None


@app.get("/calls/{call_id}")
async def get_call(alohub: Alohub, call_id: str) -> dict[str, Any]:
    """Answer one call's details, transcript included, as JSON."""
    return to_dict(await _detail(alohub, call_id))


@app.get("/calls/{call_id}/recording")
async def get_recording(alohub: Alohub, call_id: str) -> StreamingResponse:
    """Proxy one call's recording to the browser as it arrives, without buffering it."""
    detail = await _detail(alohub, call_id)
    if detail.recording_url is None:
        raise Refused(HTTPFailure(404, "not_found", "this call has no recording"))
    stack = AsyncExitStack()
    # Opening sends the request and reads the status: a 404 or an HTML page instead of
    # audio raises here, while the browser can still get an error status.
    audio = await stack.enter_async_context(alohub.open_recording(detail))
    headers = {"Cache-Control": "private, max-age=3600"}
    if audio.content_length is not None:
        headers["Content-Length"] = str(audio.content_length)

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in audio:
                yield chunk
        finally:
            await _close_shielded(stack)

    return StreamingResponse(
        body(),
        media_type=audio.content_type or "application/octet-stream",
        headers=headers,
        background=BackgroundTask(_close_shielded, stack),
    )

r"""An aiohttp.web app in front of the Alohub call log: streamed listings, details, recordings.

Run it against the fake (no credentials, no network) in two terminals::

    alohub-async fake-server --port 9909
    export ALOHUB_BASE_URL=http://127.0.0.1:9909 ALOHUB_API_KEY=demo-api-key \
           ALOHUB_ACCESS_TOKEN=demo-access-token
    python examples/aiohttp_app.py            # serves on 127.0.0.1:8080 (ALOHUB_APP_PORT)

then ``curl 'http://127.0.0.1:8080/calls?start=2026-01-21&end=2026-01-21'``, ``curl
http://127.0.0.1:8080/calls/20260121095216-VBHFEYGW-486`` and ``curl -o call.wav
http://127.0.0.1:8080/calls/20260121095216-VBHFEYGW-486/recording``. With a real tenant,
set the three variables to its URL, API key and token instead.

It serves the same routes, with the same statuses, as `fastapi_app`:

* **One session for the whole app**, opened and closed by a cleanup context.
* **GET /calls?start=&end=** streams the range as NDJSON; the first page is fetched before
  ``prepare()`` sends the headers, so its errors become statuses (the middleware maps
  them, see `web_common`); a later failure ends the body with an error line and drops the
  connection.
* **GET /calls/{call_id}**: one call's details as JSON.
* **GET /calls/{call_id}/recording**: the audio proxied chunk by chunk with
  `AlohubSession.open_recording`.
* **handler_cancellation=True** (see `RUNNER_OPTIONS`): aiohttp then cancels a handler
  whose client disconnected. Without it, a handler waiting for the next page or the next
  audio chunk would keep waiting (and keep the upstream request open) until its own
  timeout; with it, the cancellation leaves the ``async with`` blocks, which close the
  walk or the recording and every request still in flight.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from alohub_async import AlohubError, AlohubSession, CallDetail, to_dict, to_json_line
from web_common import (
    NDJSON,
    HTTPFailure,
    Refused,
    StreamCutShort,
    error_line,
    http_failure,
)

ALOHUB = web.AppKey("alohub", AlohubSession)

#: Options for ``web.run_app`` / ``web.AppRunner``: cancel the handler of a client that left.
RUNNER_OPTIONS: dict[str, Any] = {"handler_cancellation": True}


async def alohub_session(app: web.Application) -> AsyncIterator[None]:
    """Open the one `AlohubSession` the app shares, and close it at shutdown."""
    async with AlohubSession() as alohub:
        app[ALOHUB] = alohub
        yield


@web.middleware
async def error_statuses(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn an error raised before a response started into its mapped status."""
    try:
        return await handler(request)
    except (AlohubError, Refused) as exc:
        failure = exc.failure if isinstance(exc, Refused) else http_failure(exc)
        return web.json_response(failure.body(), status=failure.status, headers=failure.headers)


async def list_calls(request: web.Request) -> web.StreamResponse:
    """Stream every call of ``[start, end]`` as NDJSON, one `to_json_line` per call."""
    alohub = request.app[ALOHUB]
    try:
        walk = alohub.iter_calls(request.query.get("start", ""), request.query.get("end", ""))
    except (ValueError, TypeError) as exc:
        raise Refused(http_failure(exc)) from None
    try:
        calls = await walk.start()  # errors of the first page raise here: a status
        response = web.StreamResponse(headers={"Content-Type": NDJSON})
        await response.prepare(request)
        try:
            async for call in calls:
                await response.write(to_json_line(call).encode())
        except AlohubError as exc:
            # Too late for a status: say why in a last line, then drop the connection.
            await response.write(error_line(exc).encode())
            raise StreamCutShort(f"listing cut short after the response started: {exc}") from exc
        await response.write_eof()
        return response
    finally:
        await walk.aclose()  # also when cancelled: stops the requests still in flight


async def _detail(alohub: AlohubSession, call_id: str) -> CallDetail:
    try:
        return await alohub.get_call(call_id)
    except AlohubError:
        raise  # the middleware maps it
    except (ValueError, TypeError) as exc:  # an id no URL can carry
        raise Refused(http_failure(exc)) from None


async def get_call(request: web.Request) -> web.Response:
    """Answer one call's details, transcript included, as JSON."""
    detail = await _detail(request.app[ALOHUB], request.match_info["call_id"])
    return web.json_response(to_dict(detail))


async def get_recording(request: web.Request) -> web.StreamResponse:
    """Proxy one call's recording to the browser as it arrives, without buffering it."""
    alohub = request.app[ALOHUB]
    detail = await _detail(alohub, request.match_info["call_id"])
    if detail.recording_url is None:
        raise Refused(HTTPFailure(404, "not_found", "this call has no recording"))
    # Opening sends the request and reads the status: a 404 or an HTML page instead of
    # audio raises here, before prepare(), while the browser can still get an error status.
    async with alohub.open_recording(detail) as audio:
        response = web.StreamResponse(
            headers={
                "Content-Type": audio.content_type or "application/octet-stream",
                "Cache-Control": "private, max-age=3600",
            }
        )
        if audio.content_length is not None:
            response.content_length = audio.content_length
        await response.prepare(request)
        async for chunk in audio:
            await response.write(chunk)
        await response.write_eof()
        return response


def make_app() -> web.Application:
    """Build the application (the session opens when it starts).

    Returns:
        The app, routed and with its error middleware.
    """
    app = web.Application(middlewares=[error_statuses])
    app.cleanup_ctx.append(alohub_session)
    app.router.add_get("/calls", list_calls)
    app.router.add_get("/calls/{call_id}", get_call)
    app.router.add_get("/calls/{call_id}/recording", get_recording)
    return app


if __name__ == "__main__":
    port = int(os.environ.get("ALOHUB_APP_PORT", "8080"))
    web.run_app(make_app(), host="127.0.0.1", port=port, **RUNNER_OPTIONS)

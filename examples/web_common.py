"""What the two web app examples share: the error -> HTTP status mapping and NDJSON lines.

Both `fastapi_app` and `aiohttp_app` import this module, so a browser gets the same status
for the same failure whichever framework serves it. It needs nothing but alohub_async.

The mapping, and why:

============================================  ======  ===================================
alohub_async error                            status  why
============================================  ======  ===================================
bad input (``ValueError``/``TypeError``)      400     the caller's query string is wrong
`NotFoundError`, a call without recording     404     the caller asked for what is not there
`AuthenticationError`,                        503     this service's own credentials were
`PermissionDeniedError`,                              refused: it cannot serve anyone until
`TokenProviderError`                                  an operator fixes them. A 401 or 403
                                                      would tell the browser that *its*
                                                      credentials were wrong (and may make
                                                      it prompt for a login), and 502 would
                                                      blame Alohub for a fault that is ours.
`RateLimitError`                              503     the tenant's quota is shared by every
                                                      user of this service, so it is this
                                                      service that is unavailable for a
                                                      while, not the caller who sent too
                                                      much (which a 429 would say); with
                                                      ``Retry-After``
`APIConnectionError`, `APITimeoutError`       504     Alohub could not be reached in time,
                                                      even after the client's retries
`ServerError`, any other `APIStatusError`,    502     Alohub answered, but with a failure
`ResponseFormatError`, `APIResponseError`,            or with something unusable
`PaginationError`, any other `AlohubError`
============================================  ======  ===================================

The body of an error response is ``{"error": CODE, "detail": TEXT}``. The detail is a
fixed sentence for upstream failures (the full error, which never holds the API key or
the token, goes to the log, not to the browser), and the library's own message for bad
input, which describes the caller's own argument.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field

from alohub_async import (
    AlohubError,
    APIConnectionError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    TokenProviderError,
)

__all__ = [
    "DEFAULT_RETRY_AFTER",
    "NDJSON",
    "HTTPFailure",
    "Refused",
    "StreamCutShort",
    "error_line",
    "http_failure",
]


logger = logging.getLogger("alohub_examples")

#: The media type of the streamed listings: one JSON object per line.
NDJSON = "application/x-ndjson"

#: Seconds a browser is told to wait after a rate limit that came without a hint.
DEFAULT_RETRY_AFTER = 30


@dataclass(frozen=True)
class HTTPFailure:
    """An HTTP error response to send for an exception.

    Attributes:
        status: The HTTP status.
        error: A short machine-readable code, e.g. ``"not_found"``.
        detail: A sentence safe to show to the caller.
        headers: Extra response headers (``Retry-After``).
    """

    status: int
    error: str
    detail: str
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, str]:
        """Return the JSON body of the response.

        Returns:
            ``{"error": ..., "detail": ...}``.
        """
        return {"error": self.error, "detail": self.detail}


class Refused(Exception):
    """A request an app answers with an error status: bad input, a call without audio.

    Attributes:
        failure: The response to send.
    """

    def __init__(self, failure: HTTPFailure) -> None:
        super().__init__(failure.detail)
        self.failure = failure


class StreamCutShort(Exception):
    """Raised by a streaming handler to drop the connection after a failure mid-body.

    Its own class, rather than re-raising the `AlohubError`, so that the framework's
    handler for `AlohubError` (which can only help before the response started) does not
    try to answer it and log a second, misleading error.
    """


def http_failure(exc: Exception) -> HTTPFailure:
    """Map an exception raised by alohub_async (or by bad input) to an HTTP error response.

    Upstream failures are logged here, with the full error, so a handler only has to send
    the result.

    Args:
        exc: An `AlohubError`, or the ``ValueError``/``TypeError`` the library raises for a
            bad argument before sending any request.

    Returns:
        The response to send.
    """
    # Checked before ValueError: RecordingURLError is both an AlohubError and a ValueError,
    # and a recording URL the client refuses is Alohub's data, not the caller's input.
    if not isinstance(exc, AlohubError):
        if isinstance(exc, (ValueError, TypeError)):
            return HTTPFailure(400, "bad_request", str(exc))
        raise TypeError(f"not an alohub_async error: {type(exc).__name__}") from exc
    if isinstance(exc, NotFoundError):
        return HTTPFailure(404, "not_found", "no such call or recording")
    logger.warning("Alohub request failed: %s", exc, exc_info=exc)
    if isinstance(exc, RateLimitError):
        wait = DEFAULT_RETRY_AFTER if exc.retry_after is None else math.ceil(exc.retry_after)
        return HTTPFailure(
            503,
            "rate_limited",
            "the call log service is rate limited; try again later",
            {"Retry-After": str(max(wait, 1))},
        )
    if isinstance(exc, (AuthenticationError, PermissionDeniedError, TokenProviderError)):
        return HTTPFailure(
            503, "upstream_credentials", "the call log service is misconfigured; try again later"
        )
    if isinstance(exc, APIConnectionError):  # APITimeoutError included
        return HTTPFailure(504, "upstream_unreachable", "the call log service did not answer")
    return HTTPFailure(502, "upstream_error", "the call log service failed")


def error_line(exc: AlohubError) -> str:
    r"""Return the last line of a listing cut short by ``exc``, after the 200 went out.

    A streamed listing cannot change its status once records were sent, so it ends with
    this line, ``{"error": CODE, "detail": TEXT}\n``, and then the connection is dropped
    without the end of the chunked body: a client that ignores the line still sees an
    incomplete response, never a short listing that looks whole.

    Args:
        exc: The error that ended the walk.

    Returns:
        The line, newline included.
    """
    return json.dumps(http_failure(exc).body()) + "\n"

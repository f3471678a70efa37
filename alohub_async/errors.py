"""Exceptions raised by alohub_async.

Every exception the client raises derives from `AlohubError`; aiohttp's own
exceptions are translated into these at a single boundary in ``_session.py``::

    AlohubError
    ├── APIConnectionError            network failure after retries
    │   └── APITimeoutError
    ├── APIStatusError                HTTP >= 400, or a redirect (never followed)
    │   ├── BadRequestError           400, 422
    │   ├── AuthenticationError       401
    │   ├── PermissionDeniedError     403
    │   ├── NotFoundError             404
    │   ├── RateLimitError            429 (.retry_after)
    │   └── ServerError               5xx
    ├── APIResponseError              2xx body that reports failure (.code, .message)
    ├── ResponseFormatError           body not JSON, too large, or not a shape we can read
    └── PaginationError               paging that cannot be walked safely (ignored ``page``)
        └── IncompleteListingError    rows ended before the total (.expected, .received)

No exception's message or attribute carries the API key or the access token: requests
are described by method and URL only, and the URL never holds credentials.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIConnectionError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AlohubError",
    "AuthenticationError",
    "BadRequestError",
    "IncompleteListingError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseFormatError",
    "ServerError",
]

#: How much of an error response body is kept on `APIStatusError`.
BODY_SNIPPET_CHARS = 500


def _restore(cls: type[AlohubError], args: tuple[object, ...]) -> AlohubError:
    """Recreate an error without calling its ``__init__`` (used when unpickling)."""
    error = cls.__new__(cls)
    error.args = args
    return error


class AlohubError(Exception):
    """Base class of every error raised by alohub_async."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only attributes, so rebuild from args plus __dict__
        # instead of calling the class with args (the default), which would fail.
        return (_restore, (type(self), self.args), self.__dict__)


class APIConnectionError(AlohubError):
    """The request never got an HTTP response, even after retries (DNS, refused, reset)."""

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url


class APITimeoutError(APIConnectionError):
    """The request timed out, even after retries."""


class APIStatusError(AlohubError):
    """The server answered with an HTTP error status (400 or more), or with a redirect.

    Redirects are not followed, so credentials never travel to another URL.

    Attributes:
        status: the HTTP status code.
        body: at most 500 characters of the response body, for diagnosis.
        method: the HTTP method of the failed request.
        url: the URL of the failed request.
        retry_after: the response's ``Retry-After`` in seconds (capped at 60), if any.
    """

    def __init__(
        self,
        status: int,
        body: str = "",
        *,
        method: str = "",
        url: str = "",
        message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        self.body = body[:BODY_SNIPPET_CHARS]
        self.method = method
        self.url = url
        if message is None:
            where = f" for {method} {url}" if method else ""
            snippet = f": {self.body}" if self.body else ""
            message = f"HTTP {status}{where}{snippet}"
        super().__init__(message)


class BadRequestError(APIStatusError):
    """HTTP 400 or 422: the server rejected the request as malformed."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key or the access token was refused."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the credentials are valid but may not read this resource."""


class NotFoundError(APIStatusError):
    """HTTP 404, or a detail response whose ``data`` is null: no such call."""


class RateLimitError(APIStatusError):
    """HTTP 429 after retries; ``retry_after`` is the server's hint in seconds, if any."""


class ServerError(APIStatusError):
    """HTTP 5xx after retries."""


class APIResponseError(AlohubError):
    """A 2xx response whose body reports a failure (``success: "0"`` and the like).

    Attributes:
        code: the backend's error code (``error_code``), or ``None``.
        message: the backend's error message (``error_message``), or ``None``.
    """

    def __init__(self, code: str | None, message: str | None) -> None:
        self.code = code
        self.message = message
        super().__init__(f"Alohub reported a failure: code={code!r} message={message!r}")


class ResponseFormatError(AlohubError):
    """The body is not JSON, is too large, or is not a shape the client can read."""


class PaginationError(AlohubError):
    """The server's paging cannot be walked safely, so the walk stopped.

    Raised after every record before it was yielded (a correct prefix), for a server
    that ignores the ``page`` parameter (its pages repeat rows already yielded far more
    than rows inserted meanwhile can explain), or whose listing grows as fast as the
    walk reads it, or that keeps answering full pages far past its own total.
    """


class IncompleteListingError(PaginationError):
    """The listing ended before the total the server reported.

    Raised after every record the server did return was yielded, in order.

    Attributes:
        expected: the server's latest total.
        received: how many distinct records the walk yielded.
    """

    def __init__(self, message: str, *, expected: int, received: int) -> None:
        super().__init__(message)
        self.expected = expected
        self.received = received

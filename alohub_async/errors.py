"""Exceptions raised by alohub_async.

Every exception the client raises derives from `AlohubError`; aiohttp's own
exceptions are translated into these at a single boundary in ``_session.py``.

A class names the failure, wherever it was reported: an HTTP status, or an error code in
the body of an HTTP 200 answer (Alohub reports some failures with ``success: "0"`` and a
code). A body-level code with a known meaning raises the same class as its HTTP
equivalent, keeps ``.status`` the real HTTP status (200) and carries the body's ``.code``
and ``.server_message``; it is retried, or refreshes the token, exactly like that equivalent::

    AlohubError
    ├── APIConnectionError            network failure after retries
    │   └── APITimeoutError
    ├── TokenProviderError            the access_token callable failed, hung or returned junk
    ├── MissingCredentialsError       no API key or access token, given or in the environment
    │                                 (also a ValueError; .missing)
    ├── APIStatusError                the server refused or failed the request, or
    │   │                             redirected it (never followed)
    │   │                             (.status, .code, .server_message, .retry_after)
    │   ├── BadRequestError           HTTP 400, 422
    │   ├── AuthenticationError       HTTP 401; body code "1" (invalid API key)
    │   ├── PermissionDeniedError     HTTP 403
    │   ├── NotFoundError             HTTP 404; a detail whose data is null
    │   ├── RateLimitError            HTTP 429; body code "4" (.retry_after)
    │   └── ServerError               HTTP 5xx; body code "0" (system error) or "10"
    │                                 (service unavailable)
    ├── APIResponseError              2xx body reporting a failure whose code has no
    │                                 known meaning (.code, .server_message)
    ├── ResponseFormatError           body not JSON, too large, or not a shape we can read
    └── PaginationError               paging that cannot be walked safely (ignored ``page``)
        └── IncompleteListingError    rows ended before the total (.expected, .received)

No exception's message or attribute carries the API key or the access token: requests
are described by method and URL only, and the URL never holds credentials. Server text
(bodies, headers, messages) may echo them, though, so every error is scrubbed as it is
built: `AlohubError`'s metaclass masks the secrets of every live session in the new
error's ``args`` and text attributes, after the subclass's ``__init__`` has run (so
subclasses need no care of their own), and in the exception being handled at that
moment, which becomes the new error's ``__cause__``/``__context__``.

Every error has the same four descriptive attributes, with one meaning on every class:
``.message`` is the error's whole description, the text ``str(error)`` shows; ``.method``
and ``.url`` name the request it concerns (``""`` where there is none, e.g. a token
provider's failure); ``.body`` is an excerpt of the response body (one line, whitespace
collapsed, at most 500 characters, ``""`` when no body was read). What the server itself
said is in ``.code`` and ``.server_message`` on the classes that carry them.
"""

from __future__ import annotations

import sys
from typing import Any

from ._environment import CREDENTIALS
from ._redact import excerpt, redact_new_error

__all__ = [
    "APIConnectionError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AlohubError",
    "AuthenticationError",
    "BadRequestError",
    "IncompleteListingError",
    "MissingCredentialsError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseFormatError",
    "ServerError",
    "TokenProviderError",
]

BODY_SNIPPET_CHARS = 500
"""How much of an error response body is kept in an error's ``.body``."""

MESSAGE_SNIPPET_CHARS = 200
"""How much of that excerpt an HTTP error's message quotes."""


def body_excerpt(body: str | bytes, limit: int = BODY_SNIPPET_CHARS) -> str:
    """Return a body as one line: whitespace collapsed, secrets masked, cut to ``limit``.

    An nginx error page's line breaks (CR LF) and indentation would otherwise break log lines and
    terminal output; a cut excerpt ends with "...".
    """
    cut = False
    if isinstance(body, bytes):
        # Only the head is needed: a multi-megabyte body is not decoded whole.
        cut = len(body) > limit * 8
        body = body[: limit * 8].decode("utf-8", "replace")
    # Masked before the cut, so the cut cannot leave half a secret behind.
    line = excerpt(" ".join(body.split()), sys.maxsize, cut=cut)
    return line if len(line) <= limit else line[: max(0, limit - 3)] + "..."


def _restore(cls: type[AlohubError], args: tuple[object, ...]) -> AlohubError:
    """Recreate an error without calling its ``__init__`` (used when unpickling)."""
    error = cls.__new__(cls)
    error.args = args
    return error


class _Scrubbed(type):
    """Metaclass of `AlohubError`: scrub each error once it is fully built."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        error = super().__call__(*args, **kwargs)
        redact_new_error(error)
        return error


class AlohubError(Exception, metaclass=_Scrubbed):
    """Base class of every error raised by alohub_async.

    Attributes:
        message: the error's whole description: the same text as ``str(error)``.
        method: the HTTP method of the request concerned, or ``""``.
        url: the URL of the request concerned, or ``""``.
        body: an excerpt of the response body: one line, whitespace collapsed, at most
            500 characters, the session's secrets masked; ``""`` when none was read.
    """

    method: str = ""
    url: str = ""
    body: str = ""

    @property
    def message(self) -> str:
        """The error's whole description, as ``str(error)`` shows it."""
        return str(self.args[0]) if len(self.args) == 1 else str(self)

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only attributes, so rebuild from args plus __dict__
        # instead of calling the class with args (the default), which would fail.
        return (_restore, (type(self), self.args), self.__dict__)


class APIConnectionError(AlohubError):
    """The request never got an HTTP response, even after retries (DNS, refused, reset)."""

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.url = url


class APITimeoutError(APIConnectionError):
    """The request timed out, even after retries."""


class TokenProviderError(AlohubError):
    """The ``access_token`` callable raised, timed out, or returned something unusable.

    The provider's own exception, if any, is the ``__cause__`` (with the session's
    secrets masked in it). It is not retried: the provider is the caller's code, with its
    own policy.
    """


class MissingCredentialsError(AlohubError, ValueError):
    """No API key or no access token was passed, and the environment has none either.

    Raised by `AlohubSession` before anything is sent. It is also a ValueError, which is
    what the session raised for this before the class existed. The message names the
    parameters and the environment variables to set.

    Attributes:
        missing: the parameter names of the missing credentials, in order: ``"api_key"``,
            ``"access_token"`` or both.
    """

    def __init__(self, missing: tuple[str, ...]) -> None:
        named = [credential for credential in CREDENTIALS if credential[0] in missing]
        super().__init__(
            "missing "
            + " and ".join(
                f"{what} (pass {name}= or set ${variable})" for name, what, variable in named
            )
        )
        self.missing = tuple(name for name, _, _ in named)


class APIStatusError(AlohubError):
    """The server refused or failed the request.

    It said so with an HTTP error status (400 or more), with a redirect (never followed,
    so credentials never travel to another URL), or, for the subclasses, with a body-level
    error code of known meaning in a 2xx answer.

    Attributes:
        status: the real HTTP status code (200 for a failure reported in the body).
        code: the error code the body reported (Alohub's ``error_code``, a gateway's
            ``code``), or ``None``.
        server_message: the error message the body reported, or ``None``.
        message: the whole description (``str(error)``), which quotes ``code`` and
            ``server_message`` when the body reported them.
        body: an excerpt of the response body, for diagnosis: one line, whitespace
            collapsed, at most 500 characters, the session's secrets masked as
            ``[redacted]``.
        method: the HTTP method of the failed request.
        url: the URL of the failed request.
        retry_after: the response's ``Retry-After`` in seconds (capped at 60), if any;
            ``None`` also for a negative one or a date already past.
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
        code: str | None = None,
        error_message: str | None = None,
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        # Masked before the cut, so the cut cannot leave half a secret behind.
        self.body = body_excerpt(body)
        self.method = method
        self.url = url
        self.code = code
        self.server_message = error_message
        if message is None:
            where = f" for {method} {url}" if method else ""
            if code is not None or error_message is not None:
                # Quote what the server said rather than a snippet the code may be cut from.
                said = f"code={code!r} message={error_message!r}"
                if 200 <= status < 300:
                    message = f"Alohub reported a failure in an HTTP {status} body{where}: {said}"
                else:
                    message = f"HTTP {status}{where}: {said}"
            else:
                snippet = f": {body_excerpt(self.body, MESSAGE_SNIPPET_CHARS)}" if self.body else ""
                message = f"HTTP {status}{where}{snippet}"
        super().__init__(message)


class BadRequestError(APIStatusError):
    """The server rejected the request as malformed (HTTP 400 or 422)."""


class AuthenticationError(APIStatusError):
    """The API key or the access token was refused.

    Reported by HTTP 401, or by body code ``"1"`` (invalid API key) in a 200 answer.
    Either way, when ``access_token`` is a provider, the request is repeated once with a
    fresh token before this is raised.
    """


class PermissionDeniedError(APIStatusError):
    """The credentials are valid but may not read this resource (HTTP 403)."""


class NotFoundError(APIStatusError):
    """No such call: HTTP 404, or a detail answer whose ``data`` is null.

    Or no API at the session's ``base_url``: a 404 from the call list (which always
    exists), or a 404 page that is not the API's JSON; the message then says that the
    base URL is wrong.
    """


class RateLimitError(APIStatusError):
    """Too many requests, still refused after retries.

    Reported by HTTP 429, or by body code ``"4"`` (rate limit exceeded) in a 200 answer;
    both are retried. ``retry_after`` is the server's hint in seconds, if any.
    """


class ServerError(APIStatusError):
    """The server failed to serve the request.

    Reported by HTTP 5xx, or by body code ``"0"`` (system error) or ``"10"`` (service
    unavailable) in a 200 answer; the body codes, 500, 502, 503 and 504 are retried.
    """


class APIResponseError(AlohubError):
    """A 2xx response whose body reports a failure whose code has no known meaning.

    ``success`` other than ``"1"``, ``1``, ``true`` or ``"true"`` is a failure; a body code
    with a known meaning raises its own class instead (see the module's tree).

    Attributes:
        code: the backend's error code (``error_code``), or ``None``.
        server_message: the backend's error message (``error_message``), or ``None``.
    """

    def __init__(
        self,
        code: str | None,
        server_message: str | None,
        *,
        method: str = "",
        url: str = "",
        body: str = "",
    ) -> None:
        self.code = code
        self.server_message = server_message
        self.method = method
        self.url = url
        self.body = body_excerpt(body)
        super().__init__(f"Alohub reported a failure: code={code!r} message={server_message!r}")


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

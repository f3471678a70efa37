"""The failures ``alohub-async`` expects: their exit codes and their one-line messages.

`run` catches `EXPECTED` around a command and reports it with `describe` and
`exit_code_for`; anything else is a bug and keeps its traceback. This module loads the
client's errors, so it is imported only once a command runs.
"""

from __future__ import annotations

from .._environment import CREDENTIALS, ENV_ACCESS_TOKEN, ENV_API_KEY
from ..errors import (
    AlohubError,
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    MissingCredentialsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from ._exit_codes import ExitCode, ListenError, UsageError

__all__ = ["EXPECTED", "describe", "exit_code_for"]

EXPECTED: tuple[type[Exception], ...] = (AlohubError, ValueError, UsageError, ListenError)
"""What a command may raise that is reported in one line, not as a traceback."""


def exit_code_for(exc: BaseException) -> ExitCode:
    """Map an expected failure to its exit code."""
    auth = (MissingCredentialsError, AuthenticationError, PermissionDeniedError)
    if isinstance(exc, auth):
        return ExitCode.AUTH
    if isinstance(exc, NotFoundError):
        return ExitCode.NOT_FOUND
    if isinstance(exc, (APIConnectionError, ServerError, RateLimitError, ListenError)):
        return ExitCode.NETWORK
    if isinstance(exc, APIStatusError) and exc.status == 408:
        return ExitCode.NETWORK
    if isinstance(exc, AlohubError):
        return ExitCode.RESPONSE
    return ExitCode.USAGE


def describe(exc: BaseException) -> str:
    """Return the one-line message for an expected failure."""
    if isinstance(exc, UnicodeEncodeError):
        return (
            f"cannot encode the output as {exc.encoding}: use --output FILE (always UTF-8) "
            "or set PYTHONUTF8=1"
        )
    if isinstance(exc, MissingCredentialsError):
        # The session's message names its parameters; a command line has options.
        return "missing " + " and ".join(
            f"{what} (--{name.replace('_', '-')} or ${variable})"
            for name, what, variable in CREDENTIALS
            if name in exc.missing
        )
    message = str(exc) or type(exc).__name__
    if isinstance(exc, (AuthenticationError, PermissionDeniedError)):
        message += f" (check --api-key/--access-token or ${ENV_API_KEY}/${ENV_ACCESS_TOKEN})"
    return message

"""Which failures are retried, and how long to wait before the next attempt.

The retry loop itself is stamina's; this module is the policy it is given: connection
errors, timeouts, HTTP 408/429/500/502/503/504 and the body-level codes meaning a rate
limit or a server failure are retried with exponential backoff and jitter, a server's
``Retry-After`` (capped at 60 s; a negative one or a past date is ignored) overrides the
backoff, and the opt-in `set_retry_waits` switch removes waiting so fault tests run fast.
An error that exhausted the retries says so in its message.

Each retry is logged once, at WARNING under ``alohub_async``, with what a reader needs
(method, path, the reason, attempt n/N and the wait). stamina's own
``stamina.retry_scheduled`` line for the same retry says none of that, so a filter on the
``stamina`` logger drops it while one of our requests is being retried (a context
variable tells which retries are ours); the user's logging configuration is not touched,
and their own stamina retries are still logged.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import stamina

from ._protocol import MAX_RETRY_AFTER
from .errors import AlohubError, APIConnectionError, APIStatusError, RateLimitError, ServerError

__all__ = [
    "RETRY_STATUSES",
    "describe_give_up",
    "is_retryable",
    "retry_attempts",
    "retry_log",
    "retry_waits_enabled",
    "set_retry_waits",
]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""HTTP statuses that are retried; other 4xx are final."""

WAIT_INITIAL = 0.5
WAIT_MAX = 10.0
WAIT_JITTER = 1.0
WAIT_EXP_BASE = 2.0

_waits_enabled = True

logger = logging.getLogger("alohub_async")


class _RetryNote:
    """The request being retried in this context, and how many of its attempts failed."""

    __slots__ = ("attempts", "failed", "method", "path")

    def __init__(self, method: str, path: str, attempts: int) -> None:
        self.method = method
        self.path = path
        self.attempts = attempts
        self.failed = 0


_current: ContextVar[_RetryNote | None] = ContextVar("alohub_async_retry", default=None)


class _OurRetries(logging.Filter):
    """Drop stamina's line for a retry that ``alohub_async`` logs itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _current.get() is None


logging.getLogger("stamina").addFilter(_OurRetries())


@contextmanager
def retry_log(method: str, path: str, attempts: int) -> Iterator[None]:
    """Log the retries of the request made inside the block (``attempts`` in all)."""
    token = _current.set(_RetryNote(method, path, attempts))
    try:
        yield
    finally:
        _current.reset(token)


def _reason(exc: Exception) -> str:
    if isinstance(exc, APIStatusError):
        if 200 <= exc.status < 300:
            return f"{type(exc).__name__} (body code {exc.code!r} in an HTTP {exc.status})"
        return f"HTTP {exc.status}"
    return type(exc).__name__


def set_retry_waits(enabled: bool) -> None:
    """Turn waiting between retries on (the default) or off, process-wide.

    Off is meant for test suites: retries still happen, the same number of times, but
    without sleeping. Nothing in alohub_async turns it off by itself.
    """
    global _waits_enabled
    _waits_enabled = bool(enabled)


def retry_waits_enabled() -> bool:
    """Tell whether retries currently wait (see `set_retry_waits`)."""
    return _waits_enabled


def is_retryable(exc: BaseException) -> bool:
    """Tell whether a failed attempt may be tried again."""
    if isinstance(exc, APIConnectionError):
        return True
    if not isinstance(exc, APIStatusError):
        return False
    if exc.status in RETRY_STATUSES:
        return True
    # A 2xx body reporting a rate limit or a server failure by its code is retried like
    # the 429 or 5xx it stands for (classes mean the failure, wherever it was reported).
    return 200 <= exc.status < 300 and isinstance(exc, (RateLimitError, ServerError))


def retry_wait(exc: Exception, failures: int) -> float:
    """Seconds to wait after the ``failures``-th failed attempt of a request.

    The server's ``Retry-After`` (capped) if it gave one, else exponential backoff with
    jitter; 0 when waits are off.
    """
    if not _waits_enabled or stamina.is_testing():
        return 0.0
    if isinstance(exc, APIStatusError) and exc.retry_after is not None and exc.retry_after >= 0:
        return min(exc.retry_after, MAX_RETRY_AFTER)
    backoff = min(WAIT_MAX, WAIT_INITIAL * WAIT_EXP_BASE ** (failures - 1))
    return backoff + random.uniform(0, WAIT_JITTER)  # noqa: S311 - jitter, not a secret


def _backoff(exc: Exception) -> bool | float:
    """Decide for stamina: False gives up, a float is the wait before the next attempt.

    The wait is computed here rather than by stamina so that the log line can say it.
    """
    if not is_retryable(exc):
        return False
    note = _current.get()
    failures = 1 if note is None else note.failed + 1
    wait = retry_wait(exc, failures)
    if note is not None:
        note.failed = failures
        # stamina asks about the last attempt too, before it gives up: no retry follows.
        if failures < note.attempts:
            logger.warning(
                "%s %s failed with %s (attempt %d/%d); retrying in %.1f s",
                note.method,
                note.path,
                _reason(exc),
                failures,
                note.attempts,
                wait,
            )
    return wait


def describe_give_up(error: AlohubError, attempts: int, elapsed: float) -> None:
    """Append "gave up after N attempts in T s" to the message of the last failure.

    Without it, the error of the fourth attempt reads like the first one, and a caller
    cannot tell a server that failed once from one that failed for three minutes.
    """
    if not error.args or not isinstance(error.args[0], str):
        return
    noun = "attempt" if attempts == 1 else "attempts"
    seconds = f"{elapsed:.0f}" if elapsed >= 10 else f"{elapsed:.1f}"
    old = error.args[0]
    new = f"{old} (gave up after {attempts} {noun} in {seconds} s)"
    error.args = (new, *error.args[1:])  # `.message` reads it from there


def retry_attempts(max_retries: int) -> AsyncIterable[stamina.Attempt]:
    """Return stamina's attempt iterator for one request: ``max_retries`` retries at most."""
    return stamina.retry_context(
        on=_backoff,
        attempts=max_retries + 1,
        timeout=None,
        wait_initial=WAIT_INITIAL,
        wait_max=WAIT_MAX,
        wait_jitter=WAIT_JITTER,
        wait_exp_base=WAIT_EXP_BASE,
    )

"""The retry policy: what is retried, how long to wait, and the opt-in no-wait switch."""

from __future__ import annotations

from alohub_async import _retry
from alohub_async.errors import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
)


def test_retryable_kinds() -> None:
    """Connection errors, timeouts and 408/429/5xx are retryable; the rest are final."""
    assert _retry.is_retryable(APIConnectionError("x"))
    assert _retry.is_retryable(APITimeoutError("x"))
    for status in (408, 429, 500, 502, 503, 504):
        assert _retry.is_retryable(APIStatusError(status))
    for status in (400, 401, 403, 404, 409, 422, 501):
        assert not _retry.is_retryable(APIStatusError(status))
    assert not _retry.is_retryable(APIResponseError("E", "m"))
    assert not _retry.is_retryable(ResponseFormatError("x"))


def test_backoff_honours_retry_after_capped() -> None:
    """The retry hook waits the server's Retry-After, capped at 60 s."""
    assert _retry._backoff(RateLimitError(429, retry_after=2.0)) == 2.0
    assert _retry._backoff(ServerError(503, retry_after=600.0)) == 60.0
    assert 0.5 <= _retry._backoff(ServerError(503)) <= 1.5  # the first backoff, jittered
    assert _retry._backoff(BadRequestError(400)) is False
    assert _retry._backoff(ResponseFormatError("x")) is False


def test_retry_waits_are_on_by_default() -> None:
    """Nothing in the package or its pytest plugin turns retry waiting off."""
    assert _retry.retry_waits_enabled()


def test_switch_removes_waits(no_retry_waits: None) -> None:
    """With waits off, every retry decision waits zero seconds."""
    assert _retry._backoff(RateLimitError(429, retry_after=30.0)) == 0.0
    assert _retry._backoff(ServerError(500)) == 0.0
    assert _retry._backoff(BadRequestError(400)) is False


def test_switch_can_be_turned_back_on() -> None:
    """set_retry_waits(True) restores waiting."""
    _retry.set_retry_waits(False)
    try:
        assert not _retry.retry_waits_enabled()
    finally:
        _retry.set_retry_waits(True)
    assert _retry._backoff(ServerError(500)) >= _retry.WAIT_INITIAL

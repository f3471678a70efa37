"""The exception tree."""

from __future__ import annotations

import pickle

import pytest

from alohub_async import errors


def test_tree_shape() -> None:
    """Every error derives from AlohubError, as the module docstring draws it."""
    assert issubclass(errors.APITimeoutError, errors.APIConnectionError)
    status_classes: tuple[type[errors.AlohubError], ...] = (
        errors.BadRequestError,
        errors.AuthenticationError,
        errors.PermissionDeniedError,
        errors.NotFoundError,
        errors.RateLimitError,
        errors.ServerError,
    )
    for cls in status_classes:
        assert issubclass(cls, errors.APIStatusError)
    for cls in (
        errors.APIConnectionError,
        errors.APIStatusError,
        errors.APIResponseError,
        errors.ResponseFormatError,
    ):
        assert issubclass(cls, errors.AlohubError)


def test_docstring_draws_every_class() -> None:
    """The module docstring names every exception class."""
    assert errors.__doc__ is not None
    for name in errors.__all__:
        assert name in errors.__doc__


def test_status_error_message_and_snippet() -> None:
    """An APIStatusError says status, method and URL, and keeps at most 500 body chars."""
    error = errors.ServerError(503, "x" * 900, method="POST", url="https://h/p")
    assert str(error).startswith("HTTP 503 for POST https://h/p: ")
    assert len(error.body) == 500


def test_api_response_error_attributes() -> None:
    """APIResponseError carries the backend's code and message."""
    error = errors.APIResponseError("E42", "không hợp lệ")
    assert (error.code, error.server_message) == ("E42", "không hợp lệ")
    assert "E42" in str(error)


@pytest.mark.parametrize(
    "error",
    [
        errors.AlohubError("x"),
        errors.APIConnectionError("down", method="GET", url="u"),
        errors.APITimeoutError("slow", method="GET", url="u"),
        errors.RateLimitError(429, "b", method="GET", url="u", retry_after=3.0),
        errors.NotFoundError(200, "b", method="GET", url="u", message="call 'x' not found"),
        errors.APIResponseError("E", "m"),
        errors.ResponseFormatError("bad"),
    ],
)
def test_errors_survive_pickling(error: errors.AlohubError) -> None:
    """Errors pickle and unpickle with their message and attributes (multiprocessing, logs)."""
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error)
    assert str(clone) == str(error)
    assert vars(clone) == vars(error)

"""The public surface: __all__ is pinned, and every public name is documented."""

from __future__ import annotations

import pytest

import alohub_async
import alohub_async.errors
import alohub_async.models

EXPECTED = {
    "APIConnectionError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AlohubError",
    "AlohubSession",
    "AuthenticationError",
    "BadRequestError",
    "CallDetail",
    "CallPage",
    "CallRecord",
    "Direction",
    "IncompleteListingError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseFormatError",
    "ServerError",
    "Stats",
    "Transcript",
    "TranscriptSegment",
    "WalkIterator",
    "__version__",
}


def test_all_is_pinned() -> None:
    """__all__ lists exactly the intended public names."""
    assert set(alohub_async.__all__) == EXPECTED


def test_every_exported_name_resolves() -> None:
    """Each name in __all__ can be imported."""
    for name in alohub_async.__all__:
        assert getattr(alohub_async, name) is not None


def test_exported_objects_are_documented() -> None:
    """Every exported class has a docstring, and so does every public method."""
    for name in alohub_async.__all__:
        obj = getattr(alohub_async, name)
        if isinstance(obj, str):
            continue
        assert obj.__doc__, name
        for attr, member in vars(obj).items():
            if attr.startswith("_") or not callable(member):
                continue
            assert member.__doc__, f"{name}.{attr}"


def test_errors_and_models_are_reexported() -> None:
    """Everything public in errors and models is also importable from the top level."""
    for module in (alohub_async.errors, alohub_async.models):
        for name in module.__all__:
            assert getattr(alohub_async, name) is getattr(module, name)


def test_unknown_attribute_raises() -> None:
    """The lazy module __getattr__ only knows __version__."""
    with pytest.raises(AttributeError, match="nonexistent"):
        getattr(alohub_async, "nonexistent")  # noqa: B009

"""The public surface: __all__ is pinned, and every public name is documented."""

from __future__ import annotations

import inspect
import types

import pytest

import alohub_async
import alohub_async.errors
import alohub_async.models
import alohub_async.serialization

EXPECTED = {
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_RECORDING_SIZE",
    "DEFAULT_SERVER_TZ",
    "DEFAULT_TZ",
    "TimeInput",
    "TokenProvider",
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
    "CheckResult",
    "Diagnosis",
    "Direction",
    "EnvelopeReport",
    "FieldReport",
    "IncompleteListingError",
    "MissingCredentialsError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "RecordingOutcome",
    "RecordingResult",
    "RecordingStream",
    "RecordingURLError",
    "ResponseFormatError",
    "SavedRecording",
    "ServerError",
    "Stats",
    "TokenProviderError",
    "Transcript",
    "TranscriptSegment",
    "WalkIterator",
    "__version__",
    "recording_file_name",
    "csv_header",
    "csv_row",
    "to_dict",
    "to_json_line",
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
        # Python 3.10 reports a parametrized alias (``Callable[...]``) as a type too.
        alias = isinstance(obj, types.GenericAlias)
        if alias or not (isinstance(obj, type) or inspect.isfunction(obj)):
            continue  # constants and type aliases: documented in docs/api.md
        assert obj.__doc__, name
        for attr, member in vars(obj).items():
            if attr.startswith("_") or not callable(member):
                continue
            assert member.__doc__, f"{name}.{attr}"


def test_errors_and_models_are_reexported() -> None:
    """Everything public in errors, models and serialization is importable from the top."""
    for module in (alohub_async.errors, alohub_async.models, alohub_async.serialization):
        for name in module.__all__:
            assert getattr(alohub_async, name) is getattr(module, name)


def test_unknown_attribute_raises() -> None:
    """The lazy module __getattr__ only knows __version__."""
    with pytest.raises(AttributeError, match="nonexistent"):
        getattr(alohub_async, "nonexistent")  # noqa: B009

"""Asyncio client for the Alohub Call Logs (CDR) API.

>>> from alohub_async import AlohubSession  # doctest: +SKIP
>>> async with AlohubSession(api_key="...", access_token="...") as alohub:  # doctest: +SKIP
...     async for call in alohub.iter_calls("2026-01-01", "2026-01-31"):
...         print(call.call_id, call.started_at, call.direction)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the type checker sees every name; the interpreter imports on first use
    from ._auth import TokenProvider
    from ._doctor import CheckResult, Diagnosis, EnvelopeReport, FieldReport
    from ._environment import DEFAULT_BASE_URL
    from ._pagination import WalkIterator
    from ._recordings import (
        DEFAULT_MAX_RECORDING_SIZE,
        RecordingOutcome,
        RecordingResult,
        RecordingStream,
        RecordingURLError,
        SavedRecording,
        recording_file_name,
    )
    from ._session import DEFAULT_MAX_BODY_SIZE, AlohubSession
    from ._timeutil import DEFAULT_SERVER_TZ, DEFAULT_TZ, TimeInput
    from .errors import (
        AlohubError,
        APIConnectionError,
        APIResponseError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        IncompleteListingError,
        MissingCredentialsError,
        NotFoundError,
        PaginationError,
        PermissionDeniedError,
        RateLimitError,
        ResponseFormatError,
        ServerError,
        TokenProviderError,
    )
    from .models import (
        CallDetail,
        CallPage,
        CallRecord,
        Direction,
        Stats,
        Transcript,
        TranscriptSegment,
    )
    from .serialization import csv_header, csv_row, to_dict, to_json_line

    __version__: str

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_RECORDING_SIZE",
    "DEFAULT_SERVER_TZ",
    "DEFAULT_TZ",
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
    "TimeInput",
    "TokenProvider",
    "TokenProviderError",
    "Transcript",
    "TranscriptSegment",
    "WalkIterator",
    "__version__",
    "csv_header",
    "csv_row",
    "recording_file_name",
    "to_dict",
    "to_json_line",
]

# Where each public name lives. ``import alohub_async`` imports none of them: a script
# that only needs the models, or the CLI's ``--help``, does not pay for aiohttp, cattrs
# and the retry machinery (see docs/performance.md).
_LAZY: dict[str, str] = {
    "TokenProvider": "alohub_async._auth",
    "DEFAULT_BASE_URL": "alohub_async._environment",
    "DEFAULT_MAX_RECORDING_SIZE": "alohub_async._recordings",
    "DEFAULT_MAX_BODY_SIZE": "alohub_async._session",
    "DEFAULT_SERVER_TZ": "alohub_async._timeutil",
    "DEFAULT_TZ": "alohub_async._timeutil",
    "TimeInput": "alohub_async._timeutil",
    "CheckResult": "alohub_async._doctor",
    "Diagnosis": "alohub_async._doctor",
    "EnvelopeReport": "alohub_async._doctor",
    "FieldReport": "alohub_async._doctor",
    "WalkIterator": "alohub_async._pagination",
    "RecordingOutcome": "alohub_async._recordings",
    "RecordingResult": "alohub_async._recordings",
    "RecordingStream": "alohub_async._recordings",
    "RecordingURLError": "alohub_async._recordings",
    "SavedRecording": "alohub_async._recordings",
    "recording_file_name": "alohub_async._recordings",
    "AlohubSession": "alohub_async._session",
    "APIConnectionError": "alohub_async.errors",
    "APIResponseError": "alohub_async.errors",
    "APIStatusError": "alohub_async.errors",
    "APITimeoutError": "alohub_async.errors",
    "AlohubError": "alohub_async.errors",
    "AuthenticationError": "alohub_async.errors",
    "BadRequestError": "alohub_async.errors",
    "IncompleteListingError": "alohub_async.errors",
    "MissingCredentialsError": "alohub_async.errors",
    "NotFoundError": "alohub_async.errors",
    "PaginationError": "alohub_async.errors",
    "PermissionDeniedError": "alohub_async.errors",
    "RateLimitError": "alohub_async.errors",
    "ResponseFormatError": "alohub_async.errors",
    "ServerError": "alohub_async.errors",
    "TokenProviderError": "alohub_async.errors",
    "CallDetail": "alohub_async.models",
    "CallPage": "alohub_async.models",
    "CallRecord": "alohub_async.models",
    "Direction": "alohub_async.models",
    "Stats": "alohub_async.models",
    "Transcript": "alohub_async.models",
    "TranscriptSegment": "alohub_async.models",
    "csv_header": "alohub_async.serialization",
    "csv_row": "alohub_async.serialization",
    "to_dict": "alohub_async.serialization",
    "to_json_line": "alohub_async.serialization",
}


def _import_lazily(namespace: dict[str, object], table: dict[str, str], name: str) -> object:
    """Import ``name`` from the module ``table`` names for it and keep it in ``namespace``.

    Shared by this package's and ``alohub_async.testing``'s module ``__getattr__``.
    """
    value = getattr(importlib.import_module(table[name]), name)
    namespace[name] = value  # later lookups skip the module __getattr__
    return value


def __getattr__(name: str) -> object:
    """Import a public name on first use; compute ``__version__`` from the metadata."""
    if name in _LAZY:
        return _import_lazily(globals(), _LAZY, name)
    if name == "__version__":
        from ._session import _version

        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

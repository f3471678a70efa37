"""Asyncio client for the Alohub Call Logs (CDR) API.

>>> from alohub_async import AlohubSession  # doctest: +SKIP
>>> async with AlohubSession(api_key="...", access_token="...") as alohub:  # doctest: +SKIP
...     async for call in alohub.iter_calls("2026-01-01", "2026-01-31"):
...         print(call.call_id, call.started_at, call.direction)
"""

from __future__ import annotations

from ._auth import TokenProvider
from ._doctor import CheckResult, Diagnosis, EnvelopeReport, FieldReport
from ._pagination import WalkIterator
from ._protocol import DEFAULT_BASE_URL
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


def __getattr__(name: str) -> str:
    """Compute ``__version__`` lazily from the installed distribution's metadata."""
    if name == "__version__":
        from ._session import _version

        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

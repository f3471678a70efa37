"""The attrs classes the client returns.

All of them are frozen and slotted. They are built by the one cattrs converter in
``_converter.py``, which folds the backend's unpublished, varying key names onto these
fields; ``raw`` always keeps the record exactly as the server sent it, so nothing the
mapping does not know about is lost.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

__all__ = [
    "CallDetail",
    "CallPage",
    "CallRecord",
    "Direction",
    "Stats",
    "Transcript",
    "TranscriptSegment",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Direction(str, enum.Enum):
    """Which way a call went, as far as the record tells."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"
    UNKNOWN = "unknown"


@attrs.frozen
class TranscriptSegment:
    """One utterance of a transcript: who spoke, what, and when (seconds from call start)."""

    text: str
    speaker: str | None = None
    start: float | None = None
    end: float | None = None


@attrs.frozen
class Transcript:
    """A call's transcript: the whole ``text`` and, when the server splits it, its ``segments``."""

    text: str
    segments: tuple[TranscriptSegment, ...] = ()


@attrs.frozen(kw_only=True)
class CallRecord:
    """One call as listed by ``POST /api/report/call-logs``.

    Every field but ``call_id`` is optional because the backend's schema is unpublished;
    ``raw`` is the record exactly as received (excluded from hashing, not from equality).
    """

    call_id: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration: float | None = None
    direction: Direction = Direction.UNKNOWN
    caller: str | None = None
    callee: str | None = None
    extension: str | None = None
    agent: str | None = None
    status: str | None = None
    customer_name: str | None = None
    recording_url: str | None = None
    raw: Mapping[str, Any] = attrs.field(default=_EMPTY, hash=False, repr=False)


@attrs.frozen(kw_only=True)
class CallDetail(CallRecord):
    """One call as returned by ``GET /api/report/call-logs/{call_id}``: a record plus transcript."""

    transcript: Transcript | None = None


@attrs.frozen(kw_only=True)
class CallPage:
    """One page of the call list: its records in server order and, if the server said, the total.

    ``page`` is 1-based; ``page_size`` is the ``limit`` that was asked for, so a page with
    fewer items than ``page_size`` is the last one.
    """

    items: tuple[CallRecord, ...]
    page: int
    page_size: int
    total: int | None = None


@attrs.define
class Stats:
    """Counters for a session or one walk, readable while and after it runs.

    Attributes:
        requests: HTTP requests sent, retries included.
        retries: attempts beyond the first, and repeats after a token refresh.
        pages: list pages received and consumed.
        records: records yielded (after duplicates were dropped).
        duplicates_dropped: records skipped because the same page or a neighbouring one
            already yielded them (rows re-read on purpose after a page-size switch are not
            counted).
        limit_adaptations: times a walk switched to a smaller ``limit`` because the server
            returned fewer rows per page than asked while more rows existed (it caps
            ``limit``); the pages after the switch report the smaller ``page_size``.
    """

    requests: int = 0
    retries: int = 0
    pages: int = 0
    records: int = 0
    duplicates_dropped: int = 0
    limit_adaptations: int = 0

"""The attrs classes the client returns, and the `Direction` enum.

All of them are slotted, and all but `Stats` are frozen: a `Stats` is a set of counters that
its session or walk updates while it runs. The records are built by the one cattrs converter
in ``_converter.py``, which folds the backend's unpublished, varying key names onto these
fields; ``raw`` always keeps the record exactly as the server sent it, so nothing the
mapping does not know about is lost.

Attributes are documented in Google-style ``Attributes:`` sections, the form the API
reference (mkdocstrings) renders as a table with each attribute's type.

Attributes:
    DEFAULT_CUE_SECONDS: How long a subtitle cue lasts when its segment gives a start but
        neither an end nor a next start.
"""

from __future__ import annotations

import enum
import json
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
    """Which way a call went, as far as the record tells.

    ``str(direction)`` and ``f"{direction}"`` give the value (``"inbound"``), as in JSON
    and CSV output, not ``Direction.INBOUND``.
    """

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, format_spec: str) -> str:
        # Defined too: before Python 3.12, format() of a str mix-in enum ignores __str__.
        return format(str(self.value), format_spec)


@attrs.frozen
class TranscriptSegment:
    """One utterance of a transcript: who spoke, what, and when (seconds from call start).

    Attributes:
        text: What was said.
        speaker: Who said it, as the server names them (``None`` when it does not say).
        start: When the utterance starts, in seconds from the start of the call.
        end: When it ends, in seconds from the start of the call.
    """

    text: str
    speaker: str | None = None
    start: float | None = None
    end: float | None = None


DEFAULT_CUE_SECONDS = 3.0


def _one_line(text: str) -> str:
    """Collapse whitespace, newlines included: a blank line would end a subtitle cue."""
    return " ".join(text.split())


def _timestamp(seconds: float, separator: str) -> str:
    """Format seconds as ``HH:MM:SS<separator>mmm`` (``,`` for SRT, ``.`` for WebVTT)."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@attrs.frozen
class Transcript:
    """A call's transcript: the whole ``text`` and, when the server splits it, its ``segments``.

    The ``to_*`` methods export it without any I/O: `to_text` (speakers and text),
    `to_srt` and `to_vtt` (subtitles, which need segment times), `to_dict` and `to_json`.

    Attributes:
        text: The whole transcript.
        segments: Its utterances in order; empty when the server sends only the text.
    """

    text: str
    segments: tuple[TranscriptSegment, ...] = ()

    @property
    def timed(self) -> bool:
        """True when at least one segment has a start time (subtitles can be made)."""
        return any(segment.start is not None for segment in self.segments)

    def to_text(self) -> str:
        """Return the transcript as plain text: one ``Speaker: text`` line per segment.

        Returns:
            The text; the whole ``text`` as is when there are no segments.
        """
        if not self.segments:
            return self.text
        lines = []
        for segment in self.segments:
            text = _one_line(segment.text)
            speaker = _one_line(segment.speaker or "")
            lines.append(f"{speaker}: {text}" if speaker else text)
        return "\n".join(lines) + "\n"

    def _cues(self) -> list[tuple[float, float, str, str]]:
        """Return ``(start, end, speaker, text)`` per segment, filling in missing times.

        A segment without a start begins where the previous cue ended; one without a
        usable end lasts until the next start, else `DEFAULT_CUE_SECONDS`.
        """
        if not self.timed:
            raise ValueError("this transcript has no segment times: export it with to_text()")
        cues = []
        previous_end = 0.0
        segments = self.segments
        for i, segment in enumerate(segments):
            start = max(0.0, previous_end if segment.start is None else segment.start)
            end = segment.end
            if end is None or end <= start:
                later = (s.start for s in segments[i + 1 :] if s.start is not None)
                end = next((t for t in later if t > start), start + DEFAULT_CUE_SECONDS)
            cues.append((start, end, _one_line(segment.speaker or ""), _one_line(segment.text)))
            previous_end = end
        return cues

    def to_srt(self) -> str:
        """Return the transcript as SubRip (``.srt``) subtitles, ``Speaker: text`` per cue.

        Returns:
            The SRT document.

        Raises:
            ValueError: no segment has a time (use `to_text`).
        """
        blocks = []
        for number, (start, end, speaker, text) in enumerate(self._cues(), 1):
            line = f"{speaker}: {text}" if speaker else text
            blocks.append(
                f"{number}\n{_timestamp(start, ',')} --> {_timestamp(end, ',')}\n{line}\n"
            )
        return "\n".join(blocks)

    def to_vtt(self) -> str:
        """Return the transcript as WebVTT subtitles, speakers as ``<v Speaker>`` voices.

        Returns:
            The WebVTT document.

        Raises:
            ValueError: no segment has a time (use `to_text`).
        """
        blocks = ["WEBVTT\n"]
        for start, end, speaker, text in self._cues():
            line = (
                f"<v {_vtt_escape(speaker)}>{_vtt_escape(text)}" if speaker else _vtt_escape(text)
            )
            blocks.append(f"{_timestamp(start, '.')} --> {_timestamp(end, '.')}\n{line}\n")
        return "\n".join(blocks)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: ``text`` and ``segments`` (speaker, text, start, end).

        Returns:
            The dict.
        """
        return {
            "text": self.text,
            "segments": [
                {"speaker": s.speaker, "text": s.text, "start": s.start, "end": s.end}
                for s in self.segments
            ],
        }

    def to_json(self, *, indent: int | None = None) -> str:
        """Return `to_dict` as JSON text (UTF-8 characters kept as they are).

        Args:
            indent: Indentation, or None for one line.

        Returns:
            The JSON text.
        """
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)


@attrs.frozen(kw_only=True)
class CallRecord:
    """One call as listed by ``POST /api/report/call-logs``.

    Every field but ``call_id`` is optional because the backend's schema is unpublished;
    an empty value (``""``, which the backend sends while a value is unknown) is ``None``.
    ``raw`` is the record exactly as received (excluded from hashing, not from equality).
    Times are aware and expressed in the session's ``tz``.

    Attributes:
        call_id: The call's id, e.g. ``"20210222084953-NSOJCGOO-49278"``.
        started_at: When the call started.
        answered_at: When it was answered; ``None`` for a call nobody answered.
        ended_at: When it ended.
        duration: The call's length in seconds.
        hold_duration: Seconds spent on hold or ringing.
        direction: Inbound, outbound or internal.
        caller: The calling number (the customer's phone on an inbound call).
        callee: The number called.
        extension: The extension of the agent on the call.
        agent: The agent (a name or a login, as the server sends it).
        status: The outcome as the server words it (``"answered"``, ``"missed"``...).
        hotline: The hotline dialled, if any.
        hangup_by: Who hung up (``"customer"``, ``"agent"``, ``"system"``).
        customer_name: The customer's name.
        recording_url: Where the recording is, as given by the server.
        raw: The record as received.
    """

    call_id: str
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration: float | None = None
    hold_duration: float | None = None
    direction: Direction = Direction.UNKNOWN
    caller: str | None = None
    callee: str | None = None
    extension: str | None = None
    agent: str | None = None
    status: str | None = None
    hotline: str | None = None
    hangup_by: str | None = None
    customer_name: str | None = None
    recording_url: str | None = None
    raw: Mapping[str, Any] = attrs.field(default=_EMPTY, hash=False, repr=False)


@attrs.frozen(kw_only=True)
class CallDetail(CallRecord):
    """One call as returned by ``GET /api/report/call-logs/{call_id}``: a record plus transcript.

    It has every attribute of `CallRecord`, and one more.

    Attributes:
        transcript: The call's transcript; ``None`` when the server sends none, or an empty
            or unreadable one.
    """

    transcript: Transcript | None = None


@attrs.frozen(kw_only=True)
class CallPage:
    """One page of the call list: its records in server order and, if the server said, the total.

    Attributes:
        items: The page's records, in server order.
        page: The page number, 1-based.
        page_size: The ``limit`` that was asked for: a page with fewer items than
            ``page_size`` is the last one.
        total: The number of records in the whole range, if the server said.
    """

    items: tuple[CallRecord, ...]
    page: int
    page_size: int
    total: int | None = None


@attrs.define
class Stats:
    """Counters for a session or one walk, readable while and after it runs.

    A walk's ``stats`` counts that walk; a session's ``stats`` counts everything the
    session did (the sum over its walks, plus single requests such as `get_call`).

    Attributes:
        requests: HTTP requests sent, retries included.
        retries: Attempts beyond the first, and repeats after a token refresh.
        pages: List pages received and consumed.
        records: Records handed to the caller: each call (or detail) a walk yielded,
            the records of each page `iter_pages` yielded, and for a session also those
            of the pages `get_calls_page` returned. A consumer that stops after 237 calls
            sees 237, however many rows the pages in flight held.
        records_received: Rows in the list pages received, as the server sent them
            (duplicates included; rows of pages fetched again are counted again).
        duplicates_dropped: Records skipped because the same page or a neighbouring one
            already yielded them (rows re-read on purpose after a page-size switch are not
            counted).
        limit_adaptations: Times a walk switched to a smaller ``limit`` because the server
            returned fewer rows per page than asked while more rows existed (it caps
            ``limit``); the pages after the switch report the smaller ``page_size``.
    """

    requests: int = 0
    retries: int = 0
    pages: int = 0
    records: int = 0
    records_received: int = 0
    duplicates_dropped: int = 0
    limit_adaptations: int = 0

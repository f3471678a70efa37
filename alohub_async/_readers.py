"""Key folding, the field alias tables and the pure value readers of call records.

Nothing here knows about cattrs or the generated builders: each reader takes one value the
server sent and returns the field's value, or ``None`` when the value is unusable (the
record's ``raw`` still holds it).

Keys are matched after folding camelCase to snake_case (``callEndtime`` -> ``call_endtime``,
``callID`` -> ``call_id``), then looked up in an alias table in priority order; for each field
the first alias whose value is usable wins. The table, `_RECORD_FIELDS`, ranks first the
vocabulary Alohub is *evidenced* to use for call records on its platform (``call_id``,
``starttime``/``answertime``/``endtime``, ``total_duration``/``holding_duration`` as strings of
seconds, ``caller_number``, ``called``, ``destination_number``, ``userName``, ``call_status``,
``hotline``, ``hangup_by``...), then every variant read before that evidence was found, which
stay tolerated. ``source`` is deliberately absent: there it is the platform tag (``"ipcc"``),
not a phone number. Diagnostics read the table to say which key fed each field.

Value rules, chosen so a record is always usable and ``raw`` keeps whatever was dropped:

* strings: kept verbatim; ``""`` and whitespace-only strings are absent (``None``); ints
  (phone numbers, extensions) become ``str(n)``, integral floats ``str(int(x))``; booleans,
  lists and objects are unusable (``None``). ``call_id`` is stripped and must be non-empty.
* timestamps: `alohub_async._timeutil.parse_timestamp`: a naive time is the server's wall
  clock (``server_tz``), and every time is expressed in the session's ``tz``.
* durations: non-negative seconds as numbers, digit strings, ``"HH:MM:SS"`` or ``"MM:SS"``.
* direction: ``0``/``in``/``inbound``/``incoming``, ``1``/``out``/``outbound``/``outgoing``,
  ``internal``/``local`` (any case); anything else is ``Direction.UNKNOWN``.
* transcript: a string (also a JSON-encoded list or object inside a string), a list of
  segments, or ``{"text", "segments"}``; an empty or unreadable one is ``None``.

The work per value is bounded whatever the server sends: keys longer than `MAX_KEY_CHARS`
are never folded (no alias is that long, and folding is quadratic in the worst case), only
the first `MAX_RECORD_KEYS` keys of an object are matched, and over-long timestamp and
duration strings are refused before the slower parsers see them.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any, Final, TypeVar

from alohub_async._timeutil import parse_timestamp
from alohub_async.models import Direction, Transcript, TranscriptSegment

__all__ = ["MAX_KEY_CHARS", "MAX_RECORD_KEYS", "fold_key"]

_T = TypeVar("_T")

MAX_RECORD_KEYS: Final = 256
"""Only this many keys of a record (or transcript object) are matched against the aliases."""

MAX_KEY_CHARS: Final = 64
"""Keys longer than this are never folded or matched: the longest alias is far shorter."""

# Duration strings longer than this are garbage ("100:00:00.000000" is 16).
_MAX_SECONDS_CHARS: Final = 32

# (field, kind, aliases in priority order), aliases as folded keys; kinds pick the value
# reader. In each tuple the evidenced key of Alohub's own call-record vocabulary comes first
# (``starttime``, ``caller_number``, ``user_name`` from ``userName``...), then the tolerated
# variants, in the order they were ranked before. Diagnostics read this table: keep its shape.
_RECORD_FIELDS: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (
    ("call_id", "id", ("call_id", "id")),
    (
        "started_at",
        "ts",
        ("starttime", "call_start_time", "call_starttime", "start_time", "started_at"),
    ),
    ("answered_at", "ts", ("answertime", "answer_time", "answered_at")),
    ("ended_at", "ts", ("endtime", "call_end_time", "call_endtime", "end_time", "ended_at")),
    ("duration", "seconds", ("total_duration", "duration", "call_duration", "billsec")),
    ("hold_duration", "seconds", ("holding_duration", "hold_duration")),
    ("direction", "direction", ("direction", "call_type")),
    ("caller", "str", ("caller_number", "caller", "from")),
    ("callee", "str", ("called", "callee", "to", "destination", "receiver_number")),
    ("extension", "str", ("destination_number", "extension", "ip_phone")),
    ("agent", "str", ("user_name", "agent", "agent_name")),
    ("status", "str", ("call_status", "status", "disposition")),
    ("hotline", "str", ("hotline",)),
    ("hangup_by", "str", ("hangup_by",)),
    ("customer_name", "str", ("customer_name",)),
    ("recording_url", "str", ("recording_url", "recording", "record_url", "audio_url")),
)
_DETAIL_FIELDS: Final = (
    *_RECORD_FIELDS,
    ("transcript", "transcript", ("transcript", "transcription", "transcripts")),
)

_SEGMENT_ALIASES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("speaker", ("speaker", "role", "channel", "speaker_label")),
    ("text", ("text", "content", "transcript", "sentence")),
    ("start", ("start", "start_time", "begin", "from")),
    ("end", ("end", "end_time", "to")),
)
_SPEAKER, _SEGMENT_TEXT, _START, _END = (aliases for _, aliases in _SEGMENT_ALIASES)
_TRANSCRIPT_TEXT: Final = ("text", "full_text", "content", "transcript")
_TRANSCRIPT_SEGMENTS: Final = ("segments", "utterances", "sentences", "items")

_DIRECTIONS: Final[dict[str, Direction]] = {
    "0": Direction.INBOUND,
    "in": Direction.INBOUND,
    "inbound": Direction.INBOUND,
    "incoming": Direction.INBOUND,
    "1": Direction.OUTBOUND,
    "out": Direction.OUTBOUND,
    "outbound": Direction.OUTBOUND,
    "outgoing": Direction.OUTBOUND,
    "internal": Direction.INTERNAL,
    "local": Direction.INTERNAL,
}

_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_HUMP = re.compile(r"([a-z0-9])([A-Z])")
_SEPARATORS = re.compile(r"[\s\-.]+|_{2,}")
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_CLOCK = re.compile(r"(?:(\d+):)?(\d+):(\d{1,2}(?:\.\d+)?)")


def fold_key(key: str) -> str:
    """Fold to snake_case (``callStartTime`` -> ``call_start_time``, ``callID`` -> ``call_id``).

    A key longer than `MAX_KEY_CHARS` is returned as it is: no alias is that long, and
    folding it could cost time quadratic in its length.
    """
    if len(key) > MAX_KEY_CHARS:
        return key
    return _fold_short_key(key)


@functools.lru_cache(maxsize=4096)
def _fold_short_key(key: str) -> str:
    """Fold a short key; cached, since key names repeat across records and pages."""
    folded = _HUMP.sub(r"\1_\2", _ACRONYM.sub(r"\1_\2", key.strip()))
    return _SEPARATORS.sub("_", folded).strip("_").lower()


# --- value readers: each returns the field value, or None when the value is unusable ---------


def _read_id(value: object) -> str | None:
    """Read a call id: a non-blank string (stripped) or an integer."""
    if isinstance(value, str):
        return value.strip() or None
    return _read_str(value)


def _read_str(value: object) -> str | None:
    """Read an optional string field; numbers become their decimal text, blanks are absent."""
    if isinstance(value, str):  # str subclasses too (an enum member gives its value)
        return str.__str__(value) if value.strip() else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def _read_seconds(value: object) -> float | None:
    """Read non-negative seconds from a number, a digit string, ``HH:MM:SS`` or ``MM:SS``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int beyond float range
            return None
        return number if math.isfinite(number) and number >= 0 else None
    if not isinstance(value, str) or len(value) > _MAX_SECONDS_CHARS:
        return None
    text = value.strip()
    if _DIGITS.fullmatch(text):
        return float(text)
    clock = _CLOCK.fullmatch(text)
    if clock is None:
        return None
    hours, minutes, seconds = clock.groups()
    secs = float(seconds)
    mins = int(minutes)
    if secs >= 60 or (hours is not None and mins >= 60):
        return None
    return int(hours or 0) * 3600 + mins * 60 + secs


def _read_timestamp(value: object, tz: tzinfo, server_tz: tzinfo | None = None) -> datetime | None:
    """Read a timestamp with ``parse_timestamp``; an epoch number beyond float range is ``None``."""
    try:
        return parse_timestamp(value, tz, server_tz)
    except OverflowError:  # parse_timestamp(10**400) divides an int too large for a float
        return None


def _read_direction(value: object) -> Direction | None:
    """Read a direction code or word; ``None`` when it is not one we know."""
    if isinstance(value, str):
        return _DIRECTIONS.get(value.strip().lower())
    if value.__class__ is int:
        return _DIRECTIONS.get(str(value))
    return None


def _first(
    source: Mapping[str, Any], aliases: Sequence[str], read: Callable[[Any], _T]
) -> _T | None:
    """Return the first usable value among ``aliases`` of an already-folded mapping."""
    for alias in aliases:
        if alias in source:
            result = read(source[alias])
            if result is not None:
                return result
    return None


def _fold_mapping(obj: Mapping[Any, Any]) -> dict[str, Any]:
    """Fold a (small, rare) mapping's keys; the first key folding to a name wins.

    Bounded like a record: only the first `MAX_RECORD_KEYS` keys, none longer than
    `MAX_KEY_CHARS`.
    """
    folded: dict[str, Any] = {}
    for key, value in itertools.islice(obj.items(), MAX_RECORD_KEYS):
        if isinstance(key, str) and len(key) <= MAX_KEY_CHARS:
            name = fold_key(key)
            if folded.get(name) is None:
                folded[name] = value
    return folded


def _read_segment(item: object) -> TranscriptSegment | None:
    """Read one transcript segment: a plain string, or an object with tolerant keys."""
    if isinstance(item, str):
        return TranscriptSegment(text=item) if item.strip() else None
    if not isinstance(item, Mapping):
        return None
    fields = _fold_mapping(item)
    text = _first(fields, _SEGMENT_TEXT, _read_str)
    if text is None:
        return None
    return TranscriptSegment(
        text=text,
        speaker=_first(fields, _SPEAKER, _read_str),
        start=_first(fields, _START, _read_seconds),
        end=_first(fields, _END, _read_seconds),
    )


def _read_segments(value: object, depth: int) -> tuple[TranscriptSegment, ...]:
    """Read a list of segments (possibly JSON-encoded in a string); unreadable items are skipped."""
    if isinstance(value, str) and depth < 2:
        decoded = _decode_json(value)
        if isinstance(decoded, list):
            value = decoded
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(seg for seg in map(_read_segment, value) if seg is not None)


def _decode_json(text: str) -> object:
    """Decode a double-encoded JSON list or object inside a string, or return ``None``."""
    stripped = text.strip()
    if not stripped.startswith(("[", "{")):
        return None
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):  # not JSON, or nested absurdly deep
        return None


def _read_transcript(value: object, depth: int = 0) -> Transcript | None:
    """Read a transcript from a string, a segment list or ``{"text", "segments"}``, else ``None``.

    ``depth`` limits how far double-encoded JSON and nested objects are followed.
    """
    if isinstance(value, str):
        if not value.strip():
            return None
        if depth < 2:
            decoded = _decode_json(value)
            if decoded is not None:
                inner = _read_transcript(decoded, depth + 1)
                if inner is not None:
                    return inner
        return Transcript(text=value)
    if isinstance(value, (list, tuple)):
        segments = _read_segments(value, depth)
        if not segments:
            return None
        return Transcript(text="\n".join(seg.text for seg in segments), segments=segments)
    if isinstance(value, Mapping) and depth < 2:
        fields = _fold_mapping(value)
        segments = ()
        for alias in _TRANSCRIPT_SEGMENTS:
            segments = _read_segments(fields.get(alias), depth + 1)
            if segments:
                break
        text: str | None = None
        for alias in _TRANSCRIPT_TEXT:
            raw_text = fields.get(alias)
            if isinstance(raw_text, str) and raw_text.strip():
                text = raw_text
                break
            if isinstance(raw_text, (list, tuple, Mapping)):  # nested transcript
                nested = _read_transcript(raw_text, depth + 1)
                if nested is not None:
                    text, segments = nested.text, segments or nested.segments
                    break
        if text is None:
            if not segments:
                return None
            text = "\n".join(seg.text for seg in segments)
        return Transcript(text=text, segments=segments)
    return None

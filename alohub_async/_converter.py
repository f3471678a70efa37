"""The one cattrs converter: backend records (unpublished, varying keys) to the models.

Following cattrs' ``preconf`` pattern, `make_converter` builds a private
``cattrs.Converter`` and registers every hook on it; cattrs' global converter is never used.

Keys are matched after folding camelCase to snake_case (``callEndtime`` -> ``call_endtime``,
``callID`` -> ``call_id``), then looked up in an alias table in priority order; for each field
the first alias whose value is usable wins. The table, `_RECORD_FIELDS`, ranks first the
vocabulary Alohub is *evidenced* to use for call records on its platform (``call_id``,
``starttime``/``answertime``/``endtime``, ``total_duration``/``holding_duration`` as strings of
seconds, ``caller_number``, ``called``, ``destination_number``, ``userName``, ``call_status``,
``hotline``, ``hangup_by``...), then every variant read before that evidence was found, which
stay tolerated. ``source`` is deliberately absent: there it is the platform tag (``"ipcc"``),
not a phone number. Diagnostics read the table to say which key fed each field.

Folding every key of every record would be slow, so the mapping is planned once per key set
(the tuple of a record's keys): a plan picks the source keys of each field and a small
generated function (compiled once per plan *shape*, like cattrs' own
``make_dict_structure_fn``) reads them and calls the attrs constructor. Both caches are
bounded, so hostile input with ever-new key sets cannot grow memory.

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

``raw`` is the server's record unless the session asks for lighter records
(``keep_raw``): ``"unmapped"`` keeps only what no field holds (keys no field reads, values
a field could not read, every key of a field fed by several), ``"none"`` keeps nothing.

Everything unusable at the record level (not an object, no id) is a
`ResponseFormatError`; no cattrs exception escapes.

The work per record is bounded whatever the server sends, so one hostile page cannot stall
the event loop: only the first `MAX_RECORD_KEYS` keys are matched, keys longer than
`MAX_KEY_CHARS` are never folded (no alias is that long, and folding is quadratic in the
worst case), at most `MAX_FIELD_SOURCES` keys are tried per field, and over-long timestamp
and duration strings are refused before the slower parsers see them. Keys left out still
sit in ``raw``.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any, Final, Literal, TypeVar, cast, get_args

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from alohub_async._timeutil import parse_timestamp, timestamp_reader
from alohub_async.errors import ResponseFormatError
from alohub_async.models import (
    CallDetail,
    CallRecord,
    Direction,
    Transcript,
    TranscriptSegment,
)

__all__ = [
    "fold_key",
    "get_converter",
    "make_converter",
    "structure_detail",
    "structure_records",
    "unstructure",
]

_R = TypeVar("_R", bound=CallRecord)
_T = TypeVar("_T")

#: What a record's ``raw`` keeps: the whole server record (``"all"``, the default), only
#: what its fields do not hold (``"unmapped"``), or nothing (``"none"``).
KeepRaw = Literal["all", "unmapped", "none"]
KEEP_RAW: Final[tuple[str, ...]] = get_args(KeepRaw)

#: Most key sets remembered per model; the oldest plan is dropped beyond this.
MAX_PLANS: Final = 256
#: Most generated builder shapes remembered per model.
MAX_SHAPES: Final = 64
#: Records with more keys than this are planned every time instead of cached.
MAX_CACHED_KEYS: Final = 64
#: Only this many keys of a record (or transcript object) are matched against the aliases.
MAX_RECORD_KEYS: Final = 256
#: Keys longer than this are never folded or matched: the longest alias is far shorter.
MAX_KEY_CHARS: Final = 64
#: At most this many source keys are tried for one field, in alias priority order.
MAX_FIELD_SOURCES: Final = 8
# Duration strings longer than this are garbage ("100:00:00.000000" is 16).
_MAX_SECONDS_CHARS: Final = 32
# Sources of one field up to this many are read inline; more are read in a loop.
_INLINE_SOURCES: Final = 3
# How many keys an error message lists, and how much of each.
_KEYS_SHOWN: Final = 20
_KEY_CHARS: Final = 40

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


# --- record planning -------------------------------------------------------------------------


def _describe_keys(obj: Mapping[Any, Any]) -> str:
    """List a record's keys (not values: those may be personal data) for an error message."""
    keys = [str(key)[:_KEY_CHARS] for key in itertools.islice(obj, _KEYS_SHOWN + 1)]
    shown = ", ".join(keys[:_KEYS_SHOWN])
    if len(keys) > _KEYS_SHOWN:
        shown += ", ..."
    return shown or "none"


def _no_id(obj: Mapping[Any, Any]) -> ResponseFormatError:
    """Build the error for a record without a usable id field."""
    return ResponseFormatError(f"call record has no id field (keys seen: {_describe_keys(obj)})")


# Expressions reading ``v`` for each field kind in generated code: an inline fast path for
# the common JSON type, falling back to the full reader (which returns None when unusable).
_READ_EXPR: Final[dict[str, str]] = {
    "id": "(v.strip() or None) if v.__class__ is str else _id(v)",
    "str": "v if v.__class__ is str and v.strip() else _str(v)",
    "ts": "_ts(v) if v.__class__ is str else _ts_any(v, _tz, _server_tz)",
    "seconds": "float(v) if v.__class__ is int and 0 <= v < _MAX_INT else _seconds(v)",
    "direction": "(_DIRS_get(v) or _direction(v)) if v.__class__ is str else _direction(v)",
    "transcript": "_transcript(v)",
}


def _builder_source(
    fields: Sequence[tuple[str, str, tuple[str, ...]]],
    shape: tuple[int, ...],
    slots: Sequence[str],
    keep_raw: KeepRaw = "all",
) -> str:
    """Generate the source of a builder factory for one shape (sources per field).

    The source depends only on the field table and the shape, never on the record's keys:
    those are passed to the factory as arguments, so nothing from the server is compiled.
    A field with more than ``_INLINE_SOURCES`` sources gets one tuple argument and a loop.
    With ``keep_raw="unmapped"`` the factory takes one more argument, ``kept``: the keys
    kept in ``raw`` whatever their value (see `_RecordHook.plan`).
    """
    params: list[str] = []
    body: list[str] = []
    found: set[str] = set()
    # Single-source fields that came out empty: their key goes back into raw (unmapped).
    recheck: list[str] = []
    for index, ((name, kind, _), count) in enumerate(zip(fields, shape, strict=True)):
        if count == 0:
            continue
        read = _READ_EXPR[kind]
        if count > _INLINE_SOURCES:
            params.append(f"k{index}")
            body += [
                f"        {name} = None",
                f"        for _k in k{index}:",
                "            v = row[_k]",
                f"            {name} = {read}",
                f"            if {name} is not None:",
                "                break",
            ]
        else:
            for n in range(count):
                params.append(f"k{index}_{n}")
                step = [f"v = row[k{index}_{n}]", f"{name} = {read}"]
                if n == 0:
                    body += [f"        {line}" for line in step]
                else:
                    body += [
                        f"        if {name} is None:",
                        *(f"            {line}" for line in step),
                    ]
        if kind == "id":
            body += [f"        if {name} is None:", "            raise _no_id(row)"]
        elif kind == "direction":
            body += [f"        if {name} is None:", f"            {name} = _UNKNOWN"]
        found.add(name)
        if count == 1 and kind != "id":
            empty = f"{name} is _UNKNOWN" if kind == "direction" else f"{name} is None"
            recheck += [
                f"        if {empty}:",
                f"            v = row[k{index}_0]",
                '            if v is not None and v != "":',
                f"                r[k{index}_0] = v",
            ]
    raw = "row"
    if keep_raw == "none":
        raw = "_default_raw"
    elif keep_raw == "unmapped":
        params.append("kept")
        body += ["        r = {_k: row[_k] for _k in kept} if kept else {}", *recheck]
        raw = "r or _default_raw"
    # Fill the slots directly: attrs' keyword __init__ on a frozen class costs twice as
    # much, and the models have no validators, converters or post-init to skip
    # (tests/test_converter.py checks the result equals the constructor's).
    body.append("        o = _new(_cls)")
    for name in slots:
        value = raw if name == "raw" else name if name in found else f"_default_{name}"
        body.append(f"        _set_{name}(o, {value})")
    return "\n".join(
        [
            f"def factory({', '.join(params)}):",
            "    def build(row):",
            *body,
            "        return o",
            "    return build",
        ]
    )


class _RecordHook:
    """The structure hook of one record class: plans per key set, generated builders per shape."""

    def __init__(
        self, cls: type[CallRecord], tz: tzinfo, server_tz: tzinfo, keep_raw: KeepRaw = "all"
    ) -> None:
        self.cls = cls
        self.keep_raw = keep_raw
        self.fields = _DETAIL_FIELDS if issubclass(cls, CallDetail) else _RECORD_FIELDS
        self.plans: dict[tuple[Any, ...], Callable[[Mapping[str, Any]], CallRecord]] = {}
        self.factories: dict[tuple[int, ...], Callable[..., Callable[[Any], CallRecord]]] = {}
        self.namespace: dict[str, Any] = {
            "_cls": cls,
            "_tz": tz,
            "_server_tz": server_tz,
            "_ts": timestamp_reader(tz, server_tz),
            "_ts_any": _read_timestamp,
            "_id": _read_id,
            "_str": _read_str,
            "_seconds": _read_seconds,
            "_direction": _read_direction,
            "_transcript": _read_transcript,
            "_UNKNOWN": Direction.UNKNOWN,
            "_DIRS_get": _DIRECTIONS.get,
            "_MAX_INT": 2**53,
            "_no_id": _no_id,
            "_new": object.__new__,
        }
        self.slots = [field.name for field in attrs.fields(cls)]
        for field in attrs.fields(cls):
            if isinstance(field.default, attrs.Factory) or field.validator or field.converter:  # type: ignore[arg-type]
                raise TypeError(f"{cls.__name__}.{field.name}: the builder sets slots directly")
            self.namespace[f"_set_{field.name}"] = getattr(cls, field.name).__set__
            self.namespace[f"_default_{field.name}"] = field.default

    def __call__(self, obj: object, _: object = None) -> CallRecord:
        """Structure one record (cattrs hook signature); unusable input is a ResponseFormatError."""
        if obj.__class__ is not dict and not isinstance(obj, Mapping):
            raise ResponseFormatError(
                f"call record must be a JSON object, got {type(obj).__name__}"
            )
        keys = tuple(obj)
        build = self.plans.get(keys)
        if build is None:
            build = self.plan(keys, obj)
        try:
            return build(obj)
        except ResponseFormatError:
            raise
        except Exception as exc:  # a bug or an exotic value: never let it escape raw
            raise ResponseFormatError(f"call record could not be read: {exc!r}") from exc

    def many(self, rows: Sequence[object]) -> list[CallRecord]:
        """Structure a list of records: the hot path, one plan lookup per row."""
        plans_get = self.plans.get
        out: list[CallRecord] = []
        append = out.append
        try:
            for row in cast("Sequence[dict[str, Any]]", rows):
                if row.__class__ is not dict:
                    append(self(row))
                    continue
                build = plans_get(tuple(row))
                if build is None:
                    build = self.plan(tuple(row), row)
                append(build(row))
        except ResponseFormatError:
            raise
        except Exception as exc:
            raise ResponseFormatError(f"call record could not be read: {exc!r}") from exc
        return out

    def plan(
        self, keys: tuple[Any, ...], obj: Mapping[Any, Any]
    ) -> Callable[[Mapping[str, Any]], CallRecord]:
        """Plan a key set: pick each field's source keys and bind them to a generated builder.

        The work is bounded (see the module docstring): a record with thousands of keys all
        folding to one alias, each holding garbage, costs at most `MAX_FIELD_SOURCES` reads
        for that field, instead of one slow parse per key.
        """
        by_alias: dict[str, list[str]] = {}
        for key in itertools.islice(keys, MAX_RECORD_KEYS):
            if isinstance(key, str) and len(key) <= MAX_KEY_CHARS:
                by_alias.setdefault(_fold_short_key(key), []).append(key)
        shape: list[int] = []
        args: list[object] = []
        # For keep_raw="unmapped": a key no field reads stays in raw, and so does every
        # source of a field that has several (which one fed the field varies per record).
        # A single source is dropped unless its field came out empty (the builder checks).
        dropped: set[object] = set()
        for _, _, aliases in self.fields:
            sources = [key for alias in aliases for key in by_alias.get(alias, ())]
            del sources[MAX_FIELD_SOURCES:]
            shape.append(len(sources))
            if len(sources) > _INLINE_SOURCES:
                args.append(tuple(sources))
            else:
                args.extend(sources)
            if len(sources) == 1:
                dropped.add(sources[0])
        if self.keep_raw == "unmapped":
            args.append(tuple(key for key in keys if key not in dropped))
        build: Callable[[Mapping[str, Any]], CallRecord]
        if shape[0] == 0:
            error = _no_id(obj)

            def build(row: Mapping[str, Any]) -> CallRecord:
                raise ResponseFormatError(error.args[0])

        else:
            build = self.factory(tuple(min(n, _INLINE_SOURCES + 1) for n in shape))(*args)
        if len(keys) <= MAX_CACHED_KEYS:
            if len(self.plans) >= MAX_PLANS:
                del self.plans[next(iter(self.plans))]
            self.plans[keys] = build
        return build

    def factory(self, shape: tuple[int, ...]) -> Callable[..., Callable[[Any], CallRecord]]:
        """Return the compiled builder factory for a shape, compiling it on first use."""
        factory = self.factories.get(shape)
        if factory is None:
            source = _builder_source(self.fields, shape, self.slots, self.keep_raw)
            namespace = dict(self.namespace)
            code = compile(source, f"<alohub_async {self.cls.__name__} builder>", "exec")
            exec(code, namespace)  # noqa: S102 - source built from our field table only
            factory = namespace["factory"]
            if len(self.factories) >= MAX_SHAPES:
                del self.factories[next(iter(self.factories))]
            self.factories[shape] = factory
        return factory


# --- the converter ---------------------------------------------------------------------------


def _structure_str(obj: object, _: object) -> str:
    """Strict ``str`` hook: ``None`` and blanks are errors, never the text ``"None"``."""
    text = _read_str(obj)
    if text is None:
        raise ResponseFormatError(f"expected a non-empty string, got {type(obj).__name__}")
    return text


def _structure_optional_str(obj: object, _: object) -> str | None:
    """``str | None`` hook: blanks and unusable values are absent."""
    return _read_str(obj)


def _structure_direction(obj: object, _: object) -> Direction:
    """``Direction`` hook: unknown codes are ``UNKNOWN``, never an error."""
    return _read_direction(obj) or Direction.UNKNOWN


def _structure_transcript(obj: object, _: object) -> Transcript:
    """``Transcript`` hook: an empty or unreadable transcript is an error here."""
    transcript = _read_transcript(obj)
    if transcript is None:
        raise ResponseFormatError(f"not a readable transcript: {type(obj).__name__}")
    return transcript


def _structure_optional_transcript(obj: object, _: object) -> Transcript | None:
    """``Transcript | None`` hook: empty or unreadable is ``None``."""
    return _read_transcript(obj)


def _structure_segment(obj: object, _: object) -> TranscriptSegment:
    """``TranscriptSegment`` hook, with the tolerant segment keys."""
    segment = _read_segment(obj)
    if segment is None:
        raise ResponseFormatError(f"not a readable transcript segment: {type(obj).__name__}")
    return segment


def _unstructure_datetime(moment: datetime) -> str:
    """Datetimes leave as ISO 8601 with their offset."""
    return moment.isoformat()


def _unstructure_direction(direction: Direction) -> str:
    """Directions leave as their value (``"inbound"``)."""
    return direction.value


def _check_keep_raw(keep_raw: object) -> KeepRaw:
    """Return ``keep_raw`` if it is one of `KEEP_RAW`, else a ValueError naming them."""
    if keep_raw not in KEEP_RAW:
        raise ValueError(f"keep_raw must be one of {', '.join(KEEP_RAW)}, got {keep_raw!r}")
    return cast("KeepRaw", keep_raw)


def make_converter(
    tz: tzinfo, server_tz: tzinfo | None = None, keep_raw: str = "all"
) -> cattrs.Converter:
    """Build a fresh converter with every hook registered.

    Naive server times are read in ``server_tz`` (``tz`` when None) and every time is
    expressed in ``tz``. ``keep_raw`` says what records' ``raw`` keeps (see `KeepRaw`);
    anything else is a ValueError. Unstructuring a record gives a JSON-ready dict in model
    field order, *without* ``raw``: it is the server's record, already JSON, and output
    wants the mapped fields.
    """
    mode = _check_keep_raw(keep_raw)
    if server_tz is None or server_tz == tz:
        server_tz = tz  # one object: the naive fast path checks identity
    converter = cattrs.Converter()

    def structure_datetime(obj: object, _: object) -> datetime:
        moment = _read_timestamp(obj, tz, server_tz)
        if moment is None:
            raise ResponseFormatError(f"not a readable timestamp: {type(obj).__name__}")
        return moment

    def structure_optional_datetime(obj: object, _: object) -> datetime | None:
        return _read_timestamp(obj, tz, server_tz)

    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(str | None, _structure_optional_str)
    converter.register_structure_hook(datetime, structure_datetime)
    converter.register_structure_hook(datetime | None, structure_optional_datetime)
    converter.register_structure_hook(Direction, _structure_direction)
    converter.register_structure_hook(Transcript, _structure_transcript)
    converter.register_structure_hook(Transcript | None, _structure_optional_transcript)
    converter.register_structure_hook(TranscriptSegment, _structure_segment)
    for cls in (CallRecord, CallDetail):
        converter.register_structure_hook(cls, _RecordHook(cls, tz, server_tz, mode))

    converter.register_unstructure_hook(datetime, _unstructure_datetime)
    converter.register_unstructure_hook(Direction, _unstructure_direction)
    for cls in (CallRecord, CallDetail):
        converter.register_unstructure_hook(
            cls, make_dict_unstructure_fn(cls, converter, raw=override(omit=True))
        )
    return converter


@functools.lru_cache(maxsize=32)
def _cached_converter(tz: tzinfo, server_tz: tzinfo | None, keep_raw: KeepRaw) -> cattrs.Converter:
    return make_converter(tz, server_tz, keep_raw)


def get_converter(
    tz: tzinfo, server_tz: tzinfo | None = None, keep_raw: str = "all"
) -> cattrs.Converter:
    """Return the shared converter for ``(tz, server_tz, keep_raw)``, built once (for sessions).

    Naive server times are read in ``server_tz`` (``tz`` when None); times are expressed
    in ``tz``; ``keep_raw`` is checked (a ValueError) before anything is built.
    """
    mode = _check_keep_raw(keep_raw)  # before the cache, which an unhashable value would break
    try:
        return _cached_converter(tz, server_tz, mode)
    except TypeError:  # an unhashable custom tzinfo: build one just for it
        return make_converter(tz, server_tz, mode)


def structure_records(
    converter: cattrs.Converter, rows: Sequence[object]
) -> tuple[CallRecord, ...]:
    """Structure a page's decoded list items into records, in order (the list hot path)."""
    if isinstance(rows, (str, bytes, bytearray, Mapping)) or not isinstance(rows, Sequence):
        raise ResponseFormatError(f"call records must be a JSON list, got {type(rows).__name__}")
    hook = converter.get_structure_hook(CallRecord)
    if isinstance(hook, _RecordHook):
        return tuple(hook.many(rows))
    return tuple([_structure_guarded(hook, row, CallRecord) for row in rows])


def structure_detail(converter: cattrs.Converter, obj: object) -> CallDetail:
    """Structure a call-detail object (the record plus its transcript)."""
    return _structure_guarded(converter.get_structure_hook(CallDetail), obj, CallDetail)


def _structure_guarded(hook: Callable[[Any, Any], Any], obj: object, cls: type[_R]) -> _R:
    """Call a structure hook, turning any foreign exception into a ResponseFormatError."""
    try:
        result = hook(obj, cls)
    except ResponseFormatError:
        raise
    except Exception as exc:
        raise ResponseFormatError(f"{cls.__name__} could not be read: {exc!r}") from exc
    if not isinstance(result, cls):
        raise ResponseFormatError(f"{cls.__name__} hook returned {type(result).__name__}")
    return result


def unstructure(converter: cattrs.Converter, record: CallRecord) -> dict[str, Any]:
    """Return a JSON-ready dict of a record for output (jsonl/csv), in model field order.

    Datetimes are ISO 8601 with offset, ``direction`` its value, a transcript
    ``{"text", "segments": [...]}``; ``raw`` is left out (it is the server's own record).
    """
    result: dict[str, Any] = converter.unstructure(record)
    return result

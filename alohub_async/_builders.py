"""Generated record builders: one plan per key set, one compiled builder per plan shape.

Folding every key of every record would be slow, so the mapping is planned once per key set
(the tuple of a record's keys): a plan picks the source keys of each field and a small
generated function (compiled once per plan *shape*, like cattrs' own
``make_dict_structure_fn``) reads them and fills the attrs instance. Both caches are
bounded, so hostile input with ever-new key sets cannot grow memory. The generated source
is registered in `linecache`, as attrs and cattrs do with theirs, so a traceback through a
builder shows its lines.

``raw`` is the server's record unless the session asks for lighter records
(``keep_raw``): ``"unmapped"`` keeps only what no field holds (keys no field reads, values
a field could not read, every key of a field fed by several), ``"none"`` keeps nothing.

Everything unusable at the record level (not an object, no id) is a
`ResponseFormatError`. The work per record is bounded whatever the server sends, so one
hostile page cannot stall the event loop: only the first `MAX_RECORD_KEYS` keys are
matched, keys longer than `MAX_KEY_CHARS` are never folded, and at most
`MAX_FIELD_SOURCES` keys are tried per field. Keys left out still sit in ``raw``.
"""

from __future__ import annotations

import itertools
import linecache
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import tzinfo
from typing import Any, Final, Literal, cast, get_args

import attrs

from alohub_async._readers import (
    _DETAIL_FIELDS,
    _DIRECTIONS,
    _RECORD_FIELDS,
    MAX_KEY_CHARS,
    MAX_RECORD_KEYS,
    _fold_short_key,
    _read_direction,
    _read_id,
    _read_seconds,
    _read_str,
    _read_timestamp,
    _read_transcript,
)
from alohub_async._timeutil import timestamp_reader
from alohub_async.errors import ResponseFormatError
from alohub_async.models import CallDetail, CallRecord, Direction

__all__ = [
    "KEEP_RAW",
    "MAX_CACHED_KEYS",
    "MAX_FIELD_SOURCES",
    "MAX_PLANS",
    "MAX_SHAPES",
    "KeepRaw",
]

KeepRaw = Literal["all", "unmapped", "none"]
"""What a record's ``raw`` keeps: the whole server record (``"all"``, the default), only what its
fields do not hold (``"unmapped"``), or nothing (``"none"``)."""

KEEP_RAW: Final[tuple[str, ...]] = get_args(KeepRaw)

MAX_PLANS: Final = 256
"""Most key sets remembered per model; the oldest plan is dropped beyond this."""

MAX_SHAPES: Final = 64
"""Most generated builder shapes remembered per model."""

MAX_CACHED_KEYS: Final = 64
"""Records with more keys than this are planned every time instead of cached."""

MAX_FIELD_SOURCES: Final = 8
"""At most this many source keys are tried for one field, in alias priority order."""

# Sources of one field up to this many are read inline; more are read in a loop.
_INLINE_SOURCES: Final = 3
# How many keys an error message lists, and how much of each.
_KEYS_SHOWN: Final = 20
_KEY_CHARS: Final = 40


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


# Numbers the generated sources: each compiled builder gets its own linecache name.
_BUILDER_NUMBERS: Final = itertools.count(1)


def _forget_sources(filenames: dict[tuple[int, ...], str]) -> None:
    """Drop a collected hook's generated sources from `linecache`."""
    for filename in filenames.values():
        linecache.cache.pop(filename, None)


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
        # The linecache name of each shape's source. The cache keeps these entries until
        # they are removed (their mtime is None), so they go with their builder: evicted
        # from `factories`, or the whole hook garbage-collected.
        self.filenames: dict[tuple[int, ...], str] = {}
        weakref.finalize(self, _forget_sources, self.filenames)
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
            filename = f"<alohub_async {self.cls.__name__} builder {next(_BUILDER_NUMBERS)}>"
            namespace = dict(self.namespace)
            code = compile(source, filename, "exec")
            exec(code, namespace)  # noqa: S102 - source built from our field table only
            factory = namespace["factory"]
            if len(self.factories) >= MAX_SHAPES:
                oldest = next(iter(self.factories))
                del self.factories[oldest]
                linecache.cache.pop(self.filenames.pop(oldest), None)
            self.factories[shape] = factory
            # Registered like attrs' and cattrs' generated code, so a traceback through a
            # builder shows its lines; removed with the builder (see __init__).
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            self.filenames[shape] = filename
        return factory

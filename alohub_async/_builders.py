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
import operator
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any, Final, Literal, TypeAlias, cast, get_args

import attrs

from alohub_async._readers import (
    _DETAIL_FIELDS,
    _DIRECTIONS,
    _MAX_SECONDS_CHARS,
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


# --- whole pages, field by field ---------------------------------------------------------
#
# A list page's records nearly always share one key set. For such a page (at least
# _MIN_COLUMN_ROWS rows, every field of a kind below) `_RecordHook.many` reads each field's
# values as one column, checks at C speed (``set(map(type, ...))``, ``all(map(...))``)
# that the column holds what the generated builder's inline path reads, converts it with
# C-level ``map`` calls, and fills each slot of all the records in one ``map`` too: no
# Python-level step per value. A column that fails a check is read value by value with the
# full reader, which gives what the builder gives, so the records are the same either way
# (tests/test_converter.py compares on generated pages).

_MIN_COLUMN_ROWS: Final = 8
_COLUMN_BLOCK: Final = 256
_COLUMN_KINDS: Final = frozenset({"id", "str", "ts", "seconds", "direction"})
_NONE_TYPE: Final = type(None)
_STR_ONLY: Final = frozenset({str})
_STR_OR_NONE: Final = frozenset({str, _NONE_TYPE})
_INT_ONLY: Final = frozenset({int})
_DICT_ONLY: Final = frozenset({dict})
_ISO_SIZES: Final = frozenset({19, 25})
_DASH_ONLY: Final = frozenset({"-"})
_NAIVE_ONLY: Final = frozenset({None})
_FIFTH: Final = operator.itemgetter(4)
_TZINFO: Final = operator.attrgetter("tzinfo")
_COMBINE: Final = datetime.combine
_DATE: Final = datetime.date
_TIME: Final = datetime.time
_FROMISO: Final = datetime.fromisoformat
# Ints below this read as float(v) inline; larger ones go through _read_seconds.
_MAX_INT: Final = 2**53


def _ids(column: list[Any]) -> list[Any] | None:
    """Call ids: stripped, a blank one None (then refused)."""
    values = list(map(str.strip, column))
    return [value or None for value in values] if "" in values else values


def _strs(column: list[Any]) -> list[Any] | None:
    """String fields kept verbatim, or None when one is blank (read value by value then)."""
    return column if all(map(str.strip, column)) else None


def _directions(column: list[Any]) -> list[Any] | None:
    """Direction words and codes; an unknown one is None (the field then UNKNOWN)."""
    # _read_direction of a str, at C speed (None, for a word it does not know, stays None).
    return list(map(_DIRECTIONS.get, map(str.lower, map(str.strip, column))))


def _seconds_of_digits(column: list[Any]) -> list[Any] | None:
    """Durations sent as digit strings (``"91"``), or None for any other form."""
    # ASCII digits only: str.isdigit also takes "²", which float() refuses.
    if (
        all(map(str.isascii, column))
        and all(map(str.isdigit, column))
        and max(map(len, column)) <= _MAX_SECONDS_CHARS
    ):
        return list(map(float, column))
    return None


_ColumnPlan: TypeAlias = tuple[list[tuple[str, str, list[Any]]], Callable[[Any], tuple[Any, ...]]]


def _single(key: Any) -> Callable[[Any], tuple[Any, ...]]:
    """A getter of one key's value as a 1-tuple (``itemgetter`` of one key gives it bare)."""
    return lambda row: (row[key],)


class _Columns:
    """The column readers of one hook: each gives the field values the builder would read."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.tz: tzinfo = namespace["_tz"]
        self.server_tz: tzinfo = namespace["_server_tz"]

        # Value by value: the builders' readers, looked up in their namespace when called
        # (so the column path reads exactly as they do), whose inline paths only shortcut.
        def reader(name: str) -> Callable[[Any], Any]:
            return lambda value: namespace[name](value)

        def ts_value(value: object) -> datetime | None:
            if value.__class__ is str:
                return namespace["_ts"](value)  # type: ignore[no-any-return]
            return namespace["_ts_any"](value, self.tz, self.server_tz)  # type: ignore[no-any-return]

        self.one: dict[str, Callable[[Any], Any]] = {
            "id": reader("_id"),
            "str": reader("_str"),
            "ts": ts_value,
            "seconds": reader("_seconds"),
            "direction": reader("_direction"),
        }
        # A column of exact strs, read at C speed, or None when it holds anything else.
        self.strs: dict[str, Callable[[list[Any]], list[Any] | None]] = {
            "id": _ids,
            "str": _strs,
            "ts": self.timestamps,
            "seconds": _seconds_of_digits,
            "direction": _directions,
        }
        self.astimezone = operator.methodcaller("astimezone", self.tz)

    def timestamps(self, column: list[Any]) -> list[Any] | None:
        """ISO date-times of the reader's fast lengths, all naive or all aware, else None."""
        if not _ISO_SIZES.issuperset(map(len, column)) or set(map(_FIFTH, column)) != _DASH_ONLY:
            return None
        try:
            parsed = list(map(_FROMISO, column))
        except ValueError:
            return None
        zones = set(map(_TZINFO, parsed))
        if zones == _NAIVE_ONLY:
            # The naive time read in server_tz, as _timeutil._attach does: the same fields
            # (fold is 0 in both) and zone. combine() through map costs less than __reduce__.
            moments = list(
                map(
                    _COMBINE,
                    map(_DATE, parsed),
                    map(_TIME, parsed),
                    itertools.repeat(self.server_tz),
                )
            )
            return moments if self.server_tz is self.tz else list(map(self.astimezone, moments))
        if None in zones:
            return None
        # astimezone returns the very object when it is in tz already, as the reader does.
        return list(map(self.astimezone, parsed))

    def read(self, kind: str, column: list[Any]) -> list[Any]:
        """Read one column of a field's raw values: what the builder reads, value by value."""
        kinds = set(map(type, column))
        if str in kinds and _STR_OR_NONE.issuperset(kinds):
            if kinds == _STR_ONLY and "" not in column:
                values = self.strs[kind](column)
                if values is not None:
                    return values
            else:
                # Every reader reads None and "" as None (Alohub sends "" for what it does
                # not know): read the other strings alone, then put them back in place.
                present = [value for value in column if value]
                values = self.strs[kind](present) if present else []
                if values is not None:
                    read = iter(values)
                    return [next(read) if value else None for value in column]
        elif (
            kind == "seconds" and kinds == _INT_ONLY and 0 <= min(column) <= max(column) < _MAX_INT
        ):
            return list(map(float, column))
        return list(map(self.one[kind], column))


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
            "_MAX_INT": _MAX_INT,
            "_no_id": _no_id,
            "_new": object.__new__,
        }
        self.columns = _Columns(self.namespace)
        # Per key set: the plan of many_by_column, or None when such a page is read by row.
        self.column_plans: dict[tuple[Any, ...], _ColumnPlan | None] = {}
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
        """Structure a list of records: the hot path, by column where it can, else by row.

        Long pages go in blocks of `_COLUMN_BLOCK` rows, each read by column when its rows
        share a key set (`many_by_column`): a block's records and rows stay in the CPU's
        cache across the passes over its fields, which a 10,000-row page would not.
        """
        out: list[CallRecord] = []
        try:
            if len(rows) < _MIN_COLUMN_ROWS or self.keep_raw == "unmapped":
                self.by_row(rows, out)
                return out
            for start in range(0, len(rows), _COLUMN_BLOCK):
                block = rows[start : start + _COLUMN_BLOCK]
                by_column = self.many_by_column(block) if len(block) >= _MIN_COLUMN_ROWS else None
                if by_column is None:
                    self.by_row(block, out)
                else:
                    out += by_column
        except ResponseFormatError:
            raise
        except Exception as exc:
            raise ResponseFormatError(f"call record could not be read: {exc!r}") from exc
        return out

    def by_row(self, rows: Sequence[object], out: list[CallRecord]) -> None:
        """Structure ``rows`` one by one onto ``out``: one plan lookup per row."""
        plans_get = self.plans.get
        append = out.append
        for row in cast("Sequence[dict[str, Any]]", rows):
            if row.__class__ is not dict:
                append(self(row))
                continue
            build = plans_get(tuple(row))
            if build is None:
                build = self.plan(tuple(row), row)
            append(build(row))

    def many_by_column(self, rows: Sequence[object]) -> list[CallRecord] | None:
        """Structure rows sharing one key set field by field (see `_Columns`), else None.

        None (nothing done) when the rows are not all dicts with the same keys in the same
        order, or when a field of theirs is not of a kind read by column.
        """
        if set(map(type, rows)) != _DICT_ONLY:
            return None
        records = cast("Sequence[dict[str, Any]]", rows)
        key_sets = list(map(tuple, records))
        keys = key_sets[0]
        if key_sets.count(keys) != len(key_sets):
            return None
        plan = self.column_plans[keys] if keys in self.column_plans else self.column_plan(keys)
        if plan is None:
            return None
        values: dict[str, Any] = {"raw": records if self.keep_raw == "all" else None}
        read = self.columns.read
        fields, first_sources = plan
        # Every field's first source of every record in one C-level call per record.
        firsts = list(map(first_sources, records))
        for (name, kind, sources), raw_column in zip(
            fields, zip(*firsts, strict=True), strict=True
        ):
            column = read(kind, list(raw_column))
            for source in sources[1:]:  # the next source where the earlier ones gave nothing
                if None not in column:
                    break
                missing = [index for index, value in enumerate(column) if value is None]
                more = read(kind, [records[index][source] for index in missing])
                for index, value in zip(missing, more, strict=True):
                    column[index] = value
            if kind == "id" and None in column:
                raise _no_id(records[column.index(None)])
            if kind == "direction" and None in column:
                column = [Direction.UNKNOWN if value is None else value for value in column]
            values[name] = column
        namespace = self.namespace
        out = list(map(object.__new__, itertools.repeat(self.cls, len(records))))
        for name in self.slots:
            filled: Any = values.get(name)
            if filled is None:
                filled = itertools.repeat(namespace[f"_default_{name}"])
            # Each slot of every record in one C-level pass (the setter returns None).
            any(map(namespace[f"_set_{name}"], out, filled))
        return out

    def column_plan(self, keys: tuple[Any, ...]) -> _ColumnPlan | None:
        """Plan a key set for `many_by_column`, remembered like `plan`'s (bounded).

        The plan is each field with a source (name, kind, source keys) and a getter of
        their first sources' values (a tuple); None when the rows have no id source or a
        field of a kind not read by column.
        """
        fields = [
            (name, kind, sources)
            for (name, kind, _), sources in zip(self.fields, self.sources(keys), strict=True)
            if sources
        ]
        plan: _ColumnPlan | None = None
        if fields and fields[0][1] == "id" and all(f[1] in _COLUMN_KINDS for f in fields):
            firsts = [sources[0] for _, _, sources in fields]
            getter = operator.itemgetter(*firsts) if len(firsts) > 1 else _single(firsts[0])
            plan = (fields, getter)
        if len(keys) <= MAX_CACHED_KEYS:
            if len(self.column_plans) >= MAX_PLANS:
                del self.column_plans[next(iter(self.column_plans))]
            self.column_plans[keys] = plan
        return plan

    def sources(self, keys: tuple[Any, ...]) -> list[list[Any]]:
        """Pick each field's source keys among ``keys``, in alias priority order (bounded)."""
        by_alias: dict[str, list[str]] = {}
        for key in itertools.islice(keys, MAX_RECORD_KEYS):
            if isinstance(key, str) and len(key) <= MAX_KEY_CHARS:
                by_alias.setdefault(_fold_short_key(key), []).append(key)
        found = []
        for _, _, aliases in self.fields:
            sources = [key for alias in aliases for key in by_alias.get(alias, ())]
            del sources[MAX_FIELD_SOURCES:]
            found.append(sources)
        return found

    def plan(
        self, keys: tuple[Any, ...], obj: Mapping[Any, Any]
    ) -> Callable[[Mapping[str, Any]], CallRecord]:
        """Plan a key set: pick each field's source keys and bind them to a generated builder.

        The work is bounded (see the module docstring): a record with thousands of keys all
        folding to one alias, each holding garbage, costs at most `MAX_FIELD_SOURCES` reads
        for that field, instead of one slow parse per key.
        """
        shape: list[int] = []
        args: list[object] = []
        # For keep_raw="unmapped": a key no field reads stays in raw, and so does every
        # source of a field that has several (which one fed the field varies per record).
        # A single source is dropped unless its field came out empty (the builder checks).
        dropped: set[object] = set()
        for sources in self.sources(keys):
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

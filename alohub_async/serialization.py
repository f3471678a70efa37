"""Public serialization of call records and details: JSON-ready dicts, JSON lines, CSV rows.

These are the functions the ``alohub-async`` command line writes its ``jsonl`` and ``csv``
output with, so a script that calls them writes exactly what the CLI writes:

* `to_dict` turns a `CallRecord` or `CallDetail` into a dict in model field order, with
  datetimes as ISO 8601 strings with their offset (``"2026-01-21T09:52:27+07:00"``, never
  the ``str()`` form with a space), ``direction`` as its value (``"inbound"``), a transcript
  as ``{"text", "segments": [{"text", "speaker", "start", "end"}, ...]}`` and ``None`` kept
  as ``None``. The server's own record, ``raw``, is left out unless asked for: it repeats
  the mapped fields under the server's names.
* `to_json_line` is that dict as one line of JSON (UTF-8 text kept readable).
* `csv_header` and `csv_row` are the header and the cells of one CSV row, for
  ``csv.writer``; cells a spreadsheet would run as a formula are defused by default.

Bulk export calls these once per record, so all three read a record through one per-class
plan (its field names and a getter reading them all at once) and handle the common values
(plain strings, ``None``, numbers, datetimes, the direction) inline; anything else goes
through the general `to_dict` rules. `to_json_line` writes the line itself, each value as
``json.dumps`` spells it, so the text is exactly ``json.dumps(to_dict(record),
ensure_ascii=False)`` (then made safe to show) without building the dict first. orjson
does not write the lines even when installed: it writes only compact separators and
refuses lone surrogates, so it could not give the same bytes. It does spell whole columns
of datetimes (below), where its text is ``isoformat``'s.

The command line writes a whole page at a time (`_json_lines`, `_csv_rows`): a page's
values are read column by column, and a column of one type (all plain strings, all
datetimes...) is spelled by C-level ``map`` calls instead of a Python call per value. A
column of datetimes is one ``orjson.dumps`` call when orjson is installed (see
`alohub_async._timeutil.isoformat_column`: the same text as ``isoformat``, ten times
faster). The text is the same as the per-record functions give
(tests/test_serialization.py compares).
"""

from __future__ import annotations

import enum
import functools
import itertools
import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Final

import attrs

from alohub_async._timeutil import isoformat_column
from alohub_async.models import CallRecord, Direction, Transcript, TranscriptSegment

__all__ = ["csv_header", "csv_row", "to_dict", "to_json_line"]

# Characters a terminal may act on instead of showing them, beyond the C0 controls:
# DEL and the C1 controls (0x9b is a one-byte CSI on some terminals), the bidirectional
# marks, embeddings, overrides and isolates that reorder what is shown (so a line can read
# differently from what it holds), the line and paragraph separators, and lone surrogates
# (a JSON body may hold them, and no encoding can write them).
_UNSAFE_BEYOND_C0: Final = r"\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff"
# json.dumps already escapes the C0 controls inside strings, and the only ones outside
# strings are its own indentation newlines, which must stay.
_JSON_UNSAFE: Final = re.compile(f"[{_UNSAFE_BEYOND_C0}]")

# Spreadsheets run a cell that starts with one of these as a formula: =HYPERLINK(...) that
# sends data away, or a DDE payload such as =cmd|' /C calc'!A0. Some importers drop a
# leading tab or CR and then read the formula behind it.
_FORMULA_START: Final = ("=", "@", "+", "-", "\t", "\r")
_FORMULA_FIRST: Final = frozenset(_FORMULA_START)
# A sign is harmless when it starts a number or a phone number (+84901234567, -12.5): with
# no letter there can be no function or reference. Checking only the character after the
# sign would let "-2+3+cmd|' /C calc'!A0" through, so the whole cell must look like one.
_SIGNED_NUMBER: Final = re.compile(r"[+-]\d[\d .,()/-]*")

_RAW: Final = "raw"


def _json_escape(match: re.Match[str]) -> str:
    r"""Spell one character as a JSON ``\uXXXX`` escape."""
    return f"\\u{ord(match[0]):04x}"


def _json_text(value: Any, *, indent: int | None = None) -> str:
    r"""Serialize ``value`` as JSON that is exact and also safe to show on a terminal.

    Non-ASCII text stays readable (``ensure_ascii=False``); the characters a terminal would
    act on become ``\uXXXX`` escapes (json.dumps already does so for the C0 controls), which
    every JSON reader decodes back to the very same text.
    """
    return _JSON_UNSAFE.sub(_json_escape, json.dumps(value, ensure_ascii=False, indent=indent))


def _defuse_formula(cell: str) -> str:
    """Prefix ``'`` to a cell a spreadsheet would run as a formula (it then shows as text)."""
    if cell.startswith(_FORMULA_START) and not _SIGNED_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def _segment_dict(segment: TranscriptSegment) -> dict[str, Any]:
    return {
        "text": segment.text,
        "speaker": segment.speaker,
        "start": segment.start,
        "end": segment.end,
    }


def _transcript_dict(transcript: Transcript) -> dict[str, Any]:
    return {
        "text": transcript.text,
        "segments": [_segment_dict(segment) for segment in transcript.segments],
    }


# json.dumps(..., ensure_ascii=False) spells strings with this (the C encoder), and nested
# values with an encoder like this one, built once instead of per call.
_encode_str: Final[Callable[[str], str]] = json.encoder.encode_basestring
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False)
# Reading an enum member's .value is a slow property call (before Python 3.12): looked up.
_DIRECTION_VALUES: Final[dict[Direction, str]] = {member: member.value for member in Direction}
_DIRECTION_JSON: Final = {member: _encode_str(text) for member, text in _DIRECTION_VALUES.items()}


@attrs.frozen
class _Plan:
    """How to read one record class: its field names (``raw`` apart) and JSON key prefixes.

    Attributes:
        names: The record class's field names, ``raw`` apart.
        values: Returns the fields' values as a tuple, in ``names`` order.
        prefixes: ``{"name": `` for the first field, ``, "name": `` for the others.
    """

    names: tuple[str, ...]
    values: Callable[[CallRecord], tuple[Any, ...]]
    prefixes: tuple[str, ...]


_PLANS: dict[type[CallRecord], _Plan] = {}


def _plan(cls: type[CallRecord]) -> _Plan:
    """Return the plan of a record class, built on first use."""
    plan = _PLANS.get(cls)
    if plan is None:
        names = tuple(field.name for field in attrs.fields(cls) if field.name != _RAW)
        getter = operator.attrgetter(*names)
        prefixes = tuple(
            f"{', ' if i else '{'}{_encode_str(name)}: " for i, name in enumerate(names)
        )
        plan = _PLANS[cls] = _Plan(names, getter, prefixes)
    return plan


def _fields(cls: type[CallRecord]) -> tuple[str, ...]:
    return _plan(cls).names


def _check(record: object) -> None:
    if not isinstance(record, CallRecord):
        raise TypeError(f"expected a CallRecord or CallDetail, got {type(record).__name__}")


def _value(value: Any) -> Any:
    """Return one field's JSON-ready value."""
    if isinstance(value, enum.Enum):  # before str: Direction is a str enum
        return value.value
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Transcript):
        return _transcript_dict(value)
    raise TypeError(f"cannot serialize a {type(value).__name__}")  # pragma: no cover


def to_dict(record: CallRecord, *, raw: bool = False) -> dict[str, Any]:
    """Return a JSON-ready dict of a call record or call detail, in model field order.

    Datetimes become ISO 8601 strings with their offset, ``direction`` its value
    (``"inbound"``), a detail's transcript ``{"text", "segments": [...]}`` (each segment
    ``{"text", "speaker", "start", "end"}``); absent values stay ``None``.

    Args:
        record: A `CallRecord` or `CallDetail`.
        raw: Add ``"raw"``, a copy of the record exactly as the server sent it.

    Returns:
        A new dict that ``json.dumps`` accepts as is.

    Raises:
        TypeError: When ``record`` is not a `CallRecord` (or `CallDetail`).
    """
    _check(record)
    plan = _plan(type(record))
    result = dict(zip(plan.names, map(_value, plan.values(record)), strict=True))
    if raw:
        result[_RAW] = dict(record.raw)
    return result


def to_json_line(record: CallRecord, *, raw: bool = False) -> str:
    r"""Return a call record or detail as one line of JSON, ending with ``"\n"``.

    The object is `to_dict`'s. Non-ASCII text is kept readable; control, bidirectional
    and other characters a terminal would act on are written as ``\uXXXX`` escapes, so the
    line is safe to print and decodes to exactly the same text.

    Args:
        record: A `CallRecord` or `CallDetail`.
        raw: Add ``"raw"``, the record exactly as the server sent it.

    Returns:
        The line, newline included: write it as is to a ``.jsonl`` file.

    Raises:
        TypeError: When ``record`` is not a `CallRecord` (or `CallDetail`).
    """
    _check(record)
    plan = _plan(type(record))
    line = "".join(map(operator.add, plan.prefixes, map(_json_value, plan.values(record))))
    if raw:
        # Each value was made safe as it was spelled; the server's record is done here.
        line += f', "{_RAW}": {_JSON_UNSAFE.sub(_json_escape, _ENCODER.encode(dict(record.raw)))}'
    return line + "}\n"


def _json_value(value: Any) -> str:
    """Spell one field's value exactly as ``json.dumps(_value(value), ensure_ascii=False)``."""
    cls = value.__class__
    if cls is str:
        text = _encode_str(value)
        # Every character _JSON_UNSAFE matches is beyond ASCII: most values skip the regex.
        return text if value.isascii() else _JSON_UNSAFE.sub(_json_escape, text)
    if value is None:
        return "null"
    if cls is Direction:
        return _DIRECTION_JSON[value]
    if cls is datetime:
        return f'"{value.isoformat()}"'  # ISO text is ASCII: nothing to escape
    if cls is float and math.isfinite(value):
        return float.__repr__(value)
    if cls is int:
        return int.__repr__(value)
    return _ENCODER.encode(_value(value))


def csv_header(cls: type[CallRecord] = CallRecord, *, raw: bool = False) -> list[str]:
    """Return the CSV header that `csv_row` rows match: the model's field names, in order.

    Args:
        cls: `CallRecord` (the default) or `CallDetail` (adds ``transcript``).
        raw: Add a last ``raw`` column.

    Returns:
        The column names.

    Raises:
        TypeError: When ``cls`` is not `CallRecord` or a subclass.
    """
    if not (isinstance(cls, type) and issubclass(cls, CallRecord)):
        raise TypeError(f"expected CallRecord or CallDetail, got {cls!r}")
    names = list(_fields(cls))
    if raw:
        names.append(_RAW)
    return names


def _cell(value: Any) -> str:
    """Write one JSON-ready value as a CSV cell."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return _json_text(value)
    return str(value)


def _cell_of(value: Any) -> str:
    """Write one field's value as a CSV cell: ``_cell(_value(value))``, common types inline."""
    cls = value.__class__
    if cls is str:
        return value  # type: ignore[no-any-return]
    if value is None:
        return ""
    if cls is datetime:
        return value.isoformat()  # type: ignore[no-any-return]
    if cls is Direction:
        return _DIRECTION_VALUES[value]
    return _cell(_value(value))


def csv_row(record: CallRecord, *, raw: bool = False, defuse_formulas: bool = True) -> list[str]:
    """Return the cells of one CSV row of a call record or detail, for ``csv.writer``.

    The cells are `to_dict`'s values in `csv_header` order: ``None`` is an empty cell,
    numbers their ``str()``, a transcript or ``raw`` compact JSON.

    Args:
        record: A `CallRecord` or `CallDetail`.
        raw: Add a last cell holding the server's record as JSON (see ``csv_header(raw=True)``).
        defuse_formulas: Prefix ``'`` to cells a spreadsheet would run as a formula (they
            start with ``=``, ``@``, ``+``, ``-``, a tab or CR, and are not a signed number
            such as a phone number ``+84901234567``), so opening the file runs nothing.
            Pass False to write every cell exactly as received.

    Returns:
        The cells, one per header column.

    Raises:
        TypeError: When ``record`` is not a `CallRecord` (or `CallDetail`).
    """
    _check(record)
    cells = list(map(_cell_of, _plan(type(record)).values(record)))
    if raw:
        cells.append(_cell(dict(record.raw)))
    if defuse_formulas:
        # Most cells start with none of the characters: test the first one before calling.
        cells = [_defuse_formula(cell) if cell[:1] in _FORMULA_FIRST else cell for cell in cells]
    return cells


# --- whole pages, column by column (the command line's bulk export) ---------------------

_NONE_TYPE: Final = type(None)
_FIRST_CHAR: Final = operator.itemgetter(slice(None, 1))


def _json_strs(column: Sequence[Any]) -> list[str]:
    """Spell a column of plain strings as `_json_value` does, one C-level pass each."""
    texts = list(map(_encode_str, column))
    # The escapes _encode_str adds are ASCII, so its output is ASCII exactly when the value is.
    if all(map(str.isascii, texts)):
        return texts
    # _JSON_UNSAFE matches nothing in ASCII text: substituting in every value is the same.
    return list(map(_JSON_UNSAFE.sub, itertools.repeat(_json_escape), texts))


def _json_floats(column: Sequence[Any]) -> list[str]:
    if all(map(math.isfinite, column)):
        return list(map(float.__repr__, column))
    return list(map(_json_value, column))


# How a column whose values are all of one exact class is spelled, as `_json_value` and
# `_cell_of` spell each value. Anything else (mixed classes, a transcript) goes per value.
_JSON_COLUMN: Final[dict[type, Callable[[Sequence[Any]], list[str]]]] = {
    str: _json_strs,
    datetime: functools.partial(isoformat_column, quoted=True),
    Direction: lambda column: list(map(_DIRECTION_JSON.__getitem__, column)),
    float: _json_floats,
    int: lambda column: list(map(int.__repr__, column)),
}
_CSV_COLUMN: Final[dict[type, Callable[[Sequence[Any]], list[str]]]] = {
    str: list,
    datetime: isoformat_column,
    Direction: lambda column: list(map(_DIRECTION_VALUES.__getitem__, column)),
    float: lambda column: list(map(float.__repr__, column)),  # str() of a float is its repr
    int: lambda column: list(map(int.__repr__, column)),
}


def _spell_column(
    column: Sequence[Any],
    spellers: dict[type, Callable[[Sequence[Any]], list[str]]],
    one: Callable[[Any], str],
    null: str,
) -> list[str]:
    """Spell one field's values: with ``spellers`` when they share a class, else by ``one``.

    ``None`` values may mix with the others (an unanswered call has no ``answered_at``):
    they are spelled ``null``, the rest by their class's speller.
    """
    kinds = set(map(type, column))
    nulls = _NONE_TYPE in kinds
    kinds.discard(_NONE_TYPE)
    if not kinds:
        return [null] * len(column)
    spell = spellers.get(kinds.pop()) if len(kinds) == 1 else None
    if spell is None:
        return list(map(one, column))
    if not nulls:
        return spell(column)
    spelled = iter(spell([value for value in column if value is not None]))
    return [null if value is None else next(spelled) for value in column]


def _columns(records: Sequence[CallRecord]) -> tuple[_Plan, Iterable[tuple[Any, ...]]] | None:
    """Return the plan and the field columns of records of one class, else ``None``."""
    cls = records[0].__class__
    if not issubclass(cls, CallRecord) or any(record.__class__ is not cls for record in records):
        return None
    plan = _plan(cls)
    return plan, zip(*map(plan.values, records), strict=True)


def _json_lines(records: Sequence[CallRecord]) -> str:
    """Return ``"".join(map(to_json_line, records))``, spelled column by column."""
    found = _columns(records) if records else None
    if found is None:
        return "".join(map(to_json_line, records))
    plan, columns = found
    parts: list[Iterable[str]] = []
    for prefix, column in zip(plan.prefixes, columns, strict=True):
        parts += [
            itertools.repeat(prefix),
            _spell_column(column, _JSON_COLUMN, _json_value, "null"),
        ]
    parts.append(itertools.repeat("}\n"))
    # Not strict: the repeats are endless, and the columns (all one length) end the zip.
    return "".join(itertools.chain.from_iterable(zip(*parts, strict=False)))


def _csv_rows(
    records: Sequence[CallRecord], *, defuse_formulas: bool = True
) -> list[Sequence[str]]:
    """Return the cells of `csv_row` for each record (as tuples, for ``writerows``), by column."""
    found = _columns(records) if records else None
    if found is None:
        return [csv_row(record, defuse_formulas=defuse_formulas) for record in records]
    cells: list[list[str]] = []
    for column in found[1]:
        spelled = _spell_column(column, _CSV_COLUMN, _cell_of, "")
        # Most columns hold no cell starting with a formula character: one C-level test.
        if defuse_formulas and not _FORMULA_FIRST.isdisjoint(map(_FIRST_CHAR, spelled)):
            spelled = [
                _defuse_formula(cell) if cell[:1] in _FORMULA_FIRST else cell for cell in spelled
            ]
        cells.append(spelled)
    return list(zip(*cells, strict=True))

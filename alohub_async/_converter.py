"""The one cattrs converter: backend records (unpublished, varying keys) to the models.

Following cattrs' ``preconf`` pattern, `make_converter` builds a private
``cattrs.Converter`` and registers the record hooks on it; cattrs' global converter is
never used. The structure hook of `CallRecord` and `CallDetail` is a
`alohub_async._builders._RecordHook` (planned, generated builders reading the fields with
the value readers of `alohub_async._readers`); their unstructure hook is
`alohub_async.serialization.to_dict`, so ``converter.unstructure(record)`` is exactly what
the public serialization and the command line write.

Only those two classes are registered: records never go through per-field cattrs hooks
(the generated builders call the readers directly), and the converter is private to the
session, so nothing ever asks it for a ``str`` or a ``datetime`` alone.

Everything unusable at the record level (not an object, no id) is a
`ResponseFormatError`; no cattrs exception escapes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import tzinfo
from typing import Any, TypeVar, cast

import cattrs

from alohub_async._builders import KEEP_RAW, KeepRaw, _RecordHook
from alohub_async.errors import ResponseFormatError
from alohub_async.models import CallDetail, CallRecord
from alohub_async.serialization import to_dict

__all__ = [
    "get_converter",
    "make_converter",
    "structure_detail",
    "structure_records",
    "unstructure",
]

_R = TypeVar("_R", bound=CallRecord)


def _check_keep_raw(keep_raw: object) -> KeepRaw:
    """Return ``keep_raw`` if it is one of `KEEP_RAW`, else a ValueError naming them."""
    if keep_raw not in KEEP_RAW:
        raise ValueError(f"keep_raw must be one of {', '.join(KEEP_RAW)}, got {keep_raw!r}")
    return cast("KeepRaw", keep_raw)


def make_converter(
    tz: tzinfo, server_tz: tzinfo | None = None, keep_raw: str = "all"
) -> cattrs.Converter:
    """Build a fresh converter with the record hooks registered.

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
    for cls in (CallRecord, CallDetail):
        converter.register_structure_hook(cls, _RecordHook(cls, tz, server_tz, mode))
        converter.register_unstructure_hook(cls, to_dict)
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

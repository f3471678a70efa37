"""``AlohubSession.diagnose()`` and ``alohub-async doctor``: what works, and what the tenant sends.

The response body of the call-logs endpoints is unpublished, so a user with real credentials
needs one command that says which step fails (configuration, network, auth, the body's
shape) and what their tenant actually returns, in a form they can attach to a bug report.

Nothing here has rules of its own about the wire format: the envelope is read by
``_protocol.read_list``/``read_detail`` (and only *located* afterwards), records by the
session's converter, and the field table, aliases and value readers are those of
``_readers`` read at run time, so the report always describes what the client does.

The redacted capture keeps every key and every value's JSON type, since they are the point,
and replaces values that may be personal (phone numbers, names, free text, ids) by
placeholders of the same shape: digits become digits, letters letters. Only values that
describe the format rather than a person are kept: timestamps, durations, direction and
status words, and the envelope's own flags.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import socket
import ssl as ssl_module
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar
from urllib.parse import urlsplit

import attrs

from . import _converter as conv
from . import _protocol as protocol
from . import _readers as readers
from ._auth import jwt_expiry
from ._timeutil import TimeInput, resolve_range, to_wire
from .errors import (
    AlohubError,
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    PermissionDeniedError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
)
from .models import CallDetail, CallRecord

if TYPE_CHECKING:
    from ._core import SessionCore

__all__ = [
    "DIAGNOSE_SAMPLE",
    "CheckResult",
    "Diagnosis",
    "EnvelopeReport",
    "FailureKind",
    "FieldReport",
    "configuration_failure",
    "redact_sample",
    "run_diagnosis",
]

DIAGNOSE_SAMPLE: Final = 3
"""How many records the list request asks for (the ``limit``) and the capture keeps."""

DEFAULT_WINDOW: Final = timedelta(hours=24)
"""The range listed when none is given: the last 24 hours."""

FailureKind = Literal["configuration", "network", "auth", "response", "format"]
"""Why a check failed; each maps to one exit status of ``alohub-async doctor``."""

_T = TypeVar("_T")
_OFFSET = re.compile(r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://([^/?#]*)([^?#]*)")
# Secrets shorter than this cannot be real ones; replacing them would garble the sample.
_MIN_SECRET = 6


# --- the report ----------------------------------------------------------------------------


@attrs.frozen
class CheckResult:
    """One step of a diagnosis, in the order they ran.

    Attributes:
        name: ``configuration``, ``connection``, ``list`` or ``detail``.
        ok: True if the step passed, False if it failed, None if it was skipped.
        seconds: How long the step took.
        summary: One plain line saying what was found or what went wrong.
        failure: Why it failed (None unless ``ok`` is False).
    """

    name: str
    ok: bool | None
    seconds: float
    summary: str
    failure: FailureKind | None = None


@attrs.frozen
class EnvelopeReport:
    """Where a response kept its payload, as the client read it.

    Attributes:
        records_at: Where the records (or the detail object) were: ``"data"``,
            ``"data.items"``, ``"(the body itself)"``, or None when none was found.
        total_at: Where the total was, or None.
        total: The total, or None.
        success: The ``success`` flag exactly as sent (its JSON text), or None if absent.
        error_fields: The error code and message fields present, as ``key=value`` texts.
    """

    records_at: str | None
    total_at: str | None = None
    total: int | None = None
    success: str | None = None
    error_fields: tuple[str, ...] = ()


@attrs.frozen
class FieldReport:
    """How one model field was filled from the sampled records.

    Attributes:
        field: The model field (``started_at``).
        sources: The keys, as sent, that fed it, most frequent first; empty when none did.
        unset: In how many sampled records no key gave it a usable value.
        ignored: Keys the field reads that were present but not used (an unusable value, or
            a higher-priority key won).
        formats: What the used values looked like: a timestamp's pattern and whether it
            carried an offset, a duration's JSON type, a transcript's shape.
    """

    field: str
    sources: tuple[str, ...]
    unset: int
    ignored: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()


@attrs.frozen
class Diagnosis:
    """What `AlohubSession.diagnose` found: the checks, then what the tenant returns.

    ``str(diagnosis)`` is the report ``alohub-async doctor`` prints. It holds no key, no
    token, and no record value other than formats and the redacted ``capture``.

    Attributes:
        base_url: The API base URL checked.
        checks: Every check, in order; skipped ones have ``ok`` None.
        list_envelope: How the list response was wrapped, if one was received.
        detail_envelope: How the detail response was wrapped, if one was received.
        records_read: How many list records were sampled.
        fields: One entry per model field, from the list records and the detail.
        unread_keys: Keys present in the records that no field reads (they stay in ``raw``).
        recording_url_in_detail: Whether the detail carried a usable recording URL (None
            without a detail).
        transcript_shape: The shape of the detail's transcript value, or None without a
            detail.
        notes: Anything else worth knowing, one plain sentence each.
        capture: A redacted JSON-ready sample (a few list records and one detail), for a
            bug report; see ``alohub-async doctor --capture``.
    """

    base_url: str
    checks: tuple[CheckResult, ...]
    list_envelope: EnvelopeReport | None = None
    detail_envelope: EnvelopeReport | None = None
    records_read: int = 0
    fields: tuple[FieldReport, ...] = ()
    unread_keys: tuple[str, ...] = ()
    recording_url_in_detail: bool | None = None
    transcript_shape: str | None = None
    notes: tuple[str, ...] = ()
    capture: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return self.failure is None

    @property
    def failure(self) -> FailureKind | None:
        """Why the first failed check failed, or None when every check passed or was skipped."""
        for check in self.checks:
            if check.ok is False:
                return check.failure
        return None

    def field(self, name: str) -> FieldReport | None:
        """Return the report of one model field, or None if the table has no such field.

        Args:
            name: The model field, e.g. ``"started_at"``.

        Returns:
            The field's report, or None.
        """
        return next((f for f in self.fields if f.field == name), None)

    def lines(self, *, ascii_marks: bool = False) -> list[str]:
        """Return the report as lines of text, checks first.

        Args:
            ascii_marks: Use ``OK``/``FAIL``/``SKIP`` instead of ``✓``/``✗``/``-``, for an
                output that cannot encode them.

        Returns:
            The lines, without line ends.
        """
        marks = {True: "OK  ", False: "FAIL", None: "SKIP"} if ascii_marks else _MARKS
        out = [f"Alohub doctor for {self.base_url}"]
        for check in self.checks:
            out.append(
                f"{marks[check.ok]} {check.name:<13} {_ms(check.seconds):>7}  {check.summary}"
            )
        for label, envelope in (("list", self.list_envelope), ("detail", self.detail_envelope)):
            if envelope is not None:
                out.append(f"Envelope ({label}): {_describe_envelope(envelope, label)}")
        if self.fields:
            sources = f"{self.records_read} list records"
            if self.detail_envelope is not None:
                sources += " and the detail"
            out.append(f"Fields (from {sources}):")
            width = max(len(f.field) for f in self.fields)
            out += [f"  {f.field:<{width}}  {_describe_field(f)}" for f in self.fields]
        if self.records_read or self.detail_envelope is not None:
            unread = ", ".join(self.unread_keys) if self.unread_keys else "none"
            out.append(f"Keys no field reads (kept in raw): {unread}")
        if self.recording_url_in_detail is not None:
            out.append(
                "Detail recording_url: "
                + ("present" if self.recording_url_in_detail else "absent or unusable")
            )
        if self.transcript_shape is not None:
            out.append(f"Detail transcript: {self.transcript_shape}")
        out += [f"Note: {note}" for note in self.notes]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


_MARKS: Final[dict[bool | None, str]] = {True: "✓", False: "✗", None: "-"}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _describe_envelope(envelope: EnvelopeReport, label: str) -> str:
    what = "records" if label == "list" else "object"
    parts = [
        f"{what} at {envelope.records_at}"
        if envelope.records_at is not None
        else f"no {what} found"
    ]
    if label == "list":
        parts.append(
            f"total at {envelope.total_at} ({envelope.total})"
            if envelope.total_at is not None
            else "no total"
        )
    parts.append(
        f"success flag {envelope.success}" if envelope.success is not None else "no success flag"
    )
    if envelope.error_fields:
        parts.append("error fields " + ", ".join(envelope.error_fields))
    return "; ".join(parts)


def _describe_field(report: FieldReport) -> str:
    if report.sources:
        text = "<- " + ", ".join(report.sources)
        if report.unset:
            text += f" (unset in {report.unset})"
    else:
        text = "not set: no key the client reads for it"
    if report.formats:
        text += " [" + "; ".join(report.formats) + "]"
    if report.ignored:
        text += " (also present, unused: " + ", ".join(report.ignored) + ")"
    return text


# --- classification of failures ------------------------------------------------------------


def _failure_kind(exc: BaseException) -> FailureKind:
    """Say which kind of failure an exception is, for the check line and the exit status."""
    if isinstance(exc, (AuthenticationError, PermissionDeniedError)):
        return "auth"
    if isinstance(exc, (APIConnectionError, ServerError, RateLimitError, OSError)):
        return "network"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "network"
    if isinstance(exc, APIStatusError) and exc.status == 408:
        return "network"
    if isinstance(exc, ResponseFormatError):
        return "format"
    if isinstance(exc, AlohubError):
        return "response"
    return "configuration"


def _failed(name: str, started: float, exc: BaseException, prefix: str = "") -> CheckResult:
    message = " ".join((str(exc) or type(exc).__name__).split())
    return CheckResult(
        name,
        False,
        time.monotonic() - started,
        f"{prefix}{type(exc).__name__}: {message}",
        _failure_kind(exc),
    )


def configuration_failure(base_url: str, exc: BaseException, *, auth: bool = False) -> Diagnosis:
    """Build the report of a diagnosis that could not start: the session could not be made.

    Args:
        base_url: The base URL that was to be checked (as given).
        exc: Why the session could not be created; its message must hold no secret.
        auth: The credentials were missing (an auth failure rather than a configuration one).

    Returns:
        A diagnosis whose configuration check failed.
    """
    check = CheckResult(
        "configuration",
        False,
        0.0,
        " ".join(str(exc).split()) or type(exc).__name__,
        "auth" if auth else "configuration",
    )
    skipped = [CheckResult(name, None, 0.0, "skipped") for name in ("connection", "list", "detail")]
    return Diagnosis(base_url=base_url, checks=(check, *skipped))


# --- the checks ----------------------------------------------------------------------------


async def _check_configuration(core: SessionCore) -> tuple[CheckResult, str | None]:
    """Check the base URL and the credentials; return the check and the current token."""
    session = core.session
    started = time.monotonic()
    parts = urlsplit(session.base_url)
    notes = [f"base URL {session.base_url}"]
    notes.append("https" if parts.scheme == "https" else "plain http (loopback only)")
    notes.append(f"API key set ({len(core.api_key)} chars)")
    try:
        token = await core.tokens.get()
    except Exception as exc:  # a provider's own failure, whatever it is
        return _failed("configuration", started, exc, "the token provider failed: "), None
    where = "from a provider" if core.tokens.refreshable else "static"
    expiry = jwt_expiry(token)
    if expiry is None:
        notes.append(f"access token set ({where}, not a JWT)")
        return CheckResult(
            "configuration", True, time.monotonic() - started, "; ".join(notes)
        ), token
    when = datetime.fromtimestamp(expiry, timezone.utc).replace(microsecond=0)
    left = expiry - time.time()
    if left <= 0:
        notes.append(f"access token ({where}) is a JWT that expired at {when.isoformat()}")
        summary = "; ".join(notes)
        return CheckResult(
            "configuration", False, time.monotonic() - started, summary, "auth"
        ), token
    notes.append(f"access token ({where}) is a JWT valid until {when.isoformat()}")
    return CheckResult("configuration", True, time.monotonic() - started, "; ".join(notes)), token


def _client_ssl_context(setting: ssl_module.SSLContext | bool) -> ssl_module.SSLContext:
    """The TLS context the session's ``ssl`` setting means, for the handshake check."""
    if isinstance(setting, ssl_module.SSLContext):
        return setting
    context = ssl_module.create_default_context()
    if setting is False:  # the user switched verification off; report, do not second-guess
        context.check_hostname = False
        context.verify_mode = ssl_module.CERT_NONE
    return context


async def _check_connection(core: SessionCore) -> CheckResult:
    """Resolve the host, open a TCP connection and, for https, complete a TLS handshake."""
    session = core.session
    started = time.monotonic()
    parts = urlsplit(session.base_url)
    host = parts.hostname or ""
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    steps: list[str] = []
    step = ["DNS"]  # the step under way, for the failure line

    async def connect() -> None:
        loop = asyncio.get_running_loop()
        mark = time.monotonic()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        address = str(infos[0][4][0])
        steps.append(f"DNS {host} -> {address} ({_ms(time.monotonic() - mark)})")
        step[0], mark = "TCP", time.monotonic()
        transport, handler = await loop.create_connection(asyncio.Protocol, address, port)
        try:
            steps.append(f"TCP port {port} ({_ms(time.monotonic() - mark)})")
            if not tls:
                steps.append("TLS not applicable (plain http)")
                return
            step[0], mark = "TLS", time.monotonic()
            context = _client_ssl_context(core.ssl)
            upgraded = await loop.start_tls(transport, handler, context, server_hostname=host)
            if upgraded is not None:
                transport = upgraded
            tls_object = transport.get_extra_info("ssl_object")
            version = tls_object.version() if tls_object is not None else "?"
            steps.append(f"TLS {version} ({_ms(time.monotonic() - mark)})")
        finally:
            transport.close()

    try:
        await asyncio.wait_for(connect(), session.timeout)
    except (OSError, asyncio.TimeoutError) as exc:  # ssl.SSLError is an OSError
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
            detail = f"timed out after {session.timeout:g}s"
        else:
            detail = " ".join((str(exc) or type(exc).__name__).split())
        summary = "; ".join([*steps, f"{step[0]} failed: {detail}"])
        return CheckResult("connection", False, time.monotonic() - started, summary, "network")
    return CheckResult("connection", True, time.monotonic() - started, "; ".join(steps))


# --- reading what came back ----------------------------------------------------------------


def _locate(payload: Any, target: object) -> str | None:
    """Where ``target`` (found by the protocol reader) sits in ``payload``, by identity."""
    if payload is target:
        return "(the body itself)"
    if not isinstance(payload, Mapping):
        return None
    for key, value in payload.items():
        if value is target:
            return str(key)
    for key, value in payload.items():
        if isinstance(value, Mapping):
            for inner_key, inner in value.items():
                if inner is target:
                    return f"{key}.{inner_key}"
    return None


def _locate_total(payload: Any, records_at: str | None, total: int | None) -> str | None:
    """Which of the protocol's total keys gave ``total``: beside the records, then one up."""
    if total is None or not isinstance(payload, Mapping):
        return None
    containers: list[tuple[str, Mapping[str, Any]]] = []
    if records_at is not None and "." in records_at:
        outer = records_at.split(".", 1)[0]
        inner = payload.get(outer)
        if isinstance(inner, Mapping):
            containers.append((f"{outer}.", inner))
    containers.append(("", payload))
    for prefix, container in containers:
        for key in protocol.TOTAL_KEYS:
            if key in container and protocol._read_total({key: container[key]}) == total:
                return prefix + key
    return None


def _envelope(payload: Any, records_at: str | None, total: int | None) -> EnvelopeReport:
    """Describe an envelope with the protocol's own key tables."""
    success: str | None = None
    errors: list[str] = []
    if isinstance(payload, Mapping):
        if "success" in payload:
            success = _json_text(payload["success"])
        for key in (*protocol._CODE_KEYS, *protocol._MESSAGE_KEYS):
            if key in payload:
                errors.append(f"{key}={_json_text(payload[key])}")
    return EnvelopeReport(
        records_at=records_at,
        total_at=_locate_total(payload, records_at, total),
        total=total,
        success=success,
        error_fields=tuple(errors),
    )


def _json_text(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:79] + "~"


def _readers(tz: tzinfo) -> dict[str, Callable[[Any], Any]]:
    """The converter's own value readers per field kind, so "usable" means the same thing."""
    return {
        "id": readers._read_id,
        "str": readers._read_str,
        "ts": lambda value: readers._read_timestamp(value, tz),
        "seconds": readers._read_seconds,
        "direction": readers._read_direction,
        "transcript": readers._read_transcript,
    }


def _field_table(
    converter: Any, cls: type[CallRecord]
) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """The (field, kind, aliases) table the converter applies to ``cls``, read at run time."""
    hook = converter.get_structure_hook(cls)
    fields = getattr(hook, "fields", None)
    if fields is not None:
        return tuple(fields)
    return readers._DETAIL_FIELDS if issubclass(cls, CallDetail) else readers._RECORD_FIELDS


def _value_format(kind: str, value: object) -> str:
    """Describe a source value's format without its content."""
    if kind == "ts":
        if isinstance(value, str):
            offset = "with offset" if _OFFSET.search(value.strip()) else "no offset"
            return f"text {_pattern(value.strip())}, {offset}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            unit = "milliseconds" if abs(value) >= 100_000_000_000 else "seconds"
            return f"epoch {unit} ({type(value).__name__}), absolute"
    if kind == "seconds":
        if isinstance(value, str):
            return (
                "string of seconds"
                if readers._DIGITS.fullmatch(value.strip())
                else "string H:MM:SS"
            )
        return type(value).__name__
    if kind == "transcript":
        return _transcript_shape(value)
    return {str: "string", int: "int", float: "float"}.get(type(value), type(value).__name__)


def _pattern(text: str) -> str:
    """A timestamp's pattern: its digits as ``d``, everything else as is."""
    return re.sub(r"\d", "d", text)


def _transcript_shape(value: object, depth: int = 0) -> str:
    """Describe a transcript value's JSON shape."""
    if value is None:
        return "null"
    if isinstance(value, str):
        decoded = readers._decode_json(value) if depth < 2 else None
        if decoded is not None:
            return f"JSON text of {_transcript_shape(decoded, depth + 1)}"
        return "plain text" if value.strip() else "empty text"
    if isinstance(value, (list, tuple)):
        items = [item for item in value if isinstance(item, Mapping)]
        keys = sorted({str(key) for item in items for key in item})
        if items:
            return f"list of {len(value)} objects with keys {{{', '.join(keys)}}}"
        return f"list of {len(value)} items"
    if isinstance(value, Mapping):
        parts = []
        for key, inner in value.items():
            inner_shape = _transcript_shape(inner, depth + 1) if depth < 2 else "..."
            parts.append(f"{key}: {inner_shape}")
        return "object {" + ", ".join(parts) + "}"
    return type(value).__name__


class _FieldTally:
    """Accumulates, over sampled records, which key fed each field of a table."""

    def __init__(self, tz: tzinfo) -> None:
        self.readers = _readers(tz)
        self.order: list[str] = []
        self.sources: dict[str, Counter[str]] = {}
        self.unset: Counter[str] = Counter()
        self.ignored: dict[str, dict[str, None]] = {}
        self.formats: dict[str, dict[str, None]] = {}
        self.unread: dict[str, None] = {}

    def add(
        self, record: Mapping[Any, Any], table: Sequence[tuple[str, str, tuple[str, ...]]]
    ) -> None:
        """Tally one record: mirror the converter's plan (alias priority, then key order)."""
        by_alias: dict[str, list[Any]] = {}
        for key in record:
            if isinstance(key, str):
                by_alias.setdefault(readers.fold_key(key), []).append(key)
        read_aliases = {alias for _, _, aliases in table for alias in aliases}
        for key in record:
            if not isinstance(key, str) or readers.fold_key(key) not in read_aliases:
                self.unread.setdefault(str(key), None)
        for name, kind, aliases in table:
            if name not in self.sources:
                self.order.append(name)
                self.sources[name] = Counter()
                self.ignored[name] = {}
                self.formats[name] = {}
            read = self.readers.get(kind, lambda value: value)
            used: str | None = None
            for key in (key for alias in aliases for key in by_alias.get(alias, ())):
                if used is None and _usable(read, record[key]):
                    used = key
                    self.sources[name][key] += 1
                    self.formats[name].setdefault(_value_format(kind, record[key]), None)
                elif record[key] is not None:
                    self.ignored[name].setdefault(key, None)
            if used is None:
                self.unset[name] += 1

    def fields(self) -> tuple[FieldReport, ...]:
        """The per-field reports, in table order."""
        reports = []
        for name in self.order:
            sources = tuple(key for key, _ in self.sources[name].most_common())
            reports.append(
                FieldReport(
                    field=name,
                    sources=sources,
                    unset=self.unset[name],
                    ignored=tuple(k for k in self.ignored[name] if k not in sources),
                    formats=tuple(self.formats[name]),
                )
            )
        return tuple(reports)


def _usable(read: Callable[[Any], _T], value: object) -> bool:
    try:
        return read(value) is not None
    except Exception:  # an exotic value the converter would refuse the same way
        return False


# --- redaction -----------------------------------------------------------------------------


def _mask_text(text: str) -> str:
    """Same-shape placeholder: every digit ``0``, every letter ``x``/``X``, the rest kept."""
    out = []
    for char in text:
        if char.isdigit():
            out.append("0")
        elif char.isalpha():
            out.append("X" if char.isupper() else "x")
        else:
            out.append(char)
    return "".join(out)


def _mask_path(path: str) -> str:
    """A URL path's pattern: every segment masked, a file extension kept."""
    segments = []
    for segment in path.split("/"):
        stem, dot, extension = segment.rpartition(".")
        if dot and stem and extension.isalnum() and len(extension) <= 5:
            segments.append(f"{_mask_text(stem)}.{extension}")
        else:
            segments.append(_mask_text(segment))
    return "/".join(segments)


def _mask_string(text: str) -> str:
    url = _URL.match(text)
    if url is not None:  # scheme and host kept, the path as a pattern, query dropped
        scheme, host, path = url.groups()
        host = host.rpartition("@")[2]  # never a userinfo
        return f"{scheme}://{host}{_mask_path(path)}"
    if text.startswith("/") and " " not in text:
        return _mask_path(text.split("?", 1)[0].split("#", 1)[0])
    return _mask_text(text)


def _mask_number(value: float) -> float:
    if isinstance(value, int):
        digits = len(str(abs(value)))
        masked = 10 ** (digits - 1) if digits > 1 else 0
        return -masked if value < 0 else masked
    if not math.isfinite(value):
        return 0.0
    return float(_mask_number(int(value)))


def _redact_value(value: Any, keep: bool) -> Any:
    """Redact one value: kept as is when ``keep``, else masked, containers recursively."""
    if isinstance(value, Mapping):
        return {str(key): _redact_value(inner, False) for key, inner in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(item, False) for item in value]
    if keep or value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _mask_string(value)
    if isinstance(value, (int, float)):
        return _mask_number(value)
    return None


# Kinds of field whose values describe the format, not a person: kept in the capture.
_KEPT_KINDS: Final = frozenset({"ts", "seconds", "direction"})
_KEPT_FIELDS: Final = frozenset({"status"})


def _redact_record(record: Any, table: Sequence[tuple[str, str, tuple[str, ...]]]) -> Any:
    if not isinstance(record, Mapping):
        return _redact_value(record, False)
    kept = {
        alias
        for name, kind, aliases in table
        if kind in _KEPT_KINDS or name in _KEPT_FIELDS
        for alias in aliases
    }
    out: dict[str, Any] = {}
    for key, value in record.items():
        folded = readers.fold_key(key) if isinstance(key, str) else ""
        keep = folded in kept and not isinstance(value, (Mapping, list, tuple))
        out[str(key)] = _redact_value(value, keep)
    return out


def _redact_envelope(
    payload: Any,
    records: Any,
    table: Sequence[tuple[str, str, tuple[str, ...]]],
    limit: int | None,
) -> Any:
    """Redact a body: the envelope's scalars kept, ``records`` (a list or one object) redacted."""
    if payload is records:
        if isinstance(records, list):
            return [_redact_record(row, table) for row in records[:limit]]
        return _redact_record(records, table)
    if isinstance(payload, Mapping):
        out: dict[str, Any] = {}
        for key, value in payload.items():
            if value is records or (isinstance(value, Mapping) and _contains(value, records)):
                out[str(key)] = _redact_envelope(value, records, table, limit)
            elif isinstance(value, (Mapping, list, tuple)):
                out[str(key)] = _redact_value(value, False)
            else:  # success flags, codes, totals and messages: the server's, not a person's
                out[str(key)] = value if not isinstance(value, str) else value[:200]
        return out
    return _redact_value(payload, False)


def _contains(container: Mapping[Any, Any], target: object) -> bool:
    return any(value is target for value in container.values())


def redact_sample(sample: _T, secrets: Sequence[str]) -> _T:
    """Replace any secret left anywhere in a value: a last line of defence.

    A server may echo a credential anywhere (a key name, an error message), so this runs
    over the capture and over every text of the report.

    Args:
        sample: JSON-ready data, or a report object (attrs instances are rebuilt).
        secrets: Texts that must not appear (the API key and the token).

    Returns:
        The value with every occurrence of a secret replaced by ``***``.
    """
    live = [secret for secret in secrets if secret and len(secret) >= _MIN_SECRET]

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            for secret in live:
                value = value.replace(secret, "***")
            return value
        if isinstance(value, Mapping):
            return {scrub(key): scrub(inner) for key, inner in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(scrub(item) for item in value)
        if attrs.has(type(value)):
            changes = {
                field.name: scrub(getattr(value, field.name)) for field in attrs.fields(type(value))
            }
            return attrs.evolve(value, **changes)
        return value

    result: _T = scrub(sample)
    return result


# --- the diagnosis -------------------------------------------------------------------------


def _window(
    tz: tzinfo, start: TimeInput | None, end: TimeInput | None
) -> tuple[datetime, datetime]:
    """Resolve the range to list; by default the last 24 hours. Bad input raises ValueError."""
    if end is None:
        end = datetime.now(timezone.utc).replace(microsecond=0)
    if start is None:
        _, high = resolve_range(end, end, tz)
        start = high - DEFAULT_WINDOW
    return resolve_range(start, end, tz)


async def run_diagnosis(
    core: SessionCore, start: TimeInput | None = None, end: TimeInput | None = None
) -> Diagnosis:
    """Run every check on ``core.session`` and describe what the tenant returns.

    Args:
        core: The internals of an open or unopened session (it is opened, never closed,
            here).
        start: First moment listed (default: 24 hours before ``end``).
        end: Last moment listed (default: now).

    Returns:
        The diagnosis; failures are reported in it, not raised.

    Raises:
        ValueError: A bad ``start``/``end``, before any request is sent.
        RuntimeError: The session is closed.
    """
    session = core.session
    low, high = _window(session.tz, start, end)
    core.check_usable()
    checks: list[CheckResult] = []
    notes: list[str] = []
    secrets = [core.api_key]

    config, token = await _check_configuration(core)
    checks.append(config)
    if token is not None:
        secrets.append(token)
    skip_all = token is None  # no token at all: nothing can be asked

    connection = (
        CheckResult("connection", None, 0.0, "skipped: no access token")
        if skip_all
        else await _check_connection(core)
    )
    checks.append(connection)

    tally = _FieldTally(session.tz)
    converter = core.converter
    list_table = _field_table(converter, CallRecord)
    detail_table = _field_table(converter, CallDetail)
    list_envelope: EnvelopeReport | None = None
    detail_envelope: EnvelopeReport | None = None
    capture: dict[str, Any] = {}
    records: tuple[CallRecord, ...] = ()
    rows: list[Any] = []
    records_read = 0

    started = time.monotonic()
    if connection.ok is not True:
        checks.append(CheckResult("list", None, 0.0, "skipped: no connection"))
    else:
        wire_low, wire_high = to_wire(low), to_wire(high)
        body = protocol.encode_json(
            protocol.build_list_body(wire_low, wire_high, 1, DIAGNOSE_SAMPLE)
        )
        try:
            payload = await core.request("POST", protocol.LIST_PATH, body)
        except AlohubError as exc:
            checks.append(_failed("list", started, exc))
        else:
            list_check, list_envelope, rows, records = _read_list(
                payload, converter, started, wire_low, wire_high
            )
            checks.append(list_check)
            sample = [row for row in rows if isinstance(row, Mapping)][:DIAGNOSE_SAMPLE]
            for row in sample:
                tally.add(row, list_table)
            records_read = len(sample)
            if len(sample) < len(rows[:DIAGNOSE_SAMPLE]):
                notes.append("some list items are not JSON objects")
            capture["list"] = _redact_envelope(payload, rows, list_table, DIAGNOSE_SAMPLE)

    detail_shape: str | None = None
    recording: bool | None = None
    started = time.monotonic()
    call_id = next((record.call_id for record in records), None)
    if checks[-1].ok is not True:
        checks.append(CheckResult("detail", None, 0.0, "skipped: the list check did not pass"))
    elif call_id is None:
        checks.append(
            CheckResult("detail", None, 0.0, "skipped: no call listed (widen --start/--end)")
        )
    else:
        try:
            path = protocol.detail_path(call_id)
            url = session.base_url + path
            payload = await core.request("GET", path)
            found = protocol.read_detail(payload, call_id=call_id, method="GET", url=url)
        except ValueError as exc:  # a listed id no URL can carry
            checks.append(
                CheckResult(
                    "detail",
                    False,
                    time.monotonic() - started,
                    f"unusable call id: {exc}",
                    "format",
                )
            )
        except AlohubError as exc:
            checks.append(_failed("detail", started, exc))
        else:
            detail_envelope = _envelope(payload, _locate(payload, found), None)
            capture["detail"] = _redact_envelope(payload, found, detail_table, None)
            tally.add(found, detail_table)
            detail_shape = _transcript_shape(_first_alias_value(found, detail_table, "transcript"))
            try:
                detail = conv.structure_detail(converter, found)
            except ResponseFormatError as exc:
                checks.append(_failed("detail", started, exc, "the detail could not be read: "))
            else:
                recording = detail.recording_url is not None
                segments = len(detail.transcript.segments) if detail.transcript else 0
                checks.append(
                    CheckResult(
                        "detail",
                        True,
                        time.monotonic() - started,
                        f"call {call_id}: "
                        + ("transcript read" if detail.transcript else "no transcript")
                        + (f" ({segments} segments)" if segments else ""),
                    )
                )

    fields = tally.fields()
    unset = [f.field for f in fields if not f.sources and f.field != "transcript"]
    if records_read and unset:
        notes.append("no key filled " + ", ".join(unset) + " in any sampled record")
    report = Diagnosis(
        base_url=session.base_url,
        checks=tuple(checks),
        list_envelope=list_envelope,
        detail_envelope=detail_envelope,
        records_read=records_read,
        fields=fields,
        unread_keys=tuple(tally.unread),
        recording_url_in_detail=recording,
        transcript_shape=detail_shape,
        notes=tuple(notes),
        capture=capture,
    )
    return redact_sample(report, secrets)


def _first_alias_value(
    record: Mapping[Any, Any], table: Sequence[tuple[str, str, tuple[str, ...]]], name: str
) -> object:
    """The raw value of the first key, in alias order, that the field ``name`` reads."""
    aliases = next((aliases for field, _, aliases in table if field == name), ())
    folded = {readers.fold_key(key): key for key in reversed(list(record)) if isinstance(key, str)}
    for alias in aliases:
        if alias in folded:
            return record[folded[alias]]
    return None


def _read_list(
    payload: Any, converter: Any, started: float, wire_low: str, wire_high: str
) -> tuple[CheckResult, EnvelopeReport | None, list[Any], tuple[CallRecord, ...]]:
    """Read a list body with the protocol's reader and the converter; never raise."""
    try:
        rows, total = protocol.read_list(payload)
    except AlohubError as exc:
        envelope = _envelope(payload, None, None)
        return _failed("list", started, exc), envelope, [], ()
    envelope = _envelope(payload, _locate(payload, rows), total)
    try:
        records = conv.structure_records(converter, rows)
    except ResponseFormatError as exc:
        check = _failed("list", started, exc, "the records could not be read: ")
        return check, envelope, rows, ()
    of_total = f" of {total}" if total is not None else ""
    summary = f"{len(records)}{of_total} records for {wire_low} .. {wire_high}"
    return CheckResult("list", True, time.monotonic() - started, summary), envelope, rows, records

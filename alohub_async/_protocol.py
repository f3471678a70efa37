"""The wire protocol as pure functions: no I/O, no aiohttp.

Following gidgethub's ``sansio`` module, everything here takes plain values
(status, headers, body) and returns data or raises the matching error, so it is tested
with recorded bodies from ``tests/samples/`` and the I/O layer in ``_session.py`` only
sends, reads and sleeps.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

from .errors import (
    APIResponseError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
)

_orjson_loads: Callable[[bytes], Any] | None
try:  # the optional "orjson" extra
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - exercised where orjson is absent
    _orjson_loads = None

__all__ = [
    "DEFAULT_BASE_URL",
    "LIST_PATH",
    "MAX_TOTAL",
    "PAGINATION_KEYS",
    "RECORD_KEYS",
    "TOTAL_KEYS",
    "build_list_body",
    "check_status",
    "decode_json",
    "detail_path",
    "encode_json",
    "normalize_base_url",
    "page_count",
    "parse_retry_after",
    "read_detail",
    "read_list",
    "validate_call_id",
    "validate_positive",
]

# Any run of 19 digits may be an integer orjson cannot hold exactly (beyond 64 bits). A
# regex scan costs more than the decode it guards; mapping digits to "0" and searching for
# 19 zeros runs at C speed (about 0.4 us per record).
_DIGITS_TO_ZERO = bytes.maketrans(b"0123456789", b"0000000000")
_WIDE_INTEGER = b"0" * 19
#: orjson's decoder when the extra is installed, else None (the standard library decodes).
_fast_loads: Callable[[bytes], Any] | None = _orjson_loads

DEFAULT_BASE_URL = "https://app.alohub.vn:9909"
LIST_PATH = "/api/report/call-logs"

#: Where a list envelope may keep its records, in the order they are looked for.
RECORD_KEYS = ("data", "items", "list", "records", "rows", "results", "content")
#: Where a list envelope may keep its total.
TOTAL_KEYS = (
    "total",
    "totalRecord",
    "totalRecords",
    "total_record",
    "total_records",
    "total_count",
    "totalCount",
    "totalElements",
    "totalItems",
    "count",
)
#: Blocks beside the records (or one level up) that may hold the total, e.g.
#: ``{"data": [...], "meta": {"total": N}}``.
PAGINATION_KEYS = ("pagination", "meta", "paging", "pageInfo", "page_info", "pager")
#: Totals above this are refused: no JSON producer counts rows beyond 2**53 exactly.
MAX_TOTAL = 2**53
_MAX_TOTAL_DIGITS = len(str(MAX_TOTAL))
_DIGITS_ONLY = re.compile(r"[0-9]+")
_CODE_KEYS = ("error_code", "errorCode", "code")
_MESSAGE_KEYS = ("error_message", "errorMessage", "message", "msg")
_FALSE_WORDS = frozenset({"0", "false", "no", "fail", "failed", "error", ""})
_FAILED_STATUS_WORDS = frozenset({"error", "fail"})
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_BAD_ID = re.compile(r"[/?#%\s]|\.\.|^\.$")
#: Retry-After values are capped to this many seconds.
MAX_RETRY_AFTER = 60.0


# --- requests ---------------------------------------------------------------------------


def normalize_base_url(base_url: str) -> str:
    """Check a base URL and return it without a trailing slash.

    It must be ``https://``, except for loopback hosts, which may use ``http://`` (the
    fake server and local tunnels). Credentials, query strings and fragments are refused.
    """
    if not isinstance(base_url, str) or not base_url.strip():
        raise ValueError("base_url must be a non-empty string")
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an http(s) URL with a host, got {base_url!r}")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        raise ValueError(
            "base_url must use https:// (plain http:// is only allowed for "
            f"127.0.0.1, localhost and ::1), got {base_url!r}"
        )
    if parts.username or parts.password:
        raise ValueError("base_url must not carry credentials; pass api_key/access_token")
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not have a query or fragment, got {base_url!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValueError(f"base_url has an invalid port: {base_url!r}") from None
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def validate_positive(name: str, value: object) -> int:
    """Return ``value`` if it is a positive int (not a bool), else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def validate_call_id(call_id: object) -> str:
    """Return ``call_id`` if it is safe to put in a URL path, else raise ValueError.

    Empty ids, ``.``, and ids containing ``/ ? # %``, whitespace or ``..`` are refused,
    so a call id can never change which endpoint is called.
    """
    if not isinstance(call_id, str) or not call_id:
        raise ValueError(f"call_id must be a non-empty string, got {call_id!r}")
    if _BAD_ID.search(call_id) or not call_id.isprintable():
        raise ValueError(
            f"call_id {call_id!r} contains a character that is not allowed "
            "(/ ? # %, whitespace, control characters, '..' or a lone '.')"
        )
    return call_id


def detail_path(call_id: str) -> str:
    """Return the path of one call's details; ``call_id`` is validated first."""
    return f"{LIST_PATH}/{quote(validate_call_id(call_id), safe='')}"


def build_list_body(start: str, end: str, page: int, limit: int) -> dict[str, Any]:
    """Build the list request body; note the backend's spelling ``callEndtime``."""
    return {"callStartTime": start, "callEndtime": end, "page": page, "limit": limit}


def encode_json(body: Mapping[str, Any]) -> bytes:
    """Serialize a request body compactly as UTF-8 JSON."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def page_count(total: int, page_size: int) -> int:
    """How many pages of ``page_size`` hold ``total`` records (at least one).

    Integer arithmetic: a float division overflows on totals of a few hundred digits.
    """
    return max(1, -(-total // page_size))


# --- responses --------------------------------------------------------------------------


def decode_json(body: bytes) -> Any:
    """Decode a response body as JSON, or raise ResponseFormatError.

    With the ``orjson`` extra installed, orjson decodes first (about twice as fast as the
    standard library). Whatever it refuses (NaN) or would read differently (integers
    beyond 64 bits, which it turns into floats) is left to ``json``, so the result never
    depends on the extra.
    """
    if _fast_loads is not None and body.translate(_DIGITS_TO_ZERO).find(_WIDE_INTEGER) < 0:
        try:
            return _fast_loads(body)
        except ValueError:
            pass
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        snippet = body[:200].decode("utf-8", "replace")
        raise ResponseFormatError(f"response body is not JSON: {snippet!r}") from exc


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Read a ``Retry-After`` header (seconds or HTTP date) as seconds, capped at 60."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def check_status(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str,
    url: str,
) -> None:
    """Raise the APIStatusError subclass for a non-2xx status; return for 2xx."""
    if 200 <= status < 300:
        return
    text = body[:2000].decode("utf-8", "replace")
    kwargs: dict[str, Any] = {
        "method": method,
        "url": url,
        "retry_after": parse_retry_after(headers.get("Retry-After")),
    }
    error: APIStatusError
    if status in (400, 422):
        error = BadRequestError(status, text, **kwargs)
    elif status == 401:
        error = AuthenticationError(status, text, **kwargs)
    elif status == 403:
        error = PermissionDeniedError(status, text, **kwargs)
    elif status == 404:
        error = NotFoundError(status, text, **kwargs)
    elif status == 429:
        error = RateLimitError(status, text, **kwargs)
    elif status >= 500:
        error = ServerError(status, text, **kwargs)
    else:
        error = APIStatusError(status, text, **kwargs)
    raise error


def _first(payload: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = payload.get(key)
        if value is not None:
            return str(value)
    return None


def _is_false(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _FALSE_WORDS
    return not value


def body_failure(payload: Mapping[str, Any], *, records_key: str | None) -> APIResponseError | None:
    """Return the APIResponseError a 2xx envelope reports, or ``None`` if it reports success.

    A ``success`` key decides alone (truthy wins). Without one, ``status: "error"``/``"fail"``
    is a failure, and so is an ``error_code``/``error_message`` when the records are absent
    or null (``records_key`` is where they were found, ``None`` when nowhere).
    """
    code = _first(payload, _CODE_KEYS)
    message = _first(payload, _MESSAGE_KEYS)
    if "success" in payload:
        return APIResponseError(code, message) if _is_false(payload["success"]) else None
    status = payload.get("status")
    if isinstance(status, str) and status.strip().lower() in _FAILED_STATUS_WORDS:
        return APIResponseError(code, message)
    has_error_fields = any(
        payload.get(key) not in (None, "") for key in _CODE_KEYS[:2] + _MESSAGE_KEYS[:2]
    )
    if has_error_fields and (records_key is None or payload.get(records_key) is None):
        return APIResponseError(code, message)
    return None


def _total_value(value: object) -> int | None:
    """Read one total value: a non-negative integer, as a number or as plain digits."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        total = value
    elif isinstance(value, float) and value.is_integer():
        total = int(value)
    elif isinstance(value, str) and _DIGITS_ONLY.fullmatch(value.strip()):
        # ASCII digits only: "1.000", "1,000" and "²" are unreadable (a thousands
        # separator cannot be told from a decimal point). A long digit string is
        # refused before int(), which raises ValueError past 4,300 digits.
        text = value.strip()
        total = int(text) if len(text) <= _MAX_TOTAL_DIGITS else MAX_TOTAL + 1
    else:
        return None
    if total < 0:
        return None
    if total > MAX_TOTAL:
        raise ResponseFormatError(
            f"list response total is larger than {MAX_TOTAL}: not a plausible row count"
        )
    return total


def _read_total(payload: Mapping[str, Any]) -> int | None:
    """Find a total beside the records, or in a pagination block such as ``meta.total``."""
    for key in TOTAL_KEYS:
        total = _total_value(payload.get(key))
        if total is not None:
            return total
    for key in PAGINATION_KEYS:
        block = payload.get(key)
        if isinstance(block, Mapping):
            for total_key in TOTAL_KEYS:
                total = _total_value(block.get(total_key))
                if total is not None:
                    return total
    return None


def _find_records(container: Mapping[str, Any]) -> tuple[str | None, list[Any] | None]:
    for key in RECORD_KEYS:
        value = container.get(key)
        if isinstance(value, list):
            return key, value
    return None, None


def read_list(payload: Any, *, limit: int | None = None) -> tuple[list[Any], int | None]:
    """Find the records and the total in a list response, or raise.

    Accepts a bare list, a dict with the records under one of `RECORD_KEYS`, or
    one level deeper under ``data``; the total sits beside the records or one level up,
    directly or inside a pagination block (`PAGINATION_KEYS`, e.g. ``meta.total``). An
    unreadable total (``"1.000"``, ``"n/a"``) reads as no total.
    Raises APIResponseError for a body that reports failure and ResponseFormatError
    when no list can be found, when the total is absurdly large, or when the page holds
    more than ``limit`` records (a server ignoring ``limit``: refused before any record
    is structured, so a huge page cannot stall the event loop).
    """
    if isinstance(payload, list):
        return _within_limit(payload, limit), None
    if not isinstance(payload, Mapping):
        raise ResponseFormatError(
            f"list response is neither an object nor a list: {type(payload).__name__}"
        )
    key, rows = _find_records(payload)
    total = _read_total(payload)
    if rows is None:
        inner = payload.get("data")
        if isinstance(inner, Mapping):
            _, rows = _find_records(inner)
            if rows is not None:
                key = "data"
                inner_total = _read_total(inner)
                total = inner_total if inner_total is not None else total
    failure = body_failure(payload, records_key=key if key is not None else "data")
    if failure is not None:
        raise failure
    if rows is None:
        if "data" in payload and payload["data"] is None and "success" in payload:
            return [], total  # an explicit success with no data: an empty page
        raise ResponseFormatError(
            "list response has no list of records (keys seen: "
            + ", ".join(sorted(map(str, payload)))
            + ")"
        )
    return _within_limit(rows, limit), total


def _within_limit(rows: list[Any], limit: int | None) -> list[Any]:
    if limit is not None and len(rows) > limit:
        raise ResponseFormatError(
            f"list response holds {len(rows)} records, more than the {limit} asked for: "
            "the server ignores 'limit'"
        )
    return rows


def read_detail(payload: Any, *, call_id: str, method: str = "GET", url: str = "") -> Any:
    """Unwrap a detail response: the object itself or under ``data``.

    ``data: null`` (or an empty list) means the call does not exist: NotFoundError.
    """
    if not isinstance(payload, Mapping):
        raise ResponseFormatError(f"detail response is not an object: {type(payload).__name__}")
    failure = body_failure(payload, records_key="data" if "data" in payload else None)
    if failure is not None:
        raise failure
    if "data" not in payload:
        return payload
    data = payload["data"]
    if isinstance(data, list) and len(data) <= 1:
        data = data[0] if data else None
    if data is None:
        raise NotFoundError(
            200,
            json.dumps(payload, ensure_ascii=False, default=str),
            method=method,
            url=url,
            message=f"call {call_id!r} not found (the response's data is null)",
        )
    if not isinstance(data, Mapping):
        raise ResponseFormatError(f"detail response data is not an object: {type(data).__name__}")
    return data

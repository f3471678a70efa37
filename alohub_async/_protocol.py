"""The wire protocol as pure functions: no I/O, no aiohttp.

Following gidgethub's ``sansio`` module, everything here takes plain values
(status, headers, body) and returns data or raises the matching error, so it is tested
with recorded bodies from ``tests/samples/`` and the I/O layer in ``_session.py`` only
sends, reads and sleeps.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

from ._environment import DEFAULT_BASE_URL
from ._redact import excerpt
from .errors import (
    AlohubError,
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
    "BODY_ERROR_CLASSES",
    "DEFAULT_BASE_URL",
    "LIST_PATH",
    "MAX_TOTAL",
    "PAGINATION_KEYS",
    "RECORD_KEYS",
    "TOTAL_KEYS",
    "body_failure",
    "build_list_body",
    "check_body",
    "check_status",
    "credential_headers",
    "decode_json",
    "detail_path",
    "encode_json",
    "normalize_base_url",
    "page_count",
    "parse_retry_after",
    "read_detail",
    "read_list",
    "read_response",
    "request_headers",
    "validate_call_id",
    "validate_positive",
]

# Any run of 19 digits may be an integer orjson cannot hold exactly (beyond 64 bits). A
# regex scan costs more than the decode it guards; mapping digits to "0" and searching for
# 19 zeros runs at C speed (about 0.4 us per record).
# The same pass maps "{" to "[", so one count bounds the nesting depth (see decode_json).
_SCAN_TABLE = bytes.maketrans(b"0123456789{", b"0000000000[")
_WIDE_INTEGER = b"0" * 19
_UNDECODED = object()

MAX_JSON_DEPTH = 400
"""JSON nested deeper than this is refused with ResponseFormatError."""

# orjson's decoder when the extra is installed, else None (the standard library decodes).
_fast_loads: Callable[[bytes], Any] | None = _orjson_loads

LIST_PATH = "/api/report/call-logs"

RECORD_KEYS = ("data", "items", "list", "records", "rows", "results", "content")
"""Where a list envelope may keep its records, in the order they are looked for."""

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
"""Where a list envelope may keep its total."""

PAGINATION_KEYS = ("pagination", "meta", "paging", "pageInfo", "page_info", "pager")
"""Blocks beside the records (or one level up) that may hold the total, e.g.
``{"data": [...], "meta": {"total": N}}``."""

MAX_TOTAL = 2**53
"""Totals above this are refused: no JSON producer counts rows beyond 2**53 exactly."""

_MAX_TOTAL_DIGITS = len(str(MAX_TOTAL))
_DIGITS_ONLY = re.compile(r"[0-9]+")
_CODE_KEYS = ("error_code", "errorCode", "code")
_MESSAGE_KEYS = ("error_message", "errorMessage", "message", "msg")
# The only ``success`` values that mean success (besides ``1`` and ``true``). Every
# Alohub client found (its n8n node, its webphone SDK) treats anything else as failure.
_TRUE_WORDS = frozenset({"1", "true"})

BODY_ERROR_CLASSES: Mapping[str, type[APIStatusError]] = {
    "0": ServerError,  # system error
    "1": AuthenticationError,  # invalid API key
    "4": RateLimitError,  # rate limit exceeded
    "10": ServerError,  # service unavailable
}
"""Body-level error codes of known meaning, sent with HTTP 200 and ``success: "0"`` on Alohub's
platform, and the class of their HTTP equivalent (so they are retried, or refresh the token, the
same way). Other codes stay `APIResponseError`."""

# Error bodies larger than this are not parsed for a code (a snippet is kept anyway).
_MAX_ERROR_JSON = 64 * 1024
_FAILED_STATUS_WORDS = frozenset({"error", "fail"})
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_BAD_ID = re.compile(r"[/?#%\s]|\.\.|^\.$")

MAX_RETRY_AFTER = 60.0
"""Retry-After values are capped to this many seconds."""

# How much of a refused base URL, or of a redirect's Location, an error message quotes.
_URL_SHOWN = 200
# How much of a body that is not JSON the error message quotes.
_NOT_JSON_SHOWN = 200


# --- requests ---------------------------------------------------------------------------


def _describe_url(raw: str) -> str:
    """Quote a refused URL for an error message without its userinfo, query or fragment.

    Works on the raw text rather than on ``urlsplit``'s reading of it, which puts a
    password into the path when the scheme is missing (``user:pw@host``) or the password
    holds a ``/``.
    """
    text = re.split(r"[?#]", raw, maxsplit=1)[0]
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    if "@" in rest:  # everything up to the last "@" may be userinfo
        rest = "***@" + rest.rpartition("@")[2]
    described = f"{scheme}{sep}{rest}"
    if len(described) > _URL_SHOWN:
        described = described[:_URL_SHOWN] + "..."
    hidden = " (query not shown)" if text != raw else ""
    return f"{described!r}{hidden}"


def normalize_base_url(base_url: str) -> str:
    """Check a base URL and return it without a trailing slash.

    It must be ``https://``, except for loopback hosts, which may use ``http://`` (the
    fake server and local tunnels). Credentials, query strings and fragments are refused,
    and a refused URL is quoted without its userinfo and query, where secrets live.
    """
    if not isinstance(base_url, str) or not base_url.strip():
        raise ValueError("base_url must be a non-empty string")
    raw = base_url.strip()
    parts = urlsplit(raw)
    if parts.username or parts.password or "@" in parts.netloc:
        raise ValueError(
            "base_url must not carry credentials; pass api_key/access_token "
            f"(got {_describe_url(raw)})"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an http(s) URL with a host, got {_describe_url(raw)}")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        raise ValueError(
            "base_url must use https:// (plain http:// is only allowed for "
            f"127.0.0.1, localhost and ::1), got {_describe_url(raw)}"
        )
    if parts.query or parts.fragment or "?" in raw or "#" in raw:
        raise ValueError(f"base_url must not have a query or fragment, got {_describe_url(raw)}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValueError(f"base_url has an invalid port: {_describe_url(raw)}") from None
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


# What every API request accepts; ``X-Requested-With`` is what the web app sends, and
# some deployments route on it.
_ACCEPT_API = "application/json, text/plain, */*"


def request_headers(
    api_key: str, token: str, user_agent: str, *, json_body: bool = False
) -> dict[str, str]:
    """Return the headers of one API request: the raw key, the token, and what is sent.

    A fresh dict each call (the caller's HTTP library may keep or change it). Callers
    pass the result straight into the request rather than into a local variable, so
    the secrets never sit in the locals of a frame that an error reporter may capture.
    """
    headers = {
        "Authorization": api_key,
        "Accept": _ACCEPT_API,
        "X-Requested-With": "XMLHttpRequest",
        "User-Agent": user_agent,
    }
    if json_body:
        headers["Content-Type"] = "application/json"
    headers["X-ACCESS-TOKEN"] = token
    return headers


def credential_headers(api_key: str, token: str) -> dict[str, str]:
    """Return only the credential headers, for requests that set the others themselves."""
    return {"Authorization": api_key, "X-ACCESS-TOKEN": token}


def encode_json(body: Any) -> bytes:
    """Serialize a body compactly as UTF-8 JSON (the fake's answers are encoded the same way)."""
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
    standard library). Whatever it refuses (NaN, nesting deeper than 1024) or would read
    differently (integers beyond 64 bits, which it turns into floats) is left to ``json``,
    so the result never depends on the extra.

    JSON nested more than `MAX_JSON_DEPTH` levels is refused too: it decodes (orjson
    goes to 1024 levels), but any code that later walks it recursively (``str``,
    ``repr``, ``json.dumps``) would hit the interpreter's stack limit, and nothing a
    server sends may raise anything but AlohubError. Only a body holding more opening
    brackets than the limit can be that deep, so short pages skip the depth check; on
    longer ones the same count stops the walk once the records are counted (see
    `_nested_deeper_than`), so flat records are never looked into.

    orjson refuses nesting past 1024 levels by itself, without recursing in Python, but
    400 to 1024 levels decode: hence the check on both decoders.
    """
    value: Any = _UNDECODED
    if _fast_loads is not None:
        scanned = body.translate(_SCAN_TABLE)
        openers = scanned.count(b"[")
        if scanned.find(_WIDE_INTEGER) < 0:
            with contextlib.suppress(ValueError):  # left to the standard library
                value = _fast_loads(body)
    else:
        openers = body.count(b"[") + body.count(b"{")
    if value is _UNDECODED:
        value = _stdlib_loads(body)
    if openers > MAX_JSON_DEPTH and _nested_deeper_than(value, MAX_JSON_DEPTH, openers):
        raise _too_deep()
    return value


def _too_deep() -> ResponseFormatError:
    return ResponseFormatError(
        f"response body is JSON nested too deeply to read (over {MAX_JSON_DEPTH} levels)"
    )


def _stdlib_loads(body: bytes) -> Any:
    try:
        return json.loads(body)
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError) as exc:
        # Not chained: a JSONDecodeError keeps the whole body in ``.doc``, and the
        # message below already says where decoding stopped.
        reason = str(exc)
        cut = len(body) > _NOT_JSON_SHOWN
        head = body[:_NOT_JSON_SHOWN].decode("utf-8", "replace")
        snippet = excerpt(head, _NOT_JSON_SHOWN, cut=cut)
        error = ResponseFormatError(f"response body is not JSON ({reason}): {snippet!r}")
    raise error


_CONTAINERS = frozenset((dict, list))


def _nested_deeper_than(value: Any, limit: int, containers: int | None = None) -> bool:
    """Tell whether containers nest more than ``limit`` levels (iteratively: no recursion).

    The walk goes one level at a time and asks of each container, at C speed
    (``isdisjoint`` over ``map(type, ...)``), whether it holds any container at all, so a
    record of plain values costs no Python-level loop over its values.

    ``containers``, when given, must be at least the number of containers in ``value``
    (`decode_json` passes the count of opening brackets in the body, strings included).
    It ends the walk early: with ``seen`` containers found at the first ``depth`` levels,
    any deeper chain holds one container per further level, all among the
    ``containers - seen`` not seen yet, so nothing nests deeper than
    ``depth + containers - seen``. On a list page (an envelope, its list, flat records)
    that bound falls to 3 once the records are counted, so their values are never
    walked: the check costs about 0.05 us a record instead of 0.4.
    """
    if type(value) is not dict and type(value) is not list:
        return False  # a string full of brackets is not nested
    level: list[Any] = [value]
    depth = seen = 1
    while depth <= limit:
        if containers is not None and depth + containers - seen <= limit:
            return False  # too few containers left to go deeper than the limit
        below: list[Any] = []
        for current in level:
            items = current.values() if type(current) is dict else current
            if not _CONTAINERS.isdisjoint(map(type, items)):
                below += [item for item in items if type(item) is dict or type(item) is list]
        if not below:
            return False
        level = below
        depth += 1
        seen += len(below)
    return True  # containers remain below `limit` levels


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Read a ``Retry-After`` header (seconds or HTTP date) as seconds, capped at 60.

    Garbage, a negative number and a date in the past all read as ``None`` (no hint).
    """
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
    if math.isnan(seconds) or seconds < 0:
        # A negative delay or a date already past says nothing usable: the caller's
        # normal backoff applies, rather than retrying at once.
        return None
    return min(seconds, MAX_RETRY_AFTER)


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
    kwargs.update(_reported(body))
    error: APIStatusError
    if 300 <= status < 400:
        # Redirects are never followed (aiohttp would re-send our headers to the target).
        error = APIStatusError(
            status, text, message=_redirect_message(status, headers, method, url), **kwargs
        )
    elif status in (400, 422):
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


def _redirect_message(status: int, headers: Mapping[str, str], method: str, url: str) -> str:
    location = headers.get("Location")
    if location:
        # Server text: escape what a terminal would act on, mask secrets, then cap.
        shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in location)
        target = excerpt(shown, _URL_SHOWN)
        if len(shown) > _URL_SHOWN:
            target += "..."
    else:
        target = "an unspecified location"
    return (
        f"HTTP {status} for {method} {url}: redirect to {target} not followed "
        "(credentials are never sent to another origin)"
    )


def _first(payload: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = payload.get(key)
        # Only scalars: a nested object under "message" is no message.
        if value is not None and not isinstance(value, (Mapping, list)):
            return str(value)
    return None


def _reported(body: bytes) -> dict[str, str | None]:
    """Read the code and message an HTTP error's JSON body reports, if any.

    Alohub answers ``{"success": "0", "error_code": ..., "error_message": ...}``; the
    gateway in front of its newer API answers ``{"code": "UNAUTHORIZED", "message": ...}``
    (also seen nested under ``"error"``). Anything else reports nothing.
    """
    if len(body) > _MAX_ERROR_JSON or not body.lstrip().startswith(b"{"):
        return {}
    try:
        payload = decode_json(body)
    except (ResponseFormatError, RecursionError):
        return {}
    if not isinstance(payload, Mapping):
        return {}
    nested = payload.get("error")
    source = nested if isinstance(nested, Mapping) else payload
    code, message = _first(source, _CODE_KEYS), _first(source, _MESSAGE_KEYS)
    if code is None and message is None:
        return {}
    return {"code": code, "error_message": message}


def _is_success(value: object) -> bool:
    """Tell whether a present ``success`` value means success: "1", 1, true or "true"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in _TRUE_WORDS


def body_failure(
    payload: Mapping[str, Any],
    *,
    records_key: str | None,
    status: int = 200,
    method: str = "",
    url: str = "",
    retry_after: float | None = None,
) -> AlohubError | None:
    """Return the error a 2xx envelope reports, or ``None`` if it reports success.

    A ``success`` key decides alone: only ``"1"``, ``1``, ``true`` and ``"true"`` are
    success. Without one, ``status: "error"``/``"fail"`` is a failure, and so is an
    ``error_code``/``error_message`` when the records are absent or null (``records_key``
    is where they were found, ``None`` when nowhere).

    A failure whose code is in `BODY_ERROR_CLASSES` is that class, with ``status`` the
    real HTTP status and the body's code and message; any other is an APIResponseError.
    """
    if "success" in payload:
        failed = not _is_success(payload["success"])
    else:
        state = payload.get("status")
        has_error_fields = any(
            payload.get(key) not in (None, "") for key in _CODE_KEYS[:2] + _MESSAGE_KEYS[:2]
        )
        failed = (isinstance(state, str) and state.strip().lower() in _FAILED_STATUS_WORDS) or (
            has_error_fields and (records_key is None or payload.get(records_key) is None)
        )
    if not failed:
        return None
    # Read only for a failure: this runs on every response body.
    code = _first(payload, _CODE_KEYS)
    message = _first(payload, _MESSAGE_KEYS)
    cls = BODY_ERROR_CLASSES.get(code.strip()) if code is not None else None
    if cls is None:
        return APIResponseError(code, message)
    return cls(
        status,
        json.dumps(payload, ensure_ascii=False, default=str),
        method=method,
        url=url,
        retry_after=retry_after,
        code=code,
        error_message=message,
    )


def check_body(
    payload: Any, *, status: int, headers: Mapping[str, str], method: str, url: str
) -> None:
    """Raise the classed error a 2xx body reports with a known code; return otherwise.

    Run on every decoded body inside the retry loop, so such failures are retried (or
    refresh the token) like their HTTP equivalents. Bodies reporting other failures are
    left to `read_list`/`read_detail`, which know where the records should be.
    """
    if not isinstance(payload, Mapping):
        return
    # read_list's and read_detail's notion of where the records are, without the shape:
    # an absent "data" reads like a null one.
    records_key = _find_records(payload)[0] or "data"
    failure = body_failure(payload, records_key=records_key, status=status, method=method, url=url)
    if isinstance(failure, APIStatusError):
        # Read only for a failure: this runs on every response body.
        failure.retry_after = parse_retry_after(headers.get("Retry-After"))
        raise failure


def read_response(
    status: int, headers: Mapping[str, str], body: bytes, *, method: str, url: str
) -> Any:
    """Check one response and return its decoded JSON body, or raise what it reports.

    An HTTP error status raises its class (`check_status`), an unreadable body
    ResponseFormatError, and a 2xx body with a known error code its class (`check_body`).
    """
    check_status(status, headers, body, method=method, url=url)
    payload = decode_json(body)
    check_body(payload, status=status, headers=headers, method=method, url=url)
    return payload


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

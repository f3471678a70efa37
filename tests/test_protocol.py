"""The pure wire-protocol functions, fed recorded bodies from tests/samples/."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alohub_async import _protocol as protocol
from alohub_async.errors import (
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

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("name", "count", "total"),
    [
        ("list_default.json", 2, 2),
        ("list_bare.json", 3, None),
        ("list_items_total.json", 1, 1),
        ("list_nested_data_items.json", 3, 3),
        ("list_nested_data_data_total_up.json", 1, 41),
        ("list_rows_count.json", 1, 1),
        ("list_records_no_total.json", 2, None),
        ("list_empty_success.json", 0, None),
    ],
)
def test_read_list_finds_records_and_total(name: str, count: int, total: int | None) -> None:
    """Every supported list envelope yields its records and total."""
    rows, found_total = protocol.read_list(sample(name))
    assert len(rows) == count
    assert found_total == total


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("failure_success_0.json", "TOKEN_EXPIRED", "Token đã hết hạn"),
        ("failure_success_false.json", "PERMISSION_DENIED", "Không có quyền truy cập"),
        ("failure_status_error.json", None, "Internal server error"),
        ("failure_error_code_no_data.json", "INVALID_PARAM", "callStartTime is required"),
        ("failure_error_code_null_data.json", "SYSTEM_ERROR", "Hệ thống bận"),
    ],
)
def test_read_list_raises_body_failures(name: str, code: str | None, message: str) -> None:
    """A 2xx body that reports failure is an APIResponseError, never an empty page."""
    with pytest.raises(APIResponseError) as info:
        protocol.read_list(sample(name))
    assert info.value.code == code
    assert info.value.server_message == message


def test_truthy_success_wins_over_error_code() -> None:
    """success "1" with an error_code of SUCCESS and no rows is an empty page."""
    body = {"success": "1", "error_code": "SUCCESS", "error_message": "SUCCESS", "data": []}
    assert protocol.read_list(body) == ([], None)


@pytest.mark.parametrize("flag", [False, 0, "0", "false", "FALSE", ""])
def test_falsy_success_values_are_failures(flag: object) -> None:
    """Every spelling of a false success flag raises."""
    with pytest.raises(APIResponseError):
        protocol.read_list({"success": flag, "data": [{"id": 1}]})


@pytest.mark.parametrize(
    "flag", ["2", "-1", 2, -1, 0.5, None, "yes", "ok", "success", "t", [], {}, [1]]
)
def test_only_one_and_true_mean_success(flag: object) -> None:
    """Any present success value other than "1", 1, true and "true" is a failure.

    Every Alohub client found (its n8n node, its webphone SDK) reads it that way, so
    "2" or "-1" must not pass as success with whatever records are beside them.
    """
    with pytest.raises(APIResponseError):
        protocol.read_list({"success": flag, "data": [{"id": 1}]})
    with pytest.raises(APIResponseError):
        protocol.read_detail({"success": flag, "data": {"id": 1}}, call_id="x")


@pytest.mark.parametrize("flag", ["1", 1, 1.0, True, "true", "TRUE", " 1 ", "True"])
def test_truthy_success_values(flag: object) -> None:
    """Success means "1", 1, true or "true" (any case, surrounding blanks ignored)."""
    assert protocol.read_list({"success": flag, "data": [{"id": 1}]}) == ([{"id": 1}], None)
    assert protocol.read_detail({"success": flag, "data": {"id": 1}}, call_id="x") == {"id": 1}


def test_error_code_beside_records_is_not_a_failure() -> None:
    """Without a success key, error fields next to a present list are informational."""
    rows, _ = protocol.read_list({"error_code": "0", "error_message": "", "data": [{"id": 1}]})
    assert rows == [{"id": 1}]


@pytest.mark.parametrize(
    "body",
    [
        {"call_id": "a", "error_code": None, "status": "ANSWERED"},
        {"call_id": "a", "error_message": ""},
    ],
)
def test_empty_error_fields_are_not_failures(body: dict[str, Any]) -> None:
    """Null or empty error fields on a bare detail do not make it a failure."""
    assert protocol.read_detail(body, call_id="a") is body


def test_camel_case_error_message_is_read() -> None:
    """errorMessage beside null data is reported as the failure's message."""
    with pytest.raises(APIResponseError) as info:
        protocol.read_list({"errorMessage": "hết phiên", "data": None})
    assert info.value.server_message == "hết phiên"


def test_success_with_null_data_is_an_empty_page() -> None:
    """An explicit success with data null reads as no records."""
    assert protocol.read_list({"success": "1", "data": None, "totalRecord": 0}) == ([], 0)


@pytest.mark.parametrize("body", [sample("malformed_no_list.json"), {"foo": 1}, "text", 3])
def test_read_list_without_a_list_is_a_format_error(body: object) -> None:
    """A body with no list of records anywhere is a ResponseFormatError."""
    with pytest.raises(ResponseFormatError):
        protocol.read_list(body)


def test_format_error_names_the_keys_seen() -> None:
    """The format error says which keys the body had."""
    with pytest.raises(ResponseFormatError, match="foo, message"):
        protocol.read_list({"message": "x", "foo": 1})


@pytest.mark.parametrize("key", protocol.TOTAL_KEYS)
def test_every_total_key_is_read(key: str) -> None:
    """Each documented total key is recognised beside the records."""
    assert protocol.read_list({"items": [], key: 7})[1] == 7


@pytest.mark.parametrize("key", protocol.RECORD_KEYS)
def test_every_records_key_is_read(key: str) -> None:
    """Each documented records key is recognised, flat and nested under data."""
    assert protocol.read_list({key: [1]})[0] == [1]
    assert protocol.read_list({"data": {key: [2], "total": 5}}) == ([2], 5)


@pytest.mark.parametrize("value", [-1, "abc", True, 1.5, None])
def test_unusable_totals_are_ignored(value: object) -> None:
    """Negative, non-numeric, boolean and fractional totals read as no total."""
    assert protocol.read_list({"data": [], "total": value})[1] is None


def test_nested_total_beats_the_outer_one() -> None:
    """A total beside the nested list is preferred to one a level up."""
    assert protocol.read_list({"data": {"items": [], "total": 3}, "totalRecord": 9})[1] == 3


def test_read_detail_unwraps_data() -> None:
    """A detail under data is returned unwrapped."""
    record = protocol.read_detail(sample("detail_wrapped.json"), call_id="x")
    assert record["callId"] == "20260121095227-IMCRRNJW-342"


def test_read_detail_accepts_the_bare_object() -> None:
    """A detail that is the object itself is returned as is."""
    body = sample("detail_bare.json")
    assert protocol.read_detail(body, call_id="x") is body


def test_read_detail_null_data_is_not_found() -> None:
    """data: null for a detail is a NotFoundError naming the call."""
    with pytest.raises(NotFoundError, match="abc"):
        protocol.read_detail(sample("detail_null.json"), call_id="abc")


def test_read_detail_empty_list_is_not_found() -> None:
    """data: [] for a detail is a NotFoundError too."""
    with pytest.raises(NotFoundError):
        protocol.read_detail({"success": "1", "data": []}, call_id="abc")


def test_read_detail_single_item_list_is_unwrapped() -> None:
    """data: [record] for a detail is that record."""
    assert protocol.read_detail({"data": [{"id": 1}]}, call_id="1") == {"id": 1}


def test_read_detail_failure_body() -> None:
    """A failed detail body is an APIResponseError."""
    with pytest.raises(APIResponseError) as info:
        protocol.read_detail(sample("detail_failure.json"), call_id="x")
    assert info.value.code == "NOT_FOUND"


@pytest.mark.parametrize("body", [[1, 2], "x", {"data": "x"}, {"data": [1, 2]}])
def test_read_detail_odd_shapes_are_format_errors(body: object) -> None:
    """A detail that is not an object (or data that is not one) is a ResponseFormatError."""
    with pytest.raises(ResponseFormatError):
        protocol.read_detail(body, call_id="x")


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (422, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (408, APIStatusError),
        (409, APIStatusError),
        (302, APIStatusError),
    ],
)
def test_check_status_maps_each_status(status: int, cls: type[APIStatusError]) -> None:
    """Each error status raises its class, with status, method, url and a body snippet."""
    with pytest.raises(cls) as info:
        protocol.check_status(status, {}, b"x" * 2000, method="GET", url="https://h/p")
    assert type(info.value) is cls
    assert info.value.status == status
    assert info.value.method == "GET"
    assert info.value.url == "https://h/p"
    assert len(info.value.body) == 500


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_check_status_passes_2xx(status: int) -> None:
    """2xx statuses raise nothing."""
    protocol.check_status(status, {}, b"", method="GET", url="u")


def test_check_status_reads_retry_after() -> None:
    """A 429's Retry-After is kept on the error."""
    with pytest.raises(RateLimitError) as info:
        protocol.check_status(429, {"Retry-After": "7"}, b"", method="POST", url="u")
    assert info.value.retry_after == 7.0


def test_parse_retry_after_seconds_and_cap() -> None:
    """Retry-After in seconds is read and capped at 60."""
    assert protocol.parse_retry_after("2.5") == 2.5
    assert protocol.parse_retry_after("3600") == 60.0
    assert protocol.parse_retry_after("-3") is None  # no usable hint: normal backoff


def test_parse_retry_after_http_date() -> None:
    """Retry-After as an HTTP date is read relative to now."""
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    header = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert protocol.parse_retry_after(header, now=now) == 30.0


@pytest.mark.parametrize("value", [None, "", "soon", "nan"])
def test_parse_retry_after_garbage(value: str | None) -> None:
    """An absent or unreadable Retry-After is None."""
    assert protocol.parse_retry_after(value) is None


def test_build_list_body_spells_call_endtime() -> None:
    """The list body uses the backend's callEndtime spelling and all four fields."""
    body = protocol.build_list_body("a", "b", 2, 50)
    assert body == {"callStartTime": "a", "callEndtime": "b", "page": 2, "limit": 50}


def test_encode_json_is_compact_utf8() -> None:
    """Request bodies are compact UTF-8 JSON."""
    assert protocol.encode_json({"a": "ă", "b": 1}) == '{"a":"ă","b":1}'.encode()


def test_decode_json_same_result_with_or_without_orjson(decoder: str) -> None:
    """Both decoders give the same values, NaN and huge integers included."""
    value = protocol.decode_json('{"a": "ă", "n": NaN}'.encode())
    assert value["a"] == "ă"
    assert value["n"] != value["n"]
    for big in (2**70, -(2**64), 10**19 * 9):
        assert protocol.decode_json(f'{{"id": {big}, "x": 1.5}}'.encode()) == {"id": big, "x": 1.5}


def test_decode_json_rejects_non_json_either_way(decoder: str) -> None:
    """Invalid JSON is a ResponseFormatError whichever decoder runs."""
    with pytest.raises(ResponseFormatError):
        protocol.decode_json(b"{oops")


def test_decode_json_rejects_non_json() -> None:
    """A body that is not JSON is a ResponseFormatError quoting its start."""
    with pytest.raises(ResponseFormatError, match="<html>"):
        protocol.decode_json(b"<html>oops</html>")


@pytest.mark.parametrize(
    "call_id",
    ["", ".", "a/b", "a?b", "a#b", "a%2F", "a b", "a\tb", "..", "a..b", "a\x00b", 5, None],
)
def test_validate_call_id_rejects_unsafe_ids(call_id: object) -> None:
    """Empty ids and ids with path, query or control characters are refused."""
    with pytest.raises(ValueError, match="call_id"):
        protocol.validate_call_id(call_id)


def test_detail_path() -> None:
    """The detail path appends the id to the list path."""
    assert (
        protocol.detail_path("20260121095227-IMCRRNJW-342")
        == "/api/report/call-logs/20260121095227-IMCRRNJW-342"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://app.alohub.vn:9909/", "https://app.alohub.vn:9909"),
        ("https://example.com/prefix/", "https://example.com/prefix"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:1", "http://localhost:1"),
        ("http://[::1]:9909", "http://[::1]:9909"),
    ],
)
def test_normalize_base_url_accepts(url: str, expected: str) -> None:
    """https anywhere and http on loopback are accepted, trailing slash removed."""
    assert protocol.normalize_base_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://app.alohub.vn:9909",
        "http://10.0.0.1",
        "ftp://example.com",
        "example.com",
        "",
        "https://user:pw@example.com",
        "https://example.com/?q=1",
        "https://example.com:abc",
    ],
)
def test_normalize_base_url_rejects(url: str) -> None:
    """Plain http off loopback, other schemes, credentials and queries are refused."""
    with pytest.raises(ValueError, match="base_url"):
        protocol.normalize_base_url(url)


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "3", None])
def test_validate_positive_rejects(value: object) -> None:
    """Non-positive numbers, bools and non-ints are refused."""
    with pytest.raises(ValueError, match="page_size"):
        protocol.validate_positive("page_size", value)


@pytest.mark.parametrize(
    ("total", "size", "pages"), [(0, 50, 1), (1, 50, 1), (50, 50, 1), (51, 50, 2)]
)
def test_page_count(total: int, size: int, pages: int) -> None:
    """page_count rounds up and is at least one."""
    assert protocol.page_count(total, size) == pages


# --- the depth guard ---------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.integers() | st.text(alphabet="[]{}a", max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=30,
)


def _depth(value: Any) -> int:
    """How many containers nest at most (the reference: plain recursion)."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@given(value=_JSON, limit=st.integers(min_value=0, max_value=8))
def test_depth_check_agrees_with_plain_recursion(value: Any, limit: int) -> None:
    """The level-by-level walk answers exactly what a recursive depth count does."""
    assert protocol._nested_deeper_than(value, limit) is (_depth(value) > limit)


def _containers(value: Any) -> int:
    """How many containers ``value`` holds, itself included."""
    if isinstance(value, dict):
        return 1 + sum(map(_containers, value.values()))
    if isinstance(value, list):
        return 1 + sum(map(_containers, value))
    return 0


@given(value=_JSON, limit=st.integers(min_value=0, max_value=8), spare=st.integers(0, 5))
def test_depth_check_with_a_container_bound_agrees(value: Any, limit: int, spare: int) -> None:
    """Any upper bound on the container count (decode_json's bracket count) keeps it exact."""
    bound = _containers(value) + spare
    assert protocol._nested_deeper_than(value, limit, bound) is (_depth(value) > limit)


def test_long_pages_of_flat_records_decode_and_deep_ones_are_refused(decoder: str) -> None:
    """Over MAX_JSON_DEPTH records is not deep; one record nested past the limit is.

    With either decoder: the bracket count ends the walk early on flat pages, and must not
    on the page with one deep record, wherever that record sits.
    """
    flat = [{"call_id": str(n), "tags": ["a"], "x": {"y": 1}} for n in range(1000)]
    assert protocol.decode_json(json.dumps({"data": flat}).encode())["data"] == flat
    deep: Any = "bottom"
    for _ in range(protocol.MAX_JSON_DEPTH):
        deep = [deep]
    for rows in ([*flat, {"call_id": "z", "nest": deep}], [{"nest": deep}, *flat]):
        body = json.dumps({"data": rows}, separators=(",", ":")).encode()
        with pytest.raises(ResponseFormatError, match="nested too deeply"):
            protocol.decode_json(body)
    # Exactly MAX_JSON_DEPTH levels (envelope, list, record, then 397) are allowed.
    edge = {"nest": deep[0][0][0]}
    shallow = json.dumps({"data": [*flat, edge]}).encode()
    assert protocol.decode_json(shallow)["data"][-1] == edge

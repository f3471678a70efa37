"""The cattrs converter: key folding, field aliases, value readers, transcripts, output."""

from __future__ import annotations

import gc
import json
import linecache
import traceback
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import cattrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alohub_async._builders import (
    MAX_CACHED_KEYS,
    MAX_FIELD_SOURCES,
    MAX_PLANS,
    MAX_SHAPES,
    _RecordHook,
)
from alohub_async._converter import (
    get_converter,
    make_converter,
    structure_detail,
    structure_records,
    unstructure,
)
from alohub_async._readers import _RECORD_FIELDS, MAX_KEY_CHARS, MAX_RECORD_KEYS, fold_key
from alohub_async.errors import ResponseFormatError
from alohub_async.models import (
    CallDetail,
    CallRecord,
    Direction,
    Transcript,
    TranscriptSegment,
)
from alohub_async.serialization import to_dict

VN = ZoneInfo("Asia/Ho_Chi_Minh")
UTC = timezone.utc
SEVEN = timedelta(hours=7)
SAMPLES = Path(__file__).parent / "samples"
RECORDS = SAMPLES / "records"
CONVERTER = make_converter(VN)
TEN_AM_VN = datetime(2026, 1, 21, 3, 0, 0, tzinfo=UTC)  # 2026-01-21T10:00:00+07:00, 1768964400


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RECORDS / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def record(row: object) -> CallRecord:
    return structure_records(CONVERTER, [row])[0]


def detail(row: object) -> CallDetail:
    return structure_detail(CONVERTER, row)


def plan_cache(converter: cattrs.Converter, cls: type[CallRecord]) -> _RecordHook:
    hook = converter.get_structure_hook(cls)
    assert isinstance(hook, _RecordHook)
    return hook


# --- key folding and aliases -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "folded"),
    [
        ("callStartTime", "call_start_time"),
        ("callID", "call_id"),
        ("callId", "call_id"),
        ("CallId", "call_id"),
        ("CALL_ID", "call_id"),
        ("call_id", "call_id"),
        ("callEndtime", "call_endtime"),
        ("agentName", "agent_name"),
        ("recordingUrl", "recording_url"),
        ("recordingURL", "recording_url"),
        ("customerName", "customer_name"),
        ("ipPhone", "ip_phone"),
        ("IPPhone", "ip_phone"),
        ("call-type", "call_type"),
        (" from ", "from"),
    ],
)
def test_fold_key(key: str, folded: str) -> None:
    """Keys fold from camelCase, acronyms, upper case and dashes to snake_case."""
    assert fold_key(key) == folded


STRING_ALIASES = [
    ("caller", ["caller_number", "callerNumber", "caller", "from", "Caller"]),
    (
        "callee",
        ["called", "callee", "to", "destination", "receiver_number", "receiverNumber"],
    ),
    (
        "extension",
        ["destination_number", "destinationNumber", "extension", "ip_phone", "ipPhone", "IP_PHONE"],
    ),
    ("agent", ["userName", "user_name", "agent", "agent_name", "agentName"]),
    ("status", ["call_status", "callStatus", "status", "disposition"]),
    ("hotline", ["hotline", "Hotline"]),
    ("hangup_by", ["hangup_by", "hangupBy"]),
    ("customer_name", ["customerName", "customer_name"]),
    (
        "recording_url",
        ["recording_url", "recordingUrl", "recording", "record_url", "recordUrl", "audio_url"],
    ),
]


@pytest.mark.parametrize(
    ("field", "key"),
    [(field, key) for field, keys in STRING_ALIASES for key in keys],
)
def test_string_field_alias(field: str, key: str) -> None:
    """Every alias of a string field, snake or camelCase, fills that field."""
    assert getattr(record({"callId": "x", key: "value"}), field) == "value"


@pytest.mark.parametrize("key", ["call_id", "callId", "callID", "CallId", "CALL_ID", "id", "ID"])
def test_call_id_alias(key: str) -> None:
    """Every alias of the id fills ``call_id``."""
    assert record({key: "20260121095227-IMCRRNJW-342"}).call_id == "20260121095227-IMCRRNJW-342"


@pytest.mark.parametrize(
    ("field", "key"),
    [
        ("started_at", key)
        for key in [
            "starttime",
            "call_start_time",
            "callStartTime",
            "callStarttime",
            "start_time",
            "startTime",
            "started_at",
            "startedAt",
        ]
    ]
    + [("answered_at", key) for key in ["answertime", "answerTime", "answer_time", "answeredAt"]]
    + [
        ("ended_at", key)
        for key in [
            "endtime",
            "call_end_time",
            "callEndTime",
            "callEndtime",
            "end_time",
            "endTime",
            "ended_at",
            "endedAt",
        ]
    ],
)
def test_timestamp_alias(field: str, key: str) -> None:
    """Every alias of a timestamp, including the backend's ``callEndtime``, fills its field."""
    expected = datetime(2026, 1, 21, 9, 52, 27, tzinfo=VN)
    assert getattr(record({"callId": "x", key: "2026-01-21 09:52:27"}), field) == expected


@pytest.mark.parametrize(
    "key",
    ["total_duration", "totalDuration", "duration", "call_duration", "callDuration", "billsec"],
)
def test_duration_alias(key: str) -> None:
    """Every alias of the duration fills ``duration``."""
    assert record({"callId": "x", key: 35}).duration == 35.0


@pytest.mark.parametrize("key", ["holding_duration", "holdingDuration", "hold_duration"])
def test_hold_duration_alias(key: str) -> None:
    """Every alias of the time on hold fills ``hold_duration``, strings of seconds included."""
    assert record({"callId": "x", key: "12"}).hold_duration == 12.0


def test_source_is_not_the_caller() -> None:
    """``source`` is the platform tag (``"ipcc"``): it stays in ``raw``, never the caller."""
    result = record({"call_id": "x", "source": "ipcc"})
    assert result.caller is None
    assert result.raw["source"] == "ipcc"


@pytest.mark.parametrize(("value", "expected"), [(0, Direction.INBOUND), (1, Direction.OUTBOUND)])
def test_call_type_codes_are_directions(value: int, expected: Direction) -> None:
    """The report API's ``callType`` 0/1 means inbound/outbound."""
    assert record({"callId": "x", "callType": value}).direction is expected
    assert record({"callId": "x", "callType": str(value)}).direction is expected


@pytest.mark.parametrize("key", ["direction", "call_type", "callType", "Direction"])
def test_direction_alias(key: str) -> None:
    """Every alias of the direction fills ``direction``."""
    assert record({"callId": "x", key: "outbound"}).direction is Direction.OUTBOUND


@pytest.mark.parametrize("key", ["transcript", "transcription", "transcripts", "Transcript"])
def test_transcript_alias(key: str) -> None:
    """Every alias of the transcript fills ``CallDetail.transcript``."""
    assert detail({"callId": "x", key: "Xin chào"}).transcript == Transcript(text="Xin chào")


def test_unknown_keys_are_ignored_but_kept_in_raw() -> None:
    """Keys outside the alias table map to nothing, and stay readable in ``raw``."""
    row = {"callId": "x", "hangupCause": "NORMAL_CLEARING"}
    assert record(row).raw["hangupCause"] == "NORMAL_CLEARING"


# --- priority --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "field", "expected"),
    [
        ({"id": "low", "call_id": "high"}, "call_id", "high"),
        ({"id": "low", "callId": "high"}, "call_id", "high"),
        ({"from": "low", "caller": "mid", "caller_number": "high"}, "caller", "high"),
        ({"receiver_number": "low", "to": "mid", "callee": "high"}, "callee", "high"),
        ({"callee": "low", "called": "high"}, "callee", "high"),
        (
            {"ip_phone": "low", "extension": "mid", "destination_number": "high"},
            "extension",
            "high",
        ),
        ({"agent_name": "low", "agent": "mid", "userName": "high"}, "agent", "high"),
        ({"disposition": "low", "status": "mid", "call_status": "high"}, "status", "high"),
        (
            {"audio_url": "low", "record_url": "mid", "recordingUrl": "high"},
            "recording_url",
            "high",
        ),
        ({"billsec": 30, "duration": 35}, "duration", 35.0),
        ({"duration": 35, "total_duration": "300"}, "duration", 300.0),
        ({"hold_duration": 1, "holding_duration": "12"}, "hold_duration", 12.0),
        ({"billsec": 30, "call_duration": 33}, "duration", 33.0),
        ({"call_type": "outbound", "direction": "inbound"}, "direction", Direction.INBOUND),
    ],
)
def test_alias_priority(row: dict[str, Any], field: str, expected: object) -> None:
    """When several aliases are present, the one listed first wins, whatever the key order."""
    row.setdefault("callId", "x")
    assert getattr(record(row), field) == expected


def test_start_alias_priority() -> None:
    """The evidenced ``starttime`` wins, then ``call_start_time``, ``start_time``, the rest."""
    row = {
        "callId": "x",
        "started_at": "2026-01-21 01:00:00",
        "start_time": "2026-01-21 02:00:00",
        "callStartTime": "2026-01-21 03:00:00",
    }
    assert record(row).started_at == datetime(2026, 1, 21, 3, tzinfo=VN)
    assert record({**row, "starttime": "2026-01-21 04:00:00"}).started_at == datetime(
        2026, 1, 21, 4, tzinfo=VN
    )
    ended = {"callId": "x", "callEndtime": "2026-01-21 03:00:00", "endtime": "2026-01-21 05:00:00"}
    assert record(ended).ended_at == datetime(2026, 1, 21, 5, tzinfo=VN)


@pytest.mark.parametrize(
    ("row", "field", "expected"),
    [
        ({"caller": None, "from": "101"}, "caller", "101"),
        ({"caller": "", "from": "101"}, "caller", "101"),
        ({"caller_number": "", "caller": "101"}, "caller", "101"),
        ({"starttime": "", "callStartTime": 1768964400}, "started_at", TEN_AM_VN),
        (
            {"callStartTime": "0000-00-00 00:00:00", "start_time": 1768964400},
            "started_at",
            TEN_AM_VN,
        ),
        ({"duration": "n/a", "billsec": "30"}, "duration", 30.0),
        ({"direction": "sideways", "call_type": 1}, "direction", Direction.OUTBOUND),
    ],
)
def test_first_usable_alias_wins(row: dict[str, Any], field: str, expected: object) -> None:
    """A null, blank or unreadable alias gives way to the next one that reads."""
    row.setdefault("callId", "x")
    assert getattr(record(row), field) == expected


def test_keys_folding_to_the_same_alias_take_the_first_usable() -> None:
    """``callId: null`` next to ``call_id`` falls through to the usable one."""
    assert record({"callId": None, "call_id": "x"}).call_id == "x"


def test_many_sources_for_one_field_are_all_tried() -> None:
    """A field with more candidate keys than the inline limit still finds the usable one."""
    row = {"id": "x", "caller": None, "Caller": "", "from": None, "source": None, "CallerNumber": 7}
    assert record(row).caller == "7"


# --- strings ---------------------------------------------------------------------------------


def test_null_string_is_none_not_text() -> None:
    """A null string field is ``None``, never the text ``"None"``."""
    assert record({"callId": "x", "caller": None, "agentName": None}).caller is None


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_blank_strings_are_absent(blank: str) -> None:
    """Empty and whitespace-only strings count as absent."""
    assert record({"callId": "x", "caller": blank}).caller is None


def test_strings_are_kept_verbatim() -> None:
    """Non-blank strings are not stripped or altered."""
    assert record({"callId": "x", "status": " ANSWERED "}).status == " ANSWERED "


@pytest.mark.parametrize(
    ("value", "expected"),
    [(912345678, "912345678"), (342, "342"), (0, "0"), (912345678.0, "912345678"), (1.5, "1.5")],
)
def test_numbers_for_string_fields_become_text(value: object, expected: str) -> None:
    """Phone numbers and extensions sent as numbers become their decimal text."""
    assert record({"callId": "x", "caller": value, "extension": value}).caller == expected


@pytest.mark.parametrize("value", [True, False, [], ["0912"], {"n": "0912"}, float("nan")])
def test_unusable_string_values_are_none(value: object) -> None:
    """Booleans, lists, objects and NaN are not strings: the field is ``None``."""
    assert record({"callId": "x", "caller": value}).caller is None


def test_str_subclass_values_become_plain_text() -> None:
    """A str subclass (an enum member, say) becomes a plain ``str`` of its value."""
    result = record({"callId": Direction.INBOUND, "status": Direction.OUTBOUND})
    assert (result.call_id, result.status) == ("inbound", "outbound")
    assert type(result.status) is str


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("", None), (5, "5"), (342, "342"), ("a", "a")]
)
def test_string_field_values(value: object, expected: str | None) -> None:
    """A string field is ``None`` for null or blank (never ``"None"``), text otherwise."""
    assert record({"callId": "x", "caller": value}).caller == expected


# --- call id ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(12345, "12345"), ("  abc-1 ", "abc-1")])
def test_call_id_normalised(value: object, expected: str) -> None:
    """An integer id becomes text; surrounding whitespace is stripped."""
    assert record({"id": value}).call_id == expected


def test_missing_id_names_the_keys_seen() -> None:
    """A record with no id field is a ResponseFormatError naming its keys."""
    with pytest.raises(
        ResponseFormatError, match=r"no id field \(keys seen: callStartTime, caller"
    ):
        record({"callStartTime": "2026-01-21 09:52:27", "caller": "0912"})


def test_missing_id_is_reported_again_from_the_cached_plan() -> None:
    """The same id-less key set fails every time, not only the first."""
    converter = make_converter(VN)
    for _ in range(2):
        with pytest.raises(ResponseFormatError, match="keys seen: caller"):
            structure_records(converter, [{"caller": "0912"}])


def test_missing_id_message_is_bounded() -> None:
    """A record with very many keys gets a short error message, values never shown."""
    row = {f"{'k' * 100}{n}": "secret" for n in range(100)}
    with pytest.raises(ResponseFormatError) as info:
        record(row)
    assert len(str(info.value)) < 1200
    assert "secret" not in str(info.value)
    assert str(info.value).endswith(", ...)")


@pytest.mark.parametrize("value", [None, "", "   ", [], {}, True])
def test_unusable_id_is_missing(value: object) -> None:
    """A null, blank or non-scalar id counts as no id."""
    with pytest.raises(ResponseFormatError, match="no id field"):
        record({"callId": value, "caller": "0912"})


@pytest.mark.parametrize("row", [["callId", "x"], "callId", None, 5, 1.5, True])
def test_non_object_row_is_rejected(row: object) -> None:
    """A list item that is not a JSON object is a ResponseFormatError."""
    with pytest.raises(ResponseFormatError, match="must be a JSON object"):
        record(row)


@pytest.mark.parametrize("rows", [{"callId": "x"}, "callId", None, 5])
def test_non_list_rows_are_rejected(rows: object) -> None:
    """``structure_records`` wants a list; anything else is a ResponseFormatError."""
    with pytest.raises(ResponseFormatError, match="must be a JSON list"):
        structure_records(CONVERTER, rows)  # type: ignore[arg-type]


# --- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-21T10:00:00+07:00", TEN_AM_VN),
        ("2026-01-21T03:00:00Z", TEN_AM_VN),
        ("2026-01-21T03:00:00+00:00", TEN_AM_VN),
        ("2026-01-21T10:00:00", TEN_AM_VN),
        ("2026-01-21 10:00:00", TEN_AM_VN),
        ("2026-01-21T10:00:00.000", TEN_AM_VN),
        ("21/01/2026 10:00:00", TEN_AM_VN),
        (1768964400, TEN_AM_VN),
        (1768964400.0, TEN_AM_VN),
        (1768964400000, TEN_AM_VN),
        ("1768964400", TEN_AM_VN),
        ("1768964400000", TEN_AM_VN),
    ],
)
def test_timestamp_forms(value: object, expected: datetime) -> None:
    """ISO with or without offset, space-separated, epoch seconds or ms all read."""
    assert record({"callId": "x", "callStartTime": value}).started_at == expected


def test_naive_timestamp_is_in_session_tz() -> None:
    """A timestamp without offset is read in the converter's time zone."""
    started = record({"callId": "x", "callStartTime": "2026-01-21 10:00:00"}).started_at
    assert started is not None
    assert started.utcoffset() == SEVEN


@pytest.mark.parametrize(
    "value", ["0000-00-00 00:00:00", "yesterday", "", None, True, [], {}, 10**400]
)
def test_unreadable_timestamp_is_none_and_kept_raw(value: object) -> None:
    """An unreadable timestamp is ``None``; ``raw`` still holds what came."""
    row = {"callId": "x", "callStartTime": value}
    result = record(row)
    assert result.started_at is None
    assert result.raw["callStartTime"] is value


def test_timestamp_field_reads_or_is_none() -> None:
    """A timestamp field reads the server's wall clock; an unreadable one is ``None``."""
    row = {"callId": "x", "callStartTime": "2026-01-21 10:00:00", "callEndtime": "nope"}
    result = record(row)
    assert (result.started_at, result.ended_at) == (TEN_AM_VN, None)


# --- duration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (35, 35.0),
        (35.5, 35.5),
        (0, 0.0),
        ("35", 35.0),
        (" 35 ", 35.0),
        ("35.25", 35.25),
        ("00:00:35", 35.0),
        ("01:02:03", 3723.0),
        ("1:02:03", 3723.0),
        ("02:03", 123.0),
        ("75:30", 4530.0),
        ("00:00:35.5", 35.5),
        ("abc", None),
        ("", None),
        ("-5", None),
        (-5, None),
        (True, None),
        (None, None),
        ("12:75", None),
        ("1:75:00", None),
        ("1:2:3:4", None),
        (float("nan"), None),
        (float("inf"), None),
        (10**400, None),
        ([35], None),
    ],
)
def test_duration_forms(value: object, expected: float | None) -> None:
    """Durations read from numbers, digit strings and clock strings; the rest is ``None``."""
    assert record({"callId": "x", "duration": value}).duration == expected


# --- direction -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, Direction.INBOUND),
        ("0", Direction.INBOUND),
        ("inbound", Direction.INBOUND),
        ("in", Direction.INBOUND),
        ("incoming", Direction.INBOUND),
        ("INBOUND", Direction.INBOUND),
        (" In ", Direction.INBOUND),
        (1, Direction.OUTBOUND),
        ("1", Direction.OUTBOUND),
        ("outbound", Direction.OUTBOUND),
        ("out", Direction.OUTBOUND),
        ("Outgoing", Direction.OUTBOUND),
        ("internal", Direction.INTERNAL),
        ("LOCAL", Direction.INTERNAL),
        ("sideways", Direction.UNKNOWN),
        (2, Direction.UNKNOWN),
        (True, Direction.UNKNOWN),
        (None, Direction.UNKNOWN),
        ([], Direction.UNKNOWN),
    ],
)
def test_direction_forms(value: object, expected: Direction) -> None:
    """Direction codes and words read case-insensitively; anything else is UNKNOWN."""
    assert record({"callId": "x", "direction": value}).direction is expected


def test_absent_direction_is_unknown() -> None:
    """A record without any direction key is UNKNOWN."""
    assert record({"callId": "x"}).direction is Direction.UNKNOWN


def test_direction_field_never_fails() -> None:
    """A direction reads its words; any other value is UNKNOWN, never an error."""
    assert record({"callId": "x", "direction": "out"}).direction is Direction.OUTBOUND
    assert record({"callId": "x", "direction": {"weird": 1}}).direction is Direction.UNKNOWN


# --- raw and whole records -------------------------------------------------------------------


def test_raw_is_the_received_object() -> None:
    """``raw`` is the very dict that was received, keys unfolded."""
    row = sample("list_camel")
    assert record(row).raw is row


def test_absent_fields_keep_defaults() -> None:
    """A record with only an id has every other field at its default."""
    assert record({"id": "x"}) == CallRecord(call_id="x", raw={"id": "x"})


def test_camel_case_sample() -> None:
    """The documented camelCase record maps onto every field."""
    result = record(sample("list_camel"))
    assert result.call_id == "20260121095227-IMCRRNJW-342"
    assert result.started_at == datetime(2026, 1, 21, 9, 52, 27, tzinfo=VN)
    assert result.ended_at == datetime(2026, 1, 21, 9, 53, 2, tzinfo=VN)
    assert result.duration == 35.0
    assert result.direction is Direction.INBOUND
    assert (result.caller, result.callee, result.extension) == ("0912345678", "02873001234", "342")
    assert (result.agent, result.status) == ("Nguyễn Văn An", "ANSWERED")
    assert result.customer_name == "Trần Thị Bích"
    assert result.recording_url is not None
    assert result.recording_url.endswith("20260121095227-IMCRRNJW-342.wav")


def test_evidenced_sample_sets_every_field() -> None:
    """A record in Alohub's evidenced vocabulary maps onto every field, ``source`` onto none."""
    row = sample("evidenced_answered")
    result = record(row)
    assert result == CallRecord(
        call_id="20210222084953-NSOJCGOO-49278",
        started_at=datetime(2024, 1, 13, 15, 0, 30, tzinfo=VN),
        answered_at=datetime(2024, 1, 13, 15, 0, 42, tzinfo=VN),
        ended_at=datetime(2024, 1, 13, 15, 5, 30, tzinfo=VN),
        duration=300.0,
        hold_duration=12.0,
        direction=Direction.INBOUND,
        caller="0912345678",
        callee="19006868",
        extension="49278",
        agent="an.nguyen",
        status="answered",
        hotline="19006868",
        hangup_by="customer",
        customer_name="Trần Thị Bích",
        recording_url="https://app.alohub.vn:9909/recordings/20210222084953-NSOJCGOO-49278.wav",
        raw=row,
    )
    assert result.raw["source"] == "ipcc"
    fields = {field.name for field in attrs.fields(CallRecord)} - {"raw"}
    assert all(getattr(result, name) is not None for name in fields)


def test_evidenced_empty_strings_are_unknown() -> None:
    """``""`` (a value not known yet) is ``None``; an upper-case direction still reads."""
    result = record(sample("evidenced_missed"))
    assert (result.answered_at, result.hotline, result.recording_url) == (None, None, None)
    assert result.customer_name is None
    assert result.direction is Direction.OUTBOUND
    assert (result.status, result.hangup_by) == ("missed", "system")
    assert (result.duration, result.hold_duration) == (19.0, 19.0)
    assert (result.caller, result.callee, result.extension) == ("101", "0987654321", "101")


def test_evidenced_webhook_keeps_its_extras_in_raw() -> None:
    """Webhook extras map to nothing and stay in ``raw``; a bare-path URL is kept as given."""
    result = detail(sample("evidenced_webhook"))
    assert result.call_id == "20240113160000-ABCDEFGH-205"
    assert result.recording_url == "/recordings/20240113160000-ABCDEFGH-205.wav"
    assert (result.hangup_by, result.hold_duration, result.transcript) == ("agent", 5.0, None)
    assert {"transactionID", "objectId", "eventType"} <= set(result.raw)


def test_every_sample_says_where_its_shape_comes_from() -> None:
    """Each sample file is listed, with its provenance, in tests/samples/README.md."""
    readme = (SAMPLES / "README.md").read_text(encoding="utf-8")
    names = sorted(path.name for path in SAMPLES.rglob("*.json"))
    assert names
    for name in names:
        assert f"| `{name}` |" in readme, f"{name} is not described in tests/samples/README.md"


def test_alias_table_ranks_evidenced_keys_first() -> None:
    """The evidenced key of every field it names leads that field's aliases."""
    first = {field: aliases[0] for field, _, aliases in _RECORD_FIELDS}
    assert first == {
        "call_id": "call_id",
        "started_at": "starttime",
        "answered_at": "answertime",
        "ended_at": "endtime",
        "duration": "total_duration",
        "hold_duration": "holding_duration",
        "direction": "direction",
        "caller": "caller_number",
        "callee": "called",
        "extension": "destination_number",
        "agent": "user_name",
        "status": "call_status",
        "hotline": "hotline",
        "hangup_by": "hangup_by",
        "customer_name": "customer_name",
        "recording_url": "recording_url",
    }
    assert all("source" not in aliases for _, _, aliases in _RECORD_FIELDS)
    model_fields = [f.name for f in attrs.fields(CallRecord) if f.name != "raw"]
    assert [field for field, _, _ in _RECORD_FIELDS] == model_fields


def test_snake_case_sample() -> None:
    """The snake_case record with other aliases maps onto the same fields."""
    result = record(sample("list_snake"))
    assert result.call_id == "20260121094501-QWERTYUI-101"
    assert result.started_at == datetime(2026, 1, 21, 2, 45, 1, tzinfo=UTC)
    assert result.duration == 19.0
    assert result.direction is Direction.OUTBOUND
    assert (result.caller, result.callee, result.extension) == ("101", "0987654321", "101")
    assert (result.agent, result.status, result.recording_url) == (
        "Lê Minh Châu",
        "NO ANSWER",
        None,
    )


def test_records_keep_order() -> None:
    """``structure_records`` returns a tuple in the rows' order."""
    rows = [{"callId": str(n)} for n in range(5)]
    assert [r.call_id for r in structure_records(CONVERTER, rows)] == ["0", "1", "2", "3", "4"]


def test_empty_list_gives_empty_tuple() -> None:
    """An empty page structures to an empty tuple."""
    assert structure_records(CONVERTER, []) == ()


def test_mapping_rows_are_accepted() -> None:
    """A read-only mapping row works like a dict and is kept as ``raw``."""
    from types import MappingProxyType

    row = MappingProxyType({"callId": "x", "caller": "1"})
    result = structure_records(CONVERTER, [row])[0]
    assert (result.caller, result.raw) == ("1", row)


def test_structure_through_the_converter() -> None:
    """``converter.structure`` builds records and details through the registered hooks."""
    row = sample("list_camel")
    assert CONVERTER.structure(row, CallRecord) == record(row)
    assert type(CONVERTER.structure(row, CallDetail)) is CallDetail


def test_record_does_not_read_transcript() -> None:
    """A list record is a plain CallRecord even when the row carries a transcript."""
    result = record({"callId": "x", "transcript": "hi"})
    assert type(result) is CallRecord


class _ExplodingMapping(Mapping[str, Any]):
    """A mapping whose values cannot be read, to provoke a foreign exception."""

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(["callId", "caller"])

    def __len__(self) -> int:
        return 2


def test_foreign_exceptions_become_response_format_errors() -> None:
    """An unexpected exception while reading is a ResponseFormatError with the cause chained."""
    with pytest.raises(ResponseFormatError) as info:
        record(_ExplodingMapping())
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(ResponseFormatError):
        detail(_ExplodingMapping())


class _EvilStr(str):
    """A string whose methods fail, to provoke a foreign exception inside a plain dict."""

    def strip(self, chars: str | None = None) -> str:
        raise RuntimeError("boom")


def test_foreign_exceptions_in_list_rows_are_wrapped() -> None:
    """An exception raised while reading a plain dict row is a ResponseFormatError too."""
    with pytest.raises(ResponseFormatError) as info:
        structure_records(make_converter(VN), [{"callId": "x", "caller": _EvilStr("1")}])
    assert isinstance(info.value.__cause__, RuntimeError)


def test_non_string_keys_are_ignored() -> None:
    """Keys that are not strings map to nothing but do not break the record."""
    row: dict[Any, Any] = {1: "one", None: "none", "callId": "x"}
    assert record(row).raw is row


def test_keys_are_never_compiled() -> None:
    """Keys that look like code are plain data: they reach ``raw`` and nothing runs."""
    row = {"callId": "x", '"]; raise SystemExit("': 1, "caller\n": "101", "__import__('os')": 2}
    result = record(row)
    assert (result.call_id, result.caller, result.raw) == ("x", "101", row)


_json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_keys = st.sampled_from(
    ["callId", "id", "callStartTime", "duration", "direction", "caller", "transcript", "x"]
)


@given(st.dictionaries(_keys | st.text(max_size=10), _json, max_size=8))
def test_any_json_object_structures_or_fails_cleanly(row: dict[str, Any]) -> None:
    """Arbitrary JSON objects give a record or a ResponseFormatError, nothing else."""
    for structure in (record, detail):
        try:
            result = structure(row)
        except ResponseFormatError:
            continue
        assert result.raw is row
        assert result.call_id


# --- transcripts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Xin chào", Transcript(text="Xin chào")),
        (
            ["Xin chào", "Chào bạn"],
            Transcript(
                text="Xin chào\nChào bạn",
                segments=(TranscriptSegment(text="Xin chào"), TranscriptSegment(text="Chào bạn")),
            ),
        ),
        (
            [{"speaker": "agent", "text": "A", "start": 0, "end": "1.5"}],
            Transcript(
                text="A", segments=(TranscriptSegment(text="A", speaker="agent", start=0, end=1.5),)
            ),
        ),
        (
            {"text": "whole", "segments": [{"speaker": "agent", "text": "A"}]},
            Transcript(text="whole", segments=(TranscriptSegment(text="A", speaker="agent"),)),
        ),
        (
            {"segments": [{"text": "A"}, {"text": "B"}]},
            Transcript(
                text="A\nB", segments=(TranscriptSegment(text="A"), TranscriptSegment(text="B"))
            ),
        ),
        ({"text": "only text"}, Transcript(text="only text")),
    ],
    ids=["string", "string-list", "segment-list", "text-and-segments", "segments-only", "text"],
)
def test_transcript_forms(value: object, expected: Transcript) -> None:
    """A transcript reads from a string, a segment list or ``{"text", "segments"}``."""
    assert detail({"callId": "x", "transcript": value}).transcript == expected


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        ({"role": "agent", "content": "A", "begin": 1, "to": 2}, ("agent", "A", 1.0, 2.0)),
        ({"channel": 0, "transcript": "A", "from": "1.5", "end": 2}, ("0", "A", 1.5, 2.0)),
        (
            {"speakerLabel": "spk_1", "sentence": "A", "startTime": 3, "endTime": "4"},
            ("spk_1", "A", 3.0, 4.0),
        ),
        ({"Speaker": "agent", "Text": "A", "Start": "00:01:02"}, ("agent", "A", 62.0, None)),
        ({"speaker": "agent", "text": "A", "start": "soon", "end": -1}, ("agent", "A", None, None)),
    ],
)
def test_segment_aliases(segment: dict[str, Any], expected: tuple[object, ...]) -> None:
    """Segment keys are tolerant: speaker/role/channel, text/content, start/begin/from, end/to."""
    transcript = detail({"callId": "x", "transcript": [segment]}).transcript
    assert transcript is not None
    seg = transcript.segments[0]
    assert (seg.speaker, seg.text, seg.start, seg.end) == expected


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", [], {}, [None, 5, {"speaker": "agent"}, ""], {"segments": []}, 42, True],
)
def test_empty_or_unreadable_transcript_is_none(value: object) -> None:
    """An empty, null or unreadable transcript is ``None``; the detail is still built."""
    result = detail({"callId": "x", "transcript": value})
    assert result.transcript is None
    assert result.call_id == "x"


def test_double_encoded_segments_in_object() -> None:
    """``{"segments": "<JSON list>"}`` is decoded too."""
    value = {"segments": json.dumps([{"text": "A"}, {"text": "B"}])}
    transcript = detail({"callId": "x", "transcript": value}).transcript
    assert transcript is not None
    assert transcript.text == "A\nB"


def test_nested_transcript_object() -> None:
    """A transcript wrapped once more (``{"transcript": [...]}``) is unwrapped."""
    value = {"transcript": [{"text": "A"}, {"text": "B"}]}
    transcript = detail({"callId": "x", "transcription": value}).transcript
    assert transcript is not None
    assert (transcript.text, len(transcript.segments)) == ("A\nB", 2)


def test_unreadable_segments_are_skipped() -> None:
    """Segments without text are dropped; the readable ones stay, in order."""
    value = [{"speaker": "agent"}, "A", None, {"text": "B"}]
    transcript = detail({"callId": "x", "transcript": value}).transcript
    assert transcript is not None
    assert [s.text for s in transcript.segments] == ["A", "B"]


def test_double_encoded_transcript_is_decoded() -> None:
    """A transcript that is a JSON list inside a string is decoded into segments."""
    transcript = detail(sample("detail_double_encoded")).transcript
    assert transcript is not None
    assert transcript.text == "Xin chào\nChào bạn"
    assert transcript.segments[1] == TranscriptSegment(
        text="Chào bạn", speaker="customer", start=1.0, end=2.0
    )


@pytest.mark.parametrize("text", ["[agent] Xin chào", "{not json}", "[1, 2]", "[]"])
def test_bracketed_text_stays_text(text: str) -> None:
    """A string that only looks like JSON, or decodes to nothing usable, stays plain text."""
    assert detail({"callId": "x", "transcript": text}).transcript == Transcript(text=text)


def test_deeply_nested_json_string_stays_text() -> None:
    """Absurdly nested JSON in a transcript string is plain text, not a crash."""
    text = "[" * 100_000 + "]" * 100_000
    transcript = detail({"callId": "x", "transcript": text}).transcript
    assert transcript is not None
    assert transcript.text == text


def test_transcript_field_values() -> None:
    """A null transcript is ``None``; objects and segments use the tolerant keys."""
    assert detail({"callId": "x", "transcript": None}).transcript is None
    assert detail({"callId": "x", "transcript": {"text": "a"}}).transcript == Transcript(text="a")
    segments = detail({"callId": "x", "transcript": [{"content": "A"}, 5]}).transcript
    assert segments == Transcript(text="A", segments=(TranscriptSegment(text="A"),))


# --- details ---------------------------------------------------------------------------------


def test_detail_has_record_fields_and_transcript() -> None:
    """A detail carries every record field plus its transcript."""
    result = detail(sample("detail_segments"))
    assert type(result) is CallDetail
    assert result.call_id == "20260121100000-ABCDEFGH-205"
    assert result.started_at == TEN_AM_VN
    assert result.ended_at == TEN_AM_VN + timedelta(minutes=1)
    assert result.duration == 60.0
    assert result.direction is Direction.INBOUND
    assert (result.caller, result.callee, result.extension) == ("912345678", "02873001234", "205")
    assert (result.agent, result.status) == ("Phạm Thu Hà", "ANSWERED")
    assert result.recording_url is not None
    assert result.transcript is not None
    assert result.transcript.text == "Alohub xin chào.\nTôi cần hỗ trợ."
    assert result.transcript.segments == (
        TranscriptSegment(text="Alohub xin chào.", speaker="agent", start=0.0, end=1.5),
        TranscriptSegment(text="Tôi cần hỗ trợ.", speaker="customer", start=1.5, end=3.25),
    )


def test_detail_without_transcript() -> None:
    """A detail without any transcript key has ``transcript=None``."""
    assert detail(sample("list_snake")).transcript is None


def test_detail_without_id_is_rejected() -> None:
    """A detail with no id field is a ResponseFormatError naming its keys."""
    with pytest.raises(ResponseFormatError, match="keys seen: transcript"):
        detail({"transcript": "hi"})


@pytest.mark.parametrize("obj", [None, [], "x", 5])
def test_non_object_detail_is_rejected(obj: object) -> None:
    """A detail that is not a JSON object is a ResponseFormatError."""
    with pytest.raises(ResponseFormatError):
        detail(obj)


# --- output ----------------------------------------------------------------------------------


def test_unstructure_is_json_ready_in_field_order() -> None:
    """``unstructure`` gives model-ordered keys, ISO datetimes, the direction value, no raw."""
    out = unstructure(CONVERTER, record(sample("list_camel")))
    names = [f.name for f in attrs.fields(CallRecord) if f.name != "raw"]
    assert list(out) == names
    assert out["started_at"] == "2026-01-21T09:52:27+07:00"
    assert out["direction"] == "inbound"
    assert json.loads(json.dumps(out)) == out


def test_unstructure_detail_includes_transcript() -> None:
    """A detail's output ends with its transcript as ``{"text", "segments": [...]}``."""
    out = unstructure(CONVERTER, detail(sample("detail_segments")))
    assert list(out)[-1] == "transcript"
    assert "raw" not in out
    assert out["transcript"]["text"] == "Alohub xin chào.\nTôi cần hỗ trợ."
    assert out["transcript"]["segments"][0] == {
        "text": "Alohub xin chào.",
        "speaker": "agent",
        "start": 0.0,
        "end": 1.5,
    }
    assert json.loads(json.dumps(out)) == out


def test_unstructure_is_the_public_serialization() -> None:
    """The converter's output is `to_dict`'s: one implementation for both."""
    for one in (record(sample("list_camel")), detail(sample("detail_segments"))):
        assert unstructure(CONVERTER, one) == to_dict(one)
        assert list(unstructure(CONVERTER, one)) == list(to_dict(one))


def test_unstructure_keeps_none_fields() -> None:
    """Absent fields are output as null, so every line has the same columns."""
    out = unstructure(CONVERTER, record({"id": "x"}))
    assert out["started_at"] is None
    assert out["direction"] == "unknown"


# --- bounded work per record -----------------------------------------------------------------


class _CountingReader:
    """Wraps a value reader of a hook's generated builders, counting calls (not changing them)."""

    def __init__(self, read: Any) -> None:
        self.read = read
        self.calls = 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.read(*args)


def _counting_hook() -> tuple[cattrs.Converter, _CountingReader, _CountingReader]:
    converter = make_converter(VN)
    hook = plan_cache(converter, CallRecord)
    fast, slow = _CountingReader(hook.namespace["_ts"]), _CountingReader(hook.namespace["_ts_any"])
    hook.namespace["_ts"], hook.namespace["_ts_any"] = fast, slow
    return converter, fast, slow


def _hostile_record(keys: int) -> dict[str, Any]:
    """A record whose keys all fold to timestamp aliases, each holding garbage."""
    row: dict[str, Any] = {"call_id": "x"}
    for n in range(keys):
        row[f"start{'_' * (n % 50 + 1)}time{' ' * (n // 50)}"] = f"garbage {n}"
    return row


def test_alias_tries_per_field_are_bounded() -> None:
    """Hundreds of keys folding to one timestamp alias cost at most MAX_FIELD_SOURCES reads."""
    converter, fast, slow = _counting_hook()
    rows = [_hostile_record(200) for _ in range(10)]
    records = structure_records(converter, rows)
    assert all(r.started_at is None for r in records)
    assert 0 < fast.calls + slow.calls <= len(rows) * MAX_FIELD_SOURCES
    assert records[0].raw is rows[0]


def test_usable_value_among_the_first_sources_is_found() -> None:
    """The bound keeps the priority order: the best-ranked usable key still wins."""
    row = _hostile_record(100)
    row["starttime"] = "2026-01-21 10:00:00"
    assert record(row).started_at == TEN_AM_VN


def test_only_the_first_keys_of_a_record_are_matched() -> None:
    """Keys past MAX_RECORD_KEYS are not folded or read; they stay in ``raw``."""
    row: dict[str, Any] = {f"k{n}": n for n in range(MAX_RECORD_KEYS)}
    row["call_id"] = "x"
    with pytest.raises(ResponseFormatError, match="no id field"):
        record(row)
    row = {"call_id": "x", **{f"k{n}": n for n in range(MAX_RECORD_KEYS)}, "caller": "0912"}
    result = record(row)
    assert (result.call_id, result.caller, result.raw["caller"]) == ("x", None, "0912")


def test_long_keys_are_never_folded() -> None:
    """A key longer than MAX_KEY_CHARS is returned as is (folding it is quadratic)."""
    key = "A" * 100_000
    assert fold_key(key) is key
    padded = "start" + "_" * MAX_KEY_CHARS + "time"
    assert record({"call_id": "x", padded: "2026-01-21 10:00:00"}).started_at is None
    assert fold_key("start" + "_" * 10 + "time") == "start_time"


def test_long_transcript_keys_are_never_folded() -> None:
    """Transcript objects are bounded like records: over-long keys are not read."""
    value = {"T" * 100_000: "x", "segments": [{"X" * 100_000: "y", "text": "A"}]}
    transcript = detail({"call_id": "x", "transcript": value}).transcript
    assert transcript is not None
    assert transcript.text == "A"


@pytest.mark.parametrize("value", ["1" * 10_000, "2026-01-21 10:00:00" + "0" * 10_000])
def test_over_long_timestamps_and_durations_are_garbage(value: str) -> None:
    """Strings far longer than any timestamp or duration are refused, not parsed."""
    result = record({"call_id": "x", "starttime": value, "total_duration": value})
    assert (result.started_at, result.duration) == (None, None)


# --- plans and converters --------------------------------------------------------------------


def test_key_set_is_planned_once() -> None:
    """Records with the same keys share one cached plan, by row or by column."""
    converter = make_converter(VN)
    hook = plan_cache(converter, CallRecord)
    structure_records(converter, [{"callId": str(n), "caller": "1"} for n in range(3)])
    assert len(hook.plans) == 1
    structure_records(converter, [{"callId": str(n), "caller": "1"} for n in range(10)])
    assert len(hook.plans) == 1
    assert len(hook.column_plans) == 1


def test_foreign_exceptions_in_pages_read_by_column_are_wrapped() -> None:
    """A long page (read field by field) wraps a foreign exception like a short one."""
    rows = [{"callId": str(n), "caller": "1"} for n in range(20)]
    rows[7]["caller"] = _EvilStr("1")
    with pytest.raises(ResponseFormatError) as info:
        structure_records(make_converter(VN), rows)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_plan_cache_is_bounded() -> None:
    """More distinct key sets than the bound never grow the cache past it, and all still read."""
    converter = make_converter(VN)
    rows = [{"callId": str(n), f"extra{n}": n} for n in range(MAX_PLANS + 50)]
    records = structure_records(converter, rows)
    assert [r.call_id for r in records] == [str(n) for n in range(MAX_PLANS + 50)]
    assert len(plan_cache(converter, CallRecord).plans) == MAX_PLANS


def test_shapes_are_shared_between_key_sets() -> None:
    """Key sets that differ only in unmapped keys reuse one generated builder."""
    converter = make_converter(VN)
    structure_records(converter, [{"callId": str(n), f"extra{n}": n} for n in range(20)])
    assert len(plan_cache(converter, CallRecord).factories) == 1


def test_wide_records_are_not_cached() -> None:
    """A record with more keys than the cache limit is read but its plan is not kept."""
    converter = make_converter(VN)
    row: dict[str, Any] = {f"k{n}": n for n in range(MAX_CACHED_KEYS + 1)}
    row["callId"] = "x"
    assert structure_records(converter, [row])[0].call_id == "x"
    assert len(plan_cache(converter, CallRecord).plans) == 0


def _many_shapes() -> list[dict[str, Any]]:
    """Rows of twice as many builder shapes as the cache keeps (optional fields on or off)."""
    optional = ["caller", "callee", "extension", "agent", "status", "customerName", "recording"]
    return [
        {"callId": str(n), **{key: "v" for bit, key in enumerate(optional) if n >> bit & 1}}
        for n in range(2 ** len(optional))
    ]


def test_generated_builders_are_bounded() -> None:
    """More record shapes than the bound never grow the builder cache past it."""
    converter = make_converter(VN)
    records = structure_records(converter, _many_shapes())
    assert records[-1].customer_name == "v"
    assert len(plan_cache(converter, CallRecord).factories) == MAX_SHAPES


@pytest.mark.parametrize("tz", [VN, UTC, timezone(SEVEN)])
def test_get_converter_is_cached_per_tz(tz: tzinfo) -> None:
    """``get_converter`` returns the same converter for the same tz."""
    assert get_converter(tz) is get_converter(tz)


def test_naive_times_are_read_on_the_server_clock() -> None:
    """With ``server_tz``, a naive time is the server's wall clock, shown in ``tz``."""
    row = {"call_id": "x", "starttime": "2026-01-31 23:58:55"}
    started = structure_records(get_converter(UTC, VN), [row])[0].started_at
    assert started == datetime(2026, 1, 31, 16, 58, 55, tzinfo=UTC)
    assert started is not None
    assert started.isoformat() == "2026-01-31T16:58:55+00:00"


@pytest.mark.parametrize("tz", [UTC, VN, ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")])
@pytest.mark.parametrize(
    "value",
    [
        "2026-01-21 10:00:00",
        "2026-01-21T03:00:00Z",
        "21/01/2026 10:00:00",
        1768964400,
        "2026-01-21",
    ],
)
def test_tz_never_changes_the_instant(tz: tzinfo, value: object) -> None:
    """Whatever ``tz`` is, a record's time denotes the same instant, expressed in ``tz``."""
    row = {"call_id": "x", "starttime": value}
    reference = structure_records(get_converter(VN, VN), [row])[0].started_at
    started = structure_records(get_converter(tz, VN), [row])[0].started_at
    assert reference is not None
    assert started == reference
    assert started is not None
    assert started.utcoffset() == tz.utcoffset(started.replace(tzinfo=None))


def test_timestamps_use_both_zones() -> None:
    """Naive times are read on the server clock and expressed in the session's zone."""
    row = {"callId": "x", "callStartTime": "2026-01-21 10:00:00"}
    started = structure_records(make_converter(UTC, VN), [row])[0].started_at
    assert started == TEN_AM_VN
    assert started is not None
    assert started.tzinfo is UTC


def test_get_converter_differs_between_tz() -> None:
    """Different time zones get different converters, each reading naive times in its own tz."""
    row = {"callId": "x", "callStartTime": "2026-01-21 10:00:00"}
    assert get_converter(VN) is not get_converter(UTC)
    utc_record = structure_records(get_converter(UTC), [row])[0]
    assert utc_record.started_at == datetime(2026, 1, 21, 10, tzinfo=UTC)


def test_make_converter_returns_independent_converters() -> None:
    """Each ``make_converter`` call is a fresh converter; hooks on one never reach another."""
    first, second = make_converter(VN), make_converter(VN)
    assert first is not second
    assert first is not cattrs.global_converter
    assert plan_cache(first, CallRecord) is not plan_cache(second, CallRecord)
    first.register_structure_hook(CallRecord, lambda obj, cls: cls(call_id="patched"))
    assert structure_records(second, [{"callId": "x"}])[0].call_id == "x"


class _UnhashableTz(tzinfo):
    """A custom tzinfo that cannot be a cache key."""

    __hash__ = None  # type: ignore[assignment]

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return SEVEN

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "+07"


def test_get_converter_accepts_unhashable_tz() -> None:
    """An unhashable custom tzinfo still gets a working converter."""
    converter = get_converter(_UnhashableTz())
    row = {"callId": "x", "callStartTime": "2026-01-21 10:00:00"}
    assert structure_records(converter, [row])[0].started_at == TEN_AM_VN


def test_replaced_record_hook_is_used_and_guarded() -> None:
    """A record hook registered by hand is used, and its failures become ResponseFormatError."""
    converter = make_converter(VN)
    converter.register_structure_hook(CallRecord, lambda obj, cls: cls(call_id="mine"))
    assert structure_records(converter, [{}])[0].call_id == "mine"
    converter.register_structure_hook(CallRecord, lambda obj, cls: obj)
    with pytest.raises(ResponseFormatError, match="returned dict"):
        structure_records(converter, [{}])
    converter.register_structure_hook(CallDetail, lambda obj, cls: obj["missing"])
    with pytest.raises(ResponseFormatError) as info:
        structure_detail(converter, {})
    assert isinstance(info.value.__cause__, KeyError)


def test_global_converter_is_untouched() -> None:
    """Building converters registers nothing on cattrs' global converter."""
    make_converter(VN)
    assert not isinstance(cattrs.global_converter.get_structure_hook(CallRecord), _RecordHook)
    assert cattrs.global_converter.structure(None, str) == "None"


@pytest.mark.parametrize("cls", [CallRecord, CallDetail])
@pytest.mark.parametrize(
    "row",
    [
        {"callId": "a"},
        {
            "callId": "20260121095227-IMCRRNJW-342",
            "callStartTime": "2026-01-21 09:52:27",
            "callEndtime": "2026-01-21 09:53:02",
            "duration": 35,
            "direction": "inbound",
            "caller": "0912345678",
            "callee": "02873001234",
            "extension": "342",
            "agentName": "Nguyễn Văn An",
            "status": "ANSWERED",
            "customerName": "Trần Thị Bích",
            "recordingUrl": "https://example.test/r.wav",
            "transcript": "Xin chào",
        },
    ],
)
def test_builder_matches_the_attrs_constructor(cls: type[CallRecord], row: dict[str, Any]) -> None:
    """Records built by filling slots equal, hash and freeze like constructor-built ones."""
    built = make_converter(VN).structure(row, cls)
    values = {field.name: getattr(built, field.name) for field in attrs.fields(cls)}
    assert built == cls(**values)
    assert hash(built) == hash(cls(**values))
    assert built.raw is row
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.call_id = "other"  # type: ignore[misc]


# --- generated source in tracebacks ----------------------------------------------------------


class _Boom(str):
    """A string whose ``strip`` fails, to raise from inside a generated builder."""

    __slots__ = ()

    def strip(self, chars: str | None = None) -> str:
        raise LookupError("boom")


def test_builder_source_shows_in_tracebacks() -> None:
    """A traceback through a generated builder shows its source lines (linecache)."""
    with pytest.raises(ResponseFormatError) as info:
        structure_records(make_converter(VN), [{"callId": "x", "caller": _Boom("1")}])
    cause = info.value.__cause__
    assert isinstance(cause, LookupError)
    frames = traceback.extract_tb(cause.__traceback__)
    builder = next(f for f in frames if f.filename.startswith("<alohub_async CallRecord builder"))
    assert builder.line
    assert builder.line == linecache.getline(builder.filename, builder.lineno or 0).strip()
    assert "_str(v)" in builder.line
    assert "def build(row):" in "".join(linecache.getlines(builder.filename))


def test_builder_sources_leave_linecache_with_their_builders() -> None:
    """Evicted builders, and those of a collected converter, drop their linecache entries."""
    converter = make_converter(VN)
    hook = plan_cache(converter, CallRecord)
    structure_records(converter, _many_shapes()[:2])
    first = next(iter(hook.filenames.values()))
    structure_records(converter, _many_shapes())
    names = list(hook.filenames.values())
    assert len(names) == len(hook.factories) == MAX_SHAPES
    assert first not in names
    assert first not in linecache.cache
    assert all(name in linecache.cache for name in names)
    del converter, hook
    gc.collect()
    assert not any(name in linecache.cache for name in names)


# --- long pages are read field by field: the same records as row by row ------------------

_ZONES = (VN, UTC, timezone(SEVEN))
_page_values = {
    "id": st.sampled_from(["a", " b ", "", "  ", 7, 1.5, None, True, "\u2028x"]),
    "str": st.sampled_from(["x", "", " ", "Bình", 12, 3.0, 2.5, None, False, [1], "\t"]),
    "ts": st.sampled_from(
        [
            "2026-01-21 09:52:27",
            "2026-01-21T09:52:27+07:00",
            "2026-01-21T09:52:27+00:00",
            "2026-02-30 09:52:27",
            "0000-00-00 00:00:00",
            "2026-01-21",
            "1768964400",
            1768964400,
            "",
            None,
            "21/01/2026 09:52:27",
            "2026-01-21 09:52:27.5",
        ]
    ),
    "seconds": st.sampled_from(
        [0, 75, -1, 2**60, "75", "1:15", "٣", "²", "", None, 7.5, "0" * 40, True, float("nan")]
    ),
    "direction": st.sampled_from(["in", "OUT", " inbound ", "x", 0, 1, 2, None, "", True]),
}
_PAGE_KEYS = {
    "callId": "id",
    "id": "id",
    "callStartTime": "ts",
    "answertime": "ts",
    "endtime": "ts",
    "total_duration": "seconds",
    "billsec": "seconds",
    "direction": "direction",
    "caller": "str",
    "agentName": "str",
    "customerName": "str",
}


@st.composite
def _pages(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A page of rows sharing one key set, each value drawn, some columns kept uniform."""
    keys = draw(st.lists(st.sampled_from(list(_PAGE_KEYS)), min_size=1, unique=True))
    size = draw(st.integers(min_value=8, max_value=24))
    columns = {}
    for key in keys:
        values = _page_values[_PAGE_KEYS[key]]
        if draw(st.booleans()):  # one value throughout: the fast paths' common case
            columns[key] = [draw(values)] * size
        else:
            columns[key] = draw(st.lists(values, min_size=size, max_size=size))
    return [{key: columns[key][n] for key in keys} for n in range(size)]


def _outcome(read: Any) -> Any:
    try:
        return [(attrs.astuple(r, recurse=False), r.raw is None) for r in read()]
    except ResponseFormatError as error:
        return str(error)


@given(
    page=_pages(),
    zones=st.sampled_from([(VN, VN), (UTC, VN), (VN, UTC), (timezone(SEVEN), VN)]),
    keep_raw=st.sampled_from(["all", "none"]),
)
def test_pages_read_by_column_equal_rows_read_one_by_one(
    page: list[dict[str, Any]], zones: tuple[tzinfo, tzinfo], keep_raw: str
) -> None:
    """Field by field gives the very records (and errors) that row by row gives."""
    hook = plan_cache(make_converter(*zones, keep_raw), CallRecord)
    by_column = _outcome(lambda: hook.many(page))
    by_row = _outcome(lambda: [hook(row) for row in page])
    assert by_column == by_row
    if not isinstance(by_row, str):
        for record, expected in zip(hook.many(page), (hook(row) for row in page), strict=True):
            for name in ("started_at", "answered_at", "ended_at"):
                mine, theirs = getattr(record, name), getattr(expected, name)
                assert (mine and (mine.tzinfo, mine.fold)) == (
                    theirs and (theirs.tzinfo, theirs.fold)
                )

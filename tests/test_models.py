"""The attrs models: frozen, slotted, hashable without their raw record."""

from __future__ import annotations

from types import MappingProxyType

import attrs
import pytest

from alohub_async import CallDetail, CallPage, CallRecord, Direction, Stats, Transcript


def test_records_are_frozen() -> None:
    """Fields cannot be reassigned."""
    record = CallRecord(call_id="a")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.call_id = "b"  # type: ignore[misc]


def test_records_are_slotted() -> None:
    """Models use __slots__ (no per-instance __dict__)."""
    assert not hasattr(CallRecord(call_id="a"), "__dict__")


def test_raw_is_excluded_from_hash_not_equality() -> None:
    """Two records differing only in raw hash alike but are not equal."""
    a = CallRecord(call_id="a", raw={"x": 1})
    b = CallRecord(call_id="a", raw={"x": 2})
    assert hash(a) == hash(b)
    assert a != b


def test_raw_is_hidden_from_repr() -> None:
    """repr() leaves out the raw record, which may be large."""
    assert "raw" not in repr(CallRecord(call_id="a", raw={"secret": "x"}))


def test_default_raw_is_an_empty_read_only_mapping() -> None:
    """Without raw, the record holds an empty read-only mapping."""
    raw = CallRecord(call_id="a").raw
    assert isinstance(raw, MappingProxyType)
    assert dict(raw) == {}


def test_detail_is_a_record() -> None:
    """A CallDetail can be used wherever a CallRecord is expected."""
    detail = CallDetail(call_id="a", transcript=Transcript(text="xin chào"))
    assert isinstance(detail, CallRecord)
    assert detail.transcript is not None


def test_direction_values() -> None:
    """Direction is a str enum with the four documented members."""
    assert [d.value for d in Direction] == ["inbound", "outbound", "internal", "unknown"]
    assert Direction("inbound") is Direction.INBOUND
    assert isinstance(Direction.OUTBOUND, str)
    assert Direction.OUTBOUND.value == "outbound"


def test_page_and_stats_defaults() -> None:
    """CallPage's total defaults to None and Stats starts at zero."""
    page = CallPage(items=(), page=1, page_size=50)
    assert page.total is None
    assert attrs.astuple(Stats()) == (0, 0, 0, 0, 0, 0, 0)


def test_evidenced_fields_default_to_none() -> None:
    """The fields added for Alohub's evidenced vocabulary are optional, in model order."""
    record = CallRecord(call_id="a")
    assert (record.answered_at, record.hold_duration, record.hotline, record.hangup_by) == (
        None,
        None,
        None,
        None,
    )
    names = [field.name for field in attrs.fields(CallRecord)]
    assert names.index("started_at") < names.index("answered_at") < names.index("ended_at")
    assert names.index("duration") < names.index("hold_duration")
    assert names[-1] == "raw"

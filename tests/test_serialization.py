"""Public serialization: dicts, JSON lines and CSV rows, and the CLI writing exactly those."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alohub_async import (
    CallDetail,
    CallRecord,
    Direction,
    Transcript,
    TranscriptSegment,
    _timeutil,
    csv_header,
    csv_row,
    serialization,
    to_dict,
    to_json_line,
)
from alohub_async._timeutil import isoformat_column
from alohub_async.cli import CSV_FIELDS, run
from alohub_async.cli._writers import CsvWriter
from alohub_async.testing import FakeAlohub

ICT = timezone(timedelta(hours=7))
STARTED = datetime(2026, 1, 21, 9, 52, 27, tzinfo=ICT)
RANGE = ["--start", "2026-01-01", "--end", "2026-01-31"]
RAW = {"call_id": "20260121095227-IMCRRNJW-342", "starttime": "2026-01-21 09:52:27", "x": [1]}


def make_record(**changes: Any) -> CallRecord:
    """A record with every kind of field set; ``changes`` override fields."""
    fields: dict[str, Any] = {
        "call_id": "20260121095227-IMCRRNJW-342",
        "started_at": STARTED,
        "answered_at": None,
        "ended_at": STARTED + timedelta(seconds=75),
        "duration": 75.0,
        "direction": Direction.INBOUND,
        "caller": "0901234567",
        "agent": "Nguyễn Văn An",
        "raw": RAW,
    }
    fields.update(changes)
    return CallRecord(**fields)


def make_detail() -> CallDetail:
    """A detail with a two-segment transcript."""
    transcript = Transcript(
        text="Dạ, em chào anh chị\nChào em",
        segments=(
            TranscriptSegment("Dạ, em chào anh chị", "agent", 0.0, 2.5),
            TranscriptSegment("Chào em", "customer", 2.9, None),
        ),
    )
    return CallDetail(**attrs.asdict(make_record(), recurse=False), transcript=transcript)


@pytest.fixture
async def fake() -> AsyncIterator[FakeAlohub]:
    """A small fake with the default data."""
    async with FakeAlohub(calls=60, seed=5) as f:
        yield f


def test_to_dict_is_json_ready_in_model_order() -> None:
    """ISO 8601 times with a ``T`` and offset, the direction's value, None kept, no raw."""
    out = to_dict(make_record())
    assert list(out) == csv_header() == list(CSV_FIELDS)
    assert out["started_at"] == "2026-01-21T09:52:27+07:00"
    assert out["ended_at"] == "2026-01-21T09:53:42+07:00"
    assert out["answered_at"] is None
    assert out["direction"] == "inbound"
    assert type(out["direction"]) is str
    assert out["duration"] == 75.0
    assert json.loads(json.dumps(out)) == out


def test_to_dict_raw_is_an_optional_plain_copy() -> None:
    """``raw=True`` adds the server's record as a plain dict that json.dumps accepts."""
    record = make_record()
    out = to_dict(record, raw=True)
    assert list(out)[-1] == "raw"
    assert out["raw"] == RAW
    assert type(out["raw"]) is dict
    json.dumps(out)
    assert "raw" not in to_dict(record)


def test_to_dict_of_a_detail_has_the_transcript() -> None:
    """A detail adds ``transcript`` as ``{"text", "segments": [...]}``."""
    out = to_dict(make_detail())
    assert list(out) == csv_header(CallDetail)
    assert out["transcript"] == {
        "text": "Dạ, em chào anh chị\nChào em",
        "segments": [
            {"text": "Dạ, em chào anh chị", "speaker": "agent", "start": 0.0, "end": 2.5},
            {"text": "Chào em", "speaker": "customer", "start": 2.9, "end": None},
        ],
    }


@pytest.mark.parametrize("value", [None, {"call_id": "x"}, "x", 1])
def test_wrong_types_raise_type_error(value: Any) -> None:
    """Anything but a record is a TypeError, for each function."""
    for function in (to_dict, to_json_line, csv_row):
        with pytest.raises(TypeError, match="CallRecord"):
            function(value)
    with pytest.raises(TypeError, match="CallRecord"):
        csv_header(value)


def test_json_line_is_one_readable_line() -> None:
    """One line ending in a newline, Vietnamese unescaped, decoding to ``to_dict``."""
    line = to_json_line(make_record(), raw=True)
    assert line.endswith("\n")
    assert "\n" not in line[:-1]
    assert "Nguyễn Văn An" in line
    assert json.loads(line) == to_dict(make_record(), raw=True)


def test_json_line_escapes_what_a_terminal_would_act_on() -> None:
    r"""Control and bidi characters become ``\uXXXX``: safe to print, exact once decoded."""
    agent = "An\x1b]52;c;ZXZpbA==\x07\u202eevil\x9b"
    line = to_json_line(make_record(agent=agent))
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u202e]", line[:-1])
    assert json.loads(line)["agent"] == agent


def test_csv_row_round_trips_through_csv_module() -> None:
    """Rows written with csv.writer read back as the dict's values, None as empty."""
    record = make_record()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(csv_header(raw=True))
    writer.writerow(csv_row(record, raw=True))
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert len(rows) == 1
    row = rows[0]
    assert row["started_at"] == "2026-01-21T09:52:27+07:00"
    assert row["answered_at"] == ""
    assert row["duration"] == "75.0"
    assert row["direction"] == "inbound"
    assert json.loads(row["raw"]) == RAW


def test_csv_row_of_a_detail_writes_the_transcript_as_json() -> None:
    """The transcript cell is JSON, as in ``to_dict``."""
    detail = make_detail()
    cells = dict(zip(csv_header(CallDetail), csv_row(detail), strict=True))
    assert json.loads(cells["transcript"]) == to_dict(detail)["transcript"]


@pytest.mark.parametrize(
    ("agent", "defused"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("+84901234567", "+84901234567"),
        ("Nguyễn Văn An", "Nguyễn Văn An"),
    ],
)
def test_csv_row_defuses_formulas_unless_asked_not_to(agent: str, defused: str) -> None:
    """Formula cells get a leading ``'`` by default; ``defuse_formulas=False`` keeps them."""
    record = make_record(agent=agent)
    index = csv_header().index("agent")
    assert csv_row(record)[index] == defused
    assert csv_row(record, defuse_formulas=False)[index] == agent


async def cli_output(fake: FakeAlohub, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the CLI against ``fake``; return its stdout."""
    argv = ["--base-url", fake.url, "--api-key", fake.api_key, "--access-token", fake.access_token]
    assert await run([*argv, *args]) == 0
    return capsys.readouterr().out


async def listed(fake: FakeAlohub) -> list[CallRecord]:
    """The records of January, as the session yields them."""
    async with fake.session() as alohub:
        return [call async for call in alohub.iter_calls("2026-01-01", "2026-01-31")]


async def test_cli_jsonl_is_to_json_line(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """``calls list --format jsonl`` writes exactly ``to_json_line`` of each record."""
    out = await cli_output(fake, capsys, "calls", "list", *RANGE, "--format", "jsonl")
    assert out == "".join(to_json_line(record) for record in await listed(fake))


async def test_cli_csv_is_csv_header_and_rows(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """``calls list --format csv`` writes ``csv_header`` then ``csv_row`` of each record."""
    out = await cli_output(fake, capsys, "calls", "list", *RANGE, "--format", "csv")
    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\n")
    writer.writerow(csv_header())
    writer.writerows(csv_row(record) for record in await listed(fake))
    assert out == expected.getvalue()


async def test_cli_get_json_is_to_dict(
    fake: FakeAlohub, capsys: pytest.CaptureFixture[str]
) -> None:
    """``calls get --json`` prints ``to_dict`` of the detail."""
    call_id = (await listed(fake))[0].call_id
    async with fake.session() as alohub:
        detail = await alohub.get_call(call_id)
    out = await cli_output(fake, capsys, "calls", "get", call_id, "--json")
    assert json.loads(out) == to_dict(detail)


# --- the fast paths write exactly what the general rules give ----------------------------------

_HOSTILE = 'a\u202eb\x1b[31m\u2028\ud800"\\\t é'


class _Zone(str):
    """A str subclass value: takes the general path, not the inline one."""


@pytest.mark.parametrize(
    "record",
    [
        make_record(),
        make_record(raw={"k": _HOSTILE, "n": [1.5, None, True]}),
        make_record(agent=_HOSTILE, caller="=1+2", duration=float("nan"), status=_Zone("+x")),
        make_record(duration=10**20 * 1.0, hold_duration=0.1, started_at=None, callee=""),
        make_record(direction=Direction.UNKNOWN, customer_name="Trần\u061cThị"),
        make_detail(),
    ],
)
@pytest.mark.parametrize("raw", [False, True])
def test_json_line_and_csv_row_match_the_general_rules(record: CallRecord, raw: bool) -> None:
    """`to_json_line` is `to_dict` through json.dumps, made safe; `csv_row` its cells."""
    reference = json.dumps(to_dict(record, raw=raw), ensure_ascii=False)
    for char in {
        c
        for c in reference
        if re.match(r"[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]", c)
    }:
        reference = reference.replace(char, f"\\u{ord(char):04x}")
    assert to_json_line(record, raw=raw) == reference + "\n"
    cells = [
        ""
        if v is None
        else v
        if isinstance(v, str)
        else json.dumps(v, ensure_ascii=False)
        if isinstance(v, (dict, list))
        else str(v)
        for v in to_dict(record, raw=raw).values()
    ]
    assert csv_row(record, raw=raw, defuse_formulas=False) == [
        re.sub(
            r"[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]",
            lambda m: f"\\u{ord(m[0]):04x}",
            c,
        )
        if isinstance(v, (dict, list))
        else c
        for c, v in zip(cells, to_dict(record, raw=raw).values(), strict=True)
    ]


_PAGES = {
    "varied": [
        make_record(),
        make_record(raw={"k": _HOSTILE}),
        make_record(agent=_HOSTILE, caller="=1+2", duration=float("nan"), status=_Zone("+x")),
        make_record(duration=10**20 * 1.0, hold_duration=0.1, started_at=None, callee=""),
        make_record(direction=Direction.UNKNOWN, customer_name="Trần\u061cThị"),
    ],
    "columns of one class": [
        make_record(agent=agent, answered_at=STARTED, duration=duration, caller=caller)
        for agent, duration, caller in (
            ("An", 1.0, "=HYPERLINK()"),
            ("Nguyễn", 2.5, "+84901234567"),
            (_HOSTILE, 3.0, "-2+3+cmd|' /C calc'!A0"),
        )
    ],
    "nulls among values": [
        make_record(answered_at=answered, agent=agent, duration=duration)
        for answered, agent, duration in (
            (None, None, float("inf")),
            (STARTED, "\u202eBình", None),
            (None, "@x", 5),
        )
    ],
    "ints": [make_record(duration=n, hold_duration=n) for n in (0, 7, 10**30)],
    "details": [make_detail(), make_detail()],
    "records and details": [make_record(), make_detail()],
    "one": [make_record()],
    "empty": [],
}


@pytest.mark.parametrize("page", _PAGES.values(), ids=list(_PAGES))
def test_whole_pages_are_written_as_record_by_record(page: list[CallRecord]) -> None:
    """The CLI's page-at-a-time spelling gives the very text of the per-record functions."""
    assert serialization._json_lines(page) == "".join(map(to_json_line, page))
    for defuse in (True, False):
        rows = serialization._csv_rows(page, defuse_formulas=defuse)
        assert list(map(list, rows)) == [csv_row(r, defuse_formulas=defuse) for r in page]


def test_whole_pages_refuse_what_is_no_record() -> None:
    """A page holding something else raises TypeError, as the per-record functions do."""
    for bad in ([{"call_id": "x"}], [make_record(), "x"]):
        with pytest.raises(TypeError):
            serialization._json_lines(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            serialization._csv_rows(bad)  # type: ignore[arg-type]


class _NoOffset(tzinfo):
    """A tzinfo that knows no offset: such a datetime is written without one."""

    def utcoffset(self, dt: datetime | None) -> None:
        return None

    def dst(self, dt: datetime | None) -> None:
        return None

    def tzname(self, dt: datetime | None) -> None:
        return None


class _Odd(tzinfo):
    """A tzinfo of this test's own: orjson may not know how to ask it."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=5, minutes=45)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "odd"


_DAY = timedelta(hours=23)  # just inside what a timezone accepts
_ZONES = st.one_of(
    st.none(),
    st.timezones(),
    st.builds(timezone, st.timedeltas(min_value=-_DAY, max_value=_DAY)),
    st.just(_Odd()),
    st.just(_NoOffset()),
)


@pytest.mark.parametrize("fast", [True, False], ids=["orjson", "isoformat"])
@given(column=st.lists(st.datetimes(timezones=_ZONES), min_size=1, max_size=8))
def test_datetime_columns_are_spelled_as_isoformat(fast: bool, column: list[datetime]) -> None:
    """Spelling a column at once gives each value's isoformat(), whatever its zone and offset.

    orjson rounds an offset to whole minutes, so a column with a second in any offset must
    not take its path: generated fixed offsets and local mean times hold such offsets.
    """
    if fast:
        pytest.importorskip("orjson")
    with pytest.MonkeyPatch.context() as patch:
        if not fast:
            patch.setattr(_timeutil, "_orjson_dumps", None)
        expected = [moment.isoformat() for moment in column]
        assert isoformat_column(column) == expected
        assert isoformat_column(column, quoted=True) == [f'"{t}"' for t in expected]


def test_a_column_with_an_offset_in_seconds_keeps_them() -> None:
    """1900 in Saigon was local mean time, +07:06:30: written with its seconds, not rounded."""
    saigon = datetime(1900, 1, 1, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    column = [STARTED, saigon, STARTED.replace(tzinfo=None), STARTED.replace(tzinfo=_NoOffset())]
    assert isoformat_column(column) == [
        "2026-01-21T09:52:27+07:00",
        "1900-01-01T00:00:00+07:06:30",
        "2026-01-21T09:52:27",
        "2026-01-21T09:52:27",
    ]


def _csv_by_record(page: list[CallRecord], *, defuse: bool) -> str:
    """The csv module's text of each row; a row holding a CR has every cell quoted."""
    expected = io.StringIO()
    minimal = csv.writer(expected, lineterminator="\n")
    quoted = csv.writer(expected, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for record in page:
        row = csv_row(record, defuse_formulas=defuse)
        (quoted if any("\r" in cell for cell in row) else minimal).writerow(row)
    return expected.getvalue()


_CSV_PAGES = {
    **_PAGES,
    "commas, quotes and line breaks": [
        make_record(agent="Trần, Bình", caller='say "hi"'),
        make_record(customer_name="two\nlines"),
        make_record(),
    ],
    "a carriage return": [make_record(agent="a\rb"), make_record()],
}


@pytest.mark.parametrize("page", _CSV_PAGES.values(), ids=list(_CSV_PAGES))
@pytest.mark.parametrize("defuse", [True, False], ids=["defused", "raw"])
def test_the_csv_writer_writes_a_page_as_the_csv_module_would(
    page: list[CallRecord], defuse: bool
) -> None:
    """A page written at once is the csv module's text of its rows, quoting and all."""
    out = io.StringIO()
    CsvWriter(out, raw=not defuse).write_page(page)
    assert out.getvalue() == _csv_by_record(page, defuse=defuse)


@given(cells=st.lists(st.tuples(st.text(), st.text()), min_size=1, max_size=5))
def test_the_csv_writer_quotes_what_needs_quotes(cells: list[tuple[str, str]]) -> None:
    """Whatever the agent and customer are called, a page is what the csv module writes.

    Where the csv module refuses a cell (NUL before Python 3.11), the writer refuses it too.
    """
    page = [make_record(agent=agent, customer_name=name) for agent, name in cells]
    out = io.StringIO()
    try:
        expected = _csv_by_record(page, defuse=True)
    except csv.Error:
        with pytest.raises(csv.Error):
            CsvWriter(out).write_page(page)
        return
    CsvWriter(out).write_page(page)
    assert out.getvalue() == expected

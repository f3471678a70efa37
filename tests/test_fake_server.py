"""Tests of alohub_async.testing: the fake Alohub server, driven by a plain aiohttp client."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
import wave
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest

import alohub_async
from alohub_async._protocol import RECORD_KEYS, TOTAL_KEYS
from alohub_async.testing import (
    DEFAULT_ANCHOR,
    DEFAULT_SPAN,
    DEMO_ACCESS_TOKEN,
    DEMO_API_KEY,
    CallDataset,
    Envelope,
    FakeAlohub,
    Fault,
    recording_wav,
    serve_forever,
)

LIST = "/api/report/call-logs"
START = "2025-12-01T00:00:00+07:00"
END = "2026-02-01T00:00:00+07:00"
ALL = {"callStartTime": START, "callEndtime": END}
STATUSES = {"ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION"}
PHONE = re.compile(r"0(?:[35789]\d{8}|2[48]\d{8})")


@pytest.fixture
async def fake() -> AsyncIterator[FakeAlohub]:
    # The camelCase vocabulary: these tests pin the shape and values of its keys; the default
    # (evidenced) vocabulary has its own tests in tests/test_fake_vocabulary.py.
    async with FakeAlohub(calls=1000, seed=1, vocabulary="camel") as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def auth(fake: FakeAlohub) -> dict[str, str]:
    return {"Authorization": fake.api_key, "X-ACCESS-TOKEN": fake.access_token}


async def post(
    http: aiohttp.ClientSession,
    fake: FakeAlohub,
    body: Any,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    async with http.post(
        fake.url + LIST, json=body, headers=auth(fake) if headers is None else headers
    ) as response:
        return response.status, await response.json()


async def page(
    http: aiohttp.ClientSession, fake: FakeAlohub, number: int, limit: int = 50, **window: str
) -> Any:
    status, body = await post(http, fake, {**ALL, **window, "page": number, "limit": limit})
    assert status == 200
    return body


async def detail(http: aiohttp.ClientSession, fake: FakeAlohub, call_id: str) -> tuple[int, Any]:
    async with http.get(f"{fake.url}{LIST}/{call_id}", headers=auth(fake)) as response:
        return response.status, await response.json()


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met within 5 s")


def records_of(body: Any, envelope: Envelope) -> Any:
    if envelope.records_key is None:
        return body
    container = body if envelope.nested_under is None else body[envelope.nested_under]
    return container[envelope.records_key]


def top_keys(body: Any) -> set[str]:
    if not isinstance(body, dict):
        return set()
    nested = [value for value in body.values() if isinstance(value, dict)]
    return set(body).union(*nested)


def total_of(body: Any, envelope: Envelope) -> Any:
    if envelope.total_key is None:
        return None
    container = body if envelope.nested_under is None or envelope.total_outside else body["data"]
    return container[envelope.total_key]


# -- auth ------------------------------------------------------------------------------


async def test_list_without_api_key_is_401(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """A list request without Authorization answers 401 with a JSON failure body."""
    body = {**ALL, "page": 1, "limit": 5}
    status, payload = await post(http, fake, body, {"X-ACCESS-TOKEN": fake.access_token})
    assert status == 401
    assert payload["success"] == "0"
    assert payload["error_code"]


async def test_bearer_prefixed_key_is_401(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """The key is sent raw: a ``Bearer`` prefix is rejected."""
    headers = {**auth(fake), "Authorization": f"Bearer {fake.api_key}"}
    status, _ = await post(http, fake, {**ALL, "page": 1, "limit": 5}, headers)
    assert status == 401


async def test_wrong_token_is_401(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """A wrong X-ACCESS-TOKEN answers 401."""
    headers = {**auth(fake), "X-ACCESS-TOKEN": "stale"}
    status, payload = await post(http, fake, {**ALL, "page": 1, "limit": 5}, headers)
    assert status == 401
    assert payload["success"] == "0"


async def test_detail_without_credentials_is_401(
    fake: FakeAlohub, http: aiohttp.ClientSession
) -> None:
    """The detail endpoint checks credentials too."""
    call_id = fake.expected_records(START, END)[0]["callId"]
    async with http.get(f"{fake.url}{LIST}/{call_id}") as response:
        assert response.status == 401


async def test_rotating_the_token_expires_the_old_one(
    fake: FakeAlohub, http: aiohttp.ClientSession
) -> None:
    """Assigning ``access_token`` makes the old token 401 and the new one work."""
    old = auth(fake)
    fake.access_token = "fresh-token"
    assert (await post(http, fake, {**ALL, "page": 1, "limit": 5}, old))[0] == 401
    assert (await post(http, fake, {**ALL, "page": 1, "limit": 5}))[0] == 200


async def test_token_check_is_an_overridable_hook(
    fake: FakeAlohub, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``is_token_valid`` decides, so a test can accept a set of tokens."""
    monkeypatch.setattr(fake, "is_token_valid", lambda token: token in {"a", "b"})
    for token, expected in (("a", 200), ("b", 200), (fake.access_token, 401)):
        headers = {**auth(fake), "X-ACCESS-TOKEN": token}
        assert (await post(http, fake, {**ALL, "page": 1, "limit": 5}, headers))[0] == expected


async def test_demo_credentials_are_the_default(fake: FakeAlohub) -> None:
    """Without credentials the fake accepts the documented demo ones."""
    assert (fake.api_key, fake.access_token) == (DEMO_API_KEY, DEMO_ACCESS_TOKEN)


# -- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"callEndtime": END, "page": 1, "limit": 5},
        {"callStartTime": "yesterday", "callEndtime": END, "page": 1, "limit": 5},
        {"callStartTime": 20250101, "callEndtime": END, "page": 1, "limit": 5},
        {"callStartTime": START, "callEndtime": "2026-13-01T00:00:00", "page": 1, "limit": 5},
        {"callStartTime": START, "callEndtime": 5, "page": 1, "limit": 5},
        {"callStartTime": START, "page": 1, "limit": 5},
        {**ALL, "limit": 5},
        {**ALL, "page": 0, "limit": 5},
        {**ALL, "page": "1", "limit": 5},
        {**ALL, "page": True, "limit": 5},
        {**ALL, "page": 1},
        {**ALL, "page": 1, "limit": 0},
        {**ALL, "page": 1, "limit": 1001},
        {**ALL, "page": 1, "limit": 2.5},
        [ALL],
        None,
    ],
    ids=[
        "no-start",
        "start-text",
        "start-number",
        "end-bad-month",
        "end-number",
        "no-end",
        "no-page",
        "page-zero",
        "page-string",
        "page-bool",
        "no-limit",
        "limit-zero",
        "limit-over-cap",
        "limit-float",
        "body-list",
        "body-null",
    ],
)
async def test_bad_list_body_is_400(
    fake: FakeAlohub, http: aiohttp.ClientSession, body: Any
) -> None:
    """Missing or malformed fields answer 400 INVALID_PARAM."""
    status, payload = await post(http, fake, body)
    assert status == 400
    assert payload["success"] == "0"
    assert payload["error_code"] == "INVALID_PARAM"
    assert payload["error_message"]


async def test_non_json_body_is_400(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """A body that is not JSON answers 400."""
    async with http.post(fake.url + LIST, data=b"page=1", headers=auth(fake)) as response:
        assert response.status == 400


async def test_misspelled_end_field_is_ignored(
    fake: FakeAlohub, http: aiohttp.ClientSession
) -> None:
    """``callEndTime`` (capital T) is silently ignored: no end filter, no error."""
    start = "2026-01-20T00:00:00+07:00"
    body = {"callStartTime": start, "callEndTime": "2026-01-20T00:00:01+07:00"}
    status, payload = await post(http, fake, {**body, "page": 1, "limit": 5})
    assert status == 200
    assert payload["totalRecord"] == len(fake.expected_records(start, "2100-01-01T00:00:00Z"))
    assert payload["totalRecord"] > 5


async def test_start_after_end_is_an_empty_page(
    fake: FakeAlohub, http: aiohttp.ClientSession
) -> None:
    """A reversed window is not an error: it holds no calls."""
    payload = await page(http, fake, 1, callStartTime=END, callEndtime=START)
    assert (payload["data"], payload["totalRecord"]) == ([], 0)


# -- listing ---------------------------------------------------------------------------


async def test_default_envelope_shape(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """By default the list answers the sibling APIs' envelope with ``totalRecord``."""
    payload = await page(http, fake, 1, 3)
    assert list(payload) == ["success", "error_code", "error_message", "data", "totalRecord"]
    assert (payload["success"], payload["error_code"]) == ("1", "SUCCESS")
    assert payload["totalRecord"] == 1000
    assert len(payload["data"]) == 3


async def test_pages_concatenate_to_the_expected_records(
    fake: FakeAlohub, http: aiohttp.ClientSession
) -> None:
    """Walking every page yields exactly ``expected_records``, in order."""
    expected = fake.expected_records(START, END)
    served: list[Any] = []
    for number in range(1, 29):
        served += (await page(http, fake, number, 37))["data"]
    assert served == expected
    assert len(expected) == 1000


async def test_records_are_newest_first(fake: FakeAlohub) -> None:
    """Records come newest first."""
    starts = [record["callStartTime"] for record in fake.expected_records(START, END)]
    assert starts == sorted(starts, reverse=True)


async def test_page_past_the_end_is_empty(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """A page beyond the last holds no records but still the total."""
    payload = await page(http, fake, 21, 50)
    assert (payload["data"], payload["totalRecord"]) == ([], 1000)


async def test_window_bounds_are_inclusive(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """A window from and to a call's start second contains that call."""
    record = fake.expected_records(START, END)[500]
    second = record["callStartTime"].replace(" ", "T") + "+07:00"
    payload = await page(http, fake, 1, 50, callStartTime=second, callEndtime=second)
    assert record in payload["data"]
    assert all(r["callStartTime"] == record["callStartTime"] for r in payload["data"])


async def test_window_filters_by_start_time(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """Only calls starting inside the window are listed, and the total counts them."""
    window = {"callStartTime": "2026-01-10T00:00:00+07:00", "callEndtime": "2026-01-11T23:59:59"}
    payload = await page(http, fake, 1, 1000, **window)
    starts = [r["callStartTime"] for r in payload["data"]]
    assert starts
    assert all("2026-01-10 00:00:00" <= s <= "2026-01-11 23:59:59" for s in starts)
    everything = fake.expected_records(START, END)
    inside = [r for r in everything if "2026-01-10" <= r["callStartTime"][:10] <= "2026-01-11"]
    assert payload["data"] == inside
    assert payload["totalRecord"] == len(inside)


async def test_any_utc_offset_is_accepted(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """The same instant written in UTC or +07:00 selects the same calls."""
    local = await page(http, fake, 1, callStartTime="2026-01-10T07:00:00+07:00", callEndtime=END)
    utc = await page(http, fake, 1, callStartTime="2026-01-10T00:00:00Z", callEndtime=END)
    assert local == utc


async def test_naive_times_are_read_in_ho_chi_minh(
    fake: FakeAlohub, http: aiohttp.ClientSession
) -> None:
    """A time without offset means Asia/Ho_Chi_Minh."""
    naive = await page(http, fake, 1, callStartTime="2026-01-10T07:00:00", callEndtime=END)
    aware = await page(http, fake, 1, callStartTime="2026-01-10T07:00:00+07:00", callEndtime=END)
    assert naive == aware


async def test_calls_are_spread_over_the_span_before_the_anchor() -> None:
    """Every call starts within ``span`` before the documented default anchor."""
    data = CallDataset(2000, seed=4, vocabulary="camel")
    first = (DEFAULT_ANCHOR - DEFAULT_SPAN).strftime("%Y-%m-%d %H:%M:%S")
    last = DEFAULT_ANCHOR.strftime("%Y-%m-%d %H:%M:%S")
    records = data.records("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")
    assert len(records) == 2000
    assert all(first <= r["callStartTime"] <= last for r in records)
    assert records[0]["callStartTime"] > "2026-01-31 23:00"
    assert records[-1]["callStartTime"] < "2026-01-02 01:00"


async def test_anchor_and_span_are_configurable() -> None:
    """A custom anchor and span move the calls."""
    anchor = datetime(2025, 4, 13, 12, 0, tzinfo=timezone(timedelta(hours=7)))
    data = CallDataset(100, anchor=anchor, span=timedelta(hours=1))
    records = data.records("2025-04-13T11:00:00+07:00", "2025-04-13T12:00:00+07:00")
    assert len(records) == 100


async def test_same_seed_same_data() -> None:
    """Two fakes with the same seed serve the same records; another seed differs."""
    one = CallDataset(300, seed=9).records(START, END)
    assert one == CallDataset(300, seed=9).records(START, END)
    assert one != CallDataset(300, seed=10).records(START, END)


async def test_call_ids_look_like_the_real_ones(fake: FakeAlohub) -> None:
    """Call ids are start timestamp, eight capitals and the extension, and unique."""
    records = fake.expected_records(START, END)
    for record in records:
        stamp, letters, extension = record["callId"].split("-")
        assert stamp == re.sub(r"\D", "", record["callStartTime"])
        assert re.fullmatch(r"[A-Z]{8}", letters)
        assert extension == record["extension"]
        assert re.fullmatch(r"\d{3,4}", extension)
    assert len({r["callId"] for r in records}) == len(records)


async def test_records_carry_realistic_fields(fake: FakeAlohub) -> None:
    """Records hold Vietnamese numbers and names, and the documented enumerations."""
    records = fake.expected_records(START, END)
    assert {r["direction"] for r in records} == {"inbound", "outbound", "internal"}
    assert {r["status"] for r in records} <= STATUSES
    assert {"ANSWERED", "NO ANSWER", "BUSY"} <= {r["status"] for r in records}
    for record in records:
        assert isinstance(record["duration"], int)
        assert 0 <= record["billsec"] <= record["duration"]
        assert len(record["agentName"].split()) == 3
        if record["direction"] == "inbound":
            assert PHONE.fullmatch(record["caller"])
            assert record["callee"] == record["extension"]
            assert record["customerName"]
        elif record["direction"] == "outbound":
            assert PHONE.fullmatch(record["callee"])
        else:
            assert record["caller"] != record["callee"]
            assert record["customerName"] is None
    assert any("ễ" in r["agentName"] or "ầ" in r["agentName"] for r in records)


async def test_recording_url_only_for_answered_calls(fake: FakeAlohub) -> None:
    """``recordingUrl`` points at the fake's own URL when answered, else is null."""
    for record in fake.expected_records(START, END):
        if record["status"] == "ANSWERED":
            assert record["recordingUrl"] == f"{fake.url}/recordings/{record['callId']}.wav"
        else:
            assert record["recordingUrl"] is None


# -- envelopes -------------------------------------------------------------------------


@pytest.mark.parametrize("envelope", Envelope.documented(), ids=repr)
async def test_every_documented_envelope(
    fake: FakeAlohub, http: aiohttp.ClientSession, envelope: Envelope
) -> None:
    """Each documented shape holds the page's records and total where it says."""
    fake.envelope = envelope
    payload = await page(http, fake, 2, 10)
    assert records_of(payload, envelope) == fake.expected_records(START, END)[10:20]
    if envelope.total_key is None:
        assert not top_keys(payload) & set(TOTAL_KEYS)
    else:
        assert total_of(payload, envelope) == 1000


async def test_documented_envelopes_cover_every_key() -> None:
    """``Envelope.documented()`` spans every records key and total key the client reads."""
    shapes = Envelope.documented()
    # Per records key: each total (or none) flat and nested, each total one level up; plus
    # the bare list. The default shape is one of them, so it is not counted twice.
    per_key = 2 * (len(TOTAL_KEYS) + 1) + len(TOTAL_KEYS)
    assert len(shapes) == len(set(shapes)) == 1 + len(RECORD_KEYS) * per_key
    assert {s.records_key for s in shapes} == {None, *RECORD_KEYS}
    assert {s.total_key for s in shapes} == {None, *TOTAL_KEYS}
    assert any(s.total_outside for s in shapes)


async def test_bare_list_envelope(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """``Envelope.bare_list()`` answers a plain JSON list."""
    fake.envelope = Envelope.bare_list()
    payload = await page(http, fake, 1, 4)
    assert payload == fake.expected_records(START, END)[:4]


async def test_nested_envelope_with_total_one_level_up(
    fake: FakeAlohub, http: aiohttp.ClientSession
) -> None:
    """``nested_under`` plus ``total_outside`` puts the total beside the wrapper."""
    fake.envelope = Envelope(
        records_key="items", nested_under="data", total_key="totalCount", total_outside=True
    )
    payload = await page(http, fake, 1, 2)
    assert set(payload["data"]) == {"items"}
    assert payload["totalCount"] == 1000


async def test_envelope_without_status_fields(
    fake: FakeAlohub, http: aiohttp.ClientSession
) -> None:
    """``status_fields=False`` drops success/error_code/error_message."""
    fake.envelope = Envelope(records_key="rows", total_key="count", status_fields=False)
    payload = await page(http, fake, 1, 2)
    assert set(payload) == {"rows", "count"}


def test_inconsistent_envelopes_are_refused() -> None:
    """A nested bare list, or a total outside without nesting, is a ValueError."""
    with pytest.raises(ValueError, match="bare"):
        Envelope(records_key=None, nested_under="data")
    with pytest.raises(ValueError, match="nested_under"):
        Envelope(total_outside=True)


async def test_envelope_chosen_at_construction(http: aiohttp.ClientSession) -> None:
    """The constructor's ``envelope`` is used from the first request."""
    async with FakeAlohub(calls=10, envelope=Envelope(records_key="results")) as server:
        payload = await page(http, server, 1, 3)
    assert len(payload["results"]) == 3


# -- details and recordings ------------------------------------------------------------


async def test_detail_is_the_record_plus_recording_and_transcript(
    fake: FakeAlohub, http: aiohttp.ClientSession
) -> None:
    """The detail repeats the list record and adds ``recording_url`` and ``transcript``."""
    record = next(r for r in fake.expected_records(START, END) if r["status"] == "ANSWERED")
    status, payload = await detail(http, fake, record["callId"])
    assert status == 200
    assert (payload["success"], payload["error_code"]) == ("1", "SUCCESS")
    data = payload["data"]
    assert {k: data[k] for k in record} == record
    assert data["recording_url"] == record["recordingUrl"]
    assert data["transcript"]
    for segment in data["transcript"]:
        assert segment["speaker"] in {"agent", "customer"}
        assert segment["text"]
        assert 0 <= segment["start"] < segment["end"] <= data["billsec"]
    assert data == fake.expected_detail(record["callId"])


async def test_unanswered_detail_has_no_recording_or_transcript(
    fake: FakeAlohub, http: aiohttp.ClientSession
) -> None:
    """A call that was not answered has null ``recording_url`` and ``transcript``."""
    record = next(r for r in fake.expected_records(START, END) if r["status"] != "ANSWERED")
    _, payload = await detail(http, fake, record["callId"])
    assert payload["data"]["recording_url"] is None
    assert payload["data"]["transcript"] is None


@pytest.mark.parametrize(
    "call_id",
    ["20260121095227-IMCRRNJW-342", "nonsense", "20260121095227-IMCRRNJW-34"],
)
async def test_unknown_detail_is_data_null(
    fake: FakeAlohub, http: aiohttp.ClientSession, call_id: str
) -> None:
    """An unknown call id answers 200 with ``data: null``."""
    status, payload = await detail(http, fake, call_id)
    assert status == 200
    assert payload["success"] == "1"
    assert payload["data"] is None


async def test_tampered_call_id_is_unknown(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """A real call id with a different timestamp is not found."""
    call_id = fake.expected_records(START, END)[3]["callId"]
    _, payload = await detail(http, fake, "19990101000000" + call_id[14:])
    assert payload["data"] is None


async def test_unknown_detail_can_be_404(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """``missing_detail_404`` answers an unknown id with 404."""
    fake.missing_detail_404 = True
    status, payload = await detail(http, fake, "20260121095227-IMCRRNJW-342")
    assert status == 404
    assert payload["success"] == "0"


async def test_bare_detail_envelope(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """``detail_key=None`` answers the detail object itself."""
    fake.envelope = Envelope(detail_key=None)
    call_id = fake.expected_records(START, END)[0]["callId"]
    _, payload = await detail(http, fake, call_id)
    assert payload["callId"] == call_id


async def test_recording_is_a_valid_wav(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """The detail's ``recording_url`` downloads a WAV file."""
    record = next(r for r in fake.expected_records(START, END) if r["status"] == "ANSWERED")
    _, payload = await detail(http, fake, record["callId"])
    async with http.get(payload["data"]["recording_url"]) as response:
        assert response.status == 200
        assert response.content_type == "audio/wav"
        content = await response.read()
    with wave.open(io.BytesIO(content)) as audio:
        assert (audio.getnchannels(), audio.getframerate()) == (1, 8000)
        assert audio.getnframes() / audio.getframerate() == pytest.approx(0.2)
    assert content == recording_wav()


async def test_recording_of_unanswered_call_is_404(
    fake: FakeAlohub, http: aiohttp.ClientSession
) -> None:
    """Only answered calls have a recording."""
    record = next(r for r in fake.expected_records(START, END) if r["status"] != "ANSWERED")
    async with http.get(f"{fake.url}/recordings/{record['callId']}.wav") as response:
        assert response.status == 404


# -- inserted rows ---------------------------------------------------------------------


async def test_inserted_calls_shift_later_rows(
    fake: FakeAlohub, http: aiohttp.ClientSession
) -> None:
    """``insert_calls(n)`` adds rows at the head and pushes every later row down by n."""
    before = fake.expected_records(START, END)
    fake.insert_calls(3)
    payload = await page(http, fake, 2, 10)
    assert payload["data"] == before[7:17]
    assert payload["totalRecord"] == 1003
    head = (await page(http, fake, 1, 10))["data"][:3]
    assert all(r not in before for r in head)
    assert {r["callStartTime"] for r in head} == {before[0]["callStartTime"]}


async def test_inserted_calls_have_details(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """An inserted call can be fetched by id."""
    fake.insert_calls(2)
    call_id = fake.expected_records(START, END)[0]["callId"]
    _, payload = await detail(http, fake, call_id)
    assert payload["data"]["callId"] == call_id


async def test_inserted_calls_stay_out_of_older_windows(
    fake: FakeAlohub, http: aiohttp.ClientSession
) -> None:
    """A window not covering the newest call is unaffected by insertions."""
    window = {"callStartTime": START, "callEndtime": "2026-01-20T00:00:00+07:00"}
    before = await page(http, fake, 1, 20, **window)
    fake.insert_calls(5)
    assert await page(http, fake, 1, 20, **window) == before


async def test_auto_insert_after_every_m_list_requests(
    fake: FakeAlohub, http: aiohttp.ClientSession
) -> None:
    """``auto_insert(k, every=m)`` inserts k rows after each m-th list request."""
    fake.auto_insert(4, every=2)
    totals = [(await page(http, fake, 1, 5))["totalRecord"] for _ in range(5)]
    assert totals == [1000, 1000, 1004, 1004, 1008]
    fake.auto_insert(0)
    await page(http, fake, 1, 5)
    assert fake.data.inserted == 8


# -- faults ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_html_server_errors(
    fake: FakeAlohub, http: aiohttp.ClientSession, status: int
) -> None:
    """``Fault.status(5xx, html=True)`` answers an nginx-style HTML page."""
    fake.script(Fault.status(status, html=True))
    async with http.post(
        fake.url + LIST, json={**ALL, "page": 1, "limit": 5}, headers=auth(fake)
    ) as response:
        assert response.status == status
        assert response.content_type == "text/html"
        text = await response.text()
    assert text.startswith("<html>")
    assert str(status) in text


async def test_faults_apply_after_the_credential_check(
    fake: FakeAlohub, http: aiohttp.ClientSession
) -> None:
    """An unauthenticated request gets its 401 and leaves scripted faults queued."""
    fake.script(Fault.status(503))
    assert (await post(http, fake, {**ALL, "page": 1, "limit": 5}, {}))[0] == 401
    assert fake.pending_faults == 1


async def test_json_status_fault(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """A status fault answers a JSON failure body by default."""
    fake.script(Fault.status(500, code="SYSTEM_ERROR", message="boom"))
    status, payload = await post(http, fake, {**ALL, "page": 1, "limit": 5})
    assert status == 500
    assert payload == {"success": "0", "error_code": "SYSTEM_ERROR", "error_message": "boom"}


async def test_rate_limit_with_retry_after(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """``Fault.status(429, retry_after=1)`` sends ``Retry-After: 1``."""
    fake.script(Fault.status(429, retry_after=1.0))
    async with http.post(
        fake.url + LIST, json={**ALL, "page": 1, "limit": 5}, headers=auth(fake)
    ) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "1"


async def test_reset_is_a_client_connection_error(
    fake: FakeAlohub, http: aiohttp.ClientSession
) -> None:
    """``Fault.reset()`` drops the connection: aiohttp raises ClientConnectionError."""
    fake.script(Fault.reset())
    with pytest.raises(aiohttp.ClientConnectionError):
        await post(http, fake, {**ALL, "page": 1, "limit": 5})
    assert (await post(http, fake, {**ALL, "page": 1, "limit": 5}))[0] == 200


async def test_malformed_json(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """``Fault.malformed_json()`` answers 200 JSON that does not parse."""
    fake.script(Fault.malformed_json())
    async with http.post(
        fake.url + LIST, json={**ALL, "page": 1, "limit": 5}, headers=auth(fake)
    ) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        with pytest.raises(json.JSONDecodeError):
            json.loads(await response.text())


async def test_failure_body(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """``Fault.failure_body()`` answers 200 with success "0"."""
    fake.script(Fault.failure_body(code="SYSTEM_ERROR", message="Hệ thống bận"))
    status, payload = await post(http, fake, {**ALL, "page": 1, "limit": 5})
    assert status == 200
    assert payload == {
        "success": "0",
        "error_code": "SYSTEM_ERROR",
        "error_message": "Hệ thống bận",
    }


async def test_hang_delays_then_answers(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """``Fault.hang(seconds)`` answers normally after at least that long."""
    fake.script(Fault.hang(0.2))
    began = time.monotonic()
    status, _ = await post(http, fake, {**ALL, "page": 1, "limit": 5})
    assert status == 200
    assert time.monotonic() - began >= 0.2


async def test_endless_hang_ends_when_the_client_gives_up(
    fake: FakeAlohub, http: aiohttp.ClientSession
) -> None:
    """A request hanging forever is dropped server side once the client times out."""
    fake.script(Fault.hang())
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(post(http, fake, {**ALL, "page": 1, "limit": 5}), 0.2)
    await until(lambda: fake.counters.in_flight == 0)


async def test_endless_hang_ends_when_the_fake_closes(http: aiohttp.ClientSession) -> None:
    """Closing the fake releases a request hanging forever with a connection error."""
    server = FakeAlohub(calls=10)
    await server.start()
    server.script(Fault.hang())
    request = asyncio.create_task(post(http, server, {**ALL, "page": 1, "limit": 5}))
    await until(lambda: server.counters.faults == 1)
    await server.close()
    with pytest.raises(aiohttp.ClientConnectionError):
        await request


async def test_script_is_consumed_in_order(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """Scripted faults hit the next requests one by one, then service resumes."""
    fake.script(Fault.status(503), Fault.status(429), Fault.failure_body())
    statuses = [(await post(http, fake, {**ALL, "page": 1, "limit": 5})) for _ in range(4)]
    assert [s for s, _ in statuses] == [503, 429, 200, 200]
    assert statuses[2][1]["success"] == "0"
    assert statuses[3][1]["success"] == "1"
    assert fake.pending_faults == 0


async def test_script_targets_an_endpoint(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """A fault scripted for details is not consumed by list requests."""
    fake.script(Fault.status(502), endpoint="detail")
    assert (await post(http, fake, {**ALL, "page": 1, "limit": 5}))[0] == 200
    call_id = fake.expected_records(START, END)[0]["callId"]
    assert (await detail(http, fake, call_id))[0] == 502


async def test_fail_page_targets_one_page(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """``fail_page(3, fault, times=2)`` fails page 3 twice and no other page."""
    fake.fail_page(3, Fault.status(503), times=2)
    results = []
    for number in (1, 3, 2, 3, 4, 3):
        status, _ = await post(http, fake, {**ALL, "page": number, "limit": 5})
        results.append(status)
    assert results == [200, 503, 200, 503, 200, 200]


async def test_error_rate_one_always_fails(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """An error rate of 1.0 faults every matching request."""
    fake.error_rate(1.0, Fault.status(500), endpoint="list")
    for _ in range(3):
        assert (await post(http, fake, {**ALL, "page": 1, "limit": 5}))[0] == 500


async def test_error_rate_is_seeded(http: aiohttp.ClientSession) -> None:
    """The same ``fault_seed`` draws the same faults."""
    outcomes = []
    for _ in range(2):
        async with FakeAlohub(calls=10, fault_seed=7) as server:
            server.error_rate(0.5, Fault.status(503))
            body = {**ALL, "page": 1, "limit": 5}
            outcomes.append([(await post(http, server, body))[0] for _ in range(12)])
    assert outcomes[0] == outcomes[1]
    assert set(outcomes[0]) == {200, 503}


async def test_clear_faults(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """``clear_faults()`` drops scripts and rates."""
    fake.script(Fault.status(503))
    fake.error_rate(1.0, Fault.status(500))
    fake.clear_faults()
    assert (await post(http, fake, {**ALL, "page": 1, "limit": 5}))[0] == 200


def test_fault_arguments_are_checked() -> None:
    """Impossible statuses and negative hangs are refused."""
    with pytest.raises(ValueError, match="HTTP status"):
        Fault.status(99)
    with pytest.raises(ValueError, match="negative"):
        Fault.hang(-1)


async def test_ignore_page_mode(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """With ``ignore_page`` every page number gets page 1."""
    fake.ignore_page = True
    first = await page(http, fake, 1, 10)
    assert await page(http, fake, 7, 10) == first


# -- latency ---------------------------------------------------------------------------


async def test_fixed_latency(http: aiohttp.ClientSession) -> None:
    """A fixed latency delays each answer by at least that long."""
    async with FakeAlohub(calls=10, latency=0.15) as server:
        began = time.monotonic()
        await post(http, server, {**ALL, "page": 1, "limit": 5})
        assert time.monotonic() - began >= 0.15


async def test_random_latency_lower_bound(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """A ``(low, high)`` latency delays each answer by at least ``low``."""
    fake.latency = (0.1, 0.2)
    began = time.monotonic()
    await post(http, fake, {**ALL, "page": 1, "limit": 5})
    assert time.monotonic() - began >= 0.1


async def test_latency_per_endpoint(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """``set_latency(s, "detail")`` delays details."""
    fake.set_latency(0.15, "detail")
    call_id = fake.expected_records(START, END)[0]["callId"]
    began = time.monotonic()
    await detail(http, fake, call_id)
    assert time.monotonic() - began >= 0.15


def test_negative_latency_is_refused() -> None:
    """Latency must be non-negative and ranges ordered."""
    with pytest.raises(ValueError, match="negative"):
        FakeAlohub(latency=-1.0)
    with pytest.raises(ValueError, match="low <= high"):
        FakeAlohub(latency=(0.2, 0.1))


# -- counters --------------------------------------------------------------------------


async def test_counters_per_endpoint(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """Requests are counted in total and per endpoint."""
    record = next(r for r in fake.expected_records(START, END) if r["status"] == "ANSWERED")
    await post(http, fake, {**ALL, "page": 1, "limit": 5})
    await post(http, fake, {**ALL, "page": 2, "limit": 5})
    await detail(http, fake, record["callId"])
    async with http.get(record["recordingUrl"]) as response:
        await response.read()
    assert fake.counters.requests == 4
    assert fake.counters.by_endpoint == {"list": 2, "detail": 1, "recording": 1}


async def test_list_pages_in_arrival_order(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """``list_pages`` records each list request's (page, limit)."""
    for number, limit in ((1, 10), (3, 20), (2, 10)):
        await post(http, fake, {**ALL, "page": number, "limit": limit})
    assert fake.counters.list_pages == [(1, 10), (3, 20), (2, 10)]


async def test_max_in_flight(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """Concurrent requests raise ``max_in_flight``; ``in_flight`` returns to zero."""
    fake.latency = 0.5
    body = {**ALL, "page": 1, "limit": 5}
    await asyncio.gather(*(post(http, fake, body) for _ in range(8)))
    assert fake.counters.max_in_flight == 8
    assert fake.counters.in_flight == 0


async def test_reset_counters(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """``reset_counters()`` zeroes every counter."""
    fake.script(Fault.status(503))
    await post(http, fake, {**ALL, "page": 1, "limit": 5})
    assert fake.counters.faults == 1
    fake.reset_counters()
    counters = fake.counters
    assert (counters.requests, counters.faults, counters.max_in_flight) == (0, 0, 0)
    assert (counters.list_pages, dict(counters.by_endpoint)) == ([], {})


# -- scale -----------------------------------------------------------------------------


async def test_million_calls_generate_only_the_page(http: aiohttp.ClientSession) -> None:
    """A 1,000,000-call fake builds only the 50 records of page 19,999."""
    async with FakeAlohub(calls=1_000_000, seed=2) as server:
        payload = await page(http, server, 19_999, 50)
        assert server.data.records_built == 50
    assert payload["totalRecord"] == 1_000_000
    assert len(payload["data"]) == 50
    assert payload["data"][-1]["starttime"] < "2026-01-02 00:10:00"


async def test_repeated_page_hits_the_cache(fake: FakeAlohub, http: aiohttp.ClientSession) -> None:
    """Serving the same page again generates nothing new."""
    await page(http, fake, 4, 50)
    built = fake.data.records_built
    await page(http, fake, 4, 50)
    assert fake.data.records_built == built


async def test_cache_is_bounded() -> None:
    """The record cache never outgrows ``cache_size``: memory stays flat."""
    data = CallDataset(5000, cache_size=100)
    records = data.records(START, END)
    assert len(records) == 5000
    data.records_built = 0
    data.page(START, END, 1, 50)
    assert data.records_built == 50


# -- lifecycle -------------------------------------------------------------------------


def test_url_before_start_raises() -> None:
    """``url`` is only available while running."""
    with pytest.raises(RuntimeError, match="not running"):
        _ = FakeAlohub().url


async def test_url_is_loopback_with_ephemeral_port(fake: FakeAlohub) -> None:
    """The fake binds 127.0.0.1 on a port picked by the OS."""
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", fake.url)
    assert not fake.url.endswith(":0")


async def test_close_is_idempotent() -> None:
    """Closing twice is harmless, and the fake refuses to start twice."""
    server = FakeAlohub(calls=1)
    await server.start()
    with pytest.raises(RuntimeError, match="already"):
        await server.start()
    await server.close()
    await server.close()


async def test_serve_forever_reports_and_stops_on_cancel(http: aiohttp.ClientSession) -> None:
    """``serve_forever`` hands the running fake to ``on_ready`` and stops when cancelled."""
    ready: asyncio.Queue[FakeAlohub] = asyncio.Queue()
    task = asyncio.create_task(
        serve_forever(port=0, calls=20, api_key="K", access_token="T", on_ready=ready.put_nowait)
    )
    server = await ready.get()
    assert (server.api_key, server.access_token) == ("K", "T")
    assert (await page(http, server, 1, 50))["totalRecord"] == 20
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_session_factory_wires_credentials(
    fake: FakeAlohub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``session()`` builds an AlohubSession with the fake's URL and credentials."""
    calls: list[dict[str, Any]] = []

    def fake_session(**kwargs: Any) -> None:
        calls.append(kwargs)

    monkeypatch.setattr(alohub_async, "AlohubSession", fake_session, raising=False)
    fake.session(max_retries=0, access_token="other")
    assert calls == [
        {"api_key": fake.api_key, "access_token": "other", "base_url": fake.url, "max_retries": 0}
    ]

"""Transcript exports: plain text with speakers, SRT, WebVTT and JSON, all pure functions."""

from __future__ import annotations

import json

import pytest

from alohub_async import Transcript, TranscriptSegment
from alohub_async.testing import FakeAlohub

TIMED = Transcript(
    text="Xin chào\nChào em",
    segments=(
        TranscriptSegment("Xin chào", speaker="agent", start=0.0, end=2.5),
        TranscriptSegment("Chào em", speaker="customer", start=3.25, end=3661.125),
    ),
)


def test_text_has_one_speaker_line_per_segment() -> None:
    assert TIMED.to_text() == "agent: Xin chào\ncustomer: Chào em\n"


def test_text_without_segments_is_the_text_as_is() -> None:
    assert Transcript(text="line one\nline two").to_text() == "line one\nline two"


def test_srt_numbers_cues_with_comma_milliseconds() -> None:
    assert TIMED.to_srt() == (
        "1\n00:00:00,000 --> 00:00:02,500\nagent: Xin chào\n\n"
        "2\n00:00:03,250 --> 01:01:01,125\ncustomer: Chào em\n"
    )


def test_vtt_has_header_dot_milliseconds_and_voices() -> None:
    assert TIMED.to_vtt() == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:02.500\n<v agent>Xin chào\n\n"
        "00:00:03.250 --> 01:01:01.125\n<v customer>Chào em\n"
    )


def test_subtitles_of_an_untimed_transcript_are_refused_pointing_at_text() -> None:
    untimed = Transcript(text="a b", segments=(TranscriptSegment("a b", speaker="x"),))
    assert not untimed.timed
    for export in (untimed.to_srt, untimed.to_vtt):
        with pytest.raises(ValueError, match="to_text"):
            export()
    assert untimed.to_text() == "x: a b\n"


def test_missing_times_are_filled_from_neighbours() -> None:
    transcript = Transcript(
        text="",
        segments=(
            TranscriptSegment("one", start=1.0),  # no end: until the next start
            TranscriptSegment("two"),  # no start: where the previous ended
            TranscriptSegment("three", start=5.0, end=4.0),  # end before start: default length
        ),
    )
    assert transcript.to_srt() == (
        "1\n00:00:01,000 --> 00:00:05,000\none\n\n"
        "2\n00:00:05,000 --> 00:00:08,000\ntwo\n\n"
        "3\n00:00:05,000 --> 00:00:08,000\nthree\n"
    )


def test_text_that_would_break_a_cue_is_neutralised() -> None:
    """A blank line ends an SRT cue; ``-->`` and tags mean something in WebVTT."""
    hostile = Transcript(
        text="",
        segments=(TranscriptSegment("a\n\n2\n00:00 --> <b>x</b> & y", speaker="<s>", start=0.0),),
    )
    srt = hostile.to_srt()
    assert srt.count("\n\n") == 0 and srt.count("-->") == 2
    vtt = hostile.to_vtt()
    assert "<v &lt;s&gt;>a 2 00:00 --&gt; &lt;b&gt;x&lt;/b&gt; &amp; y" in vtt
    assert vtt.count("-->") == 1


def test_json_round_trips_every_field() -> None:
    data = json.loads(TIMED.to_json())
    assert data == TIMED.to_dict()
    assert data["segments"][1] == {
        "speaker": "customer",
        "text": "Chào em",
        "start": 3.25,
        "end": 3661.125,
    }
    assert "Chào" in TIMED.to_json()  # UTF-8 kept, not \\u-escaped


async def test_a_fetched_transcript_exports_every_segment(alohub_fake: FakeAlohub) -> None:
    fake = alohub_fake
    async with fake.session() as alohub:
        walk = alohub.iter_calls(fake.data.anchor - fake.data.span, fake.data.anchor)
        call_id = next(c.call_id for c in [c async for c in walk] if c.recording_url)
        detail = await alohub.get_call(call_id)
    assert detail.transcript is not None and detail.transcript.segments
    segments = detail.transcript.segments
    assert detail.transcript.to_srt().count(" --> ") == len(segments)
    assert detail.transcript.to_vtt().startswith("WEBVTT\n")
    assert detail.transcript.to_text().splitlines()[0].endswith(segments[0].text)

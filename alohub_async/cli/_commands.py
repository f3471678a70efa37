"""The commands that talk to the API: ``calls``, ``recordings download`` and ``doctor``.

`build_session` turns the global options into a session; ``sync`` starts from it too.

Imported only when one of them runs (see `alohub_async.cli._parser.lazy_handler`), so the
client, aiohttp and cattrs load after the arguments were parsed, never for ``--help``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections import Counter
from datetime import tzinfo
from typing import Any, TextIO

from .._doctor import configuration_failure
from .._environment import ENV_BASE_URL
from .._protocol import DEFAULT_BASE_URL
from .._recordings import RecordingOutcome, RecordingResult
from .._session import AlohubSession
from ..errors import AlohubError, MissingCredentialsError
from ..models import CallDetail
from ..serialization import _json_text, to_dict
from ._exit_codes import ExitCode, UsageError
from ._failures import describe, exit_code_for
from ._output import (
    Progress,
    clock,
    error,
    human_size,
    is_tty,
    local,
    output_stream,
    printable,
    progress_stream,
    say,
)
from ._writers import record_writer

__all__ = [
    "build_session",
    "calls_get",
    "calls_list",
    "doctor",
    "recordings_download",
    "session_options",
]


def session_options(args: argparse.Namespace) -> dict[str, Any]:
    """Return the session options the global options set (those left out keep their default)."""
    return {
        name: value
        for name in ("tz", "server_tz", "timeout", "max_retries")
        if (value := getattr(args, name)) is not None
    }


def build_session(args: argparse.Namespace, **extra: Any) -> AlohubSession:
    """Build a session from the global options and ``extra`` (None values left out).

    Raises:
        MissingCredentialsError: no key or token, as an option or in the environment (the
            session checks; `describe` words it for the command line).
    """
    kwargs = session_options(args)
    kwargs.update({name: value for name, value in extra.items() if value is not None})
    return AlohubSession(args.api_key, args.access_token, base_url=args.base_url, **kwargs)


async def calls_list(args: argparse.Namespace) -> int:
    """Stream the calls of a range to stdout or a file."""
    if args.csv_raw and args.format != "csv":
        raise UsageError("--csv-raw applies only to --format csv")
    session = build_session(args, page_size=args.page_size, concurrency=args.concurrency)
    async with session as alohub:
        # Page by page: the same records, in the same order, as iter_calls yields, but
        # each page is written at once and the progress line looked at once per page.
        walk = alohub.iter_pages(args.start, args.end)  # bad arguments raise here
        to_stdout = args.output in (None, "-")
        progress = Progress(progress_stream(args, to_stdout))
        with output_stream(args.output) as stream:
            writer = record_writer(args.format, stream, tz=alohub.tz, csv_raw=args.csv_raw)
            # The header waits for the first record (or the end of an empty walk), so a
            # walk that fails at once writes nothing.
            started = False
            try:
                async with contextlib.aclosing(walk):
                    async for page in walk:
                        if not page.items:
                            continue
                        if not started:
                            writer.header()
                            started = True
                        writer.write_page(page.items)
                        progress.update(walk.stats)
            finally:
                progress.clear()
            if not started:
                writer.header()
            stream.flush()
        stats = walk.stats
        if not args.quiet and is_tty(sys.stderr):
            say(
                f"{stats.records:,} calls, {stats.pages:,} pages, {stats.requests:,} requests "
                f"({stats.retries:,} retries) in {progress.elapsed:.2f}s"
            )
    return ExitCode.OK


def _print_detail(detail: CallDetail, tz: tzinfo) -> None:
    """Print a call's details and transcript for a human, server text made printable."""
    rows = (
        ("started", local(detail.started_at, tz)),
        ("ended", local(detail.ended_at, tz)),
        ("duration", clock(detail.duration)),
        ("direction", detail.direction.value),
        ("caller", detail.caller),
        ("callee", detail.callee),
        ("extension", detail.extension),
        ("agent", detail.agent),
        ("status", detail.status),
        ("customer", detail.customer_name),
        ("recording", detail.recording_url),
    )
    print(f"Call {printable(detail.call_id)}")
    for label, value in rows:
        if value:
            print(f"  {label:<10} {printable(value)}")
    transcript = detail.transcript
    if transcript is None:
        print("Transcript: none")
        return
    if not transcript.segments:
        print("Transcript:")
        # A plain-text transcript keeps its line breaks; anything else is escaped.
        for line in transcript.text.splitlines():
            print(f"  {printable(line)}")
        return
    print(f"Transcript ({len(transcript.segments)} segments):")
    for segment in transcript.segments:
        when = "" if segment.start is None else f"[{segment.start:7.1f}s] "
        speaker = f"{printable(segment.speaker)}: " if segment.speaker else ""
        print(f"  {when}{speaker}{printable(segment.text)}")


def _print_transcript(detail: CallDetail, kind: str) -> int:
    """Print a call's transcript as ``kind`` (text, srt, vtt, json); return the exit code."""
    transcript = detail.transcript
    if transcript is None:
        error(f"call {detail.call_id} has no transcript")
        return ExitCode.NOT_FOUND
    if kind == "json":
        print(_json_text(transcript.to_dict(), indent=2))
        return ExitCode.OK
    if kind in ("srt", "vtt") and not transcript.timed:
        say(f"the transcript has no times, so no {kind.upper()} cues: printing its text")
        kind = "text"
    exported = {"text": transcript.to_text, "srt": transcript.to_srt, "vtt": transcript.to_vtt}
    # Line by line: the structure's newlines stay, control characters in server text do not.
    for line in exported[kind]().splitlines():
        print(printable(line))
    return ExitCode.OK


async def calls_get(args: argparse.Namespace) -> int:
    """Print one call's details (or only its transcript); optionally save its recording."""
    if args.json and args.transcript:
        raise UsageError("--json and --transcript cannot be combined")
    async with build_session(args) as alohub:
        detail = await alohub.get_call(args.call_id)
        code: int = ExitCode.OK
        if args.transcript:
            code = _print_transcript(detail, args.transcript)
        elif args.json:
            print(_json_text(to_dict(detail), indent=2))
        else:
            _print_detail(detail, alohub.tz)
        sys.stdout.flush()
        if args.save_recording:
            saved = await alohub.download_recording(detail, args.save_recording)
            say(
                f"saved the recording to {saved.path} ({saved.size:,} bytes, "
                f"{saved.content_type}, sha256 {saved.sha256})"
            )
    return code


async def recordings_download(args: argparse.Namespace) -> int:
    """Download the recordings of a range into a directory, with progress and a summary."""
    try:
        os.makedirs(args.dir, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {args.dir}: {exc.strerror or exc}") from None
    async with build_session(args) as alohub:
        downloads = alohub.download_recordings(
            args.start, args.end, args.dir, concurrency=args.concurrency
        )
        progress = Progress(progress_stream(args, to_stdout=False))
        outcomes: Counter[RecordingOutcome] = Counter()
        failed: list[RecordingResult] = []
        saved_bytes = 0

        def line(elapsed: float) -> str:
            rate = human_size(saved_bytes / elapsed if elapsed > 0 else 0.0)
            return (
                f"{sum(outcomes.values()):,} files, {human_size(saved_bytes)}, {rate}/s, "
                f"{len(failed):,} failed, {elapsed:.1f}s"
            )

        try:
            async with contextlib.aclosing(downloads):
                async for result in downloads:
                    outcomes[result.outcome] += 1
                    if result.recording is not None:
                        saved_bytes += result.recording.size
                    if result.outcome is RecordingOutcome.FAILED:
                        failed.append(result)
                    progress.show(line)
        finally:
            progress.clear()
    for result in failed:
        say(f"failed: {result.call_id}: {result.error}")
    if not args.quiet:
        say(
            f"{outcomes[RecordingOutcome.SAVED]:,} saved, "
            f"{outcomes[RecordingOutcome.SKIPPED]:,} skipped (already there), "
            f"{outcomes[RecordingOutcome.NO_RECORDING]:,} without a recording, "
            f"{len(failed):,} failed; {human_size(saved_bytes)} in {progress.elapsed:.1f}s"
        )
    if not failed:
        return ExitCode.OK
    error(f"{len(failed):,} downloads failed (listed above); run again to retry them")
    first = failed[0].error
    return exit_code_for(first) if isinstance(first, AlohubError) else ExitCode.USAGE


# The exit status of each kind of doctor failure.
_DOCTOR_EXIT: dict[str, ExitCode] = {
    "configuration": ExitCode.USAGE,
    "auth": ExitCode.AUTH,
    "network": ExitCode.NETWORK,
    "response": ExitCode.RESPONSE,
    "format": ExitCode.RESPONSE,
}


def _can_encode(text: str, stream: TextIO) -> bool:
    """Tell whether ``stream`` can encode ``text`` (a legacy console may not take ✓)."""
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


async def doctor(args: argparse.Namespace) -> int:
    """Diagnose the setup and print the report; the exit status says what failed."""
    base_url = args.base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
    try:
        session = build_session(args)
    except ValueError as exc:  # MissingCredentialsError is one too: an auth failure
        missing = isinstance(exc, MissingCredentialsError)
        report = configuration_failure(base_url, UsageError(describe(exc)), auth=missing)
    else:
        async with session as alohub:
            report = await alohub.diagnose(args.start, args.end)
    for line in report.lines(ascii_marks=not _can_encode("✓✗", sys.stderr)):
        say(line)
    if args.capture is not None:
        with output_stream(args.capture) as stream:
            json.dump(report.capture, stream, ensure_ascii=False, indent=2)
            stream.write("\n")
        say(f"Redacted sample written to {args.capture}")
    if report.failure is not None:
        failed = next(check for check in report.checks if check.ok is False)
        error(f"doctor: the {failed.name} check failed")
        return _DOCTOR_EXIT[report.failure]
    return ExitCode.OK

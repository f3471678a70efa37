r"""Fetch the details of every call of one day, and save each transcript as a text file.

Run it against the fake (no credentials, no network)::

    alohub-async fake-server --port 9909 &
    export ALOHUB_BASE_URL=http://127.0.0.1:9909 ALOHUB_API_KEY=demo-api-key \
           ALOHUB_ACCESS_TOKEN=demo-access-token
    python examples/day_details.py 2026-01-21 transcripts/

The session reads ``ALOHUB_API_KEY``, ``ALOHUB_ACCESS_TOKEN`` and ``ALOHUB_BASE_URL``.

`AlohubSession.iter_call_details` lists the day and fetches the details with bounded
concurrency (the session's ``concurrency``), overlapping with the listing, and yields them
in list order. For each call it prints one line (id, start time, direction, duration,
whether there is a recording and a transcript), and writes the transcript with
`Transcript.to_text` (one ``Speaker: text`` line per segment) to ``DIR/CALL_ID.txt``.
File names come from the call id made safe (`recording_file_name`), never from a path
the server sent. A failure stops the script with status 1, after the lines and files
of the calls before it (every one of them complete).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from alohub_async import AlohubError, AlohubSession, CallDetail, recording_file_name


def transcript_path(directory: Path, call_id: str) -> Path:
    """Return where a call's transcript goes: a safe name derived from its id only.

    Args:
        directory: The output directory.
        call_id: The call id, as the server sent it.

    Returns:
        ``directory / "<safe id>.txt"``.
    """
    return directory / Path(recording_file_name(call_id)).with_suffix(".txt").name


def describe(detail: CallDetail) -> str:
    """Return the one-line summary printed for a call.

    Args:
        detail: The call's details.

    Returns:
        The line, without a newline.
    """
    started = detail.started_at.isoformat() if detail.started_at else "-"
    duration = f"{detail.duration:.0f}s" if detail.duration is not None else "-"
    return (
        f"{detail.call_id}  {started}  {detail.direction.value:<8}  {duration:>6}  "
        f"recording={'yes' if detail.recording_url else 'no'}  "
        f"transcript={'yes' if detail.transcript else 'no'}"
    )


async def save_day(day: str, directory: Path) -> tuple[int, int]:
    """Print every call of ``day`` and save its transcript under ``directory``.

    Args:
        day: The day, ``YYYY-MM-DD``.
        directory: An existing directory, where transcripts are written.

    Returns:
        Calls seen, transcripts written.
    """
    calls = saved = 0
    async with AlohubSession() as alohub:
        walk = alohub.iter_call_details(day, day)
        try:
            async for detail in walk:
                calls += 1
                print(describe(detail))
                if detail.transcript is not None:
                    text = detail.transcript.to_text()
                    transcript_path(directory, detail.call_id).write_text(text + "\n", "utf-8")
                    saved += 1
        finally:
            await walk.aclose()
    return calls, saved


def main(argv: list[str]) -> int:
    """Run the script from the command line.

    Args:
        argv: ``[DAY, DIR]``.

    Returns:
        The exit status.
    """
    if len(argv) != 2:
        print("usage: day_details.py YYYY-MM-DD DIR", file=sys.stderr)
        return 2
    directory = Path(argv[1])
    directory.mkdir(parents=True, exist_ok=True)
    try:
        calls, saved = asyncio.run(save_day(argv[0], directory))
    except ValueError as exc:  # a bad day, before any request is sent
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except AlohubError as exc:  # the message never holds the API key or the token
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    print(f"{calls} calls, {saved} transcripts written to {argv[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

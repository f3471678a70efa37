r"""Export one month of calls to a CSV file, the same columns the command line writes.

Run it against the fake (no credentials, no network)::

    alohub-async fake-server --port 9909 &
    export ALOHUB_BASE_URL=http://127.0.0.1:9909 ALOHUB_API_KEY=demo-api-key \
           ALOHUB_ACCESS_TOKEN=demo-access-token
    python examples/export_month_csv.py 2026-01                 # writes calls-2026-01.csv
    python examples/export_month_csv.py 2026-01 january.csv

The session reads ``ALOHUB_API_KEY``, ``ALOHUB_ACCESS_TOKEN`` and ``ALOHUB_BASE_URL``.

The month is whole days in the session's zone (Asia/Ho_Chi_Minh unless ``tz=`` says
otherwise): its first day from 00:00:00 to its last day until 23:59:59. Rows are written
as they arrive (memory stays flat however big the month), with `csv_header` and `csv_row`:
ISO 8601 times, ``direction`` as its value, formulas defused. The file is written under
``NAME.part`` and renamed only once the listing is complete, so a failed export never
leaves a short file that looks whole; the script then exits with status 1.
"""

from __future__ import annotations

import asyncio
import calendar
import csv
import os
import re
import sys
from datetime import date
from pathlib import Path

from alohub_async import AlohubError, AlohubSession, csv_header, csv_row


def month_range(month: str) -> tuple[date, date]:
    """Return the first and last day of a month given as ``YYYY-MM``.

    Args:
        month: The month, e.g. ``"2026-01"``.

    Returns:
        Its first and last day.

    Raises:
        ValueError: Not a ``YYYY-MM`` month.
    """
    match = re.fullmatch(r"(\d{4})-(\d{2})", month)
    if match is None or not 1 <= int(match[2]) <= 12:
        raise ValueError(f"expected a month as YYYY-MM, got {month!r}")
    year, number = int(match[1]), int(match[2])
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


async def export(month: str, path: Path) -> int:
    """Write every call of ``month`` to ``path`` as CSV.

    Args:
        month: The month, ``YYYY-MM``.
        path: The CSV file to write (replaced once the export is complete).

    Returns:
        How many calls were written.
    """
    first, last = month_range(month)
    part = path.with_name(path.name + ".part")
    count = 0
    async with AlohubSession() as alohub:
        walk = alohub.iter_calls(first, last)
        try:
            with part.open("w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                writer.writerow(csv_header())
                async for call in walk:
                    writer.writerow(csv_row(call))
                    count += 1
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    os.replace(part, path)  # atomic: readers see the old file or the complete new one
    return count


def main(argv: list[str]) -> int:
    """Run the export from the command line.

    Args:
        argv: ``[MONTH]`` or ``[MONTH, PATH]``.

    Returns:
        The exit status.
    """
    if len(argv) not in (1, 2):
        print("usage: export_month_csv.py YYYY-MM [FILE.csv]", file=sys.stderr)
        return 2
    path = Path(argv[1] if len(argv) == 2 else f"calls-{argv[0]}.csv")
    try:
        count = asyncio.run(export(argv[0], path))
    except ValueError as exc:  # a bad month, before any request is sent
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except AlohubError as exc:  # the message never holds the API key or the token
        print(f"export failed, {path} not written: {exc}", file=sys.stderr)
        return 1
    print(f"{count} calls written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""The record writers of ``calls list``: table, JSON lines and CSV.

Each writes a header (if its format has one) and then the records page by page, so output
is streamed whatever the range; `record_writer` picks one for ``--format``. A page goes out
in one write: JSON lines and CSV spell it column by column (see `alohub_async.serialization`),
the very text of writing its records one at a time.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Sequence
from datetime import tzinfo
from typing import Protocol, TextIO

from ..models import CallRecord
from ..serialization import _csv_rows, _json_lines, csv_header, csv_row, to_json_line
from ._output import clock, cut, is_tty, local, printable

__all__ = [
    "CSV_FIELDS",
    "CsvWriter",
    "JsonlWriter",
    "RecordWriter",
    "TableWriter",
    "record_writer",
]

CSV_FIELDS: tuple[str, ...] = tuple(csv_header())
"""The columns of ``--format csv``, in model order (``raw`` is the server's own record)."""


class RecordWriter(Protocol):
    """Writes call records to the output, after a header (if the format has one)."""

    def header(self) -> None:
        """Write the header, once, before the first record."""

    def write(self, record: CallRecord) -> None:
        """Write ``record``."""

    def write_page(self, records: Sequence[CallRecord]) -> None:
        """Write ``records`` in order, as `write` would one at a time."""


class JsonlWriter:
    """One JSON object per line (`to_json_line`), non-ASCII kept as is."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def header(self) -> None:
        """Write nothing: JSON lines have no header."""

    def write(self, record: CallRecord) -> None:
        """Write ``record`` as one line of JSON."""
        self._stream.write(to_json_line(record))

    def write_page(self, records: Sequence[CallRecord]) -> None:
        """Write ``records`` as lines of JSON, in one write."""
        self._stream.write(_json_lines(records))


class CsvWriter:
    """CSV with one header row of `CSV_FIELDS`, rows from `csv_row`.

    Unless ``raw``, cells a spreadsheet would run as formulas are defused; on a terminal,
    cells are also made printable (nothing parses a screen, so exactness does not matter
    there, and the cells are server text).
    """

    def __init__(self, stream: TextIO, *, raw: bool = False) -> None:
        self._stream = stream
        self._writer = csv.writer(stream, lineterminator="\n")
        # The csv module quotes a cell only for the characters of its own line terminator,
        # so a CR inside a cell would go out bare and split the row for every reader. Rows
        # holding one are written with every cell quoted instead.
        self._quoted = csv.writer(stream, lineterminator="\n", quoting=csv.QUOTE_ALL)
        self._raw = raw
        self._terminal = is_tty(stream)

    def header(self) -> None:
        """Write the header row."""
        self._writer.writerow(CSV_FIELDS)

    def write(self, record: CallRecord) -> None:
        """Write ``record`` as one CSV row."""
        self._row(csv_row(record, defuse_formulas=not self._raw))

    def _row(self, row: Sequence[str]) -> None:
        if self._terminal:
            row = [printable(cell) for cell in row]
        (self._quoted if any("\r" in cell for cell in row) else self._writer).writerow(row)

    def write_page(self, records: Sequence[CallRecord]) -> None:
        """Write ``records`` as CSV rows: all at once unless a cell needs care."""
        rows = _csv_rows(records, defuse_formulas=not self._raw)
        text = "".join(itertools.chain.from_iterable(rows))
        # A CR anywhere, or a terminal (cells made printable), takes the row-by-row path.
        if self._terminal or "\r" in text:
            for row in rows:
                self._row(row)
        elif not any(map(text.__contains__, _CSV_SPECIAL)):
            # No cell needs quotes, so the csv module would write each row's cells joined
            # by commas: joined here, without its per-character checks.
            self._stream.write("".join(map(_csv_line, rows)))
        else:
            self._writer.writerows(rows)


# What makes the csv module quote a cell: the delimiter, the quote character, a line break
# (a CR goes the row-by-row path first). A row free of them is its cells joined by commas.
# NUL too: Python 3.10's csv module refuses it (later ones write it as is), so a page
# holding one is left to the csv module, which then behaves as it does on that version.
_CSV_SPECIAL: tuple[str, ...] = (",", '"', "\n", "\x00")


def _csv_line(row: Sequence[str]) -> str:
    # Rows have every column of CSV_FIELDS, more than one: the csv module writes a row of
    # one empty cell as '""', which joining would not.
    return ",".join(row) + "\n"


_TABLE: tuple[tuple[str, int, str], ...] = (
    ("CALL ID", 28, "<"),
    ("STARTED", 19, "<"),
    ("DIRECTION", 9, "<"),
    ("STATUS", 10, "<"),
    ("DURATION", 8, ">"),
    ("CALLER", 12, "<"),
    ("CALLEE", 12, "<"),
    ("AGENT", 0, "<"),
)


class TableWriter:
    """Fixed-width columns of the main fields, one row per call, header first.

    A table is for reading, on a terminal or in a file shown later: every cell is made
    printable, which also keeps one call on one line.
    """

    def __init__(self, stream: TextIO, tz: tzinfo) -> None:
        self._stream = stream
        self._tz = tz

    def header(self) -> None:
        """Write the column titles."""
        self._row([name for name, _, _ in _TABLE])

    def _row(self, cells: Sequence[str]) -> None:
        parts = [
            format(
                cut(printable(cell), width) if width else printable(cell),
                f"{align}{width}" if width else "",
            )
            for cell, (_, width, align) in zip(cells, _TABLE, strict=True)
        ]
        self._stream.write("  ".join(parts).rstrip() + "\n")

    def write_page(self, records: Sequence[CallRecord]) -> None:
        """Write ``records`` as table rows."""
        for record in records:
            self.write(record)

    def write(self, record: CallRecord) -> None:
        """Write ``record`` as one table row."""
        self._row(
            [
                record.call_id,
                local(record.started_at, self._tz),
                record.direction.value,
                record.status or "",
                clock(record.duration),
                record.caller or "",
                record.callee or "",
                record.agent or "",
            ]
        )


def record_writer(kind: str, stream: TextIO, *, tz: tzinfo, csv_raw: bool) -> RecordWriter:
    """Return the writer of ``--format`` (``table``, ``jsonl`` or ``csv``) onto ``stream``.

    Args:
        kind: The ``--format`` value.
        stream: Where the records go.
        tz: The time zone a table shows times in.
        csv_raw: ``--csv-raw``: CSV cells exactly as received, formulas not defused.
    """
    if kind == "jsonl":
        return JsonlWriter(stream)
    if kind == "csv":
        return CsvWriter(stream, raw=csv_raw)
    return TableWriter(stream, tz)

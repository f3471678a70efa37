"""What ``alohub-async`` writes besides records: terminal-safe text, messages, progress.

Every piece of server text that reaches a terminal goes through `printable`; messages go
to stderr through `say` and `error`; `redact` is the last line of defence for secrets;
`Progress` draws the progress line. Also the small formatters the commands share.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, TextIO

from ._exit_codes import UsageError

if TYPE_CHECKING:
    from ..models import Stats

__all__ = [
    "MIN_REDACTED",
    "PROG",
    "PROGRESS_INTERVAL",
    "Progress",
    "clock",
    "cut",
    "dsn_password",
    "error",
    "human_size",
    "is_tty",
    "local",
    "output_stream",
    "printable",
    "progress_stream",
    "quiet_retry_logs",
    "redact",
    "say",
    "silence_stdout",
]

PROG = "alohub-async"

PROGRESS_INTERVAL = 0.25
"""Seconds between two redraws of the progress line."""


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


@functools.cache
def _terminal_unsafe() -> re.Pattern[str]:
    """Return the pattern of the characters `printable` escapes.

    Beyond the characters JSON output escapes (see alohub_async.serialization), the C0
    controls (ESC starts colour, cursor, title and OSC 52 clipboard sequences; CR and BS
    overwrite what was printed). Built on first use: serialization loads the models, which
    ``--help`` does not need.
    """
    from ..serialization import _UNSAFE_BEYOND_C0

    return re.compile(rf"[\x00-\x1f{_UNSAFE_BEYOND_C0}]")


def _visible_escape(match: re.Match[str]) -> str:
    r"""Spell one unsafe character as Python would: ``\n``, ``\x1b``, ``\u202e``."""
    char = match[0]
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """Return ``text`` safe to print on a terminal, every unsafe character made visible.

    Server text (record fields, transcripts, error bodies) may hold escape sequences that
    recolour the screen, move the cursor, set the window title or write the clipboard
    (OSC 52), or bidi overrides that make a line read differently from what it holds. Every
    piece of it that reaches a terminal goes through here, so none of them acts.
    """
    return _terminal_unsafe().sub(_visible_escape, text)


def say(message: str) -> None:
    """Print an informational line on stderr."""
    print(printable(message), file=sys.stderr, flush=True)


def error(message: str) -> None:
    """Print a one-line error on stderr (it may quote server text: made printable)."""
    line = printable(" ".join(message.split()))
    print(f"{PROG}: error: {line}", file=sys.stderr, flush=True)


def quiet_retry_logs() -> None:
    """Keep stamina's per-retry WARNING off stderr when logging is not configured.

    Without a handler, Python's last-resort handler would print a bare
    ``stamina.retry_scheduled`` line for every retry, in the middle of the output. A
    NullHandler stops only that: an application that configures logging still gets them.
    """
    import logging  # here: only a command that runs needs it, not --help

    stamina_logger = logging.getLogger("stamina")
    if not any(isinstance(h, logging.NullHandler) for h in stamina_logger.handlers):
        stamina_logger.addHandler(logging.NullHandler())


MIN_REDACTED = 6
"""Shorter "secrets" are not redacted: they cannot be real ones, and would garble the text."""


def dsn_password(db: str | None) -> str | None:
    """Return the password of a ``--db`` DSN, so no error message can show it."""
    if not db or "://" not in db:
        return None
    try:
        return urllib.parse.urlsplit(db).password
    except ValueError:
        return None


def redact(text: str, secrets: Sequence[str]) -> str:
    """Replace every occurrence of a secret in ``text`` (a last line of defence)."""
    for secret in secrets:
        if len(secret) >= MIN_REDACTED:
            text = text.replace(secret, "***")
    return text


class Progress:
    """A progress line on a terminal, redrawn in place at most every PROGRESS_INTERVAL s."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self._started = self._last = time.monotonic()
        self._width = 0

    @property
    def elapsed(self) -> float:
        """Seconds since the work started."""
        return time.monotonic() - self._started

    def update(self, stats: Stats) -> None:
        """Redraw the line, unless it was redrawn less than PROGRESS_INTERVAL ago."""

        def line(elapsed: float) -> str:
            rate = stats.records / elapsed if elapsed > 0 else 0.0
            text = (
                f"{stats.records:,} calls, {stats.pages:,} pages, {rate:,.0f} calls/s, "
                f"{elapsed:.1f}s"
            )
            return text + (f", {stats.retries:,} retries" if stats.retries else "")

        self.show(line)

    def show(self, line: Callable[[float], str]) -> None:
        """Redraw ``line(elapsed)``, unless the line was redrawn less than PROGRESS_INTERVAL ago."""
        if self._stream is None:
            return
        now = time.monotonic()
        if now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        text = printable(line(now - self._started))
        self._stream.write("\r" + text.ljust(self._width))
        self._stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        """Erase the line, if one was drawn."""
        if self._stream is None or not self._width:
            return
        self._stream.write("\r" + " " * self._width + "\r")
        self._stream.flush()
        self._width = 0


def is_tty(stream: TextIO) -> bool:
    """Tell whether a stream is a terminal, treating odd stream objects as not."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def silence_stdout() -> None:
    """Point stdout at devnull after a broken pipe, so the exit-time flush cannot fail."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@contextlib.contextmanager
def output_stream(path: str | None) -> Iterator[TextIO]:
    """Yield stdout, or FILE opened for UTF-8 text (created or truncated)."""
    if path is None or path == "-":
        yield sys.stdout
        return
    try:
        stream = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    with stream:
        yield stream


def clock(seconds: float | None) -> str:
    """Format a duration as ``H:MM:SS``."""
    if seconds is None:
        return ""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def local(moment: datetime | None, tz: tzinfo) -> str:
    """Format a time in ``tz`` as ``YYYY-MM-DD HH:MM:SS``."""
    return "" if moment is None else moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def cut(text: str | None, width: int) -> str:
    """Fit ``text`` in ``width`` characters, marking a cut with ``~``."""
    text = text or ""
    return text if len(text) <= width else text[: width - 1] + "~"


def progress_stream(args: argparse.Namespace, to_stdout: bool) -> TextIO | None:
    """Return stderr when a progress line belongs there, else None.

    Only on a terminal, never with ``--quiet``, and not when the records themselves go
    to the same terminal (they show the progress, and the line would garble them).
    """
    if args.quiet or not is_tty(sys.stderr):
        return None
    if to_stdout and is_tty(sys.stdout):
        return None
    return sys.stderr


def human_size(count: float) -> str:
    """Format a byte count for people: ``812 B``, ``3.2 kB``, ``41.0 MB``."""
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")  # pragma: no cover

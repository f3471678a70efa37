"""Keep the session's secrets out of every piece of server text the client repeats.

A server (or a proxy in front of it) may echo what it received: a 401 page listing the
request headers, ``token=<X-ACCESS-TOKEN>`` in a 500 body, a ``Location`` carrying the key.
Each `AlohubSession` owns a `Redactor` holding its API key and every access token it
sent, and registers it here for as long as the session lives. Every `AlohubError` is
scrubbed against all live redactors when it is built (see ``errors.py``), together with
the exception being handled at that moment and its ``__cause__``/``__context__`` chain,
and the ``alohub_async`` logger scrubs its records the same way. One registry, consulted
where errors are built, covers errors raised by any module, not only by the session.

Echoes are recognised verbatim and in the forms a server is likely to re-encode them in:
URL-encoded, JSON-escaped, HTML-escaped and ``repr``-quoted, each dot-separated part of
a JWT, each run of 6 or more characters that no encoding rewrites (so an echo escaped
twice is still caught), and a prefix left at the end of text cut short mid-secret.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import re
import sys
import threading
import weakref
from collections import deque
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

__all__ = [
    "MASK",
    "RedactingFilter",
    "Redactor",
    "excerpt",
    "redact",
    "redact_exception",
    "register",
]

MASK = "[redacted]"
"""What replaces a secret in text."""

MIN_SECRET_CHARS = 4
"""Shorter strings are not treated as secrets: masking every "t" or "key" in every message would
garble errors without protecting anything worth protecting."""

MIN_RUN_CHARS = 6
"""A piece of a secret between characters that encodings rewrite is masked on its own from this
length (shorter pieces say too little about the secret to be worth it)."""

_PLAIN_RUNS = re.compile(r"[A-Za-z0-9_.~-]+")

MIN_JWT_PART_CHARS = 16
"""A JWT part shorter than this is too generic to mask on its own."""

MAX_TOKENS = 32
"""Provider tokens remembered per session: old tokens expire, and a bound keeps scrubbing cheap in a
process that refreshes every few minutes for months."""

# Attributes of standard exceptions that hold text outside ``__dict__`` and ``args``.
_SLOT_ATTRIBUTES = ("strerror", "filename", "filename2", "object", "reason", "msg", "text")

_registry: weakref.WeakSet[Redactor] = weakref.WeakSet()
_registry_lock = threading.Lock()


def _forms(secret: str) -> set[str]:
    """The spellings in which a server may echo ``secret``."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        repr(secret)[1:-1],  # quoted by an f-string's !r
    }
    parts = secret.split(".")
    if len(parts) == 3:  # a JWT: its signature (or payload) alone is worth hiding
        forms.update(part for part in parts if len(part) >= MIN_JWT_PART_CHARS)
    # Runs of characters no encoding rewrites survive any echo, however many times it
    # was escaped (a status line quoted as bytes, then quoted again by aiohttp).
    forms.update(run for run in _PLAIN_RUNS.findall(secret) if len(run) >= MIN_RUN_CHARS)
    return {form for form in forms if len(form) >= MIN_SECRET_CHARS}


class Redactor:
    """The secrets of one session, and the ways to scrub them from text.

    Thread-safe enough for its use: secrets are only added, and readers take a snapshot.
    """

    __slots__ = ("__weakref__", "_fixed", "_forms", "_tokens")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._fixed: list[str] = []
        self._tokens: deque[str] = deque(maxlen=MAX_TOKENS)
        self._forms: tuple[str, ...] = ()
        for secret in secrets:
            self._fixed.append(secret)
        self._rebuild()

    def __repr__(self) -> str:
        return f"<Redactor of {len(self._fixed) + len(self._tokens)} secrets>"

    def add_token(self, token: object) -> None:
        """Remember a token a provider returned (the last `MAX_TOKENS` are kept)."""
        if isinstance(token, str) and token not in self._tokens and token not in self._fixed:
            self._tokens.append(token)
            self._rebuild()

    def _rebuild(self) -> None:
        forms: set[str] = set()
        for secret in (*self._fixed, *self._tokens):
            forms |= _forms(secret)
        # Longest first, so a JWT is masked whole before its parts are looked for.
        self._forms = tuple(sorted(forms, key=len, reverse=True))

    def forms(self) -> tuple[str, ...]:
        """Every spelling of every secret, longest first."""
        return self._forms


def register(redactor: Redactor) -> None:
    """Consult ``redactor`` whenever an error is built, until it is garbage collected."""
    with _registry_lock:
        _registry.add(redactor)


def _live_forms() -> list[str]:
    with _registry_lock:
        redactors = list(_registry)
    forms = {form for redactor in redactors for form in redactor.forms()}
    return sorted(forms, key=len, reverse=True)


def _scrub_with(forms: list[str], text: str) -> str:
    for form in forms:
        if form in text:
            text = text.replace(form, MASK)
    return text


def _scrub_tail(forms: list[str], text: str) -> str:
    """Mask a secret's beginning left at the end of text that was cut short."""
    for form in forms:
        for size in range(len(form) - 1, MIN_SECRET_CHARS - 1, -1):
            if text.endswith(form[:size]):
                return text[:-size] + MASK
    return text


def redact(text: str) -> str:
    """Mask every live session's secrets in ``text``."""
    forms = _live_forms()
    return _scrub_with(forms, text) if forms else text


def excerpt(text: str, limit: int, *, cut: bool = False) -> str:
    """Mask secrets in ``text``, then keep at most ``limit`` characters of it.

    Masking comes first, so the cut cannot split a secret and leave half of it. ``cut``
    says the caller already shortened ``text`` (a body read only in part): a secret's
    beginning at its end is masked too.
    """
    forms = _live_forms()
    if not forms:
        return text[:limit]
    if cut:
        text = _scrub_tail(forms, text)
    return _scrub_with(forms, text)[:limit]


def _scrub_value(forms: list[str], value: object) -> object:
    if isinstance(value, str):
        return _scrub_with(forms, value)
    if isinstance(value, bytes):
        for form in forms:
            raw = form.encode("utf-8", "replace")
            if raw in value:
                value = value.replace(raw, MASK.encode())
        return value
    return value


def _scrub_one(forms: list[str], exc: BaseException) -> None:
    """Mask secrets in one exception's args, text attributes and notes, in place."""
    with contextlib.suppress(AttributeError, TypeError):
        exc.args = tuple(_scrub_value(forms, arg) for arg in exc.args)
    names = [*getattr(exc, "__dict__", {}), *_SLOT_ATTRIBUTES]
    for name in names:
        try:
            value = getattr(exc, name)
        except Exception:  # noqa: S112 - a property that fails is left alone
            continue
        cleaned = _scrub_value(forms, value)
        if cleaned is not value:
            try:
                setattr(exc, name, cleaned)
            except (AttributeError, TypeError):
                continue
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        notes[:] = [_scrub_value(forms, note) for note in notes]


def redact_exception(exc: BaseException | None, *, forms: list[str] | None = None) -> None:
    """Mask live secrets in ``exc`` and along its ``__cause__``/``__context__`` chain."""
    if exc is None:
        return
    if forms is None:
        forms = _live_forms()
        if not forms:
            return
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        _scrub_one(forms, current)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)


def redact_new_error(error: BaseException) -> None:
    """Scrub an error just built, and the exception being handled while it was built.

    The handled exception usually becomes the new error's ``__cause__`` or
    ``__context__`` when it is raised, so it is cleaned now, before anyone can read it.
    """
    forms = _live_forms()
    if not forms:
        return
    redact_exception(error, forms=forms)
    redact_exception(sys.exc_info()[1], forms=forms)


def still_leaks(exc: BaseException) -> bool:
    """Tell whether a live secret is still readable in ``exc`` (its text or attributes)."""
    forms = _live_forms()
    try:
        text = " ".join((str(exc), repr(exc), repr(vars(exc)) if hasattr(exc, "__dict__") else ""))
    except Exception:  # an exception that cannot describe itself is opaque
        return True
    return any(form in text for form in forms)


class RedactingFilter(logging.Filter):
    """A logging filter masking live secrets in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub the record in place; never drop it."""
        forms = _live_forms()
        if not forms:
            return True
        if isinstance(record.msg, str):
            record.msg = _scrub_with(forms, record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_scrub_value(forms, arg) for arg in record.args)
        if record.exc_info and record.exc_info[1] is not None:
            redact_exception(record.exc_info[1], forms=forms)
        return True

"""The session's private state stays inside ``_session.py``.

Other modules use a session through its public API and, for what recordings and the
doctor need beyond it, through `SessionInternals`; none reaches into ``session._x``.
This scan keeps it that way.
"""

from __future__ import annotations

import re
from pathlib import Path

import alohub_async

PACKAGE = Path(alohub_async.__file__).parent
#: ``session._x``, ``alohub._x``, ``self._session._x``, ``core.session._x`` and alike.
PRIVATE_ACCESS = re.compile(r"\b(?:\w*session|alohub)\._[a-z]\w*")


def test_no_module_outside_the_session_touches_its_private_state() -> None:
    """Only ``_session.py`` reads or writes an AlohubSession's underscore attributes."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "_session.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if PRIVATE_ACCESS.search(line):
                found.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_the_scan_finds_what_it_looks_for() -> None:
    """The pattern matches the forms of access it is meant to catch, and not public ones."""
    for text in ("session._tokens", "self._session._slot()", "core.session._open()", "alohub._x"):
        assert PRIVATE_ACCESS.search(text), text
    for text in ("session.stats", "core.session.base_url", "self._session", "alohub.closed"):
        assert not PRIVATE_ACCESS.search(text), text

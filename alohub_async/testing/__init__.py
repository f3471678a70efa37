"""A fake Alohub backend to test code that uses alohub_async, without the network.

`FakeAlohub` is an ``aiohttp.web`` server on 127.0.0.1 that answers the two documented
endpoints (list and detail) plus recording downloads, from a deterministic synthetic call log
(`CallDataset`) that is computed on demand, so a million calls cost almost no memory.
Response shapes (`Envelope`), latency and faults (`Fault`) are switchable at
runtime; records come in Alohub's evidenced call-record vocabulary unless another of the
`VOCABULARIES` is chosen, and `Counters` report what it saw. With pytest and
pytest-asyncio installed, the ``alohub_fake`` fixture (from
`alohub_async.testing.pytest_plugin`) runs one per test.
``set_retry_waits(False)`` (or the opt-in ``alohub_no_retry_waits`` fixture) makes retries
skip their backoff sleeps in fault tests; nothing switches waiting off by default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alohub_async import _import_lazily

if TYPE_CHECKING:  # the type checker sees every name; the interpreter imports on first use
    from alohub_async._retry import retry_waits_enabled, set_retry_waits
    from alohub_async.testing._counters import Counters
    from alohub_async.testing._data import (
        DEFAULT_ANCHOR,
        DEFAULT_SPAN,
        VOCABULARIES,
        CallDataset,
        Vocabulary,
    )
    from alohub_async.testing._envelope import Envelope
    from alohub_async.testing._faults import Endpoint, Fault, RecordingFault
    from alohub_async.testing._pipeline import Latency
    from alohub_async.testing._recording import recording_wav
    from alohub_async.testing._server import (
        DEMO_ACCESS_TOKEN,
        DEMO_API_KEY,
        FakeAlohub,
        serve_forever,
    )

__all__ = [
    "DEFAULT_ANCHOR",
    "DEFAULT_SPAN",
    "DEMO_ACCESS_TOKEN",
    "DEMO_API_KEY",
    "VOCABULARIES",
    "CallDataset",
    "Counters",
    "Endpoint",
    "Envelope",
    "FakeAlohub",
    "Fault",
    "Latency",
    "RecordingFault",
    "Vocabulary",
    "recording_wav",
    "retry_waits_enabled",
    "serve_forever",
    "set_retry_waits",
]

# Where each public name lives: importing this package (the pytest plugin does, in every
# test run) costs nothing until a name is used; the fake server pulls in aiohttp.web.
_LAZY: dict[str, str] = {
    "retry_waits_enabled": "alohub_async._retry",
    "set_retry_waits": "alohub_async._retry",
    "CallDataset": "alohub_async.testing._data",
    "DEFAULT_ANCHOR": "alohub_async.testing._data",
    "DEFAULT_SPAN": "alohub_async.testing._data",
    "VOCABULARIES": "alohub_async.testing._data",
    "Vocabulary": "alohub_async.testing._data",
    "Counters": "alohub_async.testing._counters",
    "DEMO_ACCESS_TOKEN": "alohub_async.testing._server",
    "DEMO_API_KEY": "alohub_async.testing._server",
    "Endpoint": "alohub_async.testing._faults",
    "Envelope": "alohub_async.testing._envelope",
    "FakeAlohub": "alohub_async.testing._server",
    "Fault": "alohub_async.testing._faults",
    "Latency": "alohub_async.testing._pipeline",
    "RecordingFault": "alohub_async.testing._faults",
    "recording_wav": "alohub_async.testing._recording",
    "serve_forever": "alohub_async.testing._server",
}


def __getattr__(name: str) -> object:
    """Import a public name on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _import_lazily(globals(), _LAZY, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

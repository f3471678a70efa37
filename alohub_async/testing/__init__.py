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

from alohub_async._retry import retry_waits_enabled, set_retry_waits
from alohub_async.testing._data import (
    DEFAULT_ANCHOR,
    DEFAULT_SPAN,
    VOCABULARIES,
    CallDataset,
    Vocabulary,
)
from alohub_async.testing._fake import (
    DEMO_ACCESS_TOKEN,
    DEMO_API_KEY,
    Counters,
    Endpoint,
    Envelope,
    FakeAlohub,
    Fault,
    Latency,
    RecordingFault,
    recording_wav,
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

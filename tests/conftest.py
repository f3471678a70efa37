"""Shared test fixtures, and a compatibility shim for aioresponses on aiohttp 3.14."""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import aioresponses.core
import pytest
from hypothesis import HealthCheck, settings

from alohub_async import AlohubSession
from alohub_async import _protocol as protocol
from tests.helpers import ACCESS_TOKEN, API_KEY, BASE_URL
from tests.pg import pg_dsn  # noqa: F401  (the per-test PostgreSQL database fixture, from tests/pg.py)

# aioresponses 0.7.9 builds ClientResponse objects without the keyword-only
# ``stream_writer`` argument that aiohttp 3.14 added, so every mocked request fails with
# "missing 1 required keyword-only argument: 'stream_writer'" (aioresponses issue #289,
# fixed by the unreleased PR #288). Until a release carries the fix, hand aioresponses a
# subclass that defaults the argument. The check makes the shim fall away by itself once
# aioresponses passes the argument (or aiohttp stops requiring it).
_NEEDS_STREAM_WRITER = "stream_writer" in inspect.signature(
    aiohttp.ClientResponse.__init__
).parameters and "stream_writer" not in inspect.getsource(
    aioresponses.core.RequestMatch._build_response
)

if _NEEDS_STREAM_WRITER:

    class _NoOutputWriter:
        """Stands in for the request's stream writer: a mocked request wrote nothing."""

        output_size = 0

    class _CompatClientResponse(aiohttp.ClientResponse):
        def __init__(self, *args: Any, stream_writer: Any = None, **kwargs: Any) -> None:
            if stream_writer is None:
                stream_writer = _NoOutputWriter()
            super().__init__(*args, stream_writer=stream_writer, **kwargs)

    setattr(aioresponses.core, "ClientResponse", _CompatClientResponse)  # noqa: B010

# Property-based suites. Each example starts its own fake server, so the default run keeps
# them few; CI (the ``CI`` variable) runs more, and ``nox -s stress`` runs thousands.
# ``--hypothesis-profile NAME`` picks one explicitly.
_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
for _name, _examples in (("default", 25), ("ci", 60), ("stress", 3000)):
    settings.register_profile(
        _name, max_examples=_examples, deadline=None, suppress_health_check=_SUPPRESSED
    )
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture
def no_retry_waits(alohub_no_retry_waits: None) -> None:
    """Retry without sleeping for the duration of one test (the plugin's opt-in fixture)."""


@pytest.fixture
def mocked() -> Iterator[aioresponses.aioresponses]:
    """An aioresponses mock; every request not registered on it fails."""
    with aioresponses.aioresponses() as mock:
        yield mock


@pytest.fixture
async def session() -> AsyncIterator[AlohubSession]:
    """An AlohubSession against the mocked base URL with test credentials."""
    async with AlohubSession(
        api_key=API_KEY, access_token=ACCESS_TOKEN, base_url=BASE_URL
    ) as alohub:
        yield alohub


@pytest.fixture(params=["orjson", "json"])
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with orjson decoding, then with the standard library's alone.

    The orjson run is skipped where the optional extra is absent (``nox -s tests_no_orjson``):
    the ``json`` run then covers the very path such an install takes.
    """
    if request.param == "orjson":
        pytest.importorskip("orjson")
        assert protocol._fast_loads is not None  # installed, so the package must decode with it
    else:
        monkeypatch.setattr(protocol, "_fast_loads", None)
    return str(request.param)

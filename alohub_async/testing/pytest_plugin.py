"""The ``alohub_fake`` pytest fixture: a running `FakeAlohub`.

Installed with alohub-async as a ``pytest11`` entry point, so the fixture is available in
every suite. It is an async fixture and needs pytest-asyncio (strict or auto mode); without
it, importing this plugin still works and only using the fixture fails, with a clear message.
The fixture runs in each test's own event loop (``loop_scope="function"``). pytest-asyncio
itself warns, at start-up, in every suite that leaves ``asyncio_default_fixture_loop_scope``
unset (an error under ``-W error``); the testing guide shows the two ini lines to add.
Configure the fake per test with the ``alohub_fake`` marker, whose keyword arguments go to
``FakeAlohub``::

    @pytest.mark.alohub_fake(calls=500, seed=3, latency=0.01)
    async def test_export(alohub_fake):
        async with alohub_fake.session(max_retries=0) as alohub:
            ...

The plugin changes no global state by itself: retries keep waiting unless a test asks for
the opt-in ``alohub_no_retry_waits`` fixture, and nothing touches the network beyond
127.0.0.1.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from alohub_async._retry import retry_waits_enabled, set_retry_waits
from alohub_async.testing._server import FakeAlohub

# and the alohub_fake fixture, when pytest-asyncio is there
__all__ = ["alohub_no_retry_waits", "pytest_configure"]

_MARKER = "alohub_fake"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``alohub_fake`` marker.

    Args:
        config: The pytest configuration.
    """
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**kwargs): FakeAlohub arguments (calls, seed, envelope, latency...) "
        "for the alohub_fake fixture",
    )


def _fake_kwargs(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Merge the keyword arguments of every ``alohub_fake`` marker, closest last."""
    kwargs: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(_MARKER))):
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{_MARKER} takes keyword arguments only")
        kwargs.update(marker.kwargs)
    kwargs.setdefault("host", "127.0.0.1")
    kwargs.setdefault("port", 0)
    return kwargs


@pytest.fixture
def alohub_no_retry_waits() -> Iterator[None]:
    """Retry without sleeping during one test, then restore the previous setting.

    Opt-in: request it in tests that inject 429s or 5xx and should not wait for backoff.
    """
    before = retry_waits_enabled()
    set_retry_waits(False)
    try:
        yield
    finally:
        set_retry_waits(before)


if importlib.util.find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    # The loop scope is explicit, so the fixture runs in each test's own loop whatever
    # asyncio_default_fixture_loop_scope says (pytest-asyncio warns while that is unset and
    # will change its default; docs/testing.md shows the ini lines that settle it).
    @pytest_asyncio.fixture(loop_scope="function")
    async def alohub_fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeAlohub]:
        """Yield a running FakeAlohub on 127.0.0.1 (ephemeral port), closed after the test.

        Its ``url``, ``api_key`` and ``access_token`` are set; ``session(**overrides)``
        builds an ``AlohubSession`` wired to it. Configure it with
        ``@pytest.mark.alohub_fake(**kwargs)``.
        """
        async with FakeAlohub(**_fake_kwargs(request)) as fake:
            yield fake

else:  # pragma: no cover - exercised only without pytest-asyncio

    @pytest.fixture(name="alohub_fake")
    def _alohub_fake_unavailable() -> FakeAlohub:
        """Fail clearly: the ``alohub_fake`` fixture needs pytest-asyncio."""
        raise pytest.UsageError(
            "the alohub_fake fixture needs pytest-asyncio: pip install pytest-asyncio"
        )

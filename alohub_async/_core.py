"""What `_recordings` and `_doctor` may use of a session: its core, as two protocols.

The session builds on these modules (``diagnose``, ``download_recording``...), so they must
not import it back. They are written against `SessionCore` instead, which
``_session.SessionInternals`` implements; this module sits below all three and names only
lower-level types, so the dependency runs one way.
"""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from datetime import tzinfo
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import cattrs
    from yarl import URL

    from ._auth import TokenSource
    from ._transport import Stream
    from .models import Stats

__all__ = ["SessionCore", "SessionSettings"]


class SessionSettings(Protocol):
    """The public configuration of a session that recordings and the doctor read."""

    @property
    def base_url(self) -> str:
        """The API's origin (and path prefix, if any), without a trailing slash."""

    @property
    def timeout(self) -> float:
        """Seconds for one attempt of one request, from connect to last byte."""

    @property
    def max_retries(self) -> int:
        """Retries per request after the first attempt."""

    @property
    def tz(self) -> tzinfo:
        """The user's zone: naive inputs are read in it and record times expressed in it."""

    @property
    def recording_base_url(self) -> str | None:
        """The origin relative recording paths are read against, or None (refused)."""

    @property
    def max_recording_size(self) -> int:
        """The largest recording, in bytes, that is downloaded or streamed."""


class SessionCore(Protocol):
    """Every way into a session that recordings and the doctor use beyond its public API.

    Listing them here keeps the session's state its own: its helpers go through these
    named members, never through its private attributes.
    """

    @property
    def session(self) -> SessionSettings:
        """The session itself, for its public configuration."""

    @property
    def tokens(self) -> TokenSource:
        """The access-token source: ``ready``, ``get``, ``generation``, ``refresh``."""

    @property
    def ssl(self) -> ssl_module.SSLContext | bool:
        """The TLS setting requests are sent with (a CA bundle path already loaded)."""

    @property
    def converter(self) -> cattrs.Converter:
        """The converter that structures this session's records."""

    @property
    def api_key(self) -> str:
        """The API key (for the doctor's redaction of its capture; never print it)."""

    @property
    def user_agent(self) -> str:
        """The ``User-Agent`` every request carries."""

    def check_usable(self) -> None:
        """Raise RuntimeError if the session is closed."""

    def slot(self) -> AbstractAsyncContextManager[None]:
        """Hold one of the session's ``max_in_flight`` request slots for the block."""

    def count_retry(self, stats: Stats | None) -> None:
        """Count a retry in the session's stats (and a walk's, if given)."""

    def credential_headers(self) -> dict[str, str]:
        """``Authorization`` and ``X-ACCESS-TOKEN``, for the API's own origin only."""

    async def request(self, method: str, path: str, body: bytes | None = None) -> Any:
        """Send an API request with the session's retries; return its decoded JSON body."""

    async def open_stream(self, url: URL, headers: Mapping[str, str], *, shown: str) -> Stream:
        """Open a GET response to read in chunks, counted and rate limited; ``close()`` it."""

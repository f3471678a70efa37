"""Recording downloads: streamed, resumable, and never sending credentials to another host.

Every recording request goes through the session's `SessionCore.open_stream` (the
transport's streaming entry), so session-wide limits (the rate limit today) apply to
recordings as they do to API requests. On top of it:

* **Credentials policy.** ``Authorization`` and ``X-ACCESS-TOKEN`` go only to the API's
  own origin (scheme, host and port of ``base_url``). Any other host, a media server or
  a signed URL, gets a bare request. Redirects are followed by hand (aiohttp's own
  following would carry our headers along), at most `MAX_REDIRECTS` times, always
  without credentials, and only to https or loopback.
* **Streaming.** A body is read in chunks of at most `CHUNK_SIZE` bytes and handed on as
  it arrives; nothing holds a whole file. The timeout is per read (a long file is fine,
  a stalled one is not).
* **Resuming.** A retryable failure mid-body (connection error, timeout, 5xx, 429)
  reconnects and asks for the missing bytes with ``Range`` when the server advertised
  ``Accept-Ranges: bytes``; ``If-Range`` makes a server that changed the file answer it
  whole instead, which a download to a path handles by starting over.
* **Checks.** A size cap against ``Content-Length`` and while streaming; a body that is an
  HTML page or JSON (a login page, an error envelope) is an error, never a saved file.

A path is written atomically: into ``NAME.part``, renamed when complete. A failed download
leaves its ``.part`` only when it can be resumed (the server takes ``Range``), and the
next download of that path continues it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import logging
import os
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import attrs
from yarl import URL

from . import _protocol as protocol
from ._retry import is_retryable, retry_wait
from .errors import (
    AlohubError,
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ResponseFormatError,
)
from .models import CallRecord

if TYPE_CHECKING:
    from ._core import SessionCore
    from ._pagination import WalkIterator
    from ._transport import Stream

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_MAX_RECORDING_SIZE",
    "MAX_REDIRECTS",
    "RecordingOutcome",
    "RecordingResult",
    "RecordingSource",
    "RecordingStream",
    "RecordingURLError",
    "SavedRecording",
    "download_recording",
    "download_recordings",
    "open_recording",
    "recording_file_name",
    "resolve_recording_url",
]

logger = logging.getLogger("alohub_async")

DEFAULT_MAX_RECORDING_SIZE = 500 * 1024 * 1024
"""Recordings larger than this (bytes) are refused unless the session allows more."""

CHUNK_SIZE = 64 * 1024
"""The largest chunk read from the network at once."""

MAX_REDIRECTS = 5
"""Redirects followed for one recording request."""

RecordingSource = str | CallRecord
"""What a recording can be given as: a URL, or a record or detail carrying ``recording_url``."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ACCEPT = "audio/*, application/octet-stream;q=0.9, */*;q=0.5"
# Types that are a page or an API answer, never audio.
_NOT_AUDIO_TYPES = re.compile(r"^(text/.*|application/(.*\+)?(json|xml|xhtml\+xml))$")
# How a body that is an HTML page or JSON begins (audio formats never begin so).
_NOT_AUDIO_START = (b"<!doctype", b"<html", b"<?xml", b"{", b"[")
_AUDIO_SUFFIXES = frozenset(
    {".wav", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac", ".flac", ".gsm", ".webm"}
)
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
_MAX_NAME = 150


class RecordingURLError(AlohubError, ValueError):
    """A recording URL that cannot be downloaded safely, found before any request is sent.

    Raised for a relative path without ``recording_base_url``, a scheme other than https
    (plain http only for loopback hosts), a URL carrying a user name or password, or a
    record without a ``recording_url``. It is also a ValueError: the input is unusable.
    """


class RecordingOutcome(str, enum.Enum):
    """What happened to one call's recording in a bulk download."""

    SAVED = "saved"
    SKIPPED = "skipped"
    NO_RECORDING = "no_recording"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


@attrs.frozen(kw_only=True)
class SavedRecording:
    """A recording that was downloaded completely.

    Attributes:
        url: Where it came from (user name, password and query string left out, since a
            signed URL's query is a credential).
        path: The file written, or None when written to a file object.
        size: Bytes written.
        content_type: The media type the server gave, e.g. ``"audio/wav"``.
        sha256: Hex SHA-256 of the bytes written.
        resumed: Whether part of it came from an earlier, interrupted attempt (continued
            with ``Range``, in this call or from a ``.part`` file left by an earlier one).
    """

    url: str
    path: Path | None
    size: int
    content_type: str | None
    sha256: str
    resumed: bool = False


@attrs.frozen(kw_only=True)
class RecordingResult:
    """One call's outcome in `AlohubSession.download_recordings`.

    Attributes:
        call_id: The call.
        outcome: Saved, skipped (the file was already there), no recording, or failed.
        path: The file for this call (also when skipped or failed), None without a recording.
        recording: What was saved, when ``outcome`` is ``SAVED``.
        error: Why it failed, when ``outcome`` is ``FAILED`` (an `AlohubError`, or an
            ``OSError`` writing the file).
    """

    call_id: str
    outcome: RecordingOutcome
    path: Path | None = None
    recording: SavedRecording | None = None
    error: Exception | None = attrs.field(default=None, eq=False)


# --- URLs and credentials --------------------------------------------------------------------


def _shown(url: URL) -> str:
    """Describe a URL for messages: no user info, and no query (a signed URL's secret)."""
    bare = url.with_user(None).with_query(None).with_fragment(None)
    return str(bare) + ("?…" if url.query_string else "")


def _safe_target(url: URL) -> bool:
    """Tell whether a request may go to ``url``: https, or plain http to a loopback host."""
    if url.scheme == "https" and url.host:
        return True
    return url.scheme == "http" and url.host in protocol._LOOPBACK_HOSTS


def _origin(url: URL) -> tuple[str, str, int | None]:
    return url.scheme, (url.host or "").lower(), url.port


def resolve_recording_url(source: RecordingSource, base_url: str | None) -> URL:
    """Return the absolute URL of a recording, or raise RecordingURLError.

    A relative path is joined to ``base_url`` (the session's ``recording_base_url``),
    keeping any path prefix it has; without one, it is refused: no host is ever guessed.
    """
    if isinstance(source, CallRecord):
        raw = source.recording_url
        if raw is None or not raw.strip():
            raise RecordingURLError(f"call {source.call_id!r} has no recording_url")
    elif isinstance(source, str):
        raw = source
    else:
        raise TypeError(
            f"a recording is a URL, a CallRecord or a CallDetail, not {type(source).__name__}"
        )
    text = raw.strip()
    if not text:
        raise RecordingURLError("the recording URL is empty")
    try:
        url = URL(text)
    except ValueError:
        raise RecordingURLError(f"not a URL: {text[:80]!r}") from None
    if not url.scheme:
        if text.startswith("//"):
            raise RecordingURLError(f"the recording URL has no scheme: {_shown(url)}")
        if base_url is None:
            raise RecordingURLError(
                f"the recording URL {text[:80]!r} is a relative path: pass "
                "recording_base_url= to AlohubSession (the origin that serves recordings) "
                "to download it"
            )
        url = URL(base_url.rstrip("/") + "/" + text.lstrip("/"))
    if url.user is not None or url.password is not None:
        raise RecordingURLError(
            f"the recording URL {_shown(url)} carries a user name or password; refused"
        )
    if not _safe_target(url):
        raise RecordingURLError(
            f"the recording URL {_shown(url)} must use https:// (plain http:// only for "
            "127.0.0.1, localhost and ::1)"
        )
    return url


def recording_file_name(call_id: str, url: str | URL | None = None) -> str:
    """Return a safe file name for a call's recording: ``CALL_ID.wav`` or alike.

    Only the call id and a known audio suffix of the URL's path are used, never a path
    from the server. Characters outside ``A-Z a-z 0-9 . _ -`` become ``_``; when that
    changed the id, a short hash of it keeps two different ids from sharing a file.
    """
    if isinstance(url, str):
        url = URL(url)
    name = _UNSAFE_NAME.sub("_", call_id).lstrip(".")[:_MAX_NAME] or "_"
    if name != call_id:
        name += "-" + hashlib.sha256(call_id.encode()).hexdigest()[:10]
    suffix = Path(url.path).suffix.lower() if url is not None else ""
    return name + (suffix if suffix in _AUDIO_SUFFIXES else ".audio")


class _Restart(Exception):
    """The server sent the whole file again; the sink must start over."""


class _Transfer:
    """One recording body, read in chunks across reconnections.

    Attributes:
        position: Bytes of the file already received (including an earlier attempt's).
        resumable: Whether the server takes ``Range``, so a cut body can be continued.
        resumed: Whether some of the bytes came from before a reconnection (a ``Range``
            answer).
        total: The whole file's size, when the server said.
    """

    def __init__(
        self,
        core: SessionCore,
        url: URL,
        *,
        offset: int = 0,
        restart: Callable[[], None] | None = None,
    ) -> None:
        self._core = core
        self.url = url
        self.shown = _shown(url)
        self.position = offset
        self._restart = restart
        self._max_size = core.session.max_recording_size
        self._response: Stream | None = None
        self._validator: str | None = None
        self.resumable = False
        self.resumed = False
        self.content_type: str | None = None
        self.total: int | None = None
        self._refreshed = False
        self._retry_auth = False
        # Which token a credentialed request carried (its generation, never the token).
        self._sent_generation: int | None = None

    # -- one connection --

    async def _connect(self) -> None:
        """Open a response at ``position``, following redirects; raise on anything but audio."""
        core = self._core
        api_origin = _origin(URL(core.session.base_url))
        url = self.url
        credentials = _origin(url) == api_origin
        for _ in range(MAX_REDIRECTS + 1):
            # identity: Range counts bytes of the body as sent, which decompression would
            # shift (and audio does not compress anyway).
            headers = {
                "User-Agent": core.user_agent,
                "Accept": _ACCEPT,
                "Accept-Encoding": "identity",
            }
            if credentials:
                await core.tokens.ready()
                self._sent_generation = core.tokens.generation
                headers.update(core.credential_headers())
            if self.position:
                headers["Range"] = f"bytes={self.position}-"
                if self._validator is not None:
                    headers["If-Range"] = self._validator
            response = await core.open_stream(url, headers, shown=_shown(url))
            if response.status not in _REDIRECTS:
                break
            location = response.headers.get("Location")
            response.close()
            target = url.join(URL(location)) if location else None
            if target is None or not _safe_target(target):
                where = "no Location" if target is None else f"{_shown(target)}: not https"
                raise APIStatusError(
                    response.status,
                    method="GET",
                    url=_shown(url),
                    message=f"GET {_shown(url)}: redirect refused ({where})",
                )
            # A redirect may lead anywhere: from here on, no credentials, whatever the host.
            url, credentials = target, False
        else:
            response.close()
            raise APIStatusError(
                response.status,
                method="GET",
                url=self.shown,
                message=f"GET {self.shown}: more than {MAX_REDIRECTS} redirects",
            )
        try:
            await self._accept(response, url, credentials)
        except BaseException:
            response.close()
            raise
        self._response = response

    async def _accept(self, response: Stream, url: URL, credentials: bool) -> None:
        """Check a final response: status, range, size and type; raise if it is not audio."""
        shown = _shown(url)
        status = response.status
        if status == 416 and self.position and self._restart is not None:
            raise _Restart  # what we hold is not a prefix of this file: start over
        if status not in (200, 206):
            body = await response.read(2000)
            tokens = self._core.tokens
            if status == 401 and credentials and tokens.refreshable and not self._refreshed:
                # Once per download, as for API requests: a fresh token refused is final.
                self._refreshed = self._retry_auth = True
                assert self._sent_generation is not None
                await tokens.refresh(stale=self._sent_generation)
            protocol.check_status(status, response.headers, body, method="GET", url=shown)
            raise ResponseFormatError(f"GET {shown}: HTTP {status} without a recording body")
        encoded = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoded in ("", "identity") and (
            response.headers.get("Accept-Ranges", "").strip().lower() == "bytes"
        ):
            self.resumable = True
        # If-Range takes a strong ETag only; a weak one would make every resume start over.
        etag = response.headers.get("ETag")
        strong = etag if etag and not etag.startswith("W/") else None
        self._validator = strong or response.headers.get("Last-Modified")
        length = response.content_length
        if status == 206:
            first, total = _content_range(response.headers.get("Content-Range"))
            if first != self.position:
                raise ResponseFormatError(
                    f"GET {shown}: asked for bytes from {self.position}, got a range from {first}"
                )
            self.resumable = True
            self.resumed = self.resumed or first > 0
            self.total = total
        else:
            if self.position:
                # The server sent the whole file, not the rest (no Range support, or the
                # file changed): only a sink that can start over may take it.
                if self._restart is None:
                    raise ResponseFormatError(
                        f"GET {shown}: the server cannot resume at byte {self.position}"
                    )
                self._restart()
                self.position = 0
                self.resumed = False
            self.total = length
        if self.total is not None and self.total > self._max_size:
            raise ResponseFormatError(
                f"GET {shown}: the recording is {self.total} bytes, more than "
                f"max_recording_size={self._max_size}"
            )
        mimetype = response.content_type.lower()
        if _NOT_AUDIO_TYPES.match(mimetype):
            excerpt = await response.read(200)
            text = " ".join(excerpt.decode("utf-8", "replace").split())[:120]
            raise ResponseFormatError(
                f"GET {shown}: expected audio, got {mimetype} (a login or error page?): {text}"
            )
        self.content_type = mimetype

    def _drop(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            # close(), not release(): a half-read body must not go back to the pool.
            response.close()

    # -- the body, across reconnections --

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """Yield the body's chunks; reconnect and resume on retryable failures."""
        core = self._core
        failures = 0
        try:
            while True:
                start = self.position
                error: AlohubError
                try:
                    # A recording is in flight, for the session's max_in_flight, from its
                    # request until its body is read (or dropped); not while waiting to
                    # retry.
                    async with core.slot():
                        try:
                            if self._response is None:
                                await self._connect()
                                start = self.position
                            assert self._response is not None
                            async with contextlib.aclosing(self._read(self._response)) as body:
                                async for chunk in body:
                                    yield chunk
                        except BaseException:
                            self._drop()
                            raise
                    return
                except _Restart:
                    self._drop()
                    assert self._restart is not None
                    self._restart()
                    self.position, self.resumed = 0, False
                    continue
                except AuthenticationError:
                    if not self._retry_auth:
                        raise
                    self._retry_auth = False  # the token was refreshed: once more, at once
                    core.count_retry(None)
                    continue
                except AlohubError as exc:
                    if not is_retryable(exc):
                        raise
                    error = exc
                self._drop()
                # A body that got further (and keeps it: the server takes Range) starts
                # the retry budget afresh: a long file on a flaky link still finishes, a
                # dead one still fails after max_retries.
                if self.position > start and self.resumable:
                    failures = 0
                if failures >= core.session.max_retries:
                    raise error
                if self.position and not (self.resumable or self._restart is not None):
                    raise error  # a stream already handed on cannot start over
                failures += 1
                wait = retry_wait(error, failures)
                core.count_retry(None)
                # INFO, not WARNING: a retry that succeeds is routine, and Python's
                # last-resort handler would print WARNING lines into a CLI's output.
                logger.info(
                    "GET %s: %s; retry %d/%d in %.1fs from byte %d",
                    self.shown,
                    type(error).__name__,
                    failures,
                    core.session.max_retries,
                    wait,
                    self.position,
                )
                if wait:
                    await asyncio.sleep(wait)
        finally:
            self._drop()

    async def _read(self, response: Stream) -> AsyncGenerator[bytes, None]:
        first = self.position == 0
        while True:
            chunk = await response.read(CHUNK_SIZE)
            if not chunk:
                break
            if first:
                first = False
                if chunk.lstrip()[:9].lower().startswith(_NOT_AUDIO_START):
                    raise ResponseFormatError(
                        f"GET {self.shown}: expected audio, got a body that is an HTML page "
                        f"or JSON (served as {self.content_type})"
                    )
            self.position += len(chunk)
            if self.position > self._max_size:
                raise ResponseFormatError(
                    f"GET {self.shown}: the recording exceeds max_recording_size="
                    f"{self._max_size} bytes"
                )
            yield chunk
        if self.total is not None and self.position < self.total:
            raise APIConnectionError(
                f"GET {self.shown}: the body ended at byte {self.position} of {self.total}",
                method="GET",
                url=self.shown,
            )
        if self.position == 0:
            raise ResponseFormatError(f"GET {self.shown}: the recording is empty")


def _content_range(value: str | None) -> tuple[int, int | None]:
    """Read ``Content-Range: bytes FIRST-LAST/TOTAL`` into ``(FIRST, TOTAL)``."""
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value or "")
    if match is None:
        raise ResponseFormatError(f"unreadable Content-Range in a 206 answer: {value!r}")
    total = match.group(3)
    return int(match.group(1)), None if total == "*" else int(total)


# --- the streaming form ----------------------------------------------------------------------


class RecordingStream:
    """An open recording, for passing on as it arrives (e.g. from a web app to a browser).

    Yielded by `AlohubSession.open_recording`; iterate it for the body's chunks. The
    response is open already (errors such as `NotFoundError` or a non-audio body raised
    before this object existed), so a web handler can pick its status first. A
    connection cut mid-body is resumed with ``Range`` when the server allows it.

    Attributes:
        url: The recording's URL (user name, password and query string left out).
        content_type: The media type, e.g. ``"audio/wav"``.
        content_length: The body's length in bytes, when the server said.
    """

    def __init__(self, transfer: _Transfer, chunks: AsyncGenerator[bytes, None], first: bytes):
        self._transfer = transfer
        self._chunks = chunks
        self._first: bytes | None = first
        self.url = transfer.shown
        self.content_type = transfer.content_type
        self.content_length = transfer.total

    def __repr__(self) -> str:
        return (
            f"<RecordingStream url={self.url!r} content_type={self.content_type!r} "
            f"content_length={self.content_length}>"
        )

    @property
    def received(self) -> int:
        """Bytes received so far."""
        return self._transfer.position

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        first, self._first = self._first, None
        if first is not None:
            yield first
        async for chunk in self._chunks:
            yield chunk


@contextlib.asynccontextmanager
async def open_recording(
    core: SessionCore, source: RecordingSource
) -> AsyncIterator[RecordingStream]:
    """Open a recording for streaming; the connection is closed on leaving the block."""
    url = resolve_recording_url(source, core.session.recording_base_url)
    core.check_usable()
    transfer = _Transfer(core, url)
    chunks = transfer.chunks()
    try:
        try:
            first = await chunks.__anext__()
        except StopAsyncIteration:  # pragma: no cover - an empty body raises before this
            raise ResponseFormatError(f"GET {transfer.shown}: the recording is empty") from None
        yield RecordingStream(transfer, chunks, first)
    finally:
        # Closing the generator closes the response: leaving early (a browser gone,
        # a cancelled task) leaves no connection behind.
        await chunks.aclose()


# --- downloads -------------------------------------------------------------------------------


class _FileSink:
    """Writes chunks to a file and hashes them; can start over when the server restarts."""

    def __init__(self, stream: IO[bytes], start: int, digest: Any) -> None:
        self.stream = stream
        self._start = start
        self.digest = digest
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.stream.write(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)

    def saved(self, transfer: _Transfer, path: Path | None) -> SavedRecording:
        """Describe what was written, once the transfer is complete."""
        return SavedRecording(
            url=transfer.shown,
            path=path,
            size=self.size,
            content_type=transfer.content_type,
            sha256=self.digest.hexdigest(),
            resumed=transfer.resumed,
        )

    def restart(self) -> None:
        try:
            self.stream.seek(self._start)
            self.stream.truncate()
        except (OSError, ValueError):
            raise ResponseFormatError(
                "the server sent the recording again from its start, and the file written "
                "to cannot be rewound"
            ) from None
        self.digest = hashlib.sha256()
        self.size = 0


def _hash_file(path: Path) -> Any:
    digest = hashlib.sha256()
    with path.open("rb") as existing:
        for block in iter(lambda: existing.read(CHUNK_SIZE), b""):
            digest.update(block)
    return digest


async def download_recording(
    core: SessionCore,
    source: RecordingSource,
    destination: str | os.PathLike[str] | IO[bytes],
) -> SavedRecording:
    """Download one recording to a path (atomically, resumably) or a binary file object."""
    url = resolve_recording_url(source, core.session.recording_base_url)
    core.check_usable()
    if isinstance(destination, (str, os.PathLike)):
        return await _download_to_path(core, url, Path(destination))
    if not callable(getattr(destination, "write", None)):
        raise TypeError("destination must be a path or a binary file object")
    try:
        start = destination.tell()
    except (OSError, AttributeError, ValueError):
        start = 0
    sink = _FileSink(destination, start, hashlib.sha256())
    transfer = _Transfer(core, url, restart=sink.restart)
    async with contextlib.aclosing(transfer.chunks()) as chunks:
        async for chunk in chunks:
            sink.write(chunk)
    return sink.saved(transfer, None)


def _open_part(path: Path) -> tuple[Path, IO[bytes], int, Any]:
    """Open ``PATH.part`` to continue it (hashing what it holds) or to start it."""
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give the file to write")
    part = path.with_name(path.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    digest = _hash_file(part) if offset else hashlib.sha256()
    return part, part.open("ab" if offset else "wb"), offset, digest


def _commit(stream: IO[bytes], part: Path, path: Path) -> None:
    """Make the written bytes durable, then put the file in place in one step."""
    with stream:
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(part, path)


def _discard(stream: IO[bytes], part: Path, keep: bool) -> None:
    stream.close()
    if not keep:
        with contextlib.suppress(OSError):
            part.unlink()


def _close_opened(opening: asyncio.Future[tuple[Path, IO[bytes], int, Any]]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        part, stream, offset, _ = opening.result()
        _discard(stream, part, keep=offset > 0)


async def _download_to_path(core: SessionCore, url: URL, path: Path) -> SavedRecording:
    # Opening (which may hash a large .part) and committing (fsync) run in a thread; the
    # chunk writes stay inline, as they go to the page cache and are at most CHUNK_SIZE.
    opening = asyncio.ensure_future(asyncio.to_thread(_open_part, path))
    try:
        part, stream, offset, digest = await asyncio.shield(opening)
    except asyncio.CancelledError:
        # The thread opens the file anyway: close it then, and drop a part left empty.
        opening.add_done_callback(_close_opened)
        raise
    sink = _FileSink(stream, 0, digest)
    sink.size = offset
    transfer = _Transfer(core, url, offset=offset, restart=sink.restart)
    try:
        async with contextlib.aclosing(transfer.chunks()) as chunks:
            async for chunk in chunks:
                sink.write(chunk)
    except BaseException:
        # Keep what can be continued with Range next time; anything else is garbage.
        _discard(stream, part, keep=transfer.resumable and sink.size > 0)
        raise
    try:
        await asyncio.to_thread(_commit, stream, part, path)
    except Exception:
        # Not on cancellation: the thread finishes the commit then, and the file appears
        # complete (closing the stream under it would break that).
        _discard(stream, part, keep=False)
        raise
    return sink.saved(transfer, path)


# --- bulk ------------------------------------------------------------------------------------


async def _download_call(core: SessionCore, call: CallRecord, directory: Path) -> RecordingResult:
    """Download one call's recording into ``directory``; every failure becomes a result."""
    if not call.recording_url or not call.recording_url.strip():
        return RecordingResult(call_id=call.call_id, outcome=RecordingOutcome.NO_RECORDING)
    path: Path | None = None
    try:
        url = resolve_recording_url(call, core.session.recording_base_url)
        path = directory / recording_file_name(call.call_id, url)
        if path.exists():  # written atomically: a file there is a complete one
            return RecordingResult(
                call_id=call.call_id, outcome=RecordingOutcome.SKIPPED, path=path
            )
        saved = await _download_to_path(core, url, path)
    except (AlohubError, OSError) as exc:
        return RecordingResult(
            call_id=call.call_id, outcome=RecordingOutcome.FAILED, path=path, error=exc
        )
    return RecordingResult(
        call_id=call.call_id, outcome=RecordingOutcome.SAVED, path=path, recording=saved
    )


async def download_recordings(
    core: SessionCore,
    calls: WalkIterator[CallRecord],
    directory: Path,
    concurrency: int,
    spawn: Callable[[Coroutine[Any, Any, RecordingResult]], asyncio.Task[RecordingResult]],
) -> AsyncGenerator[RecordingResult, None]:
    """Download the recordings of ``calls``, ``concurrency`` at a time, as they finish."""
    pending: set[asyncio.Task[RecordingResult]] = set()
    try:
        walk_error: BaseException | None = None
        try:
            async with contextlib.aclosing(calls):
                async for call in calls:
                    while len(pending) >= concurrency:
                        done, pending = await asyncio.wait(
                            pending, return_when=asyncio.FIRST_COMPLETED
                        )
                        for task in done:
                            yield task.result()
                    pending.add(spawn(_download_call(core, call, directory)))
        except AlohubError as exc:
            # The listing failed: finish and report the downloads under way first.
            walk_error = exc
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                yield task.result()
        if walk_error is not None:
            raise walk_error
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

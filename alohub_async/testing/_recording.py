"""The recording files the fake serves: one WAV for every answered call, byte ranges honoured."""

from __future__ import annotations

import asyncio
import io
import math
import wave
from collections.abc import Callable
from functools import cache

from aiohttp import web

from alohub_async.testing._faults import RecordingFault

__all__ = ["recording_wav", "send_recording"]


@cache
def recording_wav() -> bytes:
    """Return the WAV file every recording URL serves: 0.2 s of a 440 Hz tone, 8 kHz mono.

    Returns:
        A complete 16-bit PCM WAV file.
    """
    rate, frames = 8000, 1600
    samples = bytearray()
    for n in range(frames):
        value = round(8000 * math.sin(2 * math.pi * 440 * n / rate))
        samples += value.to_bytes(2, "little", signed=True)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(samples))
    return buffer.getvalue()


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Read ``Range: bytes=FIRST-[LAST]`` into ``(first, last)``; None: serve everything."""
    if header is None or not header.startswith("bytes="):
        return None
    first_text, _, last_text = header[len("bytes=") :].partition("-")
    if not first_text.isdigit() or (last_text and not last_text.isdigit()):
        return None
    first = int(first_text)
    last = min(int(last_text), size - 1) if last_text else size - 1
    return first, last


async def send_recording(
    request: web.Request, fault: RecordingFault | None, count_fault: Callable[[], None]
) -> web.StreamResponse:
    """Stream the WAV (or the requested byte range of it), misbehaving as ``fault`` says.

    Args:
        request: The recording request.
        fault: A ``truncate`` or ``drip`` fault, or None to send the file normally.
        count_fault: Called when the fault is played (a 416 answer plays none).

    Returns:
        The response, already sent.
    """
    audio = recording_wav()
    size = len(audio)
    wanted = _byte_range(request.headers.get("Range"), size)
    headers = {"Accept-Ranges": "bytes", "Content-Type": "audio/wav"}
    status = 200
    if wanted is not None:
        first, last = wanted
        if first >= size or last < first:
            headers["Content-Range"] = f"bytes */{size}"
            return web.Response(status=416, headers=headers)
        audio = audio[first : last + 1]
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        status = 206
    headers["Content-Length"] = str(len(audio))
    response = web.StreamResponse(status=status, headers=headers)
    await response.prepare(request)
    if fault is not None and fault.kind == "truncate":
        count_fault()
        await response.write(audio[: fault.after])
        if request.transport is not None:
            request.transport.abort()
        return response
    step = len(audio)
    if fault is not None and fault.kind == "drip":
        count_fault()
        step = fault.chunk_size
    for offset in range(0, len(audio), step):
        if offset and fault is not None:
            await asyncio.sleep(fault.interval)
        await response.write(audio[offset : offset + step])
    await response.write_eof()
    return response

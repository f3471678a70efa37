"""The types of ``alohub-async`` options that argparse cannot read itself.

Durations (``sync --every 1d``, ``fake-server --span 1d12h``), the fake's ``--anchor``, and
``fake-server --fault``/``--fault-rate`` specs. Each raises argparse.ArgumentTypeError,
which the parser turns into a usage error (exit 2). The parser imports this module, so it
loads the fake only inside the functions that build one of its values.
"""

from __future__ import annotations

import argparse
import math
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ..testing import Endpoint, Fault

__all__ = [
    "FaultSpec",
    "parse_anchor",
    "parse_duration",
    "parse_fault",
    "parse_fault_rate",
    "parse_span",
]

_DURATION = re.compile(r"^\s*(\d+)\s*([dhms]?)\s*$")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}


def parse_duration(text: str) -> timedelta:
    """Read ``1d``, ``6h``, ``30m``, ``45s`` or a bare number of seconds.

    Args:
        text: The option's value.

    Returns:
        The duration.

    Raises:
        argparse.ArgumentTypeError: anything else (argparse turns it into a usage error).
    """
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 1d, 6h, 30m, 45s or seconds, got {text!r}"
        )
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


class FaultSpec(NamedTuple):
    """A fault asked for on the ``fake-server`` command line, and the requests it targets."""

    text: str
    fault: Fault
    endpoint: Endpoint
    page: int | None
    times: int
    probability: float


_SPAN = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
# The values of testing.Endpoint, spelled out: importing it would load the fake.
_ENDPOINTS: tuple[Endpoint, ...] = ("list", "detail", "recording", "any")


def parse_span(text: str) -> timedelta:
    """Read ``--span``: days, hours, minutes and seconds, e.g. ``7d``, ``1d12h``, ``90m``."""
    match = _SPAN.fullmatch(text.strip())
    if match is None or not text.strip():
        raise argparse.ArgumentTypeError(f"not a duration such as 7d, 36h or 1d12h: {text!r}")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    span = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if not span:
        raise argparse.ArgumentTypeError("--span must be longer than zero")
    return span


def parse_anchor(text: str) -> datetime:
    """Read ``--anchor``: ISO 8601, a naive time on the fake's clock (Asia/Ho_Chi_Minh)."""
    from ..testing._data import parse_time  # here: the fake's package loads on demand

    try:
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None


def _positive(name: str, value: str) -> int:
    """Read a positive integer option of a fault spec."""
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _seconds(value: str) -> float:
    """Read a finite, non-negative number of seconds; anything else is a ValueError."""
    seconds = float(value)
    if not 0.0 <= seconds < math.inf:
        raise ValueError(value)
    return seconds


def parse_fault(text: str, *, probability: float = 1.0, rate: bool = False) -> FaultSpec:
    """Read a ``--fault`` spec: ``KIND[:option]...`` (see the option's help)."""
    from ..testing import Fault  # here: the fake (aiohttp.web) loads only for a fault

    kind, *options = text.strip().split(":")
    endpoint: Endpoint | None = None
    page: int | None = None
    times = 1
    html = False
    retry_after: float | None = None
    seconds: float | None = None
    for option in options:
        name, _, value = option.partition("=")
        try:
            if name == "page":
                page = _positive(name, value)
            elif name == "times" and not rate:
                times = _positive(name, value)
            elif name == "endpoint" and value in _ENDPOINTS:
                endpoint = value
            elif name == "retry-after":
                retry_after = _seconds(value)
            elif name == "seconds":
                seconds = _seconds(value)
            elif option == "html":
                html = True
            else:
                raise argparse.ArgumentTypeError(f"unknown fault option {option!r} in {text!r}")
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a number of seconds >= 0 in {text!r}"
            ) from None
    if page is not None:
        if endpoint not in (None, "list"):
            raise argparse.ArgumentTypeError(f"page= applies to list requests only: {text!r}")
        endpoint = "list"
    fault: Fault
    try:
        if kind.isdigit():
            fault = Fault.status(int(kind), html=html, retry_after=retry_after)
        elif kind == "reset":
            fault = Fault.reset()
        elif kind == "malformed-json":
            fault = Fault.malformed_json()
        elif kind == "failure-body":
            fault = Fault.failure_body()
        elif kind == "hang":
            fault = Fault.hang(seconds)
        else:
            raise argparse.ArgumentTypeError(
                f"a fault is a status (e.g. 503) or reset, malformed-json, failure-body or "
                f"hang, got {kind!r}"
            )
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} in {text!r}") from None
    return FaultSpec(text, fault, endpoint or "any", page, times, probability)


def parse_fault_rate(text: str) -> FaultSpec:
    """Read a ``--fault-rate`` spec: ``P[:SPEC]``, the fault 503 unless SPEC says otherwise."""
    head, _, spec = text.strip().partition(":")
    try:
        probability = float(head)
    except ValueError:
        probability = math.nan
    if not 0.0 <= probability <= 1.0:
        raise argparse.ArgumentTypeError(f"a probability in [0, 1] comes first, got {head!r}")
    if not spec or "=" in spec.split(":")[0] or spec.split(":")[0] == "html":
        spec = ":".join(filter(None, ("503", spec)))  # options only: the default fault
    parsed = parse_fault(spec, probability=probability, rate=True)
    return parsed._replace(text=text)

"""`Counters`: what the fake saw, measured server side."""

from __future__ import annotations

from collections import Counter
from typing import Any, Final

import attrs

__all__ = ["Counters"]

# How many distinct page sizes a Counters repr lists before it says "...".
_LIMITS_SHOWN: Final = 4


@attrs.define
class Counters:
    """What the fake saw, measured server side; ``FakeAlohub.reset_counters()`` zeroes it.

    ``print(fake.counters)`` is one line: `list_pages` shows there as a summary
    (``<2000 requests, pages 1-40, limit 50>``). `as_dict` gives every value as JSON-ready
    data, which a running fake also serves at ``GET /_fake/counters``.

    Attributes:
        requests: Requests to the three endpoints.
        by_endpoint: The same, per endpoint (``"list"``, ``"detail"``, ``"recording"``).
        list_pages: ``(page, limit)`` of each list request, in arrival order (when both
            were integers).
        faults: Faults injected.
        in_flight: Requests being handled right now.
        max_in_flight: The most requests handled at the same time.
    """

    requests: int = 0
    by_endpoint: Counter[str] = attrs.field(factory=Counter)
    list_pages: list[tuple[int, int]] = attrs.field(factory=list)
    faults: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    def __repr__(self) -> str:
        # A long walk records thousands of (page, limit) pairs: the repr summarises them,
        # so print(fake.counters) stays one readable line. The list itself is unchanged.
        return (
            f"Counters(requests={self.requests}, by_endpoint={dict(self.by_endpoint)}, "
            f"list_pages={self._pages_summary()}, faults={self.faults}, "
            f"in_flight={self.in_flight}, max_in_flight={self.max_in_flight})"
        )

    def _pages_summary(self) -> str:
        """Summarise `list_pages`: ``<120 requests, pages 1-24, limit 50>``."""
        pairs = self.list_pages
        if not pairs:
            return "<0 requests>"
        pages = [page for page, _ in pairs]
        limits = sorted({limit for _, limit in pairs})
        shown = ",".join(map(str, limits[:_LIMITS_SHOWN]))
        if len(limits) > _LIMITS_SHOWN:
            shown += ",..."
        word = "limit" if len(limits) == 1 else "limits"
        count = "request" if len(pairs) == 1 else "requests"
        return f"<{len(pairs)} {count}, pages {min(pages)}-{max(pages)}, {word} {shown}>"

    def as_dict(self) -> dict[str, Any]:
        """Return the counters as a JSON-ready dict (what ``GET /_fake/counters`` answers).

        Returns:
            ``requests``, ``by_endpoint``, ``list_pages`` (``[page, limit]`` pairs in
            arrival order), ``faults``, ``in_flight`` and ``max_in_flight``.
        """
        return {
            "requests": self.requests,
            "by_endpoint": dict(self.by_endpoint),
            "list_pages": [[page, limit] for page, limit in self.list_pages],
            "faults": self.faults,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
        }

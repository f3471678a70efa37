"""How the fake writes its JSON bodies: the `Envelope` shapes and the helpers every answer uses.

The records and total keys come from the client's own tables in ``_protocol``, so the shapes
the fake can serve and the shapes the client reads cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Final

import attrs
from aiohttp import web

from alohub_async._protocol import RECORD_KEYS, TOTAL_KEYS, encode_json

__all__ = ["JSON_TYPE", "SUCCESS", "Envelope", "error_body", "json_response"]

JSON_TYPE: Final = "application/json"
"""The content type of every JSON answer."""

SUCCESS: Final = {"success": "1", "error_code": "SUCCESS", "error_message": "SUCCESS"}
"""The status fields of a successful answer."""


def json_response(value: Any, status: int = 200) -> web.Response:
    """Return a JSON response.

    Args:
        value: The JSON-ready body.
        status: The HTTP status.

    Returns:
        The response, UTF-8 encoded the way the client encodes its requests.
    """
    return web.Response(
        body=encode_json(value), status=status, content_type=JSON_TYPE, charset="utf-8"
    )


def error_body(code: str, message: str) -> dict[str, Any]:
    """Return the backend's failure envelope.

    Args:
        code: The ``error_code``.
        message: The ``error_message``.

    Returns:
        ``{"success": "0", "error_code": code, "error_message": message}``.
    """
    return {"success": "0", "error_code": code, "error_message": message}


@attrs.frozen
class Envelope:
    """The shape of the fake's responses, one of those the client must read.

    The default is the shape of Alohub's sibling APIs:
    ``{"success": "1", "error_code": "SUCCESS", "error_message": "SUCCESS",
    "data": [...], "totalRecord": N}``.

    Examples: ``Envelope(records_key="items", total_key="total")`` gives
    ``{..., "items": [...], "total": N}``; ``Envelope(records_key="items",
    nested_under="data", total_key="totalCount", total_outside=True)`` gives
    ``{..., "data": {"items": [...]}, "totalCount": N}``; ``Envelope(total_key=None)`` drops
    the total; `bare_list` answers a plain JSON list.

    Attributes:
        records_key: Key of the record list, or None for a bare JSON list (no total).
        nested_under: Key of a dict wrapping the record list one level down, or None.
        total_key: Key of the total, or None for no total.
        total_outside: Put the total one level up, beside ``nested_under``, instead of
            beside the list.
        total_block: Key of a pagination block holding the total where it would be, e.g.
            ``"meta"`` gives ``{"data": [...], "meta": {"totalRecord": N}}``; None puts
            the total itself there.
        status_fields: Add ``success``/``error_code``/``error_message`` at the top.
        detail_key: Key holding a detail object, or None to answer the object itself
            (an unknown id then always answers 404).
    """

    records_key: str | None = "data"
    nested_under: str | None = None
    total_key: str | None = "totalRecord"
    total_outside: bool = False
    total_block: str | None = None
    status_fields: bool = True
    detail_key: str | None = "data"

    def __attrs_post_init__(self) -> None:
        if self.records_key is None and self.nested_under is not None:
            raise ValueError("a bare list cannot be nested")
        if self.total_outside and self.nested_under is None:
            raise ValueError("total_outside needs nested_under")

    @classmethod
    def bare_list(cls) -> Envelope:
        """Return the shape that answers a plain JSON list of records, without total.

        Returns:
            The envelope.
        """
        return cls(records_key=None, total_key=None)

    @classmethod
    def documented(cls) -> tuple[Envelope, ...]:
        """Return every list shape the client must read, for parametrized client tests.

        That is the bare list; the records under each key the client looks for, with each
        total key it reads or none; and under ``data`` one level down, with the total
        beside the list, one level up, or absent.

        Returns:
            The envelopes, the default first.
        """
        shapes = [cls(), cls.bare_list()]
        totals: tuple[str | None, ...] = (*TOTAL_KEYS, None)
        for key in RECORD_KEYS:
            for total in totals:
                shapes.append(cls(records_key=key, total_key=total))
                shapes.append(cls(records_key=key, nested_under="data", total_key=total))
                if total is not None:
                    shapes.append(
                        cls(
                            records_key=key,
                            nested_under="data",
                            total_key=total,
                            total_outside=True,
                        )
                    )
        return tuple(dict.fromkeys(shapes))

    def list_body(
        self, records: list[dict[str, Any]], total: Any, *, with_total: bool = True
    ) -> Any:
        """Wrap one page of records.

        Args:
            records: The page's records.
            total: The window's row count (any JSON value, to serve odd totals).
            with_total: False leaves the total out of this page.

        Returns:
            The JSON-ready body.
        """
        if self.records_key is None:
            return records
        body: dict[str, Any] = dict(SUCCESS) if self.status_fields else {}
        inner: dict[str, Any] = body if self.nested_under is None else {}
        inner[self.records_key] = records
        if self.total_key is not None and with_total:
            holder = body if self.total_outside else inner
            if self.total_block is not None:
                holder = holder.setdefault(self.total_block, {})
            holder[self.total_key] = total
        if self.nested_under is not None:
            body[self.nested_under] = inner
        return body

    def detail_body(self, detail: dict[str, Any] | None) -> Any:
        """Wrap one call detail (None for an unknown id).

        Args:
            detail: The detail, or None.

        Returns:
            The JSON-ready body.
        """
        if self.detail_key is None:
            return detail
        body: dict[str, Any] = dict(SUCCESS) if self.status_fields else {}
        body[self.detail_key] = detail
        return body

"""The fake Alohub backend: `FakeAlohub`, an ``aiohttp.web`` server to reconfigure while it runs.

Requests to Alohub's endpoints first pass through the fake's request pipeline (count, delay,
credentials, fault; see ``_pipeline``); the handlers here then validate them (400) and answer.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Callable, Container
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Final, Literal

from aiohttp import web

from alohub_async._protocol import LIST_PATH
from alohub_async.testing._counters import Counters
from alohub_async.testing._data import (
    DEFAULT_ANCHOR,
    DEFAULT_SPAN,
    LOCAL_TZ,
    CallDataset,
    Vocabulary,
)
from alohub_async.testing._envelope import Envelope, error_body, json_response
from alohub_async.testing._faults import Endpoint, Fault, RecordingFault
from alohub_async.testing._listing import (
    LIST_REQUEST,
    ListPages,
    TotalFormat,
    bad_request,
    parse_window,
)
from alohub_async.testing._pipeline import Latency, Pipeline, check_latency
from alohub_async.testing._recording import send_recording

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from alohub_async import AlohubSession

__all__ = [
    "COUNTERS_PATH",
    "DEMO_ACCESS_TOKEN",
    "DEMO_API_KEY",
    "FakeAlohub",
    "serve_forever",
]

DEMO_API_KEY: Final = "demo-api-key"
"""The API key a fake accepts when none is given."""

DEMO_ACCESS_TOKEN: Final = "demo-access-token"  # noqa: S105 - a public demo value
"""The access token a fake accepts when none is given."""

COUNTERS_PATH: Final = "/_fake/counters"
"""Path of the fake's own counters endpoint (GET, no credentials), answering `Counters.as_dict`
as JSON: what a test in another process reads to see what the server was asked. It is not
counted itself."""


class FakeAlohub:
    """An in-process fake of the Alohub Call Logs backend, for tests and benchmarks.

    ``async with FakeAlohub(calls=1000, seed=1) as fake:`` serves on ``fake.url``
    (127.0.0.1, an ephemeral port by default). Every knob is an attribute or method that
    can change while it runs: ``envelope``, ``latency``/``set_latency()``, ``script()``,
    ``fail_page()``, ``error_rate()``, ``ignore_page``, ``insert_calls()``,
    ``auto_insert()``, ``access_token``, ``missing_detail_404``; what it saw is in
    ``counters``. Recordings honour ``Range``; ``recording_origin`` moves them to a second
    origin, ``script_recording()`` queues `RecordingFault` s, and ``recording_requests``
    keeps the headers each recording request carried.

    Args:
        calls: How many synthetic calls the log holds.
        seed: Seed of the synthetic data (same seed, same data).
        api_key: The accepted ``Authorization`` value (default `DEMO_API_KEY`).
        access_token: The accepted ``X-ACCESS-TOKEN`` (default `DEMO_ACCESS_TOKEN`).
        host: Interface to bind.
        port: Port to bind; 0 picks a free one.
        envelope: Shape of the responses.
        latency: Delay of every request (see `set_latency`).
        anchor: Newest time slot of the synthetic calls (naive = ``server_tz``).
        span: How far back from ``anchor`` the calls are spread.
        max_limit: Largest ``limit`` accepted; a larger one is a 400.
        missing_detail_404: Answer an unknown call id with 404 instead of ``data: null``.
        fault_seed: Seed of the RNG behind random latency and error rates (default ``seed``).
        cache_size: How many generated records to keep (an LRU cache in front of the
            generator; raise it for benchmarks that list the same calls again and again).
        ssl_context: Serve HTTPS with this server-side ``ssl.SSLContext`` (for TLS tests,
            e.g. with a certificate from ``trustme``); plain HTTP when None.
        vocabulary: The keys and value types of the records: ``"evidenced"`` (Alohub's own
            call-record vocabulary, the default), ``"camel"`` or ``"snake"`` (see
            `CallDataset`).
        server_tz: The fake server's clock: the zone of the naive times it writes in
            records and reads in requests (default Asia/Ho_Chi_Minh, like Alohub).

    Attributes:
        data: The synthetic call log served.
        api_key: The accepted ``Authorization`` header value.
        access_token: The accepted ``X-ACCESS-TOKEN``; assign a new one to expire the old.
        envelope: Shape of the responses; may change at any time.
        ignore_page: When true, every list request gets page 1, whatever page it asks for.
        ignore_limit: When true, a list page holds every row from its offset on, whatever
            ``limit``.
        limit_cap: When set, a list page holds at most this many rows, whatever ``limit``
            asks.
        cap_offsets: How a capped page finds its first row: ``"clamped"`` computes the
            offset from the capped limit, ``(page - 1) * limit_cap``; ``"requested"`` from
            the limit asked for, ``(page - 1) * limit``, then cuts the page to
            ``limit_cap`` rows.
        total_pages: The list pages that carry a total (None: every page).
        total_error: Added to the total the list pages report: above (positive) or below
            the truth.
        total_format: How the total is written: ``"number"`` (1000), ``"string"``
            ("1000"), ``"dotted"`` ("1.000", unreadable) or ``"garbage"`` ("n/a",
            unreadable).
        duplicate_rows: Positions of the listing served twice in a row, like a join
            repeating a row; the reported total counts the repeats.
        recording_requests: ``(path, headers)`` of every recording request, to check what
            a client sent.
    """

    def __init__(
        self,
        calls: int = 1000,
        seed: int = 0,
        *,
        api_key: str | None = None,
        access_token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        envelope: Envelope | None = None,
        latency: Latency = 0.0,
        anchor: datetime = DEFAULT_ANCHOR,
        span: timedelta = DEFAULT_SPAN,
        max_limit: int = 1000,
        missing_detail_404: bool = False,
        fault_seed: int | None = None,
        cache_size: int = 1024,
        ssl_context: ssl.SSLContext | None = None,
        vocabulary: Vocabulary = "evidenced",
        server_tz: tzinfo = LOCAL_TZ,
    ) -> None:
        self.ssl_context = ssl_context
        self.data = CallDataset(
            calls,
            seed,
            anchor=anchor,
            span=span,
            cache_size=cache_size,
            vocabulary=vocabulary,
            server_tz=server_tz,
        )
        self.api_key = DEMO_API_KEY if api_key is None else api_key
        self.access_token = DEMO_ACCESS_TOKEN if access_token is None else access_token
        self.host = host
        self.port = port
        self.envelope = Envelope() if envelope is None else envelope
        self.max_limit = max_limit
        self.missing_detail_404 = missing_detail_404
        self.ignore_page = False
        self.ignore_limit = False
        self.limit_cap: int | None = None
        self.cap_offsets: Literal["clamped", "requested"] = "clamped"
        self.total_pages: Container[int] | None = None
        self.total_error = 0
        self.total_format: TotalFormat = "number"
        self.duplicate_rows: frozenset[int] = frozenset()
        self.counters = Counters()
        # Not for secrets: a seeded RNG makes random latency and error rates reproducible.
        rng = random.Random(seed if fault_seed is None else fault_seed)  # noqa: S311
        self._pipeline = Pipeline(self, rng, latency)
        self._auto_rows = 0
        self._auto_every = 1
        self._auto_seen = 0
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._pages = ListPages(self)
        self._recording_origin: str | None = None
        self._recording_faults: list[RecordingFault] = []
        self.recording_requests: list[tuple[str, dict[str, str]]] = []

    def __repr__(self) -> str:
        return f"<FakeAlohub url={self._url!r} calls={self.data.calls} seed={self.data.seed}>"

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, like ``http://127.0.0.1:PORT``; available once started."""
        if self._url is None:
            raise RuntimeError("FakeAlohub is not running: use 'async with' or await start()")
        return self._url

    def make_app(self) -> web.Application:
        """Build the ``aiohttp.web`` application (``start()`` does this for you).

        Returns:
            The application, routed to this fake.
        """
        app = web.Application(middlewares=[self._pipeline.middleware])
        router = app.router
        # The route names tell the pipeline which endpoint a request is for; the counters
        # route has none, so it skips the pipeline.
        router.add_post(LIST_PATH, self._handle_list, name="list")
        router.add_get(LIST_PATH + "/{call_id}", self._handle_detail, name="detail")
        router.add_get("/recordings/{call_id}.wav", self._handle_recording, name="recording")
        router.add_get(COUNTERS_PATH, self._handle_counters)
        return app

    async def start(self) -> None:
        """Bind and serve until `close`.

        Raises:
            RuntimeError: When already started.
        """
        if self._runner is not None:
            raise RuntimeError("FakeAlohub is already running")
        runner = web.AppRunner(
            self.make_app(), access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl_context).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._pipeline.closing = asyncio.Event()
        address = runner.addresses[0]
        host, port = str(address[0]), int(address[1])
        if host in ("0.0.0.0", "::"):  # noqa: S104 - reading, not binding
            host = "127.0.0.1"
        scheme = "http" if self.ssl_context is None else "https"
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._url = f"{scheme}://{netloc}"
        origin = self._recording_origin
        self.data.base_url = self._url if origin is None else origin

    async def close(self) -> None:
        """Stop serving: wake hanging requests, close connections. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._pipeline.closing is not None:
            self._pipeline.closing.set()
        await runner.cleanup()
        self._url = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def session(self, **overrides: Any) -> AlohubSession:
        """Return an ``AlohubSession`` wired to this fake (use it with ``async with``).

        Args:
            **overrides: ``AlohubSession`` arguments; they win over the fake's ``api_key``,
                ``access_token`` and ``base_url``.

        Returns:
            The unopened session.
        """
        from alohub_async import AlohubSession  # lazy: the fake must not need the client

        kwargs: dict[str, Any] = {
            "api_key": self.api_key,
            "access_token": self.access_token,
            "base_url": self.url,
        }
        kwargs.update(overrides)
        return AlohubSession(**kwargs)

    # -- data --------------------------------------------------------------------------

    def expected_records(self, start: datetime | str, end: datetime | str) -> list[dict[str, Any]]:
        """Return what listing ``[start, end]`` page after page serves right now.

        Args:
            start: Window start (naive = the fake's ``server_tz``).
            end: Window end (naive = the fake's ``server_tz``).

        Returns:
            Copies of the records, in server order (newest first).
        """
        return self.data.records(start, end)

    def expected_detail(self, call_id: str) -> dict[str, Any] | None:
        """Return the detail object served for ``call_id``, or None when unknown.

        Args:
            call_id: The call id.

        Returns:
            The detail (before the envelope), or None.
        """
        return self.data.detail(call_id)

    def insert_calls(self, n: int = 1) -> None:
        """Add ``n`` newer calls at the head, as if they happened during a walk.

        They start at the same second as the newest original call, so they belong to
        exactly the windows covering it, and shift every later row there by ``n``.

        Args:
            n: How many calls to add.
        """
        self.data.insert(n)

    def auto_insert(self, rows: int, every: int = 1) -> None:
        """Insert ``rows`` calls after every ``every`` successful list requests.

        The page being answered is computed before the insertion. ``rows=0`` turns it off.

        Args:
            rows: Calls to insert each time.
            every: List requests between insertions.
        """
        if rows < 0 or every < 1:
            raise ValueError("rows must be >= 0 and every >= 1")
        self._auto_rows, self._auto_every, self._auto_seen = rows, every, 0

    # -- faults and latency ------------------------------------------------------------

    @property
    def latency(self) -> Latency:
        """The delay of every endpoint without a latency of its own."""
        return self._pipeline.latency["any"]

    @latency.setter
    def latency(self, value: Latency) -> None:
        self._pipeline.latency["any"] = check_latency(value)

    def set_latency(self, value: Latency, endpoint: Endpoint = "any") -> None:
        """Set the delay of one endpoint, or of all those without their own.

        Args:
            value: Seconds, or ``(low, high)`` drawn uniformly from the seeded RNG.
            endpoint: ``"list"``, ``"detail"``, ``"recording"`` or ``"any"``.
        """
        self._pipeline.latency[endpoint] = check_latency(value)

    def script(self, *faults: Fault, endpoint: Endpoint = "any", page: int | None = None) -> None:
        """Queue faults, each consumed by the next matching request, in order.

        Args:
            *faults: The faults, first served first.
            endpoint: Which requests consume them.
            page: Only list requests for this page consume them.
        """
        self._pipeline.faults.script(faults, endpoint, page)

    def fail_page(self, page: int, fault: Fault, times: int = 1) -> None:
        """Make the next ``times`` list requests for ``page`` fail with ``fault``.

        Args:
            page: The page number.
            fault: The fault.
            times: How many requests fail.
        """
        self.script(*[fault] * times, endpoint="list", page=page)

    def error_rate(
        self,
        probability: float,
        fault: Fault,
        *,
        endpoint: Endpoint = "any",
        page: int | None = None,
    ) -> None:
        """Inject ``fault`` into each matching request with ``probability`` (seeded RNG).

        Rates add up in order: the first one drawn wins. Scripted faults come first.

        Args:
            probability: Chance per request, in [0, 1].
            fault: The fault.
            endpoint: Which requests.
            page: Only list requests for this page.
        """
        self._pipeline.faults.add_rate(probability, fault, endpoint, page)

    @property
    def pending_faults(self) -> int:
        """How many scripted faults are still queued."""
        return self._pipeline.faults.pending

    def clear_faults(self) -> None:
        """Drop scripted faults and error rates (not latency, not ``ignore_page``)."""
        self._pipeline.faults.clear()

    def reset_counters(self) -> None:
        """Zero the counters (``in_flight`` stays live; its maximum restarts from it)."""
        in_flight = self.counters.in_flight
        self.counters = Counters(in_flight=in_flight, max_in_flight=in_flight)

    # -- auth --------------------------------------------------------------------------

    def is_api_key_valid(self, api_key: str) -> bool:
        """Tell whether an ``Authorization`` value is accepted; override to customise.

        Args:
            api_key: The header value.

        Returns:
            Whether it equals `api_key`.
        """
        return api_key == self.api_key

    def is_token_valid(self, token: str) -> bool:
        """Tell whether an ``X-ACCESS-TOKEN`` is accepted; override to customise.

        Args:
            token: The header value.

        Returns:
            Whether it equals `access_token`.
        """
        return token == self.access_token

    # -- handlers: what is left once the pipeline let a request through -----------------

    async def _handle_list(self, request: web.Request) -> web.StreamResponse:
        """Serve ``POST /api/report/call-logs``."""
        body, page, limit = request[LIST_REQUEST]
        if body is None:
            return bad_request("Body must be a JSON object")
        window = parse_window(body, self.data.server_tz)
        if isinstance(window, str):
            return bad_request(window)
        if page is None or page < 1:
            return bad_request("page is required and must be an integer >= 1")
        if limit is None or not 1 <= limit <= self.max_limit:
            return bad_request(f"limit is required and must be an integer in [1, {self.max_limit}]")
        response = self._pages.response(window, 1 if self.ignore_page else page, limit)
        if self._auto_rows:
            self._auto_seen += 1
            if self._auto_seen % self._auto_every == 0:
                self.data.insert(self._auto_rows)
        return response

    async def _handle_detail(self, request: web.Request) -> web.StreamResponse:
        """Serve ``GET /api/report/call-logs/{call_id}``."""
        detail = self.data.detail(request.match_info["call_id"])
        if detail is None and (self.missing_detail_404 or self.envelope.detail_key is None):
            return json_response(error_body("NOT_FOUND", "Call not found"), 404)
        return json_response(self.envelope.detail_body(detail))

    async def _handle_counters(self, request: web.Request) -> web.StreamResponse:
        """Serve ``GET /_fake/counters``: what the fake saw, for programs outside the process.

        It is the fake's own endpoint, not Alohub's: it is not counted, not delayed, takes
        no credentials (counters hold none) and no fault applies to it.
        """
        return json_response(self.counters.as_dict())

    async def _handle_recording(self, request: web.Request) -> web.StreamResponse:
        """Serve ``GET /recordings/{call_id}.wav`` (no credentials needed; Range honoured)."""
        planned = self._recording_faults.pop(0) if self._recording_faults else None
        if planned is not None and planned.kind == "redirect":
            self.counters.faults += 1
            location = planned.location + request.path_qs
            return web.Response(status=planned.status, headers={"Location": location})
        if not self.data.has_recording(request.match_info["call_id"]):
            return web.Response(status=404, text="recording not found")
        return await send_recording(request, planned, self._count_fault)

    def _count_fault(self) -> None:
        """Count one fault played."""
        self.counters.faults += 1

    # -- recordings --------------------------------------------------------------------

    @property
    def recording_origin(self) -> str | None:
        """Where recording URLs point: None for this fake, ``""`` for bare paths.

        Set it to another fake's ``url`` to serve recordings from a second origin (that
        fake, built with the same ``calls`` and ``seed``, serves the same files), or to
        ``""`` for records that carry only ``/recordings/ID.wav``.
        """
        return self._recording_origin

    @recording_origin.setter
    def recording_origin(self, value: str | None) -> None:
        self._recording_origin = origin = None if value is None else value.rstrip("/")
        if self._url is not None:
            self.data.base_url = self._url if origin is None else origin

    def script_recording(self, *faults: RecordingFault) -> None:
        """Queue recording faults, each consumed by the next recording request, in order.

        Args:
            *faults: The faults, first served first.
        """
        self._recording_faults.extend(faults)


async def serve_forever(
    host: str = "127.0.0.1",
    port: int = 9909,
    *,
    on_ready: Callable[[FakeAlohub], object] | None = None,
    **kwargs: Any,
) -> None:
    """Run a `FakeAlohub` until cancelled (e.g. by Ctrl-C under ``asyncio.run``).

    Prints nothing: ``on_ready`` receives the running fake, whose ``url``, ``api_key`` and
    ``access_token`` the caller may show.

    Args:
        host: Interface to bind.
        port: Port to bind (0 picks a free one).
        on_ready: Called once the fake listens.
        **kwargs: More `FakeAlohub` arguments (``calls``, ``seed``, ``latency``...).
    """
    async with FakeAlohub(host=host, port=port, **kwargs) as fake:
        if on_ready is not None:
            on_ready(fake)
        await asyncio.Event().wait()

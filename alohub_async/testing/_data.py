"""Deterministic synthetic call logs for the fake Alohub server.

Nothing is stored: a record is computed from ``(seed, kind, index)`` with one BLAKE2b hash,
so a million-call log costs the memory of the small LRU cache in front of the generator.
Calls are spread pseudo-evenly over ``span`` back from ``anchor`` (newest first): call ``i``
starts ``floor((i + u_i) * span / calls)`` seconds before the anchor, ``u_i`` a hashed
fraction in ``[0, 1)``. That offset grows with ``i``, so the index range of a time window is
found by two binary searches, never by a scan.

Rows inserted with `CallDataset.insert` sit at the head of the newest-first order. They
all start at the same second as the newest original call, so they fall into exactly the
windows that cover that call, and every later row of such a window moves down by one
position per insert. Only their count is stored.

Call ids look like the real ones, ``20260121095227-IMCRRNJW-342``: the start time, eight
letters and the extension. The letters are a keyed permutation of the row's identity, which
makes a detail lookup by id O(1).

A row is generated once as facts (`_Row`) and rendered in one of the `VOCABULARIES`: by
default ``"evidenced"``, the call-record keys Alohub is seen to use on its platform (naive
``"YYYY-MM-DD HH:MM:SS"`` times on the server's clock, durations as strings of seconds,
``caller_number``/``called``/``destination_number``, ``""`` while a value is unknown);
``"camel"``, the camelCase keys this fake served first (``callId``, ``callStartTime``,
numeric ``duration``...); ``"snake"``, a snake_case variant with offset-carrying ISO times
and ``HH:MM:SS`` durations. The client must read all three alike.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import re
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any, Final, Literal, NamedTuple, TypeAlias, get_args
from zoneinfo import ZoneInfo

__all__ = [
    "DEFAULT_ANCHOR",
    "DEFAULT_SPAN",
    "LOCAL_TZ",
    "VOCABULARIES",
    "CallDataset",
    "Vocabulary",
    "parse_time",
]

Vocabulary: TypeAlias = Literal["evidenced", "camel", "snake"]
"""The key names and value types of the records a fake serves (see `VOCABULARIES`)."""

VOCABULARIES: Final[tuple[Vocabulary, ...]] = get_args(Vocabulary)
"""Every record vocabulary, the default (``"evidenced"``) first."""

LOCAL_TZ: Final = ZoneInfo("Asia/Ho_Chi_Minh")
"""The zone of naive times, as the backend reads them."""

DEFAULT_ANCHOR: Final = datetime(2026, 1, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=7)))
"""Start time of the newest synthetic call unless configured: 2026-01-31T23:59:59+07:00."""

# The span ends the second after DEFAULT_ANCHOR - DEFAULT_SPAN, so the default log covers
# whole days: a walk of "2026-01-01" .. "2026-01-31" gets every call, Jan 1 included.
DEFAULT_SPAN: Final = timedelta(days=31) - timedelta(seconds=1)
"""How far back from the anchor the synthetic calls are spread unless configured: 30 days,
23:59:59, so the default calls fill 2026-01-01 00:00:01 to 2026-01-31 23:59:59 (+07:00)."""

_UTC_OFFSET_S: Final = 7 * 3600  # Vietnam has kept UTC+07:00, without DST, since 1975.
_KIND_BASE: Final = 0
_KIND_INSERTED: Final = 1
_LETTERS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PAIRS: Final = tuple(a + b for a in _LETTERS for b in _LETTERS)
_PAIR_INDEX: Final = {pair: i for i, pair in enumerate(_PAIRS)}
_STAMP_TABLE: Final = str.maketrans("", "", "-: ")
_ID_SPACE: Final = 26**8
_HALF_BITS: Final = 19  # a 38-bit Feistel network covers 26**8 (~2**37.6) by cycle walking
_HALF_MASK: Final = (1 << _HALF_BITS) - 1
_MAX_CALLS: Final = _ID_SPACE // 2
_CALL_ID_RE: Final = re.compile(r"(\d{14})-([A-Z]{8})-(\d{3,4})")

_FAMILY: Final = (
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ",
    "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý",
)  # fmt: skip
_MIDDLE_MALE: Final = ("Văn", "Đức", "Minh", "Quang", "Hữu", "Công", "Thành", "Gia")
_MIDDLE_FEMALE: Final = ("Thị", "Ngọc", "Thu", "Thanh", "Kim", "Mỹ", "Bảo", "Phương")
_GIVEN_MALE: Final = (
    "An", "Bình", "Cường", "Dũng", "Hải", "Hùng", "Khoa", "Long",
    "Nam", "Phúc", "Quân", "Sơn", "Tài", "Thắng", "Trung", "Tuấn",
)  # fmt: skip
_GIVEN_FEMALE: Final = (
    "Anh", "Bích", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hoa",
    "Hương", "Lan", "Linh", "Mai", "Nga", "Nhung", "Trang", "Vy",
)  # fmt: skip
_MOBILE_PREFIXES: Final = (
    "090", "091", "093", "094", "096", "097", "098", "086", "088", "089",
    "032", "033", "034", "035", "036", "037", "038", "039", "070", "076",
    "077", "078", "079", "081", "082", "083", "084", "085", "056", "058",
)  # fmt: skip
_LANDLINE_PREFIXES: Final = ("028", "024")
_AGENT_LINES: Final = (
    "Dạ, em chào anh chị, em có thể hỗ trợ gì ạ?",
    "Anh chị vui lòng cho em xin số điện thoại đặt hàng ạ.",
    "Em đã kiểm tra, đơn hàng đang được giao trong hôm nay ạ.",
    "Dạ, em xin lỗi vì sự bất tiện này.",
    "Anh chị chờ em một chút để em kiểm tra thông tin nhé.",
    "Bên em sẽ gọi lại cho anh chị trong vòng ba mươi phút ạ.",
    "Em đã ghi nhận yêu cầu của anh chị rồi ạ.",
    "Cảm ơn anh chị đã liên hệ tổng đài, chúc anh chị một ngày tốt lành.",
)
_CUSTOMER_LINES: Final = (
    "Chào em, chị muốn hỏi về đơn hàng hôm qua.",
    "Anh đặt hàng từ tuần trước mà vẫn chưa nhận được.",
    "Số điện thoại của chị là số này luôn em nhé.",
    "Vậy khi nào thì bên em giao được?",
    "Ừ, được rồi, cảm ơn em.",
    "Anh muốn đổi địa chỉ giao hàng sang quận Bình Thạnh.",
    "Cho chị hỏi phí vận chuyển là bao nhiêu?",
    "Thôi được, anh chờ em gọi lại nhé.",
)
_STATUS_ANSWERED: Final = "ANSWERED"
_HOTLINES: Final = ("19006868", "02873001234")


def parse_time(value: str | datetime | date, tz: tzinfo = LOCAL_TZ) -> datetime:
    """Read a time the way the fake backend does: ISO 8601, naive values in the server's zone.

    Args:
        value: An ISO 8601 string (``Z`` allowed), a datetime, or a date (its midnight).
        tz: The zone of naive values (the fake's server clock, Asia/Ho_Chi_Minh by default).

    Returns:
        An aware datetime.

    Raises:
        ValueError: When a string is not ISO 8601.
        TypeError: When ``value`` is of another type.
    """
    if isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        value = datetime.fromisoformat(text)
    elif not isinstance(value, datetime):
        if not isinstance(value, date):
            raise TypeError(f"expected str, datetime or date, got {type(value).__name__}")
        value = datetime(value.year, value.month, value.day)
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def _digest(seed: int, kind: int, index: int) -> int:
    """Return 128 hashed bits for one row."""
    data = b"%d:%d:%d" % (seed, kind, index)
    return int.from_bytes(hashlib.blake2b(data, digest_size=16).digest(), "little")


def _person(bits: int) -> tuple[str, int]:
    """Draw a Vietnamese full name from ``bits``; return it and the bits left."""
    bits, female = divmod(bits, 2)
    bits, family = divmod(bits, len(_FAMILY))
    bits, middle = divmod(bits, 8)
    bits, given = divmod(bits, 16)
    if female:
        return f"{_FAMILY[family]} {_MIDDLE_FEMALE[middle]} {_GIVEN_FEMALE[given]}", bits
    return f"{_FAMILY[family]} {_MIDDLE_MALE[middle]} {_GIVEN_MALE[given]}", bits


def _login(name: str, extension: str) -> str:
    """Make an agent login from a Vietnamese name: ``Nguyễn Văn An``, 342 -> ``an.nguyen342``."""
    plain = unicodedata.normalize("NFD", name.replace("Đ", "D").replace("đ", "d"))
    words = "".join(c for c in plain if not unicodedata.combining(c)).lower().split()
    return f"{words[-1]}.{words[0]}{extension}"


def _clock(seconds: int) -> str:
    """Format seconds as ``HH:MM:SS``."""
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}:{seconds:02d}"


class _Row(NamedTuple):
    """The facts of one generated call, before they are rendered in a vocabulary."""

    call_id: str
    start_s: int
    duration: int
    billsec: int
    direction: str
    status: str
    caller: str
    callee: str
    extension: str
    agent: str
    login: str
    customer: str | None
    hotline: str | None
    hangup_by: str
    recording: str | None


def _phone(bits: int) -> tuple[str, int]:
    """Draw a Vietnamese mobile (9 in 10) or Saigon/Hanoi landline number."""
    bits, kind = divmod(bits, 10)
    if kind:
        bits, prefix = divmod(bits, len(_MOBILE_PREFIXES))
        bits, rest = divmod(bits, 10**7)
        return f"{_MOBILE_PREFIXES[prefix]}{rest:07d}", bits
    bits, prefix = divmod(bits, len(_LANDLINE_PREFIXES))
    bits, rest = divmod(bits, 10**8)
    return f"{_LANDLINE_PREFIXES[prefix]}{rest:08d}", bits


class CallDataset:
    """A deterministic, virtual call log: ``calls`` rows plus rows inserted at the head.

    Two datasets with the same ``seed``, ``calls``, ``anchor``, ``span``, ``vocabulary``,
    ``server_tz`` and number of inserted rows hold the same records. Records are plain
    JSON-ready dicts, keyed by ``vocabulary``:

    * ``"evidenced"`` (default): ``call_id``, ``source`` (``"ipcc"``), ``direction``
      (``"inbound"``, ``"OUTBOUND"``, ``"internal"``), ``call_status`` (``"answered"`` or
      ``"missed"``), ``starttime``/``answertime``/``endtime`` as naive
      ``YYYY-MM-DD HH:MM:SS`` in ``server_tz`` (``answertime`` ``""`` when unanswered),
      ``total_duration``/``holding_duration`` as strings of seconds, ``caller_number``,
      ``called``, ``destination_number`` (the agent's extension), ``userName`` (a login),
      ``hotline`` (``""`` unless inbound), ``hangup_by``, ``recording_url`` (``""`` when
      none) and ``customerName`` (``""`` on internal calls).
    * ``"camel"``: ``callId``, ``callStartTime`` (naive, ``server_tz``), ``callEndtime``,
      ``duration`` and ``billsec`` as numbers, ``direction``, ``caller``, ``callee``,
      ``extension``, ``agentName``, ``status`` (``"ANSWERED"``, ``"NO ANSWER"``...),
      ``customerName`` and ``recordingUrl`` (null when none).
    * ``"snake"``: ``call_id``, ``start_time``/``end_time`` as ISO 8601 with offset,
      ``call_duration`` as ``HH:MM:SS``, ``call_type`` (0 in, 1 out, ``"internal"``),
      ``from``, ``to``, ``ip_phone``, ``agent``, ``disposition``, ``customer_name`` and
      ``recording`` (null when none).

    Args:
        calls: How many original calls the log holds.
        seed: Seed of every generated value.
        anchor: Start time of the newest original call's time slot (naive = ``server_tz``).
        span: The calls are spread over this much time before ``anchor``.
        base_url: Prefix of recording URLs (the fake sets it to its own URL).
        cache_size: How many generated records a small LRU cache keeps.
        vocabulary: The key names and value types of the records.
        server_tz: The server's clock: naive times are written and read in it.

    Attributes:
        records_built: How many records were generated (cache misses), to check that
            lookups stay lazy.
    """

    def __init__(
        self,
        calls: int = 1000,
        seed: int = 0,
        *,
        anchor: datetime = DEFAULT_ANCHOR,
        span: timedelta = DEFAULT_SPAN,
        base_url: str = "",
        cache_size: int = 1024,
        vocabulary: Vocabulary = "evidenced",
        server_tz: tzinfo = LOCAL_TZ,
    ) -> None:
        if vocabulary not in VOCABULARIES:
            raise ValueError(f"vocabulary must be one of {VOCABULARIES}, got {vocabulary!r}")
        if not 0 <= calls <= _MAX_CALLS:
            raise ValueError(f"calls must be between 0 and {_MAX_CALLS}, got {calls}")
        span_s = math.floor(span.total_seconds())
        if span_s < 1:
            raise ValueError("span must be at least one second")
        if cache_size < 0:
            raise ValueError("cache_size must not be negative")
        self.calls: Final = calls
        self.seed: Final = seed
        self.vocabulary: Final = vocabulary
        self.server_tz: Final = server_tz
        self.anchor: Final = parse_time(anchor, server_tz)
        self.span: Final = span
        self._anchor_s = math.floor(self.anchor.timestamp())
        self._span_s = span_s
        self._inserted = 0
        self._base_url = base_url.rstrip("/")
        self._cache: OrderedDict[tuple[int, int], tuple[_Row, dict[str, Any]]] = OrderedDict()
        self._cache_size = cache_size
        self._keys = tuple(_digest(seed, 2, r) & 0xFFFFFFFF for r in range(4))
        self._days: dict[int, str] = {}
        self._agents = [self._agent(i) for i in range(24)]
        self._logins = [_login(name, extension) for name, extension in self._agents]
        self.records_built = 0

    # -- configuration -----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The prefix of recording URLs; setting it drops the record cache."""
        return self._base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        self._base_url = value.rstrip("/")
        self._cache.clear()

    @property
    def inserted(self) -> int:
        """How many rows `insert` added at the head."""
        return self._inserted

    def insert(self, n: int = 1) -> None:
        """Add ``n`` newer rows at the head of the newest-first order.

        They start at the same second as the newest original call (or at the anchor when
        there is none), so they appear in every window covering that call and push every
        later row of it down by ``n`` positions.

        Args:
            n: How many rows to add (not negative).
        """
        if n < 0:
            raise ValueError("n must not be negative")
        if self._inserted + n > _MAX_CALLS:
            raise ValueError("too many inserted rows")
        self._inserted += n

    # -- time layout -------------------------------------------------------------------

    def _offset(self, index: int, bits: int | None = None) -> int:
        """Seconds between the anchor and the start of original call ``index``.

        ``bits`` is the row's digest when the caller already has it.
        """
        if bits is None:
            bits = _digest(self.seed, _KIND_BASE, index)
        return ((index << 32) + (bits & 0xFFFFFFFF)) * self._span_s // (self.calls << 32)

    def _head_s(self) -> int:
        """Start second of the inserted rows: that of the newest original call."""
        return self._anchor_s - self._offset(0) if self.calls else self._anchor_s

    def _window(self, start: datetime, end: datetime) -> tuple[int, int, int]:
        """Return (inserted rows in the window, first and end original index)."""
        start_s = math.ceil(start.timestamp())
        end_s = math.floor(end.timestamp())
        if start_s > end_s:
            return 0, 0, 0
        indices = range(self.calls)
        lo = bisect.bisect_left(indices, self._anchor_s - end_s, key=self._offset)
        hi = bisect.bisect_right(indices, self._anchor_s - start_s, key=self._offset)
        head_s = self._head_s()
        inserted = self._inserted if start_s <= head_s <= end_s else 0
        return inserted, lo, max(lo, hi)

    def total(self, start: datetime | str, end: datetime | str) -> int:
        """Count the rows whose start time lies in ``[start, end]`` (inclusive).

        Args:
            start: Window start (naive = ``server_tz``).
            end: Window end (naive = ``server_tz``).

        Returns:
            The number of rows in the window.
        """
        inserted, lo, hi = self._window(self._parse(start), self._parse(end))
        return inserted + hi - lo

    def page(
        self, start: datetime | str, end: datetime | str, page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Return one page of the window, newest first, and the window's total.

        Only the page's records are generated.

        Args:
            start: Window start (naive = ``server_tz``).
            end: Window end (naive = ``server_tz``).
            page: 1-based page number.
            limit: Page size.

        Returns:
            The page's records (shared with the cache: do not mutate) and the total.
        """
        if page < 1 or limit < 1:
            raise ValueError("page and limit must be positive")
        inserted, lo, hi = self._window(self._parse(start), self._parse(end))
        total = inserted + hi - lo
        first = (page - 1) * limit
        last = min(first + limit, total)
        return [self._at(inserted, lo, k) for k in range(first, last)], total

    def iter_records(self, start: datetime | str, end: datetime | str) -> Iterator[dict[str, Any]]:
        """Yield copies of every record of ``[start, end]`` in server order, lazily.

        Args:
            start: Window start (naive = ``server_tz``).
            end: Window end (naive = ``server_tz``).

        Yields:
            The records as the list endpoint serves them.
        """
        inserted, lo, hi = self._window(self._parse(start), self._parse(end))
        for k in range(inserted + hi - lo):
            yield dict(self._at(inserted, lo, k))

    def records(self, start: datetime | str, end: datetime | str) -> list[dict[str, Any]]:
        """Return copies of every record of ``[start, end]`` in server order.

        Args:
            start: Window start (naive = ``server_tz``).
            end: Window end (naive = ``server_tz``).

        Returns:
            The records as the list endpoint serves them, page after page.
        """
        return list(self.iter_records(start, end))

    def _parse(self, value: datetime | str) -> datetime:
        """Read a window bound, naive values on the server's clock."""
        return parse_time(value, self.server_tz)

    def _at(self, inserted: int, lo: int, k: int) -> dict[str, Any]:
        """Return row ``k`` of a window starting with ``inserted`` inserted rows, then ``lo``."""
        if k < inserted:
            return self._record(_KIND_INSERTED, self._inserted - 1 - k)[1]
        return self._record(_KIND_BASE, lo + k - inserted)[1]

    # -- records -----------------------------------------------------------------------

    def _record(self, kind: int, index: int) -> tuple[_Row, dict[str, Any]]:
        """Return the cached or freshly built facts and record of one row."""
        key = (kind, index)
        cache = self._cache
        entry = cache.get(key)
        if entry is not None:
            cache.move_to_end(key)
            return entry
        row = self._build(kind, index)
        entry = (row, self._render(row))
        if self._cache_size:
            cache[key] = entry
            if len(cache) > self._cache_size:
                cache.popitem(last=False)
        return entry

    def _agent(self, i: int) -> tuple[str, str]:
        """Return agent ``i``'s name and extension (3 or 4 digits)."""
        bits = _digest(self.seed, 3, i)
        name, bits = _person(bits)
        bits, four = divmod(bits, 4)
        extension = f"{1000 + 37 * i + bits % 37}" if four == 0 else f"{100 + 31 * i + bits % 31}"
        return name, extension

    def _build(self, kind: int, index: int) -> _Row:
        """Generate one row's facts."""
        self.records_built += 1
        bits = _digest(self.seed, kind, index)
        if kind == _KIND_BASE:
            start_s = self._anchor_s - self._offset(index, bits)
        else:
            start_s = self._head_s()
        bits >>= 32
        bits, agent_i = divmod(bits, len(self._agents))
        agent, extension = self._agents[agent_i]
        bits, d = divmod(bits, 20)
        direction = "inbound" if d < 12 else "outbound" if d < 19 else "internal"
        bits, s = divmod(bits, 100)
        status = (
            _STATUS_ANSWERED
            if s < 68
            else "NO ANSWER"
            if s < 88
            else "BUSY"
            if s < 95
            else "FAILED"
            if s < 98
            else "CONGESTION"
        )
        bits, ring = divmod(bits, 23)
        bits, talk_a = divmod(bits, 600)
        bits, talk_b = divmod(bits, 600)
        if status == _STATUS_ANSWERED:
            billsec = 5 + talk_a * talk_b // 300
            duration = 3 + ring + billsec
        elif status == "NO ANSWER":
            billsec, duration = 0, 15 + ring + ring // 2
        else:
            billsec, duration = 0, ring % 5
        customer: str | None
        if direction == "internal":
            bits, other = divmod(bits, len(self._agents) - 1)
            other = (agent_i + 1 + other) % len(self._agents)  # never the caller
            caller, callee = extension, self._agents[other][1]
            customer = None
        else:
            phone, bits = _phone(bits)
            customer, bits = _person(bits)
            caller, callee = (phone, extension) if direction == "inbound" else (extension, phone)
        started = self._local_text(start_s)
        call_id = f"{started.translate(_STAMP_TABLE)}-{self._letters(index * 2 + kind)}-{extension}"
        recording = (
            f"{self._base_url}/recordings/{call_id}.wav" if status == _STATUS_ANSWERED else None
        )
        # Drawn last, from bits no earlier field used: the other vocabularies' values stay
        # what they were before these fields existed.
        bits, hotline_i = divmod(bits, len(_HOTLINES))
        bits, agent_hung_up = divmod(bits, 2)
        answered = status == _STATUS_ANSWERED
        return _Row(
            call_id=call_id,
            start_s=start_s,
            duration=duration,
            billsec=billsec,
            direction=direction,
            status=status,
            caller=caller,
            callee=callee,
            extension=extension,
            agent=agent,
            login=self._logins[agent_i],
            customer=customer,
            hotline=_HOTLINES[hotline_i] if direction == "inbound" else None,
            hangup_by=("agent" if agent_hung_up else "customer") if answered else "system",
            recording=recording,
        )

    def _render(self, row: _Row) -> dict[str, Any]:
        """Write one row's facts as a list record in the dataset's vocabulary."""
        started = self._local_text(row.start_s)
        ended = self._local_text(row.start_s + row.duration)
        answered = row.status == _STATUS_ANSWERED
        if self.vocabulary == "camel":
            return {
                "callId": row.call_id,
                "callStartTime": started,
                "callEndtime": ended,
                "duration": row.duration,
                "billsec": row.billsec,
                "direction": row.direction,
                "caller": row.caller,
                "callee": row.callee,
                "extension": row.extension,
                "agentName": row.agent,
                "status": row.status,
                "customerName": row.customer,
                "recordingUrl": row.recording,
            }
        if self.vocabulary == "snake":
            return {
                "call_id": row.call_id,
                "start_time": self._iso_text(row.start_s),
                "end_time": self._iso_text(row.start_s + row.duration),
                "call_duration": _clock(row.duration),
                "call_type": {"inbound": 0, "outbound": 1}.get(row.direction, row.direction),
                "from": row.caller,
                "to": row.callee,
                "ip_phone": row.extension,
                "agent": row.agent,
                "disposition": row.status,
                "customer_name": row.customer,
                "recording": row.recording,
            }
        # The evidenced vocabulary: the number dialled on an inbound call is the hotline, and
        # the time before the agent picked up (ringing, holding) is holding_duration.
        ring = row.duration - row.billsec
        return {
            "call_id": row.call_id,
            "source": "ipcc",
            "direction": "OUTBOUND" if row.direction == "outbound" else row.direction,
            "call_status": "answered" if answered else "missed",
            "starttime": started,
            "answertime": self._local_text(row.start_s + ring) if answered else "",
            "endtime": ended,
            "total_duration": str(row.duration),
            "holding_duration": str(ring),
            "caller_number": row.caller,
            "called": row.hotline if row.hotline is not None else row.callee,
            "destination_number": row.extension,
            "userName": row.login,
            "hotline": row.hotline or "",
            "hangup_by": row.hangup_by,
            "recording_url": row.recording or "",
            "customerName": row.customer or "",
        }

    def _iso_text(self, epoch_s: int) -> str:
        """Format an epoch second as ISO 8601 with the server's offset."""
        return datetime.fromtimestamp(epoch_s, self.server_tz).isoformat()

    def _local_text(self, epoch_s: int) -> str:
        """Format an epoch second as ``YYYY-MM-DD HH:MM:SS`` on the server's clock."""
        if self.server_tz is not LOCAL_TZ:
            return datetime.fromtimestamp(epoch_s, self.server_tz).strftime("%Y-%m-%d %H:%M:%S")
        # Vietnam's fixed offset makes a cheaper path than a zone lookup per record.
        day, seconds = divmod(epoch_s + _UTC_OFFSET_S, 86400)
        prefix = self._days.get(day)
        if prefix is None:
            if len(self._days) > 4096:
                self._days.clear()
            prefix = self._days[day] = time.strftime("%Y-%m-%d ", time.gmtime(day * 86400))
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}"

    # -- call ids ----------------------------------------------------------------------

    def _encrypt(self, value: int) -> int:
        """Apply the keyed 38-bit Feistel network."""
        left, right = value >> _HALF_BITS, value & _HALF_MASK
        for key in self._keys:
            mixed = ((right * 0x9E3779B1) ^ key) & 0xFFFFFFFF
            left, right = right, left ^ ((mixed ^ (mixed >> 13)) & _HALF_MASK)
        return (left << _HALF_BITS) | right

    def _decrypt(self, value: int) -> int:
        """Invert `_encrypt`."""
        left, right = value >> _HALF_BITS, value & _HALF_MASK
        for key in reversed(self._keys):
            mixed = ((left * 0x9E3779B1) ^ key) & 0xFFFFFFFF
            left, right = right ^ ((mixed ^ (mixed >> 13)) & _HALF_MASK), left
        return (left << _HALF_BITS) | right

    def _letters(self, value: int) -> str:
        """Encode a row identity as eight letters (a permutation of ``range(26**8)``)."""
        value = self._encrypt(value)
        while value >= _ID_SPACE:  # cycle walking keeps the permutation inside the space
            value = self._encrypt(value)
        value, a = divmod(value, 676)
        value, b = divmod(value, 676)
        d, c = divmod(value, 676)
        return _PAIRS[a] + _PAIRS[b] + _PAIRS[c] + _PAIRS[d]

    def _unletters(self, letters: str) -> int:
        """Invert `_letters`."""
        value = 0
        for i in (6, 4, 2, 0):
            value = value * 676 + _PAIR_INDEX[letters[i : i + 2]]
        value = self._decrypt(value)
        while value >= _ID_SPACE:
            value = self._decrypt(value)
        return value

    def find(self, call_id: str) -> dict[str, Any] | None:
        """Return the list record of ``call_id``, or None when no such call exists.

        Args:
            call_id: A call id such as ``20260121095227-IMCRRNJW-342``.

        Returns:
            The record (shared with the cache: do not mutate), or None.
        """
        entry = self._find(call_id)
        return None if entry is None else entry[1]

    def _find(self, call_id: str) -> tuple[_Row, dict[str, Any]] | None:
        """Return the facts and record of ``call_id``, or None."""
        match = _CALL_ID_RE.fullmatch(call_id)
        if match is None:
            return None
        index, kind = divmod(self._unletters(match[2]), 2)
        if index >= (self.calls if kind == _KIND_BASE else self._inserted):
            return None
        entry = self._record(kind, index)
        return entry if entry[0].call_id == call_id else None

    def has_recording(self, call_id: str) -> bool:
        """Tell whether ``call_id`` exists and has a recording (it was answered).

        Args:
            call_id: A call id such as ``20260121095227-IMCRRNJW-342``.

        Returns:
            Whether the recording URL of the call serves a file.
        """
        entry = self._find(call_id)
        return entry is not None and entry[0].recording is not None

    def detail(self, call_id: str) -> dict[str, Any] | None:
        """Return the detail of ``call_id`` (a new dict), or None when no such call exists.

        The detail is the list record plus ``transcript``: null unless answered, else a
        list of ``{"speaker", "text", "start", "end"}`` segments. In the ``"camel"``
        vocabulary it also adds ``recording_url`` (null unless answered); the others carry
        their recording key already.

        Args:
            call_id: A call id such as ``20260121095227-IMCRRNJW-342``.

        Returns:
            The detail, or None.
        """
        entry = self._find(call_id)
        if entry is None:
            return None
        row, record = entry
        detail = dict(record)
        if self.vocabulary == "camel":
            detail["recording_url"] = row.recording
        detail["transcript"] = self._transcript(row)
        return detail

    def _transcript(self, row: _Row) -> list[dict[str, Any]] | None:
        """Generate the transcript segments of an answered call."""
        if row.status != _STATUS_ANSWERED:
            return None
        bits = int.from_bytes(hashlib.blake2b(row.call_id.encode(), digest_size=32).digest(), "big")
        bits, extra = divmod(bits, 6)
        count = 2 + extra
        talk = float(row.billsec)
        step = talk / count
        segments = []
        for n in range(count):
            bits, line = divmod(bits, 8)
            speaker = "customer" if n % 2 else "agent"
            text = (_CUSTOMER_LINES if n % 2 else _AGENT_LINES)[line if n else 0]
            segments.append(
                {
                    "speaker": speaker,
                    "text": text,
                    "start": round(n * step, 1),
                    "end": round((n + 1) * step - min(0.4, step / 4), 1),
                }
            )
        return segments

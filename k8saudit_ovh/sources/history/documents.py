"""Stored documents of an LDP alias, read from one raw `_search` answer, boundedly.

A document is a GELF message whose short_message is the audit event (stored as
`short_message` or, Graylog layout, `message`); a GELF custom field may appear with or
without its leading `_`. A page is parsed only after passes over its bytes have bounded its
nesting depth, the number of values Python would make of it and the size of its text (a
page of millions of tiny values, or of deep documents, would otherwise take hundreds of MB;
one character beyond the BMP makes Python store a whole text 4 bytes a character). Each hit is then
checked on its own: a malformed one (see SKIP_REASONS) is returned as a Skip, never an
exception, so that paging goes on. Only HistoryError leaves this module, for a page that
cannot be read at all.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from ... import config
from ...config import max_frame_bytes
from .errors import HistoryAnswerTooLarge, HistoryError

__all__ = ["MAX_DEPTH", "MAX_TEXT_BYTES", "MAX_VALUES", "SKIP_REASONS", "Document", "DocumentLayout",
           "Skip", "SkipCounts", "parse_time_ms", "read_page", "source_field"]

# Why a hit is skipped (history_documents_skipped.<reason>):
SKIP_REASONS = (
    "not_object",  # the hit or its `_source` is not a JSON object
    "bad_id",      # `_id` is not a string of at most 512 bytes
    "no_time",     # no time field (or null)
    "bad_time",    # a time that is unreadable or outside 1970..9999
    "no_message",  # neither message field holds a string
    "too_large",   # the audit text is over the per-document cap (the live frame cap)
)

MAX_DEPTH = 64  # nesting of a whole answer: hit documents sit at depth 5
MAX_VALUES = 250_000  # JSON values and keys of one page: ~60 MB of Python objects at worst
MAX_TEXT_BYTES = 16 << 20  # memory of a page decoded (and of its strings, once parsed)
MAX_ID_BYTES = 512  # OpenSearch's own limit on `_id`
MAX_TIME_TEXT = 64  # characters of a time written as a string
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_MAX_NUMBER_DIGITS = 40  # longer integers become floats (inf): Python's int() refuses > 4300 digits

# The page scan: escapes and structure characters of the raw bytes (UTF-8 keeps them ASCII).
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_ONE_BRACKET_KIND = bytes.maketrans(b"{}", b"[]")
# UTF-8 bytes that start no character, and the lead bytes of characters that CPython
# stores in 2 bytes (U+0100..U+FFFF) and in 4 (beyond the BMP).
_NOT_CONTINUATION = bytes(b for b in range(256) if not 0x80 <= b < 0xC0)
_WIDE = re.compile(rb"[\xc4-\xef]")
_ASTRAL = re.compile(rb"[\xf0-\xf7]")


def parse_time_ms(value) -> int | None:
    """Epoch milliseconds of a stored time: epoch seconds or milliseconds (a number or a
    numeric string), `2026-12-04 05:00:00.123` (UTC) or ISO-8601. None when unreadable or
    outside 1970..9999. Decimal arithmetic: `1764824400.123` s is exactly …123 ms."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_TIME_TEXT:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            return _iso_ms(text)
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            return None
        number = Decimal(repr(value))  # the shortest text of the float: as it was written
    else:
        return None
    if not number.is_finite() or not -1e20 < number < 1e20:
        return None
    # Milliseconds since 1973 are above 1e11; seconds stay below it until year 5138.
    ms = math.floor(number if abs(number) >= 100_000_000_000 else number * 1000)
    return ms if 0 <= ms <= MAX_MS else None


def _iso_ms(text: str) -> int | None:
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    ms = (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000
    return ms if 0 <= ms <= MAX_MS else None


def source_field(source: dict, name: str):
    """A document field, written with or without the leading `_` of GELF custom fields."""
    if name in source:
        return source[name]
    other = name[1:] if name.startswith("_") else "_" + name
    return source.get(other)


@dataclass(frozen=True)
class DocumentLayout:
    """Where a document keeps its time and audit text, and the largest audit text read."""
    time_field: str = "timestamp"
    short_message_field: str = "short_message"
    message_field: str = "message"
    max_audit_bytes: int = max_frame_bytes(config.DEFAULTS["maxEventSize"])  # the live rule

    @classmethod
    def of(cls, endpoint) -> "DocumentLayout":
        return cls(endpoint.time_field, endpoint.short_message_field, endpoint.message_field,
                   max_frame_bytes(endpoint.max_event_size))


@dataclass(frozen=True)
class Document:
    time_ms: int
    audit: str  # the GELF short_message: the audit event's JSON text
    key: str | bytes = ""  # `_id`; without one, a digest of the audit text (bytes: never an `_id`)
    sort: tuple | None = None  # the hit's sort values (search_after), when it has them


@dataclass(frozen=True)
class Skip:
    """A hit that is not a deliverable document."""
    reason: str  # one of SKIP_REASONS
    key: str | None = None  # its `_id` when it has a usable one
    sort: tuple | None = None


class SkipCounts(dict):
    """Skipped documents by reason (every reason present, 0 until counted)."""

    def __init__(self):
        super().__init__(dict.fromkeys(SKIP_REASONS, 0))

    @property
    def total(self) -> int:
        return sum(self.values())


def read_page(raw: bytes, layout: DocumentLayout = DocumentLayout()) -> list[Document | Skip]:
    """The hits of a raw `_search` answer, in its order: a Document for each readable one,
    a Skip for each other. HistoryError for an answer that is not a complete page of hits;
    HistoryAnswerTooLarge (one) for a page of more than MAX_VALUES values."""
    answer = _parse_bounded(raw)
    if not isinstance(answer, dict):
        raise HistoryError("the answer is not a JSON object")
    if answer.get("timed_out") is True:
        raise HistoryError("the server timed out and answered a partial page")
    shards = answer.get("_shards")
    if isinstance(shards, dict) and isinstance(shards.get("failed"), int) and shards["failed"] > 0:
        raise HistoryError(f"{shards['failed']} shards failed: the server answered a partial page")
    hits = answer.get("hits")
    hits = hits.get("hits") if isinstance(hits, dict) else None
    if not isinstance(hits, list):
        raise HistoryError("the answer holds no hits.hits list")
    return [_read_hit(hit, layout) for hit in hits]


def _read_hit(hit, layout: DocumentLayout) -> Document | Skip:
    if not isinstance(hit, dict):
        return Skip("not_object")
    sort = hit.get("sort")
    sort = tuple(sort) if isinstance(sort, list) and all(isinstance(v, (str, int, float)) for v in sort) else None
    doc_id = hit.get("_id")
    id_ok = isinstance(doc_id, str) and len(doc_id.encode("utf-8", "surrogatepass")) <= MAX_ID_BYTES
    key = doc_id if id_ok else None
    source = hit.get("_source")
    if not isinstance(source, dict):
        return Skip("not_object", key, sort)
    if doc_id is not None and not id_ok:
        return Skip("bad_id", None, sort)
    stored_time = source_field(source, layout.time_field)
    if stored_time is None:
        return Skip("no_time", key, sort)
    time_ms = parse_time_ms(stored_time)
    if time_ms is None:
        return Skip("bad_time", key, sort)
    audit = source_field(source, layout.short_message_field)
    if not isinstance(audit, str):
        audit = source_field(source, layout.message_field)
    if not isinstance(audit, str):
        return Skip("no_message", key, sort)
    size = len(audit) if audit.isascii() else len(audit.encode("utf-8", "surrogatepass"))
    if size > layout.max_audit_bytes:
        return Skip("too_large", key, sort)
    if key is None:  # no `_id`: told apart from the others of its time by its content
        key = hashlib.blake2b(audit.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return Document(time_ms, audit, key, sort)


def _parse_bounded(raw: bytes):
    """json.loads of a page whose depth and number of values were bounded first."""
    values, depth_ok = _shape(raw)
    if values > MAX_VALUES:
        raise HistoryAnswerTooLarge(f"the answer holds more than {MAX_VALUES} JSON values")
    if not depth_ok:
        raise HistoryError(f"the answer is not JSON nested at most {MAX_DEPTH} levels deep")
    if _text_bytes(raw) > MAX_TEXT_BYTES:
        raise HistoryAnswerTooLarge(f"the answer decodes to more than {MAX_TEXT_BYTES >> 20} MiB of text")
    try:
        text = raw.decode("utf-8", "surrogatepass")  # as the client encodes what it decoded
    except UnicodeDecodeError:
        raise HistoryError("the answer is not UTF-8 text") from None
    try:
        return json.loads(text, parse_int=_bounded_int)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise HistoryError(f"the answer is not JSON ({type(exc).__name__})") from None


def _bounded_int(digits: str):
    return int(digits) if len(digits) <= _MAX_NUMBER_DIGITS else float(digits)


def _text_bytes(raw: bytes) -> int:
    """Memory of the str `raw` decodes to: its characters × the widest one's storage."""
    if raw.isascii():
        return len(raw)
    characters = len(raw) - len(raw.translate(None, _NOT_CONTINUATION))
    return characters * (4 if _ASTRAL.search(raw) else 2 if _WIDE.search(raw) else 1)


def _shape(raw: bytes) -> tuple[int, bool]:
    """An upper bound of the values and keys JSON text holds, and whether it nests at most
    MAX_DEPTH deep, from byte operations only (no object per value). Escaped backslashes
    and quotes go first; the quotes left delimit the strings, whose contents are dropped;
    every value or key outside them follows one of `[{,:` (or starts the text). Depth: each
    round of removing the innermost `[]` pairs removes one level."""
    plain = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    strings = plain.count(b'"') // 2  # each a key or a value: bounds the pieces split makes
    if strings > MAX_VALUES:
        return strings, False
    outside = b"".join(plain.split(b'"')[::2])
    del plain
    brackets = outside.translate(_ONE_BRACKET_KIND, _NOT_BRACKETS)
    values = outside.count(b",") + outside.count(b":") + brackets.count(b"[") + 1
    del outside
    if values > MAX_VALUES:
        return values, False
    for _ in range(MAX_DEPTH):
        if not brackets:
            break
        brackets = brackets.replace(b"[]", b"")
    return values, not brackets

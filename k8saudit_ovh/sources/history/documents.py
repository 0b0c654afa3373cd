"""Stored documents of an LDP alias: the GELF messages, whose short_message is the audit
event (stored as `short_message` or, Graylog layout, `message`); a GELF custom field may
appear with or without its leading `_`."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone

__all__ = ["Document", "page_hits", "parse_time_ms", "source_field"]


def parse_time_ms(value) -> int | None:
    """Epoch milliseconds of a stored time: epoch seconds or milliseconds (a number or a
    numeric string), `2026-12-04 05:00:00.123` (UTC) or ISO-8601. None when unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text.replace(" ", "T", 1))
            except ValueError:
                return None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return _datetime_ms(moment)
    if isinstance(value, (int, float)) and math.isfinite(value):
        # Milliseconds since 1973 are above 1e11; seconds stay below it until year 5138.
        return int(value) if abs(value) >= 1e11 else int(math.floor(value * 1000))
    return None


def _datetime_ms(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def source_field(source: dict, name: str):
    """A document field, written with or without the leading `_` of GELF custom fields."""
    if name in source:
        return source[name]
    other = name[1:] if name.startswith("_") else "_" + name
    return source.get(other)


@dataclass
class Document:
    time_ms: int
    audit: str  # the GELF short_message: the audit event's JSON text


def page_hits(raw: bytes) -> list:
    """The hits of a raw `_search` answer."""
    return json.loads(raw).get("hits", {}).get("hits", [])

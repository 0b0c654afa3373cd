"""Read the stored history of an LDP stream through the OpenSearch API of its alias.

`https://<cluster>.logs.ovh.com:9200/<alias>/_search`, HTTP basic auth, with the official
opensearch-py client. Documents are the stored GELF messages: the audit event is the
GELF short_message, stored as `short_message` or (Graylog layout) `message`, and a GELF
custom field may appear with or without its leading `_`.

Paging uses only what an alias accepts: a `range` on the time field, an ascending `sort`
on it, `size` and `from` (no scroll, PIT or `_id` sort). Each page starts at the time of
the last document read (`gte`); the documents already read at exactly that time are
skipped by their `_id`, so documents sharing one timestamp across a page boundary are
neither lost nor repeated. When a whole page holds only such documents (more of them than
a page), `from` walks through them. Memory: one page, and the ids of one timestamp.
"""
from __future__ import annotations

import ipaddress
import math
import random
import threading
import time
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import unquote, urlsplit

from ..redaction import logger, redact, register_secret

__all__ = ["HistoryEndpoint", "HistoryError", "HistoryClient", "HistoryCursor", "parse_time_ms"]

log = logger("k8saudit_ovh.history")
# opensearch-py logs every request (URL and status) at INFO: kept out of Falco's log, and
# whatever it does log is redacted.
logger("opensearch").setLevel("ERROR")

# OpenSearch refuses from + size beyond index.max_result_window (10 000 by default).
MAX_RESULT_WINDOW = 10_000


class HistoryError(Exception):
    """History cannot be read now; `reason` is redacted and says why. `retryable` is
    False for what retrying cannot heal (credentials, URL)."""

    def __init__(self, reason: str, retryable: bool = True):
        reason = redact(reason)
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True)
class HistoryEndpoint:
    url: str  # https://host:9200/<alias>
    user: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    overlap_s: float = 10.0
    max_gap_s: float = 86400.0
    fill_wait_s: float = 30.0
    time_field: str = "timestamp"
    short_message_field: str = "short_message"
    message_field: str = "message"
    page_size: int = 1000
    timeout_s: float = 10.0
    max_retries: int = 5  # attempts after the first, for 429, 5xx and connection failures
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    verify_tls: bool = True
    ca_file: str | None = None

    def __post_init__(self):
        if self.password:
            register_secret(self.password)
            register_secret(b64encode(f"{self.user}:{self.password}".encode()).decode())
        parts = self._parts()
        if parts.password:
            register_secret(unquote(parts.password))

    def __repr__(self) -> str:
        return f"HistoryEndpoint({self.display!r})"

    @property
    def display(self) -> str:
        return redact(self.url)

    def _parts(self):
        try:
            parts = urlsplit(self.url)
            _ = parts.port
        except ValueError:
            raise ValueError(f"history url {redact(self.url)!r} is malformed") from None
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"history url {redact(self.url)!r} must be https://<cluster>.logs.ovh.com:9200/<alias>")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ValueError(f"history url {redact(self.url)!r}: http:// is only allowed on loopback; use https://")
        if not parts.path.strip("/"):
            raise ValueError(f"history url {redact(self.url)!r} names no alias: https://host:9200/<alias>")
        return parts

    @property
    def alias(self) -> str:
        return unquote(self._parts().path.strip("/").removesuffix("/_search"))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


class HistoryClient:
    """Reads time windows of one alias. Counts requests and errors (read by metrics)."""

    def __init__(self, endpoint: HistoryEndpoint, stop: threading.Event | None = None):
        from opensearchpy import OpenSearch  # imported here: only instances with history pay for it

        self.endpoint = endpoint
        self._stop = stop or threading.Event()
        self.requests = 0
        self.errors = 0
        self.skipped = 0  # documents without a readable time or audit text
        parts = endpoint._parts()
        options = {"timeout": endpoint.timeout_s, "max_retries": 0, "retry_on_timeout": False,
                   "http_compress": True}
        if parts.scheme == "https":
            options.update(use_ssl=True, verify_certs=endpoint.verify_tls, ssl_show_warn=False)
            if endpoint.ca_file:
                options["ca_certs"] = endpoint.ca_file
        if endpoint.user or endpoint.password:
            options["http_auth"] = (endpoint.user, endpoint.password)
        self._client = OpenSearch(
            hosts=[{"host": parts.hostname, "port": parts.port or 9200, "scheme": parts.scheme}], **options)
        self._alias = endpoint.alias

    def __repr__(self) -> str:
        return f"<HistoryClient {self.endpoint.display}>"

    def close(self) -> None:
        self._client.close()

    def read(self, start_ms: int, end_ms: int) -> Iterator[Document]:
        """Documents with start_ms <= time <= end_ms, in time order, each once."""
        return HistoryCursor(self, start_ms).read_until(end_ms)

    def _search(self, body: dict) -> list:
        from opensearchpy.exceptions import (AuthenticationException, AuthorizationException,
                                             ConnectionError, NotFoundError, TransportError)
        e = self.endpoint
        delay = e.backoff_initial_s
        for attempt in range(e.max_retries + 1):
            self.requests += 1
            try:
                answer = self._client.search(index=self._alias, body=body)
                return answer.get("hits", {}).get("hits", [])
            except AuthenticationException:
                self.errors += 1
                raise HistoryError(f"{e.display}: HTTP 401, the user and password were rejected", retryable=False) from None
            except AuthorizationException:
                self.errors += 1
                raise HistoryError(f"{e.display}: HTTP 403, this user may not read the alias", retryable=False) from None
            except NotFoundError:
                self.errors += 1
                raise HistoryError(f"{e.display}: HTTP 404, no such alias", retryable=False) from None
            except ConnectionError as exc:  # also ConnectionTimeout and TLS errors
                self.errors += 1
                reason = f"{e.display}: cannot connect ({type(exc).__name__})"
            except TransportError as exc:
                self.errors += 1
                status = exc.status_code if isinstance(exc.status_code, int) else 0
                reason = f"{e.display}: HTTP {status}"
                if status != 429 and status < 500:
                    raise HistoryError(f"{reason}, the request was refused", retryable=False) from None
            except Exception as exc:  # an answer that is not OpenSearch's
                self.errors += 1
                raise HistoryError(f"{e.display}: unexpected answer ({type(exc).__name__})") from None
            if attempt == e.max_retries:
                break
            # Capped exponential backoff with jitter; stop() cuts it short.
            if self._stop.wait(random.uniform(delay / 2, delay)):
                break
            delay = min(delay * 2, e.backoff_max_s)
        raise HistoryError(f"{reason} (after {attempt + 1} attempts)")


class HistoryCursor:
    """Reads forward from a time, in time order, each document once; reading again later
    goes on where it stopped (history that lags the live tail gets more documents)."""

    def __init__(self, client: HistoryClient, start_ms: int):
        self.client = client
        self.time_ms = start_ms  # time of the last document read (the start before any)
        self.documents = 0
        self._at_time: set = set()  # `_id`s of the documents read at exactly time_ms

    def read_until(self, end_ms: int) -> Iterator[Document]:
        client, e = self.client, self.client.endpoint
        skip = 0
        while not client._stop.is_set():
            if skip + e.page_size > MAX_RESULT_WINDOW:
                raise HistoryError(f"more than {MAX_RESULT_WINDOW - e.page_size} documents share the time "
                                   f"{self.time_ms} ms: they cannot be paged", retryable=False)
            hits = client._search({
                "query": {"range": {e.time_field: {"gte": self.time_ms, "lte": end_ms, "format": "epoch_millis"}}},
                "sort": [{e.time_field: {"order": "asc"}}],
                "size": e.page_size, "from": skip, "track_total_hits": False})
            fresh = 0
            for hit in hits:
                doc_id = hit.get("_id")
                source = hit.get("_source") or {}
                time_ms = parse_time_ms(source_field(source, e.time_field))
                if time_ms is None or time_ms < self.time_ms:
                    client.skipped += time_ms is None
                    continue
                if time_ms == self.time_ms and doc_id in self._at_time:
                    continue
                if time_ms > self.time_ms:
                    self.time_ms, self._at_time = time_ms, set()
                self._at_time.add(doc_id)
                fresh += 1
                audit = source_field(source, e.short_message_field)
                if not isinstance(audit, str):
                    audit = source_field(source, e.message_field)
                if isinstance(audit, str):
                    self.documents += 1
                    yield Document(time_ms, audit)
                else:
                    client.skipped += 1
            if len(hits) < e.page_size:
                return
            # A full page of documents already read: all share time_ms; walk through them.
            skip = skip + len(hits) if fresh == 0 else 0

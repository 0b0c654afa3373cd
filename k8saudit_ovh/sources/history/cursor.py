"""Paging through a time window of an alias, in time order, each document once.

Paging uses only what an alias accepts: a `range` on the time field, an ascending `sort`
on it, `size` and `from` (no scroll, PIT or `_id` sort). Each page starts at the time of
the last document read (`gte`); the documents already read at exactly that time are
skipped by their `_id`, so documents sharing one timestamp across a page boundary are
neither lost nor repeated. When a whole page holds only such documents (more of them than
a page), `from` walks through them. Memory: one page, and the ids of one timestamp.
"""
from __future__ import annotations

from collections.abc import Iterator

from .client import HistoryClient
from .documents import Document, page_hits, parse_time_ms, source_field
from .errors import HistoryError

__all__ = ["HistoryCursor", "MAX_RESULT_WINDOW"]

# OpenSearch refuses from + size beyond index.max_result_window (10 000 by default).
MAX_RESULT_WINDOW = 10_000


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
            hits = page_hits(client.search({
                "query": {"range": {e.time_field: {"gte": self.time_ms, "lte": end_ms, "format": "epoch_millis"}}},
                "sort": [{e.time_field: {"order": "asc"}}],
                "size": e.page_size, "from": skip, "track_total_hits": False}))
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

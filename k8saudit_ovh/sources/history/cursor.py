"""Paging through a time window of an alias, in time order, each document once.

Paging uses only what an alias accepts: a `range` on the time field, an ascending `sort`
on it, `size` and `from` (no scroll or PIT). Each page starts at the time of the last
document read (`gte`); the documents already read at exactly that time are skipped by
their `_id`, so documents sharing one timestamp across a page boundary are neither lost
nor repeated. When a whole page holds only such documents (more of them than a page),
`from` walks through them, up to the server's result window. Beyond it (a flood of one
timestamp), the cursor asks that timestamp once more sorted on [time, `_id`] and pages it
with `search_after` on the hits' sort values; a server that refuses the `_id` sort (recent
OpenSearch does) or gives no tiebreaker value is a HistoryError saying so.

Trust but verify: every page must come in ascending time order and inside the asked range
(a server that ignores the sort would otherwise shorten a window silently). Malformed hits
are skipped and counted by reason (documents.SKIP_REASONS), once each by their `_id` (a
skipped hit without one, each time it is read). A page over the bounds of one answer
(HistoryAnswerTooLarge) is asked again at half the size, down to one document. Memory: one
page, the keys of the documents of one timestamp and of the last skipped hits (each at most
the result window).
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from .client import HistoryClient
from .documents import Document, DocumentLayout, Skip, SkipCounts, read_page
from .errors import HistoryAnswerTooLarge, HistoryError

__all__ = ["HistoryCursor", "MAX_RESULT_WINDOW"]

# OpenSearch refuses from + size beyond index.max_result_window (10 000 by default).
MAX_RESULT_WINDOW = 10_000


class HistoryCursor:
    """Reads forward from a time, in time order, each document once; reading again later
    goes on where it stopped (history that lags the live tail gets more documents).
    Counts: `documents` delivered, `skipped` (a SkipCounts: by reason, and `.total`)."""

    def __init__(self, client: HistoryClient, start_ms: int, result_window: int = MAX_RESULT_WINDOW):
        self.client = client
        self.time_ms = start_ms  # time of the last document read (the start before any)
        self.documents = 0
        self.skipped = SkipCounts()
        self.page_size = client.endpoint.page_size  # halved for an answer too large
        self._layout = DocumentLayout.of(client.endpoint)
        self._window = result_window
        self._at_time: set = set()  # keys of the documents read at exactly time_ms
        self._skips_seen = _RecentKeys(result_window)  # keys of the skipped hits counted last
        self._past_time = False  # every document at time_ms is read (a flood): page after it

    def read_until(self, end_ms: int) -> Iterator[Document]:
        """Documents with time_ms <= time <= end_ms not read yet, in time order."""
        stop = self.client._stop
        skip = 0
        while not stop.is_set():
            if skip + self.page_size > self._window or len(self._at_time) >= self._window:
                if self._past_time:  # the flood at time_ms was read: these hits are not at it
                    raise HistoryError(f"more than {self._window} hits after {self.time_ms} ms cannot be read "
                                       f"(skipped: {self.skipped.total})", retryable=False)
                yield from self._read_flood()
                skip = 0
                continue
            bound = "gt" if self._past_time else "gte"
            page = self._page({
                "query": {"range": {self._layout.time_field: {bound: self.time_ms, "lte": end_ms,
                                                             "format": "epoch_millis"}}},
                "sort": [{self._layout.time_field: {"order": "asc"}}],
                "size": self.page_size, "from": skip, "track_total_hits": False}, end_ms)
            count, full = len(page), len(page) >= self.page_size
            fresh = 0
            for entry in page:
                if isinstance(entry, Document) and entry.time_ms > self.time_ms:
                    self.time_ms, self._at_time, self._past_time = entry.time_ms, set(), False
                if not self._first_time(entry):
                    continue
                fresh += 1
                if isinstance(entry, Document):
                    self.documents += 1
                    yield entry
            del page  # one page in memory: this one goes before the next comes
            if not full:
                return
            # No new hit in a full page: all of it was read at time_ms; walk through them.
            skip = skip + count if fresh == 0 else 0

    def _first_time(self, entry: Document | Skip) -> bool:
        """False for a hit read before, which is not delivered or counted again. Remembers
        the key of a document at time_ms; counts a skipped hit (whose time is unknown)."""
        if isinstance(entry, Skip):
            return self._count(entry)
        if entry.key in self._at_time:
            return False
        self._at_time.add(entry.key)
        return True

    def _count(self, skip: Skip) -> bool:
        """Counts a skipped hit once by its key (one without, each time); True when new."""
        if skip.key is not None and not self._skips_seen.add(skip.key):
            return False
        self.skipped[skip.reason] += 1
        return skip.key is not None

    def _read_flood(self) -> Iterator[Document]:
        """All the documents at time_ms not read yet, by search_after on [time, `_id`]."""
        flooded, field = self.time_ms, self._layout.time_field
        what = f"more than {self._window - self.page_size} documents share the time {flooded} ms"
        after = None
        while not self.client._stop.is_set():
            body = {"query": {"range": {field: {"gte": flooded, "lte": flooded, "format": "epoch_millis"}}},
                    "sort": [{field: {"order": "asc"}}, {"_id": {"order": "asc"}}],
                    "size": self.page_size, "track_total_hits": False}
            if after is not None:
                body["search_after"] = list(after)
            page = self._page(body, flooded, refused=f"{what}: they cannot be paged, the server refuses a sort "
                                                    f"on _id for search_after")
            for entry in page:
                if entry.sort is None or len(entry.sort) < 2:
                    raise HistoryError(f"{what}: they cannot be paged, the server gives no tiebreaker "
                                       f"sort value for search_after", retryable=False)
                if after is not None and not _ascending(after, entry.sort):
                    raise HistoryError(f"{what}: the server does not page them in order of their sort "
                                       f"values (search_after ignored?)", retryable=False)
                after = entry.sort
                # Documents read by the `from` walk are in _at_time; the others come once
                # each, in order of their sort values: not remembered.
                if isinstance(entry, Skip):
                    self._count(entry)
                    continue
                if entry.key in self._at_time:
                    continue
                self.documents += 1
                yield entry
            full = len(page) >= self.page_size
            del page
            if not full:
                self._at_time, self._past_time = set(), True
                return

    def _page(self, body: dict, end_ms: int, refused: str = "") -> list[Document | Skip]:
        """One page, verified: documents in ascending time order, inside [time_ms, end_ms].
        An answer too large is asked again at half the size. `refused`: the reason given
        when the server refuses the request (non-retryable)."""
        while True:
            try:
                page = read_page(self.client.search(body), self._layout)
                break
            except HistoryAnswerTooLarge as exc:
                if self.page_size == 1:
                    raise HistoryError(f"a single document at or after {self.time_ms} ms is too large to read: "
                                       f"{exc.reason}", retryable=False) from None
                self.page_size = body["size"] = max(1, self.page_size // 2)
            except HistoryError as exc:
                if not refused or exc.retryable:
                    raise
                raise HistoryError(f"{refused} ({exc.reason})", retryable=False) from None
        low = self.time_ms + 1 if self._past_time else self.time_ms  # `gt` after a flood
        previous = low
        for entry in page:
            if not isinstance(entry, Document):
                continue
            if not low <= entry.time_ms <= end_ms:
                raise HistoryError(f"the server answered a document at {entry.time_ms} ms to a search of "
                                   f"{low}..{end_ms} ms: it ignores the time range")
            if entry.time_ms < previous:
                raise HistoryError(f"the server answered a document at {entry.time_ms} ms after one at "
                                   f"{previous} ms: it ignores the sort order")
            previous = entry.time_ms
        return page


class _RecentKeys:
    """The last `limit` keys added."""

    def __init__(self, limit: int):
        self._keys: OrderedDict = OrderedDict()
        self._limit = limit

    def add(self, key) -> bool:
        """True when the key is new."""
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self._limit:
            self._keys.popitem(last=False)
        return True


def _ascending(before: tuple, after: tuple) -> bool:
    try:
        return after > before
    except TypeError:  # values of different types: no order
        return False

"""Fill the gaps of one live stream from its LDP history, in a thread of its own.

The stream (StreamSink, in the plugin) opens a gap at each reconnect: a marker in its live
ring, after which Falco gets the history ring's events until this thread ends the fill.
A fill reads from the last event delivered before the gap − overlapS to the first live
event after it + overlapS (the reconnect time while no live event has come), in time
order, through the same C++ reader as live frames; the stream drops what it delivered
already. History lags the live tail by its indexing time, so a fill ends only once history
holds a document at or after the first live event's time, or after fillWaitS of waiting.

Failures never block the stream: a gap that cannot be filled is logged once with its time
range and reason, counted, and live delivery resumes. Live events wait (in the live ring,
then through back-pressure on the reader) for at most the time to read the gap plus
fillWaitS (plus timeoutS × (maxRetries + 1) per request when history fails).
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from ..redaction import logger
from .history import HistoryClient, HistoryCursor, HistoryEndpoint, HistoryError

__all__ = ["Gap", "GapFiller", "HistoryReplay", "endpoint_from_config", "format_ms"]

log = logger("k8saudit_ovh.history")

# How often a fill looks again for documents history has not indexed yet.
_LAG_POLL_S = 0.25


@dataclass(frozen=True)
class Gap:
    number: int  # 1, 2, … in the order the stream opened them
    last_ms: int  # time of the last event delivered before it; 0: none yet
    lost_ms: int  # wall-clock time the events stopped (connection lost, checkpoint)
    reconnect_ms: int  # wall-clock time of the reconnect


def format_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def endpoint_from_config(values: dict, settings: dict) -> HistoryEndpoint:
    """The HistoryEndpoint of one init_config `history` object (see config.HISTORY_KEYS);
    `settings`: the whole init_config (TLS settings, maxEventSize)."""
    return HistoryEndpoint(
        url=values["url"], user=values["user"], password=values["password"], token=values["token"],
        client_id=values["clientId"], client_secret=values["clientSecret"], token_url=values["tokenUrl"],
        overlap_s=values["overlapS"], max_gap_s=values["maxGapS"], fill_wait_s=values["fillWaitS"],
        time_field=values["timeField"], short_message_field=values["shortMessageField"],
        message_field=values["messageField"], page_size=values["pageSize"], timeout_s=values["timeoutS"],
        max_retries=values["maxRetries"], verify_tls=settings["verifyTLS"], ca_file=settings["caFile"] or None,
        max_event_size=settings["maxEventSize"])


class _Worker:
    """One daemon thread that runs `_run` until `stop()` (which sets `_stop`)."""

    _thread_kind: str  # the thread's name: "<kind> <label>"
    label: str
    _stop: threading.Event
    _thread: "threading.Thread | None"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"{self._thread_kind} {self.label}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> bool:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()


class GapFiller(_Worker):
    """Fills one stream's gaps in order. The sink (the plugin's StreamSink) provides:

        push_history(data: bytes) -> bool     False: the instance is stopping
        end_fill() -> bool                    the oldest open gap is done
        first_live_ts(number: int) -> int     ns; 0 while unknown
        gaps_opened() -> int
        count_gap(filled: bool, ms: int)
        count_history(requests: int, errors: int)
    """

    _thread_kind = "gap-filler"

    def __init__(self, label: str, endpoint: HistoryEndpoint, sink):
        self.label = label
        self.endpoint = endpoint
        self._sink = sink
        self._stop = threading.Event()
        self._client = HistoryClient(endpoint, self._stop)
        self._gaps: queue.Queue[Gap] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._counted = (0, 0)  # requests and errors already reported to the sink

    def __repr__(self) -> str:
        return f"<GapFiller {self.label} {self.endpoint.display}>"

    def add(self, gap: Gap) -> None:
        self._gaps.put(gap)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    gap = self._gaps.get(timeout=0.2)
                except queue.Empty:
                    continue
                self.fill(gap)
        finally:
            self._client.close()

    def fill(self, gap: Gap) -> bool:
        """Reads the gap into the stream and ends its fill; True when it was filled whole."""
        e = self.endpoint
        started = time.monotonic()
        overlap = int(e.overlap_s * 1000)
        start_ms = (gap.last_ms or gap.lost_ms) - overlap
        floor_ms = gap.reconnect_ms - int(e.max_gap_s * 1000)
        problem = None
        if start_ms < floor_ms:
            problem = (start_ms, floor_ms, f"older than maxGapS ({e.max_gap_s:g} s)")
            start_ms = floor_ms
        cursor = HistoryCursor(self._client, start_ms)
        target_ms = gap.reconnect_ms
        try:
            waiting_since = None
            while not self._stop.is_set():
                first_live = self._sink.first_live_ts(gap.number)
                if not first_live and self._sink.gaps_opened() > gap.number:
                    # No live event came before the next gap, whose fill starts where this one does.
                    break
                target_ms = first_live // 1_000_000 if first_live else gap.reconnect_ms
                for doc in cursor.read_until(target_ms + overlap):
                    if not self._sink.push_history(doc.audit.encode("utf-8", "surrogatepass")):
                        return False  # closing
                if first_live and cursor.time_ms >= target_ms:
                    break  # history has reached the live tail
                # Wait for history to index the first live event, or for a quiet stream's
                # first live event (its clock may be ahead of ours).
                waiting_since = waiting_since or time.monotonic()
                if time.monotonic() - waiting_since >= e.fill_wait_s:
                    if first_live:  # else a quiet stream: history holds all there is
                        problem = problem or (cursor.time_ms, target_ms, f"history did not reach the first live "
                                              f"event within fillWaitS ({e.fill_wait_s:g} s)")
                    break
                self._stop.wait(_LAG_POLL_S)
        except HistoryError as exc:
            problem = (cursor.time_ms, target_ms, exc.reason)
        finally:
            self._report_requests()
        if self._stop.is_set():
            return False
        # Counted and logged before live delivery resumes, so both are there once its events are.
        seconds = time.monotonic() - started
        self._sink.count_gap(problem is None, int(seconds * 1000))
        if problem is None:
            log.info("stream %s: gap %d filled from history: %d events read in %.1f s", self.label, gap.number,
                     cursor.documents, seconds)
        else:
            log.warning("stream %s: gap %d not filled from %s to %s: %s (%d events read from history)", self.label,
                        gap.number, format_ms(problem[0]), format_ms(problem[1]), problem[2], cursor.documents)
        self._sink.end_fill()
        return problem is None

    def _report_requests(self) -> None:
        requests, errors = self._client.requests, self._client.errors
        self._sink.count_history(requests - self._counted[0], errors - self._counted[1])
        self._counted = (requests, errors)


class HistoryReplay(_Worker):
    """A `history:FROM..TO` source: reads that window into the stream's history ring, in
    time order, then ends the stream (like file://). A window that cannot be read whole
    fails the source with the reason. Sink: push_history, end_fill, finish, on_fatal."""

    _thread_kind = "history-replay"

    def __init__(self, label: str, endpoint: HistoryEndpoint, sink, start_ms: int, end_ms: int):
        self.label = label
        self._sink = sink
        self._window = (start_ms, end_ms)
        self._stop = threading.Event()
        self._client = HistoryClient(endpoint, self._stop)
        self._thread: threading.Thread | None = None
        self.documents = 0

    def _run(self) -> None:
        start_ms, end_ms = self._window
        cursor = HistoryCursor(self._client, start_ms)
        try:
            for doc in cursor.read_until(end_ms):
                if not self._sink.push_history(doc.audit.encode("utf-8", "surrogatepass")):
                    return  # closing
            if self._stop.is_set():
                return
            self._sink.count_history(self._client.requests, self._client.errors)
            self._sink.end_fill()
            self._sink.finish()
            log.info("history %s: %d events from %s to %s", self.label, cursor.documents, format_ms(start_ms),
                     format_ms(end_ms))
        except HistoryError as exc:
            self._sink.count_history(self._client.requests, self._client.errors)
            self._sink.on_fatal(f"history {self.label}: window read up to {format_ms(cursor.time_ms)} of "
                                f"{format_ms(start_ms)}..{format_ms(end_ms)}: {exc.reason}")
        finally:
            self._client.close()

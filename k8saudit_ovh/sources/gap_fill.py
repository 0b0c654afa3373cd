"""Fill the gaps of one live stream from its LDP history, in a thread of its own.

The stream (StreamSink, in the plugin) opens a gap at each reconnect: a marker in its live
ring. A fill reads from the last event delivered before the gap − overlapS to the first
live event after it + overlapS (the reconnect time while no live event has come), in time
order, through the same C++ reader as live frames, into the history ring; the stream drops
what it delivered already. History lags the live tail by its indexing time, so a fill ends
only once history holds a document at or after the first live event's time, or after
fillWaitS of waiting. Gaps opened while a fill runs join it (one range, one read), so a
stream that reconnects often never queues fills behind each other.

Live delivery is never hostage to this thread: the stream holds live events at a gap for
at most holdBackS, and not at all while the last fill failed or lagged (see
ldp_stream.hpp); the fill's events then come late. A gap that cannot be filled is logged
once with its time range and reason and counted; anything unexpected is caught, logged and
counted too (thread_errors), and the thread goes on with the next gap.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from ..redaction import logger, redact
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
        hold_back_s=values["holdBackS"], time_field=values["timeField"],
        short_message_field=values["shortMessageField"], message_field=values["messageField"],
        page_size=values["pageSize"], timeout_s=values["timeoutS"], max_retries=values["maxRetries"], verify_tls=settings["verifyTLS"], ca_file=settings["caFile"] or None,
        max_event_size=settings["maxEventSize"])


class _Worker:
    """One daemon thread that runs `_run` until `stop()` (which sets `_stop`), reading
    history with `_client` for `_sink`."""

    _thread_kind: str  # the thread's name: "<kind> <label>"
    label: str
    _stop: threading.Event
    _thread: "threading.Thread | None"
    _client: HistoryClient
    _sink: object

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"{self._thread_kind} {self.label}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> bool:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    # Requests, errors and watchdog faults of `_client` already reported to `_sink`.
    _counted = (0, 0, 0)

    def _report_requests(self) -> None:
        requests, errors, faults = self._client.requests, self._client.errors, self._client.thread_errors
        self._sink.count_history(requests - self._counted[0], errors - self._counted[1])
        for _ in range(faults - self._counted[2]):  # the request watchdog's own failures
            self._sink.count_thread_error()
        self._counted = (requests, errors, faults)


class GapFiller(_Worker):
    """Fills one stream's gaps in order. The sink (the plugin's StreamSink) provides:

        push_history(data: bytes) -> bool     False: the instance is stopping
        end_fill() -> bool                    the oldest open gap is done
        first_live_ts(number: int) -> int     ns; 0 while unknown
        gaps_opened() -> int
        set_history_healthy(healthy: bool)    whether live may wait at the next gap
        count_gap(filled: bool, ms: int)
        count_history(requests: int, errors: int)
        count_skipped(skipped: dict)            stored documents skipped, by reason
        count_thread_error()
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

    def __repr__(self) -> str:
        return f"<GapFiller {self.label} {self.endpoint.display}>"

    def add(self, gap: Gap) -> None:
        self._gaps.put(gap)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                gap = self._gaps.get(timeout=0.2)
            except queue.Empty:
                continue
            gaps = [gap]
            try:
                self.fill(gaps)
            except Exception as exc:  # a bug, or a sink that failed: report it, never vanish
                self._unexpected(gaps, exc)
        try:
            self._client.close()
        except Exception as exc:
            log.warning("stream %s: closing the history client failed: %s", self.label, redact(repr(exc)))

    def _absorb(self, gaps: list) -> None:
        """Gaps opened since the fill began join it: they end with it."""
        while True:
            try:
                gaps.append(self._gaps.get_nowait())
            except queue.Empty:
                return

    def fill(self, gaps: list) -> bool:
        """Reads gaps[0] (and every gap opened meanwhile, appended to `gaps`) into the stream,
        then ends their fills; True when they were filled whole."""
        e = self.endpoint
        started = time.monotonic()
        overlap = int(e.overlap_s * 1000)
        first = gaps[0]
        start_ms = (first.last_ms or first.lost_ms) - overlap
        floor_ms = first.reconnect_ms - int(e.max_gap_s * 1000)
        problem = None
        if start_ms < floor_ms:
            problem = (start_ms, floor_ms, f"older than maxGapS ({e.max_gap_s:g} s)")
            start_ms = floor_ms
        cursor = HistoryCursor(self._client, start_ms)
        target_ms = first.reconnect_ms
        needed_ms = 0  # the latest first live event of the gaps in this fill: history must reach it
        try:
            waiting_since = None
            while not self._stop.is_set():
                self._absorb(gaps)
                last = gaps[-1]
                first_live = self._sink.first_live_ts(last.number) // 1_000_000
                if not first_live and self._sink.gaps_opened() > last.number:
                    # A later gap is open but not queued yet: it joins this fill.
                    self._stop.wait(_LAG_POLL_S / 10)
                    continue
                needed_ms = max([needed_ms, first_live] + [self._sink.first_live_ts(g.number) // 1_000_000
                                                           for g in gaps[:-1]])
                target_ms = first_live or max(needed_ms, last.reconnect_ms)
                for doc in cursor.read_until(target_ms + overlap):
                    if not self._sink.push_history(doc.audit.encode("utf-8", "surrogatepass")):
                        return False  # closing
                if first_live and cursor.time_ms >= target_ms:
                    break  # history has reached the live tail
                # Wait for history to index the first live event, or for a quiet stream's
                # first live event (its clock may be ahead of ours).
                waiting_since = waiting_since or time.monotonic()
                if time.monotonic() - waiting_since >= e.fill_wait_s:
                    # A quiet stream since the gap: history holds all there is, once it has
                    # reached the live events that came between the gaps of this fill.
                    if cursor.time_ms < needed_ms:
                        problem = problem or (cursor.time_ms, needed_ms, f"history did not reach the first live "
                                              f"event within fillWaitS ({e.fill_wait_s:g} s)")
                    break
                self._stop.wait(_LAG_POLL_S)
        except HistoryError as exc:
            problem = (cursor.time_ms, target_ms, exc.reason)
        finally:
            self._report_requests()
            self._sink.count_skipped(cursor.skipped)
        if self._stop.is_set():
            return False
        self._end(gaps, problem, cursor.documents, time.monotonic() - started)
        return problem is None

    def _end(self, gaps: list, problem, documents: int, seconds: float) -> None:
        """Counts and logs the fill, then ends it: counted and logged before live delivery
        resumes, so both are there once its events are."""
        self._sink.set_history_healthy(problem is None)
        for _ in gaps:
            self._sink.count_gap(problem is None, int(seconds * 1000 / len(gaps)))
        numbers = f"{gaps[0].number}" if len(gaps) == 1 else f"{gaps[0].number}-{gaps[-1].number}"
        what = "gap" if len(gaps) == 1 else "gaps"
        if problem is None:
            log.info("stream %s: %s %s filled from history: %d events read in %.1f s", self.label, what, numbers,
                     documents, seconds)
        else:
            log.warning("stream %s: %s %s not filled from %s to %s: %s (%d events read from history)", self.label,
                        what, numbers, format_ms(problem[0]), format_ms(problem[1]), problem[2], documents)
        for _ in gaps:
            self._sink.end_fill()

    def _unexpected(self, gaps: list, exc: Exception) -> None:
        """A fill that raised what it should not: its gaps are reported as not filled (with
        their range as far as known) and ended, so live delivery goes on."""
        self._sink.count_thread_error()
        self._absorb(gaps)
        first, last = gaps[0], gaps[-1]
        start_ms = (first.last_ms or first.lost_ms) - int(self.endpoint.overlap_s * 1000)
        try:
            self._end(gaps, (start_ms, last.reconnect_ms, f"gap-filler failed: {redact(repr(exc))}"), 0, 0.0)
        except Exception as again:  # the sink itself fails: nothing more to do than say so
            log.error("stream %s: gap-filler cannot end gaps %d-%d: %s", self.label, first.number, last.number,
                      redact(repr(again)))



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

    def _run(self) -> None:
        start_ms, end_ms = self._window
        cursor = HistoryCursor(self._client, start_ms)
        try:
            for doc in cursor.read_until(end_ms):
                if not self._sink.push_history(doc.audit.encode("utf-8", "surrogatepass")):
                    return  # closing
            if self._stop.is_set():
                return
            self._report_requests()
            self._sink.count_skipped(cursor.skipped)
            self._sink.end_fill()
            self._sink.finish()
            log.info("history %s: %d events from %s to %s", self.label, cursor.documents, format_ms(start_ms),
                     format_ms(end_ms))
        except Exception as exc:  # a failed read, or a bug: the source fails with the reason, never hangs
            reason = exc.reason if isinstance(exc, HistoryError) else f"history replay failed: {redact(repr(exc))}"
            self._sink.on_fatal(f"history {self.label}: window read up to {format_ms(cursor.time_ms)} of "
                                f"{format_ms(start_ms)}..{format_ms(end_ms)}: {reason}")
            if not isinstance(exc, HistoryError):
                self._sink.count_thread_error()
            self._report_requests()
            self._sink.count_skipped(cursor.skipped)
        finally:
            self._client.close()

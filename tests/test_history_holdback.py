"""Live delivery is never hostage to history: with history stale, failing, slow or lagging,
and reconnects every second or so, live events keep coming (held at a gap for at most
holdBackS, not at all once history is known to lag or fail); what history brings later is
delivered late, once; what it cannot bring is reported with its range. An unexpected
exception in the gap-filler or the history replay is caught, logged and counted.

These run the plugin in this process (k8saudit_ovh.cli.host, the same ABI as Falco) so the
test sees when each batch arrives, and can inject a failure into a worker thread."""
import collections
import json
import logging
import threading
import time

import pytest

from ldp_server import Behavior
from opensearch_server import OpenSearchServer, WireServer
from test_gap_fill import _ms, feed, history_config
from test_streams import FAST, TOKEN, frame

pytest.importorskip("opensearchpy")

from k8saudit_ovh.cli.host import Plugin, PluginError  # noqa: E402
from k8saudit_ovh.sources import gap_fill  # noqa: E402

FIELDS = ["ka.auditid", "ka.stage"]
# Each connection sends this many frames, then closes (a clean close drops nothing in flight);
# the next one starts `LOST` frames further on: those only history has.
PER_CONNECTION, LOST, CONNECTIONS = 400, 100, 8


@pytest.fixture
def history():
    with OpenSearchServer() as server:
        yield server


def feed_events(connections: int = CONNECTIONS) -> list:
    """Enough for `connections` closed connections and a last one that stays open with a few
    events: every gap then has a first live event (a quiet stream's fill would read up to the
    reconnect's wall-clock time, which the test's event clock may run ahead of)."""
    return feed(connections * (PER_CONNECTION + LOST) + 50, int(time.time() * 1000))


def live_feed(server, events, rate=1000):
    return server([frame(e) for e in events],
                  Behavior(close_after=PER_CONNECTION, resume_skip=LOST, rate=rate))


def sent_on_connections(events) -> list:
    """The events the feed sends on its connections, in order (the gaps left out)."""
    keys = [(e["auditID"], e["stage"]) for e in events]
    return [k for i, k in enumerate(keys) if i % (PER_CONNECTION + LOST) < PER_CONNECTION]


class Run:
    """Batches as they arrive: their keys and the longest time between two batches that
    brought events while the feed still had events to send."""

    def __init__(self):
        self.keys, self.stall_s, self.metrics = [], 0.0, {}


def collect(plugin, config, url, until, limit_s=120.0) -> Run:
    run, last = Run(), None
    with Plugin(plugin, json.dumps(config)) as p:
        stream = p.open(url)
        deadline = time.monotonic() + limit_s
        try:
            while time.monotonic() < deadline:
                events = stream.next_batch()
                if events:
                    now = time.monotonic()
                    if last is not None:
                        run.stall_s = max(run.stall_s, now - last)
                    last = now
                    run.keys += [tuple(p.extract(e, FIELDS).values()) for e in events]
                run.metrics = p.metrics()
                if until(run):
                    break
        finally:
            stream.close()
    return run


def test_stale_history_does_not_hold_live_back(plugin, server, history, caplog):
    """History never reaches the live tail (it lags by more than the test lasts), fills wait
    fillWaitS = 20 s for it: live still gets every event it is sent, with no stall near 20 s."""
    caplog.set_level(logging.INFO, logger="k8saudit_ovh")
    events = feed_events()
    history.add_events(events, [_ms(e) for e in events])
    history.visible_until = lambda: 0  # nothing indexed yet
    ldp = live_feed(server, events)
    expected = sent_on_connections(events)
    config = {**FAST, "history": history_config(history, fillWaitS=20, holdBackS=0.5)}
    run = collect(plugin, config, ldp.url(TOKEN),
                  lambda r: len(r.keys) >= len(expected) and r.metrics.get("gaps_not_filled", 0) >= 1)
    assert run.keys == expected  # every live event, once, in order
    m = run.metrics
    assert m["gaps_seen"] == CONNECTIONS
    assert m["gaps_late"] == m["gaps_seen"]  # the first held for holdBackS, the others not at all
    assert m["gaps_not_filled"] >= 1 and m["thread_errors"] == 0
    # A stall is bounded by holdBackS, far from fillWaitS (slack for a busy machine).
    assert run.stall_s < 10, run.stall_s
    assert "within fillWaitS (20 s)" in caplog.text and "not filled from 20" in caplog.text


@pytest.mark.parametrize("failure", ["HTTP 500", "trickle"])
def test_failing_history_does_not_hold_live_back(plugin, server, failure, caplog):
    """Every history request answers 500, or trickles its answer a byte every 0.1 s (timeoutS
    2 s cuts it): each fill retries with backoff, then is reported; live goes on meanwhile."""
    caplog.set_level(logging.INFO, logger="k8saudit_ovh")
    events = feed_events()
    with WireServer() as history:
        history.add_events(events, [_ms(e) for e in events])
        if failure == "trickle":
            history.wire, reason = "trickle_body", "no complete answer within timeoutS (2 s)"
        else:
            history.misbehavior.status, history.misbehavior.times, reason = 500, -1, "HTTP 500"
        ldp = live_feed(server, events)
        expected = sent_on_connections(events)
        config = {**FAST, "history": history_config(history, maxRetries=3, timeoutS=2, holdBackS=0.5)}
        run = collect(plugin, config, ldp.url(TOKEN),
                      lambda r: len(r.keys) >= len(expected) and r.metrics.get("gaps_not_filled", 0) >= 1)
    assert run.keys == expected
    m = run.metrics
    assert m["gaps_not_filled"] >= 1 and m["gaps_filled"] == 0 and m["history_errors"] >= 4
    assert run.stall_s < 10, run.stall_s
    assert reason in caplog.text and history.password not in caplog.text


@pytest.mark.parametrize("slowness", ["lagging", "slow"])
def test_history_that_comes_late_is_delivered_late_and_once(plugin, server, history, slowness):
    """History that indexes 2 s behind the tail, or answers each request after 1.5 s: live is
    held at most holdBackS; every event still comes exactly once (the gaps' late)."""
    events = feed_events()
    history.add_events(events, [_ms(e) for e in events])
    ldp = live_feed(server, events)
    if slowness == "lagging":
        positions, stop = [(time.monotonic(), 0)], threading.Event()

        def sample():
            while not stop.wait(0.02):
                positions.append((time.monotonic(), ldp.feed_position))
        threading.Thread(target=sample, daemon=True).start()

        def visible_ms():
            seen = [p for t, p in positions if t <= time.monotonic() - 2.0] or [0]
            return _ms(events[seen[-1] - 1]) if seen[-1] else 0
        history.visible_until = visible_ms
    else:
        history.visible_until = lambda: _ms(events[min(max(ldp.feed_position - 1, 0), len(events) - 1)])
        history.misbehavior.delay_s = 1.5
    expected = [(e["auditID"], e["stage"]) for e in events]
    config = {**FAST, "history": history_config(history, fillWaitS=30, holdBackS=0.3, timeoutS=20)}
    try:
        run = collect(plugin, config, ldp.url(TOKEN),
                      lambda r: len(r.keys) >= len(expected)
                      and r.metrics.get("gaps_filled", 0) == CONNECTIONS, limit_s=180)
    finally:
        if slowness == "lagging":
            stop.set()
    duplicates = [k for k, c in collections.Counter(run.keys).items() if c > 1]
    assert not duplicates, duplicates[:5]
    assert sorted(run.keys) == sorted(expected)
    m = run.metrics
    assert m["gaps_filled"] == m["gaps_seen"] == CONNECTIONS and m["gaps_not_filled"] == 0
    assert m["gaps_late"] >= 1 and m["events_recovered"] >= (CONNECTIONS - 1) * LOST


def test_an_unexpected_error_in_the_gap_filler_is_counted_and_filling_goes_on(plugin, server, history, caplog,
                                                                            monkeypatch):
    caplog.set_level(logging.INFO, logger="k8saudit_ovh")
    real_read = gap_fill.HistoryCursor.read_until
    calls = []

    def read_until(self, end_ms):
        calls.append(end_ms)
        if len(calls) == 1:
            raise RuntimeError("injected failure")
        return real_read(self, end_ms)
    monkeypatch.setattr(gap_fill.HistoryCursor, "read_until", read_until)
    connections = 3
    events = feed_events(connections)
    history.add_events(events, [_ms(e) for e in events])
    ldp = live_feed(server, events, rate=500)
    history.visible_until = lambda: _ms(events[min(max(ldp.feed_position - 1, 0), len(events) - 1)])
    expected = [(e["auditID"], e["stage"]) for e in events]
    lost_first = expected[PER_CONNECTION:PER_CONNECTION + LOST]
    config = {**FAST, "history": history_config(history)}
    run = collect(plugin, config, ldp.url(TOKEN),
                  lambda r: len(r.keys) >= len(expected) - LOST
                  and r.metrics.get("gaps_filled", 0) + r.metrics.get("gaps_not_filled", 0) == connections)
    m = run.metrics
    assert m["thread_errors"] == 1 and m["gaps_not_filled"] == 1 and m["gaps_filled"] == connections - 1
    # Everything but the first gap, once: the later gaps were filled after the failure (late:
    # live does not wait at the gap that follows a failed fill).
    assert len(run.keys) == len(set(run.keys))
    assert sorted(run.keys) == sorted(k for k in expected if k not in set(lost_first))
    assert "gap 1 not filled from 20" in caplog.text and "gap-filler failed: RuntimeError('injected failure')" \
        in caplog.text


def test_an_unexpected_error_in_a_history_replay_fails_the_source(plugin, history, monkeypatch):
    def read_until(self, end_ms):
        raise RuntimeError("injected failure")
        yield  # a generator, like the real one
    monkeypatch.setattr(gap_fill.HistoryCursor, "read_until", read_until)
    config = json.dumps({**FAST, "history": history_config(history)})
    with Plugin(plugin, config) as p:
        stream = p.open("history:2026-12-01T00:00:00Z..2026-12-01T01:00:00Z")
        deadline = time.monotonic() + 60
        with pytest.raises(PluginError, match=r"history replay failed: RuntimeError\('injected failure'\)"):
            while time.monotonic() < deadline:
                stream.next_batch()
        assert p.metrics()["thread_errors"] == 1
        stream.close()


def test_a_gap_older_than_max_gap_is_cut_and_reported(host, plugin, server, history, tmp_path, caplog):
    """A checkpoint 30 s old with maxGapS = 1: the fill starts 1 s before the restart, the
    older part is reported as not filled, and live goes on."""
    from c_host import run_host
    events = feed(200, int(time.time() * 1000) - 30_000)
    history.add_events(events, [_ms(e) for e in events])
    state = tmp_path / "state"
    state.mkdir()
    ldp = server([frame(e) for e in events[100:]])
    from k8saudit_ovh.sources.checkpoint import fingerprint
    from k8saudit_ovh.sources.open_params import parse_open_params
    stream_id = fingerprint(parse_open_params(ldp.url(TOKEN))[0].display)
    (state / "stream-1.checkpoint.json").write_text(json.dumps(
        {"version": 1, "stream": stream_id, "timeNs": _ms(events[10]) * 1_000_000, "identity": 1}))
    config = json.dumps({**FAST, "stateDir": str(state), "history": history_config(history, maxGapS=1)})
    run = run_host(host, plugin, ldp.url(TOKEN), FIELDS, config=config, max_events=100, time_limit=60)
    assert [tuple(e["values"].values()) for e in run.events] == [(e["auditID"], e["stage"]) for e in events[100:]]
    assert run.metrics["gaps_seen"] == 1 and run.metrics["gaps_not_filled"] == 1
    assert "older than maxGapS (1 s)" in run.stderr and "gap 1 not filled from 20" in run.stderr

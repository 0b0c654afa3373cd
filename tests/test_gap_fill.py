"""Gap-fill through the C host: an LDP live feed that is cut again and again, the same
events stored in an OpenSearch-compatible history, and every event must reach Falco
exactly once (auditID + stage), counted in the metrics."""
import collections
import json
import time

import pytest

from c_host import run_host
from ldp_server import Behavior
from opensearch_server import OpenSearchServer
from test_streams import FAST, TOKEN, frame

pytest.importorskip("opensearchpy")

STAGES = ("RequestReceived", "ResponseComplete")


def feed(count: int, base_ms: int) -> list[dict]:
    """`count` events, two stages per request (sharing the auditID), 1 ms apart."""
    events = []
    for n in range(count):
        t = base_ms + n
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // 1000)) + f".{t % 1000:03d}000Z"
        events.append({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                       "auditID": f"req-{n // 2}", "stage": STAGES[n % 2], "verb": "get",
                       "requestURI": f"/api/v1/namespaces/default/pods/p{n}", "user": {"username": "alice"},
                       "stageTimestamp": stamp, "requestReceivedTimestamp": stamp})
    return events


@pytest.fixture
def history():
    with OpenSearchServer() as server:
        yield server


def history_config(history, **extra) -> dict:
    return {"url": history.url(), "user": history.user, "password": history.password, "overlapS": 0.2,
            "fillWaitS": 5, "pageSize": 500, **extra}


def keys(run) -> list[tuple[str, str]]:
    return [(e["values"]["ka.auditid"], e["values"]["ka.stage"]) for e in run.events]


def run_feed(host, plugin, server, history, events, behavior, *, max_events, history_cfg=None, time_limit=120):
    ldp = server([frame(e) for e in events], behavior)
    # History holds what the feed has sent (a real store cannot run ahead of the tail).
    history.visible_until = lambda: _ms(events[min(max(ldp.feed_position - 1, 0), len(events) - 1)])
    config = {**FAST, "history": history_cfg or history_config(history)}
    return ldp, run_host(host, plugin, ldp.url(TOKEN), ["ka.auditid", "ka.stage"], config=json.dumps(config),
                         max_events=max_events, time_limit=time_limit, timeout=time_limit + 60)


@pytest.mark.parametrize("disconnects", [3, 100])
def test_every_event_exactly_once_through_forced_disconnects(host, plugin, server, history, disconnects):
    per_connection, lost = 150, 100
    # The last connection sends fewer frames than a reset comes after: it stays open.
    count = disconnects * (per_connection + lost) + 100
    events = feed(count, int(time.time() * 1000))
    history.add_events(events, [_ms(e) for e in events])
    ldp, run = run_feed(host, plugin, server, history, events,
                        Behavior(reset_after=per_connection, resume_skip=lost, rate=5000), max_events=count)
    got = keys(run)
    expected = [(e["auditID"], e["stage"]) for e in events]
    assert len(got) == len(set(got)), [k for k, c in collections.Counter(got).items() if c > 1][:5]
    assert got == expected  # all of them, once, and in order
    m = run.metrics
    assert m["stream.1.disconnects"] == m["gaps_seen"] == disconnects
    assert m["gaps_filled"] + m["gaps_not_filled"] <= m["gaps_seen"] and m["gaps_not_filled"] == 0
    assert m["events_recovered"] >= disconnects * lost and m["duplicates_dropped"] > 0
    # Gaps opened while a fill runs join it: at least one request, maybe fewer than gaps.
    assert m["history_requests"] > 0 and m["history_errors"] == 0
    assert history.password not in run.stderr and TOKEN not in run.stderr


def test_history_down_live_goes_on_and_the_gap_is_reported_with_its_range(host, plugin, server, history):
    events = feed(500, int(time.time() * 1000))
    history.add_events(events, [_ms(e) for e in events])
    history.misbehavior.status, history.misbehavior.times = 500, -1
    ldp, run = run_feed(host, plugin, server, history, events, Behavior(close_after=200, resume_skip=200, rate=5000),
                        max_events=300, history_cfg=history_config(history, maxRetries=1, timeoutS=1))
    got = keys(run)
    expected = [(e["auditID"], e["stage"]) for e in events]
    # Live goes on: the events of both connections, once each; those of the gap are lost. (A
    # close, not a reset: a reset may also drop what was in flight.)
    assert got == expected[:200] + expected[400:]
    m = run.metrics
    assert m["gaps_seen"] == 1 and m["gaps_not_filled"] == 1 and m["history_errors"] >= 2
    assert "gap 1 not filled from 20" in run.stderr and "HTTP 500" in run.stderr
    assert history.password not in run.stderr


def test_wrong_history_password_is_reported_once_and_never_printed(host, plugin, server, history):
    events = feed(250, int(time.time() * 1000))
    history.add_events(events, [_ms(e) for e in events])
    cfg = history_config(history, password="not-the-hist-pass")
    # A close, not a reset: a reset may drop what was in flight, which no failed history brings back.
    ldp, run = run_feed(host, plugin, server, history, events, Behavior(close_after=100, resume_skip=100, rate=5000),
                        max_events=150, history_cfg=cfg)
    assert len(keys(run)) == 150
    assert run.metrics["gaps_not_filled"] == 1 and history.statuses.count(401) == 1
    assert "HTTP 401" in run.stderr and "not-the-hist-pass" not in run.stderr


def _ms(event: dict) -> int:
    from k8saudit_ovh.sources.history import parse_time_ms
    return parse_time_ms(event["stageTimestamp"])


def test_restart_with_state_dir_loses_nothing_and_repeats_at_most_one_batch(host, plugin, server, history, tmp_path):
    """Falco stops in the middle of a batch and starts again while the stream goes on: the
    second run fills from the checkpoint, then follows live."""
    batch = 50
    events = feed(1500, int(time.time() * 1000))
    history.add_events(events, [_ms(e) for e in events])
    ldp = server([frame(e) for e in events], Behavior(resume_skip=300, rate=5000))
    history.visible_until = lambda: _ms(events[min(max(ldp.feed_position - 1, 0), len(events) - 1)])
    config = json.dumps({**FAST, "batchMaxEvents": batch, "stateDir": str(tmp_path / "state"),
                         "history": history_config(history)})
    fields = ["ka.auditid", "ka.stage"]
    first = run_host(host, plugin, ldp.url(TOKEN), fields, config=config, max_events=420, time_limit=60)
    expected = [(e["auditID"], e["stage"]) for e in events]
    assert keys(first) == expected[:420]
    checkpoint = json.loads((tmp_path / "state" / "stream-1.checkpoint.json").read_text())
    # The last event of the last batch Falco asked beyond: at most one batch comes again.
    resumed = [_ms(e) * 1_000_000 for e in events].index(checkpoint["timeNs"]) + 1
    assert 420 - batch <= resumed <= 420
    second = run_host(host, plugin, ldp.url(TOKEN), fields, config=config, time_limit=60,
                      max_events=len(events) - resumed)
    assert keys(second) == expected[resumed:]
    assert second.metrics["gaps_seen"] == 1 and second.metrics["gaps_filled"] == 1
    assert history.password not in first.stderr + second.stderr


@pytest.mark.parametrize("content, words", [("{not json", "cannot be read"),
                                            ('{"version": 1, "stream": "other", "timeNs": 1, "identity": 2}',
                                             "another stream"),
                                            ('{"version": 9}', "not a k8saudit-ovh checkpoint")])
def test_corrupt_or_foreign_checkpoint_is_reported_and_ignored(host, plugin, server, history, tmp_path,
                                                               content, words):
    events = feed(100, int(time.time() * 1000))
    ldp = server([frame(e) for e in events])
    state = tmp_path / "state"
    state.mkdir()
    (state / "stream-1.checkpoint.json").write_text(content)
    config = json.dumps({**FAST, "stateDir": str(state), "history": history_config(history)})
    run = run_host(host, plugin, ldp.url(TOKEN), ["ka.auditid", "ka.stage"], config=config, max_events=100,
                   time_limit=60)
    assert keys(run) == [(e["auditID"], e["stage"]) for e in events]
    assert f"checkpoint {state / 'stream-1.checkpoint.json'} ignored: " in run.stderr and words in run.stderr
    assert run.metrics["gaps_seen"] == 0


def test_history_that_lags_the_tail_is_waited_for(host, plugin, server, history):
    """History shows what the feed sent half a second earlier: each fill waits until history
    holds the first live event before live delivery resumes, and nothing is lost."""
    import threading
    events = feed(3 * 250 + 100, int(time.time() * 1000))
    history.add_events(events, [_ms(e) for e in events])
    ldp = server([frame(e) for e in events], Behavior(reset_after=150, resume_skip=100, rate=2000))
    positions, stop = [(time.monotonic(), 0)], threading.Event()

    def sample():
        while not stop.wait(0.01):
            positions.append((time.monotonic(), ldp.feed_position))
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    def visible_ms():
        seen = [p for t, p in positions if t <= time.monotonic() - 0.5] or [0]
        return _ms(events[max(seen[-1] - 1, 0)]) if seen[-1] else 0
    history.visible_until = visible_ms
    config = json.dumps({**FAST, "history": history_config(history, fillWaitS=20)})
    from k8saudit_ovh.cli.host import Plugin
    try:
        with Plugin(plugin, config) as p:
            stream = p.open(ldp.url(TOKEN))
            got, deadline = [], time.monotonic() + 120
            # The last fill may deliver the last events before its own bookkeeping ends.
            while (len(got) < len(events) or p.metrics().get("gaps_filled", 0) < 3) and time.monotonic() < deadline:
                got += [tuple(p.extract(e, ["ka.auditid", "ka.stage"]).values()) for e in stream.next_batch()]
            metrics = p.metrics()
            stream.close()
    finally:
        stop.set()
        sampler.join()
    assert got == [(e["auditID"], e["stage"]) for e in events]
    assert metrics["gaps_filled"] == 3 and metrics["gaps_not_filled"] == 0
    # A fill asked again after history had not reached the live tail yet.
    assert metrics["history_requests"] > metrics["gaps_seen"]


def test_state_dir_without_history_says_so(host, plugin, server, tmp_path):
    ldp = server([frame(e) for e in feed(10, int(time.time() * 1000))])
    run = run_host(host, plugin, ldp.url(TOKEN), ["ka.auditid"], config=json.dumps({**FAST, "stateDir": str(tmp_path)}),
                   max_events=10, time_limit=60)
    assert len(run.events) == 10 and "no stream has history" in run.stderr
    assert not list(tmp_path.iterdir())


def test_odd_stored_documents_mid_gap_are_skipped_and_every_event_comes_once(host, plugin, server, history):
    """Issue 19: documents history cannot deliver (a string `_source`, a 400-digit time, no
    message, …) stored among a gap's events: the filler skips and counts them, and goes on."""
    from opensearch_server import gelf_document
    from test_history_documents import ODD_SOURCES
    odd = [source for reason, source in ODD_SOURCES if reason != "too_large"]
    events = feed(3 * 250 + 100, int(time.time() * 1000))
    for n, event in enumerate(events):
        history.add(gelf_document(event, _ms(event)), _ms(event))
        if n % 5 == 2:
            history.add(odd[n % len(odd)], _ms(event))
    ldp, run = run_feed(host, plugin, server, history, events, Behavior(close_after=150, resume_skip=100, rate=5000),
                        max_events=len(events))
    assert keys(run) == [(e["auditID"], e["stage"]) for e in events]
    m = run.metrics
    assert m["gaps_seen"] == m["gaps_filled"] == 3 and m["gaps_not_filled"] == 0 and m["thread_errors"] == 0
    assert m["history_documents_skipped"] > 0

"""The LDP WebSocket source end to end: a real LDP-compatible server on loopback (plain
and TLS), the plugin loaded by the C host (no Python in the host), and what comes out:
events, golden field values, counters, and behaviour through outages and bad input."""
import collections
import json
import threading
import time

import pytest

from c_host import RunningHost, is_sanitized, run_host
from hostile_server import TEXT, HostileServer, ws_frame
from k8saudit_ovh.cli.host import Plugin
from ldp_server import Behavior, load_frames

TOKEN = "s3cr3t-ldp-token"
FAST = {"backoffInitialS": 0.05, "backoffMaxS": 0.2, "connectTimeoutS": 2.0}


def cfg(**settings) -> str:
    return json.dumps({**FAST, **settings})


def frame(event: dict, cluster: str = "mks-prod") -> tuple[bytes, bool]:
    """One LDP frame: the audit event as GELF short_message inside the JSON envelope."""
    gelf = {"version": "1.1", "host": "kube-apiserver", "short_message": json.dumps(event),
            "timestamp": 1740259777.9, "level": 6, "_cluster_name": cluster, "_log_type": "audit"}
    return json.dumps({"message": json.dumps(gelf)}).encode(), False


def audit_event(n: int, **extra) -> dict:
    return {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": f"id-{n}",
            "stage": "ResponseComplete", "verb": "get", "requestURI": f"/api/v1/namespaces/default/pods/p{n}",
            "user": {"username": "alice"}, "objectRef": {"resource": "pods", "namespace": "default", "name": f"p{n}"},
            "stageTimestamp": f"2025-02-20T10:11:{n % 60:02d}.000001Z", **extra}


def assert_token_hidden(run):
    assert TOKEN not in run.stderr and TOKEN not in json.dumps(run.ends)


@pytest.fixture(scope="module")
def golden(corpus):
    records = {}
    for path in (corpus / "golden").glob("*.golden.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            records[(r["file"], r["line"], r["item"])] = r
    return records


FRAME_SETS = {"events": "generated/setA/frames/events", "edge": "generated/setA/frames/edge",
              "falco-traces": "generated/upstream-frames/falco-traces"}


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
@pytest.mark.parametrize("name", sorted(FRAME_SETS))
def test_corpus_frames_end_to_end(name, tls, corpus, golden, host, plugin, server, tls_files):
    """Every audit event of the frame files arrives once, in order, with golden values."""
    base = corpus / FRAME_SETS[name]
    expected = [json.loads(x) for x in (base.parent / f"{base.name}.frames.expected.jsonl").read_text().splitlines()]
    wanted = [golden[(e["file"], e["line"], e["item"])] for x in expected for e in x.get("events", [])]
    # A last event after the corpus frames: once it arrives, every frame before it (trailing
    # skipped ones included) has been counted, however fast the events reached the host.
    sentinel = frame(audit_event(0, auditID="sentinel"))
    ldp = server(load_frames(f"{base}.frames.jsonl") + [sentinel], tls=tls_files[1] if tls else None)
    config = cfg(caFile=tls_files[0]) if tls else cfg()
    specs = sorted({s for r in wanted for s in r["values"]} | {"ka.auditid"})  # auditid: the sentinel
    run = run_host(host, plugin, ldp.url(TOKEN), specs, config=config, max_events=len(wanted) + 1, time_limit=60)
    assert run.returncode == 0, run.stderr
    assert run.events[-1]["values"]["ka.auditid"] == "sentinel"
    run.events.pop()
    assert [e["ts"] for e in run.events] == [r["ts"] for r in wanted]
    for event, record in zip(run.events, wanted):
        for spec in specs:
            if spec not in record.get("oracle_panics", {}):
                assert event["values"][spec] == record["values"].get(spec), (record["line"], spec)
    skips = collections.Counter(x["reason"].replace("-", "_") for x in expected if x["outcome"] == "skip")
    counted = {k.rsplit(".", 1)[1]: v for k, v in run.metrics.items() if k.startswith("stream.1.frames_skipped.") and v}
    assert counted == dict(skips)
    assert run.metrics["frames_received"] == len(expected) + 1
    assert run.metrics["streams_connected"] == 1 and run.metrics["reconnects"] == 0
    assert_token_hidden(run)


def test_tls_is_verified_by_default(host, plugin, server, tls_files):
    """An unknown CA is a transient failure (retried), never silently accepted."""
    ldp = server([frame(audit_event(1))], tls=tls_files[1])
    run = run_host(host, plugin, ldp.url(TOKEN), ["ka.verb"], config=cfg(connectTimeoutS=1.0), time_limit=1.5)
    assert run.end["end"] == "time" and run.events == []
    assert run.metrics["streams_connected"] == 0 and run.metrics["reconnects"] >= 1
    assert "certificate" in run.stderr.lower()
    run = run_host(host, plugin, ldp.url(TOKEN), ["ka.verb"], config=cfg(verifyTLS=False), max_events=1, time_limit=10)
    assert [e["values"]["ka.verb"] for e in run.events] == ["get"]
    assert_token_hidden(run)


@pytest.mark.parametrize("status, words", [(401, "token"), (403, "token"), (404, "no such stream")])
def test_rejected_upgrade_fails_open(status, words, host, plugin, server):
    ldp = server([], Behavior(status=status))
    run = run_host(host, plugin, ldp.url(TOKEN))
    assert run.end["end"] == "open-failure"
    assert str(status) in run.end["error"] and words in run.end["error"]
    assert_token_hidden(run)


def test_dead_server_at_open_keeps_retrying(host, plugin, server):
    ldp = server([])
    url = ldp.url(TOKEN)
    ldp.stop()
    run = run_host(host, plugin, url, config=cfg(), time_limit=3.0)
    assert run.end["end"] == "time" and run.end["timeouts"] > 0
    assert run.metrics["reconnects"] >= 2 and run.metrics["streams_connected"] == 0
    assert_token_hidden(run)


def test_retries_exhausted_is_a_clear_failure(host, plugin, server):
    ldp = server([])
    url = ldp.url(TOKEN)
    ldp.stop()
    run = run_host(host, plugin, url, config=cfg(maxRetries=2), time_limit=20)
    assert run.end["end"] == "failure" and run.returncode == 3
    assert "127.0.0.1" in run.end["error"] and TOKEN not in run.end["error"]


# The outages below come once the plugin has every frame sent before them: what TCP drops in
# flight on a reset is lost whatever the reader does.
BEFORE, AFTER = range(100), range(1000, 1100)


def assert_flowed_through_the_outage(run):
    assert [int(e["values"]["ka.auditid"][3:]) for e in run.events] == [*BEFORE, *AFTER]
    assert run.metrics["reconnects"] >= 1 and run.metrics["stream.1.disconnects"] == 1
    assert_token_hidden(run)


def test_events_keep_flowing_through_a_connection_reset(host, plugin):
    def events(numbers):
        return b"".join(ws_frame(TEXT, frame(audit_event(n))[0]) for n in numbers)

    def reset_after_sync(peer, number):
        peer.upgrade()
        peer.send(events(BEFORE if number == 0 else AFTER))
        if number == 0:
            peer.sync()
            peer.reset()
        else:
            peer.hold()

    with HostileServer(reset_after_sync) as ldp:
        run = run_host(host, plugin, ldp.url(TOKEN), ["ka.auditid"], config=cfg(),
                       max_events=len(BEFORE) + len(AFTER), time_limit=120)
    assert_flowed_through_the_outage(run)


def test_events_keep_flowing_through_a_server_restart(host, plugin, server):
    ldp = server([frame(audit_event(n)) for n in BEFORE])
    running = RunningHost(host, plugin, ldp.url(TOKEN), cfg(), max_events=len(BEFORE) + len(AFTER))
    running.wait_events(len(BEFORE))
    ldp.frames = [frame(audit_event(n)) for n in AFTER]
    ldp.stop(abort=True)  # killed mid-stream, then back on the same port
    time.sleep(0.3)  # down a while: the reader's attempts are refused meanwhile
    ldp.start()
    run, _ = running.finish()
    assert_flowed_through_the_outage(run)


def test_quiet_stream_longer_than_ping_interval_is_not_an_error(host, plugin, server):
    # Quiet for twice the ping timeout after the first ping: only answered pings keep it (a
    # busy machine may take a while to answer one, hence a timeout of seconds).
    ldp = server([frame(audit_event(1))], Behavior(stall=7.0))
    run = run_host(host, plugin, ldp.url(TOKEN), ["ka.auditid"], max_events=1, time_limit=60,
                   config=cfg(pingIntervalS=1.0, pingTimeoutS=3.0))
    assert [e["values"]["ka.auditid"] for e in run.events] == ["id-1"]
    assert run.end["timeouts"] >= 10  # next_batch kept answering while the stream was quiet
    assert run.metrics["reconnects"] == 0 and run.metrics["stream.1.disconnects"] == 0


def test_bad_frames_are_counted_and_valid_events_around_them_delivered(host, plugin, server):
    big = audit_event(2, requestObject={"data": {"blob": "x" * 9000}})
    frames = [frame(audit_event(1)), frame(big), (b"not json", False), (b"\x00\x01", True),
              (b'{"message":"plain text log line"}', False), frame({"kind": "Pod"}), frame(audit_event(3))]
    ldp = server(frames)
    run = run_host(host, plugin, ldp.url(TOKEN), ["ka.auditid"], max_events=2, time_limit=20,
                   config=cfg(maxEventSize=4096))
    assert [e["values"]["ka.auditid"] for e in run.events] == ["id-1", "id-3"]
    m = run.metrics
    assert m["stream.1.events_skipped.oversized"] == 1
    assert m["stream.1.frames_skipped.audit_event_rejected"] == 1
    assert m["stream.1.frames_skipped.frame_not_json"] == 1
    assert m["stream.1.frames_skipped.binary_frame"] == 1
    assert m["stream.1.frames_skipped.message_not_json"] == 1
    assert m["stream.1.frames_skipped.not_audit_event"] == 1
    assert m["frames_received"] == 7


def test_full_ring_applies_back_pressure_without_loss(host, plugin, server):
    frames = [frame(audit_event(n, requestObject={"pad": "y" * 2000})) for n in range(1500)]
    ldp = server(frames)
    run = run_host(host, plugin, ldp.url(TOKEN), ["ka.auditid"], max_events=1500, time_limit=60,
                   config=cfg(ringBytes=65536, maxEventSize=16384, batchMaxEvents=8), batch_sleep_ms=1)
    assert [e["values"]["ka.auditid"] for e in run.events] == [f"id-{n}" for n in range(1500)]
    assert run.metrics["backpressure_stalls"] > 0
    assert run.metrics["stream.1.ring_bytes_capacity"] == 65536


def test_two_named_streams_answer_their_cluster_name(host, plugin, server):
    prod = server([frame(audit_event(n)) for n in range(50)])
    tagged = audit_event(99, annotations={"cluster_name": "from-event", "x": "y"})
    staging = server([frame(audit_event(n + 100, annotations={"a": "b"})) for n in range(50)] + [frame(tagged)])
    params = f"prod={prod.url(TOKEN)},staging={staging.url(TOKEN)}"
    run = run_host(host, plugin, params, ["ka.auditid", "ka.cluster.name"], config=cfg(), max_events=101,
                   time_limit=30)
    by_id = {e["values"]["ka.auditid"]: e["values"]["ka.cluster.name"] for e in run.events}
    assert len(by_id) == 101
    assert all(by_id[f"id-{n}"] == "prod" for n in range(50))
    assert all(by_id[f"id-{n + 100}"] == "staging" for n in range(50))
    assert by_id["id-99"] == "from-event"  # the event's own name wins
    order = [int(i[3:]) for i in by_id if int(i[3:]) < 50]
    assert order == sorted(order)  # in order per stream
    assert run.metrics["streams"] == 2 and run.metrics["stream.prod.events_emitted"] == 50
    assert run.metrics["stream.staging.events_emitted"] == 51
    assert_token_hidden(run)


# plugin_close joins the stream's threads within one budget (_stop_readers in _plugin.pyx);
# the slack covers a busy machine and a sanitizer build.
CLOSE_BUDGET_S, CLOSE_SLACK_S = 1.0, 5.0


def test_close_during_a_blocked_read_is_prompt(host, plugin, server):
    ldp = server([])  # connected, and nothing ever comes
    run = run_host(host, plugin, ldp.url(TOKEN), config=cfg(pingIntervalS=120.0, pingTimeoutS=120.0),
                   time_limit=0.5)
    assert run.metrics["streams_connected"] == 1
    # The reader was blocked in a read that nothing but close could end for 120 s: its thread
    # and socket are gone once close returns.
    closed = run.closes[-1]
    assert closed["threads"] == 1 and closed["sockets"] == 0
    assert closed["close_seconds"] < CLOSE_BUDGET_S + CLOSE_SLACK_S


def test_open_close_100_times_leaves_no_thread_or_socket(host, plugin, server):
    ldp = server([frame(audit_event(1))])
    run = run_host(host, plugin, ldp.url(TOKEN), ["ka.verb"], config=cfg(ringBytes=1 << 20), max_events=1,
                   time_limit=5, cycles=100, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(run.closes) == 100 and len(run.events) == 100
    assert all(c["threads"] == 1 and c["sockets"] == 0 for c in run.closes)
    assert max(c["close_seconds"] for c in run.closes) < CLOSE_BUDGET_S + CLOSE_SLACK_S
    # each instance fills a 1 MiB ring: a leaked stream would add 1 MiB per cycle (and so
    # does ASan's quarantine of freed memory: the bound only holds for a normal build)
    if not is_sanitized(plugin):
        assert run.closes[-1]["rss_kb"] - run.closes[20]["rss_kb"] < 8 * 1024


def test_metrics_from_another_thread_while_events_flow_and_close(plugin, server):
    """Falco's web server thread reads metrics concurrently with next_batch, and during close.
    Only that one thread calls get_metrics: its array lives until the next call (spec §5)."""
    ldp = server([frame(audit_event(n)) for n in range(3000)])
    seen, stop = [], threading.Event()
    with Plugin(plugin, cfg()) as p:
        def poll():
            while not stop.is_set():
                seen.append(p.metrics().get("events_emitted", 0))
        poller = threading.Thread(target=poll)
        stream = p.open(ldp.url(TOKEN))
        poller.start()
        count, deadline = 0, time.monotonic() + 30
        while count < 3000 and time.monotonic() < deadline:
            count += len(stream.next_batch())
        while (not seen or seen[-1] < count) and time.monotonic() < deadline:
            time.sleep(0.01)  # the poller catches up with the last batch
        stream.close()  # while the poller still runs
        stop.set()
        poller.join()
    assert count == 3000 and max(seen) == 3000
    emitted = [v for v in seen if v]  # 0 once the instance is closed
    assert len(emitted) > 10 and emitted == sorted(emitted)

"""LDP history (issue 11): how fast a gap is read back, and how long live delivery stalls
while it is.

- history read rate: a `history:` window of HISTORY_EVENTS events read through the C host
  from the OpenSearch-compatible test server (tests/opensearch_server.py, in this process:
  its speed bounds the number), pages of 1000;
- live stall: a 5 000 events/s LDP feed cut once, STALL_GAP events sent while the reader is
  away, history never ahead of the tail; the longest time between two batches that carry
  events, from the cut to the end, as Falco's thread sees it (k8saudit_ovh.cli.host), next to
  the fill's own time (gap_fill_ms).

    python3 -m pytest benchmarks/bench_history.py --benchmark-only -s
"""
import json
import os
import time


from c_host import run_host
from ldp_server import Behavior, LdpServer
from opensearch_server import OpenSearchServer
from test_gap_fill import _ms, feed
from test_streams import FAST, TOKEN, frame

HISTORY_EVENTS = int(os.environ.get("K8A_HISTORY_EVENTS", "50000"))
STALL_GAP = int(os.environ.get("K8A_STALL_GAP", "20000"))


def _rfc3339(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def _history_config(history, **extra) -> dict:
    return {"url": history.url(), "user": history.user, "password": history.password, **extra}


def test_history_read_rate(benchmark, host, plugin):
    events = feed(HISTORY_EVENTS, int(time.time() * 1000) - 3_600_000)
    with OpenSearchServer() as history:
        history.add_events(events, [_ms(e) for e in events])
        params = f"history:{_rfc3339(_ms(events[0]))}..{_rfc3339(_ms(events[-1]))}"
        config = json.dumps({**FAST, "history": _history_config(history)})

        def read():
            started = time.perf_counter()
            run = run_host(host, plugin, params, ["ka.auditid"], config=config, time_limit=600)
            return run, time.perf_counter() - started

        run, seconds = benchmark.pedantic(read, rounds=1, iterations=1)
    assert run.end["end"] == "eof" and len(run.events) == len(events)
    rate = len(events) / seconds
    benchmark.extra_info.update(events=len(events), seconds=round(seconds, 2), events_per_s=round(rate))
    print(f"\nhistory read: {len(events)} events in {seconds:.2f} s = {rate:,.0f} events/s wall-clock "
          f"({run.metrics['history_requests']} requests)")


def test_longest_live_stall_during_a_gap_fill(benchmark, plugin):
    from k8saudit_ovh.cli.host import Plugin
    # The second connection sends fewer frames than a reset comes after: it stays open.
    before = 10_000
    count = before + STALL_GAP + before - 1
    events = feed(count, int(time.time() * 1000))
    with OpenSearchServer() as history:
        history.add_events(events, [_ms(e) for e in events])
        ldp = LdpServer([frame(e) for e in events], Behavior(reset_after=before, resume_skip=STALL_GAP,
                                                             rate=5000)).start()
        history.visible_until = lambda: _ms(events[min(max(ldp.feed_position - 1, 0), count - 1)])
        config = json.dumps({**FAST, "history": _history_config(history, overlapS=2)})

        def follow():
            with Plugin(plugin, config) as p:
                stream = p.open(ldp.url(TOKEN))
                got, last, stall, cut = 0, None, 0.0, None
                deadline = time.monotonic() + 120
                while got < count and time.monotonic() < deadline:
                    batch = stream.next_batch()
                    now = time.monotonic()
                    if cut is None and ldp.connections > 1:
                        cut = now
                    if batch:
                        if cut is not None and last is not None:
                            stall = max(stall, now - last)
                        last = now
                        got += len(batch)
                metrics = p.metrics()
                stream.close()
            return got, stall, metrics

        try:
            got, stall, metrics = benchmark.pedantic(follow, rounds=1, iterations=1)
        finally:
            ldp.stop()
    assert got == count and metrics["gaps_filled"] == 1
    benchmark.extra_info.update(longest_stall_s=round(stall, 3), gap_fill_ms=metrics["gap_fill_ms"],
                                events_recovered=metrics["events_recovered"])
    print(f"\nlive stall during a gap-fill of {metrics['events_recovered']} events: longest {stall * 1000:.0f} ms "
          f"between batches; the fill took {metrics['gap_fill_ms']} ms")


def test_live_rate_with_stale_history_and_frequent_reconnects(benchmark, plugin):
    """Issue 19: history that never catches up (nothing indexed) and a reconnect every second
    at 5 000 events/s, default holdBackS and fillWaitS: the live events Falco receives per
    second of the run, next to the rate the stream sent them at."""
    from k8saudit_ovh.cli.host import Plugin
    per_connection, lost, connections = 5000, 500, 10
    events = feed(connections * (per_connection + lost) + 1000, int(time.time() * 1000))
    live = sum(1 for i in range(len(events)) if i % (per_connection + lost) < per_connection)
    with OpenSearchServer() as history:
        history.visible_until = lambda: 0
        ldp = LdpServer([frame(e) for e in events], Behavior(close_after=per_connection, resume_skip=lost,
                                                             rate=5000)).start()
        config = json.dumps({**FAST, "history": _history_config(history)})

        def follow():
            with Plugin(plugin, config) as p:
                stream = p.open(ldp.url(TOKEN))
                got, started, deadline = 0, time.monotonic(), time.monotonic() + 300
                while got < live and time.monotonic() < deadline:
                    got += len(stream.next_batch())
                seconds = time.monotonic() - started
                metrics = p.metrics()
                stream.close()
            return got, seconds, metrics

        try:
            got, seconds, metrics = benchmark.pedantic(follow, rounds=1, iterations=1)
        finally:
            ldp.stop()
    assert got == live
    rate = got / seconds
    benchmark.extra_info.update(live_events=got, seconds=round(seconds, 2), events_per_s=round(rate),
                                gaps=metrics["gaps_seen"], gaps_late=metrics["gaps_late"])
    print(f"\nstale history, {metrics['gaps_seen']} reconnects: {got} live events in {seconds:.1f} s = "
          f"{rate:,.0f} events/s received (stream sends 5 000/s while connected); "
          f"{metrics['gaps_late']} gaps not waited for")

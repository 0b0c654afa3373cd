"""`history:FROM..TO` open params through the C host: the window of the stored history,
every event of it once, in time order, then the end, like file://."""
import json
import time

import pytest

from c_host import run_host
from opensearch_server import TIME_FORMATS, OpenSearchServer
from test_gap_fill import _ms, feed
from test_streams import FAST

pytest.importorskip("opensearchpy")


def rfc3339(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


@pytest.fixture
def history():
    with OpenSearchServer() as server:
        yield server


def config(history, **extra) -> str:
    return json.dumps({**FAST, "history": {"url": history.url(), "user": history.user,
                                           "password": history.password, "pageSize": 97, **extra}})


def test_a_window_gives_exactly_its_events_in_time_order(host, plugin, history):
    events = feed(3000, int(time.time() * 1000) - 3_600_000)
    # Stored out of order, in both layouts and every time format: history sorts them.
    for n in reversed(range(len(events))):
        history.add_events([events[n]], [_ms(events[n])], layout=("message", "short_message")[n % 2],
                           time_format=TIME_FORMATS[n % len(TIME_FORMATS)], underscore=n % 3 == 0)
    start, end = _ms(events[500]), _ms(events[2499])
    run = run_host(host, plugin, f"prod=history:{rfc3339(start)}..{rfc3339(end)}",
                   ["ka.auditid", "ka.stage", "ka.cluster.name"], config=config(history), time_limit=60)
    assert run.end["end"] == "eof", run.end
    got = [(e["values"]["ka.auditid"], e["values"]["ka.stage"]) for e in run.events]
    assert got == [(e["auditID"], e["stage"]) for e in events[500:2500]]
    assert {e["values"]["ka.cluster.name"] for e in run.events} == {"prod"}
    assert [e["ts"] for e in run.events] == sorted(e["ts"] for e in run.events)
    assert run.metrics["history_requests"] >= 2000 // 97 and run.metrics["history_errors"] == 0
    assert history.password not in run.stderr


def test_history_without_to_reads_up_to_now(host, plugin, history):
    events = feed(200, int(time.time() * 1000) - 60_000)
    history.add_events(events, [_ms(e) for e in events])
    run = run_host(host, plugin, f"history:{rfc3339(_ms(events[150]))}", ["ka.auditid", "ka.stage"],
                   config=config(history), time_limit=60)
    assert run.end["end"] == "eof" and len(run.events) == 50


def test_history_that_fails_ends_the_source_with_the_reason(host, plugin, history):
    history.add_events(feed(10, 1_764_824_400_000), [1_764_824_400_000 + n for n in range(10)])
    run = run_host(host, plugin, f"history:{rfc3339(1_764_824_400_000)}..{rfc3339(1_764_824_500_000)}",
                   ["ka.auditid"], config=config(history, password="wrong-hist-pass"), time_limit=60)
    assert run.end["end"] == "failure" and "HTTP 401" in run.end["error"]
    assert "wrong-hist-pass" not in run.stderr + json.dumps(run.end)


@pytest.mark.parametrize("params, cfg, words", [
    ("history:2026-12-01T00:00:00Z", False, "need init_config 'history'"),
    ("history:2026-12-01", True, "not an RFC 3339 time"),
    ("history:2026-12-01T00:00:00Z,ws://127.0.0.1:1/tail/?tk=x", True, "cannot be combined"),
])
def test_bad_history_params_fail_open(host, plugin, history, params, cfg, words):
    run = run_host(host, plugin, params, ["ka.auditid"], config=config(history) if cfg else "{}", time_limit=30)
    assert run.end["end"] == "open-failure" and words in run.end["error"]


def test_cli_tail_since_replays_the_recent_history(history):
    from test_cli import run_cli
    events = feed(120, int(time.time() * 1000) - 30_000)
    old = feed(5, int(time.time() * 1000) - 7_200_000)
    history.add_events(old + events, [_ms(e) for e in old + events])
    result = run_cli("tail", "--since", "10m", "--json", "-f", "ka.auditid,ka.stage", "--config", config(history))
    assert result.returncode == 0, result.stderr
    got = [tuple(json.loads(line)["values"].values()) for line in result.stdout.splitlines()]
    assert got == [(e["auditID"], e["stage"]) for e in events]
    assert history.password not in result.stderr + result.stdout


def test_cli_tail_from_to(history):
    from test_cli import run_cli
    events = feed(100, 1_764_824_400_000)
    history.add_events(events, [_ms(e) for e in events])
    result = run_cli("tail", "--from", rfc3339(_ms(events[10])), "--to", rfc3339(_ms(events[19])), "--json",
                     "-f", "ka.auditid,ka.stage", "--config", config(history))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 10


@pytest.mark.parametrize("argv, words", [(["--since", "10 minutes"], "expected a duration"),
                                         (["--to", "2026-12-01T00:00:00Z"], "--to needs"),
                                         (["--since", "5m", "wss://h.example/tail/?tk=x"], "give no URL")])
def test_cli_tail_window_usage_errors(argv, words):
    from test_cli import run_cli
    result = run_cli("tail", *argv)
    assert result.returncode == 2 and words in result.stderr

"""file:// replay on inputs made here (no ../shared needed): line shapes, size limits,
bad lines between good ones, rate-limited logs, progress, and the ctypes path."""
import json

from c_host import most_log_lines, run_host, timed_run_host
from k8saudit_ovh.cli.host import Plugin


def event(n: int, **extra) -> dict:
    return {"kind": "Event", "auditID": f"id-{n}", "verb": "get", "stage": "ResponseComplete",
            "stageTimestamp": f"2025-02-20T10:11:{n % 60:02d}.{n:06d}Z", **extra}


def line(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def ids(run):
    return [e["values"]["ka.auditid"] for e in run.events]


def test_line_shapes(host, plugin, tmp_path):
    content = b"\n".join([
        line(event(1)),
        b"",                                                     # empty: skipped silently
        line(event(2)) + b"\r",                                  # CRLF
        b"   ",                                                  # blank: counted
        line({"kind": "EventList", "items": [event(3), event(4)]}),
        line([event(5), {"kind": "EventList", "items": [event(6)]}]),
        b"  " + json.dumps(event(7), indent=2).replace("\n", " ").encode() + b"  ",
        line(event(8)),                                          # no final newline
    ])
    path = tmp_path / "shapes.jsonl"
    path.write_bytes(content)
    run = run_host(host, plugin, f"file://{path}", ["ka.auditid", "ka.verb"])
    assert ids(run) == [f"id-{n}" for n in range(1, 9)]
    assert run.events[0]["ts"] == 1740046261000001000  # 2025-02-20T10:11:01.000001Z
    assert run.metrics["events_skipped.blank_line"] == 1 and run.metrics["events_skipped"] == 1
    assert run.end["progress"] == 10000


def test_no_line_limit_below_max_event_size(host, plugin, tmp_path):
    """Upstream's reader stops at 64 KiB lines; ours reads any line up to maxEventSize."""
    big = event(2, requestObject={"data": {"k": "v" * 200_000}})
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"\n".join([line(event(1)), line(big), line(event(3))]) + b"\n")
    run = run_host(host, plugin, f"file://{path}", ["ka.auditid", "ka.req.configmap.obj"])
    assert ids(run) == ["id-1", "id-2", "id-3"]
    assert len(run.events[1]["values"]["ka.req.configmap.obj"]) > 200_000
    run = run_host(host, plugin, f"file://{path}", ["ka.auditid"], config='{"maxEventSize": 65536}')
    assert ids(run) == ["id-1", "id-3"] and run.metrics["events_skipped.oversized"] == 1
    assert "event larger than maxEventSize: size=" in run.stderr


def test_bad_lines_are_counted_and_logged_at_a_limited_rate(host, plugin, tmp_path):
    bad = [b'{"kind":"Pod"}', b"{broken", line({k: v for k, v in event(0).items() if k != "stageTimestamp"}),
           line(event(0, stageTimestamp="2025-02-20 10:11:12"))]
    lines = []
    for n in range(1000):
        lines += [line(event(n)), bad[n % 4]]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    run, seconds = timed_run_host(host, plugin, f"file://{path}", ["ka.auditid"])
    assert ids(run) == [f"id-{n}" for n in range(1000)]
    m = run.metrics
    assert (m["events_skipped.not_audit_event"], m["events_skipped.not_json"],
            m["events_skipped.no_stage_timestamp"], m["events_skipped.bad_stage_timestamp"]) == (250, 250, 250, 250)
    log = run.stderr.splitlines()
    assert any("data not recognized as a k8s audit event" in x for x in log)
    assert any("can't read stageTimestamp" in x for x in log)
    assert len(log) <= most_log_lines(4, seconds)  # one line per kind and interval, not one per bad line


def test_empty_file_ends_at_once(host, plugin, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    run = run_host(host, plugin, f"file://{path}", ["ka.auditid"])
    assert run.end["end"] == "eof" and run.events == [] and run.end["progress"] == 10000


def test_event_to_string_and_payload(tmp_path, plugin):
    """Loaded through ctypes into this (Python) process, two states side by side, as
    Falco's two inspectors do."""
    path = tmp_path / "two.jsonl"
    path.write_bytes(line(event(1)) + b"\n" + line(event(2)) + b"\n")
    with Plugin(plugin) as first, Plugin(plugin, '{"batchMaxEvents": 1}') as second:
        with first.open(f"file://{path}") as a, second.open(f"file://{path}") as b:
            batch_a, batch_b = a.next_batch(), b.next_batch()
            assert len(batch_a) == 2 and len(batch_b) == 1
            assert batch_a[0].data == line(event(1))
            assert first.extract(batch_a[1], ["ka.auditid"]) == {"ka.auditid": "id-2"}
            assert second.extract(batch_b[0], ["ka.auditid", "ka.verb"]) == {"ka.auditid": "id-1", "ka.verb": "get"}
            assert second.metrics()["events_emitted"] == 1

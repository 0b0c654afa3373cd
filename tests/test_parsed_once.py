"""file:// replay parses each event once: the batch keeps the reader's parse and the
extractor adopts it. Whatever the line looked like, every field must answer exactly what
a fresh parse of the delivered payload answers (the Python API, which always parses), in
any extraction order. No ../shared needed."""
import json

import pytest

from c_host import run_host
from k8saudit_ovh import extract
from k8saudit_ovh.fields import FIELDS
from k8saudit_ovh.cli.host import Plugin


def event(n: int, **extra) -> dict:
    return {"kind": "Event", "auditID": f"id-{n}", "verb": "create", "stage": "ResponseComplete",
            "requestURI": f"/api/v1/namespaces/ns/pods/p{n}/exec?command=sh&command=-c&container=c",
            "user": {"username": "alice", "groups": ["dev"]},
            "objectRef": {"resource": "pods", "namespace": "ns", "name": f"p{n}", "subresource": "exec"},
            "responseStatus": {"code": 201},
            "requestObject": {"kind": "Pod", "spec": {
                "hostNetwork": True,
                "containers": [{"name": "c", "image": "nginx:1.25", "securityContext": {"privileged": True}}],
                "volumes": [{"name": "v", "hostPath": {"path": "/etc"}}]}},
            "annotations": {"authorization.k8s.io/decision": "allow",
                            "authorization.k8s.io/reason": 'RBAC: allowed by "x"'},
            "stageTimestamp": f"2025-02-20T10:11:{n % 60:02d}.{n:06d}Z", **extra}


def compact(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


LINES = [
    compact(event(1)),                                                   # the whole line
    json.dumps(event(2)).encode(),                                       # spaces: re-serialized
    compact({"kind": "EventList", "items": [event(3), event(4), event(5)]}),  # items at offsets
    compact([event(6), {"kind": "EventList", "items": [event(7)]}]),
    # an escaped root key before the plain one: fastjson's lookup state decides the answer
    compact(event(8)).replace(b'{"kind"', b'{"ver\\u0062":"patch","kind"', 1),
    compact(event(9, verb='get\u00e9"x')),                             # escapes in values
    compact(event(10)).replace(b'"user"', b'"us\\u0065r"', 1),        # escaped key inside
    compact({"kind": "Event", "auditID": "id-11", "stageTimestamp": "2025-02-20T10:11:11Z"}),
    compact(event(12)) + b"  \r",                                        # trailing whitespace
]


def all_specs() -> list[str]:
    """Every field, without and with an argument where it takes one."""
    specs = []
    for f in FIELDS:
        arg = f.arg or {}
        if not arg.get("isRequired"):
            specs.append(f.name)
        if arg.get("isIndex"):
            specs += [f"{f.name}[0]", f"{f.name}[1]"]
        if arg.get("isKey"):
            specs.append(f"{f.name}[command]" if f.name == "ka.uri.param" else f"{f.name}[/etc*]")
    return specs


@pytest.fixture(scope="module")
def replay_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("parsed-once") / "events.jsonl"
    path.write_bytes(b"\n".join(LINES * 50) + b"\n")  # 600 events: several batches
    return path


@pytest.fixture(scope="module")
def payloads(plugin, replay_file):
    with Plugin(plugin) as p, p.open(f"file://{replay_file}") as stream:
        events = []
        while not stream.eof:
            events += stream.next_batch()
    return [e.data for e in events]


@pytest.mark.parametrize("revisit", [False, True], ids=["in-order", "revisited"])
@pytest.mark.parametrize("batch", [1, 7, 128])
def test_adopted_parse_answers_like_a_fresh_one(host, plugin, replay_file, payloads, revisit, batch):
    specs = all_specs()
    run = run_host(host, plugin, f"file://{replay_file}", specs, config=json.dumps({"batchMaxEvents": batch}),
                   revisit=revisit)
    assert run.returncode == 0, run.stderr
    assert len(run.events) == len(payloads) == 12 * 50
    for n, (record, payload) in enumerate(zip(run.events, payloads)):
        assert record["len"] == len(payload)
        assert record["values"] == extract(payload, specs), f"event {n + 1}: {payload[:80]!r}"


def test_answers_depend_on_the_event_and_fastjson_state_not_on_the_line(host, plugin, replay_file):
    specs = ["ka.verb", "ka.user.name", "ka.req.pod.containers.image", "ka.uri.param[command]"]
    values = [e["values"] for e in run_host(host, plugin, f"file://{replay_file}", specs).events[:12]]
    assert values[0] == {"ka.verb": "create", "ka.user.name": "alice",
                         "ka.req.pod.containers.image": ["nginx:1.25"], "ka.uri.param[command]": "sh"}
    assert values[0] == values[1] == values[2] == values[6]  # compact, spaced, EventList items
    assert values[7]["ka.verb"] == "create"  # raw keys first: "ver\u0062" does not match yet
    # A root lookup that misses makes fastjson unescape the root keys: "ver\u0062" now wins.
    after_miss = run_host(host, plugin, f"file://{replay_file}", ["ka.impuser.name", "ka.verb"])
    assert after_miss.events[7]["values"]["ka.verb"] == "patch"
    assert after_miss.events[0]["values"]["ka.verb"] == "create"

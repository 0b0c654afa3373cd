"""Mutated audit events (flipped bytes, cuts, insertions) through replay and every field:
the host never crashes, and every non-empty line ends as exactly one event or one skip."""
import json
import random

from c_host import run_host
from k8saudit_ovh import fields

BASE = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "auditID": "a-1",
        "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/ns/pods?fieldSelector=a%3Db&watch=true",
        "verb": "create", "user": {"username": "alice", "groups": ["g1", "g2"]}, "sourceIPs": ["192.0.2.1"],
        "objectRef": {"resource": "pods", "namespace": "ns", "name": "p", "apiVersion": "v1"},
        "responseStatus": {"code": 201},
        "requestObject": {"kind": "Pod", "spec": {"hostNetwork": True, "volumes": [{"name": "v", "hostPath": {"path": "/etc"}}],
                                                  "containers": [{"name": "c", "image": "nginx:1.2@sha256:ab",
                                                                  "securityContext": {"privileged": True}}]}},
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": "RBAC: \u00e9"},
        "stageTimestamp": "2025-02-20T10:11:12.123456Z"}
ALPHABET = b'{}[]":,\\ 0123456789abcdefnrtu\x00\xff\xc3\t\n'


def mutate(rng: random.Random, line: bytes) -> bytes:
    data = bytearray(line)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data))
        kind = rng.randrange(4)
        if kind == 0:
            data[at] = rng.choice(ALPHABET)
        elif kind == 1:
            del data[at:at + rng.randint(1, 40)]
        elif kind == 2:
            data[at:at] = bytes(rng.choice(ALPHABET) for _ in range(rng.randint(1, 8)))
        else:
            data = data[:at]
        if not data:
            data = bytearray(b"{")
    return bytes(data).replace(b"\n", b" ")


def test_mutated_events_never_crash_and_are_all_accounted_for(host, plugin, tmp_path):
    rng = random.Random(20261127)
    base = json.dumps(BASE, separators=(",", ":"), ensure_ascii=False).encode()
    lines = [mutate(rng, base) for _ in range(3000)] + [base]
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    specs = [f.name for f in fields.FIELDS if not (f.arg and f.arg["isRequired"])] + ["ka.uri.param[watch]"]
    run = run_host(host, plugin, f"file://{path}", specs)
    assert run.returncode == 0, run.stderr[-2000:]
    non_empty = sum(1 for line in lines if line.strip())
    assert len(run.events) + run.metrics["events_skipped"] == non_empty
    assert run.events[-1]["values"]["ka.verb"] == "create"  # the intact event after all the broken ones

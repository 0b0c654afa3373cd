"""Inputs shared by the benchmarks: the corpus location and the fields the official rules
use most."""
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
RULE_FIELDS = [
    "ka.verb", "ka.user.name", "ka.target.resource", "ka.target.name", "ka.target.namespace",
    "ka.response.code", "ka.auth.decision", "ka.auth.reason", "ka.uri", "ka.target.subresource",
    "ka.resp.name", "ka.req.pod.containers.image", "ka.req.pod.containers.image.repository",
    "ka.req.pod.containers.privileged", "ka.req.pod.host_network", "ka.req.pod.volumes.hostpath",
    "ka.req.role.rules", "ka.req.binding.subjects", "ka.req.configmap.obj", "ka.uri.param[command]",
]


def set_a_lines() -> list[bytes]:
    """The events of corpus set A, one JSON line each; the benchmark is skipped without it."""
    source = CORPUS / "generated" / "setA" / "events.jsonl"
    if not source.is_file():
        pytest.skip(f"corpus not found: {source}")
    return [line for line in source.read_bytes().split(b"\n") if line]

"""Inputs shared by the benchmarks: the corpus location and the fields the official rules
use most."""
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
RULE_FIELDS = [
    "ka.verb", "ka.user.name", "ka.target.resource", "ka.target.name", "ka.target.namespace",
    "ka.response.code", "ka.auth.decision", "ka.auth.reason", "ka.uri", "ka.target.subresource",
    "ka.resp.name", "ka.req.pod.containers.image", "ka.req.pod.containers.image.repository",
    "ka.req.pod.containers.privileged", "ka.req.pod.host_network", "ka.req.pod.volumes.hostpath",
    "ka.req.role.rules", "ka.req.binding.subjects", "ka.req.configmap.obj", "ka.uri.param[command]",
]

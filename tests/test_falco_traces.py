"""Falco's own k8s_audit test traces (../shared/e2e): the plugin's source accepts exactly the
events upstream's does, file by file."""
import json

import pytest

from c_host import run_host
from conftest import SHARED, require_shared

E2E = SHARED / "e2e"
TRACES = E2E / "falcosecurity" / "falco" / "test" / "trace_files" / "k8s_audit"


def trace_files():
    path = E2E / "expected.json"
    return json.loads(path.read_text())["trace_files"] if path.is_file() else {}


@pytest.mark.parametrize("name, expected", sorted(trace_files().items()) or [(None, None)])
def test_trace_events_accepted_like_upstream(host, plugin, name, expected):
    require_shared(E2E / "expected.json")
    run = run_host(host, plugin, f"file://{TRACES / name}", ["ka.auditid", "ka.verb"])
    assert run.returncode == 0, run.stderr
    assert len(run.events) == expected["events_accepted_by_k8saudit_source"]
    assert all(e["values"]["ka.auditid"] for e in run.events)

"""An unexpected exception in a stream's reader thread, through the C host: the plugin is a
copy of the built one whose frame parser raises, as a bug would, on one marker payload. No
test-only code path exists in the package itself: the copy's ws_frames.py gets the fault
appended, and the C host loads the copy (its embedded Python imports the package next to
the plugin)."""
import json
import shutil
from pathlib import Path

import pytest

from c_host import run_host
from hostile_server import TEXT, HostileServer, ws_frame
from k8saudit_ovh.sources.ldp_reader import MAX_UNEXPECTED_IN_A_ROW
from test_hostile_streams import after_upgrade, by_connection, event_frame

SECRET = "Fault-s3cr3t-T0ken"
MARKER = b'{"inject":"reader fault"}'
FAST = {"backoffInitialS": 0.05, "backoffMaxS": 0.2, "connectTimeoutS": 5.0}

FRAME_FAULT = f'''

# Appended by tests/test_thread_faults.py to a copy of the package: a bug in the frame parser.
_read_before_fault = FrameReader.read


def _read_with_fault(self):
    item = _read_before_fault(self)
    if item is not None and item[1] == {MARKER!r}:
        raise RuntimeError("injected fault while holding tk={SECRET}")
    return item


FrameReader.read = _read_with_fault
'''


def plugin_copy_with(plugin: Path, directory: Path, faults: dict[str, str]) -> Path:
    """A copy of the built package in `directory`, with `faults[module file]` appended to
    each named file (relative to the package); returns the copy's plugin."""
    package = directory / plugin.parent.name
    shutil.copytree(plugin.parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    for relative, code in faults.items():
        with open(package / relative, "a") as module:
            module.write(code)
    return package / plugin.name


@pytest.fixture(scope="module")
def faulty_plugin(plugin, tmp_path_factory):
    return plugin_copy_with(plugin, tmp_path_factory.mktemp("faulty"), {"sources/ws_frames.py": FRAME_FAULT})


def test_an_unexpected_reader_exception_is_counted_and_live_delivery_goes_on(host, faulty_plugin):
    script = by_connection(after_upgrade(event_frame(1), ws_frame(TEXT, MARKER), event_frame(99)),
                           after_upgrade(event_frame(2), event_frame(3)))
    with HostileServer(script) as server:
        result = run_host(host, faulty_plugin, f"prod={server.url(SECRET)}", ["ka.auditid"], max_events=3,
                          time_limit=120, config=json.dumps(FAST))
    assert [e["values"]["ka.auditid"] for e in result.events] == ["id-1", "id-2", "id-3"]
    assert result.end["end"] == "limit", result.end
    assert result.metrics["thread_errors"] == 1 and result.metrics["stream.prod.thread_errors"] == 1
    assert result.metrics["stream.prod.disconnects"] == 1 and server.connections == 2
    assert "unexpected error: RuntimeError: injected fault while holding tk=***" in result.stderr
    assert SECRET not in result.stderr + json.dumps(result.ends)


def test_a_reader_exception_on_every_connection_fails_next_batch_clearly(host, faulty_plugin):
    with HostileServer(by_connection(after_upgrade(ws_frame(TEXT, MARKER)))) as server:
        result = run_host(host, faulty_plugin, server.url(SECRET), ["ka.auditid"], time_limit=120,
                          config=json.dumps(FAST))
    assert result.end["end"] == "failure" and result.returncode == 3
    assert f"gave up after {MAX_UNEXPECTED_IN_A_ROW} unexpected errors in a row" in result.end["error"]
    assert "RuntimeError: injected fault" in result.end["error"]
    assert result.metrics["thread_errors"] == MAX_UNEXPECTED_IN_A_ROW == server.connections
    assert SECRET not in result.stderr + json.dumps(result.ends)

"""The `k8saudit-ovh` command through the real plugin (shim → ring → extraction)."""
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from k8saudit_ovh.cli.main import main
from k8saudit_ovh.cli.demo_server import demo_frames
from k8saudit_ovh.cli.host import Plugin, PluginError
from k8saudit_ovh.paths import demo_events_path, plugin_path
from ldp_server import Behavior, LdpServer

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = demo_events_path()
SAMPLE_EVENTS = sum(1 for line in SAMPLE.read_text().splitlines() if line.strip())


def run_cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "k8saudit_ovh", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def ldp_frames_server():
    frames = [(f.encode(), False) for f in demo_frames(SAMPLE)]
    with LdpServer(frames, Behavior(token="good-token")) as server:
        yield server


def test_demo_terminates_and_highlights_rule_matches():
    result = run_cli("demo", "--rate", "0")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    events = [line for line in lines if line[2:3] == ":"]
    assert len(events) == SAMPLE_EVENTS
    expected = {"Attach/Exec Pod": "pods/exec", "Create Privileged Pod": "default/debug-tools",
                "Create Sensitive Mount Pod": "monitoring/node-inspector",
                "Attach to cluster-admin Role": "ci-deployer-admin",
                "Create/Modify Configmap With Private Credentials": "shop/payments-settings",
                "K8s Secret Deleted": "shop/old-tls"}
    for rule, target in expected.items():
        matching = [line for line in events if rule in line]
        assert len(matching) == 1 and target in matching[0], (rule, matching)
    quiet = [line for line in events if "leases" in line]
    assert quiet and not any("⚠" in line for line in quiet)
    assert f"{SAMPLE_EVENTS} events, 12 would trigger official rules" in lines[-1]


def test_demo_follows_its_websocket_server():
    result = run_cli("demo", "--rate", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].endswith("frames skipped: 1 short_message_not_json, 1 not_audit_event")


def test_falco_config_is_yaml_with_installed_library_path():
    result = run_cli("falco-config", "--url", "wss://gra1.logs.ovh.com/tail/?tk=abc")
    assert result.returncode == 0
    config = yaml.safe_load(result.stdout)
    plugin = config["plugins"][0]
    assert plugin["name"] == "k8saudit-ovh"
    assert plugin["library_path"] == str(plugin_path()) and Path(plugin["library_path"]).is_absolute()
    assert plugin["open_params"] == "wss://gra1.logs.ovh.com/tail/?tk=abc"
    assert config["load_plugins"] == ["k8saudit-ovh", "json"]
    native_json = plugin_path().with_name("libk8saudit-ovh-json.so")
    assert config["plugins"][1] == {"name": "json", "library_path": str(native_json)} and native_json.is_file()
    default = yaml.safe_load(run_cli("falco-config").stdout)
    assert default["plugins"][0]["open_params"] == "${K8SAUDIT_OVH_URL}"
    upstream = run_cli("falco-config", "--json", "upstream", "--falco-version", "0.40").stdout
    assert yaml.safe_load(upstream)["plugins"][1]["library_path"] == "libjson.so"
    assert "json:0.7.3" in upstream  # the json release Falco 0.40 loads


def test_install_symlinks_a_plugin_that_loads(tmp_path, host):
    assert main(["install", "--plugins-dir", str(tmp_path)]) == 0
    link = tmp_path / "libk8saudit-ovh.so"
    assert link.is_symlink() and link.resolve() == plugin_path()
    json_link = tmp_path / "libk8saudit-ovh-json.so"
    assert json_link.is_symlink() and json_link.resolve() == plugin_path().with_name("libk8saudit-ovh-json.so")
    assert main(["install", "--plugins-dir", str(tmp_path)]) == 1  # no silent overwrite
    assert main(["install", "--plugins-dir", str(tmp_path), "--force"]) == 0
    out = subprocess.run([str(host), "-p", f"file://{SAMPLE}", str(link), "ka.verb"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    (end,) = [r for r in records if "end" in r]
    assert end["end"] == "eof" and end["events"] == SAMPLE_EVENTS
    assert records[0]["values"]["ka.verb"] == "update"


@pytest.mark.parametrize("falcoctl_made", ["libk8saudit-ovh.so", "k8saudit-ovh/lib"])
def test_install_refuses_a_plugin_installed_by_falcoctl(tmp_path, capsys, falcoctl_made):
    """falcoctl's artifact (a real library and its k8saudit-ovh/ directory) and our link are
    exclusive: a later falcoctl install would write through the link into site-packages."""
    made = tmp_path / falcoctl_made
    if falcoctl_made.endswith(".so"):
        made.write_bytes(b"\x7fELF from falcoctl")
    else:
        made.mkdir(parents=True)
    assert main(["install", "--plugins-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "installed by falcoctl" in err and "exclusive" in err and "--force" in err
    assert not (tmp_path / "libk8saudit-ovh.so").is_symlink()
    assert main(["install", "--plugins-dir", str(tmp_path), "--force"]) == 0
    link = tmp_path / "libk8saudit-ovh.so"
    assert link.is_symlink() and link.resolve() == plugin_path()


def test_tail_file_prints_chosen_fields_as_json():
    result = run_cli("tail", f"file://{SAMPLE}", "--json", "-f", "ka.verb,ka.target.subresource",
                     "-f", "ka.uri.param[command]", "-n", "9")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 9
    assert records[8]["values"] == {"ka.verb": "create", "ka.target.subresource": "exec",
                                    "ka.uri.param[command]": "sh"}
    assert records[0]["values"]["ka.uri.param[command]"] is None


def test_tail_rejects_unknown_field():
    result = run_cli("tail", f"file://{SAMPLE}", "-f", "ka.nope")
    assert result.returncode == 2 and "ka.nope" in result.stderr


def test_check_file_counts_audit_events_and_skips(tmp_path):
    result = run_cli("check", f"file://{SAMPLE}", "--frames", "1000")
    assert result.returncode == 0 and f"audit events: {SAMPLE_EVENTS}" in result.stdout
    noise = tmp_path / "noise.jsonl"
    noise.write_text('{"kind":"Status","apiVersion":"v1"}\nnot json at all\n')
    result = run_cli("check", f"file://{noise}")
    assert result.returncode == 3
    assert "audit events: 0" in result.stdout and "skipped: 2" in result.stdout


def test_check_failure_never_prints_the_token():
    result = run_cli("check", "wss://127.0.0.1:9/tail/?tk=SUPER-SECRET-TOKEN", "--timeout", "3")
    assert result.returncode == 1 and "FAILED to connect" in result.stdout
    assert "SUPER-SECRET-TOKEN" not in result.stdout + result.stderr
    assert "tk=***" in result.stdout


def test_check_websocket_stream(ldp_frames_server):
    result = run_cli("check", ldp_frames_server.url("good-token"), "--frames", str(SAMPLE_EVENTS + 2))
    assert result.returncode == 0, result.stdout
    assert f"audit events: {SAMPLE_EVENTS}" in result.stdout and "skipped: 2" in result.stdout
    assert "good-token" not in result.stdout


def test_check_websocket_bad_token(ldp_frames_server):
    result = run_cli("check", ldp_frames_server.url("wrong-token"), "--timeout", "10")
    assert result.returncode == 1
    assert "token" in result.stdout and "wrong-token" not in result.stdout


def test_tail_websocket_stream(ldp_frames_server):
    result = run_cli("tail", ldp_frames_server.url("good-token"), "-n", "3", "-f", "ka.user.name")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2].endswith("ka.user.name=alice@example.com")


def test_plugin_path_flag():
    result = run_cli("--plugin-path")
    assert result.returncode == 0 and result.stdout.strip() == str(plugin_path())


def test_host_extracts_like_the_golden_corpus(corpus):
    """host.py against the reference values of the first events of the shared corpus."""
    golden = corpus / "golden" / "setA.events.golden.jsonl"
    specs = ["ka.verb", "ka.user.groups", "ka.uri.param[timeout]", "ka.req.pod.containers.image[0]"]
    records = [json.loads(line) for line in golden.open(encoding="utf-8")][:50]
    with Plugin() as plugin, plugin.open(f"file://{corpus / 'generated/setA/events.jsonl'}") as stream:
        events = []
        while len(events) < len(records):
            events += stream.next_batch()
        for record, event in zip(records, events):
            assert event.ts == record["ts"]
            for spec in specs:
                assert plugin.extract(event, [spec])[spec] == record["values"].get(spec), (record["line"], spec)
    with pytest.raises(PluginError, match="destroyed"):
        plugin.extract(events[0], specs)


def test_tail_status_line_on_a_terminal_and_ctrl_c(ldp_frames_server):
    """On a TTY, tail redraws a status line on stderr; Ctrl-C ends it cleanly (exit 130)."""
    leader, follower = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "k8saudit_ovh", "tail", ldp_frames_server.url("good-token")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    seen, deadline = b"", time.monotonic() + 20
    try:
        while b"ev/s" not in seen and time.monotonic() < deadline:
            if select.select([leader], [], [], 0.5)[0]:
                seen += os.read(leader, 4096)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    finally:
        os.close(leader)
        proc.kill()
    assert b"ev/s" in seen and b"reconnects 0" in seen and b"\r\x1b[K" in seen
    assert proc.returncode == 130
    assert len(out.decode().splitlines()) == SAMPLE_EVENTS  # the events went to stdout, not the status

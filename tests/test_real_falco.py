"""Acceptance on a real Falco (opt-in): the configurations the project prints or documents
start it, it alerts on Falco's own k8s_audit traces as the official rules expect, and it
exits 0 (at the end of the trace, or on SIGINT).

    FALCO_BIN=/usr/bin/falco FALCO_JSON_PLUGIN=/usr/share/falco/plugins/libjson.so \\
        pytest tests/test_real_falco.py

Skipped unless both point to files; also needs ../shared (the official rules and traces).
The json plugin must be one that Falco loads (README "Falco versions")."""
import collections
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from conftest import SHARED, require_shared
from k8saudit_ovh.cli import falco_compat
from k8saudit_ovh.cli.main import main
from k8saudit_ovh.cli.falco_compat import URL_ENV

ROOT = Path(__file__).resolve().parents[1]
FALCO_BIN = os.environ.get("FALCO_BIN", "")
FALCO_JSON_PLUGIN = os.environ.get("FALCO_JSON_PLUGIN", "")
RULES = SHARED / "rules" / "k8s_audit_rules.yaml"
E2E = SHARED / "e2e"
TRACES = E2E / "falcosecurity" / "falco" / "test" / "trace_files" / "k8s_audit"
OUTCOME = "plugins-HEAD(0.18.0)"  # expected.json: first-match counts with the current rules
SENTINEL = "k8saudit-ovh-end-of-trace"  # a last event whose alert says everything before was read
TIMEOUT_S = 300

pytestmark = pytest.mark.skipif(not (Path(FALCO_BIN).is_file() and Path(FALCO_JSON_PLUGIN).is_file()),
                                reason="set FALCO_BIN and FALCO_JSON_PLUGIN to run a real Falco")


@pytest.fixture(scope="module")
def falco():
    """The compatibility row of the Falco under test, from `falco --version`."""
    out = subprocess.run([FALCO_BIN, "--version"], capture_output=True, text=True, timeout=60).stdout
    version = re.search(r"Falco version:\s*(\d+\.\d+\.\d+)", out)
    assert version, out
    try:
        return falco_compat.lookup(version.group(1))
    except ValueError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    """Every trace of Falco's k8s_audit tests in one file, then the sentinel; and the alerts
    the official rules give on it, by rule."""
    require_shared(RULES)
    cases = json.loads(require_shared(E2E / "expected.json").read_text())["trace_files"]
    lines, expected = [], collections.Counter()
    for name, case in sorted(cases.items()):
        lines += [line for line in (TRACES / name).read_text().splitlines() if line.strip()]
        expected.update(case["default_ruleset_outcome"][OUTCOME]["first_match"])
    sentinel = json.loads((TRACES / "attach_pod.json").read_text())
    sentinel["auditID"] = SENTINEL
    sentinel["objectRef"]["name"] = SENTINEL
    lines.append(json.dumps(sentinel))
    expected["Attach/Exec Pod"] += 1
    path = tmp_path_factory.mktemp("trace") / "k8s_audit.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, expected


def printed_config(falco) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["falco-config", "--falco-version", falco.minor]) == 0
    return out.getvalue()


def documented(falco) -> list[tuple[str, dict, list[str]]]:
    """(name, config, extra command-line flags) of each configuration to run on `falco`."""
    configs = [("falco-config", yaml.safe_load(printed_config(falco)), falco.command_flags)]
    if falco.rules_key == "rules_files" and falco.engine_kind:  # what the documented files target
        readme = (ROOT / "README.md").read_text()
        configs += [(f"README snippet {i}", yaml.safe_load(text), [])
                    for i, text in enumerate(re.findall(r"```yaml\n(.*?)```", readme, re.S), 1)]
        configs.append(("examples/falco.yaml", yaml.safe_load((ROOT / "examples" / "falco.yaml").read_text()), []))
        helm = yaml.safe_load((ROOT / "deploy" / "helm" / "values.yaml").read_text())["falco"]
        configs.append(("helm values", helm, ["--disable-source", "syscall"]))  # as the chart starts it
    return [c for c in configs if "plugins" in c[1]]


def runnable(config: dict, falco, plugin: Path, trace: Path) -> tuple[dict, dict]:
    """The configuration with this build, the given json plugin, the official rules and the
    trace in place of the stream; and the environment to start Falco with."""
    config = dict(config)
    config.pop("rules_file", None)
    config.pop("rules_files", None)
    config[falco.rules_key] = [str(RULES)]
    config.update(json_output=True, stdout_output={"enabled": True}, buffered_outputs=False, log_stderr=True,
                  log_syslog=False, log_level="info")
    config.pop("metrics", None)  # a metrics snapshot would be one more output line
    env = dict(os.environ)
    plugins = []
    for entry in config["plugins"]:
        entry = dict(entry)
        if entry["name"] == "k8saudit-ovh":
            entry["library_path"] = str(plugin)
            if "${" in str(entry["open_params"]):
                assert falco.env_vars
                env[URL_ENV] = f"file://{trace}"  # expanded by Falco itself
            else:
                entry["open_params"] = f"file://{trace}"
        elif entry["name"] == "json":
            entry["library_path"] = FALCO_JSON_PLUGIN
        plugins.append(entry)
    config["plugins"] = plugins
    return config, env


def run_falco(config_path: Path, flags: list[str], env: dict) -> tuple[int, list[dict], str]:
    """Falco until it exits at the end of the trace, or until the sentinel alert and SIGINT."""
    proc = subprocess.Popen([FALCO_BIN, "-c", str(config_path), *flags], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    alerts, seen_end = [], threading.Event()

    def read_stdout():
        for line in proc.stdout:
            if line.startswith("{"):
                alert = json.loads(line)
                alerts.append(alert)
                if SENTINEL in alert.get("output", ""):
                    seen_end.set()
        seen_end.set()  # Falco closed its output: it is ending by itself

    stderr = []
    readers = [threading.Thread(target=read_stdout, daemon=True),
               threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True)]
    for reader in readers:
        reader.start()
    try:
        seen_end.wait(TIMEOUT_S)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for reader in readers:
        reader.join(timeout=60)
    return rc, alerts, "".join(stderr)


def test_configs_start_falco_and_alert_as_the_official_rules_expect(falco, plugin, trace, tmp_path):
    path, expected = trace
    configs = documented(falco)
    assert configs
    for name, config, flags in configs:
        config, env = runnable(config, falco, plugin, path)
        config_path = tmp_path / f"{re.sub(r'[^a-z0-9]+', '-', name.lower())}.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        rc, alerts, stderr = run_falco(config_path, flags, env)
        assert rc == 0, (name, stderr[-3000:])
        got = collections.Counter(a["rule"] for a in alerts if a.get("source", "k8s_audit") == "k8s_audit")
        assert got == expected, (name, got - expected, expected - got, stderr[-2000:])
        assert "plugin 'k8saudit-ovh" in stderr  # "Loading plugin '…" (0.35), "Loaded plugin '…@…" (0.44)

"""`pip install .` into a fresh virtual environment: the wheel carries the plugin inside
the package, `--plugin-path` finds it, and the C host loads it, directly and through a
symlink elsewhere (as /usr/share/falco/plugins would hold it), with the venv's Python."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from c_host import run_host

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    base = tmp_path_factory.mktemp("install")
    subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True)
    python = base / "venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(ROOT)], check=True, timeout=900)
    return python


def test_wheel_install_provides_a_loadable_plugin(venv, host, tmp_path):
    # the venv alone: no PYTHONPATH of the caller (fuzz/sanitize.py sets one)
    env_free = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    out = subprocess.run([str(venv), "-m", "k8saudit_ovh", "--plugin-path"], capture_output=True, text=True,
                         check=True, cwd=tmp_path, env=env_free)
    plugin = Path(out.stdout.strip())
    assert plugin.is_absolute() and plugin.name == "libk8saudit-ovh.so"
    assert str(plugin).startswith(str(venv.parent.parent)) and "site-packages" in str(plugin)

    events = tmp_path / "e.jsonl"
    events.write_text(json.dumps({"kind": "Event", "auditID": "a-1", "verb": "create",
                                  "stageTimestamp": "2025-02-20T10:11:12Z"}) + "\n")
    link_dir = tmp_path / "plugins"
    link_dir.mkdir()
    (link_dir / "libk8saudit-ovh.so").symlink_to(plugin)
    for path in (plugin, link_dir / "libk8saudit-ovh.so"):
        proc = subprocess.run([str(host), "-p", f"file://{events}", str(path), "ka.verb", "ka.auditid"],
                              capture_output=True, text=True, env=env_free, timeout=60)
        assert proc.returncode == 0, proc.stderr
        first = json.loads(proc.stdout.splitlines()[0])
        assert first["values"] == {"ka.verb": "create", "ka.auditid": "a-1"}
    # the reader modules come from the venv (websocket-client is installed there only)
    run = run_host(host, plugin, "wss://127.0.0.1:1/tail/?tk=x", config='{"connectTimeoutS": 0.5}', time_limit=0.3)
    assert run.end["end"] == "time", run.stderr


def test_wheel_install_provides_the_json_plugin(venv, tmp_path):
    from json_host import compile_json_host, plugin_info
    out = subprocess.run([str(venv), "-m", "k8saudit_ovh", "--plugin-path"], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    library = Path(out.stdout.strip()).parent / "libk8saudit-ovh-json.so"  # next to the main plugin
    assert library.is_file()
    assert plugin_info(compile_json_host(tmp_path), library)["name"] == "json"


def test_wheel_install_carries_the_setup_subsystem(venv, tmp_path):
    """`setup` runs from the wheel: the ovhcloud package, and the base of the Helm values it
    writes (a symlink to deploy/helm/values.yaml in the tree, a file in the wheel)."""
    code = ("import sys, importlib.resources as r, k8saudit_ovh.cli.setup; "
            "sys.stdout.write(r.files('k8saudit_ovh.ovhcloud').joinpath('chart_values.yaml').read_text())")
    out = subprocess.run([str(venv), "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout == (ROOT / "deploy" / "helm" / "values.yaml").read_text()

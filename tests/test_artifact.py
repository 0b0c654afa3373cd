"""The falcoctl artifact: layout, size, and a plugin that runs with no Python installed."""
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from c_host import compile_host
from json_host import compile_json_host
from k8saudit_ovh import artifact, native_build
from k8saudit_ovh.paths import demo_events_path

MAX_COMPRESSED = 25 * 1000 * 1000
PYTHON_DIR = artifact.PYTHON_DIR
BUNDLE = artifact.BUNDLE_DIR


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    return artifact.build(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def unpacked(tarball, tmp_path_factory):
    target = tmp_path_factory.mktemp("plugins")
    with tarfile.open(tarball) as tar:
        tar.extractall(target, filter="data")
    return target


def _hidden_python_prefixes() -> list[str]:
    return sorted({sys.base_prefix, sys.prefix})


def _run_without_python(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """`command` in a private mount namespace where the build interpreter's prefixes are
    empty directories: no libpython, standard library or site-packages of the build."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        pytest.skip("unshare -m is not permitted here (needs root or user namespaces)")
    mounts = " && ".join(f"mount -t tmpfs none '{p}'" for p in _hidden_python_prefixes())
    script = f"{mounts} && exec \"$@\""
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *command], capture_output=True, text=True,
                          timeout=120, **kwargs)


def test_layout_is_what_falcoctl_installs(tarball):
    assert tarball.name == f"k8saudit-ovh-{artifact.VERSION}-linux-x86_64.tar.gz"
    assert tarball.stat().st_size <= MAX_COMPRESSED, f"{tarball.stat().st_size / 1e6:.1f} MB"
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert "libk8saudit-ovh.so" in names and "libk8saudit-ovh-json.so" in names
    assert not any(n.endswith("/libk8saudit-ovh-json.so") for n in names)  # once, at the root
    # Three top-level entries: the libraries and a directory named after the plugin (falcoctl
    # extracts every artifact into the same plugins directory).
    assert {n.split("/")[0] for n in names} == {"libk8saudit-ovh.so", "libk8saudit-ovh-json.so", "k8saudit-ovh"}
    assert BUNDLE == "k8saudit-ovh"
    assert f"{BUNDLE}/lib/{PYTHON_DIR}/os.py" in names  # what the shim probes for a bundle
    assert any(n.startswith(f"{BUNDLE}/site-packages/k8saudit_ovh/_plugin.") for n in names)
    assert f"{BUNDLE}/site-packages/websocket/__init__.py" in names
    assert f"{BUNDLE}/site-packages/opensearchpy/__init__.py" in names
    assert f"{BUNDLE}/site-packages/urllib3/__init__.py" in names
    assert not any(f"/{d}/" in f"/{n}/" for n in names for d in ("test", "idlelib", "tkinter", "ensurepip"))
    assert all(m.isfile() or m.isdir() for m in members)  # falcoctl refuses links
    seen_dirs = {"."}
    for m in members:  # falcoctl creates no parent directory itself
        assert str(Path(m.name).parent) in seen_dirs, m.name
        if m.isdir():
            seen_dirs.add(m.name)


def test_plugin_runpath_points_only_into_the_bundle(unpacked):
    out = subprocess.run(["readelf", "-d", str(unpacked / "libk8saudit-ovh.so")], capture_output=True,
                         text=True, check=True).stdout
    assert f"[$ORIGIN/{BUNDLE}/lib]" in out and sys.base_prefix not in out


def test_loads_replays_and_extracts_with_no_python_installed(unpacked, tmp_path):
    host = compile_host(tmp_path)
    sample = tmp_path / "sample.jsonl"  # outside any hidden prefix
    shutil.copy(demo_events_path(), sample)
    result = _run_without_python([str(host), "-p", f"file://{sample}", str(unpacked / "libk8saudit-ovh.so"),
                                  "ka.verb", "ka.target.subresource", "ka.req.pod.volumes.hostpath",
                                  "ka.uri.param[command]"])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    records = [r for r in lines if "num" in r]
    (end,) = [r for r in lines if "end" in r]
    assert end["end"] == "eof" and end["events"] == len(records) == 22
    assert records[7]["values"]["ka.req.pod.volumes.hostpath"] == ["/"]
    assert records[8]["values"] == {"ka.verb": "create", "ka.target.subresource": "exec",
                                    "ka.req.pod.volumes.hostpath": None, "ka.uri.param[command]": "sh"}


def test_json_plugin_extracts_with_no_python_installed(unpacked, tmp_path):
    host = compile_json_host(tmp_path)
    payloads = tmp_path / "payloads.jsonl"  # outside any hidden prefix
    payloads.write_bytes(b'{"stage":"ResponseComplete","user":{"name":"a"}}\n')
    result = _run_without_python([str(host), str(unpacked / "libk8saudit-ovh-json.so"), str(payloads),
                                  "jevt.rawtime", "jevt.value[/stage]", "json.value[/user]"])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert json.loads(result.stdout)["values"] == {
        "jevt.rawtime": "1700000000000000000", "jevt.value[/stage]": "ResponseComplete",
        "json.value[/user]": '{"name":"a"}'}


def test_bundle_has_what_the_stream_reader_imports(unpacked, tmp_path):
    """The bundled interpreter imports TLS, websocket-client and the LDP reader, with every
    shared library found inside the bundle."""
    if native_build.is_sanitized(unpacked / "libk8saudit-ovh.so"):
        pytest.skip("a sanitizer build needs the ASan runtime preloaded: not a bundle to ship")
    python = Path(sys.executable).resolve()
    probe = tmp_path / python.name  # the build's python binary, outside the hidden prefix
    shutil.copy(python, probe)
    bundle = unpacked / BUNDLE
    env = {"PYTHONHOME": str(bundle), "PYTHONPATH": str(bundle / "site-packages"),
           "LD_LIBRARY_PATH": str(bundle / "lib"), "PYTHONDONTWRITEBYTECODE": "1"}
    code = ("import ssl, websocket, k8saudit_ovh._plugin, k8saudit_ovh.sources.ldp_reader; "
            "from k8saudit_ovh.sources.history import HistoryClient, HistoryEndpoint; "
            "HistoryClient(HistoryEndpoint('https://gra1.logs.ovh.com:9200/alias', 'u', 'password')); "
            "HistoryClient(HistoryEndpoint('https://gra1.logs.ovh.com:9200/alias', client_id='c', "
            "client_secret='secret')); "
            "ssl.create_default_context(); print(k8saudit_ovh._plugin.__file__, ssl.OPENSSL_VERSION)")
    result = _run_without_python([str(probe), "-s", "-S", "-P", "-c", code], env=env, cwd="/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(bundle / "site-packages" / "k8saudit_ovh"))

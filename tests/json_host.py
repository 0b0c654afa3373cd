"""The C test host for an extraction-only plugin (tests/host/json_host.c): compile it, feed it
payloads as plugin events, read what it prints."""
import json
import subprocess
from pathlib import Path

from c_host import compile_host

GOLDEN_TS = 1700000000000000000  # the timestamp of corpus/golden-json's events


def json_plugin_path() -> Path:
    from k8saudit_ovh.paths import JSON_PLUGIN_LIBRARY, plugin_path
    path = plugin_path(JSON_PLUGIN_LIBRARY)
    assert path.is_file(), f"the json plugin is not built: {path} (pip install -e .)"
    return path


def compile_json_host(out_dir: Path) -> Path:
    return compile_host(out_dir, "json_host")


def plugin_info(exe: Path, plugin: Path) -> dict:
    out = subprocess.run([str(exe), "--info", str(plugin)], capture_output=True, check=True, timeout=60).stdout
    return json.loads(out)


def extract(exe: Path, plugin: Path, payloads, fields, tmp_path: Path, *, timestamps=None, event_type=None,
            config=None, timeout=300) -> list[dict]:
    """The values of `fields` for each payload (bytes, one plugin event each; no newline
    inside): {field: "value" | None | {"rc": R}} per event, in order."""
    lines = tmp_path / "payloads.jsonl"
    lines.write_bytes(b"".join(p + b"\n" for p in payloads))
    args = [str(exe), "-E"]
    if timestamps is not None:
        ts_file = tmp_path / "timestamps.txt"
        ts_file.write_text("".join(f"{t}\n" for t in timestamps))
        args += ["-S", str(ts_file)]
    if event_type is not None:
        args += ["-T", str(event_type)]
    if config is not None:
        args += ["-c", config]
    specs = tmp_path / "fields.txt"
    specs.write_text("".join(f"{f}\n" for f in fields))
    proc = subprocess.run(args + ["-f", str(specs), str(plugin), str(lines)], capture_output=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return [json.loads(line)["values"] for line in proc.stdout.decode().splitlines()]


def bench(exe: Path, plugin: Path, lines_file: Path, fields, rounds: int, timeout=600, env=None) -> dict:
    """Extraction of `fields` over every line of `lines_file`, `rounds` times, no output:
    {"events", "value_bytes", "thread_cpu_s"} (+ "allocations" with malloc_count preloaded)."""
    proc = subprocess.run([str(exe), "-b", str(rounds), str(plugin), str(lines_file), *fields], capture_output=True,
                          timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return json.loads(proc.stdout)

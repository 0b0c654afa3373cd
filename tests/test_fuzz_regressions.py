"""Every input the fuzzers ever crashed on (fuzz/regressions/<target>/) goes through the plugin
code it crashed: the C++ event path through the built modules or the C test host, the Python
parsers through the fuzz target's own checks. On the sanitizer build (README, "Fuzzing and
sanitizers") a read past an event fails here as it did under the fuzzer."""
import importlib.util
import json
from pathlib import Path

import pytest

from c_host import run_host
from k8saudit_ovh import _extract, _plugin, fields

ROOT = Path(__file__).resolve().parents[1]
REGRESSIONS = ROOT / "fuzz" / "regressions"
# Every field, in each argument form the extractor target asks for.
SPECS = ([f.name for f in fields.FIELDS if not (f.arg and f.arg["isRequired"])]
         + [f"{f.name}[{i}]" for f in fields.FIELDS if f.arg and f.arg["isIndex"] for i in (0, 1, 63)]
         + [f"{f.name}[{k}]" for f in fields.FIELDS if f.arg and f.arg["isKey"] for k in ("watch", "/etc", "k")])
NO_ARG_SPECS = [f.name for f in fields.FIELDS if not (f.arg and f.arg["isRequired"])]


def inputs(target):
    directory = REGRESSIONS / target
    return sorted(directory.iterdir()) if directory.is_dir() else []


def cases():
    targets = ("extractor", "json_tape", "audit_reader", "ldp_frame", "rfc3339", "go_url", "open_params", "config",
               "ws_frames", "history_documents", "checkpoint")
    found = [pytest.param(t, p, id=f"{t}/{p.name}") for t in targets for p in inputs(t)]
    unknown = {p.name for p in REGRESSIONS.iterdir() if p.is_dir()} - set(targets) if REGRESSIONS.is_dir() else set()
    assert not unknown, f"regressions of unknown targets: {unknown}"
    return found


def json_string(data: bytes) -> bytes:
    """`data` as a JSON string whose decoded bytes are `data` (invalid UTF-8 kept as it is)."""
    out = bytearray(b'"')
    for b in data:
        if b in b'"\\':
            out += b"\\" + bytes([b])
        elif b < 0x20:
            out += b"\\u%04x" % b
        else:
            out.append(b)
    return bytes(out + b'"')


def values_are_text(result: dict):
    for spec, value in result.items():
        assert value is None or isinstance(value, (str, list)), spec


def replay_file(host, plugin, tmp_path, content: bytes):
    path = tmp_path / "regression.jsonl"
    path.write_bytes(content)
    run = run_host(host, plugin, f"file://{path}", NO_ARG_SPECS)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.ends, "the host did not finish the replay"
    return run


def load_target(name):
    spec = importlib.util.spec_from_file_location(f"_fuzz_target_{name}", ROOT / "fuzz" / "targets" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("target,path", cases())
def test_regression_input_stays_fixed(target, path, host, plugin, tmp_path):
    data = path.read_bytes()
    if target in ("extractor", "json_tape"):
        values_are_text(_extract.extract(data, SPECS))
        values_are_text(_extract.extract(data, list(reversed(SPECS))))
    elif target == "audit_reader":
        replay_file(host, plugin, tmp_path, data)
    elif target == "ldp_frame":
        _, events = _plugin._bench_unwrap([data], 1)
        assert events >= 0
    elif target == "rfc3339":
        event = b'{"kind":"Event","auditID":"r","stageTimestamp":' + json_string(data) + b"}"
        run = replay_file(host, plugin, tmp_path, event)
        assert len(run.events) + run.metrics["events_skipped"] == 1
    elif target == "go_url":
        key, newline, uri = data.partition(b"\n")
        key, uri = (key, uri) if newline else (b"watch", data)
        event = b'{"kind":"Event","auditID":"u","requestURI":' + json_string(uri) + b"}"
        field_id = [f.name for f in fields.FIELDS].index("ka.uri.param")
        value = _extract._extract_raw(event, field_id, arg_key=key.decode("utf-8", "replace"))
        assert value is None or isinstance(value, str)
    else:
        load_target(target).test_one_input(data)


def test_json_string_keeps_the_bytes():
    raw = b'a"b\\c\n\x01\xff\xc3\xa9'
    assert json.loads(json_string(raw).decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape") == raw

"""The json plugin (libk8saudit-ovh-json.so), a drop-in for upstream json 0.7.4: what it
declares, that it needs no Python, and its values through the C host, against the golden
values of upstream json 0.7.4 in ../shared/corpus/golden-json (skipped without it)."""
import collections
import gzip
import json
import re
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import CORPUS, require_shared
from json_host import GOLDEN_TS, bench, compile_json_host, extract, json_plugin_path, plugin_info
from k8saudit_ovh._version import JSON_PLUGIN_VERSION

GOLDEN = CORPUS / "golden-json"

# upstream json 0.7.4's fields: name -> (argument, description), in its order
UPSTREAM_FIELDS = {
    "json.value": ({"isRequired": True, "isKey": True},
                   "Extracts a value from a JSON-encoded input. Syntax is json.value[<json pointer>], where "
                   "<json pointer> is a json pointer (see https://datatracker.ietf.org/doc/html/rfc6901)"),
    "json.obj": (None, "The full json message as a text string."),
    "json.rawtime": (None, "The time of the event, identical to evt.rawtime."),
    "jevt.value": ({"isRequired": True, "isKey": True}, "Alias for json.value, provided for backwards compatibility."),
    "jevt.obj": (None, "Alias for json.obj, provided for backwards compatibility."),
    "jevt.rawtime": (None, "Alias for json.rawtime, provided for backwards compatibility."),
}


@pytest.fixture(scope="module")
def json_plugin():
    return json_plugin_path()


@pytest.fixture(scope="module")
def json_host(tmp_path_factory):
    return compile_json_host(tmp_path_factory.mktemp("json_host"))


def values(json_host, json_plugin, tmp_path, payloads, fields, **kwargs):
    return extract(json_host, json_plugin, [p if isinstance(p, bytes) else json.dumps(p).encode() for p in payloads],
                   fields, tmp_path, **kwargs)


# --- what it declares -------------------------------------------------------------------

def test_declares_what_falco_and_the_rules_require(json_host, json_plugin):
    info = plugin_info(json_host, json_plugin)  # the host also ran a 3.0.0 host's load checks
    assert info["name"] == "json"
    assert info["api"] == "3.0.0"
    assert info["version"] == JSON_PLUGIN_VERSION
    major, minor, _ = map(int, re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", info["version"]).groups())
    assert (major, minor) >= (0, 7) and major == 0  # required_plugin_versions: json >= 0.7.0
    assert json.loads(info["extract_sources"]) == []  # every event source, as upstream


def test_fields_are_upstreams(json_host, json_plugin):
    fields = json.loads(plugin_info(json_host, json_plugin)["fields"])
    assert [f["name"] for f in fields] == list(UPSTREAM_FIELDS)
    for f in fields:
        arg, desc = UPSTREAM_FIELDS[f["name"]]
        assert f["type"] == "string" and not f.get("isList")
        assert f.get("arg") == arg and f["desc"] == desc


def test_accepts_upstreams_config(json_host, json_plugin):
    info = plugin_info(json_host, json_plugin)
    schema = json.loads(info["schema"])
    assert info["schema_type"] == 1 and schema["type"] == "object"
    assert schema["properties"]["useAsync"]["type"] == "boolean" and schema.get("additionalProperties", True)


def test_needs_no_python(json_plugin):
    needed = subprocess.run(["readelf", "-d", str(json_plugin)], capture_output=True, text=True, check=True).stdout
    libraries = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", needed)
    assert libraries and all(re.match(r"(libc|libm|ld-linux[-\w]*)\.so", n) for n in libraries), libraries
    assert "RPATH" not in needed and "RUNPATH" not in needed
    ldd = subprocess.run(["ldd", str(json_plugin)], capture_output=True, text=True, check=True).stdout
    assert "python" not in ldd and "not found" not in ldd
    undefined = subprocess.run(["nm", "-D", "--undefined-only", str(json_plugin)], capture_output=True, text=True,
                               check=True).stdout
    assert not re.search(r"\bPy", undefined)
    exported = subprocess.run(["nm", "-D", "--defined-only", str(json_plugin)], capture_output=True, text=True,
                              check=True).stdout.split()[2::3]
    assert exported and all(name.startswith("plugin_") for name in exported), exported


def test_init_extract_destroy(json_host, json_plugin, tmp_path):
    # init with upstream's config, one event, destroy and dlclose (the host checks each step)
    got = values(json_host, json_plugin, tmp_path, [{"a": 1}], ["json.value[/a]"], config='{"useAsync":false}')
    assert got == [{"json.value[/a]": "1"}]


# --- values (upstream's behaviour, written down) -------------------------------------------

DOC = {"a/b": 1, "m~n": 2, "arr": [10, 20], "o": {"k": [1, {"z": None}]}, "": "empty", "t": True,
       "n": -1.50e+3}


@pytest.mark.parametrize("pointer, value", [
    ("/a~1b", "1"), ("/m~0n", "2"), ("a~1b", "1"), ("/", "empty"), ("/t", "true"), ("/o/k/1/z", "null"),
    ("/o", '{"k":[1,{"z":null}]}'), ("/o/k", '[1,{"z":null}]'),
    # array indexes are Go's strconv.Atoi: signs and leading zeros pass, the rest finds nothing
    ("/arr/1", "20"), ("/arr/01", "20"), ("/arr/+1", "20"), ("/arr/-0", "10"), ("/arr/00000000000000000001", "20"),
    ("/arr/-1", None), ("/arr/-", None), ("/arr/2", None), ("/arr/99999999999999999999999", None), ("/arr/1x", None),
    ("/nope", None), ("/o/nope/deeper", None), ("/arr/0/x", None), ("/t/0", None),
])
def test_pointer(json_host, json_plugin, tmp_path, pointer, value):
    got = values(json_host, json_plugin, tmp_path, [DOC], [f"json.value[{pointer}]", f"jevt.value[{pointer}]"])
    assert got == [{f"json.value[{pointer}]": value, f"jevt.value[{pointer}]": value}]


def test_numbers_strings_and_objects_as_written(json_host, json_plugin, tmp_path):
    payload = rb'{"n": -1.50E+3 , "s":"a\"b\u00e9\n", "o":{ "x" : [ 1 ,2 ] }}'
    fields = ["json.value[/n]", "json.value[/s]", "json.value[/o]", "json.value[]"]
    (got,) = values(json_host, json_plugin, tmp_path, [payload], fields)
    assert got == {"json.value[/n]": "-1.50E+3", "json.value[/s]": 'a"b\u00c3\u00a9\n',  # bytes as \u00XX
                   "json.value[/o]": '{"x":[1,2]}',  # fastjson re-marshals compactly
                   # /s was decoded above: fastjson prints it re-quoted, UTF-8 kept as such
                   "json.value[]": '{"n":-1.50E+3,"s":"a\\"b\u00c3\u00a9\\n","o":{"x":[1,2]}}'}


def test_parsed_once_per_event(json_host, json_plugin, tmp_path):
    """fastjson decodes a string the first time its type is asked and then prints it
    re-escaped: the later /a shows it only if the same parse served both fields. The next
    event starts from a fresh parse."""
    payload = rb'{"a":{"s":"\u0041"}}'
    fields = ["json.value[/a]", "json.value[/a/s]", "jevt.value[/a]"]
    got = extract(json_host, json_plugin, [payload, payload], fields, tmp_path)
    assert got == [{"json.value[/a]": r'{"s":"\u0041"}', "json.value[/a/s]": "A", "jevt.value[/a]": '{"s":"A"}'}] * 2


def test_obj_is_gos_indent(json_host, json_plugin, tmp_path):
    payloads = [rb'{"a":[1,{"b":{}}, [ ]],"c":"x y"}  ', rb'[1,2]', rb'{"a":NaN}', rb'{"a":01}']
    got = extract(json_host, json_plugin, payloads, ["json.obj", "json.value[/a]"], tmp_path)
    assert got[0]["json.obj"] == '{\n  "a": [\n    1,\n    {\n      "b": {}\n    },\n    []\n  ],\n  "c": "x y"\n}  '
    assert got[1] == {"json.obj": "[\n  1,\n  2\n]", "json.value[/a]": None}
    # fastjson takes NaN and 01, Go's encoding/json does not: only json.obj fails
    assert got[2] == {"json.obj": {"rc": 1}, "json.value[/a]": "NaN"}
    assert got[3] == {"json.obj": {"rc": 1}, "json.value[/a]": "01"}


def test_rawtime_is_the_event_timestamp(json_host, json_plugin, tmp_path):
    got = extract(json_host, json_plugin, [b"{}", b"[]"], ["json.rawtime", "jevt.rawtime"], tmp_path,
                  timestamps=[0, 2**64 - 1])
    assert got == [{"json.rawtime": "0", "jevt.rawtime": "0"},
                   {"json.rawtime": str(2**64 - 1), "jevt.rawtime": str(2**64 - 1)}]


def test_payloads_that_are_not_json_fail_every_field(json_host, json_plugin, tmp_path):
    fields = ["json.rawtime", "json.obj", "json.value[/a]"]
    payloads = [b"", b" {}", b"plain text", b"{", b'{"a":1} x', b"\x00\xff\xfe", b"[" * 301 + b"]" * 301]
    got = extract(json_host, json_plugin, payloads, fields, tmp_path)
    assert got == [{f: {"rc": 1} for f in fields}] * len(payloads)


def test_non_plugin_events_get_no_value(json_host, json_plugin, tmp_path):
    # Falco asks an empty-source extractor about syscall events too if a rule says so
    got = extract(json_host, json_plugin, [b'{"a":1}'], ["json.value[/a]", "json.rawtime"], tmp_path, event_type=1)
    assert got == [{"json.value[/a]": {"rc": 1}, "json.rawtime": {"rc": 1}}]


def test_never_crashes(json_host, json_plugin, tmp_path):
    nested = b"[" * 299 + b"1" + b"]" * 299  # fastjson's limit is 300 levels, counting the scalar
    payloads = [nested, b"[" * 100_000, b'{"a":"' + b"\\" * 9 + b'"}', b'{"a":"\xff\xc3"}',
                bytes(range(1, 256)).replace(b"\n", b""), b'{"k":' + b'"x",' * 200_000 + b'"y"}',
                b"[" + b"1," * 1_000_000 + b"1]"]
    fields = ["json.value[/a]", "json.value[/0/0]", "json.obj", "json.value[]", "json.rawtime"]
    got = extract(json_host, json_plugin, payloads, fields, tmp_path)
    assert len(got) == len(payloads)
    assert got[0]["json.rawtime"] == str(GOLDEN_TS) and got[0]["json.value[/0/0]"] == "[" * 297 + "1" + "]" * 297
    assert got[1]["json.obj"] == {"rc": 1} and got[6]["json.value[/0/0]"] is None


def test_mutated_payloads(json_host, json_plugin, tmp_path):
    """Seeded random damage to a JSON payload: the host survives, and the outcomes hang
    together (every field needs the parse; json.obj needs Go's stricter check on top)."""
    rng = random.Random(15)
    base = json.dumps(dict(DOC, s="a\\\"b\u00e9", deep=[[{"x": [1, 2.5e-3]}]])).encode()
    payloads = []
    for _ in range(600):
        p = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(p))
            kind = rng.randrange(3)
            if kind == 0:
                p[at] = rng.choice(b'{}[]",:\\ \t0-eE+.tfnu\x00\x1f\x7f\xc3\xff')
            elif kind == 1:
                del p[at:at + rng.randint(1, 8)]
            else:
                p[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        payloads.append(bytes(p).replace(b"\n", b" "))
    fields = ["json.rawtime", "json.value[]", "json.obj", "json.value[/deep/0/0/x/1]", "json.value[/s]"]
    got = extract(json_host, json_plugin, payloads, fields, tmp_path)
    assert len(got) == len(payloads)
    for v in got:
        parsed = isinstance(v["json.rawtime"], str)
        assert parsed == isinstance(v["json.value[]"], str)
        assert not isinstance(v["json.obj"], str) or parsed
        assert all(x is None or isinstance(x, str) or x == {"rc": 1} for x in v.values())
    assert 0 < sum(isinstance(v["json.rawtime"], str) for v in got) < len(got)


def test_steady_state_allocates_nothing(json_host, json_plugin, tmp_path):
    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler for tests/host/malloc_count.c")
    counter = tmp_path / "malloc_count.so"
    subprocess.run([shutil.which("cc") or shutil.which("gcc"), "-O2", "-shared", "-fPIC",
                    str(Path(__file__).parent / "host" / "malloc_count.c"), "-o", str(counter), "-ldl"], check=True)
    lines = tmp_path / "events.jsonl"
    lines.write_bytes(b"".join(json.dumps(dict(DOC, i=i, s="x" * (i * 37 % 500), e="\\u00e9~" * i)).encode() + b"\n"
                               for i in range(200)) + b"not json\n")
    fields = ["jevt.rawtime", "jevt.value[/o/k/1]", "json.value[/a~1b]", "json.value[/s]", "json.value[/e]",
              "json.value[/arr/01]", "json.obj", "json.value[]", "json.value[/nope]"]
    result = bench(json_host, json_plugin, lines, fields, rounds=3, env=dict(os.environ, LD_PRELOAD=str(counter)))
    assert result["events"] == 3 * 201 and result["value_bytes"] > 0
    assert result["allocations"] == 0  # after the first round, whose buffers are kept


# --- golden values of upstream json 0.7.4 ------------------------------------------------

@pytest.fixture(scope="module")
def golden():
    require_shared(GOLDEN)
    fields = [f for f in (GOLDEN / "fields.txt").read_text().splitlines() if f]
    by_file = collections.defaultdict(dict)
    with gzip.open(GOLDEN / "json-0.7.4.golden.jsonl.gz") as f:
        for line in f:
            record = json.loads(line)
            by_file[record["file"]][record["line"]] = record["values"]
    return fields, by_file


def test_golden_values_of_upstream_json(json_host, json_plugin, tmp_path, golden):
    fields, by_file = golden
    compared, differences = 0, []
    for file, records in sorted(by_file.items()):
        lines = (CORPUS / file).read_bytes().split(b"\n")
        numbers = sorted(records)
        # rawtime shows the timestamp each event was fed with (where upstream could read it)
        timestamps = [records[n]["json.rawtime"] if isinstance(records[n]["json.rawtime"], str) else GOLDEN_TS
                      for n in numbers]
        got = extract(json_host, json_plugin, [lines[n - 1] for n in numbers], fields, tmp_path,
                      timestamps=timestamps)
        assert len(got) == len(numbers)
        for n, ours in zip(numbers, got):
            for field in fields:
                compared += 1
                if ours[field] != records[n][field]:
                    differences.append((file, n, field, records[n][field], ours[field]))
    assert compared == sum(len(r) for r in by_file.values()) * len(fields) == 2489 * 67
    assert not differences, f"{len(differences)} of {compared} differ, e.g. {differences[:5]}"

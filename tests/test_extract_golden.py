"""Every value of every golden record (upstream k8saudit 0.18.0 output) through k8saudit_ovh.extract.

The corpus lives in ../shared next to the repository; the test is skipped without it.
Comparison as shared/corpus/README.md "How a test should compare" says: all specs of
specs.json plus the record's ka.uri.param keys, exact equality, no value where the
oracle panicked.
"""
import json

import pytest

from k8saudit_ovh import extract

from conftest import CORPUS, require_shared
GOLDEN_FILES = ["upstream", "derived", "setA.edge", "setA.events", "setA.large"]

# Lines where we deliberately return something else than the oracle: (file, line) -> (reason,
# what we return instead). Empty: fastjson's leniencies (NaN, \x41, leading zeros, raw TAB,
# invalid UTF-8) are all reproduced.
DELIBERATE_DIFFERENCES = {}


def _skip_ws(s, i):
    while i < len(s) and s[i] in b" \t\r\n":
        i += 1
    return i


def _value_end(s, i):
    """End offset of the JSON value starting at s[i] (lenient: scalars end at a delimiter)."""
    if s[i:i + 1] == b'"':
        i += 1
        while s[i:i + 1] != b'"':
            i += 2 if s[i:i + 1] == b"\\" else 1
        return i + 1
    if s[i:i + 1] in (b"{", b"["):
        depth, in_string = 0, False
        while True:
            c = s[i:i + 1]
            if in_string:
                if c == b"\\":
                    i += 1
                elif c == b'"':
                    in_string = False
            elif c == b'"':
                in_string = True
            elif c in (b"{", b"["):
                depth += 1
            elif c in (b"}", b"]"):
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
    while i < len(s) and s[i:i + 1] not in b",]} \t\r\n":
        i += 1
    return i


def _members(s, i):
    """(key or None, start, end) of each member/element of the container at s[i]."""
    is_object = s[i:i + 1] == b"{"
    i = _skip_ws(s, i + 1)
    while s[i:i + 1] not in (b"}", b"]"):
        key = None
        if is_object:
            end = _value_end(s, i)
            key = json.loads(s[i:end].decode("utf-8", "surrogateescape"), strict=False)
            i = _skip_ws(s, _skip_ws(s, end) + 1)  # past ':'
        end = _value_end(s, i)
        yield key, i, end
        i = _skip_ws(s, end)
        if s[i:i + 1] == b",":
            i = _skip_ws(s, i + 1)


def _item(line, pointer):
    start, end = _skip_ws(line, 0), len(line)
    for part in pointer.split("/")[1:]:
        for n, (key, s, e) in enumerate(_members(line, start)):
            if (key if key is not None else str(n)) == part:
                start, end = s, e
                break
        else:
            raise KeyError(pointer)
    return line if pointer == "" else line[start:end]


_LINES = {}


def event_of(rec):
    path = CORPUS / rec["file"]
    if path not in _LINES:
        _LINES[path] = path.read_bytes().split(b"\n")
    line = _LINES[path][rec["line"] - 1]
    if line.endswith(b"\r"):
        line = line[:-1]
    return _item(line, rec["item"])


def _records(name):
    path = require_shared(CORPUS / "golden" / f"{name}.golden.jsonl")
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def specs():
    path = require_shared(CORPUS / "golden" / "specs.json")
    s = json.loads(path.read_text())
    s["index_specs"] = [f"{f}[{i}]" for f in s["index_fields"] for i in s["indexes"]]
    return s


def test_item_locator():
    line = b'[{"a":1}, {"kind":"EventList","items":[ {"x":"]"} ,{"y":[1,2]}]}]'
    assert _item(line, "/1/items/1") == b'{"y":[1,2]}'
    assert _item(line, "/1/items/0") == b'{"x":"]"}'
    assert _item(line, "") == line


@pytest.mark.parametrize("name", GOLDEN_FILES)
def test_golden_file(name, specs):
    records = _records(name)
    assert records, name
    mismatches, checked = [], 0
    for rec in records:
        wanted = specs["no_arg"] + specs["index_specs"] + specs["key_specs"] + \
            [s for s in rec["values"] if s.startswith("ka.uri.param[")]
        got = extract(event_of(rec), wanted)
        where = (rec["file"], rec["line"])
        if where in DELIBERATE_DIFFERENCES:
            _, ours = DELIBERATE_DIFFERENCES[where]
            assert got == {s: ours.get(s) for s in wanted}, where
            continue
        for spec in wanted:
            expected = None if spec in rec.get("oracle_panics", {}) else rec["values"].get(spec)
            checked += 1
            if got[spec] != expected:
                mismatches.append((rec["file"], rec["line"], rec["item"], spec, expected, got[spec]))
    assert not mismatches, f"{len(mismatches)} of {checked} values differ, first: {mismatches[:5]}"
    assert checked >= len(records) * 100


def test_oracle_panics_give_no_value(specs):
    """JSON Patch bodies crash upstream on volume_type; we must return no value."""
    panics = [rec for name in ("setA.events", "setA.edge") for rec in _records(name) if rec.get("oracle_panics")]
    assert len(panics) >= 5
    for rec in panics:
        got = extract(event_of(rec), list(rec["oracle_panics"]))
        assert got == {spec: None for spec in rec["oracle_panics"]}, (rec["file"], rec["line"])

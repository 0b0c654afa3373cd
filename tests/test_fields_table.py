"""The field table (fields_json, spec section 11) and argument handling through the C++ path."""
import json
import re

import pytest

from k8saudit_ovh import extract, fields
from k8saudit_ovh._extract import _extract_raw

from conftest import CORPUS, require_shared

SPECS = CORPUS / "golden" / "specs.json"
ARG_FIELDS = ["ka.uri.param", "ka.req.binding.subject.has_name", "ka.req.volume.hostpath"]

POD = {
    "kind": "Event", "auditID": "a1", "verb": "create",
    "requestURI": "/api/v1/namespaces/x/pods?fieldManager=kubectl&dryRun=All",
    "requestObject": {"kind": "Pod", "spec": {
        "containers": [
            {"name": "a", "image": "nginx:1.25", "securityContext": {"privileged": True}},
            {"name": "b", "image": "quay.io/org/app@sha256:00"},
        ],
        "volumes": [{"name": "h", "hostPath": {"path": "/etc"}}],
    }},
}
POD_JSON = json.dumps(POD, separators=(",", ":")).encode()


def _doc():
    return json.loads(fields.fields_json())


def test_fields_json_follows_spec_section_11():
    doc = _doc()
    assert isinstance(doc, list) and doc
    for entry in doc:
        assert set(entry) <= {"name", "type", "desc", "isList", "arg"}, entry
        assert re.fullmatch(r"[A-Za-z0-9_.]+", entry["name"]) and len(entry["name"]) <= 63
        assert entry["type"] == "string"
        assert isinstance(entry["desc"], str) and entry["desc"].strip() and len(entry["desc"]) <= 1023
        assert entry.get("isList", False) in (True, False)
        if "arg" in entry:
            arg = entry["arg"]
            assert set(arg) == {"isRequired", "isIndex", "isKey"}
            assert all(isinstance(v, bool) for v in arg.values())
            assert arg["isIndex"] or arg["isKey"]
    names = [e["name"] for e in doc]
    assert len(names) == len(set(names)) == 100


def test_fields_match_the_golden_records():
    specs = json.loads(require_shared(SPECS).read_text())
    doc = _doc()
    names = [e["name"] for e in doc]
    assert [n for n in names if n not in ARG_FIELDS] == specs["no_arg"]
    assert [e["name"] for e in doc if e.get("arg", {}).get("isIndex")] == specs["index_fields"]
    for e in doc:
        if e["name"] in ARG_FIELDS:
            assert e["arg"] == {"isRequired": True, "isIndex": False, "isKey": True}


def test_upstream_positions_of_argument_fields():
    names = [e["name"] for e in _doc()]
    assert names[names.index("ka.uri") + 1] == "ka.uri.param"
    assert names[names.index("ka.req.binding.role") + 1] == "ka.req.binding.subject.has_name"
    assert names[names.index("ka.req.pod.volumes.hostpath") + 1] == "ka.req.volume.hostpath"


def test_deprecated_fields_say_so():
    for e in _doc():
        if e["name"] in ("ka.req.container.image", "ka.req.container.privileged",
                         "ka.req.binding.subject.has_name", "ka.req.volume.hostpath"):
            assert "eprecated" in e["desc"], e["name"]


def test_container_families_share_one_definition():
    by_name = {f.name: f for f in fields.FIELDS}
    for sub in ("name", "image", "privileged", "eff_run_as_user", "add_capabilities", "command"):
        base = by_name[f"ka.req.pod.containers.{sub}"]
        for lst in ("initContainers", "ephemeralContainers"):
            other = by_name[f"ka.req.pod.{lst}.{sub}"]
            assert other.op == base.op
            assert other.path == tuple(lst if k == "containers" else k for k in base.path)


def test_markdown_table_lists_every_field():
    table = fields.markdown_table()
    assert all(f"`{f.name}`" in table for f in fields.FIELDS)


def test_index_argument():
    got = extract(POD_JSON, ["ka.req.pod.containers.image", "ka.req.pod.containers.image[0]",
                             "ka.req.pod.containers.image[1]", "ka.req.pod.containers.image[2]",
                             "ka.req.pod.containers.image.repository[1]"])
    assert got == {
        "ka.req.pod.containers.image": ["nginx:1.25", "quay.io/org/app@sha256:00"],
        "ka.req.pod.containers.image[0]": ["nginx:1.25"],  # still a list
        "ka.req.pod.containers.image[1]": ["quay.io/org/app@sha256:00"],
        "ka.req.pod.containers.image[2]": None,  # past the end
        "ka.req.pod.containers.image.repository[1]": ["quay.io/org/app"],
    }


def test_arg_present_decides_not_arg_index():
    image = [f.name for f in fields.FIELDS].index("ka.req.pod.containers.image")
    # arg_index 0 without arg_present (libs <= 0.22 style): no index filter
    assert _extract_raw(POD_JSON, image) == ["nginx:1.25", "quay.io/org/app@sha256:00"]
    assert _extract_raw(POD_JSON, image, arg_index=1) == ["quay.io/org/app@sha256:00"]
    assert _extract_raw(POD_JSON, image, arg_index=2**64 - 1) == ["nginx:1.25", "quay.io/org/app@sha256:00"]
    assert _extract_raw(POD_JSON, image, arg_index=2**63) is None


def test_key_arguments():
    got = extract(POD_JSON, ["ka.uri.param[dryRun]", "ka.uri.param[nope]", "ka.req.volume.hostpath[/etc]",
                             "ka.req.volume.hostpath[/e*]", "ka.req.volume.hostpath[/et]",
                             "ka.req.binding.subject.has_name[x]", "ka.req.container.privileged"])
    assert got == {"ka.uri.param[dryRun]": "All", "ka.uri.param[nope]": None,
                   "ka.req.volume.hostpath[/etc]": "true", "ka.req.volume.hostpath[/e*]": "true",
                   "ka.req.volume.hostpath[/et]": "false", "ka.req.binding.subject.has_name[x]": "true",
                   "ka.req.container.privileged": "true"}


def test_missing_required_argument_fails_in_cpp():
    uri_param = [f.name for f in fields.FIELDS].index("ka.uri.param")
    with pytest.raises(RuntimeError, match="requires an argument"):
        _extract_raw(POD_JSON, uri_param)
    assert _extract_raw(POD_JSON, uri_param, arg_key="fieldManager") == "kubectl"
    with pytest.raises(RuntimeError, match="unknown field id"):
        _extract_raw(POD_JSON, 100)


@pytest.mark.parametrize("spec", ["ka.nope", "ka.uri.param", "ka.verb[0]", "ka.req.pod.containers.image[01]",
                                  "ka.req.pod.containers.image[x]", "ka.req.pod.containers.image[-1]",
                                  "ka.uri.param[a"])
def test_bad_specs_are_rejected(spec):
    with pytest.raises(ValueError):
        extract(POD_JSON, [spec])


def test_unparseable_and_foreign_payloads_give_no_value():
    names = [f.name for f in fields.FIELDS if not (f.arg and f.arg["isRequired"])]
    for payload in (b"", b"{", b'{"auditID":"x"} x', b"[1,2]", b'"s"', b'{"verb":"get"}', b"\xef\xbb\xbf{}"):
        assert set(extract(payload, names).values()) == {None}, payload


def test_values_keep_input_spelling_and_nul_cuts():
    event = b'{"auditID":"1","userAgent":"a\\u0000b","requestObject":{ "data" : { "a" : "x\\u0041\\/<",' \
            b' "b" : 1.50e0 , "a" : "dup" } },"verb":["get"]}'
    got = extract(event, ["ka.useragent", "ka.req.configmap.obj", "ka.verb"])
    assert got == {"ka.useragent": "a", "ka.req.configmap.obj": '{"a":"x\\u0041\\/<","b":1.50e0,"a":"dup"}',
                   "ka.verb": '["get"]'}


@pytest.mark.parametrize("inner, inner_depth", [("1", 0), ('"s"', 0), ("[]", 0), ("{}", 0), ('{"k":[1]}', 2)])
def test_nesting_limit_is_fastjsons(inner, inner_depth):
    # fastjson refuses a value nested in 300 containers (MaxDepth counts the innermost
    # value): an event that deep is no JSON, one level less is an event like any other.
    def event(depth):  # the innermost value of `inner` inside `depth` containers
        arrays = depth - 1 - inner_depth  # the root object holds the arrays around `inner`
        return ('{"auditID":"1","verb":"get","x":' + "[" * arrays + inner + "]" * arrays + "}").encode()
    assert extract(event(299), ["ka.verb"]) == {"ka.verb": "get"}
    assert extract(event(300), ["ka.verb"]) == {"ka.verb": None}


@pytest.mark.parametrize("query, want", [
    ("command=sh&x=1", "sh"), ("x=1&comm%61nd=sh", "sh"), ("a+b=1&command=ls+-l", "ls -l"),
    ("command=%2Fbin%2Fsh", "/bin/sh"), ("x=1&commands=sh", None), ("x=1", None), ("command=%zz", None),
    ("a+b=1", None), ("x=%41", None),
])
def test_uri_param_keys_as_go_decodes_them(query, want):
    # Go's url.ParseQuery decodes keys (%XX, '+') before comparing, and a malformed
    # query gives no value even where the key is present.
    event = json.dumps({"auditID": "1", "requestURI": "/api/v1/namespaces/x/pods/p/exec?" + query}).encode()
    assert extract(event, ["ka.uri.param[command]"]) == {"ka.uri.param[command]": want}

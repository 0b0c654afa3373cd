"""The plugin as Falco sees it: loaded by the C host (dlopen RTLD_LOCAL, no Python in the
process), load-time checks, static answers, config and open-params errors, reloads."""
import json

import pytest

from c_host import run_host
from k8saudit_ovh import config, fields, plugin_info
from k8saudit_ovh._version import VERSION
from k8saudit_ovh.paths import BUNDLE_DIR

FIELD_TYPES = {"string", "uint64", "bool", "reltime", "abstime", "ipaddr", "ipnet"}


@pytest.fixture(scope="module")
def info(host, plugin):
    run = run_host(host, plugin, info=True)
    assert run.returncode == 0, run.stderr
    return run.info


def test_identity_matches_registry_and_rules(info):
    assert info["api"] == "3.0.0"  # the only value every Falco from 0.35 accepts
    assert info["name"] == "k8saudit-ovh" and info["id"] == 22 and info["source"] == "k8s_audit"
    assert info["version"] == VERSION
    major, minor, _ = (int(x) for x in VERSION.split("."))
    assert major == 0 and minor >= 6  # k8s_audit_rules.yaml requires k8saudit-ovh >= 0.6.0
    assert len(info["description"]) > 40 and info["contact"]


def test_fields_json_is_the_field_table(info):
    parsed = json.loads(info["fields"])
    assert info["fields"] == fields.fields_json()
    assert len(parsed) == 100
    for entry in parsed:
        assert entry["type"] in FIELD_TYPES and entry["desc"] and entry["name"].startswith("ka.")


def test_init_schema_describes_every_key_with_its_default(info):
    assert info["schema_type"] == 1
    schema = json.loads(info["schema"])
    # null: Falco passes `init_config: {}` (an empty YAML mapping) as JSON null
    assert schema["type"] == ["object", "null"] and schema["additionalProperties"] is False
    assert set(schema["properties"]) == {k.name for k in config.KEYS}
    for key in config.KEYS:
        prop = schema["properties"][key.name]
        assert prop["default"] == key.default and prop["description"]


def test_open_params_list_has_non_empty_values(info):
    params = json.loads(info["open_params"])
    assert params and all(p["value"] and p["desc"] for p in params)
    assert json.loads(plugin_info.open_params_json()) == params


@pytest.mark.parametrize("cfg, words", [
    ('{"maxEventSiz": 10}', ["unknown", "maxEventSiz"]),
    ('{"maxEventSize": "big"}', ["maxEventSize", "integer"]),
    ('{"maxEventSize": 1}', ["maxEventSize", "between"]),
    ('{"pingIntervalS": NaN}', ["pingIntervalS", "finite"]),  # json.loads takes NaN
    ('{"verifyTLS": 1}', ["verifyTLS", "boolean"]),
    ('{"backoffInitialS": 5, "backoffMaxS": 1}', ["backoffMaxS"]),
    ("not json", ["not valid JSON"]),
    ("[1]", ["JSON object"]),
])
def test_bad_config_is_refused_with_the_key_named(host, plugin, cfg, words):
    run = run_host(host, plugin, "file:///dev/null", config=cfg)
    assert run.returncode == 3 and run.end["end"] == "init-failure"
    for word in words:
        assert word in run.end["error"]


@pytest.mark.parametrize("cfg", ["", "{}", "null", '{"maxEventSize": 1048576, "batchMaxEvents": 10}'])
def test_empty_and_valid_configs_are_accepted(host, plugin, tmp_path, cfg):
    run = run_host(host, plugin, f"file://{tmp_path}/none.jsonl", config=cfg)
    assert run.end["end"] == "open-failure"  # init passed; the file is missing
    assert "cannot open" in run.end["error"] and "none.jsonl" in run.end["error"]


@pytest.mark.parametrize("params, words", [
    ("", ["empty open params"]),
    ("ftp://example.org/x", ["unknown scheme", "ftp"]),
    ("file://", ["needs a path"]),
    ("wss://logs.example:99999/tail/?tk=SECRET-TOKEN", ["malformed URL"]),
    ("a=file:///tmp/x,b=file:///tmp/y", ["cannot be combined"]),
    # Falco < 0.37 passes `${VAR}` as is
    ("${K8SAUDIT_OVH_URL}", ["unexpanded ${K8SAUDIT_OVH_URL}", "does not expand environment variables", "0.37"]),
    ("prod=wss://gra1.logs.ovh.com/tail/?tk=SECRET-TOKEN,staging=${STAGING_URL}", ["unexpanded ${STAGING_URL}"]),
])
def test_bad_open_params_fail_open_clearly(host, plugin, params, words):
    run = run_host(host, plugin, params)
    assert run.end["end"] == "open-failure"
    for word in words:
        assert word in run.end["error"]
    assert "SECRET-TOKEN" not in run.end["error"] + run.stderr


def test_directory_and_missing_file(host, plugin, tmp_path):
    run = run_host(host, plugin, f"file://{tmp_path}")
    assert run.end["end"] == "open-failure" and "directory" in run.end["error"]
    run = run_host(host, plugin, f"file://{tmp_path}/missing.jsonl")
    assert "No such file" in run.end["error"]


def test_reload_cycles_in_one_process(host, plugin, tmp_path):
    """init/destroy/init and dlclose/dlopen, as Falco's hot reload does."""
    events = tmp_path / "e.jsonl"
    events.write_text(json.dumps({"kind": "Event", "auditID": "a", "verb": "get",
                                  "stageTimestamp": "2025-02-20T10:11:12.5Z"}) + "\n")
    run = run_host(host, plugin, f"file://{events}", ["ka.verb", "ka.auditid"], cycles=4)
    assert run.returncode == 0, run.stderr
    assert len(run.events) == 4 and len(run.ends) == 4
    assert {e["values"]["ka.verb"] for e in run.events} == {"get"}
    assert all(e["ts"] == 1740046272500000000 for e in run.events)
    assert all(c["threads"] == 1 and c["sockets"] == 0 for c in run.closes)


def test_missing_python_runtime_is_a_clear_init_error(host, plugin, tmp_path):
    """A bundle whose standard library is missing: init fails with a message, no crash."""
    bundle = tmp_path / "bundle"
    (bundle / BUNDLE_DIR / "lib" / "python3.11").mkdir(parents=True)
    (bundle / BUNDLE_DIR / "lib" / "python3.11" / "os.py").write_text("")
    (bundle / "libk8saudit-ovh.so").write_bytes(plugin.read_bytes())
    run = run_host(host, bundle / "libk8saudit-ovh.so", "file:///dev/null")
    assert run.returncode == 3 and run.end["end"] == "init-failure"
    assert "standard library" in run.end["error"] and str(bundle) in run.end["error"]

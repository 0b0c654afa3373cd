"""Distribution files: the falcoctl index entry, Helm values and the host falco.yaml."""
import re
from pathlib import Path

import yaml

from k8saudit_ovh._version import JSON_PLUGIN_VERSION
from k8saudit_ovh.paths import JSON_PLUGIN_LIBRARY

ROOT = Path(__file__).resolve().parents[1]
RULES_NEED = {"k8saudit-ovh": (0, 6, 0), "json": (0, 7, 0)}  # k8s_audit_rules.yaml requirements


def load(path):
    return yaml.safe_load((ROOT / path).read_text())


def _version(ref: str) -> tuple[int, ...]:
    tag = ref.rsplit(":", 1)[1]
    assert re.fullmatch(r"\d+(\.\d+){0,2}", tag), ref
    return tuple(int(x) for x in tag.split("."))


def _compatible(ref: str, minimum: tuple[int, int, int]) -> bool:
    """A falcoctl tag (x, x.y or x.y.z) resolves to versions Falco accepts for `minimum`:
    the same major and not lower."""
    version = _version(ref)
    return version[0] == minimum[0] and version >= minimum[:len(version)]


def test_index_entry_has_the_falcoctl_keys():
    (entry,) = load("index.yaml")
    for key in ("name", "type", "registry", "repository", "description", "home", "keywords", "license",
                "maintainers", "sources"):
        assert entry.get(key), key
    assert entry["name"] == "k8saudit-ovh" and entry["type"] == "plugin"
    assert all({"name", "email"} <= set(m) for m in entry["maintainers"])
    assert entry["repository"].endswith("/k8saudit-ovh")


def test_helm_values_one_replica_no_driver_secret_url():
    values = load("deploy/helm/values.yaml")
    assert values["driver"]["enabled"] is False
    assert values["collectors"]["enabled"] is False
    assert values["controller"]["kind"] == "deployment"
    assert values["controller"]["deployment"]["replicas"] == 1
    plugins = {p["name"]: p for p in values["falco"]["plugins"]}
    assert values["falco"]["load_plugins"] == ["k8saudit-ovh", "json"]
    variable = re.fullmatch(r"\$\{(\w+)\}", plugins["k8saudit-ovh"]["open_params"]).group(1)
    (env,) = [e for e in values["extra"]["env"] if e["name"] == variable]
    assert set(env["valueFrom"]["secretKeyRef"]) == {"name", "key"}
    assert "tk=" not in (ROOT / "deploy/helm/values.yaml").read_text().replace("tk=<token>", "")
    # no /proc from the node: the chart mounts it only for the driver or plugins_hostinfo
    assert values["falco"]["plugins_hostinfo"] is False


def test_helm_values_install_versions_the_rules_accept():
    falcoctl = load("deploy/helm/values.yaml")["falcoctl"]
    assert falcoctl["artifact"]["install"]["enabled"] is True
    refs = falcoctl["config"]["artifact"]["install"]["refs"]
    by_name = {ref.rsplit(":", 1)[0].rsplit("/", 1)[-1]: ref for ref in refs}
    # json: the native one, carried by this plugin's artifact (its version is the plugin's)
    assert set(by_name) == {"k8saudit-ovh", "k8saudit-rules"}
    json_plugin = {p["name"]: p for p in load("deploy/helm/values.yaml")["falco"]["plugins"]}["json"]
    assert json_plugin["library_path"] == JSON_PLUGIN_LIBRARY
    for name, minimum in RULES_NEED.items():
        assert _compatible(by_name.get(name, f"{name}:{JSON_PLUGIN_VERSION}"), minimum), name
    assert _version(by_name["k8saudit-rules"]) >= (0, 18)  # the release that accepts k8saudit-ovh 0.6.0
    (entry,) = load("index.yaml")
    assert by_name["k8saudit-ovh"].startswith(f"{entry['registry']}/{entry['repository']}:")
    assert {"plugin", "rulesfile"} <= set(falcoctl["config"]["artifact"]["allowedTypes"])


def test_host_falco_yaml():
    config = load("examples/falco.yaml")
    assert config["load_plugins"] == ["k8saudit-ovh", "json"]
    (plugin,) = [p for p in config["plugins"] if p["name"] == "k8saudit-ovh"]
    assert plugin["library_path"] == "libk8saudit-ovh.so"
    (json_plugin,) = [p for p in config["plugins"] if p["name"] == "json"]
    assert json_plugin["library_path"] == JSON_PLUGIN_LIBRARY
    assert plugin["open_params"].startswith("${")

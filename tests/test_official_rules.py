"""The official k8s_audit_rules.yaml (../shared/rules) loads with this plugin: it accepts
our name and version in place of k8saudit, and every ka.* field it uses exists with the
argument form it uses."""
import re

import pytest
import yaml

from conftest import SHARED, require_shared
from k8saudit_ovh import fields
from k8saudit_ovh._version import VERSION

RULES = SHARED / "rules" / "k8s_audit_rules.yaml"
FIELD_REF = re.compile(r"\b(ka\.[A-Za-z_.]*[A-Za-z_])(?:\[([^\]]*)\])?")


@pytest.fixture(scope="module")
def rules():
    return require_shared(RULES).read_text()


def version_tuple(text):
    return tuple(int(x) for x in text.split("."))


def test_rules_accept_this_plugin_as_k8saudit(rules):
    requirements = next(item["required_plugin_versions"] for item in yaml.safe_load(rules)
                        if "required_plugin_versions" in item)
    k8saudit = next(r for r in requirements if r["name"] == "k8saudit")
    ours = next(a for a in k8saudit["alternatives"] if a["name"] == "k8saudit-ovh")
    # Falco: same major, not lower
    assert version_tuple(VERSION)[0] == version_tuple(ours["version"])[0]
    assert version_tuple(VERSION) >= version_tuple(ours["version"])


def test_every_field_the_rules_use_exists_with_its_argument_form(rules):
    table = {f.name: f for f in fields.FIELDS}
    used = set(FIELD_REF.findall(rules))
    assert len(used) > 30
    for name, arg in used:
        assert name in table, name
        spec = table[name].arg or {}
        if arg:
            assert spec.get("isKey") or (spec.get("isIndex") and arg.isdigit()), (name, arg)
        else:
            assert not spec.get("isRequired"), name

"""Keeps the README's reference tables equal to the code's own tables.

    python tools/readme_tables.py          rewrite README.md in place
The tests call render() and fail when README.md differs from it.
"""
import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    """k8saudit_ovh/<name>.py (name may hold a subpackage: ovhcloud/api_calls), stdlib only."""
    spec = importlib.util.spec_from_file_location(f"_readme_{name.replace('/', '_')}",
                                                  ROOT / "k8saudit_ovh" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def tables() -> dict[str, str]:
    return {"config-table": _load("config").markdown_table(), "field-table": _load("fields").markdown_table(),
            "compat-table": _load("cli/falco_compat").markdown_table(),
            "setup-calls-table": _load("ovhcloud/api_calls").markdown_table()}


def render(readme: str) -> str:
    """README text with every <!-- BEGIN x --> … <!-- END x --> block regenerated."""
    for name, table in tables().items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
        if not pattern.search(readme):
            raise ValueError(f"README.md has no {name} block")
        readme = pattern.sub(lambda m: m.group(1) + table + "\n" + m.group(2), readme)
    return readme


if __name__ == "__main__":
    path = ROOT / "README.md"
    path.write_text(render(path.read_text()))

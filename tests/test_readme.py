"""The README's reference tables are generated from the code's own tables, and its
set-up commands are the ones CI runs."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_tool():
    spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "tools" / "readme_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_tables_match_the_code():
    readme = (ROOT / "README.md").read_text()
    assert load_tool().render(readme) == readme, "run: python tools/readme_tables.py"


def test_every_field_and_config_key_is_documented():
    readme = (ROOT / "README.md").read_text()
    from k8saudit_ovh import config, fields
    for f in fields.FIELDS:
        assert f"`{f.name}`" in readme
    for key in config.KEYS:
        assert f"`{key.name}`" in readme


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command = "pip install -e '.[test]' && pytest"
    assert command in readme and command in (ROOT / ".ci" / "run").read_text()

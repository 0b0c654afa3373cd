"""Every Falco configuration the project prints or documents starts the plugin on the Falco
versions it is meant for: `falco-config` for each supported version, the Helm values'
`falco:` section, examples/falco.yaml and the README's YAML snippets, read from the files.

Each plugin's init_config becomes the string Falco passes to plugin_init, is validated
against the plugin's own init schema (as Falco does before plugin_init), and plugin_init +
plugin_open run on it in the C host, with open params as that Falco would pass them and the
URL swapped for a file:// trace."""
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from c_host import run_host
from k8saudit_ovh.cli import falco_compat
from k8saudit_ovh.cli.main import main
from k8saudit_ovh.cli.falco_compat import SUPPORTED, URL_ENV
from k8saudit_ovh.paths import demo_events_path

ROOT = Path(__file__).resolve().parents[1]
DEMO = demo_events_path()
DEMO_EVENTS = sum(1 for line in DEMO.read_text().splitlines() if line.strip())
# examples/falco.yaml, the README snippet and the Helm values use rules_files and engine.kind
# (the chart passes --disable-source syscall): Falco >= 0.38.
FROM_0_38 = [f for f in SUPPORTED if tuple(map(int, f.minor.split("."))) >= (0, 38)]


def falco_config_output(version: str, capsys) -> str:
    return falco_config_output_with([], version, capsys)


def falco_config_output_with(options: list[str], version: str, capsys) -> str:
    assert main(["falco-config", "--falco-version", version, *options]) == 0
    return capsys.readouterr().out


def documented_configs() -> list[tuple[str, dict]]:
    readme = (ROOT / "README.md").read_text()
    snippets = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    assert snippets, "the README has YAML snippets"
    configs = [(f"README snippet {i}", yaml.safe_load(text)) for i, text in enumerate(snippets, 1)]
    configs.append(("examples/falco.yaml", yaml.safe_load((ROOT / "examples" / "falco.yaml").read_text())))
    helm = yaml.safe_load((ROOT / "deploy" / "helm" / "values.yaml").read_text())
    configs.append(("deploy/helm/values.yaml falco:", helm["falco"]))
    return [(name, c) for name, c in configs if "plugins" in c]


def init_config_string(entry: dict) -> str:
    """What Falco passes to plugin_init (configuration.h, plugin_config decode): a YAML mapping
    dumped as JSON, where an empty mapping dumps as `null`; absent or null: ""; else the
    scalar's text."""
    value = entry.get("init_config")
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value) if value else "null"
    return value if isinstance(value, str) else json.dumps(value)


def expand_env(text: str, env: dict[str, str]) -> str:
    """Falco >= 0.37 (yaml_helper pre_process_env_vars): `${X}` becomes X's value, or nothing."""
    return re.sub(r"\$\{([^}]*)\}", lambda m: env.get(m.group(1), ""), text)


def open_params_as_passed(text: str, falco) -> str:
    """The open params Falco `falco` hands the plugin, with the stream URL (from the
    environment, or written in the file) replaced by the demo trace."""
    trace = f"file://{DEMO}"
    if "${" in text:
        assert falco.env_vars, f"${{VAR}} in a config meant for Falco {falco.minor}"
        return expand_env(text, {URL_ENV: trace})
    return trace


@pytest.fixture(scope="module")
def init_schema(host, plugin):
    run = run_host(host, plugin, info=True)
    assert run.returncode == 0, run.stderr
    schema = json.loads(run.info["schema"])
    jsonschema.Draft4Validator.check_schema(schema)  # Falco's validator reads draft 4
    return schema


def start_plugin(host, plugin, init_schema, config: dict, falco) -> None:
    """plugin_init + plugin_open + the whole trace, as `falco` would run our entry of `config`."""
    assert config["load_plugins"] == ["k8saudit-ovh", "json"]
    entries = {p["name"]: p for p in config["plugins"]}
    ours = entries["k8saudit-ovh"]
    for entry in config["plugins"]:
        # `init_config: {}` reaches every plugin as `null`; we never write it.
        assert init_config_string(entry) != "null", entry["name"]
    init = init_config_string(ours)
    jsonschema.Draft4Validator(init_schema).validate(json.loads(init or "{}"))  # libsinsp: "" → "{}"
    params = open_params_as_passed(str(ours["open_params"]), falco)
    run = run_host(host, plugin, params, ["ka.verb"], config=init)
    assert run.returncode == 0 and run.end["end"] == "eof", run.end
    assert run.end["events"] == DEMO_EVENTS


@pytest.mark.parametrize("falco", SUPPORTED, ids=lambda f: f.minor)
def test_falco_config_starts_the_plugin(host, plugin, init_schema, capsys, falco):
    config = yaml.safe_load(falco_config_output(falco.minor, capsys))
    assert config["plugins"][0]["library_path"] == str(plugin)
    assert "init_config" not in config["plugins"][0]  # all defaults, "" on every Falco
    start_plugin(host, plugin, init_schema, config, falco)


def test_falco_config_history_example_is_a_valid_init_config(init_schema, capsys):
    """The commented history example falco-config prints, uncommented, passes the init schema
    and plugin_init's validation (the three ways to authenticate named beside it)."""
    from k8saudit_ovh import config as plugin_config
    text = falco_config_output(SUPPORTED[-1].minor, capsys)
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("    # init_config: {history:"))
    example = " ".join(line.strip().removeprefix("# ") for line in lines[first:first + 2])
    init_config = yaml.safe_load(example)["init_config"]
    jsonschema.Draft4Validator(init_schema).validate(init_config)
    settings = plugin_config.parse(json.dumps(init_config))
    assert settings["history"][None]["clientId"] == "<id>"
    assert all(way in text for way in ("user + password", "token (IAM Bearer)", "clientId +"))


@pytest.mark.parametrize("falco", SUPPORTED, ids=lambda f: f.minor)
def test_falco_config_uses_the_keys_of_its_version(capsys, falco):
    text = falco_config_output(falco.minor, capsys)
    config = yaml.safe_load(text)
    other = {"rules_file": "rules_files", "rules_files": "rules_file"}[falco.rules_key]
    assert config[falco.rules_key] == [falco_compat.RULES_FILE] and other not in config
    run_line = next(line for line in text.splitlines() if line.startswith("# Run:"))
    if falco.engine_kind:
        assert config["engine"] == {"kind": "nodriver"} and "--disable-source" not in run_line
    else:
        assert "engine" not in config and run_line.endswith("falco -c falco.yaml --disable-source syscall")
    open_params = config["plugins"][0]["open_params"]
    if falco.env_vars:
        assert open_params == f"${{{URL_ENV}}}" and f"{URL_ENV}=" in run_line
    else:
        assert "$" not in open_params and open_params.startswith("wss://")
    assert ("plugins_hostinfo" in config) == falco.plugins_hostinfo
    if falco.plugins_hostinfo:
        assert config["plugins_hostinfo"] is False
    assert config.get("metrics", {}).get("plugins_metrics_enabled", False) == bool(falco.plugins_metrics)
    assert re.search(r"falcoctl artifact install k8saudit-rules:0\.18$", text, re.M)
    assert config["plugins"][1]["library_path"].endswith("/libk8saudit-ovh-json.so")  # the native json
    upstream = falco_config_output_with(["--json", "upstream"], falco.minor, capsys)
    install = re.search(r"falcoctl artifact install k8saudit-rules:(\S+) json:(\S+)", upstream)
    assert install.group(1) == "0.18" and install.group(2) == falco.json_version


@pytest.mark.parametrize("falco", [SUPPORTED[0], SUPPORTED[-1]], ids=lambda f: f.minor)
def test_falco_config_writes_given_init_config_as_a_mapping(host, plugin, init_schema, capsys, falco):
    settings = {"maxEventSize": 1048576, "verifyTLS": True, "backoffMaxS": 60.5}
    assert main(["falco-config", "--falco-version", falco.minor, "--config", json.dumps(settings)]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["plugins"][0]["init_config"] == settings
    start_plugin(host, plugin, init_schema, config, falco)
    assert main(["falco-config", "--config", '{"maxEventSize": "big"}']) == 2
    assert "maxEventSize" in capsys.readouterr().err


def test_falco_config_writes_a_given_url_on_every_version(capsys):
    url = "wss://gra1.logs.ovh.com/tail/?tk=abc"
    for falco in SUPPORTED:
        assert main(["falco-config", "--falco-version", falco.minor, "--url", url]) == 0
        assert yaml.safe_load(capsys.readouterr().out)["plugins"][0]["open_params"] == url


def test_falco_config_refuses_an_unknown_version(capsys):
    assert main(["falco-config", "--falco-version", "0.34"]) == 2
    assert "0.35" in capsys.readouterr().err
    assert main(["falco-config", "--falco-version", "0.38.1"]) == 0  # a patch release: its minor's row
    assert "rules_files:" in capsys.readouterr().out


@pytest.mark.parametrize("name, config", documented_configs(), ids=lambda x: x if isinstance(x, str) else "")
def test_documented_config_starts_the_plugin_on_falco_0_38_and_later(host, plugin, init_schema, name, config):
    assert "rules_files" in config and "rules_file" not in config
    assert all(f.rules_key == "rules_files" and f.env_vars and f.engine_kind for f in FROM_0_38)
    if "engine" in config:
        assert config["engine"] == {"kind": "nodriver"}
    else:  # the chart passes --disable-source syscall when the driver is disabled
        assert name.startswith("deploy/helm")
    start_plugin(host, plugin, init_schema, config, FROM_0_38[0])


@pytest.mark.parametrize("name, config", documented_configs(), ids=lambda x: x if isinstance(x, str) else "")
def test_documented_env_var_fails_open_clearly_where_falco_does_not_expand_it(host, plugin, name, config):
    """On Falco 0.35/0.36 `${K8SAUDIT_OVH_URL}` reaches the plugin as is: open fails at once,
    naming the cause, instead of resolving it as a host name and retrying forever."""
    ours = next(p for p in config["plugins"] if p["name"] == "k8saudit-ovh")
    assert ours["open_params"] == f"${{{URL_ENV}}}"
    run = run_host(host, plugin, ours["open_params"], config=init_config_string(ours), timeout=60)
    assert run.end["end"] == "open-failure", run.end
    assert f"unexpanded ${{{URL_ENV}}}" in run.end["error"] and "Falco >= 0.37" in run.end["error"]


def test_empty_init_config_mapping_starts_the_plugin(host, plugin, init_schema):
    """`init_config: {}` (what earlier documentation wrote) reaches the plugin as JSON null."""
    config = yaml.safe_load("plugins:\n  - name: k8saudit-ovh\n    init_config: {}\n")
    init = init_config_string(config["plugins"][0])
    assert init == "null"
    jsonschema.Draft4Validator(init_schema).validate(json.loads(init))
    run = run_host(host, plugin, f"file://{DEMO}", ["ka.verb"], config=init)
    assert run.end["end"] == "eof" and run.end["events"] == DEMO_EVENTS


def test_every_supported_falco_loads_the_plugin_and_the_json_it_is_told_to_use(host, plugin):
    run = run_host(host, plugin, info=True)
    for falco in SUPPORTED:
        assert falco_compat.api_accepts(falco.plugin_api, run.info["api"]), falco.minor
        assert falco_compat.api_accepts(falco.plugin_api, dict(falco_compat.JSON_RELEASES)[falco.json_version])

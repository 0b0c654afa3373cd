"""What each supported Falco release does with this plugin's configuration: one row per
Falco minor release. `k8saudit-ovh falco-config --falco-version X.Y` and the README's
compatibility table are both made from it.

Stdlib only: tools/readme_tables.py imports this file by path.

Where each fact was read (falcosecurity repositories, at the release tags):
- plugin API: libs userspace/plugin/plugin_api.h, for the libs version that falco's
  cmake/modules/falcosecurity-libs.cmake pins at x.y.0 (later patches may pin a higher one);
- falcoctl: falco cmake/modules/falcoctl.cmake, FALCOCTL_VERSION at x.y.0;
- `${VAR}`: falco userspace/falco/yaml_helper.h, pre_process_env_vars (0.37.0) expands every
  value; 0.36 expands only values read with get_scalar, which open_params is not;
- rules key: falco configuration.cpp load_yaml reads only `rules_file` before 0.38.0; from
  0.38.0 `rules_files` (the old key still works; both at once is an error);
- plugin-only mode: configuration.cpp load_engine_config accepts `engine.kind: nodriver` from
  0.37.0; before, the syscall source must be disabled on the command line;
- metrics.plugins_metrics_enabled: configuration.cpp from 0.38.1;
- plugins_hostinfo: configuration.cpp from 0.40.0;
- json plugin: plugins/json go.mod pins plugin-sdk-go, whose pkg/sdk/plugin_api.h is the API
  the plugin requires.
"""
from __future__ import annotations

from dataclasses import dataclass

RULES_FILE = "/etc/falco/k8s_audit_rules.yaml"
URL_ENV = "K8SAUDIT_OVH_URL"
# Directory-carrying artifacts (k8saudit_ovh/artifact.py): 0.7.0 fails on reinstall and
# loses file modes.
FALCOCTL_FOR_ARTIFACT = "0.7.1"

# json plugin releases the official k8s_audit_rules.yaml accepts (json >= 0.7.0), with the
# plugin API each requires: built with plugin-sdk-go 0.7.1 (0.7.0), 0.7.3 (0.7.1, 0.7.2),
# 0.7.4 (0.7.3): API 3.0.0; with plugin-sdk-go 0.8.3 (0.7.4): API 3.11.0.
JSON_RELEASES = (("0.7.0", "3.0.0"), ("0.7.1", "3.0.0"), ("0.7.2", "3.0.0"), ("0.7.3", "3.0.0"),
                 ("0.7.4", "3.11.0"))


@dataclass(frozen=True)
class Falco:
    minor: str                   # "0.38"
    plugin_api: str              # plugin API of x.y.0
    falcoctl: str                # falcoctl bundled with x.y.0
    env_vars: bool               # `${VAR}` in open_params is expanded from the environment
    rules_key: str               # "rules_file" or "rules_files"
    engine_kind: bool            # `engine.kind: nodriver` exists; else `--disable-source syscall`
    plugins_metrics: str | None  # first release that exports plugin metrics
    plugins_hostinfo: bool       # the `plugins_hostinfo` key exists
    # The release run with this plugin (real Falco built from public sources, issue 14: loads,
    # 66/66 falcosecurity/testing k8saudit cases); None: the row comes from the sources only.
    measured: str | None = None

    @property
    def json_version(self) -> str:
        """The newest json release this Falco loads."""
        return [v for v, api in JSON_RELEASES if api_accepts(self.plugin_api, api)][-1]

    @property
    def command_flags(self) -> list[str]:
        """What `falco` needs on the command line to run plugin events only."""
        return [] if self.engine_kind else ["--disable-source", "syscall"]


SUPPORTED: tuple[Falco, ...] = (
    Falco("0.35", "3.0.0", "0.5.1", False, "rules_file", False, None, False, "0.35.1"),
    Falco("0.36", "3.1.0", "0.6.2", False, "rules_file", False, None, False),
    Falco("0.37", "3.2.0", "0.7.1", True, "rules_file", True, None, False),
    Falco("0.38", "3.5.0", "0.8.0", True, "rules_files", True, "0.38.1", False),
    Falco("0.39", "3.7.0", "0.10.0", True, "rules_files", True, "0.39.0", False),
    Falco("0.40", "3.10.0", "0.11.0", True, "rules_files", True, "0.40.0", True),
    Falco("0.41", "3.11.0", "0.11.2", True, "rules_files", True, "0.41.0", True),
    Falco("0.42", "3.12.0", "0.11.4", True, "rules_files", True, "0.42.0", True),
    Falco("0.43", "3.12.0", "0.12.2", True, "rules_files", True, "0.43.0", True),
    Falco("0.44", "3.12.0", "0.13.0", True, "rules_files", True, "0.44.0", True, "0.44.1"),
)
NEWEST = SUPPORTED[-1]
PLUGIN_METRICS_SINCE = next(f.plugins_metrics for f in SUPPORTED if f.plugins_metrics)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


def api_accepts(host_api: str, required: str) -> bool:
    """Falco loads a plugin that requires the same major API and a minor not above its own."""
    host, need = _version(host_api), _version(required)
    return host[0] == need[0] and host[1:] >= need[1:]


def lookup(version: str) -> Falco:
    """The row of a Falco version given as X.Y or X.Y.Z; ValueError names the supported ones."""
    minor = ".".join(version.strip().split(".")[:2])
    for falco in SUPPORTED:
        if falco.minor == minor:
            return falco
    raise ValueError(f"Falco {version} is not a supported version (supported: "
                     f"{', '.join(f.minor for f in SUPPORTED)})")


def json_cell(f: Falco) -> str:
    oldest, newest = JSON_RELEASES[0][0], JSON_RELEASES[-1][0]
    loaded = f"{oldest}–{f.json_version}"
    return loaded if f.json_version == newest else f"{loaded} (not {newest})"


def metrics_cell(f: Falco) -> str:
    if f.plugins_metrics is None:
        return "no"
    return "yes" if f.plugins_metrics == f"{f.minor}.0" else f"from {f.plugins_metrics}"


def markdown_table() -> str:
    rows = ["| Falco | plugin API (x.y.0) | `${VAR}` in open_params | rules key | plugin events only | json plugin "
            "| plugin metrics | `plugins_hostinfo` | falcoctl (bundled) | verified |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for f in SUPPORTED:
        only = "`engine.kind: nodriver`" if f.engine_kind else f"`{' '.join(f.command_flags)}`"
        falcoctl = f.falcoctl + ("" if _version(f.falcoctl) >= _version(FALCOCTL_FOR_ARTIFACT) else
                                 f" (artifact needs ≥ {FALCOCTL_FOR_ARTIFACT})")
        verified = f"run on real Falco {f.measured}" if f.measured else "source reading"
        rows.append(f"| {f.minor} | {f.plugin_api} | {'yes' if f.env_vars else 'no: write the URL'} "
                    f"| `{f.rules_key}` | {only} | {json_cell(f)} | {metrics_cell(f)} "
                    f"| {'yes' if f.plugins_hostinfo else 'no'} | {falcoctl} | {verified} |")
    return "\n".join(rows)

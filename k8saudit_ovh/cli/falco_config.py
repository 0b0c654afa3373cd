"""The falco.yaml that `k8saudit-ovh falco-config` prints, for one Falco release
(k8saudit_ovh/falco_compat.py says what that release reads)."""
from __future__ import annotations

import json
from pathlib import Path

from .._version import VERSION
from .falco_compat import PLUGIN_METRICS_SINCE, RULES_FILE, URL_ENV, Falco
from ..paths import JSON_PLUGIN_LIBRARY

JSON_PLUGINS = ("native", "upstream")  # ours, shipped beside the plugin; falcosecurity's

URL_PLACEHOLDER = "wss://<ldp-cluster>.logs.ovh.com/tail/?tk=<token>"


def render(falco: Falco, library_path: str, url: str | None, init_config: dict | None = None,
           json_plugin: str = "native") -> str:
    """A complete falco.yaml running this plugin's events only, with the official rules and
    the json plugin they need: ours (next to `library_path`) or falcosecurity's.

    `init_config` is written as a mapping when it has keys; else left out (all defaults,
    passed as "" on every Falco: an empty mapping would be passed as JSON `null`, which
    earlier builds of this plugin refused)."""
    run = " ".join(["falco", "-c", "falco.yaml", *falco.command_flags])
    lines = [
        f"# falco.yaml for Falco {falco.minor} (k8saudit-ovh {VERSION}): OVHcloud MKS audit logs from",
        "# Logs Data Platform, with the official k8s_audit_rules.yaml.",
    ]
    if json_plugin == "native":
        lines += ["# Install the rules (the current rules on every Falco); the json plugin they need is the",
                  f"# native one beside this plugin ({JSON_PLUGIN_LIBRARY}):",
                  "#   falcoctl artifact install k8saudit-rules:0.18"]
        json_library = str(Path(library_path).with_name(JSON_PLUGIN_LIBRARY))
    else:
        lines += ["# Install the rules and the json plugin they need (the current rules on every Falco):",
                  f"#   falcoctl artifact install k8saudit-rules:0.18 json:{falco.json_version}"]
        json_library = "libjson.so"
    if falco.env_vars and not url:
        lines.append(f"# Run: {URL_ENV}='{URL_PLACEHOLDER}' {run}")
    else:
        lines.append(f"# Run: {run}")
    if falco.engine_kind:
        lines += ["#   (a file:// replay: add --disable-source syscall to make Falco stop at the end of the file)",
                  "engine:",
                  "  kind: nodriver  # plugin events only: no kernel driver"]
    else:
        lines.append(f"#   ({' '.join(falco.command_flags)}: this Falco has no engine.kind, and would open "
                     "the kernel driver)")
    lines += [
        "plugins:",
        "  - name: k8saudit-ovh",
        f"    library_path: {library_path}",
    ]
    if init_config:
        lines.append(f"    init_config: {json.dumps(init_config)}")  # JSON is a YAML flow mapping
    else:
        lines += ["    # init_config: all defaults; to change one, a mapping such as {maxEventSize: 1048576}.",
                  "    # Gap-free history (README, No gaps; `k8saudit-ovh setup` writes it) takes the alias'",
                  "    # URL and one way to authenticate: user + password (LDP credentials; on an IAM-enabled",
                  "    # service user pat_jwt_<x> and an IAM token), token (IAM Bearer), or clientId +",
                  "    # clientSecret (IAM service account, its token renewed by the plugin), e.g.",
                  "    # init_config: {history: {url: \"https://<ldp-cluster>.logs.ovh.com:9200/<alias>\",",
                  "    #   clientId: \"<id>\", clientSecret: \"${LDP_IAM_CLIENT_SECRET}\"}}"]
    if url:
        lines += ["    # The LDP WebSocket tail URL (see `k8saudit-ovh check`); it holds the token: keep",
                  "    # this file readable by root only.",
                  f"    open_params: {json.dumps(url)}"]
    elif falco.env_vars:
        lines += ["    # The LDP WebSocket tail URL, read by Falco from the environment (${VAR}: Falco",
                  "    # >= 0.37), which keeps the token out of this file.",
                  f"    open_params: \"${{{URL_ENV}}}\""]
    else:
        lines += ["    # This Falco does not expand ${VAR} (Falco >= 0.37 does): replace this with the LDP",
                  "    # WebSocket tail URL, and keep this file readable by root only",
                  f"    # (`k8saudit-ovh falco-config --falco-version {falco.minor} --url URL` writes it).",
                  f"    open_params: {json.dumps(URL_PLACEHOLDER)}"]
    lines += [
        "  - name: json",
        f"    library_path: {json_library}",
        "load_plugins: [k8saudit-ovh, json]",
        f"{falco.rules_key}:",
        f"  - {RULES_FILE}",
    ]
    if falco.plugins_hostinfo:
        lines.append("plugins_hostinfo: false  # the plugin needs no host info (no /proc mount in a pod)")
    if falco.plugins_metrics:
        lines += [f"metrics:  # the plugin's counters as k8saudit-ovh.* metrics (Falco >= {PLUGIN_METRICS_SINCE})",
                  "  enabled: true",
                  "  interval: 1m",
                  "  output_rule: true",
                  "  plugins_metrics_enabled: true"]
    return "\n".join(lines) + "\n"

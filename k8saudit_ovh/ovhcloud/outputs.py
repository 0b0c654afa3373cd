"""The files `setup` writes: a falco.yaml (k8saudit_ovh.cli.falco_config, as `falco-config`
prints it), Helm values for the official Falco chart (the project's deploy/helm/values.yaml,
shipped as chart_values.yaml) and the Kubernetes Secret they read. The tail token and the
history's secret (LDP password, IAM token or service account secret) are only in the Secret
(mode 0600); the configurations name them as ${VAR}."""
from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from .._version import VERSION
from ..cli import falco_config
from ..cli.falco_compat import URL_ENV, Falco
from .credentials import SecretItem

SECRET_NAME = "k8saudit-ovh-ldp"   # as deploy/helm/values.yaml reads it
SECRET_URL_KEY = "url"
LIBRARY = "libk8saudit-ovh.so"     # in Falco's plugins directory (falcoctl, or `k8saudit-ovh install`)
FALCO_YAML, HELM_VALUES, SECRET = "falco.yaml", "values.yaml", "secret.yaml"
_HELM_PLUGIN_ANCHOR = f"      library_path: {LIBRARY}\n"


def falco_yaml(falco: Falco, about: str, history: dict, secret: SecretItem) -> str:
    where = f"# {URL_ENV} is the `{SECRET_URL_KEY}` of {SECRET}, {secret.env} its `{secret.key}`.\n"
    return f"# {about}\n{where}" + falco_config.render(falco, LIBRARY, None, {"history": history})


def helm_values(about: str, namespace: str, history: dict, secret: SecretItem) -> str:
    base = (resources.files(__package__) / "chart_values.yaml").read_text(encoding="utf-8")
    body = base.split("\n\n", 1)[1]  # after the base file's own header comment
    header = (f"# {about}\n"
              f"# Helm values for the official Falco chart (k8saudit-ovh {VERSION} deploy/helm/values.yaml):\n"
              f"#   kubectl create namespace {namespace}\n"
              f"#   kubectl apply -f {SECRET}\n"
              f"#   helm repo add falcosecurity https://falcosecurity.github.io/charts\n"
              f"#   helm install falco falcosecurity/falco -n {namespace} -f {HELM_VALUES}\n")
    if _HELM_PLUGIN_ANCHOR not in body or not body.rstrip().endswith(f"key: {SECRET_URL_KEY}"):
        raise RuntimeError("chart_values.yaml changed shape: the history block has no place to go")
    plugin = f"      init_config: {json.dumps({'history': history})}  # the gap-free history (README, No gaps)\n"
    body = body.replace(_HELM_PLUGIN_ANCHOR, _HELM_PLUGIN_ANCHOR + plugin, 1)
    env = [f"    - name: {secret.env}\n", "      valueFrom:\n", "        secretKeyRef:\n",
           f"          name: {SECRET_NAME}\n", f"          key: {secret.key}\n"]
    return header + "\n" + body.rstrip("\n") + "\n" + "".join(env)


def secret_manifest(about: str, namespace: str, url: str, secret: SecretItem) -> str:
    lines = [f"# {about}",
             "# The LDP tail URL (its token) and the history's secret: keep this file private.",
             f"#   kubectl apply -f {SECRET}",
             "apiVersion: v1", "kind: Secret", "metadata:", f"  name: {SECRET_NAME}", f"  namespace: {namespace}",
             "type: Opaque", "stringData:", f"  {SECRET_URL_KEY}: {json.dumps(url)}"]
    if secret.value is not None:
        lines.append(f"  {secret.key}: {json.dumps(secret.value)}")
    return "\n".join(lines) + "\n"


def write(directory: Path, files: dict[str, str]) -> list[Path]:
    """Writes each file that differs from `files` (the Secret with mode 0600, from its creation
    on); the ones written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = directory / name
        mode = 0o600 if name == SECRET else 0o644
        if _holds(path, text, mode):
            continue
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), mode)  # an existing file keeps its mode otherwise
            out.write(text)
        written.append(path)
    return written



def _holds(path: Path, text: str, mode: int) -> bool:
    try:
        return (path.stat().st_mode & 0o777) == mode and path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False

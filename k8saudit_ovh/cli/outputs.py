"""The files `setup` writes: a falco.yaml (k8saudit_ovh.cli.falco_config, as `falco-config`
prints it), Helm values for the official Falco chart (the project's deploy/helm/values.yaml,
shipped as chart_values.yaml) and the Kubernetes Secret they read. The tail token and the LDP
password are only in the Secret (mode 0600); the configurations name them as ${VAR}."""
from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from . import falco_config
from .._version import VERSION
from .falco_compat import URL_ENV, Falco

SECRET_NAME = "k8saudit-ovh-ldp"   # as deploy/helm/values.yaml reads it
SECRET_URL_KEY = "url"
SECRET_PASSWORD_KEY = "password"
PASSWORD_ENV = "LDP_PASSWORD"      # what the configurations read the password from
LIBRARY = "libk8saudit-ovh.so"     # in Falco's plugins directory (falcoctl, or `k8saudit-ovh install`)
FALCO_YAML, HELM_VALUES, SECRET = "falco.yaml", "values.yaml", "secret.yaml"
_HELM_PLUGIN_ANCHOR = f"      library_path: {LIBRARY}\n"


def history_config(search_url: str, user: str) -> dict:
    return {"history": {"url": search_url, "user": user, "password": f"${{{PASSWORD_ENV}}}"}}


def falco_yaml(falco: Falco, about: str, history: dict | None) -> str:
    where = (f"# {URL_ENV} is the `{SECRET_URL_KEY}` of {SECRET}"
             + (f", {PASSWORD_ENV} its `{SECRET_PASSWORD_KEY}`" if history else "") + ".\n")
    return f"# {about}\n{where}" + falco_config.render(falco, LIBRARY, None, history or None)


def helm_values(about: str, namespace: str, history: dict | None) -> str:
    base = (resources.files(__package__) / "chart_values.yaml").read_text(encoding="utf-8")
    body = base.split("\n\n", 1)[1]  # after the base file's own header comment
    header = (f"# {about}\n"
              f"# Helm values for the official Falco chart (k8saudit-ovh {VERSION} deploy/helm/values.yaml):\n"
              f"#   kubectl create namespace {namespace}\n"
              f"#   kubectl apply -f {SECRET}\n"
              f"#   helm repo add falcosecurity https://falcosecurity.github.io/charts\n"
              f"#   helm install falco falcosecurity/falco -n {namespace} -f {HELM_VALUES}\n")
    if history:
        if _HELM_PLUGIN_ANCHOR not in body or not body.rstrip().endswith(f"key: {SECRET_URL_KEY}"):
            raise RuntimeError("chart_values.yaml changed shape: the history block has no place to go")
        plugin = f"      init_config: {json.dumps(history)}  # the gap-free history (README, No gaps)\n"
        body = body.replace(_HELM_PLUGIN_ANCHOR, _HELM_PLUGIN_ANCHOR + plugin, 1)
        env = [f"    - name: {PASSWORD_ENV}\n", "      valueFrom:\n", "        secretKeyRef:\n",
               f"          name: {SECRET_NAME}\n", f"          key: {SECRET_PASSWORD_KEY}\n"]
        body = body.rstrip("\n") + "\n" + "".join(env)
    return header + "\n" + body


def secret_manifest(about: str, namespace: str, url: str, password: str | None) -> str:
    lines = [f"# {about}",
             "# The LDP tail URL (its token) and the LDP password: keep this file private.",
             f"#   kubectl apply -f {SECRET}",
             "apiVersion: v1", "kind: Secret", "metadata:", f"  name: {SECRET_NAME}", f"  namespace: {namespace}",
             "type: Opaque", "stringData:", f"  {SECRET_URL_KEY}: {json.dumps(url)}"]
    if password is not None:
        lines.append(f"  {SECRET_PASSWORD_KEY}: {json.dumps(password)}")
    return "\n".join(lines) + "\n"


def write(directory: Path, files: dict[str, str]) -> list[Path]:
    """Writes each file (the Secret with mode 0600, from its creation on)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = directory / name
        mode = 0o600 if name == SECRET else 0o644
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), mode)  # an existing file keeps its mode otherwise
            out.write(text)
        written.append(path)
    return written


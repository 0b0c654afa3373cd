"""`k8saudit-ovh setup` against a fake OVHcloud API on loopback (tests/fake_ovh_api.py), with
python-ovh pointed at it through a registered endpoint name, on a legacy LDP service and on an
IAM-enabled one (IAM token, or service account): what it creates and changes, that a second
run and a dry run write nothing, its failures (403s by cause, unusable services, a cluster that
stays REDEPLOYING), `--check`, and the files it writes (golden files; the falco.yaml and Helm
values start the plugin in the C host, with tests/ldp_server.py as the WebSocket tail)."""
import base64
import configparser
import io
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
import requests
import yaml

from c_host import run_host
from fake_ovh_api import APP_KEY, APP_SECRET, CONSUMER_KEY, STREAM_UPDATE_DEFAULTS, FakeOvhApi
from k8saudit_ovh import config as plugin_config
from k8saudit_ovh._version import VERSION
from k8saudit_ovh.cli import falco_compat
from k8saudit_ovh.cli.demo_server import demo_frames
from k8saudit_ovh.cli.main import main
from k8saudit_ovh.ovhcloud import api as ovh_api, api_calls, choose, cluster, credentials, operations
from k8saudit_ovh.paths import demo_events_path
from ldp_server import Behavior, LdpServer
from test_falco_configs import expand_env, init_config_string, init_schema  # noqa: F401 (a fixture)

ovh = pytest.importorskip("ovh")

ENDPOINT = "k8saudit-ovh-fake"
PROJECT = "5f0d2c6e8b3a4f1e9c7d6b5a4f3e2d1c"
CLUSTER = "prod-gra7"
SERVICE = "ldp-ab-12345"
USERNAME = "logs-ab-12345"
TITLE = "mks-audit-prod-gra7"
TOKEN = "tailtoken-0123456789abcdef"
IAM_TOKEN = "eyJ.pat-token.0123456789abcdef"
SA_ID, SA_SECRET = "EU.0123456789abcdef", "sa-client-secret-0123456789"
GOLDEN = Path(__file__).resolve().parent / "golden" / "setup"
SAMPLE = demo_events_path()
SAMPLE_EVENTS = sum(1 for line in SAMPLE.read_text().splitlines() if line.strip())
KINDS = ("legacy", "iam-token", "iam-service-account")


@pytest.fixture
def fake(monkeypatch, tmp_path):
    with FakeOvhApi() as api:
        monkeypatch.setitem(ovh.client.ENDPOINTS, ENDPOINT, api.endpoint)
        monkeypatch.setitem(plugin_config.TOKEN_URLS, ENDPOINT, api.token_url)
        monkeypatch.setattr(ovh.config.config, "config", configparser.RawConfigParser())  # no ~/.ovh.conf
        for name in [n for n in os.environ if n.startswith(("OVH_", "LDP_", "MY_"))]:
            monkeypatch.delenv(name)
        for name, value in (("ENDPOINT", ENDPOINT), ("APPLICATION_KEY", APP_KEY),
                            ("APPLICATION_SECRET", APP_SECRET), ("CONSUMER_KEY", CONSUMER_KEY)):
            monkeypatch.setenv(f"OVH_{name}", value)
        monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake's token endpoint: http:// on loopback
        monkeypatch.setattr(operations, "FIRST_POLL_S", 0.01)
        monkeypatch.setattr(cluster, "SETTLE_S", 0.01)
        monkeypatch.chdir(tmp_path)
        api.kube_id = api.add_cluster(PROJECT, CLUSTER)
        api.ldp = api.add_service(SERVICE, "audit-logs")
        api.tail_address = f"ws://127.0.0.1:9/tail/?tk={TOKEN}"
        yield api


@dataclass
class Kind:
    """How the history authenticates on one kind of LDP service."""
    name: str
    args: list
    secret: str        # the history's secret
    secret_key: str    # its key in the Secret
    env: str           # the variable the configurations read it from

    def history(self, fake: FakeOvhApi, url: str) -> dict:
        """The init_config history block the plugin must get."""
        if self.name == "legacy":
            return {"url": url, "user": USERNAME, "password": "${LDP_PASSWORD}"}
        if self.name == "iam-token":
            return {"url": url, "token": "${LDP_IAM_TOKEN}"}
        return {"url": url, "clientId": SA_ID, "clientSecret": "${LDP_IAM_CLIENT_SECRET}", "tokenUrl": fake.token_url}


def use(name: str, fake: FakeOvhApi, monkeypatch) -> Kind:
    if name == "legacy":
        monkeypatch.setenv("MY_LDP_PASSWORD", fake.ldp.password)
        return Kind(name, ["--password-env", "MY_LDP_PASSWORD"], fake.ldp.password, "password", "LDP_PASSWORD")
    fake.ldp.iam = True
    if name == "iam-token":
        fake.iam_tokens.add(IAM_TOKEN)
        monkeypatch.setenv("MY_IAM_TOKEN", IAM_TOKEN)
        return Kind(name, ["--iam-token-env", "MY_IAM_TOKEN"], IAM_TOKEN, "iamToken", "LDP_IAM_TOKEN")
    fake.service_accounts[SA_ID] = SA_SECRET
    monkeypatch.setenv("LDP_IAM_CLIENT_SECRET", SA_SECRET)  # the default --service-account-secret-env
    return Kind(name, ["--service-account", SA_ID], SA_SECRET, "iamClientSecret", "LDP_IAM_CLIENT_SECRET")


@pytest.fixture(params=KINDS)
def kind(request, fake, monkeypatch) -> Kind:
    return use(request.param, fake, monkeypatch)


@pytest.fixture
def legacy(fake, monkeypatch) -> Kind:
    return use("legacy", fake, monkeypatch)


def setup(capsys, *args):
    code = main(["setup", "--project", PROJECT, "--cluster", CLUSTER, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def call_of(method: str, path: str) -> api_calls.Call:
    """The listed call (README table) a request was."""
    path = path.partition("?")[0]
    return next(c for c in api_calls.CALLS if c.method == method
                and re.fullmatch(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(c.template)), path))


def write_calls(fake):
    """The listed call of each write request, and its body."""
    return [(call_of(method, path), body) for method, path, body in fake.writes]


def written() -> dict[str, str]:
    out = Path("k8saudit-ovh-setup")
    return {p.name: p.read_text() for p in out.iterdir()} if out.exists() else {}


def history_of(text: str) -> dict:
    """The init_config history block of a generated falco.yaml or Helm values file."""
    (line,) = [line for line in text.splitlines() if '"history"' in line]
    assert not line.lstrip().startswith("#")
    return yaml.safe_load(line.split("  #")[0].strip())["init_config"]["history"]


def search_status(history: dict) -> int:
    """The status of a `_search` sent with the history's credentials (${VAR}s expanded) as
    the plugin sends them: Basic, Bearer token, or a token fetched with the client credentials."""
    url, headers, auth = history["url"] + "/_search", {}, None
    if "password" in history:
        auth = (history["user"], history["password"])
    elif "token" in history:
        headers["Authorization"] = f"Bearer {history['token']}"
    else:
        answer = requests.post(history["tokenUrl"], data={"grant_type": "client_credentials", "scope": "all"},
                               auth=(history["clientId"], history["clientSecret"]), timeout=30)
        headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    return requests.post(url, json={"size": 0}, headers=headers, auth=auth, timeout=30).status_code


def secret_env(kind: Kind) -> dict[str, str]:
    """The environment Falco gets from the generated Secret (mode 0600)."""
    path = Path("k8saudit-ovh-setup/secret.yaml")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = yaml.safe_load(path.read_text())["stringData"]
    return {falco_compat.URL_ENV: data["url"], kind.env: data[kind.secret_key]}


# ---- setup, end to end, on each kind of LDP service -------------------------------------------

def test_first_run_creates_each_object_and_a_second_run_writes_nothing(fake, kind, capsys):
    code, out, err = setup(capsys, *kind.args)
    assert code == 0, err
    writes = write_calls(fake)
    assert [c for c, _ in writes] == [api_calls.CREATE_STREAM, api_calls.CREATE_SUBSCRIPTION,
                                      api_calls.CREATE_ALIAS, api_calls.ATTACH_ALIAS_STREAM]
    (stream_id,) = fake.ldp.streams
    (alias_id,) = fake.ldp.aliases
    assert writes[0][1]["title"] == TITLE
    assert writes[0][1]["webSocketEnabled"] is True and writes[0][1]["indexingEnabled"] is True
    stream = fake.ldp.streams[stream_id]
    assert stream["webSocketEnabled"] is True and stream["indexingEnabled"] is True
    assert writes[1][1] == {"kind": "audit", "streamId": stream_id}
    assert writes[2][1]["suffix"] == "k8saudit-prod-gra7"
    assert writes[3][1] == {"streamId": stream_id}
    alias = fake.ldp.aliases[alias_id]["name"]
    assert alias == f"{SERVICE if kind.name != 'legacy' else USERNAME}-a-k8saudit-prod-gra7"
    assert fake.ldp.alias_streams[alias_id] == [stream_id]
    (subscription,) = fake.subscriptions[(PROJECT, fake.kube_id)].values()
    assert subscription["streamId"] == stream_id and subscription["kind"] == "audit"
    # the cluster redeployed after the subscription; setup waited until it was READY again
    assert fake.statuses[-3:] == ["REDEPLOYING", "REDEPLOYING", "READY"]
    assert f"  cluster {CLUSTER}: REDEPLOYING\n  cluster {CLUSTER}: READY\n" in err
    assert out.index(f"cluster: {CLUSTER} is READY") < out.index("OpenSearch alias:")
    assert f"stream {TITLE} ({stream_id}) in LDP service {SERVICE}" in out
    # a config whose history authenticates, with the secret from the Secret
    files = written()
    history = history_of(files["falco.yaml"])
    assert history == kind.history(fake, f"{fake.search_address()}/{alias}")
    assert search_status(json.loads(expand_env(json.dumps(history), secret_env(kind)))) == 200
    made = {call_of(method, path) for method, path, _ in fake.calls}  # every request is a listed call
    out_dir = Path("k8saudit-ovh-setup")
    mtimes = {p.name: p.stat().st_mtime_ns for p in out_dir.iterdir()}
    for p in out_dir.iterdir():  # a rewrite would show even within the file system's time granularity
        os.utime(p, ns=(mtimes[p.name] - 10**9, mtimes[p.name] - 10**9))
    mtimes = {p.name: p.stat().st_mtime_ns for p in out_dir.iterdir()}

    fake.calls.clear()
    code, out, err = setup(capsys, *kind.args)
    assert code == 0, err
    assert fake.writes == [] and fake.calls, "the second run reads and writes nothing"
    made |= {call_of(method, path) for method, path, _ in fake.calls}
    assert made == set(api_calls.CALLS) - {api_calls.EDIT_STREAM}  # the README lists no call it never makes
    assert "created: nothing (everything existed)" in out and "wrote: nothing" in out
    assert written() == files and all(p.stat().st_mtime_ns == mtimes[p.name] for p in out_dir.iterdir())


def test_secrets_are_only_in_the_secret_file(fake, kind, capsys):
    code, out, err = setup(capsys, *kind.args)
    assert code == 0, err
    files = written()
    secrets = (TOKEN, kind.secret, APP_SECRET, CONSUMER_KEY, fake.ldp.password)
    for text in (out, err, files["falco.yaml"], files["values.yaml"]):
        assert not any(s in text for s in secrets)
    assert yaml.safe_load(files["secret.yaml"])["stringData"] == {"url": fake.tail_address,
                                                                  kind.secret_key: kind.secret}
    if kind.name != "legacy":
        assert "ldp:opensearch:alias/read" in out  # what the IAM identity needs on the alias


def test_dry_run_lists_every_call_and_writes_nothing(fake, kind, capsys):
    code, out, err = setup(capsys, *kind.args, "--dry-run")
    assert code == 0, err
    assert fake.writes == [], "a dry run sends no write call"
    assert not Path("k8saudit-ovh-setup").exists()
    for method, path, _ in fake.calls:
        assert f"  {method} {path}\n" in out  # every read it made is listed
    base = f"/dbaas/logs/{SERVICE}/output"
    kube = f"/cloud/project/{PROJECT}/kube/{fake.kube_id}"
    listed = re.findall(r"would call (\w+) (\S+)(?: (\{.*\}))?", out)
    assert [(m, p) for m, p, _ in listed] == [
        ("POST", f"{base}/graylog/stream"), ("POST", f"{kube}/log/subscription"),
        ("GET", f"{base}/graylog/stream/<new>/url"), ("POST", f"{base}/opensearch/alias"),
        ("GET", f"{base}/opensearch/alias/<new>/stream"), ("POST", f"{base}/opensearch/alias/<new>/stream"),
        ("GET", f"{base}/opensearch/alias/<new>/url")]
    bodies = [json.loads(b) for _, _, b in listed if b]
    assert bodies[0]["webSocketEnabled"] is True and bodies[0]["indexingEnabled"] is True
    assert bodies[1] == {"kind": "audit", "streamId": "<new>"}
    assert f"then: wait until cluster {CLUSTER} is READY again" in out


def test_dry_run_after_a_setup_lists_no_write(fake, kind, capsys):
    assert setup(capsys, *kind.args)[0] == 0
    files = written()
    fake.calls.clear()
    code, out, err = setup(capsys, *kind.args, "--dry-run")
    assert code == 0, err
    assert fake.writes == [] and "would call" not in out and "READY again" not in out
    assert written() == files


# ---- an existing stream ---------------------------------------------------------------------

# Every writable setting away from what a reset would make it: a partial update shows.
USER_SETTINGS = {"description": "Team audit stream, do not touch", "indexingMaxSize": 50,
                 "indexingNotifyEnabled": True, "pauseIndexingOnMaxSize": True, "coldStorageEnabled": True,
                 "coldStorageCompression": "ZSTD", "coldStorageContent": "GELF", "coldStorageNotifyEnabled": True,
                 "coldStorageRetention": 2, "coldStorageTarget": "PCS", "encryptionKeysIds": ["key-0001"]}


def assert_only_websocket_and_indexing_changed(before: dict, after: dict) -> None:
    assert after["webSocketEnabled"] is True and after["indexingEnabled"] is True
    changed = {k for k in before if before[k] != after[k]}
    assert changed <= {"webSocketEnabled", "indexingEnabled", "updatedAt"}, changed


def test_an_existing_stream_gets_indexing_only_once_accepted(fake, legacy, capsys, monkeypatch):
    stream_id = fake.add_stream(fake.ldp, TITLE, web_socket=False, indexing=False, **USER_SETTINGS)
    before = dict(fake.ldp.streams[stream_id])
    code, _, err = setup(capsys, *legacy.args)
    assert code == 1 and fake.writes == [] and written() == {}
    assert f"stream {TITLE} ({stream_id}) would change: WebSocket broadcasting off -> on, indexing off -> on" in err
    assert "pass --yes" in err and "nothing was created" in err

    monkeypatch.setattr(choose, "interactive", lambda: True)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, _, err = setup(capsys, *legacy.args)
    assert code == 1 and "not accepted" in err and "Go on? [y/N]" in err and fake.writes == []

    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    code, out, err = setup(capsys, *legacy.args)
    assert code == 0, err
    call, body = write_calls(fake)[0]
    assert call == api_calls.EDIT_STREAM
    assert body == {**{k: before[k] for k in ("title", *STREAM_UPDATE_DEFAULTS, "description")},
                    "webSocketEnabled": True, "indexingEnabled": True}
    assert_only_websocket_and_indexing_changed(before, fake.ldp.streams[stream_id])
    assert f"WebSocket broadcasting and indexing turned on for stream {TITLE} ({stream_id})" in out


def test_yes_accepts_the_change_without_a_terminal(fake, kind, capsys):
    stream_id = fake.add_stream(fake.ldp, "console-audit", web_socket=False, indexing=False, **USER_SETTINGS)
    fake.add_subscription(PROJECT, fake.kube_id, fake.ldp, stream_id)
    before = dict(fake.ldp.streams[stream_id])
    code, out, err = setup(capsys, *kind.args, "--yes")
    assert code == 0, err
    assert [c for c, _ in write_calls(fake)] == [api_calls.EDIT_STREAM, api_calls.CREATE_ALIAS,
                                                 api_calls.ATTACH_ALIAS_STREAM]
    assert_only_websocket_and_indexing_changed(before, fake.ldp.streams[stream_id])
    assert fake.ldp.streams[stream_id]["description"] == USER_SETTINGS["description"]
    history = history_of(written()["values.yaml"])
    assert search_status(json.loads(expand_env(json.dumps(history), secret_env(kind)))) == 200


def test_websocket_alone_is_turned_on_without_asking(fake, legacy, capsys):
    stream_id = fake.add_stream(fake.ldp, TITLE, web_socket=False, indexing=True, description="")
    before = dict(fake.ldp.streams[stream_id])
    code, out, err = setup(capsys, *legacy.args)
    assert code == 0, err
    call, body = write_calls(fake)[0]
    assert call == api_calls.EDIT_STREAM and body["description"] == "", "an empty description stays empty"
    assert api_calls.CREATE_STREAM not in [c for c, _ in write_calls(fake)]
    assert_only_websocket_and_indexing_changed(before, fake.ldp.streams[stream_id])
    assert f"WebSocket broadcasting turned on for stream {TITLE}" in out


def test_a_dry_run_says_it_would_ask(fake, legacy, capsys):
    fake.add_stream(fake.ldp, TITLE, web_socket=True, indexing=False)
    code, out, _ = setup(capsys, *legacy.args, "--dry-run")
    assert code == 0 and fake.writes == []
    assert "indexing off -> on" in out and "setup asks first" in out
    assert re.search(r"would call PUT \S+/graylog/stream/\S+ \{.*\"indexingEnabled\": true", out)


def test_the_stream_the_cluster_already_feeds_is_used(fake, legacy, capsys):
    stream_id = fake.add_stream(fake.ldp, "console-audit", web_socket=True)
    fake.add_subscription(PROJECT, fake.kube_id, fake.ldp, stream_id)
    code, out, err = setup(capsys, *legacy.args)
    assert code == 0, err
    assert [c for c, _ in write_calls(fake)] == [api_calls.CREATE_ALIAS, api_calls.ATTACH_ALIAS_STREAM]
    assert "stream: console-audit" in out
    assert "REDEPLOYING" not in fake.statuses, "no subscription, no redeployment"


# ---- IAM-enabled services: credentials and names ---------------------------------------------

def test_an_iam_service_without_a_credential_changes_nothing(fake, capsys, monkeypatch):
    fake.ldp.iam = True
    monkeypatch.setenv("LDP_PASSWORD", fake.ldp.password)
    code, _, err = setup(capsys)
    assert code == 1 and fake.writes == [] and written() == {}
    assert f"LDP service {SERVICE} has IAM enabled" in err
    assert "--iam-token-env VAR" in err and "--service-account CLIENT_ID --service-account-secret-env VAR" in err
    assert "ldp:opensearch:alias/read" in err and "nothing was created" in err
    code, _, err = setup(capsys, "--iam-token-env", "MY_UNSET_TOKEN")
    assert code == 1 and "$MY_UNSET_TOKEN is empty" in err and fake.writes == []


def test_iam_options_on_a_legacy_service_are_refused(fake, capsys, monkeypatch):
    monkeypatch.setenv("MY_IAM_TOKEN", IAM_TOKEN)
    code, _, err = setup(capsys, "--iam-token-env", "MY_IAM_TOKEN")
    assert code == 1 and "does not use IAM" in err and fake.writes == []


def test_a_service_account_secret_without_the_account_is_a_usage_error(fake, capsys):
    code, _, err = setup(capsys, "--service-account-secret-env", "X")
    assert code == 2 and fake.calls == []


@pytest.mark.parametrize("endpoint, url", [("ovh-eu", "https://www.ovh.com/auth/oauth2/token"),
                                           ("ovh-ca", "https://ca.ovh.com/auth/oauth2/token"),
                                           ("ovh-us", "https://us.ovhcloud.com/auth/oauth2/token")])
def test_a_service_account_gets_the_token_url_of_the_api_endpoint_in_use(fake, monkeypatch, endpoint, url):
    monkeypatch.setenv("OVH_ENDPOINT", endpoint)
    assert credentials.token_url() == url


def test_an_alias_named_in_full_is_found_by_its_prefix(fake, capsys, monkeypatch):
    kind = use("iam-token", fake, monkeypatch)
    code, _, err = setup(capsys, *kind.args, "--alias", f"{SERVICE}-a-falco")
    assert code == 0, err
    assert [a["name"] for a in fake.ldp.aliases.values()] == [f"{SERVICE}-a-falco"]
    fake.calls.clear()
    assert setup(capsys, *kind.args, "--alias", "falco")[0] == 0 and fake.writes == []


def test_alias_names_are_checked(fake, capsys):
    with pytest.raises(SystemExit) as exit_:
        setup(capsys, "--alias", "Prod Alias!")
    assert exit_.value.code == 2 and fake.calls == []
    assert "lowercase letters, digits, '-' and '_'" in capsys.readouterr().err


def test_an_alias_address_without_a_port_gets_9200(fake, legacy, capsys):
    fake.alias_address = "https://gra159.logs.ovh.com"
    code, _, err = setup(capsys, *legacy.args)
    assert code == 0, err
    (alias,) = fake.ldp.aliases.values()
    assert history_of(written()["falco.yaml"])["url"] == f"https://gra159.logs.ovh.com:9200/{alias['name']}"


# ---- services, clusters, operations -------------------------------------------------------

def test_unusable_services_are_not_offered(fake, legacy, capsys):
    fake.add_service("ldp-cd-67890", "not-configured", state="TO_CONFIG")
    fake.add_service("ldp-ef-24680", "suspended", state="DISABLED")
    code, out, err = setup(capsys, "--dry-run")
    assert code == 0, err
    assert f"LDP service: {SERVICE}" in out
    code, _, err = setup(capsys, "--ldp", "not-configured", "--dry-run")
    assert code == 1 and "LDP service not-configured (ldp-cd-67890) is TO_CONFIG" in err
    fake.ldp.state = "DISABLED"
    code, _, err = setup(capsys, "--dry-run")
    assert code == 1 and "no usable LDP service in this account" in err
    assert "audit-logs (ldp-ab-12345) is DISABLED" in err


def test_setup_waits_for_the_cluster_and_stops_waiting_in_time(fake, legacy, capsys):
    fake.redeploy_reads = None  # REDEPLOYING for ever
    code, _, err = setup(capsys, *legacy.args, "--operation-timeout", "0.5")
    assert code == 1
    assert f"cluster {CLUSTER} ({fake.kube_id}) still REDEPLOYING after" in err
    assert "created before the failure (a re-run reuses it):" in err and "audit log subscription" in err
    assert written() == {}
    fake.redeploying.clear()  # it is READY now: a re-run finishes what was left
    fake.calls.clear()
    code, _, err = setup(capsys, *legacy.args)
    assert code == 0, err
    assert [c for c, _ in write_calls(fake)] == [api_calls.CREATE_ALIAS, api_calls.ATTACH_ALIAS_STREAM]


def test_a_busy_ldp_is_asked_again(fake, legacy, capsys, monkeypatch):
    monkeypatch.setattr(ovh_api, "BUSY_DELAY_S", 0.05)
    fake.busy_writes = 2
    code, out, err = setup(capsys, *legacy.args)
    assert code == 0, err
    assert out.count("LDP is busy with another operation") == 2 and "IAM" not in out + err
    assert [c for c, _ in write_calls(fake)].count(api_calls.CREATE_STREAM) == 3
    assert len(fake.ldp.streams) == 1


def test_an_interactive_pick_on_a_terminal(fake, capsys, monkeypatch):
    other = fake.add_cluster(PROJECT, "staging")
    monkeypatch.setattr(choose, "interactive", lambda: True)
    monkeypatch.setattr("sys.stdin", io.StringIO("9\nx\n2\n"))
    assert main(["setup", "--project", PROJECT, "--dry-run"]) == 0
    out = capsys.readouterr()
    assert f"  1. {CLUSTER} ({fake.kube_id})\n  2. staging ({other})\n" in out.err
    assert f"cluster: staging ({other})" in out.out


def test_unknown_project_cluster_and_service(fake, capsys):
    code, _, err = setup(capsys, "--project", "0" * 32)
    assert code == 1 and f"unknown Public Cloud project '{'0' * 32}'" in err
    code, _, err = setup(capsys, "--cluster", "staging")
    assert code == 1 and f"unknown MKS cluster 'staging' in project {PROJECT}; there: {CLUSTER} ({fake.kube_id})" in err
    code, _, err = setup(capsys, "--ldp", "ldp-zz-99999")
    assert code == 1 and f"unknown LDP service 'ldp-zz-99999' in this account; there: audit-logs ({SERVICE})" in err


def test_ambiguous_choices_are_listed_off_a_terminal(fake, capsys):
    other = fake.add_cluster(PROJECT, "staging")
    fake.add_service("ldp-cd-67890", "other-logs")
    assert main(["setup", "--project", PROJECT]) == 1
    err = capsys.readouterr().err
    assert f"2 MKS clusters in project {PROJECT} match: {CLUSTER} ({fake.kube_id}), staging ({other}); " \
           "pick one with --cluster NAME|ID" in err
    code, _, err = setup(capsys)
    assert code == 1 and "2 LDP services in this account match: audit-logs (ldp-ab-12345), other-logs " \
                         "(ldp-cd-67890); pick one with --ldp NAME|ID" in err
    code, _, err = setup(capsys, "--ldp", "other-logs", "--dry-run")
    assert code == 0, err


def test_an_operation_that_fails_or_outlives_the_timeout(fake, legacy, capsys):
    fake.operation_end = "FAILURE"
    code, _, err = setup(capsys, *legacy.args)
    assert code == 1
    assert re.search(rf"creating stream {TITLE}: LDP operation \S+ of {SERVICE} ended FAILURE", err)
    assert "nothing was created" in err
    fake.operation_end = None
    code, _, err = setup(capsys, *legacy.args, "--operation-timeout", "0.5")
    assert code == 1
    assert re.search(rf"creating stream {TITLE}: LDP operation \S+ of {SERVICE} still (PENDING|RUNNING) after", err)


def test_a_slow_operation_shows_its_progress(fake, legacy, capsys):
    fake.pending_polls = 3
    code, _, err = setup(capsys, *legacy.args)
    assert code == 0, err
    assert f"  creating stream {TITLE}: PENDING\n  creating stream {TITLE}: RUNNING\n" \
           f"  creating stream {TITLE}: SUCCESS\n" in err


def test_a_409_that_is_not_a_race_is_an_error(fake, legacy, capsys):
    fake.conflicts.add(("POST", r"/cloud/project/[^/]+/kube/[^/]+/log/subscription"))
    code, _, err = setup(capsys, *legacy.args)
    assert code == 1 and "HTTP 409 (This object already exists)" in err


def test_missing_credentials_say_where_they_come_from(fake, capsys, monkeypatch):
    monkeypatch.delenv("OVH_ENDPOINT")
    code, _, err = setup(capsys)
    assert code == 1 and "OVH_ENDPOINT" in err and "ovh.conf" in err


def test_falco_versions_without_env_vars_are_refused(fake, capsys):
    code, _, err = setup(capsys, "--falco-version", "0.36")
    assert code == 2 and "Falco >= 0.37" in err and fake.calls == []


# ---- 403s: the missing action, or the API key ------------------------------------------------

SUBSCRIBE = r"/cloud/project/[^/]+/kube/[^/]+/log/subscription"


def test_a_403_names_exactly_the_missing_action(fake, kind, capsys):
    fake.deny_iam("POST", SUBSCRIBE, "ldp:apiovh:output/graylog/stream/forwardTo")
    code, out, err = setup(capsys, *kind.args)
    assert code == 1
    assert "403 forbidden (User not granted for this request): an IAM policy must grant this identity the " \
           "missing action: ldp:apiovh:output/graylog/stream/forwardTo\n" in err
    assert "publicCloudProject:apiovh:kube/log/subscription/create" not in err, "only what the API named"
    (stream_id,) = fake.ldp.streams
    assert f"created before the failure (a re-run reuses it):\n  - stream {TITLE} ({stream_id})" in err
    assert written() == {}
    fake.forbidden.clear()
    fake.calls.clear()
    assert setup(capsys, *kind.args)[0] == 0
    assert api_calls.CREATE_STREAM not in [c for c, _ in write_calls(fake)], "the re-run reuses the stream"


def test_a_403_on_a_read_names_its_action(fake, capsys):
    fake.deny_iam("GET", r"/dbaas/logs", "ldp:apiovh:get")
    code, _, err = setup(capsys)
    assert code == 1 and "missing action: ldp:apiovh:get\n" in err and "nothing was created" in err


def test_a_403_naming_no_action_lists_the_call_s_actions(fake, capsys):
    fake.forbidden[("POST", SUBSCRIBE)] = {"class": "Client::Forbidden", "message": "Forbidden"}
    code, _, err = setup(capsys)
    assert code == 1
    assert "names no missing action; this call needs the IAM actions: " \
           "publicCloudProject:apiovh:kube/log/subscription/create, ldp:apiovh:output/graylog/stream/forwardTo" in err


def test_a_403_of_the_credential_s_own_scope_says_so(fake, capsys):
    fake.forbidden[("GET", r"/cloud/project/[^/]+/kube")] = {
        "class": "Client::Forbidden", "message": "User not granted for this request",
        "details": {"unauthorizedActionsByAuthentication": "publicCloudProject:apiovh:kube/get",
                    "unauthorizedActionsByIAM": ""}}
    code, _, err = setup(capsys)
    assert code == 1
    assert "the API key's own scope does not allow the action: publicCloudProject:apiovh:kube/get" in err


@pytest.mark.parametrize("error_code, advice", [
    ("NOT_GRANTED_CALL", "request a new consumer key whose rules include GET /cloud/project/*/kube"),
    ("INVALID_CREDENTIAL", "the consumer key is not valid"),
    ("NOT_CREDENTIAL", "the consumer key does not exist"),
])
def test_a_403_of_the_api_key_says_so(fake, capsys, error_code, advice):
    fake.deny_key("GET", r"/cloud/project/[^/]+/kube", error_code)
    code, _, err = setup(capsys)
    assert code == 1
    assert f"the API key, not an IAM policy ({error_code}): " in err and advice in err
    assert "IAM action" not in err and "missing action" not in err


# ---- generated files ----------------------------------------------------------------------

def _normalised(text: str, fake: FakeOvhApi) -> str:
    return text.replace(fake.search_address(), "http://127.0.0.1:PORT").replace(VERSION, "VERSION")


def test_generated_files_match_the_golden_files(fake, legacy, capsys):
    assert setup(capsys, *legacy.args)[0] == 0
    for name, text in written().items():
        text = _normalised(text, fake)
        if os.environ.get("UPDATE_GOLDEN"):
            (GOLDEN / name).write_text(text)
        assert text == (GOLDEN / name).read_text(), name


def test_history_block_is_the_one_the_plugin_will_read(fake, kind, capsys):
    assert setup(capsys, *kind.args)[0] == 0
    (alias,) = fake.ldp.aliases.values()
    expected = kind.history(fake, f"{fake.search_address()}/{alias['name']}")
    files = written()
    assert history_of(files["falco.yaml"]) == history_of(files["values.yaml"]) == expected


@pytest.fixture
def tail_server():
    frames = [(f.encode(), False) for f in demo_frames(SAMPLE)]
    with LdpServer(frames, Behavior(token=TOKEN)) as server:
        yield server


def test_generated_configs_start_the_plugin(fake, kind, capsys, host, plugin, init_schema,  # noqa: F811
                                            tail_server):
    """falco.yaml and the Helm values' falco: section, as Falco passes them: init_config through
    the init schema, then plugin_init and plugin_open with ${VAR}s from the Secret, reading the
    loopback tail."""
    fake.tail_address = tail_server.url(TOKEN)
    assert setup(capsys, *kind.args)[0] == 0
    out = Path("k8saudit-ovh-setup")
    secret = yaml.safe_load((out / "secret.yaml").read_text())["stringData"]
    falco_yaml = yaml.safe_load((out / "falco.yaml").read_text())
    values = yaml.safe_load((out / "values.yaml").read_text())
    env = {e["name"]: secret[e["valueFrom"]["secretKeyRef"]["key"]] for e in values["extra"]["env"]}
    assert env == secret_env(kind) == {falco_compat.URL_ENV: fake.tail_address, kind.env: kind.secret}
    for name, config in (("falco.yaml", falco_yaml), ("values.yaml falco:", values["falco"])):
        assert config["load_plugins"] == ["k8saudit-ovh", "json"], name
        ours = next(p for p in config["plugins"] if p["name"] == "k8saudit-ovh")
        init = expand_env(init_config_string(ours), env)  # Falco >= 0.37 expands ${VAR} everywhere
        jsonschema.Draft4Validator(init_schema).validate(json.loads(init or "{}"))
        assert kind.secret in json.loads(init)["history"].values()
        params = expand_env(str(ours["open_params"]), env)
        assert params == fake.tail_address
        run = run_host(host, plugin, params, ["ka.verb"], config=init, max_events=SAMPLE_EVENTS, timeout=120)
        assert run.returncode == 0 and run.end["events"] == SAMPLE_EVENTS, (name, run.end, run.stderr[-2000:])
        # The plugin's own history client authenticates with what setup wrote (Basic, Bearer, or
        # a service account's token): a window of the alias is read to its end.
        window = run_host(host, plugin, "history:2026-12-01T00:00:00Z..2026-12-01T01:00:00Z", ["ka.verb"],
                          config=init, timeout=120)
        assert window.end["end"] == "eof", (name, window.end.get("error"), window.stderr[-2000:])
        assert kind.secret not in window.stderr


# ---- --check ------------------------------------------------------------------------------

def test_check_passes_right_after_setup(fake, kind, capsys, tail_server):
    fake.tail_address = tail_server.url(TOKEN)
    assert setup(capsys, *kind.args)[0] == 0
    fake.calls.clear()
    code, out, err = setup(capsys, *kind.args, "--check", "--frames", "5")
    assert code == 0, out + err
    for step in ("cluster and LDP service", "subscription", "WebSocket broadcasting", "indexing", "tail", "history"):
        assert re.search(rf"^ok      {step}: ", out, re.M), step
    assert f"({fake.documents_last_hour} documents in the last hour)" in out and "warn" not in out
    assert fake.writes == [] and not any(s in out + err for s in (TOKEN, kind.secret))
    assert fake.searches[-1][1] == ("Basic" if kind.name == "legacy" else "Bearer")


def test_check_says_which_step_is_broken(fake, legacy, capsys, monkeypatch, tail_server):
    fake.tail_address = tail_server.url(TOKEN)
    assert setup(capsys, *legacy.args)[0] == 0
    args = ("--check", "--frames", "5", *legacy.args)

    (stream,) = fake.ldp.streams.values()
    stream["webSocketEnabled"] = False
    code, out, _ = setup(capsys, *args)
    assert code == 1 and f"BROKEN  WebSocket broadcasting: off on stream {TITLE}: run setup" in out
    stream["webSocketEnabled"] = True

    stream["indexingEnabled"] = False
    code, out, _ = setup(capsys, *args)
    assert code == 1 and f"BROKEN  indexing: off on stream {TITLE}: run setup" in out
    stream["indexingEnabled"] = True

    subscriptions = fake.subscriptions[(PROJECT, fake.kube_id)]
    saved = dict(subscriptions)
    subscriptions.clear()
    code, out, _ = setup(capsys, *args, "--stream", TITLE)
    assert code == 1 and "BROKEN  subscription: the audit logs of prod-gra7 do not feed stream" in out
    subscriptions.update(saved)

    fake.redeploying[fake.kube_id] = None
    code, out, _ = setup(capsys, *args)
    assert code == 1 and f"BROKEN  cluster: {CLUSTER} is REDEPLOYING" in out
    fake.redeploying.clear()

    fake.documents_last_hour = 0
    code, out, _ = setup(capsys, *args)
    assert code == 0
    assert re.search(r"^warn    history: .* holds 0 documents for the last hour while the tail", out, re.M)
    fake.documents_last_hour = 12

    monkeypatch.setenv("MY_LDP_PASSWORD", "wrong-password")
    code, out, _ = setup(capsys, *args)
    assert code == 1 and re.search(r"BROKEN  history: \S+/_search as logs-ab-12345: HTTP 401 \(the LDP username", out)
    assert "wrong-password" not in out

    tail_server.behavior.token = "another-token"
    code, out, _ = setup(capsys, *args, "--timeout", "5")
    assert code == 1 and "BROKEN  tail:" in out


def test_check_of_an_iam_service_says_which_credential_it_needs(fake, capsys, monkeypatch, tail_server):
    kind = use("iam-token", fake, monkeypatch)
    fake.tail_address = tail_server.url(TOKEN)
    assert setup(capsys, *kind.args)[0] == 0
    code, out, _ = setup(capsys, "--check", "--frames", "5")
    assert code == 0 and "skipped history: LDP service ldp-ab-12345 has IAM enabled" in out
    fake.iam_tokens.clear()  # the token was revoked
    code, out, _ = setup(capsys, "--check", "--frames", "5", *kind.args)
    assert code == 1 and "BROKEN  history:" in out and "HTTP 401 (the IAM token was refused" in out
    assert IAM_TOKEN not in out


def test_pat_jwt_basic_authentication_is_what_the_fake_accepts_too(fake):
    """The fake's IAM OpenSearch API: Bearer, or Basic pat_jwt_<x>:<token>; never the LDP password."""
    ldp = fake.add_service("ldp-iam-00001", "iam", iam=True)
    fake.iam_tokens.add(IAM_TOKEN)
    assert fake._authorized(ldp, f"Bearer {IAM_TOKEN}") == "Bearer"
    basic = base64.b64encode(f"pat_jwt_falco:{IAM_TOKEN}".encode()).decode()
    assert fake._authorized(ldp, f"Basic {basic}") == "Basic pat_jwt"
    legacy = base64.b64encode(f"{ldp.username}:{ldp.password}".encode()).decode()
    assert fake._authorized(ldp, f"Basic {legacy}") is None and fake._authorized(ldp, "Bearer nope") is None

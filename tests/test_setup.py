"""`k8saudit-ovh setup` against a fake OVHcloud API on loopback (tests/fake_ovh_api.py), with
python-ovh pointed at it through a registered endpoint name: what it creates, that a second run
and a dry run create nothing, its failures, `--check`, and the files it writes (golden files;
the falco.yaml and Helm values start the plugin in the C host, with tests/ldp_server.py as the
WebSocket tail)."""
import configparser
import io
import json
import os
import re
import stat
from pathlib import Path

import jsonschema
import pytest
import yaml

from c_host import run_host
from fake_ovh_api import APP_KEY, APP_SECRET, CONSUMER_KEY, FakeOvhApi
from k8saudit_ovh.cli import falco_compat
from k8saudit_ovh.cli.main import main
from k8saudit_ovh._version import VERSION
from k8saudit_ovh.cli import api_calls, choose, operations, outputs, ovh_api
from k8saudit_ovh.cli.demo_server import demo_frames
from k8saudit_ovh.paths import demo_events_path
from ldp_server import Behavior, LdpServer
from test_falco_configs import expand_env, init_config_string, init_schema  # noqa: F401 (a fixture)

ovh = pytest.importorskip("ovh")

ENDPOINT = "k8saudit-ovh-fake"
PROJECT = "5f0d2c6e8b3a4f1e9c7d6b5a4f3e2d1c"
CLUSTER = "prod-gra7"
SERVICE = "ldp-ab-12345"
TITLE = "mks-audit-prod-gra7"
TOKEN = "tailtoken-0123456789abcdef"
GOLDEN = Path(__file__).resolve().parent / "golden" / "setup"
SAMPLE = demo_events_path()
SAMPLE_EVENTS = sum(1 for line in SAMPLE.read_text().splitlines() if line.strip())


@pytest.fixture
def fake(monkeypatch, tmp_path):
    with FakeOvhApi() as api:
        monkeypatch.setitem(ovh.client.ENDPOINTS, ENDPOINT, api.endpoint)
        monkeypatch.setattr(ovh.config.config, "config", configparser.RawConfigParser())  # no ~/.ovh.conf
        for name in [n for n in os.environ if n.startswith("OVH_") or n == "LDP_PASSWORD"]:
            monkeypatch.delenv(name)
        for name, value in (("ENDPOINT", ENDPOINT), ("APPLICATION_KEY", APP_KEY),
                            ("APPLICATION_SECRET", APP_SECRET), ("CONSUMER_KEY", CONSUMER_KEY)):
            monkeypatch.setenv(f"OVH_{name}", value)
        monkeypatch.setattr(operations, "FIRST_POLL_S", 0.05)
        monkeypatch.chdir(tmp_path)
        api.kube_id = api.add_cluster(PROJECT, CLUSTER)
        api.ldp = api.add_service(SERVICE, "audit-logs")
        api.tail_address = f"ws://127.0.0.1:9/tail/?tk={TOKEN}"
        yield api


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


def test_first_run_creates_each_object_and_a_second_run_creates_nothing(fake, capsys, monkeypatch):
    monkeypatch.setenv("LDP_PASSWORD", fake.ldp.password)
    code, out, err = setup(capsys)
    assert code == 0, err
    writes = write_calls(fake)
    assert [c for c, _ in writes] == [api_calls.CREATE_STREAM, api_calls.CREATE_SUBSCRIPTION,
                                      api_calls.CREATE_ALIAS, api_calls.ATTACH_ALIAS_STREAM]
    (stream_id,) = fake.ldp.streams
    (alias_id,) = fake.ldp.aliases
    assert writes[0][1]["title"] == TITLE and writes[0][1]["webSocketEnabled"] is True
    assert writes[1][1] == {"kind": "audit", "streamId": stream_id}
    assert writes[2][1]["suffix"] == "k8saudit-prod-gra7"
    assert writes[3][1] == {"streamId": stream_id}
    assert fake.ldp.alias_streams[alias_id] == [stream_id]
    (subscription,) = fake.subscriptions[(PROJECT, fake.kube_id)].values()
    assert subscription["streamId"] == stream_id and subscription["kind"] == "audit"
    assert f"stream {TITLE} ({stream_id}) in LDP service {SERVICE}" in out
    made = {call_of(method, path) for method, path, _ in fake.calls}  # every request is a listed call
    first = {p.name: p.read_text() for p in Path("k8saudit-ovh-setup").iterdir()}
    assert set(first) == {"falco.yaml", "values.yaml", "secret.yaml"}

    fake.calls.clear()
    code, out, err = setup(capsys)
    assert code == 0, err
    assert fake.writes == [] and fake.calls, "the second run reads and creates nothing"
    made |= {call_of(method, path) for method, path, _ in fake.calls}
    assert made == set(api_calls.CALLS) - {api_calls.EDIT_STREAM}  # the README lists no call it never makes
    assert "created: nothing (everything existed)" in out
    assert {p.name: p.read_text() for p in Path("k8saudit-ovh-setup").iterdir()} == first


def test_secrets_are_only_in_the_secret_file(fake, capsys, monkeypatch):
    monkeypatch.setenv("MY_LDP_PASSWORD", fake.ldp.password)
    code, out, err = setup(capsys, "--password-env", "MY_LDP_PASSWORD", "--out", "cfg")
    assert code == 0, err
    secrets = (TOKEN, fake.ldp.password, APP_SECRET, CONSUMER_KEY)
    for text in (out, err, Path("cfg/falco.yaml").read_text(), Path("cfg/values.yaml").read_text()):
        assert not any(s in text for s in secrets)
    secret_file = Path("cfg/secret.yaml")
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    manifest = yaml.safe_load(secret_file.read_text())
    assert manifest["stringData"] == {"url": fake.tail_address, "password": fake.ldp.password}


def test_dry_run_lists_every_call_and_sends_no_write(fake, capsys):
    code, out, err = setup(capsys, "--dry-run")
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
        ("GET", f"{base}/graylog/stream/<new>/url"), ("POST", f"{base}/opensearch/alias"), ("GET", f"{base}/opensearch/alias/<new>/stream"),
        ("POST", f"{base}/opensearch/alias/<new>/stream"), ("GET", f"{base}/opensearch/alias/<new>/url")]
    bodies = [json.loads(b) for _, _, b in listed if b]
    assert bodies[0]["webSocketEnabled"] is True and bodies[1] == {"kind": "audit", "streamId": "<new>"}


def test_dry_run_after_a_setup_lists_no_write(fake, capsys):
    assert setup(capsys)[0] == 0
    fake.calls.clear()
    code, out, err = setup(capsys, "--dry-run")
    assert code == 0, err
    assert fake.writes == [] and "would call" not in out


def test_an_existing_stream_gets_websocket_broadcasting_on(fake, capsys):
    stream_id = fake.add_stream(fake.ldp, TITLE, web_socket=False)
    code, out, err = setup(capsys)
    assert code == 0, err
    writes = write_calls(fake)
    assert writes[0] == (api_calls.EDIT_STREAM, {"title": TITLE, "description": writes[0][1]["description"],
                                                 "webSocketEnabled": True})
    assert api_calls.CREATE_STREAM not in [c for c, _ in writes]
    assert fake.ldp.streams[stream_id]["webSocketEnabled"] is True
    assert f"WebSocket broadcasting turned on for stream {TITLE}" in out


def test_the_stream_the_cluster_already_feeds_is_used(fake, capsys):
    stream_id = fake.add_stream(fake.ldp, "console-audit", web_socket=True)
    fake.add_subscription(PROJECT, fake.kube_id, fake.ldp, stream_id)
    code, out, err = setup(capsys)
    assert code == 0, err
    assert [c for c, _ in write_calls(fake)] == [api_calls.CREATE_ALIAS, api_calls.ATTACH_ALIAS_STREAM]
    assert "stream: console-audit" in out


def test_a_403_names_the_missing_iam_actions_and_what_was_created(fake, capsys):
    fake.forbidden[("POST", r"/cloud/project/[^/]+/kube/[^/]+/log/subscription")] = "This call has not been granted"
    code, out, err = setup(capsys)
    assert code == 1
    assert "403 forbidden (This call has not been granted)" in err
    assert "publicCloudProject:apiovh:kube/log/subscription/create" in err
    assert "ldp:apiovh:output/graylog/stream/forwardTo" in err and "another account" in err
    (stream_id,) = fake.ldp.streams
    assert f"created before the failure (a re-run reuses it):\n  - stream {TITLE} ({stream_id})" in err
    fake.forbidden.clear()
    fake.calls.clear()
    assert setup(capsys)[0] == 0
    assert api_calls.CREATE_STREAM not in [c for c, _ in write_calls(fake)], "the re-run reuses the stream"


def test_a_403_on_a_read_names_its_action(fake, capsys):
    fake.forbidden[("GET", r"/dbaas/logs")] = "This call has not been granted"
    code, _, err = setup(capsys)
    assert code == 1 and "Missing IAM action: ldp:apiovh:get" in err and "nothing was created" in err


def test_a_busy_ldp_is_asked_again(fake, capsys, monkeypatch):
    monkeypatch.setattr(ovh_api, "BUSY_DELAY_S", 0.05)
    fake.busy_writes = 2
    code, out, err = setup(capsys)
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


def test_an_operation_that_fails_or_outlives_the_timeout(fake, capsys):
    fake.operation_end = "FAILURE"
    code, _, err = setup(capsys)
    assert code == 1
    assert re.search(rf"creating stream {TITLE}: LDP operation \S+ of {SERVICE} ended FAILURE", err)
    assert "nothing was created" in err
    fake.operation_end = None
    code, _, err = setup(capsys, "--operation-timeout", "0.5")
    assert code == 1
    assert re.search(rf"creating stream {TITLE}: LDP operation \S+ of {SERVICE} still (PENDING|RUNNING) after", err)


def test_a_slow_operation_shows_its_progress(fake, capsys):
    fake.pending_polls = 3
    code, _, err = setup(capsys)
    assert code == 0, err
    assert f"  creating stream {TITLE}: PENDING\n  creating stream {TITLE}: RUNNING\n" \
           f"  creating stream {TITLE}: SUCCESS\n" in err


def test_a_409_that_is_not_a_race_is_an_error(fake, capsys):
    fake.conflicts.add(("POST", r"/cloud/project/[^/]+/kube/[^/]+/log/subscription"))
    code, _, err = setup(capsys)
    assert code == 1 and "HTTP 409 (This object already exists)" in err


def test_missing_credentials_say_where_they_come_from(fake, capsys, monkeypatch):
    monkeypatch.delenv("OVH_ENDPOINT")
    code, _, err = setup(capsys)
    assert code == 1 and "OVH_ENDPOINT" in err and "ovh.conf" in err


def test_falco_versions_without_env_vars_are_refused(fake, capsys):
    code, _, err = setup(capsys, "--falco-version", "0.36")
    assert code == 2 and "Falco >= 0.37" in err and fake.calls == []


# ---- generated files ----------------------------------------------------------------------

def _normalised(text: str, fake: FakeOvhApi) -> str:
    return text.replace(fake.search_address(), "http://127.0.0.1:PORT").replace(VERSION, "VERSION")


def test_generated_files_match_the_golden_files(fake, capsys, monkeypatch):
    monkeypatch.setenv("LDP_PASSWORD", fake.ldp.password)
    assert setup(capsys)[0] == 0
    for name in ("falco.yaml", "values.yaml", "secret.yaml"):
        text = _normalised((Path("k8saudit-ovh-setup") / name).read_text(), fake)
        if os.environ.get("UPDATE_GOLDEN"):
            (GOLDEN / name).write_text(text)
        assert text == (GOLDEN / name).read_text(), name


def test_history_block_is_the_one_the_plugin_will_read(fake, capsys, monkeypatch):
    monkeypatch.setenv("LDP_PASSWORD", fake.ldp.password)
    assert setup(capsys)[0] == 0
    (alias,) = fake.ldp.aliases.values()
    expected = {"history": {"url": f"{fake.search_address()}/{alias['name']}", "user": fake.ldp.username,
                            "password": "${LDP_PASSWORD}"}}
    for name in ("falco.yaml", "values.yaml"):
        text = (Path("k8saudit-ovh-setup") / name).read_text()
        (line,) = [line for line in text.splitlines() if '"history"' in line]
        assert not line.lstrip().startswith("#")
        assert yaml.safe_load(line.split("  #")[0].strip()) == {"init_config": expected}


@pytest.fixture
def tail_server():
    frames = [(f.encode(), False) for f in demo_frames(SAMPLE)]
    with LdpServer(frames, Behavior(token=TOKEN)) as server:
        yield server


def test_generated_configs_start_the_plugin(fake, capsys, monkeypatch, host, plugin, init_schema,  # noqa: F811
                                            tail_server):
    """falco.yaml and the Helm values' falco: section, as Falco passes them: init_config through
    the init schema, then plugin_init and plugin_open with ${K8SAUDIT_OVH_URL} from the Secret,
    reading the loopback tail."""
    fake.tail_address = tail_server.url(TOKEN)
    monkeypatch.setenv("LDP_PASSWORD", fake.ldp.password)
    assert setup(capsys)[0] == 0
    out = Path("k8saudit-ovh-setup")
    secret = yaml.safe_load((out / "secret.yaml").read_text())["stringData"]
    falco_yaml = yaml.safe_load((out / "falco.yaml").read_text())
    values = yaml.safe_load((out / "values.yaml").read_text())
    env = {e["name"]: secret[e["valueFrom"]["secretKeyRef"]["key"]] for e in values["extra"]["env"]}
    assert env == {falco_compat.URL_ENV: fake.tail_address, "LDP_PASSWORD": fake.ldp.password}
    for name, config, environment in (("falco.yaml", falco_yaml, {falco_compat.URL_ENV: secret["url"],
                                                                  "LDP_PASSWORD": secret["password"]}),
                                      ("values.yaml falco:", values["falco"], env)):
        assert config["load_plugins"] == ["k8saudit-ovh", "json"], name
        ours = next(p for p in config["plugins"] if p["name"] == "k8saudit-ovh")
        init = expand_env(init_config_string(ours), environment)  # Falco >= 0.37 expands ${VAR} everywhere
        jsonschema.Draft4Validator(init_schema).validate(json.loads(init or "{}"))
        assert json.loads(init)["history"]["password"] == fake.ldp.password
        params = expand_env(str(ours["open_params"]), environment)
        assert params == fake.tail_address
        run = run_host(host, plugin, params, ["ka.verb"], config=init, max_events=SAMPLE_EVENTS, timeout=120)
        assert run.returncode == 0 and run.end["events"] == SAMPLE_EVENTS, (name, run.end, run.stderr[-2000:])


# ---- --check ------------------------------------------------------------------------------

def test_check_says_which_step_is_broken(fake, capsys, monkeypatch, tail_server):
    fake.tail_address = tail_server.url(TOKEN)
    monkeypatch.setenv("LDP_PASSWORD", fake.ldp.password)
    assert setup(capsys)[0] == 0
    fake.calls.clear()
    code, out, err = setup(capsys, "--check", "--frames", "5")
    assert code == 0, out + err
    for step in ("subscription", "WebSocket broadcasting", "tail", "history"):
        assert re.search(rf"^ok      {step}: ", out, re.M), step
    assert fake.writes == [] and TOKEN not in out + err

    (stream,) = fake.ldp.streams.values()
    stream["webSocketEnabled"] = False
    code, out, _ = setup(capsys, "--check")
    assert code == 1 and f"BROKEN  WebSocket broadcasting: off on stream {TITLE}: run setup" in out
    stream["webSocketEnabled"] = True

    subscriptions = fake.subscriptions[(PROJECT, fake.kube_id)]
    saved = dict(subscriptions)
    subscriptions.clear()
    code, out, _ = setup(capsys, "--check", "--stream", TITLE)
    assert code == 1 and "BROKEN  subscription: the audit logs of prod-gra7 do not feed stream" in out
    subscriptions.update(saved)

    monkeypatch.setenv("LDP_PASSWORD", "wrong-password")
    code, out, _ = setup(capsys, "--check", "--frames", "5")
    assert code == 1 and re.search(r"BROKEN  history: \S+/_search as logs-ab-12345: HTTP 401", out)
    assert "wrong-password" not in out

    tail_server.behavior.token = "another-token"
    code, out, _ = setup(capsys, "--check", "--frames", "5", "--timeout", "5")
    assert code == 1 and "BROKEN  tail:" in out

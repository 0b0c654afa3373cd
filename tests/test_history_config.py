"""init_config `history`: one endpoint or a map of them, in the schema Falco validates
against and in the plugin's own validation."""
import json

import jsonschema
import pytest

from k8saudit_ovh import config

ONE = {"url": "https://gra1.logs.ovh.com:9200/audit-alias", "user": "u", "password": "p4ss-w0rd!", "overlapS": 5}


@pytest.mark.parametrize("history", [ONE, {"prod": ONE, "staging": {"url": ONE["url"]}}])
def test_schema_and_parser_accept_one_endpoint_or_a_map(history):
    given = {"history": history}
    jsonschema.Draft4Validator(json.loads(config.schema_json())).validate(given)
    parsed = config.parse(json.dumps(given))["history"]
    expected_names = [None] if "url" in history else list(history)
    assert list(parsed) == expected_names
    for values in parsed.values():
        assert values["url"] == ONE["url"] and values["maxGapS"] == 86400.0 and values["timeField"] == "timestamp"


def test_no_history_by_default():
    assert config.parse("")["history"] is None


@pytest.mark.parametrize("history, words", [
    ({"url": ONE["url"], "overlap": 5}, "history.overlap"),
    ({"user": "u"}, "needs 'url'"),
    ({"prod": {"url": ONE["url"], "pageSize": 0}}, "history.prod.pageSize"),
    ({"url": ONE["url"], "overlapS": "10"}, "history.overlapS"),
    ("https://x", "must be an object"),
])
def test_bad_history_is_refused_by_schema_and_parser(history, words):
    given = {"history": history}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(json.loads(config.schema_json())).validate(given)
    with pytest.raises(ValueError, match=words.replace(".", r"\.")):
        config.parse(json.dumps(given))


def test_every_history_key_is_in_the_reference_table():
    table = config.markdown_table()
    for key in config.HISTORY_KEYS:
        assert f"`history.{key.name}`" in table


def test_a_bad_history_url_fails_init_without_the_password(host, plugin):
    from c_host import run_host
    cfg = json.dumps({"history": {"url": "http://gra1.logs.ovh.com:9200/alias", "password": "init-secret-77"}})
    run = run_host(host, plugin, "file:///dev/null", config=cfg)
    assert run.end["end"] == "init-failure" and "only allowed on loopback" in run.end["error"]
    assert "init-secret-77" not in run.stderr + json.dumps(run.end)


URL = ONE["url"]


@pytest.mark.parametrize("auth", [
    {"user": "pat_jwt_falco", "password": "iam-t0ken-value"},
    {"token": "iam-t0ken-value"},
    {"clientId": "sa-id", "clientSecret": "sa-s3cret-value"},
    {"clientId": "sa-id", "clientSecret": "sa-s3cret-value", "tokenUrl": config.TOKEN_URLS["ovh-ca"]},
    {},
])
def test_each_way_to_authenticate_is_accepted(auth):
    given = {"history": {"url": URL, **auth}}
    jsonschema.Draft4Validator(json.loads(config.schema_json())).validate(given)
    values = config.parse(json.dumps(given))["history"][None]
    assert values["tokenUrl"] == auth.get("tokenUrl", "https://www.ovh.com/auth/oauth2/token")


@pytest.mark.parametrize("auth, words", [
    ({"password": "p4ss-value", "token": "t0ken-value"}, "gives 'password' and 'token': authenticate one way only"),
    ({"user": "u", "clientId": "c", "clientSecret": "s3cret-value"},
     "gives 'user' and 'clientId'/'clientSecret': authenticate one way only"),
    ({"token": "t0ken-value", "clientSecret": "s3cret-value"}, "gives 'token' and 'clientSecret'"),
    ({"clientId": "c"}, "needs 'clientSecret' too"),
    ({"clientSecret": "s3cret-value"}, "needs 'clientId' too"),
])
def test_a_bad_combination_of_credentials_is_refused_naming_the_keys_only(auth, words):
    with pytest.raises(ValueError) as failure:
        config.parse(json.dumps({"history": {"prod": {"url": URL, **auth}}}))
    message = str(failure.value)
    assert words in message and "'history.prod'" in message
    assert not any(value in message for value in ("p4ss-value", "t0ken-value", "s3cret-value"))


def test_a_bad_combination_fails_init_without_the_secrets(host, plugin):
    from c_host import run_host
    cfg = json.dumps({"history": {"url": URL, "token": "init-t0ken-77", "clientId": "c",
                                  "clientSecret": "init-s3cret-77"}})
    run = run_host(host, plugin, "file:///dev/null", config=cfg)
    assert run.end["end"] == "init-failure" and "authenticate one way only" in run.end["error"]
    assert "init-t0ken-77" not in run.stderr + json.dumps(run.end)
    assert "init-s3cret-77" not in run.stderr + json.dumps(run.end)


def test_a_plain_http_token_url_fails_init(host, plugin):
    from c_host import run_host
    cfg = json.dumps({"history": {"url": URL, "clientId": "c", "clientSecret": "init-s3cret-78",
                                  "tokenUrl": "http://www.ovh.com/auth/oauth2/token"}})
    run = run_host(host, plugin, "file:///dev/null", config=cfg)
    assert run.end["end"] == "init-failure" and "tokenUrl" in run.end["error"]
    assert "only allowed on loopback" in run.end["error"] and "init-s3cret-78" not in run.stderr

import socket

import pytest

from k8saudit_ovh.sources.open_params import Source, parse_open_params
from k8saudit_ovh.redaction import redact

SECRET = "s3cr3t-T0ken"


def test_bare_host_path_gets_wss():
    [source] = parse_open_params(f"gra1.logs.ovh.com/tail/?tk={SECRET}")
    assert source.kind == "ws"
    assert source.name is None
    assert source.url == f"wss://gra1.logs.ovh.com/tail/?tk={SECRET}"
    assert source.display == "wss://gra1.logs.ovh.com/tail/?tk=***"


@pytest.mark.parametrize("url", [
    f"wss://gra1.logs.ovh.com/tail/?tk={SECRET}",
    f"ws://127.0.0.1:8080/tail/?tk={SECRET}",
    f"wss://[::1]:8443/tail/?tk={SECRET}&since=now",
])
def test_full_urls_are_kept(url):
    [source] = parse_open_params(url)
    assert (source.kind, source.url) == ("ws", url)
    assert SECRET not in source.display


@pytest.mark.parametrize("url", [
    f"ws://localhost:8080/tail/?tk={SECRET}",
    f"ws://127.0.0.2:8080/tail/?tk={SECRET}",
    f"ws://[::1]:8080/tail/?tk={SECRET}",
    f"WS://LOCALHOST/tail/?tk={SECRET}",
])
def test_ws_to_loopback_is_allowed(url):
    [source] = parse_open_params(url)
    assert source.kind == "ws" and source.url.startswith("ws://")


@pytest.mark.parametrize("params", [
    f"ws://gra1.logs.ovh.com/tail/?tk={SECRET}",
    f"WS://gra1.logs.ovh.com/tail/?tk={SECRET}",
    f"prod=ws://10.0.0.1:8080/tail/?tk={SECRET}",
    f"ws://user:{SECRET}@192.0.2.1/tail/",
    f"ws://[2001:db8::1]/tail/?t%6B={SECRET}",
    # a name that resolves to loopback is still a name: only what is loopback as written passes
    f"ws://127.0.0.1.nip.io/tail/?tk={SECRET}",
    f"ws://localhost.example.com/tail/?tk={SECRET}",
    f"wss://gra1.logs.ovh.com/tail/?tk=a,ws://gra2.logs.ovh.com/tail/?tk={SECRET}",
])
def test_ws_to_anything_but_loopback_is_refused_naming_wss(params, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("parsing open params touched the network")

    # Refused while parsing: no name is resolved and no socket is opened.
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "socket", no_network)
    with pytest.raises(ValueError) as error:
        parse_open_params(params)
    message = str(error.value)
    assert "ws:// is unencrypted and only allowed to a loopback address" in message
    assert "use wss://" in message
    assert SECRET not in message


def test_scheme_is_lowercased_for_websocket_client():
    [source] = parse_open_params(f"WSS://gra1.logs.ovh.com/tail/?tk={SECRET}")
    assert source.url.startswith("wss://gra1.logs.ovh.com/")


def test_file_source():
    [source] = parse_open_params("file:///var/log/audit.jsonl")
    assert (source.kind, source.path) == ("file", "/var/log/audit.jsonl")
    with pytest.raises(ValueError):
        parse_open_params(f"wss://h/tail/?tk={SECRET}")[0].path


def test_named_list():
    sources = parse_open_params(
        f"prod=wss://gra1.logs.ovh.com/tail/?tk={SECRET}, "
        f"staging=gra2.logs.ovh.com/tail/?tk={SECRET}2,replay=file://audit.json")
    assert [(s.name, s.kind) for s in sources] == [
        ("prod", "ws"), ("staging", "ws"), ("replay", "file")]
    assert sources[1].url == f"wss://gra2.logs.ovh.com/tail/?tk={SECRET}2"
    assert sources[0].label == "prod"


def test_unnamed_and_named_mixed():
    sources = parse_open_params("gra1.logs.ovh.com/tail/?tk=a,b=gra2.logs.ovh.com/tail/?tk=b")
    assert [s.name for s in sources] == [None, "b"]
    assert sources[0].label == "wss://gra1.logs.ovh.com/tail/?tk=***"


@pytest.mark.parametrize("params, message", [
    ("", "empty open params"),
    ("   ", "empty open params"),
    (f"wss://a/tail/?tk={SECRET},", "item 2 is empty"),
    (f",wss://a/tail/?tk={SECRET}", "item 1 is empty"),
    (f"https://gra1.logs.ovh.com/tail/?tk={SECRET}", "unknown scheme 'https'"),
    (f"ftp://gra1.logs.ovh.com/tail/?tk={SECRET}", "unknown scheme 'ftp'"),
    # two URLs pasted without a comma: the "scheme" holds the first token (found by fuzz/)
    (f"gra1.logs.ovh.com/tail/?tk={SECRET}wss://gra1.logs.ovh.com/tail/?tk={SECRET}",
     "unknown scheme 'gra1.logs.ovh.com/tail/?tk=***'"),
    (f"wss:///tail/?tk={SECRET}", "no host"),
    (f"wss://gra1.logs.ovh.com:99999/tail/?tk={SECRET}", "malformed URL"),
    (f"wss://gra1.logs.ovh.com:port/tail/?tk={SECRET}", "malformed URL"),
    (f"gra1.logs.ovh.com/tail/?tk={SECRET} x", "whitespace"),
    (f"p=wss://a/tail/?tk={SECRET},p=wss://b/tail/?tk={SECRET}", "duplicate source name 'p'"),
    ("prod=", "has a name but no URL"),
    ("file://", "needs a path"),
])
def test_errors_are_clear_and_redacted(params, message):
    with pytest.raises(ValueError) as error:
        parse_open_params(params)
    assert message in str(error.value)
    assert SECRET not in str(error.value)


def test_repr_hides_the_token():
    [source] = parse_open_params(f"prod=gra1.logs.ovh.com/tail/?tk={SECRET}")
    assert SECRET not in repr(source)
    assert SECRET not in str(source)
    assert "tk=***" in repr(source)


@pytest.mark.parametrize("text, expected", [
    (f"wss://h/tail/?tk={SECRET}", "wss://h/tail/?tk=***"),
    (f"wss://h/tail/?a=1&tk={SECRET}&b=2", "wss://h/tail/?a=1&tk=***&b=2"),
    (f"Invalid redirect target 'wss://h/?tk={SECRET}': bad", "Invalid redirect target 'wss://h/?tk=***': bad"),
    (f"next=https%3A%2F%2Fh%2F%3Ftk%3D{SECRET}", "next=https%3A%2F%2Fh%2F%3Ftk%3D***"),
    (f"TK={SECRET}, more", "TK=***, more"),
    ("stk=not-a-token", "stk=not-a-token"),
    ("no token here", "no token here"),
])
def test_redact(text, expected):
    assert redact(text) == expected


def test_source_is_immutable():
    source = Source("ws", None, "wss://h/tail/?tk=x")
    assert source.display == "wss://h/tail/?tk=***"
    with pytest.raises(AttributeError):
        source.url = "wss://other/"

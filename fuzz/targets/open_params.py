"""atheris target: open params parsing (k8saudit_ovh/sources/open_params.py) and token redaction
(k8saudit_ovh/redaction.py).

Any input either parses into sources or raises ValueError; no message, display or repr
ever shows a token value, redaction is idempotent, and a cleartext ws:// stream goes to
loopback only."""
import sys
from urllib.parse import urlsplit

if __name__ == "__main__":  # fuzzing: coverage of the module under test and the URL parser it uses
    import inspect
    import urllib.parse  # loaded at start-up already: instrumented function by function

    import atheris

    for function in vars(urllib.parse).values():
        if inspect.isfunction(function) and function.__module__ == "urllib.parse":
            atheris.instrument_func(function)
    with atheris.instrument_imports(include=["k8saudit_ovh"]):
        from k8saudit_ovh import redaction
        from k8saudit_ovh.sources import open_params
    from k8saudit_ovh.sources.history import is_loopback
else:  # tests/test_fuzz_regressions.py replays inputs through test_one_input, without atheris
    from k8saudit_ovh import redaction
    from k8saudit_ovh.sources import open_params
    from k8saudit_ovh.sources.history import is_loopback


def assert_token_free(shown: str) -> None:
    """Every `tk=` shown is redacted: `***` (which message text may follow) or nothing, or
    the `<token>` placeholder of the empty-params hint."""
    for m in redaction._TOKEN.finditer(shown):
        value = m.group(0)[len(m.group(1)):]
        if value and not value.startswith(("***", "<token")):
            raise AssertionError(f"a token value is shown: {shown!r}")


def test_one_input(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    redacted = redaction.redact(text)
    assert_token_free(redacted)
    if redaction.redact(redacted) != redacted:
        raise AssertionError(f"redact is not idempotent on {text!r}")
    try:
        sources = open_params.parse_open_params(text)
    except ValueError as e:
        assert_token_free(str(e))
        return
    for s in sources:
        if s.kind not in ("ws", "file") or s.display != redaction.redact(s.url):
            raise AssertionError(f"bad source from {text!r}")
        if s.kind == "ws" and not s.url.startswith(("ws://", "wss://")):
            raise AssertionError(f"stream URL without a WebSocket scheme from {text!r}")
        if s.url.startswith("ws://") and not is_loopback(urlsplit(s.url).hostname):
            raise AssertionError(f"cleartext ws:// to a non-loopback host from {text!r}")
        assert_token_free(repr(s))
        assert_token_free(s.label)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()

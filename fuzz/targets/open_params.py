"""atheris target: open params parsing and token redaction (k8saudit_ovh/open_params.py).

Any input either parses into sources or raises ValueError; no message, display or repr
ever shows a `tk=` value of the input, and redaction is idempotent."""
import sys

from k8saudit_ovh import open_params


def secrets(text: str) -> set:
    """Every `tk=VALUE` of the input as written (a value of stars only is no secret)."""
    return {m.group(0) for m in open_params._TOKEN.finditer(text) if m.group(0)[len(m.group(1)):].strip("*")}


def assert_no_secret(given: set, shown: str) -> None:
    for secret in given:
        if secret in shown:
            raise AssertionError(f"{secret!r} is shown: {shown!r}")


def test_one_input(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    given = secrets(text)
    redacted = open_params.redact(text)
    assert_no_secret(given, redacted)
    if open_params.redact(redacted) != redacted:
        raise AssertionError(f"redact is not idempotent on {text!r}")
    try:
        sources = open_params.parse_open_params(text)
    except ValueError as e:
        assert_no_secret(given, str(e))
        return
    for s in sources:
        if s.kind not in ("ws", "file") or s.display != open_params.redact(s.url):
            raise AssertionError(f"bad source from {text!r}")
        if s.kind == "ws" and not s.url.startswith(("ws://", "wss://")):
            raise AssertionError(f"stream URL without a WebSocket scheme from {text!r}")
        assert_no_secret(given, repr(s))
        assert_no_secret(given, s.label)


if __name__ == "__main__":
    import atheris  # only to fuzz: tests/test_fuzz_regressions.py replays through test_one_input

    atheris.instrument_all()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()

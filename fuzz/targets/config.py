"""atheris target: init_config parsing (k8saudit_ovh/config.py parse).

Any input either gives every key with a value of its type within its bounds, or raises
ValueError (plugin_init turns it into a clear error)."""
import sys

if __name__ == "__main__":  # fuzzing: coverage of the module under test and the JSON decoder
    import atheris

    with atheris.instrument_imports(include=["k8saudit_ovh", "json"]):
        from k8saudit_ovh import config
else:  # tests/test_fuzz_regressions.py replays inputs through test_one_input, without atheris
    from k8saudit_ovh import config


def test_one_input(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    try:
        values = config.parse(text)
    except ValueError:
        return
    if set(values) != {k.name for k in config.KEYS}:
        raise AssertionError(f"keys missing or unknown for {text!r}")
    for k in config.KEYS:
        v = values[k.name]
        if v is None and k.default is None:  # an optional object left out (history)
            continue
        if type(v) is not k.type:
            raise AssertionError(f"{k.name}: {v!r} is not {k.type.__name__} for {text!r}")
        if k.minimum is not None and not (k.minimum <= v <= k.maximum):
            raise AssertionError(f"{k.name}: {v!r} out of bounds for {text!r}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()

"""atheris target: the checkpoint parser (k8saudit_ovh/sources/checkpoint.py parse), on the
bytes a file at a checkpoint's name may hold.

Any input either gives a Checkpoint whose values fit uint64 and whose time is at most
FUTURE_SKEW_S ahead, which writes back as the same checkpoint, or raises BadCheckpoint
with a reason (load() reports it and goes on); nothing else, whatever the nesting."""
import sys

if __name__ == "__main__":  # fuzzing: coverage of the module under test and the JSON decoder
    import atheris

    with atheris.instrument_imports(include=["k8saudit_ovh", "json"]):
        from k8saudit_ovh.sources import checkpoint
else:  # tests/test_fuzz_regressions.py replays inputs through test_one_input, without atheris
    from k8saudit_ovh.sources import checkpoint

# The stream and clock of the seeds (fuzz/seeds/checkpoint): fixed, so a run is repeatable.
STREAM = "0123456789abcdef0123456789abcdef"
NOW_NS = 1_750_000_000 * 10**9


def test_one_input(data: bytes) -> None:
    try:
        found = checkpoint.parse(data, STREAM, NOW_NS)
    except checkpoint.BadCheckpoint as refused:
        if not str(refused):
            raise AssertionError(f"a refusal without a reason for {data!r}") from None
        return
    if not (0 < found.time_ns < 1 << 64 and 0 <= found.identity < 1 << 64):
        raise AssertionError(f"{found} does not fit uint64, from {data!r}")
    if found.time_ns > NOW_NS + checkpoint.FUTURE_SKEW_S * 10**9:
        raise AssertionError(f"{found} is in the future, from {data!r}")
    if checkpoint.parse(checkpoint.encode(STREAM, found), STREAM, NOW_NS) != found:
        raise AssertionError(f"{found} does not write back as itself")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()

"""atheris target: the history document reader (k8saudit_ovh/sources/history/documents.py).

Any bytes, as the raw answer of a `_search` page, give a list of Documents and Skips or
raise HistoryError; a Document has a time in 1970..9999 and an audit text within the cap,
a Skip one of the known reasons; the values and depth of a page that was read stay within
what the byte scan bounded. The first byte picks a small audit cap, so that the too_large
path is reached too."""
import json
import sys

if __name__ == "__main__":
    import atheris

    with atheris.instrument_imports(include=["k8saudit_ovh"]):
        from k8saudit_ovh.sources.history import documents, errors
else:  # tests/test_fuzz_regressions.py replays inputs through test_one_input, without atheris
    from k8saudit_ovh.sources.history import documents, errors


def values_and_depth(value, depth=1) -> tuple[int, int]:
    """JSON values and keys of a parsed text, and its nesting depth."""
    if isinstance(value, dict):
        inner = [values_and_depth(v, depth + 1) for v in value.values()]
        return 1 + len(value) + sum(n for n, _ in inner), max([depth, *(d for _, d in inner)])
    if isinstance(value, list):
        inner = [values_and_depth(v, depth + 1) for v in value]
        return 1 + sum(n for n, _ in inner), max([depth, *(d for _, d in inner)])
    return 1, depth


def test_one_input(data: bytes) -> None:
    if not data:
        return
    layout = documents.DocumentLayout(max_audit_bytes=(data[0] + 1) * 64)
    try:
        entries = documents.read_page(data[1:], layout)
    except errors.HistoryError as e:
        if not isinstance(e.reason, str):
            raise AssertionError(f"a HistoryError without a reason: {e!r}")
        return
    bound, _ = documents._shape(data[1:])
    values, depth = values_and_depth(json.loads(data[1:].decode("utf-8", "surrogatepass")))
    if values > bound or depth > documents.MAX_DEPTH:
        raise AssertionError(f"{values} values (scan bound {bound}), depth {depth}")
    for entry in entries:
        if isinstance(entry, documents.Document):
            if not (isinstance(entry.time_ms, int) and 0 <= entry.time_ms <= documents.MAX_MS):
                raise AssertionError(f"a document time out of bounds: {entry.time_ms!r}")
            if len(entry.audit.encode("utf-8", "surrogatepass")) > layout.max_audit_bytes:
                raise AssertionError("an audit text over the cap")
            if not isinstance(entry.key, (str, bytes)) or not entry.key:
                raise AssertionError(f"a document without a key: {entry.key!r}")
        elif isinstance(entry, documents.Skip):
            if entry.reason not in documents.SKIP_REASONS:
                raise AssertionError(f"an unknown skip reason {entry.reason!r}")
        else:
            raise AssertionError(f"neither a Document nor a Skip: {entry!r}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()

"""Stored documents read from history (k8saudit_ovh/sources/history/documents.py, cursor.py):
each malformed kind skipped and counted by reason while every good document of the window
comes once, in order; hostile pages end in HistoryError only, within bounded memory; a
server that breaks the sort order or the range is a reported failure; a one-timestamp flood
beyond the result window is paged with search_after, or refused clearly. Through the
client and the OpenSearch-compatible test server, and through the C host."""
import collections
import json
import subprocess
import sys
import textwrap
import time
import tracemalloc

import pytest

from c_host import run_host
from k8saudit_ovh.sources.history import (SKIP_REASONS, HistoryAnswerTooLarge, HistoryClient, HistoryCursor,
                                          HistoryEndpoint, HistoryError, parse_time_ms)
from k8saudit_ovh.sources.history.documents import (MAX_DEPTH, MAX_TEXT_BYTES, MAX_VALUES, Document,
                                                    DocumentLayout, Skip, read_page)
from opensearch_server import OpenSearchServer, gelf_document
from test_gap_fill import _ms, feed
from test_history_source import config, rfc3339

pytest.importorskip("opensearchpy")

BASE_MS = 1_764_824_400_000  # 2025-12-04 05:00:00 UTC


def audit_event(n: int, pad: int = 0) -> dict:
    return {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": f"id-{n}",
            "stage": "ResponseComplete", "verb": "get", "requestURI": f"/api/v1/pods/p{n}" + "x" * pad,
            "stageTimestamp": "2025-12-04T05:00:00.000001Z"}


@pytest.fixture
def history():
    with OpenSearchServer() as server:
        yield server


def client_of(server, **kwargs) -> HistoryClient:
    kwargs.setdefault("backoff_initial_s", 0.01)
    return HistoryClient(HistoryEndpoint(server.url(), server.user, server.password, **kwargs))


def ids(docs) -> list[str]:
    return [json.loads(d.audit)["auditID"] for d in docs]


def page(*hits, ensure_ascii=True, **envelope) -> bytes:
    return json.dumps({"took": 1, "timed_out": False, **envelope, "hits": {"hits": list(hits)}},
                      ensure_ascii=ensure_ascii).encode()


def hit(source, doc_id="d1", **extra) -> dict:
    return {"_index": "a", "_id": doc_id, "_source": source, **extra}


GOOD = {"timestamp": BASE_MS, "message": json.dumps(audit_event(1))}
# Odd documents as LDP (or anything writing to the stream) could store them: (reason, _source).
ODD_SOURCES = [
    ("not_object", "a string"),
    ("not_object", ["a", "list"]),
    ("not_object", None),
    ("no_time", {"message": json.dumps(audit_event(9))}),
    ("no_time", {"timestamp": None, "message": json.dumps(audit_event(9))}),
    ("bad_time", {"timestamp": 10 ** 400, "message": json.dumps(audit_event(9))}),
    ("bad_time", {"timestamp": -10 ** 400, "message": json.dumps(audit_event(9))}),
    ("bad_time", {"timestamp": [BASE_MS], "message": json.dumps(audit_event(9))}),
    ("bad_time", {"timestamp": {"ms": BASE_MS}, "message": json.dumps(audit_event(9))}),
    ("bad_time", {"timestamp": True, "message": json.dumps(audit_event(9))}),
    ("bad_time", {"timestamp": "NaN", "message": json.dumps(audit_event(9))}),
    ("bad_time", {"timestamp": "1e400", "message": json.dumps(audit_event(9))}),
    ("bad_time", {"timestamp": "10000-01-01T00:00:00Z", "message": json.dumps(audit_event(9))}),
    ("bad_time", {"timestamp": -5, "message": json.dumps(audit_event(9))}),
    ("bad_time", {"timestamp": "9" * 5000, "message": json.dumps(audit_event(9))}),
    ("no_message", {"timestamp": BASE_MS}),
    ("no_message", {"timestamp": BASE_MS, "message": {"kind": "Event"}}),
    ("no_message", {"timestamp": BASE_MS, "short_message": 42, "message": None}),
    ("too_large", {"timestamp": BASE_MS, "message": json.dumps(audit_event(9, pad=80_000))}),
]


# -- one page -------------------------------------------------------------------------------

@pytest.mark.parametrize("reason, source", ODD_SOURCES)
def test_each_odd_document_is_a_skip_with_its_reason(reason, source):
    layout = DocumentLayout(max_audit_bytes=64 << 10)
    entries = read_page(page(hit(GOOD, "a"), hit(source, "b"), hit(GOOD, "c")), layout)
    assert [type(e) for e in entries] == [Document, Skip, Document]
    assert entries[1].reason == reason and entries[1].key == "b"
    assert [e.key for e in entries[::2]] == ["a", "c"]


@pytest.mark.parametrize("hit_value, reason, key", [
    ("not a hit", "not_object", None),
    ({"_id": 7, "_source": GOOD}, "bad_id", None),
    ({"_id": ["x"], "_source": GOOD}, "bad_id", None),
    ({"_id": "x" * 513, "_source": GOOD}, "bad_id", None),
    ({"_id": "ok", "_source": "text"}, "not_object", "ok"),
])
def test_odd_hits_are_skips(hit_value, reason, key):
    (entry,) = read_page(page(hit_value))
    assert isinstance(entry, Skip) and (entry.reason, entry.key) == (reason, key)


def test_a_document_without_id_is_delivered_keyed_by_its_content():
    other = {**GOOD, "message": json.dumps(audit_event(2))}
    a, b, c = read_page(page({"_source": GOOD}, {"_source": other}, {"_source": GOOD}))
    assert all(isinstance(e, Document) for e in (a, b, c))
    assert isinstance(a.key, bytes) and a.key == c.key != b.key


def test_the_audit_cap_counts_utf8_bytes():
    text = json.dumps({"kind": "Event", "note": "é" * 100}, ensure_ascii=False)
    size = len(text.encode())
    fits, over = (read_page(page(hit({"timestamp": BASE_MS, "message": text})), DocumentLayout(max_audit_bytes=cap))[0]
                  for cap in (size, size - 1))
    assert isinstance(fits, Document) and isinstance(over, Skip) and over.reason == "too_large"


def test_sort_values_are_kept_for_search_after():
    (entry,) = read_page(page(hit(GOOD, sort=[BASE_MS, "d1"])))
    assert entry.sort == (BASE_MS, "d1")
    (entry,) = read_page(page(hit(GOOD, sort=[{"odd": 1}])))
    assert entry.sort is None


@pytest.mark.parametrize("raw, words", [
    (b"", "not JSON"),
    (b"<html>502 Bad Gateway</html>", "not JSON"),
    (b'{"hits": {"hits": [', "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'"hits"', "not a JSON object"),
    (b'{"error": {"type": "x"}, "status": 500}', "no hits.hits"),
    (b'{"hits": {"hits": {"a": 1}}}', "no hits.hits"),
    (b'{"hits": []}', "no hits.hits"),
    (page(hit(GOOD), timed_out=True), "timed out"),
    (page(hit(GOOD), _shards={"total": 5, "successful": 3, "failed": 2}), "2 shards failed"),
    (b'{"hits": {"hits": ["\xff\xfe"]}}', "not UTF-8"),
    (b"\xef\xbb\xbf" + page(), "not JSON"),
    (b'{"hits": {"hits": [' + b"[" * 100 + b"]" * 100 + b"]}}", f"nested at most {MAX_DEPTH} levels"),
    (b'{"hits": {"hits": [' + b"[" * 100 + b"]}}", f"nested at most {MAX_DEPTH} levels"),
    (b'{"hits": {"hits": [' + b"0," * MAX_VALUES + b"0]}}", f"more than {MAX_VALUES} JSON values"),
    (b'{"hits": {"hits": [' + b'"",' * MAX_VALUES + b'""]}}', f"more than {MAX_VALUES} JSON values"),
])
def test_hostile_pages_are_history_errors(raw, words):
    with pytest.raises(HistoryError) as failure:
        read_page(raw)
    assert words in failure.value.reason
    assert isinstance(failure.value, HistoryAnswerTooLarge) == ("JSON values" in words)


def test_a_page_whose_text_would_take_too_much_memory_is_too_large():
    """One character beyond the BMP makes Python store the whole text 4 bytes a character."""
    message = "x" * (MAX_TEXT_BYTES // 4)
    ascii_page = page(hit({"timestamp": BASE_MS, "message": message}))
    assert isinstance(read_page(ascii_page)[0], Skip)  # too_large, but read
    with pytest.raises(HistoryAnswerTooLarge, match="MiB of text"):
        read_page(page(hit({"timestamp": BASE_MS, "message": message + "\U0001F600"}), ensure_ascii=False))


def test_strings_full_of_brackets_and_escapes_are_not_structure():
    """What sits in strings (an audit event's own JSON) counts neither as depth nor values."""
    tricky = '\\"[[[[' * 200 + "\\\\" + '{"a":[1,2,3]}' * 200
    (entry,) = read_page(page(hit({**GOOD, "message": tricky})))
    assert isinstance(entry, Document) and entry.audit == tricky


@pytest.mark.parametrize("value, ms", [
    (1764824400.123, BASE_MS + 123), ("1764824400.123", BASE_MS + 123), (1764824400.999, BASE_MS + 999),
    (BASE_MS, BASE_MS), ("2025-12-04T05:00:00.123456Z", BASE_MS + 123), (0, 0),
    ("9999-12-31T23:59:59.999Z", 253_402_300_799_999), ("1969-12-31T23:59:59Z", None), (10 ** 400, None),
    (float("inf"), None), ("Infinity", None), ("-0", 0), ("sNaN", None), ("x" * 100, None), ([1], None),
])
def test_times_are_exact_and_bounded(value, ms):
    assert parse_time_ms(value) == ms


HOSTILE_PAGES = {
    # 8 MiB of tiny values, the same of nesting, documents nested just under the depth cap,
    # and a page just under the value cap: the last one is parsed.
    "tiny values": "b'{\"hits\":{\"hits\":[' + b'{},' * ((8 << 20) // 3) + b'{}]}}'",
    "deep": "b'{\"hits\":{\"hits\":[' + b'[' * (4 << 20) + b']' * (4 << 20) + b']}}'",
    "deep documents": "b'{\"hits\":{\"hits\":[' + (b'{\"_source\":' + b'[' * 55 + b']' * 55 + b'},') "
                      "* ((8 << 20) // 125) + b'{}]}}'",
    "one astral character": "b'{\"hits\":{\"hits\":[{\"_source\":{\"message\":\"' + b'x' * (8 << 20) "
                            "+ '\\U0001F600'.encode() + b'\"}}]}}'",
    "just under the cap": "b'{\"hits\":{\"hits\":[' + b','.join(b'%d.5' % i for i in range(MAX_VALUES - 100)) "
                          "+ b']}}'",
}


@pytest.mark.parametrize("name", HOSTILE_PAGES)
def test_hostile_pages_stay_within_bounded_memory(name):
    """Peak RSS (VmHWM) of a process reading one hostile page, over what it held before."""
    script = textwrap.dedent(f"""
        from k8saudit_ovh.sources.history.documents import MAX_VALUES, read_page
        from k8saudit_ovh.sources.history.errors import HistoryError
        raw = {HOSTILE_PAGES[name]}
        def kb(key):
            return int(open("/proc/self/status").read().split(key + ":")[1].split()[0])
        before = kb("VmRSS")
        try:
            outcome = len(read_page(raw))
        except HistoryError as e:
            outcome = e.reason
        print(len(raw), (kb("VmHWM") - before) // 1024, outcome)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    size, grown_mb, outcome = result.stdout.split(" ", 2)
    # Unbounded, json.loads of 8 MiB of `{}` takes ~200 MB; bounded, 20-35 MB (README: < 40).
    assert int(grown_mb) < 64, (name, size, grown_mb, outcome)


# -- the cursor against a server ------------------------------------------------------------

def add_window_with_odd_documents(history, count=60):
    """`count` good documents 5 ms apart; an odd one after every third, at the same time as
    the next good one or between two (the server indexes it at that time whatever it holds)."""
    good_times = [BASE_MS + 5 * n for n in range(count)]
    odd = [source for _, source in ODD_SOURCES]
    for n, t in enumerate(good_times):
        if n % 3 == 1:
            history.add(odd[(n // 3) % len(odd)], t - (n % 2) * 2)
        history.add(gelf_document(audit_event(n), t), t)
    return good_times


@pytest.mark.parametrize("page_size", [1, 2, 7, 100])
def test_odd_documents_mid_window_are_skipped_and_every_good_one_comes_once(history, page_size):
    good_times = add_window_with_odd_documents(history)
    history.add("odd without id", BASE_MS + 51, doc_id=None)
    history.add(gelf_document(audit_event(999), BASE_MS + 52), BASE_MS + 52, doc_id=None)  # good, no _id
    cursor = HistoryCursor(client_of(history, page_size=page_size, max_event_size=1024), BASE_MS)
    docs = list(cursor.read_until(good_times[-1]))
    assert [json.loads(d.audit)["auditID"] for d in docs] == (
        [f"id-{n}" for n in range(11)] + ["id-999"] + [f"id-{n}" for n in range(11, 60)])
    assert [d.time_ms for d in docs] == sorted(d.time_ms for d in docs)
    odd_count = len([n for n in range(60) if n % 3 == 1])
    assert cursor.documents == 61
    expected = {reason: 0 for reason in SKIP_REASONS}
    for k in range(odd_count):
        expected[ODD_SOURCES[k % len(ODD_SOURCES)][0]] += 1
    # The odd one without _id is counted each time it is read: a page may start again before it.
    keyless = cursor.skipped["not_object"] - expected["not_object"]
    assert 1 <= keyless <= 2
    expected["not_object"] += keyless
    assert dict(cursor.skipped) == expected and cursor.skipped.total == sum(expected.values())


def test_reading_on_later_skips_nothing_twice(history):
    good_times = add_window_with_odd_documents(history, 30)
    cursor = HistoryCursor(client_of(history, page_size=4, max_event_size=1024), BASE_MS)
    first = list(cursor.read_until(good_times[14]))
    second = list(cursor.read_until(good_times[-1]))
    assert ids(first + second) == [f"id-{n}" for n in range(30)]
    assert cursor.skipped.total == 10


def test_a_server_that_ignores_the_sort_order_fails_the_window(history):
    for n in reversed(range(20)):  # stored newest first: served in that order
        history.add(gelf_document(audit_event(n), BASE_MS + n), BASE_MS + n)
    history.disorder.ignore_sort = True
    with pytest.raises(HistoryError) as failure:
        list(client_of(history, page_size=5).read(BASE_MS, BASE_MS + 100))
    assert "ignores the sort order" in failure.value.reason


def test_a_server_that_answers_outside_the_range_fails_the_window(history):
    for n in range(20):
        history.add(gelf_document(audit_event(n), BASE_MS + 10 * n), BASE_MS + 10 * n)
    history.disorder.widen_range_ms = 15
    with pytest.raises(HistoryError) as failure:
        list(client_of(history, page_size=5).read(BASE_MS + 50, BASE_MS + 100))
    assert "ignores the time range" in failure.value.reason


def add_flood(history, flood: int):
    """5 documents, `flood` sharing one millisecond, 5 more: returns (times, flooded ms)."""
    times = [BASE_MS + n for n in range(5)] + [BASE_MS + 5] * flood + [BASE_MS + 6 + n for n in range(5)]
    for n, t in enumerate(times):
        history.add(gelf_document(audit_event(n), t), t)
    return times, BASE_MS + 5


def test_a_flood_beyond_the_result_window_is_paged_with_search_after(history):
    times, flooded = add_flood(history, 137)
    history.disorder.max_result_window = 40
    history.add("odd in the flood", flooded)
    cursor = HistoryCursor(client_of(history, page_size=10), BASE_MS, result_window=40)
    docs = list(cursor.read_until(BASE_MS + 100))
    assert sorted(ids(docs), key=lambda i: int(i[3:])) == [f"id-{n}" for n in range(len(times))]
    assert len(docs) == len(times) and [d.time_ms for d in docs] == sorted(times)
    assert cursor.skipped["not_object"] == 1 and cursor.skipped.total == 1
    searched_after = [body for body in history.requests if "search_after" in body]
    assert searched_after and all([list(s) for s in body["sort"]] == [["timestamp"], ["_id"]]
                                  for body in searched_after)
    assert all(body.get("from", 0) + body["size"] <= 40 for body in history.requests)
    # The cursor goes on after the flood, and later reads start after it.
    history.add(gelf_document(audit_event(500), BASE_MS + 200), BASE_MS + 200)
    assert ids(cursor.read_until(BASE_MS + 300)) == ["id-500"]


def test_after_a_flood_a_server_answering_it_again_fails_the_window(history):
    """After a flood the next page asks `gt` its millisecond: its documents coming again
    would be delivered twice, so they are a failure, not a silent repeat."""
    add_flood(history, 60)
    history.disorder.max_result_window = 40
    cursor = HistoryCursor(client_of(history, page_size=10), BASE_MS, result_window=40)
    flood_and_before = list(cursor.read_until(BASE_MS + 5))
    assert len(flood_and_before) == 65
    history.disorder.widen_range_ms = 1
    with pytest.raises(HistoryError, match="ignores the time range"):
        list(cursor.read_until(BASE_MS + 100))


@pytest.mark.parametrize("id_sort, words", [("refuse", "refuses a sort on _id"),
                                            ("no_values", "no tiebreaker")])
def test_a_flood_without_a_tiebreaker_is_a_clear_error(history, id_sort, words):
    add_flood(history, 60)
    history.disorder.max_result_window, history.disorder.id_sort = 40, id_sort
    cursor = HistoryCursor(client_of(history, page_size=10), BASE_MS, result_window=40)
    with pytest.raises(HistoryError) as failure:
        list(cursor.read_until(BASE_MS + 100))
    assert "more than 30 documents share the time" in failure.value.reason and words in failure.value.reason
    assert cursor.documents <= 45


def test_the_keys_of_one_timestamp_are_bounded(history):
    """A flood read by `from` alone stops at the window: the keys held never exceed it."""
    add_flood(history, 300)
    history.disorder.id_sort = "refuse"
    cursor = HistoryCursor(client_of(history, page_size=25), BASE_MS, result_window=100)
    held = []
    with pytest.raises(HistoryError):
        for _ in cursor.read_until(BASE_MS + 100):
            held.append(len(cursor._at_time))
    assert max(held) <= 100


def test_a_page_too_large_is_asked_again_at_half_the_size(history):
    for n in range(40):
        source = {**gelf_document(audit_event(n), BASE_MS + n), "_numbers": [0] * 10_000}
        history.add(source, BASE_MS + n)
    cursor = HistoryCursor(client_of(history, page_size=100), BASE_MS)
    assert ids(cursor.read_until(BASE_MS + 100)) == [f"id-{n}" for n in range(40)]
    sizes = [body["size"] for body in history.requests]
    assert sizes[:4] == [100, 50, 25, 12] and set(sizes[4:]) == {12}


def test_a_single_document_too_large_is_an_error_with_its_time(history):
    history.add(gelf_document(audit_event(1), BASE_MS), BASE_MS)
    history.add({**gelf_document(audit_event(2), BASE_MS + 1), "_numbers": [0] * MAX_VALUES}, BASE_MS + 1)
    cursor = HistoryCursor(client_of(history, page_size=8), BASE_MS)
    got = []
    with pytest.raises(HistoryError) as failure:
        got.extend(cursor.read_until(BASE_MS + 100))
    assert ids(got) == ["id-1"]
    assert f"a single document at or after {BASE_MS} ms is too large" in failure.value.reason
    assert not isinstance(failure.value, HistoryAnswerTooLarge)


def test_memory_stays_at_one_page_whatever_the_window(history):
    """Peak Python allocations while reading a window of 40 pages of ~120 KB are those of
    a window of 10 (holding the pages read would take 4 times as much)."""
    for n in range(400):
        history.add(gelf_document(audit_event(n, pad=12_000), BASE_MS + n), BASE_MS + n)
    client = client_of(history, page_size=10)
    list(client.read(BASE_MS, BASE_MS + 5))  # the client's first-use allocations

    def peak_reading(count: int) -> int:
        tracemalloc.start()
        try:
            assert sum(1 for _ in client.read(BASE_MS, BASE_MS + count - 1)) == count
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    short, long = peak_reading(100), peak_reading(400)
    assert long < 1.5 * short, (short, long)


# -- through the C host ---------------------------------------------------------------------

def test_a_history_window_with_odd_documents_gives_exactly_the_good_events(host, plugin, history):
    events = feed(600, int(time.time() * 1000) - 3_600_000)
    odd = [source for reason, source in ODD_SOURCES if reason != "too_large"]
    for n, event in enumerate(events):
        history.add(gelf_document(event, _ms(event)), _ms(event))
        if n % 7 == 3:
            history.add(odd[n % len(odd)], _ms(event))
    start, end = _ms(events[100]), _ms(events[499])
    run = run_host(host, plugin, f"history:{rfc3339(start)}..{rfc3339(end)}", ["ka.auditid", "ka.stage"],
                   config=config(history), time_limit=60)
    assert run.end["end"] == "eof", run.end
    got = [(e["values"]["ka.auditid"], e["values"]["ka.stage"]) for e in run.events]
    assert got == [(e["auditID"], e["stage"]) for e in events[100:500]]
    # Each odd document of the window counted once, by its reason, in the plugin's metrics.
    reasons = [reason for reason, _ in ODD_SOURCES if reason != "too_large"]
    expected = collections.Counter(reasons[n % len(reasons)] for n in range(100, 500) if n % 7 == 3)
    assert {r: run.metrics[f"history_documents_skipped.{r}"] for r in expected} == dict(expected)
    assert run.metrics["history_documents_skipped"] == sum(expected.values())


def test_a_server_ignoring_the_sort_fails_the_window_through_the_host(host, plugin, history):
    events = feed(300, int(time.time() * 1000) - 3_600_000)
    for event in reversed(events):
        history.add(gelf_document(event, _ms(event)), _ms(event))
    history.disorder.ignore_sort = True
    run = run_host(host, plugin, f"history:{rfc3339(_ms(events[0]))}..{rfc3339(_ms(events[-1]))}",
                   ["ka.auditid"], config=config(history), time_limit=60)
    assert run.end["end"] == "failure" and "ignores the sort order" in run.end["error"], run.end


@pytest.mark.parametrize("bulk, words", [("numbers", None), ("deep", f"nested at most {MAX_DEPTH} levels")])
def test_hostile_documents_keep_the_host_small(host, plugin, history, bulk, words):
    """Pages of documents full of tiny values are read in smaller pages; pages of deep
    documents fail the window with the reason; either way the host stays small."""
    events = feed(200, int(time.time() * 1000) - 3_600_000)
    for event in events:
        extra = [0] * 6000 if bulk == "numbers" else json.loads("[" * 500 + "]" * 500)
        history.add({**gelf_document(event, _ms(event)), "_bulk": extra}, _ms(event))
    run = run_host(host, plugin, f"history:{rfc3339(_ms(events[0]))}..{rfc3339(_ms(events[-1]))}",
                   ["ka.auditid"], config=config(history), time_limit=120)
    if words is None:
        assert run.end["end"] == "eof" and len(run.events) == 200, run.end
    else:
        assert run.end["end"] == "failure" and words in run.end["error"], run.end
    assert run.end["maxrss_kb"] / 1024 < 200, run.end

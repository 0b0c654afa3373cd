"""The history client (k8saudit_ovh/sources/history/) against the OpenSearch-compatible
test server: windows, paging through shared timestamps, layouts, time formats, failures."""
import logging

import pytest

from k8saudit_ovh.sources.history import (HistoryClient, HistoryEndpoint, HistoryError, parse_time_ms)
from opensearch_server import TIME_FORMATS, OpenSearchServer

pytest.importorskip("opensearchpy")

BASE_MS = 1_764_824_400_000  # 2025-12-04 05:00:00 UTC


def audit_event(n: int) -> dict:
    return {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": f"id-{n}",
            "stage": "ResponseComplete", "verb": "get", "requestURI": f"/api/v1/pods/p{n}",
            "stageTimestamp": "2025-12-04T05:00:00.000001Z"}


@pytest.fixture
def history():
    with OpenSearchServer() as server:
        yield server


def endpoint(server, **kwargs) -> HistoryEndpoint:
    kwargs.setdefault("backoff_initial_s", 0.01)
    return HistoryEndpoint(server.url(), server.user, server.password, **kwargs)


def ids(docs) -> list[str]:
    import json
    return [json.loads(d.audit)["auditID"] for d in docs]


@pytest.mark.parametrize("time_format", TIME_FORMATS)
@pytest.mark.parametrize("layout", ["message", "short_message"])
def test_a_window_in_time_order_in_every_layout_and_time_format(history, layout, time_format):
    times = [BASE_MS + 7 * n for n in range(50)]
    history.add_events([audit_event(n) for n in range(50)], times, layout, time_format,
                       underscore=time_format != "iso")
    client = HistoryClient(endpoint(history, page_size=8))
    docs = list(client.read(times[10], times[39]))
    assert ids(docs) == [f"id-{n}" for n in range(10, 40)]
    assert [d.time_ms for d in docs] == times[10:40]
    # Each page starts at the time of the previous page's last document: 8 + 7 + 7 + 7 + 1.
    assert client.requests == 5 and client.errors == 0


@pytest.mark.parametrize("tied", [3, 10, 25])
def test_documents_sharing_a_timestamp_across_pages_come_once(history, tied):
    times = [BASE_MS + n for n in range(5)] + [BASE_MS + 5] * tied + [BASE_MS + 6 + n for n in range(5)]
    history.add_events([audit_event(n) for n in range(len(times))], times)
    docs = list(HistoryClient(endpoint(history, page_size=4)).read(BASE_MS, BASE_MS + 100))
    assert ids(docs) == [f"id-{n}" for n in range(len(times))]


def test_no_scroll_pit_or_id_sort_is_asked(history):
    history.add_events([audit_event(n) for n in range(30)], [BASE_MS + n for n in range(30)])
    list(HistoryClient(endpoint(history, page_size=7)).read(BASE_MS, BASE_MS + 30))
    for body in history.requests:
        assert set(body) <= {"query", "sort", "size", "from", "track_total_hits"}
        assert [list(s) for s in body["sort"]] == [["timestamp"]]


def test_custom_field_names(history):
    for n in range(5):
        history.add({"@t": BASE_MS + n, "_audit": '{"kind":"Event","auditID":"id-%d"}' % n}, BASE_MS + n)
    client = HistoryClient(endpoint(history, time_field="@t", short_message_field="audit"))
    assert ids(client.read(BASE_MS, BASE_MS + 10)) == [f"id-{n}" for n in range(5)]
    assert all("@t" in body["query"]["range"] and "@t" in body["sort"][0] for body in history.requests)


def test_wrong_password_is_a_clear_error_without_retry_or_password(history, caplog):
    history.add_events([audit_event(1)], [BASE_MS])
    client = HistoryClient(HistoryEndpoint(history.url(), history.user, "wrong-password-123"))
    with caplog.at_level(logging.DEBUG), pytest.raises(HistoryError) as failure:
        list(client.read(BASE_MS, BASE_MS + 10))
    assert "401" in failure.value.reason and not failure.value.retryable
    assert client.requests == 1 and history.statuses == [401]
    assert "wrong-password-123" not in str(failure.value) + caplog.text + repr(client) + repr(client.endpoint)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_overload_and_server_errors_are_retried_with_backoff(history, status):
    history.add_events([audit_event(n) for n in range(3)], [BASE_MS + n for n in range(3)])
    history.misbehavior.status, history.misbehavior.times = status, 2
    client = HistoryClient(endpoint(history))
    assert ids(client.read(BASE_MS, BASE_MS + 10)) == ["id-0", "id-1", "id-2"]
    assert history.statuses == [status, status, 200] and client.errors == 2


def test_retries_are_bounded(history):
    history.misbehavior.status, history.misbehavior.times = 500, -1
    client = HistoryClient(endpoint(history, max_retries=3))
    with pytest.raises(HistoryError) as failure:
        list(client.read(BASE_MS, BASE_MS + 10))
    assert "HTTP 500" in failure.value.reason and "4 attempts" in failure.value.reason
    assert client.requests == 4


def test_unreachable_history_fails_after_bounded_retries():
    client = HistoryClient(HistoryEndpoint("http://127.0.0.1:9/alias", "u", "unreachable-pass",
                                           max_retries=1, backoff_initial_s=0.01, timeout_s=2))
    with pytest.raises(HistoryError) as failure:
        list(client.read(BASE_MS, BASE_MS + 10))
    assert "cannot connect" in failure.value.reason and "unreachable-pass" not in failure.value.reason


@pytest.mark.parametrize("url, words", [
    ("http://gra1.logs.ovh.com:9200/alias", "only allowed on loopback"),
    ("https://gra1.logs.ovh.com:9200/", "names no alias"),
    ("ftp://gra1.logs.ovh.com/alias", "must be https"),
])
def test_bad_urls_are_refused(url, words):
    with pytest.raises(ValueError, match=words):
        HistoryEndpoint(url)


def test_password_in_the_url_is_redacted():
    e = HistoryEndpoint("http://user:url-secret-99@127.0.0.1:9200/alias")
    assert "url-secret-99" not in repr(e) + e.display


@pytest.mark.parametrize("value, ms", [
    (1764824400, BASE_MS), (1764824400.123, BASE_MS + 123), (BASE_MS + 5, BASE_MS + 5),
    ("1764824400.5", BASE_MS + 500), ("2025-12-04 05:00:00.123", BASE_MS + 123),
    ("2025-12-04T05:00:00.123Z", BASE_MS + 123), ("2025-12-04T07:00:00+02:00", BASE_MS),
    ("not a time", None), (True, None), (float("nan"), None), (None, None),
])
def test_time_values(value, ms):
    assert parse_time_ms(value) == ms


def test_a_slow_history_times_out_and_is_retried_within_bounds(history):
    history.add_events([audit_event(1)], [BASE_MS])
    history.misbehavior.delay_s = 1.0
    client = HistoryClient(endpoint(history, timeout_s=0.3, max_retries=1))
    with pytest.raises(HistoryError) as failure:
        list(client.read(BASE_MS, BASE_MS + 10))
    assert "no complete answer within timeoutS (0.3 s)" in failure.value.reason and client.requests == 2

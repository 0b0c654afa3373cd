"""History requests against a hostile or IAM-only server (tests/opensearch_server.py:
WireServer, TokenServer): one deadline per whole request, byte caps before and after
decompression, close/stop cutting a request short, and the three ways to authenticate
(LDP user/password or `pat_jwt_` Basic, a static IAM token, an IAM service account whose
short-lived tokens are renewed), with no secret in any log, error or repr."""
import json
import logging
import socket
import threading
import time
import tracemalloc

import pytest

from c_host import is_sanitized, run_host
from k8saudit_ovh.redaction import MASK, redact
from k8saudit_ovh.sources.history import HistoryAnswerTooLarge, HistoryClient, HistoryEndpoint, HistoryError
from opensearch_server import TokenServer, WireServer, gzip_bomb
from test_gap_fill import _ms, feed, keys, run_feed
from test_history_client import BASE_MS, audit_event, ids
from test_history_source import rfc3339
from test_streams import FAST, TOKEN as LDP_TOKEN

pytest.importorskip("opensearchpy")

IAM_TOKEN = "eyJhbGciOiJFUzI1NiJ9.static-Iam-t0ken.sig"
# Generous slack over a budget: CI runs on a busy 2-core machine.
SLACK_S = 5.0
MIB = 1 << 20


@pytest.fixture
def history():
    with WireServer() as server:
        server.add_events([audit_event(n) for n in range(5)], [BASE_MS + n for n in range(5)])
        yield server


@pytest.fixture
def tokens():
    with TokenServer() as server:
        yield server


def endpoint(server, **kwargs) -> HistoryEndpoint:
    if not {"token", "client_id", "user", "password"} & set(kwargs):
        kwargs.update(user=server.user, password=server.password)
    kwargs.setdefault("backoff_initial_s", 0.01)
    return HistoryEndpoint(server.url(), **kwargs)


def service_account(history, tokens, **kwargs) -> HistoryEndpoint:
    history.bearer = tokens.valid
    return endpoint(history, client_id=tokens.client_id, client_secret=tokens.client_secret,
                    token_url=tokens.url(), **kwargs)


def timed_failure(client: HistoryClient) -> tuple[HistoryError, float]:
    started = time.monotonic()
    with pytest.raises(HistoryError) as failure:
        list(client.read(BASE_MS, BASE_MS + 10))
    return failure.value, time.monotonic() - started


# -- one deadline per whole request --------------------------------------------------------

@pytest.mark.parametrize("wire", ["trickle_body", "trickle_headers"])
def test_a_trickling_answer_is_abandoned_at_the_deadline(history, wire):
    """A byte or a header line every 0.1 s: each socket read is quick, the request never ends."""
    history.wire = wire
    client = HistoryClient(endpoint(history, timeout_s=1, max_retries=1))
    error, seconds = timed_failure(client)
    assert "no complete answer within timeoutS (1 s)" in error.reason and "after 2 attempts" in error.reason
    assert error.retryable and client.requests == 2 and history.statuses == [200, 200]
    assert seconds < 2 * 1 + SLACK_S, f"{seconds:.1f} s for two attempts of 1 s"


def test_a_token_endpoint_that_never_answers_is_abandoned_at_the_deadline(history):
    listener = socket.create_server(("127.0.0.1", 0))  # connections queue, never accepted
    try:
        client = HistoryClient(endpoint(history, client_id="sa", client_secret="sa-secret-Silent", timeout_s=1,
                                        max_retries=0,
                                        token_url=f"http://127.0.0.1:{listener.getsockname()[1]}/auth/oauth2/token"))
        error, seconds = timed_failure(client)
    finally:
        listener.close()
    assert "IAM token endpoint" in error.reason and "no complete answer within timeoutS (1 s)" in error.reason
    assert seconds < 1 + SLACK_S and history.statuses == []


@pytest.fixture
def silent_host():
    """A loopback port whose accept queue is full: the kernel drops further connection
    attempts (SYNs), as a firewall that drops packets would. Yields the port."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    queued = []
    try:
        for _ in range(8):  # the queue holds backlog + 1 connections
            peer = socket.socket()
            peer.settimeout(0.5)
            try:
                peer.connect(("127.0.0.1", port))
            except OSError:
                peer.close()
                break
            queued.append(peer)
        else:
            pytest.skip("this kernel does not drop connection attempts to a full accept queue")
        yield port
    finally:
        for peer in queued:
            peer.close()
        listener.close()


def connecting_to(port: int) -> bool:
    """Whether a socket of this process is in SYN_SENT to 127.0.0.1:port (/proc/net/tcp)."""
    with open("/proc/net/tcp") as table:
        return any(line.split()[2] == f"0100007F:{port:04X}" and line.split()[3] == "02"
                   for line in list(table)[1:])


def test_a_host_that_drops_connection_attempts_is_abandoned_at_the_deadline(silent_host):
    client = HistoryClient(HistoryEndpoint(f"http://127.0.0.1:{silent_host}/alias", "u", "silent-p4ss",
                                           timeout_s=1, max_retries=0))
    error, seconds = timed_failure(client)
    assert "no complete answer within timeoutS (1 s)" in error.reason and seconds < 1 + SLACK_S


def test_close_cuts_a_connection_attempt_short(silent_host):
    client = HistoryClient(HistoryEndpoint(f"http://127.0.0.1:{silent_host}/alias", "u", "silent-p4ss",
                                           timeout_s=120))
    assert_close_cuts_short(client, lambda: connecting_to(silent_host), "the client never tried to connect")


def assert_close_cuts_short(client, in_progress, never: str):
    """Reads with `client` in a thread; once `in_progress()`, close() ends the read within its
    1 s budget (+ slack), as 'stopped'."""
    outcome = []
    reader = threading.Thread(target=lambda: outcome.append(timed_failure(client)), daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    while not in_progress():
        assert time.monotonic() < deadline, never
        time.sleep(0.01)
    started = time.monotonic()
    client.close()
    reader.join(1 + SLACK_S)
    assert not reader.is_alive() and time.monotonic() - started < 1 + SLACK_S
    assert "stopped" in outcome[0][0].reason


def test_history_over_tls_and_its_deadline(history, tls_files):
    ca_file, (cert_file, key_file) = tls_files
    history.serve_tls(cert_file, key_file)
    client = HistoryClient(endpoint(history, ca_file=ca_file))
    assert client.endpoint.url.startswith("https://")
    assert ids(client.read(BASE_MS, BASE_MS + 10)) == [f"id-{n}" for n in range(5)]
    history.wire = "trickle_headers"
    error, seconds = timed_failure(HistoryClient(endpoint(history, ca_file=ca_file, timeout_s=1, max_retries=0)))
    assert "no complete answer within timeoutS (1 s)" in error.reason and seconds < 1 + SLACK_S


def established_to(port: int) -> bool:
    with open("/proc/net/tcp") as table:
        return any(line.split()[2] == f"0100007F:{port:04X}" and line.split()[3] == "01"
                   for line in list(table)[1:])


def test_close_cuts_a_tls_handshake_short(tls_files):
    """A server that takes the connection and never answers the ClientHello."""
    listener = socket.create_server(("127.0.0.1", 0))  # connections queue, never accepted
    port = listener.getsockname()[1]
    try:
        client = HistoryClient(HistoryEndpoint(f"https://127.0.0.1:{port}/alias", "u", "tls-p4ss",
                                               timeout_s=120, ca_file=tls_files[0]))
        assert_close_cuts_short(client, lambda: established_to(port), "the client never connected")
    finally:
        listener.close()


# -- byte caps, before and after decompression ---------------------------------------------

def test_a_gzip_bomb_costs_at_most_the_cap(history):
    """1 GiB of zeros in 1 MiB of gzip: refused once 8 MiB are inflated, Python's peak
    allocation a small multiple of the cap."""
    history.wire, history.bomb = "gzip_bomb", gzip_bomb(1024 * MIB)
    e = endpoint(history)
    client = HistoryClient(e)
    tracemalloc.start()
    try:
        with pytest.raises(HistoryAnswerTooLarge) as failure:
            client.search({"query": {"match_all": {}}})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.max_page_bytes == 8 * MIB
    assert f"more than {e.max_page_bytes} bytes once decompressed" in failure.value.reason
    assert client.requests == 1  # not retried: the cursor asks for less instead
    assert peak < 3 * e.max_page_bytes, f"peak {peak / MIB:.0f} MiB"


@pytest.mark.parametrize("wire, words", [("oversized", f"an answer of {20 * MIB} bytes, over the cap"),
                                         ("oversized_unannounced", f"more than {8 * MIB} bytes, over the cap")])
def test_an_oversized_answer_is_refused(history, wire, words):
    history.wire = wire
    client = HistoryClient(endpoint(history))
    with pytest.raises(HistoryAnswerTooLarge) as failure:
        client.search({"query": {"match_all": {}}})
    assert words in failure.value.reason and not failure.value.retryable


def test_the_page_cap_holds_two_documents_of_the_largest_size():
    from k8saudit_ovh.config import max_frame_bytes
    assert HistoryEndpoint("http://127.0.0.1:9/a").max_page_bytes == 8 * MIB
    big = HistoryEndpoint("http://127.0.0.1:9/a", max_event_size=4 * MIB)
    assert big.max_page_bytes == 2 * max_frame_bytes(4 * MIB)


def test_a_gzip_answer_within_the_cap_is_read(history):
    """The ordinary case: the client asks for gzip, the answer comes back inflated."""
    history.wire = "gzip"
    client = HistoryClient(endpoint(history, page_size=2))
    assert ids(client.read(BASE_MS, BASE_MS + 10)) == [f"id-{n}" for n in range(5)]
    assert client.requests >= 3


def test_an_answer_that_is_not_the_gzip_it_claims_is_an_error(history):
    history.wire = "gzip_garbage"
    with pytest.raises(HistoryError, match="the answer is not valid gzip"):
        HistoryClient(endpoint(history, max_retries=0)).search({"query": {"match_all": {}}})


# -- close and stop cut a request short ----------------------------------------------------

@pytest.mark.parametrize("how", ["close", "stop"])
def test_close_or_stop_cuts_a_request_in_flight(history, how):
    history.wire = "hang"
    stop = threading.Event()
    client = HistoryClient(endpoint(history, timeout_s=120), stop)
    outcome = []

    def read():
        try:
            client.search({"query": {"match_all": {}}})
        except HistoryError as exc:
            outcome.append(exc)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert history.misbehaving.wait(30), "the request never reached the server"
    started = time.monotonic()
    client.close() if how == "close" else stop.set()
    reader.join(1 + SLACK_S)
    seconds = time.monotonic() - started
    assert not reader.is_alive() and seconds < 1 + SLACK_S
    assert "stopped" in outcome[0].reason and not outcome[0].retryable
    assert not any(t.name == "history-request-deadline" for t in threading.enumerate())


# -- IAM authentication --------------------------------------------------------------------

def test_a_static_iam_token_is_sent_as_bearer(history):
    history.bearer = lambda token: token == IAM_TOKEN
    client = HistoryClient(endpoint(history, token=IAM_TOKEN))
    assert ids(client.read(BASE_MS, BASE_MS + 10)) == [f"id-{n}" for n in range(5)]
    assert set(history.tokens_used) == {IAM_TOKEN}


def test_a_wrong_iam_token_is_a_clear_error_without_retry(history, caplog):
    history.bearer = lambda token: token == IAM_TOKEN
    client = HistoryClient(endpoint(history, token="eyJ.wrong-Iam-token.sig"))
    with caplog.at_level(logging.DEBUG):
        error, _ = timed_failure(client)
    assert "HTTP 401, the IAM token was rejected" in error.reason and not error.retryable
    assert history.statuses == [401] and client.requests == 1
    assert "wrong-Iam-token" not in error.reason + caplog.text + repr(client) + repr(client.endpoint)


def test_pat_jwt_basic_is_accepted_by_an_iam_only_history(history):
    history.bearer = lambda token: token == IAM_TOKEN
    client = HistoryClient(endpoint(history, user="pat_jwt_falco", password=IAM_TOKEN))
    assert ids(client.read(BASE_MS, BASE_MS + 10)) == [f"id-{n}" for n in range(5)]
    assert set(history.tokens_used) == {IAM_TOKEN}


def test_a_service_account_gets_its_token_with_client_credentials(history, tokens):
    client = HistoryClient(service_account(history, tokens))
    assert ids(client.read(BASE_MS, BASE_MS + 10)) == [f"id-{n}" for n in range(5)]
    assert tokens.forms == [{"grant_type": "client_credentials", "scope": "all"}]
    assert tokens.statuses == [200] and set(history.tokens_used) == {tokens.issued[0][0]}


def test_a_service_account_renews_its_token_before_it_expires(history, tokens):
    """expires_in 1 s: a token is renewed once three quarters of its life are gone, before
    history would refuse it (the server here accepts expired tokens: no 401 is involved)."""
    tokens.enforce_expiry = False
    client = HistoryClient(service_account(history, tokens))
    client.search({"query": {"match_all": {}}})
    time.sleep(1.0)  # the token's age, not a synchronisation
    client.search({"query": {"match_all": {}}})
    assert len(tokens.issued) == 2 and history.tokens_used == [t for t, _ in tokens.issued]
    assert 401 not in history.statuses


def test_reads_go_on_across_token_expiries(history):
    """Tokens of 2 s that history refuses once expired, pages of one document 0.25 s apart
    (5 s in all): the window is read whole with one token after another."""
    history.add_events([audit_event(n) for n in range(5, 20)], [BASE_MS + n for n in range(5, 20)])
    history.misbehavior.delay_s = 0.25
    with TokenServer(expires_in=2) as tokens:
        client = HistoryClient(service_account(history, tokens, page_size=1))
        assert ids(client.read(BASE_MS, BASE_MS + 100)) == [f"id-{n}" for n in range(20)]
    assert len(tokens.issued) >= 3


def test_a_401_renews_the_token_once_and_retries(history, tokens):
    tokens.enforce_expiry = False
    client = HistoryClient(service_account(history, tokens))
    client.search({"query": {"match_all": {}}})
    tokens.revoke()  # e.g. the service account's token was revoked before its expiry
    client.search({"query": {"match_all": {}}})
    assert history.statuses == [200, 401, 200] and len(tokens.issued) == 2
    assert history.tokens_used == [tokens.issued[0][0], tokens.issued[0][0], tokens.issued[1][0]]


def test_a_token_still_refused_after_one_renewal_is_a_clear_error(history, tokens, caplog):
    client = HistoryClient(service_account(history, tokens))
    history.bearer = lambda token: False  # e.g. the account may not read this LDP service
    with caplog.at_level(logging.DEBUG):
        error, _ = timed_failure(client)
    assert "HTTP 401, the service account's fresh IAM token was rejected" in error.reason and not error.retryable
    assert history.statuses == [401, 401] and len(tokens.issued) == 2
    assert not any(token in caplog.text + error.reason for token, _ in tokens.issued)


def test_a_wrong_client_secret_is_a_clear_error_without_the_secret(history, tokens, caplog):
    e = service_account(history, tokens)
    client = HistoryClient(HistoryEndpoint(e.url, client_id=e.client_id, client_secret="not-the-Client-secret",
                                           token_url=e.token_url, backoff_initial_s=0.01))
    with caplog.at_level(logging.DEBUG):
        error, _ = timed_failure(client)
    assert "HTTP 401, invalid_client (check clientId, clientSecret and tokenUrl)" in error.reason
    assert not error.retryable and tokens.statuses == [401] and history.statuses == []
    assert "not-the-Client-secret" not in error.reason + caplog.text + repr(client) + repr(client.endpoint)


def test_no_secret_of_any_way_reaches_logs_errors_or_reprs(history, tokens, caplog):
    """Every credential is registered: what a server echoes is masked too."""
    static = HistoryEndpoint(history.url(), token=IAM_TOKEN)
    pat = HistoryEndpoint(history.url(), user="pat_jwt_x", password=IAM_TOKEN)
    account = service_account(history, tokens)
    with caplog.at_level(logging.DEBUG):
        client = HistoryClient(account)
        client.search({"query": {"match_all": {}}})
        issued = tokens.issued[0][0]
        logging.getLogger("k8saudit_ovh.history").warning("echo %s %s %s", issued, tokens.client_secret, IAM_TOKEN)
    secrets = [IAM_TOKEN, tokens.client_secret, issued, f"Bearer {issued}"]
    texts = caplog.text + "".join(repr(x) for x in (static, pat, account, client))
    assert not any(secret in texts for secret in secrets) and MASK in caplog.text
    assert all(redact(secret) == MASK or MASK in redact(secret) for secret in secrets)


@pytest.mark.parametrize("kwargs, words", [
    ({"token": "two words"}, "characters no token has"),
    ({"token": "ends-with-a-newline\n"}, "characters no token has"),
    ({"client_id": "c", "client_secret": "s3cret-x", "token_url": "http://www.ovh.com/auth/oauth2/token"},
     "only allowed on loopback"),
    ({"client_id": "c", "client_secret": "s3cret-x", "token_url": "ovh-eu"}, "must be https://"),
])
def test_bad_iam_settings_are_refused(kwargs, words):
    with pytest.raises(ValueError, match=words) as failure:
        HistoryEndpoint("https://gra1.logs.ovh.com:9200/alias", **kwargs)
    assert "two words" not in str(failure.value) and "newline" not in str(failure.value)


# -- through the C host --------------------------------------------------------------------

@pytest.fixture
def wire_history():
    with WireServer() as server:
        yield server


@pytest.mark.parametrize("way", ["service account", "static token"])
def test_gaps_are_filled_from_an_iam_only_history(host, plugin, server, wire_history, tokens, way):
    """Live feed cut three times, history accepting only IAM Bearer tokens (of 1 s for the
    service account): every event once, in order, and no credential printed."""
    from ldp_server import Behavior
    history = wire_history
    if way == "service account":
        history.bearer = tokens.valid
        auth = {"clientId": tokens.client_id, "clientSecret": tokens.client_secret, "tokenUrl": tokens.url()}
    else:
        history.bearer = lambda token: token == IAM_TOKEN
        auth = {"token": IAM_TOKEN}
    count = 3 * (150 + 100) + 100
    events = feed(count, int(time.time() * 1000))
    history.add_events(events, [_ms(e) for e in events])
    cfg = {"url": history.url(), "overlapS": 0.2, "fillWaitS": 5, "pageSize": 500, **auth}
    ldp, run = run_feed(host, plugin, server, history, events, Behavior(reset_after=150, resume_skip=100, rate=5000),
                        max_events=count, history_cfg=cfg)
    assert keys(run) == [(e["auditID"], e["stage"]) for e in events]
    assert run.metrics["gaps_seen"] == 3 and run.metrics["gaps_not_filled"] == 0
    assert 200 in history.statuses
    secrets = [IAM_TOKEN, tokens.client_secret, LDP_TOKEN] + [t for t, _ in tokens.issued]
    assert not any(secret in run.stderr for secret in secrets)


def test_a_gzip_bomb_fails_a_history_window_under_200_mb(host, plugin, wire_history):
    """A `history:` window answered with 2 GiB of zeros in 2 MiB of gzip: the window fails
    with the reason, and the host's peak RSS stays far from the bomb."""
    history = wire_history
    history.add_events(feed(10, BASE_MS), [BASE_MS + n for n in range(10)])
    history.wire, history.bomb = "gzip_bomb", gzip_bomb(2048 * MIB)
    config = json.dumps({**FAST, "history": {"url": history.url(), "user": history.user,
                                             "password": history.password}})
    run = run_host(host, plugin, f"history:{rfc3339(BASE_MS)}..{rfc3339(BASE_MS + 60_000)}", ["ka.auditid"],
                   config=config, time_limit=120)
    peak_mb = run.end["maxrss_kb"] / 1024
    print(f"peak RSS of the host under a 2 GiB gzip bomb: {peak_mb:.0f} MB")
    assert run.end["end"] == "failure" and "over the cap" in run.end["error"], run.end
    if not is_sanitized(plugin):  # ASan's shadow memory and quarantine are no measure
        assert peak_mb < 200


def test_close_returns_within_its_budget_while_history_hangs(host, plugin, server, wire_history):
    """A gap being filled from a history that never answers (timeoutS 60): Falco's close
    returns within the 1 s budget and every thread of the plugin has ended."""
    from ldp_server import Behavior
    history = wire_history
    events = feed(400, int(time.time() * 1000))
    history.add_events(events, [_ms(e) for e in events])
    history.wire = "hang"
    ldp, run = run_feed(host, plugin, server, history, events, Behavior(close_after=100, resume_skip=100, rate=5000),
                        max_events=300, history_cfg={"url": history.url(), "user": history.user,
                                                     "password": history.password, "timeoutS": 60},
                        time_limit=8)
    assert history.misbehaving.is_set(), "the gap-fill never asked history"
    assert keys(run)[:100] == [(e["auditID"], e["stage"]) for e in events[:100]]
    close = run.closes[-1]
    assert close["close_seconds"] < 1.5 and close["threads"] == 1, close

"""A hostile LDP server against the plugin in the C host (no Python in the host): what a peer
can send must never exhaust memory, stall a stream unnoticed, or print a secret, and the
valid events around it still arrive. Memory is read from /proc while the host runs."""
import json
import threading
import time

import pytest

from c_host import RunningHost, run_host
from k8saudit_ovh import config
from hostile_server import BINARY, CLOSE, CONTINUATION, PING, TEXT, HostileServer, ws_frame
from test_streams import audit_event, frame

SECRET = "Hostile-s3cr3t-T0ken"
FAST = {"backoffInitialS": 0.05, "backoffMaxS": 0.2, "connectTimeoutS": 5.0}
MIB = 1 << 20
# Keepalive slack for the tests that move tens of MiB: a loaded machine must not turn a slow
# transfer into a reconnect.
PATIENT = {"pingIntervalS": 120.0, "pingTimeoutS": 120.0}


def cfg(**settings) -> str:
    return json.dumps({**FAST, **settings})


def event_frame(n: int) -> bytes:
    return ws_frame(TEXT, frame(audit_event(n))[0])


def after_upgrade(*parts, hold=True):
    """A script for one connection: upgrade, then send each part (bytes, or a callable)."""
    def script(peer):
        peer.upgrade()
        for part in parts:
            part(peer) if callable(part) else peer.send(part)
        if hold:
            peer.hold()
    return script


def by_connection(*scripts):
    """Connection k runs scripts[k]; later connections the last one."""
    return lambda peer, number: scripts[min(number, len(scripts) - 1)](peer)


def junk(total: int, chunk: int = MIB):
    """Sends `total` bytes of zeros in chunks, unless the server stops first."""
    def send(peer):
        block = bytes(chunk)
        for _ in range(total // chunk):
            if peer.stopping.is_set():
                return
            peer.send(block)
    return send


# -- 1. one message cannot take memory beyond the configuration ---------------------------

def test_a_frame_declaring_a_huge_length_is_dropped_unread(host, plugin):
    """A header that declares 1 TiB, then 64 MiB of it at full speed: nothing of it is kept,
    the connection stays as long as the peer answers, and events before and after arrive."""
    script = by_connection(after_upgrade(event_frame(1), ws_frame(TEXT, length=1 << 40), junk(64 * MIB), hold=False),
                           after_upgrade(event_frame(2)))
    with HostileServer(script) as server:
        run = RunningHost(host, plugin, server.url(SECRET), cfg(**PATIENT), max_events=2)
        result, peak = run.finish()
    assert run.ids == ["id-1", "id-2"]
    assert result.metrics["stream.1.frames_skipped.frame_too_large"] == 1
    print(f"peak RSS {peak:.0f} MB")
    assert peak < 80, f"peak RSS {peak:.0f} MB for a frame that was never kept"
    assert "frame dropped unread" in result.stderr and SECRET not in result.stderr


def test_an_endless_fragmented_message_is_dropped_and_the_stream_kept(host, plugin):
    """Continuation frames past the limit are discarded as they come (no quadratic joins,
    no growth); the message's end resumes normal delivery on the same connection."""
    head = ws_frame(TEXT, b"[" * 65536, fin=False)
    piece = ws_frame(CONTINUATION, bytes(65536), fin=False)

    def continuations(peer):
        for _ in range(1024):  # 64 MiB
            if peer.stopping.is_set():
                return
            peer.send(piece)

    script = by_connection(after_upgrade(event_frame(1), head, continuations, ws_frame(CONTINUATION, b"]"),
                                         event_frame(2)))
    with HostileServer(script) as server:
        run = RunningHost(host, plugin, server.url(SECRET), cfg(**PATIENT), max_events=2)
        result, peak = run.finish()
    assert run.ids == ["id-1", "id-2"]
    assert result.metrics["stream.1.frames_skipped.frame_too_large"] == 1
    assert result.metrics["stream.1.disconnects"] == 0
    print(f"peak RSS {peak:.0f} MB")
    assert peak < 80, f"peak RSS {peak:.0f} MB for a message that was never kept"


def test_memory_returns_near_its_baseline_after_a_large_frame(host, plugin):
    """A 24 MiB frame under the limit (maxEventSize 4 MiB) is parsed: the parse buffers it
    grew (12 M structurals) are freed once it is handled."""
    numbers = b"[" + b"1," * (12 * MIB - 1) + b"1]"
    big = json.dumps({"message": json.dumps({"short_message": numbers.decode()})}).encode()
    gate, done = threading.Event(), threading.Event()
    script = by_connection(after_upgrade(event_frame(1), lambda peer: gate.wait(60), ws_frame(TEXT, big),
                                         event_frame(2), lambda peer: done.wait(60), event_frame(3)))
    with HostileServer(script) as server:
        run = RunningHost(host, plugin, server.url(SECRET), cfg(maxEventSize=4 * MIB, **PATIENT), max_events=3)
        run.wait_events(1)
        baseline = run.rss_mb()
        gate.set()
        run.wait_events(2)
        after = run.rss_mb()
        done.set()
        result, peak = run.finish()
    assert run.ids == ["id-1", "id-2", "id-3"]
    assert result.metrics["stream.1.frames_skipped.not_audit_event"] == 1
    print(f"RSS {baseline:.0f} MB before, {peak:.0f} MB at the peak, {after:.0f} MB after")
    assert peak - baseline > 60, "the frame was not parsed: the test measures nothing"
    assert after - baseline < 40, f"RSS {baseline:.0f} MB before the frame, {after:.0f} MB after"


# -- 2. a peer cannot stall a stream unnoticed --------------------------------------------

def test_a_trickled_frame_is_a_dead_stream(host, plugin):
    """One byte every 0.5 s inside a frame: no complete frame, pings unanswered: reconnect."""
    stuck = event_frame(99)
    script = by_connection(after_upgrade(event_frame(1), lambda peer: peer.trickle(stuck, 0.5)),
                           after_upgrade(event_frame(2)))
    with HostileServer(script) as server:
        result = run_host(host, plugin, server.url(SECRET), ["ka.auditid"], max_events=2, time_limit=120,
                          config=cfg(pingIntervalS=1.0, pingTimeoutS=1.0))
    assert [e["values"]["ka.auditid"] for e in result.events] == ["id-1", "id-2"]
    assert result.metrics["stream.1.disconnects"] >= 1
    assert "no answer to a keepalive ping" in result.stderr


def test_a_ping_flood_from_a_peer_that_never_reads_does_not_stall_delivery(host, plugin):
    pings = ws_frame(PING, b"ping") * 2000

    def flood(peer):
        for n in range(200):
            peer.send(pings + event_frame(n))
        deadline = time.monotonic() + 60
        while not peer.stopping.is_set() and time.monotonic() < deadline:
            peer.send(pings)

    with HostileServer(by_connection(after_upgrade(flood))) as server:
        result = run_host(host, plugin, server.url(SECRET), ["ka.auditid"], max_events=200, time_limit=120,
                          config=cfg(pingIntervalS=1.0, pingTimeoutS=1.0))
    assert [e["values"]["ka.auditid"] for e in result.events] == [f"id-{n}" for n in range(200)]


@pytest.mark.parametrize("bad, why", [
    (ws_frame(TEXT, b'{"message":"x"}', mask=b"\x01\x02\x03\x04"), "masked"),
    (ws_frame(TEXT, b"{}", rsv=4), "reserved bits"),
    (ws_frame(0x3, b"x"), "unknown opcode"),
    (ws_frame(PING, b"p" * 126), "control frame"),
    (ws_frame(CONTINUATION, b"x"), "continuation"),
    (ws_frame(BINARY, b"a", fin=False) + ws_frame(TEXT, b"b"), "inside a fragmented message"),
])
def test_frames_a_server_must_not_send_end_the_connection(bad, why, host, plugin):
    script = by_connection(after_upgrade(event_frame(1), bad, event_frame(98)), after_upgrade(event_frame(2)))
    with HostileServer(script) as server:
        result = run_host(host, plugin, server.url(SECRET), ["ka.auditid"], max_events=2, time_limit=120,
                          config=cfg())
    assert [e["values"]["ka.auditid"] for e in result.events] == ["id-1", "id-2"]
    assert result.metrics["stream.1.disconnects"] == 1
    assert "protocol error" in result.stderr and why in result.stderr


def test_a_close_frame_reconnects(host, plugin):
    script = by_connection(after_upgrade(event_frame(1), ws_frame(CLOSE, b"\x03\xe9going away"), hold=False),
                           after_upgrade(event_frame(2)))
    with HostileServer(script) as server:
        result = run_host(host, plugin, server.url(SECRET), ["ka.auditid"], max_events=2, time_limit=120,
                          config=cfg())
    assert [e["values"]["ka.auditid"] for e in result.events] == ["id-1", "id-2"]
    assert "1001 going away" in result.stderr


def test_an_upgrade_answer_that_never_ends_is_bounded_by_the_connect_timeout(host, plugin):
    """Header lines trickled forever: the attempt ends after connectTimeoutS, and retries."""
    def endless_headers(peer):
        peer.read_request()
        peer.send(b"HTTP/1.1 101 Switching Protocols\r\n")
        while not peer.stopping.wait(0.2):
            peer.send(b"X-Slow: 1\r\n")

    script = by_connection(endless_headers, after_upgrade(event_frame(2)))
    with HostileServer(script) as server:
        result = run_host(host, plugin, server.url(SECRET), ["ka.auditid"], max_events=1, time_limit=120,
                          config=cfg(connectTimeoutS=1.0))
    assert [e["values"]["ka.auditid"] for e in result.events] == ["id-2"]
    assert "no WebSocket upgrade within 1 s" in result.stderr


# -- 3. no secret in any text that leaves the plugin ---------------------------------------

def test_a_redirect_is_refused_and_not_followed(host, plugin):
    elsewhere = f"ws://127.0.0.2:9/tail/?tk={SECRET}"
    with HostileServer(lambda peer, n: peer.answer(b"302 Found", f"Location: {elsewhere}\r\n".encode())) as server:
        result = run_host(host, plugin, server.url(SECRET), ["ka.auditid"], config=cfg())
    assert result.end["end"] == "open-failure"
    assert "redirect" in result.end["error"] and "not followed" in result.end["error"]
    assert server.connections == 1
    assert SECRET not in result.stderr + json.dumps(result.ends)


@pytest.mark.parametrize("host_name", ["192.0.2.1", "localhost.localdomain.invalid"])
def test_ws_to_a_non_loopback_host_fails_open_before_any_connection(host_name, host, plugin):
    # The refused item comes second: plugin_open fails before starting any reader, so the
    # loopback server named first sees no connection either.
    with HostileServer(lambda peer, n: peer.upgrade()) as server:
        params = f"local={server.url()},remote=ws://{host_name}:{server.port}/tail/?tk={SECRET}"
        result = run_host(host, plugin, params, ["ka.auditid"], config=cfg(connectTimeoutS=60.0))
    assert result.end["end"] == "open-failure"
    assert "ws:// is unencrypted and only allowed to a loopback address" in result.end["error"]
    assert f"use wss://{host_name}:{server.port}/tail/?tk=***" in result.end["error"]
    assert server.connections == 0
    assert SECRET not in result.stderr + json.dumps(result.ends)


@pytest.mark.parametrize("status", [b"503", b"401"])
@pytest.mark.parametrize("url_form", ["plain", "encoded-key", "userinfo"])
def test_a_status_line_echoing_the_request_does_not_print_the_token(status, url_form, host, plugin):
    def echo(peer, number):
        request_line = peer.read_request().split(b"\r\n", 1)[0]
        peer.answer(status + b" Unavailable " + request_line)

    with HostileServer(echo) as server:
        url = {"plain": server.url(SECRET),
               "encoded-key": server.url().replace("?tk=test-token", f"?t%6B={SECRET}"),
               "userinfo": server.url().replace("ws://", f"ws://user:{SECRET}@")}[url_form]
        result = run_host(host, plugin, url, ["ka.auditid"], config=cfg(), time_limit=1.5)
    assert server.connections >= 1
    assert SECRET not in result.stderr + json.dumps(result.ends)
    assert "Unavailable GET /tail/" in result.stderr + json.dumps(result.ends)


def test_a_file_path_holding_a_token_is_redacted(host, plugin, tmp_path):
    result = run_host(host, plugin, f"file://{tmp_path}/tk={SECRET}/missing.jsonl", ["ka.auditid"])
    assert result.end["end"] == "open-failure" and "cannot open" in result.end["error"]
    assert SECRET not in result.stderr + json.dumps(result.ends)


def test_a_comma_inside_a_token_is_refused_without_echoing_its_tail(host, plugin):
    with HostileServer(lambda peer, n: peer.upgrade()) as server:
        result = run_host(host, plugin, server.url(f"abc,{SECRET}"), ["ka.auditid"])
    assert result.end["end"] == "open-failure" and "item 2 is not a stream URL" in result.end["error"]
    assert server.connections == 0
    assert SECRET not in result.stderr + json.dumps(result.ends)


# -- 4. configuration -----------------------------------------------------------------------

@pytest.mark.parametrize("key, value", [("pingTimeoutS", "NaN"), ("backoffInitialS", "-Infinity")])
def test_non_finite_numbers_fail_init_naming_the_key(key, value, host, plugin):
    result = run_host(host, plugin, "file:///dev/null", config=f'{{"{key}": {value}}}')
    assert result.end["end"] == "init-failure"
    assert f"'{key}' must be a finite number" in result.end["error"]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize("key", [k.name for k in config.KEYS if k.type is float])
def test_every_number_key_refuses_non_finite_values(key, value):
    with pytest.raises(ValueError, match=f"'{key}' must be a finite number"):
        config.parse(f'{{"{key}": {value}}}')

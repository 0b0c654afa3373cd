"""StreamReader against real WebSocket servers on loopback, with a recording Python sink."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from k8saudit_ovh.sources.ldp_reader import MAX_UNEXPECTED_IN_A_ROW, ReaderOptions, StreamReader
from k8saudit_ovh.sources.open_params import parse_open_params
from hostile_server import HostileServer, ws_frame
from ldp_server import Behavior, load_frames

from conftest import CORPUS, require_shared

FRAMES_DIR = CORPUS / "generated" / "setA" / "frames"
SECRET = "s3cr3t-T0ken-42"
FRAMES = [(f'{{"message":"frame {i}"}}'.encode(), False) for i in range(20)]
FAST = ReaderOptions(backoff_initial=0.05, backoff_max=0.2, connect_timeout=2)


class RecordingSink:
    """The sink protocol in Python; `gate` cleared makes push_frame block (back-pressure)."""

    def __init__(self):
        self.frames: list[tuple[bytes, bool]] = []
        self.events: list[tuple] = []
        self.gate = threading.Event()
        self.gate.set()
        self.closing = False

    def push_frame(self, data, binary):
        while not self.gate.wait(0.02):
            if self.closing:
                return False
        if self.closing:
            return False
        self.frames.append((data, binary))
        return True

    def on_connected(self):
        self.events.append(("connected",))

    def on_disconnected(self, reason):
        self.events.append(("disconnected", reason))

    def on_reconnect_attempt(self):
        self.events.append(("reconnect",))

    def on_message_dropped(self, size):
        self.events.append(("dropped", size))

    def on_fatal(self, message):
        self.events.append(("fatal", message))

    def count_thread_error(self):
        self.events.append(("thread_error",))

    def count(self, kind):
        return sum(1 for event in self.events if event[0] == kind)

    def reasons(self, kind):
        return [event[1] for event in self.events if event[0] == kind]


def wait_until(predicate, timeout=30.0):
    """Polls until `predicate` holds; the generous default only matters on a loaded machine."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def socket_fds() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass  # the fd of the listdir itself
    return count


def reader_threads():
    return [t for t in threading.enumerate() if t.name.startswith("ldp-reader")]


@pytest.fixture
def readers():
    """Make readers that are always stopped, even when a test fails."""
    made = []

    def make(url, sink, options=FAST):
        [source] = parse_open_params(url)
        reader = StreamReader(source, sink, options)
        made.append((reader, sink))
        reader.start()
        return reader

    yield make
    for reader, sink in made:
        sink.closing = True
        assert reader.stop(), f"{reader!r} did not stop"


@pytest.fixture
def server(server):
    """The conftest server, serving this module's small frames by default."""
    return lambda frames=FRAMES, behavior=None, **kwargs: server(frames, behavior, **kwargs)


# -- delivery ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["edge", "events"])
def test_corpus_frames_arrive_once_in_order_with_their_opcode(name, server, readers):
    require_shared(FRAMES_DIR)
    frames = load_frames(FRAMES_DIR / f"{name}.frames.jsonl")
    expected_path = FRAMES_DIR / f"{name}.frames.expected.jsonl"
    opcodes = [json.loads(line)["opcode"] for line in expected_path.read_text().splitlines()]
    assert [("binary" if binary else "text") for _, binary in frames] == opcodes
    sink = RecordingSink()
    ldp = server(frames)
    readers(ldp.url(SECRET), sink)
    assert wait_until(lambda: len(sink.frames) >= len(frames), timeout=20)
    time.sleep(0.1)  # nothing extra may follow
    assert sink.frames == frames
    assert all(type(data) is bytes for data, _ in sink.frames)
    assert sink.events == [("connected",)]


def test_sink_refusal_ends_the_reader(server, readers):
    sink = RecordingSink()
    ldp = server()
    reader = readers(ldp.url(), sink)
    assert wait_until(lambda: len(sink.frames) == len(FRAMES))
    sink.closing = True
    ldp.frames = FRAMES  # a second connection would send them again: there must be none
    assert reader.stop()
    assert reader.state == "stopped"
    assert sink.count("disconnected") == 0


def test_server_as_a_process_for_benchmarks(tmp_path, tls_files):
    ca_file, (cert, key) = tls_files
    frames_file = tmp_path / "frames.jsonl"
    frames_file.write_bytes(b"".join(data + b"\n" for data, _ in FRAMES))
    server_script = Path(__file__).with_name("ldp_server.py")
    process = subprocess.Popen(
        [sys.executable, str(server_script), "--frames", str(frames_file), "--port", "0",
         "--tls", cert, key, "--loop", "3", "--rate", "1000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("wss://127.0.0.1:")
        sink = RecordingSink()
        [source] = parse_open_params(url)
        reader = StreamReader(source, sink, ReaderOptions(ca_file=ca_file))
        reader.start()
        assert wait_until(lambda: len(sink.frames) == 3 * len(FRAMES))
        sink.closing = True
        assert reader.stop()
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "sent 60 frames over 1 connections" in err


# -- TLS -----------------------------------------------------------------------------------

def test_tls_verified_with_ca_file(tls_files, server, readers):
    ca_file, cert_and_key = tls_files
    sink = RecordingSink()
    ldp = server(tls=cert_and_key)
    reader = readers(ldp.url(SECRET), sink, ReaderOptions(ca_file=ca_file))
    assert reader.wait_first_outcome(30)[0] == "connected"
    assert wait_until(lambda: len(sink.frames) == len(FRAMES))
    assert sink.frames == FRAMES


def test_tls_without_the_ca_retries_with_a_clear_reason(tls_files, server, readers, caplog):
    _, cert_and_key = tls_files
    sink = RecordingSink()
    ldp = server(tls=cert_and_key)
    reader = readers(ldp.url(SECRET), sink, FAST)
    outcome, message = reader.wait_first_outcome(30)
    assert outcome == "retrying"
    assert "TLS certificate verification failed" in message
    assert "tk=***" in message and SECRET not in message
    assert wait_until(lambda: reader.failures >= 2)  # keeps trying: not fatal
    assert reader.alive and sink.count("fatal") == 0
    assert "certificate" in caplog.text


def test_tls_verification_can_be_disabled(tls_files, server, readers):
    _, cert_and_key = tls_files
    sink = RecordingSink()
    ldp = server(tls=cert_and_key)
    reader = readers(ldp.url(), sink, ReaderOptions(verify_tls=False))
    assert reader.wait_first_outcome(30)[0] == "connected"


def test_missing_ca_file_fails_at_open():
    [source] = parse_open_params(f"wss://127.0.0.1:1/tail/?tk={SECRET}")
    with pytest.raises(ValueError, match="cannot load the CA bundle"):
        StreamReader(source, RecordingSink(), ReaderOptions(ca_file="/nonexistent/ca.pem"))


@pytest.mark.parametrize("proxy", ["socks5://127.0.0.1:1080", "http://127.0.0.1", "proxy:3128"])
def test_bad_proxy_option_is_rejected(proxy):
    with pytest.raises(ValueError, match="proxy must look like"):
        ReaderOptions(proxy=proxy)


def test_http_proxy_tunnel(server, readers):
    ldp = server()
    with ConnectProxy() as proxy:
        sink = RecordingSink()
        reader = readers(ldp.url(), sink, ReaderOptions(proxy=f"http://127.0.0.1:{proxy.port}"))
        assert reader.wait_first_outcome(30)[0] == "connected"
        assert wait_until(lambda: len(sink.frames) == len(FRAMES))
        assert proxy.targets == [f"127.0.0.1:{ldp.port}"]


# -- failures ------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_unhealable_status_on_first_connection_is_fatal(status, server, readers):
    sink = RecordingSink()
    ldp = server(behavior=Behavior(status=status))
    reader = readers(ldp.url(SECRET), sink)
    outcome, message = reader.wait_first_outcome(30)
    assert outcome == "fatal"
    assert f"HTTP {status}" in message and SECRET not in message
    assert wait_until(lambda: not reader.alive)
    assert reader.state == "fatal"
    assert sink.events == [("fatal", message)]
    assert ldp.upgrade_requests == 1


def test_wrong_token_is_fatal(server, readers):
    sink = RecordingSink()
    ldp = server(behavior=Behavior(token="the-right-one"))
    reader = readers(ldp.url(SECRET), sink)
    outcome, message = reader.wait_first_outcome(30)
    assert outcome == "fatal"
    assert "HTTP 401" in message and "token" in message and SECRET not in message


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_transient_status_retries(status, server, readers):
    sink = RecordingSink()
    ldp = server(behavior=Behavior(status=status))
    reader = readers(ldp.url(), sink)
    outcome, message = reader.wait_first_outcome(30)
    assert outcome == "retrying" and f"HTTP {status}" in message
    assert wait_until(lambda: ldp.upgrade_requests >= 3)
    ldp.behavior = Behavior()
    assert wait_until(lambda: sink.count("connected") == 1)
    assert wait_until(lambda: len(sink.frames) == len(FRAMES))
    assert sink.count("reconnect") >= 2


def test_connection_refused_retries():
    sink = RecordingSink()
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    [source] = parse_open_params(f"ws://127.0.0.1:{port}/tail/?tk={SECRET}")
    reader = StreamReader(source, sink, FAST)
    reader.start()
    try:
        assert reader.wait_first_outcome(30) == (
            "retrying", f"ws://127.0.0.1:{port}/tail/?tk=***: connection refused")
    finally:
        assert reader.stop()


def test_server_killed_and_restarted_mid_stream(server, readers):
    sink = RecordingSink()
    first = server(FRAMES[:8])
    readers(first.url(), sink)
    assert wait_until(lambda: len(sink.frames) == 8)
    first.stop(abort=True)
    assert wait_until(lambda: sink.count("disconnected") == 1)
    time.sleep(0.3)  # a few refused attempts while the server is down
    second = server(FRAMES[8:], port=first.port)
    assert wait_until(lambda: len(sink.frames) == len(FRAMES))
    assert sink.frames == FRAMES
    assert sink.count("connected") == 2
    assert sink.count("reconnect") >= 1
    assert second.connections == 1


def test_connection_reset_reconnects(server, readers):
    sink = RecordingSink()
    ldp = server(behavior=Behavior(reset_after=5))
    readers(ldp.url(), sink)
    assert wait_until(lambda: sink.count("connected") >= 3)
    reasons = sink.reasons("disconnected")
    assert "connection reset by peer" in reasons[0] or "connection lost" in reasons[0]
    assert sink.frames[:10] == FRAMES[:5] * 2


def test_server_close_reconnects(server, readers):
    sink = RecordingSink()
    ldp = server(behavior=Behavior(close_after=3))
    readers(ldp.url(), sink)
    assert wait_until(lambda: sink.count("connected") >= 2)
    assert sink.reasons("disconnected")[0] == "server closed the connection (1001 closing on demand)"


def test_quiet_stream_is_kept_alive_by_pings(server, readers):
    sink = RecordingSink()
    # Quiet for three ping timeouts: only answered pings keep it (a busy machine may take a
    # while to answer one, hence timeouts of seconds).
    ldp = server(behavior=Behavior(stall=6.0))
    options = ReaderOptions(ping_interval=0.2, ping_timeout=2.0, backoff_initial=0.05)
    readers(ldp.url(), sink, options)
    assert wait_until(lambda: len(sink.frames) == len(FRAMES))
    assert sink.events == [("connected",)]
    assert ldp.connections == 1


def test_dead_peer_is_detected_by_the_ping_timeout(server, readers):
    sink = RecordingSink()
    ldp = server(behavior=Behavior(freeze_after=3))
    options = ReaderOptions(ping_interval=0.2, ping_timeout=0.3, backoff_initial=0.05)
    readers(ldp.url(), sink, options)
    assert wait_until(lambda: sink.count("connected") >= 2)
    assert sink.reasons("disconnected")[0] == "no answer to a keepalive ping within 0.3 s"


def test_backoff_grows_and_is_capped(server, readers):
    sink = RecordingSink()
    ldp = server(behavior=Behavior(status=503))
    readers(ldp.url(), sink, ReaderOptions(backoff_initial=0.05, backoff_max=0.4))
    assert wait_until(lambda: ldp.upgrade_requests >= 9)
    times = ldp.request_times
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    # Jitter keeps each delay within [0.8, 1.0] of 0.05, 0.1, 0.2, 0.4, 0.4… A busy machine
    # only lengthens gaps: lower bounds are exact, upper bounds generous (uncapped, the gaps
    # 4 to 8 would reach 0.8 × 6.4 s).
    assert gaps[2] >= 0.8 * 0.2
    assert all(gap >= 0.8 * 0.4 for gap in gaps[4:8])
    assert max(gaps[4:8]) < 3.0


def test_max_retries_then_fatal(server, readers):
    sink = RecordingSink()
    ldp = server(behavior=Behavior(status=503))
    options = ReaderOptions(backoff_initial=0.02, backoff_max=0.05, max_retries=3)
    reader = readers(ldp.url(SECRET), sink, options)
    assert wait_until(lambda: not reader.alive)
    assert ldp.upgrade_requests == 4
    [message] = sink.reasons("fatal")
    assert "gave up after 3 retries: HTTP 503" in message and SECRET not in message
    assert reader.state == "fatal"


class FailingSink(RecordingSink):
    """push_frame raises (as a bug would) for each frame `fails(data)` picks."""

    def __init__(self, fails):
        super().__init__()
        self.fails = fails

    def push_frame(self, data, binary):
        if self.fails(data):
            raise RuntimeError(f"injected failure, tk={SECRET}")
        return super().push_frame(data, binary)


def test_an_unexpected_exception_is_counted_logged_and_the_stream_goes_on(server, readers, caplog):
    caplog.set_level(logging.INFO)
    failed = []
    # The 6th frame fails once; the server sends the whole list again on the reconnection.
    sink = FailingSink(lambda data: data == FRAMES[5][0] and not failed and not failed.append(data))
    ldp = server()
    reader = readers(ldp.url(SECRET), sink)
    assert wait_until(lambda: len(sink.frames) == 5 + len(FRAMES))
    assert sink.frames == FRAMES[:5] + FRAMES
    assert sink.count("thread_error") == 1 and reader.thread_errors == 1
    [reason] = sink.reasons("disconnected")
    assert reason.startswith("unexpected error: RuntimeError: injected failure, tk=***")
    assert "in push_frame)" in reason  # where it was raised
    assert reader.alive and sink.count("fatal") == 0
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(logged) == 1 and "unexpected error: RuntimeError" in logged[0] and "thread_errors" in logged[0]
    assert SECRET not in caplog.text


def test_unexpected_exceptions_that_never_let_a_frame_through_end_in_a_clear_fatal_error(server, readers, caplog):
    sink = FailingSink(lambda data: True)
    ldp = server()
    reader = readers(ldp.url(SECRET), sink, ReaderOptions(backoff_initial=0.02, backoff_max=0.05))
    assert wait_until(lambda: not reader.alive)
    assert sink.count("thread_error") == MAX_UNEXPECTED_IN_A_ROW == ldp.connections
    [message] = sink.reasons("fatal")
    assert f"gave up after {MAX_UNEXPECTED_IN_A_ROW} unexpected errors in a row" in message
    assert "RuntimeError: injected failure" in message and SECRET not in message
    assert reader.state == "fatal"
    # Logged at the 1st, 2nd, 4th and 8th error, then the fatal one.
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 5


def test_unexpected_exceptions_between_delivered_frames_never_give_up(server, readers):
    # Every connection delivers one frame, then fails on the next.
    sink = FailingSink(lambda data: data == FRAMES[1][0])
    ldp = server()
    reader = readers(ldp.url(), sink, ReaderOptions(backoff_initial=0.02, backoff_max=0.05))
    assert wait_until(lambda: sink.count("thread_error") > MAX_UNEXPECTED_IN_A_ROW + 2)
    assert reader.alive and sink.count("fatal") == 0
    assert sink.frames[:3] == [FRAMES[0]] * 3


def test_a_sink_failing_outside_a_connection_is_counted_too(server, readers):
    sink = RecordingSink()
    calls = []

    def on_reconnect_attempt():  # fails the first time it is called
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("injected")
        RecordingSink.on_reconnect_attempt(sink)

    sink.on_reconnect_attempt = on_reconnect_attempt
    ldp = server(behavior=Behavior(close_after=3))
    reader = readers(ldp.url(), sink, ReaderOptions(backoff_initial=0.02, backoff_max=0.05))
    assert wait_until(lambda: sink.count("connected") >= 3)
    assert sink.count("thread_error") == 1 and reader.alive


def test_unhealable_status_after_a_connection_keeps_retrying(server, readers):
    sink = RecordingSink()
    ldp = server(behavior=Behavior(close_after=2))
    reader = readers(ldp.url(), sink, ReaderOptions(backoff_initial=0.02, backoff_max=0.1))
    assert reader.wait_first_outcome(30)[0] == "connected"
    ldp.behavior = Behavior(status=401)  # the token was revoked
    assert wait_until(lambda: ldp.upgrade_requests >= 4 and "HTTP 401" in (reader.last_error or ""), timeout=20)
    assert reader.alive and sink.count("fatal") == 0


# -- stopping ------------------------------------------------------------------------------

# Stopping is prompt when the thread exits within a fraction of what it was waiting for
# (WAITED_S: a ping interval, a backoff, a connect timeout); PROMPT_S leaves room for a busy
# machine and a sanitizer build. stop(timeout) returns whether the thread exited in time.
WAITED_S = 120.0
PROMPT_S = 15.0


@pytest.mark.parametrize("tls", [False, True])
def test_stop_during_a_blocked_recv(tls, tls_files, server):
    ca_file, cert_and_key = tls_files
    ldp = server([], tls=cert_and_key if tls else None)
    [source] = parse_open_params(ldp.url())
    reader = StreamReader(source, RecordingSink(),
                          ReaderOptions(ca_file=ca_file, ping_interval=WAITED_S, ping_timeout=WAITED_S))
    reader.start()
    assert reader.wait_first_outcome(30)[0] == "connected"  # then blocked in recv until a ping is due
    assert reader.stop(timeout=PROMPT_S)
    assert reader.state == "stopped"


def test_stop_while_the_sink_blocks(server):
    sink = RecordingSink()
    sink.gate.clear()
    ldp = server()
    [source] = parse_open_params(ldp.url())
    reader = StreamReader(source, sink, FAST)
    reader.start()
    assert wait_until(lambda: ldp.frames_sent == len(FRAMES))
    sink.closing = True  # what the plugin does before stop(); the sink has blocked since the first frame
    assert reader.stop(timeout=PROMPT_S)
    assert sink.frames == []


def test_stop_during_backoff(server):
    ldp = server(behavior=Behavior(status=503))
    [source] = parse_open_params(ldp.url())
    reader = StreamReader(source, RecordingSink(), ReaderOptions(backoff_initial=WAITED_S, backoff_max=WAITED_S))
    reader.start()
    assert reader.wait_first_outcome(30)[0] == "retrying"
    assert reader.stop(timeout=PROMPT_S)


def test_stop_while_waiting_for_the_upgrade_answer():
    with socket.socket() as silent:  # accepts TCP, never answers the HTTP upgrade
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        [source] = parse_open_params(f"ws://127.0.0.1:{silent.getsockname()[1]}/tail/?tk=x")
        sink = RecordingSink()
        reader = StreamReader(source, sink, ReaderOptions(connect_timeout=WAITED_S))
        reader.start()
        assert wait_until(lambda: reader.state == "connecting")
        assert reader.stop(timeout=PROMPT_S)
    assert sink.events == []


def test_stop_before_start_and_twice():
    [source] = parse_open_params("ws://127.0.0.1:1/tail/?tk=x")
    reader = StreamReader(source, RecordingSink())
    assert reader.stop()
    assert reader.stop()


def test_open_close_100_times_leaves_no_thread_or_socket(server):
    ldp = server()
    baseline_threads = len(threading.enumerate())
    baseline_sockets = socket_fds()
    [source] = parse_open_params(ldp.url())
    for _ in range(100):
        sink = RecordingSink()
        reader = StreamReader(source, sink, FAST)
        reader.start()
        assert reader.wait_first_outcome(30)[0] == "connected"
        sink.closing = True
        assert reader.stop()
    assert reader_threads() == []
    assert len(threading.enumerate()) == baseline_threads
    # The server closes its side asynchronously.
    assert wait_until(lambda: socket_fds() == baseline_sockets), (socket_fds(), baseline_sockets)
    assert ldp.connections == 100


# -- secrets -------------------------------------------------------------------------------

def test_the_token_never_leaks(tls_files, server, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    ca_file, cert_and_key = tls_files
    plain_401 = server(behavior=Behavior(status=401))
    plain_503 = server(behavior=Behavior(status=503))
    closing = server(behavior=Behavior(close_after=1))
    tls = server(tls=cert_and_key)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        refused_url = f"ws://127.0.0.1:{probe.getsockname()[1]}/tail/?tk={SECRET}"
    cases = [(plain_401.url(SECRET), FAST), (plain_503.url(SECRET), FAST),
             (closing.url(SECRET), FAST), (tls.url(SECRET), FAST), (refused_url, FAST),
             (f"named={tls.url(SECRET)}", ReaderOptions(ca_file=ca_file))]
    texts = []
    for url, options in cases:
        [source] = parse_open_params(url)
        sink = RecordingSink()
        reader = StreamReader(source, sink, options)
        reader.start()
        texts += list(reader.wait_first_outcome(30))
        time.sleep(0.3)  # a few reconnections
        sink.closing = True
        assert reader.stop()
        texts += [repr(reader), repr(source), str(reader.last_error), repr(sink.events),
                  reader._thread.name]
    out, err = capfd.readouterr()
    # The test server's own log (websockets.server) shows the requests it received.
    client_log = "\n".join(record.getMessage() for record in caplog.records
                           if not record.name.startswith("websockets."))
    texts += [client_log, out, err]
    assert "tk=***" in client_log
    for text in texts:
        assert SECRET not in text


class ConnectProxy:
    """A minimal HTTP CONNECT proxy on loopback, one thread per tunnel."""

    def __init__(self):
        self.targets = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._threads = []

    def __enter__(self):
        self._start(self._accept)
        return self

    def __exit__(self, *exc):
        self._listener.close()

    def _start(self, target, *args):
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            self._start(self._tunnel, client)

    def _tunnel(self, client):
        request = b""
        while b"\r\n\r\n" not in request:
            request += client.recv(4096)
        target = request.split(b" ")[1].decode()
        self.targets.append(target)
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self._start(_pipe, upstream, client)
        _pipe(client, upstream)


def _pipe(source, destination):
    with source, destination:
        try:
            while data := source.recv(65536):
                destination.sendall(data)
        except OSError:
            pass
        try:
            destination.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _raw_ws_server(chunks):
    """Answers one upgrade, then sends each (bytes, pause_before) chunk: control over where
    frames are cut, which tests/ldp_server.py (websockets) does not give."""
    def script(peer, number):
        peer.upgrade()
        for data, pause in chunks:
            time.sleep(pause)
            peer.send(data)
        peer.hold(10)
    return HostileServer(script)


def test_frames_cut_anywhere_fragmented_or_interleaved_arrive_whole(readers):
    """The reader's frame parser (ws_frames.py) and its fast path for whole frames hand
    over exactly what a WebSocket client must: frames split at any
    byte, a read timeout in the middle of a frame, 16- and 64-bit lengths, a fragmented
    message with a ping in between, binary and empty frames."""
    small, medium, large = b'{"message":"a"}', b"m" * 3000, b"L" * 70000
    stream = (ws_frame(1, small) + ws_frame(1, medium) + ws_frame(2, b"\x00\x01")
              + ws_frame(1, b"") + ws_frame(1, large)
              + ws_frame(1, b"frag-1 ", fin=False) + ws_frame(9, b"ping")
              + ws_frame(0, b"frag-2", fin=True) + ws_frame(1, small))
    cuts = [0, 1, 3, 20, 2000, 2000 + 1500, len(stream) - 30, len(stream)]
    chunks = [(stream[a:b], 0.0) for a, b in zip(cuts, cuts[1:])]
    chunks[3] = (chunks[3][0], 0.5)  # past the read timeout, in the middle of `medium`
    last = ws_frame(1, small)
    chunks += [(last[:1], 0.05), (last[1:], 0.5)]  # a timeout between header bytes
    sink = RecordingSink()
    options = ReaderOptions(ping_interval=0.3, ping_timeout=2.0, backoff_initial=0.05, backoff_max=0.2,
                            connect_timeout=2)
    with _raw_ws_server(chunks) as server:
        readers(server.url(), sink, options)
        want = [(small, False), (medium, False), (b"\x00\x01", True), (b"", False), (large, False),
                (b"frag-1 frag-2", False), (small, False), (small, False)]
        assert wait_until(lambda: len(sink.frames) >= len(want)), sink.frames
        assert sink.frames == want
        assert sink.count("disconnected") == 0

"""Read one LDP WebSocket tail stream in a background thread and hand every frame to a sink.

The thread connects with websocket-client, keeps a quiet stream alive with pings, and
reconnects forever on transient failures with capped exponential backoff and jitter. Only
errors that cannot heal (HTTP 400/401/403/404 on the upgrade, a malformed URL) are fatal,
and only before the first successful connection; later they are retried at the longest
backoff, until `max_retries` consecutive failures if that is set.

An unexpected exception (a bug here, or the sink failing) ends the connection it happened
in like a lost one: it is counted (`count_thread_error`), logged (rate-limited) and the
reader reconnects with backoff. Only `MAX_UNEXPECTED_IN_A_ROW` of them with no frame
delivered in between make it give up (`on_fatal`).

The sink (implemented by the plugin in Cython) is called from the reader thread only:

    push_frame(data: bytes, binary: bool) -> bool   False: the instance is stopping, exit
    on_connected() -> None
    on_disconnected(reason: str) -> None            reason has the token redacted
    on_reconnect_attempt() -> None                  before every attempt but the first
    on_message_dropped(size: int) -> None           a message over max_message, not read
    on_fatal(message: str) -> None                  the reader has given up and exits
    count_thread_error() -> None                    an unexpected exception was caught

`push_frame` may block for back-pressure; the plugin must make it return False once the
instance is closing, before it calls `stop()`, so that the thread can exit within the join
timeout. Every string this module emits (logs, sink reasons, state) has its token redacted.
"""

import random
import signal
import socket
import ssl
import threading
import time
import traceback
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import websocket

from . import ws_frames
from ..config import max_frame_bytes
from .open_params import Source
from ..redaction import logger, redact, register_secret

__all__ = ["MAX_UNEXPECTED_IN_A_ROW", "ReaderOptions", "StreamReader"]

log = logger("k8saudit_ovh.ldp")

# Upgrade answers that retrying cannot fix: a bad URL or a rejected token.
_UNHEALABLE_STATUSES = {
    400: "the server rejected the request",
    401: "the token (tk=) was rejected",
    403: "the token (tk=) is not allowed to read this stream",
    404: "no such stream: check the host and the /tail/ path",
}

# Unexpected exceptions in a row, no frame delivered in between, before the reader gives up:
# a bug that strikes on every connection would otherwise reconnect forever while delivering
# nothing. At the default backoff (0.5 s doubling to 30 s) that is about two minutes.
MAX_UNEXPECTED_IN_A_ROW = 10


@dataclass(frozen=True)
class ReaderOptions:
    ping_interval: float = 20.0  # seconds between keepalive pings; 0 disables them
    ping_timeout: float = 10.0  # seconds without any frame after a ping before reconnecting
    connect_timeout: float = 10.0  # TCP connect, TLS handshake and HTTP upgrade, each
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    max_retries: int = 0  # consecutive failed attempts before giving up; 0 = retry forever
    ca_file: str | None = None  # CA bundle used instead of the system store
    # "http://[user:password@]host:port", tunnels with CONNECT. When unset, websocket-client
    # still honours the https_proxy / http_proxy / no_proxy environment variables.
    proxy: str | None = None
    verify_tls: bool = True
    # Largest WebSocket message kept; larger ones are dropped unread (see ws_frames.py).
    max_message: int = max_frame_bytes(262144)

    def __post_init__(self):
        for name in ("ping_interval", "ping_timeout", "connect_timeout", "backoff_initial",
                     "backoff_max", "max_retries"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.ping_interval and not self.ping_timeout:
            raise ValueError("ping_timeout must be positive when pings are enabled")
        if not self.connect_timeout or not self.backoff_initial:
            raise ValueError("connect_timeout and backoff_initial must be positive")
        if self.backoff_max < self.backoff_initial:
            raise ValueError("backoff_max must not be smaller than backoff_initial")
        if self.proxy is not None:
            _proxy_options(self.proxy)  # fail at open time, not in the reader thread

    def ssl_context(self) -> ssl.SSLContext:
        """TLS settings for wss://; raises ValueError when the CA bundle cannot be loaded."""
        if not self.verify_tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"cannot load the CA bundle {self.ca_file!r}: {exc}") from None


def _proxy_options(proxy: str) -> dict:
    """websocket-client options for an HTTP proxy URL."""
    parts = urlsplit(proxy)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or not port:
        raise ValueError("proxy must look like http://host:port (or http://user:password@host:port)")
    options = {"http_proxy_host": parts.hostname, "http_proxy_port": port, "proxy_type": "http"}
    if parts.password:
        register_secret(unquote(parts.password))
    if parts.username:
        options["http_proxy_auth"] = (unquote(parts.username), unquote(parts.password or ""))
    return options


_GUARD_POLL_S = 0.05  # how often a connection attempt checks its deadline and stop()


class _Failure(Exception):
    """A connection attempt or a connection that ended, and why (redacted here, once)."""

    def __init__(self, reason: str, healable: bool = True, unexpected: bool = False):
        reason = redact(reason)
        super().__init__(reason)
        self.reason = reason
        self.healable = healable
        self.unexpected = unexpected  # a bug or a sink failure, not the network or the peer


def _unexpected(exc: Exception) -> _Failure:
    """An exception nothing expected, with where it was raised (for the bug report)."""
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = "".join(f" (at {frame.filename.rpartition('/')[2]}:{frame.lineno} in {frame.name})" for frame in where)
    return _Failure(f"unexpected error: {_server_text(f'{type(exc).__name__}: {exc}')}{at}", unexpected=True)


class StreamReader:
    """One stream, one daemon thread. States: idle, connecting, connected, backoff,
    fatal, stopped."""

    def __init__(self, source: Source, sink, options: ReaderOptions = ReaderOptions()):
        if source.kind != "ws":
            raise ValueError(f"{source.display} is not a WebSocket stream")
        self.source = source
        self.options = options
        self._sink = sink
        # Built once so that a bad CA bundle or proxy fails here, in plugin_open.
        self._ssl_context = options.ssl_context() if source.url.startswith("wss:") else None
        self._proxy = _proxy_options(options.proxy) if options.proxy else {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ws_lock = threading.Lock()  # guards _ws between the reader and stop()
        self._ws: websocket.WebSocket | None = None
        self._first_outcome = threading.Event()
        self._outcome: tuple[str, str] | None = None
        self._random = random.Random()
        self.state = "idle"
        self.last_error: str | None = None  # redacted reason of the last failure
        self.connects = 0  # successful connections so far
        self.failures = 0  # consecutive failed attempts (reset by a healthy connection)
        self.thread_errors = 0  # unexpected exceptions caught so far
        self._unexpected_in_a_row = 0  # ... since a frame was last delivered
        self._delivered = False  # the current connection delivered a frame

    def __repr__(self) -> str:
        return f"<StreamReader {self.source.label} {self.state}>"

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self!r} was already started")
        self._thread = threading.Thread(
            target=self._run, name=f"ldp-reader {self.source.label}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> bool:
        """Ask the thread to exit and wait for it; True once it has exited.

        Prompt while the thread waits for data, backs off, or waits for the upgrade answer.
        DNS, TCP connect and the TLS handshake cannot be interrupted: they end within
        `connect_timeout`, and the thread then exits without calling the sink again.
        """
        self._stop.set()
        self._shut_socket()
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.alive

    def _shut_socket(self) -> None:
        """Wakes up a recv() or send() blocked in the reader thread: it fails at once."""
        with self._ws_lock:
            sock = self._ws.sock if self._ws is not None else None
            if sock is not None:
                try:
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass  # not connected yet, or already closed

    def wait_first_outcome(self, timeout: float) -> tuple[str, str]:
        """Wait for the first connection attempt to end: ("connected", url), ("fatal",
        message) or ("retrying", reason). "retrying" too when `timeout` passes first."""
        if self._first_outcome.wait(timeout):
            return self._outcome
        return ("retrying", f"{self.source.display}: no answer within {timeout:g} s; still trying")

    # -- reader thread -------------------------------------------------------------------

    def _run(self) -> None:
        # The embedded interpreter installs no signal handlers, so a write to a socket the
        # peer closed would raise SIGPIPE and kill the host (Falco). Blocked in this
        # thread, the write fails with EPIPE instead and the reader reconnects.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
        try:
            self._read_until_stopped()
        except Exception as exc:  # reporting itself failed: give up rather than vanish
            self._give_up(f"reader crashed: {_unexpected(exc).reason}")
        finally:
            if self.state != "fatal":
                self.state = "stopped"
                log.info("ldp %s: stopped", self.source.label)
            self._report_first("fatal", f"{self.source.display}: reader stopped before connecting")

    def _read_until_stopped(self) -> None:
        first_attempt = True
        while not self._stop.is_set():
            try:
                if not first_attempt:
                    self._sink.on_reconnect_attempt()
                first_attempt = False
                if not self._attempt():
                    return
            except Exception as exc:  # a bug, or the sink failing: counted, and the stream goes on
                if not self._retry_after(_unexpected(exc)):
                    return

    def _attempt(self) -> bool:
        """One connection, from connecting to its end and the backoff after it; False when
        the reader must exit."""
        self.state = "connecting"
        try:
            ws = self._connect()
        except _Failure as failure:
            return self._retry_after(failure)
        if ws is None:  # stop() came during the connection
            return False
        failure = self._stream(ws)
        if failure is None or self._stop.is_set():
            return False
        self._sink.on_disconnected(failure.reason)
        return self._retry_after(failure, disconnected=True)

    def _connect(self) -> websocket.WebSocket | None:
        ws = websocket.WebSocket(skip_utf8_validation=True,  # simdjson validates UTF-8 later
                                 sslopt={"context": self._ssl_context})
        with self._ws_lock:
            if self._stop.is_set():
                return None
            self._ws = ws
        done = threading.Event()
        expired = threading.Event()
        guard = threading.Thread(target=self._guard_connect, args=(done, expired),
                                 name=f"ldp-connect {self.source.label}", daemon=True)
        guard.start()
        try:
            ws.connect(self.source.url, timeout=self.options.connect_timeout,
                       redirect_limit=0, **self._proxy)
        except Exception as exc:
            self._close(ws)
            if expired.is_set() and not isinstance(exc, websocket.WebSocketBadStatusException):
                raise _Failure(f"no WebSocket upgrade within {self.options.connect_timeout:g} s") from None
            raise _describe(exc, ws) from None
        finally:
            done.set()
            guard.join()  # no thread outlives the attempt
        if self._stop.is_set():  # stop() came while the connection could not be interrupted
            self._close(ws)
            return None
        return ws

    def _guard_connect(self, done: threading.Event, expired: threading.Event) -> None:
        """Ends a connection attempt that outlives connect_timeout as a whole (each socket
        operation has its own timeout, but a server may trickle its answer or send headers
        without end) or that stop() asked to end. The socket may not exist yet when that
        happens, so it is shut until the attempt gives up."""
        deadline = time.monotonic() + self.options.connect_timeout
        while not done.wait(_GUARD_POLL_S):
            if time.monotonic() >= deadline:
                expired.set()
            if expired.is_set() or self._stop.is_set():
                self._shut_socket()

    def _stream(self, ws: websocket.WebSocket) -> "_Failure | None":
        """Deliver the frames of one connection; None when stopping, else why it ended."""
        self.connects += 1
        self.last_error = None
        self.state = "connected"
        self._delivered = False
        started = time.monotonic()
        log.info("ldp %s: connected to %s", self.source.label, self.source.display)
        try:
            self._sink.on_connected()
            self._report_first("connected", self.source.display)
            self._pump(ws)
            return None
        except Exception as exc:
            failure = exc if isinstance(exc, _Failure) else _unexpected(exc)
            if self._delivered or time.monotonic() - started >= self.options.backoff_max:
                self.failures = 0  # a connection that worked is not a flapping one
            if self._delivered:
                self._unexpected_in_a_row = 0
            return failure
        finally:
            self._close(ws)

    def _pump(self, ws: websocket.WebSocket) -> None:
        """Deliver frames until stop (returns) or until the connection fails (raises).

        The peer is alive while complete frames arrive: a keepalive ping goes out every
        `ping_interval`, and when no complete frame (its pong or any other) has come
        `ping_timeout` after it, the connection is dead, even if bytes still trickle in."""
        push = self._sink.push_frame
        ping_interval = self.options.ping_interval
        ping_timeout = self.options.ping_timeout
        # Wake up at least this often to ping or notice a dead peer; sends wait as long
        # at most, so a peer that does not read cannot block the reader for good.
        waits = [t for t in (ping_interval, ping_timeout) if t]
        ws.settimeout(min(waits) if waits else None)
        frames = ws_frames.FrameReader(ws._recv, self.options.max_message)
        read = frames.read
        text, binary, dropped = ws_frames.TEXT, ws_frames.BINARY, ws_frames.DROPPED
        next_ping = time.monotonic() + ping_interval
        ping_unanswered_since = None
        pong_due = None  # payload of the latest ping not answered yet
        while True:
            try:
                item = read()
            except websocket.WebSocketTimeoutException:
                item = None
            except ws_frames.ProtocolError as exc:
                raise _Failure(f"protocol error: {exc}") from None
            except (OSError, websocket.WebSocketException) as exc:  # the network or the peer
                if self._stop.is_set():
                    return
                raise _describe(exc) from None
            except Exception:  # a bug: _stream counts it, unless stop() made the read fail
                if self._stop.is_set():
                    return
                raise
            if item is not None:
                kind, data = item
                if kind == text or kind == binary:
                    ping_unanswered_since = None  # a complete frame: the peer is alive
                    if not push(data, kind == binary):
                        self._stop.set()
                        return
                    self._delivered = True
                elif kind == dropped:
                    self._sink.on_message_dropped(data)
                else:
                    ping_unanswered_since = None
                    if kind == ws_frames.PING:
                        pong_due = data
                    elif kind == ws_frames.CLOSE:
                        raise _Failure(_close_reason(data))
            if self._stop.is_set():
                return
            # Only the latest of a burst of pings is answered (RFC 6455 5.5.3), once what
            # was read is handled: a ping flood costs one pong per read, not one per ping.
            if pong_due is not None and not frames.buffered:
                _send_control(ws.pong, pong_due)
                pong_due = None
            if ping_interval:
                now = time.monotonic()
                if ping_unanswered_since is not None and now - ping_unanswered_since > ping_timeout:
                    raise _Failure(f"no answer to a keepalive ping within {ping_timeout:g} s")
                if now >= next_ping:
                    _send_control(ws.ping, b"")
                    next_ping = now + ping_interval
                    if ping_unanswered_since is None:
                        ping_unanswered_since = now

    def _retry_after(self, failure: _Failure, disconnected: bool = False) -> bool:
        """Log the failure and sleep the backoff; False when the reader must exit."""
        if self._stop.is_set():
            return False
        if failure.unexpected:
            self.thread_errors += 1
            self._unexpected_in_a_row += 1
            self._sink.count_thread_error()
            if self._unexpected_in_a_row >= MAX_UNEXPECTED_IN_A_ROW:
                self._give_up(f"gave up after {self._unexpected_in_a_row} unexpected errors in a row with "
                              f"no frame delivered in between: {failure.reason}")
                return False
        self.failures += 1
        self.last_error = failure.reason
        label = self.source.label
        if not failure.healable and self.connects == 0:
            self._give_up(failure.reason)
            return False
        if self.options.max_retries and self.failures > self.options.max_retries:
            self._give_up(f"gave up after {self.failures - 1} retries: {failure.reason}")
            return False
        self._report_first("retrying", f"{self.source.display}: {failure.reason}")
        delay = self._backoff(failure.healable)
        what = "disconnected" if disconnected else "connection failed"
        # A failure that keeps repeating is logged at attempts 1, 2, 4, 8… so that a long
        # outage or a flapping server stays readable; unexpected errors at their own 1, 2, 4…
        # (a connection that delivers in between resets the attempts).
        if failure.unexpected:
            if self.thread_errors & (self.thread_errors - 1) == 0:
                log.error("ldp %s: %s: %s; retrying in %.1f s (thread error %d, counted in thread_errors)",
                          label, what, failure.reason, delay, self.thread_errors)
        elif self.failures & (self.failures - 1) == 0:
            log.warning("ldp %s: %s: %s; retrying in %.1f s (attempt %d)",
                        label, what, failure.reason, delay, self.failures)
        self.state = "backoff"
        return not self._stop.wait(delay)

    def _backoff(self, healable: bool) -> float:
        if not healable:
            return self.options.backoff_max  # a token fixed elsewhere, no need to hammer
        exponent = min(max(self.failures - 1, 0), 32)
        delay = min(self.options.backoff_max, self.options.backoff_initial * 2 ** exponent)
        return delay * self._random.uniform(0.8, 1.0)  # jitter: spread reconnects of many hosts

    def _give_up(self, reason: str) -> None:
        message = f"{self.source.display}: {reason}"
        self.state = "fatal"
        self.last_error = message
        log.error("ldp %s: %s", self.source.label, reason)
        self._report_first("fatal", message)
        self._sink.on_fatal(message)

    def _report_first(self, outcome: str, message: str) -> None:
        if not self._first_outcome.is_set():
            self._outcome = (outcome, message)
            self._first_outcome.set()

    def _close(self, ws: websocket.WebSocket) -> None:
        with self._ws_lock:
            self._ws = None
            ws.shutdown()  # no close handshake: it could block on a dead peer


def _send_control(send, payload: bytes) -> None:
    try:
        send(payload)
    except websocket.WebSocketTimeoutException:
        raise _Failure("the server does not read what is sent to it (a ping or pong could not be sent)") from None
    except Exception as exc:
        raise _describe(exc) from None


# A status line or close reason is the server's text: kept short in log lines.
_SERVER_TEXT_MAX = 200


def _describe(exc: Exception, ws: websocket.WebSocket | None = None) -> _Failure:
    """A short reason for a connection error, and whether retrying can fix it."""
    response = getattr(ws, "handshake_response", None)
    if response is not None and response.status in websocket._handshake.SUPPORTED_REDIRECT_STATUSES:
        location = _server_text(response.headers.get("location") or "nowhere")
        return _Failure(f"HTTP {response.status} redirect to {location} refused: redirects are not "
                        "followed (use the tail address of the stream itself)", healable=False)
    if isinstance(exc, websocket.WebSocketBadStatusException):
        status = exc.status_code
        text = f"HTTP {status} {_server_text(exc.status_message or '')}".rstrip() + " on the WebSocket upgrade"
        if status in _UNHEALABLE_STATUSES:
            return _Failure(f"{text}: {_UNHEALABLE_STATUSES[status]}", healable=False)
        return _Failure(text)
    if isinstance(exc, ssl.SSLCertVerificationError):  # before ValueError: it is one too
        return _Failure(f"TLS certificate verification failed: {exc.verify_message}"
                        " (set a CA bundle if the server uses a private CA)")
    if isinstance(exc, ssl.SSLError):
        return _Failure(f"TLS error: {exc.reason or exc}")
    if isinstance(exc, ValueError):  # websocket-client's URL parser
        return _Failure(f"malformed URL: {exc}", healable=False)
    if isinstance(exc, websocket.WebSocketAddressException):
        return _Failure(f"cannot resolve the host: {exc}")
    if isinstance(exc, (websocket.WebSocketTimeoutException, TimeoutError)):
        return _Failure("timed out")
    if isinstance(exc, ConnectionRefusedError):
        return _Failure("connection refused")
    if isinstance(exc, ConnectionResetError):
        return _Failure("connection reset by peer")
    if isinstance(exc, websocket.WebSocketConnectionClosedException):
        return _Failure("connection lost")
    if isinstance(exc, websocket.WebSocketProxyException):
        return _Failure(f"proxy error: {_server_text(str(exc))}")
    if isinstance(exc, OSError) and exc.strerror:
        return _Failure(exc.strerror)
    return _Failure(_server_text(f"{type(exc).__name__}: {exc}"))


def _server_text(text: str) -> str:
    return text if len(text) <= _SERVER_TEXT_MAX else text[:_SERVER_TEXT_MAX] + "…"


def _close_reason(data: bytes) -> str:
    if len(data) < 2:
        return "server closed the connection"
    code = int.from_bytes(data[:2], "big")
    text = _server_text(data[2:].decode("utf-8", "replace"))
    return f"server closed the connection ({code}{' ' + text if text else ''})"

"""HTTP of history requests, bounded against any server: opensearch-py's urllib3 connection,
with one deadline for the whole of each request (connect, TLS, headers, body) and a byte cap
on its body, before and after decompression.

urllib3's timeout bounds each socket operation, so a server that trickles its headers or its
body a byte at a time would never be abandoned. Here a watchdog thread per request shuts the
request's socket (through a duplicate of it, so that a TCP connect or a TLS handshake can be cut
too) when the deadline passes or the client stops: the blocked call fails at once. DNS cannot
be interrupted; the resolver's own timeouts bound it. The body is read in chunks and inflated
here with zlib's max_length: a gzip bomb costs at most the cap.
"""
from __future__ import annotations

import http.client
import socket
import threading
import time
import zlib
from collections.abc import Callable
from contextlib import contextmanager

import urllib3
from opensearchpy.connection import Urllib3HttpConnection
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family
from urllib3.util.retry import Retry

from ...redaction import logger
from .errors import HistoryAnswerTooLarge, HistoryError

__all__ = ["BoundedConnection"]

log = logger("k8saudit_ovh.history")

_CHUNK = 64 << 10  # bytes read from the socket at a time
_WATCH_POLL_S = 0.05  # how often a request's watchdog looks at its deadline and at stop
_INFLATE_STEP = 1 << 20  # most bytes inflated at a time
_GZIP_OR_ZLIB = 32 + zlib.MAX_WBITS  # zlib reads either header
_NETWORK_ERRORS = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


class BoundedConnection(Urllib3HttpConnection):
    """opensearch-py's urllib3 connection, each request bounded: `timeout` seconds for the
    whole of it, at most `max_bytes` of body before and after decompression (only gzip is
    asked for), cut short when `stopping()` turns true. An HTTP error status raises
    opensearch-py's TransportError for it (the body unread) unless in `ignore`; every other
    failure is a HistoryError saying why, prefixed with `label`."""

    def __init__(self, *, label: str, max_bytes: int, stopping: Callable[[], bool], **kwargs):
        self.label = label
        self.max_bytes = max_bytes
        self._guard = _Guard(stopping)
        super().__init__(**kwargs)
        if self.http_compress:
            self.headers["accept-encoding"] = "gzip"  # what _Inflater reads

    def _create_urllib3_pool(self) -> None:
        super()._create_urllib3_pool()
        https = isinstance(self.pool, urllib3.HTTPSConnectionPool)
        self.pool.ConnectionCls = _GuardedHTTPSConnection if https else _GuardedHTTPConnection
        self.pool.conn_kw["guard"] = self._guard

    @property
    def thread_errors(self) -> int:
        """Watchdogs that failed (logged): their requests were bounded by socket timeouts only."""
        return self._guard.thread_errors

    def cut(self) -> None:
        """Cuts the request in flight short, from any thread (close)."""
        self._guard.cut_short("stop")

    def perform_request(self, method, url, params=None, body=None, timeout=None, ignore=(), headers=None):
        pool = self.pool  # close() from another thread drops it
        if self._guard.stopping() or pool is None:
            raise HistoryError(f"{self.label}: stopped", retryable=False)
        url = self.url_prefix + url
        request_headers = self.headers.copy()
        request_headers.update(headers or {})
        if self.http_compress and body:
            body = self._gzip_compress(body)
            request_headers["content-encoding"] = "gzip"
        if callable(self.http_auth):  # may fetch a token: a bounded request of its own
            request_headers.update(self.http_auth(method, self.host + url, body))
        seconds = timeout or self.timeout
        response = None
        with self._guard.watching(seconds):
            try:
                response = pool.urlopen(
                    method, url, body, headers=request_headers, retries=Retry(False), redirect=False,
                    timeout=urllib3.Timeout(connect=seconds, read=seconds), preload_content=False,
                    decode_content=False)
                if not 200 <= response.status < 300 and response.status not in ignore:
                    self._raise_error(response.status, "", response.headers.get("content-type"))
                data = self._read_body(response)
                cut = self._cut_failure(seconds)
                if cut:
                    raise cut
            except BaseException as exc:
                if response is not None:
                    response.close()  # the connection goes, with whatever was left unread
                if not isinstance(exc, _NETWORK_ERRORS):
                    raise
                what = "cannot connect" if response is None else "the answer was cut short"
                raise (self._cut_failure(seconds) or
                       HistoryError(f"{self.label}: {what} ({type(exc).__name__})")) from None
            finally:
                if response is not None:
                    response.release_conn()
        return response.status, response.headers, data

    def _cut_failure(self, seconds: float) -> HistoryError | None:
        """Why the request was cut short, if it was (a cut socket may also end a body
        without a length as if it were whole)."""
        if self._guard.cut == "deadline":
            return HistoryError(f"{self.label}: no complete answer within timeoutS ({seconds:g} s)")
        if self._guard.cut == "stop":
            return HistoryError(f"{self.label}: stopped", retryable=False)
        return None

    def _read_body(self, response) -> bytes:
        cap = self.max_bytes
        announced = response.length_remaining  # Content-Length, as urllib3 read it
        if announced is not None and announced > cap:
            raise HistoryAnswerTooLarge(f"{self.label}: an answer of {announced} bytes, over the cap of {cap}")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", "x-gzip"):
            raise HistoryError(f"{self.label}: an answer in {encoding[:40]!r}, which was not asked for",
                               retryable=False)
        inflater = _Inflater() if encoding != "identity" else None
        body = bytearray()
        received = 0
        while chunk := response.read(_CHUNK, decode_content=False):
            received += len(chunk)
            if inflater:
                try:
                    inflater.inflate_into(body, chunk, cap)
                except zlib.error:
                    raise HistoryError(f"{self.label}: the answer is not valid gzip") from None
            else:
                body += chunk
            if received > cap or len(body) > cap:
                how = "" if received > cap else " once decompressed"
                raise HistoryAnswerTooLarge(f"{self.label}: an answer of more than {cap} bytes{how}, over the cap; "
                                            f"the rest left unread")
        if inflater and not inflater.done:
            raise HistoryError(f"{self.label}: the answer was cut short (its gzip stream does not end)")
        return bytes(body)


class _Inflater:
    """A gzip body inflated chunk by chunk, never more than asked (zlib's max_length)."""

    def __init__(self):
        self._zlib = zlib.decompressobj(_GZIP_OR_ZLIB)

    @property
    def done(self) -> bool:
        return self._zlib.eof

    def inflate_into(self, body: bytearray, data: bytes, cap: int) -> None:
        """Appends `data` inflated to `body`, a step at a time, and stops once `body` holds
        more than `cap` bytes (the caller gives up). zlib.error on bytes that are not gzip."""
        while data and len(body) <= cap:
            body += self._zlib.decompress(data, min(_INFLATE_STEP, cap + 1 - len(body)))
            data = self._zlib.unconsumed_tail  # what max_length left for the next step
            if self._zlib.eof and self._zlib.unused_data:  # another gzip member follows
                data = self._zlib.unused_data
                self._zlib = zlib.decompressobj(_GZIP_OR_ZLIB)


class _Guard:
    """Cuts the request in flight short: shuts the socket of its connection (the guarded
    connections attach themselves) when its deadline passes or `stopping()` turns true."""

    def __init__(self, stopping: Callable[[], bool]):
        self.stopping = stopping
        self._lock = threading.Lock()
        self._connection: "_GuardedConnection | None" = None
        self.cut: str | None = None  # why the request in flight was cut: "deadline" or "stop"
        self.thread_errors = 0

    def attach(self, connection: "_GuardedConnection") -> None:
        with self._lock:
            self._connection = connection
            cut = self.cut
        if cut:  # cut before its socket existed (during DNS or connect)
            connection.shut()

    def cut_short(self, why: str) -> None:
        with self._lock:
            self.cut = self.cut or why
            connection = self._connection
        if connection is not None:
            connection.shut()

    @contextmanager
    def watching(self, seconds: float):
        with self._lock:
            self.cut, self._connection = None, None
        done = threading.Event()
        watchdog = threading.Thread(target=self._watch, args=(time.monotonic() + seconds, done),
                                    name="history-request-deadline", daemon=True)
        watchdog.start()
        try:
            yield
        finally:
            done.set()
            watchdog.join()  # no thread outlives its request
            with self._lock:
                self._connection = None

    def _watch(self, deadline: float, done: threading.Event) -> None:
        try:
            while True:
                if self.stopping():
                    return self.cut_short("stop")
                left = deadline - time.monotonic()
                if left <= 0:
                    return self.cut_short("deadline")
                if done.wait(min(left, _WATCH_POLL_S)):
                    return
        except Exception as exc:  # not expected; the request is then bounded by socket timeouts
            self.thread_errors += 1
            log.warning("history request watchdog failed: %r", exc)


class _GuardedConnection:
    """A urllib3 connection that attaches itself to its _Guard for each request and keeps a
    duplicate of its socket, to shut it from the guard's thread."""

    def __init__(self, *args, guard: _Guard, **kwargs):
        super().__init__(*args, **kwargs)
        self._guard = guard
        self._shadow_lock = threading.Lock()
        self._shadow: socket.socket | None = None

    def _new_conn(self) -> socket.socket:
        """urllib3's, with each socket known to the guard before its connect(): a host that
        drops connection attempts is cut short like a silent server. (DNS cannot be cut: the
        resolver's own timeouts bound it.)"""
        try:
            addresses = socket.getaddrinfo(self._dns_host.strip("[]"), self.port, allowed_gai_family(),
                                           socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        failure: OSError = OSError("no address")
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            try:
                self._watch(sock)
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                sock.settimeout(self.timeout)
                sock.connect(address)
                return sock
            except OSError as exc:
                sock.close()
                failure = exc
                if self._guard.cut:
                    break
        if isinstance(failure, TimeoutError):
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from failure
        raise NewConnectionError(self, f"Failed to establish a new connection: {failure}") from failure

    def _watch(self, sock: socket.socket) -> None:
        with self._shadow_lock:
            self._drop_shadow()
            self._shadow = sock.dup()  # the same socket, still ours once TLS wraps the original
        self._guard.attach(self)

    def request(self, *args, **kwargs):
        self._guard.attach(self)  # a kept-alive connection makes no new socket
        return super().request(*args, **kwargs)

    def shut(self) -> None:
        with self._shadow_lock:
            if self._shadow is not None:
                try:
                    self._shadow.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by the peer

    def close(self) -> None:
        with self._shadow_lock:
            self._drop_shadow()
        super().close()

    def _drop_shadow(self) -> None:
        if self._shadow is not None:
            self._shadow.close()
            self._shadow = None


class _GuardedHTTPConnection(_GuardedConnection, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnection, HTTPSConnection):
    pass

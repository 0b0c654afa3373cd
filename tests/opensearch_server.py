"""An OpenSearch-compatible `_search` server for tests, on 127.0.0.1 only: the stored
history of an LDP stream behind an alias.

It holds GELF documents (the same audit events the LDP test server sends as frames), in
the Graylog layout (`message`) or the GELF one (`short_message`), with the time field
written as epoch seconds, epoch milliseconds or date strings. It answers
`POST /<alias>/_search` with `range` (gte/gt/lte/lt, epoch_millis), `sort` on the time
field (ties in insertion order, as a shard does), `size`, `from` and `search_after`, checks
basic auth, and misbehaves on demand: answer 401/429/500 for the next N requests, or be
slow. Documents can be added while it runs (history that lags the live tail).

Document-level behaviours (`disorder`, tests/test_history_documents.py): any `_source`
(odd documents), documents without `_id`, a sort on [time, `_id`] with search_after on
both (or refused, or without tiebreaker values), index.max_result_window, and a server that
ignores the sort order or the asked range.
"""
import base64
import gzip
import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"
TIME_FORMATS = ("epoch_s", "epoch_ms", "date_space", "iso")


def format_time(ms: int, fmt: str):
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    if fmt == "epoch_s":
        return ms / 1000
    if fmt == "epoch_ms":
        return ms
    if fmt == "date_space":
        return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def gelf_document(event: dict, time_ms: int, layout: str = "message", time_format: str = "epoch_s",
                  underscore: bool = True) -> dict:
    """A stored GELF message holding `event` as its short_message."""
    prefix = "_" if underscore else ""
    doc = {"timestamp": format_time(time_ms, time_format), "source": "kube-apiserver",
           prefix + "cluster_name": "mks-prod", prefix + "log_type": "audit"}
    doc["message" if layout == "message" else "short_message"] = json.dumps(event)
    return doc


@dataclass
class Misbehavior:
    status: int | None = None  # answer this HTTP status ...
    times: int = 0  # ... to the next `times` requests (-1: forever)
    delay_s: float = 0.0  # every answer waits this long (slow mode)


@dataclass
class Disorder:
    """Document-level misbehaviour (tests/test_history_documents.py)."""
    ignore_sort: bool = False  # hits in the order they were added, not by time
    widen_range_ms: int = 0  # answer documents this far outside the asked range
    # A sort on [time, _id]: "accept" (ties by _id, sort values [time, _id]), "refuse"
    # (400, as recent OpenSearch does), "no_values" (sorted, but sort values [time] only).
    id_sort: str = "accept"
    max_result_window: int = 10_000  # from + size beyond it: 400, as index.max_result_window


class Refused(Exception):
    """A search answered 400, as OpenSearch refuses it."""


@dataclass
class _Stored:
    time_ms: int
    doc_id: str | None  # None: a hit without `_id`
    source: object  # a GELF document; anything for odd ones
    added: int = 0  # insertion order


class _LoopbackHTTPServer:
    """A threaded HTTP server on loopback whose POSTs (and GETs) go to `_answer`; a context
    manager. Subclasses set `_thread_name` and `self._server = None` in __init__."""

    _thread_name = "test-http-server"
    _server: ThreadingHTTPServer | None

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def _send(self, handler, status: int, answer: dict) -> None:
        """A JSON answer; its status is kept in `self.statuses`."""
        self.statuses.append(status)
        data = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def start(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                owner._answer(self)

            do_GET = do_POST

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name=self._thread_name, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class OpenSearchServer(_LoopbackHTTPServer):
    _thread_name = "opensearch-test-server"

    def __init__(self, alias: str = "audit-alias", user: str = "ldp-user", password: str = "hist-p4ssw0rd"):
        self.alias, self.user, self.password = alias, user, password
        self.misbehavior = Misbehavior()
        self.disorder = Disorder()
        # When set, only documents up to this time (ms) are served: history that never
        # runs ahead of the live tail, and lags it when the callable does.
        self.visible_until = None
        self.requests: list[dict] = []  # every search body received
        self.statuses: list[int] = []
        self._docs: list[_Stored] = []  # sorted by time, ties in insertion order
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- documents -------------------------------------------------------------------------

    def add(self, source, time_ms: int, doc_id: str | None = "") -> None:
        """A document the server indexes at time_ms, whatever its `_source` says."""
        with self._lock:
            n = len(self._docs)
            stored = _Stored(time_ms, f"doc-{n:06d}" if doc_id == "" else doc_id, source, n)
            i = len(self._docs)
            while i > 0 and self._docs[i - 1].time_ms > time_ms:
                i -= 1
            self._docs.insert(i, stored)

    def add_events(self, events, times_ms, layout="message", time_format="epoch_s", underscore=True):
        for event, t in zip(events, times_ms):
            self.add(gelf_document(event, t, layout, time_format, underscore), t)

    @property
    def count(self) -> int:
        return len(self._docs)

    # -- serving ---------------------------------------------------------------------------

    def url(self, with_alias: bool = True) -> str:
        return f"http://{HOST}:{self.port}" + (f"/{self.alias}" if with_alias else "")

    @property
    def port(self) -> int:
        return self._server.server_address[1]


    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        if handler.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        m = self.misbehavior
        if m.delay_s:
            time.sleep(m.delay_s)
        if m.status is not None and m.times != 0:
            m.times -= 1 if m.times > 0 else 0
            return self._send(handler, m.status, {"error": f"status {m.status} on demand", "status": m.status})
        if not self._authorized(handler.headers.get("Authorization", "")):
            return self._send(handler, 401, {"error": "unauthorized", "status": 401})
        path = handler.path.split("?")[0]
        if path != f"/{self.alias}/_search":
            return self._send(handler, 404, {"error": "no such index", "status": 404})
        body = json.loads(raw or b"{}")
        self.requests.append(body)
        try:
            hits = self._search(body)
        except Refused as refusal:
            return self._send(handler, 400, {"error": {"type": "illegal_argument_exception", "reason": str(refusal)},
                                             "status": 400})
        self._send(handler, 200, {"took": 1, "timed_out": False, "hits": {"hits": hits}})

    def _authorized(self, authorization: str) -> bool:
        return authorization == "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()


    def _search(self, body: dict) -> list:
        (field_name, bounds), = body.get("query", {}).get("range", {"timestamp": {}}).items()
        sort = body.get("sort") or []
        if sort:
            (sort_field, order), = sort[0].items()
            assert sort_field == field_name and order.get("order", "asc") == "asc", "only ascending time sort"
        by_id = [next(iter(s)) for s in sort[1:]] == ["_id"]
        assert len(sort) <= 1 or by_id, "only time, then _id"
        d = self.disorder
        if by_id and d.id_sort == "refuse":
            raise Refused("Fielddata access on the _id field is disallowed")
        lo = max(_bound(bounds, "gte", 0), _bound(bounds, "gt", 1)) - d.widen_range_ms
        hi = min(_bound(bounds, "lte", 0, default=2**63), _bound(bounds, "lt", -1, default=2**63)) + d.widen_range_ms
        if self.visible_until is not None:
            hi = min(hi, self.visible_until())
        with self._lock:
            docs = [d for d in self._docs if lo <= d.time_ms <= hi]
        if d.ignore_sort:
            docs.sort(key=lambda stored: stored.added)
        elif by_id:
            docs.sort(key=lambda stored: (stored.time_ms, stored.doc_id or ""))
        after = body.get("search_after")
        if after and by_id and len(after) >= 2:
            docs = [d for d in docs if (d.time_ms, d.doc_id or "") > (after[0], after[1])]
        elif after:
            docs = [d for d in docs if d.time_ms > after[0]]
        start = int(body.get("from", 0))
        size = int(body.get("size", 10))
        if start + size > d.max_result_window:
            raise Refused(f"Result window is too large, from + size must be less than or equal to: "
                          f"[{d.max_result_window}] but was [{start + size}]")
        tiebreak = by_id and d.id_sort == "accept"
        return [{"_index": self.alias, **({} if s.doc_id is None else {"_id": s.doc_id}), "_source": s.source,
                 "sort": [s.time_ms, s.doc_id or ""] if tiebreak else [s.time_ms]}
                for s in docs[start:start + size]]


def _bound(bounds: dict, key: str, shift: int, default: int = 0) -> int:
    if key not in bounds:
        return default if key in ("lte", "lt") else -2**63
    return int(bounds[key]) + shift


# ---- Hostile wire and IAM authentication (tests/test_history_transport.py) ----------------
# A history that answers its 200s the way `wire` says, and may accept only IAM credentials;
# an OAuth2 token endpoint issuing short-lived tokens. Every misbehaviour ends within
# WIRE_LIMIT_S, or as soon as the client hangs up.

WIRE_LIMIT_S = 60.0
WIRE_STEP_S = 0.1  # one byte (trickled body) or one header line (trickled headers) per step


def gzip_bomb(expanded: int) -> bytes:
    """A gzip body (several members: still one valid stream) of `expanded` zero bytes, about
    1/1000 of that on the wire."""
    member = gzip.compress(bytes(10 << 20), compresslevel=9)
    return member * max(1, expanded // (10 << 20))


class WireServer(OpenSearchServer):
    """`wire`: None (a proper answer), "gzip" (a proper gzip answer), "gzip_garbage" (plain
    JSON said to be gzip), "trickle_body", "trickle_headers", "hang", "gzip_bomb" (`bomb`, see
    gzip_bomb), "oversized" (a body of `oversize` bytes, its length announced) or
    "oversized_unannounced" (no Content-Length, the end of the body is the end of the
    connection). `bearer`: when set, only `Authorization: Bearer <t>` or Basic
    `pat_jwt_<anything>:<t>` is accepted, for a `t` that bearer(t) accepts."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.wire: str | None = None
        self.bomb = b""
        self.oversize = 20 << 20
        self.bearer = None
        self.tokens_used: list[str] = []  # the IAM token of each request that had one
        self.misbehaving = threading.Event()  # set when a request reaches a misbehaving answer
        self._released = threading.Event()

    def stop(self) -> None:
        self._released.set()
        super().stop()

    def serve_tls(self, cert_file: str, key_file: str) -> "WireServer":
        """From now on, over TLS (a started server, before any request): url() is https."""
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        return self

    def url(self, with_alias: bool = True) -> str:
        url = super().url(with_alias)
        return url.replace("http://", "https://", 1) if hasattr(self._server.socket, "context") else url

    def _authorized(self, authorization: str) -> bool:
        if self.bearer is None:
            return super()._authorized(authorization)
        scheme, _, credentials = authorization.partition(" ")
        token = None
        if scheme == "Bearer":
            token = credentials
        elif scheme == "Basic":
            user, _, password = base64.b64decode(credentials).decode("utf-8", "replace").partition(":")
            token = password if user.startswith("pat_jwt_") else None
        if token is not None:
            self.tokens_used.append(token)
        return token is not None and self.bearer(token)

    def _send(self, handler, status: int, answer: dict) -> None:
        if status != 200 or self.wire is None:
            return super()._send(handler, status, answer)
        self.statuses.append(status)
        self.misbehaving.set()
        try:
            getattr(self, f"_{self.wire}")(handler, json.dumps(answer).encode())
        except OSError:
            pass  # the client hung up: what it is expected to do
        handler.close_connection = True

    def _headers(self, handler, **headers) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), str(value))
        handler.end_headers()

    def _trickle_body(self, handler, data: bytes) -> None:
        self._headers(handler, Content_Length=len(data))
        for byte in data[:int(WIRE_LIMIT_S / WIRE_STEP_S)]:
            if self._released.wait(WIRE_STEP_S):
                return
            handler.wfile.write(bytes([byte]))

    def _trickle_headers(self, handler, data: bytes) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for n in range(int(WIRE_LIMIT_S / WIRE_STEP_S)):
            if self._released.wait(WIRE_STEP_S):
                return
            handler.wfile.write(b"X-Pad-%d: x\r\n" % n)

    def _hang(self, handler, data: bytes) -> None:
        self._released.wait(WIRE_LIMIT_S)

    def _gzip_bomb(self, handler, data: bytes) -> None:
        self._headers(handler, Content_Encoding="gzip", Content_Length=len(self.bomb))
        handler.wfile.write(self.bomb)

    def _gzip(self, handler, data: bytes) -> None:
        """A proper gzip answer, when the client asked for gzip."""
        if "gzip" not in handler.headers.get("Accept-Encoding", ""):
            return OpenSearchServer._send(self, handler, 200, json.loads(data))
        body = gzip.compress(data)
        self._headers(handler, Content_Encoding="gzip", Content_Length=len(body))
        handler.wfile.write(body)

    def _gzip_garbage(self, handler, data: bytes) -> None:
        self._headers(handler, Content_Encoding="gzip", Content_Length=len(data))
        handler.wfile.write(data)

    def _oversized(self, handler, data: bytes) -> None:
        self._headers(handler, Content_Length=self.oversize)
        self._pad(handler, self.oversize)

    def _oversized_unannounced(self, handler, data: bytes) -> None:
        self._headers(handler, Connection="close")
        self._pad(handler, self.oversize)

    def _pad(self, handler, size: int) -> None:
        chunk = b" " * (64 << 10)
        for _ in range(size // len(chunk)):
            handler.wfile.write(chunk)


class TokenServer(_LoopbackHTTPServer):
    """A loopback OAuth2 token endpoint (client credentials, client authenticated with HTTP
    Basic, as OVHcloud's): each token lives `expires_in` seconds (None: the answer gives no
    lifetime), or until revoke(). `valid(token)` is what the history server asks."""

    path = "/auth/oauth2/token"
    _thread_name = "token-test-server"

    def __init__(self, client_id: str = "sa-client-id", client_secret: str = "sa-Cl1ent-s3cret",
                 expires_in: int | None = 1):
        self.client_id, self.client_secret, self.expires_in = client_id, client_secret, expires_in
        self.enforce_expiry = True  # False: an expired token still opens history
        self.issued: list[tuple[str, float]] = []  # token, monotonic time it was issued
        self.statuses: list[int] = []
        self.forms: list[dict] = []
        self._revoked = 0  # tokens issued before this index no longer open history
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}{self.path}"

    def valid(self, token: str) -> bool:
        with self._lock:
            for n, (issued, at) in enumerate(self.issued):
                if issued == token:
                    fresh = not self.enforce_expiry or self.expires_in is None or time.monotonic() < at + self.expires_in
                    return n >= self._revoked and fresh
        return False

    def revoke(self) -> None:
        with self._lock:
            self._revoked = len(self.issued)


    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        from urllib.parse import parse_qsl
        form = dict(parse_qsl(handler.rfile.read(int(handler.headers.get("Content-Length") or 0)).decode()))
        self.forms.append(form)
        expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if handler.path != self.path or form.get("grant_type") != "client_credentials":
            return self._send(handler, 400, {"error": "unsupported_grant_type"})
        if handler.headers.get("Authorization") != expected:
            return self._send(handler, 401, {"error": "invalid_client", "error_description": "bad client"})
        with self._lock:
            token = f"iam-{len(self.issued)}-" + base64.urlsafe_b64encode(os.urandom(24)).decode()
            self.issued.append((token, time.monotonic()))
        answer = {"access_token": token, "token_type": "Bearer", "scope": "all"}
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        self._send(handler, 200, answer)


"""A fake OVHcloud API (v1) on 127.0.0.1 for `k8saudit-ovh setup` tests: /auth/time, signed
requests checked as OVHcloud checks them, the MKS and LDP calls setup makes with the JSON
shapes of the API reference, LDP's asynchronous operations (pending for a few polls, or for
ever, or failing), a cluster that redeploys for a few reads after a subscription, 403s as the
API words them (IAM policies: details.unauthorizedActionsByIAM; the API key: errorCode),
404/409 answers, a stream PUT that resets every writable field the body leaves out, LDP
services with or without IAM (state, isIamEnabled, alias prefix), an OAuth2 token endpoint for
IAM service accounts, and the OpenSearch `_search` of each alias (Basic LDP credentials on
legacy services; on IAM services only `Bearer <token>` or Basic `pat_jwt_<x>:<token>`).

python-ovh only takes named endpoints: register one for the fake in the test
(ovh.client.ENDPOINTS[name] = fake.endpoint) and point OVH_ENDPOINT at it; likewise
k8saudit_ovh.config.TOKEN_URLS[name] = fake.token_url for service accounts.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import itertools
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

APP_KEY, APP_SECRET, CONSUMER_KEY = "fakeappkey0001", "fake-app-secret-0001", "fake-consumer-key-0001"
NOW = "2026-12-04T10:00:00+01:00"
# dbaas.logs.OutputGraylogStreamUpdate, as the API reference gives it: each writable field and
# what it becomes when a PUT leaves it out (title and description are required).
STREAM_UPDATE_DEFAULTS = {
    "webSocketEnabled": False, "indexingEnabled": False, "indexingMaxSize": None, "indexingNotifyEnabled": False,
    "pauseIndexingOnMaxSize": False, "coldStorageEnabled": False, "coldStorageCompression": None,
    "coldStorageContent": None, "coldStorageNotifyEnabled": False, "coldStorageRetention": None,
    "coldStorageTarget": None, "encryptionKeysIds": []}
API_KEY_MESSAGES = {"NOT_GRANTED_CALL": "This call has not been granted",
                    "INVALID_CREDENTIAL": "This credential is not valid",
                    "NOT_CREDENTIAL": "This credential does not exist"}


@dataclass
class Ldp:
    name: str
    username: str
    display_name: str
    iam: bool = False
    state: str = "ENABLED"
    password: str = "ldp-password-0001"
    streams: dict = field(default_factory=dict)
    aliases: dict = field(default_factory=dict)
    alias_streams: dict = field(default_factory=dict)
    operations: dict = field(default_factory=dict)

    @property
    def alias_prefix(self) -> str:
        return self.name if self.iam else self.username


class FakeOvhApi:
    def __init__(self):
        self.projects: dict[str, dict[str, dict]] = {}         # project -> kubeId -> cluster
        self.subscriptions: dict[tuple, dict[str, dict]] = {}  # (project, kubeId) -> id -> subscription
        self.services: dict[str, Ldp] = {}
        self.calls: list[tuple[str, str, object]] = []         # (method, path with query, body)
        self.forbidden: dict[tuple[str, str], dict] = {}       # (method, path regex) -> 403 answer
        self.conflicts: set[tuple[str, str]] = set()           # (method, path regex) answered 409 once
        self.busy_writes = 0           # the next writes LDP refuses as busy (another operation runs)
        self.pending_polls = 1         # GETs of an operation that answer a pending state first
        self.operation_end = "SUCCESS"  # or FAILURE; None: pending for ever
        self.redeploy_reads: int | None = 2  # cluster reads answering REDEPLOYING after a subscription (None: ever)
        self.redeploying: dict[str, int | None] = {}           # kubeId -> reads left
        self.statuses: list[str] = []  # every cluster status answered, in order
        self.tail_address = "ws://127.0.0.1:9/tail/?tk=unset"  # the WEB_SOCKET address of every stream
        self.alias_address: str | None = None  # the OPENSEARCH_API address (default: this server)
        self.documents_last_hour = 12  # what an indexed stream holds, as a search counts it
        self.iam_tokens: set[str] = set()       # tokens the IAM-enabled OpenSearch API accepts
        self.service_accounts: dict[str, str] = {}  # client id -> secret (OAuth2 client credentials)
        self.searches: list[tuple[str, str]] = []   # (alias, authorization scheme) of each accepted search
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # ---- world --------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/1.0"

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/auth/oauth2/token"

    @property
    def writes(self) -> list[tuple[str, str, object]]:
        return [c for c in self.calls if c[0] != "GET"]

    def add_cluster(self, project: str, name: str) -> str:
        kube_id = self.new_id()
        self.projects.setdefault(project, {})[kube_id] = {
            "id": kube_id, "name": name, "region": "GRA7", "status": "READY", "version": "1.31",
            "url": f"{kube_id[:6]}.c1.gra7.k8s.ovh.net", "createdAt": NOW, "updatedAt": NOW}
        return kube_id

    def add_service(self, name: str, display_name: str, iam: bool = False, state: str = "ENABLED") -> Ldp:
        ldp = Ldp(name, name.replace("ldp-", "logs-"), display_name, iam, state)
        self.services[name] = ldp
        return ldp

    def add_stream(self, ldp: Ldp, title: str, web_socket: bool, indexing: bool = True, **settings) -> str:
        stream_id = self.new_id()
        ldp.streams[stream_id] = {
            "streamId": stream_id, "title": title, "description": "", "webSocketEnabled": web_socket,
            "indexingEnabled": indexing, "indexingMaxSize": None, "indexingNotifyEnabled": False,
            "pauseIndexingOnMaxSize": False, "coldStorageEnabled": False, "coldStorageCompression": None,
            "coldStorageContent": None, "coldStorageNotifyEnabled": False, "coldStorageRetention": None,
            "coldStorageTarget": None, "encryptionKeysIds": [], "isEditable": True, "isShareable": True,
            "canAlert": True, "nbAlertCondition": 0, "nbArchive": 0, "parentStreamId": None,
            "retentionId": self.new_id(), "createdAt": NOW, "updatedAt": NOW, **settings}
        return stream_id

    def add_subscription(self, project: str, kube_id: str, ldp: Ldp, stream_id: str) -> str:
        sid = self.new_id()
        self.subscriptions.setdefault((project, kube_id), {})[sid] = {
            "subscriptionId": sid, "kind": "audit", "streamId": stream_id, "serviceName": ldp.name,
            "resource": {"name": kube_id, "type": "kube"}, "createdAt": NOW, "updatedAt": NOW}
        return sid

    def deny_iam(self, method: str, pattern: str, *actions: str) -> None:
        """403 as an IAM policy answers it: the missing actions in the details."""
        self.forbidden[(method, pattern)] = {
            "class": "Client::Forbidden", "message": "User not granted for this request",
            "details": {"unauthorizedActionsByAuthentication": "", "unauthorizedActionsByIAM": ",".join(actions)}}

    def deny_key(self, method: str, pattern: str, error_code: str) -> None:
        """403 as the API answers a problem of the API key itself."""
        self.forbidden[(method, pattern)] = {"errorCode": error_code, "httpCode": "403 Forbidden",
                                             "message": API_KEY_MESSAGES[error_code]}

    def search_address(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def new_id(self) -> str:
        """Ids shaped as the API's UUIDs, numbered in creation order (golden files stay stable)."""
        n = next(self._ids)
        return f"{n:08x}-0000-4000-8000-{n:012x}"

    # ---- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> "FakeOvhApi":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- operations ------------------------------------------------------------------------

    def _operation(self, ldp: Ldp, effect) -> dict:
        op_id = self.new_id()
        ldp.operations[op_id] = {"op": {"operationId": op_id, "state": "PENDING", "createdAt": NOW, "updatedAt": NOW,
                                        "streamId": None, "aliasId": None, "subscriptionId": None},
                                 "polls": 0, "effect": effect}
        return {"operationId": op_id, "serviceName": ldp.name}

    def _poll(self, ldp: Ldp, op_id: str) -> dict:
        entry = ldp.operations[op_id]
        op = entry["op"]
        if op["state"] in ("SUCCESS", "FAILURE"):
            return op
        entry["polls"] += 1
        if self.operation_end is None or entry["polls"] <= self.pending_polls:
            op["state"] = "PENDING" if entry["polls"] == 1 else "RUNNING"
        elif self.operation_end == "SUCCESS":
            op.update(entry["effect"]())  # the object exists once the operation succeeded
            op["state"] = "SUCCESS"
        else:
            op["state"] = self.operation_end
        return op

    # ---- routes ------------------------------------------------------------------------------

    def route(self, method: str, path: str, query: dict, body):
        """(status, JSON answer)."""
        for (m, pattern), answer in self.forbidden.items():
            if m == method and re.fullmatch(pattern, path):
                return 403, answer
        if method != "GET" and path.startswith("/dbaas/logs/") and self.busy_writes:
            self.busy_writes -= 1
            return 403, {"class": "Client::Forbidden::Busy", "message": "Another operation is in progress"}
        for key in list(self.conflicts):
            if key[0] == method and re.fullmatch(key[1], path):
                self.conflicts.discard(key)
                return 409, {"class": "Client::Conflict", "message": "This object already exists"}
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:2] == ["cloud", "project"]:
            return self._cloud(method, parts[2:], query, body)
        if parts[:2] == ["dbaas", "logs"]:
            return self._ldp(method, parts[2:], body)
        return 404, {"message": f"Got an invalid (or empty) URL: {path}"}

    def _cloud(self, method, parts, query, body):
        project = parts[0]
        if project not in self.projects:
            return 404, {"message": f"This service does not exist: {project}"}
        clusters = self.projects[project]
        if parts[1:] == ["kube"] and method == "GET":
            return 200, list(clusters)
        kube_id = parts[2] if len(parts) > 2 else None
        if kube_id not in clusters:
            return 404, {"message": f"Cluster {kube_id} not found"}
        rest = parts[3:]
        subscriptions = self.subscriptions.setdefault((project, kube_id), {})
        if not rest and method == "GET":
            return 200, self._cluster(clusters[kube_id])
        if rest == ["log", "subscription"] and method == "GET":
            kind = query.get("kind", [None])[0]
            return 200, [sid for sid, s in subscriptions.items() if kind in (None, s["kind"])]
        if rest == ["log", "subscription"] and method == "POST":
            ldp = next((l for l in self.services.values() if body.get("streamId") in l.streams), None)
            if ldp is None or body.get("kind") != "audit":
                return 400, {"message": "Invalid streamId or kind"}
            if any(s["streamId"] == body["streamId"] and s["kind"] == body["kind"] for s in subscriptions.values()):
                return 409, {"message": "A subscription already exists for this stream and kind"}

            def effect():
                self.redeploying[kube_id] = self.redeploy_reads  # the log forwarding is redeployed
                return {"subscriptionId": self.add_subscription(project, kube_id, ldp, body["streamId"])}
            return 200, self._operation(ldp, effect)
        if rest[:2] == ["log", "subscription"] and len(rest) == 3 and method == "GET":
            return (200, subscriptions[rest[2]]) if rest[2] in subscriptions else (404, {"message": "not found"})
        return 404, {"message": "no such call"}

    def _cluster(self, cluster: dict) -> dict:
        left = self.redeploying.get(cluster["id"], 0)
        if left is None or left > 0:
            if left is not None:
                self.redeploying[cluster["id"]] = left - 1
            status = "REDEPLOYING"
        else:
            status = "READY"
        self.statuses.append(status)
        return {**cluster, "status": status}

    def _ldp(self, method, parts, body):
        if not parts:
            return 200, list(self.services)
        ldp = self.services.get(parts[0])
        if ldp is None:
            return 404, {"message": f"This service does not exist: {parts[0]}"}
        rest = parts[1:]
        if not rest:
            return 200, {"serviceName": ldp.name, "displayName": ldp.display_name, "username": ldp.username,
                         "state": ldp.state, "isIamEnabled": ldp.iam, "isCapped": False, "region": "EU",
                         "createdAt": NOW, "updatedAt": NOW}
        if rest[0] == "operation" and len(rest) == 2:
            return (200, self._poll(ldp, rest[1])) if rest[1] in ldp.operations else (404, {"message": "not found"})
        if rest[:3] == ["output", "graylog", "stream"]:
            return self._streams(ldp, method, rest[3:], body)
        if rest[:3] == ["output", "opensearch", "alias"]:
            return self._aliases(ldp, method, rest[3:], body)
        return 404, {"message": "no such call"}

    def _streams(self, ldp, method, rest, body):
        if not rest and method == "GET":
            return 200, list(ldp.streams)
        if not rest and method == "POST":
            return 200, self._operation(ldp, lambda: self._create_stream(ldp, body))
        if rest[0] not in ldp.streams:
            return 404, {"message": f"Stream {rest[0]} not found"}
        stream = ldp.streams[rest[0]]
        if len(rest) == 1 and method == "GET":
            return 200, stream
        if len(rest) == 1 and method == "PUT":
            wrong = set(body) - set(STREAM_UPDATE_DEFAULTS) - {"title", "description"}
            if wrong or not isinstance(body.get("title"), str) or not isinstance(body.get("description"), str):
                return 400, {"message": f"Invalid body: {sorted(wrong) or 'title and description are required'}"}

            def effect():  # the stream becomes the body: a field left out is reset
                stream.update({key: body.get(key, default) for key, default in STREAM_UPDATE_DEFAULTS.items()},
                              title=body["title"], description=body["description"], updatedAt="updated")
                return {"streamId": rest[0]}
            return 200, self._operation(ldp, effect)
        if rest[1:] == ["url"] and method == "GET":
            urls = [{"type": "GRAYLOG_WEBUI", "address": f"https://gra1.logs.ovh.com/streams/{rest[0]}/search"}]
            if stream["webSocketEnabled"]:
                urls.append({"type": "WEB_SOCKET", "address": self.tail_address})
            return 200, urls
        return 404, {"message": "no such call"}

    def _create_stream(self, ldp, body) -> dict:
        stream_id = self.add_stream(ldp, body["title"], bool(body.get("webSocketEnabled")),
                                    bool(body.get("indexingEnabled")))
        ldp.streams[stream_id]["description"] = body.get("description", "")
        return {"streamId": stream_id}

    def _aliases(self, ldp, method, rest, body):
        if not rest and method == "GET":
            return 200, list(ldp.aliases)
        if not rest and method == "POST":
            if not re.fullmatch(r"[a-z0-9_-]+", str(body.get("suffix"))):
                return 400, {"message": "Invalid suffix"}
            name = f"{ldp.alias_prefix}-a-{body['suffix']}"
            if any(a["name"] == name for a in ldp.aliases.values()):
                return 409, {"message": f"Alias {name} already exists"}
            return 200, self._operation(ldp, lambda: self._create_alias(ldp, name, body))
        if rest[0] not in ldp.aliases:
            return 404, {"message": f"Alias {rest[0]} not found"}
        alias_id = rest[0]
        if len(rest) == 1 and method == "GET":
            return 200, ldp.aliases[alias_id]
        if rest[1:] == ["stream"] and method == "GET":
            return 200, list(ldp.alias_streams[alias_id])
        if rest[1:] == ["stream"] and method == "POST":
            def effect():
                ldp.alias_streams[alias_id].append(body["streamId"])
                ldp.aliases[alias_id]["nbStream"] += 1
                return {"aliasId": alias_id, "streamId": body["streamId"]}
            return 200, self._operation(ldp, effect)
        if rest[1:] == ["url"] and method == "GET":
            return 200, [{"type": "OPENSEARCH_API", "address": self.alias_address or self.search_address()},
                         {"type": "OSD_WEBUI", "address": "https://gra1.logs.ovh.com/dashboards"}]
        return 404, {"message": "no such call"}

    def _create_alias(self, ldp, name, body) -> dict:
        alias_id = self.new_id()
        ldp.aliases[alias_id] = {"aliasId": alias_id, "name": name, "description": body["description"],
                                 "isEditable": True, "nbIndex": 0, "nbStream": 0, "currentSize": 0,
                                 "createdAt": NOW, "updatedAt": NOW}
        ldp.alias_streams[alias_id] = []
        return {"aliasId": alias_id}

    # ---- LDP's OpenSearch API, and the IAM token endpoint ------------------------------------

    def search(self, alias_name: str, authorization: str | None):
        """OpenSearch `_search` on an alias: the documents of its indexed streams, counted."""
        for ldp in self.services.values():
            for alias_id, alias in ldp.aliases.items():
                if alias["name"] == alias_name:
                    scheme = self._authorized(ldp, authorization or "")
                    if scheme is None:
                        return 401, {"error": "Unauthorized"}
                    self.searches.append((alias_name, scheme))
                    count = sum(self.documents_last_hour for sid in ldp.alias_streams[alias_id]
                                if ldp.streams[sid]["indexingEnabled"])
                    return 200, {"took": 1, "timed_out": False, "hits": {"total": {"value": count, "relation": "eq"},
                                                                          "max_score": None, "hits": []}}
        return 404, {"error": {"type": "index_not_found_exception"}}

    def _authorized(self, ldp: Ldp, authorization: str) -> str | None:
        """The scheme that authenticated the request: LDP credentials on a legacy service; on an
        IAM service an IAM token, as Bearer or as Basic pat_jwt_<x>:<token>."""
        scheme, _, value = authorization.partition(" ")
        if ldp.iam and scheme == "Bearer" and value in self.iam_tokens:
            return "Bearer"
        if scheme != "Basic":
            return None
        user, _, secret = base64.b64decode(value).decode(errors="replace").partition(":")
        if ldp.iam:
            return "Basic pat_jwt" if user.startswith("pat_jwt_") and secret in self.iam_tokens else None
        return "Basic" if (user, secret) == (ldp.username, ldp.password) else None

    def issue_token(self, authorization: str | None, form: dict) -> tuple[int, dict]:
        """OAuth2 client credentials (the client authenticated with HTTP Basic)."""
        scheme, _, value = (authorization or "").partition(" ")
        client_id, _, secret = base64.b64decode(value).decode(errors="replace").partition(":") \
            if scheme == "Basic" else ("", "", "")
        if form.get("grant_type") != ["client_credentials"] or self.service_accounts.get(client_id) != secret \
                or not client_id:
            return 401, {"error": "invalid_client"}
        token = "eyJ.sa-token." + secrets.token_hex(8)
        self.iam_tokens.add(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": "all"}

    # ---- HTTP ---------------------------------------------------------------------------------

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, payload) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Ovh-QueryID", "EU.fake")
                self.end_headers()
                self.wfile.write(data)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.headers.get("Content-Encoding") == "gzip":  # as OpenSearch takes it (the plugin's history)
                    raw = gzip.decompress(raw)
                raw = raw.decode()
                url = urlsplit(self.path)
                if url.path.endswith("/_search"):
                    with fake.lock:
                        answer = fake.search(url.path.strip("/").split("/")[0], self.headers.get("Authorization"))
                    self._answer(*answer)
                    return
                if url.path == "/auth/oauth2/token" and self.command == "POST":
                    with fake.lock:
                        answer = fake.issue_token(self.headers.get("Authorization"), parse_qs(raw))
                    self._answer(*answer)
                    return
                if not url.path.startswith("/1.0/"):
                    self._answer(404, {"message": "not the API"})
                    return
                path = url.path[len("/1.0"):]
                if path == "/auth/time" and self.command == "GET":
                    self._answer(200, int(time.time()))
                    return
                if not self._signed(raw):
                    self._answer(403, {"message": "Invalid signature", "errorCode": "INVALID_SIGNATURE"})
                    return
                body = json.loads(raw) if raw else None
                with fake.lock:
                    fake.calls.append((self.command, path + (f"?{url.query}" if url.query else ""), body))
                    status, payload = fake.route(self.command, path, parse_qs(url.query), body)
                self._answer(status, payload)

            def _signed(self, body: str) -> bool:
                h = self.headers
                if h.get("X-Ovh-Application") != APP_KEY or h.get("X-Ovh-Consumer") != CONSUMER_KEY:
                    return False
                target = f"http://{h.get('Host')}{self.path}"
                text = "+".join([APP_SECRET, CONSUMER_KEY, self.command, target, body, h.get("X-Ovh-Timestamp", "")])
                return h.get("X-Ovh-Signature") == "$1$" + hashlib.sha1(text.encode()).hexdigest()

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        return Handler

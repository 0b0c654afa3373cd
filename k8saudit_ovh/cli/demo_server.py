"""A loopback LDP-compatible WebSocket tail server for `k8saudit-ovh demo`, stdlib only.

It wraps audit events into LDP frames the way OVHcloud Logs Data Platform delivers them
(`{"message": "<GELF 1.1 JSON>"}`, the audit event in `short_message`), and serves them on
`ws://127.0.0.1:<port>/tail/?tk=<token>` to every connection: the upgrade handshake, unmasked
text frames, pong and close replies (RFC 6455). Nothing else: it is a demo, not a server.
"""
from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

__all__ = ["Cluster", "DemoServer", "ldp_frame", "demo_frames"]

HOST = "127.0.0.1"
TAIL_PATH = "/tail/"
_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


@dataclass(frozen=True)
class Cluster:
    """The MKS cluster an LDP audit stream belongs to (the GELF custom fields)."""
    id: str = "4f2d9c1e-7a3b-4e8d-b6c5-0a1b2c3d4e5f"
    name: str = "mks-gra7-demo"
    region: str = "GRA7"


def ldp_frame(audit_event: str, cluster: Cluster = Cluster(), *, log_type: str = "audit",
              delay_s: float = 0.35) -> str:
    """One LDP frame carrying `audit_event` (its JSON text, kept byte for byte). The GELF
    timestamp is the event's stageTimestamp plus the pipeline delay, when it has one."""
    gelf = {"version": "1.1", "host": "kube-apiserver", "short_message": audit_event,
            "timestamp": round(_stage_time(audit_event) + delay_s, 3), "level": 6,
            "_cluster_id": cluster.id, "_cluster_name": cluster.name, "_region": cluster.region,
            "_log_type": log_type}
    return json.dumps({"message": json.dumps(gelf, separators=(",", ":"))}, separators=(",", ":"))


def _stage_time(audit_event: str) -> float:
    try:
        return datetime.fromisoformat(json.loads(audit_event)["stageTimestamp"]).timestamp()
    except (ValueError, KeyError, TypeError):
        return time.time()


# A stream also carries logs that are not audit events; the plugin counts and skips them.
_OTHER_LOGS = (
    "I0314 09:30:05.120871       1 controller.go:615] quota admission added evaluator for: leases",
    '{"level":"info","msg":"IAM policy evaluated","service":"ovhcloud-iam","decision":"allow"}',
)


def demo_frames(events_path: Path, cluster: Cluster = Cluster()) -> list[str]:
    """LDP frames of the sample events file, with one non-audit log after the first event
    and another after the middle one."""
    events = [line for line in events_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    frames = [ldp_frame(e, cluster) for e in events]
    for position, log in zip((1, len(frames) // 2 + 1), _OTHER_LOGS):
        frames.insert(position, ldp_frame(log, cluster, log_type="kube-apiserver"))
    return frames


class DemoServer:
    """Serves `frames` to every connection, `rate` frames/s, `loop` times (None: forever),
    then keeps the connection open like a quiet stream. Use it as a context manager."""

    def __init__(self, frames: list[str], *, token: str = "demo", rate: float = 0.0, loop: int | None = 1):
        self.frames = frames
        self.token = token
        self.rate = rate
        self.loop = loop
        self.port = 0
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def url(self) -> str:
        return f"ws://{HOST}:{self.port}{TAIL_PATH}?tk={self.token}"

    def start(self) -> "DemoServer":
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, name="demo-ldp-accept", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            for conn in self._connections:
                _close_quietly(conn)

    def __enter__(self) -> "DemoServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            with self._lock:
                self._connections.add(conn)
            threading.Thread(target=self._serve, args=(conn,), name="demo-ldp-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self._handshake(conn):
                send_lock = threading.Lock()
                threading.Thread(target=self._answer_control_frames, args=(conn, send_lock),
                                 name="demo-ldp-read", daemon=True).start()
                self._send_frames(conn, send_lock)
                self._stopping.wait()
        except OSError:
            pass  # the client went away
        finally:
            with self._lock:
                self._connections.discard(conn)
            _close_quietly(conn)

    def _handshake(self, conn: socket.socket) -> bool:
        request = _read_http_request(conn)
        target = request.get(":target", "")
        parts = urlsplit(target)
        key = request.get("sec-websocket-key")
        if parts.path != TAIL_PATH:
            return _refuse(conn, "404 Not Found", "no such stream")
        if parse_qs(parts.query).get("tk") != [self.token]:
            return _refuse(conn, "401 Unauthorized", "invalid token")
        if request.get("upgrade", "").lower() != "websocket" or not key:
            return _refuse(conn, "400 Bad Request", "not a WebSocket upgrade")
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        return True

    def _send_frames(self, conn: socket.socket, send_lock: threading.Lock) -> None:
        sent = 0
        started = time.monotonic()
        rounds = 0
        while (self.loop is None or rounds < self.loop) and not self._stopping.is_set():
            for frame in self.frames:
                if self.rate:
                    delay = started + sent / self.rate - time.monotonic()
                    if delay > 0 and self._stopping.wait(delay):
                        return
                with send_lock:
                    conn.sendall(_encode_frame(_TEXT, frame.encode()))
                sent += 1
            rounds += 1

    def _answer_control_frames(self, conn: socket.socket, send_lock: threading.Lock) -> None:
        try:
            while True:
                opcode, payload = _read_client_frame(conn)
                if opcode == _PING:
                    with send_lock:
                        conn.sendall(_encode_frame(_PONG, payload))
                elif opcode == _CLOSE:
                    with send_lock:
                        conn.sendall(_encode_frame(_CLOSE, payload[:2]))
                    conn.shutdown(socket.SHUT_RDWR)
                    return
        except OSError:
            return


def _read_http_request(conn: socket.socket, limit: int = 16384) -> dict[str, str]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk or len(data) > limit:
            raise ConnectionError("incomplete HTTP request")
        data += chunk
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    method, target, _ = (lines[0].split(" ") + ["", "", ""])[:3]
    headers = {":method": method, ":target": target}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


def _refuse(conn: socket.socket, status: str, reason: str) -> bool:
    body = reason + "\n"
    conn.sendall(f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                 f"Connection: close\r\n\r\n{body}".encode())
    return False


def _encode_frame(opcode: int, payload: bytes) -> bytes:
    """A final, unmasked frame (servers never mask)."""
    n = len(payload)
    if n < 126:
        header = bytes([0x80 | opcode, n])
    elif n < 1 << 16:
        header = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
    return header + payload


def _read_client_frame(conn: socket.socket) -> tuple[int, bytes]:
    b0, b1 = _recv_exact(conn, 2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(_recv_exact(conn, 2), "big")
    elif n == 127:
        n = int.from_bytes(_recv_exact(conn, 8), "big")
    mask = _recv_exact(conn, 4) if b1 & 0x80 else bytes(4)
    payload = _recv_exact(conn, n)
    return b0 & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def _close_quietly(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()

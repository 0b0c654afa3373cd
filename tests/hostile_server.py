"""A WebSocket server on loopback that does exactly what a test script says, byte for byte:
answers the upgrade (or not, or with any status line), then sends frames cut anywhere,
masked, oversized, endless, trickled, or floods pings, so the reader's defences can be
tried as an attacker would. tests/ldp_server.py (websockets) is the well-behaved server.

    def script(peer, number):           # number: 0 for the first connection, 1, ...
        peer.upgrade()
        peer.send(ws_frame(TEXT, b"..."))
    with HostileServer(script) as server:
        url = server.url()

Scripts run in one thread per connection and must end by themselves: loops check
`peer.stopping` (set when the server stops) or are bounded.
"""
import base64
import hashlib
import socket
import struct
import threading
import time

HOST = "127.0.0.1"
TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, length: int | None = None,
             mask: bytes | None = None, rsv: int = 0) -> bytes:
    """One frame; `length` declares another length than the payload's (a lying header)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    mask_bit = 0x80 if mask is not None else 0
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 65536:
        head += bytes([mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([mask_bit | 127]) + n.to_bytes(8, "big")
    if mask is not None:
        head += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + payload


class Peer:
    """One accepted connection, as the script sees it."""

    def __init__(self, conn: socket.socket, stopping: threading.Event):
        self.conn = conn
        self.stopping = stopping
        self.request = b""

    def read_request(self) -> bytes:
        while b"\r\n\r\n" not in self.request:
            data = self.conn.recv(4096)
            if not data:
                raise ConnectionError("the client left before its request ended")
            self.request += data
        return self.request

    def upgrade(self) -> None:
        """Accept the WebSocket upgrade as a correct server does."""
        key = next(line.split(b":", 1)[1].strip() for line in self.read_request().split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        self.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")

    def answer(self, status_line: bytes, headers: bytes = b"") -> None:
        """Answer the upgrade request with any status line (no WebSocket)."""
        self.read_request()
        self.send(b"HTTP/1.1 " + status_line + b"\r\n" + headers + b"Content-Length: 0\r\n\r\n")

    @property
    def request_target(self) -> bytes:
        return self.request.split(b"\r\n", 1)[0].split(b" ")[1]

    def send(self, data: bytes) -> None:
        self.conn.sendall(data)

    def trickle(self, data: bytes, pause: float) -> None:
        """Send one byte at a time, `pause` seconds apart, until done or stopped."""
        for i in range(len(data)):
            if self.stopping.wait(pause):
                return
            self.send(data[i:i + 1])

    def sync(self, timeout: float = 60.0) -> None:
        """Ping, and wait for the answer: the reader answers once it has handled what it
        read, so every frame sent before has then reached the plugin."""
        self.send(ws_frame(PING, b"sync"))
        self.conn.settimeout(timeout)
        if not self.conn.recv(2):
            raise ConnectionError("the client left before answering the ping")

    def reset(self) -> None:
        """End the TCP connection with an RST instead of a FIN (a crashed peer)."""
        self.conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.conn.close()

    def hold(self, seconds: float = 60.0) -> None:
        """Keep the connection open (and unread) until the server stops or time passes."""
        self.stopping.wait(seconds)


class HostileServer:
    def __init__(self, script):
        self.script = script
        self.connections = 0
        self.errors: list[BaseException] = []  # what scripts raised, other than a client leaving
        self.stopping = threading.Event()
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []

    def url(self, token: str = "test-token", path: str = "/tail/") -> str:
        return f"ws://{HOST}:{self.port}{path}?tk={token}"

    def wait_connections(self, n: int, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.connections < n:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def __enter__(self) -> "HostileServer":
        self._start(self._accept)
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept(): close alone does not
        except OSError:
            pass
        self._listener.close()
        for thread in self._threads:
            thread.join(10)

    def _start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            number = self.connections
            self.connections += 1
            self._start(self._serve, conn, number)

    def _serve(self, conn: socket.socket, number: int) -> None:
        with conn:
            try:
                self.script(Peer(conn, self.stopping), number)
            except (ConnectionError, BrokenPipeError, OSError):
                pass  # the client went away: what a reader under attack should do
            except BaseException as exc:
                self.errors.append(exc)

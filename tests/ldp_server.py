"""An OVHcloud LDP-compatible WebSocket tail server for tests, on 127.0.0.1 only.

It serves a frames file in the corpus format (one frame per line; ``#binary:<base64>`` is a
binary frame; an empty line is an empty text frame) to every connection on ``/tail/?tk=…``,
and can misbehave on demand: reject the upgrade with any HTTP status, stall, close or reset
after K frames, freeze like a dead peer, pace frames, or hold the connection open afterwards.
With ``stamp``, every frame that holds an auditID leaves with its auditID replaced by the
send time (``time.time_ns()`` in decimal, CLOCK_REALTIME): latency benchmarks compare it
with the time the event reaches the consumer.

In a test::

    with LdpServer(load_frames(path), Behavior(close_after=5)) as server:
        url = server.url()

As a process (for benchmarks)::

    python tests/ldp_server.py --frames FILE --port N [--tls CERT KEY] [--rate R] [--loop N] [--stamp]

prints the tail URL on stdout once listening and serves until SIGINT/SIGTERM.
"""

import argparse
import asyncio
import base64
import re
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

HOST = "127.0.0.1"
TAIL_PATH = "/tail/"

Frame = tuple[bytes, bool]  # (payload, is_binary)

# The auditID's value at any escaping depth (a frame nests it two JSON strings deep).
_AUDIT_ID = re.compile(rb'(auditID\\*"\s*:\s*\\*")[^"\\]*')


def load_frames(path: str | Path) -> list[Frame]:
    """Read a corpus frames file, byte for byte."""
    data = Path(path).read_bytes()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline that ends the last line is not an extra frame
    return [_parse_frame_line(line) for line in lines]


def stamp_template(payload: bytes) -> tuple[bytes, bytes] | None:
    """(before, after) the auditID value of a text frame, or None when it has none."""
    m = _AUDIT_ID.search(payload)
    return (payload[:m.end(1)], payload[m.end():]) if m else None


def _parse_frame_line(line: bytes) -> Frame:
    if line.startswith(b"#binary:"):
        return base64.b64decode(line[len(b"#binary:"):], validate=True), True
    return line, False


@dataclass
class Behavior:
    """What the server does with each connection; read when a connection arrives."""

    status: int | None = None  # answer the upgrade with this HTTP status instead of 101
    token: str | None = None  # when set, any other tk= gets HTTP 401
    stall: float = 0.0  # seconds to wait after the upgrade before the first frame
    rate: float = 0.0  # frames per second; 0 = as fast as the connection takes them
    paced_until: threading.Event | None = None  # when set, the rest goes out unpaced
    loop: int = 1  # times the whole frames list is sent
    close_after: int | None = None  # send a close frame (1001) after K frames
    reset_after: int | None = None  # reset the TCP connection (RST) after K frames
    freeze_after: int | None = None  # after K frames stop reading and sending: a dead peer
    hold: bool = True  # keep the connection open after the frames (a quiet stream)
    stamp: bool = False  # replace each frame's auditID with time.time_ns() at send time
    # A live feed: the frames are sent once in all, each connection going on where the
    # previous one stopped, `resume_skip` frames further (those sent while no one listened).
    resume_skip: int | None = None


class LdpServer:
    """The server in a background thread with its own event loop; restartable on its port."""

    def __init__(self, frames: list[Frame], behavior: Behavior | None = None, *,
                 tls: tuple[str, str] | None = None, port: int = 0):
        self.frames = frames
        self.behavior = behavior or Behavior()
        self.tls = tls
        self.port = port
        self.upgrade_requests = 0  # every upgrade request, rejected ones included
        self.connections = 0  # upgrades accepted
        self.frames_sent = 0
        self.feed_position = 0  # next frame of a live feed (Behavior.resume_skip)
        self.request_times: list[float] = []  # time.monotonic() of each upgrade request
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._abort_on_stop = False

    @property
    def scheme(self) -> str:
        return "wss" if self.tls else "ws"

    def url(self, token: str = "test-token", path: str = TAIL_PATH) -> str:
        return f"{self.scheme}://{HOST}:{self.port}{path}?tk={token}"

    def start(self) -> "LdpServer":
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(ready, failure), name="ldp-test-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self, abort: bool = False) -> None:
        """Stop listening and end every connection: close frames, or TCP resets with `abort`
        (a killed server). The port can be reused by `start()` right away."""
        if self._thread is None:
            return
        self._abort_on_stop = abort
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> "LdpServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self, ready: threading.Event, failure: list) -> None:
        try:
            asyncio.run(self._main(ready))
        except BaseException as exc:  # reported to start() when it happens before ready
            failure.append(exc)
            ready.set()

    async def _main(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        async with serve(self._handle, HOST, self.port, ssl=self._ssl_context(),
                         process_request=self._check_request, ping_interval=None,
                         max_size=None, compression=None, close_timeout=1) as server:
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            await self._stopping.wait()
            if self._abort_on_stop:
                for connection in server.connections:
                    _reset(connection)
            server.close(close_connections=not self._abort_on_stop)
            await server.wait_closed()

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self.tls)
        return context

    def _check_request(self, connection, request):
        self.upgrade_requests += 1
        self.request_times.append(time.monotonic())
        behavior = self.behavior
        path, _, query = request.path.partition("?")
        if behavior.status is not None:
            return connection.respond(behavior.status, f"status {behavior.status} on demand\n")
        if path != TAIL_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, "no such stream\n")
        token = _query_value(query, "tk")
        if token is None or (behavior.token is not None and token != behavior.token):
            return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid token\n")
        return None

    async def _handle(self, connection) -> None:
        self.connections += 1
        behavior = self.behavior
        try:
            if behavior.stall:
                await asyncio.sleep(behavior.stall)
            if await self._send_frames(connection, behavior) and behavior.hold:
                await connection.wait_closed()
        except ConnectionClosed:
            pass  # the client left

    async def _send_frames(self, connection, behavior: Behavior) -> bool:
        """Send the frames; False when a close, reset or freeze ended the stream early."""
        sent = 0
        started = time.monotonic()
        templates = [None if binary else stamp_template(payload) for payload, binary in self.frames] \
            if behavior.stamp else [None] * len(self.frames)
        live = behavior.resume_skip is not None
        if live and self.connections > 1:
            self.feed_position += behavior.resume_skip
        for _ in range(1 if live else behavior.loop):
            for index, ((payload, binary), template) in enumerate(zip(self.frames, templates)):
                if live and index < self.feed_position:
                    continue
                if await _ends_stream(connection, behavior, sent):
                    return False
                if behavior.rate and not (behavior.paced_until and behavior.paced_until.is_set()):
                    delay = started + sent / behavior.rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                if template is not None:
                    payload = b"%s%d%s" % (template[0], time.time_ns(), template[1])
                await connection.send(payload, text=not binary)
                sent += 1
                self.frames_sent += 1
                self.feed_position = index + 1
        return not await _ends_stream(connection, behavior, sent)


async def _ends_stream(connection, behavior: Behavior, sent: int) -> bool:
    if sent == behavior.close_after:
        await connection.close(1001, "closing on demand")
        return True
    if sent == behavior.reset_after:
        _reset(connection)
        return True
    if sent == behavior.freeze_after:
        connection.transport.pause_reading()  # pings pile up unanswered
        await connection.wait_closed()  # until the server stops
    return False


def _reset(connection) -> None:
    """End the TCP connection with an RST instead of a FIN."""
    sock = connection.transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.transport.abort()


def _query_value(query: str, key: str) -> str | None:
    for pair in query.split("&"):
        name, sep, value = pair.partition("=")
        if sep and name == key:
            return value
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", required=True, help="frames file (corpus format)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 = any free")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve wss://")
    parser.add_argument("--rate", type=float, default=0.0, help="frames/s; 0 = unpaced")
    parser.add_argument("--loop", type=int, default=1, help="send the frames N times")
    parser.add_argument("--token", help="accept only this tk= value")
    parser.add_argument("--status", type=int, help="answer every upgrade with this HTTP status")
    parser.add_argument("--close-after", type=int, help="close each connection after K frames")
    parser.add_argument("--stamp", action="store_true",
                        help="replace each frame's auditID with its send time (time.time_ns())")
    args = parser.parse_args(argv)

    behavior = Behavior(status=args.status, token=args.token, rate=args.rate, loop=args.loop,
                        close_after=args.close_after, stamp=args.stamp)
    # Block the stop signals before the server thread starts so that only sigwait sees them.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    server = LdpServer(load_frames(args.frames), behavior,
                       tls=tuple(args.tls) if args.tls else None, port=args.port).start()
    print(server.url(args.token or "test-token"), flush=True)
    signal.sigwait(stop_signals)
    server.stop()
    print(f"sent {server.frames_sent} frames over {server.connections} connections",
          file=sys.stderr)


if __name__ == "__main__":
    main()

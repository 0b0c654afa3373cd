"""The frames a WebSocket server sends, read with bounded memory and bounded blocking.

websocket-client does the connection (proxy, TLS, HTTP upgrade) and sends our pings and
pongs; it cannot cap the size of a message (it buffers whatever a frame header declares, and
every continuation frame of a message that never ends) and its frame reader does not return
until a frame is complete, so a peer that trickles one byte at a time would keep the reader
from ever noticing that its pings go unanswered. This reader takes over after the upgrade:

- it reads what the socket has (one recv per call) and returns after each read, a frame
  complete or not, so the caller keeps its timers;
- a data message (all its fragments) larger than `max_message` is dropped as soon as its
  declared or accumulated size tells so: what remains of it is read and discarded, never
  kept;
- what RFC 6455 (section 5) forbids a server to send ends the connection with a
  ProtocolError: masked frames, reserved bits, unknown opcodes, fragmented or oversized
  control frames, a continuation without a message or a message inside another.
"""

from collections.abc import Callable

__all__ = ["FrameReader", "ProtocolError", "TEXT", "BINARY", "CLOSE", "PING", "PONG", "DROPPED"]

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DROPPED = -1  # what read() returns for a message over max_message: (DROPPED, size so far)

_CONTROL = (CLOSE, PING, PONG)
_KNOWN = (CONTINUATION, TEXT, BINARY) + _CONTROL
_MAX_CONTROL_PAYLOAD = 125
# Bytes asked of the socket at once: a busy stream costs one recv() per many frames.
READ_CHUNK = 256 * 1024


class ProtocolError(Exception):
    """The server broke RFC 6455; the connection cannot go on."""


class FrameReader:
    """Frames of one connection. `recv(n)` returns up to n bytes (at least one) or raises
    (timeout, closed connection); it is called at most once per `read()`."""

    def __init__(self, recv: Callable[[int], bytes], max_message: int):
        self._recv = recv
        self._max_message = max_message
        self._buf = b""
        self._pos = 0
        # The frame whose payload is being read: opcode, fin, bytes still to come, parts.
        self._opcode = None
        self._fin = False
        self._remaining = 0
        self._parts: list[bytes] = []
        self._discarding = False  # the payload in progress belongs to a dropped message
        # The data message in progress (its first frame had no FIN).
        self._message_opcode = None
        self._message_parts: list[bytes] = []
        self._message_size = 0
        self._message_dropped = False

    def read(self):
        """The next complete item, or None when what the socket had did not complete one.

        Items: (TEXT or BINARY, payload) for a whole message, (PING | PONG | CLOSE, payload)
        for a control frame, (DROPPED, bytes declared so far) once for a message over the
        limit."""
        buf, pos = self._buf, self._pos
        # Fast path of a busy stream: a whole, final, unmasked text or binary frame below
        # 64 KiB, between messages, already in the buffer.
        if self._opcode is None and self._message_opcode is None and pos + 4 <= len(buf):
            b0, b1 = buf[pos], buf[pos + 1]
            if (b0 == 0x81 or b0 == 0x82) and b1 < 0x7F:
                start = pos + 2
                if b1 == 0x7E:
                    length = (buf[start] << 8) | buf[start + 1]
                    start += 2
                else:
                    length = b1
                end = start + length
                if end <= len(buf) and length <= self._max_message:
                    self._pos = end
                    return b0 & 0x0F, buf[start:end]
        item = self._parse()
        if item is None:
            self._fill()
            item = self._parse()
        return item

    @property
    def buffered(self) -> bool:
        """Whether bytes already read wait to be parsed (the next read() may need no recv)."""
        return self._pos < len(self._buf)

    def _fill(self) -> None:
        data = self._recv(READ_CHUNK)
        if self._pos < len(self._buf):  # only ever part of a frame header
            data = self._buf[self._pos:] + data
        self._buf, self._pos = data, 0

    def _parse(self):
        while True:
            if self._opcode is None:
                if not self._parse_header():
                    return None
                if self._discarding and not self._message_dropped:
                    # Reported at the header that crosses the limit, before any of its payload.
                    self._message_dropped = True
                    self._message_parts = []
                    return DROPPED, self._message_size
            if not self._take_payload():
                return None
            item = self._end_frame()
            if item is not None:
                return item

    def _parse_header(self) -> bool:
        buf, pos = self._buf, self._pos
        available = len(buf) - pos
        if available < 2:
            return False
        b0, b1 = buf[pos], buf[pos + 1]
        length = b1 & 0x7F
        size = 2 + (2 if length == 126 else 8 if length == 127 else 0)
        if available < size:
            return False
        if b1 & 0x80:
            raise ProtocolError("the server sent a masked frame")
        if b0 & 0x70:
            raise ProtocolError("the server set reserved bits (no extension was negotiated)")
        if length == 126:
            length = int.from_bytes(buf[pos + 2:pos + 4], "big")
        elif length == 127:
            length = int.from_bytes(buf[pos + 2:pos + 10], "big")
            if length >> 63:
                raise ProtocolError("frame length with its most significant bit set")
        opcode, fin = b0 & 0x0F, bool(b0 & 0x80)
        self._check_sequence(opcode, fin, length)
        self._pos = pos + size
        self._opcode, self._fin, self._remaining = opcode, fin, length
        if opcode in _CONTROL:
            self._discarding = False  # control frames between fragments are always read
        else:
            self._start_data_frame(opcode, length)
        return True

    def _check_sequence(self, opcode: int, fin: bool, length: int) -> None:
        if opcode not in _KNOWN:
            raise ProtocolError(f"unknown opcode {opcode:#x}")
        if opcode in _CONTROL:
            if not fin or length > _MAX_CONTROL_PAYLOAD:
                raise ProtocolError("fragmented or oversized control frame")
        elif opcode == CONTINUATION:
            if self._message_opcode is None:
                raise ProtocolError("continuation frame without a message to continue")
        elif self._message_opcode is not None:
            raise ProtocolError("new message inside a fragmented message")

    def _start_data_frame(self, opcode: int, length: int) -> None:
        if opcode != CONTINUATION:
            self._message_opcode = opcode
            self._message_size = 0
            self._message_dropped = False
        self._message_size += length
        self._discarding = self._message_dropped or self._message_size > self._max_message

    def _take_payload(self) -> bool:
        """Moves what the buffer holds of the current payload; True once it is complete."""
        available = len(self._buf) - self._pos
        if self._remaining and available:
            take = min(self._remaining, available)
            if not self._discarding:
                self._parts.append(self._buf[self._pos:self._pos + take])
            self._pos += take
            self._remaining -= take
        return self._remaining == 0

    def _end_frame(self):
        opcode, fin = self._opcode, self._fin
        parts, self._parts = self._parts, []
        self._opcode = None
        payload = parts[0] if len(parts) == 1 else b"".join(parts)
        if opcode in _CONTROL:
            return opcode, payload
        message_opcode = self._message_opcode
        if fin:
            self._message_opcode = None
        if self._discarding:
            return None
        if fin and not self._message_parts:
            return message_opcode, payload
        self._message_parts.append(payload)
        if not fin:
            return None
        whole = b"".join(self._message_parts)
        self._message_parts = []
        return message_opcode, whole

"""The bounded WebSocket frame reader (k8saudit_ovh/sources/ws_frames.py) on scripted byte streams."""
import random

import pytest

from hostile_server import BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT, ws_frame
from k8saudit_ovh.sources.ws_frames import DROPPED, FrameReader, ProtocolError

LIMIT = 1000


class Feed:
    """recv() over fixed chunks; the same exception a socket timeout raises when empty."""

    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.calls = 0

    def __call__(self, size):
        self.calls += 1
        if not self.chunks:
            raise TimeoutError
        chunk = self.chunks.pop(0)
        assert len(chunk) <= size
        return chunk


def read_all(chunks, limit=LIMIT):
    """Every item, reading until the feed is exhausted; None results are skipped."""
    feed = Feed(chunks)
    reader = FrameReader(feed, limit)
    items = []
    while True:
        try:
            item = reader.read()
        except TimeoutError:
            return items, reader
        if item is not None:
            items.append(item)


STREAM = (ws_frame(TEXT, b"a" * 10) + ws_frame(BINARY, b"\x00\x01") + ws_frame(TEXT, b"")
          + ws_frame(TEXT, b"m" * 300) + ws_frame(TEXT, b"frag-1 ", fin=False) + ws_frame(PING, b"p")
          + ws_frame(CONTINUATION, b"frag-2 ", fin=False) + ws_frame(CONTINUATION, b"end")
          + ws_frame(PONG, b"") + ws_frame(TEXT, b"L" * 999) + ws_frame(CLOSE, b"\x03\xe8bye"))
WANT = [(TEXT, b"a" * 10), (BINARY, b"\x00\x01"), (TEXT, b""), (TEXT, b"m" * 300), (PING, b"p"),
        (TEXT, b"frag-1 frag-2 end"), (PONG, b""), (TEXT, b"L" * 999), (CLOSE, b"\x03\xe8bye")]


def test_one_chunk():
    assert read_all([STREAM])[0] == WANT


@pytest.mark.parametrize("seed", range(200))
def test_cut_anywhere(seed):
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(STREAM)), rng.randint(1, 40)))
    chunks = [STREAM[a:b] for a, b in zip([0] + cuts, cuts + [len(STREAM)])]
    assert read_all(chunks)[0] == WANT


def test_one_recv_per_read_so_the_caller_keeps_its_timers():
    frame = ws_frame(TEXT, b"x" * 50)
    feed = Feed([frame[i:i + 1] for i in range(len(frame))])
    reader = FrameReader(feed, LIMIT)
    results = [reader.read() for _ in range(len(frame))]
    assert results[:-1] == [None] * (len(frame) - 1)
    assert results[-1] == (TEXT, b"x" * 50)
    assert feed.calls == len(frame)


def test_a_declared_length_over_the_limit_is_reported_at_its_header_and_skipped():
    big = ws_frame(TEXT, b"z" * 5000)
    chunks = [big[:12], big[12:3000], big[3000:] + ws_frame(TEXT, b"after")]
    feed = Feed(chunks)
    reader = FrameReader(feed, LIMIT)
    assert reader.read() == (DROPPED, 5000)  # from the header alone
    assert feed.calls == 1
    assert reader.read() is None  # the second chunk: discarded
    assert reader.read() == (TEXT, b"after")
    assert reader._parts == [] and reader._message_parts == []


def test_fragments_over_the_limit_are_dropped_once_and_the_next_message_arrives():
    stream = (ws_frame(TEXT, b"a" * 600, fin=False) + ws_frame(CONTINUATION, b"b" * 600, fin=False)
              + ws_frame(PING, b"still here") + ws_frame(CONTINUATION, b"c" * 600, fin=False)
              + ws_frame(CONTINUATION, b"d", fin=True) + ws_frame(TEXT, b"next"))
    items, reader = read_all([stream])
    assert items == [(DROPPED, 1200), (PING, b"still here"), (TEXT, b"next")]
    assert reader._message_parts == []


def test_a_message_of_exactly_the_limit_is_kept():
    assert read_all([ws_frame(TEXT, b"q" * LIMIT)])[0] == [(TEXT, b"q" * LIMIT)]
    parts = ws_frame(TEXT, b"q" * 500, fin=False) + ws_frame(CONTINUATION, b"r" * 500)
    assert read_all([parts])[0] == [(TEXT, b"q" * 500 + b"r" * 500)]


@pytest.mark.parametrize("bad, words", [
    (ws_frame(TEXT, b"x", mask=b"abcd"), "masked"),
    (ws_frame(TEXT, b"x", rsv=1), "reserved bits"),
    (ws_frame(0xB, b""), "unknown opcode"),
    (ws_frame(PING, b"x" * 126), "control frame"),
    (ws_frame(CLOSE, b"", fin=False), "control frame"),
    (ws_frame(CONTINUATION, b"x"), "continuation frame without a message"),
    (ws_frame(TEXT, b"x", fin=False) + ws_frame(BINARY, b"y"), "new message inside"),
    (bytes([0x81, 0x7F]) + (1 << 63).to_bytes(8, "big"), "most significant bit"),
])
def test_what_a_server_must_not_send(bad, words):
    with pytest.raises(ProtocolError, match=words):
        read_all([ws_frame(TEXT, b"ok") + bad])


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes_end_in_items_or_a_protocol_error_and_never_hold_more_than_the_limit(seed):
    """Random streams built from frame pieces with random headers: the reader returns items,
    needs more bytes, or raises ProtocolError; what it holds stays under the limit."""
    rng = random.Random(seed)
    for _ in range(100):
        pieces = []
        for _ in range(rng.randint(1, 12)):
            opcode = rng.choice([TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG, 0x3, 0xF])
            payload = rng.randbytes(rng.choice([0, 1, 125, 126, 700, 1500]))
            length = rng.choice([None, None, None, 0, 65535, 1 << 40])
            pieces.append(ws_frame(opcode, payload, fin=rng.random() < 0.7, length=length,
                                   mask=rng.randbytes(4) if rng.random() < 0.05 else None,
                                   rsv=rng.choice([0] * 20 + [1, 4])))
        stream = b"".join(pieces)
        cuts = sorted(set(rng.sample(range(1, max(2, len(stream))), min(len(stream) - 1, 5)))) if len(stream) > 1 else []
        chunks = [stream[a:b] for a, b in zip([0] + cuts, cuts + [len(stream)])]
        feed = Feed(chunks)
        reader = FrameReader(feed, LIMIT)
        try:
            while True:
                item = reader.read()
                held = sum(map(len, reader._parts)) + sum(map(len, reader._message_parts))
                assert held <= LIMIT
                if item is not None:
                    kind, data = item
                    assert kind in (TEXT, BINARY, CLOSE, PING, PONG, DROPPED)
                    assert kind == DROPPED or len(data) <= LIMIT
        except (TimeoutError, ProtocolError):
            pass

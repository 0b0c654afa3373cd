"""atheris target: the bounded WebSocket frame reader (k8saudit_ovh/sources/ws_frames.py).

The first byte of an input picks how the rest is cut into reads (a server's bytes arrive in
any pieces); the reader must return whole items or nothing, end only in ProtocolError, and
never hold more than its message limit."""
import sys

if __name__ == "__main__":
    import atheris

    with atheris.instrument_imports(include=["k8saudit_ovh"]):
        from k8saudit_ovh.sources import ws_frames
else:  # tests/test_fuzz_regressions.py replays inputs through test_one_input, without atheris
    from k8saudit_ovh.sources import ws_frames

LIMIT = 1000
ITEM_KINDS = (ws_frames.TEXT, ws_frames.BINARY, ws_frames.CLOSE, ws_frames.PING, ws_frames.PONG, ws_frames.DROPPED)


class _Exhausted(Exception):
    pass


def test_one_input(data: bytes) -> None:
    if not data:
        return
    step, stream = data[0] + 1, data[1:]
    chunks = [stream[i:i + step] for i in range(0, len(stream), step)]

    def recv(size):
        if not chunks:
            raise _Exhausted
        return chunks.pop(0)

    reader = ws_frames.FrameReader(recv, LIMIT)
    try:
        while True:
            item = reader.read()
            held = sum(map(len, reader._parts)) + sum(map(len, reader._message_parts))
            if held > LIMIT:
                raise AssertionError(f"{held} bytes held over a limit of {LIMIT}")
            if item is not None:
                kind, payload = item
                if kind not in ITEM_KINDS:
                    raise AssertionError(f"unknown item kind {kind}")
                if kind != ws_frames.DROPPED and len(payload) > LIMIT:
                    raise AssertionError(f"a message of {len(payload)} bytes over the limit")
    except (_Exhausted, ws_frames.ProtocolError):
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()

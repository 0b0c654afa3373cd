"""Restart continuity: per stream, the last event Falco has received, kept in stateDir.

An event counts as received once Falco asked for the next batch (Falco may stop in the
middle of a batch), so after a restart at most that last batch comes again. A checkpoint
names the stream it belongs to by a fingerprint of its URL without the token.

Checkpoints are files we own, read at plugin_open inside Falco: nothing found at a
checkpoint's name may fail or block `open`. Only a small regular file is read (never a
link, FIFO or device), its parse is flat and bounded, and every value is range-checked;
anything else is reported once (path and reason) and ignored, and the stream starts live.
A checkpoint is written to a temp file of a unique name, created exclusively without
following links, synced, then renamed over the old one: never half-written, and never
through a link someone planted in stateDir. The stateDir itself may be a link (as
Kubernetes volumes are).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..redaction import logger, redact

__all__ = ["FUTURE_SKEW_S", "MAX_BYTES", "BadCheckpoint", "Checkpoint", "CheckpointStore", "Checkpointer",
           "encode", "fingerprint", "parse"]

log = logger("k8saudit_ovh.checkpoint")

_VERSION = 1
# A checkpoint is about 150 bytes; anything much larger is not one, and is not read.
MAX_BYTES = 4096
# How far ahead of this machine's clock a checkpoint's time may be. It is an event time
# (the cluster's clock, not ours), so a little skew is normal; beyond it, a fill from
# there would find nothing and the restart's gap would pass for filled.
FUTURE_SKEW_S = 300
_UINT64 = 1 << 64
# Failures of one stream's checkpoint are logged once per streak, and at most this often.
_LOG_EVERY_S = 60.0


@dataclass(frozen=True)
class Checkpoint:
    time_ns: int  # event time (stageTimestamp) of the last event received
    identity: int  # its identity: hash of auditID + stage (see audit_reader.hpp)


class BadCheckpoint(ValueError):
    """What was found at a checkpoint's name is not a checkpoint of this stream; the
    message says why, for the log line."""


def fingerprint(display_url: str) -> str:
    """Names a stream by its token-free URL."""
    return hashlib.sha256(display_url.encode()).hexdigest()[:32]


def encode(stream: str, checkpoint: Checkpoint) -> bytes:
    return json.dumps({"version": _VERSION, "stream": stream, "timeNs": checkpoint.time_ns,
                       "identity": checkpoint.identity}).encode()


def parse(data: bytes, stream: str, now_ns: int) -> Checkpoint:
    """The checkpoint of `stream` in a file's bytes; raises BadCheckpoint (only) otherwise."""
    if len(data) > MAX_BYTES:
        raise BadCheckpoint(f"larger than {MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadCheckpoint("cannot be read (not UTF-8)") from None
    if _nests(text):  # before json.loads, whose recursion a deep document would exhaust
        raise BadCheckpoint("cannot be read (nested: a checkpoint is one flat object)")
    try:
        doc = json.loads(text)
    except ValueError:
        raise BadCheckpoint("cannot be read (not JSON)") from None
    if not isinstance(doc, dict) or not _is_int(doc.get("version")) or doc["version"] != _VERSION:
        raise BadCheckpoint(f"not a k8saudit-ovh checkpoint of version {_VERSION}")
    if doc.get("stream") != stream:
        raise BadCheckpoint("it belongs to another stream")
    time_ns, identity = doc.get("timeNs"), doc.get("identity")
    if not (_is_int(time_ns) and 0 < time_ns < _UINT64):
        raise BadCheckpoint("timeNs is not a time in nanoseconds (an integer in 1..2^64-1)")
    if not (_is_int(identity) and 0 <= identity < _UINT64):
        raise BadCheckpoint("identity is not an integer in 0..2^64-1")
    ahead_s = (time_ns - now_ns) / 1e9
    if ahead_s > FUTURE_SKEW_S:
        raise BadCheckpoint(f"its time is {ahead_s:.0f} s ahead of this machine's clock "
                            f"(at most {FUTURE_SKEW_S} s is taken for clock skew)")
    return Checkpoint(time_ns, identity)


def _is_int(value) -> bool:
    return type(value) is int  # not bool, not float


def _nests(text: str) -> bool:
    """Whether a bracket opens inside another, outside strings (one linear pass)."""
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > 1:
                return True
        elif ch in "]}":
            depth -= 1
    return False


_KINDS = ((stat.S_ISLNK, "a symbolic link (not followed)"), (stat.S_ISDIR, "a directory"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _check_small_regular(st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        raise BadCheckpoint(f"{kind}, not a regular file")
    if st.st_size > MAX_BYTES:
        raise BadCheckpoint(f"larger than {MAX_BYTES} bytes")


def _read_small_regular_file(path: Path) -> bytes | None:
    """The bytes of the regular file at `path` (at most MAX_BYTES + 1), None if there is
    none. Nothing else is opened: not a link's target, not a FIFO or device (a FIFO
    would block, /dev/zero never ends)."""
    try:
        _check_small_regular(os.lstat(path))
    except FileNotFoundError:
        return None
    # The name may have changed since lstat: the open follows no link and waits for no
    # writer, and what it opened is checked again.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        _check_small_regular(os.fstat(fd))
        chunks, left = [], MAX_BYTES + 1
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return redact(repr(exc))[:200]


class CheckpointStore:
    def __init__(self, state_dir: str):
        self.dir = Path(state_dir)

    def path(self, label: str) -> Path:
        # One name in stateDir: the label's characters outside [A-Za-z0-9_.-] (a "/" among
        # them) are replaced, and the prefix keeps it from being "." or "..".
        return self.dir / f"stream-{re.sub(r'[^A-Za-z0-9_.-]', '_', label)}.checkpoint.json"

    def load(self, label: str, stream: str) -> Checkpoint | None:
        """The stream's checkpoint; None when there is none or it is not usable (then
        reported). Raises nothing: plugin_open never fails because of a checkpoint."""
        path = self.path(label)
        try:
            self._remove_leftovers(path.name)
            data = _read_small_regular_file(path)
            return None if data is None else parse(data, stream, time.time_ns())
        except BadCheckpoint as exc:
            reason = str(exc)
        except Exception as exc:
            reason = f"cannot be read ({_describe(exc)})"
        log.warning("checkpoint %s ignored: %s", path, reason)
        return None

    def save(self, label: str, stream: str, checkpoint: Checkpoint) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        name = self.path(label).name
        temp = f"{name}.{os.getpid()}-{secrets.token_hex(8)}.tmp"
        # Every name below is relative to stateDir as opened now.
        dir_fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=dir_fd)
            try:
                try:
                    data = memoryview(encode(stream, checkpoint))
                    while data:
                        data = data[os.write(fd, data):]
                    os.fsync(fd)
                finally:
                    os.close(fd)
                # Replaces whatever has the name, a link included (not its target).
                os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=dir_fd)
                raise
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)

    def _remove_leftovers(self, name: str) -> None:
        """Temp files of this checkpoint that a crash left behind: ours by their name,
        and only regular files (unlinking a link would not touch its target anyway)."""
        pattern = re.compile(re.escape(name) + r"\.\d+-[0-9a-f]{16}\.tmp")
        try:
            entries = list(os.scandir(self.dir))
        except FileNotFoundError:
            return  # no stateDir yet: the first write makes it
        for entry in entries:
            if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


class Checkpointer:
    """Writes the checkpoint of each stream when it changed, every `interval_s`, and once
    more when stopped. `streams`: (label, fingerprint, read, on_error) where read() ->
    Checkpoint | None, and on_error() (or None) counts a failed write of that stream's
    checkpoint (the plugin: its stream's thread_errors). A failure of any kind is logged
    once per streak and the next tick tries again."""

    def __init__(self, store: CheckpointStore, streams: list, interval_s: float = 2.0):
        self.store = store
        self.streams = streams
        self.interval_s = interval_s
        self._written: dict[str, Checkpoint] = {}
        self._failing: set[str] = set()
        self._logged_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="checkpointer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> bool:
        """The thread writes a last time (what Falco received up to close) and ends;
        False when it has not ended within `timeout`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
            self._thread = None
        return True

    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(self.interval_s)
            self.write()
            if stopping:
                return

    def write(self) -> None:
        for label, stream, read, on_error in self.streams:
            try:
                checkpoint = read()
                if checkpoint is not None and self._written.get(label) != checkpoint:
                    self.store.save(label, stream, checkpoint)
                    self._written[label] = checkpoint
                    if label in self._failing:
                        self._failing.discard(label)
                        log.info("checkpoint of stream %s written again to %s", label, self.store.dir)
            except Exception as exc:  # whatever it is, the stream goes on and the next tick retries
                self._report(label, exc, on_error)

    def _report(self, label: str, exc: Exception, on_error) -> None:
        if on_error is not None:
            on_error()
        now, last = time.monotonic(), self._logged_at.get(label)
        if label not in self._failing and (last is None or now - last >= _LOG_EVERY_S):
            self._logged_at[label] = now
            log.warning("checkpoint of stream %s not written to %s: %s (retried every %g s)", label,
                        self.store.dir, _describe(exc), self.interval_s)
        self._failing.add(label)

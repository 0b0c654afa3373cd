"""Restart continuity: per stream, the last event Falco has received, kept in stateDir.

An event counts as received once Falco asked for the next batch (Falco may stop in the
middle of a batch), so after a restart at most that last batch comes again. A file is
written whole and renamed over the old one (never half-written), at most every
`interval_s` and at close. It names the stream it belongs to by a fingerprint of its URL
without the token: a checkpoint of another stream (a foreign one), or one that cannot be
read (corrupt), is reported and ignored, never fatal.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from ..redaction import logger

__all__ = ["Checkpoint", "CheckpointStore", "Checkpointer", "fingerprint"]

log = logger("k8saudit_ovh.checkpoint")

_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    time_ns: int  # event time (stageTimestamp) of the last event received
    identity: int  # its identity: hash of auditID + stage (see audit_reader.hpp)


def fingerprint(display_url: str) -> str:
    """Names a stream by its token-free URL."""
    return hashlib.sha256(display_url.encode()).hexdigest()[:32]


class CheckpointStore:
    def __init__(self, state_dir: str):
        self.dir = Path(state_dir)

    def path(self, label: str) -> Path:
        return self.dir / f"stream-{re.sub(r'[^A-Za-z0-9_.-]', '_', label)}.checkpoint.json"

    def load(self, label: str, stream: str) -> Checkpoint | None:
        path = self.path(label)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("checkpoint %s ignored: cannot be read (%s)", path, type(exc).__name__)
            return None
        ok = (isinstance(data, dict) and data.get("version") == _VERSION
              and all(isinstance(data.get(k), int) and not isinstance(data.get(k), bool) and data[k] >= 0
                      for k in ("timeNs", "identity")))
        if not ok:
            log.warning("checkpoint %s ignored: not a k8saudit-ovh checkpoint of version %d", path, _VERSION)
            return None
        if data.get("stream") != stream:
            log.warning("checkpoint %s ignored: it belongs to another stream", path)
            return None
        return Checkpoint(data["timeNs"], data["identity"])

    def save(self, label: str, stream: str, checkpoint: Checkpoint) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.path(label)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump({"version": _VERSION, "stream": stream, "timeNs": checkpoint.time_ns,
                       "identity": checkpoint.identity}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


class Checkpointer:
    """Writes the checkpoint of each stream when it changed, every `interval_s`, and once
    more at stop(). `streams`: (label, fingerprint, read) where read() -> Checkpoint | None."""

    def __init__(self, store: CheckpointStore, streams: list, interval_s: float = 2.0):
        self.store = store
        self.streams = streams
        self.interval_s = interval_s
        self._written: dict[str, Checkpoint] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="checkpointer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> bool:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
            self._thread = None
            self.write()  # the last word: what Falco received up to close
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.write()

    def write(self) -> None:
        for label, stream, read in self.streams:
            checkpoint = read()
            if checkpoint is None or self._written.get(label) == checkpoint:
                continue
            try:
                self.store.save(label, stream, checkpoint)
                self._written[label] = checkpoint
                self._failed = False
            except OSError as exc:
                if not self._failed:  # once until a write works again
                    log.warning("checkpoint of stream %s not written to %s: %s", label, self.store.dir, exc.strerror)
                self._failed = True

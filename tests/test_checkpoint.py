"""Checkpoints are files we own: whatever is found at a checkpoint's name (a FIFO, a device,
a link, a directory, a huge or deep file, absurd values) is reported and ignored without
failing or blocking open; writes never follow a planted link; the checkpointer thread
survives any failure, counts it and writes again once the cause is gone. Unit tests on
the store and the thread, then the plugin through the C test host, as Falco loads it."""
import json
import logging
import os
import stat
import subprocess
import threading
import time

import pytest

from c_host import host_command, host_env, parse_output, run_host
from k8saudit_ovh.sources import checkpoint as ck
from k8saudit_ovh.sources.checkpoint import Checkpoint, Checkpointer, CheckpointStore
from ldp_server import Behavior
from test_gap_fill import _ms, feed, history, history_config, keys  # noqa: F401 (history: a fixture)
from test_streams import FAST, TOKEN, frame

STREAM = "0123456789abcdef0123456789abcdef"
NOW_NS = time.time_ns()
GOOD = Checkpoint(NOW_NS - 10**9, 42)
DEEP = b'{"version": 1, "x": ' + b"[" * 4000  # within the size cap: json.loads alone would recurse


def wait_for(condition, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def body(**values) -> bytes:
    return json.dumps({"version": 1, "stream": STREAM, "timeNs": GOOD.time_ns, "identity": GOOD.identity,
                       **values}).encode()


# ---- parse: bytes in, a Checkpoint or BadCheckpoint out -------------------------------

def test_a_written_checkpoint_parses_back():
    assert ck.parse(ck.encode(STREAM, GOOD), STREAM, NOW_NS) == GOOD


@pytest.mark.parametrize("data, words", [
    (b"[" * 100_000, "larger than 4096 bytes"),
    (DEEP, "nested"),
    (b'{"version": 1, "a": {"b": 1}}', "nested"),
    (b"\xff\xfe", "not UTF-8"),
    (b"{not json", "not JSON"),
    (body(version=True), "not a k8saudit-ovh checkpoint"),
    (b'["version", 1]', "not a k8saudit-ovh checkpoint"),
    (body(stream="other"), "another stream"),
    (body(stream=None), "another stream"),
    (body(timeNs=2**64), "timeNs"),
    (body(timeNs=-1), "timeNs"),
    (body(timeNs=0), "timeNs"),
    (body(timeNs=1.5e18), "timeNs"),
    (body(identity=2**64), "identity"),
    (body(identity=-1), "identity"),
    (body(identity=False), "identity"),
    (body().replace(str(GOOD.time_ns).encode(), b"1" + b"0" * 400), "timeNs"),  # 10**400
    (body().replace(f'"identity": {GOOD.identity}'.encode(), b'"identity": 1e400'), "identity"),  # a float: inf
    (body(timeNs=NOW_NS + (ck.FUTURE_SKEW_S + 60) * 10**9), "ahead of this machine's clock"),
])
def test_anything_but_a_checkpoint_of_this_stream_is_refused_with_a_reason(data, words):
    with pytest.raises(ck.BadCheckpoint) as refused:
        ck.parse(data, STREAM, NOW_NS)
    assert words in str(refused.value)


def test_a_time_within_the_clock_skew_is_taken():
    ahead = Checkpoint(NOW_NS + (ck.FUTURE_SKEW_S - 60) * 10**9, 2**64 - 1)
    assert ck.parse(ck.encode(STREAM, ahead), STREAM, NOW_NS) == ahead


def test_brackets_inside_strings_are_not_nesting():
    data = json.dumps({"version": 1, "stream": STREAM, "timeNs": 5, "identity": 6, "note": '[{\\"['}).encode()
    assert ck.parse(data, STREAM, NOW_NS) == Checkpoint(5, 6)


# ---- the store: what is found at the name ----------------------------------------------

def load_in_time(store: CheckpointStore, stream: str = STREAM):
    """store.load in a thread: a load that blocks fails the test instead of hanging it."""
    result = []
    thread = threading.Thread(target=lambda: result.append(store.load("1", stream)), daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "load() blocked"
    return result[0]


def plant(kind: str, path, victim=None):
    """Puts a `kind` thing at `path` (the checkpoint's name)."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "char device":  # /dev/zero's numbers: a read never ends
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))
    elif kind == "link to /dev/zero":
        os.symlink("/dev/zero", path)
    elif kind == "link to a good checkpoint":
        victim.write_bytes(ck.encode(STREAM, GOOD))
        os.symlink(victim, path)
    elif kind == "directory":
        os.mkdir(path)
    elif kind == "1 GB sparse file":
        with open(path, "wb") as f:
            f.truncate(1 << 30)
    elif kind == "deep":
        path.write_bytes(DEEP)
    elif kind == "100 000 brackets":
        path.write_bytes(b"[" * 100_000)
    else:
        raise AssertionError(kind)


KINDS = {"fifo": "a FIFO", "char device": "a character device", "link to /dev/zero": "a symbolic link",
         "link to a good checkpoint": "a symbolic link", "directory": "a directory",
         "1 GB sparse file": "larger than 4096 bytes", "deep": "nested", "100 000 brackets": "larger than"}


@pytest.mark.parametrize("kind", KINDS)
def test_load_refuses_what_is_not_a_small_regular_file_without_blocking(kind, tmp_path, caplog):
    store = CheckpointStore(str(tmp_path))
    path = store.path("1")
    try:
        plant(kind, path, tmp_path / "victim")
    except PermissionError:
        pytest.skip(f"cannot make a {kind} here")
    with caplog.at_level(logging.WARNING, "k8saudit_ovh.checkpoint"):
        assert load_in_time(store) is None
    [record] = caplog.records
    assert record.getMessage().startswith(f"checkpoint {path} ignored: ") and KINDS[kind] in record.getMessage()


def test_load_of_nothing_says_nothing(tmp_path, caplog):
    with caplog.at_level(logging.DEBUG, "k8saudit_ovh.checkpoint"):
        assert CheckpointStore(str(tmp_path / "not-yet")).load("1", STREAM) is None
        assert CheckpointStore(str(tmp_path)).load("1", STREAM) is None
    assert not caplog.records


def test_load_never_raises_even_where_stateDir_cannot_be_a_directory(tmp_path, caplog):
    (tmp_path / "file").write_text("x")
    with caplog.at_level(logging.WARNING, "k8saudit_ovh.checkpoint"):
        assert CheckpointStore(str(tmp_path / "file" / "state")).load("1", STREAM) is None
        assert CheckpointStore(str(tmp_path / "nul\0byte")).load("1", STREAM) is None  # ValueError inside
    assert "cannot be read (Not a directory)" in caplog.text and "cannot be read (ValueError" in caplog.text


def test_a_state_dir_that_is_a_link_to_a_directory_works(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    store = CheckpointStore(str(tmp_path / "link"))
    store.save("1", STREAM, GOOD)
    assert store.load("1", STREAM) == GOOD
    assert [p.name for p in (tmp_path / "real").iterdir()] == ["stream-1.checkpoint.json"]


def test_save_replaces_a_link_at_the_name_never_its_target(tmp_path):
    store = CheckpointStore(str(tmp_path / "state"))
    store.dir.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    store.path("1").symlink_to(victim)
    store.save("1", STREAM, GOOD)
    assert victim.read_text() == "precious"
    assert not store.path("1").is_symlink() and store.load("1", STREAM) == GOOD


def test_save_never_writes_through_a_link_at_a_temp_name(tmp_path, monkeypatch):
    store = CheckpointStore(str(tmp_path / "state"))
    store.dir.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    # The fixed temp name of earlier versions, and the very name the next save will pick.
    (store.dir / "stream-1.checkpoint.tmp").symlink_to(victim)
    monkeypatch.setattr(ck.secrets, "token_hex", lambda n: "ab" * n)
    planted = store.dir / f"stream-1.checkpoint.json.{os.getpid()}-{'ab' * 8}.tmp"
    planted.symlink_to(victim)
    with pytest.raises(FileExistsError):  # created exclusively: a name taken is a failed write
        store.save("1", STREAM, GOOD)
    assert victim.read_text() == "precious" and planted.is_symlink()
    monkeypatch.undo()
    store.save("1", STREAM, GOOD)  # another name next time
    assert victim.read_text() == "precious" and store.load("1", STREAM) == GOOD
    assert oct(store.path("1").stat().st_mode & 0o777) == "0o600"


def test_a_failed_save_leaves_no_temp_file(tmp_path):
    store = CheckpointStore(str(tmp_path / "state"))
    store.path("1").mkdir(parents=True)  # rename cannot replace a directory
    with pytest.raises(OSError):
        store.save("1", STREAM, GOOD)
    assert [p.name for p in store.dir.iterdir()] == ["stream-1.checkpoint.json"]


def test_labels_cannot_leave_state_dir(tmp_path):
    store = CheckpointStore(str(tmp_path / "state"))
    for label in ("../../escape", "/etc/passwd", "..", "a/../../b"):
        assert store.path(label).parent == store.dir
        store.save(label, STREAM, GOOD)
        assert store.load(label, STREAM) == GOOD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]


def test_leftover_temp_files_are_removed_at_load_links_and_others_kept(tmp_path):
    store = CheckpointStore(str(tmp_path / "state"))
    store.save("1", STREAM, GOOD)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    leftover = store.dir / "stream-1.checkpoint.json.123-0123456789abcdef.tmp"
    leftover.write_text("half")
    link = store.dir / "stream-1.checkpoint.json.124-0123456789abcdef.tmp"
    link.symlink_to(victim)
    others = [store.dir / "stream-2.checkpoint.json.123-0123456789abcdef.tmp", store.dir / "notes.tmp"]
    for other in others:
        other.write_text("not ours to remove")
    assert store.load("1", STREAM) == GOOD
    assert not leftover.exists() and link.is_symlink() and victim.read_text() == "precious"
    assert all(other.exists() for other in others)


# ---- the checkpointer thread -------------------------------------------------------------

class Source:
    """A stream's read() and on_error() for the Checkpointer: a value to give, an exception
    to raise instead, and the errors counted."""

    def __init__(self):
        self.value = GOOD
        self.raise_ = None
        self.errors = 0
        self.gate = threading.Event()
        self.gate.set()

    def read(self):
        self.gate.wait()
        if self.raise_ is not None:
            raise self.raise_
        return self.value

    def on_error(self):
        self.errors += 1


def checkpointer(store, source, interval_s=0.02):
    return Checkpointer(store, [("1", STREAM, source.read, source.on_error)], interval_s=interval_s)


def test_an_unexpected_exception_is_counted_logged_once_and_the_thread_goes_on(tmp_path, caplog):
    store, source = CheckpointStore(str(tmp_path)), Source()
    source.raise_ = RuntimeError("injected")
    worker = checkpointer(store, source)
    with caplog.at_level(logging.INFO, "k8saudit_ovh.checkpoint"):
        worker.start()
        try:
            wait_for(lambda: source.errors >= 5, "failures counted")
            source.raise_ = None
            wait_for(lambda: store.load("1", STREAM) == GOOD, "a checkpoint written after the failures")
            source.value = later = Checkpoint(GOOD.time_ns + 1, 7)
            wait_for(lambda: store.load("1", STREAM) == later, "the next checkpoint")
        finally:
            assert worker.stop(timeout=10)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    expected = f"checkpoint of stream 1 not written to {tmp_path}: RuntimeError('injected') (retried every 0.02 s)"
    assert warnings == [expected]
    assert "checkpoint of stream 1 written again" in caplog.text


def test_a_failing_write_is_counted_reported_once_and_resumes(tmp_path, caplog):
    """stateDir's parent is a regular file (root cannot get past that), then a directory."""
    parent = tmp_path / "parent"
    parent.write_text("a file where a directory should be")
    store, source = CheckpointStore(str(parent / "state")), Source()
    worker = checkpointer(store, source)
    with caplog.at_level(logging.WARNING, "k8saudit_ovh.checkpoint"):
        worker.start()
        try:
            wait_for(lambda: source.errors >= 5, "failures counted")
            parent.unlink()
            parent.mkdir()
            wait_for(lambda: store.load("1", STREAM) == GOOD, "the write once the cause is gone")
        finally:
            assert worker.stop(timeout=10)
    assert len(caplog.records) == 1 and "Not a directory" in caplog.text


def test_stop_writes_the_last_checkpoint(tmp_path):
    store, source = CheckpointStore(str(tmp_path)), Source()
    worker = checkpointer(store, source, interval_s=3600)
    worker.start()
    assert store.load("1", STREAM) is None
    assert worker.stop(timeout=10)
    assert store.load("1", STREAM) == GOOD


def test_stop_returns_within_its_budget_while_a_write_is_stuck(tmp_path):
    store, source = CheckpointStore(str(tmp_path)), Source()
    source.gate.clear()  # read() blocks, as a write to a hung volume would
    worker = checkpointer(store, source, interval_s=0.01)
    worker.start()
    started = time.monotonic()
    assert worker.stop(timeout=0.2) is False
    assert time.monotonic() - started < 0.2 + 5  # its budget, plus slack for a busy machine
    source.gate.set()
    assert worker.stop(timeout=30)


# ---- through the C host, as Falco loads the plugin ----------------------------------------

FIELDS = ["ka.auditid", "ka.stage"]


def host_config(history, state_dir, **extra) -> str:
    return json.dumps({**FAST, "stateDir": str(state_dir), "history": history_config(history), **extra})


HOST_CASES = {**KINDS, "2**64": "timeNs", "-1": "timeNs", "10**400": "timeNs", "identity 2**64": "identity",
              "future": "ahead of this machine's clock"}


def plant_for_host(kind, path, victim, stream):
    """`kind` at the checkpoint's name; the value cases are a checkpoint of `stream` with one
    value out of range (written as text: 10**400 is no JSON a Python int would dump)."""
    values = {"2**64": ("timeNs", str(2**64)), "-1": ("timeNs", "-1"), "10**400": ("timeNs", "1" + "0" * 400),
              "identity 2**64": ("identity", str(2**64)),
              "future": ("timeNs", str(time.time_ns() + (ck.FUTURE_SKEW_S + 3600) * 10**9))}
    if kind not in values:
        return plant(kind, path, victim)
    key, text = values[kind]
    doc = {"version": 1, "stream": stream, "timeNs": 1, "identity": 2}
    path.write_text(json.dumps(doc).replace(f'"{key}": {doc[key]}', f'"{key}": {text}'))


@pytest.mark.parametrize("kind", HOST_CASES)
def test_open_goes_on_live_whatever_is_at_the_checkpoint_name(kind, host, plugin, server, history, tmp_path):
    """Open neither fails nor blocks; the stream starts live with no fill claimed; the
    host's peak memory stays low (a 1 GB file is not read)."""
    events = feed(100, int(time.time() * 1000))
    history.add_events(events, [_ms(e) for e in events])
    ldp = server([frame(e) for e in events])
    stream = ck.fingerprint(ldp.url("***"))  # the fingerprint of the token-free URL
    state = tmp_path / "state"
    state.mkdir()
    path, victim = state / "stream-1.checkpoint.json", tmp_path / "victim"
    try:
        plant_for_host(kind, path, victim, stream)
    except PermissionError:
        pytest.skip(f"cannot make a {kind} here")
    victim_before = victim.read_bytes() if victim.exists() else None
    batch = 10  # Falco asks for the next batch 9 times: what it received is checkpointed at close
    run = run_host(host, plugin, ldp.url(TOKEN), FIELDS, config=host_config(history, state, batchMaxEvents=batch),
                   max_events=100, time_limit=60, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert keys(run) == [(e["auditID"], e["stage"]) for e in events]
    assert f"checkpoint {path} ignored: " in run.stderr and HOST_CASES[kind] in run.stderr
    assert run.stderr.count(f"checkpoint {path} ignored") == 1
    m = run.metrics
    assert m["gaps_seen"] == m["gaps_filled"] == m["gaps_not_filled"] == 0  # nothing filled, nothing claimed
    print(f"{kind}: peak RSS {run.end['maxrss_kb'] // 1024} MB")
    assert run.end["maxrss_kb"] < 200 * 1024, f"peak RSS {run.end['maxrss_kb'] // 1024} MB"
    if victim_before is not None:
        assert victim.read_bytes() == victim_before
    # The checkpoint written at close replaces the thing (never its target), except a
    # directory, which a rename cannot replace: that write fails, reported.
    if kind == "directory":
        assert path.is_dir() and run.stderr.count("checkpoint of stream 1 not written") == 1
    else:
        assert stat.S_ISREG(os.lstat(path).st_mode), "the name was not replaced by a checkpoint"
        written = ck.parse(path.read_bytes(), stream, time.time_ns())
        assert written.time_ns in {_ms(e) * 10**6 for e in events[-2 * batch:]}
    assert TOKEN not in run.stderr


def test_a_future_checkpoint_within_the_skew_resumes_with_a_fill(host, plugin, server, history, tmp_path):
    """A checkpoint a little ahead of our clock (the cluster's clock is not ours) is taken."""
    events = feed(100, int(time.time() * 1000))
    history.add_events(events, [_ms(e) for e in events])
    ldp = server([frame(e) for e in events])
    state = tmp_path / "state"
    store = CheckpointStore(str(state))
    store.save("1", ck.fingerprint(ldp.url("***")), Checkpoint(time.time_ns() + 60 * 10**9, 1))
    run = run_host(host, plugin, ldp.url(TOKEN), FIELDS, config=host_config(history, state), max_events=100,
                   time_limit=60, timeout=120)
    assert run.returncode == 0 and "ignored" not in run.stderr
    assert run.metrics["gaps_seen"] == 1


def test_the_checkpoint_is_written_periodically_and_a_failing_write_is_reported_once(host, plugin, server,
                                                                                     history, tmp_path):
    """stateDir is a link (as Kubernetes volumes are). While the stream runs: the checkpoint
    appears and moves on; the directory is then replaced by a file (no permission bit that
    root could pass), which is reported once and counted in thread_errors while the stream
    goes on; once the directory is back, the checkpoint moves on again."""
    count = 3000
    events = feed(count, int(time.time() * 1000))
    history.add_events(events, [_ms(e) for e in events])
    release = threading.Event()  # paced until the scenario is done, then the rest at once
    ldp = server([frame(e) for e in events], Behavior(rate=50, paced_until=release))
    real, link = tmp_path / "real", tmp_path / "state"
    real.mkdir()
    link.symlink_to(real)
    checkpoint_path = real / "stream-1.checkpoint.json"
    args = host_command(host, plugin, ldp.url(TOKEN), FIELDS, config=host_config(history, link), max_events=count,
                        time_limit=300)
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(args, stdout=stdout, stderr=stderr, env=host_env(plugin))
    try:
        def written_time():
            try:
                return json.loads(checkpoint_path.read_text())["timeNs"]
            except (OSError, ValueError):
                return None

        first = wait_for(written_time, "the first checkpoint")
        second = wait_for(lambda: (written_time() or 0) > first and written_time(), "the checkpoint to move on")
        aside = tmp_path / "aside"
        real.rename(aside)
        real.write_text("not a directory")
        wait_for(lambda: "checkpoint of stream 1 not written" in err.read_text(), "the failure to be reported")
        real.unlink()
        aside.rename(real)
        wait_for(lambda: (written_time() or 0) > second, "the checkpoint to move on after the failure")
        wait_for(lambda: "checkpoint of stream 1 written again" in err.read_text(), "the recovery to be reported")
        assert proc.poll() is None, "the scenario outlasted the paced feed"
    finally:
        release.set()
        try:
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    run = parse_output(proc.returncode, out.read_bytes(), err.read_bytes())
    assert run.returncode == 0, run.stderr[-3000:]
    assert keys(run) == [(e["auditID"], e["stage"]) for e in events]  # the stream went on
    assert run.stderr.count("checkpoint of stream 1 not written") == 1
    assert run.metrics["thread_errors"] == run.metrics["stream.1.thread_errors"] >= 1
    assert TOKEN not in run.stderr and history.password not in run.stderr

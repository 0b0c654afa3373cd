"""file:// replay of hostile inputs, through the C host: what cannot be replayed without
blocking Falco's thread (devices, FIFOs, /proc, directories) is refused at open with a
clear error, and no file content makes one next_batch call run long or hold much memory.
The bounds asserted here are generous (only a hang or an unbounded loop fails them); the
measured numbers are in the README."""
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from c_host import host_command, host_env, most_log_lines, parse_output, run_host, timed_run_host

# Far above what a call takes (the batch wait, 30 ms by default) even on a loaded machine.
SLOW_CALL_MS = 2000


def event(n: int, **extra) -> bytes:
    return json.dumps({"kind": "Event", "auditID": f"id-{n}", "verb": "get", "stage": "ResponseComplete",
                       "stageTimestamp": f"2025-02-20T10:11:{n % 60:02d}.{n:06d}Z", **extra},
                      separators=(",", ":")).encode()


def ids(run):
    return [e["values"]["ka.auditid"] for e in run.events]


def assert_refused(run, path, what):
    assert run.returncode == 3 and run.end["end"] == "open-failure", run.stderr
    assert run.end["error"] == f"file:// replays regular files only: '{path}' is {what}"


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_are_refused_at_open(host, plugin, path):
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist here")
    assert_refused(run_host(host, plugin, f"file://{path}", ["ka.auditid"], timeout=60), path, "a character device")


def test_a_symlink_to_a_device_is_refused(host, plugin, tmp_path):
    link = tmp_path / "events.jsonl"
    link.symlink_to("/dev/zero")
    assert_refused(run_host(host, plugin, f"file://{link}", ["ka.auditid"], timeout=60), link, "a character device")


def test_a_directory_is_refused(host, plugin, tmp_path):
    assert_refused(run_host(host, plugin, f"file://{tmp_path}", ["ka.auditid"], timeout=60), tmp_path, "a directory")


def test_a_fifo_without_writer_is_refused_without_blocking(host, plugin, tmp_path):
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    assert_refused(run_host(host, plugin, f"file://{fifo}", ["ka.auditid"], timeout=60), fifo, "a FIFO")


def test_a_fifo_whose_writer_paused_is_refused(host, plugin, tmp_path):
    """Refused at open, events already written or not: a FIFO could block next_batch."""
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # a writer that never blocks the test
    try:
        os.write(writer, event(1) + b"\n" + event(2) + b"\n")
        run = run_host(host, plugin, f"file://{fifo}", ["ka.auditid"], timeout=60)
    finally:
        os.close(writer)
    assert_refused(run, fifo, "a FIFO")


@pytest.mark.parametrize("path", ["/proc/self/status", "/proc/kmsg", "/sys/kernel/mm/transparent_hugepage/enabled"])
def test_kernel_pseudo_files_are_refused(host, plugin, path):
    """Regular files whose size says nothing and whose reads may block (/proc/kmsg)."""
    if not os.path.isfile(path):
        pytest.skip(f"{path} does not exist here")
    fs = "proc" if path.startswith("/proc/") else "sysfs"
    run = run_host(host, plugin, f"file://{path}", ["ka.auditid"], timeout=60)
    assert_refused(run, path, f"on the {fs} pseudo filesystem")


def as_anyone(command: list[str]) -> list[str]:
    """`command`, run so that file modes bind it: as root (CI runs as root), without the two
    capabilities that let root read any file (dropped from its bounding set, so the exec
    cannot give them back)."""
    if os.geteuid() != 0:
        return command
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all", "--", *command]


def test_an_unreadable_file_is_refused(host, plugin, tmp_path):
    path = tmp_path / "secret.jsonl"
    path.write_bytes(event(1) + b"\n")
    path.chmod(0)
    proc = subprocess.run(as_anyone(host_command(host, plugin, f"file://{path}", ["ka.auditid"])),
                          capture_output=True, timeout=60, env=host_env(plugin))
    run = parse_output(proc.returncode, proc.stdout, proc.stderr)
    assert run.returncode == 3 and run.end["error"] == f"cannot open '{path}': Permission denied"


def test_a_missing_file_is_refused(host, plugin, tmp_path):
    path = tmp_path / "missing.jsonl"
    run = run_host(host, plugin, f"file://{path}", ["ka.auditid"], timeout=60)
    assert run.returncode == 3 and run.end["error"] == f"cannot open '{path}': No such file or directory"


def test_a_gigabyte_line_of_nuls_is_skipped_in_short_calls_and_bounded_memory(host, plugin, tmp_path):
    path = tmp_path / "nuls.jsonl"
    huge = 1 << 30
    with open(path, "wb") as f:
        f.write(event(1) + b"\n")
        f.truncate(f.tell() + huge)  # a hole: NULs that cost no disk
        f.seek(0, os.SEEK_END)
        f.write(b"\n" + event(2) + b"\n" + event(3) + b"\n")
    run = run_host(host, plugin, f"file://{path}", ["ka.auditid"], timeout=300)
    assert run.returncode == 0, run.stderr
    assert ids(run) == ["id-1", "id-2", "id-3"]
    assert run.metrics["events_skipped.oversized"] == 1 and run.metrics["events_skipped"] == 1
    assert f"line of {huge} bytes skipped" in run.stderr
    end = run.end
    assert end["max_batch_ms"] < SLOW_CALL_MS, end
    assert end["maxrss_kb"] < 300 * 1024, end  # the line was never held
    assert end["progress"] == 10000


def test_a_long_line_is_dropped_chunk_by_chunk_over_several_calls(host, plugin, tmp_path):
    """Over the line cap (4 MiB by default) and written out (no hole to pass over): read
    and dropped as it comes, a bounded share of it per call."""
    path = tmp_path / "long.jsonl"
    long = 96 << 20
    with open(path, "wb") as f:
        f.write(b'{"kind":"Event","x":"')
        for _ in range(long // (1 << 20)):
            f.write(b"x" * (1 << 20))
        f.write(b'"}\n' + event(1) + b"\n")
    run = run_host(host, plugin, f"file://{path}", ["ka.auditid"], timeout=300)
    assert run.returncode == 0, run.stderr
    assert ids(run) == ["id-1"] and run.metrics["events_skipped.oversized"] == 1
    assert f"line of {long + 23} bytes skipped" in run.stderr
    end = run.end
    assert end["calls"] > 2 and end["timeouts"] > 1, end  # the work was split
    assert end["max_batch_ms"] < SLOW_CALL_MS, end
    assert end["maxrss_kb"] < 300 * 1024, end


def test_millions_of_invalid_lines_are_worked_through_over_many_calls(host, plugin, tmp_path):
    path = tmp_path / "junk.jsonl"
    junk = 4_000_000
    path.write_bytes(event(1) + b"\n" + b"x\n" * junk + event(2) + b"\n")
    run, seconds = timed_run_host(host, plugin, f"file://{path}", ["ka.auditid"], timeout=300)
    assert run.returncode == 0, run.stderr
    assert ids(run) == ["id-1", "id-2"]
    assert run.metrics["events_skipped.not_json"] == junk
    assert run.end["calls"] > 2 and run.end["timeouts"] > 0
    assert run.end["max_batch_ms"] < SLOW_CALL_MS, run.end
    assert len(run.stderr.splitlines()) <= most_log_lines(1, seconds)  # not once per line


def test_line_cap_is_sixteen_events(host, plugin, tmp_path):
    """Lines up to 16 x maxEventSize are read (an EventList of many events, held across
    buffer growth); a longer one is skipped and counted, and the events after it pass."""
    config = json.dumps({"maxEventSize": 65536})  # line cap: 1 MiB
    items = [json.loads(event(100 + i, requestObject={"data": "v" * 60_000})) for i in range(16)]
    fits = json.dumps({"kind": "EventList", "items": items}, separators=(",", ":")).encode()
    assert 960_000 < len(fits) <= 1 << 20
    too_long = json.dumps({"kind": "EventList", "items": items * 2}, separators=(",", ":")).encode()
    path = tmp_path / "lists.jsonl"
    path.write_bytes(b"\n".join([event(1), fits, too_long, event(2)]) + b"\n")
    run = run_host(host, plugin, f"file://{path}", ["ka.auditid"], config=config)
    assert ids(run) == ["id-1", *(f"id-{100 + i}" for i in range(16)), "id-2"]
    assert run.metrics["events_skipped.oversized"] == 1
    assert f"line of {len(too_long)} bytes skipped (over {1 << 20})" in run.stderr


def test_a_line_read_over_several_calls_is_delivered_whole(host, plugin, tmp_path):
    """A 40 MiB EventList (maxEventSize 4 MiB: cap 64 MiB) takes more than one call's
    share of input: the calls before it answer 'timeout' and keep the line read so far."""
    config = json.dumps({"maxEventSize": 4 << 20})
    items = [json.loads(event(100 + i, requestObject={"data": "v" * (1 << 20)})) for i in range(40)]
    path = tmp_path / "big-list.jsonl"
    path.write_bytes(json.dumps({"kind": "EventList", "items": items}).encode() + b"\n" + event(2) + b"\n")
    run = run_host(host, plugin, f"file://{path}", ["ka.auditid"], config=config, timeout=300)
    assert run.returncode == 0, run.stderr
    assert ids(run) == [*(f"id-{100 + i}" for i in range(40)), "id-2"]
    assert run.end["timeouts"] > 0 and run.metrics["events_skipped"] == 0


def test_a_file_truncated_during_replay_ends_cleanly(host, plugin, tmp_path):
    """A mapped file cut under the reader would kill the process with SIGBUS; the replay
    ends where the file now ends."""
    path = tmp_path / "shrinking.jsonl"
    total = 20_000
    path.write_bytes(b"\n".join(event(n, requestObject={"pad": "p" * 400}) for n in range(total)) + b"\n")
    args = host_command(host, plugin, f"file://{path}", ["ka.auditid"], config='{"batchMaxEvents": 1}',
                        batch_sleep_ms=1)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=host_env(plugin))
    first = proc.stdout.readline()  # the host is replaying (its output is block-buffered)
    os.truncate(path, 0)
    timer = threading.Timer(120, proc.kill)
    timer.start()
    try:
        rest, stderr = proc.stdout.read(), proc.stderr.read()  # stderr: a few log lines at most
        proc.wait()
    finally:
        timer.cancel()
    run = parse_output(proc.returncode, first + rest, stderr)
    assert proc.returncode == 0, run.stderr
    assert run.end["end"] == "eof"
    assert 0 < len(run.events) < total
    assert ids(run) == [f"id-{n}" for n in range(len(run.events))]

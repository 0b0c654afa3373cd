"""The project's Falco-like C test host (tests/host/k8a_host.c): compile it, run it on the
plugin, and read what it prints (one JSON object per event, then end and close records)."""
import functools
import json
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from k8saudit_ovh import native_build

ROOT = Path(__file__).resolve().parents[1]


# Each kind of message about dropped input prints at most once per this interval
# (k8saudit_ovh/cpp/sources/rate_log.hpp).
LOG_INTERVAL_S = 10.0


def most_log_lines(kinds: int, seconds: float) -> int:
    """The most lines `kinds` kinds of rate-limited messages may print in `seconds`."""
    return kinds * (1 + int(seconds // LOG_INTERVAL_S))


def timed_run_host(*args, **kwargs) -> tuple["HostRun", float]:
    """run_host, and the wall time it took (at least the plugin's run)."""
    started = time.monotonic()
    run = run_host(*args, **kwargs)
    return run, time.monotonic() - started


def compile_host(out_dir: Path, name: str = "k8a_host") -> Path:
    """Compiles tests/host/NAME.c (a C test host) into out_dir/NAME."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip(f"no C compiler to build tests/host/{name}.c")
    exe = out_dir / name
    subprocess.run([compiler, "-O2", "-Wall", "-Werror", "-I", str(ROOT / "c"),
                    str(ROOT / "tests" / "host" / f"{name}.c"), "-o", str(exe), "-ldl"], check=True)
    return exe


@dataclass
class HostRun:
    returncode: int
    stderr: str
    events: list = field(default_factory=list)   # {"num","ts","len","values"}
    ends: list = field(default_factory=list)     # one per load cycle: end reason, counts, metrics
    closes: list = field(default_factory=list)   # one per load cycle: close time, threads, sockets
    info: dict | None = None

    @property
    def end(self) -> dict:
        return self.ends[-1]

    @property
    def metrics(self) -> dict:
        return self.end.get("metrics", {})


def run_host(exe: Path, plugin: Path, params: str = "", fields=(), *, config: str = "", max_events=None,
             time_limit=None, cycles=None, specs_file=None, info=False, batch_sleep_ms=None,
             revisit=False, timeout=300) -> HostRun:
    args = host_command(exe, plugin, params, fields, config=config, max_events=max_events,
                        time_limit=time_limit, cycles=cycles, specs_file=specs_file, info=info,
                        batch_sleep_ms=batch_sleep_ms, revisit=revisit)
    proc = subprocess.run(args, capture_output=True, timeout=timeout, env=host_env(plugin))
    return parse_output(proc.returncode, proc.stdout, proc.stderr)


@functools.cache
def is_sanitized(plugin: Path) -> bool:
    """Whether `plugin` is a K8A_SANITIZE=1 build (README, "Fuzzing and sanitizers")."""
    return native_build.is_sanitized(plugin)


def host_env(plugin: Path) -> dict | None:
    """The host's environment: this one, plus the ASan runtime and its options for a
    sanitizer build (the host is not built with it but loads a plugin that is)."""
    return native_build.sanitizer_env(dict(os.environ)) if is_sanitized(plugin) else None


def host_command(exe: Path, plugin: Path, params: str = "", fields=(), *, config: str = "", max_events=None,
                 time_limit=None, cycles=None, specs_file=None, info=False, batch_sleep_ms=None,
                 revisit=False) -> list:
    args = [str(exe), "-c", config, "-p", params]
    if max_events is not None:
        args += ["-n", str(max_events)]
    if time_limit is not None:
        args += ["-t", str(time_limit)]
    if cycles is not None:
        args += ["--cycles", str(cycles)]
    if specs_file is not None:
        args += ["-f", str(specs_file)]
    if batch_sleep_ms is not None:
        args += ["-s", str(batch_sleep_ms)]
    if info:
        args.append("--info")
    if revisit:
        args.append("-r")  # each batch is extracted backwards first
    return args + [str(plugin), *fields]


class RunningHost:
    """The C host in the background: its events as they arrive (`ids`: their ka.auditid),
    its memory while it runs."""

    def __init__(self, host, plugin, params, config, max_events, time_limit=120, fields=("ka.auditid",)):
        self.proc = subprocess.Popen(host_command(host, plugin, params, fields, config=config,
                                                  max_events=max_events, time_limit=time_limit),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=host_env(plugin))
        self.ids: list[str] = []
        self._lines: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self._lines.append(line)
            record = json.loads(line)
            if "num" in record:
                self.ids.append(record["values"].get("ka.auditid"))

    def wait_events(self, n: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.ids) < n:
            assert self.proc.poll() is None, f"the host ended with {self.ids}: {self.proc.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline, f"only {self.ids} after {timeout} s"
            time.sleep(0.02)

    def rss_mb(self) -> float:
        """Resident memory of the running host, in MB."""
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise AssertionError("the host is not running")

    def finish(self, timeout: float = 120.0):
        """Waits for the host to end: its output, and its peak resident memory in MB (VmHWM,
        which the host reads itself: the rusage of a child also counts its parent's memory)."""
        self.proc.wait(timeout)
        self._reader.join(10)
        run = parse_output(self.proc.returncode, b"".join(self._lines), self.proc.stderr.read())
        return run, run.end["maxrss_kb"] / 1024


def parse_output(returncode: int, stdout: bytes, stderr: bytes) -> HostRun:
    run = HostRun(returncode, stderr.decode("utf-8", "replace"))
    for line in stdout.decode("utf-8").splitlines():
        record = json.loads(line)
        if "num" in record:
            run.events.append(record)
        elif "closed" in record:
            run.closes.append(record)
        elif "end" in record:
            run.ends.append(record)
        else:
            run.info = record
    return run

"""Soak of a live stream with disconnects (issue 9): the C host follows tests/ldp_server.py
(another process) at a steady rate while the server closes the connection every few
seconds, for K8A_SOAK_S seconds (default 1800). A soak benchmark: it runs with --soak only.
RSS, open fds and threads of the host are sampled every few seconds; their growth over the
run after its first tenth (warm-up, 10 s at least) is printed with a verdict line and kept
in extra_info.

    K8A_SOAK_S=1800 python3 -m pytest benchmarks/bench_soak_stream.py --benchmark-only -s --soak
"""
import json
import os
import subprocess
import time

import pytest

from bench_streams import ServerProcess, frames, frames_file  # noqa: F401,F811 (fixtures)
from c_host import host_command, parse_output
from common import growth, process_sample, verdict

SOAK_S = float(os.environ.get("K8A_SOAK_S", "1800"))
RATE = 2000           # frames/s
CLOSE_AFTER = 10_000  # frames per connection: a disconnect every 5 s
SAMPLE_EVERY_S = max(1.0, min(5.0, SOAK_S / 100))
WARM_UP_S = max(10.0, SOAK_S / 10)  # plugin start, first connection, buffers at their working size

pytestmark = pytest.mark.soak


def test_stream_soak_with_disconnects(benchmark, host, plugin, frames_file):
    def soak():
        with ServerProcess(frames_file, "--rate", str(RATE), "--loop", "1000000",
                           "--close-after", str(CLOSE_AFTER)) as server:
            args = host_command(host, plugin, server.url, [], time_limit=SOAK_S,
                                config=json.dumps({"backoffInitialS": 0.1}))
            args.insert(1, "-b")  # no per-event output
            started = time.monotonic()
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            samples = []
            while proc.poll() is None:
                s = process_sample(proc.pid)
                if s:
                    samples.append(s)
                time.sleep(SAMPLE_EVERY_S)
            out, _ = proc.communicate(timeout=60)
        return parse_output(proc.returncode, out, b""), [s for s in samples if s["t"] >= started + WARM_UP_S]

    run, steady = benchmark.pedantic(soak, rounds=1, iterations=1)
    assert run.end["end"] == "time" and run.end["events"] > 0
    assert len(steady) >= 2, "too few samples after the warm-up: set K8A_SOAK_S to 20 s or more"
    report = {"seconds": SOAK_S, "events": run.end["events"], "reconnects": run.metrics.get("reconnects"),
              "samples": len(steady), "growth": growth(steady),
              "peak": {k: max(s[k] for s in steady) for k in ("rss_kb", "fds", "threads")}}
    report["verdict"] = verdict(report["growth"])
    benchmark.extra_info.update(report)
    print(f"\nstream soak: {json.dumps(report)}\n{report['verdict']}")

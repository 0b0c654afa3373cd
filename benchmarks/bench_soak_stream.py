"""Soak of a live stream with disconnects (issue 9): the C host follows tests/ldp_server.py
(another process) at a steady rate while the server closes the connection every few
seconds, for K8A_SOAK_S seconds (default 1800). RSS, open fds and threads of the host are
sampled every few seconds; the growth from the end of the warm-up (the first tenth) to the
end is reported (target: flat).

    K8A_SOAK_S=1800 python3 -m pytest benchmarks/bench_soak_stream.py --benchmark-only -s
"""
import json
import os
import subprocess
import time
from pathlib import Path

from bench_streams import ServerProcess, frames, frames_file  # noqa: F401,F811 (fixtures)
from c_host import host_command, parse_output

SOAK_S = float(os.environ.get("K8A_SOAK_S", "1800"))
RATE = 2000           # frames/s
CLOSE_AFTER = 10_000  # frames per connection: a disconnect every 5 s
SAMPLE_EVERY_S = 5.0


def sample(pid: int) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {"rss_mb": int(fields["VmRSS"].split()[0]) / 1024, "threads": int(fields["Threads"]),
            "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def test_stream_soak_with_disconnects(benchmark, host, plugin, frames_file):
    def soak():
        with ServerProcess(frames_file, "--rate", str(RATE), "--loop", "1000000",
                           "--close-after", str(CLOSE_AFTER)) as server:
            args = host_command(host, plugin, server.url, [], time_limit=SOAK_S,
                                config=json.dumps({"backoffInitialS": 0.1}))
            args.insert(1, "-b")  # no per-event output
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            samples = []
            while proc.poll() is None:
                try:
                    samples.append((time.monotonic(), sample(proc.pid)))
                except (FileNotFoundError, KeyError, ProcessLookupError):
                    break
                time.sleep(SAMPLE_EVERY_S)
            out, _ = proc.communicate(timeout=60)
        return parse_output(proc.returncode, out, b""), samples

    run, samples = benchmark.pedantic(soak, rounds=1, iterations=1)
    warm = samples[max(1, len(samples) // 10)][1]
    last = samples[-1][1]
    peak = {k: max(s[k] for _, s in samples) for k in warm}
    report = {"seconds": SOAK_S, "events": run.end["events"], "reconnects": run.metrics.get("reconnects"),
              "after_warmup": warm, "end": last, "peak": peak,
              "growth": {k: round(last[k] - warm[k], 2) for k in warm}}
    benchmark.extra_info.update(report)
    print(f"\nstream soak: {json.dumps(report)}")
    assert run.end["end"] == "time" and run.end["events"] > 0

"""Soak: 10 million events of file:// replay + the 20 rule fields through the C host,
watching the host process from outside (issue 9). A soak benchmark (about 10 minutes and a
900 MB file): it runs with --soak only.

    python3 -m pytest benchmarks/bench_replay_soak.py --benchmark-only -s --soak

The file holds set A's events repeated to 500 000 (900 MB, built in a tmp dir and removed
after), opened, replayed and closed 20 times in one plugin init (k8a_host --opens), as a
long-running Falco that restarts its capture does. RSS, open file descriptors and threads
of the host are sampled every 0.2 s; their growth after the first instance (warm-up: buffers
grow to their working size) is printed with a verdict line and kept in extra_info.
"""
import subprocess
import time

import pytest

from c_host import host_command, parse_output
from common import RULE_FIELDS, growth, process_sample, set_a_lines, verdict

EVENTS_PER_OPEN = 500_000
OPENS = 20
SAMPLE_S = 0.2

pytestmark = pytest.mark.soak


@pytest.fixture(scope="module")
def soak_file(tmp_path_factory):
    lines = set_a_lines()
    block = b"\n".join(lines) + b"\n"
    path = tmp_path_factory.mktemp("soak") / "events.jsonl"
    with open(path, "wb") as f:
        for _ in range(EVENTS_PER_OPEN // len(lines)):
            f.write(block)
        f.write(b"\n".join(lines[:EVENTS_PER_OPEN % len(lines)]) + b"\n" if EVENTS_PER_OPEN % len(lines) else b"")
    yield path
    path.unlink()  # 900 MB: not left for pytest's tmp dir rotation


def test_replay_soak_10m_events(benchmark, host, plugin, soak_file):
    report = {}

    def soak():
        args = host_command(host, plugin, f"file://{soak_file}", RULE_FIELDS)
        args[1:1] = ["-b", "--opens", str(OPENS)]
        started = time.monotonic()
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        samples = []
        while proc.poll() is None:
            s = process_sample(proc.pid)
            if s:
                samples.append(s)
            time.sleep(SAMPLE_S)
        out, err = proc.communicate()
        run = parse_output(proc.returncode, out, err)
        assert proc.returncode == 0, run.stderr
        assert [e["events"] for e in run.ends] == [EVENTS_PER_OPEN] * OPENS
        # After the first instance: its share of the run is warm-up.
        warm = started + run.ends[0]["seconds"]
        steady = [s for s in samples if s["t"] > warm]
        assert len(steady) >= 10, "too few samples"
        report.update(
            events=sum(e["events"] for e in run.ends), samples=len(steady), growth=growth(steady),
            rss_kb_min=min(s["rss_kb"] for s in steady), rss_kb_max=max(s["rss_kb"] for s in steady),
            peak_rss_kb_after_first=run.ends[0]["maxrss_kb"], peak_rss_kb_after_last=run.ends[-1]["maxrss_kb"],
            fds=sorted({s["fds"] for s in steady}), threads=sorted({s["threads"] for s in steady}),
            max_batch_ms=max(e["max_batch_ms"] for e in run.ends),
            events_per_cpu_second=round(sum(e["events"] for e in run.ends) / sum(e["thread_cpu_s"] for e in run.ends)))

    benchmark.pedantic(soak, rounds=1, iterations=1)
    report["verdict"] = verdict(report["growth"])
    benchmark.extra_info.update(report)
    print(f"\nreplay soak: {report['events']:,} events ({OPENS} opens), {report['samples']} samples after the first "
          f"open: RSS range {report['rss_kb_min']:,}-{report['rss_kb_max']:,} kB, peak RSS after the first open "
          f"{report['peak_rss_kb_after_first']:,} kB, after the last {report['peak_rss_kb_after_last']:,} kB; "
          f"open fds {report['fds']}, threads {report['threads']}; longest next_batch {report['max_batch_ms']:.1f} ms; "
          f"{report['events_per_cpu_second']:,} events per CPU second\n{report['verdict']}")

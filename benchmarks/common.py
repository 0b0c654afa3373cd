"""Inputs shared by the benchmarks: the corpus location and the fields the official rules
use most; what the soak benchmarks measure of a process and how they judge its growth."""
import os
import statistics
import time
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
RULE_FIELDS = [
    "ka.verb", "ka.user.name", "ka.target.resource", "ka.target.name", "ka.target.namespace",
    "ka.response.code", "ka.auth.decision", "ka.auth.reason", "ka.uri", "ka.target.subresource",
    "ka.resp.name", "ka.req.pod.containers.image", "ka.req.pod.containers.image.repository",
    "ka.req.pod.containers.privileged", "ka.req.pod.host_network", "ka.req.pod.volumes.hostpath",
    "ka.req.role.rules", "ka.req.binding.subjects", "ka.req.configmap.obj", "ka.uri.param[command]",
]


def set_a_lines() -> list[bytes]:
    """The events of corpus set A, one JSON line each; the benchmark is skipped without it."""
    source = CORPUS / "generated" / "setA" / "events.jsonl"
    if not source.is_file():
        pytest.skip(f"corpus not found: {source}")
    return [line for line in source.read_bytes().split(b"\n") if line]


# A soak is flat when its resident memory moves less than this between the start and the end
# of its steady part (allocator and page noise), and its fds and threads do not move at all.
FLAT_RSS_KB = 2048


def process_sample(pid: int) -> dict | None:
    """RSS, open fds and threads of a running process; None once it is exiting."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return {"t": time.monotonic(), "rss_kb": rss, "fds": len(os.listdir(f"/proc/{pid}/fd")),
                "threads": len(os.listdir(f"/proc/{pid}/task"))}
    except (FileNotFoundError, ProcessLookupError, StopIteration):
        return None


def growth(steady: list[dict]) -> dict:
    """RSS, fds and threads at the end of the steady samples minus at their start (medians of
    the first and the last tenth: a sample can fall in a reconnection)."""
    tenth = max(1, len(steady) // 10)
    return {key: statistics.median(s[key] for s in steady[-tenth:]) - statistics.median(s[key] for s in steady[:tenth])
            for key in ("rss_kb", "fds", "threads")}


def verdict(grown: dict) -> str:
    """The verdict line of a soak from its growth."""
    over = {k: v for k, v in grown.items() if (v > FLAT_RSS_KB if k == "rss_kb" else v > 0)}
    measured = f"RSS {grown['rss_kb']:+,.0f} kB, fds {grown['fds']:+g}, threads {grown['threads']:+g}"
    if over:
        return f"verdict: GROWS ({measured}; flat is RSS within {FLAT_RSS_KB} kB, fds and threads +0)"
    return f"verdict: flat ({measured})"

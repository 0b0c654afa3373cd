"""Every audit file of ../shared/corpus replayed through the C host (no Python in that
process): which events come out, in which order, with which timestamps, every golden
ka.* value, and the skip counters, against the upstream k8saudit plugin's records."""
import collections
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from c_host import is_sanitized, run_host

GOLDEN = ["upstream", "derived", "setA.edge", "setA.events", "setA.large"]
DROPPED = ["upstream.dropped", "setA.edge.dropped"]

def skip_reason(log_message: str) -> str:
    """Our counter for one of upstream's log messages."""
    for prefix, reason in (("can't read stageTimestamp", "no_stage_timestamp"),
                           ("parsing time", "bad_stage_timestamp"),
                           ("data not recognized", "not_audit_event"),
                           ("event larger than maxEventSize", "oversized")):
        if log_message.startswith(prefix):
            return reason
    return "blank_line" if "cannot parse empty string" in log_message else "not_json"


def load_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def specs(corpus):
    s = json.loads((corpus / "golden" / "specs.json").read_text())
    return s["no_arg"] + [f"{f}[{i}]" for f in s["index_fields"] for i in s["indexes"]] + s["key_specs"]


def golden_by_file(corpus):
    files = collections.defaultdict(list)
    for name in GOLDEN:
        for record in load_jsonl(corpus / "golden" / f"{name}.golden.jsonl"):
            files[record["file"]].append(record)
    return files


def pytest_generate_tests(metafunc):
    if "golden_file" in metafunc.fixturenames:
        from conftest import CORPUS
        names = sorted(golden_by_file(CORPUS)) if CORPUS.is_dir() else ["(no corpus)"]
        metafunc.parametrize("golden_file", names)


@pytest.mark.parametrize("revisit", [False, True], ids=["in-order", "revisited"])
def test_replay_matches_golden_records(corpus, host, plugin, specs, golden_file, revisit, tmp_path):
    """revisited: the host first extracts each batch backwards, so events are extracted
    again after others (from the reader's parse kept with the batch, in a fresh state)."""
    records = golden_by_file(corpus)[golden_file]
    uri_specs = sorted({s for r in records for s in r["values"] if s.startswith("ka.uri.param[")})
    specs_file = tmp_path / "specs.txt"
    specs_file.write_text("\n".join(specs + uri_specs) + "\n")
    config = json.dumps(records[0]["config"]) if records[0].get("config") else ""
    run = run_host(host, plugin, f"file://{corpus / golden_file}", specs_file=specs_file, config=config,
                   revisit=revisit)
    assert run.returncode == 0, run.stderr
    assert run.end["end"] == "eof" and run.end["progress"] == 10000

    assert [e["ts"] for e in run.events] == [r["ts"] for r in records]
    # the payload is upstream's: the event's JSON as its parser re-serializes it
    assert [e["len"] for e in run.events] == [r["len"] for r in records]
    for event, record in zip(run.events, records):
        where = (record["file"], record["line"], record["item"])
        wanted = specs + [s for s in record["values"] if s.startswith("ka.uri.param[")]
        for spec in wanted:
            if spec in record.get("oracle_panics", {}):
                assert event["values"][spec] is None, (where, spec)  # upstream crashes here
            else:
                assert event["values"][spec] == record["values"].get(spec), (where, spec)
    assert run.closes[-1]["threads"] == 1


def input_files(corpus):
    files = set(golden_by_file(corpus))
    for name in DROPPED:
        files |= {r["file"] for r in load_jsonl(corpus / "golden" / f"{name}.jsonl")}
    return sorted(files)


def test_skip_counters_match_rejected_input(corpus, host, plugin):
    dropped = collections.defaultdict(collections.Counter)
    for name in DROPPED:
        for record in load_jsonl(corpus / "golden" / f"{name}.jsonl"):
            for message in record["log"]:
                dropped[record["file"]][skip_reason(message)] += 1
    golden = golden_by_file(corpus)
    for file in input_files(corpus):
        config = (golden.get(file) or [{}])[0].get("config")
        run = run_host(host, plugin, f"file://{corpus / file}", config=json.dumps(config) if config else "")
        counted = {k.split(".", 1)[1]: v for k, v in run.metrics.items()
                   if k.startswith("events_skipped.") and v}
        assert counted == dict(dropped[file]), file
        assert run.metrics["events_emitted"] == len(run.events)


def test_large_events_with_the_default_limit(corpus, host, plugin):
    """maxEventSize is "payload <= limit": 262144 bytes pass, 262145 do not."""
    outcome = load_jsonl(corpus / "golden" / "setA.large.default-limit.jsonl")
    run = run_host(host, plugin, f"file://{corpus / 'generated/setA/large.jsonl'}", ["ka.auditid"])
    assert len(run.events) == sum(r["events"] for r in outcome)
    assert sorted(e["len"] for e in run.events) == sorted(r["bytes"] for r in outcome if r["events"])
    assert run.metrics["events_skipped.oversized"] == sum(1 - r["events"] for r in outcome)


def test_steady_state_allocates_nothing(corpus, host, plugin, specs, tmp_path):
    """next_batch and every extract call, once buffers have grown: not one malloc in the
    process (tests/host/malloc_count.c counts them) while 6 000 events pass."""
    if is_sanitized(plugin):
        pytest.skip("ASan owns malloc in a sanitizer build: nothing to count")
    counter = tmp_path / "malloc_count.so"
    subprocess.run([shutil.which("cc") or "gcc", "-O2", "-shared", "-fPIC",
                    str(Path(__file__).parent / "host" / "malloc_count.c"), "-o", str(counter)], check=True)
    events = (corpus / "generated" / "setA" / "events.jsonl").read_bytes().splitlines()
    replay = tmp_path / "events.jsonl"
    replay.write_bytes(b"\n".join(events * 5) + b"\n")
    specs_file = tmp_path / "specs.txt"
    specs_file.write_text("\n".join(specs + ["ka.uri.param[command]"]) + "\n")
    proc = subprocess.run([str(host), "-b", "-m", str(len(events) * 2), "-f", str(specs_file), "-p", f"file://{replay}",
                           str(plugin)], capture_output=True, env={**os.environ, "LD_PRELOAD": str(counter)}, timeout=300)
    end = json.loads(proc.stdout.splitlines()[-2])
    assert proc.returncode == 0 and end["events"] == len(events) * 5
    assert end["allocations"] == 0

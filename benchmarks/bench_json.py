"""json plugin benchmark (pytest-benchmark): pytest benchmarks/bench_json.py --benchmark-only

In the project's C host for an extraction-only plugin (tests/host/json_host.c), over
corpus/generated/setA/events.jsonl repeated to >= 100 000 events, one extract call per
field per event as libsinsp makes them, timed in the host thread's CPU time:
(a) the json fields the official k8s_audit_rules.yaml evaluates (RULE_JSON_FIELDS): events/s;
(b) jevt.rawtime alone, which upstream (and so this plugin) answers only after parsing the
    payload: the parse plus one trivial call, hence the share of (a) spent parsing and the
    cost of one pointer field on a parsed event.
"""
import statistics

import pytest

from common import CORPUS
from json_host import bench, compile_json_host, json_plugin_path

SET_A = CORPUS / "generated" / "setA" / "events.jsonl"
# jevt.rawtime (macro kevt) and jevt.value[/stage] (k8s_audit_stages, ResponseStarted) in
# conditions, the other pointers in conditions and outputs of k8s_audit_rules.yaml
RULE_JSON_FIELDS = [
    "jevt.rawtime", "jevt.value[/stage]", "jevt.value[/requestObject/spec/volumes]",
    "jevt.value[/requestObject/spec/tls]", "jevt.value[/requestObject/ephemeralContainers/0/name]",
    "jevt.value[/requestObject/ephemeralContainers/0/image]",
]
ROUNDS = 5


@pytest.fixture(scope="module")
def json_host(tmp_path_factory):
    return compile_json_host(tmp_path_factory.mktemp("json_host"))


@pytest.fixture(scope="module")
def repeats():
    if not SET_A.exists():
        pytest.skip(f"corpus not found: {SET_A}")
    events = sum(1 for line in SET_A.read_bytes().split(b"\n") if line)
    return events, -(-100_000 // events)


def run_rounds(benchmark, json_host, repeats, fields):
    events, repeat = repeats
    seconds = []

    def one_round():
        result = bench(json_host, json_plugin_path(), SET_A, fields, repeat)
        assert result["events"] == events * repeat
        seconds.append(result["thread_cpu_s"] / result["events"])

    benchmark.pedantic(one_round, rounds=ROUNDS)
    return min(seconds), statistics.median(seconds)


def test_a_rule_fields_events_per_second(benchmark, json_host, repeats):
    best, median = run_rounds(benchmark, json_host, repeats, RULE_JSON_FIELDS)
    benchmark.extra_info["events_per_s"] = round(1 / best)
    benchmark.extra_info["us_per_event"] = round(best * 1e6, 3)
    print(f"\n(a) parse + {len(RULE_JSON_FIELDS)} rule fields: best {1 / best:,.0f} events/s per CPU second "
          f"({best * 1e6:.2f} us/event), median {1 / median:,.0f}")


def test_b_parse_share(benchmark, json_host, repeats):
    parse, _ = run_rounds(benchmark, json_host, repeats, RULE_JSON_FIELDS[:1])
    events = repeats[0] * repeats[1]
    full = min(bench(json_host, json_plugin_path(), SET_A, RULE_JSON_FIELDS, repeats[1])["thread_cpu_s"] / events
               for _ in range(ROUNDS))
    per_field = (full - parse) / (len(RULE_JSON_FIELDS) - 1)
    benchmark.extra_info.update(parse_share=round(parse / full, 3), ns_per_pointer_field=round(per_field * 1e9, 1))
    print(f"\n(b) parse (+ jevt.rawtime): {parse * 1e6:.2f} us/event = {100 * parse / full:.0f}% of (a); "
          f"extraction of the other {len(RULE_JSON_FIELDS) - 1} fields: {100 * (1 - parse / full):.0f}%, "
          f"{per_field * 1e9:.0f} ns per field")

"""Extraction benchmarks (pytest-benchmark): pytest benchmarks/bench_extract.py --benchmark-only

(a) extraction only, per field call, on an already parsed event (target <= 50 ns): each
    field asked 20 times per event, as rules repeat fields; from the third time on the
    extractor answers from its per-event result cache;
(a2) the first call of each field on a fresh event (no cache, cold event data), from the
    difference between 20 fields and one;
(b) parse + the 20 rule fields per event over set A repeated to >= 100 000 events, in C++
    (target >= 500 000 events/s on one core);
(c) the same through the Python API.
"""
import itertools
import statistics

import pytest

from common import CORPUS, RULE_FIELDS
from k8saudit_ovh import extract
from k8saudit_ovh._extract import _bench_extract

SET_A = CORPUS / "generated" / "setA" / "events.jsonl"


@pytest.fixture(scope="module")
def events():
    if not SET_A.exists():
        pytest.skip(f"corpus not found: {SET_A}")
    return [line for line in SET_A.read_bytes().split(b"\n") if line]


def test_a_extract_only_ns_per_field(benchmark, events):
    repeat = 20
    seconds = benchmark.pedantic(_bench_extract, args=(events, RULE_FIELDS, repeat, False), rounds=3)
    calls = len(events) * repeat * len(RULE_FIELDS)
    benchmark.extra_info["ns_per_field"] = round(seconds * 1e9 / calls, 1)
    print(f"\n(a) extraction only: {seconds * 1e9 / calls:.1f} ns per field call (target <= 50)")


def test_a2_first_call_ns_per_field(benchmark, events):
    repeat = 10

    def run():
        one = min(_bench_extract(events, RULE_FIELDS[:1], repeat, True) for _ in range(3))
        return min(_bench_extract(events, RULE_FIELDS, repeat, True) for _ in range(3)) - one

    seconds = benchmark.pedantic(run, rounds=1)
    ns = seconds * 1e9 / (len(events) * repeat * (len(RULE_FIELDS) - 1))
    benchmark.extra_info["ns_per_first_call"] = round(ns, 1)
    print(f"\n(a2) first call of a field on a fresh event: {ns:.1f} ns")


def test_b_parse_and_extract_events_per_second(benchmark, events):
    repeat = -(-100_000 // len(events))
    rates = []

    def one_round():
        rates.append(len(events) * repeat / _bench_extract(events, RULE_FIELDS, repeat, True))

    benchmark.pedantic(one_round, rounds=5)
    benchmark.extra_info["events_per_s"] = round(max(rates))
    print(f"\n(b) parse + 20 fields: best {max(rates):,.0f} events/s per CPU second, "
          f"median {statistics.median(rates):,.0f} (the replay benchmark adds reading the file)")


def test_c_python_api_events_per_second(benchmark, events):
    batch = list(itertools.islice(itertools.cycle(events), 20_000))

    def run():
        for e in batch:
            extract(e, RULE_FIELDS)

    benchmark.pedantic(run, rounds=1, iterations=1)
    rate = len(batch) / benchmark.stats.stats.mean
    benchmark.extra_info["events_per_s"] = round(rate)
    print(f"\n(c) Python API, parse + 20 fields: {rate:,.0f} events/s")

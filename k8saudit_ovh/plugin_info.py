"""Static plugin facts the shim answers before init (stdlib only: the build reads it)."""
import json

OPEN_PARAMS = (
    ("gra1.logs.ovh.com/tail/?tk=<token>",
     "An LDP WebSocket tail stream as shown in the OVHcloud console (wss:// is added)"),
    ("wss://gra1.logs.ovh.com/tail/?tk=<token>", "An LDP WebSocket tail stream, full URL"),
    ("prod=wss://gra1.logs.ovh.com/tail/?tk=<t1>,staging=wss://gra2.logs.ovh.com/tail/?tk=<t2>",
     "Several named streams (one per cluster); the name answers ka.cluster.name when the event has none"),
    ("file:///var/log/k8s-audit.jsonl",
     "Replay a file of audit events (JSON Lines of Events, EventLists or arrays) or of LDP frames"),
    ("history:2026-12-01T00:00:00Z..2026-12-02T00:00:00Z",
     "Replay a window of the stream's LDP history (init_config history), in time order, then end; TO optional = now"),
)


def open_params_json() -> str:
    return json.dumps([{"value": v, "desc": d} for v, d in OPEN_PARAMS], separators=(",", ":"))

"""The `k8saudit-ovh` command: try the plugin, follow or check a stream, configure Falco, set up LDP.

Exit codes (every subcommand):
  0    success
  1    the plugin or the stream failed (load, init, open, read); the message says why
  2    usage error
  3    `check` only: connected, but no audit event arrived in time
  130  interrupted (Ctrl-C)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from .. import config
from . import falco_compat, falco_config, highlights
from .._version import VERSION
from . import setup as setup_command
from .demo_server import DemoServer, demo_frames
from .host import Plugin, PluginError, Stream
from ..paths import BUNDLE_DIR, JSON_PLUGIN_LIBRARY, PLUGIN_LIBRARY, PluginNotBuiltError, demo_events_path, plugin_path
from ..redaction import redact

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_NO_EVENTS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

DEFAULT_FIELDS = ["ka.verb", "ka.user.name", "ka.target.resource", "ka.target.namespace", "ka.target.name",
                  "ka.response.code"]
FALCO_PLUGINS_DIR = "/usr/share/falco/plugins"


class _Style:
    """ANSI colours on a terminal only (and not with NO_COLOR)."""

    def __init__(self, stream):
        self.on = stream.isatty() and "NO_COLOR" not in os.environ

    def __call__(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.on else text


def _time(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def _split_fields(values: list[str] | None) -> list[str]:
    """`--fields a,b --fields c[x,y]` → [a, b, c[x,y]]: commas inside [] belong to the argument."""
    out = []
    for value in values or []:
        depth, start = 0, 0
        for i, ch in enumerate(value + ","):
            depth += (ch == "[") - (ch == "]")
            if ch == "," and depth == 0:
                if value[start:i].strip():
                    out.append(value[start:i].strip())
                start = i + 1
    return out


def _skipped(metrics: dict) -> dict[str, int]:
    """Non-zero skip counters by reason: LDP frames (`stream.N.frames_skipped.<reason>`, summed
    over streams), else file lines (`events_skipped.<reason>`)."""
    for pattern in (r"(?:^|\.)frames_skipped\.(\w+)$", r"^events_skipped\.(\w+)$"):
        reasons: dict[str, int] = {}
        for name, value in metrics.items():
            m = re.search(pattern, name)
            if m and value:
                reasons[m.group(1)] = reasons.get(m.group(1), 0) + value
        if reasons:
            return reasons
    return {}


def _reconnects(metrics: dict) -> int:
    return sum(v for k, v in metrics.items() if "reconnect" in k)


# ---- demo -------------------------------------------------------------------------------

def cmd_demo(args) -> int:
    events_path = demo_events_path()
    expected = sum(1 for line in events_path.read_text(encoding="utf-8").splitlines() if line.strip())
    style = _Style(sys.stdout)
    specs = list(dict.fromkeys(highlights.FIELDS + ["ka.target.name", "ka.target.namespace"]))
    with DemoServer(demo_frames(events_path), rate=args.rate, loop=None if args.forever else 1) as server, \
            Plugin(args.plugin, args.config) as plugin:
        print(style("1", f"k8saudit-ovh {plugin.version} demo: {expected} sample MKS audit events from a local "
                         f"LDP stream {redact(server.url())}"), flush=True)
        shown = alerts = 0
        with plugin.open(server.url()) as stream:
            deadline = time.monotonic() + args.timeout
            while args.forever or shown < expected:
                events = stream.next_batch()
                if not events and time.monotonic() > deadline:
                    raise PluginError(f"no event from the demo stream for {args.timeout:g} s")
                for event in events:
                    deadline = time.monotonic() + args.timeout
                    values = plugin.extract(event, specs)
                    rules = highlights.matching_rules(values)
                    shown += 1
                    alerts += bool(rules)
                    print(_demo_line(event.ts, values, rules, style), flush=True)
            skipped = _skipped(plugin.metrics())
        summary = f"{shown} events, {alerts} would trigger official rules"
        if skipped:
            summary += ", frames skipped: " + ", ".join(f"{n} {reason}" for reason, n in skipped.items())
        print(style("1", summary))
    return EXIT_OK


def _demo_line(ts: int, v: dict, rules: list[str], style: _Style) -> str:
    target = v.get("ka.target.resource") or "-"
    if v.get("ka.target.subresource"):
        target += "/" + v["ka.target.subresource"]
    where = "/".join(x for x in (v.get("ka.target.namespace"), v.get("ka.target.name")) if x)
    code = v.get("ka.response.code") or "-"
    line = (f"{_time(ts)}  {v.get('ka.verb') or '-':<7} {v.get('ka.user.name') or '-':<42.42} "
            f"{target:<20} {where:<42.42} {style('31' if code >= '4' else '32', code)}")
    if rules:
        line += "  " + style("1;33", "⚠ " + ", ".join(rules))
    return line


# ---- tail -------------------------------------------------------------------------------

class _StatusLine:
    """events/s, skipped and reconnects on stderr, redrawn in place, on a terminal only."""

    def __init__(self, plugin: Plugin, interval: float = 0.5):
        self.plugin = plugin
        self.on = sys.stderr.isatty()
        self.interval = interval
        self.events = 0
        self._last = (time.monotonic(), 0)

    def clear(self) -> None:
        if self.on:
            sys.stderr.write("\r\033[K")

    def update(self) -> None:
        now = time.monotonic()
        if not self.on or now - self._last[0] < self.interval:
            return
        rate = (self.events - self._last[1]) / (now - self._last[0])
        self._last = (now, self.events)
        metrics = self.plugin.metrics()
        skipped = sum(_skipped(metrics).values())
        sys.stderr.write(f"\r\033[K{self.events} events  {rate:.1f} ev/s  skipped {skipped}  "
                         f"reconnects {_reconnects(metrics)}")
        sys.stderr.flush()


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)([smhd]))")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds of `90s`, `15m`, `2h`, `7d` or a sum such as `1h30m`."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise ValueError(f"--since {text!r}: expected a duration such as 90s, 15m, 2h, 7d or 1h30m")
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def tail_params(args) -> str:
    """The open params of `tail`: the URL, or a history window from --since / --from / --to."""
    if args.since is None and args.start is None:
        if args.to is not None:
            raise ValueError("--to needs --from or --since")
        if not args.url:
            raise ValueError("give a URL, or --since / --from to read history")
        return args.url
    if args.url:
        raise ValueError("--since / --from read the history configured in --config; give no URL with them")
    if args.since is not None and args.start is not None:
        raise ValueError("give --since or --from, not both")
    if args.since is not None:
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - parse_duration(args.since)))
    else:
        start = args.start
    return f"history:{start}" + (f"..{args.to}" if args.to else "")


def cmd_tail(args) -> int:
    specs = _split_fields(args.fields) or DEFAULT_FIELDS
    try:
        params = tail_params(args)
    except ValueError as e:
        print(f"k8saudit-ovh tail: {e}", file=sys.stderr)
        return EXIT_USAGE
    with Plugin(args.plugin, args.config) as plugin:
        for spec in specs:
            plugin.field(spec)  # unknown fields are a usage error, before connecting
        with plugin.open(params) as stream:
            status = _StatusLine(plugin)
            try:
                _follow(plugin, stream, specs, args, status)
            finally:
                status.clear()
    return EXIT_OK


def _follow(plugin: Plugin, stream: Stream, specs: list[str], args, status: _StatusLine) -> None:
    while not stream.eof and (args.max_events is None or status.events < args.max_events):
        for event in stream.next_batch():
            if args.max_events is not None and status.events >= args.max_events:
                break
            values = plugin.extract(event, specs)
            status.events += 1
            status.clear()
            if args.json:
                print(json.dumps({"num": event.num, "ts": event.ts, "values": values}, ensure_ascii=False))
            else:
                print(_time(event.ts), " ".join(f"{k}={_text(values[k])}" for k in specs))
        sys.stdout.flush()
        status.update()


def _text(value) -> str:
    if value is None:
        return "<NA>"
    return "(" + ",".join(value) + ")" if isinstance(value, list) else value


# ---- check ------------------------------------------------------------------------------

def cmd_check(args) -> int:
    url = redact(args.url)
    scheme = args.url.partition("://")[0].lower() if "://" in args.url else "wss"
    with Plugin(args.plugin, args.config) as plugin:
        print(f"source: {url}")
        try:
            stream = plugin.open(args.url)
        except PluginError as exc:
            print(f"FAILED to open: {exc}")
            print(_open_hint(str(exc), scheme))
            return EXIT_FAILURE
        with stream:
            events, metrics, connected = _count_first_frames(plugin, stream, args.frames, args.timeout)
    if scheme in ("ws", "wss") and not connected:
        # plugin_open only fails for what retrying cannot heal; DNS, refused connections
        # and TLS errors are retried, and the reader logged why each attempt failed.
        print(f"FAILED to connect in {args.timeout:g} s (the reason is in the log lines above)")
        print(_open_hint("", scheme))
        return EXIT_FAILURE
    if scheme == "wss":
        print("connected: TLS certificate and host name verified, token accepted")
    elif scheme == "ws":
        print("connected: token accepted (ws:// is NOT encrypted; use wss:// outside tests)")
    skipped = _skipped(metrics)
    print(f"audit events: {events}")
    print(f"skipped: {sum(skipped.values())}" + "".join(f"\n  {reason}: {n}" for reason, n in skipped.items()))
    if _reconnects(metrics):
        print(f"reconnects: {_reconnects(metrics)}")
    if events == 0:
        print("FAILED: no audit event " + (f"in {args.timeout:g} s" if scheme != "file" else "in the file")
              + ". Check that the stream is the one of the MKS cluster's audit logs (LDP 'Audit logs' "
              "subscription), and that the cluster has API activity.")
        return EXIT_NO_EVENTS
    print("OK")
    return EXIT_OK


def _count_first_frames(plugin: Plugin, stream: Stream, frames: int, timeout: float) -> tuple[int, dict, bool]:
    """Audit events, metrics and whether a stream ever connected, once `frames` frames
    arrived (events + skipped), the file ended, or `timeout` passed."""
    events = 0
    deadline = time.monotonic() + timeout
    metrics = plugin.metrics()
    connected = False
    while not stream.eof and time.monotonic() < deadline:
        events += len(stream.next_batch())
        metrics = plugin.metrics()
        connected = connected or metrics.get("streams_connected", 0) > 0
        if events + sum(_skipped(metrics).values()) >= frames:
            break
    return events, metrics, connected


def _open_hint(message: str, scheme: str) -> str:
    text = message.lower()
    if "401" in text or "403" in text or "token" in text:
        return "hint: the token (tk=) was refused; copy the stream's WebSocket URL again from the LDP console"
    if "certificate" in text or "ssl" in text or "tls" in text:
        return ("hint: TLS verification failed; behind an intercepting proxy set init_config caFile "
                "(--config '{\"caFile\": \"/path/ca.pem\"}')")
    if "404" in text:
        return "hint: no such stream; check the host name (e.g. gra1.logs.ovh.com) and the /tail/ path"
    if scheme == "file":
        return "hint: check the path after file:// (absolute: file:///var/log/audit.jsonl)"
    return "hint: check the host name, DNS and that outbound HTTPS (443) is allowed"


# ---- Falco configuration ------------------------------------------------------------------

def cmd_falco_config(args) -> int:
    try:
        falco = falco_compat.lookup(args.falco_version)
    except ValueError as exc:
        print(f"k8saudit-ovh: {exc}", file=sys.stderr)
        return EXIT_USAGE
    config.parse(args.config)  # a bad key or value is a usage error here, not when Falco starts
    settings = json.loads(args.config) if args.config.strip() else None
    sys.stdout.write(falco_config.render(falco, str(_plugin_file(args)), args.url, settings, args.json))
    return EXIT_OK


def cmd_install(args) -> int:
    target = _plugin_file(args)
    plugins_dir = Path(args.plugins_dir)
    # The plugin and the native json plugin beside it.
    links = {plugins_dir / name: target.with_name(name) for name in (PLUGIN_LIBRARY, JSON_PLUGIN_LIBRARY)}
    from_falcoctl = [p for p in (*links, plugins_dir / BUNDLE_DIR) if p.exists() and not p.is_symlink()]
    if from_falcoctl and not args.force:
        # A later `falcoctl artifact install` would write the bundle through our link into
        # this Python's site-packages: the two ways of installing are exclusive.
        print(f"{' and '.join(map(str, from_falcoctl))} {'is' if len(from_falcoctl) == 1 else 'are'} the "
              "self-contained plugin installed by falcoctl, not a link made by this command. The two ways of "
              "installing are exclusive: keep falcoctl's (nothing to do), or remove it and stop falcoctl from "
              "installing or following k8saudit-ovh, then run this again (--force replaces the library with a "
              "link and leaves the rest)", file=sys.stderr)
        return EXIT_FAILURE
    existing = [link for link in links if link.is_symlink() or link.exists()]
    if existing and not args.force:
        print(f"{' and '.join(map(str, existing))} exist{'s' if len(existing) == 1 else ''}; use --force to "
              "replace", file=sys.stderr)
        return EXIT_FAILURE
    plugins_dir.mkdir(parents=True, exist_ok=True)
    for link, library in links.items():
        if link in existing:
            link.unlink()
        link.symlink_to(library)
        print(f"{link} -> {library}")
    return EXIT_OK


def _plugin_file(args) -> Path:
    return Path(args.plugin).resolve() if args.plugin else plugin_path()


# ---- command line -------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="k8saudit-ovh", description="Falco plugin for OVHcloud MKS audit logs read from Logs Data Platform.",
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"k8saudit-ovh {VERSION}")
    parser.add_argument("--plugin-path", action="store_true",
                        help="print the absolute path of the installed libk8saudit-ovh.so and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    plugin_opts = argparse.ArgumentParser(add_help=False)
    plugin_opts.add_argument("--plugin", metavar="SO", help="plugin library to load (default: the installed one)")
    plugin_opts.add_argument("--config", default="{}", metavar="JSON",
                             help="init_config as JSON, as in falco.yaml (default: {})")

    demo = sub.add_parser("demo", parents=[plugin_opts], help="replay sample MKS audit events through the plugin",
                          description="Start a local LDP-compatible WebSocket server replaying sample MKS audit "
                                      "events, follow it through the plugin and print each event, marking those "
                                      "that well-known official rules would alert on. Ends after the last event.")
    demo.add_argument("--forever", action="store_true", help="replay the sample again and again until Ctrl-C")
    demo.add_argument("--rate", type=float, default=8.0, help="frames per second (default: 8; 0: no pacing)")
    demo.add_argument("--timeout", type=float, default=15.0, help="give up after this many seconds without events")
    demo.set_defaults(func=cmd_demo)

    tail = sub.add_parser("tail", parents=[plugin_opts], help="follow an LDP stream (or file://) and print events",
                          description="Follow an LDP tail stream or replay a file:// and print each audit event "
                                      "with the chosen fields. On a terminal a status line shows events/s, "
                                      "skipped frames and reconnects.")
    tail.add_argument("url", metavar="URL", nargs="?",
                      help="LDP tail URL (host/tail/?tk=…, wss://…) or file://PATH; none with --since / --from")
    tail.add_argument("--since", metavar="DURATION",
                      help="replay the last DURATION (90s, 15m, 2h, 7d) of the history in --config, then end")
    tail.add_argument("--from", dest="start", metavar="TIME",
                      help="replay history from this RFC 3339 time (2026-12-01T00:00:00Z), then end")
    tail.add_argument("--to", metavar="TIME", help="end of the --from / --since window (default: now)")
    tail.add_argument("--fields", "-f", action="append", metavar="F[,F…]",
                      help=f"fields to print, e.g. ka.verb,ka.uri.param[command] (default: {','.join(DEFAULT_FIELDS)})")
    tail.add_argument("--json", action="store_true", help='print {"num","ts","values"} JSON lines')
    tail.add_argument("--max-events", "-n", type=int, metavar="N", help="stop after N events")
    tail.set_defaults(func=cmd_tail)

    check = sub.add_parser("check", parents=[plugin_opts], help="check that a stream works and carries audit events",
                           description="Connect (TLS and token verified), wait for the first frames and report "
                                       "how many were audit events and how many were skipped, and why. "
                                       "The token is never printed.")
    check.add_argument("url", metavar="URL", help="LDP tail URL (host/tail/?tk=…, wss://…) or file://PATH")
    check.add_argument("--frames", type=int, default=20, help="frames to wait for (default: 20)")
    check.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for them (default: 30)")
    check.set_defaults(func=cmd_check)

    fc = sub.add_parser("falco-config", parents=[plugin_opts], help="print a falco.yaml for a Falco version",
                        description="Print a falco.yaml that runs this plugin (installed library_path), the json "
                                    "plugin and the official k8s_audit_rules.yaml on the given Falco version: "
                                    "plugin events only, the rules key, ${VAR} and metrics as that version "
                                    "reads them. Comments say how to run Falco.")
    fc.add_argument("--falco-version", default=falco_compat.NEWEST.minor, metavar="X.Y",
                    help=f"Falco version ({', '.join(f.minor for f in falco_compat.SUPPORTED)}; default: "
                         f"{falco_compat.NEWEST.minor})")
    fc.add_argument("--url", help=f"open_params to write (default: \"${{{falco_compat.URL_ENV}}}\", read by "
                                  "Falco >= 0.37 from the environment; a placeholder before)")
    fc.add_argument("--json", choices=falco_config.JSON_PLUGINS, default="native",
                    help="json plugin: native (libk8saudit-ovh-json.so, shipped with this plugin, every Falco; "
                         "default) or upstream (falcosecurity's, the release that Falco version loads)")
    fc.set_defaults(func=cmd_falco_config)

    install = sub.add_parser("install", parents=[plugin_opts], help="symlink the plugin into Falco's plugins dir",
                             description="Create PLUGINS_DIR/libk8saudit-ovh.so and libk8saudit-ovh-json.so "
                                         "pointing to the installed plugin and its native json plugin.")
    install.add_argument("--plugins-dir", default=FALCO_PLUGINS_DIR,
                         help=f"Falco's plugins directory (default: {FALCO_PLUGINS_DIR})")
    install.add_argument("--force", action="store_true",
                         help="replace an existing link, or the library falcoctl installed (then keep falcoctl "
                              "from installing k8saudit-ovh again: it would write through the link)")
    install.set_defaults(func=cmd_install)

    setup_command.add_parser(sub, plugin_opts, tail_check=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.plugin_path:
            print(plugin_path())
            return EXIT_OK
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return args.func(args)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    except ValueError as exc:  # a bad field spec
        print(f"k8saudit-ovh: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (PluginError, PluginNotBuiltError, OSError) as exc:
        print(f"k8saudit-ovh: {redact(str(exc))}", file=sys.stderr)
        return EXIT_FAILURE

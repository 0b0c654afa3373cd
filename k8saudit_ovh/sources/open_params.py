"""Parse the plugin's open params into sources, and keep LDP tokens out of every message.

Open params are a comma-separated list of items, each optionally named ``name=URL``:

    gra1.logs.ovh.com/tail/?tk=TOKEN            bare host/path: ``wss://`` is added
    wss://gra1.logs.ovh.com/tail/?tk=TOKEN      (``ws://`` only to a loopback address: tests)
    file:///var/log/audit.jsonl                 replay a file (read by the plugin, not a stream)
    history:2026-12-01T00:00:00Z..2026-12-02T00:00:00Z
                                                replay a window of the stream's LDP history
                                                (init_config `history`); TO optional = now
    prod=wss://…,staging=gra2.logs.ovh.com/tail/?tk=…
"""

import ipaddress
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl, unquote, urlsplit

from ..redaction import redact, register_secret
from .history.endpoint import is_loopback

__all__ = ["Source", "parse_open_params"]

# A name is a short identifier. A URL item always has `/`, `:` or `?` before its first `=`,
# so `prod=wss://…` is named while `host/tail/?tk=…` is not.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

_STREAM_SCHEMES = ("wss", "ws")
HISTORY_PREFIX = "history:"

# A `${VAR}` that reached the plugin: Falco < 0.37 passes open_params without expanding it.
_UNEXPANDED = re.compile(r"\$\{[^}\s,]*\}?")


@dataclass(frozen=True)
class Source:
    kind: str  # "ws" (LDP WebSocket tail), "file" or "history"
    name: str | None
    url: str = field(repr=False)  # normalized; holds the token: never log it, log `display`

    def __repr__(self) -> str:
        return f"Source(kind={self.kind!r}, name={self.name!r}, display={self.display!r})"

    @property
    def display(self) -> str:
        """`url` redacted with what is known now (a later item's token included)."""
        return redact(self.url)

    @property
    def label(self) -> str:
        """Short name for log lines: the given name, else the redacted URL."""
        return self.name or self.display

    @property
    def window_ms(self) -> tuple[int, int]:
        """(from, to) of a history source, in epoch milliseconds; `to` is now when omitted."""
        if self.kind != "history":
            raise ValueError(f"{self.display} is not a history source")
        start, _, end = self.url[len(HISTORY_PREFIX):].partition("..")
        to_ms = _rfc3339_ms(end, "TO") if end else int(time.time() * 1000)
        return _rfc3339_ms(start, "FROM"), to_ms

    @property
    def path(self) -> str:
        """Filesystem path of a file source."""
        if self.kind != "file":
            raise ValueError(f"{self.display} is not a file source")
        return self.url[len("file://"):]


def parse_open_params(text: str) -> list[Source]:
    """Parse open params; raise ValueError with a token-free message when they cannot work."""
    if not text or not text.strip():
        raise ValueError(
            "empty open params: expected an LDP tail URL such as "
            "gra1.logs.ovh.com/tail/?tk=<token>, a wss:// URL or file://PATH "
            "(Falco >= 0.37 writes an unset ${VAR} as nothing: is the variable set?)"
        )
    unexpanded = _UNEXPANDED.search(text)
    if unexpanded:
        raise ValueError(
            f"open params hold an unexpanded {redact(unexpanded.group(0))}: this Falco does not expand "
            "environment variables (Falco >= 0.37 does); write the URL itself in open_params "
            "(`k8saudit-ovh falco-config --falco-version X.Y --url URL`) or upgrade Falco"
        )
    sources = []
    seen_names = set()
    for number, item in enumerate(text.split(","), start=1):
        source = _parse_item(item.strip(), number)
        if source.name is not None:
            if source.name in seen_names:
                raise ValueError(f"duplicate source name {source.name!r} in open params")
            seen_names.add(source.name)
        sources.append(source)
    return sources


def _parse_item(item: str, number: int) -> Source:
    where = f"open params item {number}"
    if not item:
        raise ValueError(f"{where} is empty (stray comma?)")
    name, url = _split_name(item)
    if url and "://" not in url and not url.startswith(HISTORY_PREFIX) and not _looks_like_a_host(url):
        # Never echo the item, nor its name: it may be the tail of a token cut at a comma.
        raise ValueError(f"{where} is not a stream URL (a ',' inside a token or URL must be written %2C)")
    if name is not None:
        where = f"open params item {number} ({name!r})"
        if not url:
            raise ValueError(f"{where} has a name but no URL")
    if url.startswith(HISTORY_PREFIX):
        source = Source("history", name, url)
        start_ms, end_ms = source.window_ms
        if end_ms < start_ms:
            raise ValueError(f"{where}: {url} ends before it starts")
        return source
    if url.startswith("file://"):
        if len(url) == len("file://"):
            raise ValueError(f"{where}: file:// needs a path")
        return Source("file", name, url)
    url = _normalize_stream_url(url, where)
    return Source("ws", name, url)


def _looks_like_a_host(item: str) -> bool:
    """A bare item starts with a host name that has a dot (gra1.logs.ovh.com), an IP
    address or localhost; the tail of a token cut at a comma rarely does."""
    host = re.split(r"[/?#]", item, maxsplit=1)[0].rpartition("@")[2]
    if host.startswith("["):
        return True
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return host == "localhost" or ("." in host.strip(".") and not host.startswith("."))


def _split_name(item: str) -> tuple[str | None, str]:
    head, sep, rest = item.partition("=")
    if sep and _NAME.fullmatch(head.strip()):
        return head.strip(), rest.strip()
    return None, item


def _normalize_stream_url(url: str, where: str) -> str:
    # Messages redact text as it is shown: repr's escapes can make a `tk=` of "\tk=".
    scheme, sep, _ = url.partition("://")
    if not sep:
        url = "wss://" + url
    elif scheme.lower() not in _STREAM_SCHEMES:
        raise ValueError(
            f"{where}: unknown scheme {redact(repr(scheme))} in {redact(url)} "
            "(expected wss://, ws://, file:// or a bare host/path)"
        )
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise ValueError(f"{where}: malformed URL {redact(repr(url))} (contains whitespace)")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError as exc:
        raise ValueError(f"{where}: malformed URL {redact(url)}: {redact(str(exc))}") from None
    if not parts.hostname:
        raise ValueError(f"{where}: malformed URL {redact(url)} (no host)")
    _register_secrets(parts)
    if parts.scheme.lower() == "ws" and not is_loopback(parts.hostname):
        # ws:// would send the token in cleartext: refused before any connection.
        raise ValueError(
            f"{where}: ws:// is unencrypted and only allowed to a loopback address (localhost, "
            f"127.0.0.0/8, ::1), not to {redact(parts.hostname)}: use wss://{redact(url.partition('://')[2])}"
        )
    # websocket-client only understands lower-case schemes.
    return parts.scheme.lower() + url[len(parts.scheme):]


def _register_secrets(parts) -> None:
    """The token, however its key is written, and a password given in the URL."""
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if unquote(key).lower() == "tk" and value:
            register_secret(value)
    if parts.password:
        register_secret(parts.password)


def _rfc3339_ms(text: str, what: str) -> int:
    """Epoch milliseconds of an RFC 3339 time (with its offset or Z)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(f"history: {what} {text.strip()!r} is not an RFC 3339 time such as 2026-12-01T00:00:00Z")
    return int(moment.timestamp() * 1000)

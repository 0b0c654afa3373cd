"""Parse the plugin's open params into sources, and keep LDP tokens out of every message.

Open params are a comma-separated list of items, each optionally named ``name=URL``:

    gra1.logs.ovh.com/tail/?tk=TOKEN            bare host/path: ``wss://`` is added
    wss://gra1.logs.ovh.com/tail/?tk=TOKEN      (or ``ws://`` for tests on loopback)
    file:///var/log/audit.jsonl                 replay a file (read by the plugin, not a stream)
    prod=wss://…,staging=gra2.logs.ovh.com/tail/?tk=…
"""

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["Source", "parse_open_params", "redact"]

# `tk=` as a query parameter, also percent-encoded (`%3Ftk%3D…`) inside another URL, but not
# `stk=`. The value ends where a query value or a quoted/listed URL ends.
_TOKEN = re.compile(r"(?i)(?:(?<![A-Za-z0-9_])|(?<=%3F)|(?<=%26))(tk(?:=|%3D))[^&\s'\"#,;)\]>]*")

# A name is a short identifier. A URL item always has `/`, `:` or `?` before its first `=`,
# so `prod=wss://…` is named while `host/tail/?tk=…` is not.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

_STREAM_SCHEMES = ("wss", "ws")


def redact(text: str) -> str:
    """Return ``text`` with the value of every ``tk=`` parameter replaced by ``***``."""
    return _TOKEN.sub(r"\1***", text)


@dataclass(frozen=True)
class Source:
    kind: str  # "ws" (LDP WebSocket tail) or "file"
    name: str | None
    url: str = field(repr=False)  # normalized; holds the token: never log it, log `display`
    display: str  # `url` with the token redacted

    @property
    def label(self) -> str:
        """Short name for log lines: the given name, else the redacted URL."""
        return self.name or self.display

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
            "gra1.logs.ovh.com/tail/?tk=<token>, a wss:// URL or file://PATH"
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
    if name is not None:
        where = f"open params item {number} ({name!r})"
        if not url:
            raise ValueError(f"{where} has a name but no URL")
    if url.startswith("file://"):
        if len(url) == len("file://"):
            raise ValueError(f"{where}: file:// needs a path")
        return Source("file", name, url, redact(url))
    url = _normalize_stream_url(url, where)
    return Source("ws", name, url, redact(url))


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
    # websocket-client only understands lower-case schemes.
    return parts.scheme.lower() + url[len(parts.scheme):]

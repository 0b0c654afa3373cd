"""One history endpoint: the OpenSearch API URL of an LDP alias, its credentials and limits."""
from __future__ import annotations

import ipaddress
from base64 import b64encode
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from ...redaction import redact, register_secret

__all__ = ["HistoryEndpoint", "is_loopback"]


@dataclass(frozen=True)
class HistoryEndpoint:
    url: str  # https://host:9200/<alias>
    user: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    overlap_s: float = 10.0
    max_gap_s: float = 86400.0
    fill_wait_s: float = 30.0
    hold_back_s: float = 10.0
    time_field: str = "timestamp"
    short_message_field: str = "short_message"
    message_field: str = "message"
    page_size: int = 1000
    timeout_s: float = 10.0
    max_retries: int = 5  # attempts after the first, for 429, 5xx and connection failures
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    verify_tls: bool = True
    ca_file: str | None = None

    def __post_init__(self):
        if self.password:
            register_secret(self.password)
            register_secret(b64encode(f"{self.user}:{self.password}".encode()).decode())
        parts = self._parts()
        if parts.password:
            register_secret(unquote(parts.password))

    def __repr__(self) -> str:
        return f"HistoryEndpoint({self.display!r})"

    @property
    def display(self) -> str:
        return redact(self.url)

    def _parts(self):
        try:
            parts = urlsplit(self.url)
            _ = parts.port
        except ValueError:
            raise ValueError(f"history url {redact(self.url)!r} is malformed") from None
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"history url {redact(self.url)!r} must be https://<cluster>.logs.ovh.com:9200/<alias>")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError(f"history url {redact(self.url)!r}: http:// is only allowed on loopback; use https://")
        if not parts.path.strip("/"):
            raise ValueError(f"history url {redact(self.url)!r} names no alias: https://host:9200/<alias>")
        return parts

    @property
    def alias(self) -> str:
        return unquote(self._parts().path.strip("/").removesuffix("/_search"))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

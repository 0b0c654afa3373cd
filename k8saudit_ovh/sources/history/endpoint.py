"""One history endpoint: the OpenSearch API URL of an LDP alias, its credentials and limits.

Credentials, one way (init_config validates that): an LDP user and password (HTTP Basic; an
IAM-enabled service also takes user `pat_jwt_<anything>` with an IAM token as password), an
IAM token (`token`, sent as Bearer), or an IAM service account (`client_id`, `client_secret`)
whose OAuth2 token comes from `token_url`. Every secret is registered for redaction here."""
from __future__ import annotations

import ipaddress
from base64 import b64encode
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from ... import config
from ...redaction import redact, register_secret

__all__ = ["HistoryEndpoint", "is_loopback"]

_DEFAULTS = config.DEFAULTS
# A page's bytes (before and after decompression) are capped at this, or at two documents
# of the largest size a document may have if that is more.
_MIN_PAGE_BYTES = 8 << 20


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
    token: str = field(default="", repr=False)  # IAM token, sent as Bearer
    client_id: str = ""  # IAM service account
    client_secret: str = field(default="", repr=False)
    token_url: str = _DEFAULTS["tokenUrl"]
    max_event_size: int = _DEFAULTS["maxEventSize"]  # the plugin's maxEventSize: bounds pages and documents

    def __post_init__(self):
        for secret in (self.password, self.token, self.client_secret):
            if secret:
                register_secret(secret)
        if self.password:
            register_secret(b64encode(f"{self.user}:{self.password}".encode()).decode())
        if self.client_secret:  # the Basic form of the token request
            register_secret(b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode())
        parts = self._parts()
        if parts.password:
            register_secret(unquote(parts.password))
        if self.token and not is_token_text(self.token):
            raise ValueError("history token holds characters no token has (spaces, line breaks, "
                             "non-ASCII): copy it whole and alone")
        if self.client_id:
            self.token_parts()

    @property
    def max_page_bytes(self) -> int:
        """Cap on the bytes of one answer, before and after decompression: at least two
        documents of the largest size (one always fits a page)."""
        return max(_MIN_PAGE_BYTES, 2 * config.max_frame_bytes(self.max_event_size))

    def token_parts(self):
        """The parts of token_url: https, or http on loopback (tests)."""
        return _web_url("tokenUrl", self.token_url, "https://<host>/<path>, e.g. https://www.ovh.com/auth/oauth2/token",
                        userinfo=False)

    def __repr__(self) -> str:
        return f"HistoryEndpoint({self.display!r})"

    @property
    def display(self) -> str:
        return redact(self.url)

    def _parts(self):
        parts = _web_url("url", self.url, "https://<cluster>.logs.ovh.com:9200/<alias>", userinfo=True)
        if not parts.path.strip("/"):
            raise ValueError(f"history url {redact(self.url)!r} names no alias: https://host:9200/<alias>")
        return parts

    @property
    def alias(self) -> str:
        return unquote(self._parts().path.strip("/").removesuffix("/_search"))


def _web_url(key: str, value: str, form: str, userinfo: bool):
    """The parts of a history URL: https, or http on loopback (tests); ValueError naming the
    key (the value redacted) otherwise."""
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        raise ValueError(f"history {key} {redact(value)!r} is malformed") from None
    if parts.scheme not in ("https", "http") or not parts.hostname or (
            not userinfo and (parts.username or parts.password)):
        raise ValueError(f"history {key} {redact(value)!r} must be {form}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(f"history {key} {redact(value)!r}: http:// is only allowed on loopback; use https://")
    return parts


def is_token_text(text: str) -> bool:
    """Visible ASCII only: what fits an Authorization header (RFC 6750 b64token and JWTs)."""
    return text.isascii() and text.isprintable() and " " not in text


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

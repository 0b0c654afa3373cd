"""How history requests authenticate: the Authorization header of each request (an
opensearch-py `http_auth` callable), what to say when history answers 401, and whether a new
credential may heal that.

- LDP user and password: HTTP Basic. An IAM-enabled LDP service also takes user
  `pat_jwt_<anything>` with an IAM token as password: the same header.
- A static IAM token: Bearer, never renewed.
- An IAM service account: its OAuth2 client-credentials token, fetched from the region's token
  endpoint (oauthlib writes the request and reads the answer, errors included; the request is
  bounded like every history request), renewed before it expires and once after a 401.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import urllib3
from oauthlib.oauth2 import BackendApplicationClient, OAuth2Error

from ...redaction import redact, register_secret
from .endpoint import HistoryEndpoint, is_token_text
from .errors import HistoryError
from .transport import BoundedConnection

__all__ = ["Auth", "history_auth"]

# A token answer is a few hundred bytes (a JWT, its type and lifetime).
_TOKEN_ANSWER_BYTES = 64 << 10
# OVHcloud's API grants service accounts the scope "all".
_SCOPE = ["all"]
_CHECK_CLIENT = " (check clientId, clientSecret and tokenUrl)"
# A token is renewed this long before it expires (at most a quarter of its lifetime).
_RENEW_BEFORE_S = 60.0


class Auth:
    """One way to authenticate: a fixed Authorization header."""

    rejected = "the user and password were rejected"

    def __init__(self, header: dict[str, str]):
        self._header = header

    def __call__(self, method: str, url: str, body) -> dict[str, str]:
        return self._header

    def renew(self) -> bool:
        """After a 401: True when the next request will carry a new credential."""
        return False

    def close(self) -> None:
        pass


class _StaticToken(Auth):
    rejected = "the IAM token was rejected (expired, or not allowed to read this LDP service?)"


class _ServiceAccount(Auth):
    rejected = ("the service account's fresh IAM token was rejected (is the account allowed to read this "
                "LDP service?)")

    def __init__(self, endpoint: HistoryEndpoint, stopping: Callable[[], bool]):
        super().__init__({})
        parts = endpoint.token_parts()
        https = parts.scheme == "https"
        self._label = f"IAM token endpoint {redact(endpoint.token_url)}"
        self._path = parts.path + (f"?{parts.query}" if parts.query else "")
        self._oauth = BackendApplicationClient(endpoint.client_id, scope=_SCOPE)
        # The public endpoints of OVHcloud: always verified, against the system's CAs (caFile
        # is for the LDP cluster).
        self._connection = BoundedConnection(
            label=self._label, max_bytes=_TOKEN_ANSWER_BYTES, stopping=stopping, host=parts.hostname,
            port=parts.port or (443 if https else 80), use_ssl=https, verify_certs=True,
            http_auth=(endpoint.client_id, endpoint.client_secret), timeout=endpoint.timeout_s)
        self._renew_at = 0.0  # monotonic time to fetch a new token; 0: none yet

    def __call__(self, method: str, url: str, body) -> dict[str, str]:
        if not self._header or time.monotonic() >= self._renew_at:
            self._fetch()
        return self._header

    def renew(self) -> bool:
        self._header = {}
        return True

    def close(self) -> None:
        self._connection.cut()
        self._connection.close()

    def _fetch(self) -> None:
        from opensearchpy.exceptions import TransportError
        asked = time.monotonic()
        form = self._oauth.prepare_request_body(include_client_id=False).encode()
        try:
            status, _, data = self._connection.perform_request(
                "POST", self._path, body=form, ignore=(400, 401, 403),
                headers={"content-type": "application/x-www-form-urlencoded", "accept": "application/json"})
        except TransportError as exc:
            code = exc.status_code if isinstance(exc.status_code, int) else 0
            raise HistoryError(f"{self._label}: HTTP {code}", retryable=code == 429 or code >= 500) from None
        answered = f"{self._label}: HTTP {status}"
        try:
            token = self._oauth.parse_request_body_response(data.decode("utf-8", "replace"))
        except OAuth2Error as exc:  # the endpoint's own error, e.g. invalid_client
            raise HistoryError(f"{answered}, {str(exc.error)[:60]}{_CHECK_CLIENT}", retryable=False) from None
        except Exception:  # anything else a server may send: not JSON, not an object, absurd values
            token = None
        if status >= 300:
            raise HistoryError(answered + _CHECK_CLIENT, retryable=False)
        access = token.get("access_token") if token is not None else None
        if not isinstance(access, str) or not is_token_text(access):
            raise HistoryError(f"{answered}, an answer without a usable OAuth2 access token")
        if str(token.get("token_type", "Bearer")).lower() != "bearer":
            raise HistoryError(f"{answered}, a token of type {str(token['token_type'])[:20]!r}, not Bearer",
                               retryable=False)
        register_secret(access)
        lifetime = token.get("expires_in")
        lifetime = float(lifetime) if isinstance(lifetime, (int, float)) else float("inf")
        self._renew_at = asked + lifetime - min(_RENEW_BEFORE_S, lifetime / 4)
        self._header = {"authorization": f"Bearer {access}"}


def history_auth(endpoint: HistoryEndpoint, stopping: Callable[[], bool]) -> Auth | None:
    """The way `endpoint` authenticates (None: no credentials)."""
    if endpoint.token:
        return _StaticToken({"authorization": f"Bearer {endpoint.token}"})
    if endpoint.client_id:
        return _ServiceAccount(endpoint, stopping)
    if endpoint.user or endpoint.password:
        return Auth(urllib3.make_headers(basic_auth=f"{endpoint.user}:{endpoint.password}"))
    return None

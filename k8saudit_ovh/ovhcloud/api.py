"""The OVHcloud API as `setup` calls it: python-ovh's client, with credentials from its usual
ovh.conf or OVH_* environment variables (never from the command line). In a dry run every
call is listed and no write call is sent."""
from __future__ import annotations

import json
import time
from typing import Any, Callable
from urllib.parse import quote, urlencode

from ..redaction import redact, register_secret
from .api_calls import Call
from .errors import SetupError
from .forbidden import explain

# The id of an object a dry run would create: calls on it are listed, not sent.
PLANNED = "<new>"
# LDP refuses a write while another operation of the service runs (terraform-provider-ovh
# retries these too): the write is sent again, for at most BUSY_RETRY_S.
BUSY_CLASS = "Client::Forbidden::Busy"
BUSY_RETRY_S, BUSY_DELAY_S = 120.0, 2.0
TIMEOUT_S = (10.0, 60.0)  # python-ovh's (connect, read) timeouts of each call (its default: 180 s)
CREDENTIALS_HELP = ("OVHcloud API credentials come from ovh.conf (./ovh.conf, ~/.ovh.conf, /etc/ovh.conf) or "
                    "the environment: OVH_ENDPOINT (e.g. ovh-eu) with OVH_APPLICATION_KEY, "
                    "OVH_APPLICATION_SECRET and OVH_CONSUMER_KEY, or OVH_CLIENT_ID and OVH_CLIENT_SECRET")


def _shown(path: str) -> str:
    return path.replace(quote(PLANNED, safe=""), PLANNED)


class ApiError(SetupError):
    def __init__(self, call: Call, path: str, status: int | None, message: str, body: dict | None = None):
        body = body or {}
        self.call, self.path, self.status = call, path, status
        self.busy = body.get("class") == BUSY_CLASS
        where = f"{call.method} {path}"
        if status is None:
            text = f"{where}: no answer from the OVHcloud API ({message})"
        elif status == 403 and not self.busy:
            text = f"{where}: 403 forbidden ({message}): {explain(call, body)}"
        else:
            text = f"{where}: HTTP {status} ({message})"
        super().__init__(redact(text))


def make_client():
    """python-ovh's client from ovh.conf / OVH_* variables; its secrets are masked everywhere."""
    import ovh
    try:
        client = ovh.Client(timeout=TIMEOUT_S)
    except ovh.exceptions.APIError as exc:
        raise SetupError(f"{redact(str(exc))}. {CREDENTIALS_HELP}") from None
    for secret in (getattr(client, name, None) for name in ("_application_secret", "_consumer_key", "_client_secret")):
        if secret:
            register_secret(secret)
    return client


class Api:
    def __init__(self, client, *, dry_run: bool = False, say: Callable[[str], None] = print):
        self.client = client
        self.dry_run = dry_run
        self.say = say

    def get(self, call: Call, query: dict | None = None, **ids: str) -> Any:
        path = call.path(**ids) + (f"?{urlencode(query)}" if query else "")
        if PLANNED in ids.values():
            self.say(f"  would call {call.method} {_shown(path)}  (after the calls above)")
            return None
        if self.dry_run:
            self.say(f"  {call.method} {path}")
        return self._send(call, path, None)

    def write(self, call: Call, body: dict, **ids: str) -> Any:
        """The answer, or None in a dry run (the call is only listed)."""
        path = call.path(**ids)
        if self.dry_run:
            self.say(f"  would call {call.method} {_shown(path)} {redact(json.dumps(body))}")
            return None
        deadline = time.monotonic() + BUSY_RETRY_S
        while True:
            try:
                return self._send(call, path, body)
            except ApiError as exc:
                if not exc.busy or time.monotonic() + BUSY_DELAY_S > deadline:
                    raise
                self.say(f"  LDP is busy with another operation; {call.method} {path} again in {BUSY_DELAY_S:g} s")
                time.sleep(BUSY_DELAY_S)

    def _send(self, call: Call, path: str, body: dict | None) -> Any:
        import ovh
        try:
            return self.client.call(call.method, path, body)
        except ovh.exceptions.APIError as exc:
            # python-ovh keeps the answer: its status and JSON body (class, errorCode, details)
            response = getattr(exc, "response", None)
            status = response.status_code if response is not None else None
            message = ": ".join(str(a) for a in exc.args) or type(exc).__name__
            raise ApiError(call, path, status, message, _body(response)) from None


def _body(response) -> dict:
    try:
        body = response.json()
    except (AttributeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}

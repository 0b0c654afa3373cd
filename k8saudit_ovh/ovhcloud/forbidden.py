"""What a 403 of the OVHcloud API means, and what to do about it.

Two different causes answer 403:
- the API key itself (python-ovh raises these with the answer's `errorCode`): the consumer
  key's access rules do not cover the call, or the key is unknown, expired or not validated.
  No IAM policy fixes them.
- an IAM policy that does not grant the call's action(s): the answer names them in
  `details.unauthorizedActionsByIAM` (OVHcloud's IAM troubleshooting guide); actions the
  credential itself may not use are in `details.unauthorizedActionsByAuthentication`.
"""
from __future__ import annotations

import re

from .api_calls import Call

# errorCode -> what to do. The key's access rules are the paths and methods granted when the
# consumer key was requested (POST /auth/credential).
API_KEY_ERRORS = {
    "NOT_GRANTED_CALL": "the access rules of the consumer key do not allow this call: request a new consumer key "
                        "whose rules include {rule} (a rule such as {method} /* covers every {method})",
    "INVALID_CREDENTIAL": "the consumer key is not valid (expired, revoked, or never validated at its validationUrl): "
                          "request a new one and validate it",
    "NOT_CREDENTIAL": "the consumer key does not exist: check OVH_CONSUMER_KEY (or consumer_key in ovh.conf)",
    "INVALID_KEY": "the application key is not valid: check OVH_APPLICATION_KEY (or application_key in ovh.conf)",
}


def _actions(value) -> list[str]:
    """The action names of a `details` entry: a string (comma or space separated) or a list."""
    items = value if isinstance(value, list) else re.split(r"[,\s]+", str(value or ""))
    return [str(item).strip() for item in items if str(item).strip()]


def _listed(actions: list[str]) -> str:
    return f"action{'s' if len(actions) > 1 else ''}: {', '.join(actions)}"


def explain(call: Call, body: dict) -> str:
    """The text after `METHOD path: 403 forbidden (message)`."""
    code = str(body.get("errorCode") or "")
    if code in API_KEY_ERRORS:
        advice = API_KEY_ERRORS[code].format(rule=f"{call.method} {re.sub(r'[{][^}]+[}]', '*', call.template)}",
                                             method=call.method)
        return f"the API key, not an IAM policy ({code}): {advice}"
    details = body.get("details") if isinstance(body.get("details"), dict) else {}
    by_credential = _actions(details.get("unauthorizedActionsByAuthentication"))
    if by_credential:
        return (f"the API key's own scope does not allow the {_listed(by_credential)}: use a key (or service "
                "account) allowed to make this call")
    by_iam = _actions(details.get("unauthorizedActionsByIAM"))
    if by_iam:
        return f"an IAM policy must grant this identity the missing {_listed(by_iam)}"
    return f"the answer names no missing action; this call needs the IAM {_listed(list(call.actions))}"

"""The LDP service: which one, whether it can be used, and how its OpenSearch API
authenticates (IAM-enabled services: IAM tokens, aliases named after the service; legacy
services: the LDP username and password, aliases named after the username)."""
from __future__ import annotations

from dataclasses import dataclass

from . import api_calls as calls
from .choose import choose, listing
from .errors import SetupError
from .run import Run

USABLE = "ENABLED"  # TO_CONFIG: never configured in the Control Panel; DISABLED: suspended


@dataclass(frozen=True)
class Service:
    name: str          # ldp-xx-NNNNN
    display_name: str
    username: str      # logs-xx-NNNNN: the legacy credentials' user
    iam: bool          # isIamEnabled

    @property
    def alias_prefix(self) -> str:
        """What LDP puts before `-a-<suffix>` in an alias name."""
        return self.name if self.iam else self.username


def find_service(run: Run, wanted: str | None) -> Service:
    """The service named by id or display name (default: the account's only usable one)."""
    answers = {name: run.api.get(calls.GET_SERVICE, serviceName=name) for name in run.api.get(calls.LIST_SERVICES)}
    state = {name: str(a.get("state")) for name, a in answers.items()}
    choices = [(name, a.get("displayName") or name) for name, a in answers.items()]
    if not wanted:
        usable = [c for c in choices if state[c[0]] == USABLE]
        if choices and not usable:
            raise SetupError("no usable LDP service in this account: "
                             + ", ".join(f"{listing([c])} is {state[c[0]]}" for c in choices) + _STATE_HINT)
        choices = usable
    name, display = choose("LDP service", "--ldp", wanted, choices, "this account")
    if state[name] != USABLE:
        raise SetupError(f"LDP service {listing([(name, display)])} is {state[name]}" + _STATE_HINT)
    answer = answers[name]
    return Service(name, display, str(answer.get("username") or ""), answer.get("isIamEnabled") is True)


_STATE_HINT = (" (TO_CONFIG: finish its configuration in the OVHcloud Control Panel; DISABLED: it is suspended); "
               f"setup uses a service in state {USABLE}")

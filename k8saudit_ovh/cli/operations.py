"""Waiting for LDP's asynchronous operations (/dbaas/logs/{serviceName}/operation/{id}), with a
progress display and a timeout. States as ovh/terraform-provider-ovh reads them."""
from __future__ import annotations

import sys
import time

from .api_calls import GET_OPERATION
from .errors import SetupError
from .ovh_api import Api

PENDING_STATES = {"PENDING", "RECEIVED", "STARTED", "RETRY", "RUNNING"}
FIRST_POLL_S, MAX_POLL_S = 0.5, 5.0


class Progress:
    """One line per operation on stderr: redrawn in place on a terminal, else a line per new state."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last = None

    def update(self, what: str, state: str, elapsed: float) -> None:
        if self.tty:
            self.stream.write(f"\r\033[K  {what}: {state} ({elapsed:.0f} s)")
        elif state != self._last:
            self.stream.write(f"  {what}: {state}\n")
        self._last = state
        self.stream.flush()

    def end(self) -> None:
        if self.tty:
            self.stream.write("\n")
        self._last = None


def wait(api: Api, service: str, operation_id: str, what: str, timeout: float, progress: Progress) -> dict:
    """The operation once it succeeded; SetupError when it failed or outlived `timeout`."""
    start = time.monotonic()
    delay = FIRST_POLL_S
    try:
        while True:
            operation = api.get(GET_OPERATION, serviceName=service, operationId=operation_id)
            state = str(operation.get("state"))
            elapsed = time.monotonic() - start
            progress.update(what, state, elapsed)
            if state == "SUCCESS":
                return operation
            if state not in PENDING_STATES:
                raise SetupError(f"{what}: LDP operation {operation_id} of {service} ended {state}")
            if elapsed + delay > timeout:
                raise SetupError(f"{what}: LDP operation {operation_id} of {service} still {state} after "
                                 f"{elapsed:.0f} s (--operation-timeout {timeout:g}); it may finish later: "
                                 "run setup again then")
            time.sleep(delay)
            delay = min(delay * 1.5, MAX_POLL_S)
    finally:
        progress.end()

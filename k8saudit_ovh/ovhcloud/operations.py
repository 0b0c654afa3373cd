"""Waiting for what the OVHcloud API does in the background: LDP's asynchronous operations
(/dbaas/logs/{serviceName}/operation/{id}, states as ovh/terraform-provider-ovh reads them)
and an MKS cluster's status, with a progress display and a timeout."""
from __future__ import annotations

import sys
import time
from typing import Callable

from .api_calls import GET_OPERATION
from .api import Api
from .errors import SetupError

PENDING_STATES = {"PENDING", "RECEIVED", "STARTED", "RETRY", "RUNNING"}
FIRST_POLL_S, MAX_POLL_S = 0.5, 5.0


class Progress:
    """One line per wait on stderr: redrawn in place on a terminal, else a line per new state."""

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


def poll(read: Callable[[], str], what: str, subject: str, *, done: str, pending: set[str], timeout: float,
         progress: Progress, first_delay: float = 0.0) -> None:
    """Reads the state of `subject` until it is `done`, backing off from FIRST_POLL_S to
    MAX_POLL_S; SetupError when it leaves `pending` otherwise or outlives `timeout`."""
    start = time.monotonic()
    delay = FIRST_POLL_S
    time.sleep(first_delay)
    try:
        while True:
            state = read()
            elapsed = time.monotonic() - start
            progress.update(what, state, elapsed)
            if state == done:
                return
            if state not in pending:
                raise SetupError(f"{what}: {subject} ended {state}")
            if elapsed + delay > timeout:
                raise SetupError(f"{what}: {subject} still {state} after {elapsed:.0f} s (--operation-timeout "
                                 f"{timeout:g}); it may finish later: run setup again then")
            time.sleep(delay)
            delay = min(delay * 1.5, MAX_POLL_S)
    finally:
        progress.end()


def wait(api: Api, service: str, operation_id: str, what: str, timeout: float, progress: Progress) -> dict:
    """The LDP operation once it succeeded; SetupError when it failed or outlived `timeout`."""
    last: dict = {}

    def read() -> str:
        last.clear()
        last.update(api.get(GET_OPERATION, serviceName=service, operationId=operation_id))
        return str(last.get("state"))
    poll(read, what, f"LDP operation {operation_id} of {service}", done="SUCCESS", pending=PENDING_STATES,
         timeout=timeout, progress=progress)
    return last

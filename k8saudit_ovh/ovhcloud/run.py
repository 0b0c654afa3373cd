"""One run of `setup` (or of `setup --check`): the API, its limits, and what it changed."""
from __future__ import annotations

from dataclasses import dataclass, field

from .api import Api, ApiError
from .errors import SetupError
from .operations import Progress, wait


@dataclass
class Run:
    api: Api
    operation_timeout: float
    assume_yes: bool = False  # --yes: change an existing stream without asking
    progress: Progress = field(default_factory=Progress)
    created: list[str] = field(default_factory=list)  # what this run created or changed, in order

    def operation(self, answer: dict | None, service: str, what: str) -> dict:
        """Waits for the operation a write answered; {} in a dry run (nothing was sent)."""
        if answer is None:
            return {}
        return wait(self.api, answer.get("serviceName") or service, answer["operationId"], what,
                    self.operation_timeout, self.progress)


def not_found(exc: ApiError, text: str) -> SetupError:
    """A 404 said in the user's words; any other error as it is."""
    return SetupError(f"{text} ({exc})") if exc.status == 404 else exc

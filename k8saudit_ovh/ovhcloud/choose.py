"""Picking one object by name or id: the only match, an interactive pick on a terminal, or an
error that lists the choices; and asking before changing what the user already has."""
from __future__ import annotations

import sys

from .errors import SetupError

Choice = tuple[str, str]  # (id, name)


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def listing(choices: list[Choice]) -> str:
    return ", ".join(f"{name} ({id_})" if name != id_ else id_ for id_, name in choices)


def matching(wanted: str, choices: list[Choice]) -> list[Choice]:
    """By id first, then by exact name, then by name ignoring case."""
    return ([c for c in choices if c[0] == wanted] or [c for c in choices if c[1] == wanted]
            or [c for c in choices if c[1].lower() == wanted.lower()])


def choose(kind: str, option: str, wanted: str | None, choices: list[Choice], where: str) -> Choice:
    if wanted:
        found = matching(wanted, choices)
        if not found:
            raise SetupError(f"unknown {kind} '{wanted}' in {where}; "
                             + (f"there: {listing(choices)}" if choices else f"{where} has none"))
    else:
        found = choices
        if not found:
            raise SetupError(f"no {kind} in {where}")
    if len(found) == 1:
        return found[0]
    if interactive():
        return _ask(kind, found)
    raise SetupError(f"{len(found)} {kind}s in {where} match: {listing(found)}; pick one with {option} NAME|ID")


def _ask(kind: str, found: list[Choice]) -> Choice:
    for number, choice in enumerate(found, 1):
        print(f"  {number}. {listing([choice])}", file=sys.stderr)
    while True:
        print(f"which {kind}? [1-{len(found)}] ", end="", file=sys.stderr, flush=True)
        answer = sys.stdin.readline()
        if not answer:
            raise SetupError(f"no {kind} chosen")
        if answer.strip().isdigit() and 1 <= int(answer) <= len(found):
            return found[int(answer) - 1]


def confirm(change: str, assume_yes: bool) -> None:
    """Goes on when `change` is accepted: --yes, or `y` on a terminal; SetupError otherwise
    (saying what would change)."""
    if assume_yes:
        return
    if not interactive():
        raise SetupError(f"{change}; not done: this is not a terminal to ask on (pass --yes to accept)")
    print(f"{change}. Go on? [y/N] ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise SetupError(f"{change}; not done: not accepted")

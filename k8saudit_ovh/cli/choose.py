"""Picking one object by name or id: the only match, an interactive pick on a terminal, or an
error that lists the choices."""
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

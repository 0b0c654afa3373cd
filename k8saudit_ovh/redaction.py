"""Keep secrets out of every text the plugin emits: log lines, errors, reprs.

Two nets, both applied by `redact()`:
- by form: the value of a `tk=` query parameter (its key percent-encoded too, as in
  `t%6B=`, or inside a percent-encoded URL), and the password of `user:password@host`;
- by value: every secret the plugin was given (tokens, passwords) is registered when the
  open params or the config are read, and any later occurrence of it is masked, whatever
  a server or a proxy wraps around it (a status line that echoes the request, say).

Every logger of the package comes from `logger()`, whose records are redacted where they
are made, before any handler (ours, Falco's stderr, or a host program's) sees them.
"""

import logging
import re
import threading
from urllib.parse import quote, unquote

__all__ = ["MASK", "logger", "redact", "register_secret"]

MASK = "***"

# The key `tk` with any of its letters percent-encoded, then `=` or `%3D`, as a query
# parameter (after a non-word character, `%3F` or `%26`): its value runs to the end of the
# parameter, of a quoted or listed URL, or of the line.
_TK_KEY = r"(?:t|%74|%54)(?:k|%6b|%4b)"
_TOKEN = re.compile(r"(?i)((?:(?<![A-Za-z0-9_])|(?<=%3F)|(?<=%26))" + _TK_KEY + r"(?:=|%3D))"
                    r"[^&\s'\"#,;)\]>]*")
# `scheme://user:password@` (also when the scheme is missing: `user:password@host`).
_USERINFO = re.compile(r"((?:^|[\s'\"(=,]|//)[^\s/@:'\"]*:)[^\s/@'\"]*(?=@)")

# Shorter values would mask ordinary words; the form-based net still covers them.
_MIN_SECRET_LEN = 6
# A process holds a few secrets (one token per stream, a password or two); the oldest are
# forgotten past this, so that reopening with new tokens forever costs nothing.
_MAX_SECRETS = 256
_secrets: dict[str, None] = {}  # insertion-ordered
_secrets_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Mask `value` (and its percent-encoded and decoded forms) in every later text."""
    forms = {value, unquote(value), quote(value, safe="")}
    with _secrets_lock:
        for form in forms:
            # A value holding the mask's character could match masked text: redacting twice
            # would then differ from once (tokens and passwords seldom hold one).
            if len(form) >= _MIN_SECRET_LEN and "*" not in form:
                _secrets.pop(form, None)
                _secrets[form] = None
        while len(_secrets) > _MAX_SECRETS:
            del _secrets[next(iter(_secrets))]


def redact(text: str) -> str:
    """`text` with every registered secret, token and password replaced by ***.

    Secrets first: what they leave can still be matched by form, while no secret holds the
    mask, so redacting twice gives what redacting once does."""
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)  # a secret that holds another, whole
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _TOKEN.sub(r"\1" + MASK, text)
    return _USERINFO.sub(r"\1" + MASK, text)


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:  # a traceback would print the exception's text unredacted
            record.msg += f" ({record.exc_info[0].__name__})"
            record.exc_info = None
        return True


_FILTER = _RedactingFilter()


def logger(name: str) -> logging.Logger:
    """The package's logger `name`, redacting every record it makes."""
    log = logging.getLogger(name)
    if _FILTER not in log.filters:
        log.addFilter(_FILTER)
    return log

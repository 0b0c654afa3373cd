"""The errors of reading LDP history."""
from __future__ import annotations

from ...redaction import redact

__all__ = ["HistoryAnswerTooLarge", "HistoryError"]


class HistoryError(Exception):
    """History cannot be read now; `reason` is redacted and says why. `retryable` is
    False for what retrying cannot heal (credentials, URL)."""

    def __init__(self, reason: str, retryable: bool = True):
        reason = redact(reason)
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class HistoryAnswerTooLarge(HistoryError):
    """An answer over the bounds of one page: bytes before or after decompression
    (HistoryEndpoint.max_page_bytes; dropped unread past the cap), or values. Asking the same
    again cannot heal it; asking for fewer documents (the cursor halves its page) may."""

    def __init__(self, reason: str):
        super().__init__(reason, retryable=False)

"""Search requests to one alias: each bounded (transport.py: one deadline, a byte cap, cut
short by stop or close), authenticated (auth.py), retried with backoff for what can heal
(429, 5xx, no answer in time), a clear HistoryError for what cannot (401, 403, 404)."""
from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from urllib.parse import quote

from ...redaction import logger
from .documents import Document
from .endpoint import HistoryEndpoint
from .errors import HistoryError

__all__ = ["HistoryClient"]

# opensearch-py logs every request (URL and status) at INFO: kept out of Falco's log, and
# whatever it does log is redacted.
logger("opensearch").setLevel("ERROR")

_NO_CREDENTIALS = "credentials needed: user/password, token, or clientId/clientSecret"
# How often a backoff looks at close() (stop ends it at once).
_CLOSE_POLL_S = 0.1


class HistoryClient:
    """Reads time windows of one alias. Counts requests and errors (read by metrics).
    `stop` (set by the owner) and close() cut a request in flight short."""

    def __init__(self, endpoint: HistoryEndpoint, stop: threading.Event | None = None):
        # Imported here: only instances with history pay for opensearch-py and oauthlib.
        from .auth import history_auth
        from .transport import BoundedConnection

        self.endpoint = endpoint
        self._stop = stop or threading.Event()
        self._closed = threading.Event()
        self.requests = 0
        self.errors = 0
        parts = endpoint._parts()
        self._auth = history_auth(endpoint, self._stopping)
        options = {"host": parts.hostname, "port": parts.port or 9200, "timeout": endpoint.timeout_s,
                   "http_compress": True, "http_auth": self._auth}
        if parts.scheme == "https":
            options.update(use_ssl=True, verify_certs=endpoint.verify_tls, ssl_show_warn=False)
            if endpoint.ca_file:
                options["ca_certs"] = endpoint.ca_file
        self._connection = BoundedConnection(label=endpoint.display, max_bytes=endpoint.max_page_bytes,
                                             stopping=self._stopping, **options)
        self._path = f"/{quote(endpoint.alias, safe='')}/_search"

    def __repr__(self) -> str:
        return f"<HistoryClient {self.endpoint.display}>"

    @property
    def thread_errors(self) -> int:
        """Request watchdogs that failed (each logged)."""
        return self._connection.thread_errors

    def close(self) -> None:
        """Ends the client, from any thread: a request in flight fails at once."""
        self._closed.set()
        self._connection.cut()
        if self._auth is not None:
            self._auth.close()
        self._connection.close()

    def _stopping(self) -> bool:
        return self._stop.is_set() or self._closed.is_set()

    def read(self, start_ms: int, end_ms: int) -> Iterator[Document]:
        """Documents with start_ms <= time <= end_ms, in time order, each once."""
        from .cursor import HistoryCursor  # the cursor pages through this client
        return HistoryCursor(self, start_ms).read_until(end_ms)

    def search(self, body: dict) -> bytes:
        """The raw JSON body of the `_search` answer to `body`, decompressed (documents.py
        reads it). Raises HistoryError, HistoryAnswerTooLarge past endpoint.max_page_bytes."""
        from opensearchpy.exceptions import (AuthenticationException, AuthorizationException, NotFoundError,
                                             TransportError)
        e = self.endpoint
        payload = json.dumps(body).encode()
        delay = e.backoff_initial_s
        attempts, renewed = 0, False
        while True:
            attempts += 1
            self.requests += 1
            try:
                return self._connection.perform_request(
                    "POST", self._path, body=payload, headers={"content-type": "application/json"})[2]
            except AuthenticationException:
                self.errors += 1
                if not renewed and self._auth is not None and self._auth.renew():
                    renewed = True  # once, with a fresh token; not an attempt of its own
                    attempts -= 1
                    continue
                rejected = self._auth.rejected if self._auth else _NO_CREDENTIALS
                raise HistoryError(f"{e.display}: HTTP 401, {rejected}", retryable=False) from None
            except AuthorizationException:
                self.errors += 1
                raise HistoryError(f"{e.display}: HTTP 403, these credentials may not read the alias",
                                   retryable=False) from None
            except NotFoundError:
                self.errors += 1
                raise HistoryError(f"{e.display}: HTTP 404, no such alias", retryable=False) from None
            except TransportError as exc:
                self.errors += 1
                status = exc.status_code if isinstance(exc.status_code, int) else 0
                reason = f"{e.display}: HTTP {status}"
                if status != 429 and status < 500:
                    raise HistoryError(f"{reason}, the request was refused", retryable=False) from None
            except HistoryError as exc:  # no answer in time, cut short, too large, a token not had
                self.errors += 1
                if not exc.retryable:
                    raise
                reason = exc.reason
            except Exception as exc:  # an answer that is not OpenSearch's
                self.errors += 1
                raise HistoryError(f"{e.display}: unexpected answer ({type(exc).__name__})") from None
            if attempts > e.max_retries or self._pause(random.uniform(delay / 2, delay)):
                break
            delay = min(delay * 2, e.backoff_max_s)  # capped exponential backoff, with jitter
        raise HistoryError(f"{reason} (after {attempts} attempts)")

    def _pause(self, seconds: float) -> bool:
        """Waits `seconds`; True when stopped or closed meanwhile."""
        until = time.monotonic() + seconds
        while not self._stop.wait(min(_CLOSE_POLL_S, max(0.0, until - time.monotonic()))):
            if self._closed.is_set():
                return True
            if time.monotonic() >= until:
                return False
        return True

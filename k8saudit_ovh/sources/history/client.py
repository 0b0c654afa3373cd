"""Search requests to one alias through opensearch-py: retries with backoff for what can
heal (429, 5xx, no answer), a clear HistoryError for what cannot (401, 403, 404)."""
from __future__ import annotations

import json
import random
import threading
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


class HistoryClient:
    """Reads time windows of one alias. Counts requests and errors (read by metrics)."""

    def __init__(self, endpoint: HistoryEndpoint, stop: threading.Event | None = None):
        from opensearchpy import OpenSearch  # imported here: only instances with history pay for it

        self.endpoint = endpoint
        self._stop = stop or threading.Event()
        self.requests = 0
        self.errors = 0
        parts = endpoint._parts()
        options = {"timeout": endpoint.timeout_s, "max_retries": 0, "retry_on_timeout": False,
                   "http_compress": True}
        if parts.scheme == "https":
            options.update(use_ssl=True, verify_certs=endpoint.verify_tls, ssl_show_warn=False)
            if endpoint.ca_file:
                options["ca_certs"] = endpoint.ca_file
        if endpoint.user or endpoint.password:
            options["http_auth"] = (endpoint.user, endpoint.password)
        self._client = OpenSearch(
            hosts=[{"host": parts.hostname, "port": parts.port or 9200, "scheme": parts.scheme}], **options)
        self._path = f"/{quote(endpoint.alias, safe='')}/_search"

    def __repr__(self) -> str:
        return f"<HistoryClient {self.endpoint.display}>"

    def close(self) -> None:
        self._client.close()

    def read(self, start_ms: int, end_ms: int) -> Iterator[Document]:
        """Documents with start_ms <= time <= end_ms, in time order, each once."""
        from .cursor import HistoryCursor  # the cursor pages through this client
        return HistoryCursor(self, start_ms).read_until(end_ms)

    def search(self, body: dict) -> bytes:
        """The raw JSON body of the `_search` answer to `body` (documents.py reads it)."""
        from opensearchpy.exceptions import (AuthenticationException, AuthorizationException,
                                             ConnectionError, NotFoundError, TransportError)
        e = self.endpoint
        delay = e.backoff_initial_s
        for attempt in range(e.max_retries + 1):
            self.requests += 1
            try:
                connection = self._client.transport.get_connection()
                _, _, data = connection.perform_request(
                    "POST", self._path, body=json.dumps(body).encode(), headers={"content-type": "application/json"})
                return data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
            except AuthenticationException:
                self.errors += 1
                raise HistoryError(f"{e.display}: HTTP 401, the user and password were rejected", retryable=False) from None
            except AuthorizationException:
                self.errors += 1
                raise HistoryError(f"{e.display}: HTTP 403, this user may not read the alias", retryable=False) from None
            except NotFoundError:
                self.errors += 1
                raise HistoryError(f"{e.display}: HTTP 404, no such alias", retryable=False) from None
            except ConnectionError as exc:  # also ConnectionTimeout and TLS errors
                self.errors += 1
                reason = f"{e.display}: cannot connect ({type(exc).__name__})"
            except TransportError as exc:
                self.errors += 1
                status = exc.status_code if isinstance(exc.status_code, int) else 0
                reason = f"{e.display}: HTTP {status}"
                if status != 429 and status < 500:
                    raise HistoryError(f"{reason}, the request was refused", retryable=False) from None
            except Exception as exc:  # an answer that is not OpenSearch's
                self.errors += 1
                raise HistoryError(f"{e.display}: unexpected answer ({type(exc).__name__})") from None
            if attempt == e.max_retries:
                break
            # Capped exponential backoff with jitter; stop() cuts it short.
            if self._stop.wait(random.uniform(delay / 2, delay)):
                break
            delay = min(delay * 2, e.backoff_max_s)
        raise HistoryError(f"{reason} (after {attempt + 1} attempts)")

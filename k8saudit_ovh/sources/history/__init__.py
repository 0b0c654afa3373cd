"""Read the stored history of an LDP stream through the OpenSearch API of its alias
(`https://<cluster>.logs.ovh.com:9200/<alias>/_search`), with the official opensearch-py
client: the endpoint and its credentials, the client (requests, retries), the stored
documents, and the cursor that pages a time window in order. Every request is bounded
(transport.py) and authenticated one of three ways (auth.py)."""
from .client import HistoryClient
from .cursor import MAX_RESULT_WINDOW, HistoryCursor
from .documents import SKIP_REASONS, Document, SkipCounts, parse_time_ms, source_field
from .endpoint import HistoryEndpoint, is_loopback
from .errors import HistoryAnswerTooLarge, HistoryError

__all__ = ["Document", "HistoryAnswerTooLarge", "HistoryClient", "HistoryCursor", "HistoryEndpoint", "HistoryError",
           "MAX_RESULT_WINDOW", "SKIP_REASONS", "SkipCounts", "is_loopback", "parse_time_ms", "source_field"]

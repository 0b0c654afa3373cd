"""Does the alias's OpenSearch `_search` answer with the history's credential, and how many
documents did it store in the last hour? (`setup --check`)"""
from __future__ import annotations

import json
import time

from .. import config
from ..redaction import redact
from .credentials import Credential, LdpPassword

TIME_FIELD = next(k.default for k in config.HISTORY_KEYS if k.name == "timeField")
QUERY = {"size": 0, "track_total_hits": True, "query": {"range": {TIME_FIELD: {"gte": "now-1h"}}}}
MAX_ANSWER_BYTES = 1 << 20  # the answer of a size-0 query is a few hundred bytes


def documents_last_hour(base_url: str, credential: Credential, timeout: float = 20.0) -> int:
    """The count; RuntimeError saying why when `_search` does not answer with one."""
    from requests import RequestException
    deadline = time.monotonic() + timeout
    try:
        session = credential.session(timeout)
        with session, session.post(f"{base_url}/_search", json=QUERY, timeout=timeout, stream=True) as response:
            if response.status_code in (401, 403):
                raise RuntimeError(f"HTTP {response.status_code} ({_refused(credential)})")
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}")
            answer = json.loads(_read(response, deadline))
    except RequestException as exc:
        raise RuntimeError(redact(str(exc))) from None
    except ValueError:
        raise RuntimeError("the answer is not JSON") from None
    hits = answer.get("hits") if isinstance(answer, dict) else None
    total = hits.get("total") if isinstance(hits, dict) else None
    count = total.get("value") if isinstance(total, dict) else total
    if not isinstance(count, int):
        raise RuntimeError("the answer has no 'hits.total'")
    return count


def _read(response, deadline: float) -> bytes:
    """The body, within the deadline and MAX_ANSWER_BYTES."""
    body = bytearray()
    for chunk in response.iter_content(65536):
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            raise RuntimeError(f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
        if time.monotonic() > deadline:
            raise RuntimeError("no complete answer in time")
    return bytes(body)


def _refused(credential: Credential) -> str:
    if isinstance(credential, LdpPassword):
        return "the LDP username or password was refused"
    return "the IAM token was refused, or its identity may not read this alias"

"""Does the alias's OpenSearch `_search` answer with the LDP credentials? (`setup --check`)"""
from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

from ..redaction import redact

QUERY = {"size": 0, "query": {"match_all": {}}}


def search_answers(base_url: str, user: str, password: str, timeout: float = 20.0) -> str:
    """A short description of the answer when `_search` works; raises RuntimeError otherwise."""
    request = urllib.request.Request(
        f"{base_url}/_search", data=json.dumps(QUERY).encode(), method="POST",
        headers={"Content-Type": "application/json",
                 "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        hint = " (the LDP username or password was refused)" if exc.code in (401, 403) else ""
        raise RuntimeError(f"HTTP {exc.code}{hint}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RuntimeError(redact(str(exc))) from None
    hits = answer.get("hits") if isinstance(answer, dict) else None
    if not isinstance(hits, dict):
        raise RuntimeError("the answer has no 'hits'")
    total = hits.get("total")
    count = total.get("value") if isinstance(total, dict) else total
    return f"{count} documents"

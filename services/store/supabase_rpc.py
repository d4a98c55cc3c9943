"""The Supabase store's SQL function calls, straight to PostgREST over urllib3.

Every write of the store, and most reads, is one call of a SQL function
(``POST /rest/v1/rpc/<name>``), made for every message that comes in or goes out. Through
supabase-py (postgrest-py's request builder, then ``httpx.Client``, then httpcore and h11)
such a call cost the app 0.88-0.98 ms of CPU under gevent; the same request through
urllib3's connection pool 0.36-0.40 ms, from ``http.client`` alone 0.18-0.24 ms (measured
on 4 Dec 2026, a no-op function, 2,000 calls each, on loopback). urllib3 is the pool
``requests`` is built on: keep-alive, a dropped idle connection noticed before it is
reused, TLS, timeouts, thread-safe; it honours the environment's proxy and trusted
certificates as requests would (``services/http_pool.py``). Table queries (``select``
with filters, the few inserts and updates of accounts) stay on supabase-py, which builds
their query strings.

The request is what postgrest-py sends for ``.rpc(name, params)``: the same path, JSON
body, ``apikey`` and ``Authorization: Bearer`` headers. The answer is read the same way:
a 2xx body is JSON (empty for a function returning void: ``[]``); any other status raises
postgrest's ``APIError`` with PostgREST's ``code``/``message``/``details``/``hint``, or,
from a gateway that answered without a PostgREST body, with the HTTP status as the code.
Nothing is retried once the request may have reached the server (a function may write);
a connection that could not be made is tried once more, as nothing was sent on it.
"""

from __future__ import annotations

import json
from typing import Any, Callable
from urllib.parse import quote

import urllib3
from postgrest.exceptions import APIError

from services.http_pool import pool_for

#: What went wrong between us and PostgREST (no answer, a broken connection, a timeout).
TransportError = urllib3.exceptions.HTTPError


class RpcClient:
    """``call(name, params)``: one POST to ``<url>/rest/v1/rpc/<name>``; thread-safe."""

    def __init__(self, url: str, key: str, timeout: float, max_connections: int = 50) -> None:
        self._base = url.rstrip("/") + "/rest/v1/rpc/"
        self._headers = {
            "apikey": key,
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": "switchboard",
        }
        # Up to ``max_connections`` kept open (as many as the httpx client may open); a
        # burst past that opens more, closed after use, and waits for none.
        self._pool = pool_for(
            self._base, maxsize=max_connections, what="Supabase",
            # No retry once a request may have been sent; one more connect attempt only.
            retries=urllib3.Retry(total=1, connect=1, read=0, status=0, other=0,
                                  redirect=0, raise_on_redirect=False, raise_on_status=False),
            timeout=urllib3.Timeout(total=timeout),
        )
        #: Called with (method, path, headers) before each request is sent (counting, in
        #: tests).
        self.observers: list[Callable[[str, str, dict[str, str]], None]] = []

    def call(self, function: str, params: dict[str, Any]) -> Any:
        url = self._base + quote(function, safe="")
        for observe in self.observers:
            observe("POST", urllib3.util.parse_url(url).path, dict(self._headers))
        # As httpx encodes ``json=`` (what postgrest-py hands it): compact, UTF-8, no NaN.
        body = json.dumps(params, ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False).encode()
        response = self._pool.request("POST", url, body=body, headers=self._headers)
        data = response.data
        if 200 <= response.status <= 299:
            # As postgrest-py reads it: JSON, else the text, else [] (a void function's 204).
            try:
                return json.loads(data)
            except ValueError:
                return data.decode("utf-8", "replace") if data else []
        raise _api_error(response.status, response.reason, data)

    def close(self) -> None:
        self._pool.clear()


def _api_error(status: int, reason: str | None, body: bytes) -> APIError:
    """postgrest-py's ``APIError`` for a non-2xx answer."""
    try:
        error = json.loads(body)
    except ValueError:
        error = None
    if isinstance(error, dict) and ("code" in error or "message" in error):
        return APIError({"code": error.get("code"), "message": error.get("message"),
                         "details": error.get("details"), "hint": error.get("hint")})
    return APIError({"code": str(status), "message": reason or f"HTTP {status}",
                     "details": body[:500].decode("utf-8", "replace") or None, "hint": None})

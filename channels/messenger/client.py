"""``MessengerClient``: the Graph API calls Switchboard makes (Send API, sender actions,
user profiles, personas), over one urllib3 connection pool.

The page token travels only in the ``Authorization: Bearer`` header: never in a URL
(URLs end up in proxy and access logs) and never in an error text. The client does not
sleep or retry; it raises ``SendError`` saying whether a retry can help and whether the
message may have gone out anyway (``ambiguous``), and the outbox worker retries durably.

Every answered message costs at least one Send API call, so the client sends through
urllib3's pool directly rather than through a ``requests.Session``, whose per-request
layers (merging the environment's proxy and CA settings, netrc, cookies, hooks) cost more
CPU than the request itself: 1.7-1.8 ms against 0.87-1.0 ms per Send API call on one
2-core machine (4 Dec 2026, 1,000 calls each to the local stand-in). The pool takes the
proxy and the trusted certificates from the environment once, when the client is made,
with requests' own rules (``services/http_pool.py``).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Iterator
from urllib.parse import quote, urlencode

import urllib3
from urllib3.exceptions import (ConnectTimeoutError, NewConnectionError, ProxyError,
                                ReadTimeoutError, SSLError)

from services.http_pool import pool_for
from services.outbox import SendError

log = logging.getLogger(__name__)

TEXT_LIMIT = 2000  # characters per Send API text message
POOL_SIZE = 10  # connections kept open to the Graph API (a burst past it opens more)
PERSONA_PAGES = 20  # pages of 100 personas read at most when looking for an agent's

# Graph API codes worth retrying: temporary failures and rate limits (4, 17, 32, 613:
# platform rate limits; 80006: the Messenger business-use-case rate limit).
RETRYABLE_CODES = {2, 4, 17, 32, 613, 1200, 80006}
# The user profile is simply not available (phone-number accounts, no permission).
PROFILE_UNAVAILABLE_CODES = {2018218}
PERMISSION_CODES = {10} | set(range(200, 300))  # 200-299: permission errors
# Answers that do not say whether the message went out, so a retry must first wait for its
# echo (see the outbox's echo grace). Code 2 is "An unexpected error has occurred. Please
# retry your request later"; code 1 / subcode 1357046 ("Received invalid JSON reply") is
# documented as "the messages are all sent successfully, but the endpoint returns an error".
# Every other Graph error (rate limits 4/17/32/613/80006, 1200 "Temporary send message
# failure", 4xx parameter and permission errors) is Facebook refusing the call: not sent.
AMBIGUOUS_CODES = {(2, None), (1, 1357046)}

# Failures before the request could be written (refused, unresolvable, connect timeout,
# TLS handshake, the proxy refusing us): nothing can have reached Facebook.
# (NewConnectionError covers NameResolutionError.)
_NEVER_SENT = (NewConnectionError, ConnectTimeoutError, SSLError, ProxyError)


def _graph_error(data: bytes) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


class MessengerClient:
    """Calls ``<api_base>/<api_version>/...`` with the Page access token."""

    def __init__(
        self,
        page_token: str,
        api_base: str,
        api_version: str,
        timeout: float,
    ) -> None:
        self._token = page_token
        self.base = f"{str(api_base).rstrip('/')}/{api_version}"
        # As requests did with ``timeout=``: the same limit to connect and between reads.
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self._pool = pool_for(self.base, maxsize=POOL_SIZE, what="the Graph API")
        self._headers = {
            "Authorization": f"Bearer {page_token}",
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": "switchboard",
        }
        self._json_headers = {**self._headers, "Content-Type": "application/json"}

    def close(self) -> None:
        self._pool.clear()

    # -- Send API ---------------------------------------------------------------------
    def send_message(
        self,
        psid: str,
        message: str | dict[str, Any],
        messaging_type: str = "RESPONSE",
        tag: str | None = None,
        metadata: str | None = None,
        persona_id: str | None = None,
    ) -> str:
        """Send text (a str) or a Send API ``message`` object (a dict); return its ``message_id``.
        With ``persona_id`` the person sees it come from that persona ("Sam from <Page>")."""
        body_message = {"text": message} if isinstance(message, str) else dict(message)
        if metadata:
            body_message["metadata"] = metadata  # echoed back: lets us recognise our sends
        payload: dict[str, Any] = {
            "recipient": {"id": psid},
            "messaging_type": messaging_type,
            "message": body_message,
        }
        if tag:
            payload["tag"] = tag
        if persona_id:
            payload["persona_id"] = persona_id
        data = self._post("/me/messages", payload)
        message_id = data.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            # Facebook accepted the request; retrying could deliver the message twice.
            raise SendError("the Send API answered without a message_id", retryable=False,
                            code="no_message_id")
        return message_id

    def sender_action(self, psid: str, action: str) -> None:
        """``typing_on``, ``typing_off`` or ``mark_seen`` (a request of its own)."""
        self._post("/me/messages", {"recipient": {"id": psid}, "sender_action": action})

    # -- Personas API -----------------------------------------------------------------
    def list_personas(self) -> Iterator[list[dict[str, Any]]]:
        """The Page's personas (``id``, ``name``), a page of up to 100 at a time, following
        the cursors (at most ``PERSONA_PAGES`` pages)."""
        params = {"fields": "id,name", "limit": "100"}
        for _ in range(PERSONA_PAGES):
            data = self._request("GET", "/me/personas", params=params)
            found = data.get("data")
            page = [p for p in found if isinstance(p, dict)] if isinstance(found, list) else []
            yield page
            paging = data.get("paging") if isinstance(data.get("paging"), dict) else {}
            cursors = paging.get("cursors") if isinstance(paging.get("cursors"), dict) else {}
            after = cursors.get("after")
            if not page or not after or not paging.get("next"):
                return
            params = {**params, "after": str(after)}

    def create_persona(self, name: str, picture_url: str) -> str:
        """A new persona of the Page; its id. Facebook fetches the picture from its URL."""
        data = self._post("/me/personas", {"name": name, "profile_picture_url": picture_url})
        persona_id = data.get("id")
        if not isinstance(persona_id, str) or not persona_id:
            raise SendError("the Personas API answered without an id", retryable=False,
                            code="no_persona_id")
        return persona_id

    # -- User Profile API -------------------------------------------------------------
    def get_profile(self, psid: str) -> dict[str, Any] | None:
        """``first_name``, ``last_name``, ``profile_pic``; None when Facebook has none to give."""
        try:
            return self._request(
                "GET", f"/{quote(psid, safe='')}",
                params={"fields": "first_name,last_name,profile_pic"},
            )
        except SendError as exc:
            code = exc.code or ""
            numbers = {int(n) for n in code.split("/") if n.isdigit()}
            if numbers & PROFILE_UNAVAILABLE_CODES or numbers & PERMISSION_CODES:
                log.info("messenger: no profile for a PSID (%s)", exc.code)
                return None
            raise

    # -- plumbing ---------------------------------------------------------------------
    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False).encode()
        return self._request("POST", path, body=body)

    def _request(self, method: str, path: str, params: dict[str, str] | None = None,
                 body: bytes | None = None) -> dict[str, Any]:
        url = self.base + path + (f"?{urlencode(params)}" if params else "")
        try:
            # retries=False: no retry and no redirect followed; the outbox retries durably.
            response = self._pool.request(
                method, url, body=body, timeout=self._timeout, retries=False,
                headers=self._json_headers if body is not None else self._headers)
        except _NEVER_SENT as exc:
            raise SendError(
                self._scrub(f"could not reach the Graph API: {type(exc).__name__}"),
                retryable=True, code="connection") from None
        except ReadTimeoutError:  # the request was written
            raise SendError("the Graph API did not answer in time", retryable=True,
                            code="timeout", ambiguous=True) from None
        except urllib3.exceptions.HTTPError as exc:
            # Reset or closed after the request was written: Facebook may have acted on it.
            raise SendError(
                self._scrub(f"the Graph API connection broke: {type(exc).__name__}"),
                retryable=True, code="connection_lost", ambiguous=True) from None
        if 200 <= response.status < 300:
            try:
                data = json.loads(response.data)
            except ValueError:
                data = None
            if not isinstance(data, dict):
                raise SendError("the Graph API answered with something other than JSON",
                                retryable=False, code="bad_response")
            return data
        raise self._error(response.status, response.data)

    def _error(self, status: int, data: bytes) -> SendError:
        error = _graph_error(data)
        code, subcode = error.get("code"), error.get("error_subcode")
        message = str(error.get("message") or f"HTTP {status}")
        if isinstance(code, int):
            ambiguous = (code, subcode if isinstance(subcode, int) else None) in AMBIGUOUS_CODES
            retryable = code in RETRYABLE_CODES or ambiguous
            label = f"{code}/{subcode}" if isinstance(subcode, int) else str(code)
        else:
            # A bare 5xx comes from a proxy or load balancer in front of Facebook (a 502/504
            # after the request went through, say): whether it was sent is unknown.
            retryable = status >= 500 or status == 429
            ambiguous = status >= 500
            label = f"http_{status}"
        detail = f"{message} (code {label}"
        if error.get("fbtrace_id"):
            detail += f", fbtrace_id {error['fbtrace_id']}"
        detail += ")"
        log.warning("messenger: Graph API error %s (HTTP %s, retryable=%s, ambiguous=%s)",
                    label, status, retryable, ambiguous)
        return SendError(self._scrub(detail), retryable=retryable, code=label,
                         ambiguous=ambiguous)

    def _scrub(self, text: str) -> str:
        """Never let the token reach an error text, even if Facebook echoed it."""
        if self._token and self._token in text:
            text = text.replace(self._token, "***")
        return re.sub(r"access_token=[^&\s]+", "access_token=***", text)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut ``text`` into parts of at most ``limit`` characters, preferring paragraph, then
    line, then sentence, then word boundaries; a word longer than ``limit`` is cut hard."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = _boundary(rest, limit)
        part = rest[:cut].rstrip()
        if part:
            parts.append(part)
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


# (pattern, where to cut relative to the match start); earlier patterns are preferred.
_BOUNDARIES = ((re.compile(r"\n\s*\n"), 0), (re.compile(r"\n"), 0),
               (re.compile(r"[.!?…](?=\s)"), 1), (re.compile(r"\s"), 0))


def _boundary(text: str, limit: int) -> int:
    """Where to cut ``text`` so the first part has at most ``limit`` characters."""
    window = text[: limit + 1]
    for pattern, offset in _BOUNDARIES:
        # a boundary in the first quarter would make a tiny part: look for a later one
        cuts = [m.start() + offset for m in pattern.finditer(window)]
        cuts = [c for c in cuts if max(1, limit // 4) <= c <= limit]
        if cuts:
            return cuts[-1]
    return limit

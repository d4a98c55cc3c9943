"""``MessengerClient``: the Graph API calls Switchboard makes (Send API, sender actions,
user profiles), over one pooled ``requests.Session``.

The page token travels only in the ``Authorization: Bearer`` header: never in a URL
(URLs end up in proxy and access logs) and never in an error text. The client does not
sleep or retry; it raises ``SendError`` saying whether a retry can help, and the outbox
worker retries durably with backoff.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

import requests

from services.outbox import SendError

log = logging.getLogger(__name__)

TEXT_LIMIT = 2000  # characters per Send API text message

# Graph API codes worth retrying: temporary failures and rate limits (4, 17, 32, 613:
# platform rate limits; 80006: the Messenger business-use-case rate limit).
RETRYABLE_CODES = {2, 4, 17, 32, 613, 1200, 80006}
# The user profile is simply not available (phone-number accounts, no permission).
PROFILE_UNAVAILABLE_CODES = {2018218}
PERMISSION_CODES = {10} | set(range(200, 300))  # 200-299: permission errors


def _graph_error(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
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
        session: requests.Session | None = None,
    ) -> None:
        self._token = page_token
        self.base = f"{str(api_base).rstrip('/')}/{api_version}"
        self.timeout = timeout
        self.session = session or requests.Session()

    def close(self) -> None:
        self.session.close()

    # -- Send API ---------------------------------------------------------------------
    def send_message(
        self,
        psid: str,
        message: str | dict[str, Any],
        messaging_type: str = "RESPONSE",
        tag: str | None = None,
        metadata: str | None = None,
    ) -> str:
        """Send text (a str) or a Send API ``message`` object (a dict); return its ``message_id``."""
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
        return self._request("POST", path, json=payload)

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            response = self.session.request(
                method, self.base + path, headers=headers, timeout=self.timeout, **kwargs
            )
        except requests.Timeout:
            raise SendError("the Graph API did not answer in time", retryable=True,
                            code="timeout") from None
        except requests.RequestException as exc:
            raise SendError(self._scrub(f"could not reach the Graph API: {type(exc).__name__}"),
                            retryable=True, code="connection") from None
        if response.ok:
            try:
                data = response.json()
            except ValueError:
                data = None
            if not isinstance(data, dict):
                raise SendError("the Graph API answered with something other than JSON",
                                retryable=False, code="bad_response")
            return data
        raise self._error(response)

    def _error(self, response: requests.Response) -> SendError:
        error = _graph_error(response)
        code, subcode = error.get("code"), error.get("error_subcode")
        message = str(error.get("message") or f"HTTP {response.status_code}")
        if isinstance(code, int):
            retryable = code in RETRYABLE_CODES
            label = f"{code}/{subcode}" if isinstance(subcode, int) else str(code)
        else:
            retryable = response.status_code >= 500 or response.status_code == 429
            label = f"http_{response.status_code}"
        detail = f"{message} (code {label}"
        if error.get("fbtrace_id"):
            detail += f", fbtrace_id {error['fbtrace_id']}"
        detail += ")"
        log.warning("messenger: Graph API error %s (HTTP %s, retryable=%s)",
                    label, response.status_code, retryable)
        return SendError(self._scrub(detail), retryable=retryable, code=label)

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

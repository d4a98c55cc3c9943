"""``RESPONDER=webhook``: asks your own bot (Rasa, Botpress, any HTTP service) for each answer.

The JSON contract
-----------------
Switchboard sends ``POST BOT_WEBHOOK_URL`` with ``Content-Type: application/json``::

    {
      "conversation": {...},   # the Conversation as JSON: id, platform, external_user_id,
                               #   display_name, status, handled_by, priority, timestamps, ...
      "messages": [{...}],     # its recent Messages, oldest first, at most
                               #   MAX_CONVERSATION_LENGTH: id, sender_type ("user"|"bot"|
                               #   "agent"|"system"), content, attachments, created_at,
                               #   confidence_score, ...
      "message": {...} | null  # the latest message the person wrote (also the last "user"
                               #   item of "messages"); null if there is none
    }

Timestamps are ISO-8601 UTC strings. The bot answers ``200`` with a JSON object::

    {"text": "We're open 9 to 6.", "confidence": 0.92, "intent": "opening_hours"}

- ``text`` (string): what Switchboard sends to the person. ``null``, ``""`` or a ``204 No
  Content`` answer mean "no answer": nothing is sent (``reply`` returns None).
- ``confidence`` (number 0..1, optional, default 1.0): below ``ESCALATION_CONFIDENCE_THRESHOLD``
  the conversation is flagged for a human.
- ``intent`` (string or null, optional): a label shown to agents.
- ``tags`` (list of strings or null, optional): tags for the conversation ("billing"),
  normalised as agents' tags are; at most ``MAX_TAGS``, each one a tag, else the answer
  breaks the contract.
- Other keys are ignored.

Connection failures and 500/502/503/504 are retried ``BOT_RETRIES`` times with backoff; each
attempt has the ``BOT_TIMEOUT_SECONDS`` timeout. A timeout, a 4xx, a last 5xx, or an answer
that breaks the contract raises ``ResponderError``, and the conversation goes to a human.
"""

from __future__ import annotations

from typing import Any

import requests

from services.assistant import BotReply, ResponderError, latest_user_message
from services.assistant.transport import json_object, mount_retries, post_json
from services.models import Conversation, Message, normalize_tags

WHAT = "the bot webhook"
DEFAULT_CONFIDENCE = 1.0


def webhook_payload(conversation: Conversation, history: list[Message]) -> dict[str, Any]:
    """The JSON body sent to the webhook (see the module docstring)."""
    latest = latest_user_message(history)
    return {
        "conversation": conversation.model_dump(mode="json"),
        "messages": [message.model_dump(mode="json") for message in history],
        "message": latest.model_dump(mode="json") if latest else None,
    }


def parse_webhook_answer(body: dict[str, Any]) -> BotReply | None:
    """The webhook's JSON object as a reply (None: no answer); ResponderError if malformed."""
    text = body.get("text")
    if text is None:
        return None
    if not isinstance(text, str):
        raise ResponderError(f"{WHAT} answered a 'text' that is not a string", "malformed")
    if not text.strip():
        return None
    confidence = body.get("confidence", DEFAULT_CONFIDENCE)
    if confidence is None:
        confidence = DEFAULT_CONFIDENCE
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
        raise ResponderError(f"{WHAT} answered a 'confidence' that is not a number", "malformed")
    if not 0.0 <= confidence <= 1.0:
        raise ResponderError(
            f"{WHAT} answered a 'confidence' outside 0..1 ({confidence:g})", "malformed"
        )
    intent = body.get("intent")
    if intent is not None and not isinstance(intent, str):
        raise ResponderError(f"{WHAT} answered an 'intent' that is not a string", "malformed")
    return BotReply(text=text, confidence=float(confidence), intent=intent or None,
                    tags=_tags(body.get("tags")))


def _tags(value: Any) -> tuple[str, ...]:
    """The answer's ``tags`` (``normalize_tags``); anything else breaks the contract."""
    try:
        return normalize_tags(value)
    except ValueError as exc:
        raise ResponderError(f"{WHAT} answered 'tags' that break the contract: {exc}",
                             "malformed") from None


class WebhookResponder:
    """POSTs the conversation to ``url`` and uses the answer; the contract is in the module doc."""

    def __init__(
        self,
        url: str,
        timeout: float = 10.0,
        retries: int = 2,
        session: requests.Session | None = None,
        backoff: float = 0.5,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.session = mount_retries(session or requests.Session(), url, retries, backoff)

    def reply(self, conversation: Conversation, history: list[Message]) -> BotReply | None:
        """Ask the webhook; None when it has no answer, ResponderError when it fails."""
        response = post_json(
            self.session,
            self.url,
            webhook_payload(conversation, history),
            timeout=self.timeout,
            what=WHAT,
            headers={"Accept": "application/json"},
        )
        if response.status_code == 204:
            return None
        return parse_webhook_answer(json_object(response, WHAT))

    def __repr__(self) -> str:
        return f"WebhookResponder(timeout={self.timeout}, retries={self.retries})"

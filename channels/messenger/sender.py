"""``MessengerSender``: the outbox's ``ChannelSender`` for Messenger.

The window rule is applied before Facebook is called; long text is split into parts of
at most 2000 characters, sent in order, followed by the message's attachments.

Partial failure: when a message needs several Send API calls and one fails, the error is
raised (retryable or not, as classified by the client) and the parts already delivered
are recorded in the message's metadata (``messenger_parts``: their message ids) when a
tracker is given. A retry of the same message skips those parts, so a person never gets
the first half twice; the id returned is always the first part's.

Each call carries our mark (``channels/messenger/marks.py``): ``switchboard:<id>``, or
``switchboard:<id>:<part>/<parts>`` for the parts of a long message, so that Facebook's
echo of a send whose answer was lost can settle it (``MessengerInbox``).
``echo_grace_seconds`` tells the outbox how long to wait for such an echo before it
retries an ambiguous failure (``MESSENGER_ECHO_GRACE_SECONDS``).

With ``personas`` (``MESSENGER_PERSONA_PICTURE_URL``), an agent's reply that kept its
account's name (``metadata.agent_name``) goes out as that name's persona. A part refused
with code 100 (an invalid parameter) is sent again from the Page at once: if that goes,
the persona was the trouble (deleted on Facebook since) and is forgotten, and the person
still gets the reply; if it is refused too, that refusal is the send's.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from channels.messenger.client import MessengerClient, split_text
from channels.messenger.marks import PROGRESS_KEY, own_metadata
from channels.messenger.personas import Personas
from channels.messenger.window import decide
from services.models import Conversation, Message
from services.outbox import ATTEMPT_KEY, SendError
from services.tracking import Clock, ConversationTracker, utcnow

log = logging.getLogger(__name__)

__all__ = ["PROGRESS_KEY", "MessengerSender", "attachment_message"]

MEDIA_TYPES = {"image", "video", "audio", "file"}


def attachment_message(attachment: dict[str, Any]) -> dict[str, Any] | str | None:
    """The Send API ``message`` for one stored attachment (a URL as text if no better way)."""
    kind, url = attachment.get("type"), attachment.get("url")
    if kind in MEDIA_TYPES and url:
        return {"attachment": {"type": kind, "payload": {"url": url, "is_reusable": True}}}
    if kind == "template" and isinstance(attachment.get("payload"), dict):
        return {"attachment": {"type": "template", "payload": attachment["payload"]}}
    return url if isinstance(url, str) and url else None


class MessengerSender:
    """Sends stored bot/agent/system messages to a conversation's PSID."""

    platform = "messenger"

    def __init__(
        self,
        client: MessengerClient,
        clock: Clock = utcnow,
        tracker: ConversationTracker | None = None,
        echo_grace_seconds: float = 0.0,
        personas: Personas | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.tracker = tracker
        self.echo_grace_seconds = echo_grace_seconds
        self.personas = personas

    def send(self, conversation: Conversation, message: Message) -> str | None:
        """Send ``message``; returns the first part's Facebook message id."""
        decision = decide(message.sender_type, conversation.last_user_message_at, self.clock())
        if not decision.allowed:
            raise SendError(decision.reason or "outside the messaging window",
                            retryable=False, code="outside_window")
        parts: list[str | dict[str, Any]] = list(split_text(message.content))
        for attachment in message.attachments:
            part = attachment_message(attachment)
            if part is None:
                log.warning("messenger: attachment of type %r cannot be sent; left out",
                            attachment.get("type"))
            else:
                parts.append(part)
        if not parts:
            raise SendError("the message has no text and no attachment Messenger can send",
                            retryable=False, code="empty")
        quick_replies = message.metadata.get("quick_replies")
        if quick_replies:  # the rating request's 1 to 5 (ratings.py): on the last part
            last = parts[-1]
            parts[-1] = {**({"text": last} if isinstance(last, str) else last),
                         "quick_replies": quick_replies}

        persona = None
        if self.personas is not None and message.sender_type == "agent":
            persona = self.personas.id_for(message.metadata.get("agent_name"))

        done = [m for m in (message.metadata.get(PROGRESS_KEY) or []) if isinstance(m, str)]
        for index, part in enumerate(parts):
            if index < len(done):
                continue  # delivered by an earlier attempt
            send = partial(
                self.client.send_message,
                conversation.external_user_id,
                part,
                messaging_type=decision.messaging_type or "RESPONSE",
                tag=decision.tag,
                metadata=own_metadata(message.id, index, len(parts)),
            )
            try:
                message_id = send(persona_id=persona)
            except SendError as exc:
                if persona is None or not _invalid_parameter(exc):
                    raise
                # The persona, or something else in the call? Sent from the Page, it goes
                # (the persona is gone: forgotten) or is refused again (the persona stays).
                message_id = send(persona_id=None)
                log.warning("messenger: a send as persona %s was refused (%s) and went out "
                            "from the Page; the persona is made again when next needed",
                            persona, exc.code)
                self.personas.forget(persona)
                persona = None
            done.append(message_id)
            if self.tracker is not None and len(parts) > 1 and index < len(parts) - 1:
                # The next part's attempt starts now: the outbox's echo wait counts from it.
                self.tracker.update_message_metadata(message.id, {
                    PROGRESS_KEY: done, ATTEMPT_KEY: self.clock().isoformat()})
        return done[0]


def _invalid_parameter(exc: SendError) -> bool:
    """Facebook refused the call's parameters (code 100): nothing was sent."""
    return not exc.ambiguous and (exc.code or "").split("/")[0] == "100"

"""The bot's degraded replies on Messenger while the store is down (``services/spool.py``).

The message has no conversation yet, so the reply goes straight to the sender's PSID through
the Send API (as a RESPONSE: the person has just written, so the window is open). The
metadata carries our prefix, so Facebook's echo of it is recognised as our own send.
"""

from __future__ import annotations

from channels.messenger.client import MessengerClient, split_text
from channels.messenger.inbox import OWN_METADATA_PREFIX
from services.models import InboundMessage


class DegradedMessengerSender:
    """A ``services.bot_turn.DegradedSender`` for Messenger: text to the PSID, in parts."""

    def __init__(self, client: MessengerClient) -> None:
        self.client = client

    def __call__(self, message: InboundMessage, text: str, key: str) -> str | None:
        """Send ``text`` to the message's sender; returns the first part's message id."""
        first = None
        for part in split_text(text):
            sent = self.client.send_message(
                message.external_user_id, part, messaging_type="RESPONSE",
                metadata=f"{OWN_METADATA_PREFIX}{key}",
            )
            first = first or sent
        return first

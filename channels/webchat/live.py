"""Server → visitor over Socket.IO: the channel's sender, and the events visitors hear.

Everything is emitted with ``socketio.emit`` to the conversation's room on ``/chat``, which
works from any thread (the job worker's included) and goes through
``SOCKETIO_MESSAGE_QUEUE`` when one is configured, so the visitor's socket may be held by
another process.
"""

from __future__ import annotations

import logging

from flask_socketio import SocketIO

from services.events import Event
from services.models import Conversation, Message

from channels.webchat.chat import PLATFORM, public_conversation, public_message, room

NAMESPACE = "/chat"
log = logging.getLogger(__name__)


class WebchatSender:
    """The outbox's sender for ``webchat``: bot, agent and system messages to the room.

    A visitor who is offline misses the emit, not the message: the widget asks for the
    history after the last message it saw when it reconnects.
    """

    platform = PLATFORM

    def __init__(self, socketio: SocketIO) -> None:
        self.socketio = socketio

    def send(self, conversation: Conversation, message: Message) -> None:
        self.socketio.emit(
            "message",
            public_message(message, conversation.external_user_id),
            to=room(conversation.id),
            namespace=NAMESPACE,
        )
        return None  # the web chat has no platform message id


class VisitorEvents:
    """Subscribed to the services' ``EventBus``: tells visitors what changed.

    ``status`` carries the conversation's visitor-facing state (``bot``, ``escalated``,
    ``human``, ``closed``) and is sent on every change of a web chat conversation; the
    widget acts when the state differs from the one it shows. Sending it every time,
    rather than only on a transition this process saw, keeps it right when several
    processes change the same conversation. ``typing`` relays agents' typing, without
    saying who.
    """

    def __init__(self, socketio: SocketIO) -> None:
        self.socketio = socketio

    def __call__(self, event: Event) -> None:
        if event.name in ("conversation.created", "conversation.updated"):
            conversation = event.data.get("conversation") or {}
            if conversation.get("platform") == PLATFORM:
                self.status(conversation)
        elif event.name == "typing" and event.conversation_id is not None:
            sender_type = event.data.get("sender_type")
            if sender_type in ("agent", "bot"):  # the visitor's own typing goes to admins only
                typing = bool(event.data.get("typing", True))
                self.typing(event.conversation_id, sender_type, typing)

    def status(self, conversation: Conversation | dict) -> None:
        view = public_conversation(conversation)
        self.socketio.emit(
            "status",
            {"conversation_id": view["id"], "state": view["state"], "conversation": view},
            to=room(view["id"]),
            namespace=NAMESPACE,
        )

    def typing(self, conversation_id: int, sender_type: str, typing: bool = True) -> None:
        self.socketio.emit(
            "typing",
            {"conversation_id": conversation_id, "sender_type": sender_type, "typing": typing},
            to=room(conversation_id),
            namespace=NAMESPACE,
        )

    def visitor_message(
        self, conversation: Conversation, message: Message, skip_sid: str | None = None
    ) -> None:
        """A visitor's own message, to their other tabs (and the bot's typing after it)."""
        self.socketio.emit(
            "message",
            public_message(message, conversation.external_user_id),
            to=room(conversation.id),
            namespace=NAMESPACE,
            skip_sid=skip_sid,
        )
        bot_answers = conversation.handled_by == "bot" and conversation.status != "closed"
        if bot_answers and not message.metadata.get("escalate"):
            self.typing(conversation.id, "bot")

"""Server → visitor over Socket.IO: the channel's sender, and the events visitors hear.

Everything is emitted with ``socketio.emit`` to the conversation's room on ``/chat``, which
works from any thread (the job worker's included) and goes through
``SOCKETIO_MESSAGE_QUEUE`` when one is configured, so the visitor's socket may be held by
another process. Messages and status changes also go to the visitor's own room (joined on
connect), so a socket that could not follow its conversation -- the store was down -- still
hears them; a socket in both rooms gets each emit once.
"""

from __future__ import annotations

import logging

from flask_socketio import SocketIO

from services.errors import StoreUnavailable
from services.events import Event
from services.models import Conversation, InboundMessage, Message
from services.tracking import ConversationTracker

from channels.webchat.chat import (
    PLATFORM,
    iso,
    public_conversation,
    public_message,
    room,
    visitor_room,
)

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
            to=_rooms(conversation.id, conversation.external_user_id),
            namespace=NAMESPACE,
        )
        return None  # the web chat has no platform message id


def _rooms(conversation_id: int, visitor_id: str | None) -> list[str] | str:
    return [room(conversation_id), visitor_room(visitor_id)] if visitor_id else room(conversation_id)


class DegradedWebchatSender:
    """The bot's reply while the store is down (``services/spool.py``): the message has no
    conversation yet, so it goes to the visitor's room, marked ``provisional`` (no id)."""

    def __init__(self, socketio: SocketIO, clock) -> None:
        self.socketio = socketio
        self.clock = clock

    def __call__(self, message: InboundMessage, text: str, key: str) -> None:
        self.socketio.emit(
            "message",
            {"id": None, "conversation_id": None, "sender_type": "bot", "content": text,
             "attachments": [], "created_at": iso(self.clock()), "client_id": None,
             "kind": None, "provisional": key},
            to=visitor_room(message.external_user_id),
            namespace=NAMESPACE,
        )
        return None


class VisitorEvents:
    """Subscribed to the services' ``EventBus``: tells visitors what changed.

    ``status`` carries the conversation's visitor-facing state (``bot``, ``escalated``,
    ``human``, ``closed``) and is sent on every change of a web chat conversation; the
    widget acts when the state differs from the one it shows. Sending it every time,
    rather than only on a transition this process saw, keeps it right when several
    processes change the same conversation. ``typing`` relays agents' typing, without
    saying who. ``seen`` tells the visitor the newest of their conversation's messages a
    person of the team has read, when an account's read mark moves (``conversation.read``,
    published once, in the process where it moved): one store read of the message's id.
    A "mark all read" on the inbox is not a reading, and tells no one.
    """

    def __init__(self, socketio: SocketIO, tracker: ConversationTracker) -> None:
        self.socketio = socketio
        self.tracker = tracker

    def __call__(self, event: Event) -> None:
        if event.name == "message.created" and event.data.get("replayed"):
            self.replayed(event)
        elif event.name in ("conversation.created", "conversation.updated"):
            conversation = event.data.get("conversation") or {}
            if conversation.get("platform") == PLATFORM:
                self.status(conversation)
        elif event.name == "conversation.deleted":
            conversation = event.data.get("conversation") or {}
            if conversation.get("platform") == PLATFORM:
                self.deleted(conversation["id"], conversation.get("external_user_id"))
        elif event.name == "hours.changed":  # set on Settings: every widget, at once
            self.socketio.emit("hours", event.data, namespace=NAMESPACE)
        elif event.name == "conversation.read" and event.conversation_id is not None:
            self.seen(event.conversation_id)
        elif event.name == "visitor.query" and event.conversation_id is not None:
            # An agent's page asks whether the person is here: their widgets answer ("here").
            self.socketio.emit("presence_check", {"conversation_id": event.conversation_id},
                               to=room(event.conversation_id), namespace=NAMESPACE)
        elif event.name == "typing" and event.conversation_id is not None:
            sender_type = event.data.get("sender_type")
            if sender_type in ("agent", "bot"):  # the visitor's own typing goes to admins only
                typing = bool(event.data.get("typing", True))
                name = event.data.get("agent_name") if sender_type == "agent" else None
                self.typing(event.conversation_id, sender_type, typing,
                            name if isinstance(name, str) else None)

    def replayed(self, event: Event) -> None:
        """A visitor's message saved from the spool: their widget swaps its queued bubble
        for the stored message (and learns the conversation it went to)."""
        message = Message.model_validate(event.data["message"])
        visitor_id = event.data.get("external_user_id")
        if message.platform != PLATFORM or message.sender_type != "user" or not visitor_id:
            return
        self.socketio.emit(
            "message", public_message(message, visitor_id),
            to=_rooms(message.conversation_id, visitor_id), namespace=NAMESPACE,
        )

    def status(self, conversation: Conversation | dict) -> None:
        view = public_conversation(conversation)
        visitor_id = (conversation.get("external_user_id") if isinstance(conversation, dict)
                      else conversation.external_user_id)
        self.socketio.emit(
            "status",
            {"conversation_id": view["id"], "state": view["state"], "conversation": view},
            to=_rooms(view["id"], visitor_id),
            namespace=NAMESPACE,
        )

    def deleted(self, conversation_id: int, visitor_id: str | None) -> None:
        """The team deleted the conversation: the visitor's widget forgets it, and their
        next message starts a new one."""
        self.socketio.emit("deleted", {"conversation_id": conversation_id},
                           to=_rooms(conversation_id, visitor_id), namespace=NAMESPACE)

    def seen(self, conversation_id: int) -> None:
        """The conversation's "Seen", to the visitor's sockets following it (a conversation
        of another channel has none)."""
        try:
            message_id = self.tracker.seen_message_id(conversation_id)
        except StoreUnavailable:
            return  # the next mark, or the widget's next history, brings it
        self.socketio.emit("seen", {"conversation_id": conversation_id, "message_id": message_id},
                           to=room(conversation_id), namespace=NAMESPACE)

    def typing(self, conversation_id: int, sender_type: str, typing: bool = True,
               sender_name: str | None = None) -> None:
        """Who is typing, to the widgets (``sender_name``: an agent's chosen name, or
        None)."""
        self.socketio.emit(
            "typing",
            {"conversation_id": conversation_id, "sender_type": sender_type, "typing": typing,
             "sender_name": sender_name},
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
            to=_rooms(conversation.id, conversation.external_user_id),
            namespace=NAMESPACE,
            skip_sid=skip_sid,
        )
        bot_answers = conversation.handled_by == "bot" and conversation.status != "closed"
        if bot_answers and not message.metadata.get("escalate"):
            self.typing(conversation.id, "bot")

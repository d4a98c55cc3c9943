"""The ``/chat`` Socket.IO namespace: visitors connect with their token and chat live.

Connect with ``auth={"token": …, "conversation_id": …}`` (the id only once the visitor has
a conversation). Events from the visitor, each acknowledged:

* ``message`` ``{"content", "client_id"}`` → the stored message, ``{"status": "queued", …}``
  while the store is down (kept in the spool, saved later), or an error object
  ``{"error", "detail", "status"}`` (400, 403, 413, 429, 503);
* ``escalate`` ``{"reason"?, "client_id"}`` → the stored request, or an error object;
* ``typing`` ``{"typing": bool}`` → relayed to the admins watching the conversation;
* ``join`` ``{"conversation_id"}`` → follow another of the visitor's conversations (a tab
  that learnt of a conversation another tab opened);
* ``here`` ``{"open", "visible", "page"?}`` → the team's pages showing the conversation
  followed hear that the person is on the site (``visitor.presence``: the chat open or not,
  the page in front or not, which page); said on connecting, when any of it changes, and
  in answer to ``presence_check``. A socket that goes says it left.

The server sends ``message``, ``status``, ``typing`` and ``presence_check`` (an agent's
page asks whether the person is here) to the conversation's room.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from flask import request
from flask_socketio import ConnectionRefusedError, Namespace, join_room, leave_room

from services.errors import StoreUnavailable
from services.events import Event

from channels.webchat.chat import (
    RECEIPTS,
    ChatError,
    positive_id,
    public_conversation,
    public_message,
    queued_ack,
    room,
    visitor_room,
)
from channels.webchat.identity import InvalidToken, Visitor
from channels.webchat.live import NAMESPACE
from channels.webchat.ratelimit import allow_message

log = logging.getLogger(__name__)
TYPING_EVERY_SECONDS = 1.0  # at most one typing event per socket and second reaches admins
# A widget says ``here`` at most every 0.3 s (it waits that long for changes to settle):
# closer ones from one socket are dropped.
HERE_MIN_SECONDS = 0.25


def _refuse(exc: ChatError) -> ConnectionRefusedError:
    return ConnectionRefusedError(exc.error, exc.body())


class ChatNamespace(Namespace):
    """Visitors holding a valid token, from pages on an allowed origin."""

    def __init__(self, chat) -> None:
        super().__init__(NAMESPACE)
        self.chat = chat  # channels.webchat.Webchat

    # -- per-socket state (python-socketio's session: lives with the connection) --------
    def _state(self) -> dict[str, Any]:
        return self.socketio.server.get_session(request.sid, namespace=NAMESPACE)

    def _visitor(self) -> Visitor:
        state = self._state()
        return Visitor(state["visitor_id"], state.get("display_name"), state.get("user_id"),
                       state.get("email"), state.get("time_zone"), state.get("language"))

    def _follow(self, conversation_id: int) -> None:
        """Put this socket in the conversation's room (leaving the one it followed)."""
        state = self._state()
        current = state.get("conversation_id")
        if current == conversation_id:
            return
        if current is not None:
            leave_room(room(current))
            self._left(current, state)
        join_room(room(conversation_id))
        state["conversation_id"] = conversation_id
        self._save(state)

    def _save(self, state: dict[str, Any]) -> None:
        self.socketio.server.save_session(request.sid, state, namespace=NAMESPACE)

    # -- events ----------------------------------------------------------------------
    def on_connect(self, auth=None):
        if not self.chat.origins.allows(request.headers.get("Origin"), request.host):
            raise _refuse(ChatError(403, "forbidden_origin", "this site may not use the chat"))
        auth = auth if isinstance(auth, dict) else {}
        try:
            visitor = self.chat.tokens.verify(auth.get("token"))
        except InvalidToken as exc:
            raise _refuse(ChatError(401, "unauthorized", str(exc))) from None
        try:
            conversation_id = positive_id(auth.get("conversation_id"), "conversation_id")
            if conversation_id is not None:
                self.chat.channel.conversation_for(visitor, conversation_id)
        except ChatError as exc:
            raise _refuse(exc) from None
        except StoreUnavailable:
            # The store is down: the visitor can still chat (messages are spooled); the
            # conversation cannot be checked, so it is not followed (the visitor's room
            # still brings everything of theirs).
            conversation_id = None
        self._save({"visitor_id": visitor.id, "display_name": visitor.display_name,
                    "user_id": visitor.user_id, "email": visitor.email,
                    "time_zone": visitor.time_zone, "language": visitor.language,
                    "conversation_id": None, "typing_at": 0.0,
                    "presence": secrets.token_hex(8)})  # never the socket's own id
        join_room(visitor_room(visitor.id))
        if conversation_id is not None:
            self._follow(conversation_id)

    def on_disconnect(self, reason=None):
        state = self._state()
        if state.get("conversation_id") is not None:
            self._left(state["conversation_id"], state)

    def on_here(self, data=None):
        """The person is on the site: whether the chat is open and the page in front, and
        which page (checked as a message's ``page``). Repeated unchanged within a second, it
        is said once, unless it answers a page's question (``asked``: that page has heard
        nothing yet)."""
        state = self._state()
        conversation_id = state.get("conversation_id")
        if not isinstance(data, dict):
            return ChatError(400, "bad_request", "send an object").body()
        if conversation_id is None:
            return {"ok": False}  # no conversation yet: no team page shows this person
        try:
            page = self.chat.channel.page(data.get("page"))
        except ChatError as exc:
            return exc.body()
        said = [conversation_id, data.get("open") is True, data.get("visible") is True, page]
        now = time.monotonic()
        since = now - state.get("here_at", 0.0)
        if since < HERE_MIN_SECONDS:
            return {"ok": True}  # the widget says it at most every 0.3 s: a flood
        if data.get("asked") is not True and said == state.get("here") and since < 1.0:
            return {"ok": True}  # an answer to a page's question is always said
        state["here"], state["here_at"] = said, now
        self._save(state)
        self.chat.services.events.publish(Event("visitor.presence", {
            "visitor": state.get("presence"), "online": True, "open": said[1],
            "visible": said[2], "page": page}, conversation_id))
        return {"ok": True}

    def _left(self, conversation_id: int, state: dict[str, Any]) -> None:
        """This socket no longer follows the conversation (closed, or following another)."""
        if state.get("here") is None:
            return  # it never said it was here
        state["here"] = None
        self.chat.services.events.publish(Event("visitor.presence", {
            "visitor": state.get("presence"), "online": False}, conversation_id))

    def on_message(self, data=None):
        return self._store(data, escalate=False)

    def on_escalate(self, data=None):
        return self._store(data, escalate=True)

    def _store(self, data, escalate: bool) -> dict[str, Any]:
        try:
            if not isinstance(data, dict):
                raise ChatError(400, "bad_request", "send an object")
            visitor = self._visitor()
            channel = self.chat.channel
            # Validate before counting, so a refused message does not use the allowance.
            if escalate:
                channel.escalate_reason(data.get("reason"))
            else:
                channel.content(data.get("content"))
            channel.client_id(data.get("client_id"))
            channel.page(data.get("page"))
            if not allow_message(visitor.id):
                raise ChatError(429, "rate_limited", "too many messages; wait a moment")
            if escalate:
                result = channel.escalate(visitor, data.get("reason"), data.get("client_id"),
                                          data.get("page"))
            else:
                result = channel.post(visitor, data.get("content"), data.get("client_id"),
                                      data.get("page"))
        except ChatError as exc:
            return exc.body()
        except StoreUnavailable:
            log.warning("store unavailable for a web chat message")
            return ChatError(503, "unavailable", "the chat is unavailable; try again").body()
        except Exception:
            log.exception("web chat message failed")
            return ChatError(500, "internal", "the message could not be stored").body()
        if result.spooled:
            return queued_ack(result)
        self._follow(result.conversation.id)
        if result.created:
            self.chat.events.visitor_message(result.conversation, result.message, request.sid)
        return public_message(result.message, visitor.id)

    def on_join(self, data=None):
        try:
            conversation_id = positive_id(
                data.get("conversation_id") if isinstance(data, dict) else None,
                "conversation_id",
            )
            if conversation_id is None:
                raise ChatError(400, "bad_request", "conversation_id is required")
            conversation = self.chat.channel.conversation_for(self._visitor(), conversation_id)
        except ChatError as exc:
            return exc.body()
        except StoreUnavailable:
            return ChatError(503, "unavailable", "the chat is unavailable; try again").body()
        self._follow(conversation.id)
        return {"ok": True, "conversation": public_conversation(conversation)}

    def on_receipt(self, data=None):
        """``{"message_id", "status": "delivered" | "read", "conversation_id"?}`` (the one
        followed by default): the team's messages up to that one reached the widget, or
        were shown (``WebchatChannel.receipt``). Once a report has moved something, the
        same or an earlier message is answered without a store call."""
        try:
            if not isinstance(data, dict):
                raise ChatError(400, "bad_request", "send an object")
            state = self._state()
            followed = state.get("conversation_id")
            conversation_id = positive_id(data.get("conversation_id"), "conversation_id") \
                or followed
            if conversation_id is None:
                raise ChatError(400, "bad_request", "conversation_id is required")
            message_id = positive_id(data.get("message_id"), "message_id")
            status = data.get("status")
            done = state.get("receipts") or {}
            if conversation_id == followed and status in RECEIPTS and message_id is not None \
                    and done.get(status, 0) >= message_id:
                return {"ok": True, "changed": 0}
            changed = self.chat.channel.receipt(self._visitor(), conversation_id, message_id,
                                                status, checked=conversation_id == followed)
        except ChatError as exc:
            return exc.body()
        except StoreUnavailable:
            return ChatError(503, "unavailable", "the chat is unavailable; try again").body()
        if changed:  # a report that moved nothing may move something later (still pending)
            for reached in (("delivered", "read") if status == "read" else (status,)):
                done[reached] = max(done.get(reached, 0), message_id)
            state["receipts"] = done
            self._save(state)
        return {"ok": True, "changed": changed}

    def on_typing(self, data=None):
        state = self._state()
        conversation_id = state.get("conversation_id")
        now = time.monotonic()
        typing = bool(data.get("typing", True)) if isinstance(data, dict) else True
        repeated = typing == state.get("typing") and now - state["typing_at"] < TYPING_EVERY_SECONDS
        if conversation_id is None or repeated:
            return {"ok": False}
        state["typing_at"], state["typing"] = now, typing
        self._save(state)
        self.chat.services.events.publish(
            Event(
                "typing",
                {"conversation_id": conversation_id, "sender_type": "user", "typing": typing},
                conversation_id,
            )
        )
        return {"ok": True}

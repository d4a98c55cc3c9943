"""The ``/admin`` Socket.IO namespace: domain events pushed to the admin browsers.

Rooms: ``admins`` (every connected admin or agent: conversation changes, who has which
conversation open (``presence``), stats and ``store.status``, the "store unavailable"
banner), ``conversation:<id>`` (joined by the pages that show one conversation: its
messages and typing) and ``account:<id>`` (every page of one account: how far it has read
a conversation, ``conversation.read``, from any of its devices, and the notes that name
it, ``note.mentioned``). ``EventRelay`` subscribes
to the services' ``EventBus`` and emits each event to its rooms through ``socketio.emit``, which works from any thread (the job
worker's included) and goes through ``SOCKETIO_MESSAGE_QUEUE`` when one is configured.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import request
from flask_login import current_user as session_user
from flask_socketio import (
    ConnectionRefusedError,
    Namespace,
    SocketIO,
    join_room,
    leave_room,
    rooms,
)

from admin_app.auth import SessionUser
from admin_app.live_sessions import SeenRounds, SocketSessions
from services.errors import StoreUnavailable
from services.events import Event
from services.runtime import Services

NAMESPACE = "/admin"
ADMINS_ROOM = "admins"
CONVERSATION_ROOM = "conversation:"
ACCOUNT_ROOM = "account:"
# A page showing a conversation says so again every 25 s (``viewing``, conversation.js); the
# pages forget a viewer not heard from for 75 s (a process that died cannot say its sockets
# left, common.js). A socket's heartbeats closer than PRESENCE_MIN_SECONDS apart are dropped.
# An inbox asks who is where as it connects (``who``): every page showing a conversation
# answers with its ``viewing``; a socket's questions closer than WHO_MIN_SECONDS apart are
# dropped.
PRESENCE_MIN_SECONDS = 1.0
WHO_MIN_SECONDS = 5.0
# Whether the person is on the site now (web chat): a page that joins a conversation, and
# its heartbeats, ask the visitor's widgets to say so (``visitor.query``; they answer with
# ``visitor.presence``). This process asks about one conversation at most once every
# VISITOR_QUERY_MIN_SECONDS for heartbeats (a join always asks: that page has heard nothing).
VISITOR_QUERY_MIN_SECONDS = 10.0
# An inbox asks the same about the web chat conversations it lists (``visitors``, at most
# MAX_VISITORS_ASKED ids; a socket's questions closer than VISITORS_MIN_SECONDS apart are
# dropped) and hears every answer from then on, in VISITORS_ROOM.
VISITORS_ROOM = "visitors"
MAX_VISITORS_ASKED = 100
VISITORS_MIN_SECONDS = 5.0
log = logging.getLogger(__name__)


def conversation_room(conversation_id: int) -> str:
    return f"{CONVERSATION_ROOM}{conversation_id}"


def account_room(user_id: int) -> str:
    return f"{ACCOUNT_ROOM}{user_id}"


@dataclass
class Viewer:
    """Who a socket is, for the ``presence`` of the conversations it shows. ``viewer`` is
    an opaque id for the page (one account may have a conversation open in two tabs); the
    socket's own id is never sent to other sockets."""

    user_id: int
    name: str
    viewer: str
    said_at: float = 0.0
    asked_at: float = float("-inf")
    visitors_asked_at: float = float("-inf")
    idle: bool = False  # no input on the page for IDLE_AFTER_SECONDS: not counted online


def _conversation_id(data) -> int | None:
    """The positive integer ``conversation_id`` of an event payload, or None."""
    value = data.get("conversation_id") if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


def same_origin() -> bool:
    """True unless the browser says the page that opened the socket is on another site.

    Browsers always send ``Origin`` with a WebSocket handshake and a cross-origin XHR; a
    same-origin long-polling GET may omit it, and so do non-browser clients. Host and port
    are compared, not the scheme, so a TLS-terminating proxy needs no extra setting (as
    for the web chat's origin check).
    """
    origin = request.headers.get("Origin")
    if not origin:
        return True
    return urlsplit(origin.strip().lower()).netloc == request.host.lower()


class AdminNamespace(Namespace):
    """Logged-in admins and agents only, from pages served by this app.

    Every event is checked again when it arrives (``trigger_event``), not only the
    connection: a socket whose account was disabled, or whose password changed, is refused
    and disconnected at its next event, and a silent one within
    ``ADMIN_SESSION_RECHECK_SECONDS`` (``admin_app.live_sessions``). An event listed in
    ``ADMIN_ONLY_EVENTS`` is refused to agents; a new handler is covered by these checks
    without doing anything itself.
    """

    LIFECYCLE_EVENTS = frozenset({"connect", "disconnect"})
    ADMIN_ONLY_EVENTS: frozenset[str] = frozenset()  # none yet: agents may join, leave, type

    def __init__(self, services: Services) -> None:
        super().__init__(NAMESPACE)
        self.services = services
        self._connected = 0
        self._lock = threading.Lock()
        self._sessions: SocketSessions | None = None
        self._rounds: SeenRounds | None = None
        self._viewers: dict[str, Viewer] = {}  # socket id -> who it is
        self._visitor_asked: dict[int, float] = {}  # conversation id -> when its widgets were

    @property
    def connected(self) -> int:
        """Sockets of this process in the namespace (stats are computed only if any)."""
        return self._connected

    def trigger_event(self, event, *args):
        handler = getattr(self, f"on_{event}", None)
        if handler is None or event in self.LIFECYCLE_EVENTS:
            return super().trigger_event(event, *args)
        # The check needs the event's request context (the socket's session), which
        # Flask-SocketIO builds around the handler it is given: give it a checking one.
        return self.socketio._handle_event(
            self._checked(event, handler), event, self.namespace, *args
        )

    def _checked(self, event: str, handler):
        def checked(*args):
            if not session_user.is_authenticated:
                # Answer first, then drop the socket: disconnecting here would discard the
                # acknowledgement, which is sent only once this handler has returned.
                self.socketio.start_background_task(self._drop, request.sid)
                return {"ok": False, "error": "authentication required"}
            if event in self.ADMIN_ONLY_EVENTS and session_user.user.role != "admin":
                return {"ok": False, "error": "admin role required"}
            return handler(*args)

        return checked

    @property
    def sessions(self) -> SocketSessions:
        """The periodic re-check of this process's sockets (made once Socket.IO is bound)."""
        if self._sessions is None:
            server = self.socketio.server
            self._sessions = SocketSessions(
                load_user=self.services.store.get_user,
                session_id=lambda user: SessionUser(user).get_id(),
                disconnect=lambda sid: server.disconnect(sid, namespace=NAMESPACE),
                sleep=server.sleep,
                start=server.start_background_task,
                interval=self.services.settings.admin_session_recheck_seconds,
            )
        return self._sessions

    @property
    def rounds(self) -> SeenRounds:
        """This process's rounds marking its sockets' accounts seen (online)."""
        if self._rounds is None:
            server = self.socketio.server
            self._rounds = SeenRounds(
                accounts=self.accounts,
                seen=self.services.tracker.seen,
                sleep=server.sleep,
                start=server.start_background_task,
                interval=self.services.tracker.offline_after.total_seconds() / 3,
            )
        return self._rounds

    def accounts(self) -> set[int]:
        """The accounts with a socket of this process whose page is not idle."""
        with self._lock:
            return {viewer.user_id for viewer in self._viewers.values() if not viewer.idle}

    def _drop(self, sid: str) -> None:
        self.socketio.sleep(0.2)
        self.socketio.server.disconnect(sid, namespace=NAMESPACE)

    def on_connect(self, auth=None):
        if not session_user.is_authenticated:
            raise ConnectionRefusedError("authentication required")
        if not same_origin():
            raise ConnectionRefusedError("cross-origin connection refused")
        join_room(ADMINS_ROOM)
        self.sessions.add(request.sid, session_user.get_id())
        user = session_user.user
        join_room(account_room(user.id))
        # A page idle as it (re)connects (its network came back at night) says so at once.
        idle = isinstance(auth, dict) and auth.get("idle") is True
        with self._lock:
            self._connected += 1
            self._viewers[request.sid] = Viewer(user.id, user.email, secrets.token_hex(8),
                                                idle=idle)
        self.rounds.wake()
        if not idle:
            # Marked seen now, not at the next round (and handed what waits if it was
            # offline): one store write for an account's first page, none for the next ones
            # a moment later.
            self.services.tracker.came_online(user)

    def on_disconnect(self, reason=None):
        self.sessions.remove(request.sid)
        for room in rooms(request.sid, NAMESPACE):
            if room.startswith(CONVERSATION_ROOM):
                self._presence(int(room[len(CONVERSATION_ROOM):]), viewing=False)
        with self._lock:
            self._connected = max(0, self._connected - 1)
            self._viewers.pop(request.sid, None)

    def on_join(self, data):
        """Follow one conversation: its messages and typing come to this socket, and the
        other pages showing it hear that this one does (``presence`` with ``hello``: they
        answer with their own ``viewing``)."""
        conversation_id = _conversation_id(data)
        if conversation_id is None:
            return {"ok": False, "error": "conversation_id must be a positive integer"}
        join_room(conversation_room(conversation_id))
        self._presence(conversation_id, viewing=True, hello=True)
        self._ask_visitor(conversation_id, heartbeat=False)
        return {"ok": True}

    def on_leave(self, data):
        conversation_id = _conversation_id(data)
        if conversation_id is not None:
            leave_room(conversation_room(conversation_id))
            self._presence(conversation_id, viewing=False)
        return {"ok": True}

    def on_viewing(self, data):
        """This page still shows the conversation (every 25 s, and in answer to another
        page's hello). Only for a conversation the socket has joined."""
        conversation_id = _conversation_id(data)
        if conversation_id is None or conversation_room(conversation_id) not in rooms():
            return {"ok": False, "error": "join the conversation first"}
        self._presence(conversation_id, viewing=True)
        self._ask_visitor(conversation_id, heartbeat=True)
        return {"ok": True}

    def _ask_visitor(self, conversation_id: int, heartbeat: bool) -> None:
        """Ask the person's widgets whether they are on the site (``visitor.query``: the web
        chat's widgets following the conversation answer, the pages showing it hear them as
        ``visitor.presence``; no widget, no answer)."""
        now = time.monotonic()
        with self._lock:
            asked = self._visitor_asked.get(conversation_id)
            if heartbeat and asked is not None and now - asked < VISITOR_QUERY_MIN_SECONDS:
                return
            if len(self._visitor_asked) > 10_000:  # forget conversations nobody shows now
                self._visitor_asked = {k: v for k, v in self._visitor_asked.items()
                                       if now - v < VISITOR_QUERY_MIN_SECONDS}
            self._visitor_asked[conversation_id] = now
        self.services.events.publish(Event("visitor.query", {}, conversation_id))

    def on_idle(self, data):
        """``{"idle": true}``: nobody has used this page for IDLE_AFTER_SECONDS; ``false``:
        somebody has again. An account whose every page is idle stops being said online
        (offline OFFLINE_AFTER_SECONDS later, as with no page open); one whose page wakes
        is online again at once, and handed what waits if it had gone offline."""
        idle = data.get("idle") if isinstance(data, dict) else None
        if not isinstance(idle, bool):
            return {"ok": False, "error": "idle must be true or false"}
        with self._lock:
            viewer = self._viewers.get(request.sid)
            if viewer is None:
                return {"ok": False}
            woke, viewer.idle = viewer.idle and not idle, idle
            user_id = viewer.user_id
        if woke:
            try:
                user = self.services.store.get_user(user_id)
            except StoreUnavailable:
                user = None  # the next round says it is online
            if user is not None:
                self.services.tracker.came_online(user)
        return {"ok": True}

    def on_visitors(self, data):
        """An inbox asks whether the people of the web chat conversations it lists are on
        the site (``{"conversation_ids": [...]}``): their widgets are asked as for a page
        showing one (``visitor.query``, at most every 10 s per conversation), and this
        socket hears every ``visitor.presence`` from then on (``VISITORS_ROOM``)."""
        ids = data.get("conversation_ids") if isinstance(data, dict) else None
        if not isinstance(ids, list) or len(ids) > MAX_VISITORS_ASKED or not all(
                _conversation_id({"conversation_id": i}) for i in ids):
            return {"ok": False, "error": "conversation_ids must be a list of at most "
                                          f"{MAX_VISITORS_ASKED} positive integers"}
        asks = self._may_ask("visitors_asked_at", VISITORS_MIN_SECONDS)
        if asks is not True:
            return {"ok": asks is None}  # None: asked a moment ago, the answers on their way
        join_room(VISITORS_ROOM)
        for conversation_id in dict.fromkeys(ids):
            self._ask_visitor(conversation_id, heartbeat=True)
        return {"ok": True}

    def on_who(self, data=None):
        """Which conversations the other pages show: every page showing one answers with
        its ``viewing`` about a second later (``presence.query``), so an inbox that has
        just connected need not wait for their 25 s heartbeats."""
        asks = self._may_ask("asked_at", WHO_MIN_SECONDS)
        if asks is not True:
            return {"ok": asks is None}  # None: asked a moment ago, the answers on their way
        self.services.events.publish(Event("presence.query", {}))
        return {"ok": True}

    def _may_ask(self, when: str, floor: float) -> bool | None:
        """Whether this socket may ask its question now (the time kept in the viewer's
        ``when``): True, and the time is noted; None, it asked less than ``floor`` seconds
        ago; False, no such socket."""
        with self._lock:
            viewer = self._viewers.get(request.sid)
            if viewer is None:
                return False
            now = time.monotonic()
            if now - getattr(viewer, when) < floor:
                return None
            setattr(viewer, when, now)
            return True

    def _presence(self, conversation_id: int, viewing: bool, hello: bool = False) -> None:
        """Tell every admin page whether this socket shows the conversation (a heartbeat too
        soon after the socket's last one is dropped: they know already)."""
        with self._lock:
            viewer = self._viewers.get(request.sid)
            if viewer is None:
                return
            if viewing and not hello:  # a heartbeat
                now = time.monotonic()
                if now - viewer.said_at < PRESENCE_MIN_SECONDS:
                    return
                viewer.said_at = now
        self.services.events.publish(
            Event(
                "presence",
                {
                    "conversation_id": conversation_id,
                    "viewer": viewer.viewer,
                    "user_id": viewer.user_id,
                    "name": viewer.name,
                    "viewing": viewing,
                    "hello": hello,
                },
                conversation_id,
            )
        )

    def on_typing(self, data):
        """An agent is typing (or stopped): other admins and the person's channel hear it."""
        conversation_id = _conversation_id(data)
        if conversation_id is None or not session_user.is_authenticated:
            return {"ok": False}
        user = session_user.user
        self.services.events.publish(
            Event(
                "typing",
                {
                    "conversation_id": conversation_id,
                    "sender_type": "agent",
                    "typing": bool(data.get("typing", True)),
                    "user_id": user.id,
                    "name": user.email,
                    # What the person may be told ("Sam is typing"); never the e-mail.
                    "agent_name": user.display_name,
                },
                conversation_id,
            )
        )
        return {"ok": True}


class EventRelay:
    """Forwards every domain event to the rooms that show it; throttles ``stats.updated``.

    Stats are recomputed at most once per ``stats_interval`` seconds after something
    changed, and only while this process has admins connected.
    """

    def __init__(
        self, socketio: SocketIO, services: Services, namespace: AdminNamespace,
        stats_interval: float,
    ) -> None:
        self.socketio = socketio
        self.server = socketio.server
        self.services = services
        self.namespace = namespace
        self.stats_interval = stats_interval
        self._stats_pending = False
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        data = {**event.data, "conversation_id": event.conversation_id}
        if event.name in ("conversation.created", "conversation.updated"):
            rooms = [ADMINS_ROOM]
            if event.conversation_id is not None:
                rooms.append(conversation_room(event.conversation_id))
            self._emit(event.name, data, rooms)
            self._stats_changed()
        elif event.name == "conversation.deleted":  # every page: lists drop the row
            self._emit(event.name, data, ADMINS_ROOM)
            self._stats_changed()
        elif event.name == "presence":  # the inbox shows it too: every page is in admins
            self._emit(event.name, data, ADMINS_ROOM)
        elif event.name == "presence.query":
            self._emit(event.name, {}, ADMINS_ROOM)
        elif event.name == "visitor.presence" and event.conversation_id is not None:
            # The pages showing the conversation, and the inboxes that asked (on their rows).
            self._emit(event.name, data,
                       [conversation_room(event.conversation_id), VISITORS_ROOM])
        elif event.name in ("message.created", "message.updated", "typing"):
            if event.conversation_id is not None:
                self._emit(event.name, data, conversation_room(event.conversation_id))
            if event.name == "message.created":
                self._stats_changed()
        elif event.name == "conversation.read":  # the account's own pages only
            self._emit(event.name, data, account_room(event.data["read"]["user_id"]))
        elif event.name == "conversations.read":
            self._emit(event.name, event.data, account_room(event.data["user_id"]))
        elif event.name == "note.mentioned":  # the pages of each account a note names
            told = {k: v for k, v in data.items() if k != "user_ids"}
            self._emit(event.name, told, [account_room(i) for i in event.data["user_ids"]])
        elif event.name in ("stats.updated", "store.status", "account.available",
                            "account.online", "hours.changed"):
            self._emit(event.name, event.data, ADMINS_ROOM)

    def _emit(self, name: str, data: dict, to) -> None:
        # Through the Socket.IO server of this app (bound at registration), so an app's
        # events never reach another app built later in the same process (tests do that).
        self.server.emit(name, data, to=to, namespace=NAMESPACE)

    def _stats_changed(self) -> None:
        if not self.namespace.connected:
            return
        with self._lock:
            if self._stats_pending:
                return
            self._stats_pending = True
        self.server.start_background_task(self._emit_stats_later)

    def _emit_stats_later(self) -> None:
        self.server.sleep(self.stats_interval)
        with self._lock:
            self._stats_pending = False
        started = time.monotonic()
        try:
            stats = self.services.tracker.stats()
        except StoreUnavailable as exc:
            # Expected while the store is down (the banner says so) or after it was closed at
            # shutdown: one line, no traceback each time; the next change tries again.
            log.warning("could not compute stats for the admin panel: %s", exc)
            return
        except Exception:
            log.exception("could not compute stats for the admin panel")
            return
        log.debug("stats for the admin panel in %.0f ms", (time.monotonic() - started) * 1000)
        self._emit("stats.updated", {"stats": stats.model_dump(mode="json")}, ADMINS_ROOM)


def store_status(services: Services) -> dict:
    """``{"available", "spooled"}``: whether the store is up, as this host's spool sees it
    (for the banner on page load and the health endpoint)."""
    try:
        spooled = services.spool.count() if services.spool is not None else 0
    except Exception:  # the spool file itself is unreadable: say nothing rather than fail
        log.exception("could not read the spool")
        spooled = 0
    return {"available": spooled == 0 and services.tracker.store_available, "spooled": spooled}


def store_status_context() -> dict:
    """Template context for ``base.html``'s banner (an app context processor)."""
    from admin_app import get_services

    return {"store_status": store_status(get_services())}


def hours_context() -> dict:
    """Template context for ``base.html``'s top bar: the "Away" pill's business hours'
    status now (None when the team is always open), and whether AUTO_ASSIGN is on (the
    account's Available / Away toggle, and the Settings page's column of them)."""
    from admin_app import get_services

    services = get_services()
    hours = services.hours()
    return {
        "hours_status": hours.status(services.clock()) if hours else None,
        "auto_assign": services.settings.auto_assign,
        "auto_assign_online_only": services.settings.auto_assign_online_only,
        "idle_after": services.settings.idle_after_seconds,
    }


def register(socketio: SocketIO, services: Services) -> EventRelay:
    """Serve ``/admin`` on the app's Socket.IO server and relay the services' events."""
    namespace = AdminNamespace(services)
    socketio.on_namespace(namespace)
    relay = EventRelay(
        socketio, services, namespace, services.settings.admin_stats_interval_seconds
    )
    services.events.subscribe(relay)
    return relay

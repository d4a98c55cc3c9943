"""Web chat channel: an embeddable widget, live over Socket.IO ``/chat``, with an HTTP fallback.

``init_app(app, socketio)`` registers everything on an app built by ``create_app``: the
``/chat`` blueprint (widget files, demo page, JSON endpoints), the ``/chat`` namespace, the
channel's sender in the outbox, and the subscriber that tells visitors about changes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from flask import Flask
from flask_socketio import SocketIO

from services.business_hours import BusinessHours
from services.runtime import Services
from services.settings import Settings

from channels.webchat.chat import WebchatChannel
from channels.webchat.identity import VisitorTokens
from channels.webchat.live import NAMESPACE, DegradedWebchatSender, VisitorEvents, WebchatSender
from channels.webchat.origins import OriginPolicy
from channels.webchat.ratelimit import EXTENSION_KEY, limiter

__all__ = ["NAMESPACE", "Webchat", "init_app"]
log = logging.getLogger(__name__)


@dataclass
class Webchat:
    """The web chat's collaborators for one app (``app.extensions["webchat"]``)."""

    services: Services
    settings: Settings
    channel: WebchatChannel
    tokens: VisitorTokens
    origins: OriginPolicy
    events: VisitorEvents
    sender: WebchatSender
    hours: Callable[[], BusinessHours | None] = lambda: None  # None: always open


def init_app(app: Flask, socketio: SocketIO) -> Webchat:
    """Serve the web chat on ``app`` (after ``socketio.init_app(app)``)."""
    from channels.webchat import namespace, views

    services: Services = app.extensions["switchboard"]
    settings = services.settings
    chat = Webchat(
        services=services,
        settings=settings,
        channel=WebchatChannel(services.tracker, settings, services.reply_time),
        tokens=VisitorTokens(app.config["SECRET_KEY"], settings.chat_token_max_age_days * 86400),
        origins=OriginPolicy(settings.chat_allowed_origins),
        events=VisitorEvents(socketio, services.tracker),
        sender=WebchatSender(socketio),
        hours=services.hours,
    )
    app.extensions[EXTENSION_KEY] = chat
    limiter.init_app(app)
    app.register_blueprint(views.bp)
    socketio.on_namespace(namespace.ChatNamespace(chat))
    services.senders[WebchatSender.platform] = chat.sender
    services.degraded_senders[WebchatSender.platform] = DegradedWebchatSender(
        socketio, services.clock)
    services.events.subscribe(chat.events)
    if chat.origins.cross_origin:
        _accept_socket_origins(socketio, chat.origins)
    return chat


def _accept_socket_origins(socketio: SocketIO, origins: OriginPolicy) -> None:
    """Let Engine.IO accept the handshakes of the embedding sites, not only this origin.

    Engine.IO checks Origin for the whole server, before any namespace; the ``/chat``
    namespace checks it again, and ``/admin`` keeps refusing other origins itself.
    """
    eio = socketio.server.eio
    if eio.cors_allowed_origins is not None:
        log.warning("Socket.IO origins are configured elsewhere; CHAT_ALLOWED_ORIGINS "
                    "is enforced by the /chat namespace only")
        return
    eio.cors_allowed_origins = origins.allows_environ

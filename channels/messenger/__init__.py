"""Facebook Messenger: signed webhooks in (``webhook``, ``parser``, ``inbox``), Send API
out (``client``, ``sender``, ``window``), user profiles (``profiles``), the rating
request after a closing (``ratings``), the typing and seen indicators
(``sender_actions``), and the personas agents' replies go out as (``personas``).

``init_app(app)`` registers the webhook blueprint; its handlers take the tracker and
settings from the app's services at request time, so there is no other global state.
"""

from __future__ import annotations

import logging

from flask import Flask

from channels.messenger.client import MessengerClient, split_text
from channels.messenger.degraded import DegradedMessengerSender
from channels.messenger.inbox import MessengerInbox
from channels.messenger.parser import NotAPageWebhook, parse_webhook
from channels.messenger.personas import Personas
from channels.messenger.profiles import ProfileFetcher
from channels.messenger.ratings import RatingRequests
from channels.messenger.sender import MessengerSender
from channels.messenger.sender_actions import SenderActions
from channels.messenger.signature import verify_signature
from channels.messenger.window import WindowDecision, decide, window_state

log = logging.getLogger(__name__)

__all__ = [
    "MessengerClient", "MessengerInbox", "MessengerSender", "NotAPageWebhook",
    "ProfileFetcher", "WindowDecision", "decide", "init_app", "client_from_settings",
    "parse_webhook", "register_services", "split_text", "verify_signature", "window_state",
]


def init_app(app: Flask) -> None:
    """Register ``GET``/``POST /webhook`` on ``app``, and (when the app's services take
    channel senders) the Messenger sender and profile hook for the background worker."""
    from channels.messenger.webhook import bp

    app.register_blueprint(bp)
    services = app.extensions.get("switchboard")
    if services is not None:
        register_services(services)


def register_services(services) -> None:
    """Give the outbox a Messenger sender and the bot a profile hook (needs the page token)."""
    senders = getattr(services, "senders", None)
    hooks = getattr(services, "profile_hooks", None)
    if senders is None or "messenger" in senders:
        return
    if not services.settings.facebook_page_access_token.get_secret_value():
        log.info("FACEBOOK_PAGE_ACCESS_TOKEN is not set: Messenger replies cannot be sent")
        return
    client = client_from_settings(services.settings)
    picture = services.settings.messenger_persona_picture_url
    senders["messenger"] = MessengerSender(
        client, services.clock, services.tracker,
        echo_grace_seconds=services.settings.messenger_echo_grace_seconds,
        personas=Personas(client, str(picture)) if picture else None)
    degraded = getattr(services, "degraded_senders", None)
    if degraded is not None:  # the bot's replies while the store is down (services/spool.py)
        degraded["messenger"] = DegradedMessengerSender(client)
    if hooks is not None:
        hooks["messenger"] = ProfileFetcher(client, services.tracker).ensure_profile
    # "How did we do?" when an account closes a conversation (channels/messenger/ratings.py).
    services.events.subscribe(RatingRequests(
        services.tracker, services.settings.rating_request_message, services.clock))
    # "typing…" and "Seen" for the person (channels/messenger/sender_actions.py).
    if services.settings.messenger_sender_actions:
        services.events.subscribe(SenderActions(client, services.tracker, services.clock))


def client_from_settings(settings) -> MessengerClient:
    """A ``MessengerClient`` configured from the ``FACEBOOK_*``/``GRAPH_API_*`` settings."""
    return MessengerClient(
        page_token=settings.facebook_page_access_token.get_secret_value(),
        api_base=str(settings.graph_api_base),
        api_version=settings.graph_api_version,
        timeout=settings.graph_api_timeout_seconds,
    )

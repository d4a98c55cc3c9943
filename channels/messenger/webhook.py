"""The Messenger webhook: ``GET /webhook`` (subscription handshake), ``POST /webhook``.

A POST is answered ``200 {"status": "ok"}`` once every event is stored -- fast, because
nothing here calls the Graph API or the bot: the tracker stores each message with its
``respond`` job in one transaction and a background worker answers it. While the store is
down, messages are journalled in the local spool (``services/spool.py``) and still get 200.
Errors are JSON ``{"error": ..., "detail": ...}``: 413 oversized body, 403 missing or wrong
signature (checked on the raw body before anything is parsed), 400 not JSON or not a Page
webhook, 503 when the store cannot be reached for an event the spool does not take (a
receipt, a reaction): Facebook then redelivers the batch, and mids make that safe.
"""

from __future__ import annotations

import hmac
import json
import logging

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from channels.messenger.inbox import MessengerInbox
from channels.messenger.parser import NotAPageWebhook, parse_webhook
from channels.messenger.signature import verify_signature
from services.errors import StoreUnavailable

bp = Blueprint("messenger", __name__)
log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"


def _services():
    from admin_app import get_services  # the app binds the services; channels only use them

    return get_services()


def _error(status: int, error: str, detail: str):
    return jsonify(error=error, detail=detail), status


@bp.get("/webhook")
def verify_subscription():
    """Facebook's handshake: echo ``hub.challenge`` when the verify token matches."""
    expected = _services().settings.facebook_verify_token.get_secret_value()
    token = request.args.get("hub.verify_token", "")
    if (
        not expected
        or request.args.get("hub.mode") != "subscribe"
        or not hmac.compare_digest(token.encode(), expected.encode())
    ):
        return _error(403, "forbidden", "the verify token does not match")
    response = Response(request.args.get("hub.challenge", ""), 200, mimetype="text/plain")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _read_body(limit: int) -> bytes | None:
    """The raw body, or None when it is larger than ``limit`` (never read unbounded)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    # Bounds a chunked body as it is read. werkzeug stops silently at the maximum, so
    # allow one byte more: a body that reaches it is too large.
    request.max_content_length = limit + 1
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return None
    return None if len(raw) > limit else raw


@bp.post("/webhook")
def receive():
    """Verify, parse and store a batch of Messenger events."""
    services = _services()
    settings = services.settings
    limit = settings.webhook_max_body_bytes
    raw = _read_body(limit)
    if raw is None:
        return _error(413, "payload_too_large", f"the body is larger than {limit} bytes")

    secret = settings.facebook_app_secret.get_secret_value()
    if not secret:
        log.error("messenger webhook refused: FACEBOOK_APP_SECRET is not set")
        return _error(403, "forbidden", "webhook signatures cannot be checked")
    if not verify_signature(raw, request.headers.get(SIGNATURE_HEADER), secret):
        log.warning("messenger webhook refused: missing or wrong %s", SIGNATURE_HEADER)
        return _error(403, "forbidden", f"missing or wrong {SIGNATURE_HEADER}")

    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return _error(400, "bad_request", "the body is not JSON")
    try:
        events = parse_webhook(body)
    except NotAPageWebhook as exc:
        return _error(400, "bad_request", str(exc))

    inbox = MessengerInbox(services.tracker, settings.facebook_app_id)
    try:
        outcomes = inbox.handle_all(events)
    except StoreUnavailable as exc:
        log.warning("messenger webhook: store unavailable (%s); Facebook will redeliver", exc)
        return _error(503, "store_unavailable", "try again later")
    log.debug("messenger webhook: %s", dict(outcomes))
    return jsonify(status="ok")

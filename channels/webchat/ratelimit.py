"""Per-visitor message rate limit, shared by the HTTP fallback and the Socket.IO namespace.

HTTP views use Flask-Limiter's ``shared_limit`` (``CHAT_RATE_LIMIT``, keyed by visitor id,
one scope for every view that stores a message). The socket handler counts in the very
same moving-window bucket through the limiter's own ``limits`` strategy, so a visitor
cannot double their allowance by switching transport. The storage is Flask-Limiter's:
``RATELIMIT_STORAGE_URI`` (in memory by default; ``redis://…`` to share it between
processes). If that storage fails, messages are let through (``swallow_errors``): a broken
limiter must not silence every visitor.
"""

from __future__ import annotations

import logging

from flask import current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many

from channels.webchat.identity import InvalidToken, bearer_token

SCOPE = "webchat:messages"
EXTENSION_KEY = "webchat"
log = logging.getLogger(__name__)


def visitor_key(visitor_id: str) -> str:
    return f"visitor:{visitor_id}"


def request_visitor_key() -> str:
    """Flask-Limiter's key for a request: its visitor, else (bad token) its address."""
    if "webchat_rate_key" not in g:
        key = f"address:{get_remote_address()}"
        token = bearer_token(request.headers.get("Authorization"))
        if token:
            try:
                tokens = current_app.extensions[EXTENSION_KEY].tokens
                key = visitor_key(tokens.verify(token).id)
            except InvalidToken:
                pass
        g.webchat_rate_key = key
    return g.webchat_rate_key


limiter = Limiter(
    key_func=request_visitor_key,
    strategy="moving-window",
    headers_enabled=True,
    swallow_errors=True,
)
# Only the web chat's own views have limits of this limiter: ``create_app`` runs its
# request hooks for this blueprint alone (``admin_app.extensions.scope_limiter``).
LIMITED_BLUEPRINTS = frozenset({"webchat"})


def message_limit() -> str:
    return current_app.extensions[EXTENSION_KEY].settings.chat_rate_limit


def session_limit() -> str:
    return current_app.extensions[EXTENSION_KEY].settings.chat_session_rate_limit


def allow_message(visitor_id: str) -> bool:
    """Count one message of the visitor in the shared bucket; False when over the limit."""
    try:
        strategy = limiter.limiter
        key = visitor_key(visitor_id)
        # As Flask-Limiter does for a view: the tightest limit first, stop at a breach.
        return all(strategy.hit(item, key, SCOPE) for item in sorted(parse_many(message_limit())))
    except Exception:  # the storage is down: let the message through
        log.exception("rate limit storage failed; message allowed")
        return True

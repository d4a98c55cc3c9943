"""Who a web chat visitor is: a random visitor id, bound by a signed, expiring token.

The server makes every visitor id; a visitor id is never accepted on its own word, only
inside a token this server signed (itsdangerous, with the app's ``SECRET_KEY`` and a salt
of its own, so no other signed value of the app can pass for one).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

SALT = "switchboard.webchat.visitor.v1"
VISITOR_ID = re.compile(r"^v_[A-Za-z0-9_-]{16,64}$")
MAX_DISPLAY_NAME = 80
_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidToken(Exception):
    """The token is missing, forged, malformed or expired."""


@dataclass(frozen=True)
class Visitor:
    """A visitor as their token says: the id conversations are kept under, and a name."""

    id: str
    display_name: str | None = None


def new_visitor_id() -> str:
    """A fresh, unguessable visitor id (128 random bits)."""
    return "v_" + secrets.token_urlsafe(16)


def clean_display_name(value: object) -> str | None:
    """The name a visitor gave, on one line and at most 80 characters; None if empty.

    Lone surrogates (JSON ``"\\ud800"``) become U+FFFD: no encoder or store takes them.
    """
    if not isinstance(value, str):
        return None
    value = _SURROGATE.sub("\ufffd", value.replace("\x00", ""))
    name = " ".join(value.split())[:MAX_DISPLAY_NAME]
    return name or None


class VisitorTokens:
    """Issues and checks visitor tokens."""

    def __init__(self, secret_key: str, max_age_seconds: float) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=SALT)
        self.max_age_seconds = max_age_seconds

    def issue(self, visitor: Visitor) -> str:
        payload = {"v": visitor.id}
        if visitor.display_name:
            payload["n"] = visitor.display_name
        return self._serializer.dumps(payload)

    def verify(self, token: object) -> Visitor:
        """The visitor the token names; ``InvalidToken`` otherwise."""
        if not isinstance(token, str) or not token or len(token) > 1024:
            raise InvalidToken("a visitor token is required")
        try:
            payload = self._serializer.loads(token, max_age=self.max_age_seconds)
        except BadSignature as exc:  # SignatureExpired is a BadSignature too
            raise InvalidToken("the visitor token is invalid or has expired") from exc
        visitor_id = payload.get("v") if isinstance(payload, dict) else None
        if not isinstance(visitor_id, str) or not VISITOR_ID.match(visitor_id):
            raise InvalidToken("the visitor token is invalid")
        return Visitor(visitor_id, clean_display_name(payload.get("n")))


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()

"""Who a web chat visitor is: a random visitor id, bound by a signed, expiring token.

The server makes every visitor id; a visitor id is never accepted on its own word, only
inside a token this server signed (itsdangerous, with the app's ``SECRET_KEY`` and a salt
of its own, so no other signed value of the app can pass for one).

Identity verification (``CHAT_IDENTITY_SECRET``): a site that signs its customers in puts
their id on the widget with ``HMAC-SHA256(CHAT_IDENTITY_SECRET, id)`` as hex, computed by
its server (the secret never reaches a browser). A session given both, matching, is that
customer's: its visitor id is derived from theirs with ``SECRET_KEY``
(``user_visitor_id``), the same on every device and browser, so they find their
conversations wherever they sign in, and the team sees their id and e-mail as verified.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from services.business_hours import zone_named

SALT = "switchboard.webchat.visitor.v1"
VISITOR_ID = re.compile(r"^v_[A-Za-z0-9_-]{16,64}$")
MAX_DISPLAY_NAME = 80
USER_ID_MAX = 200
EMAIL_MAX = 254
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
TIME_ZONE_MAX = 64
LANGUAGE_MAX = 35
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}")


class InvalidToken(Exception):
    """The token is missing, forged, malformed or expired."""


@dataclass(frozen=True)
class Visitor:
    """A visitor as their token says: the id conversations are kept under, and a name;
    for a customer the site vouched for (identity verification), their id and e-mail."""

    id: str
    display_name: str | None = None
    user_id: str | None = None
    email: str | None = None
    # What the visitor's browser says of them: its IANA time zone and language (BCP 47), so
    # the team sees their local time (the widget sends both; an API client may not).
    time_zone: str | None = None
    language: str | None = None

    def profile(self) -> dict[str, object] | None:
        """What the team is shown of the visitor (the conversation's profile): a verified
        customer's id and e-mail, and the browser's time zone and language; None: nothing."""
        found: dict[str, object] = {}
        if self.user_id is not None:
            found.update(user_id=self.user_id, verified=True)
            if self.email:
                found["email"] = self.email
        if self.time_zone:
            found["time_zone"] = self.time_zone
        if self.language:
            found["language"] = self.language
        return found or None


class IdentityError(ValueError):
    """The site's identity for a visitor cannot be taken: the reason, for its developer."""


def user_visitor_id(secret_key: str, user_id: str) -> str:
    """The visitor id of the site's customer ``user_id``: the same on every device, and
    unguessable without ``SECRET_KEY`` (it does not show the customer's id)."""
    digest = hmac.new(secret_key.encode(), b"user\x00" + user_id.encode(),
                      hashlib.sha256).digest()
    return "v_" + base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def verified_identity(identity_secret: str, user_id: object, user_hash: object,
                      email: object) -> tuple[str, str | None]:
    """The customer's id and e-mail when ``user_hash`` is the HMAC-SHA256 of ``user_id``
    with the identity secret (hex, any case); ``IdentityError`` otherwise, or when
    verification is off (no secret). An e-mail that is not one is left out."""
    if not identity_secret:
        raise IdentityError("identity verification is off (CHAT_IDENTITY_SECRET is not set)")
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > USER_ID_MAX:
        raise IdentityError(f"user_id must be text of 1 to {USER_ID_MAX} characters")
    expected = hmac.new(identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()
    if not isinstance(user_hash, str) or not hmac.compare_digest(expected, user_hash.lower()):
        raise IdentityError("user_hash is not HMAC-SHA256(CHAT_IDENTITY_SECRET, user_id)")
    mail = email.strip() if isinstance(email, str) else ""
    return user_id, mail if len(mail) <= EMAIL_MAX and _EMAIL.fullmatch(mail) else None


def clean_time_zone(value: object) -> str | None:
    """An IANA time zone this server knows (``Europe/Paris``); None for anything else (a
    browser's zone the server's tz database lacks is left out, not refused)."""
    if not isinstance(value, str) or not 1 <= len(value) <= TIME_ZONE_MAX:
        return None
    try:
        return zone_named(value).key
    except ValueError:
        return None


def clean_language(value: object) -> str | None:
    """A BCP 47 language tag as browsers give it (``de-AT``); None for anything else."""
    if isinstance(value, str) and len(value) <= LANGUAGE_MAX and _LANGUAGE.fullmatch(value):
        return value
    return None


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
        if visitor.user_id is not None:
            payload["u"] = visitor.user_id
            if visitor.email:
                payload["e"] = visitor.email
        if visitor.time_zone:
            payload["z"] = visitor.time_zone
        if visitor.language:
            payload["l"] = visitor.language
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
        user_id, email = payload.get("u"), payload.get("e")
        return Visitor(visitor_id, clean_display_name(payload.get("n")),
                       user_id if isinstance(user_id, str) else None,
                       email if isinstance(email, str) else None,
                       clean_time_zone(payload.get("z")), clean_language(payload.get("l")))


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()

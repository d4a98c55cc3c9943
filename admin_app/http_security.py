"""HTTP hardening of every response: security headers (Flask-Talisman) and cookie flags.

``init_security(app, settings)`` is the one call ``create_app`` makes. Every response gets a
Content-Security-Policy with no inline script or style, ``X-Content-Type-Options: nosniff``
and a ``Referrer-Policy``; pages may not be framed (``frame-ancestors 'none'``), except the
web chat's embed routes (``/chat/…``), which the sites of ``CHAT_ALLOWED_ORIGINS`` may frame;
a file sent in a conversation (``/files/…``) is sandboxed and may load nothing.
With ``FORCE_HTTPS`` plain-http requests are redirected and HSTS is sent. Cookies are
``HttpOnly`` and ``SameSite=Lax`` always, and ``Secure`` whenever the request came over
HTTPS (directly or through a trusted proxy) or a setting says the site is HTTPS-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import flask
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask_talisman import Talisman

from services.settings import Settings

if TYPE_CHECKING:
    from itsdangerous import URLSafeTimedSerializer

# Scripts and styles come only from this app (no inline code, no CDN). Attachments may be
# images hosted by the platform (Messenger's CDN), hence https: for images and media.
BASE_POLICY: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: https:",
    "media-src": "'self' https:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# Only the referrer's origin, and only to this site: admin URLs name conversations, and
# admin pages load attachment images from the platform's CDN.
REFERRER_POLICY = "same-origin"
# The web chat's routes are what other sites embed (the script, its files, the demo page).
EMBED_BLUEPRINTS = frozenset({"webchat"})
# Files sent in conversations (admin_app/files.py): whatever their bytes, never a page
# of this site that runs or loads anything.
FILES_BLUEPRINT = "files"
FILE_POLICY = "default-src 'none'; sandbox"
# Load balancers probe these over plain http on the private side: never redirect them.
PROBE_ENDPOINTS = frozenset({"health.healthz", "health.readyz"})
HSTS_MAX_AGE = 365 * 24 * 3600


def frame_ancestors(allowed_origins: list[str]) -> str:
    """The ``frame-ancestors`` source list for the embed routes: this app and the
    configured sites (``*`` when every site may embed the chat)."""
    if "*" in allowed_origins:
        return "*"
    return " ".join(["'self'", *sorted(set(allowed_origins))])


class _SwitchboardTalisman(Talisman):
    """Talisman with two per-route rules that its per-view decorator cannot express for
    views shared by many apps (each test builds its own app with its own origins), and
    what it works out again on every response kept instead.

    Talisman builds a request's options four times (two before-request hooks, the headers,
    the policy) and renders the policy dict to a header at every response: about a tenth
    of a trivial request's CPU. Here the options depend only on the endpoint, so they are
    built once per endpoint, and each policy is rendered once (no CSP nonce is used, the
    one thing that would make a header differ between requests)."""

    def __init__(self, app: Flask, embed_policy: dict[str, str], **options) -> None:
        self.embed_policy = embed_policy
        self._options_by_endpoint: dict[str | None, dict] = {}
        self._rendered: dict[int, tuple[dict, str]] = {}
        super().__init__(app, **options)

    def _get_local_options(self):
        endpoint = flask.request.endpoint
        options = self._options_by_endpoint.get(endpoint)
        if options is None:
            options = super()._get_local_options()
            if flask.request.blueprint in EMBED_BLUEPRINTS:
                options["content_security_policy"] = self.embed_policy
                # X-Frame-Options cannot list origins; frame-ancestors above says who may
                # frame.
                options["frame_options"] = None
            if flask.request.blueprint == FILES_BLUEPRINT:
                options["content_security_policy"] = FILE_POLICY
            if endpoint in PROBE_ENDPOINTS:
                options["force_https"] = False
            self._options_by_endpoint[endpoint] = options
        return options

    def _parse_policy(self, policy):
        if getattr(flask.request, "csp_nonce", None):  # never with our options
            return super()._parse_policy(policy)
        rendered = self._rendered.get(id(policy))
        if rendered is None or rendered[0] is not policy:
            rendered = self._rendered[id(policy)] = (policy, super()._parse_policy(policy))
        return rendered[1]


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with ``Secure`` added on every HTTPS request (after
    ProxyFix, a proxy's ``X-Forwarded-Proto: https`` counts when it is trusted), and one
    signing serializer kept for as long as the keys are the same (Flask builds a new one
    for every request, cookie or not: a few per cent of a trivial request's CPU)."""

    _serializer: tuple[tuple, URLSafeTimedSerializer | None] | None = None

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (
            flask.has_request_context() and flask.request.is_secure
        )

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        kept = self._serializer
        if kept is None or kept[0] != keys:
            kept = self._serializer = (keys, super().get_signing_serializer(app))
        return kept[1]


def https_only(settings: Settings) -> bool:
    """True when cookies must never travel in clear, whatever the request's scheme."""
    return settings.session_cookie_secure or settings.force_https


def init_security(app: Flask, settings: Settings) -> Talisman:
    """Bind the security headers and cookie flags to ``app``."""
    secure = https_only(settings)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        # Flask-Login's "remember me" cookie (not offered today; flags set for when it is).
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
    )
    app.session_interface = _SessionInterface()
    embed_policy = {**BASE_POLICY,
                    "frame-ancestors": frame_ancestors(settings.chat_allowed_origins)}
    return _SwitchboardTalisman(
        app,
        embed_policy,
        content_security_policy=BASE_POLICY,
        frame_options="DENY",
        referrer_policy=REFERRER_POLICY,
        force_https=settings.force_https,
        strict_transport_security=settings.force_https,
        strict_transport_security_max_age=HSTS_MAX_AGE,
        strict_transport_security_include_subdomains=False,  # other hosts are not ours
        session_cookie_secure=False,  # set above, per setting and per request
        session_cookie_http_only=True,
        session_cookie_samesite="Lax",
        x_content_type_options=True,
    )

"""Who is calling: a browser session (Flask-Login) or an API token (``Authorization: Bearer``).

The JSON API accepts both. A change made with the session cookie must also carry the CSRF
token (header ``X-CSRFToken``), since a browser attaches that cookie to forged requests
too; a bearer token is never attached by a browser on its own, so those calls are exempt.
"""

from __future__ import annotations

import hashlib
from functools import wraps

from flask import g, jsonify, redirect, request, url_for
from flask_login import UserMixin
from flask_login import current_user as session_user

from admin_app import get_services
from admin_app.extensions import csrf, login_manager
from admin_app.security import hash_api_token
from services.models import AdminUser

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SessionUser(UserMixin):
    """The Flask-Login view of an ``AdminUser``.

    Its session id includes a digest of the password hash, so changing a password signs
    out every other session of that account; a disabled account is not active.
    """

    def __init__(self, user: AdminUser) -> None:
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.id}.{_fingerprint(self.user)}"

    @property
    def is_active(self) -> bool:
        return not self.user.disabled


def _fingerprint(user: AdminUser) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


@login_manager.user_loader
def _load_user(session_id: str) -> SessionUser | None:
    user_id, _, fingerprint = session_id.partition(".")
    if not user_id.isdigit():
        return None
    user = get_services().store.get_user(int(user_id))
    if user is None or user.disabled or fingerprint != _fingerprint(user):
        return None
    return SessionUser(user)


@login_manager.unauthorized_handler
def _unauthorized():
    if request.path.startswith("/admin/"):
        return _refuse(401, "authentication required")
    return redirect(url_for("account.login", next=request.full_path.rstrip("?")))


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def current_user() -> AdminUser | None:
    """The authenticated admin user of this request, if any (looked up once).

    An ``Authorization`` header decides alone; without one, the logged-in session counts.
    """
    if "admin_user" not in g:
        user, method = None, None
        if request.headers.get("Authorization"):
            token = _bearer_token()
            if token:
                services = get_services()
                user = services.store.authenticate_token(hash_api_token(token), services.clock())
                method = "token" if user else None
        elif session_user.is_authenticated:
            user, method = session_user.user, "session"
        g.admin_user, g.auth_method = user, method
    return g.admin_user


def protect_session_change() -> None:
    """Raise ``CSRFError`` for a state-changing request authenticated by the session cookie
    without a valid CSRF token (form field ``csrf_token`` or header ``X-CSRFToken``)."""
    if request.method not in SAFE_METHODS and g.get("auth_method") != "token":
        csrf.protect()


def _refuse(status: int, error: str):
    response = jsonify(success=False, error=error)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="switchboard"'
    return response


def login_required(view):
    """JSON API: 401 unless a valid token or a logged-in session comes with the request."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            return _refuse(401, "authentication required")
        protect_session_change()
        return view(*args, **kwargs)

    return wrapped


def admin_required(view):
    """Like ``login_required``, and 403 unless the user has the ``admin`` role."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        user = current_user()
        if user is None:
            return _refuse(401, "authentication required")
        protect_session_change()
        if user.role != "admin":
            return _refuse(403, "admin role required")
        return view(*args, **kwargs)

    return wrapped


def page_login_required(view):
    """HTML pages: an anonymous visitor is sent to the login page."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not session_user.is_authenticated:
            return login_manager.unauthorized()
        current_user()
        return view(*args, **kwargs)

    return wrapped

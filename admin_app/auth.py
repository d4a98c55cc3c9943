"""Who is calling: API tokens (``Authorization: Bearer``) for the admin JSON API."""

from __future__ import annotations

from functools import wraps

from flask import g, jsonify, request

from admin_app import get_services
from admin_app.security import hash_api_token
from services.models import AdminUser


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def current_user() -> AdminUser | None:
    """The authenticated admin user of this request, if any (looked up once)."""
    if "admin_user" not in g:
        user = None
        token = _bearer_token()
        if token:
            services = get_services()
            user = services.store.authenticate_token(hash_api_token(token), services.clock())
        g.admin_user = user
    return g.admin_user


def _refuse(status: int, error: str):
    response = jsonify(success=False, error=error)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="switchboard"'
    return response


def login_required(view):
    """Refuse the request with 401 unless a valid, unrevoked token comes with it."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            return _refuse(401, "authentication required")
        return view(*args, **kwargs)

    return wrapped


def admin_required(view):
    """Like ``login_required``, and 403 unless the user has the ``admin`` role."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        user = current_user()
        if user is None:
            return _refuse(401, "authentication required")
        if user.role != "admin":
            return _refuse(403, "admin role required")
        return view(*args, **kwargs)

    return wrapped

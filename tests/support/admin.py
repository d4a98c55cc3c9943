"""Signing in to the admin panel from tests: Flask's test client or ``requests``."""

from __future__ import annotations

import re

from admin_app.security import hash_password

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|name="csrf-token" content="([^"]+)"')


def csrf_from(html: str) -> str:
    """The CSRF token of a rendered admin page (form field or meta tag)."""
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1) or found.group(2)


def make_user(services, email: str = "agent@example.com", role: str = "agent"):
    """The account with that e-mail, created with ``PASSWORD`` if missing."""
    return services.store.get_user_by_email(email) or services.store.create_user(
        email, role, hash_password(PASSWORD), services.clock()
    )


def login(client, email: str, password: str = PASSWORD):
    """Sign a Flask test client in; returns the login response (302 when it worked)."""
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )


def session_csrf(client) -> str:
    """The CSRF token of a signed-in session, for JSON calls (``X-CSRFToken``)."""
    return csrf_from(client.get("/").get_data(as_text=True))


def login_requests(session, base_url: str, email: str, password: str = PASSWORD) -> str:
    """Sign a ``requests.Session`` in to a live server; returns its CSRF token."""
    token = csrf_from(session.get(base_url + "/login", timeout=10).text)
    answer = session.post(
        base_url + "/login", timeout=10, allow_redirects=False,
        data={"email": email, "password": password, "csrf_token": token},
    )
    assert answer.status_code == 302, re.sub(r"\s+", " ", answer.text)[-1500:]
    return csrf_from(session.get(base_url + "/", timeout=10).text)

"""Security headers on every kind of route, and the cookie flags on http and behind HTTPS.

The headers come from ``admin_app.http_security`` (Flask-Talisman); these tests read them
off real responses of an app built as ``create_app`` builds it, over the SQLite store
(headers do not depend on the store).
"""

from __future__ import annotations

import pytest

from tests.support.admin import PASSWORD, csrf_from, login, make_user

SHOP = "https://shop.example"
OTHER_SHOP = "https://www.other-shop.example"


def _policy(header: str) -> dict[str, list[str]]:
    """A CSP header as {directive: [sources]}; a directive named twice fails the test."""
    policy: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if not words:
            continue
        assert words[0] not in policy, f"{words[0]} given twice in {header!r}"
        policy[words[0]] = words[1:]
    return policy


def _build(tmp_path, **overrides):
    from admin_app import create_app
    from services.runtime import build_services
    from services.settings import Settings
    from services.store.sqlite import SqliteStore

    settings = Settings(
        _env_file=None, database_path=tmp_path / "app.db", secret_key="headers-test-key",
        secret_key_file=tmp_path / "secret_key", facebook_app_secret="headers-app-secret",
        facebook_verify_token="headers-verify-token", **overrides,
    )
    services = build_services(settings, store=SqliteStore(tmp_path / "app.db"))
    app = create_app(settings, services)
    app.config["TESTING"] = True
    return app, services


@pytest.fixture
def site(tmp_path):
    app, services = _build(tmp_path, chat_allowed_origins=f"{SHOP},{OTHER_SHOP}")
    yield app, services
    services.store.close()


def _signed_in(app, services, email="admin@example.com", role="admin"):
    make_user(services, email, role)
    client = app.test_client()
    assert login(client, email).status_code == 302
    return client


def _api_headers(services) -> dict[str, str]:
    from admin_app.security import hash_api_token, new_api_token

    user = make_user(services, "robot@example.com", "agent")
    token = new_api_token()
    services.store.create_api_token(user.id, "headers", hash_api_token(token), services.clock())
    return {"Authorization": f"Bearer {token}"}


# (kind, method, path, needs: "session" | "token" | None, embed route?)
ROUTES = [
    ("login page", "GET", "/login", None, False),
    ("admin page: inbox", "GET", "/", "session", False),
    ("admin page: stats", "GET", "/stats", "session", False),
    ("admin page: settings", "GET", "/settings", "session", False),
    ("anonymous admin page (redirect)", "GET", "/settings", None, False),
    ("HTML 404", "GET", "/no-such-page", "session", False),
    ("JSON API", "GET", "/admin/conversations", "token", False),
    ("JSON API refusal", "GET", "/admin/conversations", None, False),
    ("JSON API 404", "GET", "/admin/no-such-thing", "token", False),
    ("export", "GET", "/admin/export?format=json", "token", False),
    ("static", "GET", "/static/css/app.css", None, False),
    ("health", "GET", "/healthz", None, False),
    ("webhook handshake refused", "GET", "/webhook?hub.mode=subscribe&hub.verify_token=no", None,
     False),
    ("webhook POST refused", "POST", "/webhook", None, False),
    ("widget script", "GET", "/chat/widget.js", None, True),
    ("widget stylesheet", "GET", "/chat/static/widget.css", None, True),
    ("demo page", "GET", "/chat/demo", None, True),
    ("chat session", "POST", "/chat/session", None, True),
    ("chat refusal", "GET", "/chat/1/history", None, True),
]


@pytest.mark.parametrize("kind,method,path,needs,embed", ROUTES, ids=[r[0] for r in ROUTES])
def test_every_route_kind_carries_the_headers(site, kind, method, path, needs, embed):
    app, services = site
    client = app.test_client()
    headers = {}
    if needs == "session":
        client = _signed_in(app, services)
    elif needs == "token":
        headers = _api_headers(services)
    if path == "/chat/session":
        response = client.post(path, json={})
    else:
        response = client.open(path, method=method, headers=headers)
    assert response.status_code < 500, response.get_data(as_text=True)

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain http, not configured
    policy = _policy(response.headers["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    for sources in policy.values():
        assert not {"'unsafe-inline'", "'unsafe-eval'"} & set(sources)
    if embed:
        # The widget's routes: this app and exactly the configured sites may frame them.
        assert sorted(policy["frame-ancestors"]) == sorted(["'self'", SHOP, OTHER_SHOP])
        assert "X-Frame-Options" not in response.headers
    else:
        assert policy["frame-ancestors"] == ["'none'"]
        assert response.headers["X-Frame-Options"] == "DENY"


def test_one_app_gives_each_route_its_own_headers_again_and_again(site):
    """The headers are worked out once per endpoint and kept (http_security): the same app,
    asked for embed and admin routes in turn, must never hand one route another's."""
    app, services = site
    client = _signed_in(app, services)
    token = _api_headers(services)
    seen: dict[str, set[tuple]] = {}
    for _ in range(2):
        for kind, method, path, needs, embed in ROUTES + ROUTES[::-1]:
            if needs is None or path == "/chat/session":
                response = (app.test_client().post(path, json={}) if path == "/chat/session"
                            else app.test_client().open(path, method=method))
            else:
                response = client.open(path, method=method,
                                       headers=token if needs == "token" else {})
            assert response.status_code < 500, kind
            policy = _policy(response.headers["Content-Security-Policy"])
            if embed:
                assert sorted(policy["frame-ancestors"]) == sorted(["'self'", SHOP, OTHER_SHOP])
                assert "X-Frame-Options" not in response.headers, kind
            else:
                assert policy["frame-ancestors"] == ["'none'"], kind
                assert response.headers["X-Frame-Options"] == "DENY", kind
            seen.setdefault(kind, set()).add(
                (response.headers["Content-Security-Policy"],
                 response.headers.get("X-Frame-Options")))
    assert all(len(headers) == 1 for headers in seen.values()), seen


def test_a_changed_secret_key_is_honoured_by_the_kept_session_signer(site):
    """Flask builds a session signer per request; ours is kept while the keys stay the
    same. A new key must still end the sessions signed with the old one, unless the old
    one is listed in SECRET_KEY_FALLBACKS."""
    app, services = site
    client = _signed_in(app, services)
    assert client.get("/").status_code == 200
    signer = app.session_interface.get_signing_serializer(app)
    assert app.session_interface.get_signing_serializer(app) is signer  # kept

    cookie = client.get_cookie("switchboard_session").value

    def with_old_cookie():
        other = app.test_client()
        other.set_cookie("switchboard_session", cookie)
        return other.get("/")

    old, app.secret_key = app.secret_key, "a-new-key"
    refused = with_old_cookie()  # the new key only: signed out
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/login")
    app.config["SECRET_KEY_FALLBACKS"] = [old]
    assert with_old_cookie().status_code == 200  # the old key is a fallback: still in
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert with_old_cookie().status_code == 302


def test_admin_html_pages_are_not_cached(site):
    app, services = site
    client = _signed_in(app, services)
    for path in ("/", "/stats", "/settings"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store", path
    assert app.test_client().get("/login").headers["Cache-Control"] == "no-store"


def test_embed_routes_without_allowed_origins_are_framed_by_this_app_only(tmp_path):
    app, services = _build(tmp_path)
    client = app.test_client()
    for path in ("/chat/demo", "/chat/widget.js"):
        policy = _policy(client.get(path).headers["Content-Security-Policy"])
        assert policy["frame-ancestors"] == ["'self'"]
    assert _policy(client.get("/login").headers["Content-Security-Policy"])[
        "frame-ancestors"] == ["'none'"]
    services.store.close()


def test_any_site_may_frame_the_widget_when_any_may_embed_it(tmp_path):
    app, services = _build(tmp_path, chat_allowed_origins="*")
    policy = _policy(app.test_client().get("/chat/demo").headers["Content-Security-Policy"])
    assert policy["frame-ancestors"] == ["*"]
    services.store.close()


def _session_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie")
               if c.startswith("switchboard_session=")]
    assert len(cookies) == 1, response.headers.getlist("Set-Cookie")
    return cookies[0]


def _flags(cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}


def _login_over(client, *, https: bool, referer: str | None = None):
    headers = {"X-Forwarded-Proto": "https"} if https else {}
    page = client.get("/login", headers=headers)
    if referer:
        headers["Referer"] = referer
    return client.post("/login", headers=headers, data={
        "email": "agent@example.com", "password": PASSWORD,
        "csrf_token": csrf_from(page.get_data(as_text=True)),
    })


@pytest.mark.parametrize(
    "settings,https,secure",
    [
        ({}, False, False),  # the embedded default on http://127.0.0.1
        ({"trusted_proxy_hops": 1}, True, True),  # a TLS proxy we trust says https
        ({}, True, False),  # the same header from nobody we trust changes nothing
        ({"trusted_proxy_hops": 1}, False, False),  # the proxy says plain http
        ({"session_cookie_secure": True}, False, True),  # the site is HTTPS-only
    ],
    ids=["plain-http", "trusted-proxy-https", "untrusted-forwarded-proto", "proxy-http",
         "SESSION_COOKIE_SECURE"],
)
def test_session_cookie_flags(tmp_path, settings, https, secure):
    app, services = _build(tmp_path, **settings)
    make_user(services, "agent@example.com", "agent")
    response = _login_over(app.test_client(), https=https)
    assert response.status_code == 302, response.get_data(as_text=True)
    flags = _flags(_session_cookie(response))
    assert {"httponly", "samesite", "path"} <= flags
    assert "SameSite=Lax" in _session_cookie(response)
    assert ("secure" in flags) is secure
    assert app.config["REMEMBER_COOKIE_HTTPONLY"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is settings.get("session_cookie_secure", False)
    services.store.close()


def test_force_https_redirects_sends_hsts_and_secures_cookies(tmp_path):
    app, services = _build(tmp_path, force_https=True, trusted_proxy_hops=1)
    make_user(services, "agent@example.com", "agent")
    client = app.test_client()

    plain = client.get("/login")
    assert plain.status_code == 302
    assert plain.headers["Location"] == "https://localhost/login"
    assert "Strict-Transport-Security" not in plain.headers
    # Load balancers probe the app directly over http: never redirected.
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200

    secure = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert secure.status_code == 200
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    # CSRF checks the referrer strictly over HTTPS, as a browser sends it.
    response = _login_over(client, https=True, referer="https://localhost/login")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "secure" in _flags(_session_cookie(response))
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    services.store.close()


def test_hsts_is_never_sent_unless_configured(tmp_path):
    app, services = _build(tmp_path, trusted_proxy_hops=1)
    response = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers
    services.store.close()


def test_a_file_sent_in_a_reply_is_sandboxed_and_loads_nothing(site):
    """``/files/…`` (admin_app/files.py): whatever its bytes, never a page of this site that
    runs or loads anything; and the pages asked for next keep their own policy."""
    from services.models import InboundMessage, NewFile

    app, services = site
    conversation = services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id="visitor-headers", content="hi",
        external_id="headers-1", respond=False)).conversation
    page = services.store.add_file(NewFile(
        conversation_id=conversation.id, name="page.html", content_type="text/html",
        data=b"<script>parent.x = 1</script>"), services.clock())
    client = _signed_in(app, services)
    for _ in range(2):
        for path in (f"/files/{page.id}/page.html", "/files/9b2d3f4e-1c55-4a8e-9d6b-0f1e2d3c4b5a/x"):
            response = app.test_client().get(path)
            assert response.status_code in (200, 404), path
            assert _policy(response.headers["Content-Security-Policy"]) == {
                "default-src": ["'none'"], "sandbox": []}, path
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["X-Frame-Options"] == "DENY"
        inbox = client.get("/")
        assert _policy(inbox.headers["Content-Security-Policy"])["script-src"] == ["'self'"]

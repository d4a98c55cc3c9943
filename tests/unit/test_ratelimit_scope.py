"""The two Flask-Limiter instances only run for the blueprints that declare their limits.

``admin_app.extensions.scope_limiter`` moves each limiter's request hooks under those
blueprints, so every other request (a Messenger webhook, the JSON API) never enters
Flask-Limiter. These tests keep the lists true (a limit added to a view of another
blueprint would lose its headers and its per-request reset) and check that the limited
views still get their limits and headers.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_qualified_name

from admin_app import extensions
from channels.webchat import ratelimit

ORIGIN = "http://localhost"


def _limited_endpoints(app, limiter) -> set[str]:
    # Flask-Limiter records each view given a limit by ``limit``/``shared_limit`` here.
    marked = limiter._marked_for_limiting
    return {endpoint for endpoint, view in app.view_functions.items()
            if get_qualified_name(view) in marked}


@pytest.mark.parametrize("limiter, blueprints, expected", [
    (extensions.limiter, extensions.LIMITED_BLUEPRINTS, {"account.login"}),
    (ratelimit.limiter, ratelimit.LIMITED_BLUEPRINTS, {"webchat.start_session", "webchat.post_message"}),
], ids=["admin", "webchat"])
def test_every_limited_view_is_in_a_listed_blueprint(app, limiter, blueprints, expected):
    limited = _limited_endpoints(app, limiter)
    assert expected <= limited, "the limited views were not found: the test would prove nothing"
    outside = {e for e in limited if e.rpartition(".")[0] not in blueprints}
    assert not outside, f"views with a limit outside the limiter's blueprints: {sorted(outside)}"


@pytest.fixture
def limiter_calls(monkeypatch):
    """Every run of a limiter's before-request hook, as (limiter, endpoint). Patched on the
    class before the app is built: ``init_app`` registers the bound method it finds."""
    calls = []
    real = Limiter._check_request_limit

    def spy(self, *args, **kwargs):
        from flask import request

        calls.append((self, request.endpoint))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Limiter, "_check_request_limit", spy)
    return calls


@pytest.fixture
def scoped_app(limiter_calls, settings, services):
    from admin_app import create_app

    return create_app(settings.model_copy(update={"chat_allowed_origins": [ORIGIN]}), services)


def test_the_webhook_and_the_api_never_enter_either_limiter(scoped_app, limiter_calls):
    client = scoped_app.test_client()
    webhook = client.post("/webhook", data=b"{}", content_type="application/json")
    assert webhook.status_code == 403  # unsigned: refused by the view, which did run
    assert client.get("/admin/stats").status_code == 401
    assert client.get("/healthz").status_code == 200
    assert limiter_calls == []
    assert not any(h.startswith("X-RateLimit") for h in webhook.headers.keys())


def test_the_login_and_the_chat_still_run_their_limiter(scoped_app, limiter_calls):
    client = scoped_app.test_client()
    login = client.post("/login", data={"email": "nobody@example.com", "password": "x"})
    assert login.status_code in (400, 401)  # no CSRF token or a wrong password: not 5xx
    session = client.post("/chat/session", json={}, headers={"Origin": ORIGIN})
    assert session.status_code == 200, session.get_data(as_text=True)
    assert (extensions.limiter, "account.login") in limiter_calls
    assert (ratelimit.limiter, "webchat.start_session") in limiter_calls
    # Each limiter's limits were checked, and its headers came back (its after-request
    # hook, moved with the others).
    assert "X-RateLimit-Limit" in session.headers
    assert {who for who, _ in limiter_calls} == {extensions.limiter, ratelimit.limiter}


def test_scoping_a_limiter_not_bound_to_the_app_fails_loudly():
    app = Flask(__name__)
    with pytest.raises(RuntimeError, match="hook not found"):
        extensions.scope_limiter(app, Limiter(key_func=lambda: "k"), frozenset({"x"}))


def test_scoping_moves_each_hook_under_the_blueprints_only():
    app = Flask(__name__)
    limiter = Limiter(key_func=lambda: "k", storage_uri="memory://")
    limiter.init_app(app)
    extensions.scope_limiter(app, limiter, frozenset({"a", "b"}))
    for funcs in (app.before_request_funcs, app.after_request_funcs,
                  app.teardown_request_funcs):
        assert not any(getattr(h, "__self__", None) is limiter for h in funcs.get(None, []))
        assert len(funcs["a"]) == len(funcs["b"]) == 1 and funcs["a"][0] is funcs["b"][0]

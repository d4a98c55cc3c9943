"""Signing in to the admin panel: sessions, cookies, CSRF, throttling, roles (both stores)."""

from __future__ import annotations

import re

import pytest

from services.models import InboundMessage, NewSavedReply
from tests.support.admin import PASSWORD, csrf_from, login, make_user, session_csrf

PAGES = ["/", "/stats", "/settings", "/conversations/1"]


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_pages_redirect_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_login_page_has_a_csrf_token_and_no_inline_script(client):
    response = client.get("/login")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert csrf_from(html)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)


def test_good_login_sets_a_secure_session_cookie(client, services):
    make_user(services)
    response = login(client, "agent@example.com")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("switchboard_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    inbox = client.get("/")
    assert inbox.status_code == 200 and "agent@example.com" in inbox.get_data(as_text=True)


def test_secure_flag_when_configured(settings, store, clock):
    from admin_app import create_app
    from services.runtime import build_services

    secure = settings.model_copy(update={"session_cookie_secure": True})
    app = create_app(secure, build_services(secure, store=store, clock=clock))
    client = app.test_client()
    make_user(app.extensions["switchboard"])
    # Over plain HTTP the strict-referrer CSRF check does not apply; the cookie flag does.
    response = login(client, "agent@example.com")
    assert "Secure" in response.headers["Set-Cookie"]


def test_wrong_password_and_unknown_email_are_refused_alike(client, services):
    make_user(services)
    for email, password in [("agent@example.com", "wrong"), ("nobody@example.com", PASSWORD)]:
        response = login(client, email, password)
        assert response.status_code == 401
        assert "Wrong e-mail or password." in response.get_data(as_text=True)
        assert client.get("/").status_code == 302


def test_disabled_account_cannot_log_in_and_its_session_ends(client, services):
    user = make_user(services)
    assert login(client, user.email).status_code == 302
    services.store.set_user_disabled(user.id, True)
    assert client.get("/").status_code == 302
    assert login(client, user.email).status_code == 401


def test_login_without_csrf_token_is_refused(client, services):
    make_user(services)
    response = client.post("/login", data={"email": "agent@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("target,expected", [
    ("/stats", "/stats"), ("//evil.example/x", "/"), ("https://evil.example/", "/"),
    ("/\\evil.example", "/"),
])
def test_next_only_goes_to_this_site(client, services, target, expected):
    make_user(services)
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={
        "email": "agent@example.com", "password": PASSWORD, "csrf_token": token, "next": target,
    })
    assert response.headers["Location"] == expected


def test_logout_needs_post_with_csrf(client, services):
    make_user(services)
    login(client, "agent@example.com")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400  # no token: still signed in
    assert client.get("/").status_code == 200
    response = client.post("/logout", data={"csrf_token": session_csrf(client)})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/").status_code == 302


def test_login_attempts_are_rate_limited(settings, store, clock):
    from admin_app import create_app
    from services.runtime import build_services

    strict = settings.model_copy(update={"login_rate_limit": "3 per minute"})
    app = create_app(strict, build_services(strict, store=store, clock=clock))
    client = app.test_client()
    make_user(app.extensions["switchboard"])
    codes = [login(client, "agent@example.com", "wrong").status_code for _ in range(3)]
    assert codes == [401, 401, 401]
    blocked = login(client, "agent@example.com", PASSWORD)  # even the right password
    assert blocked.status_code == 429
    assert "Too many login attempts" in blocked.get_data(as_text=True)
    assert client.get("/login").status_code == 200  # the form itself is not limited


def test_password_change_signs_out_other_sessions(app, services):
    make_user(services)
    first, second = app.test_client(), app.test_client()
    login(first, "agent@example.com")
    login(second, "agent@example.com")
    response = first.post("/settings/password", data={
        "csrf_token": session_csrf(first), "current_password": PASSWORD,
        "new_password": "a brand new password", "confirm": "a brand new password",
    })
    assert response.status_code == 302
    assert first.get("/").status_code == 200  # this browser is signed in again
    assert second.get("/").status_code == 302
    assert login(second, "agent@example.com", "a brand new password").status_code == 302


def test_password_change_checks_the_current_password(client, services):
    make_user(services)
    login(client, "agent@example.com")
    response = client.post("/settings/password", data={
        "csrf_token": session_csrf(client), "current_password": "nope",
        "new_password": "a brand new password", "confirm": "a brand new password",
    })
    assert response.status_code == 400
    assert "not your current password" in response.get_data(as_text=True)


# -- the JSON API with a session ------------------------------------------------------------
def test_session_calls_the_json_api_and_changes_need_the_csrf_header(client, services):
    from services.models import InboundMessage

    make_user(services)
    tracked = services.tracker.track_inbound(
        InboundMessage(platform="webchat", external_user_id="v1", content="hi", external_id="c1")
    )
    login(client, "agent@example.com")
    assert client.get("/admin/conversations").get_json()["count"] == 1
    path = f"/admin/messages/{tracked.message.id}/mark-human"
    refused = client.post(path, json={})
    assert refused.status_code == 400 and "CSRF" in refused.get_json()["error"]
    assert services.store.get_message(tracked.message.id).requires_human is False
    bad = client.post(path, json={}, headers={"X-CSRFToken": "forged"})
    assert bad.status_code == 400
    ok = client.post(path, json={}, headers={"X-CSRFToken": session_csrf(client)})
    assert ok.status_code == 200
    assert ok.get_json()["message"]["human_reason"] == "flagged by agent@example.com"


def test_bearer_calls_need_no_csrf_token(client, services, make_token):
    from services.models import InboundMessage

    tracked = services.tracker.track_inbound(
        InboundMessage(platform="webchat", external_user_id="v1", content="hi", external_id="c1")
    )
    response = client.post(f"/admin/messages/{tracked.message.id}/mark-human",
                           headers=make_token())
    assert response.status_code == 200


def test_a_bad_bearer_token_does_not_fall_back_to_the_session(client, services):
    make_user(services)
    login(client, "agent@example.com")
    response = client.get("/admin/stats", headers={"Authorization": "Bearer sbt_nope"})
    assert response.status_code == 401


# -- roles on /settings ----------------------------------------------------------------------
def _settings_post(client, path, **data):
    return client.post(path, data={"csrf_token": session_csrf(client), **data})


def test_agent_sees_only_their_account_and_cannot_manage(client, services):
    target = make_user(services, "other@example.com", "agent")
    make_user(services)
    login(client, "agent@example.com")
    page = client.get("/settings").get_data(as_text=True)
    assert "Change password" in page and "users-table" not in page
    assert _settings_post(client, "/settings/users", email="x@example.com",
                          role="admin").status_code == 403
    assert _settings_post(client, "/settings/tokens", user_id=target.id,
                          name="x").status_code == 403
    assert _settings_post(client, f"/settings/users/{target.id}/disable").status_code == 403
    assert services.store.get_user_by_email("x@example.com") is None
    assert services.store.list_api_tokens() == []
    assert not services.store.get_user(target.id).disabled


def test_admin_manages_accounts_and_tokens(client, services):
    make_user(services, "boss@example.com", "admin")
    login(client, "boss@example.com")
    made = _settings_post(client, "/settings/users", email="new@example.com", role="agent")
    html = made.get_data(as_text=True)
    assert made.status_code == 200 and "One-time password for new@example.com" in html
    password = re.search(r'id="secret-value">([^<]+)<', html).group(1)
    new_user = services.store.get_user_by_email("new@example.com")
    assert new_user.role == "agent"
    assert login(services_client(client), "new@example.com", password).status_code == 302

    dup = _settings_post(client, "/settings/users", email="NEW@example.com", role="agent")
    assert dup.status_code == 409

    token_page = _settings_post(client, "/settings/tokens", user_id=new_user.id, name="ci")
    token = re.search(r'id="secret-value">([^<]+)<', token_page.get_data(as_text=True)).group(1)
    assert token.startswith("sbt_")
    api = client.application.test_client()
    assert api.get("/admin/stats", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    record = services.store.list_api_tokens()[0]
    assert _settings_post(client, f"/settings/tokens/{record.id}/revoke").status_code == 302
    assert api.get("/admin/stats", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    assert _settings_post(client, f"/settings/users/{new_user.id}/disable").status_code == 302
    assert services.store.get_user(new_user.id).disabled
    assert _settings_post(client, f"/settings/users/{new_user.id}/enable").status_code == 302
    assert not services.store.get_user(new_user.id).disabled
    reset = _settings_post(client, f"/settings/users/{new_user.id}/reset-password")
    assert "New password for new@example.com" in reset.get_data(as_text=True)


def test_admin_keeps_the_saved_replies_on_the_settings_page(client, services):
    make_user(services, "boss@example.com", "admin")
    login(client, "boss@example.com")
    added = _settings_post(client, "/settings/saved-replies", title="  Hours ",
                           body="Hi {first_name}, 9 to 5.")
    assert added.status_code == 302 and added.headers["Location"].endswith("#saved-replies")
    (hours,) = services.store.list_saved_replies()
    assert (hours.title, hours.body) == ("Hours", "Hi {first_name}, 9 to 5.")
    page = client.get("/settings").get_data(as_text=True)
    assert "Saved reply \u201cHours\u201d added." in page and "Hi {first_name}, 9 to 5." in page

    # A clear error, the typed text kept, nothing stored.
    dup = _settings_post(client, "/settings/saved-replies", title="HOURS", body="again")
    assert dup.status_code == 409
    assert "Another saved reply has this title." in dup.get_data(as_text=True)
    blank = _settings_post(client, "/settings/saved-replies", title="   ", body="text kept")
    assert blank.status_code == 400 and "text kept" in blank.get_data(as_text=True)
    assert len(services.store.list_saved_replies()) == 1

    other = services.store.create_saved_reply(
        NewSavedReply(title="Refunds", body="30 days."), None, services.clock())
    clash = _settings_post(client, f"/settings/saved-replies/{other.id}", title="hours",
                           body="30 days!")
    html = clash.get_data(as_text=True)
    assert clash.status_code == 409 and "Another saved reply has this title." in html
    assert "30 days!" in html and re.search(r'<details class="saved-reply-edit" open>', html)
    changed = _settings_post(client, f"/settings/saved-replies/{other.id}", title="Refund policy",
                             body="30 days, no questions.")
    assert changed.status_code == 302
    assert [r.title for r in services.store.list_saved_replies()] == ["Hours", "Refund policy"]
    assert _settings_post(client, f"/settings/saved-replies/{other.id}/delete").status_code == 302
    assert _settings_post(client, f"/settings/saved-replies/{other.id}/delete").status_code == 404
    assert _settings_post(client, f"/settings/saved-replies/{other.id}", title="x",
                          body="y").status_code == 404
    assert [r.title for r in services.store.list_saved_replies()] == ["Hours"]


def test_agents_use_saved_replies_but_cannot_change_them(client, services):
    make_user(services)
    reply = services.store.create_saved_reply(NewSavedReply(title="Hours", body="9 to 5"),
                                              None, services.clock())
    login(client, "agent@example.com")
    assert "saved-reply-form" not in client.get("/settings").get_data(as_text=True)
    for path in ("/settings/saved-replies", f"/settings/saved-replies/{reply.id}",
                 f"/settings/saved-replies/{reply.id}/delete"):
        assert _settings_post(client, path, title="Mine", body="x").status_code == 403, path
    assert services.store.list_saved_replies() == [reply]


def _ann_answering_one(client, services):
    """An admin signed in on ``client``, and an agent with one open conversation."""
    boss = make_user(services, "boss@example.com", "admin")
    ann = make_user(services, "ann@example.com", "agent")
    conversation = services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id="u1", content="hi", external_id="u1:1",
        respond=False)).conversation
    services.tracker.assign(conversation.id, ann.id, boss)
    login(client, "boss@example.com")
    return boss, ann, conversation


def test_an_admin_gives_an_accounts_conversations_back_from_settings(client, services):
    boss, ann, conversation = _ann_answering_one(client, services)
    page = client.get("/settings").get_data(as_text=True)
    assert f'action="/settings/users/{ann.id}/release"' in page
    answer = _settings_post(client, f"/settings/users/{ann.id}/release")
    assert answer.status_code == 302
    assert services.store.get_conversation(conversation.id).assigned_to is None
    page = client.get("/settings").get_data(as_text=True)
    assert "1 conversation of ann@example.com went back to the team." in page
    _settings_post(client, f"/settings/users/{ann.id}/release")
    assert "ann@example.com has no open conversation." in client.get(
        "/settings").get_data(as_text=True)
    assert _settings_post(client, "/settings/users/987654321/release").status_code == 404
    # An agent may not.
    agent = client.application.test_client()
    assert login(agent, "ann@example.com").status_code == 302
    assert _settings_post(agent, f"/settings/users/{ann.id}/release").status_code == 403


def test_disabling_an_account_gives_its_open_conversations_back(client, services):
    boss, ann, conversation = _ann_answering_one(client, services)
    assert _settings_post(client, f"/settings/users/{ann.id}/disable").status_code == 302
    assert services.store.get_user(ann.id).disabled
    assert services.store.get_conversation(conversation.id).assigned_to is None
    trail = services.store.list_activity(conversation.id, 10)
    assert [(a.kind, a.actor_id) for a in trail][-1] == ("unassigned", boss.id)
    assert "Account disabled; its 1 conversation went back to the team." in client.get(
        "/settings").get_data(as_text=True)
    # Enabling gives nothing back to it, and an account with nothing open says only that.
    assert _settings_post(client, f"/settings/users/{ann.id}/enable").status_code == 302
    assert services.store.get_conversation(conversation.id).assigned_to is None
    _settings_post(client, f"/settings/users/{ann.id}/disable")
    assert "Account disabled.</" in client.get("/settings").get_data(as_text=True)


def test_admin_cannot_disable_themselves(client, services):
    boss = make_user(services, "boss@example.com", "admin")
    login(client, "boss@example.com")
    _settings_post(client, f"/settings/users/{boss.id}/disable")
    assert not services.store.get_user(boss.id).disabled


def test_settings_forms_need_the_csrf_token(client, services):
    make_user(services, "boss@example.com", "admin")
    login(client, "boss@example.com")
    response = client.post("/settings/users", data={"email": "x@example.com", "role": "agent"})
    assert response.status_code == 400
    assert services.store.get_user_by_email("x@example.com") is None


def services_client(client):
    """A second, separate browser on the same app."""
    return client.application.test_client()


def test_a_store_outage_outside_the_api_routes_is_a_json_503_on_admin_paths(app):
    """The app-wide handler answers a StoreUnavailable raised on an /admin/ path that no
    API route handles (the API blueprint has its own) with the API's JSON 503; it once
    named a function it no longer imported and answered a bare 500."""
    from services.errors import StoreUnavailable

    def down():
        raise StoreUnavailable("test: the store went away")

    app.add_url_rule("/admin/_test_store_down", "test_store_down", down)
    response = app.test_client().get("/admin/_test_store_down")
    assert response.status_code == 503
    assert response.get_json() == {"success": False, "error": "store unavailable"}


def test_admin_renames_and_deletes_tags_on_the_settings_page(client, services):
    make_user(services, "boss@example.com", "admin")
    conversation = services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id="u1", content="hi", respond=False)).conversation
    services.tracker.add_tag(conversation.id, "bilin")
    login(client, "boss@example.com")
    page = client.get("/settings").get_data(as_text=True)
    assert 'id="tags-admin-table"' in page and "bilin" in page

    # A clear error, the typed name kept, nothing changed.
    bad = _settings_post(client, "/settings/tags/rename", old="bilin", tag="bad;name")
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "A tag holds only letters, digits" in html
    assert 'value="bad;name"' in html and '<details class="tag-rename" open>' in html
    blank = _settings_post(client, "/settings/tags/rename", old="bilin", tag="   ")
    assert blank.status_code == 400 and "Enter the new name." in blank.get_data(as_text=True)
    assert services.store.get_conversation(conversation.id).tags == ["bilin"]

    renamed = _settings_post(client, "/settings/tags/rename", old="bilin", tag="Billing")
    assert renamed.status_code == 302 and renamed.headers["Location"].endswith("#tags")
    assert services.store.get_conversation(conversation.id).tags == ["billing"]
    page = client.get("/settings").get_data(as_text=True)
    assert "Tag \u201cbilin\u201d renamed to \u201cbilling\u201d on 1 conversation." in page
    gone = _settings_post(client, "/settings/tags/rename", old="bilin", tag="x")
    assert gone.status_code == 302
    assert "No conversation has the tag \u201cbilin\u201d any more." in client.get(
        "/settings").get_data(as_text=True)

    deleted = _settings_post(client, "/settings/tags/delete", old="billing")
    assert deleted.status_code == 302
    assert services.store.get_conversation(conversation.id).tags == []
    page = client.get("/settings").get_data(as_text=True)
    assert "Tag \u201cbilling\u201d taken off 1 conversation." in page and 'id="tags-none"' in page


def test_agents_cannot_rename_or_delete_tags(client, services):
    make_user(services)
    conversation = services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id="u1", content="hi", respond=False)).conversation
    services.tracker.add_tag(conversation.id, "vip")
    login(client, "agent@example.com")
    assert "tags-admin-table" not in client.get("/settings").get_data(as_text=True)
    assert _settings_post(client, "/settings/tags/rename", old="vip",
                          tag="x").status_code == 403
    assert _settings_post(client, "/settings/tags/delete", old="vip").status_code == 403
    assert services.store.get_conversation(conversation.id).tags == ["vip"]


def test_the_settings_page_says_how_long_conversations_are_kept(client, settings, store,
                                                                clock):
    from admin_app import create_app
    from services.runtime import build_services

    services = client.application.extensions["switchboard"]
    make_user(services)
    make_user(services, "boss@example.com", "admin")
    login(client, "agent@example.com")
    page = client.get("/settings").get_data(as_text=True)
    assert "Conversations are kept until an admin deletes them." in page
    assert "Delete…" not in page  # an agent cannot

    kept = settings.model_copy(update={"retention_days": 90})
    app = create_app(kept, build_services(kept, store=store, clock=clock))
    admin = app.test_client()
    login(admin, "boss@example.com")
    page = admin.get("/settings").get_data(as_text=True)
    assert re.search(r'id="retention-days">Conversations closed and untouched \(no message, '
                     r"no change\) for 90 days are deleted automatically", page)
    assert "<strong>Delete…</strong>" in page


def test_the_settings_page_says_how_conversations_are_handed_out(client, settings, store,
                                                                clock):
    from admin_app import create_app
    from services.runtime import build_services

    services = client.application.extensions["switchboard"]
    make_user(services, "boss@example.com", "admin")
    login(client, "boss@example.com")
    page = client.get("/settings").get_data(as_text=True)
    assert 'id="auto-assign-note"' not in page and 'id="availability"' not in page

    on = settings.model_copy(update={"auto_assign": True, "auto_assign_max_open": 3})
    app = create_app(on, build_services(on, store=store, clock=clock))
    admin = app.test_client()
    login(admin, "boss@example.com")
    page = admin.get("/settings").get_data(as_text=True)
    assert re.search(r'id="auto-assign-note">A conversation handed to the team goes to the '
                     r"available account with the fewest open conversations, at most 3 open "
                     r"each; while nobody is available and online or has room", page)
    assert ("online means a page of this panel is open and was used in the last 15 minutes,"
            " and an account counts as offline 90 seconds after its last page closed or went"
            " unused.") in page
    assert 'id="availability"' in page  # the top bar's toggle
    # Last seen: this admin's page is open; an account never signed in.
    make_user(services, "new@example.com", "agent")
    page = admin.get("/settings").get_data(as_text=True)
    assert re.search(r'boss@example.com</td>.*?<td class="last-seen"[^>]*>'
                     r'<span[^>]*>online</span>', page, re.S)
    assert re.search(r'new@example.com</td>.*?<td class="last-seen"[^>]*>'
                     r'<span class="muted">never</span>', page, re.S)

    # Online or not: the note says nothing of pages.
    off = on.model_copy(update={"auto_assign_online_only": False})
    admin = create_app(off, build_services(off, store=store, clock=clock)).test_client()
    login(admin, "boss@example.com")
    page = admin.get("/settings").get_data(as_text=True)
    assert re.search(r"at most 3 open each; while nobody is available or has room", page)
    assert "counts as offline" not in page


def test_the_settings_page_shows_the_business_hours_to_everyone(client, settings, store,
                                                                clock):
    from datetime import date

    from admin_app import create_app
    from services.runtime import build_services

    make_user(client.application.extensions["switchboard"])
    login(client, "agent@example.com")
    page = client.get("/settings").get_data(as_text=True)
    assert 'id="hours-always"' in page and "hours-table" not in page

    hours = settings.model_copy(update={
        "business_hours": "mon-fri 09:00-12:00, 13:00-18:00; sat 10:00-14:00",
        "business_timezone": "Europe/Paris",
        "business_closed_dates": [date(2026, 11, 1), date(2026, 11, 26)]})
    app = create_app(hours, build_services(hours, store=store, clock=clock))
    agent = app.test_client()
    login(agent, "agent@example.com")
    # Wednesday 25 November, 13:00 in Paris: open; Thursday is a day off.
    page = agent.get("/settings").get_data(as_text=True)
    assert re.search(r'id="hours-now"><span class="status-badge status-active">Open now', page)
    rows = re.findall(r"<tr><td>(\w+)</td><td>([^<]+)</td></tr>", page)
    assert rows == [("Monday", "09:00–12:00, 13:00–18:00"),
                    ("Tuesday", "09:00–12:00, 13:00–18:00"),
                    ("Wednesday", "09:00–12:00, 13:00–18:00"),
                    ("Thursday", "09:00–12:00, 13:00–18:00"),
                    ("Friday", "09:00–12:00, 13:00–18:00"),
                    ("Saturday", "10:00–14:00"), ("Sunday", "closed")]
    assert "In Europe/Paris" in page
    assert "Days off: Thu 26 Nov 2026</p>" in page  # the past one is not listed
    clock.advance(hours=6)  # 19:00: away, and Thursday is off
    page = agent.get("/settings").get_data(as_text=True)
    assert "Away now</span> back on Friday at 09:00 CET" in page
    assert "we&#39;re back on Friday at 09:00 CET and will answer you here." in page

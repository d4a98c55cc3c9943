"""Let no one in: walk every route of ``app.url_map`` and every ``/admin`` socket event.

Every route is either in ``PUBLIC`` (listed by hand, with the reason) or must refuse an
anonymous caller in exactly the way its kind does; a new route is therefore refused by
default, and a new unprotected route fails this test. Every staff route is classified as
open to agents or admin-only; a route in neither list fails the test until someone decides.
Then agents (session and API token) and admins walk the same routes. The sockets and API
token revocation are walked against a live gunicorn server with real python-socketio
clients (``test_auth_walker_live.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from services.models import InboundMessage, NewSavedReply
from tests.support.admin import PASSWORD, csrf_from, login, make_user

# endpoint -> why anyone may call it
PUBLIC = {
    "static": "the admin panel's scripts and styles (the login page needs them)",
    "health.healthz": "liveness probe",
    "health.readyz": "readiness probe",
    "account.login": "the login form",
    "account.logout": "signing out (CSRF-checked; ends whatever session comes with it)",
    "messenger.verify_subscription": "Facebook's handshake (checks FACEBOOK_VERIFY_TOKEN)",
    "messenger.receive": "Facebook's webhook (checks X-Hub-Signature-256)",
    "webchat.static": "the widget's files, loaded by any embedding site",
    "webchat.widget": "the widget script",
    "webchat.demo": "the widget's demo page",
    "webchat.start_session": "issues visitor tokens (rate-limited per address)",
    "webchat.hours": "whether the team is in, from the settings (no store, nobody's data)",
    "files.download": "a file sent in a reply, to whoever was given its address (a random "
                      "UUID), as Messenger's own attachment links are: the person's browser "
                      "and Messenger's servers fetch it",
}
# Another engineer may add a public OpenAPI description: tolerated, never required.
TOLERATED_PUBLIC = re.compile(r"openapi|apispec|swagger", re.I)
# Web chat routes that need a visitor token (``Authorization: Bearer``), not a staff login.
VISITOR = {
    "webchat.post_first_message", "webchat.post_message", "webchat.escalate_first",
    "webchat.escalate", "webchat.history", "webchat.escalations", "webchat.user_conversations",
    "webchat.rate", "webchat.post_first_file", "webchat.post_file", "webchat.receipt",
}
# Staff routes only admins may use (accounts, API tokens, the saved replies' list, the
# business hours).
ADMIN_ONLY = {
    "settings.create_user", "settings.reset_password", "settings.set_disabled",
    "settings.create_token", "settings.revoke_token",
    "admin_api.create_saved_reply", "admin_api.update_saved_reply",
    "admin_api.delete_saved_reply", "settings.create_saved_reply",
    "settings.update_saved_reply", "settings.delete_saved_reply",
    "admin_api.rename_tag", "admin_api.delete_tag", "settings.rename_tag", "settings.delete_tag",
    "admin_api.delete_conversation", "admin_api.release_conversations",
    "settings.release_conversations", "settings.save_hours", "settings.reset_hours",
    "admin_api.set_hours", "admin_api.reset_hours",
}
# Staff routes every signed-in agent may use.
AGENT_OK = {
    "admin_api.list_conversations", "admin_api.get_conversation", "admin_api.list_messages",
    "admin_api.close_conversation", "admin_api.reopen_conversation", "admin_api.mark_human",
    "admin_api.mark_replied", "admin_api.stats", "admin_api.me", "admin_api.users",
    "admin_api.get_hours",
    "admin_api.reply", "admin_api.retry", "admin_api.take_over", "admin_api.hand_back",
    "admin_api.assign", "admin_api.export", "admin_api.list_activity", "admin_api.add_note",
    "admin_api.list_saved_replies", "admin_api.team_stats", "admin_api.satisfaction",
    "admin_api.mark_read",
    "admin_api.read_marks", "admin_api.edit_note", "admin_api.delete_note",
    "admin_api.mark_unread", "admin_api.mark_all_read", "admin_api.add_tag",
    "admin_api.remove_tag", "admin_api.tags", "admin_api.set_availability", "admin_api.bulk",
    "admin_api.transcript", "admin_api.upload_file", "admin_api.suggestions",
    "admin_api.unanswered",
    "pages.inbox", "pages.conversation", "pages.stats",
    "settings.index", "settings.change_password", "admin_api.set_my_name", "settings.set_name",
}
# Staff routes on one account's own note or availability: the walk's note and account are
# the target account's, so every walker is refused them (403), but an admin may delete the
# note and set the account's availability.
NOT_YOURS = {"admin_api.edit_note", "admin_api.delete_note", "admin_api.set_availability"}
ADMINS_MAY = {"admin_api.delete_note", "admin_api.set_availability"}
# Methods Flask answers itself: OPTIONS (an Allow header, no body) and HEAD (a GET).
AUTOMATIC = {"OPTIONS", "HEAD"}


@pytest.fixture
def settings(tmp_path):
    """The suite's settings, with room in the web chat's per-address limit for the walk's
    anonymous calls of every visitor route (each is refused 401 as it is counted)."""
    from services.settings import Settings

    return Settings(_env_file=None, database_path=tmp_path / "app.db",
                    secret_key="test-secret-key", secret_key_file=tmp_path / "secret_key",
                    chat_rate_limit="1000/minute")


@dataclass
class Seeded:
    """Real objects the walk's path arguments name."""

    conversation_id: int
    message_id: int
    target_user_id: int
    token_id: int
    visitor_id: str
    reply_id: int
    note_id: int
    tag: str


def _seed(services) -> Seeded:
    from admin_app.security import hash_api_token, new_api_token

    tracked = services.tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id="v_walkerwalkerwalker1", external_id="walk-1",
        content="hello", display_name="Walker",
    ))
    target = make_user(services, "target@example.com", "agent")
    token = services.store.create_api_token(
        target.id, "walked", hash_api_token(new_api_token()), services.clock()
    )
    reply = services.store.create_saved_reply(
        NewSavedReply(title="Walked", body="Hello {first_name}"), target.id, services.clock())
    note = services.tracker.add_note(tracked.conversation.id, "the target's note", target)
    services.tracker.add_tag(tracked.conversation.id, "walked")
    return Seeded(tracked.conversation.id, tracked.message.id, target.id, token.id,
                  "v_walkerwalkerwalker1", reply.id, note.id, "walked")


def _path(rule, seeded: Seeded, dummy: bool) -> str:
    """The rule's URL with each argument taken from the seeded objects (or unknown ids)."""
    values = {}
    for name in rule.arguments:
        converter = type(rule._converters[name]).__name__
        if name == "filename":
            values[name] = "widget.css" if rule.endpoint.startswith("webchat.") else "css/app.css"
        elif converter == "AnyConverter":
            values[name] = sorted(rule._converters[name].items)[0]
        elif dummy and converter == "IntegerConverter":
            values[name] = 987654
        elif name == "conversation_id":
            values[name] = seeded.conversation_id
        elif name == "message_id":
            values[name] = seeded.message_id
        elif name == "user_id" and converter == "IntegerConverter":
            values[name] = seeded.target_user_id
        elif name == "user_id":
            values[name] = seeded.visitor_id
        elif name == "token_id":
            values[name] = seeded.token_id
        elif name == "reply_id":
            values[name] = seeded.reply_id
        elif name == "note_id":
            values[name] = seeded.note_id
        elif name == "tag":
            values[name] = seeded.tag
        elif name == "file_id":
            values[name] = "9b2d3f4e-1c55-4a8e-9d6b-0f1e2d3c4b5a"
        elif name == "name":
            values[name] = "a.png"
        else:
            raise AssertionError(f"teach the walker what to put in <{name}> of {rule.rule}")
    return rule.build(values, append_unknown=False)[1]


def _rules(app):
    """(endpoint, method, rule) for every route and method but the automatic ones; deleting
    a conversation last, since it takes the seeded rows the others aim at."""
    found = [(rule.endpoint, method, rule) for rule in app.url_map.iter_rules()
             for method in sorted(rule.methods - AUTOMATIC)]
    return sorted(found, key=lambda r: r[0] == "admin_api.delete_conversation")


def _public(endpoint: str) -> bool:
    return endpoint in PUBLIC or bool(TOLERATED_PUBLIC.search(endpoint))


def _anonymous_csrf(client) -> str:
    """An anonymous session's CSRF token, so a form POST is refused for want of a login and
    not for want of a token."""
    return csrf_from(client.get("/login").get_data(as_text=True))


def _call(client, method: str, path: str, csrf: str | None = None, headers=None):
    headers = dict(headers or {})
    if csrf:
        headers["X-CSRFToken"] = csrf
    data = {"csrf_token": csrf} if csrf and not path.startswith(("/admin", "/chat")) else None
    json = {} if data is None and method != "GET" else None
    response = client.open(path, method=method, headers=headers, data=data, json=json)
    response.get_data()  # a streamed answer (the export) is read to its end and closed
    response.close()
    return response


def test_every_route_is_classified(app):
    staff = ADMIN_ONLY | AGENT_OK
    assert not (ADMIN_ONLY & AGENT_OK)
    unknown = []
    for endpoint, _, rule in _rules(app):
        if _public(endpoint) or endpoint in VISITOR or endpoint in staff:
            continue
        unknown.append(f"{rule.rule} ({endpoint})")
    assert unknown == [], "classify these routes (public, visitor, agent or admin-only)"
    # And nothing listed here has disappeared unnoticed.
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert (set(PUBLIC) | VISITOR | staff) - endpoints == set()


def test_anonymous_callers_are_refused_everywhere(app, services, ledger):
    seeded = _seed(services)
    client = app.test_client()
    csrf = _anonymous_csrf(client)
    refused = 0
    for endpoint, method, rule in _rules(app):
        if _public(endpoint):
            continue
        path = _path(rule, seeded, dummy=False)
        response = _call(client, method, path, csrf)
        where = f"anonymous {method} {path} ({endpoint})"
        if path.startswith("/admin/"):
            assert response.status_code == 401, where
            assert response.get_json() == {"success": False, "error": "authentication required"}
            assert response.headers["WWW-Authenticate"] == 'Bearer realm="switchboard"'
        elif endpoint in VISITOR:
            assert response.status_code == 401, where
            assert response.get_json()["error"] == "unauthorized", where
        else:
            assert response.status_code == 302, where
            assert response.headers["Location"].startswith("/login?next="), where
        refused += 1
        # A bad or foreign bearer token is no better than none.
        for token in ("sbt_not-a-real-token", "Basic YWRtaW46YWRtaW4=", "v_forged.token.sig"):
            bad = _call(client, method, path, csrf, headers={"Authorization": f"Bearer {token}"})
            assert bad.status_code in (401, 302), f"{where} with a bad token"
            refused += 1
    for endpoint, method, rule in _rules(app):  # OPTIONS answers with an Allow list only
        if not _public(endpoint) and "OPTIONS" in rule.methods:
            answer = client.options(_path(rule, seeded, dummy=False))
            assert answer.get_data() == b"", rule.rule
    assert refused > 100
    ledger.payloads(refused)


def _agent_session(app, services, email="agent@example.com", role="agent"):
    make_user(services, email, role)
    client = app.test_client()
    assert login(client, email).status_code == 302
    csrf = csrf_from(client.get("/").get_data(as_text=True))
    return client, csrf


def _token_headers(services, email: str, role: str) -> dict[str, str]:
    from admin_app.security import hash_api_token, new_api_token

    user = make_user(services, email, role)
    token = new_api_token()
    services.store.create_api_token(user.id, "walker", hash_api_token(token), services.clock())
    return {"Authorization": f"Bearer {token}"}


def test_agents_cannot_reach_admin_only_actions(app, services, ledger):
    seeded = _seed(services)
    client, csrf = _agent_session(app, services)
    token = _token_headers(services, "agent-robot@example.com", "agent")
    tokens_only = app.test_client()
    anonymous_csrf = _anonymous_csrf(tokens_only)  # so a page POST meets the login check
    refused = 0
    for endpoint, method, rule in _rules(app):
        if _public(endpoint) or endpoint in VISITOR:
            continue
        path = _path(rule, seeded, dummy=False)
        where = f"agent {method} {path} ({endpoint})"
        by_session = _call(client, method, path, csrf)
        by_token = _call(tokens_only, method, path, anonymous_csrf, headers=token)
        if endpoint in ADMIN_ONLY or endpoint in NOT_YOURS:
            assert by_session.status_code == 403, where
            refused += 1
        else:
            assert by_session.status_code not in (401, 403), where
            assert by_session.status_code < 500, where
        if path.startswith("/admin/"):
            # The JSON API takes tokens, which carry their account's role.
            assert (by_token.status_code == 403) is (
                endpoint in ADMIN_ONLY or endpoint in NOT_YOURS), where
            assert by_token.status_code != 401 and by_token.status_code < 500, where
        else:
            # Pages take the browser session only: a token opens none of them.
            assert by_token.status_code == 302, where
            assert by_token.headers["Location"].startswith("/login?next="), where
            refused += 1
    # Nothing an agent tried changed accounts or tokens.
    target = services.store.get_user(seeded.target_user_id)
    assert not target.disabled and target.password_hash == make_user(services,
                                                                     "target@example.com").password_hash
    assert [t.revoked_at for t in services.store.list_api_tokens() if t.id == seeded.token_id] == [None]
    assert services.store.get_conversation(seeded.conversation_id) is not None  # not deleted
    assert refused >= len(ADMIN_ONLY)
    ledger.payloads(refused)


@pytest.mark.parametrize("dummy", [False, True], ids=["seeded-ids", "unknown-ids"])
def test_admins_reach_every_staff_route(app, services, dummy):
    seeded = _seed(services)
    client, csrf = _agent_session(app, services, "boss@example.com", "admin")
    token = _token_headers(services, "boss-robot@example.com", "admin")
    walked = 0
    for endpoint, method, rule in _rules(app):
        if _public(endpoint) or endpoint in VISITOR:
            continue
        path = _path(rule, seeded, dummy=dummy)
        where = f"admin {method} {path} ({endpoint})"
        # Another account's note: an admin may not edit it either (an unknown id is a 404).
        not_yours = endpoint in NOT_YOURS - ADMINS_MAY and not dummy
        response = _call(client, method, path, csrf)
        if not_yours:
            assert response.status_code == 403, where
        assert response.status_code not in (401, 403) or not_yours, where
        assert response.status_code < 500, where
        if response.status_code == 302:
            assert not response.headers["Location"].startswith("/login"), where
        if path.startswith("/admin/"):
            by_token = _call(app.test_client(), method, path, headers=token)
            assert (by_token.status_code == 403) is not_yours, where
            assert by_token.status_code != 401 and by_token.status_code < 500, where
        walked += 1
    assert walked == len([1 for e, _, _ in _rules(app) if not _public(e) and e not in VISITOR])
    # The admin's own session survived the walk (it reset another account's password,
    # disabled it, revoked that account's token), so every result above was the admin's.
    assert client.get("/settings").status_code == 200


def test_a_revoked_api_token_is_refused_at_once(app, services, ledger):
    headers = _token_headers(services, "revoked@example.com", "agent")
    client = app.test_client()
    assert client.get("/admin/me", headers=headers).status_code == 200
    [record] = [t for t in services.store.list_api_tokens()
                if t.user_id == services.store.get_user_by_email("revoked@example.com").id]
    services.store.revoke_api_token(record.id, services.clock())
    assert client.get("/admin/me", headers=headers).status_code == 401
    assert client.post("/admin/conversations/1/close", headers=headers).status_code == 401
    # The password of the account still works: only that token is gone.
    assert login(app.test_client(), "revoked@example.com", PASSWORD).status_code == 302
    ledger.payloads(2)


def test_every_session_change_needs_the_csrf_token(app, services, ledger):
    """A browser attaches the session cookie to a forged cross-site request too: every
    state-changing route reached with the session alone, without the token, is refused."""
    seeded = _seed(services)
    client, _ = _agent_session(app, services, "boss@example.com", "admin")
    refused = 0
    for endpoint, method, rule in _rules(app):
        if method == "GET" or endpoint in VISITOR or endpoint in (
                "messenger.receive", "webchat.start_session"):  # no session: signed or token
            continue
        path = _path(rule, seeded, dummy=False)
        for forged in (None, "not-the-token"):
            headers = {"X-CSRFToken": forged} if forged else {}
            data = {"csrf_token": forged} if forged else None
            response = client.open(path, method=method, headers=headers, data=data)
            where = f"{method} {path} ({endpoint}) with CSRF token {forged!r}"
            assert response.status_code == 400, where
            if path.startswith("/admin/"):
                assert response.get_json()["error"].startswith("CSRF check failed"), where
            else:
                assert "did not come from this site" in response.get_data(as_text=True), where
            refused += 1
    # Still signed in, nothing changed: the target account is enabled, its token alive.
    assert client.get("/settings").status_code == 200
    assert not services.store.get_user(seeded.target_user_id).disabled
    assert [t.revoked_at for t in services.store.list_api_tokens() if t.id == seeded.token_id] \
        == [None]
    assert refused >= 2 * 15
    ledger.payloads(refused)

"""The sockets and API tokens of a live gunicorn server, walked with real clients (both
stores): ``/admin`` refuses anonymous, foreign and token-only connections and re-checks
every event it has a handler for; ``/chat`` refuses missing and forged visitor tokens and
keeps visitors apart; a revoked API token is refused at once."""

from __future__ import annotations

import re
import threading
import time

import pytest
import requests
import socketio

from admin_app.live import AdminNamespace
from channels.webchat.identity import Visitor, VisitorTokens
from tests.support.admin import PASSWORD, csrf_from, login_requests
from tests.support.chat_client import ChatVisitor
from tests.support.live_server import LiveServer

ADMIN, AGENT = "ann@example.com", "carl@example.com"
# Events of /admin agents may send; admin-only ones are AdminNamespace.ADMIN_ONLY_EVENTS.
AGENT_EVENTS = {"join", "leave", "typing", "viewing", "who", "idle", "visitors"}
# Events answered only on a conversation the socket follows: the walker joins it first.
AFTER_JOIN = {"viewing"}


@pytest.fixture(params=["sqlite", pytest.param("supabase", marks=pytest.mark.supabase)])
def start_server(request, tmp_path):
    """Start a live server (with extra settings) on the parametrized store."""
    servers: list[LiveServer] = []
    env = {
        "HOME": str(tmp_path),
        "DATABASE_PATH": str(tmp_path / "walk.db"),
        "SECRET_KEY": "walker-secret-key-0123456789",
        "RESPONDER": "off",
        "CHAT_SESSION_RATE_LIMIT": "1000/minute",
    }
    if request.param == "supabase":
        stack = request.getfixturevalue("supabase_stack")
        stack.reset()
        env.update(SUPABASE_URL=stack.url, SUPABASE_SERVICE_ROLE_KEY=stack.service_role_key)

    def start(**settings: str) -> LiveServer:
        live = LiveServer({**env, **settings}, log_path=tmp_path / "server.log").start()
        servers.append(live)
        for email, role in [(ADMIN, "admin"), (AGENT, "agent")]:
            made = live.flask("users", "create", email, "--role", role, "--password-stdin",
                              stdin=PASSWORD + "\n")
            assert made.returncode == 0, made.stderr
        return live

    yield start
    for live in servers:
        live.stop()


@pytest.fixture
def server(start_server):
    return start_server()


def _signed_in(server, email: str) -> tuple[requests.Session, str]:
    browser = requests.Session()
    return browser, login_requests(browser, server.url, email)


def _cookie(browser: requests.Session) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in browser.cookies)


class AdminSocket:
    """A python-socketio client on /admin that notices when the server drops it."""

    def __init__(self) -> None:
        self.client = socketio.Client(reconnection=False)
        self.dropped = threading.Event()
        self.client.on("disconnect", lambda *args: self.dropped.set(), namespace="/admin")

    def connect(self, url: str, headers: dict[str, str], transport: str = "websocket"):
        self.client.connect(url, namespaces=["/admin"], headers=headers,
                            transports=[transport], wait_timeout=10)
        return self

    def call(self, event: str, data):
        return self.client.call(event, data, namespace="/admin", timeout=10)

    def close(self) -> None:
        self.client.disconnect()


def _refused_connect(url: str, headers: dict[str, str], transport: str) -> bool:
    sock = AdminSocket()
    try:
        sock.connect(url, headers, transport)
    except socketio.exceptions.ConnectionError:
        return True
    finally:
        sock.close()
    return False


def _conversation(server) -> int:
    visitor = ChatVisitor(server.url)
    visitor.start()
    answer = visitor.request("POST", "/chat/messages", json={"content": "hi", "client_id": "w1"})
    assert answer.status_code == 201, answer.text
    return answer.json()["conversation"]["id"]


def _api_token(server, email: str) -> tuple[int, str]:
    made = server.flask("tokens", "create", email, "--name", "walker")
    assert made.returncode == 0, made.stderr
    found = re.match(r"token (\d+) for \S+: (sbt_\S+)", made.stdout.strip())
    assert found, made.stdout
    return int(found.group(1)), found.group(2)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_admin_socket_refuses_anonymous_foreign_and_token_callers(server, transport, ledger):
    browser, _ = _signed_in(server, AGENT)
    _, token = _api_token(server, ADMIN)
    attempts = {
        "anonymous": {},
        "a forged session cookie": {"Cookie": "switchboard_session=eyJfdXNlcl9pZCI6IjEifQ.x.y"},
        "an API token (sockets take the browser session only)":
            {"Authorization": f"Bearer {token}"},
        "a signed-in page of another site": {"Cookie": _cookie(browser),
                                             "Origin": "https://evil.example"},
    }
    for what, headers in attempts.items():
        assert _refused_connect(server.url, headers, transport), what
    # The same session from this site's own page is let in: the refusals above were real.
    sock = AdminSocket().connect(server.url, {"Cookie": _cookie(browser)}, transport)
    sock.close()
    ledger.payloads(len(attempts))


def test_every_admin_event_is_classified_and_rechecked(server, ledger):
    handlers = {name[3:] for name in dir(AdminNamespace) if name.startswith("on_")}
    events = handlers - AdminNamespace.LIFECYCLE_EVENTS
    assert events == AGENT_EVENTS | AdminNamespace.ADMIN_ONLY_EVENTS, \
        "a new /admin event: add it to AGENT_EVENTS here or to ADMIN_ONLY_EVENTS"
    _no_function_handlers_bypass_the_namespace()

    cid = _conversation(server)
    payload = {"conversation_id": cid, "typing": True, "idle": False,  # one for every event
               "conversation_ids": [cid]}
    agent_browser, _ = _signed_in(server, AGENT)
    admin_browser, admin_csrf = _signed_in(server, ADMIN)
    headers = {"Cookie": _cookie(agent_browser)}
    admin = AdminSocket().connect(server.url, {"Cookie": _cookie(admin_browser)})
    refused = 0
    for event in sorted(events):
        answer = AdminSocket().connect(server.url, headers)
        if event in AFTER_JOIN:
            assert answer.call("join", payload) == {"ok": True}
        reply = answer.call(event, payload)
        answer.close()
        if event in AdminNamespace.ADMIN_ONLY_EVENTS:
            assert reply == {"ok": False, "error": "admin role required"}, event
            assert admin.call(event, payload).get("ok") is True, event
            refused += 1
        else:
            assert reply.get("ok") is True, (event, reply)

    # One socket per event, connected while the account is good …
    sockets = {event: AdminSocket().connect(server.url, headers) for event in sorted(events)}
    agent_id = next(int(line.split("\t")[0]) for line in
                    server.flask("users", "list").stdout.splitlines() if AGENT in line)
    # … then an admin disables the account: every event of those sockets is refused.
    disabled = admin_browser.post(f"{server.url}/settings/users/{agent_id}/disable",
                                  data={"csrf_token": admin_csrf}, timeout=10,
                                  allow_redirects=False)
    assert disabled.status_code == 302, disabled.text
    for event, sock in sockets.items():
        assert sock.call(event, payload) == {"ok": False, "error": "authentication required"}
        assert sock.dropped.wait(10), f"the server kept a disabled account's socket ({event})"
        sock.close()
        refused += 1
    assert _refused_connect(server.url, headers, "websocket")
    assert admin.call("join", payload) == {"ok": True}  # the admin's socket is unaffected
    admin.close()
    ledger.payloads(refused + 1)


def _no_function_handlers_bypass_the_namespace() -> None:
    """Handlers registered with ``@socketio.on(..., namespace="/admin")`` would skip
    ``AdminNamespace``'s checks: there must be none."""
    from admin_app import create_app
    from services.settings import Settings

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, database_path=Path(tmp) / "a.db",
                            secret_key="x", secret_key_file=Path(tmp) / "k")
        app = create_app(settings)
        server = app.extensions["socketio"].server
        assert server.handlers.get("/admin", {}) == {}
        assert isinstance(server.namespace_handlers["/admin"], AdminNamespace)
        app.extensions["switchboard"].store.close()


def test_chat_socket_refuses_missing_and_forged_tokens_and_keeps_visitors_apart(server, ledger):
    other_key = VisitorTokens("not-this-servers-key", 3600).issue(Visitor("v_" + "a" * 22))
    alice, mallory = ChatVisitor(server.url), ChatVisitor(server.url)
    try:
        alice.start()
        mallory.start()
        bad_tokens = {"missing": None, "empty": "", "forged": "forged.token.value",
                      "signed with another key": other_key, "not a string": 12345,
                      "an admin API token": _api_token(server, ADMIN)[1]}
        for what, token in bad_tokens.items():
            sio = socketio.Client(reconnection=False)
            with pytest.raises(socketio.exceptions.ConnectionError):
                sio.connect(server.url, namespaces=["/chat"], auth={"token": token},
                            transports=["websocket"], wait_timeout=10)
            sio.disconnect()
            refused = requests.get(f"{server.url}/chat/user/x/conversations", timeout=10,
                                   headers={"Authorization": f"Bearer {token}"})
            assert refused.status_code == 401, what
        live_alice = alice.connect()
        first = live_alice.call("message", {"content": "mine", "client_id": "a1"})
        cid = first["conversation_id"]

        live = mallory.connect()
        assert live.call("typing", {"typing": True}) == {"ok": False}  # follows nothing yet
        join = live.call("join", {"conversation_id": cid})
        assert join["status"] == 403 and join["error"] == "forbidden"
        # Naming Alice's conversation in a message does not write into it.
        written = live.call("message", {"content": "sneaky", "client_id": "m1",
                                        "conversation_id": cid})
        assert written["conversation_id"] != cid
        assert [m["content"] for m in alice.history(cid).json()["messages"]
                if m["sender_type"] == "user"] == ["mine"]
        for method, path in [("GET", f"/chat/{cid}/history"), ("GET", f"/chat/{cid}/escalations"),
                             ("POST", f"/chat/{cid}/messages"), ("POST", f"/chat/{cid}/escalate")]:
            answer = mallory.request(method, path, json={"content": "x", "client_id": "m2"})
            assert answer.status_code == 403, (method, path, answer.text)
        ledger.payloads(len(bad_tokens) * 2 + 6)
    finally:
        alice.close()
        mallory.close()


def test_api_tokens_are_refused_as_soon_as_they_are_revoked(server, ledger):
    token_id, token = _api_token(server, AGENT)
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{server.url}/admin/me", headers=headers, timeout=10).status_code == 200
    revoked = server.flask("tokens", "revoke", str(token_id))
    assert revoked.returncode == 0, revoked.stderr
    after = requests.get(f"{server.url}/admin/me", headers=headers, timeout=10)
    assert after.status_code == 401 and after.json()["error"] == "authentication required"

    # The same through the admin's Settings page: made there, shown once, revoked there.
    admin, csrf = _signed_in(server, ADMIN)
    page = admin.get(f"{server.url}/settings", timeout=10).text
    agent_option = re.search(r'<option value="(\d+)">' + re.escape(AGENT), page)
    assert agent_option, "the token form lists the agent"
    made = admin.post(f"{server.url}/settings/tokens", timeout=10, data={
        "csrf_token": csrf, "user_id": agent_option.group(1), "name": "from-the-page"})
    assert made.status_code == 200, made.text
    value = re.search(r'id="secret-value">(sbt_[^<]+)<', made.text).group(1)
    headers = {"Authorization": f"Bearer {value}"}
    assert requests.get(f"{server.url}/admin/me", headers=headers, timeout=10).json()[
        "user"]["email"] == AGENT
    listed = server.flask("tokens", "list").stdout
    page_token = next(line.split("\t")[0] for line in listed.splitlines() if "from-the-page" in line)
    gone = admin.post(f"{server.url}/settings/tokens/{page_token}/revoke", timeout=10,
                      data={"csrf_token": csrf_from(made.text)}, allow_redirects=False)
    assert gone.status_code == 302, gone.text
    # The very next call: no cache keeps a revoked token alive.
    assert requests.get(f"{server.url}/admin/me", headers=headers, timeout=10).status_code == 401
    ledger.payloads(2)


def test_a_silent_socket_is_dropped_once_its_account_is_disabled(start_server, ledger):
    server = start_server(ADMIN_SESSION_RECHECK_SECONDS="1")
    agent_browser, _ = _signed_in(server, AGENT)
    admin_browser, admin_csrf = _signed_in(server, ADMIN)
    listener = AdminSocket()
    seen: list[str] = []
    listener.client.on("conversation.created", lambda data: seen.append("created"),
                       namespace="/admin")
    listener.connect(server.url, {"Cookie": _cookie(agent_browser)})
    _conversation(server)
    deadline = time.monotonic() + 15
    while not seen and time.monotonic() < deadline:
        time.sleep(0.1)
    assert seen, "the agent's socket never heard of the new conversation"

    agent_id = next(int(line.split("\t")[0]) for line in
                    server.flask("users", "list").stdout.splitlines() if AGENT in line)
    disabled = admin_browser.post(f"{server.url}/settings/users/{agent_id}/disable",
                                  data={"csrf_token": admin_csrf}, timeout=10,
                                  allow_redirects=False)
    assert disabled.status_code == 302, disabled.text
    # It sends nothing, yet the server drops it within a few re-check rounds …
    assert listener.dropped.wait(15), "a disabled account's silent socket stayed open"
    heard = len(seen)
    _conversation(server)  # … so it hears nothing more (an admin's socket would)
    time.sleep(1)
    assert len(seen) == heard
    listener.close()

    # A password change ends the other sessions' sockets the same way.
    admin_listener = AdminSocket().connect(server.url, {"Cookie": _cookie(admin_browser)})
    changed = server.flask("users", "set-password", ADMIN, "--password-stdin",
                           stdin="another long password\n")
    assert changed.returncode == 0, changed.stderr
    assert admin_listener.dropped.wait(15), "a socket outlived its session's password"
    admin_listener.close()
    ledger.payloads(2)

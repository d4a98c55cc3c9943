"""Secrets never reach the logs or an error body, over a full run of the product.

One gunicorn process on the local Supabase stack, at the most verbose log level, with its
access log on, the Graph API stand-in behind Messenger, and distinctive secret values; the
test signs in (wrong and right password), calls the API, sends signed webhooks that the bot
answers through the stand-in, makes the stand-in fail (echoing the token, as a careless
server might), sends bad signatures, bad verify tokens and hostile parameters, chats through
the widget over HTTP and Socket.IO, views the settings page and exports. Then it greps the
server's whole output, the CLI's log output and every HTTP error body for each secret and
its obvious encodings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from urllib.parse import quote, quote_plus

import pytest
import requests
import socketio

from scripts.simulate import MessengerUser, Server
from tests.support.admin import csrf_from
from tests.support.chat_client import ChatVisitor
from tests.support.graph_stub import start_graph_stub
from tests.support.live_server import LiveServer

MARK = "LEAKCHECK"  # in every secret this test chooses, so a partial leak shows too
APP_SECRET_KEY = f"sk-{MARK}-flask-secret-key-4b1e9f27c3"
FB_APP_SECRET = f"fbapp-{MARK}-appsecret-8d02c6"
PAGE_TOKEN = f"EAAG{MARK}pagetoken0Zx91QWERTYasdf"
VERIFY_TOKEN = f"verify-{MARK}-handshake-5521"
ADMIN_PASSWORD = f"pw-{MARK}-correct horse 77"
ADMIN = "ann@example.com"


def _forms(secret: str) -> set[str]:
    """The secret as it could appear: raw, URL-encoded, JSON-escaped, base64."""
    raw = secret.encode()
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        forms.add(encode(raw).decode().rstrip("="))
    if len(secret) >= 24:  # a truncated leak of a long value: any 20 characters of it
        forms.update(secret[i:i + 20] for i in range(len(secret) - 19))
    return forms


def _leaks(text: str, secrets: dict[str, str]) -> list[str]:
    found = []
    for name, secret in secrets.items():
        for form in _forms(secret):
            if form in text:
                where = text.index(form)
                found.append(f"{name} ({form[:12]}…): …{text[max(0, where - 80):where + 40]}…")
                break
    if MARK in text:
        where = text.index(MARK)
        found.append(f"the marker {MARK}: …{text[max(0, where - 80):where + 40]}…")
    return found


class Recorder:
    """Every HTTP answer of the run: error bodies are kept for the grep."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.bodies: list[str] = []
        self.count = 0

    def __call__(self, response: requests.Response, *args, **kwargs) -> None:
        self.count += 1
        # The answer only: the request is the test's own (hostile values on purpose).
        text = f"{response.status_code}\n{dict(response.headers)}\n{response.text}"
        self.bodies.append(text)
        if response.status_code >= 400:
            self.errors.append(text)

    def session(self) -> requests.Session:
        http = requests.Session()
        http.hooks["response"].append(self)
        return http


def _signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.supabase
def test_no_secret_in_logs_or_error_bodies_over_a_full_run(supabase_stack, tmp_path, ledger):
    supabase_stack.reset()
    graph, httpd, thread = start_graph_stub()
    graph.token = PAGE_TOKEN
    env = {
        "HOME": str(tmp_path),
        "SECRET_KEY": APP_SECRET_KEY,
        "SUPABASE_URL": supabase_stack.url,
        "SUPABASE_SERVICE_ROLE_KEY": supabase_stack.service_role_key,
        "FACEBOOK_APP_SECRET": FB_APP_SECRET,
        "FACEBOOK_PAGE_ACCESS_TOKEN": PAGE_TOKEN,
        "FACEBOOK_VERIFY_TOKEN": VERIFY_TOKEN,
        "GRAPH_API_BASE": graph.base_url,
        "GRAPH_API_VERSION": graph.version,
        "RESPONDER": "faq",
        "LOG_LEVEL": "DEBUG",  # the most verbose the app has (gunicorn's too)
        "ACCESS_LOG": "-",  # request lines carry query strings: keep them in the capture
        "CHAT_SESSION_RATE_LIMIT": "1000/minute",
    }
    log_path = tmp_path / "server.log"
    server = LiveServer(env, log_path=log_path).start()
    record = Recorder()
    cli_output: list[str] = []
    secrets = {
        "SECRET_KEY": APP_SECRET_KEY, "FACEBOOK_APP_SECRET": FB_APP_SECRET,
        "FACEBOOK_PAGE_ACCESS_TOKEN": PAGE_TOKEN, "FACEBOOK_VERIFY_TOKEN": VERIFY_TOKEN,
        "SUPABASE_SERVICE_ROLE_KEY": supabase_stack.service_role_key,
        "admin password": ADMIN_PASSWORD,
    }
    try:
        made = server.flask("users", "create", ADMIN, "--role", "admin", "--password-stdin",
                            stdin=ADMIN_PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
        cli_output.append(made.stderr)
        token_made = server.flask("tokens", "create", ADMIN, "--name", "leakcheck")
        assert token_made.returncode == 0, token_made.stderr
        cli_output.append(token_made.stderr)
        secrets["API token"] = api_token = token_made.stdout.strip().split()[-1]
        sent = _drive(server, graph, record, secrets, api_token)
    finally:
        server.stop()  # graceful: everything it logged is flushed
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

    log = log_path.read_text(errors="replace")
    # The capture is real: requests, debug records and the Graph API failure are in it.
    assert "GET /login" in log and "POST /webhook" in log and "/webhook?" in log
    assert " DEBUG " in log
    assert "Graph API error 190" in log
    assert sent >= 1 and record.count > 40 and len(record.errors) >= 15

    assert _leaks(log, secrets) == [], "secrets in the server's log"
    assert _leaks("\n".join(cli_output), secrets) == [], "secrets in the CLI's log output"
    for body in record.errors:
        assert _leaks(body, secrets) == [], "a secret in an error body"
    # Answers that are not errors carry no server secret either (the visitor and API tokens
    # are shown, once, to whoever was given them).
    server_side = {k: v for k, v in secrets.items() if k not in ("API token", "visitor token")}
    for body in record.bodies:
        assert _leaks(body, server_side) == [], body[:300]
    ledger.payloads(record.count)


def _drive(server: LiveServer, graph, record: Recorder, secrets: dict[str, str],
           api_token: str) -> int:
    """The full run; returns how many bot replies reached the stand-in."""
    base = server.url
    anonymous = record.session()

    # -- signing in: a wrong password that contains the right one, then the right one --
    browser = record.session()
    csrf = csrf_from(browser.get(base + "/login", timeout=10).text)
    wrong = browser.post(base + "/login", timeout=10, data={
        "email": ADMIN, "password": ADMIN_PASSWORD + "-typo", "csrf_token": csrf})
    assert wrong.status_code == 401
    right = browser.post(base + "/login", timeout=10, allow_redirects=False, data={
        "email": ADMIN, "password": ADMIN_PASSWORD, "csrf_token": csrf})
    assert right.status_code == 302
    anonymous.post(base + "/login", timeout=10, data={"email": ADMIN, "password": ADMIN_PASSWORD})
    session_csrf = csrf_from(browser.get(base + "/settings", timeout=10).text)

    # -- the JSON API with a token, and hostile parameters that name secrets --
    # (Secrets the server holds; a password it only knows hashed goes in bodies only: a
    # client that puts its own password in a URL cannot be protected from its proxies.)
    api = record.session()
    api.headers["Authorization"] = f"Bearer {api_token}"
    assert api.get(base + "/admin/conversations", timeout=10).status_code == 200
    api.get(base + "/admin/stats", timeout=10)
    for query in (f"limit={api_token}", f"cursor={quote(APP_SECRET_KEY)}",
                  f"status={quote(PAGE_TOKEN)}", f"sort={quote(VERIFY_TOKEN)}",
                  f"platform={quote(FB_APP_SECRET)}"):
        assert api.get(f"{base}/admin/conversations?{query}", timeout=10).status_code == 400
    anonymous.get(base + "/admin/conversations", timeout=10,
                  headers={"Authorization": f"Bearer {api_token}x"})
    anonymous.get(base + "/admin/conversations", timeout=10,
                  headers={"Authorization": f"Bearer {PAGE_TOKEN}"})
    api.post(base + "/admin/messages/1/mark-human", timeout=10,
             json={"reason": 1, "priority": VERIFY_TOKEN})
    api.post(base + "/admin/messages/1/mark-human", timeout=10, data=f"{{{ADMIN_PASSWORD}",
             headers={"Content-Type": "application/json"})
    api.get(f"{base}/admin/conversations/{quote(FB_APP_SECRET)}", timeout=10)
    browser.post(base + "/admin/conversations/1/close", timeout=10,
                 headers={"X-CSRFToken": APP_SECRET_KEY})  # a forged CSRF token

    # -- Messenger: the handshake (right and wrong), signed and badly signed webhooks --
    hub = "hub.mode=subscribe&hub.challenge=31337&hub.verify_token="
    assert anonymous.get(f"{base}/webhook?{hub}{quote(VERIFY_TOKEN)}", timeout=10).text == "31337"
    assert anonymous.get(f"{base}/webhook?{hub}{quote(VERIFY_TOKEN)}x",
                         timeout=10).status_code == 403
    person = MessengerUser(Server(base, FB_APP_SECRET), "4100000000000042")
    person.say("What are your opening hours?")
    deadline = time.monotonic() + 30
    while not graph.sent_messages() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert graph.sent_messages(), "the bot's reply never reached the stand-in"
    body = json.dumps({"object": "page", "entry": []}).encode()
    for signature in (_signature(body, "not-the-secret"), f"sha256={FB_APP_SECRET}",
                      FB_APP_SECRET, _signature(body, FB_APP_SECRET) + "0"):
        refused = anonymous.post(base + "/webhook", data=body, timeout=10, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": signature})
        assert refused.status_code == 403
    anonymous.post(base + "/webhook", timeout=10, data=b"{not json " + PAGE_TOKEN.encode(),
                   headers={"X-Hub-Signature-256": "sha256=00"})

    # -- a Graph API failure whose text echoes the token, as a careless server might --
    graph.fail(190, f"Invalid OAuth access token: {PAGE_TOKEN} (access_token={PAGE_TOKEN})",
               path_contains="me/messages")
    before = len(graph.requests)
    MessengerUser(Server(base, FB_APP_SECRET), "4100000000000043").say("How long is shipping?")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(
            r.path.endswith("/me/messages") for r in graph.requests[before:]):
        time.sleep(0.2)
    _wait_for_failed_delivery(api, base, deadline + 15)

    # -- the widget: HTTP and Socket.IO, good and forged visitor tokens --
    visitor = ChatVisitor(base)
    start = anonymous.post(base + "/chat/session", json={"display_name": "Vic"}, timeout=10)
    visitor.token, visitor.visitor_id = start.json()["token"], start.json()["visitor_id"]
    secrets["visitor token"] = visitor.token
    chat = record.session()
    chat.headers["Authorization"] = f"Bearer {visitor.token}"
    first = chat.post(base + "/chat/messages", json={"content": "hello", "client_id": "c1"},
                      timeout=10)
    cid = first.json()["conversation"]["id"]
    chat.get(f"{base}/chat/{cid}/history", timeout=10)
    chat.post(f"{base}/chat/{cid}/messages", timeout=10,
              json={"content": "x", "client_id": f"{APP_SECRET_KEY} has spaces"})
    chat.get(f"{base}/chat/{cid}/history?limit={quote(PAGE_TOKEN)}", timeout=10)
    anonymous.get(f"{base}/chat/{cid}/history", timeout=10,
                  headers={"Authorization": f"Bearer {visitor.token}x"})
    anonymous.post(base + "/chat/session", json={"visitor_id": visitor.visitor_id}, timeout=10,
                   headers={"Authorization": f"Bearer {visitor.token[:-3]}"})
    live = visitor.connect(conversation_id=cid)
    live.call("message", {"content": "from the socket", "client_id": "c2"})
    live.call("message", {"content": "y" * 5000, "client_id": "c3"})
    live.call("join", {"conversation_id": APP_SECRET_KEY})
    for forged in (visitor.token + "x", APP_SECRET_KEY):
        sio = socketio.Client(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError) as refused:
            sio.connect(base, namespaces=["/chat"], auth={"token": forged},
                        transports=["websocket"], wait_timeout=10)
        record.errors.append(f"socket refusal: {refused.value!r}")
        sio.disconnect()
    visitor.close()

    # -- the admin socket, the settings page, an API token made there, the export --
    admin_sock = socketio.Client(reconnection=False)
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
    admin_sock.connect(base, namespaces=["/admin"], headers={"Cookie": cookie},
                       transports=["websocket"], wait_timeout=10)
    admin_sock.call("typing", {"conversation_id": cid, "typing": True}, namespace="/admin")
    admin_sock.disconnect()
    page = browser.get(base + "/settings", timeout=10).text
    owner = re.search(r'<option value="(\d+)">', page).group(1)
    made = browser.post(base + "/settings/tokens", timeout=10, data={
        "csrf_token": session_csrf, "user_id": owner, "name": "from the page"})
    secrets["API token made on the page"] = re.search(
        r'id="secret-value">(sbt_[^<]+)<', made.text).group(1)
    record.bodies.remove(next(b for b in record.bodies if "secret-value" in b))
    browser.post(base + "/settings/password", timeout=10, data={
        "csrf_token": session_csrf, "current_password": ADMIN_PASSWORD + "-typo",
        "new_password": ADMIN_PASSWORD + "2", "confirm": ADMIN_PASSWORD + "2"})
    assert api.get(base + "/admin/export?format=csv", timeout=30).status_code == 200
    assert api.get(base + "/admin/export?format=json", timeout=30).status_code == 200
    api.get(f"{base}/admin/export?format={quote(PAGE_TOKEN)}", timeout=10)
    api.get(f"{base}/admin/export?from={quote(FB_APP_SECRET)}", timeout=10)
    anonymous.get(base + "/readyz", timeout=10)
    anonymous.get(f"{base}/{quote(APP_SECRET_KEY)}", timeout=10)  # an HTML 404
    browser.post(base + "/logout", data={"csrf_token": session_csrf}, timeout=10)
    return len(graph.sent_messages())


def _wait_for_failed_delivery(api: requests.Session, base: str, deadline: float) -> None:
    """Until the reply the stand-in refused is stored as ``failed`` (its reason included)."""
    while time.monotonic() < deadline:
        listed = api.get(base + "/admin/conversations?platform=messenger", timeout=10).json()
        for conversation in listed["conversations"]:
            detail = api.get(f"{base}/admin/conversations/{conversation['id']}", timeout=10)
            if any(m.get("delivery_status") == "failed" for m in detail.json()["messages"]):
                return
        time.sleep(0.3)
    raise AssertionError("the refused reply was never marked failed")


def test_the_redactor_masks_known_values_and_credential_shapes():
    from services.log_redaction import MASK, Redactor

    redact = Redactor([PAGE_TOKEN, "short"])
    assert redact(f"token {PAGE_TOKEN} and {quote(PAGE_TOKEN)}") == f"token {MASK} and {MASK}"
    assert redact("GET /webhook?hub.mode=subscribe&hub.verify_token=abc123&x=1") == \
        f"GET /webhook?hub.mode=subscribe&hub.verify_token={MASK}&x=1"
    assert redact("Authorization: Bearer sbt_abcdefghijklmnopqrstuvwxyz") == \
        f"Authorization: Bearer {MASK}"
    assert redact("limit=sbt_abcdefghijklmnopqrstuvwxyz0123") == f"limit=sbt_{MASK}"
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJlc2ln"
    assert MASK in redact(f"key={jwt}") and jwt not in redact(f"apikey {jwt}")
    assert redact("a short word") == "a short word"  # values under 6 characters are ignored
    assert redact("cannot reach redis://:hunter2pass@10.0.0.5:6379/0") == \
        f"cannot reach redis://:{MASK}@10.0.0.5:6379/0"


def test_settings_name_every_secret_for_redaction():
    from services.settings import Settings

    settings = Settings(
        _env_file=None, secret_key=APP_SECRET_KEY, facebook_page_access_token=PAGE_TOKEN,
        facebook_app_secret=FB_APP_SECRET, facebook_verify_token=VERIFY_TOKEN,
        bot_api_key="bot-key-123456", socketio_message_queue="redis://:queuepass1@q:6379/0",
        ratelimit_storage_uri="redis://user:limitpass2@l:6379/1",
    )
    assert sorted(settings.secret_values()) == sorted([
        APP_SECRET_KEY, PAGE_TOKEN, FB_APP_SECRET, VERIFY_TOKEN, "bot-key-123456",
        "queuepass1", "limitpass2"])

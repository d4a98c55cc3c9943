"""Generated web chat requests: the HTTP fallback on both stores, and the ``/chat`` socket of
a live gunicorn server (real python-socketio clients) on both stores.

Any JSON body or event data (wrong types, huge, any unicode with lone surrogates and NUL,
missing fields, bad client ids), with good, foreign, forged, expired or no tokens, to own,
foreign, missing and absurd conversation ids. Never a 5xx (or an error ack with status
500); an error is ``{"error", "detail", "status"}`` with a 4xx status; a request stores one
message -- whole, with its conversation and ``respond`` job -- exactly when the web chat's
rules (README, *Web chat*) say it is a valid message, and nothing otherwise.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from unittest import mock

import pytest
import socketio
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer

from channels.webchat.identity import SALT
from tests.reliability.messenger_payloads import any_text, json_value, stored_text
from tests.support.chat_client import ChatVisitor
from tests.support.snapshot import StoredMessage, messages_of, serve_over

FUZZ = dict(derandomize=True, database=None, deadline=None, print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MAX_LENGTH, MAX_REASON = 1000, 500
CLIENT_ID = re.compile(r"[A-Za-z0-9_.-]{1,100}")
ESCALATION_TEXT = "I'd like to talk to a person, please."
LIMITS = {"chat_rate_limit": "100000/minute", "chat_session_rate_limit": "100000/minute"}

# -- what a request must do -----------------------------------------------------------------
client_ids = st.one_of(
    st.none(), st.just(""), st.from_regex(CLIENT_ID, fullmatch=True),
    st.sampled_from(["ok\n", "a b", "x" * 101, "é", "../x", "a\x00", "\ud800", "id;drop"]),
    st.integers(), st.booleans(), st.lists(st.integers(), max_size=2))
contents = st.one_of(
    any_text, st.text(min_size=1, max_size=20),
    st.integers(min_value=MAX_LENGTH - 2, max_value=MAX_LENGTH + 2).map(lambda n: "w" * n),
    st.integers(min_value=2000, max_value=50_000).map(lambda n: "\U0001f600" * n),
    st.sampled_from(["   ", "\x00\x00", " \x00 ", "\u202eevil", "\ud800"]),
    json_value)
reasons = st.one_of(st.none(), any_text, st.just("r" * (MAX_REASON + 1)), json_value)


def content_outcome(value: Any) -> str | None:
    """The stored text of a message's ``content``, or None when it must be refused."""
    if not isinstance(value, str):
        return None
    text = stored_text(value).strip()
    return text if 0 < len(text) <= MAX_LENGTH else None


def reason_outcome(value: Any) -> str | None:
    """The stored text of an escalation with this ``reason``, or None when refused."""
    if value is None:
        return ESCALATION_TEXT
    if not isinstance(value, str):
        return None
    text = stored_text(value).strip()
    return None if len(text) > MAX_REASON else (text or ESCALATION_TEXT)


def client_id_outcome(value: Any) -> tuple[bool, str | None]:
    """(valid, the id) -- the id is None when the server makes one up."""
    if value is None or value == "":
        return True, None
    return (isinstance(value, str) and CLIENT_ID.fullmatch(value) is not None), value


def check_error(body: dict) -> None:
    # A refusal may carry the number a visitor needs to be told (the widget says it).
    assert {"error", "detail", "status"} <= set(body) <= {"error", "detail", "status",
                                                          "limit", "max_bytes"}, body
    assert 400 <= body["status"] < 500 and body["error"] and body["detail"], body


def new_messages(before: list[StoredMessage], after: list[StoredMessage]) -> list[StoredMessage]:
    """What a request added; it must have changed nothing that was there."""
    assert after[:len(before)] == before, "a stored message changed or went away"
    return after[len(before):]


def check_stored(added: list[StoredMessage], visitor_id: str, client_id: str | None,
                 content: str) -> None:
    """Exactly one new message, whole: in the visitor's conversation, with its job."""
    assert len(added) == 1, added
    (message,) = added
    assert (message.platform, message.external_user_id, message.sender_type,
            message.content, message.jobs) == ("webchat", visitor_id, "user", content,
                                               ("respond",)), message
    if client_id is not None:
        assert message.external_id == f"{visitor_id}:{client_id}"
    else:
        assert re.fullmatch(rf"{re.escape(visitor_id)}:[0-9a-f]{{32}}", message.external_id)


def _tokens(secret: str, good: dict[str, str]) -> dict[str, str | None]:
    """Every kind of token a request may carry, by name."""
    forged = URLSafeTimedSerializer("not-the-secret", salt=SALT).dumps({"v": "v_" + "a" * 22})
    ours = URLSafeTimedSerializer(secret, salt=SALT)
    with mock.patch("time.time", return_value=time.time() - 400 * 86400):
        expired = ours.dumps({"v": "v_" + "b" * 22})
    return {**good, "none": None, "forged": forged, "expired": expired,
            "bad_visitor": ours.dumps({"v": "admin"}), "not_a_dict": ours.dumps(["v_x"]),
            "garbage": "sbt_%00\u00e9" + "x" * 2000}


# -- the HTTP fallback, in-process, both stores ---------------------------------------------
@pytest.fixture
def settings(settings):
    return settings.model_copy(update=LIMITS)


def test_generated_http_requests_never_fail_or_half_write(app, store, request, ledger):
    client = app.test_client()
    stack = request.getfixturevalue("supabase_stack") if store.kind == "supabase" else None
    good, conversation_of = {}, {}
    for name in ("ada", "bob", "cyd"):
        session = client.post("/chat/session", json={"display_name": name}).get_json()
        good[name] = session["token"]
        if name != "cyd":  # cyd has no conversation yet
            first = client.post("/chat/messages", json={"content": f"hi from {name}"},
                                headers={"Authorization": f"Bearer {session['token']}"})
            conversation_of[name] = first.get_json()["conversation"]["id"]
    visitor_of = {name: app.extensions["webchat"].tokens.verify(t).id for name, t in good.items()}
    tokens = _tokens(app.config["SECRET_KEY"], good)
    sent = stored_count = 0

    @hsettings(max_examples=120 if store.kind == "sqlite" else 60, **FUZZ)
    @given(data=st.data())
    def run(data):
        nonlocal sent, stored_count
        token_name = data.draw(st.one_of(st.sampled_from(sorted(good)),
                                         st.sampled_from(sorted(tokens))), "token")
        path_kind = data.draw(st.sampled_from(["first", "first", "into", "into", "escalate",
                                               "escalate_into", "session", "history",
                                               "escalations", "user"]), "path")
        target = data.draw(st.one_of(st.sampled_from(sorted(conversation_of)),
                                     st.sampled_from(["missing", "zero", "huge"])), "target")
        cid = {"missing": 987654321, "zero": 0, "huge": 10**30}.get(
            target, conversation_of.get(target))
        plausible = st.fixed_dictionaries({
            "content": st.one_of(st.text(min_size=1, max_size=30), any_text),
            "client_id": st.one_of(st.none(), st.from_regex(CLIENT_ID, fullmatch=True)),
        }, optional={"reason": st.one_of(st.none(), any_text)})
        fields = data.draw(plausible | st.fixed_dictionaries({}, optional={
            "content": contents, "client_id": client_ids, "reason": reasons,
            "display_name": st.one_of(any_text, json_value),
            "conversation_id": st.one_of(st.integers(), st.sampled_from(
                [10**30, 1e400, "1", " 2", "x"]), json_value),
            "visitor_id": st.one_of(any_text, json_value)}), "fields")
        shape = data.draw(st.sampled_from(["object"] * 6 + ["any_json", "not_json", "empty"]))
        if shape == "object":
            raw = json.dumps(fields).encode()
        elif shape == "any_json":
            raw = json.dumps(data.draw(json_value, "body")).encode()
        elif shape == "not_json":
            raw = data.draw(st.binary(min_size=1, max_size=50), "raw")
        else:
            raw = b""
        body = json.loads(raw) if shape in ("object", "any_json") else None
        if shape == "not_json":
            try:
                body = json.loads(raw)
            except ValueError:
                pass
        if raw == b"":
            body = {}  # no body at all is an empty object

        limit = data.draw(st.sampled_from(["", "5", "-1", "x", str(10**30), "1e400"]))
        owner = data.draw(st.sampled_from([visitor_of["ada"], visitor_of["bob"], "v_nobody",
                                           "%00", ".."]))
        method, path = {
            "first": ("POST", "/chat/messages"), "into": ("POST", f"/chat/{cid}/messages"),
            "escalate": ("POST", "/chat/escalate"),
            "escalate_into": ("POST", f"/chat/{cid}/escalate"),
            "session": ("POST", "/chat/session"),
            "history": ("GET", f"/chat/{cid}/history?limit={limit}"),
            "escalations": ("GET", f"/chat/{cid}/escalations"),
            "user": ("GET", f"/chat/user/{owner}/conversations"),
        }[path_kind]
        token = tokens[token_name]
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = data.draw(st.sampled_from(
                [f"Bearer {token}"] * 4 + [token, f"Basic {token}"]))

        before = messages_of(store, stack)
        answer = client.open(path, method=method, data=raw or None, headers=headers)
        sent += 1
        status = answer.status_code
        assert status < 500, (status, answer.get_data()[:300])
        reply = answer.get_json()
        if status >= 400:
            check_error(reply)
        added = new_messages(before, messages_of(store, stack))

        # What the rules say: only a valid message from a valid token is stored.
        visitor = next((n for n, t in good.items()
                        if headers.get("Authorization") == f"Bearer {t}"), None)
        writes = path_kind in ("first", "into", "escalate", "escalate_into")
        if not writes:
            assert added == []
            return
        own_target = path_kind in ("first", "escalate") or (
            visitor is not None and conversation_of.get(visitor) == cid)
        if path_kind.startswith("escalate"):
            text = reason_outcome(body.get("reason")) if isinstance(body, dict) else None
        else:
            text = content_outcome(body.get("content")) if isinstance(body, dict) else None
        id_ok, client_id = client_id_outcome(
            body.get("client_id") if isinstance(body, dict) else None)
        valid = visitor is not None and own_target and text is not None and id_ok
        if visitor is None:
            assert status == 401, (token_name, status)
        if not valid:
            assert status >= 400 and added == [], (status, added)
            return
        vid = visitor_of[visitor]
        if status == 200:  # the same client id again: the stored message, nothing new
            assert added == [] and client_id is not None
            assert f"{vid}:{client_id}" in {m.external_id for m in before}
        else:
            assert status == 201, (status, reply)
            check_stored(added, vid, client_id, text)
            assert reply["message"]["content"] == text
            stored_count += 1

    run()
    ledger.payloads(sent)
    assert stored_count >= 3  # generated requests did get stored


# -- the /chat socket of a live gunicorn server -----------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("supabase", marks=pytest.mark.supabase)])
def live(request, tmp_path):
    server, read = serve_over(request, tmp_path, {
        "SECRET_KEY": "widget-fuzz-secret", "RESPONDER": "off", "RUN_WORKER_IN_APP": "false",
        "CHAT_RATE_LIMIT": LIMITS["chat_rate_limit"], "LOG_LEVEL": "ERROR",
        "CHAT_SESSION_RATE_LIMIT": LIMITS["chat_session_rate_limit"]}, "chat.db")
    yield server, read
    server.stop()


event_data = st.one_of(
    st.fixed_dictionaries({}, optional={"content": contents, "client_id": client_ids,
                                        "reason": reasons, "typing": json_value,
                                        "conversation_id": st.one_of(st.integers(), json_value)}),
    json_value)


def test_generated_socket_events_never_fail_or_half_write(live, ledger):
    server, read = live
    ada, bob = ChatVisitor(server.url), ChatVisitor(server.url)
    ada.start(display_name="Ada")
    bob.start(display_name="Bob")
    bob_socket = bob.connect()
    ack = bob_socket.call("message", {"content": "bob was here", "client_id": "bob-1"})
    bob_conversation = ack["conversation_id"]
    socket = ada.connect()
    sent = stored_count = 0
    counter = iter(range(10**6))

    @hsettings(max_examples=25, **FUZZ)
    @example(event="message", data={"content": "a\ud800b", "client_id": "lone-surrogate"})
    @example(event="join", data={"conversation_id": 10**30})
    @given(event=st.sampled_from(["message"] * 3 + ["escalate", "join", "typing", "nonsense"]),
           data=event_data)
    def run(event, data):
        nonlocal sent, stored_count
        before = read()
        if event == "nonsense":  # no handler: no ack comes; the socket must stay usable
            socket.client.emit("nonsense", data, namespace="/chat")
            reply = None
        else:
            reply = socket.call(event, data, timeout=15)
        sent += 1
        added = new_messages(before, read())
        if event in ("message", "escalate"):
            ok, client_id = client_id_outcome(data.get("client_id") if isinstance(
                data, dict) else None)
            field = "reason" if event == "escalate" else "content"
            outcome = reason_outcome if event == "escalate" else content_outcome
            text = outcome(data.get(field)) if isinstance(data, dict) else None
            if text is not None and ok:
                assert "error" not in reply, reply
                if added:
                    check_stored(added, ada.visitor_id, client_id, text)
                    assert reply["content"] == text
                    stored_count += 1
                else:  # a resend: the stored message comes back
                    assert f"{ada.visitor_id}:{client_id}" in {m.external_id for m in before}
            else:
                check_error(reply)
                assert added == []
        else:
            assert added == []
            if event == "join":
                if reply.get("ok") is not True:
                    check_error(reply)
                else:  # only the visitor's own conversation may be joined
                    assert reply["conversation"]["id"] != bob_conversation
        # The socket stays usable after whatever came before.
        n = next(counter)
        good = socket.call("message", {"content": f"still here {n}", "client_id": f"ok-{n}"})
        assert good.get("content") == f"still here {n}", good
        stored_count += 1

    run()
    ledger.payloads(sent)
    assert stored_count > sent  # the check messages at least
    socket.disconnect()
    bob_socket.disconnect()


def test_generated_socket_handshakes_are_refused_cleanly(live, ledger):
    server, read = live
    ada = ChatVisitor(server.url)
    ada.start()
    tokens = _tokens("widget-fuzz-secret", {})
    sent = 0

    @hsettings(max_examples=20, **FUZZ)
    @given(auth=st.one_of(
        st.sampled_from([{"token": t} for t in tokens.values()]),
        st.fixed_dictionaries({"token": st.one_of(any_text, json_value)}),
        st.builds(lambda cid: {"token": ada.token, "conversation_id": cid},
                  st.one_of(st.integers(min_value=2), st.sampled_from([10**30, "x", 1e400]),
                            json_value.filter(lambda v: v not in (None, "")))),
        json_value))
    def run(auth):
        nonlocal sent
        client = socketio.Client(reconnection=False)
        sent += 1
        with pytest.raises(socketio.exceptions.ConnectionError):
            client.connect(server.url, namespaces=["/chat"], auth=auth,
                           transports=["websocket"], wait_timeout=10)
        client.disconnect()

    run()
    ledger.payloads(sent)
    assert read() == []  # refused handshakes store nothing
    # and the server still takes a good one
    live_socket = ada.connect()
    assert live_socket.call("message", {"content": "hello", "client_id": "h-1"})["content"] == (
        "hello")
    live_socket.disconnect()

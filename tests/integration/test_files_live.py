"""Files in agents' replies end to end, on gunicorn over both stores: an agent uploads files
over HTTP and replies with them; the Graph API stand-in, like Facebook, fetches each one
from its address before sending it to the Messenger person, and a web chat visitor's socket
gets the reply with addresses that serve the bytes to anyone, with no session."""

from __future__ import annotations

import os
import time

import pytest
import requests

from scripts.simulate import MessengerUser, Server
from tests.support.chat_client import ChatVisitor, admin_token
from tests.support.graph_stub import graph_stub  # noqa: F401  (fixture)
from tests.support.live_server import LiveServer, with_store

APP_SECRET = "files-live-app-secret"
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(5000)
PDF = b"%PDF-1.4\n" + os.urandom(1_500_000)  # past the app's 1 MiB body limit for JSON


@pytest.fixture(params=["sqlite", pytest.param("supabase", marks=pytest.mark.supabase)])
def live(request, tmp_path, graph_stub):  # noqa: F811
    env = {
        "HOME": str(tmp_path),
        "DATABASE_PATH": str(tmp_path / "files.db"),
        "SECRET_KEY_FILE": str(tmp_path / "secret"),
        "RESPONDER": "faq",
        "FACEBOOK_APP_SECRET": APP_SECRET,
        "FACEBOOK_PAGE_ACCESS_TOKEN": graph_stub.token,
        "GRAPH_API_BASE": graph_stub.base_url,
        "GRAPH_API_VERSION": graph_stub.version,
    }
    env = with_store(request, env)
    server = LiveServer(env, log_path=tmp_path / "server.log").start()
    yield server
    server.stop()


def _wait(what, check, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.1)


def _upload(live, auth, conversation_id: int, data: bytes, name: str, kind: str) -> dict:
    answer = requests.post(f"{live.url}/admin/conversations/{conversation_id}/files",
                           headers=auth, files={"file": (name, data, kind)}, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()["attachment"]


def _reply(live, auth, conversation_id: int, content: str, files: list[dict]) -> dict:
    answer = requests.post(f"{live.url}/admin/conversations/{conversation_id}/messages",
                           headers=auth, json={"content": content,
                                               "attachments": [f["file_id"] for f in files]},
                           timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["message"]


def _status(live, auth, conversation_id: int, message_id: int) -> str:
    messages = requests.get(f"{live.url}/admin/conversations/{conversation_id}/messages",
                            headers=auth, timeout=10).json()["messages"]
    return next(m["delivery_status"] for m in messages if m["id"] == message_id)


def test_files_reach_a_messenger_person_through_facebooks_fetch(live, graph_stub):  # noqa: F811
    graph_stub.fetch_attachments = True
    auth = {"Authorization": f"Bearer {admin_token(live)}"}
    psid = "psid-files-1"
    MessengerUser(Server(live.url, APP_SECRET), psid).say("Can you send me the quote?")
    conversation = _wait("the conversation", lambda: requests.get(
        f"{live.url}/admin/conversations?platform=messenger", headers=auth,
        timeout=10).json()["conversations"])[0]

    image = _upload(live, auth, conversation["id"], PNG, "shelf.png", "image/png")
    quote = _upload(live, auth, conversation["id"], PDF, "Quote 7.pdf", "application/pdf")
    assert image["url"].startswith(live.url + "/files/")
    message = _reply(live, auth, conversation["id"], "Here you are.", [image, quote])

    _wait("the send", lambda: _status(live, auth, conversation["id"], message["id"]) == "sent")
    sent = [r.json["message"] for r in list(graph_stub.requests)
            if r.json and r.json.get("recipient", {}).get("id") == psid and "message" in r.json
            and r.json["message"].get("metadata")]
    # The text, then each file as its own message (the Send API takes one attachment each).
    assert [m.get("text") or m["attachment"]["type"] for m in sent[-3:]] == [
        "Here you are.", "image", "file"]
    assert [m["attachment"]["payload"]["url"] for m in sent[-2:]] == [image["url"],
                                                                       quote["url"]]
    fetched = list(graph_stub.fetched)
    assert [(f.kind, f.content_type, f.data) for f in fetched] == [
        ("image", "image/png", PNG), ("file", "application/octet-stream", PDF)]


def test_files_reach_a_web_chat_visitor_live(live):
    auth = {"Authorization": f"Bearer {admin_token(live)}"}
    visitor = ChatVisitor(live.url)
    try:
        visitor.start()
        socket = visitor.connect()
        first = socket.call("message", {"content": "hello", "client_id": "c-files-1"})
        conversation_id = visitor.conversation_id = first["conversation_id"]
        image = _upload(live, auth, conversation_id, PNG, "shelf.png", "image/png")
        message = _reply(live, auth, conversation_id, "", [image])

        got = socket.wait_for("message", lambda m: m["id"] == message["id"])
        assert (got["sender_type"], got["content"]) == ("agent", "")
        assert got["attachments"] == [image]
        # The visitor's page loads it with no session and no token.
        served = requests.get(got["attachments"][0]["url"], timeout=10)
        assert (served.status_code, served.headers["Content-Type"], served.content) == (
            200, "image/png", PNG)
        # And the history has it too, for a page opened later.
        history = visitor.wait_history(lambda ms: any(m["id"] == message["id"] for m in ms))
        assert next(m for m in history if m["id"] == message["id"])["attachments"] == [image]
    finally:
        visitor.close()

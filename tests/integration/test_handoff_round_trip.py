"""Issue 5's round trip over the running product: gunicorn with its background worker,
signed Messenger webhooks in, the Graph API stand-in answering, the admin API for the agent.

A person asks for a human → told once that a person will answer, the bot falls silent →
an agent replies through Messenger → hands back → the bot answers again.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from channels.messenger.signature import sign
from tests.support.graph_stub import graph_stub  # noqa: F401  (fixture)
from tests.support.live_server import LiveServer, with_store

SECRET = "round-trip-secret"
PSID = "7001"


@pytest.fixture(params=["sqlite", pytest.param("supabase", marks=pytest.mark.supabase)])
def server(request, tmp_path, graph_stub):  # noqa: F811
    env = {
        "DATABASE_PATH": str(tmp_path / "rt.db"),
        "SECRET_KEY": "round-trip",
        "FACEBOOK_APP_SECRET": SECRET,
        "FACEBOOK_VERIFY_TOKEN": "verify",
        "FACEBOOK_APP_ID": "999",
        "FACEBOOK_PAGE_ACCESS_TOKEN": graph_stub.token,
        "GRAPH_API_BASE": graph_stub.base_url,
        "GRAPH_API_VERSION": graph_stub.version,
        "HANDOFF_MESSAGE": "A person from our team will answer you here.",
    }
    env = with_store(request, env)
    live = LiveServer(env, log_path=tmp_path / "server.log").start()
    yield live
    live.stop()


def webhook(server, mid: str, text: str) -> None:
    now = int(time.time() * 1000)
    body = json.dumps({"object": "page", "entry": [{"id": "PAGE", "time": now, "messaging": [{
        "sender": {"id": PSID}, "recipient": {"id": "PAGE"}, "timestamp": now,
        "message": {"mid": mid, "text": text}}]}]}).encode()
    response = requests.post(server.url + "/webhook", data=body, timeout=10, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": sign(body, SECRET)})
    assert response.status_code == 200, response.text


def wait_for_sends(stub, count: int, timeout: float = 15.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sent = stub.sent_messages()
        if len(sent) >= count:
            return sent
        time.sleep(0.05)
    pytest.fail(f"expected {count} sends, the stand-in got {stub.sent_messages()}")


def test_handoff_round_trip_through_messenger(server, graph_stub):  # noqa: F811
    made = server.flask("users", "create", "ann@example.com", "--role", "agent",
                        "--password-stdin", stdin="a long password\n")
    assert made.returncode == 0, made.stderr
    token = server.flask("tokens", "create", "ann@example.com").stdout.split()[-1]
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"

    webhook(server, "m.rt.1", "I want to talk to a real person")
    notice = wait_for_sends(graph_stub, 1)[0]
    assert notice["message"]["text"] == "A person from our team will answer you here."
    assert notice["messaging_type"] == "RESPONSE" and notice["recipient"]["id"] == PSID

    conversations = api.get(server.url + "/admin/conversations?needs_human=true").json()
    assert conversations["count"] == 1
    conversation = conversations["conversations"][0]
    assert conversation["handled_by"] == "human" and conversation["priority"] == 2

    webhook(server, "m.rt.2", "what are your opening hours?")  # the bot stays out of it
    time.sleep(1.5)
    assert len(graph_stub.sent_messages()) == 1

    reply = api.post(f"{server.url}/admin/conversations/{conversation['id']}/messages",
                     json={"content": "Hi, Ann here. How can I help?"})
    assert reply.status_code == 201, reply.text
    sent = wait_for_sends(graph_stub, 2)[1]
    assert sent["message"]["text"] == "Hi, Ann here. How can I help?"
    assert sent["messaging_type"] == "RESPONSE" and "tag" not in sent

    detail = api.get(f"{server.url}/admin/conversations/{conversation['id']}").json()
    assert detail["conversation"]["needs_human"] is False
    assert detail["conversation"]["first_human_reply_at"] is not None
    flagged = [m for m in detail["messages"] if m["requires_human"]]
    assert flagged and all(m["human_replied"] and m["replied_by"] == "ann@example.com" for m in flagged)
    agent = next(m for m in detail["messages"] if m["sender_type"] == "agent")
    deadline = time.monotonic() + 10
    while agent["delivery_status"] != "sent" and time.monotonic() < deadline:
        time.sleep(0.1)
        agent = api.get(f"{server.url}/admin/conversations/{conversation['id']}").json()["messages"][-1]
    assert agent["delivery_status"] == "sent" and agent["external_id"].startswith("m_")

    back = api.post(f"{server.url}/admin/conversations/{conversation['id']}/hand-back")
    assert back.status_code == 200 and back.json()["conversation"]["handled_by"] == "bot"
    webhook(server, "m.rt.3", "what are your opening hours?")
    answer = wait_for_sends(graph_stub, 3)[2]
    assert "open" in answer["message"]["text"].lower()
    assert answer["messaging_type"] == "RESPONSE"

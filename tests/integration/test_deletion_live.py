"""A deletion over a live gunicorn server with real Socket.IO clients (both stores): the
admin pages and the visitor's widget hear of it at once, and the visitor who writes again
starts a new conversation."""

from __future__ import annotations

import queue

import requests
import socketio

from tests.integration.test_admin_socket_live import _cookie_header, _wait_for
from tests.integration.test_webchat_socket import (  # noqa: F401 (fixtures)
    HOURS,
    server,
    start_server,
    store_env,
    visitors,
)
from tests.support.admin import login_requests
from tests.support.chat_client import admin_token


def test_a_deleted_conversation_leaves_admin_pages_and_the_widget(server, visitors):  # noqa: F811
    token = admin_token(server)  # agent@example.com, an admin
    headers = {"Authorization": f"Bearer {token}"}
    browser = requests.Session()
    login_requests(browser, server.url, "agent@example.com", "a long password")
    received: queue.Queue = queue.Queue()
    admin = socketio.Client(reconnection=False)
    for name in ("conversation.deleted", "stats.updated"):
        admin.on(name, (lambda n: lambda data: received.put((n, data)))(name),
                 namespace="/admin")
    admin.connect(server.url, namespaces=["/admin"], wait_timeout=10,
                  headers={"Cookie": _cookie_header(browser)})
    try:
        visitor = visitors()
        visitor.start(display_name="Ada")
        live = visitor.connect()
        ack = live.call("message", {"content": HOURS, "client_id": "first-1"})
        conversation_id = ack["conversation_id"]
        live.wait_for("message", lambda m: m["sender_type"] == "bot")
        bystander = visitors()
        bystander.start()
        watching = bystander.connect()
        other = watching.call("message", {"content": "hi", "client_id": "b-1"})

        answer = requests.delete(f"{server.url}/admin/conversations/{conversation_id}",
                                 headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["deleted"] == [conversation_id]

        event = _wait_for(received, "conversation.deleted")
        assert event == {"conversation": {"id": conversation_id, "platform": "webchat",
                                          "external_user_id": visitor.visitor_id},
                         "conversation_id": conversation_id}
        assert live.wait_for("deleted") == {"conversation_id": conversation_id}
        stats = _wait_for(received, "stats.updated")["stats"]
        assert stats["total_conversations"] == 1  # the bystander's

        # The widget's remembered conversation is gone: the session starts afresh, the old
        # address is 404, and the next message opens a new conversation.
        resumed = visitor.start(conversation_id=conversation_id)
        assert resumed["conversation_id"] is None and resumed["to_rate"] is None
        assert resumed["deleted_conversation_id"] == conversation_id
        assert visitor.history(conversation_id).status_code == 404
        stale = visitor.request("POST", f"/chat/{conversation_id}/messages",
                                json={"content": "hello?", "client_id": "stale-1"})
        assert stale.status_code == 404
        again = visitor.connect().call("message", {"content": "hello again",
                                                   "client_id": "second-1"})
        assert again["conversation_id"] not in (conversation_id, other["conversation_id"])
        detail = requests.get(f"{server.url}/admin/conversations/{again['conversation_id']}",
                              headers=headers, timeout=10).json()
        assert [m["content"] for m in detail["messages"]][:1] == ["hello again"]
        assert detail["conversation"]["message_count"] >= 1
        # The bystander heard nothing of it.
        heard = [name for name, _ in watching.seen]
        heard += [watching.events.get_nowait()[0] for _ in range(watching.events.qsize())]
        assert "message" in heard and "deleted" not in heard
    finally:
        admin.disconnect()

"""The inbox asks whether the people of the web chat conversations it lists are on the
site: a live gunicorn server, real widgets' sockets on ``/chat`` and an agent's inbox socket
on ``/admin`` (``visitors``), which hears every answer from then on."""

from __future__ import annotations

import queue
import time

import pytest
import requests
import socketio

from tests.support.admin import login_requests
from tests.support.chat_client import ChatVisitor, admin_token
from tests.support.live_server import LiveServer

HOURS = "What are your opening hours?"


@pytest.fixture
def server(tmp_path):
    live = LiveServer({
        "HOME": str(tmp_path),
        "DATABASE_PATH": str(tmp_path / "chat.db"),
        "SECRET_KEY_FILE": str(tmp_path / "secret"),
        "RESPONDER": "faq",
    }, log_path=tmp_path / "server.log").start()
    yield live
    live.stop()


def _inbox(server) -> tuple[socketio.Client, queue.Queue]:
    """An agent's socket on /admin that shows no conversation (an inbox), and what it hears
    of visitors."""
    browser = requests.Session()
    login_requests(browser, server.url, "agent@example.com", "a long password")
    page = socketio.Client(reconnection=False)
    heard: queue.Queue = queue.Queue()
    page.on("visitor.presence", heard.put, namespace="/admin")
    page.connect(server.url, namespaces=["/admin"], transports=["websocket"], wait_timeout=10,
                 headers={"Cookie": "; ".join(f"{c.name}={c.value}" for c in browser.cookies)})
    return page, heard


def _checked(sock, within: float) -> bool:
    """Whether the widget's socket is asked (``presence_check``) within that many seconds."""
    try:
        sock.wait_for("presence_check", timeout=within)
        return True
    except AssertionError:
        return False


def test_an_inbox_asks_about_the_conversations_it_lists_and_hears_the_answers(server):
    admin_token(server)  # the account the pages sign in as
    people = [ChatVisitor(server.url) for _ in range(4)]
    try:
        sockets, ids = [], []
        for n, person in enumerate(people):
            person.start()
            sock = person.connect()
            ids.append(sock.call("message", {"content": HOURS, "client_id": f"v{n}"}
                                 )["conversation_id"])
            sockets.append(sock)
        listed, unlisted, later, missing = sockets
        inbox, heard = _inbox(server)
        other, overheard = _inbox(server)  # a page that asked nothing
        try:
            for bad in ({"conversation_ids": "1,2"}, {"conversation_ids": [ids[0], 0]},
                        {"conversation_ids": [True]}, {"conversation_ids": list(range(1, 102))},
                        {}):
                answer = inbox.call("visitors", bad, namespace="/admin", timeout=10)
                assert answer["ok"] is False and "at most 100" in answer["error"], bad
            assert heard.empty() and not _checked(listed, 0.3)

            asked = {"conversation_ids": [ids[0], ids[0], ids[3]]}
            assert inbox.call("visitors", asked, namespace="/admin", timeout=10) == {"ok": True}
            assert listed.wait_for("presence_check") == {"conversation_id": ids[0]}
            assert missing.wait_for("presence_check") == {"conversation_id": ids[3]}
            missing.disconnect()  # gone before answering: nothing is said of it
            shop = {"url": "https://shop.example/cart", "title": "Cart"}
            assert listed.call("here", {"open": False, "visible": True, "page": shop,
                                        "asked": True}) == {"ok": True}
            said = heard.get(timeout=10)
            assert said == {"conversation_id": ids[0], "visitor": said["visitor"],
                            "online": True, "open": False, "visible": True, "page": shop}

            # Asked again within 5 s: dropped (the answers are on their way), whatever it names.
            again = {"conversation_ids": [ids[2]]}
            assert inbox.call("visitors", again, namespace="/admin", timeout=10) == {"ok": True}
            assert not _checked(later, 1.0)
            assert not _checked(unlisted, 0.1)  # never named: never asked

            # From then on the inbox hears whatever a widget says, asked or not.
            time.sleep(0.3)  # past the widget's flood floor
            assert listed.call("here", {"open": True, "visible": True, "page": shop}
                               ) == {"ok": True}
            assert heard.get(timeout=10)["open"] is True
            listed.disconnect()
            assert heard.get(timeout=10) == {"conversation_id": ids[0],
                                             "visitor": said["visitor"], "online": False}
            assert overheard.empty()  # a page that did not ask hears nothing of it

            time.sleep(5)  # past the socket's 5 s: it may ask again
            assert inbox.call("visitors", again, namespace="/admin", timeout=10) == {"ok": True}
            assert later.wait_for("presence_check") == {"conversation_id": ids[2]}
        finally:
            inbox.disconnect()
            other.disconnect()
    finally:
        for person in people:
            person.close()

"""Online accounts over a live gunicorn server with real Socket.IO clients (both stores): an
account is online while a page of the panel is open for it (its ``/admin`` socket, said
again every third of OFFLINE_AFTER_SECONDS) and offline that long after its last page
closed. With AUTO_ASSIGN, waiting conversations go only to available accounts that are
online; one coming online is handed what waits at once. Every page hears an account come
online, and go offline (the sweep, once)."""

from __future__ import annotations

from datetime import datetime
import re
import time

import pytest
import requests
import socketio

from tests.integration.test_admin_socket_live import _cookie_header
from tests.integration.test_webchat_socket import (  # noqa: F401 (fixtures)
    start_server,
    store_env,
)
from tests.support.admin import login_requests
from tests.support.chat_client import ChatVisitor

PASSWORD = "a long password"
OFFLINE_AFTER = 3.0  # seconds; each process says which accounts are online every second


def _account(server, email: str) -> tuple[dict, int]:
    """An agent account and its API token's headers, and its id."""
    made = server.flask("users", "create", email, "--role", "agent", "--password-stdin",
                        stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    token = server.flask("tokens", "create", email, "--name", "tests")
    assert token.returncode == 0, token.stderr
    secret = re.search(r"(\S+)\s*$", token.stdout).group(1)
    headers = {"Authorization": f"Bearer {secret}"}
    me = requests.get(f"{server.url}/admin/me", headers=headers, timeout=10).json()["user"]
    return headers, me["id"]


def _available(server, headers: dict, user_id: int) -> dict:
    answer = requests.put(f"{server.url}/admin/users/{user_id}/availability",
                          json={"available": True}, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["user"]


def _page(server, email: str) -> socketio.Client:
    """A page of the panel open for ``email``: its signed-in ``/admin`` socket."""
    browser = requests.Session()
    login_requests(browser, server.url, email, PASSWORD)
    page = socketio.Client(reconnection=False)
    page.connect(server.url, namespaces=["/admin"], wait_timeout=10,
                 headers={"Cookie": _cookie_header(browser)})
    return page


def _users(server, headers: dict) -> dict[str, dict]:
    answer = requests.get(f"{server.url}/admin/users", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return {u["email"]: u for u in answer.json()["users"]}


@pytest.fixture
def visitors():
    """Web chat visitors of a server (the one the test started), closed after."""
    made: list[ChatVisitor] = []

    def make(server) -> ChatVisitor:
        made.append(ChatVisitor(server.url))
        return made[-1]

    yield make
    for visitor in made:
        visitor.close()


def _waiting(server, visitors, headers: dict, name: str) -> int:
    """A visitor writes and an agent flags the message for a human: the conversation waits
    for someone (and is handed out at once if anyone can take it)."""
    visitor = visitors(server)
    visitor.start(display_name=name)
    sent = visitor.connect().call("message", {"content": "hello", "client_id": f"{name}-1"})
    answer = requests.post(f"{server.url}/admin/messages/{sent['id']}/mark-human",
                           json={"reason": "asked for a person"}, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return sent["conversation_id"]


def _assigned(server, headers: dict, conversation_id: int) -> int | None:
    answer = requests.get(f"{server.url}/admin/conversations/{conversation_id}",
                          headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["conversation"]["assigned_to"]


def _until(check, timeout: float = 10.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout}s")
        time.sleep(0.1)


def test_conversations_go_only_to_accounts_with_a_page_open(start_server, visitors):
    server = start_server(AUTO_ASSIGN="true", OFFLINE_AFTER_SECONDS=str(OFFLINE_AFTER),
                          SWEEP_INTERVAL_SECONDS="1")
    ann, ann_id = _account(server, "ann@example.com")
    bob, bob_id = _account(server, "bob@example.com")
    # Cat, not available, watches the team from a page of her own.
    _account(server, "cat@example.com")
    heard: list[dict] = []
    cat_page = _page(server, "cat@example.com")
    cat_page.on("account.online", heard.append, namespace="/admin")
    assert _available(server, ann, ann_id)["online"] is False  # no page open yet
    _available(server, bob, bob_id)
    users = _users(server, ann)
    assert [(users[e]["online"], users[e]["last_seen_at"])
            for e in ("ann@example.com", "bob@example.com")] == [(False, None), (False, None)]

    # Both available, neither online: the conversation waits.
    first = _waiting(server, visitors, ann, "first")
    time.sleep(0.5)
    assert _assigned(server, ann, first) is None

    # Ann opens a page: she is online, and what waited is hers at once.
    ann_page = _page(server, "ann@example.com")
    try:
        _until(lambda: _assigned(server, ann, first) == ann_id, what="the hand-out to Ann")
        _until(lambda: heard, what="Ann online, on Cat's page")
        users = _users(server, ann)
        assert users["ann@example.com"]["online"] is True
        assert users["bob@example.com"]["online"] is False
        seen = users["ann@example.com"]["last_seen_at"]
        assert heard == [{"user_id": ann_id, "online": True, "last_seen_at": heard[0][
            "last_seen_at"]}]
        assert heard[0]["last_seen_at"][:19] == seen[:19]

        # Past OFFLINE_AFTER with her page open, the rounds keep her online.
        time.sleep(OFFLINE_AFTER + 1.5)
        users = _users(server, ann)
        assert users["ann@example.com"]["online"] is True
        assert users["ann@example.com"]["last_seen_at"] > seen
        second = _waiting(server, visitors, ann, "second")
        assert _assigned(server, ann, second) == ann_id  # Bob has no page open
    finally:
        ann_page.disconnect()

    # Ann's page closed: offline within OFFLINE_AFTER, then nothing goes to her.
    _until(lambda: not _users(server, bob)["ann@example.com"]["online"],
           timeout=OFFLINE_AFTER + 5, what="Ann offline")
    # ...which the next sweep tells every page, once, with when she was last seen.
    _until(lambda: len(heard) == 2, timeout=5, what="Ann offline, on Cat's page")
    last_seen = _users(server, bob)["ann@example.com"]["last_seen_at"]
    assert heard[1] == {"user_id": ann_id, "online": False, "last_seen_at": heard[1][
        "last_seen_at"]}
    assert _parse(heard[1]["last_seen_at"]) == _parse(last_seen)
    third = _waiting(server, visitors, bob, "third")
    time.sleep(0.5)
    assert _assigned(server, bob, third) is None

    # Bob opens a page: the waiting one is his.
    bob_page = _page(server, "bob@example.com")
    try:
        _until(lambda: _assigned(server, bob, third) == bob_id, what="the hand-out to Bob")
    finally:
        bob_page.disconnect()
    time.sleep(1.5)  # more sweeps: Ann is not announced again
    assert [(e["user_id"], e["online"]) for e in heard] == [
        (ann_id, True), (ann_id, False), (bob_id, True)]
    cat_page.disconnect()


def _parse(when: str) -> datetime:
    return datetime.fromisoformat(when.replace("Z", "+00:00"))


def test_online_only_off_gives_conversations_to_available_accounts_without_a_page(
        start_server, visitors):
    server = start_server(AUTO_ASSIGN="true", AUTO_ASSIGN_ONLINE_ONLY="false",
                          OFFLINE_AFTER_SECONDS=str(OFFLINE_AFTER))
    ann, ann_id = _account(server, "ann@example.com")
    _available(server, ann, ann_id)
    conversation = _waiting(server, visitors, ann, "first")
    assert _assigned(server, ann, conversation) == ann_id
    assert _users(server, ann)["ann@example.com"]["online"] is False

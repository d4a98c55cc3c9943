"""Agents' names on Messenger end to end: a gunicorn server (gevent) with
``MESSENGER_PERSONA_PICTURE_URL``, a person's signed webhook, agents' real sessions replying
through the admin API, and the Graph API stand-in making the persona (fetching its picture,
as Facebook does) and receiving each reply as that persona or as the Page."""

from __future__ import annotations

import time

import requests

from scripts.simulate import MessengerUser, Server
from tests.support.admin import PASSWORD, login_requests
from tests.support.graph_stub import graph_stub  # noqa: F401  (fixture)
from tests.support.images import tiny_png
from tests.support.live_server import LiveServer
from tests.support.stub_http import StubHttpServer, StubResponse

APP_SECRET = "personas-app-secret"
PSID = "psid-personas-1"


def _until(what, check, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
    return found


def _agent(live: LiveServer, email: str, name: str | None) -> tuple[requests.Session, str]:
    made = live.flask("users", "create", email, "--role", "agent", "--password-stdin",
                      stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    session = requests.Session()
    csrf = login_requests(session, live.url, email)
    if name is not None:
        named = session.put(f"{live.url}/admin/me", json={"display_name": name},
                            headers={"X-CSRFToken": csrf}, timeout=10)
        assert named.status_code == 200, named.text
    return session, csrf


def test_an_agents_reply_reaches_a_messenger_person_under_the_agents_name(
        tmp_path, graph_stub):  # noqa: F811
    graph_stub.fetch_attachments = True  # Facebook downloads a persona's picture
    with StubHttpServer(default=StubResponse(body=tiny_png(),
                                             headers={"Content-Type": "image/png"})) as cdn:
        picture = cdn.url("/team.png")
        live = LiveServer({
            "HOME": str(tmp_path),
            "DATABASE_PATH": str(tmp_path / "personas.db"),
            "SECRET_KEY_FILE": str(tmp_path / "secret"),
            "FACEBOOK_APP_SECRET": APP_SECRET,
            "FACEBOOK_PAGE_ACCESS_TOKEN": graph_stub.token,
            "GRAPH_API_BASE": graph_stub.base_url,
            "GRAPH_API_VERSION": graph_stub.version,
            "MESSENGER_PERSONA_PICTURE_URL": picture,
            "RESPONDER": "faq",
        }, log_path=tmp_path / "server.log").start()
        try:
            ann, ann_csrf = _agent(live, "ann@example.com", "Ann L.")
            bob, bob_csrf = _agent(live, "bob@example.com", None)
            MessengerUser(Server(live.url, APP_SECRET), PSID).say("I want to talk to a human")
            conversation = _until("the webhook's conversation", lambda: ann.get(
                f"{live.url}/admin/conversations?platform=messenger",
                timeout=10).json()["conversations"])[0]
            replies = f"{live.url}/admin/conversations/{conversation['id']}/messages"

            for session, csrf, text in ((ann, ann_csrf, "Hi, Ann here."),
                                        (bob, bob_csrf, "Bob from the warehouse."),
                                        (ann, ann_csrf, "It ships today.")):
                sent = session.post(replies, json={"content": text},
                                    headers={"X-CSRFToken": csrf}, timeout=10)
                assert sent.status_code == 201, sent.text
                _until(f"{text!r} sent", lambda: any(
                    d.text == text for d in graph_stub.delivered.get(PSID, [])))

            (persona,) = graph_stub.personas.values()
            assert persona == {"id": persona["id"], "name": "Ann L.",
                               "profile_picture_url": picture}
            assert [r.path for r in cdn.requests] == ["/team.png"]  # made once
            said = {d.text: d.persona for d in graph_stub.delivered[PSID]}
            assert said["Hi, Ann here."] == persona["id"] == said["It ships today."]
            assert said["Bob from the warehouse."] is None  # no name: the Page's
        finally:
            live.stop()

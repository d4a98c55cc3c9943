"""A note that names a teammate ("@bob") over gunicorn and real Socket.IO clients: every page
the named account has open hears ``note.mentioned``, and nobody else's does."""

from __future__ import annotations

import time

import requests

from tests.integration.test_online_live import _account, _page
from tests.integration.test_webchat_socket import (  # noqa: F401 (fixtures)
    server,
    start_server,
    store_env,
    visitors,
)


def test_the_named_accounts_pages_hear_of_the_note(server, visitors):  # noqa: F811
    ann, _ = _account(server, "ann@example.com")
    _account(server, "bob@example.com")
    _account(server, "cat@example.com")
    visitor = visitors()
    visitor.start(display_name="Mia Mention")
    sent = visitor.connect().call("message", {"content": "is my refund coming?",
                                              "client_id": "mention-1"})
    conversation_id = sent["conversation_id"]

    heard: dict[str, list[dict]] = {"bob 1": [], "bob 2": [], "cat": [], "ann": []}
    pages = {"bob 1": _page(server, "bob@example.com"), "bob 2": _page(server, "bob@example.com"),
             "cat": _page(server, "cat@example.com"), "ann": _page(server, "ann@example.com")}
    try:
        for name, page in pages.items():
            page.on("note.mentioned", heard[name].append, namespace="/admin")
        note = requests.post(f"{server.url}/admin/conversations/{conversation_id}/notes",
                             json={"text": "@bob can you check the refund?"}, headers=ann,
                             timeout=10)
        assert note.status_code == 201, note.text
        deadline = time.monotonic() + 10
        while not (heard["bob 1"] and heard["bob 2"]):
            assert time.monotonic() < deadline, heard
            time.sleep(0.05)
        time.sleep(0.5)  # were cat's or ann's pages told, it would be by now
        assert heard["cat"] == [] and heard["ann"] == []
        told = heard["bob 1"][0]
        assert told == heard["bob 2"][0]
        assert told["by"] == "ann@example.com"
        assert told["conversation"]["id"] == conversation_id
        assert told["conversation"]["display_name"] == "Mia Mention"
        assert told["note"]["id"] == note.json()["activity"]["id"]
        assert told["note"]["detail"]["text"] == "@bob can you check the refund?"
        assert "user_ids" not in told
    finally:
        for page in pages.values():
            page.disconnect()

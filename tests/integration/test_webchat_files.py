"""Files web chat visitors send (``POST /chat/files``, ``POST /chat/<id>/files``), over both
stores: the message and its file stored together, a retry stored once, the file served to
the team and refused with the reason when it cannot be taken; nothing is half stored."""

from __future__ import annotations

import io
from datetime import datetime, timezone

from services.models import ConversationFilter, InboundMessage
from tests.support.images import tiny_png

PNG = tiny_png(30, 20)


def _conversations(services) -> list:
    return services.store.list_conversations(ConversationFilter(), 10).conversations


def _visitor(client) -> dict[str, str]:
    answer = client.post("/chat/session", json={"display_name": "Ada"})
    assert answer.status_code == 200, answer.json
    return {"Authorization": f"Bearer {answer.json['token']}"}


def _send(client, headers, data: bytes, name: str = "broken.png", kind: str = "image/png",
          path: str = "/chat/files", **fields):
    return client.post(path, headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), name, kind), **fields})


def test_a_visitors_file_opens_the_conversation_and_reaches_the_team(client, services,
                                                                      make_token):
    visitor = _visitor(client)
    answer = _send(client, visitor, PNG, client_id="photo-1", content="It came like this")
    assert answer.status_code == 201, answer.json
    message = answer.json["message"]
    assert (message["sender_type"], message["content"], message["client_id"]) == (
        "user", "It came like this", "photo-1")
    [attachment] = message["attachments"]
    assert (attachment["type"], attachment["name"], attachment["content_type"],
            attachment["size"]) == ("image", "broken.png", "image/png", len(PNG))
    assert attachment["url"] == f"http://localhost/files/{attachment['file_id']}/broken.png"
    served = client.get(attachment["url"])
    assert (served.status_code, served.mimetype, served.data) == (200, "image/png", PNG)

    # The team sees it as the person's message, with the inbox naming it as usual.
    cid = answer.json["conversation"]["id"]
    admin = make_token("ann@example.com")
    stored = client.get(f"/admin/conversations/{cid}", headers=admin).json
    assert stored["messages"][-1]["attachments"] == [attachment]
    assert stored["conversation"]["last_message_preview"] == "It came like this"

    # Sent again (the widget retrying after a lost answer): the same message, stored once.
    again = _send(client, visitor, b"other bytes", client_id="photo-1",
                  path=f"/chat/{cid}/files")
    assert again.status_code == 200, again.json
    assert again.json["message"]["id"] == message["id"]
    assert client.get(attachment["url"]).data == PNG
    assert services.store.get_conversation(cid).message_count == 1

    # A file alone, into the open conversation: the inbox names it.
    alone = _send(client, visitor, b"%PDF-1.4 order", name="order.pdf", kind="application/pdf",
                  client_id="pdf-1", path=f"/chat/{cid}/files")
    assert alone.status_code == 201, alone.json
    assert alone.json["message"]["content"] == ""
    assert services.store.get_conversation(cid).last_message_preview == "📎 order.pdf"
    assert alone.json["message"]["attachments"][0]["type"] == "file"
    # Two visitors' same client id are two files.
    other = _send(client, _visitor(client), PNG, client_id="photo-1")
    assert other.status_code == 201
    assert other.json["message"]["attachments"][0]["file_id"] != attachment["file_id"]


def test_bad_files_are_refused_with_the_reason_and_store_nothing(client, services, app):
    visitor = _visitor(client)
    services.settings.chat_upload_max_bytes = 4096
    try:
        too_big = _send(client, visitor, b"x" * 4097, client_id="big")
        assert too_big.status_code == 413
        assert too_big.json["error"] == "too_large"
        assert "a file is at most 4 KB (4,096 bytes)" in too_big.json["detail"]
        assert too_big.json["max_bytes"] == 4096  # for the widget to say in the visitor's words
        bigger = _send(client, visitor, b"x" * 300_000, client_id="bigger")  # past the envelope
        assert (bigger.status_code, bigger.json["max_bytes"]) == (413, 4096)
        empty = _send(client, visitor, b"", client_id="empty")
        assert (empty.status_code, empty.json["detail"]) == (400, "the file is empty")
        no_file = client.post("/chat/files", headers=visitor, content_type="multipart/form-data",
                              data={"client_id": "none", "content": "hello"})
        assert no_file.status_code == 400 and "field named 'file'" in no_file.json["detail"]
        bad_id = _send(client, visitor, PNG, client_id="not ok!")
        assert bad_id.status_code == 400 and "client_id" in bad_id.json["detail"]
        long = _send(client, visitor, PNG, client_id="long", content="x" * 1001)
        assert long.status_code == 413
        assert _send(client, {}, PNG, client_id="anon").status_code == 401
        # Nobody's conversation was opened by any of it.
        assert _conversations(services) == []

        # Another visitor's conversation is not this one's to write in.
        theirs = _send(client, _visitor(client), PNG, client_id="theirs")
        cid = theirs.json["conversation"]["id"]
        mine = _send(client, visitor, PNG, client_id="mine", path=f"/chat/{cid}/files")
        assert (mine.status_code, mine.json["error"]) == (403, "forbidden")
        assert "max_bytes" not in mine.json  # not "this chat takes no files"
        assert _send(client, visitor, PNG, client_id="mine", path="/chat/987654/files"
                     ).status_code == 404

        services.settings.chat_upload_max_bytes = 0
        off = _send(client, visitor, PNG, client_id="off")
        assert (off.status_code, off.json["detail"]) == (403, "this chat takes no files")
        assert (off.json["error"], off.json["max_bytes"]) == ("forbidden", 0)
    finally:
        services.settings.chat_upload_max_bytes = 5 * 1024 * 1024


def test_no_file_is_taken_while_messages_wait_in_the_spool(client, services):
    visitor = _visitor(client)
    assert services.tracker.spool is not None
    services.tracker.spool.append(InboundMessage(
        platform="webchat", external_user_id="v_someoneelse", external_id="spooled-1",
        content="kept while the store was down"), datetime.now(timezone.utc))
    answer = _send(client, visitor, PNG, client_id="during-outage")
    assert answer.status_code == 503, answer.json
    assert answer.json["error"] == "unavailable"
    # Nothing half done: no message, no conversation, no file under its id.
    assert _conversations(services) == []


def test_the_session_says_how_large_a_file_may_be(client, services):
    answer = client.post("/chat/session", json={})
    assert answer.json["limits"]["max_file_bytes"] == services.settings.chat_upload_max_bytes

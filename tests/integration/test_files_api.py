"""Files agents attach to replies, over both stores: ``POST /admin/conversations/<id>/files``
stores one, a reply names it, ``GET /files/<id>/<name>`` serves it (to the person, to
Messenger's servers, to the team); bad input is refused with the reason and stores nothing."""

from __future__ import annotations

import io
import os

import pytest

from services.models import InboundMessage, NewFile
from tests.support.admin import login, make_user, session_csrf

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(2000)


def _policy(response) -> list[str]:
    return [part.strip() for part in response.headers["Content-Security-Policy"].split(";")]


def _conversation(services, user: str = "visitor-files1", platform: str = "webchat"):
    return services.tracker.track_inbound(InboundMessage(
        platform=platform, external_user_id=user, content="can I see the quote?",
        external_id=f"{user}-m1", respond=False)).conversation


def _upload(client, conversation_id: int, data: bytes, name: str = "quote.png",
            content_type: str = "image/png", headers=None, field: str = "file"):
    return client.post(f"/admin/conversations/{conversation_id}/files", headers=headers,
                       data={field: (io.BytesIO(data), name, content_type)},
                       content_type="multipart/form-data")


def test_a_file_goes_out_with_a_reply_and_is_served(client, services, make_token):
    ann = make_token("ann@example.com")
    conversation = _conversation(services)
    # A name as a browser may send it: a path, characters a URL or a disk would misread.
    answer = _upload(client, conversation.id, PNG, name='../../Quote: <7>.png',
                     headers=ann)
    assert answer.status_code == 201, answer.json
    attachment = answer.json["attachment"]
    file_id = attachment["file_id"]
    assert attachment == {
        "type": "image", "name": "Quote 7.png", "content_type": "image/png",
        "size": len(PNG), "file_id": file_id,
        "url": f"http://localhost/files/{file_id}/Quote%207.png"}

    # A reply of the file alone: it is the message's attachment, with no text.
    reply = client.post(f"/admin/conversations/{conversation.id}/messages", headers=ann,
                        json={"attachments": [file_id]})
    assert reply.status_code == 201, reply.json
    message = reply.json["message"]
    assert (message["content"], message["attachments"], message["delivery_status"]) == (
        "", [attachment], "pending")
    stored = services.tracker.history(conversation.id, 50)[-1]
    assert stored.attachments == [attachment]

    # Served to anyone with the address (no session), as an image, never as a page.
    served = client.get(f"/files/{file_id}/Quote%207.png")
    assert served.status_code == 200
    assert served.data == PNG
    assert served.mimetype == "image/png"
    assert served.headers["Content-Disposition"].startswith("inline")
    assert _policy(served) == ["default-src 'none'", "sandbox"]
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "immutable" in served.headers["Cache-Control"]
    again = client.get(f"/files/{file_id}/any-name", headers={"If-None-Match": served.headers["ETag"]})
    assert again.status_code == 304


def test_a_reply_may_carry_text_and_several_files_of_any_kind(client, services, make_token):
    ann = make_token("ann@example.com")
    conversation = _conversation(services)
    page = b"<html><script>alert(1)</script></html>"
    files = [_upload(client, conversation.id, data, name=name, content_type=kind,
                     headers=ann).json
             ["attachment"] for data, name, kind in (
                 (page, "notes.html", "text/html; charset=utf-8"),
                 (b"%PDF-1.4 quote", "quote.pdf", "application/pdf"),
                 (b"\x00\x01", "blob", "not a type"))]
    assert [(f["type"], f["content_type"]) for f in files] == [
        ("file", "text/html"), ("file", "application/pdf"), ("file", "application/octet-stream")]
    reply = client.post(f"/admin/conversations/{conversation.id}/messages", headers=ann,
                        json={"content": "Here are the documents.",
                              "attachments": [f["file_id"] for f in files]})
    assert reply.status_code == 201, reply.json
    assert reply.json["message"]["content"] == "Here are the documents."
    assert reply.json["message"]["attachments"] == files
    # A type a browser would run is a download, never shown (nor sniffed) as a page.
    served = client.get(f"/files/{files[0]['file_id']}/notes.html")
    assert served.data == page
    assert served.mimetype == "application/octet-stream"
    assert served.headers["Content-Disposition"].startswith("attachment")
    assert _policy(served) == ["default-src 'none'", "sandbox"]


def test_a_file_larger_than_the_apps_body_limit_is_taken(client, services, make_token):
    conversation = _conversation(services)
    data = os.urandom(3 * 1024 * 1024)  # the app refuses JSON bodies over 1 MiB
    answer = _upload(client, conversation.id, data, name="video.mp4", content_type="video/mp4",
                     headers=make_token("ann@example.com"))
    assert answer.status_code == 201, answer.json
    assert answer.json["attachment"]["type"] == "video"
    assert client.get(answer.json["attachment"]["url"]).data == data


def test_bad_uploads_are_refused_with_the_reason(client, services, make_token, monkeypatch):
    ann = make_token("ann@example.com")
    conversation = _conversation(services)
    monkeypatch.setattr(services.settings, "upload_max_bytes", 4096)

    too_big = _upload(client, conversation.id, b"x" * 4097, headers=ann)
    assert too_big.status_code == 413
    assert "larger than 4 KB (4,096 bytes" in too_big.json["error"]
    far_too_big = _upload(client, conversation.id, b"x" * 200_000, headers=ann)
    assert far_too_big.status_code == 413
    assert _upload(client, conversation.id, b"x" * 4096, headers=ann).status_code == 201

    empty = _upload(client, conversation.id, b"", headers=ann)
    assert (empty.status_code, empty.json["error"]) == (400, "the file is empty")
    wrong_field = _upload(client, conversation.id, PNG, headers=ann, field="upload")
    assert wrong_field.status_code == 400 and "field named 'file'" in wrong_field.json["error"]
    as_json = client.post(f"/admin/conversations/{conversation.id}/files", headers=ann,
                          json={"file": "aGVsbG8="})
    assert as_json.status_code == 400
    assert _upload(client, 987654, PNG, headers=ann).status_code == 404
    assert _upload(client, conversation.id, PNG).status_code == 401
    services.tracker.close(conversation.id)
    closed = _upload(client, conversation.id, PNG, headers=ann)
    assert closed.status_code == 409 and "reopen" in closed.json["error"]


def test_a_reply_names_only_this_conversations_files(client, services, make_token):
    ann = make_token("ann@example.com")
    mine, theirs = _conversation(services, "visitor-mine1"), _conversation(services, "visitor-theirs")
    their_file = _upload(client, theirs.id, PNG, headers=ann).json["attachment"]["file_id"]
    my_file = _upload(client, mine.id, PNG, headers=ann).json["attachment"]["file_id"]
    before = len(services.tracker.history(mine.id, 50))
    for attachments, reason in (
            ([their_file], f"no file {their_file} was attached in this conversation"),
            (["9b2d3f4e-1c55-4a8e-9d6b-0f1e2d3c4b5a"], "was attached in this conversation"),
            (["../etc/passwd"], "was attached in this conversation"),
            ([my_file] * 6, "at most 5"),
            ([], "the reply is empty"),
            ([7], "string")):
        answer = client.post(f"/admin/conversations/{mine.id}/messages", headers=ann,
                             json={"content": "  ", "attachments": attachments})
        assert answer.status_code == 400, (attachments, answer.json)
        assert reason in answer.json["error"], (attachments, answer.json)
    assert len(services.tracker.history(mine.id, 50)) == before  # nothing was sent
    # The same file named twice goes once.
    twice = client.post(f"/admin/conversations/{mine.id}/messages", headers=ann,
                        json={"attachments": [my_file, my_file.upper()]})
    assert twice.status_code == 201, twice.json
    assert [a["file_id"] for a in twice.json["message"]["attachments"]] == [my_file]


@pytest.mark.parametrize("path", ["/files/9b2d3f4e-1c55-4a8e-9d6b-0f1e2d3c4b5a/a.png",
                                  "/files/not-an-id/a.png", "/files/%00/a"])
def test_an_unknown_file_is_not_found(client, path):
    assert client.get(path).status_code == 404


def test_a_signed_in_page_uploads_with_its_csrf_token(app, services):
    make_user(services, "bob@example.com", "agent")
    client = app.test_client()
    assert login(client, "bob@example.com").status_code == 302
    conversation = _conversation(services)
    refused = _upload(client, conversation.id, PNG)
    assert refused.status_code == 400 and "CSRF" in refused.json["error"]
    taken = _upload(client, conversation.id, PNG, headers={"X-CSRFToken": session_csrf(client)})
    assert taken.status_code == 201, taken.json


def test_a_file_never_sent_is_deleted_by_the_sweep_after_a_day(client, services, clock,
                                                                 make_token):
    """UNSENT_FILE_HOURS (24 by default): a file uploaded and taken off again (or left when
    the page went) is deleted; one a reply carried, and a visitor's, stay."""
    ann = make_token("ann@example.com")
    conversation = _conversation(services)
    sent, dropped = (_upload(client, conversation.id, PNG, name=name, headers=ann)
                     .json["attachment"] for name in ("sent.png", "dropped.png"))
    reply = client.post(f"/admin/conversations/{conversation.id}/messages", headers=ann,
                        json={"content": "here", "attachments": [sent["file_id"]]})
    assert reply.status_code == 201, reply.json
    clock.advance(hours=23)
    assert services.sweeper.sweep()["unsent_files"] == 0  # not a day old yet
    assert client.get(f"/files/{dropped['file_id']}/dropped.png").status_code == 200
    clock.advance(hours=2)
    assert services.sweeper.sweep()["unsent_files"] == 1
    assert client.get(f"/files/{dropped['file_id']}/dropped.png").status_code == 404
    assert client.get(f"/files/{sent['file_id']}/sent.png").data == PNG
    # A reply naming it now (the conversation, closed by the same sweeps, reopened) is
    # refused with the reason, and sends nothing.
    assert client.post(f"/admin/conversations/{conversation.id}/reopen",
                       headers=ann).status_code == 200
    late = client.post(f"/admin/conversations/{conversation.id}/messages", headers=ann,
                       json={"content": "and this", "attachments": [dropped["file_id"]]})
    assert late.status_code == 400 and dropped["file_id"] in late.json["error"]
    assert [m.content for m in services.tracker.history(conversation.id, 50)][-1] == "here"
    clock.advance(days=30)
    assert services.sweeper.sweep()["unsent_files"] == 0
    assert client.get(f"/files/{sent['file_id']}/sent.png").data == PNG


def test_unsent_files_are_kept_when_the_setting_is_0(settings, store, clock):
    from services.runtime import build_services

    services = build_services(settings.model_copy(update={"unsent_file_hours": 0}),
                              store=store, clock=clock)
    conversation = _conversation(services)
    kept = services.store.add_file(NewFile(conversation_id=conversation.id, name="a.txt",
                                           content_type="text/plain", data=b"a"), clock())
    clock.advance(days=365)
    assert services.sweeper.sweep()["unsent_files"] == 0
    assert services.store.get_file(kept.id).data == b"a"

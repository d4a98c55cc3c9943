"""Contract: files agents attach to replies (both stores)."""

from __future__ import annotations

import os
import uuid

import pytest
from pydantic import ValidationError

from services.errors import NotFound
from services.models import InboundFile, NewFile
from tests.contract.helpers import MISSING_ID, inbound, outbound


def _conversation(store, clock, user: str = "file-user"):
    return store.track_inbound(inbound(user, "can you send the invoice?"), clock()).conversation


def test_a_file_is_stored_and_read_back_whole(store, clock):
    admin = store.create_user("admin@example.com", "admin", "h", clock())
    conversation = _conversation(store, clock)
    # Every byte value, NULs and invalid UTF-8 included, and more than one store page.
    data = bytes(range(256)) * 4 + os.urandom(300_000)
    stored = store.add_file(NewFile(conversation_id=conversation.id, name="Invoice 7.pdf",
                                    content_type="application/pdf", data=data,
                                    created_by=admin.id), clock())
    assert uuid.UUID(stored.id).version == 4
    assert (stored.conversation_id, stored.name, stored.content_type, stored.size,
            stored.created_by, stored.created_at) == (
        conversation.id, "Invoice 7.pdf", "application/pdf", len(data), admin.id, clock())
    assert stored.data is None  # adding does not echo the bytes

    read = store.get_file(stored.id)
    assert read.data == data
    assert read.model_dump() == stored.model_dump()
    described = store.get_file(stored.id, data=False)
    assert described.data is None and described.size == len(data)
    # The id reads back in any case (it is a UUID), and each file gets its own.
    assert store.get_file(stored.id.upper()).data == data
    other = store.add_file(NewFile(conversation_id=conversation.id, name="a.txt",
                                   content_type="text/plain", data=b"x"), clock())
    assert other.id != stored.id and other.created_by is None
    assert store.get_file(other.id).data == b"x"


@pytest.mark.parametrize("file_id", ["9b2d3f4e-1c55-4a8e-9d6b-0f1e2d3c4b5a", "not-a-uuid", "", "1; drop table files"])
def test_an_unknown_file_is_not_found(store, file_id):
    with pytest.raises(NotFound):
        store.get_file(file_id)
    with pytest.raises(NotFound):
        store.get_file(file_id, data=False)


def test_a_file_needs_a_conversation_and_bytes(store, clock):
    with pytest.raises(NotFound):
        store.add_file(NewFile(conversation_id=MISSING_ID, name="a.txt",
                               content_type="text/plain", data=b"x"), clock())
    conversation = _conversation(store, clock)
    with pytest.raises(NotFound):
        store.add_file(NewFile(conversation_id=conversation.id, name="a.txt",
                               content_type="text/plain", data=b"x", created_by=MISSING_ID),
                       clock())
    for bad in ({"data": b""}, {"name": ""}, {"name": "x" * 201}, {"content_type": ""}):
        with pytest.raises(ValidationError):
            NewFile(**{"conversation_id": conversation.id, "name": "a.txt",
                       "content_type": "text/plain", "data": b"x", **bad})


def test_deleting_the_conversation_deletes_its_files(store, clock):
    doomed, kept = _conversation(store, clock, "doomed"), _conversation(store, clock, "kept")
    gone = store.add_file(NewFile(conversation_id=doomed.id, name="a.png",
                                  content_type="image/png", data=b"\x89PNG"), clock())
    stays = store.add_file(NewFile(conversation_id=kept.id, name="b.png",
                                   content_type="image/png", data=b"\x89PNG"), clock())
    store.delete_conversations([doomed.id])
    with pytest.raises(NotFound):
        store.get_file(gone.id)
    assert store.get_file(stays.id).data == b"\x89PNG"


def test_the_inbox_names_the_file_of_a_message_without_text(store, clock):
    conversation = _conversation(store, clock)
    files = [{"type": "file", "url": "http://x/files/1/quote.pdf", "name": "quote.pdf"},
             {"type": "image", "url": "http://x/files/2/shelf.png", "name": "shelf.png"}]
    store.track_outbound(outbound(conversation.id, "", sender_type="agent", attachments=files),
                         clock())
    assert store.get_conversation(conversation.id).last_message_preview == "📎 quote.pdf +1"
    # A person's photo from Messenger has no name: its kind stands for it.
    photo = store.track_inbound(inbound("file-user", "", attachments=[
        {"type": "image", "url": "https://cdn.example/p.jpg"}]), clock())
    assert photo.conversation.last_message_preview == "📎 image"
    # A text says itself, files or not.
    store.track_outbound(outbound(conversation.id, "Here  you are", sender_type="agent",
                                  attachments=files), clock())
    assert store.get_conversation(conversation.id).last_message_preview == "Here you are"


def test_a_persons_message_and_their_file_are_stored_together(store, clock):
    file = InboundFile(id="6f1c2b3a-9d8e-4f70-8a1b-2c3d4e5f6a7b", name="broken.png",
                       content_type="image/png", data=b"\x89PNG" + bytes(range(256)))
    attachment = {"type": "image", "url": "http://x/files/6f1c2b3a/broken.png",
                  "name": "broken.png", "file_id": file.id}
    message = inbound("visitor-with-file", "it arrived like this", ext="v:c1",
                      attachments=[attachment])
    first = store.track_inbound_with_file(message, file, clock())
    assert (first.created, first.conversation_created) == (True, True)
    assert first.message.attachments == [attachment]
    assert first.conversation.last_message_preview == "it arrived like this"
    stored = store.get_file(file.id)
    assert (stored.conversation_id, stored.name, stored.content_type, stored.data,
            stored.created_by) == (first.conversation.id, "broken.png", "image/png",
                                   file.data, None)
    # Sent again (the widget retrying): nothing new, the same file.
    again = store.track_inbound_with_file(message, file.model_copy(
        update={"data": b"other bytes"}), clock.advance(seconds=5))
    assert (again.created, again.message.id) == (False, first.message.id)
    assert store.get_file(file.id).data == file.data
    assert store.get_conversation(first.conversation.id).message_count == 1
    # And it goes with its conversation.
    store.delete_conversations([first.conversation.id])
    with pytest.raises(NotFound):
        store.get_file(file.id)


def test_a_message_whose_file_cannot_be_stored_is_not_stored_either(store, clock):
    conversation = _conversation(store, clock, "visitor-clash")
    taken = store.add_file(NewFile(conversation_id=conversation.id, name="a.txt",
                                   content_type="text/plain", data=b"x"), clock())
    # The same id again is ignored (a redelivery), but a file that breaks the table's
    # rules takes the message down with it: one transaction.
    before = store.get_conversation(conversation.id).message_count
    with pytest.raises(Exception):
        store.track_inbound_with_file(
            inbound("visitor-clash", "with a bad file", ext="v:c2"),
            InboundFile.model_construct(id=str(uuid.uuid4()), name="x" * 300,
                                        content_type="text/plain", data=b"x"), clock())
    assert store.get_conversation(conversation.id).message_count == before
    assert store.get_file(taken.id).data == b"x"


def _upload(store, clock, conversation_id: int, name: str = "a.txt"):
    return store.add_file(NewFile(conversation_id=conversation_id, name=name,
                                  content_type="text/plain", data=name.encode()), clock())


def test_a_reply_marks_its_files_sent(store, clock):
    conversation = _conversation(store, clock, "sends")
    other = _conversation(store, clock, "someone-else")
    quote, photo = _upload(store, clock, conversation.id, "quote.txt"), \
        _upload(store, clock, conversation.id, "photo.txt")
    theirs = _upload(store, clock, other.id, "theirs.txt")
    sent = store.send_files(conversation.id, [quote.id.upper(), quote.id, theirs.id,
                                              "not-an-id", str(uuid.uuid4())],
                            clock.advance(minutes=1))
    # Only this conversation's, each once, described without the bytes.
    assert [f.model_dump() for f in sent] == [quote.model_dump()]
    assert sent[0].data is None
    assert store.send_files(conversation.id, [], clock()) == []
    assert {f.id for f in store.send_files(conversation.id, [photo.id, quote.id], clock())} \
        == {photo.id, quote.id}


def test_files_never_sent_are_deleted_after_a_while_oldest_first(store, clock):
    conversation = _conversation(store, clock, "uploads")
    first = _upload(store, clock, conversation.id, "first.txt")
    clock.advance(minutes=1)
    second = _upload(store, clock, conversation.id, "second.txt")
    clock.advance(minutes=1)
    sent = _upload(store, clock, conversation.id, "sent.txt")
    store.send_files(conversation.id, [sent.id], clock())
    visitor = InboundFile(id=str(uuid.uuid4()), name="mine.png", content_type="image/png",
                          data=b"png")
    store.track_inbound_with_file(inbound("uploads", "look", ext="v:f1"), visitor, clock())
    clock.advance(minutes=1)
    late = _upload(store, clock, conversation.id, "late.txt")

    cutoff = clock()  # uploaded before it: first, second, sent, the visitor's
    assert store.delete_unsent_files(cutoff, 1) == 1  # the oldest first
    with pytest.raises(NotFound):
        store.get_file(first.id)
    assert store.get_file(second.id).data == b"second.txt"
    assert store.delete_unsent_files(cutoff, 10) == 1
    with pytest.raises(NotFound):
        store.get_file(second.id)
    assert store.delete_unsent_files(cutoff, 10) == 0
    # What a message carried stays, and so does what is not old enough.
    for kept in (sent.id, visitor.id, late.id):
        assert store.get_file(kept, data=False).id == kept
    assert store.delete_unsent_files(clock.advance(minutes=1), 10) == 1
    with pytest.raises(NotFound):
        store.get_file(late.id)

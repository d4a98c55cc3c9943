"""``GET /admin/conversations/<id>/transcript`` over both stores: one conversation as text,
every message once and in order (past a page of the store's too), who wrote it and when,
attachments as links, and none of the team's notes."""

from __future__ import annotations

from datetime import timedelta

from services.models import InboundMessage, OutboundMessage


def test_a_conversation_as_text(client, services, make_token, clock, monkeypatch):
    monkeypatch.setattr("admin_app.export.TRANSCRIPT_PAGE", 2)  # several store pages
    ann = make_token("ann@example.com")
    tracker = services.tracker
    conversation = tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id="visitor-abc123", display_name="Ada Lovelace",
        content="Hello,\nmy order is late", external_id="m1", respond=False)).conversation
    clock.advance(seconds=5)
    tracker.track_outbound(OutboundMessage(conversation_id=conversation.id, sender_type="bot",
                                           content="Sorry to hear that!"))
    clock.advance(seconds=5)
    tracker.track_inbound(InboundMessage(
        platform="webchat", external_user_id="visitor-abc123", content="here it is",
        external_id="m2", respond=False,
        attachments=[{"type": "image", "url": "https://cdn.example.com/receipt.png"}]))
    user = services.store.get_user_by_email("ann@example.com")
    tracker.add_note(conversation.id, "refund approved", user)  # for the team only
    clock.advance(minutes=1)
    tracker.track_outbound(OutboundMessage(conversation_id=conversation.id,
                                           sender_type="agent", sender_id="ann@example.com",
                                           content="A refund is on its way.", attachments=[
                                               {"type": "file", "name": "refund 7.pdf",
                                                "url": "http://localhost/files/f1/refund%207.pdf"}]))

    answer = client.get(f"/admin/conversations/{conversation.id}/transcript", headers=ann)
    assert answer.status_code == 200, answer.data
    assert answer.mimetype == "text/plain"
    assert answer.headers["Content-Disposition"] == (
        f'attachment; filename="conversation-{conversation.id}.txt"')
    start = conversation.created_at
    at = [f"{moment:%Y-%m-%d %H:%M:%S} UTC" for moment in (
        start, start + timedelta(seconds=5), start + timedelta(seconds=10),
        start + timedelta(seconds=70))]
    assert answer.get_data(as_text=True) == (
        f"Conversation {conversation.id} · Web chat · Ada Lovelace\n"
        f"Started {at[0]} · active\n"
        "\n"
        f"[{at[0]}] Ada Lovelace: Hello,\n"
        "    my order is late\n"
        f"[{at[1]}] Bot: Sorry to hear that!\n"
        f"[{at[2]}] Ada Lovelace: here it is\n"
        "    (image: https://cdn.example.com/receipt.png)\n"
        f"[{at[3]}] ann@example.com: A refund is on its way.\n"
        "    (file refund 7.pdf: http://localhost/files/f1/refund%207.pdf)\n")


def test_unknown_or_signed_out_is_refused(client, services, make_token):
    ann = make_token("ann@example.com")
    assert client.get("/admin/conversations/999999/transcript", headers=ann).status_code == 404
    conversation = services.tracker.track_inbound(InboundMessage(
        platform="messenger", external_user_id="psid-1", content="hi", external_id="m1",
        respond=False)).conversation
    assert client.get(f"/admin/conversations/{conversation.id}/transcript").status_code == 401

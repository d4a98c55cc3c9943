"""The webhook parser over payloads shaped like Facebook's documented examples."""

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from channels.messenger.parser import (
    DeliveryEvent,
    MessageEvent,
    NotAPageWebhook,
    PostbackEvent,
    ReactionEvent,
    ReadEvent,
    UnknownEvent,
    parse_webhook,
    to_datetime,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "messenger"
PAGE, PSID, T = "1234567890", "24680135792468", 1795608000000


def load(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


def only(name):
    events = parse_webhook(load(name))
    assert len(events) == 1
    return events[0]


def test_text_with_quick_reply():
    event = only("text_quick_reply")
    assert isinstance(event, MessageEvent)
    assert (event.sender_id, event.recipient_id, event.page_id) == (PSID, PAGE, PAGE)
    assert event.mid == "m_text_qr_1" and event.text == "hello, world!"
    assert event.quick_reply_payload == "PICK_RED"
    assert event.timestamp == datetime(2026, 11, 25, 12, 0, 1, tzinfo=timezone.utc)
    assert event.timestamp_ms == T + 1000
    assert not event.is_echo and not event.standby


def test_reply_to():
    event = only("reply_to")
    assert event.reply_to == "m_original_1" and event.text == "about that"


def test_every_attachment_kind():
    events = parse_webhook(load("attachments"))
    by_mid = {e.mid: e.attachments for e in events}
    assert [a.as_dict() for a in by_mid["m_att_image"]] == [
        {"type": "image", "url": "https://scontent.example/image.jpg"}]
    for mid, kind in [("m_att_video", "video"), ("m_att_audio", "audio"), ("m_att_file", "file")]:
        assert by_mid[mid][0].type == kind and by_mid[mid][0].url.startswith("https://")
    location = by_mid["m_att_location"][0]
    assert location.type == "location" and location.title == "Pinned Location"
    assert location.coordinates == {"lat": 48.8584, "long": 2.2945}
    fallback = by_mid["m_att_fallback"][0]
    assert (fallback.type, fallback.title, fallback.url) == (
        "fallback", "A shared link", "https://example.com/article")
    assert by_mid["m_att_sticker"][0].sticker_id == 369239263222822
    assert all(e.text is None for e in events)


def test_postback():
    event = only("postback")
    assert isinstance(event, PostbackEvent)
    assert (event.mid, event.title, event.payload) == ("m_postback_1", "Talk to sales", "SALES_PAYLOAD")
    assert event.referral["ref"] == "spring-ad"


def test_echoes_carry_app_id_and_metadata():
    inbox = only("echo_page_inbox")
    assert inbox.is_echo and inbox.app_id == "263902037430900"
    assert (inbox.sender_id, inbox.recipient_id) == (PAGE, PSID)
    own = only("echo_own")
    assert own.is_echo and own.app_id == "111222333444555" and own.metadata == "switchboard:1"


def test_delivery_without_timestamp_uses_its_watermark():
    event = only("delivery")
    assert isinstance(event, DeliveryEvent)
    assert event.mids == ["m_out_1"]
    assert event.watermark == to_datetime(T + 7000)[0] == event.timestamp


def test_read():
    event = only("read")
    assert isinstance(event, ReadEvent) and event.watermark == to_datetime(T + 8000)[0]


def test_reactions():
    react = only("reaction")
    assert isinstance(react, ReactionEvent)
    assert (react.mid, react.action, react.reaction, react.emoji) == (
        "m_text_qr_1", "react", "love", "\u2764\ufe0f")
    assert only("unreaction").action == "unreact"


def test_standby_events_are_marked():
    event = only("standby")
    assert event.standby and event.mid == "m_standby_1"


def test_unknown_kinds_are_kept_as_unknown():
    events = parse_webhook(load("unknown"))
    assert all(isinstance(e, UnknownEvent) for e in events)
    assert [e.fields for e in events] == [["optin"], ["message_edit"], ["pass_thread_control"]]


def test_batch_of_entries_is_sorted_by_timestamp_stably():
    events = parse_webhook(load("batch"))
    assert [e.mid for e in events] == [
        "m_batch_0", "m_batch_1", "m_batch_2", "m_batch_3", "m_batch_4"]
    assert [e.standby for e in events] == [True, False, False, False, False]


def test_malformed_pieces_are_skipped_and_the_rest_kept(caplog):
    events = parse_webhook(load("malformed"))
    assert [getattr(e, "mid", None) for e in events] == ["m_good_1", None]
    assert isinstance(events[1], PostbackEvent) and events[1].payload == "GET_STARTED"
    assert sum("skipped" in r.getMessage() for r in caplog.records) >= 7


@pytest.mark.parametrize("body", [
    {"object": "instagram", "entry": []}, {"entry": []}, [], "page", None,
    {"object": "page"}, {"object": "page", "entry": {"id": "1"}},
])
def test_not_a_page_webhook(body):
    with pytest.raises(NotAPageWebhook):
        parse_webhook(body)


def test_empty_entry_list_is_fine():
    assert parse_webhook({"object": "page", "entry": []}) == []


def test_timestamps_in_seconds_or_strings():
    assert to_datetime("1527459824")[0] == datetime(2018, 5, 27, 22, 23, 44, tzinfo=timezone.utc)
    assert to_datetime(1527459824000)[1] == 1527459824000
    for bad in (True, None, "soon", -5, float("inf"), {"ms": 1}):
        with pytest.raises(ValueError):
            to_datetime(bad)


def test_numeric_ids_become_strings():
    body = {"object": "page", "entry": [{"id": 42, "time": T, "messaging": [
        {"sender": {"id": 7}, "recipient": {"id": 42}, "timestamp": T,
         "message": {"mid": "m_1", "text": "hi"}}]}]}
    event = parse_webhook(body)[0]
    assert (event.sender_id, event.recipient_id, event.page_id) == ("7", "42", "42")


def test_text_no_store_or_encoder_takes_is_cleaned():
    """Found by tests/reliability/test_messenger_fuzz.py: a lone surrogate escape in the text
    failed the whole webhook with a 500 (SQLite and httpx cannot encode it), NaN could not be
    sent to PostgREST, and NUL left a mid empty after the store dropped it."""
    raw = json.dumps({"object": "page", "entry": [{"id": PAGE, "messaging": [
        {"sender": {"id": "u\ud800"}, "recipient": {"id": PAGE}, "timestamp": T,
         "message": {"mid": "m\x00\udfff", "text": "a\ud83d b\x00c",
                     "attachments": [{"type": "file", "payload": {
                         "url": "https://x.example/f", "size": float("nan"),
                         "deep": json.loads("[" * 200 + "]" * 200)}}]}},
        {"sender": {"id": "u2"}, "recipient": {"id": PAGE}, "timestamp": T,
         "message": {"mid": "\x00", "text": "only a NUL as mid"}},
    ]}]})
    (event,) = parse_webhook(json.loads(raw))
    assert (event.sender_id, event.mid, event.text) == ("u\ufffd", "m\ufffd", "a\ufffd bc")
    payload = event.attachments[0].payload
    assert payload["size"] is None
    depth, value = 0, payload["deep"]
    while isinstance(value, list) and value:
        depth, value = depth + 1, value[0]
    assert depth < 40 and value is None  # cut off, not kept 200 levels deep
    json.dumps(event.model_dump(mode="json"), allow_nan=False).encode("utf-8")

"""The Messenger rating request's payloads, and which events ask for a rating."""

from __future__ import annotations

import pytest

from channels.messenger.ratings import (
    RatingRequests,
    parse_rating_payload,
    rating_payload,
    rating_quick_replies,
)
from services.events import Event


@pytest.mark.parametrize("payload, parsed", [
    ("switchboard-rating:42:5", (42, 5)),
    ("switchboard-rating:9223372036854775807:1", (9223372036854775807, 1)),
    ("switchboard-rating:9223372036854775808:1", None),  # past the stores' ids
    ("switchboard-rating:42:0", None), ("switchboard-rating:42:6", None),
    ("switchboard-rating:042:3", None), ("switchboard-rating:-4:3", None),
    ("switchboard-rating:42:3\n", None), ("switchboard-rating:42", None),
    ("PICK_RED", None), ("", None), (None, None),
])
def test_only_our_payloads_are_read(payload, parsed):
    assert parse_rating_payload(payload) == parsed


def test_five_quick_replies_that_read_back():
    replies = rating_quick_replies(7)
    assert [r["title"] for r in replies] == ["1", "2", "3", "4", "5"]
    assert [parse_rating_payload(r["payload"]) for r in replies] == [(7, n) for n in range(1, 6)]
    assert rating_payload(7, 3) == "switchboard-rating:7:3"


class _Recorder(RatingRequests):
    def __init__(self, text="How did we do?"):
        super().__init__(tracker=None, text=text, clock=None)
        self.asked = []

    def request(self, conversation):
        self.asked.append(conversation.id)


def _closed_event(platform="messenger", status="closed", actor_id=3, kind="closed"):
    conversation = {"id": 1, "platform": platform, "external_user_id": "p", "status": status,
                    "created_at": "2026-12-05T10:00:00Z", "updated_at": "2026-12-05T10:00:00Z",
                    "last_message_at": "2026-12-05T10:00:00Z"}
    return Event("conversation.updated", {"conversation": conversation, "activity": [
        {"kind": kind, "actor_id": actor_id}]}, 1)


@pytest.mark.parametrize("event, asked", [
    (_closed_event(), [1]),
    (_closed_event(actor_id=None), []),  # the lifecycle sweep closed it
    (_closed_event(platform="webchat"), []),  # the widget asks itself
    (_closed_event(status="active", kind="reopened"), []),
    (_closed_event(kind="tagged"), []),  # a tag put on a closed conversation
    (Event("conversation.created", _closed_event().data, 1), []),
])
def test_only_a_closing_by_an_account_asks(event, asked):
    recorder = _Recorder()
    recorder(event)
    assert recorder.asked == asked


def test_an_empty_message_never_asks():
    recorder = _Recorder(text="")
    recorder(_closed_event())
    assert recorder.asked == []

"""How long the team usually takes (services/reply_time.py), over both real stores."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.errors import StoreUnavailable
from services.models import InboundMessage, OutboundMessage
from services.reply_time import REPLY_TIME_TTL, RETRY_SECONDS, ReplyTime, describe


def _answered(services, clock, user: str, seconds: float) -> None:
    """Someone who asked for a person at the clock's time, answered ``seconds`` later."""
    start = clock()
    r = services.store.track_inbound(InboundMessage(
        platform="webchat", external_user_id=user, external_id=f"{user}:1",
        content="a person please"), start)
    services.store.mark_needs_human(r.message.id, "asked", 3, start)
    services.store.track_outbound(OutboundMessage(
        conversation_id=r.conversation.id, sender_type="agent", content="here"),
        start + timedelta(seconds=seconds))


def test_auto_is_the_stats_median_read_now_and_then(services, clock, caplog):
    ticks = [0.0]
    down = [False]

    def stats():
        if down[0]:
            raise StoreUnavailable("down")
        return services.tracker.stats()

    reply = ReplyTime(stats, "auto", monotonic=lambda: ticks[0])
    assert reply.seconds() is None  # nobody answered yet
    _answered(services, clock, "v_a", 240)
    assert reply.seconds() is None  # read a moment ago: kept
    ticks[0] += REPLY_TIME_TTL
    assert reply.seconds() == 240
    _answered(services, clock, "v_b", 600)
    _answered(services, clock, "v_c", 900)
    down[0] = True
    ticks[0] += REPLY_TIME_TTL
    assert reply.seconds() == 240  # the store down: the last figure
    assert "usual reply time cannot be read" in caplog.text
    down[0] = False
    ticks[0] += RETRY_SECONDS / 2
    assert reply.seconds() == 240  # asked again a minute later, not at once
    ticks[0] += RETRY_SECONDS / 2
    assert reply.seconds() == 600  # the median of 240, 600 and 900


def test_a_fixed_promise_or_none():
    def never():
        raise AssertionError("the stats are not read")

    assert ReplyTime(never, "15").seconds() == 900
    assert ReplyTime(never, "off").seconds() is None
    assert ReplyTime(never, "off").fill("We'll answer {reply_time}.") == (
        "We'll answer as soon as we can.")
    assert ReplyTime(never, "auto").fill("No placeholder here.") == "No placeholder here."


@pytest.mark.parametrize("seconds, words", [
    (None, "as soon as we can"), (1, "within a few minutes"), (300, "within a few minutes"),
    (301, "within about 6 minutes"), (600, "within about 10 minutes"),
    (601, "within about 15 minutes"), (3300, "within about 55 minutes"),
    (3500, "within about an hour"), (3600, "within about an hour"),
    (3601, "within about 2 hours"), (82800, "within about 23 hours"),
    (86000, "within a day"), (86401, "within about 2 days"),
])
def test_a_wait_in_words(seconds, words):
    assert describe(seconds) == words

"""The 24-hour / 7-day messaging windows, with a fixed clock."""

from datetime import timedelta

import pytest

from channels.messenger.window import decide, window_state


@pytest.fixture
def last(clock):
    return clock()


def test_within_24_hours_everyone_answers_as_response(clock, last):
    clock.advance(hours=23, minutes=59)
    for sender in ("bot", "agent", "system"):
        decision = decide(sender, last, clock())
        assert decision.allowed and decision.messaging_type == "RESPONSE" and decision.tag is None
    state = window_state(last, clock())
    assert state["state"] == "open" and state["until"] == last + timedelta(hours=24)
    assert state["label"].startswith("reply window open until 2026-11-26 12:00")


def test_after_24_hours_only_agents_with_the_human_agent_tag(clock, last):
    clock.advance(hours=24, minutes=1)
    agent = decide("agent", last, clock())
    assert agent.allowed and (agent.messaging_type, agent.tag) == ("MESSAGE_TAG", "HUMAN_AGENT")
    for sender in ("bot", "system"):
        refused = decide(sender, last, clock())
        assert not refused.allowed and refused.tag is None
        assert "24-hour reply window closed" in refused.reason
        assert "only a human agent may reply" in refused.reason
    state = window_state(last, clock())
    assert state["state"] == "human_agent" and state["until"] == last + timedelta(days=7)


def test_after_7_days_nobody(clock, last):
    clock.advance(days=7, minutes=1)
    for sender in ("bot", "agent", "system"):
        refused = decide(sender, last, clock())
        assert not refused.allowed and "closed" in refused.reason
    assert window_state(last, clock()) | {"label": ""} == {
        "state": "closed", "until": None, "label": ""}


def test_exact_boundaries(clock, last):
    clock.advance(hours=24)
    assert decide("bot", last, clock()).allowed is False
    assert decide("agent", last, clock()).tag == "HUMAN_AGENT"
    clock.advance(days=6)
    assert decide("agent", last, clock()).allowed is False


def test_no_user_message_yet(clock):
    refused = decide("agent", None, clock())
    assert not refused.allowed and "has not written" in refused.reason
    assert window_state(None, clock())["state"] == "closed"

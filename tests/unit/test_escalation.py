"""Every escalation rule, its thresholds and boundaries, and the policy that applies them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.assistant import BotReply, ResponderError
from services.escalation import (
    BUTTON_REQUEST,
    Escalation,
    EscalationPolicy,
    asks_for_human,
    button_request,
    is_frustrated,
    is_low_confidence,
    manual,
    raised_priority,
    repeated_fallbacks,
    shows_frustration,
)
from services.settings import Settings
from tests.support.chat import bot, message, user

DEFAULTS = Settings.model_fields
PHRASES = DEFAULTS["escalation_phrases"].default
MARKERS = DEFAULTS["frustration_markers"].default


# -- asks_for_human -------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text",
    [
        "I want an agent",
        "AGENT!",
        "agent",
        "Can I talk to a human please?",
        "let me   TALK TO A   HUMAN",  # any spacing and case
        "are you a real person?",
        "I'd like to speak to one of your agents",  # plural
        "customer service, now",
        "Je veux parler à un humain",
        "je veux parler a un humain",  # accents ignored
        "Quiero HABLAR con una persona",
        "Kann ich mit einem Menschen sprechen?",
        "ａｇｅｎｔ please",  # full-width letters are normalised
        "I want to talk to a person",  # the widget's own word
        "can I speak with a human?",
        "let me talk to someone",
        "is there a real human there",
    ],
)
def test_explicit_requests_for_a_person(text):
    assert asks_for_human(text, PHRASES)


@pytest.mark.parametrize(
    "text",
    ["this reagent is bad", "agentic workflows", "humane", "I'm a person", "where is my order", "",
     "someone ordered this for me", "a personal gift"],
)
def test_words_that_only_contain_a_phrase_do_not_count(text):
    assert not asks_for_human(text, PHRASES)


def test_phrases_come_from_the_setting():
    assert asks_for_human("Ich will einen Menschen", ["einen menschen"])
    assert not asks_for_human("I want an agent", ["operator"])
    assert not asks_for_human("anything", [])
    assert not asks_for_human("anything", ["", "  "])


# -- confidence -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "confidence, threshold, low",
    [(0.49, 0.5, True), (0.5, 0.5, False), (0.51, 0.5, False), (0.0, 0.0, False),
     (0.99, 1.0, True)],
)
def test_low_confidence_is_strictly_below_the_threshold(confidence, threshold, low):
    assert is_low_confidence(confidence, threshold) is low


@pytest.mark.parametrize(
    "confidences, fires",
    [
        ([0.1, 0.2, 0.3], True),  # three low in a row
        ([0.9, 0.1, 0.2, 0.3], True),  # only the last three count
        ([0.1, 0.2], False),  # not enough answers yet
        ([0.1, 0.9, 0.2, 0.3], False),  # a good answer breaks the run
        ([0.1, 0.2, 0.5], False),  # equal to the threshold is not low
        ([0.1, None, 0.2, 0.3], False),  # an answer without a confidence is not low
        ([], False),
    ],
)
def test_repeated_fallbacks(confidences, fires):
    assert repeated_fallbacks(confidences, threshold=0.5, max_fallbacks=3) is fires


def test_repeated_fallbacks_follows_its_thresholds():
    assert repeated_fallbacks([0.1], 0.5, 1)
    assert not repeated_fallbacks([0.1, 0.1], 0.5, 3)
    assert repeated_fallbacks([0.6, 0.6, 0.6], 0.7, 3)
    assert not repeated_fallbacks([0.6, 0.6, 0.6], 0.6, 3)


# -- frustration ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, shows",
    [
        ("this is USELESS", True),
        ("I'm getting frustrated", True),  # "frustrat" is a prefix marker
        ("Why!!!", True),
        ("this doesn’t help", True),  # typographic apostrophe
        ("you don't understand me", True),
        ("thanks, that helps", False),
        ("why!!", False),
    ],
)
def test_frustration_markers(text, shows):
    assert shows_frustration(text, MARKERS) is shows


def test_frustration_needs_min_messages_of_the_last_five():
    calm, angry = "where is my order", "this is useless"
    assert is_frustrated([angry, calm, angry], MARKERS, 2)
    assert not is_frustrated([calm, calm, angry], MARKERS, 2)
    assert is_frustrated([calm, calm, angry], MARKERS, 1)
    assert not is_frustrated([angry, angry], MARKERS, 3)
    # the sixth-oldest message is out of the window
    assert not is_frustrated([angry, calm, calm, calm, calm, angry], MARKERS, 2)
    assert is_frustrated([angry, calm, calm, calm, angry], MARKERS, 2)
    assert not is_frustrated([], MARKERS, 1)


# -- priority over time ---------------------------------------------------------------------

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "priority, waited, expected",
    [
        (3, timedelta(minutes=14, seconds=59), 3),
        (3, timedelta(minutes=15), 3),  # exactly the threshold: not longer yet
        (3, timedelta(minutes=15, seconds=1), 2),
        (3, timedelta(hours=5), 2),  # one level only, however long
        (1, timedelta(hours=1), 1),  # 1 is the highest
        (5, timedelta(minutes=20), 4),
    ],
)
def test_raised_priority(priority, waited, expected):
    assert raised_priority(priority, NOW - waited, NOW, after_minutes=15) == expected


def test_raised_priority_without_waiting_since():
    assert raised_priority(4, None, NOW, 15) == 4


# -- the policy -----------------------------------------------------------------------------

@pytest.fixture
def policy(settings) -> EscalationPolicy:
    return EscalationPolicy(settings)


def test_an_explicit_request_is_priority_2_with_the_words(policy):
    history = [user("hi"), bot("Hello!"), user("I want to talk to a human")]
    escalation = policy.on_user_message("I want to talk to a human", history)
    assert escalation == Escalation(
        "asked_for_human", "Asked for a person: “I want to talk to a human”", 2
    )


def test_a_long_request_is_cut_in_the_reason(policy):
    text = "agent " + "x" * 200
    escalation = policy.on_user_message(text, [user(text)])
    assert len(escalation.reason) < 120 and escalation.reason.endswith("…”")


def test_frustration_is_priority_2(policy):
    history = [user("this is useless"), bot("Sorry!", 0.2), user("where is my order"),
               bot("In transit."), user("wtf, still nothing")]
    escalation = policy.on_user_message("wtf, still nothing", history)
    assert escalation.rule == "frustration" and escalation.priority == 2
    assert "2 of the last 3 messages" in escalation.reason
    assert "wtf, still nothing" in escalation.reason


def test_a_single_frustrated_message_is_below_the_default_minimum(policy):
    assert policy.on_user_message("this is useless", [user("hi"), user("this is useless")]) is None


def test_a_calm_message_after_frustration_does_not_fire_again(policy):
    history = [user("useless"), user("stupid bot"), user("ok, where is my order")]
    assert policy.on_user_message("ok, where is my order", history) is None


def test_the_current_message_counts_even_if_history_lacks_it(policy):
    assert policy.on_user_message("terrible", [user("useless")]).rule == "frustration"


def test_frustration_minimum_comes_from_settings():
    strict = EscalationPolicy(Settings(_env_file=None, frustration_min_messages=1))
    escalation = strict.on_user_message("this is useless", [user("this is useless")])
    assert escalation.rule == "frustration"


def test_a_request_wins_over_frustration(policy):
    history = [user("useless"), user("useless, get me an agent")]
    assert policy.on_user_message("useless, get me an agent", history).rule == "asked_for_human"


def test_an_ordinary_message_does_not_escalate(policy):
    assert policy.on_user_message("where is my order", [user("where is my order")]) is None


def reply(confidence: float) -> BotReply:
    return BotReply(text="…", confidence=confidence, intent="x")


def test_a_confident_reply_does_not_escalate(policy):
    assert policy.on_bot_reply(reply(0.5), [user("hi")]) is None
    assert policy.on_bot_reply(reply(0.9), [bot("?", 0.1), bot("?", 0.1), user("hi")]) is None


def test_a_low_confidence_reply_is_priority_4_with_the_confidence(policy):
    escalation = policy.on_bot_reply(reply(0.32), [user("hmm")])
    assert escalation == Escalation(
        "low_confidence", "The bot was unsure: confidence 0.32 (below 0.50)", 4
    )


def test_repeated_fallbacks_are_priority_3(policy):
    history = [user("a"), bot("?", 0.1), user("b"), bot("?", 0.2), user("c")]
    escalation = policy.on_bot_reply(reply(0.3), history)
    assert escalation == Escalation(
        "repeated_fallbacks", "The bot could not answer 3 times in a row", 3
    )


def test_a_good_answer_or_a_human_in_between_is_counted_right(policy):
    history = [bot("?", 0.1), bot("Yes!", 0.9), bot("?", 0.2), user("c")]
    assert policy.on_bot_reply(reply(0.3), history).rule == "low_confidence"
    # agent and system messages are not bot answers: they neither count nor break the run
    history = [bot("?", 0.1), user("b"), message("agent", "Hi, Ann here"),
               message("system", "Back to the bot"), bot("?", 0.2), user("x")]
    assert policy.on_bot_reply(reply(0.3), history).rule == "repeated_fallbacks"


def test_reply_thresholds_come_from_settings():
    tuned = EscalationPolicy(
        Settings(_env_file=None, escalation_confidence_threshold=0.8, escalation_max_fallbacks=2)
    )
    assert tuned.on_bot_reply(reply(0.79), [user("x")]).rule == "low_confidence"
    assert tuned.on_bot_reply(reply(0.8), [user("x")]) is None
    assert tuned.on_bot_reply(reply(0.7), [bot("?", 0.7), user("x")]).rule == "repeated_fallbacks"


def test_a_responder_failure_is_priority_3_with_the_error(policy):
    error = ResponderError("the bot webhook timed out after 10s (http://bot:8080)", "timeout")
    assert policy.on_responder_failure(error) == Escalation(
        "bot_failed", "The bot failed: the bot webhook timed out after 10s (http://bot:8080)", 3
    )


def test_no_bot_answer_is_priority_3(policy):
    assert policy.no_bot() == Escalation("no_bot", "The bot gave no answer", 3)
    off = EscalationPolicy(Settings(_env_file=None, responder="off"))
    assert off.no_bot() == Escalation("no_bot", "No bot answers here (RESPONDER=off)", 3)


def test_the_button_and_an_agent_flag_are_priority_2(policy):
    assert BUTTON_REQUEST.priority == 2 and policy.BUTTON_REQUEST is BUTTON_REQUEST
    assert BUTTON_REQUEST.rule == "button"
    assert policy.button_request(None) is BUTTON_REQUEST
    assert button_request("  ") is BUTTON_REQUEST
    assert policy.button_request("my card was charged twice") == Escalation(
        "button", "Pressed “talk to a human”: “my card was charged twice”", 2
    )
    assert manual("ann@example.com", " wants a refund ") == Escalation(
        "manual", "Flagged by ann@example.com: wants a refund", 2
    )
    assert policy.manual("ann@example.com", None).reason == "Flagged by ann@example.com"


def test_policy_raises_priority_with_the_setting(policy):
    assert policy.raise_priority(3, NOW - timedelta(minutes=16), NOW) == 2
    assert policy.raise_priority(3, NOW - timedelta(minutes=14), NOW) == 3


def test_priority_must_be_1_to_5():
    with pytest.raises(ValueError):
        Escalation("x", "y", 0)
    with pytest.raises(ValueError):
        Escalation("x", "y", 6)

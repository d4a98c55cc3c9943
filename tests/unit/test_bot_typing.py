"""The bot shown typing while a slow responder prepares its answer (BOT_TYPING_AFTER_SECONDS),
over each real store: a ``typing`` event of the bot before its answer, and "stopped" after
the turn; none for a responder that answers in time, or one that says it is instant."""

from __future__ import annotations

import time

import pytest

from services.assistant import BotReply, ResponderError
from services.runtime import build_services
from tests.contract.helpers import inbound


class _Slow:
    """A responder that takes ``delay`` seconds, then answers (or fails)."""

    def __init__(self, delay: float, fail: bool = False) -> None:
        self.delay, self.fail = delay, fail

    def reply(self, conversation, history):
        time.sleep(self.delay)
        if self.fail:
            raise ResponderError("the model did not answer", "timeout")
        return BotReply(text="Our opening hours are 9 to 5.", confidence=0.95)


def _turn(settings, store, clock, responder, after=0.05):
    services = build_services(settings.model_copy(update={"bot_typing_after_seconds": after}),
                              store=store, clock=clock, responder=responder)
    tracked = services.tracker.track_inbound(inbound("visitor-1", "when are you open?"))
    seen = []
    services.events.subscribe(lambda e: seen.append(
        ("typing", e.data["sender_type"], e.data["typing"]) if e.name == "typing"
        else (e.name, e.data["message"]["sender_type"]) if e.name == "message.created"
        else None))
    services.bot.respond(tracked.conversation, tracked.message)
    return services, [s for s in seen if s is not None]


def test_a_slow_bot_is_shown_typing_until_its_answer(settings, store, clock):
    services, seen = _turn(settings, store, clock, _Slow(0.3))
    assert seen == [("typing", "bot", True), ("message.created", "bot"),
                    ("typing", "bot", False)]
    services.close()


def test_a_very_slow_bot_says_it_again_until_its_answer(settings, store, clock, monkeypatch):
    """The widget drops an indicator after 12 s and Messenger after 20 s: a responder that
    takes longer is said to be typing again every BOT_TYPING_RENEW_SECONDS, and never after
    the turn said it stopped."""
    monkeypatch.setattr("services.bot_turn.BOT_TYPING_RENEW_SECONDS", 0.1)
    services, seen = _turn(settings, store, clock, _Slow(0.5))
    time.sleep(0.3)  # a renewal left running would come by now
    typing = [s for s in seen if s[0] == "typing"]
    assert len(typing) >= 4 and set(typing[:-1]) == {("typing", "bot", True)}
    assert seen[-2:] == [("message.created", "bot"), ("typing", "bot", False)]
    services.close()


def test_a_slow_bot_that_fails_hands_over_and_stops_typing(settings, store, clock):
    services, seen = _turn(settings, store, clock, _Slow(0.3, fail=True))
    assert seen == [("typing", "bot", True), ("message.created", "system"),
                    ("typing", "bot", False)]
    services.close()


@pytest.mark.parametrize("delay, after", [(0.0, 0.5), (0.3, 0.0)],
                         ids=["answers in time", "BOT_TYPING_AFTER_SECONDS=0"])
def test_no_typing_when_the_answer_comes_in_time_or_it_is_off(settings, store, clock, delay,
                                                               after):
    services, seen = _turn(settings, store, clock, _Slow(delay), after=after)
    time.sleep(max(after, 0.05) + 0.1)  # a timer left running would fire by now
    assert seen == [("message.created", "bot")]
    services.close()


def test_an_instant_responder_never_starts_a_timer(settings, store, clock):
    on = settings.model_copy(update={"bot_typing_after_seconds": 0.01})
    services = build_services(on, store=store, clock=clock)  # RESPONDER=faq
    assert services.bot.responder.instant and services.bot.typing_after == 0
    other = build_services(on, store=store, clock=clock, responder=_Slow(0))
    assert other.bot.typing_after == 0.01
    services.close()
    other.close()

"""Messenger's messaging windows (pure: the caller passes ``now``).

Within 24 hours of the person's last message the Page may answer freely (``RESPONSE``).
After that, only a reply written by a human agent may go, tagged ``HUMAN_AGENT``, until
7 days have passed. Bot and system messages never carry that tag. Outside every window
the send is refused before Facebook is called, with a reason an agent can read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from services.models import utc

STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)

@dataclass(frozen=True)
class WindowDecision:
    """How a message may be sent: ``allowed`` with its messaging type and tag, or why not."""

    allowed: bool
    messaging_type: str | None = None
    tag: str | None = None
    reason: str | None = None


def _fmt(moment: datetime) -> str:
    return utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def decide(sender_type: str, last_user_message_at: datetime | None, now: datetime) -> WindowDecision:
    """Whether a message from ``sender_type`` (bot/agent/system) may be sent ``now``."""
    if last_user_message_at is None:
        return WindowDecision(False, reason="This person has not written to the Page, so "
                                            "Messenger does not allow the Page to write first.")
    last = utc(last_user_message_at)
    elapsed = utc(now) - last
    if elapsed < STANDARD_WINDOW:
        return WindowDecision(True, messaging_type="RESPONSE")
    if elapsed < HUMAN_AGENT_WINDOW:
        if sender_type == "agent":
            return WindowDecision(True, messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
        return WindowDecision(False, reason=(
            f"The 24-hour reply window closed at {_fmt(last + STANDARD_WINDOW)}; until "
            f"{_fmt(last + HUMAN_AGENT_WINDOW)} only a human agent may reply."))
    return WindowDecision(False, reason=(
        f"Messenger's reply windows closed at {_fmt(last + HUMAN_AGENT_WINDOW)} (7 days "
        "after the person's last message); the Page can write again once they do."))


def window_state(last_user_message_at: datetime | None, now: datetime) -> dict:
    """For the admin UI: which window is open, until when, and a label to show."""
    if last_user_message_at is None:
        return {"state": "closed", "until": None,
                "label": "no message from this person yet: the Page cannot write first"}
    last = utc(last_user_message_at)
    elapsed = utc(now) - last
    if elapsed < STANDARD_WINDOW:
        until = last + STANDARD_WINDOW
        return {"state": "open", "until": until,
                "label": f"reply window open until {_fmt(until)}"}
    if elapsed < HUMAN_AGENT_WINDOW:
        until = last + HUMAN_AGENT_WINDOW
        return {"state": "human_agent", "until": until,
                "label": f"only human agents may reply, until {_fmt(until)}"}
    return {"state": "closed", "until": None,
            "label": f"reply window closed since {_fmt(last + HUMAN_AGENT_WINDOW)}"}

"""When a conversation needs a human: small pure rules, and the policy that applies them.

Priority 1 is the highest, 5 the lowest. Explicit requests (a phrase, the widget's button, an
agent's flag) and frustration rank 2, a failing bot 3, a low-confidence answer 4; waiting
longer than ``PRIORITY_RAISE_AFTER_MINUTES`` raises a priority by one level.

The policy is stateless: it says which rule fires for a message or a reply; the caller skips
it when the conversation is already waiting for, or handled by, a human.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable, Sequence

from services.models import Message

if TYPE_CHECKING:
    from services.assistant import BotReply
    from services.settings import Settings

FRUSTRATION_WINDOW = 5  # the user's last N messages looked at by the frustration rule
EXCERPT_LENGTH = 80

ASKED_FOR_HUMAN = "asked_for_human"
BUTTON = "button"
FRUSTRATION = "frustration"
REPEATED_FALLBACKS = "repeated_fallbacks"
LOW_CONFIDENCE = "low_confidence"
BOT_FAILED = "bot_failed"
NO_BOT = "no_bot"
SENT_FILE = "sent_file"
MANUAL = "manual"


@dataclass(frozen=True)
class Escalation:
    """A rule that fired: its name, a reason shown to agents, and a priority (1 highest … 5)."""

    rule: str
    reason: str
    priority: int

    def __post_init__(self) -> None:
        if not 1 <= self.priority <= 5:
            raise ValueError(f"priority must be 1..5, not {self.priority}")


BUTTON_REQUEST = Escalation(BUTTON, "Pressed “talk to a human”", 2)


def button_request(reason: str | None = None) -> Escalation:
    """The widget's "talk to a human" button, with the person's optional note."""
    if reason and reason.strip():
        return Escalation(BUTTON, f"{BUTTON_REQUEST.reason}: “{excerpt(reason)}”", 2)
    return BUTTON_REQUEST


def manual(agent_email: str, reason: str | None = None) -> Escalation:
    """An agent flagged a message by hand."""
    text = f"Flagged by {agent_email}"
    if reason and reason.strip():
        text += f": {reason.strip()}"
    return Escalation(MANUAL, text, 2)


# -- text ----------------------------------------------------------------------------------

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "´": "'", "`": "'"})


def normalise(text: str) -> str:
    """Case-folded, accent-free, compatibility-normalised text with single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


@lru_cache(maxsize=32)
def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    # Whole words only ("agent" is not in "reagent" or "agentic"); a plural "s" is allowed.
    parts = [
        r"\s+".join(re.escape(word) for word in normalise(phrase).split())
        for phrase in phrases
        if normalise(phrase)
    ]
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")s?(?!\w)")


def excerpt(text: str, length: int = EXCERPT_LENGTH) -> str:
    """The text on one line, cut to ``length`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= length else flat[: length - 1] + "…"


# -- the rules -----------------------------------------------------------------------------


def asks_for_human(text: str, phrases: Iterable[str]) -> bool:
    """Whether ``text`` contains one of ``phrases`` as whole words (case and accents ignored)."""
    pattern = _phrase_pattern(tuple(phrases))
    return bool(pattern and pattern.search(normalise(text)))


def is_low_confidence(confidence: float, threshold: float) -> bool:
    """Strictly below the threshold (a confidence equal to it is fine)."""
    return confidence < threshold


def repeated_fallbacks(
    recent_bot_confidences: Sequence[float | None], threshold: float, max_fallbacks: int
) -> bool:
    """Whether the last ``max_fallbacks`` bot answers (oldest first) were all low-confidence.

    An answer without a confidence (``None``) counts as a good one and breaks the run.
    """
    if max_fallbacks < 1 or len(recent_bot_confidences) < max_fallbacks:
        return False
    return all(
        c is not None and is_low_confidence(c, threshold)
        for c in recent_bot_confidences[-max_fallbacks:]
    )


def shows_frustration(text: str, markers: Iterable[str]) -> bool:
    """Whether one of ``markers`` occurs anywhere in ``text`` ("frustrat" finds "frustrating")."""
    normalised = normalise(text)
    return any(m and normalise(m) in normalised for m in markers)


def is_frustrated(
    recent_user_texts: Sequence[str], markers: Iterable[str], min_messages: int
) -> bool:
    """Whether at least ``min_messages`` of the user's last 5 messages show frustration."""
    markers = tuple(markers)
    window = recent_user_texts[-FRUSTRATION_WINDOW:]
    return sum(1 for text in window if shows_frustration(text, markers)) >= min_messages


def raised_priority(
    priority: int, waiting_since: datetime | None, now: datetime, after_minutes: float
) -> int:
    """One level higher (a lower number, at least 1) once waiting longer than ``after_minutes``.

    Apply it to the priority the escalation set, not to an already raised one.
    """
    if waiting_since is None or now - waiting_since <= timedelta(minutes=after_minutes):
        return priority
    return max(1, priority - 1)


# -- the policy ----------------------------------------------------------------------------


class EscalationPolicy:
    """Applies the rules with the thresholds of ``settings``.

    ``history`` is the conversation's recent messages in order, the current user message last.
    """

    BUTTON_REQUEST = BUTTON_REQUEST
    button_request = staticmethod(button_request)
    manual = staticmethod(manual)

    def __init__(self, settings: "Settings") -> None:
        self.phrases = tuple(settings.escalation_phrases)
        self.markers = tuple(settings.frustration_markers)
        self.frustration_min_messages = settings.frustration_min_messages
        self.confidence_threshold = settings.escalation_confidence_threshold
        self.max_fallbacks = settings.escalation_max_fallbacks
        self.priority_raise_after_minutes = settings.priority_raise_after_minutes
        self.responder = settings.responder

    def on_user_message(self, text: str, history: list[Message]) -> Escalation | None:
        """An explicit request for a person, or frustration (only when ``text`` shows it)."""
        if asks_for_human(text, self.phrases):
            return Escalation(ASKED_FOR_HUMAN, f"Asked for a person: “{excerpt(text)}”", 2)
        texts = [m.content for m in history if m.sender_type == "user"]
        if not texts or texts[-1] != text:
            texts.append(text)
        # Only a frustrated message fires the rule: a calm one after a hand-back does not.
        if shows_frustration(text, self.markers) and is_frustrated(
            texts, self.markers, self.frustration_min_messages
        ):
            window = texts[-FRUSTRATION_WINDOW:]
            count = sum(1 for t in window if shows_frustration(t, self.markers))
            return Escalation(
                FRUSTRATION,
                f"Seems frustrated ({count} of the last {len(window)} messages): “{excerpt(text)}”",
                2,
            )
        return None

    def on_bot_reply(self, reply: "BotReply", history: list[Message]) -> Escalation | None:
        """Repeated low-confidence answers (this one included), or this one alone."""
        confidences = [m.confidence_score for m in history if m.sender_type == "bot"]
        confidences.append(reply.confidence)
        if repeated_fallbacks(confidences, self.confidence_threshold, self.max_fallbacks):
            return Escalation(
                REPEATED_FALLBACKS,
                f"The bot could not answer {self.max_fallbacks} times in a row",
                3,
            )
        if is_low_confidence(reply.confidence, self.confidence_threshold):
            return Escalation(
                LOW_CONFIDENCE,
                f"The bot was unsure: confidence {reply.confidence:.2f} "
                f"(below {self.confidence_threshold:.2f})",
                4,
            )
        return None

    def on_responder_failure(self, error: BaseException) -> Escalation:
        """The bot timed out or failed: the person's message waits for a human."""
        return Escalation(BOT_FAILED, f"The bot failed: {error}", 3)

    @staticmethod
    def sent_file(message: Message) -> Escalation:
        """The person sent files and no text, to a bot that reads only text (the FAQ bot):
        a person looks at them rather than the bot asking to rephrase a photo."""
        names = [str(a.get("name") or a.get("type") or "file") for a in message.attachments
                 if isinstance(a, dict)] or ["file"]
        more = f" and {len(names) - 1} more" if len(names) > 1 else ""
        return Escalation(SENT_FILE, f"Sent a file the bot cannot read: {excerpt(names[0])}{more}",
                          3)

    def no_bot(self) -> Escalation:
        """The responder gave no answer: ``RESPONDER=off``, or a webhook bot that stayed silent."""
        if self.responder == "off":
            return Escalation(NO_BOT, "No bot answers here (RESPONDER=off)", 3)
        return Escalation(NO_BOT, "The bot gave no answer", 3)

    def raise_priority(self, priority: int, waiting_since: datetime | None, now: datetime) -> int:
        """``raised_priority`` with ``PRIORITY_RAISE_AFTER_MINUTES``."""
        return raised_priority(priority, waiting_since, now, self.priority_raise_after_minutes)

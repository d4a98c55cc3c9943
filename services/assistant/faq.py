"""``RESPONDER=faq``: answers from a knowledge file by fuzzy-matching the person's message.

The file (YAML, or JSON by extension) lists entries::

    entries:
      - intent: shipping
        questions: ["how long does shipping take", "do you ship internationally"]
        keywords: [shipping, delivery]
        answer: "Orders ship within 1 business day."
        tags: [shipping]   # optional: put on the conversation when this entry answers

Works offline: matching is done in-process with rapidfuzz.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml
from rapidfuzz import fuzz, utils

from services.assistant import BotReply, latest_user_message
from services.models import Conversation, Message, normalize_tags

FALLBACK_INTENT = "fallback"
# Each keyword found in the message adds this to the score, for at most MAX_KEYWORD_HITS keywords.
KEYWORD_BOOST = 15.0
MAX_KEYWORD_HITS = 2
# A fallback's confidence is score/100 scaled by this, so it stays below 0.4, under the
# default ESCALATION_CONFIDENCE_THRESHOLD (0.5), while still showing how close it came.
FALLBACK_CONFIDENCE_SCALE = 0.4
ENTRY_FIELDS = ("intent", "questions", "keywords", "answer", "tags")
# An agent's suggestions (``FaqResponder.closest``): entries scoring at least this. Any text
# scores 40-55 against most questions (shared short words); at 55 what is left has something
# in common with the message, and those between it and FAQ_MIN_SCORE are the near misses.
SUGGESTION_MIN_SCORE = 55.0
MAX_SUGGESTIONS = 3


class KnowledgeFileError(ValueError):
    """The knowledge file cannot be used; the message names the file, the entry and the field."""


def normalise(text: str) -> str:
    """Lower-case, Unicode-compatible form with punctuation turned into single spaces."""
    return " ".join(utils.default_process(unicodedata.normalize("NFKC", text)).split())


@dataclass(frozen=True)
class FaqEntry:
    """One question/answer pair of the knowledge file."""

    intent: str
    questions: tuple[str, ...]
    answer: str
    keywords: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # normalised (services.models.normalize_tag)
    _normalised: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Matching works on normalised forms, computed once.
        object.__setattr__(self, "_normalised", tuple(normalise(q) for q in self.questions))
        # A keyword matches a whole word or the start of one: "refund" finds "refunds".
        patterns = tuple(
            re.compile(r"(?<!\w)" + re.escape(words))
            for words in map(normalise, self.keywords)
            if words
        )
        object.__setattr__(self, "_patterns", patterns)

    def score(self, text: str) -> float:
        """How well the normalised ``text`` matches this entry, 0..100."""
        # The mean of token_set (word-subset friendly) and token_sort (penalises extra or
        # missing words): token_set alone gives 100 to "I" against any question holding
        # "I", and WRatio gives ~86 to any message that contains a short question like "hi".
        base = max(
            (fuzz.token_set_ratio(text, q) + fuzz.token_sort_ratio(text, q)) / 2
            for q in self._normalised
        )
        hits = sum(1 for pattern in self._patterns if pattern.search(text))
        return min(100.0, base + KEYWORD_BOOST * min(hits, MAX_KEYWORD_HITS))


class FaqResponder:
    """Answers with the best-matching entry, or ``fallback_text`` below ``min_score``."""

    instant = True  # in the process, in microseconds: never shown typing
    reads_files = False  # a photo alone goes to a person, never "could you rephrase that?"

    def __init__(
        self,
        entries: Iterable[FaqEntry],
        min_score: float = 70.0,
        fallback_text: str = "Sorry, I'm not sure I understood. Could you rephrase that?",
    ) -> None:
        self.entries = tuple(entries)
        if not self.entries:
            raise ValueError("a FaqResponder needs at least one entry")
        if not 0 <= min_score <= 100:
            raise ValueError("min_score must be between 0 and 100")
        if not fallback_text.strip():
            raise ValueError("fallback_text must not be empty")
        self.min_score = float(min_score)
        self.fallback_text = fallback_text

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        min_score: float = 70.0,
        fallback_text: str = "Sorry, I'm not sure I understood. Could you rephrase that?",
    ) -> "FaqResponder":
        """Load and validate a knowledge file; raises ``KnowledgeFileError``."""
        return cls(load_knowledge(path), min_score=min_score, fallback_text=fallback_text)

    def match(self, text: str) -> tuple[FaqEntry | None, float]:
        """The best entry for ``text`` and its score (0..100); the first entry wins a tie."""
        normalised = normalise(text)
        if not normalised:
            return None, 0.0
        best, best_score = None, -1.0
        for entry in self.entries:
            score = entry.score(normalised)
            if score > best_score:
                best, best_score = entry, score
        return best, best_score

    def closest(self, text: str, limit: int = MAX_SUGGESTIONS,
                floor: float = SUGGESTION_MIN_SCORE) -> list[tuple[FaqEntry, float]]:
        """The entries closest to ``text`` scoring at least ``floor``, best first (a tie in
        the file's order), at most ``limit``: what an agent is offered to answer with."""
        normalised = normalise(text)
        if not normalised:
            return []
        scored = [(entry, entry.score(normalised)) for entry in self.entries]
        found = [pair for pair in scored if pair[1] >= floor]
        found.sort(key=lambda pair: -pair[1])  # stable: the file's order among equals
        return found[:limit]

    def reply(self, conversation: Conversation, history: list[Message]) -> BotReply:
        """Answer the latest user message; a weak match gives the fallback text."""
        message = latest_user_message(history)
        entry, score = self.match(message.content if message else "")
        if entry is None or score < self.min_score:
            confidence = round(FALLBACK_CONFIDENCE_SCALE * score / 100, 3)
            return BotReply(text=self.fallback_text, confidence=confidence, intent=FALLBACK_INTENT)
        return BotReply(text=entry.answer, confidence=round(score / 100, 3), intent=entry.intent,
                        tags=entry.tags)


# -- the knowledge file -------------------------------------------------------------------


def load_knowledge(path: str | Path) -> list[FaqEntry]:
    """Read a YAML (``.yaml``/``.yml``) or JSON (``.json``) knowledge file into entries."""
    path = Path(path)
    name = path.name
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise KnowledgeFileError(f"{name}: use a .yaml, .yml or .json file")
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KnowledgeFileError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeFileError(f"{path}: cannot be read ({exc})") from None
    try:
        data = json.loads(raw) if suffix == ".json" else yaml.safe_load(raw)
    except json.JSONDecodeError as exc:
        raise KnowledgeFileError(
            f"{name}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise KnowledgeFileError(f"{name}: not valid YAML{where}: {problem}") from None
    return parse_knowledge(data, name)


def parse_knowledge(data: Any, source: str = "knowledge file") -> list[FaqEntry]:
    """Validate already-parsed knowledge data (a list of entries, or ``{"entries": [...]}``)."""
    if isinstance(data, dict):
        extra = sorted(set(data) - {"entries"})
        if extra:
            raise KnowledgeFileError(
                f"{source}: unknown top-level key {extra[0]!r} (expected 'entries')"
            )
        data = data.get("entries")
    if not isinstance(data, list) or not data:
        raise KnowledgeFileError(f"{source}: expected a non-empty list of entries under 'entries'")
    entries: list[FaqEntry] = []
    seen: dict[str, int] = {}
    for number, item in enumerate(data, start=1):
        entry = _parse_entry(item, f"{source}: entry {number}")
        if entry.intent in seen:
            raise KnowledgeFileError(
                f"{source}: entry {number} ({entry.intent!r}): intent {entry.intent!r} is "
                f"already used by entry {seen[entry.intent]}"
            )
        seen[entry.intent] = number
        entries.append(entry)
    return entries


def _parse_entry(item: Any, where: str) -> FaqEntry:
    if not isinstance(item, dict):
        raise KnowledgeFileError(f"{where}: must be a mapping with {', '.join(ENTRY_FIELDS)}")
    intent = item.get("intent")
    if isinstance(intent, str) and intent.strip():
        where = f"{where} ({intent.strip()!r})"
    unknown = sorted(str(key) for key in item if key not in ENTRY_FIELDS)
    if unknown:
        raise KnowledgeFileError(
            f"{where}: unknown field {unknown[0]!r} (fields are {', '.join(ENTRY_FIELDS)})"
        )
    intent = _text(item, "intent", where)
    answer = _text(item, "answer", where)
    questions = _texts(item, "questions", where, required=True)
    keywords = _texts(item, "keywords", where, required=False)
    return FaqEntry(intent=intent, questions=questions, answer=answer, keywords=keywords,
                    tags=_tags(item, where))


def _tags(item: dict, where: str) -> tuple[str, ...]:
    try:
        return normalize_tags(item.get("tags"))
    except ValueError as exc:
        raise KnowledgeFileError(f"{where}: field 'tags' {exc}") from None


def _text(item: dict, field: str, where: str) -> str:
    value = item.get(field)
    if field not in item or value is None:
        raise KnowledgeFileError(f"{where}: field {field!r} is missing")
    if not isinstance(value, str) or not value.strip():
        raise KnowledgeFileError(f"{where}: field {field!r} must be a non-empty string")
    return value.strip()


def _texts(item: dict, field: str, where: str, required: bool) -> tuple[str, ...]:
    value = item.get(field)
    if value is None:
        if required:
            raise KnowledgeFileError(f"{where}: field {field!r} is missing")
        return ()
    if not isinstance(value, list) or (required and not value):
        need = "a non-empty list" if required else "a list"
        raise KnowledgeFileError(f"{where}: field {field!r} must be {need} of strings")
    for index, text in enumerate(value, start=1):
        if not isinstance(text, str) or not normalise(text):
            raise KnowledgeFileError(
                f"{where}: field {field!r}, item {index} must be a string with letters or digits"
            )
    return tuple(text.strip() for text in value)

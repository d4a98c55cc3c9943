"""The bot: responders that answer a conversation's latest message, chosen by ``RESPONDER``.

``faq`` answers from a knowledge file, ``webhook`` asks your own bot over HTTP, ``openai``
asks an OpenAI-compatible chat-completions endpoint, ``off`` never answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from services.models import MAX_TAGS, Conversation, Message

if TYPE_CHECKING:
    import requests

    from services.settings import Settings

__all__ = [
    "BotReply",
    "OffResponder",
    "Responder",
    "ResponderError",
    "create_responder",
    "latest_user_message",
]

FailureKind = Literal["timeout", "connection", "http", "malformed"]


class BotReply(BaseModel):
    """What a responder answered: the text to send, how sure it is (0..1), an intent label,
    and tags for the conversation (normalised, as ``services.models.normalize_tag``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(min_length=1)
    confidence: float = Field(ge=0.0, le=1.0)
    intent: str | None = None
    tags: tuple[str, ...] = Field(default=(), max_length=MAX_TAGS)


class ResponderError(Exception):
    """A responder failed (timeout, connection, HTTP error, malformed answer).

    ``kind`` says which; the message is safe to show to agents: it never holds an API key
    or a URL's query string.
    """

    def __init__(self, message: str, kind: FailureKind) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind


@runtime_checkable
class Responder(Protocol):
    """Answers a conversation given its recent messages in order (the latest user message last).

    ``history`` is already bounded by the caller to ``MAX_CONVERSATION_LENGTH`` messages.
    Returns ``None`` when this responder gives no answer (``off``, or a webhook bot that
    stays silent); raises ``ResponderError`` when it fails. One that answers in the process
    at once may say so with ``instant = True``: the bot turn then never shows it typing
    (``BOT_TYPING_AFTER_SECONDS``). One that reads only text says ``reads_files = False``:
    a message of files alone (a photo) then goes to a person without asking it.
    """

    def reply(self, conversation: Conversation, history: list[Message]) -> BotReply | None: ...


class OffResponder:
    """``RESPONDER=off``: never answers, so every conversation waits for a human."""

    instant = True

    def reply(self, conversation: Conversation, history: list[Message]) -> BotReply | None:
        return None


def latest_user_message(history: list[Message]) -> Message | None:
    """The most recent message the person wrote, or None if there is none in ``history``."""
    for message in reversed(history):
        if message.sender_type == "user":
            return message
    return None


def create_responder(
    settings: "Settings", session: "requests.Session | None" = None
) -> Responder:
    """Build the responder ``settings.responder`` names; a bad bot setting raises SettingsError.

    ``session`` (optional) is the ``requests.Session`` the HTTP responders use.
    """
    # Imported here so that ``services.assistant`` loads without the HTTP and YAML stacks.
    from services.settings import SettingsError

    kind = settings.responder
    if kind == "off":
        return OffResponder()
    if not settings.bot_fallback_text.strip():  # the faq and openai bots need something to say
        raise SettingsError("Invalid setting BOT_FALLBACK_TEXT: must not be empty")
    if kind == "faq":
        from services.assistant.faq import FaqResponder, KnowledgeFileError

        try:
            return FaqResponder.from_file(
                settings.knowledge_file,
                min_score=settings.faq_min_score,
                fallback_text=settings.bot_fallback_text,
            )
        except KnowledgeFileError as exc:
            raise SettingsError(f"Invalid setting KNOWLEDGE_FILE: {exc}") from None
    if kind == "webhook":
        from services.assistant.webhook import WebhookResponder

        if settings.bot_webhook_url is None:
            raise SettingsError("Invalid setting BOT_WEBHOOK_URL: required when RESPONDER=webhook")
        return WebhookResponder(
            str(settings.bot_webhook_url),
            timeout=settings.bot_timeout_seconds,
            retries=settings.bot_retries,
            session=session,
        )
    if kind == "openai":
        from services.assistant.openai import OpenAIResponder

        if settings.bot_api_base is None:
            raise SettingsError("Invalid setting BOT_API_BASE: required when RESPONDER=openai")
        return OpenAIResponder(
            str(settings.bot_api_base),
            api_key=settings.bot_api_key.get_secret_value(),
            model=settings.bot_model,
            system_prompt=settings.bot_system_prompt,
            timeout=settings.bot_timeout_seconds,
            session=session,
            retries=settings.bot_retries,
            fallback_text=settings.bot_fallback_text,
        )
    raise SettingsError(f"Invalid setting RESPONDER: unknown responder {kind!r}")

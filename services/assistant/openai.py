"""``RESPONDER=openai``: any OpenAI-compatible chat-completions endpoint, over ``requests``.

Works with OpenAI, Azure-style gateways, Groq, Mistral, OpenRouter, Ollama, vLLM, llama.cpp's
server, LM Studio… anything that serves ``POST …/chat/completions``.

- URL: ``BOT_API_BASE`` + ``/chat/completions``. Give the base as the provider documents it,
  usually ending in ``/v1`` (``https://api.openai.com/v1``, ``http://127.0.0.1:11434/v1``);
  it is kept as is. A bare host (``https://api.openai.com``) gets ``/v1`` added; a base that
  already ends in ``/chat/completions`` is used unchanged.
- ``Authorization: Bearer BOT_API_KEY`` (left out when the key is empty, for local servers).
- Messages: ``BOT_SYSTEM_PROMPT`` plus the handoff instruction below as the system message,
  then the history: the person's messages as ``user``, bot, agent and system messages as
  ``assistant``.
- Confidence: chat models give none, so a normal answer gets ``ANSWER_CONFIDENCE`` (0.9). The
  model is told to answer exactly ``HANDOFF`` when it cannot help; that answer becomes the
  fallback text with confidence 0.0 and intent ``handoff``, so escalation flags it for a human.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

from services.assistant import BotReply, ResponderError
from services.assistant.transport import json_object, mount_retries, post_json
from services.models import Conversation, Message

WHAT = "the chat-completions endpoint"
ANSWER_CONFIDENCE = 0.9
HANDOFF_WORD = "HANDOFF"
HANDOFF_INTENT = "handoff"
HANDOFF_INSTRUCTION = (
    "If you cannot answer from what you know about this business, if the customer asks for a "
    f"person, or if the request needs a human decision, reply with exactly the single word "
    f"{HANDOFF_WORD} and nothing else."
)
ATTACHMENT_PLACEHOLDER = "[attachment]"


def completions_url(api_base: str) -> str:
    """``<api_base>/chat/completions``; a bare host gets ``/v1``, a full endpoint stays as is."""
    base = api_base.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if not urlsplit(base).path:
        base += "/v1"
    return base + "/chat/completions"


def chat_messages(system_prompt: str, history: list[Message]) -> list[dict[str, str]]:
    """The chat-completions ``messages``: the system prompt, then the history by role."""
    system = f"{system_prompt.strip()}\n\n{HANDOFF_INSTRUCTION}".strip()
    messages = [{"role": "system", "content": system}]
    for message in history:
        content = message.content.strip() or (ATTACHMENT_PLACEHOLDER if message.attachments else "")
        if not content:
            continue
        role = "user" if message.sender_type == "user" else "assistant"
        messages.append({"role": role, "content": content})
    return messages


def is_handoff(text: str) -> bool:
    """True when the model answered the handoff word (quotes, stars and a full stop tolerated)."""
    return text.strip().strip("\"'`*.!").strip().upper() == HANDOFF_WORD


class OpenAIResponder:
    """Asks a chat-completions endpoint for each answer (see the module docstring)."""

    # It is sent text only (a file is "[attachment]" in the history): a message of files
    # alone goes to a person instead.
    reads_files = False

    def __init__(
        self,
        api_base: str,
        api_key: str,
        model: str,
        system_prompt: str,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        *,
        retries: int = 0,
        backoff: float = 0.5,
        fallback_text: str = "Sorry, I'm not sure I understood. Could you rephrase that?",
    ) -> None:
        self.url = completions_url(api_base)
        self._api_key = api_key
        self.model = model
        self.system_prompt = system_prompt
        self.timeout = timeout
        self.fallback_text = fallback_text
        self.session = mount_retries(session or requests.Session(), self.url, retries, backoff)

    def reply(self, conversation: Conversation, history: list[Message]) -> BotReply:
        """Ask the model; ResponderError on a timeout, an HTTP error or an unexpected answer."""
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        payload = {"model": self.model, "messages": chat_messages(self.system_prompt, history)}
        response = post_json(
            self.session,
            self.url,
            payload,
            timeout=self.timeout,
            what=WHAT,
            headers=headers,
            secrets=[self._api_key],
        )
        text = _answer_text(json_object(response, WHAT))
        if is_handoff(text):
            return BotReply(text=self.fallback_text, confidence=0.0, intent=HANDOFF_INTENT)
        return BotReply(text=text.strip(), confidence=ANSWER_CONFIDENCE, intent=None)

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIResponder(url={self.url!r}, model={self.model!r})"


def _answer_text(body: dict[str, Any]) -> str:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ResponderError(f"{WHAT} answered without 'choices'", "malformed")
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str) or not content.strip():
        raise ResponderError(f"{WHAT} answered without text in choices[0].message", "malformed")
    return content

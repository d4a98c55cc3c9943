"""Answers the FAQ bot's knowledge file suggests to an agent: on a conversation's page, the
entries closest to the person's latest message (``FaqResponder.closest``), best first, for
the agent to put in the reply box and send as they are or changed. Near misses, mostly: an
entry that matched well enough has already been the bot's answer, when the bot had the
conversation."""

from __future__ import annotations

from admin_app import get_services
from admin_app.api import bp
from admin_app.auth import login_required
from admin_app.schemas import Suggestion, SuggestionList, respond
from services.assistant import latest_user_message
from services.assistant.faq import FaqResponder

# The person's latest message is among this many of the conversation's last messages, or
# there is none to answer (an agent's long exchange with the bot's notes is rare).
RECENT = 50


@bp.get("/conversations/<int:conversation_id>/suggestions")
@login_required
def suggestions(conversation_id: int):
    """The knowledge file's entries closest to the person's latest message (404 for an
    unknown conversation); none when the bot is not the FAQ bot."""
    services = get_services()
    responder = services.responder
    services.tracker.get(conversation_id)  # NotFound: 404
    if not isinstance(responder, FaqResponder):
        return respond(SuggestionList(available=False, message_id=None, suggestions=[]))
    message = latest_user_message(services.tracker.history(conversation_id, RECENT))
    if message is None or not message.content.strip():
        return respond(SuggestionList(available=True, message_id=None, suggestions=[]))
    found = [Suggestion(intent=entry.intent, question=entry.questions[0], answer=entry.answer,
                        score=round(score, 1))
             for entry, score in responder.closest(message.content)]
    return respond(SuggestionList(available=True, message_id=message.id, suggestions=found))

"""What the bot knows and what it misses, on the ``/admin`` API.

Suggestions: on a conversation's page, the FAQ bot's knowledge entries closest to the
person's latest message (``FaqResponder.closest``), best first, for the agent to put in the
reply box and send as they are or changed. Near misses, mostly: an entry that matched well
enough has already been the bot's answer, when the bot had the conversation.

Unanswered questions: the bot's answers below ``ESCALATION_CONFIDENCE_THRESHOLD`` with the
person's message each answered, newest first (Stats): what to add to the knowledge file, or
to teach one's own bot."""

from __future__ import annotations

from admin_app import get_services
from admin_app.api import _query, bp
from admin_app.auth import login_required
from admin_app.schemas import (
    Suggestion,
    SuggestionList,
    UnansweredAnswer,
    UnansweredQuery,
    respond,
)
from services.assistant import latest_user_message
from services.assistant.faq import FaqResponder

# The person's latest message is among this many of the conversation's last messages, or
# there is none to answer (an agent's long exchange with the bot's notes is rare).
RECENT = 50
# Unanswered questions a page, and the messages (ids) one page walks at most: a page costs
# the same however rare such answers are; "Show older" walks on.
UNANSWERED_PAGE = 50
UNANSWERED_WALK = 20_000


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


@bp.get("/unanswered")
@login_required
def unanswered():
    """The bot's answers below the escalation threshold, newest first, with the person's
    message each answered: a page among at most ``UNANSWERED_WALK`` messages, continued
    with ``before=<next_before>``."""
    query = _query(UnansweredQuery)
    services = get_services()
    threshold = services.settings.escalation_confidence_threshold
    page = services.store.unanswered_questions(threshold, query.before, UNANSWERED_PAGE,
                                               UNANSWERED_WALK)
    return respond(UnansweredAnswer(threshold=threshold, questions=page.questions,
                                    next_before=page.next_before))

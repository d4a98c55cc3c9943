"""The admin JSON API, at the paths and shapes of the tracking-integration design."""

from __future__ import annotations

import logging

from flask import Blueprint, render_template, request
from flask_wtf.csrf import CSRFError
from pydantic import BaseModel, ValidationError

from admin_app import get_services
from admin_app.auth import current_user, login_required
from admin_app.schemas import (
    MAX_ID,
    ActivityList,
    ActivityQuery,
    ConversationAnswer,
    ConversationDetail,
    ConversationList,
    ConversationListQuery,
    ErrorBody,
    FlagAnswer,
    HistoryQuery,
    MarkHumanBody,
    MessageList,
    MessagingWindow,
    SatisfactionAnswer,
    StatsAnswer,
    TeamStatsAnswer,
    TeamStatsQuery,
    parse_period,
    respond,
)
from admin_app.web import security_headers
from services.errors import Conflict, Forbidden, InvalidInput, NotFound, StoreUnavailable
from services.models import Conversation, ConversationFilter
from services.store.base import check_period

bp = Blueprint("admin_api", __name__, url_prefix="/admin")
bp.after_request(security_headers)
log = logging.getLogger(__name__)
TEAM_STATS_DEFAULT_DAYS = 7  # the period of GET /admin/stats/team without a start


def _query(model: type[BaseModel]):
    """Validate the query string against ``model`` (repeated keys: last one wins)."""
    return model.model_validate(request.args.to_dict())


def _body(model: type[BaseModel]):
    data = request.get_json(silent=True) if request.content_length else {}
    if data is None:
        raise InvalidInput("the body must be a JSON object")
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    return model.model_validate(data)


def _limit(requested: int) -> int:
    return min(requested, get_services().settings.api_max_page_size)


def _error(status: int, error: str):
    return respond(ErrorBody(error=error), status)


@bp.url_value_preprocessor
def _ids_in_range(endpoint, values):
    """An id past the stores' 64-bit range names nothing: 404, before a store is asked
    (SQLite cannot even bind such a number, and PostgreSQL refuses it). Anonymous calls
    are left to ``login_required``: 401 first, whatever the id."""
    if current_user() is None:
        return
    for name, value in (values or {}).items():
        if name.endswith("_id") and isinstance(value, int) and value > MAX_ID:
            raise NotFound(f"{name.removesuffix('_id')} {value} not found")


@bp.errorhandler(ValidationError)
def _bad_parameters(exc: ValidationError):
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "request"
    return _error(400, f"invalid {where}: {first['msg']}")


@bp.errorhandler(InvalidInput)
def _invalid(exc: InvalidInput):
    return _error(400, str(exc))


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound):
    return _error(404, str(exc))


@bp.errorhandler(Forbidden)
def _forbidden(exc: Forbidden):
    return _error(403, str(exc))


@bp.errorhandler(Conflict)
def _conflict(exc: Conflict):
    return _error(409, str(exc))


@bp.errorhandler(StoreUnavailable)
def _unavailable(exc: StoreUnavailable):
    log.warning("store unavailable: %s", exc)
    return _error(503, "store unavailable")


@bp.get("/conversations")
@login_required
def list_conversations():
    """A page of conversations; ``next_cursor`` fetches the next one."""
    query = _query(ConversationListQuery)
    filters = ConversationFilter.model_validate({
        **query.model_dump(exclude={"limit", "cursor", "q", "unread"}),
        "search": query.search or query.q,
        "unread_by": current_user().id if query.unread else None,
    })
    try:
        page = get_services().tracker.list(filters, _limit(query.limit), query.cursor)
    except ValueError as exc:  # a malformed cursor
        raise InvalidInput(str(exc)) from None
    return respond(ConversationList(
        conversations=page.conversations,
        count=len(page.conversations),
        next_cursor=page.next_cursor,
        read=_read_marks([c.id for c in page.conversations]),
    ))


def _read_marks(conversation_ids: list[int]):
    """The caller's read marks on a page of conversations; None when they cannot be read (a
    Supabase database without migration 20261205040000, say): the page still answers, and
    the inbox shows no unread counts rather than wrong ones."""
    if not conversation_ids:
        return []
    try:
        return get_services().tracker.read_marks(current_user().id, conversation_ids)
    except StoreUnavailable as exc:
        log.warning("could not read the read marks: %s", exc)
        return None


@bp.get("/conversations/<int:conversation_id>")
@login_required
def get_conversation(conversation_id: int):
    """A conversation with its latest messages (``limit``, default 50)."""
    query = _query(HistoryQuery)
    tracker = get_services().tracker
    conversation = tracker.get(conversation_id)
    messages = tracker.history(conversation_id, _limit(query.limit), query.before, query.after)
    return respond(ConversationDetail(
        conversation=conversation, messages=messages, window=messaging_window(conversation)
    ))


def messaging_window(conversation: Conversation) -> MessagingWindow | None:
    """Messenger's reply window for this conversation (None on other platforms)."""
    if conversation.platform != "messenger":
        return None
    try:
        from channels.messenger.window import window_state
    except ImportError:  # the Messenger channel is not installed
        return None
    return MessagingWindow.model_validate(
        window_state(conversation.last_user_message_at, get_services().clock())
    )


@bp.get("/conversations/<int:conversation_id>/messages")
@login_required
def list_messages(conversation_id: int):
    """Message history; ``before``/``after`` are message ids for paging and catch-up."""
    query = _query(HistoryQuery)
    tracker = get_services().tracker
    tracker.get(conversation_id)
    messages = tracker.history(conversation_id, _limit(query.limit), query.before, query.after)
    return respond(MessageList(messages=messages, count=len(messages)))


@bp.get("/conversations/<int:conversation_id>/activity")
@login_required
def list_activity(conversation_id: int):
    """Who answered, had and changed the conversation; ``before`` (a line id) pages back."""
    query = _query(ActivityQuery)
    tracker = get_services().tracker
    tracker.get(conversation_id)
    lines = tracker.activity(conversation_id, _limit(query.limit), query.before)
    return respond(ActivityList(activity=lines, count=len(lines)))


@bp.post("/conversations/<int:conversation_id>/close")
@login_required
def close_conversation(conversation_id: int):
    conversation = get_services().tracker.close(conversation_id, by=current_user())
    return respond(ConversationAnswer(conversation=conversation))


@bp.post("/conversations/<int:conversation_id>/reopen")
@login_required
def reopen_conversation(conversation_id: int):
    conversation = get_services().tracker.reopen(conversation_id, by=current_user())
    return respond(ConversationAnswer(conversation=conversation))


@bp.post("/messages/<int:message_id>/mark-human")
@login_required
def mark_human(message_id: int):
    """Flag a message for a human reply (body: optional ``reason`` and ``priority``).

    Only the person's messages and the bot's answers can need one: a team member's reply or
    a system notice is a 409 (the page offers the action on neither)."""
    body = _body(MarkHumanBody)
    tracker = get_services().tracker
    if tracker.get_message(message_id).sender_type in ("agent", "system"):
        raise Conflict("only the person's messages and the bot's answers can need a human")
    user = current_user()
    reason = body.reason.strip() or f"flagged by {user.email}"
    message, conversation = tracker.mark_needs_human(message_id, reason, body.priority, by=user)
    return respond(FlagAnswer(message=message, conversation=conversation))


@bp.post("/messages/<int:message_id>/mark-replied")
@login_required
def mark_replied(message_id: int):
    message, conversation = get_services().tracker.mark_human_replied(
        message_id, current_user().email
    )
    return respond(FlagAnswer(message=message, conversation=conversation))


@bp.get("/stats")
@login_required
def stats():
    """Aggregates over every conversation, computed by the store."""
    return respond(StatsAnswer(stats=get_services().tracker.stats()))


@bp.get("/stats/team")
@login_required
def team_stats():
    """What each account did in a period (``start``/``end``; default: the last 7 days)."""
    query = _query(TeamStatsQuery)
    # The store checks the period's length and order.
    start, end = parse_period(query.start, query.end, ("start", "end"), "period",
                              get_services().clock(), TEAM_STATS_DEFAULT_DAYS)
    accounts = get_services().tracker.team_stats(start, end)
    return respond(TeamStatsAnswer(start=start, end=end, accounts=accounts))


@bp.get("/stats/satisfaction")
@login_required
def satisfaction():
    """The ratings people gave their conversations in a period (``start``/``end``, as the
    team stats; default: the last 7 days)."""
    query = _query(TeamStatsQuery)
    start, end = check_period(*parse_period(query.start, query.end, ("start", "end"),
                                            "period", get_services().clock(),
                                            TEAM_STATS_DEFAULT_DAYS))
    return respond(SatisfactionAnswer(start=start, end=end,
                                      satisfaction=get_services().tracker.satisfaction(
                                          start, end)))


def register_error_pages(app) -> None:
    """JSON errors for every ``/admin/`` path, including unknown routes and crashes; an
    HTML page for the admin panel's pages."""
    from werkzeug.exceptions import HTTPException

    def wants_json() -> bool:
        return request.path.startswith("/admin/") or request.path == "/admin"

    def html_page() -> bool:
        return request.blueprint in ("pages", "account", "settings") or request.path == "/"

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        if wants_json():
            return _error(400, f"CSRF check failed: {exc.description}")
        return _html_error(400, "The form expired or did not come from this site. "
                                "Go back, reload the page and try again.")

    def _html_error(code: int, detail: str, signed_in: bool = True, **context):
        from flask_login import current_user as session_user

        user = session_user.user if signed_in and session_user.is_authenticated else None
        response = app.make_response(
            (render_template("error.html", code=code, detail=detail, user=user, **context), code)
        )
        return security_headers(response)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if wants_json():
            return _error(exc.code or 500, exc.description or exc.name)
        if html_page() and exc.code and exc.code >= 400:
            return _html_error(exc.code, exc.description or exc.name)
        return exc

    @app.errorhandler(StoreUnavailable)
    def _store_down(exc: StoreUnavailable):
        # The signed-in user cannot be loaded either: the page is rendered without them,
        # with base.html's "store unavailable" banner (services/spool.py keeps messages).
        log.warning("store unavailable on %s: %s", request.path, exc)
        if wants_json():
            return _error(503, "store unavailable")
        # Anonymous for this response, so rendering does not try to load the user again
        # (Flask-Login's template context would); the session itself is left as it is.
        app.login_manager._update_request_context_with_user(None)
        from admin_app.live import store_status

        status = {**store_status(get_services()), "available": False}
        return _html_error(503, "The store is unavailable; messages are kept and will be "
                                "saved when it is back. Reload in a moment.", signed_in=False,
                           store_status=status)

    @app.errorhandler(Exception)
    def _crash(exc: Exception):
        if isinstance(exc, HTTPException):
            return _http_error(exc)
        log.exception("unhandled error on %s %s", request.method, request.path)
        if not wants_json():
            return "Internal Server Error", 500
        return _error(500, "internal error")


# Imported last: its route joins ``bp`` (the other route modules are imported by create_app).
from admin_app import openapi as _openapi  # noqa: E402,F401

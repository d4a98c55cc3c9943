"""The OpenAPI 3.1 description of the admin JSON API, generated from its pydantic models.

``ROUTES`` lists every JSON route of the ``admin_api`` blueprint with the models it reads
and answers; ``build_spec()`` turns it into one document whose schemas come from
``pydantic.json_schema.models_json_schema`` (refs under ``components/schemas``). The routes
parse their input with the same request models and build their answers through the same
response models (``admin_app.schemas``), and ``tests/unit/test_openapi.py`` fails when a
route of the URL map is missing here, so the description follows the code.

Served at ``GET /admin/openapi.json`` behind the same authentication as the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from flask import jsonify
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from admin_app.api import bp
from admin_app.auth import login_required
from admin_app.schemas import (
    MAX_ID,
    ActivityList,
    ActivityQuery,
    AllReadAnswer,
    AssignBody,
    AvailabilityBody,
    BulkAnswer,
    BulkBody,
    ConversationAnswer,
    ConversationDetail,
    ConversationList,
    ConversationListQuery,
    DeleteQuery,
    DeletedAnswer,
    DoneAnswer,
    ErrorBody,
    ExportJson,
    ExportQuery,
    FileAnswer,
    FlagAnswer,
    HandlingAnswer,
    HistoryQuery,
    HoursAnswer,
    HoursBody,
    MarkHumanBody,
    MeAnswer,
    MeBody,
    MessageAnswer,
    MessageList,
    NoteAnswer,
    NoteBody,
    ReadAnswer,
    ReadBody,
    ReadMarkList,
    ReadMarksQuery,
    ReleasedAnswer,
    ReplyBody,
    RetagAnswer,
    SatisfactionAnswer,
    SavedReplyAnswer,
    SavedReplyBody,
    SavedReplyList,
    SuggestionList,
    UnansweredAnswer,
    UnansweredQuery,
    StatsAnswer,
    TagAnswer,
    TagBody,
    TagList,
    TeamStatsAnswer,
    TeamStatsQuery,
    UserList,
)

REF = "#/components/schemas/{model}"
JSON = "application/json"

# Why each error status can happen; a route lists the ones it can give.
ERRORS = {
    400: "a bad query parameter or body (the error says which), or a change made with the "
         "session cookie without its CSRF token",
    401: "no valid API token (or signed-in session)",
    403: "the account is not an admin, or the note is someone else's",
    404: "no such conversation, message, note or saved reply",
    409: "the change contradicts the current state",
    413: "the body is larger than 1 MiB",
    503: "the store cannot be reached",
}
# gunicorn answers this one itself, in HTML, before the app sees the request.
URI_TOO_LONG = {
    "description": "the request line is longer than gunicorn's 4094 bytes (a very long query)",
    "content": {"text/html": {"schema": {"type": "string"}}},
}


@dataclass(frozen=True)
class Route:
    """One operation: where it is, what it reads, what it answers."""

    method: str
    path: str  # OpenAPI form: /admin/conversations/{conversation_id}
    endpoint: str  # Flask endpoint, to match the URL map
    summary: str
    answer: type[BaseModel] | None
    status: int = 200
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_required: bool = False
    errors: tuple[int, ...] = ()
    extra_content: dict[str, dict[str, Any]] = field(default_factory=dict)
    body_content: dict[str, dict[str, Any]] | None = None  # a body that is not JSON


_C = "/admin/conversations/{conversation_id}"
_M = "/admin/messages/{message_id}"
_R = "/admin/saved-replies/{reply_id}"
_CHANGE = (400, 401, 404, 503)  # a POST on an id: CSRF, auth, unknown id, store down

ROUTES: tuple[Route, ...] = (
    Route("get", "/admin/conversations", "admin_api.list_conversations",
          "A page of conversations, filtered and sorted; next_cursor fetches the next page",
          ConversationList, query=ConversationListQuery, errors=(400, 401, 503)),
    Route("get", _C, "admin_api.get_conversation",
          "A conversation with its latest messages and Messenger's reply window",
          ConversationDetail, query=HistoryQuery, errors=(400, 401, 404, 503)),
    Route("delete", _C, "admin_api.delete_conversation",
          "Admins: delete a conversation with its messages, notes, trail, tags and rating "
          "(person=true: every conversation of its person); the stats stop counting them",
          DeletedAnswer, query=DeleteQuery, errors=(400, 401, 403, 404, 503)),
    Route("get", _C + "/messages", "admin_api.list_messages",
          "Message history; before/after (message ids) page back or catch up",
          MessageList, query=HistoryQuery, errors=(400, 401, 404, 503)),
    Route("get", _C + "/activity", "admin_api.list_activity",
          "Activity trail: who was handed, took over, handed back, assigned, closed or "
          "reopened it, and when; before (a line id) pages back",
          ActivityList, query=ActivityQuery, errors=(400, 401, 404, 503)),
    Route("post", _C + "/messages", "admin_api.reply",
          "An agent's reply: stored pending, sent by the worker; takes the conversation over",
          MessageAnswer, status=201, body=ReplyBody, body_required=True,
          errors=(*_CHANGE, 409, 413)),
    Route("post", _C + "/files", "admin_api.upload_file",
          "A file to attach to a reply in this conversation (multipart, field file; at most "
          "UPLOAD_MAX_BYTES): the attachment, which a reply names by its file_id. Served at "
          "its url to whoever has it",
          FileAnswer, status=201, body_required=True,
          body_content={"multipart/form-data": {"schema": {
              "type": "object", "required": ["file"],
              "properties": {"file": {"type": "string", "format": "binary"}}}}},
          errors=(*_CHANGE, 409, 413)),
    Route("post", _C + "/close", "admin_api.close_conversation",
          "Close (clears the flags; the person's next message opens a new conversation)",
          ConversationAnswer, errors=_CHANGE),
    Route("post", _C + "/reopen", "admin_api.reopen_conversation",
          "Reopen (409 if the person already has another open conversation)",
          ConversationAnswer, errors=(*_CHANGE, 409)),
    Route("post", _C + "/take-over", "admin_api.take_over",
          "A human answers from now on; assigned to the caller", HandlingAnswer, errors=_CHANGE),
    Route("post", _C + "/hand-back", "admin_api.hand_back",
          "The bot answers again; assignee and needs-human flag cleared", HandlingAnswer,
          errors=_CHANGE),
    Route("post", _C + "/notes", "admin_api.add_note",
          "A note for the team, shown in the conversation's activity (the person never sees "
          "it); closed conversations take notes too",
          NoteAnswer, status=201, body=NoteBody, body_required=True, errors=(*_CHANGE, 413)),
    Route("put", "/admin/notes/{note_id}", "admin_api.edit_note",
          "Its author's new text for a note (detail.text, detail.edited_at); 403 for someone "
          "else's note, 409 once it was deleted",
          NoteAnswer, body=NoteBody, body_required=True,
          errors=(400, 401, 403, 404, 409, 413, 503)),
    Route("delete", "/admin/notes/{note_id}", "admin_api.delete_note",
          "Delete a note (its author, or an admin; 403 for an agent on someone else's): the "
          "line stays with detail.deleted_at, deleted_by_id and deleted_by, its text gone",
          NoteAnswer, errors=(400, 401, 403, 404, 503)),
    Route("put", _C + "/read", "admin_api.mark_read",
          "The caller has read the conversation up to message_count messages (its unread "
          "count is the messages past it, on every device); a mark never moves back, nor "
          "past the conversation's count",
          ReadAnswer, body=ReadBody, body_required=True, errors=(*_CHANGE, 413)),
    Route("delete", _C + "/read", "admin_api.mark_unread",
          "Mark unread: the caller's mark moves back to just before the newest message",
          ReadAnswer, errors=(400, 401, 404, 503)),
    Route("post", "/admin/read-marks/all", "admin_api.mark_all_read",
          "Mark all read: the caller has read every conversation up to its count now",
          AllReadAnswer, errors=(400, 401, 503)),
    Route("get", "/admin/read-marks", "admin_api.read_marks",
          "The caller's read marks on some conversations (ids, comma-separated, at most 100)",
          ReadMarkList, query=ReadMarksQuery, errors=(400, 401, 503)),
    Route("post", _C + "/tags", "admin_api.add_tag",
          "Put a tag on a conversation (stored normalised: trimmed, inner spaces one, lower "
          "case; 1 to 32 letters, digits, spaces, - and _); closed ones too; 409 when it has "
          "20 already",
          TagAnswer, body=TagBody, body_required=True, errors=(*_CHANGE, 409, 413)),
    Route("delete", _C + "/tags/{tag}", "admin_api.remove_tag",
          "Take a tag off a conversation (changed false when it did not have it)",
          TagAnswer, errors=_CHANGE),
    Route("get", "/admin/tags", "admin_api.tags",
          "The tags in use, most used first: on how many conversations, how many not closed",
          TagList, errors=(401, 503)),
    Route("put", "/admin/tags/{tag}", "admin_api.rename_tag",
          "Admins: rename a tag on every conversation that has it (one that has both keeps "
          "one); 404 when none has it",
          RetagAnswer, body=TagBody, body_required=True, errors=(400, 401, 403, 404, 413, 503)),
    Route("delete", "/admin/tags/{tag}", "admin_api.delete_tag",
          "Admins: take a tag off every conversation; 404 when none has it",
          RetagAnswer, errors=(400, 401, 403, 404, 503)),
    Route("post", "/admin/conversations/bulk", "admin_api.bulk",
          "One action on several conversations at once: close, reopen, assign (user_id, "
          "null for nobody) or read (for the caller). Each is changed as its own route "
          "would; the ones that cannot be are listed in failed with why, the others still "
          "changed (400 for an unknown account)",
          BulkAnswer, body=BulkBody, body_required=True, errors=(400, 401, 413, 503)),
    Route("post", _C + "/assign", "admin_api.assign",
          "Assign to an account, or unassign with user_id null (400 for an unknown account)",
          ConversationAnswer, body=AssignBody, errors=(*_CHANGE, 413)),
    Route("post", _M + "/mark-human", "admin_api.mark_human",
          "Flag a message for a human, with an optional reason and priority (409 for an "
          "agent's or a system message)",
          FlagAnswer, body=MarkHumanBody, errors=(*_CHANGE, 409, 413)),
    Route("post", _M + "/mark-replied", "admin_api.mark_replied",
          "Record that a human answered the message", FlagAnswer, errors=_CHANGE),
    Route("post", _M + "/retry", "admin_api.retry",
          "Send a failed bot/agent/system message again (409 for any other message)",
          MessageAnswer, errors=(*_CHANGE, 409)),
    Route("get", "/admin/stats", "admin_api.stats", "Aggregates over every conversation",
          StatsAnswer, errors=(401, 503)),
    Route("get", "/admin/stats/team", "admin_api.team_stats",
          "What each account did in a period (default: the last 7 days, at most 366): "
          "replies, conversations picked up, handed back, closed, notes, first responses "
          "and their times, and open conversations assigned now",
          TeamStatsAnswer, query=TeamStatsQuery, errors=(400, 401, 503)),
    Route("get", "/admin/stats/satisfaction", "admin_api.satisfaction",
          "The ratings people gave their closed conversations in a period (as the team "
          "stats: default the last 7 days, at most 366): how many, their average, the "
          "share satisfied (4 or 5 of 5), per score, per assignee, and the newest comments",
          SatisfactionAnswer, query=TeamStatsQuery, errors=(400, 401, 503)),
    Route("get", "/admin/me", "admin_api.me", "The caller's account", MeAnswer,
          errors=(401, 503)),
    Route("put", "/admin/me", "admin_api.set_my_name",
          "The caller's name for the people it answers (blank or null: none): the web "
          "chat shows it above the caller's replies from then on", MeAnswer, body=MeBody,
          errors=(400, 401, 503)),
    Route("get", "/admin/users", "admin_api.users", "Every account, without secrets",
          UserList, errors=(401, 503)),
    Route("put", "/admin/users/{user_id}/availability", "admin_api.set_availability",
          "Whether an account takes new conversations (auto-assignment): the account "
          "itself, or an admin for anyone; one that becomes available is handed the "
          "conversations waiting for someone", MeAnswer, body=AvailabilityBody,
          body_required=True, errors=(400, 401, 403, 404, 413, 503)),
    Route("post", "/admin/users/{user_id}/release", "admin_api.release_conversations",
          "Admins: give an account's open conversations back to the team: each unassigned "
          "(a trail line); with AUTO_ASSIGN the account is set Away first and those waiting "
          "for a human go to the least loaded available accounts at once",
          ReleasedAnswer, errors=(401, 403, 404, 503)),
    Route("get", "/admin/hours", "admin_api.get_hours",
          "The business hours in force (status as GET /chat/hours) and where they come "
          "from: set on Settings or here, or the server's settings",
          HoursAnswer, errors=(401, 503)),
    Route("put", "/admin/hours", "admin_api.set_hours",
          "Admins: business hours for every process, over the server's settings, in force "
          "at once (open pages and widgets are told); 400 with the reason for hours that "
          "cannot be used, nothing changed",
          HoursAnswer, body=HoursBody, body_required=True,
          errors=(400, 401, 403, 413, 503)),
    Route("delete", "/admin/hours", "admin_api.reset_hours",
          "Admins: forget the hours set on Settings or here; the server's are in force again",
          HoursAnswer, errors=(401, 403, 503)),
    Route("get", "/admin/unanswered", "admin_api.unanswered",
          "The bot's answers below the escalation threshold, newest first, with the "
          "person's message each answered; page on with before=next_before",
          UnansweredAnswer, query=UnansweredQuery, errors=(400, 401, 503)),
    Route("get", "/admin/saved-replies", "admin_api.list_saved_replies",
          "The team's saved replies, in title order", SavedReplyList, errors=(401, 503)),
    Route("post", "/admin/saved-replies", "admin_api.create_saved_reply",
          "Admins: a new saved reply ({first_name} in its text becomes the person's first "
          "name); 409 if another has that title (compared case-insensitively), 400 when "
          "500 are stored",
          SavedReplyAnswer, status=201, body=SavedReplyBody, body_required=True,
          errors=(400, 401, 403, 409, 413, 503)),
    Route("put", _R, "admin_api.update_saved_reply",
          "Admins: a saved reply's new title and text (409 if another reply has that title)",
          SavedReplyAnswer, body=SavedReplyBody, body_required=True,
          errors=(400, 401, 403, 404, 409, 413, 503)),
    Route("delete", _R, "admin_api.delete_saved_reply", "Admins: delete a saved reply",
          DoneAnswer, errors=(400, 401, 403, 404, 503)),
    Route("get", "/admin/export", "admin_api.export",
          "Conversations with activity in a range and their messages in it, streamed as CSV "
          "(one row per message) or JSON (one object per conversation)",
          ExportJson, query=ExportQuery, errors=(400, 401, 503),
          extra_content={"text/csv": {"schema": {"type": "string"}}}),
    Route("get", _C + "/suggestions", "admin_api.suggestions",
          "The FAQ bot's knowledge entries closest to the person's latest message, for an "
          "agent's reply", SuggestionList, errors=(401, 404, 503)),
    Route("get", _C + "/transcript", "admin_api.transcript",
          "A conversation as plain text (an attachment to save): who wrote what and when, "
          "oldest first; the team's notes are not in it",
          None, errors=(401, 404, 503),
          extra_content={"text/plain": {"schema": {"type": "string"}}}),
    Route("get", "/admin/openapi.json", "admin_api.openapi_document",
          "This document", None, errors=(401,),
          extra_content={JSON: {"schema": {"type": "object"}}}),
)


def _components() -> tuple[dict, dict[type[BaseModel], dict]]:
    """Every model's JSON Schema under components/schemas, and the ref of each."""
    answers = {r.answer for r in ROUTES if r.answer is not None} | {ErrorBody}
    bodies = {r.body for r in ROUTES if r.body is not None}
    pairs = [(m, "serialization") for m in answers] + [(m, "validation") for m in bodies]
    pairs.sort(key=lambda pair: (pair[0].__name__, pair[1]))
    refs, top = models_json_schema(pairs, ref_template=REF)
    return top.get("$defs", {}), {model: ref for (model, _), ref in refs.items()}


def _without_null(schema: dict) -> dict:
    """A query parameter is absent rather than null: drop the ``null`` branch."""
    branches = schema.get("anyOf")
    if not branches:
        return schema
    kept = [b for b in branches if b.get("type") != "null"]
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    if len(kept) == 1:
        return {**kept[0], **rest}
    return {**rest, "anyOf": kept}


def _query_parameters(model: type[BaseModel]) -> list[dict]:
    schema = model.model_json_schema(mode="validation", ref_template=REF)
    assert "$defs" not in schema, f"{model.__name__}: a query parameter must be a plain value"
    parameters = []
    for name, prop in schema["properties"].items():
        prop = _without_null(prop)
        prop.pop("title", None)
        if prop.get("default") is None:
            prop.pop("default", None)
        description = prop.pop("description", None)
        parameter = {"name": name, "in": "query", "required": False, "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _path_parameters(path: str) -> list[dict]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [{"name": name, "in": "path", "required": True,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}
             if name.endswith("_id") else {"type": "string", "minLength": 1}}
            for name in names]


def _operation(route: Route, refs: dict[type[BaseModel], dict]) -> dict:
    content = {JSON: {"schema": refs[route.answer]}} if route.answer else {}
    content.update(route.extra_content)
    responses: dict[str, Any] = {str(route.status): {"description": "done", "content": content}}
    error = {JSON: {"schema": refs[ErrorBody]}}
    for status in sorted(route.errors):
        responses[str(status)] = {"description": ERRORS[status], "content": error}
        if status == 401:
            responses["401"]["headers"] = {
                "WWW-Authenticate": {"schema": {"type": "string"}},
            }
    if route.query is not None:
        responses["414"] = URI_TOO_LONG
    operation: dict[str, Any] = {
        "operationId": route.endpoint.split(".")[-1],
        "summary": route.summary,
        "parameters": _path_parameters(route.path)
        + (_query_parameters(route.query) if route.query else []),
        "responses": responses,
    }
    if route.body is not None:
        operation["requestBody"] = {
            "required": route.body_required,
            "content": {JSON: {"schema": refs[route.body]}},
        }
    elif route.body_content is not None:
        operation["requestBody"] = {"required": route.body_required,
                                    "content": route.body_content}
    return operation


@lru_cache(maxsize=1)
def build_spec() -> dict:
    """The whole OpenAPI document (built once per process: it only depends on the code)."""
    schemas, refs = _components()
    paths: dict[str, dict] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Switchboard admin API",
            "version": "1",
            "description": "The admin panel's JSON API. Authenticate with an API token "
                           "(`flask --app wsgi tokens create`) as `Authorization: Bearer "
                           "<token>`; a signed-in browser session works too, with the CSRF "
                           "token in `X-CSRFToken` on every POST. Errors are "
                           "`{\"success\": false, \"error\": \"…\"}`.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearerAuth": []}],
    }


@bp.get("/openapi.json")
@login_required
def openapi_document():
    """This API's OpenAPI document."""
    return jsonify(build_spec())

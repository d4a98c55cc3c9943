"""The team's saved replies on the ``/admin`` API: every account reads them (the reply box
offers them), admins keep the list."""

from __future__ import annotations

from admin_app import get_services
from admin_app.api import _body, bp
from admin_app.auth import admin_required, current_user, login_required
from admin_app.schemas import (
    DoneAnswer,
    SavedReplyAnswer,
    SavedReplyBody,
    SavedReplyList,
    respond,
)


@bp.get("/saved-replies")
@login_required
def list_saved_replies():
    """Every saved reply, in title order."""
    replies = get_services().store.list_saved_replies()
    return respond(SavedReplyList(saved_replies=replies, count=len(replies)))


@bp.post("/saved-replies")
@admin_required
def create_saved_reply():
    """A new saved reply (409 if another has that title, 400 when the list is full)."""
    services = get_services()
    reply = services.store.create_saved_reply(_body(SavedReplyBody).new(), current_user().id,
                                              services.clock())
    return respond(SavedReplyAnswer(saved_reply=reply), 201)


@bp.put("/saved-replies/<int:reply_id>")
@admin_required
def update_saved_reply(reply_id: int):
    """A saved reply's new title and text (409 if another reply has that title)."""
    services = get_services()
    reply = services.store.update_saved_reply(reply_id, _body(SavedReplyBody).new(),
                                              services.clock())
    return respond(SavedReplyAnswer(saved_reply=reply))


@bp.delete("/saved-replies/<int:reply_id>")
@admin_required
def delete_saved_reply(reply_id: int):
    get_services().store.delete_saved_reply(reply_id)
    return respond(DoneAnswer())

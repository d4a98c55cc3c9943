"""The admin panel's HTML pages: inbox, conversation, stats.

Pages are shells: the browser fills them from the JSON API and keeps them current over the
``/admin`` socket (``static/js``), so a page and a script using the API see the same data.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from admin_app import get_services
from admin_app.auth import current_user, page_login_required
from admin_app.web import admin_pages
from services.models import Conversation

bp = admin_pages(Blueprint("pages", __name__))


def person_name(conversation: Conversation) -> str:
    """What to call a conversation's person: their name, else a short label from their
    platform id (as ``personName`` in static/js/common.js, which keeps the page current)."""
    if conversation.display_name:
        return conversation.display_name
    label = "Messenger user" if conversation.platform == "messenger" else "Visitor"
    return f"{label} {conversation.external_user_id[-6:]}"


@bp.get("/")
@page_login_required
def inbox():
    return render_template("inbox.html", page="inbox", user=current_user())


@bp.get("/conversations/<int:conversation_id>")
@page_login_required
def conversation(conversation_id: int):
    found = get_services().store.get_conversation(conversation_id)
    if found is None:
        abort(404, f"There is no conversation {conversation_id}.")
    return render_template(
        "conversation.html", page="conversation", user=current_user(), conversation=found,
        person_name=person_name(found), upload_max=get_services().settings.upload_max_bytes,
        unsent_file_hours=get_services().settings.unsent_file_hours,
    )


@bp.get("/stats")
@page_login_required
def stats():
    return render_template("stats.html", page="stats", user=current_user())

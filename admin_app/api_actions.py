"""What agents do from the admin panel, as JSON endpoints on the same ``/admin`` API:
reply, retry a failed send, take over / hand back, assign, notes for the team, what each
account has read, tags; and who the agents are."""

from __future__ import annotations

from admin_app import get_services
from admin_app.api import _body, _query, bp
from admin_app.auth import admin_required, current_user, login_required
from admin_app.files import reply_attachments
from admin_app.schemas import (
    MAX_COUNT,
    AllReadAnswer,
    AssignBody,
    AvailabilityBody,
    BulkAnswer,
    BulkBody,
    BulkFailure,
    ConversationAnswer,
    DeletedAnswer,
    DeleteQuery,
    HandlingAnswer,
    MeAnswer,
    MeBody,
    MessageAnswer,
    NoteAnswer,
    NoteBody,
    PublicUser,
    ReadAnswer,
    ReadBody,
    ReadMarkList,
    ReadMarksQuery,
    ReleasedAnswer,
    ReplyBody,
    RetagAnswer,
    TagAnswer,
    TagBody,
    TagList,
    UserList,
    respond,
)
from services.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.models import OutboundMessage


@bp.delete("/conversations/<int:conversation_id>")
@admin_required
def delete_conversation(conversation_id: int):
    """Admins: delete a conversation with everything kept of it (messages, notes, trail,
    read marks, tags, rating); ``?person=true``: every conversation of its person too, as
    an erasure request asks. Open pages drop them at once; the stats stop counting them."""
    query = _query(DeleteQuery)
    deleted = get_services().tracker.delete(conversation_id, by=current_user(),
                                            person=query.person)
    return respond(DeletedAnswer(deleted=[c.id for c in deleted], count=len(deleted)))


@bp.get("/me")
@login_required
def me():
    """The caller's account (the panel uses it for "mine" and to tell its own typing)."""
    user = current_user()
    return respond(MeAnswer(user=PublicUser.of(user, get_services().tracker.is_online(user))))


@bp.put("/me")
@login_required
def set_my_name():
    """The caller's name for the people it answers (``{"display_name": "Sam"}``; blank or
    null: none): the web chat shows it above the caller's replies from then on, and so
    does Messenger with MESSENGER_PERSONA_PICTURE_URL (a persona)."""
    body = _body(MeBody)
    services = get_services()
    changed = services.store.set_user_name(current_user().id, body.display_name)
    return respond(MeAnswer(user=PublicUser.of(changed, services.tracker.is_online(changed))))


@bp.put("/users/<int:user_id>/availability")
@login_required
def set_availability(user_id: int):
    """Whether an account takes new conversations (``{"available": true}``): the account
    itself, or an admin for anyone. With AUTO_ASSIGN, an account that becomes available is
    handed the conversations waiting for someone at once."""
    user = current_user()
    if user.id != user_id and user.role != "admin":
        raise Forbidden("only an admin can change another account's availability")
    body = _body(AvailabilityBody)
    tracker = get_services().tracker
    changed = tracker.set_available(user_id, body.available)
    return respond(MeAnswer(user=PublicUser.of(changed, tracker.is_online(changed))))


@bp.post("/users/<int:user_id>/release")
@admin_required
def release_conversations(user_id: int):
    """Admins: give an account's open conversations back to the team (each unassigned;
    with AUTO_ASSIGN the account is set Away first and the ones waiting for a human go to
    the others at once)."""
    released, handed = get_services().tracker.release(user_id, by=current_user())
    return respond(ReleasedAnswer(released=[c.id for c in released], count=len(released),
                                  handed_out=handed))


@bp.get("/users")
@login_required
def users():
    """Every account, without secrets: who a conversation can be assigned to, and who is
    online now."""
    tracker = get_services().tracker
    accounts = get_services().store.list_users()
    now = tracker.clock()
    return respond(UserList(users=[PublicUser.of(u, tracker.is_online(u, now))
                                   for u in accounts], count=len(accounts)))


@bp.post("/conversations/<int:conversation_id>/messages")
@login_required
def reply(conversation_id: int):
    """An agent's reply: stored ``pending``, sent by the worker through the channel. It
    may carry files uploaded to the conversation first (``POST .../files``).

    Replying also takes the conversation over from the bot, so the bot does not talk over
    the person, and assigns it to the replying agent if nobody has it (an escalation hands
    it to humans with nobody assigned: whoever answers first gets it).
    """
    body = _body(ReplyBody)
    user = current_user()
    tracker = get_services().tracker
    conversation = tracker.get(conversation_id)
    if conversation.status == "closed":
        raise Conflict("the conversation is closed: reopen it to reply")
    attachments = reply_attachments(conversation_id, body.attachments)
    if conversation.handled_by != "human" or conversation.assigned_to is None:
        assignee = conversation.assigned_to or user.id
        conversation, _ = tracker.set_handling(conversation_id, "human", assignee, by=user,
                                               current=conversation)
    message = tracker.track_outbound(
        OutboundMessage(
            conversation_id=conversation_id,
            sender_type="agent",
            sender_id=user.email,
            content=body.content if body.content.strip() else "",
            attachments=attachments,
            # The name the person is shown above the reply (the web chat), as it was then.
            metadata={"agent_id": user.id, **({"agent_name": user.display_name}
                                              if user.display_name else {})},
        )
    )
    return respond(MessageAnswer(message=message), 201)


@bp.post("/messages/<int:message_id>/retry")
@login_required
def retry(message_id: int):
    """Send a ``failed`` outbound message again (409 for any other message)."""
    message = get_services().outbox.requeue(message_id)
    return respond(MessageAnswer(message=message))


@bp.post("/conversations/<int:conversation_id>/take-over")
@login_required
def take_over(conversation_id: int):
    """A human answers from now on (the bot falls silent); assigned to the caller."""
    user = current_user()
    conversation, changed = get_services().tracker.set_handling(
        conversation_id, "human", user.id, by=user
    )
    return respond(HandlingAnswer(conversation=conversation, changed=changed))


@bp.post("/conversations/<int:conversation_id>/hand-back")
@login_required
def hand_back(conversation_id: int):
    """The bot answers again; the assignee and the needs-human flag are cleared."""
    conversation, changed = get_services().tracker.set_handling(
        conversation_id, "bot", by=current_user()
    )
    return respond(HandlingAnswer(conversation=conversation, changed=changed))


@bp.post("/conversations/<int:conversation_id>/notes")
@login_required
def add_note(conversation_id: int):
    """A note for the team (``{"text": "…"}``), shown in the conversation's activity; the
    person never sees it. Closed conversations take notes too."""
    body = _body(NoteBody)
    note = get_services().tracker.add_note(conversation_id, body.text, current_user())
    return respond(NoteAnswer(activity=note), 201)


@bp.put("/notes/<int:note_id>")
@login_required
def edit_note(note_id: int):
    """Its author's new text for a note (``{"text": "…"}``); 403 for someone else's note
    (before its body is read), 409 once it was deleted."""
    tracker, user = get_services().tracker, current_user()
    note = tracker.editable_note(note_id, user)
    body = _body(NoteBody)
    return respond(NoteAnswer(activity=tracker.edit_note(note_id, body.text, user,
                                                         current=note)))


@bp.delete("/notes/<int:note_id>")
@login_required
def delete_note(note_id: int):
    """Delete a note (its author, or an admin): the trail keeps who deleted it and when,
    not its text. Deleting it again answers the same line."""
    return respond(NoteAnswer(activity=get_services().tracker.delete_note(
        note_id, current_user())))


@bp.put("/conversations/<int:conversation_id>/read")
@login_required
def mark_read(conversation_id: int):
    """The caller has read the conversation up to ``message_count`` messages: its unread
    count in the inbox is the messages past it, on every device the account signs in on.
    A mark never moves back, nor past the conversation's own count."""
    body = _body(ReadBody)
    mark = get_services().tracker.mark_read(conversation_id, body.message_count, current_user())
    return respond(ReadAnswer(read=mark))


@bp.delete("/conversations/<int:conversation_id>/read")
@login_required
def mark_unread(conversation_id: int):
    """Mark unread: the caller's mark moves back to just before the newest message (the
    inbox shows one unread), until a page of the account shows it again."""
    mark = get_services().tracker.mark_unread(conversation_id, current_user())
    return respond(ReadAnswer(read=mark))


@bp.post("/read-marks/all")
@login_required
def mark_all_read():
    """The caller has read every conversation up to its count now (a new agent's inbox,
    where every conversation it never opened is unread); its other pages follow."""
    return respond(AllReadAnswer(moved=get_services().tracker.mark_all_read(current_user())))


@bp.get("/read-marks")
@login_required
def read_marks():
    """The caller's marks on some conversations (``ids=3,8,21``, at most 100): for rows the
    inbox learns of over the socket, past the pages it listed."""
    ids = _query(ReadMarksQuery).conversation_ids()
    return respond(ReadMarkList(read=get_services().tracker.read_marks(current_user().id, ids)))


@bp.post("/conversations/<int:conversation_id>/assign")
@login_required
def assign(conversation_id: int):
    """Assign to an account (``{"user_id": 3}``) or unassign (``{"user_id": null}``)."""
    body = _body(AssignBody)
    try:
        conversation = get_services().tracker.assign(conversation_id, body.user_id,
                                                     by=current_user())
    except NotFound as exc:
        if body.user_id is not None and get_services().store.get_user(body.user_id) is None:
            raise InvalidInput(f"no account {body.user_id}") from exc
        raise
    return respond(ConversationAnswer(conversation=conversation))


@bp.post("/conversations/bulk")
@login_required
def bulk():
    """One action on several conversations (the inbox's selection), each changed as its own
    route would change it: its event, its trail line by the caller. One that cannot be
    changed (unknown, a reopening that another open conversation of the person prevents,
    a tag on one that has 20) is listed in ``failed`` with why, and the others are still
    changed; one already so (closing a closed one, tagging a tagged one) is done without a
    write. A store that goes down
    part way is a 503: what was changed before stays changed, and sending the request
    again finishes it."""
    body = _body(BulkBody)
    services = get_services()
    tracker, user = services.tracker, current_user()
    if body.action == "assign" and body.user_id is not None \
            and services.store.get_user(body.user_id) is None:
        raise InvalidInput(f"no account {body.user_id}")
    done: list[int] = []
    failed: list[BulkFailure] = []
    for conversation_id in dict.fromkeys(body.ids):
        try:
            if body.action == "read":  # the store caps a mark at the conversation's count
                tracker.mark_read(conversation_id, MAX_COUNT, user)
            elif body.action == "assign":
                tracker.assign(conversation_id, body.user_id, by=user)
            elif body.action == "tag":  # one that has 20 already is listed with why
                tracker.add_tag(conversation_id, body.tag, by=user)
            elif body.action == "untag":
                tracker.remove_tag(conversation_id, body.tag, by=user)
            else:  # one already so is left as it is (set_status writes nothing)
                tracker.set_status(conversation_id,
                                   "closed" if body.action == "close" else "active", user)
        except (NotFound, Conflict) as exc:
            failed.append(BulkFailure(id=conversation_id, error=str(exc)))
        else:
            done.append(conversation_id)
    return respond(BulkAnswer(done=done, failed=failed))


@bp.post("/conversations/<int:conversation_id>/tags")
@login_required
def add_tag(conversation_id: int):
    """Put a tag on a conversation (``{"tag": "Billing"}``, stored as ``billing``); closed
    ones too. 409 when it has 20 already; ``changed`` false when it had the tag."""
    body = _body(TagBody)
    conversation, changed = get_services().tracker.add_tag(conversation_id, body.tag,
                                                           by=current_user())
    return respond(TagAnswer(conversation=conversation, changed=changed))


@bp.delete("/conversations/<int:conversation_id>/tags/<tag>")
@login_required
def remove_tag(conversation_id: int, tag: str):
    """Take a tag off (the tag URL-encoded); ``changed`` false when it did not have it."""
    conversation, changed = get_services().tracker.remove_tag(conversation_id, tag,
                                                              by=current_user())
    return respond(TagAnswer(conversation=conversation, changed=changed))


@bp.get("/tags")
@login_required
def tags():
    """The tags in use, most used first: on how many conversations, how many not closed
    (the inbox's tag filter and the stats page)."""
    listed = get_services().tracker.tags()
    return respond(TagList(tags=listed, count=len(listed)))


@bp.put("/tags/<tag>")
@admin_required
def rename_tag(tag: str):
    """Admins: rename a tag on every conversation that has it (``{"tag": "billing"}``; a
    conversation that has both keeps one). 404 when no conversation has it."""
    body = _body(TagBody)
    changed = get_services().tracker.rename_tag(tag, body.tag, by=current_user())
    return respond(RetagAnswer(tag=body.tag, conversations=changed))


@bp.delete("/tags/<tag>")
@admin_required
def delete_tag(tag: str):
    """Admins: take a tag off every conversation. 404 when no conversation has it."""
    changed = get_services().tracker.delete_tag(tag, by=current_user())
    return respond(RetagAnswer(tag=None, conversations=changed))

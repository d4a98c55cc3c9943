"""Files agents attach to replies: ``POST /admin/conversations/<id>/files`` stores one (a
multipart ``file``) and answers how a reply carries it; ``GET /files/<id>/<name>`` serves
it (and the files web chat visitors send, ``channels/webchat/views.py``), to the person
(the widget, Messenger's servers, which fetch it to deliver it) and the team alike.

The address is the key, as Messenger's own attachment links are: the id is a random UUID
(122 random bits; a visitor's file's is derived from their message with ``SECRET_KEY``,
``services.files.derived_file_id``), so only someone who was given the message has it. What is served can
never run as this site's page: images, video and audio known to browsers are shown as
themselves, everything else is a download; every answer is ``nosniff`` and sandboxed."""

from __future__ import annotations

import io
from functools import wraps
from typing import Any

from flask import Blueprint, abort, request, send_file, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from admin_app import get_services
from admin_app.api import bp as api_bp
from admin_app.auth import current_user, login_required
from admin_app.schemas import FileAnswer, respond
from services.errors import Conflict, InvalidInput, NotFound
from services.files import (
    INLINE_KINDS,
    MULTIPART_ENVELOPE,
    attachment,
    file_name,
    media_type,
    size_text,
)
from services.models import NewFile, StoredFile, canonical_file_id

bp = Blueprint("files", __name__, url_prefix="/files")

def attachment_of(file: StoredFile) -> dict[str, Any]:
    """How a message carries the stored file (``services.files.attachment``), its address
    on this site."""
    return attachment(file.id, file.name, file.content_type, file.size,
                      url_for("files.download", file_id=file.id, name=file.name,
                              _external=True))


def _upload_limit(view):
    """Let this request's body be as large as ``UPLOAD_MAX_BYTES`` allows (the app's limit
    is 1 MiB), before the CSRF check reads the form."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        request.max_content_length = (get_services().settings.upload_max_bytes
                                      + MULTIPART_ENVELOPE)
        return view(*args, **kwargs)

    return wrapped


def _too_large(limit: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(f"the file is larger than {size_text(limit)} ({limit:,} bytes, "
                                 "UPLOAD_MAX_BYTES)")


@api_bp.post("/conversations/<int:conversation_id>/files")
@_upload_limit
@login_required
def upload_file(conversation_id: int):
    """Store a file (multipart form, field ``file``) to attach to a reply in this
    conversation: 201 with the attachment a reply names by its ``file_id``. 413 past
    ``UPLOAD_MAX_BYTES``, 409 for a closed conversation, 400 without a file or for an
    empty one."""
    services = get_services()
    limit = services.settings.upload_max_bytes
    conversation = services.tracker.get(conversation_id)
    if conversation.status == "closed":
        raise Conflict("the conversation is closed: reopen it to reply")
    try:
        upload = request.files.get("file")
    except RequestEntityTooLarge:
        raise _too_large(limit) from None
    if upload is None:
        raise InvalidInput("send the file as multipart/form-data, in a field named 'file'")
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise _too_large(limit)
    if not data:
        raise InvalidInput("the file is empty")
    stored = services.store.add_file(NewFile(
        conversation_id=conversation_id, name=file_name(upload.filename),
        content_type=media_type(upload.mimetype), data=data,
        created_by=current_user().id), services.clock())
    return respond(FileAnswer(attachment=attachment_of(stored)), 201)


def reply_attachments(conversation_id: int, file_ids: list[str]) -> list[dict[str, Any]]:
    """The attachments of a reply naming these files, in the order named, each once; the
    files are marked sent (one store write), so the sweep of files never sent leaves them.
    400 for one that is not this conversation's (or not a file at all, or swept), so a
    reply never carries another's file."""
    if not file_ids:
        return []
    services = get_services()
    found = {f.id: f for f in services.store.send_files(conversation_id, file_ids,
                                                        services.clock())}
    attachments: dict[str, dict[str, Any]] = {}  # a file named twice goes once
    for file_id in file_ids:
        try:
            file = found.get(canonical_file_id(file_id))
        except NotFound:
            file = None
        if file is None:
            raise InvalidInput(f"no file {file_id} was attached in this conversation")
        attachments.setdefault(file.id, attachment_of(file))
    return list(attachments.values())


@bp.get("/<file_id>/<path:name>")
def download(file_id: str, name: str):
    """A stored file, to anyone with its address (see the module's docstring); the name in
    the path is for people and is not checked."""
    try:
        file = get_services().store.get_file(file_id)
    except NotFound:
        abort(404, "no such file")
    inline = file.content_type in INLINE_KINDS
    response = send_file(
        io.BytesIO(file.data or b""), mimetype=file.content_type if inline
        else "application/octet-stream", as_attachment=not inline, download_name=file.name,
        etag=file.id, conditional=True, max_age=365 * 24 * 3600)
    response.cache_control.private = True
    response.cache_control.immutable = True
    # The sites that embed the widget show it (nosniff and the sandboxing policy come with
    # every answer of this blueprint: admin_app/http_security.py).
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response

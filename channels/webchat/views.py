"""The HTTP side of the web chat: the widget's files, the demo page, and the JSON fallback.

The JSON endpoints follow the Socket.IO namespace's rules (same ``WebchatChannel``): a
visitor token as ``Authorization: Bearer <token>``, only the visitor's own conversations,
the same limits. Errors are ``{"error": code, "detail": text, "status": n}``. While the
store is down a message is answered ``202 {"status": "queued", …}``: it is kept in the
spool (``services/spool.py``) and saved when the store is back.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from flask import (
    Blueprint,
    current_app,
    jsonify,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from services.errors import StoreUnavailable
from services.files import (
    MULTIPART_ENVELOPE,
    attachment,
    derived_file_id,
    file_name,
    media_type,
    size_text,
)
from services.models import InboundFile

from channels.webchat.chat import (
    ChatError,
    positive_id,
    public_conversation,
    public_message,
    queued_ack,
)
from channels.webchat.identity import (
    IdentityError,
    InvalidToken,
    Visitor,
    bearer_token,
    clean_display_name,
    clean_language,
    clean_time_zone,
    new_visitor_id,
    user_visitor_id,
    verified_identity,
)
from channels.webchat.ratelimit import (
    EXTENSION_KEY,
    SCOPE,
    limiter,
    message_limit,
    session_limit,
)

STATIC = Path(__file__).resolve().parent / "static"
bp = Blueprint(
    "webchat", __name__, url_prefix="/chat",
    static_folder="static", static_url_path="/static", template_folder="templates",
)
log = logging.getLogger(__name__)
# Every view that stores a message counts in one per-visitor bucket (see ratelimit.py).
messages_limit = limiter.shared_limit(message_limit, scope=SCOPE, methods=["POST"])
# New sessions are counted per client address: tokens are free, addresses are not.
sessions_limit = limiter.limit(
    session_limit, methods=["POST"], key_func=lambda: f"address:{request.remote_addr}",
    scope="webchat:sessions",
)
_PUBLIC_ENDPOINTS = ("webchat.widget", "webchat.demo", "webchat.static")


def _chat():
    return current_app.extensions[EXTENSION_KEY]


def _visitor() -> Visitor:
    try:
        return _chat().tokens.verify(bearer_token(request.headers.get("Authorization")))
    except InvalidToken as exc:
        raise ChatError(401, "unauthorized", str(exc)) from None


def _body() -> dict:
    if not request.content_length and not request.data:
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ChatError(400, "bad_request", "the body must be a JSON object")
    return data


# -- origins and CORS ------------------------------------------------------------------
@bp.before_request
def _check_origin():
    if request.endpoint in _PUBLIC_ENDPOINTS:
        return None  # scripts, styles and the demo page may be loaded from anywhere
    if not _chat().origins.allows(request.headers.get("Origin"), request.host):
        raise ChatError(403, "forbidden_origin", "this site may not use the chat")
    return None


@bp.after_request
def _cors(response):
    origin = request.headers.get("Origin")
    if origin and request.endpoint not in _PUBLIC_ENDPOINTS and _chat().origins.allows(
        origin, request.host
    ):
        # Tokens travel in a header, never in cookies: no Allow-Credentials.
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        response.headers["Access-Control-Max-Age"] = "600"
    response.vary.add("Origin")
    return response


# -- errors ------------------------------------------------------------------------------
@bp.errorhandler(ChatError)
def _chat_error(exc: ChatError):
    return jsonify(exc.body()), exc.status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    codes = {413: "too_large", 429: "rate_limited", 405: "method_not_allowed", 404: "not_found"}
    detail = exc.description or exc.name
    if exc.code == 429:
        detail = "too many messages; wait a moment and send again"
    body = {"error": codes.get(exc.code or 500, "error"), "detail": detail, "status": exc.code}
    return jsonify(body), exc.code


@bp.errorhandler(StoreUnavailable)
def _unavailable(exc: StoreUnavailable):
    log.warning("store unavailable: %s", exc)
    body = {"error": "unavailable", "detail": "the chat is unavailable; try again", "status": 503}
    return jsonify(body), 503


# -- the widget --------------------------------------------------------------------------
@bp.get("/widget.js")
def widget():
    """The one script a site embeds; it loads the rest from this host."""
    response = send_from_directory(STATIC, "widget.js", mimetype="text/javascript", max_age=300)
    response.headers["Access-Control-Allow-Origin"] = "*"  # plain public file
    return response


@bp.get("/demo")
def demo():
    """A sample shop page with the widget embedded, as a customer would embed it."""
    return render_template("webchat/demo.html")


# -- session -----------------------------------------------------------------------------
@bp.post("/session")
@sessions_limit
def start_session():
    """Issue a visitor token, for a new visitor or (with a valid token) the same one.

    Body (all optional): ``display_name``; ``visitor_id`` (must match the token's);
    ``conversation_id`` (the one the widget remembers: returned if still open). The
    conversation itself is opened by the first message, so ``conversation_id`` is null
    until then.
    """
    body = _body()
    chat = _chat()
    claimed = body.get("visitor_id")
    token = bearer_token(request.headers.get("Authorization"))
    visitor = None
    if token:
        try:
            visitor = chat.tokens.verify(token)
        except InvalidToken:
            visitor = None  # expired or foreign: a new visitor, unless one is claimed below
    if claimed is not None and (visitor is None or claimed != visitor.id):
        raise ChatError(
            401 if visitor is None else 403, "unauthorized" if visitor is None else "forbidden",
            "a visitor id is resumed only with a valid token for it",
        )
    name = clean_display_name(body.get("display_name"))
    remembered = positive_id(body.get("conversation_id"), "conversation_id")
    # The browser's time zone and language (the team sees the visitor's local time): kept in
    # the token, so every message of the session carries them to the conversation's profile.
    browser = {k: v for k, v in (("time_zone", clean_time_zone(body.get("time_zone"))),
                                 ("language", clean_language(body.get("language")))) if v}
    identity = _identity(chat, body)
    if identity is not None:  # the site's customer, on this device or any other
        user_id, email = identity
        visitor_id = user_visitor_id(current_app.config["SECRET_KEY"], user_id)
        same = visitor is not None and visitor.id == visitor_id
        # Anonymous until now at this browser: they just signed in on the site.
        before = visitor if visitor is not None and visitor.user_id is None and not same \
            else None
        visitor = replace(Visitor(visitor_id, name or (visitor.display_name if same else None),
                                  user_id, email), **browser)
        moved = chat.channel.sign_in(before, visitor) if before is not None else []
        if not same:
            remembered = None  # the conversation remembered was the visitor's before
        if remembered is None:  # a device new to them: their open conversation, if any
            # The open conversation that came with them is theirs now (it moved only if they
            # had none open elsewhere); else the one they have open elsewhere, if any.
            found = next((c for c in moved if c.status != "closed"), None) \
                or chat.channel.open_conversation(visitor)
            remembered = found.id if found else None
    elif visitor is not None and visitor.user_id is not None:
        # A customer's token without their identity: they signed out of the site (or
        # someone else uses the browser now). Their conversations stay theirs.
        visitor = None
    if visitor is None:
        visitor, remembered = Visitor(new_visitor_id(), name), None
    elif name:
        visitor = replace(visitor, display_name=name)
    visitor = replace(visitor, **browser)
    resumed = chat.channel.resume(visitor, remembered)
    conversation, to_rate = resumed.open, resumed.to_rate
    return jsonify(
        token=chat.tokens.issue(visitor),
        visitor_id=visitor.id,
        display_name=visitor.display_name,
        conversation_id=conversation.id if conversation else None,
        conversation=public_conversation(conversation) if conversation else None,
        # The remembered conversation, closed since (less than a day ago) and not rated:
        # the widget asks how it went.
        to_rate=public_conversation(to_rate) if to_rate else None,
        # The remembered conversation, deleted by the team since: the widget takes it off
        # the screen (a closed one stays shown).
        deleted_conversation_id=resumed.deleted,
        expires_in=int(chat.tokens.max_age_seconds),
        limits={
            "max_message_length": chat.settings.chat_max_message_length,
            "history_limit": chat.settings.chat_history_limit,
            "max_file_bytes": chat.settings.chat_upload_max_bytes,
        },
        hours=_hours_status(chat),
        # How long the team usually takes to answer someone who asks for a person, in
        # seconds (CHAT_REPLY_TIME); null: not said.
        reply_time=chat.channel.reply_time(),
        # The site's customer, verified (CHAT_IDENTITY_SECRET): their id; else false.
        verified=visitor.user_id is not None,
    )


def _identity(chat, body: dict) -> tuple[str, str | None] | None:
    """The customer the site vouches for (``user_id``, ``user_hash``, ``email``), or None
    when it names none, or identity verification is off (the chat goes on anonymous); 403
    for a hash that does not match."""
    secret = chat.settings.chat_identity_secret.get_secret_value()
    if body.get("user_id") is None or not secret:
        return None
    try:
        return verified_identity(secret, body.get("user_id"), body.get("user_hash"),
                                 body.get("email"))
    except IdentityError as exc:
        raise ChatError(403, "identity_refused", str(exc)) from None


def _hours_status(chat) -> dict | None:
    hours = chat.hours()
    return hours.status(chat.services.clock()) if hours else None


@bp.get("/hours")
def hours():
    """Whether the team is in now, and when it closes or is back (public, no token):
    ``{"hours": null}`` when it is always open."""
    chat = _chat()
    response = jsonify(hours=_hours_status(chat))
    response.headers["Cache-Control"] = "no-store"
    return response


# -- messages ----------------------------------------------------------------------------
def _stored(result, status_if_new: int = 201):
    chat = _chat()
    if result.spooled:  # the store is down: kept in the spool, saved when it is back
        return jsonify(queued_ack(result)), 202
    if result.created:
        chat.events.visitor_message(result.conversation, result.message)
    body = {
        "message": public_message(result.message, result.conversation.external_user_id),
        "conversation": public_conversation(result.conversation),
        "created": result.created,
    }
    return jsonify(body), status_if_new if result.created else 200


@bp.post("/messages")
@messages_limit
def post_first_message():
    """A message to the visitor's open conversation, opening one if they have none."""
    visitor = _visitor()
    body = _body()
    return _stored(_chat().channel.post(visitor, body.get("content"), body.get("client_id"),
                                        body.get("page")))


@bp.post("/<int:conversation_id>/messages")
@messages_limit
def post_message(conversation_id: int):
    """A message from the visitor (``content``, ``client_id``); a resend returns the stored
    one (200 instead of 201). If that conversation was closed meanwhile, the message opens
    the visitor's next one, as on Messenger: see ``conversation`` in the answer."""
    visitor = _visitor()
    body = _body()
    chat = _chat()
    _check_conversation(visitor, conversation_id)
    return _stored(chat.channel.post(visitor, body.get("content"), body.get("client_id"),
                                     body.get("page")))


@bp.post("/files")
@messages_limit
def post_first_file():
    """A message carrying a file (multipart: ``file``, ``client_id``, an optional caption
    ``content``) to the visitor's open conversation, opening one if they have none."""
    return _post_file(None)


@bp.post("/<int:conversation_id>/files")
@messages_limit
def post_file(conversation_id: int):
    """The same, checked against that conversation (a closed one: the message opens the
    visitor's next, as a text does)."""
    return _post_file(conversation_id)


def _post_file(conversation_id: int | None):
    """The file is stored with its message in one store write (``track_inbound_file``):
    413 past ``CHAT_UPLOAD_MAX_BYTES``, 403 when it is 0, 400 without a file or for an
    empty one; 503 while the store is down (a file is never kept in the spool: the widget
    sends it again, and the same ``client_id`` stores it once)."""
    chat = _chat()
    limit = chat.settings.chat_upload_max_bytes
    visitor = _visitor()
    if not limit:  # max_bytes 0: told apart from another "forbidden" (someone else's chat)
        raise ChatError(403, "forbidden", "this chat takes no files", {"max_bytes": 0})
    request.max_content_length = limit + MULTIPART_ENVELOPE
    try:
        upload = request.files.get("file")
        form = request.form
    except RequestEntityTooLarge:
        raise _too_large(limit) from None
    if upload is None:
        raise ChatError(400, "bad_request",
                        "send the file as multipart/form-data, in a field named 'file'")
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise _too_large(limit)
    if not data:
        raise ChatError(400, "bad_request", "the file is empty")
    if conversation_id is not None:
        _check_conversation(visitor, conversation_id)
    client_id = chat.channel.client_id(form.get("client_id"))
    name, content_type = file_name(upload.filename), media_type(upload.mimetype)
    file_id = derived_file_id(current_app.secret_key, visitor.id, client_id)
    url = url_for("files.download", file_id=file_id, name=name, _external=True)
    page = ({"url": form.get("page_url"), "title": form.get("page_title")}
            if form.get("page_url") is not None else None)
    result = chat.channel.post_file(
        visitor, form.get("content"), client_id,
        InboundFile(id=file_id, name=name, content_type=content_type, data=data),
        attachment(file_id, name, content_type, len(data), url), page)
    return _stored(result)


def _too_large(limit: int) -> ChatError:
    return ChatError(413, "too_large", f"a file is at most {size_text(limit)} ({limit:,} bytes)",
                     {"max_bytes": limit})


def _check_conversation(visitor: Visitor, conversation_id: int) -> None:
    """403/404 for a conversation that is not the visitor's; skipped while the store is
    down, since a message always goes to the visitor's own conversation anyway."""
    try:
        _chat().channel.conversation_for(visitor, conversation_id)
    except StoreUnavailable:
        pass


@bp.post("/escalate")
@messages_limit
def escalate_first():
    visitor = _visitor()
    body = _body()
    return _stored(_chat().channel.escalate(visitor, body.get("reason"), body.get("client_id"),
                                             body.get("page")))


@bp.post("/<int:conversation_id>/escalate")
@messages_limit
def escalate(conversation_id: int):
    """"Talk to a person": ``reason`` optional, ``client_id`` makes a repeat a no-op."""
    visitor = _visitor()
    body = _body()
    chat = _chat()
    _check_conversation(visitor, conversation_id)
    return _stored(chat.channel.escalate(visitor, body.get("reason"), body.get("client_id"),
                                         body.get("page")))


@bp.post("/<int:conversation_id>/rating")
@messages_limit
def rate(conversation_id: int):
    """"How was this conversation?": ``score`` 1 to 5 and an optional ``comment``, once it
    is closed; a new rating replaces the last. Answers ``{"conversation"}``."""
    visitor = _visitor()
    body = _body()
    conversation = _chat().channel.rate(visitor, conversation_id, body.get("score"),
                                        body.get("comment"))
    return jsonify(conversation=public_conversation(conversation))


# -- reading -----------------------------------------------------------------------------
@bp.get("/<int:conversation_id>/history")
def history(conversation_id: int):
    """Messages in order: the latest ``limit``; ``before=<id>`` pages back, ``after=<id>``
    catches up after a reconnect."""
    visitor = _visitor()
    chat = _chat()
    args = request.args
    limit = positive_id(args.get("limit"), "limit")
    conversation, messages = chat.channel.history(
        visitor, conversation_id, limit,
        before=positive_id(args.get("before"), "before"),
        after=positive_id(args.get("after"), "after"),
    )
    try:  # the newest message a person of the team has read (the widget's "Seen")
        seen = chat.services.tracker.seen_message_id(conversation.id)
    except StoreUnavailable:  # e.g. its migration not applied yet: the messages still go
        log.warning("web chat history: seen_message_id failed", exc_info=True)
        seen = None
    return jsonify(
        conversation=public_conversation(conversation),
        messages=[public_message(m, visitor.id) for m in messages],
        count=len(messages),
        seen_message_id=seen,
    )


@bp.post("/<int:conversation_id>/receipts")
def receipt(conversation_id: int):
    """The widget received (``delivered``) or showed (``read``) the team's messages up to
    ``message_id``: body ``{"message_id", "status"}``, answers ``{"ok", "changed"}``."""
    visitor = _visitor()
    body = _body()
    changed = _chat().channel.receipt(visitor, conversation_id, body.get("message_id"),
                                      body.get("status"))
    return jsonify(ok=True, changed=changed)


@bp.get("/<int:conversation_id>/escalations")
def escalations(conversation_id: int):
    visitor = _visitor()
    chat = _chat()
    conversation, found = chat.channel.escalations(visitor, conversation_id)
    return jsonify(conversation=public_conversation(conversation), escalations=found)


@bp.get("/user/<user_id>/conversations")
def user_conversations(user_id: str):
    """The visitor's own conversations, most recent first (``user_id`` is the visitor id)."""
    visitor = _visitor()
    if user_id != visitor.id:
        raise ChatError(403, "forbidden", "a visitor sees only their own conversations")
    conversations = _chat().channel.conversations(visitor)
    return jsonify(conversations=[public_conversation(c) for c in conversations])

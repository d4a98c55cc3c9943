"""``/settings``: everyone changes their own password; admins manage accounts, API tokens,
the team's saved replies and its tags.

A generated password or token is shown once, in the response to the POST that made it
(never put in the session cookie, which the browser can read), and stored only hashed.
"""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import login_user
from wtforms.fields.choices import SelectChoice

from admin_app import get_services
from admin_app.auth import SessionUser, current_user, page_login_required
from admin_app.forms import (
    ActionForm,
    HoursForm,
    NameForm,
    NewTokenForm,
    NewUserForm,
    PasswordForm,
    SavedReplyForm,
    TagForm,
)
from admin_app.security import (
    hash_api_token,
    hash_password,
    new_api_token,
    new_password,
    verify_password,
)
from admin_app.web import admin_pages
from services.errors import Conflict, InvalidInput, NotFound
from services.models import NewSavedReply, clean_account_name, normalize_tag

bp = admin_pages(Blueprint("settings", __name__, url_prefix="/settings"))


def admin_only(view):
    @wraps(view)
    @page_login_required
    def wrapped(*args, **kwargs):
        if current_user().role != "admin":
            abort(403, "Only admins can manage accounts, API tokens, saved replies and tags.")
        return view(*args, **kwargs)

    return wrapped


def _account_choices(users) -> list[SelectChoice]:
    return [SelectChoice(str(u.id), u.email) for u in users]


def _render(status: int = 200, *, secret: dict | None = None, editing: int | None = None,
            renaming: str | None = None, **forms):
    """The page; ``editing``: the saved reply whose form (``edit_form``) is shown open;
    ``renaming``: the tag whose rename form (``tag_form``) is."""
    user = current_user()
    store = get_services().store
    services = get_services()
    now = services.clock()
    hours = services.hours()
    hours_setting = services.hours.setting()
    context = {
        "hours": hours,
        "hours_status": hours.status(now) if hours else None,
        "days_off": hours.days_off(now)[:10] if hours else [],
        "away_text": hours.away_text(services.hours.away_message(), now) if hours else "",
        "handoff_message": services.hours.handoff_message(),
        "retention_days": services.settings.retention_days,
        "auto_assign_max_open": services.settings.auto_assign_max_open,
        "auto_assign_online_only": services.settings.auto_assign_online_only,
        "offline_after": services.settings.offline_after_seconds,
        "idle_after": services.settings.idle_after_seconds,
        # Messenger shows the account's name too (a persona): MESSENGER_PERSONA_PICTURE_URL.
        "messenger_personas": services.settings.messenger_persona_picture_url is not None,
        "page": "settings",
        "user": user,
        "secret": secret,
        "password_form": forms.get("password_form") or PasswordForm(formdata=None),
        "name_form": forms.get("name_form") or NameForm(
            formdata=None, data={"display_name": user.display_name or ""}),
        "action_form": ActionForm(formdata=None),
    }
    if user.role == "admin":
        users = store.list_users()
        token_form = forms.get("token_form") or NewTokenForm(formdata=None)
        token_form.user_id.choices = _account_choices(u for u in users if not u.disabled)
        context.update(
            hours_setting=hours_setting,
            hours_form=forms.get("hours_form") or _hours_form(services),
            users=users,
            # Online: a page open within OFFLINE_AFTER_SECONDS; this one is open now.
            online={u.id for u in users if services.tracker.is_online(u, now)} | {user.id},
            emails={u.id: u.email for u in users},
            tokens=store.list_api_tokens(),
            user_form=forms.get("user_form") or NewUserForm(formdata=None),
            token_form=token_form,
            saved_replies=store.list_saved_replies(),
            saved_reply_form=forms.get("saved_reply_form") or SavedReplyForm(formdata=None),
            editing=editing,
            edit_form=forms.get("edit_form"),
            tags=get_services().tracker.tags(),
            renaming=renaming,
            tag_form=forms.get("tag_form"),
        )
    return render_template("settings.html", **context), status


@bp.get("")
@page_login_required
def index():
    return _render()


@bp.post("/password")
@page_login_required
def change_password():
    form = PasswordForm()
    user = current_user()
    if not form.validate_on_submit():
        return _render(400, password_form=form)
    if not verify_password(user.password_hash, form.current_password.data):
        form.current_password.errors = ["This is not your current password."]
        return _render(400, password_form=form)
    get_services().store.set_user_password(user.id, hash_password(form.new_password.data))
    # The session id embeds a digest of the password hash: sign this browser in again.
    login_user(SessionUser(get_services().store.get_user(user.id)))
    flash("Your password was changed. Other sessions of your account are signed out.")
    return redirect(url_for("settings.index"))


@bp.post("/name")
@page_login_required
def set_name():
    """The account's name for the people it answers (blank: none)."""
    form = NameForm()
    if form.validate_on_submit():
        try:
            name = clean_account_name(form.display_name.data)
        except ValueError as exc:
            form.display_name.errors = [f"{str(exc)[0].upper()}{str(exc)[1:]}."]
        else:
            get_services().store.set_user_name(current_user().id, name)
            flash(f"People you answer now see “{name}”." if name
                  else "People you answer now see “Team”.")
            return redirect(url_for("settings.index"))
    return _render(400, name_form=form)


@bp.post("/users")
@admin_only
def create_user():
    form = NewUserForm()
    if not form.validate_on_submit():
        return _render(400, user_form=form)
    services = get_services()
    password = new_password()
    try:
        made = services.store.create_user(
            form.email.data.strip(), form.role.data, hash_password(password), services.clock()
        )
    except Conflict:
        form.email.errors = ["An account with this e-mail exists already."]
        return _render(409, user_form=form)
    current_app.logger.info("%s created %s %s", current_user().email, made.role, made.email)
    return _render(secret={"what": f"One-time password for {made.email}", "value": password})


@bp.post("/users/<int:user_id>/reset-password")
@admin_only
def reset_password(user_id: int):
    form = ActionForm()
    store = get_services().store
    target = store.get_user(user_id)
    if not form.validate_on_submit() or target is None:
        abort(404)
    password = new_password()
    store.set_user_password(user_id, hash_password(password))
    return _render(secret={"what": f"New password for {target.email}", "value": password})


@bp.post("/users/<int:user_id>/<any(disable, enable):action>")
@admin_only
def set_disabled(user_id: int, action: str):
    ActionForm().validate_on_submit()
    if user_id == current_user().id:
        flash("You cannot disable your own account.")
        return redirect(url_for("settings.index"))
    services = get_services()
    try:
        services.store.set_user_disabled(user_id, action == "disable")
    except NotFound:
        abort(404)
    said = f"Account {action}d."
    if action == "disable":
        # A disabled account answers nobody: what it had open goes back to the team.
        released, handed = services.tracker.release(user_id, by=current_user())
        if released:
            said = f"Account disabled; {_gone_back(f'its {_conversations(len(released))}', handed)}."
    flash(said)
    return redirect(url_for("settings.index"))


def _gone_back(what: str, handed: int) -> str:
    """"<what> went back to the team", and what auto-assignment did with them."""
    said = f"{what} went back to the team"
    if get_services().settings.auto_assign:
        said += (f"; {handed} handed to other accounts" if handed
                 else "; none was handed out: nobody else can take one now")
    return said


@bp.post("/users/<int:user_id>/release")
@admin_only
def release_conversations(user_id: int):
    """Give the account's open conversations back to the team (``tracker.release``)."""
    ActionForm().validate_on_submit()
    services = get_services()
    try:
        released, handed = services.tracker.release(user_id, by=current_user())
    except NotFound:
        abort(404)
    email = services.store.get_user(user_id).email
    if not released:
        flash(f"{email} has no open conversation.")
    else:
        flash(_gone_back(f"{_conversations(len(released))} of {email}", handed) + ".")
    return redirect(url_for("settings.index"))


def _hours_form(services) -> HoursForm:
    """The form as the hours in force were set: on this page, else in the environment."""
    form = HoursForm(formdata=None)
    spec = services.hours.spec()
    form.schedule.data = spec.schedule
    form.timezone.data = spec.timezone
    form.closed_dates.data = "\n".join(d.isoformat() for d in sorted(spec.closed_dates))
    form.away_message.data = spec.away_message
    form.handoff_message.data = spec.handoff_message
    return form


@bp.post("/hours")
@admin_only
def save_hours():
    """The business hours in force from now on, for every process (``TeamHours``)."""
    form = HoursForm()
    if not form.validate_on_submit():
        return _render(400, hours_form=form)
    services = get_services()
    hours = services.hours.save(form.schedule.data, form.timezone.data, form.dates(),
                                current_user().id, services.clock(),
                                away_message=form.away_message.data,
                                handoff_message=form.handoff_message.data)
    current_app.logger.info("%s set the business hours: %r in %s, %d days off",
                            current_user().email, form.schedule.data, form.timezone.data,
                            len(form.dates()))
    flash("Business hours saved." if hours else
          "Business hours saved: always open.")
    return redirect(url_for("settings.index", _anchor="business-hours"))


@bp.post("/hours/reset")
@admin_only
def reset_hours():
    """Forget the hours set here: the server's environment's are in force again."""
    ActionForm().validate_on_submit()
    services = get_services()
    if services.hours.reset(services.clock()):
        current_app.logger.info("%s reset the business hours to the environment's",
                                current_user().email)
        flash("Business hours reset to the server's settings.")
    return redirect(url_for("settings.index", _anchor="business-hours"))


@bp.post("/tokens")
@admin_only
def create_token():
    form = NewTokenForm()
    form.user_id.choices = _account_choices(get_services().store.list_users())
    if not form.validate_on_submit():
        return _render(400, token_form=form)
    services = get_services()
    owner = services.store.get_user(form.user_id.data)
    token = new_api_token()
    services.store.create_api_token(
        owner.id, form.name.data.strip(), hash_api_token(token), services.clock()
    )
    return _render(secret={"what": f"API token for {owner.email}", "value": token})


@bp.post("/tokens/<int:token_id>/revoke")
@admin_only
def revoke_token(token_id: int):
    ActionForm().validate_on_submit()
    services = get_services()
    try:
        services.store.revoke_api_token(token_id, services.clock())
    except NotFound:
        abort(404)
    flash("Token revoked.")
    return redirect(url_for("settings.index"))


@bp.post("/saved-replies")
@admin_only
def create_saved_reply():
    form = SavedReplyForm()
    if not form.validate_on_submit():
        return _render(400, saved_reply_form=form)
    services = get_services()
    try:
        services.store.create_saved_reply(_saved_reply(form), current_user().id, services.clock())
    except (Conflict, InvalidInput) as exc:
        form.title.errors = [_why(exc)]
        return _render(409 if isinstance(exc, Conflict) else 400, saved_reply_form=form)
    flash(f"Saved reply \u201c{form.title.data}\u201d added.")
    return redirect(url_for("settings.index", _anchor="saved-replies"))


@bp.post("/saved-replies/<int:reply_id>")
@admin_only
def update_saved_reply(reply_id: int):
    form = SavedReplyForm()
    if not form.validate_on_submit():
        return _render(400, editing=reply_id, edit_form=form)
    services = get_services()
    try:
        services.store.update_saved_reply(reply_id, _saved_reply(form), services.clock())
    except NotFound:
        abort(404)
    except Conflict as exc:
        form.title.errors = [_why(exc)]
        return _render(409, editing=reply_id, edit_form=form)
    flash(f"Saved reply \u201c{form.title.data}\u201d changed.")
    return redirect(url_for("settings.index", _anchor="saved-replies"))


@bp.post("/saved-replies/<int:reply_id>/delete")
@admin_only
def delete_saved_reply(reply_id: int):
    ActionForm().validate_on_submit()
    try:
        get_services().store.delete_saved_reply(reply_id)
    except NotFound:
        abort(404)
    flash("Saved reply deleted.")
    return redirect(url_for("settings.index", _anchor="saved-replies"))


@bp.post("/tags/rename")
@admin_only
def rename_tag():
    """Rename a tag on every conversation that has it (merging it into another when the
    new name is one)."""
    form = TagForm()
    if not form.validate_on_submit() or not (form.tag.data or "").strip():
        if not form.tag.errors:
            form.tag.errors = ["Enter the new name."]
        return _render(400, renaming=form.old.data, tag_form=form)
    try:
        changed = get_services().tracker.rename_tag(form.old.data, form.tag.data,
                                                    by=current_user())
    except InvalidInput as exc:
        form.tag.errors = [f"{str(exc)[:1].upper()}{str(exc)[1:]}."]
        return _render(400, renaming=form.old.data, tag_form=form)
    except NotFound:
        flash(f"No conversation has the tag \u201c{form.old.data}\u201d any more.")
        return redirect(url_for("settings.index", _anchor="tags"))
    flash(f"Tag \u201c{form.old.data}\u201d renamed to \u201c{normalize_tag(form.tag.data)}\u201d"
          f" on {_conversations(changed)}.")
    return redirect(url_for("settings.index", _anchor="tags"))


@bp.post("/tags/delete")
@admin_only
def delete_tag():
    """Take a tag off every conversation."""
    form = TagForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        changed = get_services().tracker.delete_tag(form.old.data, by=current_user())
    except InvalidInput:
        abort(400)
    except NotFound:
        flash(f"No conversation has the tag \u201c{form.old.data}\u201d any more.")
        return redirect(url_for("settings.index", _anchor="tags"))
    flash(f"Tag \u201c{form.old.data}\u201d taken off {_conversations(changed)}.")
    return redirect(url_for("settings.index", _anchor="tags"))


def _conversations(n: int) -> str:
    return f"{n} conversation" + ("" if n == 1 else "s")


def _saved_reply(form: SavedReplyForm) -> NewSavedReply:
    return NewSavedReply(title=form.title.data, body=form.body.data)


def _why(exc: Conflict | InvalidInput) -> str:
    if isinstance(exc, Conflict):
        return "Another saved reply has this title."
    return f"{str(exc).capitalize()}: delete one first."

"""The admin panel's HTML forms (Flask-WTF: each carries and checks the CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from services.models import SAVED_REPLY_BODY_MAX, SAVED_REPLY_TITLE_MAX, TAG_MAX_LENGTH

EMAIL = Regexp(r"^[^@\s]+@[^@\s]+$", message="Enter an e-mail address.")
ROLES = [SelectChoice("agent", "Agent"), SelectChoice("admin", "Admin")]


class LoginForm(FlaskForm):
    email = StringField("E-mail", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField(
        "New password", validators=[DataRequired(), Length(min=8, max=1024)]
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("new_password", message="The passwords differ.")],
    )


class NewUserForm(FlaskForm):
    email = StringField("E-mail", validators=[DataRequired(), Length(max=254), EMAIL])
    role = SelectField("Role", choices=ROLES, default="agent")


class NewTokenForm(FlaskForm):
    user_id = SelectField("Account", coerce=int)
    name = StringField(
        "What it is for", validators=[DataRequired(), Length(max=100)], default="api"
    )


class SavedReplyForm(FlaskForm):
    """A saved reply (both fields trimmed; DataRequired refuses one that is only spaces)."""

    title = StringField("Title", validators=[DataRequired(), Length(max=SAVED_REPLY_TITLE_MAX)],
                        filters=[lambda v: v.strip() if isinstance(v, str) else v])
    body = TextAreaField("Text", validators=[DataRequired(), Length(max=SAVED_REPLY_BODY_MAX)],
                         filters=[lambda v: v.strip() if isinstance(v, str) else v])


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class TagForm(FlaskForm):
    """A tag of the team's (hidden: the one the row is about) and, to rename it, its new
    name as typed (the tracker normalises and checks both)."""

    old = HiddenField(validators=[DataRequired(), Length(max=4 * TAG_MAX_LENGTH)])
    tag = StringField("New name", validators=[Length(max=4 * TAG_MAX_LENGTH)])

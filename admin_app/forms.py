"""The admin panel's HTML forms (Flask-WTF: each carries and checks the CSRF token)."""

from __future__ import annotations

import re
from zoneinfo import available_timezones

from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    EqualTo,
    Length,
    Optional,
    Regexp,
    ValidationError,
)

from services.business_hours import parse_dates, parse_week
from services.models import (
    AWAY_MESSAGE_MAX,
    HOURS_SCHEDULE_MAX,
    MAX_CLOSED_DATES,
    SAVED_REPLY_BODY_MAX,
    SAVED_REPLY_TITLE_MAX,
    TAG_MAX_LENGTH,
)

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


class NameForm(FlaskForm):
    display_name = StringField("Your name for the people you answer",
                               validators=[Optional(), Length(max=200)])


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


# The IANA zones this machine knows, for the business hours' time zone (UTC first).
ZONES = ["UTC", *sorted(z for z in available_timezones() if z != "UTC")]


class HoursForm(FlaskForm):
    """The business hours, in the syntax of ``BUSINESS_HOURS`` (blank: always open), the
    days off, one ISO date a line (or comma-separated), and what a person handed to the team
    is told within them (``HANDOFF_MESSAGE``; blank: nothing) and outside them
    (``AWAY_MESSAGE``; blank: the first at any hour)."""

    schedule = TextAreaField("Weekly hours", validators=[Length(max=HOURS_SCHEDULE_MAX)],
                             filters=[lambda v: v.strip() if isinstance(v, str) else v])
    timezone = SelectField("Time zone", choices=ZONES, default="UTC")
    closed_dates = TextAreaField("Days off", validators=[Length(max=20 * MAX_CLOSED_DATES)])
    handoff_message = TextAreaField("Within the hours, a person handed to the team is told",
                                    validators=[Length(max=AWAY_MESSAGE_MAX)],
                                    filters=[lambda v: v.strip() if isinstance(v, str) else v])
    away_message = TextAreaField("Outside the hours, a person handed to the team is told",
                                 validators=[Length(max=AWAY_MESSAGE_MAX)],
                                 filters=[lambda v: v.strip() if isinstance(v, str) else v])

    def validate(self, extra_validators=None) -> bool:
        # Each field must be sent, blank or not: a request missing one (not this page's
        # form) must not make the team always open, or drop its days off.
        valid = super().validate(extra_validators)
        for field in (self.schedule, self.timezone, self.closed_dates, self.handoff_message,
                      self.away_message):
            if not field.raw_data:
                field.errors = [*field.errors, "Missing from the request."]
                valid = False
        return valid

    def validate_schedule(self, field) -> None:
        if field.data:
            try:
                parse_week(field.data)
            except ValueError as exc:
                said = str(exc)
                if said.startswith(("has ", "is ", "must ")):
                    said = f"This schedule {said}"
                raise ValidationError(said[:1].upper() + said[1:] + ".") from None

    def validate_closed_dates(self, field) -> None:
        try:
            dates = self.dates()
        except ValueError as exc:
            raise ValidationError(f"{exc}.") from None
        if len(dates) > MAX_CLOSED_DATES:
            raise ValidationError(f"At most {MAX_CLOSED_DATES} days off.")

    def dates(self) -> list:
        """The days off typed, in order, each once; ``ValueError`` for one that is no date."""
        items = [d for d in re.split(r"[\s,;]+", self.closed_dates.data or "") if d]
        return sorted(set(parse_dates(items)))


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class TagForm(FlaskForm):
    """A tag of the team's (hidden: the one the row is about) and, to rename it, its new
    name as typed (the tracker normalises and checks both)."""

    old = HiddenField(validators=[DataRequired(), Length(max=4 * TAG_MAX_LENGTH)])
    tag = StringField("New name", validators=[Length(max=4 * TAG_MAX_LENGTH)])

"""The team's business hours on the ``/admin`` API: every account reads the hours in force,
admins set them (over the server's settings) or go back to the server's."""

from __future__ import annotations

from admin_app import get_services
from admin_app.api import _body, bp
from admin_app.auth import admin_required, current_user, login_required
from admin_app.schemas import HoursAnswer, HoursBody, respond


def _answer() -> HoursAnswer:
    services = get_services()
    hours, spec = services.hours(), services.hours.spec()
    setting = spec.setting
    return HoursAnswer(
        source="settings" if setting is not None else "environment",
        schedule=spec.schedule, timezone=spec.timezone, closed_dates=spec.closed_dates,
        away_message=spec.away_message, handoff_message=spec.handoff_message,
        status=hours.status(services.clock()) if hours else None,
        updated_by=setting.updated_by if setting else None,
        updated_at=setting.updated_at if setting else None,
    )


@bp.get("/hours")
@login_required
def get_hours():
    """The business hours in force, and where they come from."""
    return respond(_answer())


@bp.put("/hours")
@admin_required
def set_hours():
    """New business hours for every process, over the server's settings (400 with the
    reason for hours that cannot be used; nothing changes then)."""
    body = _body(HoursBody)
    services = get_services()
    services.hours.save(body.schedule, body.timezone, body.dates(), current_user().id,
                        services.clock(), away_message=body.away_message,
                        handoff_message=body.handoff_message)
    return respond(_answer())


@bp.delete("/hours")
@admin_required
def reset_hours():
    """Forget the hours set here: the server's settings are in force again."""
    services = get_services()
    services.hours.reset(services.clock())
    return respond(_answer())

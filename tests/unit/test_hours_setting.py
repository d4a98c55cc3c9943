"""Business hours set on Settings: admins change them without a restart, over the
environment's; every process reads them again within BUSINESS_HOURS_REFRESH_SECONDS; a store
that cannot be read leaves the last known ones in force."""

from __future__ import annotations

import html
import re
from datetime import date

import pytest

from services.business_hours import BusinessHours, TeamHours
from services.errors import StoreUnavailable
from tests.support.admin import login, make_user, session_csrf


def _post(client, path, **data):
    return client.post(path, data={"csrf_token": session_csrf(client), **data})


def _page(client) -> str:
    return html.unescape(client.get("/settings").get_data(as_text=True))


def test_an_admin_sets_the_hours_and_they_are_in_force_at_once(client, services, clock):
    make_user(services, "boss@example.com", "admin")
    login(client, "boss@example.com")
    events = []
    services.events.subscribe(events.append)
    page = _page(client)
    assert 'id="hours-always"' in page and 'id="hours-form"' in page
    assert "From the server's settings" in page and 'id="hours-reset"' not in page

    # Wednesday 25 November 2026, 12:00 UTC is 13:00 in Paris.
    saved = _post(client, "/settings/hours", schedule="mon-fri 09:00-12:00; sat 10:00-14:00",
                  timezone="Europe/Paris", closed_dates="2026-12-25\n2026-12-24, 2026-12-25",
                  away_message="Closed now; back {next_open}.",
                  handoff_message="Someone will be with you.")
    assert saved.status_code == 302 and saved.location.endswith("/settings#business-hours")
    page = _page(client)
    assert "Business hours saved." in page
    assert re.search(r'id="hours-now"><span class="status-badge status-closed">Away now</span>'
                     r' back tomorrow at 09:00 CET', page)
    assert "In Europe/Paris" in page and "Days off: Thu 24 Dec 2026, Fri 25 Dec 2026" in page
    assert re.search(r"Set on this page by boss@example.com, <time[^>]*>2026-11-25 12:00</time>",
                     page)
    # The form shows what is in force, ready to change.
    assert re.search(r'<textarea[^>]*name="schedule"[^>]*>\s*mon-fri 09:00-12:00; sat '
                     r'10:00-14:00</textarea>', page)
    assert re.search(r'<option selected value="Europe/Paris">', page)
    assert re.search(r'name="closed_dates"[^>]*>\s*2026-12-24\n2026-12-25</textarea>', page)
    assert re.search(r'name="away_message"[^>]*>\s*Closed now; back \{next_open\}.</textarea>',
                     page)
    assert '<span id="away-text">Closed now; back tomorrow at 09:00 CET.</span>' in page
    assert "Within them, a person handed to the team is told: “Someone will be with you.”" in page
    assert services.hours.handoff_message() == "Someone will be with you."

    # Every open page and widget is told (hours.changed), with the status now.
    said = [e.data for e in events if e.name == "hours.changed"]
    assert said == [{"hours": services.hours().status(clock())}]
    assert said[0]["hours"]["open"] is False and said[0]["hours"]["timezone"] == "Europe/Paris"
    # The bot's handover outside them says when the team is back (in force at once).
    hours = services.hours()
    assert hours is not None and not hours.is_open(clock())
    stored = services.store.get_hours_setting()
    assert (stored.schedule, stored.timezone, stored.closed_dates) == (
        "mon-fri 09:00-12:00; sat 10:00-14:00", "Europe/Paris",
        [date(2026, 12, 24), date(2026, 12, 25)])

    # Blank: always open, whatever the environment says.
    assert _post(client, "/settings/hours", schedule="  ", timezone="UTC",
                 closed_dates="", away_message="", handoff_message="").status_code == 302
    assert "Business hours saved: always open." in _page(client)
    assert services.hours() is None
    assert [e.data for e in events if e.name == "hours.changed"][-1] == {"hours": None}
    assert services.hours.away_message() == ""  # blank: the handoff message at any hour
    assert services.hours.handoff_message() == ""  # blank: nothing said

    # Back to the server's settings.
    assert _post(client, "/settings/hours/reset").status_code == 302
    page = _page(client)
    assert "Business hours reset to the server's settings." in page
    assert "From the server's settings" in page and services.store.get_hours_setting() is None
    assert services.hours.away_message() == services.settings.away_message
    assert services.hours.handoff_message() == services.settings.handoff_message
    assert len([e for e in events if e.name == "hours.changed"]) == 3
    # Nothing to forget: nothing said.
    _post(client, "/settings/hours/reset")
    assert len([e for e in events if e.name == "hours.changed"]) == 3


@pytest.mark.parametrize("schedule, timezone, closed, said", [
    ("mon-fri 9-5", "UTC", "", "'9-5' is not a range of hours like 09:00-18:00."),
    ("mon 09:00-12:00; mon 13:00-14:00", "UTC", "", "Mon is given twice."),
    ("mon closed", "UTC", "", "This schedule has no open hours"),
    ("mon 18:00-09:00", "UTC", "", "ends before it starts"),
    ("mon 09:00-18:00", "Mars/Olympus", "", "Not a valid choice."),
    ("mon 09:00-18:00", "UTC", "2026-12-25\nchristmas", "'christmas' is not a date like "
     "2026-12-25."),
    ("mon 09:00-18:00", "UTC", "2026-02-30", "'2026-02-30' is not a date"),
])
def test_hours_that_cannot_be_used_are_refused_with_the_reason(client, services, schedule,
                                                                timezone, closed, said):
    make_user(services, "boss@example.com", "admin")
    login(client, "boss@example.com")
    answer = client.post("/settings/hours", data={
        "csrf_token": session_csrf(client), "schedule": schedule, "timezone": timezone,
        "closed_dates": closed, "away_message": "Away.", "handoff_message": "Hi."})
    page = html.unescape(answer.get_data(as_text=True))
    assert answer.status_code == 400
    assert said in page
    assert re.search(r'<details class="hours-edit" id="hours-edit" open>', page)
    assert schedule in page  # what was typed stays, to correct
    assert services.store.get_hours_setting() is None and services.hours() is None


def test_agents_see_the_hours_but_cannot_change_them(client, services):
    make_user(services)
    login(client, "agent@example.com")
    page = _page(client)
    assert 'id="hours-source"' in page and 'id="hours-form"' not in page
    for path in ("/settings/hours", "/settings/hours/reset"):
        assert _post(client, path, schedule="mon 09:00-10:00", timezone="UTC",
                     closed_dates="", away_message="",
                     handoff_message="").status_code == 403, path
    assert services.store.get_hours_setting() is None


class _Store:
    """A store whose hours setting may be read or not (the rest is not needed here)."""

    def __init__(self, setting=None):
        self.setting, self.down, self.reads = setting, False, 0

    def get_hours_setting(self):
        self.reads += 1
        if self.down:
            raise StoreUnavailable("down")
        return self.setting


def test_each_process_reads_the_hours_again_after_the_refresh_and_keeps_them_when_down(
        services, clock):
    from services.models import HoursSetting

    now = [0.0]
    default = BusinessHours.parse("mon-fri 09:00-18:00")
    store = _Store()
    hours = TeamHours(store, default, refresh=10, monotonic=lambda: now[0])
    assert hours() is default and store.reads == 1
    assert hours() is default and store.reads == 1  # within the refresh: no read
    # Another process sets hours: this one has them after the refresh.
    store.setting = HoursSetting(schedule="sat 10:00-14:00", timezone="Europe/Paris",
                                 updated_at=clock())
    now[0] = 9.9
    assert hours() is default
    now[0] = 10.0
    assert hours().week[5] == ((600, 840),) and hours().zone.key == "Europe/Paris"
    assert store.reads == 2 and hours.setting() is store.setting
    # The store goes down: the last known stay, and it is not asked again at once.
    store.down = True
    now[0] = 20.0
    assert hours().zone.key == "Europe/Paris" and store.reads == 3
    assert hours().zone.key == "Europe/Paris" and store.reads == 3
    # Back up, the setting gone: the environment's again.
    store.down, store.setting = False, None
    now[0] = 30.0
    assert hours() is default and hours.setting() is None


def test_a_request_missing_a_field_changes_nothing(client, services):
    make_user(services, "boss@example.com", "admin")
    login(client, "boss@example.com")
    _post(client, "/settings/hours", schedule="mon 09:00-10:00", timezone="UTC",
          closed_dates="2026-12-25", away_message="Away.", handoff_message="Hi.")
    for missing in ("schedule", "timezone", "closed_dates", "away_message", "handoff_message"):
        data = {"schedule": "", "timezone": "UTC", "closed_dates": "", "away_message": "",
                "handoff_message": ""}
        del data[missing]
        answer = _post(client, "/settings/hours", **data)
        assert answer.status_code == 400, missing
        assert "Missing from the request." in answer.get_data(as_text=True)
    kept = services.store.get_hours_setting()
    assert (kept.schedule, kept.closed_dates, kept.away_message, kept.handoff_message) == (
        "mon 09:00-10:00", [date(2026, 12, 25)], "Away.", "Hi.")

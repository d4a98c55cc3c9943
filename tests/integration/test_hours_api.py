"""The business hours through the admin API, over both stores: everyone reads the hours in
force and where they come from, admins set them or go back to the server's, and hours that
cannot be used get the reason and change nothing."""

from __future__ import annotations

import pytest

URL = "/admin/hours"
WEEK = {"schedule": "mon-fri 09:00-12:00; sat 10:00-14:00", "timezone": "Europe/Paris",
        "closed_dates": ["2026-12-25", "2026-12-24", "2026-12-25"]}


def test_admins_set_the_hours_everyone_reads_them(client, services, clock, make_token):
    admin = make_token("boss@example.com", role="admin")
    agent = make_token("ann@example.com")
    first = client.get(URL, headers=agent)
    assert first.status_code == 200
    assert first.get_json() == {
        "success": True, "source": "environment", "schedule": "", "timezone": "UTC",
        "closed_dates": [], "away_message": services.settings.away_message,
        "handoff_message": services.settings.handoff_message, "status": None,
        "updated_by": None, "updated_at": None}

    # Agents may not change them.
    assert client.put(URL, json=WEEK, headers=agent).status_code == 403
    assert client.delete(URL, headers=agent).status_code == 403

    # Wednesday 25 November 2026, 13:00 in Paris: closed by these hours until tomorrow.
    put = client.put(URL, json=WEEK, headers=admin)
    assert put.status_code == 200, put.get_json()
    body = put.get_json()
    boss = services.store.get_user_by_email("boss@example.com")
    assert (body["source"], body["schedule"], body["timezone"], body["closed_dates"],
            body["updated_by"]) == ("settings", WEEK["schedule"], "Europe/Paris",
                                    ["2026-12-24", "2026-12-25"], boss.id)
    assert body["status"]["open"] is False
    assert body["status"]["next_open_text"] == "tomorrow at 09:00 CET"
    assert body["away_message"] == services.settings.away_message  # absent: the server's
    assert client.get(URL, headers=agent).get_json() == body
    assert services.hours().zone.key == "Europe/Paris"  # in force at once
    assert client.get("/chat/hours").get_json()["hours"] == body["status"]

    # A text of the team's own, then none (the handoff message at any hour).
    own = client.put(URL, json={**WEEK, "away_message": "Back {next_open}."}, headers=admin)
    assert own.get_json()["away_message"] == "Back {next_open}."
    assert services.hours.away_message() == "Back {next_open}."
    assert client.put(URL, json={**WEEK, "away_message": ""},
                      headers=admin).get_json()["away_message"] == ""
    said = client.put(URL, json={**WEEK, "handoff_message": "Someone will answer."},
                      headers=admin).get_json()
    assert (said["handoff_message"], said["away_message"]) == (
        "Someone will answer.", services.settings.away_message)  # absent: the server's
    assert services.hours.handoff_message() == "Someone will answer."

    # Back to the server's.
    back = client.delete(URL, headers=admin)
    assert back.status_code == 200
    assert back.get_json()["source"] == "environment" and back.get_json()["status"] is None
    assert services.store.get_hours_setting() is None


@pytest.mark.parametrize("body, said", [
    ({**WEEK, "schedule": "mon-fri 9-5"}, "schedule: '9-5' is not a range of hours"),
    ({**WEEK, "timezone": "Mars/Olympus"}, "timezone: 'Mars/Olympus' is not a time zone"),
    ({**WEEK, "closed_dates": ["2026-02-30"]}, "closed_dates: "),
    ({**WEEK, "closed_dates": ["25/12/2026"]}, "closed_dates"),
    ({**WEEK, "closed_dates": "2026-12-25"}, "closed_dates"),
    ({"schedule": "", "timezone": "UTC"}, "closed_dates"),  # missing: not "none"
    ({"timezone": "UTC", "closed_dates": []}, "schedule"),  # missing: not "always open"
    ({**WEEK, "schedule": 5}, "schedule"),
    ({**WEEK, "schedule": "mon closed"}, "schedule: has no open hours"),
    ({**WEEK, "away_message": "x" * 1001}, "away_message"),
    ({**WEEK, "away_message": 3}, "away_message"),
    ({**WEEK, "handoff_message": "x" * 1001}, "handoff_message"),
])
def test_hours_that_cannot_be_used_change_nothing(client, services, make_token, body, said):
    admin = make_token("boss@example.com", role="admin")
    assert client.put(URL, json=WEEK, headers=admin).status_code == 200
    before = services.store.get_hours_setting()
    answer = client.put(URL, json=body, headers=admin)
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["success"] is False and said in answer.get_json()["error"]
    assert services.store.get_hours_setting() == before

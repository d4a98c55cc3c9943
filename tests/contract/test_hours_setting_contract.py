"""Contract: the business hours set on Settings, on both stores -- one setting for the team,
replaced whole, kept as given, forgotten on request."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from services.errors import NotFound
from services.models import (
    AWAY_MESSAGE_MAX,
    HOURS_SCHEDULE_MAX,
    MAX_CLOSED_DATES,
    NewHoursSetting,
)
from tests.contract.helpers import MISSING_ID


def test_none_until_set_then_replaced_whole_and_forgotten(store, clock):
    assert store.get_hours_setting() is None
    assert store.clear_hours_setting() is False
    boss = store.create_user("boss@example.com", "admin", "hash", clock())
    first = store.set_hours_setting(NewHoursSetting(
        schedule="mon-fri 09:00-18:00", timezone="Europe/Paris",
        closed_dates=[date(2026, 12, 25), date(2026, 12, 24), date(2026, 12, 25)],
        away_message=" Closed for the holidays; back {next_open}. ",
        handoff_message="Someone will answer."), boss.id, clock())
    assert (first.schedule, first.timezone, first.closed_dates, first.away_message,
            first.handoff_message, first.updated_by, first.updated_at) == (
        "mon-fri 09:00-18:00", "Europe/Paris", [date(2026, 12, 24), date(2026, 12, 25)],
        "Closed for the holidays; back {next_open}.", "Someone will answer.", boss.id,
        clock())
    assert store.get_hours_setting() == first

    # Replaced whole: no days off now, always open (a blank schedule), set by nobody.
    later = clock.advance(minutes=5)
    second = store.set_hours_setting(NewHoursSetting(schedule="  ", timezone="UTC"),
                                     None, later)
    assert (second.schedule, second.timezone, second.closed_dates, second.away_message,
            second.handoff_message, second.updated_by, second.updated_at) == (
        "", "UTC", [], None, None, None, later)
    assert store.get_hours_setting() == second

    assert store.clear_hours_setting() is True
    assert store.get_hours_setting() is None


def test_an_unknown_account_stores_nothing(store, clock):
    with pytest.raises(NotFound):
        store.set_hours_setting(NewHoursSetting(schedule="mon 09:00-10:00", timezone="UTC"),
                                MISSING_ID, clock())
    assert store.get_hours_setting() is None


def test_a_setting_past_its_limits_is_refused_before_the_store():
    with pytest.raises(ValidationError):
        NewHoursSetting(schedule="x" * (HOURS_SCHEDULE_MAX + 1), timezone="UTC")
    with pytest.raises(ValidationError):
        NewHoursSetting(schedule="", timezone="")
    with pytest.raises(ValidationError):
        NewHoursSetting(schedule="", timezone="UTC",
                        closed_dates=[date(2026, 1, 1)] * (MAX_CLOSED_DATES + 1))
    with pytest.raises(ValidationError):
        NewHoursSetting(schedule="", timezone="UTC", away_message="x" * (AWAY_MESSAGE_MAX + 1))

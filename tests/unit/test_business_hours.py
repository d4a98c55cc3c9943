"""Business hours: the schedule's two spellings, its errors, clock changes, days off, and
how the next opening is told to a person."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from services.business_hours import BusinessHours, parse_week
from services.settings import SettingsError, load_settings

UTC = timezone.utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def paris(spec="mon-fri 09:00-18:00; sat 10:00-14:00", closed=()):
    return BusinessHours.parse(spec, "Europe/Paris", list(closed))


def test_the_compact_and_the_json_spellings_are_the_same_week():
    compact = parse_week("mon-fri 09:00-12:00, 13:00-17:30; sat 10:00-14:00")
    as_json = parse_week('{"monday-friday": ["13:00-17:30", "09:00-12:00"], '
                         '"Sat": "10:00-14:00", "sun": "closed"}')
    assert compact == as_json
    assert compact[0] == ((540, 720), (780, 1050))
    assert compact[5] == ((600, 840),) and compact[6] == ()


def test_a_day_range_may_wrap_past_sunday_and_24_00_ends_a_day():
    week = parse_week("fri-mon 20:00-24:00")
    assert [bool(day) for day in week] == [True, False, False, False, True, True, True]
    assert week[4] == ((1200, 1440),)


@pytest.mark.parametrize("spec, reason", [
    ("mon-fri 9-18", "'9-18' is not a range of hours"),
    ("mon-fri", "needs days then hours"),
    ("funday 09:00-10:00", "'funday' is not a day"),
    ("mon 22:00-02:00", "a range past midnight is two"),
    ("mon 09:00-25:00", "not a time of day"),
    ("mon 09:60-10:00", "not a time of day"),
    ("mon 09:00-12:00, 11:00-13:00", "mon's ranges overlap"),
    ("mon-fri 09:00-18:00; fri 10:00-11:00", "fri is given twice"),
    ("mon closed; tue closed", "has no open hours"),
    ('{"mon": 9}', "is not a range of hours"),
    ('{"mon": "09:00-10:00"', "is not valid JSON"),
    ('["mon"]', "must be an object of days and hours"),
])
def test_a_bad_schedule_says_what_is_wrong(spec, reason):
    with pytest.raises(ValueError, match=reason):
        parse_week(spec)


def test_open_and_closed_through_a_week():
    hours = paris()
    assert hours.is_open(at("2026-12-07T09:00:00+01:00"))  # Monday, the first minute
    assert not hours.is_open(at("2026-12-07T08:59:59+01:00"))
    assert not hours.is_open(at("2026-12-07T18:00:00+01:00"))  # the end is not open
    assert hours.is_open(at("2026-12-12T13:59:00+01:00"))  # Saturday
    assert not hours.is_open(at("2026-12-13T12:00:00+01:00"))  # Sunday


def test_the_next_opening_skips_closed_days_and_days_off():
    hours = paris(closed=[date(2026, 12, 25), date(2026, 12, 26)])
    # Thursday 24 December after 18:00: Friday and Saturday are off, Sunday closed.
    assert hours.next_open(at("2026-12-24T18:30:00+01:00")) == at("2026-12-28T09:00:00+01:00")
    now = at("2026-12-07T10:00:00+01:00")
    assert hours.next_open(now) == now  # open now


def test_opening_hours_follow_the_wall_clock_through_a_clock_change():
    hours = paris("mon-sun 09:00-18:00")
    # Paris goes to summer time on Sunday 29 March 2026: 09:00 is 08:00 UTC before, 07:00 after.
    assert hours.next_open(at("2026-03-28T20:00:00+00:00")) == at("2026-03-29T07:00:00+00:00")
    assert hours.next_open(at("2026-03-27T20:00:00+00:00")) == at("2026-03-28T08:00:00+00:00")
    # And back on Sunday 25 October 2026.
    assert hours.next_open(at("2026-10-24T20:00:00+00:00")) == at("2026-10-25T08:00:00+00:00")
    assert hours.describe(at("2026-03-29T07:00:00+00:00"),
                          at("2026-03-28T20:00:00+00:00")) == "tomorrow at 09:00 CEST"


def test_an_open_period_runs_on_across_midnight():
    hours = BusinessHours.parse("mon-sun 00:00-24:00", "UTC")
    start, end = hours.period_at(at("2026-12-07T00:00:30+00:00"))
    assert start <= at("2026-11-30T00:00:00+00:00") and end >= at("2026-12-08T00:00:00+00:00")
    night = BusinessHours.parse("fri 20:00-24:00; sat 00:00-02:00", "UTC")
    assert night.period_at(at("2026-12-05T01:00:00+00:00")) == (
        at("2026-12-04T20:00:00+00:00"), at("2026-12-05T02:00:00+00:00"))


@pytest.mark.parametrize("now, expected", [
    ("2026-12-07T07:00:00+01:00", "today at 09:00 CET"),
    ("2026-12-07T19:00:00+01:00", "tomorrow at 09:00 CET"),
    ("2026-12-12T15:00:00+01:00", "on Monday at 09:00 CET"),
    ("2026-12-23T19:00:00+01:00", "on 4 January at 09:00 CET"),
])
def test_the_next_opening_as_a_person_reads_it(now, expected):
    hours = paris("mon-fri 09:00-18:00", closed=[
        date(2026, 12, d) for d in range(24, 32)] + [date(2027, 1, 1)])
    assert hours.away_text("back {next_open}", at(now)) == f"back {expected}"


def test_the_status_a_page_shows():
    hours = paris()
    assert hours.status(at("2026-12-07T10:00:00+01:00")) == {
        "open": True, "closes_at": "2026-12-07T17:00:00+00:00", "next_open": None,
        "next_open_text": None, "timezone": "Europe/Paris"}
    assert hours.status(at("2026-12-07T19:00:00+01:00")) == {
        "open": False, "closes_at": None, "next_open": "2026-12-08T08:00:00+00:00",
        "next_open_text": "tomorrow at 09:00 CET", "timezone": "Europe/Paris"}


def test_with_no_opening_within_a_year_the_text_says_so_plainly():
    hours = BusinessHours.parse("mon 09:00-10:00", "UTC", [
        date(2026, 12, 7) + timedelta(weeks=w) for w in range(60)])
    now = at("2026-12-05T12:00:00+00:00")
    assert hours.next_open(now) is None
    assert hours.away_text("back {next_open}.", now) == "back as soon as we can."
    assert hours.status(now)["open"] is False


def test_unset_means_always_open():
    assert BusinessHours.parse("  ", "Europe/Paris") is None
    assert load_settings().hours is None


@pytest.mark.parametrize("setting, value, reason", [
    ("business_hours", "mon-fri 9-18", "BUSINESS_HOURS: .*'9-18' is not a range of hours"),
    ("business_timezone", "Mars/Olympus", "BUSINESS_TIMEZONE: .*not a time zone"),
    ("business_closed_dates", "2026-12-25, 25/12/2026", "BUSINESS_CLOSED_DATES: .*25/12/2026"),
])
def test_a_bad_setting_stops_start_up_naming_it(setting, value, reason):
    with pytest.raises(SettingsError, match=reason):
        load_settings(**{setting: value})


def test_the_settings_build_the_schedule(monkeypatch):
    monkeypatch.setenv("BUSINESS_HOURS", '{"mon-fri": "09:00-18:00"}')
    monkeypatch.setenv("BUSINESS_TIMEZONE", "America/New_York")
    monkeypatch.setenv("BUSINESS_CLOSED_DATES", '["2026-11-26"]')
    hours = load_settings().hours
    assert hours.zone.key == "America/New_York"
    # Thanksgiving (Thursday 26 November) is off: the team is back on Friday.
    assert hours.describe(hours.next_open(at("2026-11-25T19:00:00-05:00")),
                          at("2026-11-25T19:00:00-05:00")) == "on Friday at 09:00 EST"

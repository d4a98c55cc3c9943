"""Business hours: when the team answers, in the business's own time zone.

``BUSINESS_HOURS`` is a weekly schedule, either compact (``mon-fri 09:00-18:00; sat
10:00-14:00``) or a JSON object (``{"mon-fri": "09:00-18:00", "sat": ["10:00-14:00"]}``); a
day may have several ranges (``09:00-12:00, 13:00-17:30``), ``24:00`` ends a day, and a day
not named is closed. ``BUSINESS_CLOSED_DATES`` lists whole days off (holidays). Unset, the
team is always open and nothing changes.

Outside the hours, a conversation handed to a human tells the person when the team is back
(``AWAY_MESSAGE``) instead of "they'll answer shortly", and the handoff timeout ("sorry for
the wait") only counts time the team is open.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time as _time
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.errors import InvalidInput, StoreUnavailable
from services.models import HoursSetting, NewHoursSetting

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = {name: i for i, name in enumerate(DAYS)} | {
    full: i for i, full in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
}
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
log = logging.getLogger(__name__)
# How far ahead the next opening is looked for (a year of closed dates and a week).
_LOOKAHEAD_DAYS = 372
# How far back an open period is followed through days that join (24:00 then 00:00).
_LOOKBACK_DAYS = 8

Minutes = tuple[int, int]  # an open range of one day, in minutes since its midnight


def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValueError naming it when there is none."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not a time zone; use an IANA name such as Europe/Paris or UTC"
        ) from None


def _day(name: str) -> int:
    try:
        return _DAY_NAMES[name.strip().lower()]
    except KeyError:
        raise ValueError(f"{name.strip()!r} is not a day (mon, tue, … sun)") from None


def _days(key: str) -> list[int]:
    """``mon``, ``monday``, ``mon-fri`` or ``fri-mon`` (a range may wrap past Sunday)."""
    if "-" not in key:
        return [_day(key)]
    first, _, last = key.partition("-")
    start, end = _day(first), _day(last)
    return [(start + i) % 7 for i in range((end - start) % 7 + 1)]


def _minutes(hours: str, minutes: str, text: str) -> int:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and m):
        raise ValueError(f"{text!r} is not a time of day (00:00 to 24:00)")
    return h * 60 + m


def _ranges(value: object) -> list[Minutes]:
    """``"09:00-18:00"``, ``"09:00-12:00, 13:00-17:30"``, a list of those, or ``closed``."""
    if isinstance(value, list):
        parts = [p for item in value for p in _ranges(item)]
        return sorted(parts)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a range of hours like 09:00-18:00")
    text = value.strip()
    if text.lower() in ("", "closed"):
        return []
    found = []
    for part in (p.strip() for p in text.split(",")):
        match = _RANGE.match(part)
        if not match:
            raise ValueError(f"{part!r} is not a range of hours like 09:00-18:00")
        start = _minutes(match[1], match[2], part)
        end = _minutes(match[3], match[4], part)
        if end <= start:
            raise ValueError(
                f"{part!r} ends before it starts; a range past midnight is two: "
                "22:00-24:00 on one day and 00:00-02:00 on the next"
            )
        found.append((start, end))
    return sorted(found)


def _entries(spec: str) -> list[tuple[str, object]]:
    text = spec.strip()
    if text.startswith(("{", "[")):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"is not valid JSON ({exc.msg})") from None
        if not isinstance(loaded, dict):
            raise ValueError("must be an object of days and hours")
        return list(loaded.items())
    entries = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        key, _, hours = part.partition(" ")
        if not hours.strip():
            raise ValueError(f"{part!r} needs days then hours, like 'mon-fri 09:00-18:00'")
        entries.append((key, hours))
    return entries


def parse_week(spec: str) -> tuple[tuple[Minutes, ...], ...]:
    """The seven days' open ranges (Monday first); ValueError with a readable reason."""
    week: list[list[Minutes] | None] = [None] * 7
    for key, value in _entries(spec):
        ranges = _ranges(value)
        for day in _days(str(key)):
            if week[day] is not None:
                raise ValueError(f"{DAYS[day]} is given twice")
            week[day] = ranges
    for day, ranges in enumerate(week):
        for (_, end), (start, _) in zip(ranges or [], (ranges or [])[1:]):
            if start < end:
                raise ValueError(f"{DAYS[day]}'s ranges overlap")
    if not any(week):
        raise ValueError("has no open hours (leave it unset to be always open)")
    return tuple(tuple(ranges or ()) for ranges in week)


def parse_dates(value: object) -> list[date]:
    """A list of ISO dates (``2026-12-25``), as text or dates."""
    if not isinstance(value, list):
        raise ValueError("must be a list of dates like 2026-12-25")
    dates = []
    for item in value:
        if isinstance(item, date):
            dates.append(item)
            continue
        try:
            dates.append(date.fromisoformat(str(item).strip()))
        except ValueError:
            raise ValueError(f"{item!r} is not a date like 2026-12-25") from None
    return dates


@dataclass(frozen=True)
class BusinessHours:
    """A weekly schedule in one time zone, with days off. Times given and returned are
    aware datetimes (returned in UTC)."""

    zone: ZoneInfo
    week: tuple[tuple[Minutes, ...], ...]
    closed_dates: frozenset[date] = frozenset()

    @classmethod
    def parse(cls, spec: str, zone: str = "UTC",
              closed_dates: list[date] | tuple[date, ...] = ()) -> "BusinessHours | None":
        """The schedule ``spec`` describes, or None (always open) when it is empty."""
        if not spec.strip():
            return None
        return cls(zone_named(zone), parse_week(spec), frozenset(closed_dates))

    # -- the open ranges around a moment ------------------------------------------------
    def _day_ranges(self, day: date) -> list[tuple[datetime, datetime]]:
        if day in self.closed_dates:
            return []
        midnight = datetime.combine(day, time(), self.zone)
        ranges = []
        for start, end in self.week[day.weekday()]:
            ranges.append((self._local(midnight, start), self._local(midnight, end)))
        return ranges

    def _local(self, midnight: datetime, minutes: int) -> datetime:
        """The UTC moment ``minutes`` after a local midnight, read on the wall clock (so a
        day of a clock change still opens at 09:00)."""
        day = midnight.date() + timedelta(days=minutes // (24 * 60))
        rest = minutes % (24 * 60)
        wall = datetime.combine(day, time(rest // 60, rest % 60), self.zone)
        return wall.astimezone(timezone.utc)

    def _periods(self, first: date, last: date) -> list[tuple[datetime, datetime]]:
        """Open periods of the days first..last, ranges that touch joined into one."""
        merged: list[tuple[datetime, datetime]] = []
        day = first
        while day <= last:
            for start, end in self._day_ranges(day):
                if merged and start <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
                else:
                    merged.append((start, end))
            day += timedelta(days=1)
        return merged

    def period_at(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The open period holding ``at`` (its start, its end), or None when closed.
        A period runs on across midnight when one day ends at 24:00 and the next
        starts at 00:00."""
        today = at.astimezone(self.zone).date()
        for start, end in self._periods(today - timedelta(days=_LOOKBACK_DAYS),
                                        today + timedelta(days=1)):
            if start <= at < end:
                return start, end
        return None

    def is_open(self, at: datetime) -> bool:
        return self.period_at(at) is not None

    def next_open(self, at: datetime) -> datetime | None:
        """``at`` when open, else when the team opens next (None: not within a year)."""
        if self.is_open(at):
            return at
        day = at.astimezone(self.zone).date()
        for offset in range(_LOOKAHEAD_DAYS):
            for start, _ in self._day_ranges(day + timedelta(days=offset)):
                if start > at:
                    return start
        return None

    def describe(self, moment: datetime, now: datetime) -> str:
        """``moment`` as a person reads it: "today at 09:00 CET", "tomorrow at …",
        "on Monday at …", and past a week "on 24 December at …"."""
        local = moment.astimezone(self.zone)
        days = (local.date() - now.astimezone(self.zone).date()).days
        if days <= 0:
            when = "today"
        elif days == 1:
            when = "tomorrow"
        elif days < 7:
            when = f"on {local:%A}"
        else:
            when = f"on {local.day} {local:%B}"
        return f"{when} at {local:%H:%M} {local:%Z}".rstrip()

    def away_text(self, template: str, now: datetime) -> str:
        """``template`` with ``{next_open}`` replaced by when the team is back."""
        opens = self.next_open(now)
        return template.replace(
            "{next_open}", self.describe(opens, now) if opens else "as soon as we can")

    def weekly(self) -> list[tuple[str, str]]:
        """Each day and its hours as a page lists them: ("Monday", "09:00–18:00")."""
        def hhmm(minutes: int) -> str:
            return f"{minutes // 60:02d}:{minutes % 60:02d}"

        names = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
        return [(name, ", ".join(f"{hhmm(a)}–{hhmm(b)}" for a, b in ranges) or "closed")
                for name, ranges in zip(names, self.week)]

    def days_off(self, now: datetime) -> list[date]:
        """The closed dates from today on (in the business's time zone), in order."""
        today = now.astimezone(self.zone).date()
        return sorted(d for d in self.closed_dates if d >= today)

    def status(self, now: datetime) -> dict:
        """What a page shows: open or not, when it closes (open) or opens next (closed),
        in UTC ISO, and the next opening as a person reads it."""
        period = self.period_at(now)
        opens = None if period else self.next_open(now)
        return {
            "open": period is not None,
            "closes_at": period[1].isoformat() if period else None,
            "next_open": opens.isoformat() if opens else None,
            "next_open_text": self.describe(opens, now) if opens else None,
            "timezone": self.zone.key,
        }


class HoursSpec(NamedTuple):
    """Business hours as written: a schedule (blank: always open), a zone, days off, what a
    person handed to the team is told outside them and within them, and the stored setting
    they come from (None: the environment)."""

    schedule: str
    timezone: str
    closed_dates: list[date]
    away_message: str
    handoff_message: str
    setting: HoursSetting | None


class TeamHours:
    """The business hours in force: those an admin set on Settings (kept in the store, so
    every process has them), else the environment's (``BUSINESS_HOURS``,
    ``BUSINESS_TIMEZONE``, ``BUSINESS_CLOSED_DATES``). Calling it gives them (None: always
    open); each process reads the store again at most every ``refresh`` seconds, so a
    change made on another process is in force there within that. A store that cannot be
    read leaves the last hours known in force (at first, the environment's)."""

    def __init__(self, store, default: BusinessHours | None, refresh: float = 10.0,
                 monotonic: Callable[[], float] = _time.monotonic,
                 publish: Callable[[str, dict], None] | None = None,
                 environment: "HoursSpec | None" = None) -> None:
        self.store = store
        # The environment's hours as written (BUSINESS_HOURS, …), shown where they hold.
        self.environment = environment or HoursSpec("", "UTC", [], "", "", None)
        # Says ``hours.changed`` {"hours": status or None} on a change made here: open
        # pages and widgets show it at once (services.events, through every process).
        self._publish = publish
        self.default = default
        self.refresh = refresh
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._hours = default
        self._setting: HoursSetting | None = None
        self._read_at: float | None = None

    def __call__(self) -> BusinessHours | None:
        with self._lock:
            fresh = (self._read_at is not None
                     and self._monotonic() - self._read_at < self.refresh)
            if fresh:
                return self._hours
        self.reload()
        return self._hours

    def setting(self) -> HoursSetting | None:
        """The stored setting (``services.models.HoursSetting``) behind the hours in force,
        None while the environment's are."""
        self()
        return self._setting

    def spec(self) -> "HoursSpec":
        """The hours in force as written: the setting's, else the environment's."""
        setting = self.setting()
        if setting is None:
            return self.environment
        env = self.environment
        away = setting.away_message if setting.away_message is not None else env.away_message
        handoff = (setting.handoff_message if setting.handoff_message is not None
                   else env.handoff_message)
        return HoursSpec(setting.schedule, setting.timezone, list(setting.closed_dates), away,
                         handoff, setting)

    def away_message(self) -> str:
        """What a person handed to the team outside the hours is told (``{next_open}``:
        when the team is back); "" sends HANDOFF_MESSAGE at any hour."""
        return self.spec().away_message

    def handoff_message(self) -> str:
        """What a person handed to the team within the hours (or without hours) is told;
        "" sends nothing."""
        return self.spec().handoff_message

    def reload(self) -> None:
        if self.store is None:  # (services built without a store: the default only)
            with self._lock:
                self._read_at = self._monotonic()
            return
        try:
            setting = self.store.get_hours_setting()
        except StoreUnavailable as exc:
            log.warning("business hours not read again (%s); the last known stay", exc)
            with self._lock:
                self._read_at = self._monotonic()  # not again at once: the store is down
            return
        hours = self.default
        if setting is not None:
            try:
                hours = BusinessHours.parse(setting.schedule, setting.timezone,
                                            setting.closed_dates)
            except ValueError as exc:  # a zone this machine's tz database lacks
                log.error("the business hours set on Settings cannot be used here (%s); "
                          "the environment's are in force", exc)
                setting = None  # what is in force, as pages and the API say it
        with self._lock:
            self._hours, self._setting, self._read_at = hours, setting, self._monotonic()

    def save(self, schedule: str, zone: str, closed_dates: list[date], by: int | None,
             now: datetime, away_message: str | None = None,
             handoff_message: str | None = None) -> BusinessHours | None:
        """Check and store new hours (blank ``schedule``: always open; a message None: the
        server's), in force here at once; ``InvalidInput`` naming the field and the reason a
        person can read, nothing stored."""
        try:
            zone_named(zone)  # a blank schedule's zone is checked too
        except ValueError as exc:
            raise InvalidInput(f"timezone: {exc}") from None
        try:
            hours = BusinessHours.parse(schedule, zone, closed_dates)  # None: blank
        except ValueError as exc:
            raise InvalidInput(f"schedule: {exc}") from None
        self.store.set_hours_setting(NewHoursSetting(
            schedule=schedule, timezone=zone, closed_dates=closed_dates,
            away_message=away_message, handoff_message=handoff_message), by, now)
        self.reload()
        self._changed(now)
        return hours

    def reset(self, now: datetime) -> bool:
        """Forget the hours set on Settings: the environment's are in force again."""
        cleared = self.store.clear_hours_setting()
        self.reload()
        if cleared:
            self._changed(now)
        return cleared

    def _changed(self, now: datetime) -> None:
        if self._publish is not None:
            hours = self()
            self._publish("hours.changed", {"hours": hours.status(now) if hours else None})

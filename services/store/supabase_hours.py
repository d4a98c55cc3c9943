"""The team's business hours as set on Settings, in the Supabase store (mixed into
``SupabaseStore``): the one row of ``hours_setting`` (migration
20261206050000_hours_setting.sql), one PostgREST request a call."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from services.models import HoursSetting, NewHoursSetting
from services.store.supabase_pipeline import _ts


class SupabaseHours:
    """The business-hours part of ``ConversationStore``; needs ``_call`` and ``_db``."""

    _call: Callable[[Callable[[], Any]], Any]
    _db: Any

    def get_hours_setting(self) -> HoursSetting | None:
        rows = self._call(lambda: self._db.table("hours_setting").select("*").eq("id", 1)
                          .execute())
        return HoursSetting.model_validate(rows[0]) if rows else None

    def set_hours_setting(self, setting: NewHoursSetting, updated_by: int | None,
                          now: datetime) -> HoursSetting:
        row = {"id": 1, "schedule": setting.schedule, "timezone": setting.timezone,
               "closed_dates": [d.isoformat() for d in setting.closed_dates],
               "away_message": setting.away_message,
               "handoff_message": setting.handoff_message,
               "updated_by": updated_by, "updated_at": _ts(now)}
        rows = self._call(lambda: self._db.table("hours_setting").upsert(row, on_conflict="id")
                          .execute())
        return HoursSetting.model_validate(rows[0])

    def clear_hours_setting(self) -> bool:
        rows = self._call(lambda: self._db.table("hours_setting").delete().eq("id", 1)
                          .execute())
        return bool(rows)

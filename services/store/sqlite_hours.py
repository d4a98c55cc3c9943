"""The team's business hours as set on Settings, in the SQLite store (mixed into
``SqliteStore``): the one row of ``hours_setting``."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Callable, ContextManager

from services.errors import NotFound
from services.models import HoursSetting, NewHoursSetting
from services.store.sqlite_db import one, ts


def _setting(row: sqlite3.Row) -> HoursSetting:
    return HoursSetting.model_validate(dict(row) | {"closed_dates": json.loads(
        row["closed_dates"])})


class SqliteHours:
    """The business-hours part of ``ConversationStore``; needs ``_tx`` and ``_read``."""

    _tx: Callable[..., ContextManager[sqlite3.Connection]]
    _read: Callable[..., list[sqlite3.Row]]

    def get_hours_setting(self) -> HoursSetting | None:
        rows = self._read("SELECT * FROM hours_setting WHERE id = 1")
        return _setting(rows[0]) if rows else None

    def set_hours_setting(self, setting: NewHoursSetting, updated_by: int | None,
                          now: datetime) -> HoursSetting:
        with self._tx() as db:
            if updated_by is not None and one(db.execute(
                    "SELECT 1 FROM admin_users WHERE id = ?", (updated_by,))) is None:
                raise NotFound(f"user {updated_by}")
            row = one(db.execute(
                "INSERT INTO hours_setting (id, schedule, timezone, closed_dates, away_message,"
                " handoff_message, updated_by, updated_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET schedule = excluded.schedule,"
                " timezone = excluded.timezone, closed_dates = excluded.closed_dates,"
                " away_message = excluded.away_message,"
                " handoff_message = excluded.handoff_message, updated_by = excluded.updated_by,"
                " updated_at = excluded.updated_at RETURNING *",
                (setting.schedule, setting.timezone,
                 json.dumps([d.isoformat() for d in setting.closed_dates]),
                 setting.away_message, setting.handoff_message, updated_by, ts(now))))
        return _setting(row)

    def clear_hours_setting(self) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM hours_setting").rowcount > 0

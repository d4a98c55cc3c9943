"""Admin users and API tokens in the SQLite store (mixed into ``SqliteStore``)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any, Callable, ContextManager

from services.errors import Conflict, NotFound
from services.models import AdminUser, ApiToken, UserRole
from services.store.base import check_account_name
from services.store.sqlite_db import one, ts


class SqliteUsers:
    """The user and token half of ``ConversationStore``; needs ``_tx`` and ``_read``."""

    _tx: Callable[..., ContextManager[sqlite3.Connection]]
    _read: Callable[..., list[sqlite3.Row]]

    def create_user(
        self, email: str, role: UserRole, password_hash: str, now: datetime
    ) -> AdminUser:
        """``Conflict`` if the email exists (compared case-insensitively, ASCII letters)."""
        try:
            with self._tx() as db:
                row = one(db.execute(
                    "INSERT INTO admin_users (email, role, password_hash, created_at)"
                    " VALUES (?, ?, ?, ?) RETURNING *", (email, role, password_hash, ts(now))))
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"a user with email {email!r} exists") from exc
        return AdminUser.model_validate(dict(row))

    def get_user(self, user_id: int) -> AdminUser | None:
        rows = self._read("SELECT * FROM admin_users WHERE id = ?", (user_id,))
        return AdminUser.model_validate(dict(rows[0])) if rows else None

    def get_user_by_email(self, email: str) -> AdminUser | None:
        rows = self._read("SELECT * FROM admin_users WHERE lower(email) = lower(?)", (email,))
        return AdminUser.model_validate(dict(rows[0])) if rows else None

    def list_users(self) -> list[AdminUser]:
        return [AdminUser.model_validate(dict(r))
                for r in self._read("SELECT * FROM admin_users ORDER BY id")]

    def _update_user(self, user_id: int, assignment: str, value: Any) -> None:
        with self._tx() as db:
            if db.execute(f"UPDATE admin_users SET {assignment} WHERE id = ?",
                          (value, user_id)).rowcount == 0:
                raise NotFound(f"user {user_id}")

    def set_user_password(self, user_id: int, password_hash: str) -> None:
        """Replace the password hash; ``NotFound`` for an unknown id."""
        self._update_user(user_id, "password_hash = ?", password_hash)

    def set_user_disabled(self, user_id: int, disabled: bool) -> None:
        """Disable or re-enable a user; ``NotFound`` for an unknown id."""
        self._update_user(user_id, "disabled = ?", int(disabled))

    def set_user_name(self, user_id: int, display_name: str | None) -> AdminUser:
        """See base.py."""
        check_account_name(display_name)
        with self._tx() as db:
            row = one(db.execute("UPDATE admin_users SET display_name = ? WHERE id = ?"
                                 " RETURNING *", (display_name, user_id)))
        if row is None:
            raise NotFound(f"user {user_id}")
        return AdminUser.model_validate(dict(row))

    def create_api_token(
        self, user_id: int, name: str, token_hash: str, now: datetime
    ) -> ApiToken:
        """``NotFound`` for an unknown user, ``Conflict`` for a hash already stored."""
        try:
            with self._tx() as db:
                if one(db.execute("SELECT id FROM admin_users WHERE id = ?", (user_id,))) is None:
                    raise NotFound(f"user {user_id}")
                row = one(db.execute(
                    "INSERT INTO api_tokens (user_id, name, token_hash, created_at)"
                    " VALUES (?, ?, ?, ?) RETURNING *", (user_id, name, token_hash, ts(now))))
        except sqlite3.IntegrityError as exc:
            raise Conflict("this token hash is already stored") from exc
        return ApiToken.model_validate(dict(row))

    def authenticate_token(self, token_hash: str, now: datetime) -> AdminUser | None:
        """The enabled owner of an unrevoked token with that hash, recording its use."""
        with self._tx() as db:
            token = one(db.execute(
                "UPDATE api_tokens SET last_used_at = ? WHERE token_hash = ?"
                " AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM admin_users u"
                " WHERE u.id = api_tokens.user_id AND u.disabled = 0) RETURNING user_id",
                (ts(now), token_hash)))
            if token is None:
                return None
            user = one(db.execute("SELECT * FROM admin_users WHERE id = ?", (token["user_id"],)))
        return AdminUser.model_validate(dict(user))

    def list_api_tokens(self, user_id: int | None = None) -> list[ApiToken]:
        rows = self._read("SELECT * FROM api_tokens WHERE ? IS NULL OR user_id = ? ORDER BY id",
                          (user_id, user_id))
        return [ApiToken.model_validate(dict(r)) for r in rows]

    def revoke_api_token(self, token_id: int, now: datetime) -> None:
        """``NotFound`` for an unknown id; revoking twice keeps the first time."""
        with self._tx() as db:
            if db.execute("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                          (ts(now), token_id)).rowcount == 0:
                raise NotFound(f"api token {token_id}")

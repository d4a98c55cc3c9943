"""Every setting of Switchboard, read from the environment and ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(SystemExit):
    """A bad setting: start-up stops with one readable line naming the variable."""


class Settings(BaseSettings):
    """Typed settings; field names are the environment variable names, case-insensitive."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Storage: Supabase when SUPABASE_URL is set, the embedded SQLite file otherwise.
    supabase_url: AnyHttpUrl | None = None
    supabase_service_role_key: SecretStr = SecretStr("")
    supabase_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    database_path: Path = REPO_ROOT / "instance" / "switchboard.db"

    # Web app.
    secret_key: SecretStr = SecretStr("")
    secret_key_file: Path = REPO_ROOT / "instance" / "secret_key"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    api_max_page_size: int = Field(default=200, ge=1, le=1000)

    # Socket.IO: "threading" for the development server, "gevent" under gunicorn.
    socketio_async_mode: Literal["threading", "gevent"] = "threading"
    socketio_message_queue: str | None = None

    @model_validator(mode="after")
    def _supabase_needs_key(self) -> "Settings":
        if self.supabase_url and not self.supabase_service_role_key.get_secret_value():
            raise ValueError(
                "SUPABASE_SERVICE_ROLE_KEY must be set when SUPABASE_URL is set"
            )
        return self

    @property
    def store_kind(self) -> str:
        return "supabase" if self.supabase_url else "sqlite"


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation error into one readable line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]).upper() or "settings"
        message = first["msg"]
        if name == "SETTINGS" or not first["loc"]:
            raise SettingsError(f"Invalid settings: {message}") from None
        raise SettingsError(f"Invalid setting {name}: {message}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()

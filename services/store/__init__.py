"""Store selection: Supabase when ``SUPABASE_URL`` is set, the embedded SQLite otherwise."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.store.base import ConversationStore

if TYPE_CHECKING:
    from services.settings import Settings

__all__ = ["ConversationStore", "create_store"]


def create_store(settings: "Settings") -> ConversationStore:
    """Build the store the settings ask for (one per process)."""
    if settings.supabase_url:
        from services.store.supabase import SupabaseStore

        return SupabaseStore(
            url=str(settings.supabase_url),
            service_role_key=settings.supabase_service_role_key.get_secret_value(),
            timeout=settings.supabase_timeout_seconds,
        )
    from services.store.sqlite import SqliteStore

    return SqliteStore(settings.database_path)

"""Fixtures shared by every test package: a fixed clock and the two real stores."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


class FixedClock:
    """A clock tests move by hand; services take it as their ``clock`` collaborator."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current = self.current + timedelta(**delta)
        return self.current


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc))


@pytest.fixture(scope="session")
def supabase_stack():
    """The local Supabase stack (PostgreSQL + PostgREST + nginx gateway) for this run.

    Never skipped: if the stack cannot start, every test that needs it errors.
    """
    from scripts import local_supabase

    state_dir = Path(os.environ.get("TEST_SUPABASE_DIR", REPO / ".local" / "supabase-test"))
    stack = local_supabase.start(state_dir=state_dir, repo=REPO)
    yield stack
    if not os.environ.get("KEEP_SUPABASE"):
        local_supabase.stop(state_dir=state_dir)


def _sqlite_store(tmp_path: Path):
    from services.store.sqlite import SqliteStore

    return SqliteStore(tmp_path / "switchboard.db")


def _supabase_store(request):
    from services.store.supabase import SupabaseStore

    stack = request.getfixturevalue("supabase_stack")
    stack.reset()
    return SupabaseStore(url=stack.url, service_role_key=stack.service_role_key)


@pytest.fixture(params=["sqlite", pytest.param("supabase", marks=pytest.mark.supabase)])
def store(request, tmp_path):
    """Each store, empty, built with its real backend."""
    if request.param == "sqlite":
        s = _sqlite_store(tmp_path)
    else:
        s = _supabase_store(request)
    yield s
    s.close()


@pytest.fixture
def settings(tmp_path):
    from services.settings import Settings

    return Settings(
        _env_file=None,
        database_path=tmp_path / "app.db",
        secret_key="test-secret-key",
        secret_key_file=tmp_path / "secret_key",
    )


@pytest.fixture
def services(settings, store, clock):
    """The app's services over each real store, with the fixed clock."""
    from services.runtime import build_services

    return build_services(settings, store=store, clock=clock)


@pytest.fixture
def app(settings, services):
    from admin_app import create_app

    app = create_app(settings, services)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_token(services):
    """Create an account with an API token; returns the headers that authenticate it."""
    from admin_app.security import hash_api_token, hash_password, new_api_token

    def make(email: str = "agent@example.com", role: str = "agent") -> dict[str, str]:
        user = services.store.get_user_by_email(email) or services.store.create_user(
            email, role, hash_password("correct horse battery"), services.clock()
        )
        token = new_api_token()
        services.store.create_api_token(user.id, "test", hash_api_token(token), services.clock())
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def captured_events(services):
    """Every event published while the test runs, in order."""
    seen = []
    services.events.subscribe(seen.append)
    return seen

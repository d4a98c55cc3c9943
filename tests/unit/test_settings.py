import subprocess
import sys

import pytest

from services.settings import SettingsError, load_settings

from tests.conftest import REPO


def test_sqlite_is_the_default(monkeypatch, tmp_path):
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    settings = load_settings()
    assert settings.store_kind == "sqlite"
    assert settings.database_path.name == "switchboard.db"


def test_supabase_url_without_key_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUPABASE_URL", "http://127.0.0.1:1")
    monkeypatch.delenv("SUPABASE_SERVICE_ROLE_KEY", raising=False)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "SUPABASE_SERVICE_ROLE_KEY" in str(info.value)


def test_bad_value_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUPABASE_TIMEOUT_SECONDS", "soon")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value).startswith("Invalid setting SUPABASE_TIMEOUT_SECONDS:")


def test_dotenv_file_is_read(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    (tmp_path / ".env").write_text("LOG_LEVEL=DEBUG\n")
    assert load_settings().log_level == "DEBUG"


def test_bad_setting_stops_start_up_with_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "SUPABASE_URL": "not a url", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [lines[-1]] and lines[0].startswith("Invalid setting SUPABASE_URL:"), proc.stderr


def test_a_job_lease_shorter_than_a_bot_call_is_refused(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JOB_LEASE_SECONDS", "5")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "JOB_LEASE_SECONDS" in str(info.value)


def test_online_settings_default_and_bounds(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert (settings.offline_after_seconds, settings.auto_assign_online_only) == (90.0, True)
    monkeypatch.setenv("OFFLINE_AFTER_SECONDS", "2")  # rounds every 0.67 s: refused
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value).startswith("Invalid setting OFFLINE_AFTER_SECONDS:")
    monkeypatch.setenv("OFFLINE_AFTER_SECONDS", "300")
    monkeypatch.setenv("AUTO_ASSIGN_ONLINE_ONLY", "false")
    settings = load_settings()
    assert (settings.offline_after_seconds, settings.auto_assign_online_only) == (300.0, False)

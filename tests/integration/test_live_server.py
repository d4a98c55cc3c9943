"""The product as a user runs it: the CLI, then gunicorn serving real HTTP."""

import re
import subprocess

import pytest
import requests

from tests.conftest import REPO
from tests.support.live_server import BIN, LiveServer


@pytest.fixture(params=["sqlite", pytest.param("supabase", marks=pytest.mark.supabase)])
def app_env(request, tmp_path):
    env = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_PATH": str(tmp_path / "live.db"),
        "SECRET_KEY_FILE": str(tmp_path / "secret"),
        "ACCESS_LOG": "",
    }
    if request.param == "supabase":
        stack = request.getfixturevalue("supabase_stack")
        stack.reset()
        env.update(SUPABASE_URL=stack.url, SUPABASE_SERVICE_ROLE_KEY=stack.service_role_key)
    env["STORE"] = request.param
    return env


def flask_cli(env, *args, stdin=None):
    return subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=REPO, env=env, input=stdin, capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def live_server(app_env, tmp_path):
    server = LiveServer(app_env, log_path=tmp_path / "server.log").start()
    yield server.url, server.env
    server.stop()


def test_first_admin_token_and_api_over_http(live_server):
    base, env = live_server
    assert requests.get(base + "/healthz").json() == {
        "status": "ok", "store": env["STORE"], "store_available": True, "spooled": 0}
    assert requests.get(base + "/readyz").json()["status"] == "ready"

    first = flask_cli(env, "users", "ensure-admin")
    assert first.returncode == 0, first.stderr
    assert re.search(r"password: \S{12,}", first.stdout)
    again = flask_cli(env, "users", "ensure-admin")
    assert "exist already" in again.stdout

    made = flask_cli(env, "tokens", "create", "admin@localhost", "--name", "ci")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().split()[-1]

    assert requests.get(base + "/admin/conversations").status_code == 401
    headers = {"Authorization": f"Bearer {token}"}
    body = requests.get(base + "/admin/conversations?limit=100", headers=headers).json()
    assert body == {"success": True, "conversations": [], "count": 0, "next_cursor": None,
                    "read": []}
    stats = requests.get(base + "/admin/stats", headers=headers).json()["stats"]
    assert stats["total_conversations"] == 0

    token_id = flask_cli(env, "tokens", "list").stdout.split()[0]
    revoked = flask_cli(env, "tokens", "revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    assert requests.get(base + "/admin/stats", headers=headers).status_code == 401


def test_cli_users(app_env):
    made = flask_cli(app_env, "users", "create", "Ann@Example.com", "--role", "agent",
                     "--password-stdin", stdin="a long password\n")
    assert made.returncode == 0, made.stderr
    assert "password:" not in made.stdout
    dup = flask_cli(app_env, "users", "create", "ann@example.com")
    assert dup.returncode != 0 and "already exists" in dup.stderr
    short = flask_cli(app_env, "users", "create", "bob@example.com", "--password-stdin", stdin="x\n")
    assert short.returncode != 0
    listed = flask_cli(app_env, "users", "list").stdout
    assert "agent\tAnn@Example.com" in listed and "bob@" not in listed

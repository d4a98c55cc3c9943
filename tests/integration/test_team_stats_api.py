"""GET /admin/stats/team over real HTTP, on each store: gunicorn serves the product, people
write through the widget's HTTP API, agents act through the admin API with their tokens."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests

from scripts.simulate import Server, WebchatVisitor
from tests.support.live_server import LiveServer, with_store


@pytest.fixture(params=["sqlite", pytest.param("supabase", marks=pytest.mark.supabase)])
def live(request, tmp_path):
    env = {"HOME": str(tmp_path), "DATABASE_PATH": str(tmp_path / "team.db"),
           "SECRET_KEY_FILE": str(tmp_path / "secret"), "RESPONDER": "off"}
    env = with_store(request, env)
    server = LiveServer(env, log_path=tmp_path / "server.log").start()
    yield server
    server.stop()


def _account(server: LiveServer, email: str, role: str) -> dict[str, str]:
    """An account made with the CLI, and the headers of an API token of its own."""
    made = server.flask("users", "create", email, "--role", role, "--password-stdin",
                        stdin="a long password\n")
    assert made.returncode == 0, made.stderr
    token = server.flask("tokens", "create", email, "--name", "test")
    assert token.returncode == 0, token.stderr
    return {"Authorization": f"Bearer {token.stdout.strip().split()[-1]}"}


def _team(base: str, headers: dict[str, str], **query) -> requests.Response:
    return requests.get(base + "/admin/stats/team", params=query, headers=headers, timeout=10)


def test_team_stats_count_what_each_agent_did(live):
    base = live.url
    ann = _account(live, "ann@example.com", "agent")
    bob = _account(live, "bob@example.com", "admin")
    ann_id = requests.get(base + "/admin/me", headers=ann, timeout=10).json()["user"]["id"]
    visitor = WebchatVisitor(Server(base), "Tess Team")
    visitor.say("my parcel never came")
    visitor.ask_for_human()
    other = WebchatVisitor(Server(base), "Ola Other")
    other.say("hello?")

    def post(headers, conversation_id, action, **body):
        answer = requests.post(f"{base}/admin/conversations/{conversation_id}/{action}",
                               json=body or None, headers=headers, timeout=10)
        assert answer.status_code in (200, 201), answer.text

    post(ann, visitor.conversation_id, "take-over")
    post(ann, visitor.conversation_id, "messages", content="Sorry! Let me look.")
    post(ann, visitor.conversation_id, "messages", content="It is on its way.")
    post(ann, visitor.conversation_id, "notes", text="courier lost it")
    post(ann, visitor.conversation_id, "close")
    post(bob, other.conversation_id, "assign", user_id=ann_id)
    post(bob, other.conversation_id, "messages", content="Ann will be with you.")

    answer = _team(base, bob)  # the last 7 days
    assert answer.status_code == 200, answer.text
    body = answer.json()
    start, end = (datetime.fromisoformat(body[k]) for k in ("start", "end"))
    assert end - start == timedelta(days=7)
    assert abs(end - datetime.now(timezone.utc)) < timedelta(minutes=1)
    rows = {row["email"]: row for row in body["accounts"]}
    assert list(rows) == ["ann@example.com", "bob@example.com"]
    ann_row, bob_row = rows["ann@example.com"], rows["bob@example.com"]
    assert {k: ann_row[k] for k in ("role", "replies", "conversations_replied", "picked_up",
                                    "handed_back", "closed", "notes", "first_responses",
                                    "open_assigned")} == {
        "role": "agent", "replies": 2, "conversations_replied": 1, "picked_up": 2,
        "handed_back": 0, "closed": 1, "notes": 1, "first_responses": 1, "open_assigned": 1}
    # Escalated, then answered by ann a moment later.
    assert 0 <= ann_row["median_first_response_seconds"] < 60
    assert ann_row["avg_first_response_seconds"] == ann_row["median_first_response_seconds"]
    # Bob answered first in the other conversation (with no bot, handed to humans at once;
    # ann's by then): a first response of his, not a pick-up.
    assert (bob_row["replies"], bob_row["first_responses"], bob_row["picked_up"],
            bob_row["open_assigned"]) == (1, 1, 0, 0)
    assert 0 <= bob_row["median_first_response_seconds"] < 60

    # An agent reads them too. A period before all this counts nothing: ann is listed for
    # the conversation assigned to her now, bob not at all.
    assert _team(base, ann).json()["accounts"] == body["accounts"]
    past = _team(base, ann, start="2026-01-01", end="2026-01-31").json()
    assert (past["start"], past["end"]) == ("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z")
    assert past["accounts"] == [{**ann_row, "replies": 0, "conversations_replied": 0,
                                 "picked_up": 0, "closed": 0, "notes": 0,
                                 "first_responses": 0, "median_first_response_seconds": None,
                                 "avg_first_response_seconds": None}]


@pytest.mark.parametrize("query,error", [
    ({"start": "2026-02-01", "end": "2026-01-01"}, "start must be before end"),
    ({"start": "2025-01-01", "end": "2026-06-01"}, "the period is at most 366 days"),
    ({"start": "yesterday"}, "invalid start: use YYYY-MM-DD or an ISO-8601 time"),
    ({"end": "0001-01-02"}, "the period must stay within the years 0001 to 9999"),
])
def test_a_bad_period_is_a_clear_400(live, query, error):
    headers = _account(live, "ann@example.com", "agent")
    answer = _team(live.url, headers, **query)
    assert answer.status_code == 400
    assert answer.json() == {"success": False, "error": error}
    assert _team(live.url, {}).status_code == 401

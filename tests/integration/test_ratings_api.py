"""Ratings over real HTTP, on each store: visitors rate their closed conversations through
the widget's HTTP API, and the admin API shows each rating on its conversation and sums
them up (GET /admin/stats/satisfaction)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import requests

from scripts.simulate import Server, WebchatVisitor
from tests.integration.test_team_stats_api import _account, live  # noqa: F401 (fixture)


def _rate(visitor: WebchatVisitor, score, comment=None) -> requests.Response:
    body = {"score": score} if comment is None else {"score": score, "comment": comment}
    return visitor.http.post(
        f"{visitor.server.url}/chat/{visitor.conversation_id}/rating", json=body, timeout=10)


def test_visitors_rate_and_the_team_sees_it(live):  # noqa: F811
    base = live.url
    ann = _account(live, "ann@example.com", "agent")
    ann_id = requests.get(base + "/admin/me", headers=ann, timeout=10).json()["user"]["id"]

    def act(visitor, action, **body):
        answer = requests.post(f"{base}/admin/conversations/{visitor.conversation_id}/"
                               f"{action}", json=body or None, headers=ann, timeout=10)
        assert answer.status_code in (200, 201), answer.text

    happy, sad, quiet = (WebchatVisitor(Server(base), name) for name in ("Hap", "Sad", "Qui"))
    for visitor in (happy, sad, quiet):
        visitor.say("where is my parcel?")
    assert _rate(happy, 5).status_code == 409  # still open
    act(happy, "take-over")
    act(happy, "messages", content="On its way!")
    for visitor in (happy, sad, quiet):
        act(visitor, "close")

    assert _rate(happy, 5, "Ann was quick").status_code == 200
    assert _rate(sad, 1, "Nobody answered").status_code == 200
    bad = _rate(quiet, 9)
    assert bad.status_code == 400 and "1 to 5" in bad.json()["detail"]

    detail = requests.get(f"{base}/admin/conversations/{happy.conversation_id}",
                          headers=ann, timeout=10).json()["conversation"]
    assert (detail["rating"], detail["rating_comment"]) == (5, "Ann was quick")
    assert detail["rated_at"] is not None

    answer = requests.get(base + "/admin/stats/satisfaction", headers=ann, timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    start, end = (datetime.fromisoformat(body[k]) for k in ("start", "end"))
    assert end - start == timedelta(days=7)
    assert abs(end - datetime.now(timezone.utc)) < timedelta(minutes=1)
    found = body["satisfaction"]
    assert (found["rated"], found["satisfied"], found["average"]) == (2, 1, 3.0)
    assert found["by_score"] == [1, 0, 0, 0, 1]
    assert [(a["user_id"], a["rated"], a["satisfied"]) for a in found["by_agent"]] == [
        (ann_id, 1, 1), (None, 1, 0)]
    assert [(c["conversation_id"], c["comment"]) for c in found["comments"]] == [
        (sad.conversation_id, "Nobody answered"), (happy.conversation_id, "Ann was quick")]

    # The sad visitor thinks again: the new rating replaces the old.
    assert _rate(sad, 3).status_code == 200
    again = requests.get(base + "/admin/stats/satisfaction", headers=ann, timeout=10).json()
    assert again["satisfaction"]["by_score"] == [0, 0, 1, 0, 1]
    assert [c["comment"] for c in again["satisfaction"]["comments"]] == ["Ann was quick"]

    # A period before any rating, a reversed one, no account.
    past = requests.get(base + "/admin/stats/satisfaction", headers=ann, timeout=10,
                        params={"start": "2026-01-01", "end": "2026-01-31"}).json()
    assert past["satisfaction"]["rated"] == 0 and past["satisfaction"]["average"] is None
    reversed_ = requests.get(base + "/admin/stats/satisfaction", headers=ann, timeout=10,
                             params={"start": "2026-02-01", "end": "2026-01-01"})
    assert reversed_.status_code == 400
    assert requests.get(base + "/admin/stats/satisfaction", timeout=10).status_code == 401

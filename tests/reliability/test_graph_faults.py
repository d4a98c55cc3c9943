"""Graph API faults: the stand-in answers 500s, then timeouts and lost answers (the message
went out and was echoed, the app never heard back), then rate limits (613), while three
people can never be reached (permanent errors). Every reply that can be sent is sent, and
exactly once; the permanent failures are ``failed`` with Facebook's reason in the admin API.

The app runs as users run it (gunicorn) on each store; the stand-in echoes every message it
sends to the app's ``/webhook``, as Facebook's ``message_echoes`` does.
"""

from __future__ import annotations

import pytest

from tests.support.graph_stub import error_body, graph_stub  # noqa: F401  (fixture)
from tests.support.messenger_live import batch, message_webhook, start_app

pytestmark = pytest.mark.timeout(240)

QUESTION = "what are your opening hours?"
# PSID: (code, message, subcode) Facebook answers for every send to that person.
PERMANENT = {
    "psid-perm-window": (10, "(#10) This message is sent outside of allowed window.", 2018278),
    "psid-perm-gone": (551, "This person isn't available right now.", 1545041),
    "psid-perm-nouser": (100, "(#100) No matching user found", 2018001),
}
PEOPLE = [f"psid-f-{i}" for i in range(24)]


@pytest.fixture(params=["sqlite", pytest.param("supabase", marks=pytest.mark.supabase)])
def app(request, tmp_path, graph_stub):  # noqa: F811
    # Echoes come 3 s after the send, later than the first retry's backoff (1-2 s): only
    # the echo grace (4 s here, 30 s by default) keeps an ambiguous failure from being
    # sent again before its echo can settle it.
    app = start_app(request, tmp_path / "app", graph_stub, request.param, echo_delay=3.0,
                    GRAPH_API_TIMEOUT_SECONDS="1", MESSENGER_ECHO_GRACE_SECONDS="4")
    yield app
    app.server.stop()


def test_every_reply_goes_out_once_through_graph_faults(app, graph_stub, ledger):  # noqa: F811
    graph = graph_stub
    for psid, (code, text, subcode) in PERMANENT.items():
        graph.fail_for(psid, code, text, subcode)
    # The phases, met in this order by whichever sends come next:
    graph.fail_sends(6, status=500)  # a bare 500: nothing went out, the answer does not say so
    graph.deliver_then(delay=2.5, count=4)  # sent and echoed; the answer outlasts the 1 s timeout
    graph.deliver_then(drop=True, count=2)  # sent and echoed; the connection closes unanswered
    graph.deliver_then(status=500, count=2, body=error_body(
        2, "An unexpected error has occurred. Please retry your request later."))  # sent anyway
    graph.fail_sends(6, status=400, body=error_body(
        613, "Calls to this api have exceeded the rate limit."))  # refused: a rate limit
    transient = 6 + 4 + 2 + 2 + 6
    sent_anyway = 4 + 2 + 2

    bodies = [batch([message_webhook(p, f"mid.f.{i}", QUESTION)]) for i, p in enumerate(PEOPLE)]
    bodies += [batch([message_webhook(p, f"mid.fp.{n}", QUESTION)])
               for n, p in enumerate(PERMANENT)]
    load = app.post(bodies)
    assert [r.status for r in load.results] == [200] * len(bodies)

    app.wait_settled(timeout=150)
    assert [f for f in graph.faults if not f.persistent] == [], "a scripted fault was not met"
    ledger.fault(transient + len(PERMANENT))

    # Every reply that can be sent was sent: stored `sent`, and delivered exactly once.
    replies = app.replies("mid.f.%")
    assert sorted(replies) == sorted(f"mid.f.{i}" for i in range(len(PEOPLE)))
    assert all(len(r) == 1 and r[0][1] == "sent" for r in replies.values()), replies
    counts = graph.delivery_counts()
    lost = [mid for mid, r in replies.items()
            if counts[(PEOPLE[int(mid.rsplit(".", 1)[1])], f"switchboard:{r[0][0]}")] == 0]
    duplicates = graph.duplicates()
    ledger.lost(len(lost))
    ledger.duplicates(duplicates)
    assert lost == []
    assert duplicates == 0, [k for k, n in counts.items() if n > 1]
    for psid in PEOPLE:  # each person got one answer, whatever the faults
        assert len(graph.delivered[psid]) == 1, (psid, graph.delivered[psid])

    # The sends that went out though the app never heard back were settled by their echo
    # (not sent again): one log line each.
    settled = app.log_tail(10_000_000).count("settled as sent by its echo")
    assert settled >= sent_anyway, settled

    # Permanent failures: `failed`, with Facebook's reason where agents look, never sent.
    failed = app.replies("mid.fp.%")
    assert all(len(r) == 1 and r[0][1] == "failed" for r in failed.values()), failed
    for conversation in app.conversations():
        psid = conversation["conversation"]["external_user_id"]
        if psid not in PERMANENT:
            continue
        code, text, subcode = PERMANENT[psid]
        (bot,) = [m for m in conversation["messages"] if m["sender_type"] == "bot"]
        assert bot["delivery_status"] == "failed"
        assert text in bot["delivery_error"] and f"code {code}/{subcode}" in bot["delivery_error"]
        assert psid not in graph.delivered
    ledger.survived(transient + len(PERMANENT))
    print(f"\n{transient} transient faults ({sent_anyway} sent though unanswered, {settled} "
          f"settled by echo), {len(PERMANENT)} permanent; duplicates {duplicates}, lost "
          f"{len(lost)}; {graph.echoes_posted} echoes taken")

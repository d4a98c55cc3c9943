"""Crash: ``kill -9`` the app (arbiter and worker) in the middle of a stream of webhooks and
bot replies, start it again on the same store, and redeliver every webhook that did not get
a 200, as Facebook does. Everything acknowledged is tracked once, every bot reply goes out
exactly once -- including the sends Facebook had made when the app died without hearing
the answer (their echo settles them; nothing is sent again) -- and nothing is left pending.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from tests.support.graph_stub import graph_stub  # noqa: F401  (fixture)
from tests.support.messenger_live import batch, message_webhook, start_app

pytestmark = pytest.mark.timeout(240)

QUESTION = "what are your opening hours?"
COUNT, PEOPLE = 300, 100


@pytest.fixture(params=["sqlite", pytest.param("supabase", marks=pytest.mark.supabase)])
def app(request, tmp_path, graph_stub):  # noqa: F811
    # A short lease, so the restarted process takes the dead one's jobs over soon (the
    # bot and Send API timeouts are cut to fit it); an echo grace longer than the restart.
    # Echoes come 1 s after each send, as Facebook's do a little later: with none, an echo
    # settled each send within milliseconds and the kill only rarely caught one in flight.
    app = start_app(request, tmp_path / "app", graph_stub, request.param, echo_delay=1.0,
                    JOB_LEASE_SECONDS="5", BOT_TIMEOUT_SECONDS="1", BOT_RETRIES="0",
                    GRAPH_API_TIMEOUT_SECONDS="2", MESSENGER_ECHO_GRACE_SECONDS="8")
    yield app
    app.server.stop()


def test_kill_9_mid_load_loses_nothing_and_sends_nothing_twice(
        app, graph_stub, ledger):  # noqa: F811
    graph = graph_stub
    # Facebook sends at once but answers 0.5 s later: a wide window for the kill to fall
    # between a message going out and the app hearing about it.
    graph.slow_answers(0.5)
    mids = [f"mid.c.{i}" for i in range(COUNT)]
    psids = [f"psid-c-{i % PEOPLE}" for i in range(COUNT)]
    bodies = [batch([message_webhook(psids[i], mids[i], QUESTION)]) for i in range(COUNT)]

    progress = [0]
    statuses: list[int | None] = []

    def delivered_count() -> int:
        return sum(map(len, list(graph.delivered.values())))

    def load() -> None:
        # A steady stream (people keep writing while replies go out), 15 webhooks at a time.
        for start in range(0, COUNT, 15):
            # Past half way, wait for replies to be going out, so the kill below (which
            # waits for them too) lands mid-stream however fast webhooks are taken in.
            gate = time.monotonic() + 30
            while start >= COUNT // 2 and delivered_count() < 10 and time.monotonic() < gate:
                time.sleep(0.01)
            chunk = app.post(bodies[start:start + 15], concurrency=8, timeout=10,
                             progress=progress)
            statuses.extend(r.status for r in chunk.results)
            time.sleep(0.1)

    loader = threading.Thread(target=load)
    loader.start()
    deadline = time.monotonic() + 60
    # Kill while Facebook holds the answer to at least one send for 0.2 s more: that send
    # has gone out and the app cannot have heard so (polling for a moment in the stream
    # left it to chance, and a kill between two sends caught none).
    while (progress[0] < COUNT * 0.35 or delivered_count() < 10
           or not graph.holding(for_at_least=0.2)) and loader.is_alive():
        assert time.monotonic() < deadline, "the load did not get going"
        time.sleep(0.005)
    app.server.kill()  # SIGKILL of gunicorn's whole process group: no shutdown at all

    # Replies Facebook had sent while the store still says `pending`: caught in flight.
    delivered = {d.metadata for ds in list(graph.delivered.values()) for d in ds}
    pending = [int(r[0]) for r in app.rows(
        "select id from messages where sender_type = 'bot' and delivery_status = 'pending'")]
    in_flight = [i for i in pending if f"switchboard:{i}" in delivered]
    graph.clear_faults()
    loader.join(120)
    assert not loader.is_alive()
    acknowledged = {mids[i] for i, status in enumerate(statuses) if status == 200}
    assert COUNT * 0.35 <= len(acknowledged) < COUNT, "the kill did not land mid-load"
    ledger.fault(1 + len(in_flight))

    app.start()  # the same port, the same store; stale leases run out, echoes come in
    unanswered = [bodies[i] for i in range(COUNT) if mids[i] not in acknowledged]
    redelivered = app.post(unanswered, concurrency=8)
    assert [r.status for r in redelivered.results] == [200] * len(unanswered)
    app.wait_settled(timeout=150)

    # Everything acknowledged (and everything redelivered) is tracked, once.
    tracked = app.tracked("mid.c.%")
    lost = len(acknowledged - set(tracked))
    stored_twice = sum(1 for n in tracked.values() if n > 1)
    assert set(tracked) == set(mids)
    # Every message has exactly one bot reply, `sent`; nothing is left pending.
    replies = app.replies("mid.c.%")
    assert all(len(r) == 1 and r[0][1] == "sent" for r in replies.values()), \
        {m: r for m, r in replies.items() if len(r) != 1 or r[0][1] != "sent"}
    assert app.rows("select count(*) from messages where delivery_status = 'pending'") == [["0"]]
    # Facebook delivered each reply exactly once, the ones caught in flight included.
    counts = graph.delivery_counts()
    not_sent = [m for m, r in replies.items()
                if counts[(psids[mids.index(m)], f"switchboard:{r[0][0]}")] == 0]
    duplicates = graph.duplicates() + stored_twice
    ledger.lost(lost + len(not_sent))
    ledger.duplicates(duplicates)
    assert lost == 0 and not_sent == []
    assert duplicates == 0, [k for k, n in counts.items() if n > 1]
    assert Counter(d.recipient for ds in graph.delivered.values() for d in ds) == Counter(psids)
    # The kill did catch sends in flight, or this test would not test what it claims.
    assert in_flight, "no send was in flight at the kill"
    ledger.survived(1 + len(in_flight))
    print(f"\nkilled after {len(acknowledged)}/{COUNT} webhooks acknowledged; "
          f"{len(unanswered)} redelivered; {len(in_flight)} send(s) in flight at the kill, "
          f"settled by their echo; duplicates {duplicates}, lost {lost}")

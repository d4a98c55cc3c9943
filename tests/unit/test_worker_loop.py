"""The background worker's loop (services/worker.py): when it asks the store for jobs."""

from __future__ import annotations

import time

from services.models import InboundMessage
from services.runtime import build_services
from tests.support.counting_store import CountingStore
from tests.unit.test_pipeline import RecordingSender, ScriptedResponder


def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_worker_claims_when_work_comes_not_once_more_after_each_batch(settings, store):
    counting = CountingStore(store)
    services = build_services(settings, store=counting, responder=ScriptedResponder())
    sender = RecordingSender()
    services.senders["webchat"] = sender
    services.worker.poll_interval = 60.0  # no idle polls in this test: wake-ups only
    services.worker.start()
    try:
        _wait_for(lambda: counting.calls.get("claim_jobs", 0) >= 1)  # the first, idle claim
        counting.calls.clear()
        people = 6
        for n in range(people):  # one at a time, as a quiet site's messages come
            services.tracker.track_inbound(InboundMessage(
                platform="webchat", external_user_id=f"quiet-{n}", external_id=f"q-{n}",
                content="hello"))
            _wait_for(lambda: len(sender.sent) == n + 1)
    finally:
        services.worker.stop()
        services.close()
    # Each answer is one claimed job, the bot's turn, claimed when the message woke the
    # worker; its reply's send job came back claimed from the reply's write and woke
    # nobody. Before, every batch was followed by a claim that found nothing, and the send
    # was claimed on its own (16 claims for 6 answers).
    claims = counting.calls.get("claim_jobs", 0)
    assert len(sender.sent) == people
    assert claims <= people + 1, claims


def test_a_full_batch_is_followed_by_the_next_claim_at_once(settings, store):
    services = build_services(settings, store=store)
    done = []

    def finish(job):  # ends the job without an event: nothing wakes the worker but its loop
        done.append(job.id)
        store.finish_job(job.id, services.clock())

    services.worker.runner.handlers = {"respond": finish}
    services.worker.runner.batch_size = 2
    services.worker.poll_interval = 60.0
    for n in range(7):
        store.track_inbound(InboundMessage(
            platform="webchat", external_user_id=f"backlog-{n}", external_id=f"b-{n}",
            content="hello"), services.clock())
    services.worker.start()
    try:
        _wait_for(lambda: len(done) == 7)  # 2 + 2 + 2 + 1 without waiting for a poll
    finally:
        services.worker.stop()
        services.close()

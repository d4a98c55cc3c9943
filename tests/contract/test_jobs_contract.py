"""Contract: jobs are enqueued with their message, claimed exclusively, leased, finished."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from services.errors import Conflict, InvalidInput, NotFound
from tests.contract.helpers import MISSING_ID, in_parallel, inbound, outbound

REPO = Path(__file__).resolve().parents[2]
LEASE = 60.0


def job_of(store, kind, message_id, now):
    """The stored job of that kind for the message (enqueue_job returns an existing one)."""
    return store.enqueue_job(kind, message_id, now)


# -- enqueued with the message ----------------------------------------------------------------

def test_user_message_gets_one_respond_job(store, clock):
    t0 = clock()
    r = store.track_inbound(inbound("amy", "hi"), t0)
    assert store.count_jobs() == 1
    assert store.count_jobs("queued") == 1

    job = job_of(store, "respond", r.message.id, clock.advance(minutes=5))
    assert (job.kind, job.message_id, job.conversation_id) == (
        "respond", r.message.id, r.conversation.id)
    assert (job.status, job.attempts, job.locked_until, job.last_error) == (
        "queued", 0, None, None)
    assert job.run_after == job.created_at == job.updated_at == t0  # made with the message
    assert store.count_jobs() == 1


def test_no_respond_job_for_redelivery_non_user_senders_or_respond_false(store, clock):
    first = store.track_inbound(inbound("bo", ext="mid-1"), clock())
    again = store.track_inbound(inbound("bo", ext="mid-1"), clock.advance(seconds=1))
    assert again.created is False
    for sender in ("bot", "agent", "system"):
        r = store.track_inbound(inbound("bo", f"from {sender}", sender_type=sender), clock())
        assert r.created
    standby = store.track_inbound(inbound("bo", "seen in standby", respond=False), clock())
    assert standby.created and standby.message.sender_type == "user"

    assert store.count_jobs() == 1
    (job,) = store.claim_jobs(clock(), 10, LEASE)
    assert job.message_id == first.message.id


def test_pending_outbound_gets_one_send_job(store, clock):
    conv = store.track_inbound(inbound("cy", respond=False), clock()).conversation
    t1 = clock.advance(seconds=1)
    pending = store.track_outbound(outbound(conv.id, "hello", external_id="out-1"), t1)
    repeated = store.track_outbound(outbound(conv.id, "hello", external_id="out-1"),
                                    clock.advance(seconds=1))
    assert repeated.id == pending.id
    store.track_outbound(outbound(conv.id, "echoed", delivery_status="sent"), clock())
    store.track_outbound(outbound(conv.id, "agent", sender_type="agent",
                                  delivery_status="failed"), clock())
    agent = store.track_outbound(outbound(conv.id, "agent", sender_type="agent"), clock())

    assert store.count_jobs() == 2
    jobs = store.claim_jobs(clock(), 10, LEASE)
    assert [(j.kind, j.message_id) for j in jobs] == [("send", pending.id), ("send", agent.id)]
    assert jobs[0].run_after == t1
    assert jobs[0].conversation_id == conv.id


def test_enqueue_job_is_idempotent_per_kind(store, clock):
    msg = store.track_inbound(inbound("di", respond=False), clock()).message
    later = clock() + timedelta(minutes=10)
    job = store.enqueue_job("respond", msg.id, clock(), run_after=later)
    assert (job.kind, job.status, job.run_after, job.created_at) == (
        "respond", "queued", later, clock())
    again = store.enqueue_job("respond", msg.id, clock.advance(minutes=1))
    assert again == job
    other = store.enqueue_job("send", msg.id, clock())
    assert other.id != job.id and other.run_after == clock()
    assert store.count_jobs() == 2
    with pytest.raises(NotFound):
        store.enqueue_job("respond", MISSING_ID, clock())


# -- claiming -----------------------------------------------------------------------------------

def test_claim_takes_due_jobs_oldest_first_and_leases_them(store, clock):
    t0 = clock()
    msgs = [store.track_inbound(inbound(f"u{i}", respond=False), t0).message for i in range(4)]
    store.enqueue_job("respond", msgs[0].id, t0, run_after=t0 + timedelta(seconds=30))
    store.enqueue_job("respond", msgs[1].id, t0, run_after=t0 + timedelta(seconds=10))
    store.enqueue_job("respond", msgs[2].id, t0, run_after=t0 + timedelta(seconds=10))
    store.enqueue_job("send", msgs[3].id, t0, run_after=t0 + timedelta(hours=1))  # not due

    assert store.claim_jobs(t0, 10, LEASE) == []  # nothing due yet
    now = clock.advance(minutes=1)
    first = store.claim_jobs(now, 2, LEASE)
    assert [j.message_id for j in first] == [msgs[1].id, msgs[2].id]  # run_after, then id
    for job in first:
        assert (job.status, job.attempts, job.updated_at) == ("running", 1, now)
        assert job.locked_until == now + timedelta(seconds=LEASE)
    second = store.claim_jobs(now, 10, LEASE)
    assert [j.message_id for j in second] == [msgs[0].id]
    assert store.claim_jobs(now, 10, LEASE) == []  # leased jobs are not handed out again
    assert (store.count_jobs("running"), store.count_jobs("queued")) == (3, 1)


def test_claim_filters_by_kind(store, clock):
    conv = store.track_inbound(inbound("ed"), clock()).conversation
    store.track_outbound(outbound(conv.id, "hi"), clock())
    assert [j.kind for j in store.claim_jobs(clock(), 10, LEASE, kinds=["send"])] == ["send"]
    assert store.claim_jobs(clock(), 10, LEASE, kinds=["send"]) == []
    assert store.claim_jobs(clock(), 10, LEASE, kinds=[]) == []
    assert [j.kind for j in store.claim_jobs(clock(), 10, LEASE, kinds=["respond", "send"])] == [
        "respond"]


def test_expired_lease_is_claimed_again_with_one_more_attempt(store, clock):
    msg = store.track_inbound(inbound("flo"), clock()).message
    (job,) = store.claim_jobs(clock(), 1, 30)
    assert store.claim_jobs(clock.advance(seconds=29), 1, 30) == []
    assert store.claim_jobs(clock.advance(seconds=1), 1, 30) == []  # locked_until == now
    (again,) = store.claim_jobs(clock.advance(seconds=1), 1, 30)  # a crashed claimer's job
    assert (again.id, again.message_id, again.attempts) == (job.id, msg.id, 2)
    assert again.locked_until == clock() + timedelta(seconds=30)


def test_finish_retry_and_fail(store, clock):
    conv = store.track_inbound(inbound("gem"), clock()).conversation
    store.track_outbound(outbound(conv.id, "a"), clock())
    store.track_outbound(outbound(conv.id, "b"), clock())
    done, retried, failed = store.claim_jobs(clock(), 3, LEASE)

    store.finish_job(done.id, clock.advance(seconds=1))
    later = clock() + timedelta(minutes=5)
    store.retry_job(retried.id, later, "timeout", clock())
    store.fail_job(failed.id, "(#551) user unavailable", clock())
    assert [store.count_jobs(s) for s in ("queued", "running", "done", "failed")] == [1, 0, 1, 1]

    d = job_of(store, done.kind, done.message_id, clock())
    assert (d.status, d.locked_until, d.updated_at, d.attempts) == ("done", None, clock(), 1)
    f = job_of(store, failed.kind, failed.message_id, clock())
    assert (f.status, f.last_error, f.locked_until) == ("failed", "(#551) user unavailable", None)
    r = job_of(store, retried.kind, retried.message_id, clock())
    assert (r.status, r.run_after, r.last_error, r.locked_until, r.attempts) == (
        "queued", later, "timeout", None, 1)

    assert store.claim_jobs(clock.advance(minutes=4), 10, LEASE) == []  # not due yet
    (again,) = store.claim_jobs(clock.advance(minutes=1), 10, LEASE)
    assert (again.id, again.attempts, again.last_error) == (retried.id, 2, "timeout")
    (third,) = store.claim_jobs(clock.advance(hours=1), 10, LEASE)  # its lease ran out
    assert (third.id, third.attempts) == (retried.id, 3)  # done and failed stay put


def test_a_job_ends_in_the_write_that_completes_it(store, clock):
    """The bot's reply, and a message marked sent, can end their job in the same write."""
    r = store.track_inbound(inbound("hal", "hi"), clock())
    (respond,) = store.claim_jobs(clock(), 10, LEASE)
    reply, conv, _ = store.track_outbound_with_conversation(
        outbound(r.conversation.id, "hello", external_id=f"bot:{r.message.id}"),
        clock.advance(seconds=1), finish_job=respond.id)
    assert conv.message_count == 2 and reply.delivery_status == "pending"
    d = job_of(store, "respond", r.message.id, clock())
    assert (d.status, d.locked_until, d.updated_at) == ("done", None, clock())

    (send,) = store.claim_jobs(clock(), 10, LEASE)
    assert (send.kind, send.message_id) == ("send", reply.id)
    sent = store.set_delivery_status(reply.id, "sent", clock.advance(seconds=1),
                                     external_id="m_hal_1", finish_job=send.id)
    assert (sent.delivery_status, sent.external_id) == ("sent", "m_hal_1")
    s = job_of(store, "send", reply.id, clock())
    assert (s.status, s.locked_until, s.updated_at) == ("done", None, clock())
    assert [store.count_jobs(x) for x in ("queued", "running", "done")] == [0, 0, 2]


def test_a_reply_can_come_back_with_its_send_job_claimed(store, clock):
    r = store.track_inbound(inbound("ria", "hi"), clock())
    (respond,) = store.claim_jobs(clock(), 10, LEASE)
    now = clock.advance(seconds=1)
    reply, conv, send = store.track_outbound_with_conversation(
        outbound(r.conversation.id, "hello", external_id=f"bot:{r.message.id}"), now,
        finish_job=respond.id, claim_send=LEASE, attempt_mark={"send_attempt_at": "t1"})
    # Claimed in the reply's write, as claim_jobs would, carrying what the worker needs.
    assert (send.kind, send.message_id, send.status, send.attempts) == (
        "send", reply.id, "running", 1)
    assert send.locked_until == now + timedelta(seconds=LEASE)
    assert send.message == reply == store.get_message(reply.id)
    assert send.conversation == conv
    assert reply.metadata["send_attempt_at"] == "t1"
    assert job_of(store, "respond", r.message.id, now).status == "done"
    assert store.claim_jobs(now, 10, LEASE) == []  # nobody else can take it
    # Claimable again once its lease ran out (the claimer died), as any job.
    later = now + timedelta(seconds=LEASE + 1)
    assert [j.id for j in store.claim_jobs(later, 10, LEASE)] == [send.id]
    # A second run of the turn finds the reply stored and its job running: nothing claimed.
    again, _, none = store.track_outbound_with_conversation(
        outbound(r.conversation.id, "hello", external_id=f"bot:{r.message.id}"), later,
        claim_send=LEASE, attempt_mark={"send_attempt_at": "t2"})
    assert none is None and again.metadata["send_attempt_at"] == "t1"


def test_no_send_job_is_claimed_for_a_message_not_pending_or_a_job_not_due(store, clock):
    conv = store.track_inbound(inbound("rib", respond=False), clock()).conversation
    sent, _, job = store.track_outbound_with_conversation(
        outbound(conv.id, "already out", delivery_status="sent"), clock(), claim_send=LEASE,
        attempt_mark={"send_attempt_at": "t"})
    assert job is None and "send_attempt_at" not in sent.metadata
    # A stored reply whose job waits for a retry later: a second run does not jump the wait.
    first, _, job = store.track_outbound_with_conversation(
        outbound(conv.id, "x", external_id="bot:rib"), clock(), claim_send=LEASE)
    store.retry_job(job.id, clock() + timedelta(minutes=5), "timed out", clock())
    _, _, again = store.track_outbound_with_conversation(
        outbound(conv.id, "x", external_id="bot:rib"), clock.advance(seconds=1),
        claim_send=LEASE, attempt_mark={"send_attempt_at": "t"})
    assert again is None
    assert job_of(store, "send", first.id, clock()).status == "queued"
    assert "send_attempt_at" not in store.get_message(first.id).metadata
    with pytest.raises(InvalidInput):
        store.track_outbound_with_conversation(outbound(conv.id, "y"), clock(), claim_send=0)


def test_a_message_that_went_out_never_moves_back(store, clock):
    conv = store.track_inbound(inbound("fwd", respond=False), clock()).conversation
    msg = store.track_outbound(outbound(conv.id, "hi"), clock())
    (send,) = store.claim_jobs(clock(), 10, LEASE)
    # Facebook's echo settled the send while the outbox's last attempt waited in vain ...
    sent = store.set_delivery_status(msg.id, "sent", clock(), external_id="m_fwd")
    # ... then the outbox gave up: the message stays sent (no retry button, no second
    # send), and the job still ends.
    store.fail_job(send.id, "timed out", clock.advance(seconds=1))
    assert store.set_delivery_status(msg.id, "failed", clock(), error="timed out") == sent
    assert store.set_delivery_status(msg.id, "pending", clock()) == sent
    assert store.get_message(msg.id) == sent
    # A slow Send API answer after the read receipt leaves it read, and still ends its job.
    read = store.set_delivery_status(msg.id, "read", clock())
    again = store.track_outbound(outbound(conv.id, "again"), clock())
    (job,) = store.claim_jobs(clock(), 10, LEASE)
    store.set_delivery_status(again.id, "read", clock(), external_id="m_again")
    assert store.set_delivery_status(again.id, "sent", clock(), external_id="m_again",
                                     finish_job=job.id).delivery_status == "read"
    assert job_of(store, "send", again.id, clock()).status == "done"
    assert store.set_delivery_status(msg.id, "delivered", clock()) == read
    assert store.get_message(msg.id).delivery_status == "read"
    # Until it goes out, a message moves freely: failed, then sent by a later attempt.
    third = store.track_outbound(outbound(conv.id, "third"), clock())
    assert store.set_delivery_status(third.id, "failed", clock(), error="x").delivery_status \
        == "failed"
    assert store.set_delivery_status(third.id, "sent", clock()).delivery_status == "sent"


def test_a_job_ends_only_if_its_write_happens(store, clock):
    r = store.track_inbound(inbound("ivy", "hi"), clock())
    (job,) = store.claim_jobs(clock(), 10, LEASE)
    with pytest.raises(NotFound):
        store.set_delivery_status(MISSING_ID, "sent", clock(), finish_job=job.id)
    with pytest.raises(NotFound):
        store.track_outbound_with_conversation(outbound(MISSING_ID), clock(), finish_job=job.id)
    assert job_of(store, "respond", r.message.id, clock()).status == "running"
    # An unknown job changes nothing else: the write happens.
    reply, _, _ = store.track_outbound_with_conversation(
        outbound(r.conversation.id, "hello"), clock(), finish_job=MISSING_ID)
    assert store.get_message(reply.id).content == "hello"
    assert store.set_delivery_status(reply.id, "sent", clock(),
                                     finish_job=MISSING_ID).delivery_status == "sent"
    assert store.count_jobs("running") == 1


def test_unknown_jobs_and_bad_arguments(store, clock):
    with pytest.raises(NotFound):
        store.finish_job(MISSING_ID, clock())
    with pytest.raises(NotFound):
        store.retry_job(MISSING_ID, clock(), "x", clock())
    with pytest.raises(NotFound):
        store.fail_job(MISSING_ID, "x", clock())
    with pytest.raises(InvalidInput):
        store.count_jobs("sleeping")
    with pytest.raises(InvalidInput):
        store.claim_jobs(clock(), 0, LEASE)
    with pytest.raises(InvalidInput):
        store.claim_jobs(clock(), 1, 0)
    with pytest.raises(InvalidInput):
        store.claim_jobs(clock(), 1, LEASE, kinds=["dance"])


# -- sending a failed message again (requeue_send) ------------------------------------------------

def _failed_send(store, clock, user="rq", attempts=3):
    """An outbound message whose send job failed for good after ``attempts`` tries."""
    conv = store.track_inbound(inbound(user, respond=False), clock()).conversation
    msg = store.track_outbound(outbound(conv.id, "your order shipped"), clock())
    for attempt in range(1, attempts + 1):
        (job,) = store.claim_jobs(clock.advance(minutes=1), 1, LEASE, kinds=["send"])
        assert job.attempts == attempt
        if attempt < attempts:
            store.retry_job(job.id, clock(), "timeout", clock())
    store.set_delivery_status(msg.id, "failed", clock(), error="(#551) unavailable")
    store.fail_job(job.id, "(#551) unavailable", clock())
    return msg


def test_requeue_send_puts_a_failed_message_and_its_job_back(store, clock):
    msg = _failed_send(store, clock)
    now = clock.advance(minutes=10)
    again = store.requeue_send(msg.id, now)
    assert (again.id, again.delivery_status, again.delivery_error) == (msg.id, "pending", None)
    assert store.get_message(msg.id) == again
    job = job_of(store, "send", msg.id, clock())
    assert (job.status, job.attempts, job.run_after, job.last_error, job.locked_until) == (
        "queued", 0, now, None, None)
    assert job.updated_at == now and job.created_at < now  # the same job, reset
    assert store.count_jobs() == 1 and store.count_jobs("failed") == 0
    (claimed,) = store.claim_jobs(now, 10, LEASE)
    assert (claimed.id, claimed.attempts) == (job.id, 1)  # a fresh round of attempts


def test_requeue_send_creates_a_missing_job(store, clock):
    conv = store.track_inbound(inbound("nj", respond=False), clock()).conversation
    # Stored as failed from the start (e.g. the platform refused it inline): no send job.
    msg = store.track_outbound(outbound(conv.id, "x", delivery_status="failed"), clock())
    assert store.count_jobs() == 0
    now = clock.advance(minutes=1)
    assert store.requeue_send(msg.id, now).delivery_status == "pending"
    assert store.count_jobs("queued") == 1
    (job,) = store.claim_jobs(now, 10, LEASE)
    assert (job.kind, job.message_id, job.conversation_id, job.attempts) == (
        "send", msg.id, conv.id, 1)
    assert job.run_after == job.created_at == now


def test_requeue_send_takes_back_a_job_still_leased(store, clock):
    conv = store.track_inbound(inbound("ls", respond=False), clock()).conversation
    msg = store.track_outbound(outbound(conv.id, "x"), clock())
    (job,) = store.claim_jobs(clock(), 1, LEASE)  # a worker that then crashed
    store.set_delivery_status(msg.id, "failed", clock(), error="boom")
    now = clock.advance(seconds=1)
    store.requeue_send(msg.id, now)
    again = job_of(store, "send", msg.id, now)
    assert (again.id, again.status, again.attempts, again.locked_until) == (
        job.id, "queued", 0, None)
    assert [j.id for j in store.claim_jobs(now, 10, LEASE)] == [job.id]  # no lease to wait out


@pytest.mark.parametrize("status", ["pending", "sent", "delivered", "read"])
def test_requeue_send_refuses_a_message_that_did_not_fail(store, clock, status):
    conv = store.track_inbound(inbound("nf", respond=False), clock()).conversation
    msg = store.track_outbound(outbound(conv.id, "x"), clock())
    if status != "pending":
        store.set_delivery_status(msg.id, status, clock())
    before = job_of(store, "send", msg.id, clock())
    with pytest.raises(Conflict):
        store.requeue_send(msg.id, clock.advance(minutes=1))
    assert store.get_message(msg.id).delivery_status == status
    assert job_of(store, "send", msg.id, clock()) == before  # the job is untouched


def test_requeue_send_refuses_inbound_and_unknown_messages(store, clock):
    user_msg = store.track_inbound(inbound("in", respond=False), clock()).message
    store.set_delivery_status(user_msg.id, "failed", clock())  # nonsense, but stored
    with pytest.raises(Conflict):  # only bot/agent/system messages are sent
        store.requeue_send(user_msg.id, clock())
    assert store.count_jobs() == 0
    with pytest.raises(NotFound):
        store.requeue_send(MISSING_ID, clock())


def test_concurrent_requeues_of_one_message_succeed_once(store, clock):
    msg = _failed_send(store, clock, attempts=1)
    now = clock.advance(minutes=1)

    def requeue(_):
        try:
            return store.requeue_send(msg.id, now).delivery_status
        except Conflict:
            return "conflict"

    assert sorted(in_parallel(2, requeue)) == ["conflict", "pending"]
    assert store.count_jobs("queued") == 1


# -- concurrency --------------------------------------------------------------------------------

def _make_jobs(store, clock, n=200):
    for i in range(n):
        store.track_inbound(inbound(f"crowd-{i % 20}", f"m{i}"), clock())
    assert store.count_jobs("queued") == n


def _claim_until_empty(store, now, batch):
    claimed = []
    while jobs := store.claim_jobs(now, batch, LEASE):
        claimed += [j.id for j in jobs]
        time.sleep(0.001)  # "work", so the claimers interleave
    return claimed


def test_concurrent_claimers_get_disjoint_sets_covering_all(store, clock):
    _make_jobs(store, clock)
    now = clock.advance(seconds=1)
    per_thread = in_parallel(4, lambda i: _claim_until_empty(store, now, 3))

    every = [job_id for ids in per_thread for job_id in ids]
    assert len(every) == len(set(every)) == 200  # no job handed out twice, none missed
    assert sum(1 for ids in per_thread if ids) >= 2  # they really competed
    assert (store.count_jobs("running"), store.count_jobs("queued")) == (200, 0)


_CLAIMER = """
import json, sys, threading, time
from datetime import datetime
from services.store.sqlite import SqliteStore

store = SqliteStore(sys.argv[1])
now = datetime.fromisoformat(sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()
claimed = []
def work():
    # 10 ms between claims: one process alone takes half a second to claim everything, so
    # the other, released at the same moment, claims beside it even on a loaded machine
    # (at 1 ms, one process took all 200 while the other waited for a core).
    while jobs := store.claim_jobs(now, 2, 60.0):
        claimed.extend(j.id for j in jobs)
        time.sleep(0.01)
threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(claimed), flush=True)
"""


def test_sqlite_claimers_in_two_processes_get_disjoint_sets(tmp_path, clock):
    from services.store.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "jobs.db")
    try:
        _make_jobs(store, clock)
        now = clock.advance(seconds=1)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        procs = [subprocess.Popen([sys.executable, "-c", _CLAIMER, str(store.path),
                                   now.isoformat()], cwd=REPO, env=env, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                 for _ in range(2)]
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        for p in procs:  # release both at once
            p.stdin.write("go\n")
            p.stdin.flush()
        per_process = []
        for p in procs:
            out, _ = p.communicate(timeout=120)
            assert p.returncode == 0
            per_process.append(json.loads(out.strip().splitlines()[-1]))

        every = [job_id for ids in per_process for job_id in ids]
        assert len(every) == len(set(every)) == 200
        assert all(per_process)  # both processes got work
        assert store.count_jobs("running") == 200
    finally:
        store.close()


# -- claimed with their message and conversation -----------------------------------------------

def test_claimed_jobs_carry_their_message_and_conversation(store, clock):
    a = store.track_inbound(inbound("ctx-a", "first"), clock())
    b = store.track_inbound(inbound("ctx-b", "other"), clock())
    reply = store.track_outbound(outbound(a.conversation.id, "pending reply"), clock())
    jobs = store.claim_jobs(clock(), 10, LEASE)
    assert {(j.kind, j.message_id) for j in jobs} == {
        ("respond", a.message.id), ("respond", b.message.id), ("send", reply.id)}
    for job in jobs:
        # As a read right after the claim finds them.
        assert job.message == store.get_message(job.message_id)
        assert job.conversation == store.get_conversation(job.conversation_id)
        assert job.message.conversation_id == job.conversation.id == job.conversation_id


def test_a_later_job_of_one_conversation_in_a_batch_reads_it_fresh(store, clock):
    from services.worker import JobRunner

    first = store.track_inbound(inbound("ctx-c", "one"), clock())
    store.track_inbound(inbound("ctx-c", "two"), clock())
    other = store.track_inbound(inbound("ctx-d", "three"), clock())
    seen = []
    runner = JobRunner(store, {"respond": lambda job: (seen.append(job),
                                                       store.finish_job(job.id, clock()))}, clock)
    try:
        assert runner.run_once() == 3
    finally:
        runner.close()
    by_message = {job.message_id: job for job in seen}
    # The first job of each conversation keeps what the claim read; the second of "ctx-c"
    # must not use a conversation its predecessor may have changed.
    assert by_message[first.message.id].conversation is not None
    assert by_message[other.message.id].conversation is not None
    later = [job for job in seen if job.conversation_id == first.conversation.id
             and job.message_id != first.message.id]
    assert len(later) == 1 and later[0].conversation is None and later[0].message is None

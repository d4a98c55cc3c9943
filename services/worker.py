"""Background work: runs the stored jobs (bot answers, outbox sends) and the lifecycle sweep.

Runs inside each app process (gunicorn's ``post_worker_init`` starts it) or on its own
(``python worker.py``).

Jobs live in the store, so work acknowledged before a crash is picked up again on start,
and several processes share the queue without doing anything twice (atomic claims).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from services.errors import NotFound
from services.events import Event
from services.models import Job
from services.store.base import ConversationStore
from services.tracking import Clock

log = logging.getLogger(__name__)

JobHandler = Callable[[Job], None]


class JobRunner:
    """Claims jobs in batches and runs them: one conversation's jobs in order, different
    conversations side by side."""

    def __init__(
        self,
        store: ConversationStore,
        handlers: dict[str, JobHandler],
        clock: Clock,
        lease_seconds: float = 60.0,
        batch_size: int = 8,  # small batches: a batch must end well within its lease
        concurrency: int = 8,
    ) -> None:
        self.store = store
        self.handlers = handlers
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.batch_size = batch_size
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="job")

    def run_once(self) -> int:
        """Claim and run one batch; returns how many jobs it took."""
        jobs = self.store.claim_jobs(self.clock(), self.batch_size, self.lease_seconds)
        if not jobs:
            return 0
        by_conversation: dict[int, list[Job]] = defaultdict(list)
        for job in jobs:
            group = by_conversation[job.conversation_id]
            if group:  # the jobs before it may change its conversation: handlers read it fresh
                job = job.model_copy(update={"message": None, "conversation": None})
            group.append(job)
        list(self.pool.map(self._run_in_order, by_conversation.values()))
        return len(jobs)

    def run_until_idle(self, max_batches: int = 1000) -> int:
        """Run batches until none is due (tests and the CLI use this)."""
        total = 0
        for _ in range(max_batches):
            done = self.run_once()
            if not done:
                break
            total += done
        return total

    def _run_in_order(self, jobs: list[Job]) -> None:
        for job in jobs:
            handler = self.handlers.get(job.kind)
            try:
                if handler is None:
                    raise RuntimeError(f"no handler for {job.kind} jobs")
                handler(job)
            except Exception as exc:
                if isinstance(exc, NotFound) and self._deleted(job):
                    log.info("job %s (%s) dropped: conversation %s was deleted", job.id,
                             job.kind, job.conversation_id)
                    continue  # the job went with it
                # The handler did not settle the job: leave it to be claimed again when its
                # lease runs out, with the error recorded for the admin.
                log.exception("job %s (%s) failed", job.id, job.kind)
                try:
                    self.store.retry_job(
                        job.id, self.clock(), f"{type(exc).__name__}: {exc}"[:500], self.clock()
                    )
                except Exception:
                    log.exception("could not record the failure of job %s", job.id)

    def _deleted(self, job: Job) -> bool:
        """Whether the job's conversation was deleted while it ran (an admin's erasure, the
        retention sweep): then its job is gone too, and there is nothing to retry."""
        try:
            return self.store.get_conversation(job.conversation_id) is None
        except Exception:  # the store is down, say: treat it as any failure
            return False

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class BackgroundWorker:
    """The loop around a ``JobRunner`` and a sweeper: wakes on new work, polls otherwise."""

    def __init__(
        self,
        runner: JobRunner,
        sweep: Callable[[], object] | None,
        poll_interval: float = 1.0,
        sweep_interval: float = 30.0,
        replay: Callable[[], int] | None = None,
    ) -> None:
        self.runner = runner
        self.replay = replay  # SpoolReplayer.run_once: drains the inbound spool (spool.py)
        self.sweep = sweep
        self.poll_interval = poll_interval
        self.sweep_interval = sweep_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def on_event(self, event: Event) -> None:
        """Subscribed to the event bus: a new message may mean a new job (unless its send
        job was claimed with it, a bot reply sent from its turn); a spooled one
        (``store.status``) means something to replay."""
        if event.name == "message.created" and event.data.get("send_claimed"):
            return
        if event.name in ("message.created", "store.status"):
            self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="switchboard-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        next_sweep = 0.0
        while not self._stop.is_set():
            self._wake.clear()
            replayed = 0
            if self.replay is not None:
                try:  # first, so spooled messages get their jobs before new work is claimed
                    replayed = self.replay()
                except Exception:
                    log.exception("spool replay failed; retrying")
            try:
                if self.sweep is not None and time.monotonic() >= next_sweep:
                    self.sweep()
                    next_sweep = time.monotonic() + self.sweep_interval
                busy = self.runner.run_once()
            except Exception:  # the store is down, say: keep the loop alive and retry
                log.exception("background work failed; retrying")
                busy = 0
            # A batch that was not full took every job that was due: claim again only when
            # something new comes (the wake-up set meanwhile, by the jobs just run too: a
            # handoff message's send job) or at the next poll, not at once for an answer of none. That
            # empty claim was a store request per answered message, and a handler that kept
            # failing was retried in a tight loop.
            if busy < self.runner.batch_size and not replayed:
                self._wake.wait(self.poll_interval)

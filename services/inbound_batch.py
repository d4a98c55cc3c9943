"""``InboundBatcher``: group commit for inbound messages.

Every webhook and widget message waits for its own ``track_inbound`` before it is
acknowledged. Under load most of that cost is per call, not per message: an HTTP request,
a PostgREST transaction and a commit that waits for the disk (Supabase), or a commit with an
fsync (SQLite). The batcher lets messages that arrive while a store call is in flight share
the next one: ``store.track_inbound_many``, one call and one transaction for all of them.

* No timer: a message that finds no call in flight goes at once, alone (plain
  ``track_inbound``); batches form only when calls are already queueing, so nothing waits
  longer than it would have waited for the store anyway.
* At most ``max_in_flight`` calls at once, each of at most ``max_batch`` messages. The first
  caller to find a free slot leads: it sends the waiting messages, oldest first, until its
  own is stored, then hands the slot to the oldest one still waiting.
* Each caller gets its own message's result or error. A batch is all or nothing: when the
  store refuses it, its messages are tracked again one by one, so one bad message fails
  alone; once one of those calls finds the store unavailable the rest fail with it at once
  (each waiting for a store that is down would only keep every caller longer), and the
  tracker spools them.

Plain ``threading`` primitives: under gevent's monkey-patching they are greenlet-aware.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime

from services.errors import StoreUnavailable
from services.models import InboundMessage, TrackResult
from services.store.base import ConversationStore


class _Waiter:
    """One caller's message, and then its outcome."""

    __slots__ = ("message", "now", "result", "error", "finished", "leads", "wake")

    def __init__(self, message: InboundMessage, now: datetime) -> None:
        self.message = message
        self.now = now
        self.result: TrackResult | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.leads = False  # handed a slot: it sends batches now
        self.wake = threading.Event()


class InboundBatcher:
    """Shares store calls between concurrent ``track`` callers (see the module docstring)."""

    def __init__(self, store: ConversationStore, max_batch: int = 50,
                 max_in_flight: int = 2) -> None:
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be at least 1")
        self.store = store
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self._lock = threading.Lock()
        self._waiting: deque[_Waiter] = deque()
        self._leaders = 0
        # What it did, for tests and benchmarks: store calls, and messages they carried.
        self.calls = 0
        self.batched_messages = 0

    def track(self, message: InboundMessage, now: datetime) -> TrackResult:
        """Store one message (``store.track_inbound``'s contract), possibly with others."""
        me = _Waiter(message, now)
        with self._lock:
            self._waiting.append(me)
            if self._leaders < self.max_in_flight:
                self._leaders += 1
                me.leads = True
        while not me.leads:
            me.wake.wait()
            me.wake.clear()
            if me.finished and not me.leads:
                break
        if me.leads:
            self._lead(me)
        if me.error is not None:
            raise me.error
        assert me.result is not None
        return me.result

    def _lead(self, me: _Waiter) -> None:
        """Send batches until ``me`` is stored, then pass the slot on (or give it back)."""
        try:
            while not me.finished:
                with self._lock:
                    batch = [self._waiting.popleft()
                             for _ in range(min(self.max_batch, len(self._waiting)))]
                if batch:
                    self._send(batch)
                else:  # ``me`` is in another leader's batch: wait for it to end
                    me.wake.wait()
                    me.wake.clear()
        finally:
            with self._lock:
                # The oldest waiter not handed a slot already: another leader that ended a
                # moment ago may have picked the head, which has not woken to take it yet.
                heir = next((w for w in self._waiting if not w.leads), None)
                if heir is not None:
                    heir.leads = True
                    heir.wake.set()
                else:
                    self._leaders -= 1

    def _send(self, batch: list[_Waiter]) -> None:
        try:
            if len(batch) == 1:
                self._one(batch[0])
                return
            with self._lock:
                self.calls += 1
                self.batched_messages += len(batch)
            try:
                results = self.store.track_inbound_many([(w.message, w.now) for w in batch])
            except Exception:
                self._one_by_one(batch)
            else:
                for waiter, result in zip(batch, results):
                    waiter.result = result
        finally:
            for waiter in batch:
                if waiter.result is None and waiter.error is None:  # cut short (a timeout)
                    waiter.error = StoreUnavailable("the store call was interrupted")
                waiter.finished = True
                waiter.wake.set()

    def _one_by_one(self, batch: list[_Waiter]) -> None:
        """After a refused batch: a message the store refuses fails alone, and a batch that
        failed as a whole (a deadlock, a database without ``track_inbound_many``) is still
        stored. Once one call finds the store unavailable, the rest fail with it at once."""
        down: BaseException | None = None
        for waiter in batch:
            if down is not None:
                waiter.error = down
                continue
            self._one(waiter)
            if isinstance(waiter.error, StoreUnavailable):
                down = waiter.error

    def _one(self, waiter: _Waiter) -> None:
        with self._lock:
            self.calls += 1
            self.batched_messages += 1
        try:
            waiter.result = self.store.track_inbound(waiter.message, waiter.now)
        except Exception as exc:
            waiter.error = exc

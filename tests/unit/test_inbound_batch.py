"""``InboundBatcher`` (services/inbound_batch.py) over both real stores: concurrent callers
share store calls, each gets its own outcome, and nothing is stored twice or lost."""

from __future__ import annotations

import threading
import time

import pytest

from services.errors import StoreUnavailable
from services.inbound_batch import InboundBatcher
from services.models import InboundMessage
from tests.contract.helpers import inbound


class SlowStore:
    """A real store whose inbound calls take at least ``delay`` seconds, as a store under
    load does, and which records how many such calls run at once (and which are down)."""

    def __init__(self, store, delay: float = 0.03) -> None:
        self._store = store
        self.delay = delay
        self.down = False
        self.running = 0
        self.most_at_once = 0
        self.batch_sizes: list[int] = []
        self._lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(self._store, name)

    def _call(self, size: int, fn):
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.batch_sizes.append(size)
        try:
            time.sleep(self.delay)
            if self.down:
                raise StoreUnavailable("the store is down (test)")
            return fn()
        finally:
            with self._lock:
                self.running -= 1

    def track_inbound(self, message, now):
        return self._call(1, lambda: self._store.track_inbound(message, now))

    def track_inbound_many(self, items):
        return self._call(len(items), lambda: self._store.track_inbound_many(items))


def _send_all(batcher: InboundBatcher, messages: list[InboundMessage], clock, threads: int):
    """Every message through ``batcher.track`` from ``threads`` threads released at once;
    returns each message's outcome (result or exception), in the messages' order."""
    outcomes: list[object] = [None] * len(messages)
    barrier = threading.Barrier(threads)

    def work(k: int) -> None:
        barrier.wait()
        for i in range(k, len(messages), threads):
            try:
                outcomes[i] = batcher.track(messages[i], clock())
            except Exception as exc:  # noqa: BLE001 - the outcome under test
                outcomes[i] = exc

    pool = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(120)
    return outcomes


def test_concurrent_messages_share_calls_and_each_gets_its_own_result(store, clock):
    slow = SlowStore(store)
    batcher = InboundBatcher(slow, max_batch=16, max_in_flight=2)
    messages = [inbound(f"p{n % 25}", f"text {n}", ext=f"share-{n}") for n in range(300)]
    outcomes = _send_all(batcher, messages, clock, threads=30)

    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    assert [o.message.external_id for o in outcomes] == [m.external_id for m in messages]
    assert [o.message.content for o in outcomes] == [m.content for m in messages]
    assert all(o.created for o in outcomes)
    # Shared: far fewer calls than messages, none over the limits.
    assert batcher.calls == len(slow.batch_sizes) < len(messages) // 4
    assert sum(slow.batch_sizes) == batcher.batched_messages == len(messages)
    assert max(slow.batch_sizes) <= 16 and slow.most_at_once <= 2
    # Stored once each, with each person's messages in one conversation.
    for n in range(25):
        conv = store.find_message_by_external_id("webchat", f"share-{n}").conversation_id
        assert store.get_conversation(conv).message_count == 12


def test_one_caller_alone_makes_a_plain_call(store, clock):
    slow = SlowStore(store, delay=0)
    batcher = InboundBatcher(slow)
    for n in range(3):
        assert batcher.track(inbound("solo", f"m{n}", ext=f"solo-{n}"), clock()).created
    assert slow.batch_sizes == [1, 1, 1] and batcher.calls == 3


def test_a_message_the_store_refuses_fails_alone(store, clock):
    slow = SlowStore(store)
    batcher = InboundBatcher(slow, max_batch=50, max_in_flight=1)
    messages = [inbound(f"r{n}", "fine", ext=f"refuse-{n}") for n in range(40)]
    # Built without validation: a platform the schema refuses.
    messages[17] = InboundMessage.model_construct(
        **{**inbound("r17", "bad", ext="refuse-17").__dict__, "platform": "fax"})
    outcomes = _send_all(batcher, messages, clock, threads=40)

    assert isinstance(outcomes[17], Exception) and not isinstance(outcomes[17], StoreUnavailable)
    assert all(o.created for i, o in enumerate(outcomes) if i != 17), outcomes
    assert any(size > 1 for size in slow.batch_sizes)  # a batch was refused, then split
    for i in range(40):
        found = store.find_message_by_external_id("webchat", f"refuse-{i}")
        assert (found is None) == (i == 17)


def test_a_store_that_is_down_fails_the_batch_at_once(store, clock):
    slow = SlowStore(store)
    slow.down = True
    batcher = InboundBatcher(slow, max_batch=50, max_in_flight=1)
    messages = [inbound(f"d{n}", "lost?", ext=f"down-{n}") for n in range(30)]
    outcomes = _send_all(batcher, messages, clock, threads=30)

    assert all(isinstance(o, StoreUnavailable) for o in outcomes), outcomes
    # Per batch: the batch call, one message alone to tell a refusal from an outage, no more.
    batches = sum(1 for size in slow.batch_sizes if size > 1)
    assert len(slow.batch_sizes) <= 1 + 2 * batches + 1
    slow.down = False
    assert all(batcher.track(m, clock()).created for m in messages)  # nothing half-written


@pytest.mark.parametrize("max_in_flight", [1, 3])
def test_no_caller_is_left_waiting(store, clock, max_in_flight):
    # Callers arriving in waves while batches are in flight: each wave's first caller may
    # lead or wait; every one must come back with its own message stored.
    slow = SlowStore(store, delay=0.01)
    batcher = InboundBatcher(slow, max_batch=4, max_in_flight=max_in_flight)
    messages = [inbound(f"w{n % 7}", f"w{n}", ext=f"wave-{max_in_flight}-{n}")
                for n in range(120)]
    outcomes = _send_all(batcher, messages, clock, threads=12)
    assert [o.message.external_id for o in outcomes] == [m.external_id for m in messages]
    assert max(slow.batch_sizes) <= 4 and slow.most_at_once <= max_in_flight


def test_the_app_tracks_through_a_batcher_and_publishes_each_message(services, captured_events,
                                                                     clock):
    tracker = services.tracker
    assert isinstance(tracker.batcher, InboundBatcher)
    assert tracker.batcher.max_batch == services.settings.inbound_max_batch == 50
    messages = [inbound(f"e{n % 5}", f"e{n}", ext=f"events-{n}") for n in range(60)]

    class Tracking:  # _send_all's caller interface, through the tracker
        def track(self, message, now):
            return tracker.track_inbound(message)

    outcomes = _send_all(Tracking(), messages, clock, threads=12)
    assert all(o.created for o in outcomes)
    created = [e.data["message"]["external_id"] for e in captured_events
               if e.name == "message.created"]
    assert sorted(created) == sorted(m.external_id for m in messages)


def test_a_batch_size_of_one_turns_batching_off(settings, store, clock):
    from services.runtime import build_services

    settings = settings.model_copy(update={"inbound_max_batch": 1})
    assert build_services(settings, store=store, clock=clock).tracker.batcher is None


def test_slots_are_never_lost_when_leaders_end_together(store, clock):
    # Two leaders ending at once used to hand their slots to the same waiter, one slot was
    # lost, and after two such losses (max_in_flight=2) nobody led and every caller hung.
    slow = SlowStore(store, delay=0)
    batcher = InboundBatcher(slow, max_batch=3, max_in_flight=2)
    messages = [inbound(f"s{n % 9}", f"s{n}", ext=f"slots-{n}") for n in range(1600)]
    outcomes = _send_all(batcher, messages, clock, threads=16)
    assert all(o is not None and not isinstance(o, Exception) for o in outcomes)
    # Both slots are still there: two slow calls now run side by side.
    slow.delay, slow.most_at_once = 0.3, 0
    late = [inbound("after", "a", ext="slots-after-a"), inbound("later", "b", ext="slots-after-b")]
    assert all(o.created for o in _send_all(batcher, late, clock, threads=2))
    assert slow.most_at_once == 2

"""What a person on Messenger sees of the team besides its messages: "typing…" while an
agent writes a reply on the conversation's page or a slow bot prepares its answer, and
"Seen" once an account has read what they wrote (Send API sender actions ``typing_on``,
``typing_off`` and ``mark_seen``).

``SenderActions`` is subscribed to the services' ``EventBus``. The events it follows are
published in one process each (``typing`` from the agent's page's socket, or from the
process whose bot turn waits on a slow responder: ``BOT_TYPING_AFTER_SECONDS``;
``conversation.read`` where the account's read mark moves on), so each action is asked
for once, whatever the number of processes. The handler only decides and queues: a
background thread looks the conversation up and calls the Graph API, so the socket or
request that published the event never waits on Facebook.

Nothing is sent to other channels, outside the 24-hour standard window (Messenger allows
sender actions only within it), or for a conversation closed. ``typing_on`` goes at most
every ``TYPING_EVERY_SECONDS`` for one conversation (Messenger shows it for 20 seconds, or
until the Page's next message); ``typing_off`` only after a ``typing_on`` that no message
has ended; ``mark_seen`` once for each count of messages read. A failed call is logged and
dropped, as is an action the queue has no room for: an indicator is not worth a retry.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict

from channels.messenger.window import decide
from services.errors import NotFound, StoreUnavailable
from services.events import Event

log = logging.getLogger(__name__)

PLATFORM = "messenger"
TYPING_EVERY_SECONDS = 10.0
QUEUE_SIZE = 200
REMEMBERED = 1000  # conversations whose typing or seen state is kept (the oldest go first)


class SenderActions:
    """Subscribed to the ``EventBus``: sends Messenger's typing and seen indicators."""

    def __init__(self, client, tracker, clock, monotonic=time.monotonic) -> None:
        self.client = client
        self.tracker = tracker
        self.clock = clock
        self.monotonic = monotonic
        self._queue: queue.Queue[tuple[int, str]] = queue.Queue(QUEUE_SIZE)
        self._lock = threading.Lock()
        self._typing: OrderedDict[int, float] = OrderedDict()  # typing_on sent, when
        self._seen: OrderedDict[int, int] = OrderedDict()  # message count marked seen
        self._thread: threading.Thread | None = None
        # What it did, for tests and logs: actions sent, and skipped (not Messenger, the
        # window closed, the conversation gone or closed, the call failed, the queue full).
        self.sent = 0
        self.skipped = 0

    # -- deciding (in the publishing greenlet or thread: no I/O) --------------------------
    def __call__(self, event: Event) -> None:
        conversation_id = event.conversation_id
        if conversation_id is None:
            return
        if event.name == "typing" and event.data.get("sender_type") in ("agent", "bot"):
            if event.data.get("typing", True):
                self._typing_on(conversation_id)
            else:
                self._typing_off(conversation_id)
        elif event.name == "message.created":
            message = event.data.get("message") or {}
            if message.get("sender_type") in ("agent", "bot", "system"):
                with self._lock:  # the Page's message ends Messenger's indicator
                    self._typing.pop(conversation_id, None)
        elif event.name == "conversation.read":
            count = (event.data.get("read") or {}).get("message_count")
            if isinstance(count, int):
                self._read(conversation_id, count)

    def _typing_on(self, conversation_id: int) -> None:
        now = self.monotonic()
        with self._lock:
            since = self._typing.get(conversation_id)
            if since is not None and now - since < TYPING_EVERY_SECONDS:
                return
            _remember(self._typing, conversation_id, now)
        self._put(conversation_id, "typing_on")

    def _typing_off(self, conversation_id: int) -> None:
        with self._lock:
            if self._typing.pop(conversation_id, None) is None:
                return
        self._put(conversation_id, "typing_off")

    def _read(self, conversation_id: int, count: int) -> None:
        with self._lock:
            if self._seen.get(conversation_id, -1) >= count:
                return
            _remember(self._seen, conversation_id, count)
        self._put(conversation_id, "mark_seen")

    def _put(self, conversation_id: int, action: str) -> None:
        try:
            self._queue.put_nowait((conversation_id, action))
        except queue.Full:
            with self._lock:
                self.skipped += 1
            log.info("messenger: %s for conversation %s dropped (%d waiting)",
                     action, conversation_id, QUEUE_SIZE)
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="messenger-actions",
                                                daemon=True)
                self._thread.start()

    # -- sending (the background thread) ---------------------------------------------------
    def _run(self) -> None:
        while True:
            conversation_id, action = self._queue.get()
            try:
                done = self.send(conversation_id, action)
            except Exception:  # never let one failure stop the thread
                log.exception("messenger: %s for conversation %s failed", action,
                              conversation_id)
                done = False
            with self._lock:
                if done:
                    self.sent += 1
                else:
                    self.skipped += 1

    def send(self, conversation_id: int, action: str) -> bool:
        """Send ``action`` to the conversation's person, if Messenger allows it now."""
        try:
            conversation = self.tracker.get(conversation_id)
        except (NotFound, StoreUnavailable):
            return False
        if conversation.platform != PLATFORM or conversation.status == "closed":
            return False
        decision = decide("system", conversation.last_user_message_at, self.clock())
        if not decision.allowed or decision.tag:  # only within the standard window
            return False
        try:
            self.client.sender_action(conversation.external_user_id, action)
        except Exception as exc:  # the Graph API refused or did not answer
            log.info("messenger: %s for conversation %s not sent: %s", action,
                     conversation_id, exc)
            return False
        return True


def _remember(table: OrderedDict, key: int, value) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > REMEMBERED:
        table.popitem(last=False)

"""The outbox: how a stored ``pending`` message reaches its platform.

``track_outbound`` stores the message and its ``send`` job in one transaction; the worker
(``services/worker.py``) claims the job and hands the message to the ``ChannelSender`` of
its platform. A sender either returns the platform's id for the message or raises
``SendError`` saying whether trying again later can help.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from services.errors import Conflict
from services.models import Conversation, Job, Message

if TYPE_CHECKING:
    from services.tracking import ConversationTracker


class SendError(Exception):
    """A send that did not go through.

    ``retryable``: a timeout, a 5xx or a rate limit — the worker tries again with backoff.
    Otherwise the failure is permanent (bad token, outside the window, user gone) and the
    message is marked ``failed`` with ``detail`` shown to agents.
    """

    def __init__(self, detail: str, *, retryable: bool, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable
        self.code = code


class ChannelSender(Protocol):
    """Delivers outbound messages of one platform."""

    platform: str

    def send(self, conversation: Conversation, message: Message) -> str | None:
        """Send ``message``; return the platform's message id (None if it has none)."""


class OutboxDelivery:
    """Runs ``send`` jobs: hands a pending message to its platform's sender.

    Retryable failures go back to the queue with exponential backoff and jitter, at most
    ``max_attempts`` times; permanent ones mark the message ``failed`` with the reason.
    """

    def __init__(
        self,
        tracker: "ConversationTracker",
        senders: dict[str, ChannelSender],
        max_attempts: int = 8,
        base_delay: float = 2.0,
        max_delay: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        self.tracker = tracker
        self.store = tracker.store
        self.senders = senders
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.rng = rng or random.Random()

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: full jitter over an exponential cap."""
        cap = min(self.max_delay, self.base_delay * (2 ** max(0, attempts - 1)))
        return self.rng.uniform(cap / 2, cap)

    def run(self, job: Job) -> None:
        now = self.tracker.clock()
        message = self.store.get_message(job.message_id)
        conversation = self.store.get_conversation(job.conversation_id)
        if message is None or conversation is None:
            self.store.fail_job(job.id, "message or conversation no longer exists", now)
            return
        if message.delivery_status != "pending":  # sent by an earlier attempt
            self.store.finish_job(job.id, now)
            return
        sender = self.senders.get(conversation.platform)
        try:
            if sender is None:
                raise SendError(f"no sender for {conversation.platform}", retryable=False)
            external_id = sender.send(conversation, message)
        except SendError as exc:
            self._failed(job, exc.detail, exc.retryable)
            return
        except Exception as exc:  # a bug or an unexpected transport error: try again later
            self._failed(job, f"unexpected error: {type(exc).__name__}", True)
            return
        self.tracker.set_delivery_status(message.id, "sent", external_id=external_id)
        self.store.finish_job(job.id, self.tracker.clock())

    def requeue(self, message_id: int) -> Message:
        """Send a ``failed`` outbound message again (an agent's retry button): ``pending``
        once more, its ``send`` job queued to run now with a fresh round of attempts.
        ``NotFound`` for an unknown message, ``Conflict`` unless it failed."""
        message = self.store.requeue_send(message_id, self.tracker.clock())
        self.tracker.message_changed(message)
        return message

    def _failed(self, job: Job, detail: str, retryable: bool) -> None:
        now = self.tracker.clock()
        if retryable and job.attempts < self.max_attempts:
            run_after = now + timedelta(seconds=self.backoff(job.attempts))
            self.store.retry_job(job.id, run_after, detail, now)
            return
        # The job first: a retry pressed in between finds the message not yet failed (409)
        # instead of having its fresh job failed by this older attempt.
        self.store.fail_job(job.id, detail, now)
        self.tracker.set_delivery_status(job.message_id, "failed", error=detail)

"""The outbox: how a stored ``pending`` message reaches its platform.

``track_outbound`` stores the message and its ``send`` job in one transaction; the worker
(``services/worker.py``) claims the job and hands the message to the ``ChannelSender`` of
its platform. A sender either returns the platform's id for the message or raises
``SendError`` saying whether trying again later can help.

Exactly once, where the platform allows it. The Send API has no idempotency key: after a
timeout, a broken connection or a crash mid-send, nobody knows whether the message went
out, and a blind retry may send it twice. But Facebook echoes every message the Page sends
(``message_echoes``) with the metadata we put on it, and the Messenger inbox marks the
message ``sent`` when its echo arrives. So a sender with an ``echo_grace_seconds`` gets:

* before each attempt, the time is written into the message (``send_attempt_at``);
* an *ambiguous* failure (``SendError.ambiguous``) is retried only after the grace, and the
  retry re-reads the message first: ``sent`` (the echo came) means done, nothing is sent;
* a job that finds a ``send_attempt_at`` nobody settled (its claimer was killed, or is
  still running past its lease) waits until that attempt is ``grace`` old -- and until this
  process has been up for ``grace``, since no echo reaches an app that is down: after a
  restart, Facebook redelivers the echoes it could not hand over meanwhile;
* an unambiguous failure (Facebook answered "no", or the connection was refused) clears
  the mark and retries on the normal backoff.

Nothing waits inside a job: the wait is the job's ``run_after``, so ``JOB_LEASE_SECONDS``
never has to cover the grace.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from services.models import Conversation, Job, Message

if TYPE_CHECKING:
    from services.tracking import ConversationTracker

log = logging.getLogger(__name__)

# Message metadata: when the latest attempt whose outcome is unknown began (ISO-8601 UTC).
ATTEMPT_KEY = "send_attempt_at"


class SendError(Exception):
    """A send that did not go through.

    ``retryable``: a timeout, a 5xx or a rate limit — the worker tries again with backoff.
    Otherwise the failure is permanent (bad token, outside the window, user gone) and the
    message is marked ``failed`` with ``detail`` shown to agents. ``ambiguous``: the
    request may have reached the platform and been acted on (a read timeout, a connection
    lost after the request was written, an error that does not say "not sent").
    """

    def __init__(self, detail: str, *, retryable: bool, code: str | None = None,
                 ambiguous: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable
        self.code = code
        self.ambiguous = ambiguous


class ChannelSender(Protocol):
    """Delivers outbound messages of one platform.

    A sender may also have ``echo_grace_seconds`` (> 0): the platform reports our own sends
    back (Messenger's echoes), so a send of unknown outcome is retried only after that long.
    """

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
        self.started_at = tracker.clock()  # echoes can reach this process from now on

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: full jitter over an exponential cap."""
        cap = min(self.max_delay, self.base_delay * (2 ** max(0, attempts - 1)))
        return self.rng.uniform(cap / 2, cap)

    def attempt_mark(self, platform: str) -> dict | None:
        """What a send attempt writes on its message before it starts, for a job claimed
        together with the message's write (``run(job, attempt_marked=True)``); None for a
        platform that does not echo our sends."""
        if not echo_grace(self.senders.get(platform)):
            return None
        return {ATTEMPT_KEY: self.tracker.clock().isoformat()}

    def run(self, job: Job, attempt_marked: bool = False) -> None:
        """Send the job's message unless it is no longer pending (see the module rules).

        ``attempt_marked``: the job was claimed in the write that stored its message, which
        also wrote ``attempt_mark`` on it; that mark is this attempt's, not one to wait for."""
        now = self.tracker.clock()
        # As claimed with the job when the store handed them out (see Job), else read now.
        message = job.message or self.store.get_message(job.message_id)
        conversation = job.conversation or self.store.get_conversation(job.conversation_id)
        if message is None or conversation is None:
            self.store.fail_job(job.id, "message or conversation no longer exists", now)
            return
        if message.delivery_status != "pending":  # sent by an earlier attempt, or echoed
            self.store.finish_job(job.id, now)
            return
        sender = self.senders.get(conversation.platform)
        grace = echo_grace(sender)
        if grace and not attempt_marked:
            unsettled = _attempt_time(message)
            wait_until = (None if unsettled is None
                          else max(unsettled, self.started_at) + timedelta(seconds=grace))
            if wait_until is not None and now < wait_until:
                # An attempt nobody settled (its worker died, or outlived its lease) may
                # have gone out: give its echo the time to arrive before sending again.
                log.info("outbox: message %s waits for the echo of an attempt made at %s",
                         message.id, unsettled.isoformat())
                self.store.retry_job(job.id, wait_until,
                                     "waiting for the echo of an earlier attempt", now)
                return
            self.store.update_message_metadata(message.id, {ATTEMPT_KEY: now.isoformat()}, now)
        try:
            if sender is None:
                raise SendError(f"no sender for {conversation.platform}", retryable=False)
            external_id = sender.send(conversation, message)
        except SendError as exc:
            self._failed(job, exc, grace)
            return
        except Exception as exc:  # a bug or an unexpected transport error: try again later
            log.exception("outbox: sending message %s failed unexpectedly", message.id)
            self._failed(job, SendError(f"unexpected error: {type(exc).__name__}",
                                        retryable=True, ambiguous=True), grace)
            return
        # Sent, and the job done, in one write.
        self.tracker.set_delivery_status(message.id, "sent", external_id=external_id,
                                         finish_job=job.id)

    def requeue(self, message_id: int) -> Message:
        """Send a ``failed`` outbound message again (an agent's retry button): ``pending``
        once more, its ``send`` job queued to run now with a fresh round of attempts.
        ``NotFound`` for an unknown message, ``Conflict`` unless it failed."""
        message = self.store.requeue_send(message_id, self.tracker.clock())
        self.tracker.message_changed(message)
        return message

    def _failed(self, job: Job, exc: SendError, grace: float) -> None:
        now = self.tracker.clock()
        wait_for_echo = bool(grace) and exc.ambiguous
        if grace and not exc.ambiguous:
            # Facebook said no (or was never reached): the attempt is settled, no echo to
            # wait for on the next one.
            self.store.update_message_metadata(job.message_id, {ATTEMPT_KEY: None}, now)
        if exc.retryable and job.attempts < self.max_attempts:
            delay = self.backoff(job.attempts)
            if wait_for_echo:
                delay = max(delay, grace)
            self.store.retry_job(job.id, now + timedelta(seconds=delay), exc.detail, now)
            return
        # The job first: a retry pressed in between finds the message not yet failed (409)
        # instead of having its fresh job failed by this older attempt.
        self.store.fail_job(job.id, exc.detail, now)
        self.tracker.set_delivery_status(job.message_id, "failed", error=exc.detail)


def echo_grace(sender: object) -> float:
    """The sender's echo grace in seconds (0: its platform reports no echoes)."""
    value = getattr(sender, "echo_grace_seconds", 0.0)
    return float(value) if isinstance(value, (int, float)) and value > 0 else 0.0


def _attempt_time(message: Message) -> datetime | None:
    value = message.metadata.get(ATTEMPT_KEY)
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None

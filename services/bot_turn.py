"""Answers one user message: the bot replies, or the conversation goes to a human.

Runs as the ``respond`` job the store created with the message, after the channel has
acknowledged it, so a slow or failing bot never delays or loses an inbound message.

``DegradedTurn`` answers a message spooled while the store is down (``services/spool.py``).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Callable

from services.assistant import BotReply, Responder, ResponderError
from services.business_hours import BusinessHours
from services.errors import SwitchboardError
from services.escalation import LOW_CONFIDENCE, Escalation, EscalationPolicy, button_request
from services.models import Conversation, InboundMessage, Job, Message, OutboundMessage
from services.tracking import Clock, ConversationTracker

if TYPE_CHECKING:
    from services.outbox import OutboxDelivery
    from services.spool import InboundSpool

log = logging.getLogger(__name__)

# Rules after which the bot keeps answering while a human takes a look; every other rule
# hands the conversation over (handled_by = human) and the bot falls silent.
SOFT_RULES = frozenset({LOW_CONFIDENCE})
# How many messages past the history a turn reads at first: replies to the message would be
# among them, so one read usually answers both "already answered?" and "what came before?".
RECENT_SLACK = 10
# While a slow responder works, the bot's typing is said again this often: the widget drops
# an indicator after 12 s and Messenger after 20 s (SenderActions renews it at most every 10).
BOT_TYPING_RENEW_SECONDS = 8.0

ProfileHook = Callable[[Conversation], None]
# Sends a degraded reply straight to the person: (message, text, key) -> the platform's id.
# ``key`` is unique per spool entry; channels register one (Services.degraded_senders).
DegradedSender = Callable[[InboundMessage, str, str], "str | None"]


class _Answered(threading.Event):
    """Set once a slow responder has answered; ``shown``: its typing was said meanwhile.
    ``set`` takes the lock the typing thread says it under, and tells whether it was."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.shown = False

    def set(self) -> bool:  # type: ignore[override]
        with self.lock:
            super().set()
            return self.shown


class BotTurn:
    """Runs ``respond`` jobs with the configured responder and escalation policy."""

    def __init__(
        self,
        tracker: ConversationTracker,
        responder: Responder,
        policy: EscalationPolicy,
        history_limit: int,
        handoff_message: Callable[[], str],
        profile_hooks: dict[str, ProfileHook] | None = None,
        outbox: "OutboxDelivery | None" = None,
        send_lease_seconds: float | None = None,
        hours: Callable[[], BusinessHours | None] = lambda: None,
        away_message: Callable[[], str] = lambda: "",
        typing_after: float = 0.0,
    ) -> None:
        self.tracker = tracker
        # Outside business hours (those in force: TeamHours) the person is told when the
        # team is back instead.
        self.hours = hours
        self.away_message = away_message
        # With both, a reply is sent from the turn itself: its send job comes back claimed
        # from the reply's write (see _send_reply). Without, the worker claims it.
        self.outbox = outbox
        self.send_lease_seconds = send_lease_seconds
        self.store = tracker.store
        self.responder = responder
        self.policy = policy
        self.history_limit = history_limit
        self.handoff_message = handoff_message
        self.profile_hooks = profile_hooks if profile_hooks is not None else {}
        # A responder slower than this shows the bot typing (BOT_TYPING_AFTER_SECONDS; 0:
        # never); one that says it is ``instant`` never does, and costs no timer.
        self.typing_after = typing_after if not getattr(responder, "instant", False) else 0.0

    def run(self, job: Job) -> None:
        # As claimed with the job when the store handed them out (see Job), else read now.
        message = job.message or self.store.get_message(job.message_id)
        conversation = job.conversation or self.store.get_conversation(job.conversation_id)
        finished = False
        if message is not None and conversation is not None:
            finished = self.respond(conversation, message, job_id=job.id)
        if not finished:
            self.store.finish_job(job.id, self.tracker.clock())

    def respond(self, conversation: Conversation, message: Message,
                job_id: int | None = None) -> bool:
        """Decide and act for one user message (safe to run twice for the same message).

        True when the job ``job_id`` ended with the bot's reply, in the same write (the
        usual turn: one store call fewer); otherwise the caller still has to end it."""
        hook = self.profile_hooks.get(conversation.platform)
        if hook is not None and not conversation.display_name:
            try:
                hook(conversation)
            except Exception:  # a profile is nice to have, never a reason to stay silent
                log.exception("profile lookup failed for conversation %s", conversation.id)
        if conversation.status == "closed":
            return False
        history = self._unanswered_history(conversation.id, message.id)
        if history is None:
            return False  # answered by an earlier run of this job (or during a store outage)

        if message.metadata.get("escalate"):
            escalation = button_request(message.metadata.get("reason"))
        else:
            escalation = self.policy.on_user_message(message.content, history)
        if escalation is not None:
            self.escalate(conversation, message, escalation)
            return False
        if conversation.handled_by == "human":
            return False  # a person has the conversation: the bot stays out of it
        if message.attachments and not message.content.strip() \
                and not getattr(self.responder, "reads_files", True):
            self.escalate(conversation, message, self.policy.sent_file(message))
            return False
        if not self.typing_after:
            return self._answer(conversation, message, history, job_id)
        # A slow responder: once it has taken typing_after, the person sees the bot typing
        # (said again every BOT_TYPING_RENEW_SECONDS) until its answer, or the handoff's
        # notice, comes; a turn that sends nothing to the person says it stopped.
        answered = _Answered()
        threading.Thread(target=self._show_typing, args=(conversation.id, answered),
                         name="bot-typing", daemon=True).start()
        try:
            return self._answer(conversation, message, history, job_id, answered)
        finally:
            if answered.set():
                self.tracker.typing(conversation.id, "bot", False)

    def _show_typing(self, conversation_id: int, answered: "_Answered") -> None:
        wait = self.typing_after
        while not answered.wait(wait):
            with answered.lock:  # never a "typing" after the turn's "stopped"
                if answered.is_set():
                    return
                answered.shown = True
                self.tracker.typing(conversation_id, "bot")
            wait = BOT_TYPING_RENEW_SECONDS

    def _answer(self, conversation: Conversation, message: Message, history: list[Message],
                job_id: int | None, answered: "_Answered | None" = None) -> bool:
        """The responder's answer, sent (or the conversation handed to a person);
        ``answered``: set once the responder has answered, which stops the bot's typing."""
        try:
            reply = self.responder.reply(conversation, history)
        except ResponderError as exc:
            if answered is not None:
                answered.set()
            log.warning("responder failed for conversation %s: %s", conversation.id, exc)
            self.escalate(conversation, message, self.policy.on_responder_failure(exc))
            return False
        if answered is not None:  # it is not shown typing from now on
            answered.set()
        if reply is None:  # RESPONDER=off: every conversation waits for a person
            self.escalate(conversation, message, self.policy.no_bot())
            return False

        escalation = self.policy.on_bot_reply(reply, history)
        if escalation is not None and escalation.rule not in SOFT_RULES:
            self.escalate(conversation, message, escalation)
        elif escalation is None:  # the reply is the turn's last write: the job ends with it
            self._send_reply(conversation, message, reply, finish_job=job_id)
        else:
            self._send_reply(conversation, message, reply)
            self.tracker.mark_needs_human(message.id, escalation.reason, escalation.priority)
        self._tag(conversation, reply)
        return escalation is None and job_id is not None

    def _tag(self, conversation: Conversation, reply: BotReply) -> None:
        """Put the bot's tags on the conversation, after its answer went (or the conversation
        went to a person): each one store call, a trail line of the bot's, published. Tags
        are the bot's notes on the conversation, never a reason to fail its turn: one the
        store cannot take (the conversation has 20, the store is down) is logged."""
        for tag in reply.tags:
            try:
                self.tracker.add_tag(conversation.id, tag)
            except SwitchboardError as exc:
                log.warning("could not tag conversation %s %r: %s", conversation.id, tag, exc)

    def _unanswered_history(self, conversation_id: int, message_id: int) -> list[Message] | None:
        """The conversation as it was up to the message (however late the job runs), or None
        when a reply to it exists already.

        Usually one read: the newest messages, a few more than the history needs; when the
        message is among them, so is everything after it, where a reply would be."""
        asked = self.history_limit + RECENT_SLACK
        recent = self.tracker.history(conversation_id, asked)
        at = next((i for i, m in enumerate(recent) if m.id == message_id), None)
        if at is None:  # many messages came after it: read both sides
            if self._answered(conversation_id, message_id):
                return None
            return self.tracker.history(conversation_id, self.history_limit,
                                        before=message_id + 1)
        if any(m.metadata.get("in_reply_to") == message_id for m in recent[at + 1:]):
            return None
        if at + 1 >= self.history_limit or len(recent) < asked:  # nothing older is missing
            return recent[max(0, at + 1 - self.history_limit):at + 1]
        return self.tracker.history(conversation_id, self.history_limit, before=message_id + 1)

    def _answered(self, conversation_id: int, message_id: int, page: int = 50) -> bool:
        """Whether a reply to the message exists. Replies come after it, so the messages
        after it are read (all of them: a job retried late, after its lease, may find many
        newer ones; the reply's external id cannot be used, a send replaces it)."""
        after = message_id
        while True:
            newer = self.tracker.history(conversation_id, page, after=after)
            if any(m.metadata.get("in_reply_to") == message_id for m in newer):
                return True
            if len(newer) < page:
                return False
            after = newer[-1].id

    def escalate(self, conversation: Conversation, message: Message, escalation: Escalation) -> None:
        """Flag the message, hand the conversation to a human and tell the user once: that
        a person will answer, or, outside business hours, when the team is back."""
        self.tracker.mark_needs_human(message.id, escalation.reason, escalation.priority,
                                      hand_out=False)
        handed, changed = self.tracker.set_handling(conversation.id, "human",
                                                    reason=escalation.reason)
        if handed.assigned_to is None:  # AUTO_ASSIGN: after the handover's trail line
            self.tracker.hand_out([conversation.id])
        if not changed:
            return
        now = self.tracker.clock()
        away = self.away_message()
        hours = self.hours() if away else None
        if hours is not None and not hours.is_open(now):
            content, kind = hours.away_text(away, now), "away"
        else:
            content, kind = self.handoff_message(), "handoff"
        if content:
            self.tracker.track_outbound(
                OutboundMessage(
                    conversation_id=conversation.id,
                    sender_type="system",
                    content=content,
                    external_id=f"handoff:{message.id}",
                    metadata={"in_reply_to": message.id, "kind": kind},
                )
            )

    def _send_reply(self, conversation: Conversation, message: Message, reply: BotReply,
                    finish_job: int | None = None) -> None:
        outbound = OutboundMessage(
            conversation_id=conversation.id,
            sender_type="bot",
            content=reply.text,
            confidence_score=reply.confidence,
            # The key makes a second run of the same job a no-op in the store.
            external_id=f"bot:{message.id}",
            metadata={"in_reply_to": message.id, "intent": reply.intent},
        )
        if self.outbox is None or not self.send_lease_seconds:
            self.tracker.track_outbound(outbound, finish_job=finish_job)
            return
        # The reply's write also claims its send job and marks the attempt (where the
        # platform echoes sends): the reply goes out now, from this thread, with no claim
        # and no attempt marker of its own. A job an earlier run left is the worker's.
        _, send = self.tracker.track_outbound_claiming_send(
            outbound, finish_job=finish_job, claim_send=self.send_lease_seconds,
            attempt_mark=self.outbox.attempt_mark(conversation.platform))
        if send is None:
            return
        try:
            self.outbox.run(send, attempt_marked=True)
        except Exception as exc:  # the store failed mid-send, say: as the job runner does
            log.exception("sending the reply %s failed", send.message_id)
            now = self.tracker.clock()
            try:
                self.store.retry_job(send.id, now, f"{type(exc).__name__}: {exc}"[:500], now)
            except Exception:  # its lease runs out, and a worker claims it then
                log.exception("could not record the failure of job %s", send.id)


class DegradedTurn:
    """The bot's turn for a spooled message, while the store is down.

    The responder answers from the message alone (a transient conversation, never stored);
    the reply goes straight through the channel's ``DegradedSender`` and is written on the
    spool entry, so that replay stores it as an already ``sent`` bot message and tracks the
    inbound with ``respond=False``. Anything that needs the full turn -- an escalation, a
    responder failure, no bot, no sender, a failed send -- leaves the entry unanswered, and
    the normal ``respond`` job answers after replay. Runs in a small thread pool so the
    channel's acknowledgement never waits for the bot.
    """

    def __init__(
        self,
        spool: "InboundSpool",
        responder: Responder,
        policy: EscalationPolicy,
        senders: dict[str, DegradedSender],
        clock: Clock,
        workers: int = 4,
    ) -> None:
        self.spool = spool
        self.responder = responder
        self.policy = policy
        self.senders = senders
        self.clock = clock
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="degraded")

    def wants(self, message: InboundMessage) -> bool:
        """Only plain user messages the bot would answer, on a channel that can send now."""
        return (message.respond and message.sender_type == "user"
                and not message.metadata.get("escalate") and message.platform in self.senders)

    def start(self, seq: int, message: InboundMessage) -> None:
        self.pool.submit(self._run, seq, message)

    def _run(self, seq: int, message: InboundMessage) -> None:
        try:
            reply = self.answer(seq, message)
        except Exception:
            log.exception("degraded bot turn failed for spool entry %s", seq)
            reply = None
        try:
            self.spool.finish_turn(seq, reply)
        except Exception:  # replay treats a turn that never finished as unanswered
            log.exception("could not record the degraded turn of spool entry %s", seq)

    def answer(self, seq: int, message: InboundMessage) -> dict | None:
        """Reply and send; returns what replay needs to store the reply, or None."""
        now = self.clock()
        conversation, history = transient(message, now)
        if self.policy.on_user_message(message.content, history) is not None:
            return None
        try:
            reply = self.responder.reply(conversation, history)
        except ResponderError as exc:
            log.warning("degraded turn: responder failed (%s)", exc)
            return None
        if reply is None or self.policy.on_bot_reply(reply, history) is not None:
            return None
        try:
            platform_id = self.senders[message.platform](message, reply.text, f"spool-{seq}")
        except Exception as exc:
            log.warning("degraded turn: the reply could not be sent (%s); it will be "
                        "answered after replay", exc)
            return None
        return {"text": reply.text, "confidence": reply.confidence, "intent": reply.intent,
                "tags": list(reply.tags), "platform_id": platform_id,
                "sent_at": self.clock().isoformat()}

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def transient(message: InboundMessage, now: datetime) -> tuple[Conversation, list[Message]]:
    """A conversation and history built from the message alone (id 0: never stored)."""
    conversation = Conversation(
        id=0, platform=message.platform, external_user_id=message.external_user_id,
        display_name=message.display_name, created_at=now, updated_at=now,
        last_message_at=now, last_user_message_at=now,
    )
    history = [Message(
        id=0, conversation_id=0, platform=message.platform, sender_type="user",
        sender_id=message.sender_id, content=message.content,
        attachments=message.attachments, external_id=message.external_id,
        created_at=now, metadata=message.metadata,
    )]
    return conversation, history

"""Wires the services of one process together from its settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from services.assistant import Responder, create_responder
from services.bot_turn import BotTurn, DegradedSender, DegradedTurn, ProfileHook
from services.business_hours import HoursSpec, TeamHours
from services.escalation import EscalationPolicy
from services.events import Event, EventBus
from services.inbound_batch import InboundBatcher
from services.lifecycle import LifecycleSweeper
from services.outbox import ChannelSender, OutboxDelivery
from services.reply_time import ReplyTime
from services.settings import Settings
from services.spool import InboundSpool, SpoolReplayer
from services.store import ConversationStore, create_store
from services.tracking import Clock, ConversationTracker, utcnow
from services.worker import BackgroundWorker, JobRunner


@dataclass
class Services:
    """The long-lived collaborators of one process (one store client, one event bus)."""

    settings: Settings
    store: ConversationStore
    events: EventBus
    tracker: ConversationTracker
    clock: Clock
    responder: Responder
    bot: BotTurn
    outbox: OutboxDelivery
    sweeper: LifecycleSweeper
    jobs: JobRunner
    worker: BackgroundWorker
    spool: InboundSpool | None = None
    replayer: SpoolReplayer | None = None
    degraded: DegradedTurn | None = None
    # Channels add themselves here when they are registered (see channels/__init__.py).
    senders: dict[str, ChannelSender] = field(default_factory=dict)
    profile_hooks: dict[str, ProfileHook] = field(default_factory=dict)
    # Straight-to-the-person senders for the bot's degraded turn while the store is down.
    degraded_senders: dict[str, DegradedSender] = field(default_factory=dict)
    # The business hours in force (services/business_hours.py): ``hours()``, None while
    # the team is always open.
    hours: TeamHours = field(default_factory=lambda: TeamHours(None, None))
    # How long the team usually takes to answer (services/reply_time.py): the widget's
    # session and HANDOFF_MESSAGE's {reply_time}.
    reply_time: ReplyTime | None = None

    def close(self) -> None:
        self.worker.stop()
        self.jobs.close()
        if self.degraded is not None:
            self.degraded.close()
        self.store.close()


def build_services(
    settings: Settings,
    store: ConversationStore | None = None,
    clock: Clock = utcnow,
    responder: Responder | None = None,
) -> Services:
    """Build the services; tests pass their own store, clock or responder."""
    store = store or create_store(settings)
    events = EventBus()
    hours = TeamHours(store, settings.hours, refresh=settings.business_hours_refresh_seconds,
                      publish=lambda name, data: events.publish(Event(name, data)),
                      environment=HoursSpec(settings.business_hours, settings.business_timezone,
                                            sorted(settings.business_closed_dates),
                                            settings.away_message, settings.handoff_message,
                                            None))
    spool = InboundSpool(settings.spool_file)
    batcher = (InboundBatcher(store, settings.inbound_max_batch, settings.inbound_max_in_flight)
               if settings.inbound_max_batch > 1 else None)
    tracker = ConversationTracker(store, events, clock, spool=spool, batcher=batcher)
    reply_time = ReplyTime(tracker.stats, settings.chat_reply_time)
    responder = responder or create_responder(settings)
    senders: dict[str, ChannelSender] = {}
    profile_hooks: dict[str, ProfileHook] = {}
    degraded_senders: dict[str, DegradedSender] = {}
    policy = EscalationPolicy(settings)
    degraded = DegradedTurn(spool, responder, policy, degraded_senders, clock)
    tracker.degraded = degraded
    tracker.auto_assign_max_open = settings.auto_assign_max_open if settings.auto_assign else None
    tracker.auto_assign_online_only = settings.auto_assign_online_only
    tracker.offline_after = timedelta(seconds=settings.offline_after_seconds)
    replayer = SpoolReplayer(spool, tracker, batch_size=settings.spool_replay_batch)
    outbox = OutboxDelivery(tracker, senders, max_attempts=settings.send_max_attempts)
    bot = BotTurn(
        tracker,
        responder,
        policy,
        history_limit=settings.max_conversation_length,
        handoff_message=lambda: reply_time.fill(hours.handoff_message()),
        profile_hooks=profile_hooks,
        outbox=outbox,
        send_lease_seconds=settings.job_lease_seconds,
        hours=hours,
        away_message=hours.away_message,
        typing_after=settings.bot_typing_after_seconds,
    )
    sweeper = LifecycleSweeper(
        tracker,
        idle_after=timedelta(minutes=settings.idle_timeout_minutes),
        close_after=timedelta(hours=settings.close_after_hours),
        handoff_timeout=timedelta(minutes=settings.handoff_timeout_minutes),
        handoff_timeout_message=settings.handoff_timeout_message,
        priority_raise_after=timedelta(minutes=settings.priority_raise_after_minutes),
        hours=hours,
        retention=timedelta(days=settings.retention_days) if settings.retention_days else None,
        unsent_files_after=(timedelta(hours=settings.unsent_file_hours)
                            if settings.unsent_file_hours else None),
    )
    jobs = JobRunner(
        store, {"respond": bot.run, "send": outbox.run}, clock,
        lease_seconds=settings.job_lease_seconds,
    )
    worker = BackgroundWorker(jobs, sweeper.sweep, sweep_interval=settings.sweep_interval_seconds,
                              replay=replayer.run_once)
    events.subscribe(worker.on_event)
    return Services(
        settings=settings, store=store, events=events, tracker=tracker, clock=clock,
        responder=responder, bot=bot, outbox=outbox, sweeper=sweeper, jobs=jobs,
        worker=worker, spool=spool, replayer=replayer, degraded=degraded, senders=senders,
        profile_hooks=profile_hooks, degraded_senders=degraded_senders, hours=hours,
        reply_time=reply_time,
    )

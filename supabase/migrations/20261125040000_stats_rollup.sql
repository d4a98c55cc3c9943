-- Switchboard: stats from roll-up counters instead of scanning every conversation and message
-- (issue #7: stats p95 under 100 ms at 100,000 conversations / 1,000,000 messages).
--
-- Counters, kept by statement-level AFTER triggers on conversations and messages, so every
-- write path (track_inbound, track_outbound, set_status, mark_needs_human, mark_human_replied,
-- set_handling, the sweeps, an operator's SQL, and any function a later migration replaces or
-- adds) moves them in the same transaction as the write, without having to remember to:
--   stats_conversations (platform): what the conversation rows contribute to the totals
--       (count, active, closed, message_count, needs_human, escalated, handed over,
--       bot-resolved, first-response time sum in microseconds and count) and the messages
--       still waiting for a human (unreplied);
--   stats_hourly (bucket_hour): messages and escalations per UTC hour, for the charts.
-- A trigger sums what the statement's new rows contribute minus what its old rows contributed,
-- so the counters are a pure function of the rows: exact, whatever the write was.
--
-- Concurrency. Writers never update a shared counter row: a trigger INSERTs its sums into a
-- journal (stats_conversation_deltas, stats_hourly_deltas), which takes no lock another writer
-- could wait on. Updating shared counter rows in place (INSERT ... ON CONFLICT DO UPDATE, even
-- spread over shards) deadlocks: mark_needs_human locks its message, then the counter, then the
-- conversation, while track_inbound holds the conversation and then wants the same counter
-- (tests/reliability/test_stats_rollup.py found it). stats() folds the journal into the
-- counter tables (stats_compact(): one caller at a time, the others skip it) and reads counters
-- plus whatever journal rows remain, in one snapshot, so its figures are exact at any time.
-- About one conversation write in 500 folds it too, so it stays short when nobody reads stats.
-- The triggers are plain PL/pgSQL statements (plans cached per connection): SQL-language
-- helper functions were planned again at every call and cut track_inbound's rate by 3-4x.
-- Groups whose sums are all zero (an update of columns stats do not read, such as a delivery
-- receipt) write no journal row.
--
-- The median first human response is not a counter: it reads only the conversations that have
-- a response time, through an expression index in the order of that time, skipping to the
-- middle (the count comes from the counters).
--
-- stats_from_rows() is the former stats(): it scans the rows, and is kept as the reference the
-- roll-ups are checked against (tests) and to audit a deployment by hand.
--
-- The migration runs in one transaction: it locks both tables against writes, creates the
-- triggers and fills the counters from the rows, so an existing deployment upgrades in place
-- and no write falls between the backfill and the triggers.

lock table public.conversations, public.messages in share row exclusive mode;

-- ---------------------------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------------------------

create table public.stats_conversations (
    platform      text    primary key,
    conversations bigint  not null default 0,
    active        bigint  not null default 0,
    closed        bigint  not null default 0,
    messages      bigint  not null default 0,  -- sum of message_count
    needing_human bigint  not null default 0,
    escalated     bigint  not null default 0,
    handed        bigint  not null default 0,
    bot_resolved  bigint  not null default 0,
    response_us   numeric not null default 0,  -- sum of first-response times, microseconds
    responses     bigint  not null default 0,
    unreplied     bigint  not null default 0   -- messages requiring a human, not yet replied
);

create table public.stats_hourly (
    bucket_hour timestamptz primary key,  -- date_trunc('hour', created_at, 'UTC')
    messages    bigint not null default 0,
    escalations bigint not null default 0  -- messages with requires_human
);

-- The journals: same columns, no key (many rows per platform or hour until folded).
create table public.stats_conversation_deltas
    (like public.stats_conversations including defaults);
create table public.stats_hourly_deltas (like public.stats_hourly including defaults);

alter table public.stats_conversations enable row level security;
alter table public.stats_hourly enable row level security;
alter table public.stats_conversation_deltas enable row level security;
alter table public.stats_hourly_deltas enable row level security;

-- The median's walk: response times in order, only for conversations that have one.
create index conversations_response_time_idx
    on public.conversations ((extract(epoch from first_human_reply_at - escalated_at)::float8))
    where first_human_reply_at >= escalated_at;

-- ---------------------------------------------------------------------------------------------
-- Folding the journal into the counters
-- ---------------------------------------------------------------------------------------------

-- Move the journal rows this snapshot sees into the counters, in one transaction (so a reader
-- sees them in one place or the other, never both or neither). Only one caller folds at a
-- time; a concurrent one skips it (its stats read the journal rows as they are).
create function public.stats_compact()
returns void
language plpgsql volatile
set search_path = public, extensions
as $$
begin
    if not pg_try_advisory_xact_lock(hashtext('switchboard.stats_compact')) then
        return;
    end if;
    with moved as (delete from stats_conversation_deltas returning *)
    insert into stats_conversations as t
    select platform, sum(conversations), sum(active), sum(closed), sum(messages),
           sum(needing_human), sum(escalated), sum(handed), sum(bot_resolved),
           sum(response_us), sum(responses), sum(unreplied)
      from moved
     group by platform
     order by platform
    on conflict (platform) do update
       set conversations = t.conversations + excluded.conversations,
           active        = t.active + excluded.active,
           closed        = t.closed + excluded.closed,
           messages      = t.messages + excluded.messages,
           needing_human = t.needing_human + excluded.needing_human,
           escalated     = t.escalated + excluded.escalated,
           handed        = t.handed + excluded.handed,
           bot_resolved  = t.bot_resolved + excluded.bot_resolved,
           response_us   = t.response_us + excluded.response_us,
           responses     = t.responses + excluded.responses,
           unreplied     = t.unreplied + excluded.unreplied;
    with moved as (delete from stats_hourly_deltas returning *)
    insert into stats_hourly as t
    select bucket_hour, sum(messages), sum(escalations)
      from moved
     group by bucket_hour
     order by bucket_hour
    on conflict (bucket_hour) do update
       set messages    = t.messages + excluded.messages,
           escalations = t.escalations + excluded.escalations;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Triggers (statement level, with transition tables)
-- ---------------------------------------------------------------------------------------------

create function public.stats_conversations_changed()
returns trigger
language plpgsql volatile
set search_path = public, extensions
as $$
begin
    -- d: the statement's rows, signed (+1 what is there now, -1 what was there before). The
    -- three branches differ only in d: a transition table exists only for its own events.
    if tg_op = 'INSERT' then
        insert into stats_conversation_deltas
        select d.platform,
               sum(d.sign),
               sum(d.sign * (d.status = 'active')::int),
               sum(d.sign * (d.status = 'closed')::int),
               sum(d.sign * d.message_count),
               sum(d.sign * d.needs_human::int),
               sum(d.sign * (d.escalated_at is not null)::int),
               sum(d.sign * (d.escalated_at is not null or d.first_human_reply_at is not null
                             or d.handled_by = 'human')::int),
               sum(d.sign * (d.status = 'closed' and d.escalated_at is null
                             and d.first_human_reply_at is null and d.handled_by = 'bot')::int),
               coalesce(sum(d.sign * extract(epoch from d.first_human_reply_at - d.escalated_at)
                            * 1000000) filter (where d.first_human_reply_at >= d.escalated_at), 0),
               count(*) filter (where d.first_human_reply_at >= d.escalated_at and d.sign = 1)
                 - count(*) filter (where d.first_human_reply_at >= d.escalated_at and d.sign = -1),
               0
          from (select 1 as sign, n.* from new_rows as n) as d
         group by d.platform
        having sum(d.sign) <> 0
            or sum(d.sign * (d.status = 'active')::int) <> 0
            or sum(d.sign * (d.status = 'closed')::int) <> 0
            or sum(d.sign * d.message_count) <> 0
            or sum(d.sign * d.needs_human::int) <> 0
            or sum(d.sign * (d.escalated_at is not null)::int) <> 0
            or sum(d.sign * (d.escalated_at is not null or d.first_human_reply_at is not null
                             or d.handled_by = 'human')::int) <> 0
            or sum(d.sign * (d.status = 'closed' and d.escalated_at is null
                             and d.first_human_reply_at is null and d.handled_by = 'bot')::int) <> 0
            or count(*) filter (where d.first_human_reply_at >= d.escalated_at) > 0;
    elsif tg_op = 'DELETE' then
        insert into stats_conversation_deltas
        select d.platform,
               sum(d.sign),
               sum(d.sign * (d.status = 'active')::int),
               sum(d.sign * (d.status = 'closed')::int),
               sum(d.sign * d.message_count),
               sum(d.sign * d.needs_human::int),
               sum(d.sign * (d.escalated_at is not null)::int),
               sum(d.sign * (d.escalated_at is not null or d.first_human_reply_at is not null
                             or d.handled_by = 'human')::int),
               sum(d.sign * (d.status = 'closed' and d.escalated_at is null
                             and d.first_human_reply_at is null and d.handled_by = 'bot')::int),
               coalesce(sum(d.sign * extract(epoch from d.first_human_reply_at - d.escalated_at)
                            * 1000000) filter (where d.first_human_reply_at >= d.escalated_at), 0),
               count(*) filter (where d.first_human_reply_at >= d.escalated_at and d.sign = 1)
                 - count(*) filter (where d.first_human_reply_at >= d.escalated_at and d.sign = -1),
               0
          from (select -1 as sign, o.* from old_rows as o) as d
         group by d.platform
        having sum(d.sign) <> 0
            or sum(d.sign * (d.status = 'active')::int) <> 0
            or sum(d.sign * (d.status = 'closed')::int) <> 0
            or sum(d.sign * d.message_count) <> 0
            or sum(d.sign * d.needs_human::int) <> 0
            or sum(d.sign * (d.escalated_at is not null)::int) <> 0
            or sum(d.sign * (d.escalated_at is not null or d.first_human_reply_at is not null
                             or d.handled_by = 'human')::int) <> 0
            or sum(d.sign * (d.status = 'closed' and d.escalated_at is null
                             and d.first_human_reply_at is null and d.handled_by = 'bot')::int) <> 0
            or count(*) filter (where d.first_human_reply_at >= d.escalated_at) > 0;
    else
        insert into stats_conversation_deltas
        select d.platform,
               sum(d.sign),
               sum(d.sign * (d.status = 'active')::int),
               sum(d.sign * (d.status = 'closed')::int),
               sum(d.sign * d.message_count),
               sum(d.sign * d.needs_human::int),
               sum(d.sign * (d.escalated_at is not null)::int),
               sum(d.sign * (d.escalated_at is not null or d.first_human_reply_at is not null
                             or d.handled_by = 'human')::int),
               sum(d.sign * (d.status = 'closed' and d.escalated_at is null
                             and d.first_human_reply_at is null and d.handled_by = 'bot')::int),
               coalesce(sum(d.sign * extract(epoch from d.first_human_reply_at - d.escalated_at)
                            * 1000000) filter (where d.first_human_reply_at >= d.escalated_at), 0),
               count(*) filter (where d.first_human_reply_at >= d.escalated_at and d.sign = 1)
                 - count(*) filter (where d.first_human_reply_at >= d.escalated_at and d.sign = -1),
               0
          from (select 1 as sign, n.* from new_rows as n
                union all select -1 as sign, o.* from old_rows as o) as d
         group by d.platform
        having sum(d.sign) <> 0
            or sum(d.sign * (d.status = 'active')::int) <> 0
            or sum(d.sign * (d.status = 'closed')::int) <> 0
            or sum(d.sign * d.message_count) <> 0
            or sum(d.sign * d.needs_human::int) <> 0
            or sum(d.sign * (d.escalated_at is not null)::int) <> 0
            or sum(d.sign * (d.escalated_at is not null or d.first_human_reply_at is not null
                             or d.handled_by = 'human')::int) <> 0
            or sum(d.sign * (d.status = 'closed' and d.escalated_at is null
                             and d.first_human_reply_at is null and d.handled_by = 'bot')::int) <> 0
            or count(*) filter (where d.first_human_reply_at >= d.escalated_at) > 0;
    end if;
    -- Fold the journal now and then from the write path too, so it stays short even when
    -- nobody asks for stats (one folder at a time; see stats_compact).
    if random() < 0.002 then
        perform stats_compact();
    end if;
    return null;
end
$$;

create function public.stats_messages_changed()
returns trigger
language plpgsql volatile
set search_path = public, extensions
as $$
begin
    -- As stats_conversations_changed. Most message updates (delivery receipts, metadata)
    -- change nothing stats read: their sums are zero and write nothing.
    if tg_op = 'INSERT' then
        insert into stats_hourly_deltas
        select date_trunc('hour', d.created_at, 'UTC'), sum(d.sign),
               sum(d.sign * d.requires_human::int)
          from (select 1 as sign, n.* from new_rows as n) as d
         group by 1
        having sum(d.sign) <> 0 or sum(d.sign * d.requires_human::int) <> 0;
        insert into stats_conversation_deltas (platform, unreplied)
        select d.platform, sum(d.sign)
          from (select 1 as sign, n.* from new_rows as n) as d
         where d.requires_human and not d.human_replied
         group by d.platform
        having sum(d.sign) <> 0;
    elsif tg_op = 'DELETE' then
        insert into stats_hourly_deltas
        select date_trunc('hour', d.created_at, 'UTC'), sum(d.sign),
               sum(d.sign * d.requires_human::int)
          from (select -1 as sign, o.* from old_rows as o) as d
         group by 1
        having sum(d.sign) <> 0 or sum(d.sign * d.requires_human::int) <> 0;
        insert into stats_conversation_deltas (platform, unreplied)
        select d.platform, sum(d.sign)
          from (select -1 as sign, o.* from old_rows as o) as d
         where d.requires_human and not d.human_replied
         group by d.platform
        having sum(d.sign) <> 0;
    else
        insert into stats_hourly_deltas
        select date_trunc('hour', d.created_at, 'UTC'), sum(d.sign),
               sum(d.sign * d.requires_human::int)
          from (select 1 as sign, n.* from new_rows as n
                union all select -1 as sign, o.* from old_rows as o) as d
         group by 1
        having sum(d.sign) <> 0 or sum(d.sign * d.requires_human::int) <> 0;
        insert into stats_conversation_deltas (platform, unreplied)
        select d.platform, sum(d.sign)
          from (select 1 as sign, n.* from new_rows as n
                union all select -1 as sign, o.* from old_rows as o) as d
         where d.requires_human and not d.human_replied
         group by d.platform
        having sum(d.sign) <> 0;
    end if;
    return null;
end
$$;

create trigger stats_conversations_inserted after insert on public.conversations
    referencing new table as new_rows
    for each statement execute function public.stats_conversations_changed();
create trigger stats_conversations_updated after update on public.conversations
    referencing old table as old_rows new table as new_rows
    for each statement execute function public.stats_conversations_changed();
create trigger stats_conversations_deleted after delete on public.conversations
    referencing old table as old_rows
    for each statement execute function public.stats_conversations_changed();
create trigger stats_messages_inserted after insert on public.messages
    referencing new table as new_rows
    for each statement execute function public.stats_messages_changed();
create trigger stats_messages_updated after update on public.messages
    referencing old table as old_rows new table as new_rows
    for each statement execute function public.stats_messages_changed();
create trigger stats_messages_deleted after delete on public.messages
    referencing old table as old_rows
    for each statement execute function public.stats_messages_changed();

-- ---------------------------------------------------------------------------------------------
-- Backfill: the counters of the rows already there (the tables are locked since the top)
-- ---------------------------------------------------------------------------------------------

insert into public.stats_conversations
select platform, count(*), count(*) filter (where status = 'active'),
       count(*) filter (where status = 'closed'), sum(message_count),
       count(*) filter (where needs_human), count(escalated_at),
       count(*) filter (where escalated_at is not null or first_human_reply_at is not null
                          or handled_by = 'human'),
       count(*) filter (where status = 'closed' and escalated_at is null
                          and first_human_reply_at is null and handled_by = 'bot'),
       coalesce(sum(extract(epoch from first_human_reply_at - escalated_at) * 1000000)
                filter (where first_human_reply_at >= escalated_at), 0),
       count(*) filter (where first_human_reply_at >= escalated_at),
       0
  from public.conversations
 group by platform;
insert into public.stats_conversation_deltas (platform, unreplied)
select platform, count(*)
  from public.messages
 where requires_human and not human_replied
 group by platform;
insert into public.stats_hourly (bucket_hour, messages, escalations)
select date_trunc('hour', created_at, 'UTC'), count(*), count(*) filter (where requires_human)
  from public.messages
 group by 1;
select public.stats_compact();

-- ---------------------------------------------------------------------------------------------
-- Stats (replaced): read from the roll-ups; the same JSON as before
-- ---------------------------------------------------------------------------------------------

create or replace function public.stats(p_now timestamptz)
returns jsonb
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
begin
    perform stats_compact();
    -- One statement, one snapshot: counters plus the journal rows not folded (by a
    -- concurrent caller, or written since), each write counted exactly once.
    return (
    with counters as (
        select * from stats_conversations
        union all
        select * from stats_conversation_deltas
    ),
    hourly as (
        select * from stats_hourly
        union all
        select * from stats_hourly_deltas
    ),
    conv as (
        select coalesce(sum(conversations), 0)::bigint as total,
               coalesce(sum(active), 0)::bigint as active,
               coalesce(sum(closed), 0)::bigint as closed,
               coalesce(sum(messages), 0)::bigint as messages,
               coalesce(sum(needing_human), 0)::bigint as needing_human,
               coalesce(sum(escalated), 0)::bigint as escalated,
               coalesce(sum(handed), 0)::bigint as handed,
               coalesce(sum(bot_resolved), 0)::bigint as bot_resolved,
               coalesce(sum(response_us), 0)   as response_us,
               coalesce(sum(responses), 0)::bigint as responses,
               coalesce(sum(unreplied), 0)::bigint as unreplied
          from counters
    ),
    -- percentile_cont(0.5) without the sort of every response time: the middle one or two
    -- from the index, interpolated as percentile_cont does (lo + 0.5 * (hi - lo)).
    middle as (
        select extract(epoch from c.first_human_reply_at - c.escalated_at)::float8 as s
          from conversations c
         where c.first_human_reply_at >= c.escalated_at
         order by extract(epoch from c.first_human_reply_at - c.escalated_at)::float8
         limit (select 2 - responses % 2 from conv)
        offset (select greatest(responses - 1, 0) / 2 from conv)
    ),
    median as (
        select case when count(*) = 0 then null
                    else min(s) + 0.5 * (max(s) - min(s)) end as median_response
          from middle
    ),
    platforms as (
        select pl.platform,
               coalesce(sum(s.conversations), 0) as conversations,
               coalesce(sum(s.active), 0)        as active_conversations,
               coalesce(sum(s.messages), 0)      as messages
          from unnest(array['messenger', 'webchat']) as pl(platform)
          left join counters s on s.platform = pl.platform
         group by pl.platform
    ),
    hours as (
        select h as hour
          from generate_series(date_trunc('hour', p_now, 'UTC') - interval '23 hours',
                               date_trunc('hour', p_now, 'UTC'), interval '1 hour') as h
    ),
    per_hour as (
        select bucket_hour as hour, sum(messages) as messages, sum(escalations) as escalations
          from hourly
         where bucket_hour >= date_trunc('hour', p_now, 'UTC') - interval '23 hours'
           and bucket_hour <  date_trunc('hour', p_now, 'UTC') + interval '1 hour'
         group by 1
    ),
    -- UTC days, stepping by 24 hours (see the followups migration).
    days as (
        select d as day
          from generate_series(date_trunc('day', p_now, 'UTC') - interval '696 hours',
                               date_trunc('day', p_now, 'UTC'), interval '24 hours') as d
    ),
    per_day as (
        select date_trunc('day', bucket_hour, 'UTC') as day, sum(messages) as messages,
               sum(escalations) as escalations
          from hourly
         where bucket_hour >= date_trunc('day', p_now, 'UTC') - interval '696 hours'
           and bucket_hour <  date_trunc('day', p_now, 'UTC') + interval '24 hours'
         group by 1
    )
    select jsonb_build_object(
        'total_conversations', conv.total,
        'active_conversations', conv.active,
        'total_messages', conv.messages,
        'messages_requiring_human', conv.unreplied,
        'conversations_needing_human', conv.needing_human,
        'escalated_conversations', conv.escalated,
        'escalation_rate',
            case when conv.total = 0 then 0 else conv.escalated::float8 / conv.total end,
        'avg_messages_per_conversation',
            case when conv.total = 0 then 0 else conv.messages::float8 / conv.total end,
        'avg_first_human_response_seconds',
            case when conv.responses = 0 then null
                 else (conv.response_us / 1000000 / conv.responses)::float8 end,
        'median_first_human_response_seconds', median.median_response,
        'handed_to_human_conversations', conv.handed,
        'handoff_rate',
            case when conv.total = 0 then 0 else conv.handed::float8 / conv.total end,
        'bot_resolved_conversations', conv.bot_resolved,
        'bot_resolved_rate',
            case when conv.closed = 0 then 0 else conv.bot_resolved::float8 / conv.closed end,
        'by_platform',
            (select jsonb_object_agg(platform, jsonb_build_object(
                        'conversations', conversations,
                        'active_conversations', active_conversations,
                        'messages', messages))
               from platforms),
        'messages_per_hour',
            (select jsonb_agg(jsonb_build_object(
                        'hour', hours.hour,
                        'messages', coalesce(per_hour.messages, 0),
                        'escalations', coalesce(per_hour.escalations, 0))
                        order by hours.hour)
               from hours left join per_hour on per_hour.hour = hours.hour),
        'messages_per_day',
            (select jsonb_agg(jsonb_build_object(
                        'day', days.day,
                        'messages', coalesce(per_day.messages, 0),
                        'escalations', coalesce(per_day.escalations, 0))
                        order by days.day)
               from days left join per_day on per_day.day = days.day),
        'timestamp', p_now)
    from conv, median);
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Stats from the rows (the former stats(), unchanged but for its name): the reference the
-- roll-ups are checked against. It scans everything: not for the admin panel.
-- ---------------------------------------------------------------------------------------------

create function public.stats_from_rows(p_now timestamptz)
returns jsonb
language sql stable security invoker
set search_path = public, extensions
as $$
    with conv as (
        select count(*)                                          as total,
               count(*) filter (where status = 'active')         as active,
               count(*) filter (where status = 'closed')         as closed,
               coalesce(sum(message_count), 0)                   as messages,
               count(*) filter (where needs_human)               as needing_human,
               count(*) filter (where escalated_at is not null)  as escalated,
               count(*) filter (where escalated_at is not null
                                   or first_human_reply_at is not null
                                   or handled_by = 'human')      as handed,
               count(*) filter (where status = 'closed' and escalated_at is null
                                  and first_human_reply_at is null
                                  and handled_by = 'bot')        as bot_resolved,
               avg(extract(epoch from first_human_reply_at - escalated_at))
                   filter (where first_human_reply_at >= escalated_at) as avg_response,
               percentile_cont(0.5) within group (
                   order by extract(epoch from first_human_reply_at - escalated_at)::float8)
                   filter (where first_human_reply_at >= escalated_at) as median_response
          from conversations
    ),
    platforms as (
        select pl.platform,
               count(c.id)                                       as conversations,
               count(c.id) filter (where c.status = 'active')    as active_conversations,
               coalesce(sum(c.message_count), 0)                 as messages
          from unnest(array['messenger', 'webchat']) as pl(platform)
          left join conversations c on c.platform = pl.platform
         group by pl.platform
    ),
    hours as (
        select h as hour
          from generate_series(date_trunc('hour', p_now, 'UTC') - interval '23 hours',
                               date_trunc('hour', p_now, 'UTC'), interval '1 hour') as h
    ),
    per_hour as (
        select date_trunc('hour', m.created_at, 'UTC')           as hour,
               count(*)                                          as messages,
               count(*) filter (where m.requires_human)          as escalations
          from messages m
         where m.created_at >= date_trunc('hour', p_now, 'UTC') - interval '23 hours'
           and m.created_at <  date_trunc('hour', p_now, 'UTC') + interval '1 hour'
         group by 1
    ),
    -- Days step by 24 hours, not '1 day': timestamptz + '1 day' follows the session's time
    -- zone across DST changes, and the buckets are UTC days.
    days as (
        select d as day
          from generate_series(date_trunc('day', p_now, 'UTC') - interval '696 hours',
                               date_trunc('day', p_now, 'UTC'), interval '24 hours') as d
    ),
    per_day as (
        select date_trunc('day', m.created_at, 'UTC')            as day,
               count(*)                                          as messages,
               count(*) filter (where m.requires_human)          as escalations
          from messages m
         where m.created_at >= date_trunc('day', p_now, 'UTC') - interval '696 hours'
           and m.created_at <  date_trunc('day', p_now, 'UTC') + interval '24 hours'
         group by 1
    )
    select jsonb_build_object(
        'total_conversations', conv.total,
        'active_conversations', conv.active,
        'total_messages', conv.messages,
        'messages_requiring_human',
            (select count(*) from messages where requires_human and not human_replied),
        'conversations_needing_human', conv.needing_human,
        'escalated_conversations', conv.escalated,
        'escalation_rate',
            case when conv.total = 0 then 0 else conv.escalated::float8 / conv.total end,
        'avg_messages_per_conversation',
            case when conv.total = 0 then 0 else conv.messages::float8 / conv.total end,
        'avg_first_human_response_seconds', conv.avg_response::float8,
        'median_first_human_response_seconds', conv.median_response,
        'handed_to_human_conversations', conv.handed,
        'handoff_rate',
            case when conv.total = 0 then 0 else conv.handed::float8 / conv.total end,
        'bot_resolved_conversations', conv.bot_resolved,
        'bot_resolved_rate',
            case when conv.closed = 0 then 0 else conv.bot_resolved::float8 / conv.closed end,
        'by_platform',
            (select jsonb_object_agg(platform, jsonb_build_object(
                        'conversations', conversations,
                        'active_conversations', active_conversations,
                        'messages', messages))
               from platforms),
        'messages_per_hour',
            (select jsonb_agg(jsonb_build_object(
                        'hour', hours.hour,
                        'messages', coalesce(per_hour.messages, 0),
                        'escalations', coalesce(per_hour.escalations, 0))
                        order by hours.hour)
               from hours left join per_hour on per_hour.hour = hours.hour),
        'messages_per_day',
            (select jsonb_agg(jsonb_build_object(
                        'day', days.day,
                        'messages', coalesce(per_day.messages, 0),
                        'escalations', coalesce(per_day.escalations, 0))
                        order by days.day)
               from days left join per_day on per_day.day = days.day),
        'timestamp', p_now)
    from conv
$$;


-- ---------------------------------------------------------------------------------------------
-- Access, as in the earlier migrations: anon/authenticated get nothing (RLS on, no policies,
-- privileges revoked); service_role, whose requests run the write paths and so the triggers,
-- gets the counter tables and the functions.
-- ---------------------------------------------------------------------------------------------

revoke all on table public.stats_conversations, public.stats_hourly,
    public.stats_conversation_deltas, public.stats_hourly_deltas
    from public, anon, authenticated;
grant select, insert, update, delete on table public.stats_conversations, public.stats_hourly,
    public.stats_conversation_deltas, public.stats_hourly_deltas
    to service_role;

revoke all on function
    public.stats_compact(),
    public.stats_conversations_changed(),
    public.stats_messages_changed(),
    public.stats(timestamptz),
    public.stats_from_rows(timestamptz)
    from public, anon, authenticated;
grant execute on function
    public.stats_compact(),
    public.stats_conversations_changed(),
    public.stats_messages_changed(),
    public.stats(timestamptz),
    public.stats_from_rows(timestamptz)
    to service_role;

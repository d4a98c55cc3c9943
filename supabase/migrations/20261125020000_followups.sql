-- Switchboard: the "waiting" inbox order, daily stats, sending a failed message again, and the
-- once-per-wait priority raise (services/store/base.py).
--
-- Adds conversations.priority_raised_at and the indexes of the waiting order and the raise
-- scan; replaces the functions whose behaviour changes (list_conversations sorts by
-- "waiting"; stats gains messages_per_day; every function that starts or ends a wait for a
-- human -- track_inbound, track_outbound, set_status, mark_needs_human, mark_human_replied,
-- set_handling, sweep_closed -- clears priority_raised_at where it clears
-- handoff_timeout_notified_at) and adds requeue_send and raise_waiting_priority. The replaced
-- functions are the latest definitions (20261125010000_pipeline.sql; list_conversations from
-- 20261125000000_init.sql) with only those changes. Same conventions as before: every time
-- comes in as a parameter, SECURITY INVOKER, service_role only, PTnnn error codes (PT404
-- NotFound, PT409 Conflict, PT400 InvalidInput).
--
-- Written to be re-runnable (IF NOT EXISTS, CREATE OR REPLACE), so applying it twice is harmless.

-- ---------------------------------------------------------------------------------------------
-- Schema
-- ---------------------------------------------------------------------------------------------

-- When raise_waiting_priority raised the priority during the current wait for a human.
alter table public.conversations add column if not exists priority_raised_at timestamptz;

-- The "waiting" inbox order: needing a human first, longest-waiting first, then newest.
create index if not exists conversations_waiting_idx
    on public.conversations (needs_human desc, waiting_since asc nulls last,
                             last_message_at desc, id desc);
-- The priority-raise scan: waiting conversations not yet raised during this wait.
create index if not exists conversations_priority_raise_idx
    on public.conversations (waiting_since)
    where needs_human and priority_raised_at is null and priority > 1;

-- ---------------------------------------------------------------------------------------------
-- Reads (replaced): the "waiting" sort order
-- ---------------------------------------------------------------------------------------------

-- As in the init migration, plus sort "waiting": (needs_human desc, waiting_since asc nulls
-- last, last_message_at desc, id desc); its cursor carries needs_human and waiting_since too.
create or replace function public.list_conversations(p_filters jsonb, p_limit integer,
                                                     p_cursor jsonb default null)
returns jsonb
language plpgsql stable security invoker
set search_path = public, extensions
set plan_cache_mode = force_custom_plan
as $$
declare
    f_status      text    := p_filters ->> 'status';
    f_platform    text    := p_filters ->> 'platform';
    f_needs_human boolean := (p_filters ->> 'needs_human')::boolean;
    f_handled_by  text    := p_filters ->> 'handled_by';
    f_assigned_to bigint  := (p_filters ->> 'assigned_to')::bigint;
    f_unassigned  boolean := (p_filters ->> 'unassigned')::boolean;
    f_search      text    := nullif(p_filters ->> 'search', '');
    f_sort        text    := coalesce(p_filters ->> 'sort', 'last_activity');
    f_by_priority boolean;
    f_by_waiting  boolean;
    f_pattern     text;
    c_at          timestamptz;
    c_priority    integer;
    c_id          bigint;
    c_needs_human boolean;
    c_waiting     timestamptz;
begin
    if f_sort not in ('last_activity', 'priority', 'waiting') then
        raise exception using errcode = 'PT400', message = 'unknown sort order';
    end if;
    f_by_priority := f_sort = 'priority';
    f_by_waiting := f_sort = 'waiting';
    if p_limit is null or p_limit < 1 then
        raise exception using errcode = 'PT400', message = 'limit must be at least 1';
    end if;
    if p_cursor is not null then
        if coalesce(p_cursor ->> 'sort', 'last_activity') <> f_sort then
            raise exception using errcode = 'PT400', message = 'cursor belongs to another sort order';
        end if;
        c_at := (p_cursor ->> 'last_message_at')::timestamptz;
        c_priority := (p_cursor ->> 'priority')::integer;
        c_id := (p_cursor ->> 'id')::bigint;
        c_needs_human := (p_cursor ->> 'needs_human')::boolean;
        c_waiting := (p_cursor ->> 'waiting_since')::timestamptz;
        if f_by_waiting and c_needs_human is null then
            raise exception using errcode = 'PT400', message = 'a waiting cursor needs needs_human';
        end if;
    end if;
    if f_search is not null then
        -- The user's text is a literal: escape LIKE's metacharacters (backslash is ILIKE's
        -- default escape character).
        f_pattern := '%' || replace(replace(replace(f_search, '\', '\\'), '%', '\%'), '_', '\_')
                     || '%';
    end if;

    return (
    select coalesce(jsonb_agg(to_jsonb(page) - 'sort_priority' - 'sort_needs_human'
                                             - 'sort_waiting_since'
                              order by page.sort_priority,
                                       page.sort_needs_human desc,
                                       page.sort_waiting_since asc nulls last,
                                       page.last_message_at desc,
                                       page.id desc),
                    '[]')
      from (
    select c.*, case when f_by_priority then c.priority else 0 end as sort_priority,
           case when f_by_waiting then c.needs_human else false end as sort_needs_human,
           case when f_by_waiting then c.waiting_since end as sort_waiting_since
      from conversations c
     where (f_status is null or c.status = f_status)
       and (f_platform is null or c.platform = f_platform)
       and (f_needs_human is null or c.needs_human = f_needs_human)
       and (f_handled_by is null or c.handled_by = f_handled_by)
       and (f_assigned_to is null or c.assigned_to = f_assigned_to)
       and (f_unassigned is null or (c.assigned_to is null) = f_unassigned)
       -- Both sides of the search use their trigram index; the ids are hashed once.
       and (f_pattern is null
            or c.id in (select n.id from conversations n where n.display_name ilike f_pattern
                        union all
                        select m.conversation_id from messages m where m.content ilike f_pattern))
       -- Keyset: strictly after the cursor row in the sort order. "priority >= cursor's"
       -- lets the priority index start at the cursor's priority; "needs_human <= cursor's"
       -- does the same for the waiting index. In the waiting order rows without
       -- waiting_since come last, so after a cursor without one only such rows follow.
       and (c_id is null
            or (f_by_priority and c.priority >= c_priority
                and (c.priority > c_priority or (c.last_message_at, c.id) < (c_at, c_id)))
            or (f_by_waiting and c.needs_human <= c_needs_human
                and (c.needs_human < c_needs_human
                     or (c_waiting is null and c.waiting_since is null
                         and (c.last_message_at, c.id) < (c_at, c_id))
                     or (c_waiting is not null
                         and (c.waiting_since is null or c.waiting_since > c_waiting
                              or (c.waiting_since = c_waiting
                                  and (c.last_message_at, c.id) < (c_at, c_id))))))
            or (not f_by_priority and not f_by_waiting
                and (c.last_message_at, c.id) < (c_at, c_id)))
     -- Sort keys of the other orders fold to constants (force_custom_plan), which the
     -- planner drops, so each order still walks its own index.
     order by case when f_by_priority then c.priority else 0 end,
              case when f_by_waiting then c.needs_human else false end desc,
              case when f_by_waiting then c.waiting_since end asc nulls last,
              c.last_message_at desc, c.id desc
     limit p_limit
           ) as page);
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Tracking (replaced): an agent's message ends the wait, priority_raised_at with it
-- ---------------------------------------------------------------------------------------------

-- As in the pipeline migration; an "agent" message also clears priority_raised_at.
create or replace function public.track_inbound(p jsonb, p_now timestamptz)
returns jsonb
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_platform     text    := p ->> 'platform';
    v_user         text    := p ->> 'external_user_id';
    v_external_id  text    := p ->> 'external_id';
    v_sender       text    := coalesce(p ->> 'sender_type', 'user');
    v_content      text    := coalesce(p ->> 'content', '');
    v_display_name text    := p ->> 'display_name';
    v_profile      jsonb   := json_or_null(p -> 'profile');
    v_respond      boolean := coalesce((p ->> 'respond')::boolean, true);
    v_agent        boolean;
    v_conv         conversations;
    v_msg          messages;
    v_conv_created boolean := false;
begin
    v_agent := v_sender = 'agent';
    if v_external_id is not null then
        select * into v_msg from messages
         where platform = v_platform and external_id = v_external_id;
        if found then
            select * into v_conv from conversations where id = v_msg.conversation_id;
            return jsonb_build_object('conversation', to_jsonb(v_conv), 'message', to_jsonb(v_msg),
                                      'created', false, 'conversation_created', false);
        end if;
    end if;

    -- Find or open the open conversation (see the init migration for why it loops).
    loop
        select * into v_conv from conversations
         where platform = v_platform and external_user_id = v_user and status <> 'closed'
           for update;
        exit when found;
        insert into conversations (platform, external_user_id, display_name, profile, status,
                                   created_at, updated_at, last_message_at)
        values (v_platform, v_user, v_display_name, coalesce(v_profile, '{}'), 'active',
                p_now, p_now, p_now)
        on conflict (platform, external_user_id) where status <> 'closed' do nothing
        returning * into v_conv;
        if found then
            v_conv_created := true;
            exit;
        end if;
    end loop;

    insert into messages (conversation_id, platform, sender_type, sender_id, content,
                          attachments, external_id, created_at, delivery_status, metadata)
    values (v_conv.id, v_platform, v_sender, p ->> 'sender_id', v_content,
            coalesce(json_or_null(p -> 'attachments'), '[]'), v_external_id, p_now, 'received',
            coalesce(json_or_null(p -> 'metadata'), '{}'))
    on conflict (platform, external_id) where external_id is not null do nothing
    returning * into v_msg;

    if not found then
        -- A concurrent delivery of the same message committed first: report its result.
        if v_conv_created then
            delete from conversations where id = v_conv.id;
        end if;
        select * into v_msg from messages
         where platform = v_platform and external_id = v_external_id;
        select * into v_conv from conversations where id = v_msg.conversation_id;
        return jsonb_build_object('conversation', to_jsonb(v_conv), 'message', to_jsonb(v_msg),
                                  'created', false, 'conversation_created', false);
    end if;

    if v_agent then
        update messages
           set human_replied = true, replied_by = p ->> 'sender_id', replied_at = p_now
         where conversation_id = v_conv.id and requires_human and not human_replied;
    end if;

    update conversations
       set message_count        = message_count + 1,
           last_message_at      = p_now,
           last_message_preview = coalesce(p ->> 'preview', message_preview(v_content)),
           updated_at           = p_now,
           last_user_message_at = case when v_sender = 'user' then p_now
                                       else last_user_message_at end,
           first_human_reply_at = case when v_agent then coalesce(first_human_reply_at, p_now)
                                       else first_human_reply_at end,
           needs_human          = case when v_agent then false else needs_human end,
           human_reason         = case when v_agent then null else human_reason end,
           waiting_since        = case when v_agent then null else waiting_since end,
           handoff_timeout_notified_at
                                = case when v_agent then null
                                       else handoff_timeout_notified_at end,
           priority_raised_at   = case when v_agent then null else priority_raised_at end,
           status               = case when status = 'idle' then 'active' else status end,
           display_name         = coalesce(v_display_name, display_name),
           profile              = coalesce(v_profile, profile)
     where id = v_conv.id
    returning * into v_conv;

    if v_sender = 'user' and v_respond then
        perform enqueue_job_row('respond', v_msg.id, v_conv.id, p_now, p_now);
    end if;

    return jsonb_build_object('conversation', to_jsonb(v_conv), 'message', to_jsonb(v_msg),
                              'created', true, 'conversation_created', v_conv_created);
end
$$;

-- As in the pipeline migration; an "agent" message also clears priority_raised_at.
create or replace function public.track_outbound(p jsonb, p_now timestamptz)
returns messages
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_conversation_id bigint  := (p ->> 'conversation_id')::bigint;
    v_sender          text    := p ->> 'sender_type';
    v_content         text    := coalesce(p ->> 'content', '');
    v_external_id     text    := p ->> 'external_id';
    v_agent           boolean;
    v_conv            conversations;
    v_msg             messages;
begin
    v_agent := v_sender = 'agent';
    select * into v_conv from conversations where id = v_conversation_id for update;
    if not found then
        raise exception using errcode = 'PT404',
            message = format('conversation %s not found', v_conversation_id);
    end if;

    insert into messages (conversation_id, platform, sender_type, sender_id, content,
                          attachments, external_id, created_at, confidence_score,
                          delivery_status, metadata)
    values (v_conv.id, v_conv.platform, v_sender, p ->> 'sender_id', v_content,
            coalesce(json_or_null(p -> 'attachments'), '[]'), v_external_id, p_now,
            (p ->> 'confidence_score')::double precision,
            coalesce(p ->> 'delivery_status', 'pending'),
            coalesce(json_or_null(p -> 'metadata'), '{}'))
    on conflict (platform, external_id) where external_id is not null do nothing
    returning * into v_msg;

    if not found then
        select * into v_msg from messages
         where platform = v_conv.platform and external_id = v_external_id;
        return v_msg;
    end if;

    if v_agent then
        update messages
           set human_replied = true, replied_by = p ->> 'sender_id', replied_at = p_now
         where conversation_id = v_conv.id and requires_human and not human_replied;
    end if;

    update conversations
       set message_count        = message_count + 1,
           last_message_at      = p_now,
           last_message_preview = coalesce(p ->> 'preview', message_preview(v_content)),
           updated_at           = p_now,
           first_human_reply_at = case when v_agent then coalesce(first_human_reply_at, p_now)
                                       else first_human_reply_at end,
           needs_human          = case when v_agent then false else needs_human end,
           human_reason         = case when v_agent then null else human_reason end,
           waiting_since        = case when v_agent then null else waiting_since end,
           handoff_timeout_notified_at
                                = case when v_agent then null
                                       else handoff_timeout_notified_at end,
           priority_raised_at   = case when v_agent then null else priority_raised_at end
     where id = v_conv.id;

    if v_msg.delivery_status = 'pending' then
        perform enqueue_job_row('send', v_msg.id, v_conv.id, p_now, p_now);
    end if;

    return v_msg;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Changes (replaced): priority_raised_at belongs to the current wait for a human, as
-- handoff_timeout_notified_at does
-- ---------------------------------------------------------------------------------------------

-- As in the pipeline migration; closing also clears priority_raised_at.
create or replace function public.set_status(p_conversation_id bigint, p_status text,
                                             p_now timestamptz)
returns conversations
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_conv   conversations;
    v_closed boolean := p_status = 'closed';
begin
    select * into v_conv from conversations where id = p_conversation_id for update;
    if not found then
        raise exception using errcode = 'PT404',
            message = format('conversation %s not found', p_conversation_id);
    end if;
    if p_status is null or p_status not in ('active', 'idle', 'closed') then
        raise exception using errcode = 'PT400', message = 'unknown status';
    end if;

    begin
        update conversations
           set status        = p_status,
               updated_at    = p_now,
               closed_at     = case when v_closed then coalesce(closed_at, p_now) end,
               needs_human   = case when v_closed then false else needs_human end,
               human_reason  = case when v_closed then null else human_reason end,
               waiting_since = case when v_closed then null else waiting_since end,
               handoff_timeout_notified_at
                             = case when v_closed then null else handoff_timeout_notified_at end,
               priority_raised_at
                             = case when v_closed then null else priority_raised_at end
         where id = p_conversation_id
        returning * into v_conv;
    exception when unique_violation then
        raise exception using errcode = 'PT409',
            message = 'the user already has another open conversation on this platform';
    end;
    return v_conv;
end
$$;

-- As in the pipeline migration; a flag that starts a new wait also clears priority_raised_at.
create or replace function public.mark_needs_human(p_message_id bigint, p_reason text,
                                                   p_priority integer, p_now timestamptz)
returns jsonb
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_msg  messages;
    v_conv conversations;
begin
    if p_priority is null or p_priority not between 1 and 5 then
        raise exception using errcode = 'PT400', message = 'priority must be between 1 and 5';
    end if;
    update messages
       set requires_human = true, human_reason = p_reason, human_replied = false
     where id = p_message_id
    returning * into v_msg;
    if not found then
        raise exception using errcode = 'PT404', message = format('message %s not found', p_message_id);
    end if;
    update conversations
       set needs_human   = true,
           human_reason  = p_reason,
           waiting_since = coalesce(waiting_since, p_now),
           handoff_timeout_notified_at
                         = case when waiting_since is null then null
                                else handoff_timeout_notified_at end,
           priority_raised_at
                         = case when waiting_since is null then null
                                else priority_raised_at end,
           escalated_at  = coalesce(escalated_at, p_now),
           priority      = least(priority, p_priority),
           updated_at    = p_now
     where id = v_msg.conversation_id
    returning * into v_conv;
    return jsonb_build_object('message', to_jsonb(v_msg), 'conversation', to_jsonb(v_conv));
end
$$;

-- As in the pipeline migration; when the wait ends, priority_raised_at is cleared with it.
create or replace function public.mark_human_replied(p_message_id bigint, p_replied_by text,
                                                     p_now timestamptz)
returns jsonb
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_msg  messages;
    v_conv conversations;
begin
    update messages
       set human_replied = true, replied_by = p_replied_by, replied_at = p_now
     where id = p_message_id
    returning * into v_msg;
    if not found then
        raise exception using errcode = 'PT404', message = format('message %s not found', p_message_id);
    end if;
    -- Lock the conversation first so concurrent replies in it see each other's flags.
    select * into v_conv from conversations where id = v_msg.conversation_id for update;
    if not exists (select 1 from messages
                    where conversation_id = v_msg.conversation_id
                      and requires_human and not human_replied) then
        update conversations
           set needs_human = false, human_reason = null, waiting_since = null,
               handoff_timeout_notified_at = null, priority_raised_at = null, updated_at = p_now
         where id = v_msg.conversation_id
        returning * into v_conv;
    end if;
    return jsonb_build_object('message', to_jsonb(v_msg), 'conversation', to_jsonb(v_conv));
end
$$;

-- As in the pipeline migration; handing back to the bot also clears priority_raised_at.
create or replace function public.set_handling(p_conversation_id bigint, p_handled_by text,
                                               p_assigned_to bigint, p_now timestamptz)
returns jsonb
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_before text;
    v_conv   conversations;
begin
    if p_handled_by is null or p_handled_by not in ('bot', 'human') then
        raise exception using errcode = 'PT400', message = 'unknown handler';
    end if;
    select handled_by into v_before from conversations where id = p_conversation_id for update;
    if not found then
        raise exception using errcode = 'PT404',
            message = format('conversation %s not found', p_conversation_id);
    end if;
    if p_handled_by = 'human' then
        if p_assigned_to is not null
           and not exists (select 1 from admin_users where id = p_assigned_to) then
            raise exception using errcode = 'PT404', message = format('user %s not found', p_assigned_to);
        end if;
        update conversations
           set handled_by = 'human', assigned_to = coalesce(p_assigned_to, assigned_to),
               updated_at = p_now
         where id = p_conversation_id
        returning * into v_conv;
    else
        update conversations
           set handled_by = 'bot', assigned_to = null, needs_human = false, human_reason = null,
               waiting_since = null, handoff_timeout_notified_at = null,
               priority_raised_at = null, updated_at = p_now
         where id = p_conversation_id
        returning * into v_conv;
    end if;
    return jsonb_build_object('conversation', to_jsonb(v_conv),
                              'changed', v_before <> p_handled_by);
end
$$;

-- As in the pipeline migration; closing also clears priority_raised_at.
create or replace function public.sweep_closed(p_close_before timestamptz, p_now timestamptz)
returns jsonb
language sql volatile security invoker
set search_path = public, extensions
as $$
    with changed as (
        update conversations
           set status = 'closed', closed_at = p_now, updated_at = p_now,
               needs_human = false, human_reason = null, waiting_since = null,
               handoff_timeout_notified_at = null, priority_raised_at = null
         where status in ('active', 'idle') and last_message_at < p_close_before
        returning *
    )
    select coalesce(jsonb_agg(to_jsonb(c) order by c.id), '[]') from changed as c
$$;

-- ---------------------------------------------------------------------------------------------
-- Sending again (new)
-- ---------------------------------------------------------------------------------------------

-- The admin's retry button: a failed bot/agent/system message goes back to pending with its
-- error cleared, and its send job back to queued from scratch (run_after = now, attempts 0,
-- no error, no lease), the job being created if there is none. The conditional update locks
-- the message row, so of two concurrent calls the second re-checks, finds it pending and gets
-- PT409. PT409 unless the message is a failed outbound one; PT404 for an unknown message.
-- Returns the Message row.
create or replace function public.requeue_send(p_message_id bigint, p_now timestamptz)
returns messages
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_msg messages;
begin
    update messages
       set delivery_status = 'pending', delivery_error = null
     where id = p_message_id and delivery_status = 'failed' and sender_type <> 'user'
    returning * into v_msg;
    if not found then
        if not exists (select 1 from messages where id = p_message_id) then
            raise exception using errcode = 'PT404',
                message = format('message %s not found', p_message_id);
        end if;
        raise exception using errcode = 'PT409',
            message = 'only a failed outbound message can be sent again';
    end if;
    insert into jobs (kind, message_id, conversation_id, run_after, created_at, updated_at)
    values ('send', v_msg.id, v_msg.conversation_id, p_now, p_now, p_now)
    on conflict (kind, message_id) do update
       set status = 'queued', run_after = p_now, attempts = 0, last_error = null,
           locked_until = null, updated_at = p_now;
    return v_msg;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Priority raise (new): one conditional UPDATE, like the sweeps. A row another caller raised
-- first is re-checked after its lock and no longer matches (priority_raised_at is set), so
-- each conversation is raised, and returned, by exactly one caller, once per wait.
-- ---------------------------------------------------------------------------------------------

create or replace function public.raise_waiting_priority(p_waiting_before timestamptz,
                                                         p_now timestamptz)
returns jsonb
language sql volatile security invoker
set search_path = public, extensions
as $$
    with changed as (
        update conversations
           set priority = priority - 1, priority_raised_at = p_now, updated_at = p_now
         where needs_human and priority_raised_at is null and priority > 1
           and waiting_since < p_waiting_before
        returning *
    )
    select coalesce(jsonb_agg(to_jsonb(c) order by c.id), '[]') from changed as c
$$;

-- ---------------------------------------------------------------------------------------------
-- Stats (replaced): adds messages_per_day, 30 UTC days, oldest first, the last one the day
-- containing p_now -- in the same single statement.
-- ---------------------------------------------------------------------------------------------

create or replace function public.stats(p_now timestamptz)
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
-- Access, as in the earlier migrations: Supabase's default privileges grant anon/authenticated
-- everything on new functions; take it back, give service_role what it needs. (No new table
-- or sequence. CREATE OR REPLACE keeps a function's privileges; the replaced ones are listed
-- anyway.)
-- ---------------------------------------------------------------------------------------------

revoke all on function
    public.list_conversations(jsonb, integer, jsonb),
    public.track_inbound(jsonb, timestamptz),
    public.track_outbound(jsonb, timestamptz),
    public.set_status(bigint, text, timestamptz),
    public.mark_needs_human(bigint, text, integer, timestamptz),
    public.mark_human_replied(bigint, text, timestamptz),
    public.set_handling(bigint, text, bigint, timestamptz),
    public.sweep_closed(timestamptz, timestamptz),
    public.requeue_send(bigint, timestamptz),
    public.raise_waiting_priority(timestamptz, timestamptz),
    public.stats(timestamptz)
    from public, anon, authenticated;
grant execute on function
    public.list_conversations(jsonb, integer, jsonb),
    public.track_inbound(jsonb, timestamptz),
    public.track_outbound(jsonb, timestamptz),
    public.set_status(bigint, text, timestamptz),
    public.mark_needs_human(bigint, text, integer, timestamptz),
    public.mark_human_replied(bigint, text, timestamptz),
    public.set_handling(bigint, text, bigint, timestamptz),
    public.sweep_closed(timestamptz, timestamptz),
    public.requeue_send(bigint, timestamptz),
    public.raise_waiting_priority(timestamptz, timestamptz),
    public.stats(timestamptz)
    to service_role;

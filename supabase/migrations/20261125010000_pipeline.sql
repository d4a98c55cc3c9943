-- Switchboard: durable jobs, handoff and lifecycle bookkeeping, receipts (services/store/base.py).
--
-- Adds the jobs table and conversations.handoff_timeout_notified_at; replaces the functions
-- whose behaviour changes (track_inbound and track_outbound enqueue jobs in the same call and
-- apply an agent's message to the human flags; set_status, mark_needs_human and
-- mark_human_replied maintain handoff_timeout_notified_at; stats gains its new fields) and adds
-- one function per new store method that needs more than one statement. Same conventions as
-- the init migration: every time comes in as a parameter, SECURITY INVOKER, service_role only,
-- PTnnn error codes (PT404 NotFound, PT409 Conflict, PT400 InvalidInput).
--
-- Written to be re-runnable (IF NOT EXISTS, CREATE OR REPLACE), so applying it twice is harmless.

-- ---------------------------------------------------------------------------------------------
-- Schema
-- ---------------------------------------------------------------------------------------------

-- When the "no one has answered yet" notice was sent for the current wait for a human.
alter table public.conversations add column if not exists handoff_timeout_notified_at timestamptz;

-- Every conversation of one person, closed ones too: delivery/read watermarks.
create index if not exists conversations_user_idx
    on public.conversations (platform, external_user_id);
-- The handoff-timeout scan: waiting conversations not yet notified.
create index if not exists conversations_handoff_wait_idx
    on public.conversations (waiting_since)
    where needs_human and handoff_timeout_notified_at is null;
-- Outbound messages a delivery/read watermark can still move forward.
create index if not exists messages_unread_outbound_idx
    on public.messages (conversation_id, created_at)
    where delivery_status in ('sent', 'delivered') and sender_type <> 'user';

-- Durable background work about one message: answer it (respond) or send it (send). Created
-- in the same transaction as its message; handed to one claimer at a time until its lease
-- (locked_until) runs out.
create table if not exists public.jobs (
    id              bigint generated always as identity primary key,
    kind            text        not null check (kind in ('respond', 'send')),
    message_id      bigint      not null references public.messages (id) on delete cascade,
    conversation_id bigint      not null references public.conversations (id) on delete cascade,
    status          text        not null default 'queued'
                                check (status in ('queued', 'running', 'done', 'failed')),
    attempts        integer     not null default 0 check (attempts >= 0),
    run_after       timestamptz not null,
    locked_until    timestamptz,
    last_error      text,
    created_at      timestamptz not null,
    updated_at      timestamptz not null,
    constraint jobs_kind_message_key unique (kind, message_id)
);
-- claim_jobs: the claimable jobs in (run_after, id) order; done/failed ones drop out.
create index if not exists jobs_claim_idx
    on public.jobs (run_after, id) where status in ('queued', 'running');
-- Foreign-key cascades look child rows up by these columns.
create index if not exists jobs_message_idx on public.jobs (message_id);
create index if not exists jobs_conversation_idx on public.jobs (conversation_id);

-- ---------------------------------------------------------------------------------------------
-- Jobs
-- ---------------------------------------------------------------------------------------------

-- Queue a job unless one of that kind exists for the message; returns the stored job either
-- way. Used inside track_inbound/track_outbound (same transaction) and by enqueue_job.
create or replace function public.enqueue_job_row(p_kind text, p_message_id bigint,
                                                  p_conversation_id bigint,
                                                  p_run_after timestamptz, p_now timestamptz)
returns jobs
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_job jobs;
begin
    insert into jobs (kind, message_id, conversation_id, run_after, created_at, updated_at)
    values (p_kind, p_message_id, p_conversation_id, p_run_after, p_now, p_now)
    on conflict (kind, message_id) do nothing
    returning * into v_job;
    if not found then
        select * into v_job from jobs where kind = p_kind and message_id = p_message_id;
    end if;
    return v_job;
end
$$;

-- enqueue_job(): PT404 for an unknown message, PT400 for an unknown kind. Returns the Job row.
create or replace function public.enqueue_job(p_kind text, p_message_id bigint, p_now timestamptz,
                                              p_run_after timestamptz default null)
returns jobs
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_conversation_id bigint;
begin
    if p_kind is null or p_kind not in ('respond', 'send') then
        raise exception using errcode = 'PT400', message = 'unknown job kind';
    end if;
    select conversation_id into v_conversation_id from messages where id = p_message_id;
    if not found then
        raise exception using errcode = 'PT404', message = format('message %s not found', p_message_id);
    end if;
    return enqueue_job_row(p_kind, p_message_id, v_conversation_id,
                           coalesce(p_run_after, p_now), p_now);
end
$$;

-- Take up to p_limit jobs that are queued and due, or running with an expired lease (a crashed
-- claimer): status running, attempts + 1, locked_until = p_locked_until (now + lease, computed
-- by the caller). SKIP LOCKED: concurrent claimers take disjoint sets without waiting; a row
-- changed by a claimer that committed first is re-checked and dropped. p_kinds: JSON array of
-- kinds, or null for all. Returns a JSON array of Job rows, oldest run_after first, then id.
create or replace function public.claim_jobs(p_now timestamptz, p_limit integer,
                                             p_locked_until timestamptz,
                                             p_kinds jsonb default null)
returns jsonb
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_kinds  text[];
    v_result jsonb;
begin
    if p_limit is null or p_limit < 1 then
        raise exception using errcode = 'PT400', message = 'limit must be at least 1';
    end if;
    if p_locked_until is null or p_locked_until <= p_now then
        raise exception using errcode = 'PT400', message = 'the lease must end after now';
    end if;
    if p_kinds is not null then
        select coalesce(array_agg(k), '{}') into v_kinds from jsonb_array_elements_text(p_kinds) as k;
        if exists (select 1 from unnest(v_kinds) as k where k not in ('respond', 'send')) then
            raise exception using errcode = 'PT400', message = 'unknown job kind';
        end if;
    end if;

    with picked as materialized (
        select id from jobs
         where status in ('queued', 'running')
           and ((status = 'queued' and run_after <= p_now)
                or (status = 'running' and locked_until < p_now))
           and (v_kinds is null or kind = any (v_kinds))
         order by run_after, id
         limit p_limit
           for update skip locked
    ),
    claimed as (
        update jobs j
           set status = 'running', attempts = j.attempts + 1,
               locked_until = p_locked_until, updated_at = p_now
          from picked
         where j.id = picked.id
        returning j.*
    )
    select coalesce(jsonb_agg(to_jsonb(c) order by c.run_after, c.id), '[]')
      into v_result
      from claimed as c;
    return v_result;
end
$$;

-- How many jobs (of one status, or all). PT400 for an unknown status.
create or replace function public.count_jobs(p_status text default null)
returns bigint
language plpgsql stable security invoker
set search_path = public, extensions
as $$
begin
    if p_status is not null and p_status not in ('queued', 'running', 'done', 'failed') then
        raise exception using errcode = 'PT400', message = 'unknown job status';
    end if;
    return (select count(*) from jobs where p_status is null or status = p_status);
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Tracking (replaced): jobs in the same call, an agent's message answers the waiting ones
-- ---------------------------------------------------------------------------------------------

-- As in the init migration, plus: a newly stored "user" message with respond (default true)
-- gets a respond job; an "agent" message marks every flagged, unreplied message of the
-- conversation replied and clears needs_human, human_reason, waiting_since and
-- handoff_timeout_notified_at. Returns TrackResult as JSON.
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

-- As in the init migration, plus: a newly stored message with delivery_status "pending" gets a
-- send job; an "agent" message answers the waiting ones (as in track_inbound).
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
                                       else handoff_timeout_notified_at end
     where id = v_conv.id;

    if v_msg.delivery_status = 'pending' then
        perform enqueue_job_row('send', v_msg.id, v_conv.id, p_now, p_now);
    end if;

    return v_msg;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Changes (replaced): handoff_timeout_notified_at belongs to the current wait for a human
-- ---------------------------------------------------------------------------------------------

-- As in the init migration; closing also clears handoff_timeout_notified_at.
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
                             = case when v_closed then null else handoff_timeout_notified_at end
         where id = p_conversation_id
        returning * into v_conv;
    exception when unique_violation then
        raise exception using errcode = 'PT409',
            message = 'the user already has another open conversation on this platform';
    end;
    return v_conv;
end
$$;

-- As in the init migration; a flag that starts a new wait (waiting_since was null) also clears
-- handoff_timeout_notified_at (SET expressions see the row as it was).
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
           escalated_at  = coalesce(escalated_at, p_now),
           priority      = least(priority, p_priority),
           updated_at    = p_now
     where id = v_msg.conversation_id
    returning * into v_conv;
    return jsonb_build_object('message', to_jsonb(v_msg), 'conversation', to_jsonb(v_conv));
end
$$;

-- As in the init migration; when the wait ends, handoff_timeout_notified_at is cleared with it.
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
               handoff_timeout_notified_at = null, updated_at = p_now
         where id = v_msg.conversation_id
        returning * into v_conv;
    end if;
    return jsonb_build_object('message', to_jsonb(v_msg), 'conversation', to_jsonb(v_conv));
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Handling, assignment, profile
-- ---------------------------------------------------------------------------------------------

-- Hand a conversation to a human (p_assigned_to null keeps the assignee) or back to the bot
-- (unassigned, waiting flags cleared). The row lock makes "changed" exact: of two concurrent
-- bot -> human calls, the second sees "human" and reports false. PT404 for an unknown
-- conversation or user, PT400 for an unknown handler. Returns {"conversation", "changed"}.
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
               waiting_since = null, handoff_timeout_notified_at = null, updated_at = p_now
         where id = p_conversation_id
        returning * into v_conv;
    end if;
    return jsonb_build_object('conversation', to_jsonb(v_conv),
                              'changed', v_before <> p_handled_by);
end
$$;

-- Assign a conversation to an admin user, or unassign it (null). PT404 for an unknown
-- conversation or user. Returns the Conversation row.
create or replace function public.assign_conversation(p_conversation_id bigint, p_user_id bigint,
                                                      p_now timestamptz)
returns conversations
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_conv conversations;
begin
    if p_user_id is not null and not exists (select 1 from admin_users where id = p_user_id) then
        raise exception using errcode = 'PT404', message = format('user %s not found', p_user_id);
    end if;
    update conversations set assigned_to = p_user_id, updated_at = p_now
     where id = p_conversation_id
    returning * into v_conv;
    if not found then
        raise exception using errcode = 'PT404',
            message = format('conversation %s not found', p_conversation_id);
    end if;
    return v_conv;
end
$$;

-- Store the person's profile (replaced) and name (kept when null). PT404 for an unknown
-- conversation. Returns the Conversation row.
create or replace function public.set_profile(p_conversation_id bigint, p_display_name text,
                                              p_profile jsonb, p_now timestamptz)
returns conversations
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_conv conversations;
begin
    update conversations
       set display_name = coalesce(p_display_name, display_name),
           profile      = coalesce(json_or_null(p_profile), '{}'),
           updated_at   = p_now
     where id = p_conversation_id
    returning * into v_conv;
    if not found then
        raise exception using errcode = 'PT404',
            message = format('conversation %s not found', p_conversation_id);
    end if;
    return v_conv;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Receipts and metadata
-- ---------------------------------------------------------------------------------------------

-- A platform's delivered/read watermark: every bot/agent/system message of the person's
-- conversations created at or before p_until moves forward to p_status (sent -> delivered ->
-- read; never backwards, never from pending or failed). A concurrent receipt that committed
-- first is re-checked, so nothing moves back. Returns a JSON array of the changed messages in
-- id order. PT400 for a status other than delivered/read.
create or replace function public.mark_delivered_until(p_platform text, p_external_user_id text,
                                                       p_until timestamptz, p_status text,
                                                       p_now timestamptz)
returns jsonb
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_from   text[];
    v_result jsonb;
begin
    v_from := case p_status when 'delivered' then array['sent']
                            when 'read' then array['sent', 'delivered'] end;
    if v_from is null then
        raise exception using errcode = 'PT400',
            message = 'a watermark moves messages to delivered or read';
    end if;
    with changed as (
        update messages m
           set delivery_status = p_status
         where m.conversation_id in (select c.id from conversations c
                                      where c.platform = p_platform
                                        and c.external_user_id = p_external_user_id)
           and m.delivery_status in ('sent', 'delivered') and m.sender_type <> 'user'
           and m.delivery_status = any (v_from)
           and m.created_at <= p_until
        returning m.*
    )
    select coalesce(jsonb_agg(to_jsonb(c) order by c.id), '[]') into v_result from changed as c;
    return v_result;
end
$$;

-- Merge p_patch's top-level keys into the message's metadata; a JSON null deletes the key.
-- PT404 for an unknown message. Returns the Message row.
create or replace function public.update_message_metadata(p_message_id bigint, p_patch jsonb,
                                                          p_now timestamptz)
returns messages
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_msg messages;
begin
    if p_patch is null or jsonb_typeof(p_patch) <> 'object' then
        raise exception using errcode = 'PT400', message = 'the patch must be a JSON object';
    end if;
    update messages
       set metadata = (metadata - array(select key from jsonb_each(p_patch)
                                         where value = 'null'::jsonb))
                      || coalesce((select jsonb_object_agg(key, value) from jsonb_each(p_patch)
                                    where value <> 'null'::jsonb), '{}')
     where id = p_message_id
    returning * into v_msg;
    if not found then
        raise exception using errcode = 'PT404', message = format('message %s not found', p_message_id);
    end if;
    return v_msg;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Lifecycle sweeps: one conditional UPDATE each. A row another sweeper changed first is
-- re-checked after its lock and no longer matches, so each row is changed (and returned) by
-- exactly one caller. Each returns a JSON array of the changed conversations in id order.
-- ---------------------------------------------------------------------------------------------

create or replace function public.sweep_idle(p_idle_before timestamptz, p_now timestamptz)
returns jsonb
language sql volatile security invoker
set search_path = public, extensions
as $$
    with changed as (
        update conversations
           set status = 'idle', updated_at = p_now
         where status = 'active' and last_message_at < p_idle_before
        returning *
    )
    select coalesce(jsonb_agg(to_jsonb(c) order by c.id), '[]') from changed as c
$$;

-- Closes as set_status('closed') does.
create or replace function public.sweep_closed(p_close_before timestamptz, p_now timestamptz)
returns jsonb
language sql volatile security invoker
set search_path = public, extensions
as $$
    with changed as (
        update conversations
           set status = 'closed', closed_at = p_now, updated_at = p_now,
               needs_human = false, human_reason = null, waiting_since = null,
               handoff_timeout_notified_at = null
         where status in ('active', 'idle') and last_message_at < p_close_before
        returning *
    )
    select coalesce(jsonb_agg(to_jsonb(c) order by c.id), '[]') from changed as c
$$;

-- Conversations waiting for a human since before p_waiting_before and not yet notified: mark
-- them notified (now) and return them, each once.
create or replace function public.claim_handoff_timeouts(p_waiting_before timestamptz,
                                                         p_now timestamptz)
returns jsonb
language sql volatile security invoker
set search_path = public, extensions
as $$
    with changed as (
        update conversations
           set handoff_timeout_notified_at = p_now, updated_at = p_now
         where needs_human and handoff_timeout_notified_at is null
           and waiting_since < p_waiting_before
        returning *
    )
    select coalesce(jsonb_agg(to_jsonb(c) order by c.id), '[]') from changed as c
$$;

-- ---------------------------------------------------------------------------------------------
-- Stats (replaced): adds the median response time, handoff and bot-resolution figures.
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
        'timestamp', p_now)
    from conv
$$;

-- ---------------------------------------------------------------------------------------------
-- Access, as in the init migration: Supabase's default privileges grant anon/authenticated
-- everything on new tables, sequences and functions; take it back, give service_role what it
-- needs. (CREATE OR REPLACE keeps a function's privileges; the replaced ones are listed anyway.)
-- ---------------------------------------------------------------------------------------------

alter table public.jobs enable row level security;
revoke all on table public.jobs from public, anon, authenticated;
grant select, insert, update, delete on table public.jobs to service_role;

revoke all on all sequences in schema public from public, anon, authenticated;
grant usage, select on all sequences in schema public to service_role;

revoke all on function
    public.enqueue_job_row(text, bigint, bigint, timestamptz, timestamptz),
    public.enqueue_job(text, bigint, timestamptz, timestamptz),
    public.claim_jobs(timestamptz, integer, timestamptz, jsonb),
    public.count_jobs(text),
    public.track_inbound(jsonb, timestamptz),
    public.track_outbound(jsonb, timestamptz),
    public.set_status(bigint, text, timestamptz),
    public.mark_needs_human(bigint, text, integer, timestamptz),
    public.mark_human_replied(bigint, text, timestamptz),
    public.set_handling(bigint, text, bigint, timestamptz),
    public.assign_conversation(bigint, bigint, timestamptz),
    public.set_profile(bigint, text, jsonb, timestamptz),
    public.mark_delivered_until(text, text, timestamptz, text, timestamptz),
    public.update_message_metadata(bigint, jsonb, timestamptz),
    public.sweep_idle(timestamptz, timestamptz),
    public.sweep_closed(timestamptz, timestamptz),
    public.claim_handoff_timeouts(timestamptz, timestamptz),
    public.stats(timestamptz)
    from public, anon, authenticated;
grant execute on function
    public.enqueue_job_row(text, bigint, bigint, timestamptz, timestamptz),
    public.enqueue_job(text, bigint, timestamptz, timestamptz),
    public.claim_jobs(timestamptz, integer, timestamptz, jsonb),
    public.count_jobs(text),
    public.track_inbound(jsonb, timestamptz),
    public.track_outbound(jsonb, timestamptz),
    public.set_status(bigint, text, timestamptz),
    public.mark_needs_human(bigint, text, integer, timestamptz),
    public.mark_human_replied(bigint, text, timestamptz),
    public.set_handling(bigint, text, bigint, timestamptz),
    public.assign_conversation(bigint, bigint, timestamptz),
    public.set_profile(bigint, text, jsonb, timestamptz),
    public.mark_delivered_until(text, text, timestamptz, text, timestamptz),
    public.update_message_metadata(bigint, jsonb, timestamptz),
    public.sweep_idle(timestamptz, timestamptz),
    public.sweep_closed(timestamptz, timestamptz),
    public.claim_handoff_timeouts(timestamptz, timestamptz),
    public.stats(timestamptz)
    to service_role;

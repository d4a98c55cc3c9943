-- Switchboard: schema and SQL functions of the Supabase store (services/store/supabase.py).
--
-- Every store method is ONE PostgREST request: anything needing more than one statement is
-- a function below, called with .rpc(). The functions never read the clock: every time comes
-- in as a parameter (p_now). They are SECURITY INVOKER and run as service_role, which
-- bypasses RLS; anon and authenticated get nothing (RLS on, no policies, privileges revoked).
--
-- Errors the store maps to typed exceptions (PostgREST turns SQLSTATE PTnnn into HTTP nnn):
--   PT404 -> NotFound, PT409 -> Conflict, PT400 -> InvalidInput.

-- Supabase keeps extensions in their own schema; create it so this also runs on a bare server.
create schema if not exists extensions;
create extension if not exists pg_trgm with schema extensions;

-- ---------------------------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------------------------

create table public.admin_users (
    id            bigint generated always as identity primary key,
    email         text        not null check (length(email) between 1 and 320),
    role          text        not null check (role in ('admin', 'agent')),
    password_hash text        not null,
    created_at    timestamptz not null,
    disabled      boolean     not null default false
);
create unique index admin_users_email_key on public.admin_users (lower(email));

create table public.api_tokens (
    id           bigint generated always as identity primary key,
    user_id      bigint      not null references public.admin_users (id) on delete cascade,
    name         text        not null,
    token_hash   text        not null,
    created_at   timestamptz not null,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
create unique index api_tokens_token_hash_key on public.api_tokens (token_hash);
create index api_tokens_user_id_idx on public.api_tokens (user_id);

create table public.conversations (
    id                   bigint generated always as identity primary key,
    platform             text        not null check (platform in ('messenger', 'webchat')),
    external_user_id     text        not null check (length(external_user_id) between 1 and 256),
    display_name         text,
    profile              jsonb       not null default '{}' check (jsonb_typeof(profile) = 'object'),
    status               text        not null default 'active'
                                     check (status in ('active', 'idle', 'closed')),
    handled_by           text        not null default 'bot' check (handled_by in ('bot', 'human')),
    needs_human          boolean     not null default false,
    human_reason         text,
    priority             integer     not null default 5 check (priority between 1 and 5),
    assigned_to          bigint      references public.admin_users (id) on delete set null,
    message_count        integer     not null default 0 check (message_count >= 0),
    last_message_preview text,
    created_at           timestamptz not null,
    updated_at           timestamptz not null,
    last_message_at      timestamptz not null,
    last_user_message_at timestamptz,
    waiting_since        timestamptz,
    escalated_at         timestamptz,
    first_human_reply_at timestamptz,
    closed_at            timestamptz
);
-- At most one open conversation per person and platform (also the find-open lookup and the
-- arbiter of track_inbound's INSERT ... ON CONFLICT).
create unique index conversations_open_user_key
    on public.conversations (platform, external_user_id) where status <> 'closed';
-- Keyset orders of the inbox (last_activity, priority) and the common filters.
create index conversations_last_activity_idx
    on public.conversations (last_message_at desc, id desc);
create index conversations_priority_idx
    on public.conversations (priority, last_message_at desc, id desc);
create index conversations_status_activity_idx
    on public.conversations (status, last_message_at desc, id desc);
create index conversations_needs_human_idx
    on public.conversations (last_message_at desc, id desc) where needs_human;
create index conversations_needs_human_priority_idx
    on public.conversations (priority, last_message_at desc, id desc) where needs_human;
create index conversations_assigned_to_idx
    on public.conversations (assigned_to) where assigned_to is not null;
-- Substring search on names (ILIKE '%...%') stays indexable.
create index conversations_display_name_trgm_idx
    on public.conversations using gin (display_name extensions.gin_trgm_ops);

create table public.messages (
    id               bigint generated always as identity primary key,
    conversation_id  bigint      not null references public.conversations (id) on delete cascade,
    platform         text        not null check (platform in ('messenger', 'webchat')),
    sender_type      text        not null check (sender_type in ('user', 'bot', 'agent', 'system')),
    sender_id        text,
    content          text        not null default '',
    attachments      jsonb       not null default '[]' check (jsonb_typeof(attachments) = 'array'),
    external_id      text,
    created_at       timestamptz not null,
    confidence_score double precision check (confidence_score between 0 and 1),
    requires_human   boolean     not null default false,
    human_reason     text,
    human_replied    boolean     not null default false,
    replied_by       text,
    replied_at       timestamptz,
    delivery_status  text        not null default 'received' check (delivery_status in
                         ('received', 'pending', 'sent', 'delivered', 'read', 'failed')),
    delivery_error   text,
    metadata         jsonb       not null default '{}' check (jsonb_typeof(metadata) = 'object')
);
-- History of one conversation in id order.
create index messages_conversation_idx on public.messages (conversation_id, id);
-- A redelivered platform message is found (and refused) by this index.
create unique index messages_external_id_key
    on public.messages (platform, external_id) where external_id is not null;
-- Hourly buckets in stats.
create index messages_created_at_idx on public.messages (created_at);
-- Messages still waiting for a human: the stats count and the mark_human_replied check.
create index messages_unreplied_idx
    on public.messages (conversation_id) where requires_human and not human_replied;
-- Substring search in message text at millions of rows.
create index messages_content_trgm_idx
    on public.messages using gin (content extensions.gin_trgm_ops);

-- ---------------------------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------------------------

-- The inbox one-liner, as models.preview(): whitespace runs collapsed, 140 characters at most.
-- The store passes its own preview (Python's idea of whitespace); this is the fallback.
create function public.message_preview(p_content text)
returns text
language sql immutable strict
set search_path = public, extensions
as $$
    select case when char_length(flat) <= 140 then flat else left(flat, 139) || '…' end
    from (select btrim(regexp_replace(p_content, '\s+', ' ', 'g')) as flat) as t
$$;

-- A JSON value, or NULL for a missing key or JSON null.
create function public.json_or_null(p_value jsonb)
returns jsonb
language sql immutable
set search_path = public, extensions
as $$ select case when p_value is null or p_value = 'null'::jsonb then null else p_value end $$;

-- A bare round trip, to compare track_inbound against; ping() calls it too.
create function public.noop()
returns void
language sql stable
set search_path = public, extensions
as $$ $$;

-- ---------------------------------------------------------------------------------------------
-- Tracking
-- ---------------------------------------------------------------------------------------------

-- Store an inbound message in the open conversation of (platform, external_user_id), opening
-- one if there is none. p = InboundMessage as JSON plus "preview". A message whose
-- (platform, external_id) is already stored changes nothing and comes back with created=false.
-- Returns TrackResult as JSON.
create function public.track_inbound(p jsonb, p_now timestamptz)
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
    v_conv         conversations;
    v_msg          messages;
    v_conv_created boolean := false;
begin
    if v_external_id is not null then
        select * into v_msg from messages
         where platform = v_platform and external_id = v_external_id;
        if found then
            select * into v_conv from conversations where id = v_msg.conversation_id;
            return jsonb_build_object('conversation', to_jsonb(v_conv), 'message', to_jsonb(v_msg),
                                      'created', false, 'conversation_created', false);
        end if;
    end if;

    -- Find or open the open conversation. Look first: INSERT ... ON CONFLICT would draw (and
    -- waste) an identity value on every message. FOR UPDATE re-checks the status after
    -- waiting for a concurrent change, so a conversation closed meanwhile is skipped. ON
    -- CONFLICT waits for a concurrent opener and then does nothing; the next turn of the
    -- loop finds its row.
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

    update conversations
       set message_count        = message_count + 1,
           last_message_at      = p_now,
           last_message_preview = coalesce(p ->> 'preview', message_preview(v_content)),
           updated_at           = p_now,
           last_user_message_at = case when v_sender = 'user' then p_now
                                       else last_user_message_at end,
           first_human_reply_at = case when v_sender = 'agent'
                                       then coalesce(first_human_reply_at, p_now)
                                       else first_human_reply_at end,
           status               = case when status = 'idle' then 'active' else status end,
           display_name         = coalesce(v_display_name, display_name),
           profile              = coalesce(v_profile, profile)
     where id = v_conv.id
    returning * into v_conv;

    return jsonb_build_object('conversation', to_jsonb(v_conv), 'message', to_jsonb(v_msg),
                              'created', true, 'conversation_created', v_conv_created);
end
$$;

-- Store a bot, agent or system message. p = OutboundMessage as JSON plus "preview".
-- PT404 for an unknown conversation; a repeated (platform, external_id) returns the stored
-- message unchanged. Returns the Message row.
create function public.track_outbound(p jsonb, p_now timestamptz)
returns messages
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_conversation_id bigint := (p ->> 'conversation_id')::bigint;
    v_sender          text   := p ->> 'sender_type';
    v_content         text   := coalesce(p ->> 'content', '');
    v_external_id     text   := p ->> 'external_id';
    v_conv            conversations;
    v_msg             messages;
begin
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

    update conversations
       set message_count        = message_count + 1,
           last_message_at      = p_now,
           last_message_preview = coalesce(p ->> 'preview', message_preview(v_content)),
           updated_at           = p_now,
           first_human_reply_at = case when v_sender = 'agent'
                                       then coalesce(first_human_reply_at, p_now)
                                       else first_human_reply_at end
     where id = v_conv.id;

    return v_msg;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Reads
-- ---------------------------------------------------------------------------------------------

-- Lists come back as one JSON array, not as a set of rows: PostgREST caps row sets at
-- db-max-rows (1000 on Supabase), which would silently shorten a long page.

-- One page of conversations. p_filters = ConversationFilter as JSON; p_cursor =
-- ConversationCursor as JSON (or null). Returns a JSON array of at most p_limit conversations
-- in the sort order; the caller asks for one more than it shows to learn whether there is a
-- next page. force_custom_plan: every call is planned with its actual values, so the
-- "filter not given" branches fold away and each sort order uses its own index.
create function public.list_conversations(p_filters jsonb, p_limit integer,
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
    f_pattern     text;
    c_at          timestamptz;
    c_priority    integer;
    c_id          bigint;
begin
    if f_sort not in ('last_activity', 'priority') then
        raise exception using errcode = 'PT400', message = 'unknown sort order';
    end if;
    f_by_priority := f_sort = 'priority';
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
    end if;
    if f_search is not null then
        -- The user's text is a literal: escape LIKE's metacharacters (backslash is ILIKE's
        -- default escape character).
        f_pattern := '%' || replace(replace(replace(f_search, '\', '\\'), '%', '\%'), '_', '\_')
                     || '%';
    end if;

    return (
    select coalesce(jsonb_agg(to_jsonb(page) - 'sort_priority' order by page.sort_priority,
                                                                      page.last_message_at desc,
                                                                      page.id desc),
                    '[]')
      from (
    select c.*, case when f_by_priority then c.priority else 0 end as sort_priority
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
       -- lets the priority index start at the cursor's priority.
       and (c_id is null
            or (f_by_priority and c.priority >= c_priority
                and (c.priority > c_priority or (c.last_message_at, c.id) < (c_at, c_id)))
            or (not f_by_priority and (c.last_message_at, c.id) < (c_at, c_id)))
     order by case when f_by_priority then c.priority else 0 end,
              c.last_message_at desc, c.id desc
     limit p_limit
           ) as page);
end
$$;

-- Messages of a conversation in id order (JSON array): the oldest p_limit after p_after when
-- only p_after is given, else the newest p_limit (before p_before, after p_after if given).
create function public.list_messages(p_conversation_id bigint, p_limit integer,
                                     p_before bigint default null, p_after bigint default null)
returns jsonb
language plpgsql stable security invoker
set search_path = public, extensions
as $$
begin
    if p_limit is null or p_limit < 1 then
        raise exception using errcode = 'PT400', message = 'limit must be at least 1';
    end if;
    if p_after is not null and p_before is null then
        return (select coalesce(jsonb_agg(to_jsonb(m) order by m.id), '[]')
                  from (select * from messages
                         where conversation_id = p_conversation_id and id > p_after
                         order by id limit p_limit) as m);
    end if;
    return (select coalesce(jsonb_agg(to_jsonb(m) order by m.id), '[]')
              from (select * from messages
                     where conversation_id = p_conversation_id
                       and (p_before is null or id < p_before)
                       and (p_after is null or id > p_after)
                     order by id desc limit p_limit) as m);
end
$$;

-- Every admin user in id order (JSON array).
create function public.list_users()
returns jsonb
language sql stable security invoker
set search_path = public, extensions
as $$ select coalesce(jsonb_agg(to_jsonb(u) order by u.id), '[]') from admin_users u $$;

-- API tokens in id order, of one user or of everyone (JSON array).
create function public.list_api_tokens(p_user_id bigint default null)
returns jsonb
language sql stable security invoker
set search_path = public, extensions
as $$
    select coalesce(jsonb_agg(to_jsonb(t) order by t.id), '[]')
      from api_tokens t
     where p_user_id is null or t.user_id = p_user_id
$$;

-- The user owning the e-mail address, compared case-insensitively (0 or 1 row).
create function public.get_user_by_email(p_email text)
returns setof admin_users
language sql stable security invoker
set search_path = public, extensions
as $$ select * from admin_users where lower(email) = lower(p_email) $$;

-- Aggregates over every conversation, all in this one statement. Returns Stats as JSON.
-- total_messages sums the per-conversation counters (kept in the same transaction as every
-- insert) instead of counting a table of millions of rows.
create function public.stats(p_now timestamptz)
returns jsonb
language sql stable security invoker
set search_path = public, extensions
as $$
    with conv as (
        select count(*)                                          as total,
               count(*) filter (where status = 'active')         as active,
               coalesce(sum(message_count), 0)                   as messages,
               count(*) filter (where needs_human)               as needing_human,
               count(*) filter (where escalated_at is not null)  as escalated,
               avg(extract(epoch from first_human_reply_at - escalated_at))
                   filter (where first_human_reply_at >= escalated_at) as avg_response
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
-- Changes
-- ---------------------------------------------------------------------------------------------

-- Set a conversation's status. Closing sets closed_at and clears the open-work flags;
-- leaving closed clears closed_at and is PT409 when the person already has another open
-- conversation on that platform. PT404 for an unknown id. Returns the Conversation row.
create function public.set_status(p_conversation_id bigint, p_status text, p_now timestamptz)
returns conversations
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_conv conversations;
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
               closed_at     = case when p_status = 'closed' then coalesce(closed_at, p_now) end,
               needs_human   = case when p_status = 'closed' then false else needs_human end,
               human_reason  = case when p_status = 'closed' then null else human_reason end,
               waiting_since = case when p_status = 'closed' then null else waiting_since end
         where id = p_conversation_id
        returning * into v_conv;
    exception when unique_violation then
        raise exception using errcode = 'PT409',
            message = 'the user already has another open conversation on this platform';
    end;
    return v_conv;
end
$$;

-- Flag a message as needing a human, and its conversation (priority only ever rises, i.e.
-- the number falls). PT404 for an unknown message. Returns {"message", "conversation"}.
create function public.mark_needs_human(p_message_id bigint, p_reason text, p_priority integer,
                                        p_now timestamptz)
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
           escalated_at  = coalesce(escalated_at, p_now),
           priority      = least(priority, p_priority),
           updated_at    = p_now
     where id = v_msg.conversation_id
    returning * into v_conv;
    return jsonb_build_object('message', to_jsonb(v_msg), 'conversation', to_jsonb(v_conv));
end
$$;

-- Mark a message as answered by a human; when nothing in the conversation still waits for
-- one, the conversation's needs_human, human_reason and waiting_since are cleared.
-- PT404 for an unknown message. Returns {"message", "conversation"}.
create function public.mark_human_replied(p_message_id bigint, p_replied_by text,
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
           set needs_human = false, human_reason = null, waiting_since = null, updated_at = p_now
         where id = v_msg.conversation_id
        returning * into v_conv;
    end if;
    return jsonb_build_object('message', to_jsonb(v_msg), 'conversation', to_jsonb(v_conv));
end
$$;

-- Record an outbound message's delivery state; the platform's id is kept once known.
-- PT404 for an unknown message. Returns the Message row.
create function public.set_delivery_status(p_message_id bigint, p_status text, p_now timestamptz,
                                           p_error text default null,
                                           p_external_id text default null)
returns messages
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_msg messages;
begin
    update messages
       set delivery_status = p_status,
           delivery_error  = p_error,
           external_id     = coalesce(p_external_id, external_id)
     where id = p_message_id
    returning * into v_msg;
    if not found then
        raise exception using errcode = 'PT404', message = format('message %s not found', p_message_id);
    end if;
    return v_msg;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Admin users and API tokens
-- ---------------------------------------------------------------------------------------------

-- The enabled user owning an unrevoked token with this hash, recording last_used_at
-- (0 or 1 row).
create function public.authenticate_token(p_token_hash text, p_now timestamptz)
returns setof admin_users
language sql volatile security invoker
set search_path = public, extensions
as $$
    with used as (
        update api_tokens t
           set last_used_at = p_now
          from admin_users u
         where t.token_hash = p_token_hash
           and t.revoked_at is null
           and u.id = t.user_id
           and not u.disabled
        returning t.user_id
    )
    select u.* from admin_users u join used on used.user_id = u.id
$$;

-- Revoke a token; revoking twice keeps the first time. PT404 for an unknown id.
create function public.revoke_api_token(p_token_id bigint, p_now timestamptz)
returns void
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
begin
    update api_tokens set revoked_at = coalesce(revoked_at, p_now) where id = p_token_id;
    if not found then
        raise exception using errcode = 'PT404', message = format('token %s not found', p_token_id);
    end if;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Access: RLS on everywhere with no policies, so anon/authenticated see nothing even if a
-- privilege slips through; only service_role (BYPASSRLS) works with the data. Supabase's
-- default privileges would grant anon/authenticated everything on new objects: revoke it.
-- ---------------------------------------------------------------------------------------------

alter table public.admin_users   enable row level security;
alter table public.api_tokens    enable row level security;
alter table public.conversations enable row level security;
alter table public.messages      enable row level security;

revoke all on table public.admin_users, public.api_tokens, public.conversations, public.messages
    from public, anon, authenticated;
grant select, insert, update, delete
    on table public.admin_users, public.api_tokens, public.conversations, public.messages
    to service_role;

revoke all on all sequences in schema public from public, anon, authenticated;
grant usage, select on all sequences in schema public to service_role;

revoke all on function
    public.message_preview(text),
    public.json_or_null(jsonb),
    public.noop(),
    public.track_inbound(jsonb, timestamptz),
    public.track_outbound(jsonb, timestamptz),
    public.list_conversations(jsonb, integer, jsonb),
    public.list_messages(bigint, integer, bigint, bigint),
    public.list_users(),
    public.list_api_tokens(bigint),
    public.get_user_by_email(text),
    public.stats(timestamptz),
    public.set_status(bigint, text, timestamptz),
    public.mark_needs_human(bigint, text, integer, timestamptz),
    public.mark_human_replied(bigint, text, timestamptz),
    public.set_delivery_status(bigint, text, timestamptz, text, text),
    public.authenticate_token(text, timestamptz),
    public.revoke_api_token(bigint, timestamptz)
    from public, anon, authenticated;
grant execute on function
    public.message_preview(text),
    public.json_or_null(jsonb),
    public.noop(),
    public.track_inbound(jsonb, timestamptz),
    public.track_outbound(jsonb, timestamptz),
    public.list_conversations(jsonb, integer, jsonb),
    public.list_messages(bigint, integer, bigint, bigint),
    public.list_users(),
    public.list_api_tokens(bigint),
    public.get_user_by_email(text),
    public.stats(timestamptz),
    public.set_status(bigint, text, timestamptz),
    public.mark_needs_human(bigint, text, integer, timestamptz),
    public.mark_human_replied(bigint, text, timestamptz),
    public.set_delivery_status(bigint, text, timestamptz, text, text),
    public.authenticate_token(text, timestamptz),
    public.revoke_api_token(bigint, timestamptz)
    to service_role;

-- Switchboard: conversation tags -- labels the team puts on a conversation ("billing", "vip"),
-- to find them again (the inbox's tag filter) and count them (GET /admin/tags). Mirrors the
-- SQLite store's schema version 10 (services/store/sqlite_tags.py).
--
-- conversations.tags (domain tag_list): the conversation's tags, normalised by the app
-- (services.models.normalize_tag: lower case, 1 to 32 letters, digits, spaces, - and _),
-- unique, sorted in code-point order (collate "C", as Python and SQLite sort), at most 20; a
-- GIN index for the filter. add_tag / remove_tag change one tag in one statement under the
-- row's lock, so two agents tagging at once both keep theirs; list_tags counts the tags in
-- use.
--
-- Replaces list_conversations: the latest definition (20261205060000_unread_filter.sql) with
-- only the tag filter added. Same conventions as before: SECURITY INVOKER, service_role only,
-- PTnnn error codes. Re-runnable. Until it is applied the tag filter is refused as
-- unsupported (a 400), never ignored.

-- A domain, as the other value rules of conversations (20261204040000_check_domains.sql): it
-- is checked only when the column is written, not at every update of the row (a tracked
-- message updates its conversation).
do $$
begin
    if not exists (select 1 from pg_type where typname = 'tag_list'
                                             and typnamespace = 'public'::regnamespace) then
        create domain public.tag_list as text[]
            check (cardinality(value) <= 20 and array_position(value, null) is null);
    end if;
end
$$;

alter table public.conversations add column if not exists tags public.tag_list not null
    default '{}';

-- Partial: only tagged conversations are in it. Every tracked message updates its
-- conversation's row, and a row in a GIN index (an untagged one too, as an empty item) gets
-- a new entry each time; most conversations are never tagged, so the messages of those add
-- nothing to it. The queries that read it say "tags <> '{}'" too, which lets the planner
-- use it.
create index if not exists conversations_tags_idx on public.conversations using gin (tags)
    where tags <> '{}';

-- The app normalises a tag; this refuses what it never sends (a blank or long tag, outer or
-- doubled spaces, upper case), so the stored tags stay as the app reads them.
create or replace function public.check_tag(p_tag text)
returns void
language plpgsql immutable
set search_path = public, extensions
as $$
begin
    if p_tag is null or char_length(p_tag) not between 1 and 32 or p_tag <> btrim(p_tag)
       or strpos(p_tag, '  ') > 0 or p_tag <> lower(p_tag) then
        raise exception using errcode = 'PT400', message = format('bad tag %L', p_tag);
    end if;
end
$$;

-- Put a tag on a conversation: {"conversation", "changed"} (changed false: it had the tag).
-- PT404 for an unknown conversation; PT409 when it has 20 tags already.
create or replace function public.add_tag(p_conversation_id bigint, p_tag text,
                                          p_now timestamptz)
returns json
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_row conversations;
begin
    perform check_tag(p_tag);
    select * into v_row from conversations where id = p_conversation_id for update;
    if not found then
        raise exception using errcode = 'PT404',
            message = format('conversation %s not found', p_conversation_id);
    end if;
    if p_tag = any(v_row.tags) then
        return json_build_object('conversation', row_to_json(v_row), 'changed', false);
    end if;
    if cardinality(v_row.tags) >= 20 then
        raise exception using errcode = 'PT409',
            message = 'a conversation has at most 20 tags';
    end if;
    update conversations
       set tags = array(select t from unnest(tags || p_tag) as t order by t collate "C"),
           updated_at = p_now
     where id = p_conversation_id
    returning * into v_row;
    return json_build_object('conversation', row_to_json(v_row), 'changed', true);
end
$$;

-- Take a tag off: {"conversation", "changed"} (changed false: it did not have it). PT404.
create or replace function public.remove_tag(p_conversation_id bigint, p_tag text,
                                             p_now timestamptz)
returns json
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_row conversations;
begin
    perform check_tag(p_tag);
    update conversations set tags = array_remove(tags, p_tag), updated_at = p_now
     where id = p_conversation_id and p_tag = any(tags)
    returning * into v_row;
    if found then
        return json_build_object('conversation', row_to_json(v_row), 'changed', true);
    end if;
    select * into v_row from conversations where id = p_conversation_id;
    if not found then
        raise exception using errcode = 'PT404',
            message = format('conversation %s not found', p_conversation_id);
    end if;
    return json_build_object('conversation', row_to_json(v_row), 'changed', false);
end
$$;

-- The tags in use, most used first, then by tag: [{"tag", "conversations", "open"}]. Reads
-- the tagged conversations only (conversations_tagged_idx).
create index if not exists conversations_tagged_idx on public.conversations (id)
    include (status, tags) where tags <> '{}';

create or replace function public.list_tags(p_limit integer)
returns json
language plpgsql stable security invoker
set search_path = public, extensions
as $$
begin
    if p_limit is null or p_limit < 1 then
        raise exception using errcode = 'PT400', message = 'limit must be at least 1';
    end if;
    return (
        select coalesce(json_agg(counted order by counted.conversations desc,
                                          counted.tag collate "C"), '[]')
          from (select t.tag, count(*) as conversations,
                       count(*) filter (where c.status <> 'closed') as open
                  from conversations as c, unnest(c.tags) as t(tag)
                 where c.tags <> '{}'
                 group by t.tag
                 order by count(*) desc, t.tag collate "C"
                 limit p_limit) as counted);
end
$$;

revoke all on function public.check_tag(text), public.add_tag(bigint, text, timestamptz),
    public.remove_tag(bigint, text, timestamptz), public.list_tags(integer)
    from public, anon, authenticated;
grant execute on function public.check_tag(text), public.add_tag(bigint, text, timestamptz),
    public.remove_tag(bigint, text, timestamptz), public.list_tags(integer) to service_role;

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
    f_user        text    := p_filters ->> 'external_user_id';
    f_needs_human boolean := (p_filters ->> 'needs_human')::boolean;
    f_handled_by  text    := p_filters ->> 'handled_by';
    f_assigned_to bigint  := (p_filters ->> 'assigned_to')::bigint;
    f_unassigned  boolean := (p_filters ->> 'unassigned')::boolean;
    f_unread_by   bigint  := (p_filters ->> 'unread_by')::bigint;
    f_tag         text    := p_filters ->> 'tag';
    f_search      text    := nullif(p_filters ->> 'search', '');
    f_sort        text    := coalesce(p_filters ->> 'sort', 'last_activity');
    f_by_priority boolean;
    f_by_waiting  boolean;
    f_pattern     text;
    f_walk        boolean := false;
    f_walk_after  integer := coalesce(
        nullif(current_setting('switchboard.search_walk_after', true), '')::integer, 20000);
    f_holding     bigint;
    c_at          timestamptz;
    c_priority    integer;
    c_id          bigint;
    c_needs_human boolean;
    c_waiting     timestamptz;
    f_unsupported text;
begin
    -- A filter this function does not implement is refused, never ignored: ignoring it would
    -- list everyone's conversations. (A key with a JSON null is no filter.)
    if p_filters is not null and jsonb_typeof(p_filters) <> 'object' then
        raise exception using errcode = 'PT400', message = 'filters must be a JSON object';
    end if;
    select string_agg(e.key, ', ' order by e.key) into f_unsupported
      from jsonb_each(coalesce(p_filters, '{}')) as e
     where e.value <> 'null'::jsonb
       and e.key not in ('status', 'platform', 'external_user_id', 'needs_human', 'handled_by',
                         'assigned_to', 'unassigned', 'unread_by', 'tag', 'search',
                         'sort');
    if f_unsupported is not null then
        raise exception using errcode = 'PT400',
              message = 'unsupported conversation filter: ' || f_unsupported;
    end if;
    if f_user is not null and f_platform is null then
        raise exception using errcode = 'PT400', message = 'external_user_id needs platform';
    end if;
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
        -- How many rows hold the text, counted up to f_walk_after + 1: planned for this
        -- text, so a rare one reads the trigram indexes and a common one stops after the
        -- first rows of a sequential scan. A text of one or two characters has no trigram
        -- (the indexes cannot narrow it): it walks at once.
        if char_length(f_search) < 3 then
            f_walk := true;
        else
            select (select count(*) from (select 1 from messages m
                                          where m.content ilike f_pattern
                                          limit f_walk_after + 1) as held)
                 + (select count(*) from (select 1 from conversations n
                                          where n.display_name ilike f_pattern
                                          limit f_walk_after + 1) as named)
              into f_holding;
            f_walk := f_holding > f_walk_after;
        end if;
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
       -- With platform: conversations_user_idx (platform, external_user_id).
       and (f_user is null or c.external_user_id = f_user)
       and (f_needs_human is null or c.needs_human = f_needs_human)
       and (f_handled_by is null or c.handled_by = f_handled_by)
       and (f_assigned_to is null or c.assigned_to = f_assigned_to)
       and (f_unassigned is null or (c.assigned_to is null) = f_unassigned)
       -- Unread by the account: messages past its mark, or never opened (the mark's
       -- primary key, per row of the page's walk).
       and (f_unread_by is null
            or not exists (select 1 from conversation_reads r
                            where r.user_id = f_unread_by and r.conversation_id = c.id
                              and r.message_count >= c.message_count))
       -- Carrying the tag: conversations_tags_idx (GIN, tagged rows only: hence the first
       -- term) for a rare tag, the page's order index for a common one (force_custom_plan
       -- plans each call for its tag).
       and (f_tag is null or (c.tags <> '{}' and c.tags @> array[f_tag]))
       -- A rare text: both sides of the search use their trigram index, the ids hashed once.
       -- A common one (f_walk): the conversations in the page's order, each checked by its
       -- own messages, until the page is full. f_walk is a constant in each call's plan
       -- (force_custom_plan), so the planner keeps only one of the two.
       and (f_pattern is null
            or (not f_walk
                and c.id in (select n.id from conversations n where n.display_name ilike f_pattern
                             union all
                             select m.conversation_id from messages m
                              where m.content ilike f_pattern))
            or (f_walk
                and (c.display_name ilike f_pattern
                     or exists (select 1 from messages m
                                 where m.conversation_id = c.id and m.content ilike f_pattern))))
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

revoke all on function public.list_conversations(jsonb, integer, jsonb)
    from public, anon, authenticated;
grant execute on function public.list_conversations(jsonb, integer, jsonb) to service_role;

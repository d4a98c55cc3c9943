-- Switchboard: the inbox's "Unread" filter -- the conversations with messages past the
-- signed-in account's read mark (20261205040000_conversation_reads.sql), or never opened by
-- it. list_conversations takes a filter unread_by (an account id): a row is kept unless the
-- account's mark holds all its messages, looked up by the mark's primary key as the page's
-- walk reaches each conversation (the SQLite store does the same).
--
-- Replaces list_conversations only: the latest definition
-- (20261205000000_search_walks_common_text.sql) with only that filter added. Same conventions
-- as before: SECURITY INVOKER, service_role only, PTnnn error codes. Re-runnable (CREATE OR
-- REPLACE). Until it is applied, the filter is refused as unsupported (a 400), never ignored.

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
                         'assigned_to', 'unassigned', 'unread_by', 'search', 'sort');
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

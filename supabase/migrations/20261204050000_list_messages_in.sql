-- Switchboard: the messages of many conversations in one call (issue #7: an export).
--
-- An export reads its conversations a page of 200 at a time, then read each one's messages
-- with list_messages: one HTTP round trip per conversation, about 2 ms each through
-- PostgREST, so an export of 100,000 conversations spent minutes on round trips alone.
-- list_messages_in answers for the whole page: the messages of p_conversation_ids created in
-- [p_from, p_to), conversation by conversation in the array's order and by id within each, at
-- most p_limit. p_after_conversation / p_after_id (the last message returned) continue.
-- Each conversation is one index scan of messages_conversation_idx (conversation_id, id) in a
-- lateral join, with its own limit, so a call reads at most p_limit rows per conversation and
-- sorts no more than it returns times the page. The rows go out as json (json_agg writes
-- each row's text once), not jsonb: for 500 messages jsonb_agg(to_jsonb(...)) took 8-10 ms,
-- json_agg 2.4-3.1 ms. PL/pgSQL keeps a statement's plan; after five calls it may keep one
-- made for any arguments (a generic plan), and the generic plan of this statement ANDs the
-- conversation's index with the created_at range of the whole table, once per conversation:
-- 225-240 ms for 500 messages of 200 conversations at 200,000 messages, against 3 ms.
-- force_custom_plan plans each call for its own arrays and bounds (0.2 ms).
--
-- Same conventions as before: SECURITY INVOKER, service_role only. Re-runnable.

drop function if exists public.list_messages_in(bigint[], timestamptz, timestamptz, integer,
                                               bigint, bigint);

create or replace function public.list_messages_in(p_conversation_ids bigint[],
                                                   p_from timestamptz, p_to timestamptz,
                                                   p_limit integer,
                                                   p_after_conversation bigint default null,
                                                   p_after_id bigint default null)
returns json
language plpgsql stable security invoker
set search_path = public, extensions
set plan_cache_mode = force_custom_plan
as $$
declare
    v_start bigint := 1;
begin
    if p_limit is null or p_limit < 1 then
        raise exception using errcode = 'PT400', message = 'limit must be at least 1';
    end if;
    if p_from is null or p_to is null then
        raise exception using errcode = 'PT400', message = 'the range needs both ends';
    end if;
    if cardinality(p_conversation_ids) > 1000 then
        raise exception using errcode = 'PT400', message = 'at most 1000 conversations per read';
    end if;
    if (select count(distinct v) from unnest(p_conversation_ids) as v)
       <> coalesce(cardinality(p_conversation_ids), 0) then
        raise exception using errcode = 'PT400',
            message = 'conversation ids must be distinct and not null';
    end if;
    if p_after_conversation is not null then
        v_start := array_position(p_conversation_ids, p_after_conversation);
        if v_start is null then
            raise exception using errcode = 'PT400',
                message = 'after names a conversation that is not in the list';
        end if;
    end if;
    return (select coalesce(json_agg(page.m order by page.place, (page.m).id), '[]')
              from (select c.place, m
                      from unnest(p_conversation_ids) with ordinality as c(conversation, place)
                      cross join lateral (
                          select * from messages
                           where conversation_id = c.conversation
                             and created_at >= p_from and created_at < p_to
                             and (c.place > v_start or p_after_id is null or id > p_after_id)
                           order by id
                           limit p_limit) as m
                     where c.place >= v_start
                     order by c.place, m.id
                     limit p_limit) as page);
end
$$;

revoke all on function public.list_messages_in(bigint[], timestamptz, timestamptz, integer,
                                               bigint, bigint)
    from public, anon, authenticated;
grant execute on function public.list_messages_in(bigint[], timestamptz, timestamptz, integer,
                                                  bigint, bigint)
    to service_role;

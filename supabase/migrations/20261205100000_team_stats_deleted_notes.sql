-- Switchboard: team stats count the notes an account wrote and has not deleted (a note
-- deleted since, detail.deleted_at, 20261205050000_note_edits.sql, no longer counts: it was
-- mostly written in error). The SQLite store's team_stats counts the same.
--
-- Replaces team_stats only: the definition of 20261205020000_team_stats.sql with only that
-- count changed. Same conventions: SECURITY INVOKER, service_role only. Re-runnable.

create or replace function public.team_stats(p_from timestamptz, p_to timestamptz)
returns json
language plpgsql stable security invoker
set search_path = public, extensions
set plan_cache_mode = force_custom_plan
as $$
begin
    if p_from is null or p_to is null then
        raise exception using errcode = 'PT400', message = 'the period needs both ends';
    end if;
    if p_from >= p_to then
        raise exception using errcode = 'PT400', message = 'start must be before end';
    end if;
    if p_to - p_from > interval '366 days' then
        raise exception using errcode = 'PT400', message = 'the period is at most 366 days';
    end if;
    return (
        with replies as (
            select sender_id as email, count(*) as replies,
                   count(distinct conversation_id) as conversations_replied
              from messages
             where sender_type = 'agent' and created_at >= p_from and created_at < p_to
             group by sender_id
        ), lines as (
            select kind, actor_id, conversation_id, detail from activity
             where created_at >= p_from and created_at < p_to
        ), picked as (
            select user_id, count(distinct conversation_id) as picked_up
              from (select actor_id as user_id, conversation_id from lines
                     where kind = 'taken_over'
                    union all
                    select case when jsonb_typeof(detail -> 'to_id') = 'number'
                                then (detail ->> 'to_id')::bigint end, conversation_id
                      from lines where kind = 'assigned') as picks
             where user_id is not null
             group by user_id
        ), done as (
            select actor_id as user_id,
                   count(*) filter (where kind = 'handed_back') as handed_back,
                   count(*) filter (where kind = 'closed') as closed,
                   count(*) filter (where kind = 'note' and not detail ? 'deleted_at')
                       as notes
              from lines
             where actor_id is not null and kind in ('handed_back', 'closed', 'note')
             group by actor_id
        ), firsts as (
            -- A conversation whose first human reply is in the period has its first agent
            -- message there (it set first_human_reply_at to its own created_at): the first
            -- of its agent messages in the period, found among the period's replies.
            select first_reply.email,
                   case when c.first_human_reply_at >= c.escalated_at
                        then extract(epoch from c.first_human_reply_at - c.escalated_at)::float8
                   end as seconds
              from conversations as c
              join (select distinct on (conversation_id) conversation_id, sender_id as email
                      from messages
                     where sender_type = 'agent' and created_at >= p_from and created_at < p_to
                     order by conversation_id, id) as first_reply
                on first_reply.conversation_id = c.id
             where c.first_human_reply_at >= p_from and c.first_human_reply_at < p_to
        ), first_responses as (
            select email, count(*) as first_responses, avg(seconds) as avg_seconds,
                   percentile_cont(0.5) within group (order by seconds) as median_seconds
              from firsts
             group by email
        ), open_assigned as (
            select assigned_to as user_id, count(*) as open_assigned from conversations
             where assigned_to is not null and status <> 'closed'
             group by assigned_to
        )
        -- In code-point order, as SQLite sorts text, whatever the database's collation.
        select coalesce(json_agg(account order by lower(account.email) collate "C",
                                         account.user_id), '[]')
          from (select u.id as user_id, u.email, u.role, u.disabled,
                       coalesce(r.replies, 0) as replies,
                       coalesce(r.conversations_replied, 0) as conversations_replied,
                       coalesce(p.picked_up, 0) as picked_up,
                       coalesce(d.handed_back, 0) as handed_back,
                       coalesce(d.closed, 0) as closed, coalesce(d.notes, 0) as notes,
                       coalesce(f.first_responses, 0) as first_responses,
                       f.median_seconds as median_first_response_seconds,
                       f.avg_seconds as avg_first_response_seconds,
                       coalesce(o.open_assigned, 0) as open_assigned
                  from admin_users as u
                  left join replies as r on r.email = u.email
                  left join picked as p on p.user_id = u.id
                  left join done as d on d.user_id = u.id
                  left join first_responses as f on f.email = u.email
                  left join open_assigned as o on o.user_id = u.id
                 where r.email is not null or p.user_id is not null or d.user_id is not null
                    or f.email is not null or o.user_id is not null) as account
    );
end
$$;

revoke all on function public.team_stats(timestamptz, timestamptz)
    from public, anon, authenticated;
grant execute on function public.team_stats(timestamptz, timestamptz) to service_role;

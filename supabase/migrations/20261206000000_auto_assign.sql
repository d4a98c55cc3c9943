-- Switchboard: auto-assignment (AUTO_ASSIGN). Which accounts take new conversations now,
-- and handing the conversations that wait for a human to the least loaded of them. Mirrors
-- the SQLite store's schema version 12 (services/store/sqlite_assignment.py).
--
-- admin_users.available, last_assigned_at; set_user_available; auto_assign. auto_assign
-- takes a transaction-scoped advisory lock first, so two processes handing conversations
-- out at once take turns and never count the same load. Same conventions as before:
-- SECURITY INVOKER, service_role only, PTnnn error codes. Re-runnable.

alter table public.admin_users add column if not exists available boolean not null
    default false;
alter table public.admin_users add column if not exists last_assigned_at timestamptz;

-- Each account's open conversations, counted from the index (auto-assignment's load), and
-- the conversations waiting for nobody in particular, longest first (what it hands out).
create index if not exists conversations_open_assigned_idx on public.conversations
    (assigned_to) where assigned_to is not null and status <> 'closed';
create index if not exists conversations_unassigned_wait_idx on public.conversations
    (waiting_since nulls first, id)
    where needs_human and assigned_to is null and status <> 'closed';

-- The account as stored; PT404 for an unknown one.
create or replace function public.set_user_available(p_user_id bigint, p_available boolean)
returns json
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_row admin_users;
begin
    update admin_users set available = p_available where id = p_user_id returning * into v_row;
    if not found then
        raise exception using errcode = 'PT404', message = format('user %s not found', p_user_id);
    end if;
    return row_to_json(v_row);
end
$$;

-- Up to p_limit conversations waiting for a human (needs_human, nobody assigned, not
-- closed; among p_ids when given), longest-waiting first, each to the available, enabled
-- account with the fewest open conversations assigned (fewer than p_max_open when it is
-- above 0), then the one given a conversation longest ago (never first), then the lowest
-- id: [{"conversation", "user"}] in the order given out.
create or replace function public.auto_assign(p_ids bigint[], p_limit integer,
                                              p_max_open integer, p_now timestamptz)
returns json
language plpgsql volatile security invoker
set search_path = public, extensions
-- A few small index reads: JIT-compiling them (when a fresh table's estimates cross
-- jit_above_cost) took 11 ms of the 13 at 1,000,000 messages (bench/admin.py).
set jit = off
as $$
declare
    v_waiting bigint[];
    v_conversation_id bigint;
    v_agent admin_users;
    v_row conversations;
    v_given json[] := '{}';
begin
    if p_limit is null or p_limit < 1 or p_limit > 200 then
        raise exception using errcode = 'PT400', message = 'limit must be between 1 and 200';
    end if;
    if p_max_open is null or p_max_open < 0 then
        raise exception using errcode = 'PT400', message = 'max_open must be 0 or more';
    end if;
    perform pg_advisory_xact_lock(hashtext('switchboard.auto_assign'));
    -- Two statements, so each gets its own plan: the named ones by primary key, the
    -- longest waiting through conversations_unassigned_wait_idx.
    if p_ids is null then
        v_waiting := array(
            select c.id from conversations c
             where c.needs_human and c.assigned_to is null and c.status <> 'closed'
             order by c.waiting_since nulls first, c.id
             limit p_limit);
    else
        v_waiting := array(
            select c.id from conversations c
             where c.id = any(p_ids)
               and c.needs_human and c.assigned_to is null and c.status <> 'closed'
             order by c.waiting_since nulls first, c.id
             limit p_limit);
    end if;
    foreach v_conversation_id in array v_waiting
    loop
        select u.* into v_agent
          from admin_users u
          cross join lateral (select count(*) as n from conversations o
                               where o.assigned_to = u.id and o.status <> 'closed') as load
         where u.available and not u.disabled
           and (p_max_open = 0 or load.n < p_max_open)
         order by load.n, u.last_assigned_at nulls first, u.id
         limit 1;
        exit when not found;
        update conversations set assigned_to = v_agent.id, updated_at = p_now
         where id = v_conversation_id and needs_human and assigned_to is null
           and status <> 'closed'
        returning * into v_row;
        continue when not found;
        update admin_users set last_assigned_at = p_now where id = v_agent.id
        returning * into v_agent;
        v_given := v_given || json_build_object('conversation', row_to_json(v_row),
                                                'user', row_to_json(v_agent));
    end loop;
    return coalesce(array_to_json(v_given), '[]'::json);
end
$$;

revoke all on function public.set_user_available(bigint, boolean),
    public.auto_assign(bigint[], integer, integer, timestamptz)
    from public, anon, authenticated;
grant execute on function public.set_user_available(bigint, boolean),
    public.auto_assign(bigint[], integer, integer, timestamptz) to service_role;

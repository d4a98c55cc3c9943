-- Switchboard: which accounts are online (a page of the panel open), and auto-assignment
-- handing conversations only to those (AUTO_ASSIGN_ONLINE_ONLY). Mirrors the SQLite store's
-- schema version 13 (services/store/sqlite_assignment.py).
--
-- admin_users.last_seen_at; touch_users; auto_assign gains p_online_since (its body is
-- 20261206000000_auto_assign.sql's with one more condition on the account: a migration
-- replaces a function whole). Same conventions as before: SECURITY INVOKER, service_role
-- only, PTnnn error codes. Re-runnable.

alter table public.admin_users add column if not exists last_seen_at timestamptz;

-- Each process's open admin pages say so every ADMIN_SESSION_RECHECK_SECONDS: their
-- accounts' last_seen_at becomes p_now, never moved back (unknown ids are ignored).
create or replace function public.touch_users(p_ids bigint[], p_now timestamptz)
returns void
language sql volatile security invoker
set search_path = public, extensions
as $$
    update admin_users set last_seen_at = p_now
     where id = any(p_ids) and (last_seen_at is null or last_seen_at < p_now)
$$;

-- The old signature goes, so that a call naming four arguments is not ambiguous.
drop function if exists public.auto_assign(bigint[], integer, integer, timestamptz);

-- As in 20261206000000_auto_assign.sql, and when p_online_since is given only to accounts
-- seen since then.
create or replace function public.auto_assign(p_ids bigint[], p_limit integer,
                                              p_max_open integer, p_now timestamptz,
                                              p_online_since timestamptz default null)
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
           and (p_online_since is null or u.last_seen_at >= p_online_since)
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

revoke all on function public.touch_users(bigint[], timestamptz),
    public.auto_assign(bigint[], integer, integer, timestamptz, timestamptz)
    from public, anon, authenticated;
grant execute on function public.touch_users(bigint[], timestamptz),
    public.auto_assign(bigint[], integer, integer, timestamptz, timestamptz) to service_role;

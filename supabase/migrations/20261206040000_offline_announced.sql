-- admin_users.offline_announced_at; claim_offline (the sweep says an account went offline,
-- once: services/lifecycle.py). Mirrors SQLite schema version 14
-- (services/store/sqlite_assignment.py). Same conventions as before: SECURITY INVOKER,
-- service_role only. Re-runnable.

-- (The first sweep after it announces the accounts offline then: once each.)
alter table public.admin_users add column if not exists offline_announced_at timestamptz;

-- The accounts last seen before p_seen_before and not claimed since they were seen, claimed
-- at p_now in the same statement (of several processes sweeping at once, one gets each), id
-- order, as stored.
create or replace function public.claim_offline(p_seen_before timestamptz, p_now timestamptz)
returns json
language sql volatile security invoker
set search_path = public, extensions
as $$
    with claimed as (
        update admin_users set offline_announced_at = p_now
         where last_seen_at < p_seen_before
           and (offline_announced_at is null or offline_announced_at <= last_seen_at)
        returning *
    )
    select coalesce(json_agg(c order by c.id), '[]'::json) from claimed c
$$;

revoke all on function public.claim_offline(timestamptz, timestamptz)
    from public, anon, authenticated;
grant execute on function public.claim_offline(timestamptz, timestamptz) to service_role;

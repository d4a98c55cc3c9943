-- Switchboard: claim_jobs hands out each job with its message and conversation (issue #7).
--
-- A worker used to read the message and the conversation of every job it claimed, two more
-- requests per job (four per answered message: the respond job and the send job). The
-- latest claim_jobs (the pipeline migration's) is kept as it was, except that each job's
-- JSON also carries "message" and "conversation": the rows as they are in the claiming
-- transaction. The worker uses them for the first job of each conversation in a batch and
-- reads them fresh for the later ones, which an earlier job may have changed.
--
-- Same conventions as before: SECURITY INVOKER, service_role only, PTnnn error codes.
-- Re-runnable (CREATE OR REPLACE keeps the function's privileges).

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
    select coalesce(jsonb_agg(to_jsonb(c) || jsonb_build_object('message', to_jsonb(m),
                                                                'conversation', to_jsonb(v))
                              order by c.run_after, c.id), '[]')
      into v_result
      from claimed as c
      left join messages as m on m.id = c.message_id
      left join conversations as v on v.id = c.conversation_id;
    return v_result;
end
$$;

revoke all on function public.claim_jobs(timestamptz, integer, timestamptz, jsonb)
    from public, anon, authenticated;
grant execute on function public.claim_jobs(timestamptz, integer, timestamptz, jsonb)
    to service_role;

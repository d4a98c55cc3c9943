-- Switchboard: a job ends in the same request as the write that completes it (issue #7).
--
-- A bot turn ends with its reply stored (track_outbound_with_conversation), and a send with
-- its message marked sent (set_delivery_status); each was followed by a request of its own to
-- mark the job done. Both functions now take p_finish_job: that job is marked done (status
-- 'done', locked_until cleared, updated_at p_now, as finish_job does) in the same
-- transaction, so the write and the end of its job commit together or not at all. An unknown
-- job id changes nothing else: the write still happens. Without p_finish_job (it defaults to
-- null) a call does what it did, so processes still running the previous code keep working
-- during a rolling deploy.
--
-- create or replace cannot add a parameter: each function is dropped and created again, in
-- this migration's transaction. Same conventions as before: SECURITY INVOKER, service_role
-- only. Re-runnable.

drop function if exists public.track_outbound_with_conversation(jsonb, timestamptz);

create or replace function public.track_outbound_with_conversation(
    p jsonb, p_now timestamptz, p_finish_job bigint default null)
returns jsonb
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_msg messages;
begin
    v_msg := track_outbound(p, p_now);
    if p_finish_job is not null then
        update jobs set status = 'done', locked_until = null, updated_at = p_now
         where id = p_finish_job;
    end if;
    return jsonb_build_object(
        'message', to_jsonb(v_msg),
        'conversation', (select to_jsonb(c) from conversations as c
                          where c.id = v_msg.conversation_id));
end
$$;

drop function if exists public.set_delivery_status(bigint, text, timestamptz, text, text);

-- As in the init migration, plus p_finish_job.
create or replace function public.set_delivery_status(p_message_id bigint, p_status text,
                                                      p_now timestamptz,
                                                      p_error text default null,
                                                      p_external_id text default null,
                                                      p_finish_job bigint default null)
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
    if p_finish_job is not null then
        update jobs set status = 'done', locked_until = null, updated_at = p_now
         where id = p_finish_job;
    end if;
    return v_msg;
end
$$;

revoke all on function public.track_outbound_with_conversation(jsonb, timestamptz, bigint)
    from public, anon, authenticated;
grant execute on function public.track_outbound_with_conversation(jsonb, timestamptz, bigint)
    to service_role;
revoke all on function public.set_delivery_status(bigint, text, timestamptz, text, text, bigint)
    from public, anon, authenticated;
grant execute on function public.set_delivery_status(bigint, text, timestamptz, text, text, bigint)
    to service_role;

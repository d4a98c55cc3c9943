-- Switchboard: the bot's reply can come back with its send job already claimed (issue #7).
--
-- After the bot's turn stored its reply (track_outbound_with_conversation, which queues the
-- reply's send job), a worker had to claim that job (one request) and write the send
-- attempt's time on the message (another) before calling the platform. Now the turn can
-- ask for both in the reply's own write and send at once, in the same thread:
--
-- p_claim_send_until: when the stored message is pending and its send job is queued and
--   due, the job is claimed as claim_jobs would (running, attempts + 1, locked_until, in
--   this transaction, so no other worker can take it first) and returned as "job", with
--   the message and conversation as claim_jobs returns them. Otherwise "job" is null: the
--   message was stored by an earlier run whose job is running elsewhere, waiting for a
--   retry, or done; the worker's claims take it as before.
-- p_attempt_mark: merged into the message's metadata when the job is claimed (the send
--   attempt's time, for platforms that echo our sends: see services/outbox.py).
--
-- create or replace cannot add a parameter: the function is dropped and created again in
-- this migration's transaction. Both new parameters default to null, so a call without
-- them does what it did and processes still running the previous code keep working during
-- a rolling deploy. Same conventions as before: SECURITY INVOKER, service_role only.
-- Re-runnable.

drop function if exists public.track_outbound_with_conversation(jsonb, timestamptz, bigint);

create or replace function public.track_outbound_with_conversation(
    p jsonb, p_now timestamptz, p_finish_job bigint default null,
    p_claim_send_until timestamptz default null, p_attempt_mark jsonb default null)
returns jsonb
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_msg  messages;
    v_job  jobs;
    v_conv jsonb;
begin
    if p_claim_send_until is not null and p_claim_send_until <= p_now then
        raise exception using errcode = 'PT400', message = 'the lease must end after now';
    end if;
    if p_attempt_mark is not null and jsonb_typeof(p_attempt_mark) <> 'object' then
        raise exception using errcode = 'PT400', message = 'the attempt mark must be a JSON object';
    end if;
    v_msg := track_outbound(p, p_now);
    if p_finish_job is not null then
        update jobs set status = 'done', locked_until = null, updated_at = p_now
         where id = p_finish_job;
    end if;
    if p_claim_send_until is not null and v_msg.delivery_status = 'pending' then
        update jobs
           set status = 'running', attempts = attempts + 1,
               locked_until = p_claim_send_until, updated_at = p_now
         where kind = 'send' and message_id = v_msg.id
           and status = 'queued' and run_after <= p_now
        returning * into v_job;
        if found and p_attempt_mark is not null then
            update messages set metadata = metadata || p_attempt_mark
             where id = v_msg.id
            returning * into v_msg;
        end if;
    end if;
    select to_jsonb(c) into v_conv from conversations as c where c.id = v_msg.conversation_id;
    return jsonb_build_object(
        'message', to_jsonb(v_msg),
        'conversation', v_conv,
        'job', case when v_job.id is null then null
                    else to_jsonb(v_job) || jsonb_build_object('message', to_jsonb(v_msg),
                                                               'conversation', v_conv) end);
end
$$;

revoke all on function public.track_outbound_with_conversation(jsonb, timestamptz, bigint,
                                                               timestamptz, jsonb)
    from public, anon, authenticated;
grant execute on function public.track_outbound_with_conversation(jsonb, timestamptz, bigint,
                                                                  timestamptz, jsonb)
    to service_role;

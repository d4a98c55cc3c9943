-- Switchboard: a message that went out is never marked failed (issue #7 review).
--
-- set_delivery_status (as in the finish_job_with_write migration) wrote whatever it was
-- given. So when Facebook's echo settled a send as sent while the outbox's last attempt at
-- it was still waiting for an answer that never came, the outbox then gave up and marked
-- the message failed: an agent saw a failed message that the person had received, and its
-- retry button would have sent it twice. Likewise a slow Send API answer arriving after
-- the person's delivery or read receipt moved the message back to sent.
--
-- Now the delivery status only moves forward: a message that is sent, delivered or read is
-- not made pending or failed, nor moved back from read or delivered to an earlier one. Such
-- a call changes nothing but the job it finishes, and returns the message as it is. Same
-- signature, so CREATE OR REPLACE keeps the function's privileges (service_role only).
-- Re-runnable.

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
    -- 0 for a message that has not gone out (pending, failed), then sent, delivered, read.
    update messages
       set delivery_status = p_status,
           delivery_error  = p_error,
           external_id     = coalesce(p_external_id, external_id)
     where id = p_message_id
       and coalesce(array_position(array['sent', 'delivered', 'read'], p_status), 0)
           >= coalesce(array_position(array['sent', 'delivered', 'read'], delivery_status), 0)
    returning * into v_msg;
    if not found then
        select * into v_msg from messages where id = p_message_id;
        if not found then
            raise exception using errcode = 'PT404',
                message = format('message %s not found', p_message_id);
        end if;
    end if;
    if p_finish_job is not null then
        update jobs set status = 'done', locked_until = null, updated_at = p_now
         where id = p_finish_job;
    end if;
    return v_msg;
end
$$;

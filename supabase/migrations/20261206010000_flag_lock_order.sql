-- Switchboard: flagging a message for a human, and marking it answered, lock its
-- conversation before the message, as every other write that touches both does
-- (track_outbound locks the conversation, then marks its flagged messages answered).
-- Before, these two locked the message first: an agent's reply and a flag (or a "mark
-- replied") in the same conversation at the same moment could wait on each other, and
-- PostgreSQL aborted one with "deadlock detected" (40P01), seen about once in 18 runs of
-- tests/reliability/test_stats_rollup.py's concurrent writers. Same results otherwise;
-- SQLite has one writer and never deadlocks. Re-runnable.

create or replace function public.mark_needs_human(p_message_id bigint, p_reason text,
                                                   p_priority integer, p_now timestamptz)
returns jsonb
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_msg  messages;
    v_conv conversations;
begin
    if p_priority is null or p_priority not between 1 and 5 then
        raise exception using errcode = 'PT400', message = 'priority must be between 1 and 5';
    end if;
    -- The conversation first (a message never moves to another conversation).
    perform 1 from conversations
     where id = (select conversation_id from messages where id = p_message_id)
       for update;
    update messages
       set requires_human = true, human_reason = p_reason, human_replied = false
     where id = p_message_id
    returning * into v_msg;
    if not found then
        raise exception using errcode = 'PT404', message = format('message %s not found', p_message_id);
    end if;
    update conversations
       set needs_human   = true,
           human_reason  = p_reason,
           waiting_since = coalesce(waiting_since, p_now),
           handoff_timeout_notified_at
                         = case when waiting_since is null then null
                                else handoff_timeout_notified_at end,
           priority_raised_at
                         = case when waiting_since is null then null
                                else priority_raised_at end,
           escalated_at  = coalesce(escalated_at, p_now),
           priority      = least(priority, p_priority),
           updated_at    = p_now
     where id = v_msg.conversation_id
    returning * into v_conv;
    return jsonb_build_object('message', to_jsonb(v_msg), 'conversation', to_jsonb(v_conv));
end
$$;

create or replace function public.mark_human_replied(p_message_id bigint, p_replied_by text,
                                                     p_now timestamptz)
returns jsonb
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_msg  messages;
    v_conv conversations;
begin
    -- The conversation first, so concurrent replies in it see each other's flags and every
    -- writer takes the two in one order.
    select c.* into v_conv from conversations c
     where c.id = (select conversation_id from messages where id = p_message_id)
       for update;
    update messages
       set human_replied = true, replied_by = p_replied_by, replied_at = p_now
     where id = p_message_id
    returning * into v_msg;
    if not found then
        raise exception using errcode = 'PT404', message = format('message %s not found', p_message_id);
    end if;
    if not exists (select 1 from messages
                    where conversation_id = v_msg.conversation_id
                      and requires_human and not human_replied) then
        update conversations
           set needs_human = false, human_reason = null, waiting_since = null,
               handoff_timeout_notified_at = null, priority_raised_at = null, updated_at = p_now
         where id = v_msg.conversation_id
        returning * into v_conv;
    end if;
    return jsonb_build_object('message', to_jsonb(v_msg), 'conversation', to_jsonb(v_conv));
end
$$;

-- Switchboard: store an outbound message and read its conversation in one request (issue #7).
--
-- The tracker publishes conversation.updated after every bot, agent or system message, and
-- used to read the conversation in a second request to do so. track_outbound_with_conversation
-- calls track_outbound (the followups migration's, unchanged) and returns
-- {"message": ..., "conversation": ...}, the conversation as that write left it, from the same
-- transaction.
--
-- Same conventions as before: SECURITY INVOKER, service_role only. Re-runnable.

create or replace function public.track_outbound_with_conversation(p jsonb, p_now timestamptz)
returns jsonb
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_msg messages;
begin
    v_msg := track_outbound(p, p_now);
    return jsonb_build_object(
        'message', to_jsonb(v_msg),
        'conversation', (select to_jsonb(c) from conversations as c
                          where c.id = v_msg.conversation_id));
end
$$;

revoke all on function public.track_outbound_with_conversation(jsonb, timestamptz)
    from public, anon, authenticated;
grant execute on function public.track_outbound_with_conversation(jsonb, timestamptz)
    to service_role;

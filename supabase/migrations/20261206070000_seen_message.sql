-- Switchboard: the web chat's "Seen" -- the id of the newest message of a conversation that
-- some account has read: the furthest of every account's marks (conversation_reads, whose
-- counts say how many messages were read), as a message id the visitor's widget can place.
-- Null when no account has read any, or for an unknown conversation. Counted back from
-- the newest message (a mark is usually at or near the end): one short walk of
-- messages_conversation_idx. Mirrors the SQLite store's seen_message_id. Re-runnable.

create or replace function public.seen_message_id(p_conversation_id bigint)
returns bigint
language plpgsql stable security invoker
set search_path = public, extensions
as $$
declare
    v_read  integer;
    v_total integer;
begin
    select max(r.message_count) into v_read
    from conversation_reads r where r.conversation_id = p_conversation_id;
    if coalesce(v_read, 0) = 0 then
        return null;
    end if;
    select c.message_count into v_total from conversations c where c.id = p_conversation_id;
    return (select m.id from messages m where m.conversation_id = p_conversation_id
            order by m.id desc limit 1 offset greatest(v_total - v_read, 0));
end
$$;

revoke all on function public.seen_message_id(bigint) from public, anon, authenticated;
grant execute on function public.seen_message_id(bigint) to service_role;

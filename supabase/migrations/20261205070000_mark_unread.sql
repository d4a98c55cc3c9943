-- Switchboard: "Mark unread" -- an account's read mark on a conversation moves back to just
-- before its newest message, the one way a mark moves back (mark_read only moves it on).
-- Mirrors the SQLite store's mark_unread. An unknown conversation or account is PT404.

create or replace function public.mark_unread(p_user_id bigint, p_conversation_id bigint,
                                              p_now timestamptz)
returns json
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_count integer;
    v_row   conversation_reads;
begin
    select greatest(c.message_count - 1, 0) into v_count
    from conversations c where c.id = p_conversation_id;
    if not found then
        raise exception using errcode = 'PT404',
            message = format('conversation %s not found', p_conversation_id);
    end if;
    if not exists (select 1 from admin_users where id = p_user_id) then
        raise exception using errcode = 'PT404', message = format('user %s not found', p_user_id);
    end if;
    insert into conversation_reads as r (user_id, conversation_id, message_count, read_at)
    values (p_user_id, p_conversation_id, v_count, p_now)
    on conflict (user_id, conversation_id) do update
        set message_count = excluded.message_count, read_at = excluded.read_at
    returning * into v_row;
    return row_to_json(v_row);
end
$$;

revoke all on function public.mark_unread(bigint, bigint, timestamptz)
    from public, anon, authenticated;
grant execute on function public.mark_unread(bigint, bigint, timestamptz) to service_role;

-- Switchboard: "Mark all read" -- an account has read every conversation up to its count
-- now, in one statement (a new agent's inbox, where every conversation it never opened is
-- unread). Mirrors the SQLite store's mark_all_read.

create or replace function public.mark_all_read(p_user_id bigint, p_now timestamptz)
returns integer
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_moved integer;
begin
    if not exists (select 1 from admin_users where id = p_user_id) then
        raise exception using errcode = 'PT404', message = format('user %s not found', p_user_id);
    end if;
    insert into conversation_reads as r (user_id, conversation_id, message_count, read_at)
    select p_user_id, c.id, c.message_count, p_now from conversations c
    on conflict (user_id, conversation_id) do update
        set message_count = excluded.message_count, read_at = excluded.read_at
        where excluded.message_count > r.message_count;
    get diagnostics v_moved = row_count;
    return v_moved;
end
$$;

revoke all on function public.mark_all_read(bigint, timestamptz) from public, anon, authenticated;
grant execute on function public.mark_all_read(bigint, timestamptz) to service_role;

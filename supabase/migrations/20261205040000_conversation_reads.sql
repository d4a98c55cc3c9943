-- Switchboard: what each account has read -- a conversation's message_count when the account
-- last had it open; the inbox's unread count is the conversation's count past it, the same
-- on every device the account signs in on. One row per account and conversation it opened,
-- written when a conversation page shows new messages (never on a message's path). Mirrors
-- the SQLite store's conversation_reads table (schema version 9).

create table public.conversation_reads (
    user_id         bigint      not null references public.admin_users (id) on delete cascade,
    conversation_id bigint      not null references public.conversations (id) on delete cascade,
    message_count   integer     not null check (message_count >= 0),
    read_at         timestamptz not null,
    primary key (user_id, conversation_id)
);
-- The cascade from conversations.
create index conversation_reads_conversation_idx on public.conversation_reads (conversation_id);

-- As every table: row level security with no policy, only service_role works with it.
alter table public.conversation_reads enable row level security;
revoke all on table public.conversation_reads from public, anon, authenticated;
grant select, insert, update on table public.conversation_reads to service_role;

-- The account has read the conversation up to p_message_count messages, at most the
-- conversation's own count; a mark only moves forward (a lower count keeps the stored one).
-- Returns the mark as stored. An unknown conversation or account is PT404.
create or replace function public.mark_read(p_user_id bigint, p_conversation_id bigint,
                                            p_message_count integer, p_now timestamptz)
returns json
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_count integer;
    v_row   conversation_reads;
begin
    select least(greatest(p_message_count, 0), c.message_count) into v_count
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
        where excluded.message_count > r.message_count
    returning * into v_row;
    if v_row is null then  -- the stored mark is as far or further
        select * into v_row from conversation_reads
        where user_id = p_user_id and conversation_id = p_conversation_id;
    end if;
    return row_to_json(v_row);
end
$$;

-- The account's marks on those conversations (a page of the inbox; at most 1000 ids). A
-- function rather than a table select: a page of ids is too long for a URL.
create or replace function public.read_marks(p_user_id bigint, p_conversation_ids bigint[])
returns setof conversation_reads
language plpgsql stable security invoker
set search_path = public, extensions
as $$
begin
    if cardinality(p_conversation_ids) > 1000 then
        raise exception using errcode = 'PT400', message = 'at most 1000 conversations per read';
    end if;
    return query
        select * from conversation_reads
        where user_id = p_user_id and conversation_id = any (p_conversation_ids);
end
$$;

revoke all on function public.mark_read(bigint, bigint, integer, timestamptz)
    from public, anon, authenticated;
grant execute on function public.mark_read(bigint, bigint, integer, timestamptz) to service_role;
revoke all on function public.read_marks(bigint, bigint[]) from public, anon, authenticated;
grant execute on function public.read_marks(bigint, bigint[]) to service_role;

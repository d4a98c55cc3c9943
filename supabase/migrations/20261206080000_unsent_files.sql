-- Switchboard: files uploaded and never sent. An agent's file is stored as soon as it is
-- attached to the reply box, and stays if the agent takes it off again, reloads or leaves;
-- files.sent_at says when a message first carried one (a visitor's file: at once, with its
-- message; an agent's: the reply naming it, send_files), and the lifecycle sweep deletes
-- those never sent after UNSENT_FILE_HOURS (delete_unsent_files), by a partial index that
-- holds only them. The files already stored count as sent. Mirrors the SQLite store's
-- schema version 16. Re-runnable.

alter table public.files add column if not exists sent_at timestamptz;
do $$
begin
    -- Once: the files of before this migration are kept as sent.
    if not exists (select 1 from pg_indexes
                   where schemaname = 'public' and indexname = 'files_unsent_idx') then
        update public.files set sent_at = created_at where sent_at is null;
    end if;
end
$$;
create index if not exists files_unsent_idx on public.files (created_at) where sent_at is null;

-- As 20261206060000_files.sql, the file sent with its message.
create or replace function public.track_inbound_with_file(p jsonb, p_now timestamptz,
                                                          p_file jsonb)
returns jsonb
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_result jsonb;
    v_bytes  bytea := decode(p_file ->> 'data', 'base64');
begin
    v_result := track_inbound(p, p_now);
    insert into files (id, conversation_id, name, content_type, size, data, created_by,
                       created_at, sent_at)
    values ((p_file ->> 'id')::uuid, (v_result -> 'conversation' ->> 'id')::bigint,
            p_file ->> 'name', p_file ->> 'content_type', octet_length(v_bytes), v_bytes,
            null, p_now, p_now)
    on conflict (id) do nothing;
    return v_result;
end
$$;

-- The conversation's files among p_ids, marked sent (unless they were), described without
-- their bytes: a reply is about to carry them. At most 1000 ids.
create or replace function public.send_files(p_conversation_id bigint, p_ids uuid[],
                                             p_now timestamptz)
returns setof json
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
begin
    if cardinality(p_ids) > 1000 then
        raise exception using errcode = 'PT400', message = 'at most 1000 files per call';
    end if;
    return query
        with sent as (
            update files set sent_at = coalesce(sent_at, p_now)
            where conversation_id = p_conversation_id and id = any (p_ids)
            returning id, conversation_id, name, content_type, size, created_by, created_at)
        select row_to_json(sent) from sent;
end
$$;

-- Delete at most p_limit files uploaded before p_uploaded_before and never sent, oldest
-- first; how many went.
create or replace function public.delete_unsent_files(p_uploaded_before timestamptz,
                                                      p_limit integer)
returns integer
language sql volatile security invoker
set search_path = public, extensions
as $$
    with gone as (
        delete from files where id in (
            select id from files where sent_at is null and created_at < p_uploaded_before
            order by created_at limit p_limit)
        returning 1)
    select count(*)::integer from gone
$$;

revoke all on function public.send_files(bigint, uuid[], timestamptz)
    from public, anon, authenticated;
grant execute on function public.send_files(bigint, uuid[], timestamptz) to service_role;
revoke all on function public.delete_unsent_files(timestamptz, integer)
    from public, anon, authenticated;
grant execute on function public.delete_unsent_files(timestamptz, integer) to service_role;

-- Switchboard: files agents attach to replies. The bytes live beside the conversation they
-- belong to (deleted with it, by the cascade) and are served at /files/<id>/<name>; id is
-- a random UUID the app draws, which is what makes that address hard to guess. A message
-- that carries one keeps its description (and address) in its attachments. PostgREST
-- speaks JSON, so the two functions below take and give the bytes as base64 text (a third
-- more than the bytes, where bytea's hex form would double them). Mirrors the SQLite
-- store's files table (schema version 15). Re-runnable.

create table if not exists public.files (
    id              uuid        primary key,
    conversation_id bigint      not null references public.conversations (id) on delete cascade,
    name            text        not null check (char_length(name) between 1 and 200),
    content_type    text        not null check (char_length(content_type) between 3 and 255),
    size            integer     not null check (size > 0),
    data            bytea       not null,
    created_by      bigint      references public.admin_users (id) on delete set null,
    created_at      timestamptz not null
);
create index if not exists files_conversation_idx on public.files (conversation_id);

-- As every table: row level security with no policy, only service_role works with it.
alter table public.files enable row level security;
revoke all on table public.files from public, anon, authenticated;
grant select, insert, update, delete on table public.files to service_role;

-- A new file; an unknown conversation or account is 23503, a duplicate id 23505. The
-- answer describes it, without the bytes.
create or replace function public.add_file(p_id uuid, p_conversation_id bigint, p_name text,
                                           p_content_type text, p_data text,
                                           p_created_by bigint, p_now timestamptz)
returns json
language sql volatile security invoker
set search_path = public, extensions
as $$
    with added as (
        insert into files (id, conversation_id, name, content_type, size, data, created_by,
                           created_at)
        select p_id, p_conversation_id, p_name, p_content_type, octet_length(bytes), bytes,
               p_created_by, p_now
        from (select decode(p_data, 'base64') as bytes) b
        returning id, conversation_id, name, content_type, size, created_by, created_at)
    select row_to_json(added) from added
$$;

-- The file (p_data: with its bytes, as base64) or PT404.
create or replace function public.get_file(p_id uuid, p_data boolean)
returns json
language plpgsql stable security invoker
set search_path = public, extensions
as $$
declare
    v_file json;
begin
    select json_build_object('id', f.id, 'conversation_id', f.conversation_id, 'name', f.name,
                             'content_type', f.content_type, 'size', f.size,
                             'created_by', f.created_by, 'created_at', f.created_at,
                             'data', case when p_data then encode(f.data, 'base64') end)
      into v_file from files f where f.id = p_id;
    if v_file is null then
        raise exception using errcode = 'PT404', message = format('file %s not found', p_id);
    end if;
    return v_file;
end
$$;

-- A person's message with the file they sent (the web chat's): track_inbound (unchanged)
-- and the file in the message's conversation, in one transaction, so whoever sees the
-- message can fetch the file. p_file: {"id", "name", "content_type", "data" (base64)}; the
-- app derives the id from the message's, so a redelivery stores nothing twice.
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
                       created_at)
    values ((p_file ->> 'id')::uuid, (v_result -> 'conversation' ->> 'id')::bigint,
            p_file ->> 'name', p_file ->> 'content_type', octet_length(v_bytes), v_bytes,
            null, p_now)
    on conflict (id) do nothing;
    return v_result;
end
$$;

revoke all on function public.add_file(uuid, bigint, text, text, text, bigint, timestamptz)
    from public, anon, authenticated;
grant execute on function public.add_file(uuid, bigint, text, text, text, bigint, timestamptz)
    to service_role;
revoke all on function public.get_file(uuid, boolean) from public, anon, authenticated;
grant execute on function public.get_file(uuid, boolean) to service_role;
revoke all on function public.track_inbound_with_file(jsonb, timestamptz, jsonb)
    from public, anon, authenticated;
grant execute on function public.track_inbound_with_file(jsonb, timestamptz, jsonb)
    to service_role;

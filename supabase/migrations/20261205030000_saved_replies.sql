-- Switchboard: the team's saved replies -- a title to find one by, and the text it puts in
-- an agent's reply box. Admins keep the list (at most a few hundred: every conversation page
-- reads it whole); everyone signed in uses it. title_key (the title case-folded, inner
-- spaces collapsed: services.models.saved_reply_key) makes two titles that read the same
-- one reply; its "C" collation orders the list as SQLite's binary one does. Mirrors the
-- SQLite store's saved_replies table (schema version 8).

create table public.saved_replies (
    id          bigint      generated always as identity primary key,
    title       text        not null check (char_length(title) between 1 and 80),
    title_key   text        collate "C" not null unique,
    body        text        not null check (char_length(body) between 1 and 4000),
    created_by  bigint      references public.admin_users (id) on delete set null,
    created_at  timestamptz not null,
    updated_at  timestamptz not null
);

-- As every table: row level security with no policy, only service_role works with it.
alter table public.saved_replies enable row level security;
revoke all on table public.saved_replies from public, anon, authenticated;
grant select, insert, update, delete on table public.saved_replies to service_role;
revoke all on sequence public.saved_replies_id_seq from public, anon, authenticated;
grant usage, select on sequence public.saved_replies_id_seq to service_role;

-- A new saved reply unless p_max are stored (PT400); a title another reply has is 23505 and
-- an unknown account 23503, as for a plain insert. The table lock makes two admins adding
-- the last place at once take turns (adding a reply is rare; reads are not blocked).
create or replace function public.create_saved_reply(p_title text, p_title_key text,
                                                     p_body text, p_created_by bigint,
                                                     p_max integer, p_now timestamptz)
returns json
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_row saved_replies;
begin
    lock table saved_replies in share row exclusive mode;
    if (select count(*) from saved_replies) >= p_max then
        raise exception using errcode = 'PT400',
            message = format('at most %s saved replies', p_max);
    end if;
    insert into saved_replies (title, title_key, body, created_by, created_at, updated_at)
    values (p_title, p_title_key, p_body, p_created_by, p_now, p_now)
    returning * into v_row;
    return row_to_json(v_row);
end
$$;

revoke all on function public.create_saved_reply(text, text, text, bigint, integer, timestamptz)
    from public, anon, authenticated;
grant execute on function public.create_saved_reply(text, text, text, bigint, integer,
                                                    timestamptz)
    to service_role;

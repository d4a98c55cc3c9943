-- Switchboard: a conversation's activity trail -- who answered it, who had it, its state
-- changes (escalated, taken over, handed back, assigned, unassigned, closed, reopened, the
-- handoff timeout, a raised priority) and the notes agents leave for the team (kind 'note',
-- detail.text; the person never sees them). Lines are only added, by the admin panel's
-- actions and the lifecycle sweeps (none on a message's path); the store writes a batch with one
-- PostgREST insert and reads a page with one select. Mirrors the SQLite store's activity
-- table (schema version 6).

create table public.activity (
    id              bigint      generated always as identity primary key,
    conversation_id bigint      not null references public.conversations (id) on delete cascade,
    kind            text        not null check (kind in ('escalated', 'taken_over',
                        'handed_back', 'assigned', 'unassigned', 'closed', 'reopened',
                        'handoff_timed_out', 'priority_raised', 'note')),
    actor_id        bigint      references public.admin_users (id) on delete set null,
    actor           text,       -- the account's e-mail when the line was written
    detail          jsonb       not null default '{}' check (jsonb_typeof(detail) = 'object'),
    created_at      timestamptz not null
);

-- A conversation's trail in id order (and the cascade from conversations).
create index activity_conversation_idx on public.activity (conversation_id, id);
-- The cascade from admin_users (set null looks the lines up by actor).
create index activity_actor_idx on public.activity (actor_id) where actor_id is not null;

-- As every table: row level security with no policy, only service_role works with it.
alter table public.activity enable row level security;
revoke all on table public.activity from public, anon, authenticated;
grant select, insert on table public.activity to service_role;
revoke all on sequence public.activity_id_seq from public, anon, authenticated;
grant usage, select on sequence public.activity_id_seq to service_role;

-- The lines of many conversations in one call (an export's JSON, a page of conversations at
-- a time): those of p_conversation_ids created in [p_from, p_to), in (conversation_id, id)
-- order, at most p_limit; p_after_conversation / p_after_id (the last line returned)
-- continue. A function rather than a table select: a page of ids is too long for a URL.
create or replace function public.list_activity_in(p_conversation_ids bigint[],
                                                   p_from timestamptz, p_to timestamptz,
                                                   p_limit integer,
                                                   p_after_conversation bigint default null,
                                                   p_after_id bigint default null)
returns json
language plpgsql stable security invoker
set search_path = public, extensions
as $$
begin
    if p_limit is null or p_limit < 1 then
        raise exception using errcode = 'PT400', message = 'limit must be at least 1';
    end if;
    if p_from is null or p_to is null then
        raise exception using errcode = 'PT400', message = 'the range needs both ends';
    end if;
    if cardinality(p_conversation_ids) > 1000 then
        raise exception using errcode = 'PT400', message = 'at most 1000 conversations per read';
    end if;
    return (select coalesce(json_agg(page order by page.conversation_id, page.id), '[]')
              from (select * from activity
                     where conversation_id = any(p_conversation_ids)
                       and created_at >= p_from and created_at < p_to
                       and (p_after_conversation is null
                            or (conversation_id, id) > (p_after_conversation,
                                                        coalesce(p_after_id, 0)))
                     order by conversation_id, id
                     limit p_limit) as page);
end
$$;

revoke all on function public.list_activity_in(bigint[], timestamptz, timestamptz, integer,
                                               bigint, bigint)
    from public, anon, authenticated;
grant execute on function public.list_activity_in(bigint[], timestamptz, timestamptz, integer,
                                                  bigint, bigint)
    to service_role;

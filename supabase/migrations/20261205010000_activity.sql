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

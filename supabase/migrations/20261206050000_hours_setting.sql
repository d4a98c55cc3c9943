-- Switchboard: the business hours set on Settings, over the environment's BUSINESS_HOURS,
-- BUSINESS_TIMEZONE, BUSINESS_CLOSED_DATES, AWAY_MESSAGE and HANDOFF_MESSAGE: one row or
-- none, read and written through PostgREST (services/store/supabase_hours.py). Their meaning is checked
-- by the service (services/business_hours.py); the table keeps them as given. Mirrors the
-- SQLite store's hours_setting table (schema version 14). Re-runnable.

create table if not exists public.hours_setting (
    id           smallint    primary key check (id = 1),
    schedule     text        not null check (char_length(schedule) <= 2000),
    timezone     text        not null check (char_length(timezone) between 1 and 64),
    closed_dates date[]      not null default '{}',
    away_message text        check (char_length(away_message) <= 1000),  -- null: AWAY_MESSAGE's
    handoff_message text     check (char_length(handoff_message) <= 1000),  -- null: HANDOFF_MESSAGE's
    updated_by   bigint      references public.admin_users (id) on delete set null,
    updated_at   timestamptz not null
);

-- As every table: row level security with no policy, only service_role works with it.
alter table public.hours_setting enable row level security;
revoke all on table public.hours_setting from public, anon, authenticated;
grant select, insert, update, delete on table public.hours_setting to service_role;

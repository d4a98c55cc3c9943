-- Switchboard: the name an account shows the people it answers ("Sam"), above its replies in
-- the web chat; null: none (the widget says "Team"). Set by the account itself (Settings,
-- PUT /admin/me) with a plain update of admin_users, read with the row as the rest of it.
-- Mirrors the SQLite store's schema version 17. Re-runnable.

alter table public.admin_users add column if not exists display_name text;

do $$
begin
    if not exists (select 1 from pg_constraint
                   where conname = 'admin_users_display_name_check'
                     and conrelid = 'public.admin_users'::regclass) then
        alter table public.admin_users add constraint admin_users_display_name_check
            check (display_name is null or char_length(display_name) between 1 and 60);
    end if;
end
$$;

-- Switchboard: a web chat visitor who signs in on the site (identity verification) takes
-- what they wrote before with them: the newest 200 conversations of the anonymous visitor
-- become the customer's, with the customer's name (null keeps each one's) and profile, in
-- one statement over conversations_user_idx. An open one moves only when the customer has
-- none open (conversations_open_user_key allows one a person): it then stays the visitor's.
-- A customer's conversation opened by a concurrent call between the check and the update
-- is a unique violation: the closed ones are moved alone then. Returns the conversations
-- moved, newest first. Mirrors the SQLite store's move_person. Re-runnable.

create or replace function public.move_person(p_platform text, p_from text, p_to text,
                                              p_display_name text, p_profile jsonb,
                                              p_now timestamptz)
returns setof conversations
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    -- The open one goes too when the customer has none open; should a concurrent call open
    -- one for them meanwhile (a unique violation), the closed ones are moved alone.
    v_open_too boolean := not exists (
        select 1 from conversations o
        where o.platform = p_platform and o.external_user_id = p_to and o.status <> 'closed');
begin
    if p_from = p_to then
        raise exception using errcode = 'PT400',
            message = 'a person is moved to another person';
    end if;
    loop
        begin
            return query
            update conversations c
               set external_user_id = p_to,
                   display_name     = coalesce(p_display_name, c.display_name),
                   profile          = coalesce(json_or_null(p_profile), '{}'),
                   updated_at       = p_now
             where c.id in (select x.id from conversations x
                            where x.platform = p_platform and x.external_user_id = p_from
                            order by x.id desc limit 200)
               and (c.status = 'closed' or v_open_too)
            returning c.*;
            return;
        exception when unique_violation then
            if not v_open_too then
                raise;
            end if;
            v_open_too := false;
        end;
    end loop;
end
$$;

revoke all on function public.move_person(text, text, text, text, jsonb, timestamptz)
    from public, anon, authenticated;
grant execute on function public.move_person(text, text, text, text, jsonb, timestamptz)
    to service_role;

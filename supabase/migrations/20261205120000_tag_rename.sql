-- Switchboard: an admin renames a tag, or deletes it, on every conversation that has it (a
-- misspelt tag merged into the right one, a tag the team stopped using). Mirrors the SQLite
-- store's rename_tag / delete_tag (services/store/sqlite_tags.py).
--
-- Each is one statement over the conversations the GIN index finds (conversations_tags_idx),
-- returning them, by id, for the app to publish: a conversation that has both the old and
-- the new tag keeps one. PT400 for a tag the app would not send (check_tag). Same
-- conventions as before: SECURITY INVOKER, service_role only. Re-runnable.

create or replace function public.rename_tag(p_from text, p_to text, p_now timestamptz)
returns json
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_changed json;
begin
    perform check_tag(p_from);
    perform check_tag(p_to);
    if p_from = p_to then
        raise exception using errcode = 'PT400', message = 'the tag has that name already';
    end if;
    with changed as (
        update conversations c
           set tags = array(select u.t
                              from (select distinct case when x.t = p_from then p_to
                                                         else x.t end as t
                                      from unnest(c.tags) as x(t)) as u
                             order by u.t collate "C"),
               updated_at = p_now
         where c.tags <> '{}' and c.tags @> array[p_from]  -- conversations_tags_idx
        returning c.*)
    select coalesce(json_agg(row_to_json(changed) order by changed.id), '[]') into v_changed
      from changed;
    return v_changed;
end
$$;

create or replace function public.delete_tag(p_tag text, p_now timestamptz)
returns json
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_changed json;
begin
    perform check_tag(p_tag);
    with changed as (
        update conversations c set tags = array_remove(c.tags, p_tag), updated_at = p_now
         where c.tags <> '{}' and c.tags @> array[p_tag]  -- conversations_tags_idx
        returning c.*)
    select coalesce(json_agg(row_to_json(changed) order by changed.id), '[]') into v_changed
      from changed;
    return v_changed;
end
$$;

revoke all on function public.rename_tag(text, text, timestamptz),
    public.delete_tag(text, timestamptz) from public, anon, authenticated;
grant execute on function public.rename_tag(text, text, timestamptz),
    public.delete_tag(text, timestamptz) to service_role;

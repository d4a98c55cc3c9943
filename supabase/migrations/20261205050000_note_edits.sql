-- Switchboard: notes for the team can be edited by their author and deleted by their author
-- or an admin. A note stays a line of the trail: an edit replaces its detail ({"text",
-- "edited_at"}), a deletion replaces it with who deleted it and when ({"deleted_at",
-- "deleted_by_id", "deleted_by"}: the text is gone). No other line is ever changed. Mirrors
-- the SQLite store's rewrite_note (no schema change there: detail is JSON text).

-- The store changes nothing but a note's detail, through rewrite_note below.
grant update (detail) on table public.activity to service_role;

-- A note's new detail; PT404 for an id that is no note, PT409 for a deleted note (it stays
-- deleted: an edit racing a deletion cannot bring the text back).
create or replace function public.rewrite_note(p_note_id bigint, p_detail jsonb)
returns json
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_row activity;
begin
    if jsonb_typeof(p_detail) is distinct from 'object' then
        raise exception using errcode = 'PT400', message = 'the detail must be a JSON object';
    end if;
    update activity set detail = p_detail
     where id = p_note_id and kind = 'note' and detail->>'deleted_at' is null
    returning * into v_row;
    if not found then
        if exists (select 1 from activity where id = p_note_id and kind = 'note') then
            raise exception using errcode = 'PT409',
                message = format('note %s was deleted', p_note_id);
        end if;
        raise exception using errcode = 'PT404', message = format('note %s not found', p_note_id);
    end if;
    return row_to_json(v_row);
end
$$;

revoke all on function public.rewrite_note(bigint, jsonb) from public, anon, authenticated;
grant execute on function public.rewrite_note(bigint, jsonb) to service_role;

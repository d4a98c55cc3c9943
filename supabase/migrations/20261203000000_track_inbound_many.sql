-- Switchboard: track several inbound messages in one request (group commit, issue #7).
--
-- track_inbound_many(p_items) applies track_inbound (the followups migration's, unchanged) to
-- each item of a JSON array of {"p": <track_inbound's p>, "now": <timestamptz>}, in ONE
-- transaction, and returns the array of their results in the items' order. The app batches
-- the messages that arrive while a store call is in flight (services/inbound_batch.py), so
-- under load one HTTP request, one PostgREST transaction and one commit (one WAL flush) carry
-- many messages instead of one each.
--
-- Lock order: items are applied in (platform, external_user_id) order, the items' order kept
-- within one person, so two batches in flight at once lock conversations in the same order
-- and never deadlock; one person's messages keep their order. All or nothing: an error in
-- any item rolls the whole batch back, and the app then tracks the items one by one.
--
-- Same conventions as before: SECURITY INVOKER, service_role only. Re-runnable.

create or replace function public.track_inbound_many(p_items jsonb)
returns jsonb
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_item    record;
    v_results jsonb[];
begin
    if jsonb_typeof(p_items) is distinct from 'array' then
        raise exception 'p_items must be a JSON array' using errcode = 'PT400';
    end if;
    v_results := array_fill(null::jsonb, array[jsonb_array_length(p_items)]);
    for v_item in
        select e.value -> 'p' as p, (e.value ->> 'now')::timestamptz as at, e.n
          from jsonb_array_elements(p_items) with ordinality as e(value, n)
         order by e.value -> 'p' ->> 'platform', e.value -> 'p' ->> 'external_user_id', e.n
    loop
        v_results[v_item.n] := track_inbound(v_item.p, v_item.at);
    end loop;
    return coalesce(to_jsonb(v_results), '[]'::jsonb);
end
$$;

revoke all on function public.track_inbound_many(jsonb) from public, anon, authenticated;
grant execute on function public.track_inbound_many(jsonb) to service_role;

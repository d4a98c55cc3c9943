-- Switchboard: update_message_metadata can be made conditional (compare and set).
--
-- A Messenger reaction is applied only if it is newer than the message's last one (react or
-- unreact): the app reads the message, compares, then writes. Two deliveries handled at
-- once (Facebook redelivers, and several processes take webhooks) could both read before
-- either wrote, and an older "react" land after a newer "unreact": the reaction came back.
-- p_expect makes the write conditional on what was read: every top-level key of p_expect
-- must hold that value in the metadata now (a JSON null: the key is absent), else nothing
-- changes and the call fails with PT409; the app then reads again and decides again.
--
-- create or replace cannot add a parameter: the function is dropped and created again in
-- this migration's transaction. Without p_expect (it defaults to null) a call does what it
-- did, so processes still running the previous code keep working during a rolling deploy.
-- Same conventions as before: SECURITY INVOKER, service_role only. Re-runnable.

drop function if exists public.update_message_metadata(bigint, jsonb, timestamptz);

-- Merge p_patch's top-level keys into the message's metadata; a JSON null deletes the key.
-- PT404 for an unknown message, PT409 when p_expect does not hold. Returns the Message row.
create or replace function public.update_message_metadata(p_message_id bigint, p_patch jsonb,
                                                          p_now timestamptz,
                                                          p_expect jsonb default null)
returns messages
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_msg messages;
begin
    if p_patch is null or jsonb_typeof(p_patch) <> 'object' then
        raise exception using errcode = 'PT400', message = 'the patch must be a JSON object';
    end if;
    if p_expect is not null and jsonb_typeof(p_expect) <> 'object' then
        raise exception using errcode = 'PT400', message = 'the expectation must be a JSON object';
    end if;
    select * into v_msg from messages where id = p_message_id for update;
    if not found then
        raise exception using errcode = 'PT404', message = format('message %s not found', p_message_id);
    end if;
    if p_expect is not null and exists (
        select 1 from jsonb_each(p_expect) as e
         where (v_msg.metadata -> e.key) is distinct from nullif(e.value, 'null'::jsonb)) then
        raise exception using errcode = 'PT409',
            message = format('message %s: its metadata changed meanwhile', p_message_id);
    end if;
    update messages
       set metadata = (metadata - array(select key from jsonb_each(p_patch)
                                         where value = 'null'::jsonb))
                      || coalesce((select jsonb_object_agg(key, value) from jsonb_each(p_patch)
                                    where value <> 'null'::jsonb), '{}')
     where id = p_message_id
    returning * into v_msg;
    return v_msg;
end
$$;

revoke all on function public.update_message_metadata(bigint, jsonb, timestamptz, jsonb)
    from public, anon, authenticated;
grant execute on function public.update_message_metadata(bigint, jsonb, timestamptz, jsonb)
    to service_role;

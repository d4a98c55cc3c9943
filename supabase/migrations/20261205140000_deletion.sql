-- Switchboard: deleting conversations, for an admin's erasure of a conversation or of
-- everything one person wrote, and for the retention sweep (RETENTION_DAYS). Mirrors the
-- SQLite store's delete_conversations / delete_closed_before
-- (services/store/sqlite_deletion.py).
--
-- Each is one statement returning the deleted rows, by id, for the app to publish. The
-- foreign keys cascade to messages, jobs, activity and conversation_reads (tags, rating and
-- profile are columns of the row); the roll-up triggers (20261125040000_stats_rollup.sql)
-- subtract what the deleted rows contributed, in the same transaction. Same conventions as
-- before: SECURITY INVOKER, service_role only. Re-runnable.

create or replace function public.delete_conversations(p_ids bigint[])
returns json
language sql volatile security invoker
set search_path = public, extensions
as $$
    with deleted as (
        delete from conversations where id = any(p_ids) returning *)
    select coalesce(json_agg(row_to_json(deleted) order by deleted.id), '[]') from deleted;
$$;

-- The oldest closed conversations with no message, no change and no trail line since
-- p_before, through conversations_status_activity_idx; one changed since (a rating, a tag)
-- or given a line since (a note, which changes no column of the conversation) waits.
create or replace function public.delete_closed_before(p_before timestamptz, p_limit integer)
returns json
language sql volatile security invoker
set search_path = public, extensions
as $$
    with doomed as (
        select id from conversations
         where status = 'closed' and last_message_at < p_before and updated_at < p_before
           and not exists (select 1 from activity a
                            where a.conversation_id = conversations.id
                              and a.created_at >= p_before)
         order by last_message_at
         limit greatest(p_limit, 0)
           for update skip locked
    ), deleted as (
        delete from conversations c using doomed where c.id = doomed.id returning c.*)
    select coalesce(json_agg(row_to_json(deleted) order by deleted.id), '[]') from deleted;
$$;

revoke all on function public.delete_conversations(bigint[]),
    public.delete_closed_before(timestamptz, integer)
    from public, anon, authenticated;
grant execute on function public.delete_conversations(bigint[]),
    public.delete_closed_before(timestamptz, integer) to service_role;

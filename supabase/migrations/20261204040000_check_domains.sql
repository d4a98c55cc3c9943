-- Switchboard: the value rules of conversations, messages and jobs as domains instead of
-- table CHECK constraints (issue #7: what track_inbound costs inside PostgreSQL).
--
-- PostgreSQL reads a table's CHECK constraints back from their stored form and compiles them
-- for every statement that inserts or updates a row, and checks all of them on every update,
-- whichever columns it sets. track_inbound inserts a message and a job and updates its
-- conversation, so it paid for 16 constraints, three times over, for every message: a
-- PL/pgSQL loop of 3,000 track_inbound calls ran 20-40 % faster with them dropped. A
-- domain's checks are kept parsed in the type cache, and only the columns a statement
-- writes are checked: the same loop with these domains ran 21-22 % faster than with the
-- table constraints (3 runs of each, alternated, in transactions rolled back).
--
-- The rules are the same, and a bad value is refused with the same SQLSTATE (23514,
-- check_violation), which the store maps to InvalidInput as before. A domain over text,
-- jsonb, integer or double precision reads, writes, compares and indexes as its base type
-- (PostgREST and supabase-py see the same JSON). Changing a column's type to a domain with a
-- check rewrites the table and rebuilds its indexes (once per table here: one ALTER TABLE
-- each), under an exclusive lock on it, so on a large deployment run this at a quiet time.
-- Re-runnable: domains are created once and a column already of its domain is left alone.

do $$
declare
    v_domain record;
begin
    for v_domain in
        select * from (values
            ('channel_platform', 'text',
             $c$value in ('messenger', 'webchat')$c$),
            ('person_id', 'text',
             $c$length(value) between 1 and 256$c$),
            ('json_object', 'jsonb',
             $c$jsonb_typeof(value) = 'object'$c$),
            ('json_array', 'jsonb',
             $c$jsonb_typeof(value) = 'array'$c$),
            ('conversation_status', 'text',
             $c$value in ('active', 'idle', 'closed')$c$),
            ('conversation_handler', 'text',
             $c$value in ('bot', 'human')$c$),
            ('priority_level', 'integer',
             $c$value between 1 and 5$c$),
            ('non_negative_count', 'integer',
             $c$value >= 0$c$),
            ('sender_kind', 'text',
             $c$value in ('user', 'bot', 'agent', 'system')$c$),
            ('unit_interval', 'double precision',
             $c$value between 0 and 1$c$),
            ('delivery_state', 'text',
             $c$value in ('received', 'pending', 'sent', 'delivered', 'read', 'failed')$c$),
            ('job_kind', 'text',
             $c$value in ('respond', 'send')$c$),
            ('job_status', 'text',
             $c$value in ('queued', 'running', 'done', 'failed')$c$)
        ) as d(name, base, rule)
    loop
        if not exists (select 1 from pg_type
                        where typname = v_domain.name and typnamespace = 'public'::regnamespace) then
            execute format('create domain public.%I as %s check (%s)',
                           v_domain.name, v_domain.base, v_domain.rule);
        end if;
    end loop;
end
$$;

alter table public.conversations
    drop constraint if exists conversations_platform_check,
    drop constraint if exists conversations_external_user_id_check,
    drop constraint if exists conversations_profile_check,
    drop constraint if exists conversations_status_check,
    drop constraint if exists conversations_handled_by_check,
    drop constraint if exists conversations_priority_check,
    drop constraint if exists conversations_message_count_check;
alter table public.messages
    drop constraint if exists messages_platform_check,
    drop constraint if exists messages_sender_type_check,
    drop constraint if exists messages_attachments_check,
    drop constraint if exists messages_confidence_score_check,
    drop constraint if exists messages_delivery_status_check,
    drop constraint if exists messages_metadata_check;
alter table public.jobs
    drop constraint if exists jobs_kind_check,
    drop constraint if exists jobs_status_check,
    drop constraint if exists jobs_attempts_check;

do $$
declare
    v_table   record;
begin
    -- One ALTER TABLE per table, so each table is rewritten and its indexes rebuilt once.
    for v_table in
        select c.tab, string_agg(format('alter column %I type public.%I', c.col, c.domain),
                                 ', ' order by c.col) as changes
          from (values
            ('conversations', 'platform', 'channel_platform'),
            ('conversations', 'external_user_id', 'person_id'),
            ('conversations', 'profile', 'json_object'),
            ('conversations', 'status', 'conversation_status'),
            ('conversations', 'handled_by', 'conversation_handler'),
            ('conversations', 'priority', 'priority_level'),
            ('conversations', 'message_count', 'non_negative_count'),
            ('messages', 'platform', 'channel_platform'),
            ('messages', 'sender_type', 'sender_kind'),
            ('messages', 'attachments', 'json_array'),
            ('messages', 'confidence_score', 'unit_interval'),
            ('messages', 'delivery_status', 'delivery_state'),
            ('messages', 'metadata', 'json_object'),
            ('jobs', 'kind', 'job_kind'),
            ('jobs', 'status', 'job_status'),
            ('jobs', 'attempts', 'non_negative_count')
          ) as c(tab, col, domain)
         where not exists (select 1 from pg_attribute a join pg_type t on t.oid = a.atttypid
                            where a.attrelid = format('public.%I', c.tab)::regclass
                              and a.attname = c.col and t.typname = c.domain
                              and t.typnamespace = 'public'::regnamespace)
         group by c.tab
    loop
        execute format('alter table public.%I %s', v_table.tab, v_table.changes);
    end loop;
end
$$;

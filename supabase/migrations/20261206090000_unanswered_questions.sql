-- Switchboard: the questions the bot could not answer -- its answers with a confidence below
-- the escalation threshold, newest first, each with the person's message it answered
-- (metadata.in_reply_to), among the messages with an id in [p_floor, p_before): one bounded
-- walk of the primary key however rare such answers are; the app pages on with the lower
-- end (Stats' "Questions the bot could not answer"). Mirrors the SQLite store's
-- unanswered_questions. Re-runnable.

create or replace function public.unanswered_questions(p_threshold double precision,
                                                       p_before bigint, p_floor bigint,
                                                       p_limit integer)
returns setof json
language sql stable security invoker
set search_path = public, extensions
as $$
    select json_build_object(
               'answer_id', b.id, 'conversation_id', b.conversation_id,
               'created_at', b.created_at, 'confidence', b.confidence_score,
               'intent', b.metadata ->> 'intent', 'question_id', u.id, 'question', u.content)
    from messages b
    left join messages u
           on u.id = case when jsonb_typeof(b.metadata -> 'in_reply_to') = 'number'
                          then (b.metadata ->> 'in_reply_to')::bigint end
          and u.conversation_id = b.conversation_id
    where b.id < p_before and b.id >= p_floor and b.sender_type = 'bot'
      and b.confidence_score < p_threshold
    order by b.id desc
    limit p_limit
$$;

-- The walk's start when the app gives none: the newest message's id, plus one.
create or replace function public.messages_end()
returns bigint
language sql stable security invoker
set search_path = public, extensions
as $$
    select coalesce(max(id), 0) + 1 from messages
$$;

revoke all on function public.unanswered_questions(double precision, bigint, bigint, integer)
    from public, anon, authenticated;
grant execute on function public.unanswered_questions(double precision, bigint, bigint, integer)
    to service_role;
revoke all on function public.messages_end() from public, anon, authenticated;
grant execute on function public.messages_end() to service_role;

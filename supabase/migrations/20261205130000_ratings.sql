-- Switchboard: the person's rating of a closed conversation (1 to 5, with an optional
-- comment), and the satisfaction stats of a period. Mirrors the SQLite store's schema
-- version 11 (services/store/sqlite_ratings.py).
--
-- conversations.rating (domain rating_score), rating_comment (domain rating_comment_text),
-- rated_at; a partial index of the rated conversations for the stats. rate_conversation
-- writes a rating in one statement, on a closed conversation only; satisfaction reads a
-- period's ratings. Same conventions as before: SECURITY INVOKER, service_role only, PTnnn
-- error codes. Re-runnable.

-- Domains, as the other value rules of conversations (20261204040000_check_domains.sql):
-- checked only when the column is written, not at every update of the row.
do $$
begin
    if not exists (select 1 from pg_type where typname = 'rating_score'
                                             and typnamespace = 'public'::regnamespace) then
        create domain public.rating_score as smallint check (value between 1 and 5);
    end if;
    if not exists (select 1 from pg_type where typname = 'rating_comment_text'
                                             and typnamespace = 'public'::regnamespace) then
        create domain public.rating_comment_text as text
            check (char_length(value) between 1 and 500 and value = btrim(value));
    end if;
end
$$;

alter table public.conversations add column if not exists rating public.rating_score;
alter table public.conversations add column if not exists rating_comment
    public.rating_comment_text;
alter table public.conversations add column if not exists rated_at timestamptz;

create index if not exists conversations_rated_idx on public.conversations (rated_at)
    include (rating, assigned_to) where rated_at is not null;

-- The person's rating of a closed conversation: the conversation. It replaces an earlier
-- rating. PT409 when the conversation is not closed (the same statement checks it, so one
-- reopened meanwhile is not rated); PT404 for an unknown conversation; the domains refuse a
-- bad score or comment (23514, a 400).
create or replace function public.rate_conversation(p_conversation_id bigint,
                                                    p_score integer, p_comment text,
                                                    p_now timestamptz)
returns json
language plpgsql volatile security invoker
set search_path = public, extensions
as $$
declare
    v_row conversations;
begin
    update conversations
       set rating = p_score, rating_comment = p_comment, rated_at = p_now, updated_at = p_now
     where id = p_conversation_id and status = 'closed'
    returning * into v_row;
    if found then
        return row_to_json(v_row);
    end if;
    if exists (select 1 from conversations where id = p_conversation_id) then
        raise exception using errcode = 'PT409',
            message = 'only a closed conversation can be rated';
    end if;
    raise exception using errcode = 'PT404',
        message = format('conversation %s not found', p_conversation_id);
end
$$;

-- The ratings given in [p_since, p_until) (p_since null: from the start): {"rated",
-- "average", "satisfied", "by_score" (five counts, 1 first), "by_agent" ([{"user_id",
-- "rated", "average", "satisfied"}], most rated first, then by id, nobody last),
-- "comments" (the p_comments newest with a comment)}. One pass over the period's ratings in
-- conversations_rated_idx (counts per score and assignee), then the newest comments.
create or replace function public.satisfaction(p_since timestamptz, p_until timestamptz,
                                               p_comments integer default 10)
returns json
language sql stable security invoker
set search_path = public, extensions
as $$
    with counts as (
        select rating, assigned_to, count(*) as n
          from conversations
         where rated_at is not null and rated_at < p_until
           and rated_at >= coalesce(p_since, '-infinity')
         group by rating, assigned_to
    ), agents as (
        select assigned_to, sum(n)::bigint as n, sum(rating * n)::float8 / sum(n) as average,
               coalesce(sum(n) filter (where rating >= 4), 0)::bigint as satisfied
          from counts group by assigned_to
    )
    select json_build_object(
        'rated', coalesce((select sum(n) from counts), 0)::bigint,
        'average', (select sum(rating * n)::float8 / nullif(sum(n), 0) from counts),
        'satisfied', coalesce((select sum(n) from counts where rating >= 4), 0)::bigint,
        'by_score', (select json_agg(coalesce((select sum(n) from counts where rating = s),
                                              0)::bigint order by s)
                       from generate_series(1, 5) as s),
        'by_agent', coalesce((
            select json_agg(json_build_object('user_id', a.assigned_to, 'rated', a.n,
                                              'average', a.average, 'satisfied', a.satisfied)
                            order by a.n desc, a.assigned_to nulls last)
              from agents as a), '[]'::json),
        'comments', coalesce((
            select json_agg(json_build_object(
                       'conversation_id', c.id, 'display_name', c.display_name,
                       'platform', c.platform, 'assigned_to', c.assigned_to,
                       'rating', c.rating, 'comment', c.rating_comment,
                       'rated_at', c.rated_at) order by c.rated_at desc, c.id desc)
              from (select id, display_name, platform, assigned_to, rating, rating_comment,
                           rated_at
                      from conversations
                     where rated_at is not null and rated_at < p_until
                       and rated_at >= coalesce(p_since, '-infinity')
                       and rating_comment is not null
                     order by rated_at desc, id desc
                     limit greatest(p_comments, 0)) as c), '[]'::json));
$$;

revoke all on function public.rate_conversation(bigint, integer, text, timestamptz),
    public.satisfaction(timestamptz, timestamptz, integer)
    from public, anon, authenticated;
grant execute on function public.rate_conversation(bigint, integer, text, timestamptz),
    public.satisfaction(timestamptz, timestamptz, integer) to service_role;

-- Switchboard: the activity trail records tags put on and taken off a conversation (kinds
-- 'tagged' and 'untagged', detail.tag), written by the tracker after the change as the other
-- lines are. Mirrors the SQLite store's schema version 10.
--
-- The kind's check is replaced (NOT VALID, then validated, so the table is not locked against
-- writes while the lines there are checked). Re-runnable.

alter table public.activity drop constraint if exists activity_kind_check;
alter table public.activity add constraint activity_kind_check
    check (kind in ('escalated', 'taken_over', 'handed_back', 'assigned', 'unassigned',
                    'closed', 'reopened', 'handoff_timed_out', 'priority_raised', 'note',
                    'tagged', 'untagged')) not valid;
alter table public.activity validate constraint activity_kind_check;

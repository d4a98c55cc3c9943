-- Switchboard: the activity trail records a web chat visitor who signed in on the site (kind
-- 'signed_in', detail.name: the customer's name the site gave, if any), written by the
-- tracker after move_person as the other lines are. Mirrors the SQLite store's schema
-- version 18.
--
-- The kind's check is replaced (NOT VALID, then validated, so the table is not locked against
-- writes while the lines there are checked). Re-runnable.

alter table public.activity drop constraint if exists activity_kind_check;
alter table public.activity add constraint activity_kind_check
    check (kind in ('escalated', 'taken_over', 'handed_back', 'assigned', 'unassigned',
                    'closed', 'reopened', 'handoff_timed_out', 'priority_raised', 'note',
                    'tagged', 'untagged', 'signed_in')) not valid;
alter table public.activity validate constraint activity_kind_check;

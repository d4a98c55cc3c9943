-- Schema of the embedded SQLite store; mirrors supabase/migrations.
-- Conventions: integer primary keys; JSON as TEXT; booleans as INTEGER 0/1; timestamps as
-- ISO-8601 TEXT in one fixed UTC format (YYYY-MM-DDTHH:MM:SS.ffffff+00:00), so comparing
-- and sorting the text is comparing and sorting the times.
-- Every statement is idempotent: the store runs this whole file in one transaction on start,
-- after the upgrade steps in sqlite_db.py (ALTER TABLE for columns added since version 1).
-- Schema version 3 (mirrors supabase/migrations/20261125020000_followups.sql): the
-- priority_raised_at column and the indexes of the waiting sort and the priority-raise scan.
-- Schema version 4 (mirrors supabase/migrations/20261125040000_stats_rollup.sql): the roll-up
-- counters stats() reads, whose tables and triggers are generated in sqlite_rollup.py (and
-- filled from the existing rows on upgrade, sqlite_db.py), and the response-time index below.
-- Schema version 5: the trigram indexes of the search (FTS5 tables, their progress table and
-- triggers), generated in sqlite_search.py and filled from the existing rows on upgrade.
-- Schema version 6: the activity table (at the end of this file).
-- Schema version 7 (mirrors supabase/migrations/20261205020000_team_stats.sql): the indexes
-- of team_stats (agent messages by time, conversations by first human reply, activity by
-- time); nothing to fill, CREATE INDEX builds them from the rows there.
-- Schema version 8: the saved_replies table (at the end of this file).
-- Schema version 9: the conversation_reads table (at the end of this file).
-- Schema version 10: conversations.tags and the conversation_tags table (at the end); the
-- activity trail's tag lines (its table rebuilt on upgrade: sqlite_db._set_activity_aside).
-- Schema version 11: the ratings of conversations (rating, rating_comment, rated_at).
-- Schema version 12: admin_users.available and last_assigned_at (auto-assignment).
-- Schema version 13: admin_users.last_seen_at (an admin page open: online).
-- Schema version 14: admin_users.offline_announced_at (claim_offline); the hours_setting
-- table (at the end).
-- Schema version 15: the files table (at the end).
-- Schema version 16: files.sent_at and the index of the files never sent (at the end).
-- Schema version 17: admin_users.display_name.

CREATE TABLE IF NOT EXISTS admin_users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'agent')),
    password_hash TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    -- Schema version 12: auto-assignment (sqlite_assignment.py).
    available        INTEGER NOT NULL DEFAULT 0 CHECK (available IN (0, 1)),
    last_assigned_at TEXT,
    -- Schema version 13: when a page of the panel last said it was open (touch_users).
    last_seen_at     TEXT,
    -- Schema version 14: when a sweep last said the account went offline (claim_offline);
    -- before last_seen_at while it has not since.
    offline_announced_at TEXT,
    -- Schema version 17: the name people answered by the account see ("Sam"; NULL: none).
    display_name     TEXT CHECK (display_name IS NULL OR length(display_name) BETWEEN 1 AND 60)
);
-- lower() is ASCII-only in SQLite; e-mail addresses are compared case-insensitively in ASCII.
CREATE UNIQUE INDEX IF NOT EXISTS admin_users_email_key ON admin_users (lower(email));

CREATE TABLE IF NOT EXISTS api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    created_at   TEXT    NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX IF NOT EXISTS api_tokens_user_id_idx ON api_tokens (user_id);

CREATE TABLE IF NOT EXISTS conversations (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    platform             TEXT    NOT NULL CHECK (platform IN ('messenger', 'webchat')),
    external_user_id     TEXT    NOT NULL,
    display_name         TEXT,
    profile              TEXT    NOT NULL DEFAULT '{}',
    status               TEXT    NOT NULL DEFAULT 'active'
                                 CHECK (status IN ('active', 'idle', 'closed')),
    handled_by           TEXT    NOT NULL DEFAULT 'bot' CHECK (handled_by IN ('bot', 'human')),
    needs_human          INTEGER NOT NULL DEFAULT 0 CHECK (needs_human IN (0, 1)),
    human_reason         TEXT,
    priority             INTEGER NOT NULL DEFAULT 5 CHECK (priority BETWEEN 1 AND 5),
    assigned_to          INTEGER REFERENCES admin_users (id) ON DELETE SET NULL,
    message_count        INTEGER NOT NULL DEFAULT 0,
    last_message_preview TEXT,
    created_at           TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL,
    last_message_at      TEXT    NOT NULL,
    last_user_message_at TEXT,
    waiting_since        TEXT,
    escalated_at         TEXT,
    first_human_reply_at TEXT,
    closed_at            TEXT,
    handoff_timeout_notified_at TEXT, -- schema version 2 (added by ALTER TABLE on upgrade)
    priority_raised_at   TEXT,        -- schema version 3 (added by ALTER TABLE on upgrade)
    -- The team's labels: a JSON array of normalised tags, sorted (schema version 10, added
    -- by ALTER TABLE on upgrade); conversation_tags below indexes them.
    tags                 TEXT    NOT NULL DEFAULT '[]',
    -- The person's rating once it was closed, what they added and when (schema version
    -- 11, added by ALTER TABLE on upgrade).
    rating               INTEGER CHECK (rating BETWEEN 1 AND 5),
    rating_comment       TEXT,
    rated_at             TEXT
);
-- At most one open conversation per person and platform; also the find-open lookup.
CREATE UNIQUE INDEX IF NOT EXISTS conversations_open_user_key
    ON conversations (platform, external_user_id) WHERE status <> 'closed';
-- Keyset orders of the inbox: last_activity, priority, and the common status filter.
CREATE INDEX IF NOT EXISTS conversations_last_activity_idx
    ON conversations (last_message_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS conversations_priority_idx
    ON conversations (priority, last_message_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS conversations_status_activity_idx
    ON conversations (status, last_message_at DESC, id DESC);
-- The "needs a human" queue and its count in stats.
CREATE INDEX IF NOT EXISTS conversations_needs_human_idx
    ON conversations (priority, last_message_at DESC, id DESC) WHERE needs_human = 1;
CREATE INDEX IF NOT EXISTS conversations_assigned_to_idx
    ON conversations (assigned_to) WHERE assigned_to IS NOT NULL;
-- Each account's open conversations, counted from the index alone (auto-assignment's load),
-- and the conversations waiting for nobody in particular, longest first (what it hands out).
CREATE INDEX IF NOT EXISTS conversations_open_assigned_idx
    ON conversations (assigned_to) WHERE assigned_to IS NOT NULL AND status <> 'closed';
CREATE INDEX IF NOT EXISTS conversations_unassigned_wait_idx ON conversations (waiting_since, id)
    WHERE needs_human = 1 AND assigned_to IS NULL AND status <> 'closed';
-- Every conversation of one person, closed ones too: delivery/read watermarks.
CREATE INDEX IF NOT EXISTS conversations_user_idx ON conversations (platform, external_user_id);
-- The satisfaction stats of a period: rated conversations only, with what the counts read
-- (so they never visit the table).
CREATE INDEX IF NOT EXISTS conversations_rated_idx
    ON conversations (rated_at, rating, assigned_to) WHERE rated_at IS NOT NULL;
-- The handoff-timeout scan: waiting conversations not yet notified.
CREATE INDEX IF NOT EXISTS conversations_handoff_wait_idx ON conversations (waiting_since)
    WHERE needs_human = 1 AND handoff_timeout_notified_at IS NULL;
-- The "waiting" inbox order: needing a human first, longest-waiting first (SQLite index
-- columns take no NULLS LAST, so "waiting_since IS NULL" puts the unset ones last), then
-- newest activity.
CREATE INDEX IF NOT EXISTS conversations_waiting_idx
    ON conversations (needs_human DESC, waiting_since IS NULL, waiting_since,
                      last_message_at DESC, id DESC);
-- The priority-raise scan: waiting conversations not yet raised during this wait.
CREATE INDEX IF NOT EXISTS conversations_priority_raise_idx ON conversations (waiting_since)
    WHERE needs_human = 1 AND priority_raised_at IS NULL AND priority > 1;
-- The median first human response in stats: response times in order (the expression must be
-- the one sqlite_stats.py orders by), only for the conversations that have one.
CREATE INDEX IF NOT EXISTS conversations_response_time_idx ON conversations (
    ((CAST(strftime('%s', substr(first_human_reply_at, 1, 19)) AS INTEGER)
      - CAST(strftime('%s', substr(escalated_at, 1, 19)) AS INTEGER))
     + (CAST(substr(first_human_reply_at, 21, 6) AS INTEGER)
        - CAST(substr(escalated_at, 21, 6) AS INTEGER)) / 1e6))
    WHERE first_human_reply_at >= escalated_at;
-- team_stats (version 7): the conversations first answered by a human in a period.
CREATE INDEX IF NOT EXISTS conversations_first_reply_idx ON conversations (first_human_reply_at)
    WHERE first_human_reply_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS messages (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    platform         TEXT    NOT NULL CHECK (platform IN ('messenger', 'webchat')),
    sender_type      TEXT    NOT NULL CHECK (sender_type IN ('user', 'bot', 'agent', 'system')),
    sender_id        TEXT,
    content          TEXT    NOT NULL DEFAULT '',
    attachments      TEXT    NOT NULL DEFAULT '[]',
    external_id      TEXT,
    created_at       TEXT    NOT NULL,
    confidence_score REAL,
    requires_human   INTEGER NOT NULL DEFAULT 0 CHECK (requires_human IN (0, 1)),
    human_reason     TEXT,
    human_replied    INTEGER NOT NULL DEFAULT 0 CHECK (human_replied IN (0, 1)),
    replied_by       TEXT,
    replied_at       TEXT,
    delivery_status  TEXT    NOT NULL DEFAULT 'received' CHECK (delivery_status IN
                         ('received', 'pending', 'sent', 'delivered', 'read', 'failed')),
    delivery_error   TEXT,
    metadata         TEXT    NOT NULL DEFAULT '{}'
);
-- History of one conversation in id order; also the search EXISTS probe.
CREATE INDEX IF NOT EXISTS messages_conversation_idx ON messages (conversation_id, id);
-- A redelivered platform message is found (and refused) by this index.
CREATE UNIQUE INDEX IF NOT EXISTS messages_external_id_key
    ON messages (platform, external_id) WHERE external_id IS NOT NULL;
-- Hourly and daily buckets in stats (covering: the escalation count needs no table lookup).
CREATE INDEX IF NOT EXISTS messages_created_at_idx ON messages (created_at, requires_human);
-- Messages still waiting for a human: stats count and the mark_human_replied check.
CREATE INDEX IF NOT EXISTS messages_unreplied_idx
    ON messages (conversation_id) WHERE requires_human = 1 AND human_replied = 0;
-- Outbound messages a delivery/read watermark can still move forward.
CREATE INDEX IF NOT EXISTS messages_unread_outbound_idx
    ON messages (conversation_id, created_at)
    WHERE delivery_status IN ('sent', 'delivered') AND sender_type <> 'user';
-- team_stats (version 7): agents' replies in a period, by whom and where (the first of each
-- conversation among them too: its rowid, the message id, is in the index).
CREATE INDEX IF NOT EXISTS messages_agent_created_idx
    ON messages (created_at, sender_id, conversation_id) WHERE sender_type = 'agent';

-- Durable background work about one message (schema version 2): answer it or send it.
CREATE TABLE IF NOT EXISTS jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL CHECK (kind IN ('respond', 'send')),
    message_id      INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    status          TEXT    NOT NULL DEFAULT 'queued'
                            CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    run_after       TEXT    NOT NULL,
    locked_until    TEXT,
    last_error      TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    UNIQUE (kind, message_id)
);
-- claim_jobs: the claimable jobs in (run_after, id) order; done/failed ones drop out.
CREATE INDEX IF NOT EXISTS jobs_claim_idx
    ON jobs (run_after, id) WHERE status IN ('queued', 'running');
-- Foreign-key cascades (SQLite and PostgreSQL look child rows up by these columns).
CREATE INDEX IF NOT EXISTS jobs_message_idx ON jobs (message_id);
CREATE INDEX IF NOT EXISTS jobs_conversation_idx ON jobs (conversation_id);

-- A conversation's activity trail (schema version 6; mirrors
-- supabase/migrations/20261205010000_activity.sql): who answered it, who had it, its state
-- changes, and the notes agents leave for the team (kind 'note', detail.text). Lines are
-- only added; actor is the account's e-mail when the line was written.
CREATE TABLE IF NOT EXISTS activity (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL CHECK (kind IN ('escalated', 'taken_over', 'handed_back',
                        'assigned', 'unassigned', 'closed', 'reopened', 'handoff_timed_out',
                        'priority_raised', 'note', 'tagged', 'untagged')),  -- tags: version 10
    actor_id        INTEGER REFERENCES admin_users (id) ON DELETE SET NULL,
    actor           TEXT,
    detail          TEXT    NOT NULL DEFAULT '{}',
    created_at      TEXT    NOT NULL
);
-- A conversation's trail in id order (and the cascade from conversations).
CREATE INDEX IF NOT EXISTS activity_conversation_idx ON activity (conversation_id, id);
-- The cascade from admin_users (SET NULL looks the lines up by actor).
CREATE INDEX IF NOT EXISTS activity_actor_idx ON activity (actor_id) WHERE actor_id IS NOT NULL;
-- team_stats (version 7): the lines written in a period.
CREATE INDEX IF NOT EXISTS activity_created_idx ON activity (created_at);

-- The team's saved replies (schema version 8; mirrors
-- supabase/migrations/20261205030000_saved_replies.sql): a title to find one by and the text
-- it puts in the reply box. title_key (the title case-folded, inner spaces collapsed:
-- services.models.saved_reply_key) makes two titles that read the same one reply. At most a
-- few hundred rows: no index beyond the key's (the account's SET NULL scans them).
CREATE TABLE IF NOT EXISTS saved_replies (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    title       TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 80),
    title_key   TEXT    NOT NULL UNIQUE,
    body        TEXT    NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
    created_by  INTEGER REFERENCES admin_users (id) ON DELETE SET NULL,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);

-- What each account has read (schema version 9; mirrors
-- supabase/migrations/20261205040000_conversation_reads.sql): a conversation's message_count
-- when the account last had it open; the inbox's unread count is the count past it. One row
-- per account and conversation it opened; the second index serves the conversation's cascade.
CREATE TABLE IF NOT EXISTS conversation_reads (
    user_id         INTEGER NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_count   INTEGER NOT NULL CHECK (message_count >= 0),
    read_at         TEXT    NOT NULL,
    PRIMARY KEY (user_id, conversation_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS conversation_reads_conversation_idx
    ON conversation_reads (conversation_id);

-- The tags on each conversation, one row per tag (schema version 10; mirrors the GIN index
-- of supabase/migrations/20261205090000_conversation_tags.sql): the inbox's tag filter and
-- the count of tags in use read it; conversations.tags is what a conversation shows. The
-- store writes both in one transaction (add_tag, remove_tag). The second index serves the
-- conversation's cascade.
CREATE TABLE IF NOT EXISTS conversation_tags (
    tag             TEXT    NOT NULL,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, conversation_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS conversation_tags_conversation_idx
    ON conversation_tags (conversation_id);

-- The business hours set on Settings (schema version 14; mirrors
-- supabase/migrations/20261206050000_hours_setting.sql), over the environment's
-- BUSINESS_HOURS, BUSINESS_TIMEZONE, BUSINESS_CLOSED_DATES, AWAY_MESSAGE and
-- HANDOFF_MESSAGE: one row or none.
-- closed_dates: a JSON list of ISO dates.
CREATE TABLE IF NOT EXISTS hours_setting (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    schedule     TEXT    NOT NULL CHECK (length(schedule) <= 2000),
    timezone     TEXT    NOT NULL CHECK (length(timezone) BETWEEN 1 AND 64),
    closed_dates TEXT    NOT NULL DEFAULT '[]',
    away_message TEXT    CHECK (length(away_message) <= 1000),  -- NULL: AWAY_MESSAGE's
    handoff_message TEXT CHECK (length(handoff_message) <= 1000),  -- NULL: HANDOFF_MESSAGE's
    updated_by   INTEGER REFERENCES admin_users (id) ON DELETE SET NULL,
    updated_at   TEXT    NOT NULL
);

-- Files agents attach to replies (schema version 15; mirrors
-- supabase/migrations/20261206060000_files.sql): the bytes, served at /files/<id>/<name>;
-- id is a random UUID's text, which is what makes that address hard to guess. A message
-- that carries one keeps its description (and address) in its attachments. Deleted with
-- the conversation; the index serves that cascade.
CREATE TABLE IF NOT EXISTS files (
    id              TEXT    PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    content_type    TEXT    NOT NULL CHECK (length(content_type) BETWEEN 3 AND 255),
    size            INTEGER NOT NULL CHECK (size > 0),
    data            BLOB    NOT NULL,
    created_by      INTEGER REFERENCES admin_users (id) ON DELETE SET NULL,
    created_at      TEXT    NOT NULL,
    -- Schema version 16: when a message first carried it (a visitor's file: at once; an
    -- agent's: the reply naming it). NULL: uploaded, never sent; the lifecycle sweep
    -- deletes those after UNSENT_FILE_HOURS, by the index below.
    sent_at         TEXT
);
CREATE INDEX IF NOT EXISTS files_conversation_idx ON files (conversation_id);
CREATE INDEX IF NOT EXISTS files_unsent_idx ON files (created_at) WHERE sent_at IS NULL;

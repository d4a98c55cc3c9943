-- FROZEN: the SQLite store's schema as of schema version 9 (released with version 10): the
-- schema file, the roll-up tables and triggers and the search indexes, as sqlite_master of a
-- new file held them (less the FTS5 tables' own shadow tables, which CREATE VIRTUAL TABLE
-- makes), so the upgrade test can build a version-9 database. Never edit.
CREATE TABLE admin_users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'agent')),
    password_hash TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
);
CREATE UNIQUE INDEX admin_users_email_key ON admin_users (lower(email));
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    created_at   TEXT    NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);
CREATE TABLE conversations (
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
    priority_raised_at   TEXT         -- schema version 3 (added by ALTER TABLE on upgrade)
);
CREATE UNIQUE INDEX conversations_open_user_key
    ON conversations (platform, external_user_id) WHERE status <> 'closed';
CREATE INDEX conversations_last_activity_idx
    ON conversations (last_message_at DESC, id DESC);
CREATE INDEX conversations_priority_idx
    ON conversations (priority, last_message_at DESC, id DESC);
CREATE INDEX conversations_status_activity_idx
    ON conversations (status, last_message_at DESC, id DESC);
CREATE INDEX conversations_needs_human_idx
    ON conversations (priority, last_message_at DESC, id DESC) WHERE needs_human = 1;
CREATE INDEX conversations_assigned_to_idx
    ON conversations (assigned_to) WHERE assigned_to IS NOT NULL;
CREATE INDEX conversations_user_idx ON conversations (platform, external_user_id);
CREATE INDEX conversations_handoff_wait_idx ON conversations (waiting_since)
    WHERE needs_human = 1 AND handoff_timeout_notified_at IS NULL;
CREATE INDEX conversations_waiting_idx
    ON conversations (needs_human DESC, waiting_since IS NULL, waiting_since,
                      last_message_at DESC, id DESC);
CREATE INDEX conversations_priority_raise_idx ON conversations (waiting_since)
    WHERE needs_human = 1 AND priority_raised_at IS NULL AND priority > 1;
CREATE INDEX conversations_response_time_idx ON conversations (
    ((CAST(strftime('%s', substr(first_human_reply_at, 1, 19)) AS INTEGER)
      - CAST(strftime('%s', substr(escalated_at, 1, 19)) AS INTEGER))
     + (CAST(substr(first_human_reply_at, 21, 6) AS INTEGER)
        - CAST(substr(escalated_at, 21, 6) AS INTEGER)) / 1e6))
    WHERE first_human_reply_at >= escalated_at;
CREATE INDEX conversations_first_reply_idx ON conversations (first_human_reply_at)
    WHERE first_human_reply_at IS NOT NULL;
CREATE TABLE messages (
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
CREATE INDEX messages_conversation_idx ON messages (conversation_id, id);
CREATE UNIQUE INDEX messages_external_id_key
    ON messages (platform, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX messages_created_at_idx ON messages (created_at, requires_human);
CREATE INDEX messages_unreplied_idx
    ON messages (conversation_id) WHERE requires_human = 1 AND human_replied = 0;
CREATE INDEX messages_unread_outbound_idx
    ON messages (conversation_id, created_at)
    WHERE delivery_status IN ('sent', 'delivered') AND sender_type <> 'user';
CREATE INDEX messages_agent_created_idx
    ON messages (created_at, sender_id, conversation_id) WHERE sender_type = 'agent';
CREATE TABLE jobs (
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
CREATE INDEX jobs_claim_idx
    ON jobs (run_after, id) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_message_idx ON jobs (message_id);
CREATE INDEX jobs_conversation_idx ON jobs (conversation_id);
CREATE TABLE activity (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL CHECK (kind IN ('escalated', 'taken_over', 'handed_back',
                        'assigned', 'unassigned', 'closed', 'reopened', 'handoff_timed_out',
                        'priority_raised', 'note')),
    actor_id        INTEGER REFERENCES admin_users (id) ON DELETE SET NULL,
    actor           TEXT,
    detail          TEXT    NOT NULL DEFAULT '{}',
    created_at      TEXT    NOT NULL
);
CREATE INDEX activity_conversation_idx ON activity (conversation_id, id);
CREATE INDEX activity_actor_idx ON activity (actor_id) WHERE actor_id IS NOT NULL;
CREATE INDEX activity_created_idx ON activity (created_at);
CREATE TABLE saved_replies (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    title       TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 80),
    title_key   TEXT    NOT NULL UNIQUE,
    body        TEXT    NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
    created_by  INTEGER REFERENCES admin_users (id) ON DELETE SET NULL,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
CREATE TABLE conversation_reads (
    user_id         INTEGER NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_count   INTEGER NOT NULL CHECK (message_count >= 0),
    read_at         TEXT    NOT NULL,
    PRIMARY KEY (user_id, conversation_id)
) WITHOUT ROWID;
CREATE INDEX conversation_reads_conversation_idx
    ON conversation_reads (conversation_id);
CREATE TABLE stats_conversations (platform TEXT PRIMARY KEY, conversations INTEGER NOT NULL DEFAULT 0, active INTEGER NOT NULL DEFAULT 0, closed INTEGER NOT NULL DEFAULT 0, messages INTEGER NOT NULL DEFAULT 0, needing_human INTEGER NOT NULL DEFAULT 0, escalated INTEGER NOT NULL DEFAULT 0, handed INTEGER NOT NULL DEFAULT 0, bot_resolved INTEGER NOT NULL DEFAULT 0, response_us INTEGER NOT NULL DEFAULT 0, responses INTEGER NOT NULL DEFAULT 0, unreplied INTEGER NOT NULL DEFAULT 0);
CREATE TABLE stats_hourly (bucket_hour TEXT PRIMARY KEY, messages INTEGER NOT NULL DEFAULT 0, escalations INTEGER NOT NULL DEFAULT 0);
CREATE TRIGGER stats_conversation_inserted AFTER INSERT ON conversations FOR EACH ROW BEGIN
    INSERT INTO stats_conversations (platform, conversations, active, closed, messages, needing_human, escalated, handed, bot_resolved, response_us, responses, unreplied) SELECT NEW.platform AS platform, 1 * 1 AS conversations, 1 * (NEW.status = 'active') AS active, 1 * (NEW.status = 'closed') AS closed, 1 * NEW.message_count AS messages, 1 * NEW.needs_human AS needing_human, 1 * (NEW.escalated_at IS NOT NULL) AS escalated, 1 * (NEW.escalated_at IS NOT NULL OR NEW.first_human_reply_at IS NOT NULL OR NEW.handled_by = 'human') AS handed, 1 * (NEW.status = 'closed' AND NEW.escalated_at IS NULL AND NEW.first_human_reply_at IS NULL AND NEW.handled_by = 'bot') AS bot_resolved, 1 * coalesce(CASE WHEN NEW.first_human_reply_at >= NEW.escalated_at THEN ((CAST(strftime('%s', substr(NEW.first_human_reply_at, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr(NEW.escalated_at, 1, 19)) AS INTEGER)) * 1000000 + (CAST(substr(NEW.first_human_reply_at, 21, 6) AS INTEGER) - CAST(substr(NEW.escalated_at, 21, 6) AS INTEGER))) END, 0) AS response_us, 1 * coalesce(NEW.first_human_reply_at >= NEW.escalated_at, 0) AS responses, 1 * 0 AS unreplied WHERE true ON CONFLICT (platform) DO UPDATE SET conversations = conversations + excluded.conversations, active = active + excluded.active, closed = closed + excluded.closed, messages = messages + excluded.messages, needing_human = needing_human + excluded.needing_human, escalated = escalated + excluded.escalated, handed = handed + excluded.handed, bot_resolved = bot_resolved + excluded.bot_resolved, response_us = response_us + excluded.response_us, responses = responses + excluded.responses, unreplied = unreplied + excluded.unreplied;
END;
CREATE TRIGGER stats_conversation_updated AFTER UPDATE OF platform, status, message_count, needs_human, escalated_at, first_human_reply_at, handled_by ON conversations FOR EACH ROW BEGIN
    INSERT INTO stats_conversations (platform, conversations, active, closed, messages, needing_human, escalated, handed, bot_resolved, response_us, responses, unreplied) SELECT NEW.platform AS platform, 1 - 1 AS conversations, (NEW.status = 'active') - (OLD.status = 'active') AS active, (NEW.status = 'closed') - (OLD.status = 'closed') AS closed, NEW.message_count - OLD.message_count AS messages, NEW.needs_human - OLD.needs_human AS needing_human, (NEW.escalated_at IS NOT NULL) - (OLD.escalated_at IS NOT NULL) AS escalated, (NEW.escalated_at IS NOT NULL OR NEW.first_human_reply_at IS NOT NULL OR NEW.handled_by = 'human') - (OLD.escalated_at IS NOT NULL OR OLD.first_human_reply_at IS NOT NULL OR OLD.handled_by = 'human') AS handed, (NEW.status = 'closed' AND NEW.escalated_at IS NULL AND NEW.first_human_reply_at IS NULL AND NEW.handled_by = 'bot') - (OLD.status = 'closed' AND OLD.escalated_at IS NULL AND OLD.first_human_reply_at IS NULL AND OLD.handled_by = 'bot') AS bot_resolved, coalesce(CASE WHEN NEW.first_human_reply_at >= NEW.escalated_at THEN ((CAST(strftime('%s', substr(NEW.first_human_reply_at, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr(NEW.escalated_at, 1, 19)) AS INTEGER)) * 1000000 + (CAST(substr(NEW.first_human_reply_at, 21, 6) AS INTEGER) - CAST(substr(NEW.escalated_at, 21, 6) AS INTEGER))) END, 0) - coalesce(CASE WHEN OLD.first_human_reply_at >= OLD.escalated_at THEN ((CAST(strftime('%s', substr(OLD.first_human_reply_at, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr(OLD.escalated_at, 1, 19)) AS INTEGER)) * 1000000 + (CAST(substr(OLD.first_human_reply_at, 21, 6) AS INTEGER) - CAST(substr(OLD.escalated_at, 21, 6) AS INTEGER))) END, 0) AS response_us, coalesce(NEW.first_human_reply_at >= NEW.escalated_at, 0) - coalesce(OLD.first_human_reply_at >= OLD.escalated_at, 0) AS responses, 0 - 0 AS unreplied WHERE NEW.platform = OLD.platform ON CONFLICT (platform) DO UPDATE SET conversations = conversations + excluded.conversations, active = active + excluded.active, closed = closed + excluded.closed, messages = messages + excluded.messages, needing_human = needing_human + excluded.needing_human, escalated = escalated + excluded.escalated, handed = handed + excluded.handed, bot_resolved = bot_resolved + excluded.bot_resolved, response_us = response_us + excluded.response_us, responses = responses + excluded.responses, unreplied = unreplied + excluded.unreplied;
    INSERT INTO stats_conversations (platform, conversations, active, closed, messages, needing_human, escalated, handed, bot_resolved, response_us, responses, unreplied) SELECT OLD.platform AS platform, -1 * 1 AS conversations, -1 * (OLD.status = 'active') AS active, -1 * (OLD.status = 'closed') AS closed, -1 * OLD.message_count AS messages, -1 * OLD.needs_human AS needing_human, -1 * (OLD.escalated_at IS NOT NULL) AS escalated, -1 * (OLD.escalated_at IS NOT NULL OR OLD.first_human_reply_at IS NOT NULL OR OLD.handled_by = 'human') AS handed, -1 * (OLD.status = 'closed' AND OLD.escalated_at IS NULL AND OLD.first_human_reply_at IS NULL AND OLD.handled_by = 'bot') AS bot_resolved, -1 * coalesce(CASE WHEN OLD.first_human_reply_at >= OLD.escalated_at THEN ((CAST(strftime('%s', substr(OLD.first_human_reply_at, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr(OLD.escalated_at, 1, 19)) AS INTEGER)) * 1000000 + (CAST(substr(OLD.first_human_reply_at, 21, 6) AS INTEGER) - CAST(substr(OLD.escalated_at, 21, 6) AS INTEGER))) END, 0) AS response_us, -1 * coalesce(OLD.first_human_reply_at >= OLD.escalated_at, 0) AS responses, -1 * 0 AS unreplied WHERE NEW.platform <> OLD.platform ON CONFLICT (platform) DO UPDATE SET conversations = conversations + excluded.conversations, active = active + excluded.active, closed = closed + excluded.closed, messages = messages + excluded.messages, needing_human = needing_human + excluded.needing_human, escalated = escalated + excluded.escalated, handed = handed + excluded.handed, bot_resolved = bot_resolved + excluded.bot_resolved, response_us = response_us + excluded.response_us, responses = responses + excluded.responses, unreplied = unreplied + excluded.unreplied;
    INSERT INTO stats_conversations (platform, conversations, active, closed, messages, needing_human, escalated, handed, bot_resolved, response_us, responses, unreplied) SELECT NEW.platform AS platform, 1 * 1 AS conversations, 1 * (NEW.status = 'active') AS active, 1 * (NEW.status = 'closed') AS closed, 1 * NEW.message_count AS messages, 1 * NEW.needs_human AS needing_human, 1 * (NEW.escalated_at IS NOT NULL) AS escalated, 1 * (NEW.escalated_at IS NOT NULL OR NEW.first_human_reply_at IS NOT NULL OR NEW.handled_by = 'human') AS handed, 1 * (NEW.status = 'closed' AND NEW.escalated_at IS NULL AND NEW.first_human_reply_at IS NULL AND NEW.handled_by = 'bot') AS bot_resolved, 1 * coalesce(CASE WHEN NEW.first_human_reply_at >= NEW.escalated_at THEN ((CAST(strftime('%s', substr(NEW.first_human_reply_at, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr(NEW.escalated_at, 1, 19)) AS INTEGER)) * 1000000 + (CAST(substr(NEW.first_human_reply_at, 21, 6) AS INTEGER) - CAST(substr(NEW.escalated_at, 21, 6) AS INTEGER))) END, 0) AS response_us, 1 * coalesce(NEW.first_human_reply_at >= NEW.escalated_at, 0) AS responses, 1 * 0 AS unreplied WHERE NEW.platform <> OLD.platform ON CONFLICT (platform) DO UPDATE SET conversations = conversations + excluded.conversations, active = active + excluded.active, closed = closed + excluded.closed, messages = messages + excluded.messages, needing_human = needing_human + excluded.needing_human, escalated = escalated + excluded.escalated, handed = handed + excluded.handed, bot_resolved = bot_resolved + excluded.bot_resolved, response_us = response_us + excluded.response_us, responses = responses + excluded.responses, unreplied = unreplied + excluded.unreplied;
END;
CREATE TRIGGER stats_conversation_deleted AFTER DELETE ON conversations FOR EACH ROW BEGIN
    INSERT INTO stats_conversations (platform, conversations, active, closed, messages, needing_human, escalated, handed, bot_resolved, response_us, responses, unreplied) SELECT OLD.platform AS platform, -1 * 1 AS conversations, -1 * (OLD.status = 'active') AS active, -1 * (OLD.status = 'closed') AS closed, -1 * OLD.message_count AS messages, -1 * OLD.needs_human AS needing_human, -1 * (OLD.escalated_at IS NOT NULL) AS escalated, -1 * (OLD.escalated_at IS NOT NULL OR OLD.first_human_reply_at IS NOT NULL OR OLD.handled_by = 'human') AS handed, -1 * (OLD.status = 'closed' AND OLD.escalated_at IS NULL AND OLD.first_human_reply_at IS NULL AND OLD.handled_by = 'bot') AS bot_resolved, -1 * coalesce(CASE WHEN OLD.first_human_reply_at >= OLD.escalated_at THEN ((CAST(strftime('%s', substr(OLD.first_human_reply_at, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr(OLD.escalated_at, 1, 19)) AS INTEGER)) * 1000000 + (CAST(substr(OLD.first_human_reply_at, 21, 6) AS INTEGER) - CAST(substr(OLD.escalated_at, 21, 6) AS INTEGER))) END, 0) AS response_us, -1 * coalesce(OLD.first_human_reply_at >= OLD.escalated_at, 0) AS responses, -1 * 0 AS unreplied WHERE true ON CONFLICT (platform) DO UPDATE SET conversations = conversations + excluded.conversations, active = active + excluded.active, closed = closed + excluded.closed, messages = messages + excluded.messages, needing_human = needing_human + excluded.needing_human, escalated = escalated + excluded.escalated, handed = handed + excluded.handed, bot_resolved = bot_resolved + excluded.bot_resolved, response_us = response_us + excluded.response_us, responses = responses + excluded.responses, unreplied = unreplied + excluded.unreplied;
END;
CREATE TRIGGER stats_message_inserted AFTER INSERT ON messages FOR EACH ROW BEGIN
    INSERT INTO stats_hourly (bucket_hour, messages, escalations) SELECT substr(NEW.created_at, 1, 13) AS bucket_hour, 1 AS messages, 1 * NEW.requires_human AS escalations WHERE true ON CONFLICT (bucket_hour) DO UPDATE SET messages = messages + excluded.messages, escalations = escalations + excluded.escalations;
    INSERT INTO stats_conversations (platform, conversations, active, closed, messages, needing_human, escalated, handed, bot_resolved, response_us, responses, unreplied) SELECT NEW.platform AS platform, 0 AS conversations, 0 AS active, 0 AS closed, 0 AS messages, 0 AS needing_human, 0 AS escalated, 0 AS handed, 0 AS bot_resolved, 0 AS response_us, 0 AS responses, 1 * (NEW.requires_human = 1 AND NEW.human_replied = 0) AS unreplied WHERE NEW.requires_human = 1 AND NEW.human_replied = 0 ON CONFLICT (platform) DO UPDATE SET conversations = conversations + excluded.conversations, active = active + excluded.active, closed = closed + excluded.closed, messages = messages + excluded.messages, needing_human = needing_human + excluded.needing_human, escalated = escalated + excluded.escalated, handed = handed + excluded.handed, bot_resolved = bot_resolved + excluded.bot_resolved, response_us = response_us + excluded.response_us, responses = responses + excluded.responses, unreplied = unreplied + excluded.unreplied;
END;
CREATE TRIGGER stats_message_updated AFTER UPDATE OF platform, created_at, requires_human, human_replied ON messages FOR EACH ROW BEGIN
    INSERT INTO stats_hourly (bucket_hour, messages, escalations) SELECT bucket_hour, sum(messages), sum(escalations) FROM (SELECT substr(NEW.created_at, 1, 13) AS bucket_hour, 1 AS messages, 1 * NEW.requires_human AS escalations UNION ALL SELECT substr(OLD.created_at, 1, 13) AS bucket_hour, -1 AS messages, -1 * OLD.requires_human AS escalations) GROUP BY bucket_hour HAVING sum(messages) <> 0 OR sum(escalations) <> 0 ON CONFLICT (bucket_hour) DO UPDATE SET messages = messages + excluded.messages, escalations = escalations + excluded.escalations;
    INSERT INTO stats_conversations (platform, conversations, active, closed, messages, needing_human, escalated, handed, bot_resolved, response_us, responses, unreplied) SELECT platform, sum(conversations), sum(active), sum(closed), sum(messages), sum(needing_human), sum(escalated), sum(handed), sum(bot_resolved), sum(response_us), sum(responses), sum(unreplied) FROM (SELECT NEW.platform AS platform, 0 AS conversations, 0 AS active, 0 AS closed, 0 AS messages, 0 AS needing_human, 0 AS escalated, 0 AS handed, 0 AS bot_resolved, 0 AS response_us, 0 AS responses, 1 * (NEW.requires_human = 1 AND NEW.human_replied = 0) AS unreplied UNION ALL SELECT OLD.platform AS platform, 0 AS conversations, 0 AS active, 0 AS closed, 0 AS messages, 0 AS needing_human, 0 AS escalated, 0 AS handed, 0 AS bot_resolved, 0 AS response_us, 0 AS responses, -1 * (OLD.requires_human = 1 AND OLD.human_replied = 0) AS unreplied) GROUP BY platform HAVING sum(conversations) <> 0 OR sum(active) <> 0 OR sum(closed) <> 0 OR sum(messages) <> 0 OR sum(needing_human) <> 0 OR sum(escalated) <> 0 OR sum(handed) <> 0 OR sum(bot_resolved) <> 0 OR sum(response_us) <> 0 OR sum(responses) <> 0 OR sum(unreplied) <> 0 ON CONFLICT (platform) DO UPDATE SET conversations = conversations + excluded.conversations, active = active + excluded.active, closed = closed + excluded.closed, messages = messages + excluded.messages, needing_human = needing_human + excluded.needing_human, escalated = escalated + excluded.escalated, handed = handed + excluded.handed, bot_resolved = bot_resolved + excluded.bot_resolved, response_us = response_us + excluded.response_us, responses = responses + excluded.responses, unreplied = unreplied + excluded.unreplied;
END;
CREATE TRIGGER stats_message_deleted AFTER DELETE ON messages FOR EACH ROW BEGIN
    INSERT INTO stats_hourly (bucket_hour, messages, escalations) SELECT substr(OLD.created_at, 1, 13) AS bucket_hour, -1 AS messages, -1 * OLD.requires_human AS escalations WHERE true ON CONFLICT (bucket_hour) DO UPDATE SET messages = messages + excluded.messages, escalations = escalations + excluded.escalations;
    INSERT INTO stats_conversations (platform, conversations, active, closed, messages, needing_human, escalated, handed, bot_resolved, response_us, responses, unreplied) SELECT OLD.platform AS platform, 0 AS conversations, 0 AS active, 0 AS closed, 0 AS messages, 0 AS needing_human, 0 AS escalated, 0 AS handed, 0 AS bot_resolved, 0 AS response_us, 0 AS responses, -1 * (OLD.requires_human = 1 AND OLD.human_replied = 0) AS unreplied WHERE OLD.requires_human = 1 AND OLD.human_replied = 0 ON CONFLICT (platform) DO UPDATE SET conversations = conversations + excluded.conversations, active = active + excluded.active, closed = closed + excluded.closed, messages = messages + excluded.messages, needing_human = needing_human + excluded.needing_human, escalated = escalated + excluded.escalated, handed = handed + excluded.handed, bot_resolved = bot_resolved + excluded.bot_resolved, response_us = response_us + excluded.response_us, responses = responses + excluded.responses, unreplied = unreplied + excluded.unreplied;
END;
CREATE TABLE search_progress ( name TEXT PRIMARY KEY, upto INTEGER NOT NULL) WITHOUT ROWID;
CREATE VIRTUAL TABLE messages_search USING fts5(text, content = '', detail = none, columnsize = 0, tokenize = 'trigram case_sensitive 1');
CREATE TRIGGER messages_search_catch_up AFTER INSERT ON messages WHEN NEW.id >= (SELECT upto FROM search_progress WHERE name = 'messages_search') + 32 BEGIN INSERT INTO messages_search (rowid, text) SELECT id, ufold(content) FROM messages WHERE id IN (SELECT id FROM messages WHERE id > (SELECT upto FROM search_progress WHERE name = 'messages_search') ORDER BY id LIMIT 256); UPDATE search_progress SET upto = (SELECT max(id) FROM (SELECT id FROM messages WHERE id > (SELECT upto FROM search_progress WHERE name = 'messages_search') ORDER BY id LIMIT 256)) WHERE name = 'messages_search'; END;
CREATE TRIGGER messages_search_updated AFTER UPDATE OF content ON messages WHEN NEW.content IS NOT OLD.content AND OLD.id <= (SELECT upto FROM search_progress WHERE name = 'messages_search') BEGIN INSERT INTO messages_search (messages_search, rowid, text) VALUES ('delete', OLD.id, ufold(OLD.content)); INSERT INTO messages_search (rowid, text) VALUES (NEW.id, ufold(NEW.content)); END;
CREATE TRIGGER messages_search_deleted AFTER DELETE ON messages WHEN OLD.id <= (SELECT upto FROM search_progress WHERE name = 'messages_search') BEGIN INSERT INTO messages_search (messages_search, rowid, text) VALUES ('delete', OLD.id, ufold(OLD.content)); END;
CREATE VIRTUAL TABLE conversations_search USING fts5(text, content = '', detail = none, columnsize = 0, tokenize = 'trigram case_sensitive 1');
CREATE TRIGGER conversations_search_catch_up AFTER INSERT ON conversations WHEN NEW.id >= (SELECT upto FROM search_progress WHERE name = 'conversations_search') + 32 BEGIN INSERT INTO conversations_search (rowid, text) SELECT id, ufold(display_name) FROM conversations WHERE id IN (SELECT id FROM conversations WHERE id > (SELECT upto FROM search_progress WHERE name = 'conversations_search') ORDER BY id LIMIT 256); UPDATE search_progress SET upto = (SELECT max(id) FROM (SELECT id FROM conversations WHERE id > (SELECT upto FROM search_progress WHERE name = 'conversations_search') ORDER BY id LIMIT 256)) WHERE name = 'conversations_search'; END;
CREATE TRIGGER conversations_search_updated AFTER UPDATE OF display_name ON conversations WHEN NEW.display_name IS NOT OLD.display_name AND OLD.id <= (SELECT upto FROM search_progress WHERE name = 'conversations_search') BEGIN INSERT INTO conversations_search (conversations_search, rowid, text) VALUES ('delete', OLD.id, ufold(OLD.display_name)); INSERT INTO conversations_search (rowid, text) VALUES (NEW.id, ufold(NEW.display_name)); END;
CREATE TRIGGER conversations_search_deleted AFTER DELETE ON conversations WHEN OLD.id <= (SELECT upto FROM search_progress WHERE name = 'conversations_search') BEGIN INSERT INTO conversations_search (conversations_search, rowid, text) VALUES ('delete', OLD.id, ufold(OLD.display_name)); END;

-- Scheduled LinkedIn posts. status: scheduled, published, failed. result_event_id is the
-- event the post's result emitted, returned again when the same result is reported twice.
CREATE TABLE posts (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    text             TEXT NOT NULL,
    media_urls       TEXT NOT NULL,
    status           TEXT NOT NULL,
    scheduled_at     INTEGER NOT NULL,
    published_at     INTEGER,
    linkedin_url     TEXT,
    failed_at        INTEGER,
    failure_reason   TEXT,
    failure_detail   TEXT,
    result_event_id  TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX posts_workspace ON posts (workspace_id, id);
CREATE INDEX posts_status ON posts (workspace_id, status, id);
-- What the scheduler sweeps: posts still waiting for a result, by time.
CREATE INDEX posts_unreported ON posts (scheduled_at) WHERE status = 'scheduled';

-- What the scheduler sweeps: campaigns not yet completed, by end date.
CREATE INDEX campaigns_active ON campaigns (ends_at) WHERE status = 'active';

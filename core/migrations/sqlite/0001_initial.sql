-- Times are whole microseconds since the Unix epoch; JSON columns hold UTF-8 text.

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    plan        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    public_id     TEXT NOT NULL UNIQUE,
    secret_hash   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);
CREATE INDEX api_tokens_workspace ON api_tokens (workspace_id, id);

CREATE TABLE campaigns (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    status        TEXT NOT NULL,
    targeting     TEXT NOT NULL,
    steps         TEXT NOT NULL,
    ends_at       INTEGER,
    target_leads  INTEGER,
    created_at    INTEGER NOT NULL,
    completed_at  INTEGER
);
CREATE INDEX campaigns_workspace ON campaigns (workspace_id, id);

CREATE TABLE leads (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    campaign_id       TEXT REFERENCES campaigns (id) ON DELETE SET NULL,
    name              TEXT,
    linkedin_url      TEXT,
    email             TEXT,
    company           TEXT,
    title             TEXT,
    stage             TEXT NOT NULL,
    owner             TEXT,
    tags              TEXT NOT NULL,
    custom_fields     TEXT NOT NULL,
    last_activity_at  INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX leads_workspace ON leads (workspace_id, id);
CREATE INDEX leads_stage ON leads (workspace_id, stage, id);
CREATE INDEX leads_campaign ON leads (workspace_id, campaign_id, id);
CREATE INDEX leads_activity ON leads (workspace_id, last_activity_at);

CREATE TABLE lead_tags (
    lead_id       TEXT NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    workspace_id  TEXT NOT NULL,
    tag           TEXT NOT NULL,
    PRIMARY KEY (lead_id, tag)
);
CREATE INDEX lead_tags_tag ON lead_tags (workspace_id, tag, lead_id);

CREATE TABLE lead_notes (
    id          TEXT PRIMARY KEY,
    lead_id     TEXT NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    text        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX lead_notes_lead ON lead_notes (lead_id, id);

CREATE TABLE lead_messages (
    id          TEXT PRIMARY KEY,
    lead_id     TEXT NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    direction   TEXT NOT NULL,
    text        TEXT NOT NULL,
    sent_at     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX lead_messages_lead ON lead_messages (lead_id, id);

CREATE TABLE lead_activities (
    id           TEXT PRIMARY KEY,
    lead_id      TEXT NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    type         TEXT NOT NULL,
    post_url     TEXT,
    occurred_at  INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX lead_activities_lead ON lead_activities (lead_id, id);

CREATE TABLE webhook_endpoints (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    url              TEXT NOT NULL,
    description      TEXT,
    events           TEXT NOT NULL,
    sealed_secret    TEXT NOT NULL,
    disabled         INTEGER NOT NULL DEFAULT 0,
    disabled_reason  TEXT,
    created_at       INTEGER NOT NULL,
    deleted_at       INTEGER
);
CREATE INDEX webhook_endpoints_workspace ON webhook_endpoints (workspace_id, id);

CREATE TABLE events (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX events_workspace ON events (workspace_id, id);

-- One row per (event, endpoint). status: pending, succeeded, failed, cancelled.
CREATE TABLE deliveries (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    event_id          TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint_id       TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    status            TEXT NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER,
    first_attempt_at  INTEGER,
    claimed_by        TEXT,
    claimed_until     INTEGER,
    created_at        INTEGER NOT NULL,
    finished_at       INTEGER
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, status);
CREATE INDEX deliveries_workspace ON deliveries (workspace_id, status);

CREATE TABLE delivery_attempts (
    id                TEXT PRIMARY KEY,
    delivery_id       TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    workspace_id      TEXT NOT NULL,
    endpoint_id       TEXT NOT NULL,
    event_id          TEXT NOT NULL,
    event_type        TEXT NOT NULL,
    attempt           INTEGER NOT NULL,
    attempted_at      INTEGER NOT NULL,
    duration_ms       INTEGER NOT NULL,
    status_code       INTEGER,
    error             TEXT,
    response_excerpt  TEXT,
    succeeded         INTEGER NOT NULL,
    next_retry_at     INTEGER
);
CREATE INDEX delivery_attempts_endpoint ON delivery_attempts (endpoint_id, id);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);

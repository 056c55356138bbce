-- The PostgreSQL schema, equal in meaning to the SQLite one: times are whole microseconds
-- since the Unix epoch, JSON columns hold UTF-8 text, flags are 0 or 1. Ids and the keys
-- lists are paged by compare bytewise (collation "C"), as SQLite does, so a cursor means
-- the same on both.

CREATE TABLE workspaces (
    id                         TEXT COLLATE "C" PRIMARY KEY,
    name                       TEXT NOT NULL UNIQUE,
    plan                       TEXT NOT NULL,
    created_at                 BIGINT NOT NULL,
    seats                      BIGINT,
    requests_per_minute        BIGINT,
    webhook_events_per_minute  BIGINT,
    cancelled_at               BIGINT
);

CREATE TABLE api_tokens (
    id            TEXT COLLATE "C" PRIMARY KEY,
    workspace_id  TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    public_id     TEXT COLLATE "C" NOT NULL UNIQUE,
    secret_hash   TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    scopes        TEXT NOT NULL DEFAULT '["admin"]',
    seat          TEXT,
    expires_at    BIGINT,
    replaced_by   TEXT COLLATE "C"
);
CREATE INDEX api_tokens_workspace ON api_tokens (workspace_id, id);
CREATE INDEX api_tokens_seat ON api_tokens (workspace_id, seat) WHERE seat IS NOT NULL;

CREATE TABLE campaigns (
    id            TEXT COLLATE "C" PRIMARY KEY,
    workspace_id  TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    status        TEXT NOT NULL,
    targeting     TEXT NOT NULL,
    steps         TEXT NOT NULL,
    ends_at       BIGINT,
    target_leads  BIGINT,
    created_at    BIGINT NOT NULL,
    completed_at  BIGINT
);
CREATE INDEX campaigns_workspace ON campaigns (workspace_id, id);
CREATE INDEX campaigns_active ON campaigns (ends_at) WHERE status = 'active';

CREATE TABLE leads (
    id                TEXT COLLATE "C" PRIMARY KEY,
    workspace_id      TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    campaign_id       TEXT COLLATE "C" REFERENCES campaigns (id) ON DELETE SET NULL,
    name              TEXT,
    linkedin_url      TEXT,
    email             TEXT,
    company           TEXT,
    title             TEXT,
    stage             TEXT NOT NULL,
    owner             TEXT,
    tags              TEXT NOT NULL,
    custom_fields     TEXT NOT NULL,
    last_activity_at  BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX leads_workspace ON leads (workspace_id, id);
CREATE INDEX leads_stage ON leads (workspace_id, stage, id);
CREATE INDEX leads_campaign ON leads (workspace_id, campaign_id, id);
CREATE INDEX leads_activity ON leads (workspace_id, last_activity_at);

CREATE TABLE lead_tags (
    lead_id       TEXT COLLATE "C" NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    workspace_id  TEXT COLLATE "C" NOT NULL,
    tag           TEXT NOT NULL,
    PRIMARY KEY (lead_id, tag)
);
CREATE INDEX lead_tags_tag ON lead_tags (workspace_id, tag, lead_id);

CREATE TABLE lead_notes (
    id          TEXT COLLATE "C" PRIMARY KEY,
    lead_id     TEXT COLLATE "C" NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    text        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX lead_notes_lead ON lead_notes (lead_id, id);

CREATE TABLE lead_messages (
    id          TEXT COLLATE "C" PRIMARY KEY,
    lead_id     TEXT COLLATE "C" NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    direction   TEXT NOT NULL,
    text        TEXT NOT NULL,
    sent_at     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX lead_messages_lead ON lead_messages (lead_id, id);

CREATE TABLE lead_activities (
    id           TEXT COLLATE "C" PRIMARY KEY,
    lead_id      TEXT COLLATE "C" NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    type         TEXT NOT NULL,
    post_url     TEXT,
    occurred_at  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX lead_activities_lead ON lead_activities (lead_id, id);

CREATE TABLE webhook_endpoints (
    id               TEXT COLLATE "C" PRIMARY KEY,
    workspace_id     TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    url              TEXT NOT NULL,
    description      TEXT,
    events           TEXT NOT NULL,
    sealed_secret    TEXT NOT NULL,
    disabled         BIGINT NOT NULL DEFAULT 0,
    disabled_reason  TEXT,
    created_at       BIGINT NOT NULL,
    deleted_at       BIGINT,
    format           TEXT NOT NULL DEFAULT 'json'
        CHECK (format IN ('json', 'slack', 'discord'))
);
CREATE INDEX webhook_endpoints_workspace ON webhook_endpoints (workspace_id, id);

CREATE TABLE events (
    id            TEXT COLLATE "C" PRIMARY KEY,
    workspace_id  TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX events_workspace ON events (workspace_id, id);

-- One row per (event, endpoint). status: pending, succeeded, failed, cancelled.
CREATE TABLE deliveries (
    id                TEXT COLLATE "C" PRIMARY KEY,
    workspace_id      TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    event_id          TEXT COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint_id       TEXT COLLATE "C" NOT NULL
        REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    status            TEXT NOT NULL,
    attempts          BIGINT NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT,
    first_attempt_at  BIGINT,
    claimed_by        TEXT,
    claimed_until     BIGINT,
    created_at        BIGINT NOT NULL,
    finished_at       BIGINT
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, status);
CREATE INDEX deliveries_workspace ON deliveries (workspace_id, status);
CREATE INDEX deliveries_claimed ON deliveries (claimed_by) WHERE claimed_by IS NOT NULL;

CREATE TABLE delivery_attempts (
    id                TEXT COLLATE "C" PRIMARY KEY,
    delivery_id       TEXT COLLATE "C" NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    workspace_id      TEXT COLLATE "C" NOT NULL,
    endpoint_id       TEXT COLLATE "C" NOT NULL,
    event_id          TEXT COLLATE "C" NOT NULL,
    event_type        TEXT NOT NULL,
    attempt           BIGINT NOT NULL,
    attempted_at      BIGINT NOT NULL,
    duration_ms       BIGINT NOT NULL,
    status_code       BIGINT,
    error             TEXT,
    response_excerpt  TEXT,
    succeeded         BIGINT NOT NULL,
    next_retry_at     BIGINT,
    outcome           TEXT
);
CREATE INDEX delivery_attempts_endpoint ON delivery_attempts (endpoint_id, id);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);

CREATE TABLE audit_log (
    id            TEXT COLLATE "C" PRIMARY KEY,
    workspace_id  TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    token_id      TEXT NOT NULL,
    token_name    TEXT NOT NULL,
    seat          TEXT,
    method        TEXT NOT NULL,
    route         TEXT NOT NULL,
    path          TEXT NOT NULL,
    status        BIGINT NOT NULL,
    at            BIGINT NOT NULL
);
CREATE INDEX audit_log_workspace ON audit_log (workspace_id, id);

-- A key is held while its first request runs (status NULL), then keeps that response.
CREATE TABLE idempotency_keys (
    workspace_id   TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    key            TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    status         BIGINT,
    response_body  BYTEA,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, key)
);

-- Scheduled LinkedIn posts. status: scheduled, published, failed.
CREATE TABLE posts (
    id               TEXT COLLATE "C" PRIMARY KEY,
    workspace_id     TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    text             TEXT NOT NULL,
    media_urls       TEXT NOT NULL,
    status           TEXT NOT NULL,
    scheduled_at     BIGINT NOT NULL,
    published_at     BIGINT,
    linkedin_url     TEXT,
    failed_at        BIGINT,
    failure_reason   TEXT,
    failure_detail   TEXT,
    result_event_id  TEXT COLLATE "C",
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX posts_workspace ON posts (workspace_id, id);
CREATE INDEX posts_status ON posts (workspace_id, status, id);
CREATE INDEX posts_unreported ON posts (scheduled_at) WHERE status = 'scheduled';

-- Emails are stored in lowercase, so the key compares them without case.
CREATE TABLE workspace_members (
    workspace_id  TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    role          TEXT NOT NULL,
    added_at      BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, email)
);

CREATE TABLE watchtower_signals (
    id            TEXT COLLATE "C" PRIMARY KEY,
    workspace_id  TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    lead_id       TEXT COLLATE "C" REFERENCES leads (id) ON DELETE SET NULL,
    company       TEXT,
    title         TEXT NOT NULL,
    detail        TEXT,
    url           TEXT,
    occurred_at   BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX watchtower_signals_workspace ON watchtower_signals (workspace_id, id);
CREATE INDEX watchtower_signals_type ON watchtower_signals (workspace_id, type, id);
CREATE INDEX watchtower_signals_lead ON watchtower_signals (workspace_id, lead_id, id);

-- Cancellation and members of a workspace, and the Watchtower signals it receives.

ALTER TABLE workspaces ADD COLUMN cancelled_at INTEGER;

-- Emails are stored in lowercase, so the key compares them without case.
CREATE TABLE workspace_members (
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    role          TEXT NOT NULL,
    added_at      INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, email)
);

CREATE TABLE watchtower_signals (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    lead_id       TEXT REFERENCES leads (id) ON DELETE SET NULL,
    company       TEXT,
    title         TEXT NOT NULL,
    detail        TEXT,
    url           TEXT,
    occurred_at   INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX watchtower_signals_workspace ON watchtower_signals (workspace_id, id);
CREATE INDEX watchtower_signals_type ON watchtower_signals (workspace_id, type, id);
CREATE INDEX watchtower_signals_lead ON watchtower_signals (workspace_id, lead_id, id);

-- Token scopes, seats, expiry and rotation; workspace seats and limit overrides; the API
-- audit log; idempotency keys of POST requests.

ALTER TABLE workspaces ADD COLUMN seats INTEGER;
ALTER TABLE workspaces ADD COLUMN requests_per_minute INTEGER;
ALTER TABLE workspaces ADD COLUMN webhook_events_per_minute INTEGER;

ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT '["admin"]';
ALTER TABLE api_tokens ADD COLUMN seat TEXT;
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE api_tokens ADD COLUMN replaced_by TEXT;
CREATE INDEX api_tokens_seat ON api_tokens (workspace_id, seat) WHERE seat IS NOT NULL;

CREATE TABLE audit_log (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    token_id      TEXT NOT NULL,
    token_name    TEXT NOT NULL,
    seat          TEXT,
    method        TEXT NOT NULL,
    route         TEXT NOT NULL,
    path          TEXT NOT NULL,
    status        INTEGER NOT NULL,
    at            INTEGER NOT NULL
);
CREATE INDEX audit_log_workspace ON audit_log (workspace_id, id);

-- A key is held while its first request runs (status NULL), then keeps that response.
CREATE TABLE idempotency_keys (
    workspace_id   TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    key            TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    status         INTEGER,
    response_body  BLOB,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, key)
);

-- What followed each attempt: delivered, retry_scheduled, failed (for good), endpoint_gone.
ALTER TABLE delivery_attempts ADD COLUMN outcome TEXT;

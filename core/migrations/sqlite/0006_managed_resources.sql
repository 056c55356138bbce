-- Rows declared as Kubernetes resources. A workspace keeps the uid of the Workspace
-- resource that owns it (so a re-read resource finds it again); tokens and endpoints name
-- their resource, and the REST API refuses to change them. Suspension stops a workspace's
-- tokens until it is lifted.
ALTER TABLE workspaces ADD COLUMN managed_uid TEXT;
ALTER TABLE workspaces ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX workspaces_managed_uid ON workspaces (managed_uid)
    WHERE managed_uid IS NOT NULL;
ALTER TABLE api_tokens ADD COLUMN managed_by TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN managed_by TEXT;

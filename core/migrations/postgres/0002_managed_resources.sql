-- Workspaces declared as Kubernetes resources: the uid of the Workspace resource that owns
-- the row (so a renamed or re-read resource finds it again), and suspension, which stops
-- the workspace's tokens until it is lifted.
ALTER TABLE workspaces ADD COLUMN managed_uid TEXT;
ALTER TABLE workspaces ADD COLUMN suspended BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX workspaces_managed_uid ON workspaces (managed_uid)
    WHERE managed_uid IS NOT NULL;

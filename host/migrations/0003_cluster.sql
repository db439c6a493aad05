-- Run requests from webhooks received by any worker: one row per
-- workspace, connection and entity, so a burst of notifications becomes
-- one pending request (and one run) however many workers received it.
CREATE TABLE ferry_requests (
    workspace  text        NOT NULL,
    connection text        NOT NULL,
    entity     text        NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace, connection, entity)
);

-- What belongs to the cluster rather than to one workspace (its API
-- tokens), by key.
CREATE TABLE ferry_cluster_meta (
    key   text  PRIMARY KEY,
    value jsonb NOT NULL
);

-- When the holder last renewed its lease: its heartbeat.
ALTER TABLE ferry_leases ADD COLUMN renewed_at timestamptz;

-- Requests each vendor account was sent today (UTC), by every process:
-- what a daily budget on the organisation has used.
ALTER TABLE ferry_pacing ADD COLUMN day date, ADD COLUMN calls bigint NOT NULL DEFAULT 0;

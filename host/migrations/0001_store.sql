-- Ferry's state on PostgreSQL: the same ordered key-value spaces as the
-- embedded engines (redb, sled), one row per key, keyed by workspace, so
-- one record's commit stays one transaction. bytea compares byte by byte
-- (then by length), the order the embedded engines keep.
CREATE TABLE ferry_kv (
    workspace text     NOT NULL,
    -- 0: state (links, snapshots, cursors, intents, fired, runs, ledger),
    -- 1: the service's bookkeeping (sealed), 2: OAuth tokens (sealed).
    space     smallint NOT NULL,
    key       bytea    NOT NULL,
    value     bytea    NOT NULL,
    PRIMARY KEY (workspace, space, key)
);

-- Orders ledger rows across every worker and restart.
CREATE SEQUENCE ferry_ids;

-- Who may write a workspace's state. A claim takes a free or expired row
-- and increments its epoch; every write checks the epoch it was opened
-- with (fencing), so a holder that lost its lease commits nothing.
CREATE TABLE ferry_leases (
    workspace  text        PRIMARY KEY,
    holder     text,
    epoch      bigint      NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL DEFAULT now(),
    -- When the workspace next has a run due (workers claim due ones).
    due_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ferry_leases_due ON ferry_leases (due_at);

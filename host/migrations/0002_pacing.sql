-- Pacing shared by every process on this database: one row per vendor
-- account (connector, endpoint, organisation), holding when its next
-- request slot starts. Each request moves it on by one interval.
CREATE TABLE ferry_pacing (
    key      text        PRIMARY KEY,
    next_at  timestamptz NOT NULL
);

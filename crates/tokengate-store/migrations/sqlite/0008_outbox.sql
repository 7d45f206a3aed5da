-- tokengate SQLite schema, version 8: the outbox of notifications (SPEC §12).
-- `outbox`: one notice per change that notifies, written in the change's transaction, or per
-- expiry stage of a token (`notice_key` makes those unique across nodes). `planned_at` is set
-- when a node has written the notice's `deliveries`: one row per e-mail or webhook, sent
-- under a claim (`claimed_by` until `claimed_until`, a lease) and retried until settled.
-- Times are INTEGER unix milliseconds, UTC.

CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    event      TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    user_name  TEXT,
    token_id   TEXT,
    data       TEXT    NOT NULL, -- JSON
    mail       TEXT,             -- JSON, or NULL: no e-mail
    notice_key TEXT    UNIQUE,
    planned_at INTEGER
) STRICT;

CREATE INDEX outbox_unplanned ON outbox (id) WHERE planned_at IS NULL;

CREATE TABLE deliveries (
    id            TEXT    PRIMARY KEY,
    notice_id     INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    channel       TEXT    NOT NULL CHECK (channel IN ('email', 'webhook')),
    destination   TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    due_at        INTEGER NOT NULL,
    claimed_by    TEXT,
    claimed_until INTEGER,
    last_error    TEXT,
    finished_at   INTEGER
) STRICT;

CREATE INDEX deliveries_due ON deliveries (due_at, id) WHERE state = 'pending';
CREATE INDEX deliveries_by_notice ON deliveries (notice_id);
CREATE INDEX deliveries_by_state ON deliveries (state, created_at);

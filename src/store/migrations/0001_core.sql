-- 0001: core schema. Shipped migrations are append-only: never edit this
-- file once released; add a new numbered one instead.
-- Times are INTEGER unix milliseconds UTC.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE systems (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    serial         TEXT NOT NULL UNIQUE,
    contract       TEXT,
    product_number TEXT,
    cmdb_ci        TEXT
) STRICT;

-- Incidents as last seen from ServiceNow.
CREATE TABLE incidents (
    sys_id            TEXT PRIMARY KEY,
    number            TEXT NOT NULL UNIQUE,
    short_description TEXT NOT NULL,
    description       TEXT NOT NULL,
    state             TEXT NOT NULL,
    priority          TEXT NOT NULL,
    cmdb_ci           TEXT,
    sys_mod_count     INTEGER NOT NULL,
    sys_updated_on    TEXT NOT NULL,
    raw_json          TEXT NOT NULL,
    seen_at           INTEGER NOT NULL
) STRICT;

CREATE TABLE cases (
    id                INTEGER PRIMARY KEY,
    incident_number   TEXT NOT NULL,
    seq               INTEGER NOT NULL CHECK (seq >= 1),
    tracking_number   TEXT NOT NULL UNIQUE,
    requester_id      TEXT NOT NULL,
    provider_id       TEXT UNIQUE,
    state             INTEGER NOT NULL CHECK (state BETWEEN 0 AND 7),
    workflow_status   TEXT,
    provider_priority TEXT,
    severity          TEXT NOT NULL,
    title             TEXT NOT NULL,
    description       TEXT NOT NULL,
    system_id         INTEGER REFERENCES systems(id),
    opened_by         TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    sent_at           INTEGER,
    UNIQUE (incident_number, seq)
) STRICT;

-- SIS states 1 (Not_Entitled) and 7 (Closed) are finished; a RequesterID is
-- unique only among cases that are not.
CREATE UNIQUE INDEX cases_requester_id_unfinished
    ON cases(requester_id) WHERE state NOT IN (1, 7);

-- `seq` is a strict, never reused order: AUTOINCREMENT forbids reuse of the
-- highest rowid after a delete.
CREATE TABLE outbox (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id          INTEGER NOT NULL REFERENCES cases(id),
    transaction_name TEXT NOT NULL,
    body             TEXT NOT NULL,
    state_after      INTEGER CHECK (state_after BETWEEN 0 AND 7),
    state            TEXT NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'parked', 'acked', 'inferred', 'dropped')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    acked_at         INTEGER
) STRICT;

CREATE TABLE journal (
    id         INTEGER PRIMARY KEY,
    case_id    INTEGER NOT NULL REFERENCES cases(id),
    origin     TEXT NOT NULL CHECK (origin IN ('local', 'hpe', 'servicenow')),
    kind       TEXT NOT NULL,
    author     TEXT NOT NULL,
    text       TEXT NOT NULL,
    event_at   INTEGER NOT NULL,
    remote_id  TEXT,
    state      TEXT NOT NULL
               CHECK (state IN ('pending', 'sent', 'failed', 'dropped', 'received')),
    outbox_seq INTEGER REFERENCES outbox(seq),
    created_at INTEGER NOT NULL,
    UNIQUE (origin, remote_id)
) STRICT;

CREATE TABLE inbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id   TEXT UNIQUE,
    raw          BLOB NOT NULL,
    received_at  INTEGER NOT NULL,
    via          TEXT NOT NULL CHECK (via IN ('pull', 'push')),
    state        TEXT NOT NULL DEFAULT 'new'
                 CHECK (state IN ('new', 'processed', 'quarantined')),
    processed_at INTEGER
) STRICT;

CREATE TABLE quarantine (
    id             INTEGER PRIMARY KEY,
    sha256         TEXT NOT NULL UNIQUE,
    raw            BLOB NOT NULL,
    size           INTEGER NOT NULL,
    reason         TEXT NOT NULL,
    first_seen_at  INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 1,
    inbox_id       INTEGER REFERENCES inbox(id),
    state          TEXT NOT NULL DEFAULT 'open'
                   CHECK (state IN ('open', 'replayed', 'discarded'))
) STRICT;

-- 0002: onsite tasks and part orders with their timelines, the audit log,
-- and the indexes the engine's hot queries use.

CREATE TABLE onsite_tasks (
    id              INTEGER PRIMARY KEY,
    case_id         INTEGER NOT NULL REFERENCES cases(id),
    task_id         TEXT NOT NULL,
    status          TEXT,
    status_known    INTEGER NOT NULL DEFAULT 1,
    scheduled_start TEXT,
    engineer_eta    TEXT,
    description     TEXT,
    completion      TEXT,
    -- Sort key of the newest update applied, so older ones only fill gaps.
    latest_at       INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (case_id, task_id)
) STRICT;

CREATE TABLE task_events (
    id           INTEGER PRIMARY KEY,
    record_id    INTEGER NOT NULL REFERENCES onsite_tasks(id),
    status       TEXT NOT NULL,
    status_known INTEGER NOT NULL,
    -- As given (normalised by the parser when parseable); '' when absent so
    -- that the unique key still holds.
    event_time   TEXT NOT NULL,
    event_at     INTEGER,
    raw_text     TEXT,
    inbox_id     INTEGER REFERENCES inbox(id),
    created_at   INTEGER NOT NULL,
    UNIQUE (record_id, status, event_time)
) STRICT;

CREATE TABLE part_orders (
    id                  INTEGER PRIMARY KEY,
    case_id             INTEGER NOT NULL REFERENCES cases(id),
    order_id            TEXT NOT NULL,
    status              TEXT,
    status_known        INTEGER NOT NULL DEFAULT 1,
    part_number         TEXT,
    part_description    TEXT,
    quantity            INTEGER,
    carrier             TEXT,
    tracking_number     TEXT,
    eta                 TEXT,
    return_required     INTEGER,
    return_status       TEXT,
    return_status_known INTEGER,
    latest_at           INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (case_id, order_id)
) STRICT;

CREATE TABLE part_events (
    id           INTEGER PRIMARY KEY,
    record_id    INTEGER NOT NULL REFERENCES part_orders(id),
    status       TEXT NOT NULL,
    status_known INTEGER NOT NULL,
    event_time   TEXT NOT NULL,
    event_at     INTEGER,
    raw_text     TEXT,
    inbox_id     INTEGER REFERENCES inbox(id),
    created_at   INTEGER NOT NULL,
    UNIQUE (record_id, status, event_time)
) STRICT;

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    case_id INTEGER REFERENCES cases(id),
    action  TEXT NOT NULL,
    detail  TEXT NOT NULL
) STRICT;

CREATE INDEX audit_case ON audit(case_id, id);
CREATE INDEX outbox_state_seq ON outbox(state, seq);
CREATE INDEX outbox_case_state ON outbox(case_id, state, seq);
CREATE INDEX journal_case ON journal(case_id, event_at, id);
CREATE INDEX journal_outbox ON journal(outbox_seq);
CREATE INDEX inbox_state ON inbox(state, id);
CREATE INDEX cases_incident ON cases(incident_number, seq);

-- Who did what, against what, from where: every start, cancel and delete, every login and
-- every change to users and tokens, refused ones included. Rows are only ever added.
-- `created_at` is Unix nanoseconds; `username` is null in development mode (no users).
CREATE TABLE audit_log (
    audit_id   INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    username   TEXT,
    role       TEXT,
    action     TEXT    NOT NULL,
    subject    TEXT,
    target     TEXT,
    address    TEXT,
    outcome    TEXT    NOT NULL,
    detail     TEXT
) STRICT;
CREATE INDEX audit_log_created ON audit_log (created_at);
CREATE INDEX audit_log_user ON audit_log (username, created_at);
CREATE INDEX audit_log_action ON audit_log (action, created_at);

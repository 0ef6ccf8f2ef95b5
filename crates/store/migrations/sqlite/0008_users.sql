-- People who may use the API: a password hash (argon2id, as a PHC string), a role
-- (viewer, operator, admin) and whether they are disabled. Times are Unix nanoseconds.
CREATE TABLE users (
    username      TEXT    PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

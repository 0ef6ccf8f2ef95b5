-- API tokens (for CI and scripts) and dashboard sessions. Only SHA-256 hashes of the secrets
-- are kept: a token or session cookie is 256 random bits, so a fast hash is enough.
CREATE TABLE api_tokens (
    token_id     TEXT    PRIMARY KEY,
    username     TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (username);

CREATE TABLE sessions (
    session_hash TEXT    PRIMARY KEY,
    username     TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX sessions_user ON sessions (username);

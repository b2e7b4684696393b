-- Web dashboard sign-in: used single-use link nonces and server-side sessions.
-- Only a SHA-256 of each session token is kept, so a copy of the database opens no session.
CREATE TABLE web_link_nonces (
    nonce       TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    used_at     TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX ix_web_link_nonces_expires ON web_link_nonces(expires_at);

CREATE TABLE web_sessions (
    session_hash TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX ix_web_sessions_user ON web_sessions(user_id);
CREATE INDEX ix_web_sessions_expires ON web_sessions(expires_at);

-- The files executors produced (issue 13), collected from the workspace when the executor activity ends, so
-- whichever worker delivers the report later (another host, with another disk) has the bytes. ``content`` is
-- the redacted file, NULL when the file is past a cap (``skipped`` says which): those are listed, not uploaded.
-- ``file_id`` is written after Slack issued an upload URL and took the bytes, ``shared_at`` once the file is in
-- the day's thread: a retry that finds a file_id without shared_at looks for it in the thread before sharing.
CREATE TABLE artifacts (
    user_id      TEXT NOT NULL,
    task_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    workflow_id  TEXT NOT NULL,
    day          TEXT NOT NULL,
    size         INTEGER NOT NULL,
    mime         TEXT NOT NULL,
    content      BLOB,
    skipped      TEXT,
    file_id      TEXT,
    shared_at    TEXT,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (user_id, task_id, name)
);
CREATE INDEX ix_artifacts_run ON artifacts(user_id, workflow_id);
CREATE INDEX ix_artifacts_day ON artifacts(user_id, day);

-- The e-mail copy of a day's report: one row per day, written before sending (with the Message-ID the
-- message will carry, so a resend after a crash is the same message) and marked sent or failed after.
CREATE TABLE email_reports (
    user_id      TEXT NOT NULL,
    workflow_id  TEXT NOT NULL,
    day          TEXT NOT NULL,
    address      TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    status       TEXT NOT NULL,
    error        TEXT,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (user_id, workflow_id)
);

-- Dayshift schema v1: the spec's tables plus audit, escalations, sessions, budget and idempotency.
CREATE TABLE users (
    user_id              TEXT PRIMARY KEY,
    email                TEXT,
    display_name         TEXT,
    timezone             TEXT NOT NULL DEFAULT 'UTC',
    preferred_start_time TEXT NOT NULL DEFAULT '08:00',
    slack_channel        TEXT,
    paused               INTEGER NOT NULL DEFAULT 0,
    daily_budget_usd     REAL,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);

CREATE TABLE workflows (
    workflow_id      TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    day              TEXT NOT NULL,
    start_time       TEXT,
    end_time         TEXT,
    deadline         TEXT,
    status           TEXT NOT NULL,
    main_agent_id    TEXT,
    thread_channel   TEXT,
    thread_ts        TEXT,
    status_ts        TEXT,
    report_json      TEXT,
    report_delivered INTEGER NOT NULL DEFAULT 0,
    report_ts        TEXT,
    snapshot_json    TEXT,
    updated_at       TEXT NOT NULL
);
CREATE INDEX ix_workflows_user_day ON workflows(user_id, day);

CREATE TABLE tasks (
    task_id         TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    short_id        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    generated_by    TEXT NOT NULL,
    assigned_to     TEXT,
    description     TEXT NOT NULL,
    capabilities    TEXT NOT NULL DEFAULT '[]',
    category        TEXT NOT NULL DEFAULT 'general',
    status          TEXT NOT NULL,
    start_time      TEXT,
    end_time        TEXT,
    output          TEXT,
    error_message   TEXT,
    retry_count     INTEGER NOT NULL DEFAULT 0,
    workflow_id     TEXT,
    progress        INTEGER NOT NULL DEFAULT 0,
    progress_note   TEXT,
    source_ref      TEXT,
    cost_usd        REAL NOT NULL DEFAULT 0,
    input_tokens    INTEGER NOT NULL DEFAULT 0,
    output_tokens   INTEGER NOT NULL DEFAULT 0,
    updated_at      TEXT NOT NULL
);
CREATE INDEX ix_tasks_user ON tasks(user_id);
CREATE INDEX ix_tasks_user_status ON tasks(user_id, status);
CREATE INDEX ix_tasks_created ON tasks(created_at);
CREATE INDEX ix_tasks_assigned ON tasks(assigned_to);
CREATE INDEX ix_tasks_workflow ON tasks(workflow_id);
CREATE UNIQUE INDEX ux_tasks_source ON tasks(user_id, source_ref) WHERE source_ref IS NOT NULL;

CREATE TABLE task_history (
    task_id         TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    day             TEXT NOT NULL,
    short_id        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    generated_by    TEXT NOT NULL,
    assigned_to     TEXT,
    description     TEXT NOT NULL,
    capabilities    TEXT NOT NULL DEFAULT '[]',
    category        TEXT NOT NULL DEFAULT 'general',
    status          TEXT NOT NULL,
    start_time      TEXT,
    end_time        TEXT,
    output          TEXT,
    error_message   TEXT,
    retry_count     INTEGER NOT NULL DEFAULT 0,
    workflow_id     TEXT,
    progress        INTEGER NOT NULL DEFAULT 0,
    cost_usd        REAL NOT NULL DEFAULT 0,
    input_tokens    INTEGER NOT NULL DEFAULT 0,
    output_tokens   INTEGER NOT NULL DEFAULT 0,
    archived_at     TEXT NOT NULL
);
CREATE INDEX ix_history_user_day ON task_history(user_id, day);
CREATE INDEX ix_history_user_status ON task_history(user_id, status, day);
CREATE INDEX ix_history_user_category ON task_history(user_id, category, status);
CREATE INDEX ix_history_created ON task_history(created_at);
CREATE INDEX ix_history_assigned ON task_history(assigned_to);

CREATE TABLE agent_state (
    user_id      TEXT NOT NULL,
    state_key    TEXT NOT NULL,
    state_value  TEXT NOT NULL,
    agent_id     TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (user_id, state_key)
);

CREATE TABLE task_events (
    event_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id      TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    workflow_id  TEXT,
    at           TEXT NOT NULL,
    kind         TEXT NOT NULL,
    from_status  TEXT,
    to_status    TEXT,
    attempt      INTEGER,
    message      TEXT
);
CREATE INDEX ix_events_task ON task_events(task_id);
CREATE INDEX ix_events_user_at ON task_events(user_id, at);

CREATE TABLE escalations (
    escalation_id TEXT PRIMARY KEY,
    task_id       TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    workflow_id   TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    reason        TEXT NOT NULL,
    suggestion    TEXT,
    attempts      INTEGER NOT NULL,
    delivered     INTEGER NOT NULL DEFAULT 0,
    dm_channel    TEXT,
    dm_ts         TEXT,
    resolution    TEXT,
    resolved_at   TEXT
);
CREATE INDEX ix_escalations_user ON escalations(user_id, task_id);

CREATE TABLE agent_sessions (
    project_key  TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    subpath      TEXT NOT NULL DEFAULT '',
    seq          INTEGER NOT NULL,
    entry_uuid   TEXT,
    entry_json   TEXT NOT NULL,
    mtime_ms     INTEGER NOT NULL,
    PRIMARY KEY (project_key, session_id, subpath, seq)
);
CREATE UNIQUE INDEX ux_sessions_uuid ON agent_sessions(project_key, session_id, subpath, entry_uuid)
    WHERE entry_uuid IS NOT NULL;

CREATE TABLE cost_ledger (
    entry_id      TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    day           TEXT NOT NULL,
    task_id       TEXT,
    agent_kind    TEXT NOT NULL,
    reserved_usd  REAL NOT NULL,
    actual_usd    REAL,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    settled_at    TEXT
);
CREATE INDEX ix_ledger_user_day ON cost_ledger(user_id, day);

CREATE TABLE tool_calls (
    idempotency_key TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    tool            TEXT NOT NULL,
    result          TEXT NOT NULL,
    created_at      TEXT NOT NULL
);

CREATE TABLE denials (
    denial_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     TEXT NOT NULL,
    task_id     TEXT,
    tool        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX ix_denials_user ON denials(user_id, task_id);

CREATE TABLE processed_events (
    event_key  TEXT PRIMARY KEY,
    seen_at    TEXT NOT NULL
);

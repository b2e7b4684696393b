-- Every Slack post the day makes, keyed by what it is (a day's thread parent, its report, an escalation DM).
-- The row is written before the post and its ts right after, so a retry edits the message instead of
-- posting a second one; a row without ts means an earlier attempt may have posted: look it up first.
CREATE TABLE slack_posts (
    post_key    TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    channel     TEXT NOT NULL,
    thread_ts   TEXT,
    ts          TEXT,
    created_at  TEXT NOT NULL,
    posted_at   TEXT
);
CREATE INDEX ix_slack_posts_user ON slack_posts(user_id);

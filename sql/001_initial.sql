-- hookpipe schema v1: every delivery becomes one row in events (deduplicated by
-- event_key) or, when PostgreSQL cannot take it, one row in dead_letters.
-- Applied once by hookpipe-writer under an advisory lock; see README "writer".

CREATE SCHEMA IF NOT EXISTS hookpipe;

-- The writer creates this table itself before applying migrations (it records them here).
CREATE TABLE IF NOT EXISTS hookpipe.schema_migrations (
    version    integer PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hookpipe.events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text        NOT NULL,             -- [source.NAME] the delivery came in on
    event       text        NOT NULL,             -- body "event", e.g. meeting.started
    event_ts    timestamptz,                      -- body "event_ts" (ms), NULL when absent
    account_id  text,                             -- body payload.account_id
    received_at timestamptz NOT NULL,             -- when the gateway received it
    event_key   bytea       NOT NULL UNIQUE,      -- identifies the notification (README)
    payload     jsonb       NOT NULL,             -- the whole body
    delivery_id text,                             -- the gateway's id (its 200 answer)
    request_id  text,                             -- x-zm-request-id, percent-encoded
    inserted_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX events_event_ts_idx ON hookpipe.events (event, event_ts);
CREATE INDEX events_account_ts_idx ON hookpipe.events (account_id, event_ts);
CREATE INDEX events_received_at_idx ON hookpipe.events (received_at);

CREATE TABLE hookpipe.dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text,                             -- NULL when the envelope was unreadable
    received_at timestamptz NOT NULL DEFAULT now(),
    reason      text        NOT NULL,             -- why it could not be stored
    body        bytea       NOT NULL,             -- the raw body (whole item if no envelope)
    delivery_id text,
    item_key    bytea       NOT NULL UNIQUE,      -- sha256 of the queue item: re-delivery safe
    inserted_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX dead_letters_received_at_idx ON hookpipe.dead_letters (received_at);

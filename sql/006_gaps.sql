-- hookpipe schema v6: the gaps of WebSocket subscriptions (docs/storage.md "hookpipe.gaps").
--
-- A [source.NAME] with transport = websocket receives Zoom's events over a connection the
-- gateway holds; Zoom does not resend what it sent while no connection was up, so every
-- interval without a live connection is recorded: the gateway worker holding the
-- subscription queues a gap item (docs/envelope.md "Gap items (HPG1)") and a writer stores it
-- here in the batch that holds it. The primary key makes a re-delivered item (a writer
-- killed after its commit, before its release) one row: writers insert with ON CONFLICT
-- (source, started_at) DO NOTHING.
--
-- Small (a row per outage), so not partitioned; hookpipe-ctl gaps reads it.

CREATE TABLE hookpipe.gaps (
    source      text        NOT NULL,             -- [source.NAME] of the subscription
    started_at  timestamptz NOT NULL,             -- last moment a connection was known alive
    ended_at    timestamptz NOT NULL,             -- the next connection's first heartbeat
    reason      text        NOT NULL,             -- why it went down, e.g. connection_lost
    recorded_by text        NOT NULL,             -- the gateway worker, "HOST:PID:wN"
    recorded_at timestamptz NOT NULL DEFAULT now(),
    duration    interval GENERATED ALWAYS AS (ended_at - started_at) STORED,
    PRIMARY KEY (source, started_at),
    CHECK (started_at < ended_at)
);

-- hookpipe-ctl gaps lists the newest first, and across sources.
CREATE INDEX gaps_started_at_idx ON hookpipe.gaps (started_at);

COMMENT ON TABLE hookpipe.gaps IS
    'intervals in which a WebSocket subscription had no live connection: Zoom events of that '
    'time were not received (docs/storage.md)';

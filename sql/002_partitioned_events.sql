-- hookpipe schema v2: hookpipe.events range-partitioned on event_time (README "Storage").
--
-- event_time is a function of the body bytes alone: the body's event_ts when usable (the v1
-- rule), else 1970-01-01 00:00 UTC, so Zoom's retries of one notification always land in one
-- partition and the unique key (event_key, event_time) still collapses them. Rows whose
-- event_time is before 1971 (no usable event_ts) live in hookpipe.events_undated, which is
-- never dropped: retention deletes its rows by received_at in small batches.
--
-- From v1 this rewrites the table (every row, its id and event_key are kept): it costs about
-- one full copy of hookpipe.events plus its index builds; see README "Upgrading from v1".
-- Applied once, in one transaction, by hookpipe-writer --migrate.

ALTER TABLE hookpipe.events RENAME TO events_v1;
ALTER INDEX hookpipe.events_pkey RENAME TO events_v1_pkey;
ALTER INDEX hookpipe.events_event_key_key RENAME TO events_v1_event_key_key;
ALTER INDEX hookpipe.events_event_ts_idx RENAME TO events_v1_event_ts_idx;
ALTER INDEX hookpipe.events_account_ts_idx RENAME TO events_v1_account_ts_idx;
ALTER INDEX hookpipe.events_received_at_idx RENAME TO events_v1_received_at_idx;
ALTER SEQUENCE hookpipe.events_id_seq RENAME TO events_v1_id_seq;

CREATE TABLE hookpipe.events (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    source      text        NOT NULL,             -- [source.NAME] the delivery came in on
    event       text        NOT NULL,             -- body "event", e.g. meeting.started
    event_ts    timestamptz,                      -- body "event_ts" (ms), NULL when absent
    account_id  text,                             -- body payload.account_id
    received_at timestamptz NOT NULL,             -- when the gateway received it
    event_key   bytea       NOT NULL,             -- identifies the notification (README)
    payload     jsonb       NOT NULL,             -- the whole body
    delivery_id text,                             -- the gateway's id (its 200 answer)
    request_id  text,                             -- x-zm-request-id, percent-encoded
    inserted_at timestamptz NOT NULL DEFAULT now(),
    event_time  timestamptz NOT NULL              -- COALESCE(event_ts, 1970-01-01): partition key
) PARTITION BY RANGE (event_time);

-- Rows without a usable event_ts (and any from 1970). Never dropped by retention.
CREATE TABLE hookpipe.events_undated PARTITION OF hookpipe.events
    FOR VALUES FROM (MINVALUE) TO ('1971-01-01 00:00:00+00');

-- The partitions of hookpipe.events and their bounds, read from the catalog (so they can
-- never disagree with it). lo is -infinity for MINVALUE.
CREATE VIEW hookpipe.event_partitions AS
SELECT c.relname::text AS name,
       COALESCE(substring(b FROM $re$FROM \('([^']+)'\)$re$)::timestamptz, '-infinity') AS lo,
       COALESCE(substring(b FROM $re$TO \('([^']+)'\)$re$)::timestamptz, 'infinity') AS hi
FROM pg_catalog.pg_inherits i
JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
CROSS JOIN LATERAL pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS b
WHERE i.inhparent = 'hookpipe.events'::regclass;

-- Start of the partition of unit day|week|month holding t, in UTC.
CREATE FUNCTION hookpipe.partition_start(t timestamptz, unit text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT date_trunc(unit, t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
$$;

-- Creates the partitions that the times need and returns the bounds of every partition
-- holding one of them as text "lo_ms hi_ms lo_ms hi_ms ..." (epoch milliseconds, lo at least
-- 0), for the writer's cache. A new partition spans one unit, clipped to its neighbours so
-- it never overlaps one made with another unit. It is made as a plain table and attached
-- (ATTACH PARTITION locks the parent only SHARE UPDATE EXCLUSIVE, which neither a reader
-- nor a COPY conflicts with). One creation at a time (transaction-level advisory lock, so
-- it works through PgBouncer); the caller sets lock_timeout.
CREATE FUNCTION hookpipe.ensure_partitions(times timestamptz[], unit text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    t  timestamptz;
    a  timestamptz;
    b  timestamptz;
    nm text;
    out text;
BEGIN
    IF unit NOT IN ('day', 'week', 'month') THEN
        RAISE EXCEPTION 'partition unit must be day, week or month, not %', unit;
    END IF;
    PERFORM pg_advisory_xact_lock(7525356009597530214);
    FOREACH t IN ARRAY times LOOP
        CONTINUE WHEN t IS NULL OR EXISTS (
            SELECT 1 FROM hookpipe.event_partitions p WHERE p.lo <= t AND t < p.hi);
        a := hookpipe.partition_start(t, unit);
        b := ((a AT TIME ZONE 'UTC') + ('1 ' || unit)::interval) AT TIME ZONE 'UTC';
        a := greatest(a, (SELECT max(p.hi) FROM hookpipe.event_partitions p WHERE p.hi <= t));
        b := least(b, (SELECT min(p.lo) FROM hookpipe.event_partitions p WHERE p.lo > t));
        nm := 'events_p' || to_char(a AT TIME ZONE 'UTC', 'YYYYMMDD');
        IF to_char(a AT TIME ZONE 'UTC', 'HH24MISSUS') <> '000000000000' THEN
            nm := nm || to_char(a AT TIME ZONE 'UTC', '"_"HH24MISSUS');
        END IF;
        -- CHECK constraints too: ATTACH wants every one the parent has
        EXECUTE format('CREATE TABLE hookpipe.%I (LIKE hookpipe.events INCLUDING DEFAULTS '
                       'INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMPRESSION '
                       'INCLUDING STATISTICS)', nm);
        EXECUTE format('ALTER TABLE hookpipe.events ATTACH PARTITION hookpipe.%I '
                       'FOR VALUES FROM (%L) TO (%L)', nm, a, b);
    END LOOP;
    SELECT string_agg(floor(extract(epoch FROM greatest(p.lo, 'epoch')) * 1000)::bigint || ' ' ||
                      floor(extract(epoch FROM p.hi) * 1000)::bigint, ' ')
      INTO out
      FROM hookpipe.event_partitions p
     WHERE EXISTS (SELECT 1 FROM unnest(times) x WHERE p.lo <= x AND x < p.hi)
       AND p.hi <> 'infinity';
    RETURN coalesce(out, '');
END
$$;

-- Maintenance (README "Retention"). Every step is its own short transaction and takes the
-- maintenance lock with pg_try_advisory_xact_lock: when another writer holds it, the step
-- does nothing and returns NULL (the other writer is doing the work).

-- Creates the partitions of now and of the next `ahead` units. Returns the count created.
CREATE FUNCTION hookpipe.maintain_premake(unit text, ahead integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    before integer;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7525356009597530215) THEN
        RETURN NULL;
    END IF;
    SELECT count(*) INTO before FROM hookpipe.event_partitions;
    PERFORM hookpipe.ensure_partitions(ARRAY(
        SELECT ((now() AT TIME ZONE 'UTC') + (i || ' ' || unit)::interval) AT TIME ZONE 'UTC'
        FROM generate_series(0, ahead) i), unit);
    RETURN (SELECT count(*) FROM hookpipe.event_partitions) - before;
END
$$;

-- Detaches and drops the oldest partition wholly older than keep_days (never the undated
-- one). Returns its name, '' when there is none.
CREATE FUNCTION hookpipe.maintain_drop_one(keep_days integer) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    nm text;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7525356009597530215) THEN
        RETURN NULL;
    END IF;
    IF keep_days IS NULL OR keep_days <= 0 THEN
        RETURN '';  -- 0 = keep for ever
    END IF;
    SELECT p.name INTO nm FROM hookpipe.event_partitions p
     WHERE p.lo > '-infinity' AND p.hi <= now() - keep_days * interval '1 day'
     ORDER BY p.lo LIMIT 1;
    IF nm IS NULL THEN
        RETURN '';
    END IF;
    EXECUTE format('ALTER TABLE hookpipe.events DETACH PARTITION hookpipe.%I', nm);
    EXECUTE format('DROP TABLE hookpipe.%I', nm);
    RETURN nm;
END
$$;

-- Deletes up to batch dead letters, then undated events, received more than keep_days ago.
-- Returns the number deleted (below batch: nothing older is left).
CREATE FUNCTION hookpipe.maintain_delete_batch(keep_days integer, batch integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    m integer;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7525356009597530215) THEN
        RETURN NULL;
    END IF;
    IF keep_days IS NULL OR keep_days <= 0 THEN
        RETURN 0;  -- 0 = keep for ever
    END IF;
    DELETE FROM hookpipe.dead_letters WHERE id IN (
        SELECT id FROM hookpipe.dead_letters
         WHERE received_at < now() - keep_days * interval '1 day' ORDER BY id LIMIT batch);
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM hookpipe.events_undated WHERE id IN (
        SELECT id FROM hookpipe.events_undated
         WHERE received_at < now() - keep_days * interval '1 day'
         ORDER BY received_at LIMIT greatest(batch - n, 0));
    GET DIAGNOSTICS m = ROW_COUNT;
    RETURN n + m;
END
$$;

-- v1 rows: every one, with its id and event_key, in the partitions its event_time needs.
SELECT hookpipe.ensure_partitions(ARRAY(
    SELECT DISTINCT hookpipe.partition_start(event_ts, 'month')
    FROM hookpipe.events_v1 WHERE event_ts >= '1971-01-01 00:00:00+00'), 'month');

INSERT INTO hookpipe.events (id, source, event, event_ts, account_id, received_at, event_key,
                             payload, delivery_id, request_id, inserted_at, event_time)
OVERRIDING SYSTEM VALUE
SELECT id, source, event, event_ts, account_id, received_at, event_key, payload, delivery_id,
       request_id, inserted_at, COALESCE(event_ts, timestamptz '1970-01-01 00:00:00+00')
FROM hookpipe.events_v1;

DO $$
BEGIN
    EXECUTE format('ALTER TABLE hookpipe.events ALTER COLUMN id RESTART WITH %s',
                   (SELECT coalesce(max(id), 0) + 1 FROM hookpipe.events_v1));
END
$$;

DROP TABLE hookpipe.events_v1;

-- Indexes after the copy (faster than maintaining them row by row). Every one leads with or
-- includes event_time, so a query bounded on it touches only its partitions:
--   the newest N events         -> events_pkey, scanned backwards
--   one account's events of day -> events_account_time_idx
--   one event type over a week  -> events_event_time_idx
ALTER TABLE hookpipe.events ADD CONSTRAINT events_pkey PRIMARY KEY (event_time, id);
ALTER TABLE hookpipe.events ADD CONSTRAINT events_key_time_key UNIQUE (event_key, event_time);
CREATE INDEX events_account_time_idx ON hookpipe.events (account_id, event_time);
CREATE INDEX events_event_time_idx ON hookpipe.events (event, event_time);
-- only the undated partition is searched by received_at (its retention)
CREATE INDEX events_undated_received_at_idx ON hookpipe.events_undated (received_at);

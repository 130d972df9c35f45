-- hookpipe schema v5: partitions are made only inside the maintained horizon (docs/storage.md).
--
-- Before v5 the writer created whatever partition a row's event_time needed, 1970 to 9999, so
-- the bodies of one source could make thousands of partitions (and fill PostgreSQL's lock
-- table). The writer now asks through ensure_partitions_within, which creates a partition
-- only when it overlaps [now - keep_days, horizon) — horizon being the later of the end of the
-- last partition maintenance premakes and now + ahead (the writer passes [storage]
-- event_time_future_s, so the window of plausible event times is always inside) — and
-- returns the bounds of the partitions that hold one of the times (the others get none; the
-- writer stores those rows undated). keep_days 0 leaves the past open: the writer's window
-- (event_time_past_days) bounds it.

CREATE FUNCTION hookpipe.ensure_partitions_within(times timestamptz[], unit text,
                                                  keep_days integer, premake integer,
                                                  ahead interval) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    lo     timestamptz;
    hi     timestamptz;
    inside timestamptz[];
BEGIN
    IF unit NOT IN ('day', 'week', 'month') THEN
        RAISE EXCEPTION 'partition unit must be day, week or month, not %', unit;
    END IF;
    lo := CASE WHEN keep_days > 0 THEN now() - keep_days * interval '1 day' ELSE '-infinity' END;
    hi := greatest(((hookpipe.partition_start(((now() AT TIME ZONE 'UTC') +
                                               (premake || ' ' || unit)::interval)
                                              AT TIME ZONE 'UTC', unit) AT TIME ZONE 'UTC')
                    + ('1 ' || unit)::interval) AT TIME ZONE 'UTC',
                   now() + ahead);
    inside := ARRAY(
        SELECT x FROM unnest(times) x
         WHERE hookpipe.partition_start(x, unit) < hi
           AND ((hookpipe.partition_start(x, unit) AT TIME ZONE 'UTC') + ('1 ' || unit)::interval)
               AT TIME ZONE 'UTC' > lo);
    IF cardinality(inside) = 0 THEN
        RETURN '';
    END IF;
    RETURN hookpipe.ensure_partitions(inside, unit);
END
$$;

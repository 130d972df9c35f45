-- hookpipe schema v8: one key on hookpipe.events instead of two (issue 23).
--
-- Until v7 every partition kept two unique B-trees: the primary key (event_time, id) and the
-- deduplication key UNIQUE (event_key, event_time). The second leads with a SHA-256, so each
-- new row lands on a random leaf page: with millions of rows in the partition being written,
-- most of those pages are neither in shared_buffers nor written since the last checkpoint,
-- and each costs a read and a full-page image in the WAL. The first exists only to be a
-- primary key: nothing looks a row up by (event_time, id).
--
-- One primary key (event_time, event_key) does both jobs: it is the same uniqueness (the
-- writer's ON CONFLICT (event_key, event_time) and its retry lookup name both columns, in
-- any order), it serves "the newest N events" and any event_time range as events_pkey did,
-- and new rows, whose event_time is close to now, land on the right edge of the index. id
-- stays, unique by its identity sequence, as before without an index of its own.
--
-- ADD PRIMARY KEY builds the index on every partition under an ACCESS EXCLUSIVE lock: on a
-- large installation the writers wait for it (docs/storage.md gives the time it takes).
ALTER TABLE hookpipe.events DROP CONSTRAINT events_key_time_key;
ALTER TABLE hookpipe.events DROP CONSTRAINT events_pkey;
ALTER TABLE hookpipe.events ADD CONSTRAINT events_pkey PRIMARY KEY (event_time, event_key);

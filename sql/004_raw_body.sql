-- hookpipe schema v4: the body bytes exactly as received (README "Storage").
--
-- payload is jsonb, PostgreSQL's parsed form: it keeps neither the whitespace nor the key
-- order of what Zoom sent, so the bytes Zoom signed (and the event_key rule hashes) cannot
-- be rebuilt from it. body keeps them as text (the writer has already checked that they are
-- UTF-8 JSON without \u0000). NULL for rows stored before this migration and when [storage]
-- keep_body = off. hookpipe-ctl replay sends body when it is there.
--
-- Adding a nullable column without a default only changes the catalog: no table rewrite.
-- Partitions made later copy it (ensure_partitions uses LIKE hookpipe.events).

ALTER TABLE hookpipe.events ADD COLUMN body text;

COMMENT ON COLUMN hookpipe.events.body IS
    'the request body as received (the bytes the signature covers); NULL before schema v4 '
    'or with [storage] keep_body = off';

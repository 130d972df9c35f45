-- hookpipe relations over the stored Zoom events (README "Querying"): hookpipe.meetings,
-- hookpipe.participant_sessions and hookpipe.recording_files are plain views over
-- hookpipe.events, so they cost the writer nothing but one index, follow retention and
-- partitioning by themselves, and are never stale. A lookup of one meeting instance stays an
-- index scan: every view exposes meeting_uuid exactly as the index below computes it, and
-- pairs or deduplicates only within (source, meeting_uuid), so the planner pushes
-- "meeting_uuid = ..." down into the scan of events.
-- Uses only the columns events has before and after partitioning.

-- The meeting instance of a Zoom meeting or webinar event (object.uuid), then the event name:
-- one index serves the lookups of all three views. Partial, so it only holds these events.
CREATE INDEX events_zoom_meeting_uuid_idx
    ON hookpipe.events ((payload -> 'payload' -> 'object' ->> 'uuid'), event)
    WHERE event IN ('meeting.started', 'meeting.ended',
                    'meeting.participant_joined', 'meeting.participant_left',
                    'webinar.started', 'webinar.ended',
                    'webinar.participant_joined', 'webinar.participant_left',
                    'recording.completed');

-- A Zoom time ("2021-07-13T21:44:51Z", an offset instead of Z, optional fraction) as
-- timestamptz, or NULL for anything else (no zone, a number, an object, Feb 30, hour 24):
-- bad data must never make a query fail. Computed by hand rather than by a text cast, whose
-- result depends on session settings, so the function really is IMMUTABLE.
CREATE FUNCTION hookpipe.zoom_time(s text) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    m   text[];
    y   integer;
    mo  integer;
    d   integer;
    h   integer;
    mi  integer;
    sec numeric;
    off integer := 0;
BEGIN
    m := regexp_match(s, '^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2}(?:\.\d{1,9})?)'
                         '(?:([Zz])|([+-])(\d{2}):?(\d{2}))$');
    IF m IS NULL THEN
        RETURN NULL;
    END IF;
    y := m[1]::integer;
    mo := m[2]::integer;
    d := m[3]::integer;
    h := m[4]::integer;
    mi := m[5]::integer;
    sec := m[6]::numeric;
    IF y < 1 OR mo < 1 OR mo > 12 OR d < 1 OR h > 23 OR mi > 59 OR sec >= 61 THEN
        RETURN NULL;
    END IF;
    IF d > extract(day FROM make_date(y, mo, 1) + interval '1 month' - interval '1 day') THEN
        RETURN NULL;
    END IF;
    IF m[7] IS NULL THEN
        IF m[10]::integer > 59 THEN
            RETURN NULL;
        END IF;
        off := (m[9]::integer * 60 + m[10]::integer) * (CASE m[8] WHEN '-' THEN -1 ELSE 1 END);
    END IF;
    RETURN (make_timestamp(y, mo, d, h, mi, 0) + make_interval(secs => sec)
            - make_interval(mins => off)) AT TIME ZONE 'UTC';
END
$$;

-- A JSON string or number as text (Zoom sends object.id as either); NULL for anything else
-- (an object, an array, a boolean, null, missing).
CREATE FUNCTION hookpipe.zoom_text(v jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE jsonb_typeof(v) WHEN 'string' THEN v #>> '{}' WHEN 'number' THEN v #>> '{}' END
$$;

-- A non-negative integral JSON number (a file size) as bigint, else NULL.
CREATE FUNCTION hookpipe.zoom_bigint(v jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(v) = 'number' AND v #>> '{}' ~ '^[0-9]{1,18}$'
                THEN (v #>> '{}')::bigint END
$$;

-- One row per meeting or webinar instance (source, meeting_uuid) seen in its lifecycle or
-- participant events. Descriptive columns come from the newest event that has them.
CREATE VIEW hookpipe.meetings AS
SELECT source,
       (array_agg(account_id ORDER BY ord DESC) FILTER (WHERE account_id IS NOT NULL))[1]
           AS account_id,
       CASE WHEN bool_or(event LIKE 'webinar.%') THEN 'webinar' ELSE 'meeting' END AS kind,
       (array_agg(meeting_id ORDER BY ord DESC) FILTER (WHERE meeting_id IS NOT NULL))[1]
           AS meeting_id,
       meeting_uuid,
       (array_agg(topic ORDER BY ord DESC) FILTER (WHERE topic IS NOT NULL))[1] AS topic,
       (array_agg(host_id ORDER BY ord DESC) FILTER (WHERE host_id IS NOT NULL))[1] AS host_id,
       min(start_time) FILTER (WHERE event IN ('meeting.started', 'webinar.started'))
           AS started_at,
       max(end_time) FILTER (WHERE event IN ('meeting.ended', 'webinar.ended')) AS ended_at,
       round(extract(epoch FROM
           max(end_time) FILTER (WHERE event IN ('meeting.ended', 'webinar.ended'))
           - min(start_time) FILTER (WHERE event IN ('meeting.started', 'webinar.started'))
       ))::bigint AS duration_s,
       max(ts) AS last_event_at,
       count(*) AS events
FROM (
    SELECT e.source, e.event, e.account_id,
           e.payload -> 'payload' -> 'object' ->> 'uuid' AS meeting_uuid,
           hookpipe.zoom_text(e.payload -> 'payload' -> 'object' -> 'id') AS meeting_id,
           hookpipe.zoom_text(e.payload -> 'payload' -> 'object' -> 'topic') AS topic,
           hookpipe.zoom_text(e.payload -> 'payload' -> 'object' -> 'host_id') AS host_id,
           hookpipe.zoom_time(e.payload -> 'payload' -> 'object' ->> 'start_time') AS start_time,
           hookpipe.zoom_time(e.payload -> 'payload' -> 'object' ->> 'end_time') AS end_time,
           coalesce(e.event_ts, e.received_at) AS ts,
           ROW(coalesce(e.event_ts, e.received_at), e.id) AS ord
    FROM hookpipe.events e
    WHERE e.event IN ('meeting.started', 'meeting.ended',
                      'meeting.participant_joined', 'meeting.participant_left',
                      'webinar.started', 'webinar.ended',
                      'webinar.participant_joined', 'webinar.participant_left')
) m
GROUP BY source, meeting_uuid;

-- One row per stay of a participant in a meeting instance. Each participant's joins and
-- leaves are ordered by the times in the events (join_time / leave_time; event_ts only when
-- that is missing or unreadable; a join before a leave at the same second), never by arrival;
-- a join pairs with the leave that directly follows it, i.e. the first leave at or after it
-- and before the participant's next join. A leave that follows no join is a stay with
-- joined_at NULL. A join or leave repeated with the same time (a duplicate Zoom sent with
-- other bytes) counts once.
CREATE VIEW hookpipe.participant_sessions AS
SELECT source,
       account_id,
       meeting_uuid,
       meeting_id,
       kind,
       participant_key,
       CASE WHEN is_join THEN coalesce(user_name, next_user_name) ELSE user_name END
           AS user_name,
       CASE WHEN is_join THEN coalesce(email, next_email) ELSE email END AS email,
       CASE WHEN is_join THEN t END AS joined_at,
       CASE WHEN is_join THEN (CASE WHEN next_is_join = false THEN next_t END) ELSE t END
           AS left_at,
       CASE WHEN is_join AND next_is_join = false
            THEN round(extract(epoch FROM next_t - t))::bigint END AS duration_s,
       CASE WHEN is_join THEN (CASE WHEN next_is_join = false THEN next_leave_reason END)
            ELSE leave_reason END AS leave_reason,
       CASE WHEN is_join THEN event_id END AS join_event_id,
       CASE WHEN is_join THEN (CASE WHEN next_is_join = false THEN next_event_id END)
            ELSE event_id END AS leave_event_id
FROM (
    SELECT p.*,
           lag(is_join) OVER w AS prev_is_join,
           lead(is_join) OVER w AS next_is_join,
           lead(t) OVER w AS next_t,
           lead(leave_reason) OVER w AS next_leave_reason,
           lead(user_name) OVER w AS next_user_name,
           lead(email) OVER w AS next_email,
           lead(event_id) OVER w AS next_event_id
    FROM (
        SELECT q.*, a.anon,
               row_number() OVER (PARTITION BY source, meeting_uuid, participant_key, anon,
                                               is_join, t, CASE WHEN t IS NULL THEN event_id END
                                  ORDER BY event_id) AS copy
        FROM (
            SELECT e.source, e.account_id, e.id AS event_id,
                   e.payload -> 'payload' -> 'object' ->> 'uuid' AS meeting_uuid,
                   hookpipe.zoom_text(e.payload -> 'payload' -> 'object' -> 'id') AS meeting_id,
                   CASE WHEN e.event LIKE 'webinar.%' THEN 'webinar' ELSE 'meeting' END AS kind,
                   e.event LIKE '%.participant_joined' AS is_join,
                   coalesce(
                       nullif(hookpipe.zoom_text(pa -> 'participant_uuid'), ''),
                       nullif(hookpipe.zoom_text(pa -> 'user_id'), ''),
                       nullif(hookpipe.zoom_text(pa -> 'id'), '')) AS participant_key,
                   hookpipe.zoom_text(pa -> 'user_name') AS user_name,
                   hookpipe.zoom_text(pa -> 'email') AS email,
                   hookpipe.zoom_text(pa -> 'leave_reason') AS leave_reason,
                   hookpipe.zoom_time(CASE WHEN e.event LIKE '%.participant_joined'
                                           THEN pa ->> 'join_time' ELSE pa ->> 'leave_time'
                                      END) AS t,
                   e.event_ts
            FROM hookpipe.events e
            CROSS JOIN LATERAL (SELECT e.payload -> 'payload' -> 'object' -> 'participant') j(pa)
            WHERE e.event IN ('meeting.participant_joined', 'meeting.participant_left',
                              'webinar.participant_joined', 'webinar.participant_left')
        ) q
        -- a participant without any usable id is one of a kind: never paired with another
        CROSS JOIN LATERAL (SELECT CASE WHEN q.participant_key IS NULL THEN q.event_id END) a(anon)
    ) p
    WHERE copy = 1
    WINDOW w AS (PARTITION BY source, meeting_uuid, participant_key, anon
                 ORDER BY coalesce(t, event_ts) NULLS LAST, is_join DESC, event_id)
) s
WHERE is_join OR prev_is_join IS NOT TRUE;

-- One row per file of recording.completed. Zoom may send recording.completed again for the
-- same meeting (a retry with new download tokens is one events row already; a later
-- notification is another); a file whose id a later recording.completed of the same
-- meeting instance lists again is shown from that later one only.
CREATE VIEW hookpipe.recording_files AS
SELECT e.source,
       e.account_id,
       e.payload -> 'payload' -> 'object' ->> 'uuid' AS meeting_uuid,
       hookpipe.zoom_text(e.payload -> 'payload' -> 'object' -> 'id') AS meeting_id,
       hookpipe.zoom_text(e.payload -> 'payload' -> 'object' -> 'topic') AS topic,
       hookpipe.zoom_text(e.payload -> 'payload' -> 'object' -> 'host_id') AS host_id,
       hookpipe.zoom_text(e.payload -> 'payload' -> 'object' -> 'host_email') AS host_email,
       hookpipe.zoom_text(f.file -> 'id') AS file_id,
       hookpipe.zoom_text(f.file -> 'file_type') AS file_type,
       hookpipe.zoom_text(f.file -> 'file_extension') AS file_extension,
       hookpipe.zoom_text(f.file -> 'recording_type') AS recording_type,
       hookpipe.zoom_time(f.file ->> 'recording_start') AS recording_start,
       hookpipe.zoom_time(f.file ->> 'recording_end') AS recording_end,
       hookpipe.zoom_bigint(f.file -> 'file_size') AS file_size,
       hookpipe.zoom_text(f.file -> 'status') AS status,
       hookpipe.zoom_text(f.file -> 'download_url') AS download_url,
       hookpipe.zoom_text(f.file -> 'play_url') AS play_url,
       e.event_ts,
       e.id AS event_id
FROM hookpipe.events e
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(e.payload -> 'payload' -> 'object' -> 'recording_files') = 'array'
         THEN e.payload -> 'payload' -> 'object' -> 'recording_files' ELSE '[]'::jsonb END
) f(file)
WHERE e.event = 'recording.completed'
  AND NOT (jsonb_typeof(f.file -> 'id') = 'string' AND EXISTS (
      SELECT 1
      FROM hookpipe.events l
      WHERE l.event = 'recording.completed'
        AND (l.payload -> 'payload' -> 'object' ->> 'uuid')
            = (e.payload -> 'payload' -> 'object' ->> 'uuid')
        AND l.source = e.source
        AND (coalesce(l.event_ts, l.received_at), l.id)
            > (coalesce(e.event_ts, e.received_at), e.id)
        AND l.payload -> 'payload' -> 'object' -> 'recording_files'
            @> jsonb_build_array(jsonb_build_object('id', f.file -> 'id'))));

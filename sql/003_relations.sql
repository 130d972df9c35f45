-- hookpipe relations over the stored Zoom events (README "Querying"): hookpipe.meetings,
-- hookpipe.participant_sessions and hookpipe.recording_files are plain views over
-- hookpipe.events, so they cost the writer nothing but one index, follow retention and
-- partitioning by themselves, and are never stale. A lookup of one meeting instance stays an
-- index scan: every view exposes meeting_uuid exactly as the index below computes it, and
-- pairs or deduplicates only within (source, meeting_uuid), so the planner pushes
-- "meeting_uuid = ..." down into the scan of events.
-- Uses only the columns events has before and after partitioning.

-- The meeting instance (object.uuid) of a Zoom meeting, webinar or recording event, NULL for
-- other events, then the event name: one index serves the lookups of all three views, which
-- expose meeting_uuid as exactly this expression. Not a partial index on purpose: PostgreSQL
-- ignores the statistics of a partial index's expression, and without them it guesses that
-- one meeting has thousands of events per partition, plans parallel workers and JIT, and a
-- 1 ms lookup takes 150-1200 ms (measured with 10 M events).
CREATE INDEX events_zoom_meeting_uuid_idx
    ON hookpipe.events ((CASE WHEN event IN ('meeting.started', 'meeting.ended',
                                             'meeting.participant_joined',
                                             'meeting.participant_left',
                                             'webinar.started', 'webinar.ended',
                                             'webinar.participant_joined',
                                             'webinar.participant_left',
                                             'recording.completed')
                              THEN payload #>> '{payload,object,uuid}' END), event);

-- A Zoom time ("2021-07-13T21:44:51Z"; a space for the T, a fraction of up to 9 digits or an
-- offset +hh:mm / +hhmm / +hh instead of Z are accepted too) as timestamptz, or NULL for
-- anything else (no zone, a number, an object, Feb 30, hour 24, offset +16:00): bad data must
-- never make a query fail, so the text is checked completely before the cast. The cast of a
-- string of this shape (year first, explicit offset) does not depend on TimeZone or
-- DateStyle, so the function is IMMUTABLE. Its shape check uses translate(), not a regular
-- expression: it is called per participant event and a regex match costs several times more.
CREATE FUNCTION hookpipe.zoom_time(s text) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    shape text := translate(s, '0123456789 ', '9999999999T');
    rest  text := substr(translate(s, '0123456789 ', '9999999999T'), 20);
    zone  text;
BEGIN
    IF left(shape, 19) <> '9999-99-99T99:99:99' THEN
        RETURN NULL;
    END IF;
    zone := CASE WHEN left(rest, 1) = '.' THEN ltrim(substr(rest, 2), '9') ELSE rest END;
    IF zone NOT IN ('Z', '+99:99', '-99:99', '+9999', '-9999', '+99', '-99')
       OR length(rest) - length(zone) NOT IN (0, 2, 3, 4, 5, 6, 7, 8, 9, 10) THEN
        RETURN NULL;
    END IF;
    RETURN CASE
        WHEN substr(s, 1, 4) = '0000' OR substr(s, 6, 2) NOT BETWEEN '01' AND '12'
          OR substr(s, 9, 2) NOT BETWEEN '01' AND '31' OR substr(s, 12, 2) > '23'
          OR substr(s, 15, 2) > '59' OR substr(s, 18, 2) > '60'
          OR (zone <> 'Z' AND substr(s, length(s) - length(zone) + 2, 2) > '15')
          OR (length(zone) > 3 AND right(s, 2) > '59') THEN NULL
        WHEN substr(s, 9, 2) <= '28' OR substr(s, 9, 2)::integer <= CASE substr(s, 6, 2)
            WHEN '02' THEN CASE WHEN substr(s, 1, 4)::integer % 4 = 0
                                 AND (substr(s, 1, 4)::integer % 100 <> 0
                                      OR substr(s, 1, 4)::integer % 400 = 0) THEN 29 ELSE 28 END
            WHEN '04' THEN 30 WHEN '06' THEN 30 WHEN '09' THEN 30 WHEN '11' THEN 30 ELSE 31 END
        THEN s::timestamptz
    END;
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
       (array_agg(account_id ORDER BY ts DESC, event_id DESC)
            FILTER (WHERE account_id IS NOT NULL))[1] AS account_id,
       CASE WHEN bool_or(event LIKE 'webinar.%') THEN 'webinar' ELSE 'meeting' END AS kind,
       (array_agg(meeting_id ORDER BY ts DESC, event_id DESC)
            FILTER (WHERE meeting_id IS NOT NULL))[1] AS meeting_id,
       meeting_uuid,
       (array_agg(topic ORDER BY ts DESC, event_id DESC) FILTER (WHERE topic IS NOT NULL))[1]
           AS topic,
       (array_agg(host_id ORDER BY ts DESC, event_id DESC)
            FILTER (WHERE host_id IS NOT NULL))[1] AS host_id,
       min(start_time) AS started_at,
       max(end_time) AS ended_at,
       round(extract(epoch FROM max(end_time) - min(start_time)))::bigint AS duration_s,
       max(ts) AS last_event_at,
       count(*) AS events
FROM (
    SELECT e.source, e.event, e.account_id, e.id AS event_id,
           CASE WHEN e.event IN ('meeting.started', 'meeting.ended',
                                 'meeting.participant_joined', 'meeting.participant_left',
                                 'webinar.started', 'webinar.ended',
                                 'webinar.participant_joined', 'webinar.participant_left',
                                 'recording.completed')
                THEN e.payload #>> '{payload,object,uuid}' END AS meeting_uuid,
           hookpipe.zoom_text(e.payload #> '{payload,object,id}') AS meeting_id,
           hookpipe.zoom_text(e.payload #> '{payload,object,topic}') AS topic,
           hookpipe.zoom_text(e.payload #> '{payload,object,host_id}') AS host_id,
           CASE WHEN e.event IN ('meeting.started', 'webinar.started')
                THEN hookpipe.zoom_time(e.payload #>> '{payload,object,start_time}')
           END AS start_time,
           CASE WHEN e.event IN ('meeting.ended', 'webinar.ended')
                THEN hookpipe.zoom_time(e.payload #>> '{payload,object,end_time}')
           END AS end_time,
           coalesce(e.event_ts, e.received_at) AS ts
    FROM hookpipe.events e
    WHERE e.event IN ('meeting.started', 'meeting.ended',
                      'meeting.participant_joined', 'meeting.participant_left',
                      'webinar.started', 'webinar.ended',
                      'webinar.participant_joined', 'webinar.participant_left')
) m
GROUP BY source, meeting_uuid;

-- One row per stay of a participant in a meeting instance. Each participant's joins and
-- leaves are ordered by the times in the events (join_time / leave_time; a join before a
-- leave of the same second; event_ts when the time is missing or unreadable), never by
-- arrival; a join pairs with the leave that directly follows it, i.e. the first leave at or
-- after it and before the participant's next join. A leave that follows no join is a stay
-- with joined_at NULL. A join (leave) next to another join (leave) with the same time is the
-- same notification sent again with other bytes: it counts once. A participant without any
-- usable id is paired with nobody.
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
       CASE WHEN NOT is_join THEN t WHEN NOT next_is_join THEN next_t END AS left_at,
       CASE WHEN is_join AND NOT next_is_join
            THEN round(extract(epoch FROM next_t - t))::bigint END AS duration_s,
       CASE WHEN NOT is_join THEN leave_reason WHEN NOT next_is_join THEN next_leave_reason
       END AS leave_reason,
       CASE WHEN is_join THEN event_id END AS join_event_id,
       CASE WHEN NOT is_join THEN event_id WHEN NOT next_is_join THEN next_event_id END
           AS leave_event_id
FROM (
    SELECT q.*,
           lag(is_join) OVER w AS prev_is_join,
           lag(t) OVER w AS prev_t,
           lead(is_join) OVER w AS next_is_join,
           lead(t) OVER w AS next_t,
           lead(leave_reason) OVER w AS next_leave_reason,
           lead(user_name) OVER w AS next_user_name,
           lead(email) OVER w AS next_email,
           lead(event_id) OVER w AS next_event_id
    FROM (
        -- DISTINCT changes nothing (event_id is unique) but keeps this level a subquery, so
        -- each row's fields are computed once; a filter on meeting_uuid still goes through it
        SELECT DISTINCT e.source, e.account_id, e.id AS event_id, e.event_ts,
               CASE WHEN e.event IN ('meeting.started', 'meeting.ended',
                                     'meeting.participant_joined', 'meeting.participant_left',
                                     'webinar.started', 'webinar.ended',
                                     'webinar.participant_joined', 'webinar.participant_left',
                                     'recording.completed')
                    THEN e.payload #>> '{payload,object,uuid}' END AS meeting_uuid,
               hookpipe.zoom_text(e.payload #> '{payload,object,id}') AS meeting_id,
               CASE WHEN e.event LIKE 'webinar.%' THEN 'webinar' ELSE 'meeting' END AS kind,
               e.event LIKE '%.participant_joined' AS is_join,
               coalesce(
                   nullif(hookpipe.zoom_text(
                       e.payload #> '{payload,object,participant,participant_uuid}'), ''),
                   nullif(hookpipe.zoom_text(e.payload #> '{payload,object,participant,user_id}'),
                          ''),
                   nullif(hookpipe.zoom_text(e.payload #> '{payload,object,participant,id}'), ''))
                   AS participant_key,
               hookpipe.zoom_text(e.payload #> '{payload,object,participant,user_name}')
                   AS user_name,
               hookpipe.zoom_text(e.payload #> '{payload,object,participant,email}') AS email,
               hookpipe.zoom_text(e.payload #> '{payload,object,participant,leave_reason}')
                   AS leave_reason,
               hookpipe.zoom_time(CASE WHEN e.event LIKE '%.participant_joined'
                                       THEN e.payload #>> '{payload,object,participant,join_time}'
                                       ELSE e.payload #>> '{payload,object,participant,leave_time}'
                                  END) AS t
        FROM hookpipe.events e
        WHERE e.event IN ('meeting.participant_joined', 'meeting.participant_left',
                          'webinar.participant_joined', 'webinar.participant_left')
    ) q
    WINDOW w AS (PARTITION BY source, meeting_uuid, participant_key,
                              CASE WHEN participant_key IS NULL THEN event_id END
                 ORDER BY coalesce(t, event_ts) NULLS LAST, is_join DESC, event_id)
) s
-- a join: unless the next row is the same join again (then that one stands for both);
-- a leave: unless it closes the join before it, or repeats the leave before it
WHERE CASE WHEN is_join THEN (next_is_join AND next_t = t) IS NOT TRUE
           ELSE prev_is_join IS NULL OR (NOT prev_is_join AND (prev_t = t) IS NOT TRUE) END;

-- One row per file of recording.completed. Zoom may send recording.completed again for the
-- same meeting (a retry with new download tokens is one events row already; a later
-- notification is another); a file whose id a later recording.completed of the same
-- meeting instance lists again is shown from that later one only.
CREATE VIEW hookpipe.recording_files AS
SELECT e.source,
       e.account_id,
       CASE WHEN e.event IN ('meeting.started', 'meeting.ended',
                             'meeting.participant_joined', 'meeting.participant_left',
                             'webinar.started', 'webinar.ended',
                             'webinar.participant_joined', 'webinar.participant_left',
                             'recording.completed')
            THEN e.payload #>> '{payload,object,uuid}' END AS meeting_uuid,
       hookpipe.zoom_text(e.payload #> '{payload,object,id}') AS meeting_id,
       hookpipe.zoom_text(e.payload #> '{payload,object,topic}') AS topic,
       hookpipe.zoom_text(e.payload #> '{payload,object,host_id}') AS host_id,
       hookpipe.zoom_text(e.payload #> '{payload,object,host_email}') AS host_email,
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
       hookpipe.zoom_text(e.payload -> 'download_token') AS download_token,
       e.event_ts,
       e.id AS event_id
FROM hookpipe.events e
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(e.payload #> '{payload,object,recording_files}') = 'array'
         THEN e.payload #> '{payload,object,recording_files}' ELSE '[]'::jsonb END
) f(file)
WHERE e.event = 'recording.completed'
  AND NOT (jsonb_typeof(f.file -> 'id') = 'string' AND EXISTS (
      SELECT 1
      FROM hookpipe.events l
      WHERE l.event = 'recording.completed'
        AND CASE WHEN l.event IN ('meeting.started', 'meeting.ended',
                                  'meeting.participant_joined', 'meeting.participant_left',
                                  'webinar.started', 'webinar.ended',
                                  'webinar.participant_joined', 'webinar.participant_left',
                                  'recording.completed')
                 THEN l.payload #>> '{payload,object,uuid}' END
            = e.payload #>> '{payload,object,uuid}'
        AND l.source = e.source
        AND (coalesce(l.event_ts, l.received_at), l.id)
            > (coalesce(e.event_ts, e.received_at), e.id)
        AND l.payload #> '{payload,object,recording_files}'
            @> jsonb_build_array(jsonb_build_object('id', f.file -> 'id'))));

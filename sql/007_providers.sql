-- hookpipe schema v7: the deliveries of the other webhook providers beside Zoom (Standard
-- Webhooks, GitHub, Stripe, Slack, Shopify; issue 22) in the same hookpipe.events
-- (docs/storage.md, "Other providers").
--
-- provider: the [source.NAME] provider of the row; every row stored before is Zoom's. A
-- constant default changes only the catalog: no partition is rewritten.
-- headers: the request headers the gateway carried in the version-2 envelope (webhook-id,
-- x-github-event, x-shopify-topic, ...) as an object name -> value; NULL for Zoom rows.
-- event: nullable now; a provider's delivery without its event name is kept all the same.
-- All three recurse to the existing partitions; new ones copy them (LIKE hookpipe.events).
-- An older writer's COPY names neither new column: its rows get 'zoom' and NULL, which is
-- what it stores (upgrade the writers first, then the gateways; docs/envelope.md).

ALTER TABLE hookpipe.events ADD COLUMN provider text NOT NULL DEFAULT 'zoom';
ALTER TABLE hookpipe.events ADD COLUMN headers jsonb;
ALTER TABLE hookpipe.events ALTER COLUMN event DROP NOT NULL;

COMMENT ON COLUMN hookpipe.events.provider IS
    'the webhook provider of the delivery: zoom, standard, github, stripe, slack or shopify';
COMMENT ON COLUMN hookpipe.events.headers IS
    'the provider''s request headers carried with the delivery (name -> value); NULL for zoom';

-- The other providers' events by name and time ("every stripe invoice.paid of last week").
-- Partial, so a Zoom row costs no index entry more than before (its lookups keep using
-- (event, event_time)); a query naming a provider other than zoom matches the predicate.
-- Built here on every existing partition (a scan of each; the index itself stays empty).
CREATE INDEX events_provider_event_time_idx ON hookpipe.events (provider, event, event_time)
    WHERE provider <> 'zoom';

-- The Zoom relations (sql/003_relations.sql) read Zoom's rows only: another provider's body
-- may well carry an event named meeting.started. Same columns, same meeting_uuid expression
-- (events_zoom_meeting_uuid_idx serves them as before); only "provider = 'zoom'" is added.

CREATE OR REPLACE VIEW hookpipe.meetings AS
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
      AND e.provider = 'zoom'
) m
GROUP BY source, meeting_uuid;

CREATE OR REPLACE VIEW hookpipe.participant_sessions AS
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
          AND e.provider = 'zoom'
    ) q
    WINDOW w AS (PARTITION BY source, meeting_uuid, participant_key,
                              CASE WHEN participant_key IS NULL THEN event_id END
                 ORDER BY coalesce(t, event_ts) NULLS LAST, is_join DESC, event_id)
) s
-- a join: unless the next row is the same join again (then that one stands for both);
-- a leave: unless it closes the join before it, or repeats the leave before it
WHERE CASE WHEN is_join THEN (next_is_join AND next_t = t) IS NOT TRUE
           ELSE prev_is_join IS NULL OR (NOT prev_is_join AND (prev_t = t) IS NOT TRUE) END;

CREATE OR REPLACE VIEW hookpipe.recording_files AS
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
  AND e.provider = 'zoom'
  AND NOT (jsonb_typeof(f.file -> 'id') = 'string' AND EXISTS (
      SELECT 1
      FROM hookpipe.events l
      WHERE l.event = 'recording.completed'
        AND l.provider = 'zoom'
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

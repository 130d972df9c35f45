#!/usr/bin/python3
"""Lookup speed of the Zoom relations (docs/querying.md) with many events stored.

Applies the real migrations with hookpipe-writer --migrate, then fills hookpipe.events with
generated Zoom events by INSERT ... SELECT inside PostgreSQL (it bypasses the gateway and the
writer: this measures reads, not ingestion), VACUUM ANALYZEs, and times the lookup of one
meeting's participant sessions, recording files and meetings row for random meetings, printing
EXPLAIN (ANALYZE, BUFFERS) of each. Meetings interleave in time, so one meeting's events lie
on as many heap pages as it has events, as in production.

  bench/relations.py                  10 M events in a PostgreSQL 15 it starts (initdb, temp dir)
  bench/relations.py --events 1000000 --conninfo postgresql://u@127.0.0.1:5432/db  (existing,
                                      empty database: it applies the migrations itself)
"""

import argparse
import hashlib
import io
import os
import random
import shutil
import statistics
import string
import sys
import tempfile
import time

import psycopg2

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))
import harness  # noqa: E402
EVENTS_PER_MEETING = 160   # started, ended, a recording or not, 73 joins + 73 leaves, 11 others
PARTICIPANTS = 73


def say(msg):
    print(f"relations: {msg}", flush=True)


def own_postgres():
    """A PostgreSQL 15 of the harness (initdb'd in a temp dir, removed on close()), set for
    bulk loading."""
    return harness.PostgresServer(settings={
        "shared_buffers": "512MB", "max_wal_size": "4GB", "synchronous_commit": "off"}).start(60)


def migrate(writer, conninfo, tmp):
    cfg = harness.write_config(os.path.join(tmp, "bench-relations.ini"),
                               redis={"url": "redis://127.0.0.1:1/0"},
                               postgres={"conninfo": conninfo}, writer={})
    r = harness.run_daemon("writer", ["-c", cfg, "--migrate"], timeout=600, exe=writer)
    if r.returncode != 0:
        sys.exit(f"relations: --migrate failed: {r.stderr}")


# Event number i (0-based) of n: meeting m = i % meetings, its k-th event k = i // meetings, so
# the meetings run side by side; k = 0 started, 1..146 participant p = (k-1)//2 joins (odd k)
# and leaves (even k), 147 ended, 148 recording.completed (even m) or user.updated, then other
# account events. Every 20th meeting is a webinar. Times: 1 s per meeting per event step.
COLUMNS = "source, event, event_ts, account_id, received_at, event_key, payload, delivery_id"
GEN_SQL = """
SELECT 'bench' AS source, ev AS event, ts AS event_ts, acct AS account_id,
       ts + interval '80 ms' AS received_at, decode(md5('relbench' || i), 'hex') AS event_key,
       jsonb_build_object('event', ev, 'event_ts', (extract(epoch FROM ts) * 1000)::bigint,
                          'payload', jsonb_build_object('account_id', acct, 'object', obj))
           AS payload,
       'd' || i AS delivery_id
FROM (
    SELECT i, m, k, ev, ts, acct,
           CASE
           WHEN ev = 'recording.completed' THEN base || jsonb_build_object(
               'host_email', 'host' || m % 500 || '@example.com', 'recording_count', 3,
               'recording_files', (SELECT jsonb_agg(jsonb_build_object(
                   'id', md5('file' || m || '/' || f), 'meeting_id', uuid,
                   'recording_start', start_s, 'recording_end', end_s,
                   'file_type', (ARRAY['MP4', 'M4A', 'CHAT'])[f],
                   'file_extension', (ARRAY['MP4', 'M4A', 'TXT'])[f],
                   'file_size', 1000000 * f + m,
                   'play_url', 'https://example.zoom.us/rec/play/' || md5('p' || m || f),
                   'download_url', 'https://example.zoom.us/rec/download/' || md5('d' || m || f),
                   'status', 'completed',
                   'recording_type', (ARRAY['shared_screen_with_speaker_view', 'audio_only',
                                            'chat_file'])[f]))
                   FROM generate_series(1, 3) f))
           WHEN ev LIKE '%.participant_%' THEN base || jsonb_build_object('participant',
               jsonb_build_object(
                   'user_id', (16778000 + p)::text, 'user_name', 'User ' || p,
                   'id', md5('id' || p), 'participant_uuid', md5('pu' || m || '/' || p),
                   'email', 'user' || p || '@example.com', 'registrant_id', '',
                   'participant_user_id', md5('id' || p),
                   CASE WHEN ev LIKE '%joined' THEN 'join_time' ELSE 'leave_time' END,
                   to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
               || CASE WHEN ev LIKE '%left' THEN jsonb_build_object('leave_reason',
                      'left the meeting. Reason : left the meeting') ELSE '{}' END)
           WHEN ev LIKE '%.started' THEN base
           WHEN ev LIKE '%.ended' THEN base || jsonb_build_object('end_time', end_s)
           ELSE jsonb_build_object('id', md5('user' || m), 'email', 'user@example.com',
                                   'first_name', 'Jill', 'type', 2)
           END AS obj
    FROM (
        SELECT i, m, k, p, ts, acct, uuid, start_s, end_s,
               jsonb_build_object('id', (81000000000 + m)::text, 'uuid', uuid,
                                  'host_id', md5('host' || m % 500), 'topic', 'Meeting ' || m,
                                  'type', 2, 'start_time', start_s, 'timezone', 'UTC',
                                  'duration', 60) AS base,
               CASE WHEN k = 0 THEN kind || '.started'
                    WHEN k <= 146 AND k % 2 = 1 THEN kind || '.participant_joined'
                    WHEN k <= 146 THEN kind || '.participant_left'
                    WHEN k = 147 THEN kind || '.ended'
                    WHEN k = 148 AND m % 2 = 0 THEN 'recording.completed'
                    ELSE 'user.updated' END AS ev
        FROM (
            SELECT i, i % $meetings AS m, i / $meetings AS k,
                   ((i / $meetings) - 1) / 2 AS p,
                   timestamptz '2024-03-04 00:00:00+00'
                       + (i % $meetings) * interval '1 s'
                       + (i / $meetings) * interval '20 s' AS ts,
                   'acct' || (i % $meetings) % 50 AS acct,
                   md5('meeting' || (i % $meetings)) || '==' AS uuid,
                   CASE WHEN (i % $meetings) % 20 = 0 THEN 'webinar' ELSE 'meeting' END
                       AS kind,
                   to_char((timestamptz '2024-03-04 00:00:00+00'
                            + (i % $meetings) * interval '1 s') AT TIME ZONE 'UTC',
                           'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS start_s,
                   to_char((timestamptz '2024-03-04 00:00:00+00'
                            + (i % $meetings) * interval '1 s'
                            + 147 * interval '20 s') AT TIME ZONE 'UTC',
                           'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS end_s
            FROM generate_series($lo::bigint, $hi::bigint) i
        ) g
    ) h
) x
"""

LOOKUPS = {
    "participant_sessions":
        "SELECT * FROM hookpipe.participant_sessions WHERE meeting_uuid = %s",
    "recording_files": "SELECT * FROM hookpipe.recording_files WHERE meeting_uuid = %s",
    "meetings": "SELECT * FROM hookpipe.meetings WHERE meeting_uuid = %s",
}


READY = {
    "2. minutes per account per day (meetings ended in a 10-minute window)": """
SELECT m.account_id, date_trunc('day', m.started_at) AS day, count(*) AS meetings,
       round(sum(m.duration_s) / 60.0) AS minutes
FROM (SELECT DISTINCT source, payload #>> '{payload,object,uuid}' AS meeting_uuid
      FROM hookpipe.events
      WHERE event IN ('meeting.ended', 'webinar.ended')
        AND event_ts >= %s AND event_ts < %s::timestamptz + interval '10 minutes') ended
CROSS JOIN LATERAL (SELECT * FROM hookpipe.meetings m
                    WHERE m.source = ended.source AND m.meeting_uuid = ended.meeting_uuid
                    LIMIT 1) m
GROUP BY 1, 2 ORDER BY 1, 2""",
    "5. recordings of a user (one host, 30 days)": """
SELECT meeting_uuid, meeting_id, topic, file_type, recording_type, recording_start,
       file_size, download_url
FROM hookpipe.recording_files
WHERE host_email = 'host8@example.com'
  AND event_ts >= %s AND event_ts < %s::timestamptz + interval '30 days'
ORDER BY recording_start DESC, file_type""",
}


def ready_queries(conn, meetings):
    """Times ready queries 2 and 5 of docs/querying.md on the generated data."""
    first_end = "2024-03-04 00:49:00+00"   # 147 steps of 20 s after the first start
    with conn.cursor() as cur:
        for name, sql in READY.items():
            t = time.perf_counter()
            cur.execute(sql, (first_end, first_end))
            rows = cur.fetchall()
            say(f"ready query {name}: {len(rows)} rows in {(time.perf_counter() - t) * 1000:.0f} ms")


def index_build(conn):
    """Time to build events_zoom_meeting_uuid_idx once more (what sql/003 costs on a full table)."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_get_indexdef('hookpipe.events_zoom_meeting_uuid_idx'::regclass)")
        ddl = cur.fetchone()[0].replace("events_zoom_meeting_uuid_idx",
                                        "events_zoom_meeting_uuid_idx_bench", 1)
        t = time.perf_counter()
        cur.execute(ddl)
        took = time.perf_counter() - t
        cur.execute("DROP INDEX hookpipe.events_zoom_meeting_uuid_idx_bench")
    say(f"building events_zoom_meeting_uuid_idx on the full table: {took:.0f} s")


def ingest_cost(conn, n, rounds=3):
    """What the index costs the writer: text COPY (as the writer sends it: jsonb parsed, every
    index updated) of n generated rows into copies of events with and without it, in backend
    CPU seconds (wall time too; CPU time does not depend on what else runs) and WAL bytes."""
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE gen AS " +
                    string.Template(GEN_SQL).substitute(meetings=n // EVENTS_PER_MEETING,
                                                        lo=0, hi=n - 1))
        data = io.StringIO()
        cur.copy_expert(f"COPY (SELECT {COLUMNS} FROM gen) TO STDOUT", data)
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
        local = os.path.exists(f"/proc/{pid}/stat")
        took = {}
        for table in ("plain", "indexed"):
            # not TEMP: temp tables write no WAL, the writer's table does
            cur.execute(f"CREATE TABLE hookpipe.bench_{table} (LIKE hookpipe.events INCLUDING ALL)")
            took[table] = {"cpu": [], "wall": [], "wal": []}
        cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'bench_plain' "
                    "AND indexdef LIKE '%payload%'")
        cur.execute(f"DROP INDEX hookpipe.{cur.fetchone()[0]}")
        conn.commit()
        for _ in range(rounds):
            for table in ("plain", "indexed"):
                cur.execute(f"TRUNCATE hookpipe.bench_{table}")
                conn.commit()
                data.seek(0)
                cur.execute("SELECT pg_current_wal_insert_lsn()")
                lsn = cur.fetchone()[0]
                cpu = harness.cpu_seconds(pid) if local else 0.0
                t = time.perf_counter()
                cur.copy_expert(f"COPY hookpipe.bench_{table} ({COLUMNS}) FROM STDIN", data)
                conn.commit()
                took[table]["wall"].append(time.perf_counter() - t)
                took[table]["cpu"].append((harness.cpu_seconds(pid) if local else 0.0) - cpu)
                cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", (lsn,))
                took[table]["wal"].append(float(cur.fetchone()[0]))
        cur.execute("DROP TABLE gen, hookpipe.bench_plain, hookpipe.bench_indexed")
        conn.commit()
    med = {t: {k: statistics.median(v) for k, v in d.items()} for t, d in took.items()}
    p, i = med["plain"], med["indexed"]
    if local:
        say(f"COPY of {n} rows, backend CPU: {p['cpu']:.2f} s without "
            f"events_zoom_meeting_uuid_idx, {i['cpu']:.2f} s with it "
            f"({(i['cpu'] / p['cpu'] - 1) * 100:+.1f} %; median of {rounds})")
    say(f"COPY of {n} rows, wall: {n / p['wall']:.0f} rows/s without, {n / i['wall']:.0f} "
        f"rows/s with it ({(i['wall'] / p['wall'] - 1) * 100:+.1f} %); WAL "
        f"{p['wal'] / n:.0f} B/row without, {i['wal'] / n:.0f} B/row with it")


def fill(conn, n):
    meetings = n // EVENTS_PER_MEETING
    chunk = 1000000
    t0 = time.monotonic()
    with conn.cursor() as cur:
        for lo in range(0, meetings * EVENTS_PER_MEETING, chunk):
            hi = min(lo + chunk, meetings * EVENTS_PER_MEETING) - 1
            cur.execute(f"INSERT INTO hookpipe.events ({COLUMNS}) " +
                        string.Template(GEN_SQL).substitute(meetings=meetings, lo=lo, hi=hi))
            conn.commit()
            say(f"{hi + 1} events ({time.monotonic() - t0:.0f} s)")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE hookpipe.events")
    conn.autocommit = False
    return meetings


def timed(conn, sql, arg, repeat):
    out = []
    with conn.cursor() as cur:
        for _ in range(repeat):
            t = time.perf_counter()
            cur.execute(sql, (arg,))
            rows = cur.fetchall()
            out.append((time.perf_counter() - t) * 1000)
    return out, len(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=10000000)
    ap.add_argument("--conninfo", help="an empty database to use instead of starting one")
    ap.add_argument("--writer", default=os.path.join(SOURCE_DIR, "build", "hookpipe-writer"))
    ap.add_argument("--samples", type=int, default=50, help="random meetings per relation")
    ap.add_argument("--keep", action="store_true", help="skip the fill if events has rows")
    ap.add_argument("--extras", action="store_true",
                    help="also time ready queries 2 and 5, the index build and its insert cost")
    a = ap.parse_args()

    own = None
    try:
        if a.conninfo is None:
            own = own_postgres()
            a.conninfo = own.conninfo()
        tmp = tempfile.mkdtemp(prefix="hookpipe-rel-cfg.")
        migrate(a.writer, a.conninfo, tmp)
        shutil.rmtree(tmp)
        conn = psycopg2.connect(a.conninfo)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM hookpipe.events")
            have = cur.fetchone()[0]
        conn.commit()
        if have and a.keep:
            meetings = have // EVENTS_PER_MEETING
            say(f"kept {have} events")
        elif have:
            sys.exit("relations: hookpipe.events is not empty (use --keep to reuse it)")
        else:
            say(f"filling {a.events} events by INSERT ... SELECT (not through the writer)")
            meetings = fill(conn, a.events)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*), pg_size_pretty(pg_total_relation_size("
                        "'hookpipe.events')), pg_size_pretty(pg_relation_size("
                        "'hookpipe.events_zoom_meeting_uuid_idx')) FROM hookpipe.events")
            rows, size, isize = cur.fetchone()
        conn.commit()
        say(f"hookpipe.events: {rows} rows, {size} with indexes; "
            f"events_zoom_meeting_uuid_idx {isize}; {meetings} meetings")
        rnd = random.Random(13)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        local = os.path.exists(f"/proc/{pid}/stat")
        for rel, sql in LOOKUPS.items():
            ms_all = []
            first = []
            nrows = 0
            cpu0 = harness.cpu_seconds(pid) if local else 0.0
            for _ in range(a.samples):
                m = rnd.randrange(meetings)
                if rel == "recording_files":
                    m -= m % 2   # even meetings have a recording
                uuid = hashlib.md5(f"meeting{m}".encode()).hexdigest() + "=="
                t, nrows = timed(conn, sql, uuid, 3)
                first.append(t[0])
                ms_all.extend(t[1:])
            say(f"{rel}: one meeting ({nrows} rows): first lookup median "
                f"{statistics.median(first):.2f} ms, max {max(first):.2f} ms; repeated median "
                f"{statistics.median(ms_all):.2f} ms, p95 "
                f"{sorted(ms_all)[int(len(ms_all) * 0.95)]:.2f} ms" +
                (f"; backend CPU "
                 f"{(harness.cpu_seconds(pid) - cpu0) * 1000 / (a.samples * 3):.2f} ms "
                 "per lookup" if local else ""))
            with conn.cursor() as cur:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, (uuid,))
                print("\n".join(r[0] for r in cur.fetchall()), flush=True)
        if a.extras:
            ready_queries(conn, meetings)
            index_build(conn)
            ingest_cost(conn, 200000)
        conn.close()
    finally:
        if own is not None:
            own.close()


if __name__ == "__main__":
    main()

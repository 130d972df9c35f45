"""hookpipe.meetings, participant_sessions and recording_files (sql/003_relations.sql) over
events stored by the real writer: out-of-order joins and leaves, a rejoin, retries and
duplicates, a webinar, a meeting without its started event, a recording.completed delivered
twice and sent again later, and bad data that must read as NULL instead of failing a query.
Every body is a fixture from tests/fixtures/zoom/ (Zoom's documented shapes) with its
identifiers and times changed.
"""

import copy
import datetime
import json

import pytest

import harness
from writer_helpers import Stack, encode

UTC = datetime.timezone.utc
ACCOUNT = "AAAAAABBBB"
M1 = "m1UUID+abc/def=="       # a meeting with started and ended
M2 = "m2UUID-no-start=="      # a meeting whose meeting.started never arrived
W1 = "w1UUID-webinar=="       # a webinar
BAD = "badUUID-data=="        # a meeting full of bad data


@pytest.fixture
def stack(shared_redis, shared_pg, tmp_path):
    return Stack(shared_redis, shared_pg, tmp_path)


def t(hhmmss, day="2024-03-05"):
    return f"{day}T{hhmmss}Z"


def ts(hhmmss, day="2024-03-05"):
    """A datetime as psycopg2 returns timestamptz."""
    return datetime.datetime.fromisoformat(f"{day}T{hhmmss}+00:00")


def ms(hhmmss, plus_ms=0):
    """event_ts (ms) for a wall-clock time of the test day."""
    return int(ts(hhmmss).timestamp() * 1000) + plus_ms


def compact(doc):
    return json.dumps(doc, separators=(",", ":")).encode()


def lifecycle(name, uuid, mid, event_ts, **obj):
    """meeting.started / meeting.ended / webinar.* from the fixture of that name."""
    doc = copy.deepcopy(harness.fixture_json(name))
    doc["event_ts"] = event_ts
    doc["payload"]["account_id"] = ACCOUNT
    doc["payload"]["object"].update(uuid=uuid, id=mid, **obj)
    return doc


def participant(name, uuid, mid, event_ts, who, **fields):
    """*.participant_joined / *.participant_left from its fixture; who replaces participant."""
    doc = copy.deepcopy(harness.fixture_json(name))
    doc["event_ts"] = event_ts
    doc["payload"]["account_id"] = ACCOUNT
    doc["payload"]["object"].update(uuid=uuid, id=mid)
    p = doc["payload"]["object"]["participant"]
    for k in ("join_time", "leave_time", "leave_reason", "participant_uuid", "user_id", "id"):
        p.pop(k, None)
    p.update(who)
    p.update(fields)
    return doc


def joined(uuid, mid, event_ts, who, join_time, kind="meeting"):
    return participant(f"{kind}.participant_joined", uuid, mid, event_ts, who, join_time=join_time)


def left(uuid, mid, event_ts, who, leave_time, kind="meeting", reason="left the meeting"):
    return participant(f"{kind}.participant_left", uuid, mid, event_ts, who,
                       leave_time=leave_time, leave_reason=reason)


def recording(uuid, event_ts, token, size_bump=0):
    """recording.completed with its three files; token changes the download tokens/URLs only."""
    doc = copy.deepcopy(harness.fixture_json("recording.completed"))
    doc["event_ts"] = event_ts
    doc["download_token"] = f"token-{token}"
    obj = doc["payload"]["object"]
    obj["uuid"] = uuid
    for f in obj["recording_files"]:
        f["meeting_id"] = uuid
        f["download_url"] = f"https://example.com/rec/download/{f['id']}?t={token}"
        f["play_url"] = f"https://example.com/rec/play/{f['id']}?t={token}"
        f["file_size"] += size_bump
    return doc


ALICE = {"participant_uuid": "alice-puuid", "user_id": "16778201", "id": "alice-id",
         "user_name": "Alice", "email": "alice@example.com"}
BOB = {"user_id": "16778202", "id": "", "user_name": "Bob", "email": "bob@example.com"}
CAROL = {"participant_uuid": "carol-puuid", "user_id": "16778203", "user_name": "Carol",
         "email": "carol@example.com"}
DAVE = {"participant_uuid": "dave-puuid", "user_name": "Dave", "email": "dave@example.com"}


def scenario():
    """(deliveries in arrival order, number of distinct events rows they make)."""
    out = []

    def send(doc, times=1):
        b = compact(doc)
        out.extend([b] * times)   # times > 1: Zoom's retry, the very same bytes

    # M1: started/ended; Alice leaves and rejoins, her first `left` arriving after the rejoin;
    # Bob's `left` arrives before his `joined` (and he has no participant_uuid); Carol's
    # `joined` is retried and also sent again by Zoom with another event_ts; Dave only left.
    send(lifecycle("meeting.started", M1, "81234567890", ms("10:00:00"),
                   start_time=t("10:00:00"), topic="Weekly sync"))
    send(left(M1, "81234567890", ms("10:40:00"), BOB, t("10:40:00")))
    send(joined(M1, "81234567890", ms("10:01:00"), ALICE, t("10:01:00")))
    send(joined(M1, "81234567890", ms("10:25:00"), ALICE, t("10:25:00")))
    send(joined(M1, "81234567890", ms("10:05:00"), BOB, t("10:05:00")))
    send(left(M1, "81234567890", ms("10:20:00"), ALICE, t("10:20:00"), reason="lost connection"))
    send(joined(M1, "81234567890", ms("10:10:00"), CAROL, t("10:10:00")), times=2)
    send(joined(M1, "81234567890", ms("10:10:00", 250), CAROL, t("10:10:00")))
    send(left(M1, "81234567890", ms("10:30:00"), DAVE, t("10:30:00")))
    send(left(M1, "81234567890", ms("10:50:00"), ALICE, t("10:50:00")))
    send(lifecycle("meeting.ended", M1, "81234567890", ms("11:00:00"),
                   start_time=t("10:00:00"), end_time=t("11:00:00"), topic="Weekly sync"))
    # the recording of M1: Zoom's duplicate delivery (new download tokens, same event) and,
    # later, another recording.completed listing the same three files
    send(recording(M1, ms("11:30:00"), "first"))
    send(recording(M1, ms("11:30:00"), "duplicate"))
    send(recording(M1, ms("12:00:00"), "later", size_bump=1))

    # M2: participants only (meeting.started was lost); its numeric id sent as a number
    send(joined(M2, 85550001111, ms("09:00:00"), ALICE, t("09:00:00")))
    send(left(M2, 85550001111, ms("09:30:00"), ALICE, "2024-03-05T09:30:00+00:00"))

    # W1: a webinar, with a join time given with an offset
    send(lifecycle("webinar.started", W1, "95204914252", ms("13:00:00"),
                   start_time=t("13:00:00"), topic="Town hall"))
    send(joined(W1, "95204914252", ms("13:02:00"), CAROL, "2024-03-05T15:02:00+02:00",
                kind="webinar"))
    send(left(W1, "95204914252", ms("13:40:00"), CAROL, t("13:40:00.500"), kind="webinar",
              reason="left the webinar"))
    send(lifecycle("webinar.ended", W1, "95204914252", ms("14:00:00"),
                   start_time=t("13:00:00"), end_time=t("14:00:00"), topic="Town hall"))

    # BAD: an object id, unreadable times, a join without join_time, an object participant id,
    # a participant that is not an object, recording files that are not a list
    send(lifecycle("meeting.started", BAD, {"nested": 1}, ms("16:00:00"),
                   start_time="2024-02-30T10:00:00Z", topic=["not", "text"]))
    frank = {"participant_uuid": "frank-puuid", "user_name": "Frank"}
    send(participant("meeting.participant_joined", BAD, "1", ms("16:01:00"), frank))
    send(left(BAD, "1", ms("16:02:00"), frank, "2024-03-05 25:00:00Z"))
    gina = {"participant_uuid": {"x": 1}, "user_id": "gina-uid", "user_name": "Gina"}
    send(joined(BAD, "1", ms("16:03:00"), gina, "yesterday"))
    bad = joined(BAD, "1", ms("16:04:00"), {}, t("16:04:00"))
    bad["payload"]["object"]["participant"] = "not an object"
    send(bad)
    rec = recording(BAD, ms("17:00:00"), "bad")
    rec["payload"]["object"]["recording_files"][0]["file_size"] = "big"
    rec["payload"]["object"]["recording_files"][0]["recording_start"] = 1709654400
    rec["payload"]["object"]["recording_files"][1]["id"] = {"not": "text"}
    send(rec)
    rec2 = recording(BAD, ms("17:30:00"), "bad2")
    rec2["payload"]["object"]["recording_files"] = {"id": "x"}
    send(rec2)
    return out, len(set(out)) - 1   # minus the duplicate recording.completed (same event_key)


@pytest.fixture
def stored(stack):
    deliveries, rows = scenario()
    stack.push([encode(b, delivery_id=f"d{i}") for i, b in enumerate(deliveries)])
    w = stack.writer()
    stack.wait_rows(rows)
    stack.wait_drained()
    assert w.stop() == 0
    return stack


def sessions(stack, uuid):
    return stack.q("SELECT participant_key, user_name, email, joined_at, left_at, duration_s, "
                   "leave_reason, kind, meeting_id FROM hookpipe.participant_sessions "
                   "WHERE meeting_uuid = %s "
                   "ORDER BY participant_key NULLS LAST, joined_at NULLS FIRST, left_at", (uuid,))


def test_participant_sessions_pair_by_event_times(stored):
    rows = sessions(stored, M1)
    mid = "81234567890"
    assert rows == [
        # Bob: no participant_uuid, so user_id; his left arrived first
        ("16778202", "Bob", "bob@example.com", ts("10:05:00"), ts("10:40:00"), 2100,
         "left the meeting", "meeting", mid),
        # Alice: two stays, each join with the first leave after it, whatever the arrival
        ("alice-puuid", "Alice", "alice@example.com", ts("10:01:00"), ts("10:20:00"), 1140,
         "lost connection", "meeting", mid),
        ("alice-puuid", "Alice", "alice@example.com", ts("10:25:00"), ts("10:50:00"), 1500,
         "left the meeting", "meeting", mid),
        # Carol: retried and duplicated join, still in
        ("carol-puuid", "Carol", "carol@example.com", ts("10:10:00"), None, None, None,
         "meeting", mid),
        # Dave: a leave with no join
        ("dave-puuid", "Dave", "dave@example.com", None, ts("10:30:00"), None,
         "left the meeting", "meeting", mid),
    ]
    # participants still in
    still = stored.q("SELECT user_name FROM hookpipe.participant_sessions "
                     "WHERE meeting_uuid = %s AND joined_at IS NOT NULL AND left_at IS NULL",
                     (M1,))
    assert still == [("Carol",)]


def test_meeting_without_started_and_webinar_sessions(stored):
    assert sessions(stored, M2) == [
        ("alice-puuid", "Alice", "alice@example.com", ts("09:00:00"), ts("09:30:00"), 1800,
         "left the meeting", "meeting", "85550001111")]
    assert sessions(stored, W1) == [
        ("carol-puuid", "Carol", "carol@example.com", ts("13:02:00"), ts("13:40:00.500"), 2281,
         "left the webinar", "webinar", "95204914252")]


def test_meetings(stored):
    rows = stored.q("SELECT source, account_id, kind, meeting_id, meeting_uuid, topic, host_id, "
                    "started_at, ended_at, duration_s, last_event_at FROM hookpipe.meetings "
                    "ORDER BY meeting_uuid")
    host = "x1yCzABCDEfg23HiJKl4mN"
    zhost = "Wk9PTV9VU0VSX0lE"   # meeting.started/ended fixture's host_id
    assert rows == [
        # descriptive columns from the newest event that has them as text
        ("acme", ACCOUNT, "meeting", "1", BAD, "My Meeting", host, None, None, None,
         ts("16:04:00")),
        ("acme", ACCOUNT, "meeting", "81234567890", M1, "Weekly sync", zhost, ts("10:00:00"),
         ts("11:00:00"), 3600, ts("11:00:00")),
        ("acme", ACCOUNT, "meeting", "85550001111", M2, "My Meeting", host, None, None, None,
         ts("09:30:00")),
        ("acme", ACCOUNT, "webinar", "95204914252", W1, "Town hall", host, ts("13:00:00"),
         ts("14:00:00"), 3600, ts("14:00:00")),
    ]
    # one meeting by uuid
    assert stored.q("SELECT duration_s FROM hookpipe.meetings WHERE meeting_uuid = %s",
                    (M1,)) == [(3600,)]


def test_recording_files_never_doubled(stored):
    fx = harness.fixture_json("recording.completed")["payload"]["object"]["recording_files"]
    rows = stored.q("SELECT source, account_id, meeting_uuid, meeting_id, topic, file_id, "
                    "file_type, recording_type, recording_start, recording_end, file_size, "
                    "status, download_url FROM hookpipe.recording_files "
                    "WHERE meeting_uuid = %s ORDER BY file_id", (M1,))
    expect = sorted(
        ("acme", ACCOUNT, M1, "1234567890", "My Personal Meeting Room", f["id"], f["file_type"],
         f["recording_type"], datetime.datetime.fromisoformat(f["recording_start"][:-1]
                                                              + "+00:00"),
         datetime.datetime.fromisoformat(f["recording_end"][:-1] + "+00:00"),
         f["file_size"] + 1, "completed",
         f"https://example.com/rec/download/{f['id']}?t=later") for f in fx)
    assert rows == expect
    # two events rows (the duplicate delivery collapsed by event_key), three files
    assert stored.q("SELECT count(*) FROM hookpipe.events WHERE event = 'recording.completed' "
                    "AND payload->'payload'->'object'->>'uuid' = %s", (M1,)) == [(2,)]


def test_bad_data_reads_as_null(stored):
    # started with an object id, a list topic and Feb 30: only the readable values show
    assert stored.q("SELECT meeting_id, topic, started_at FROM hookpipe.meetings "
                    "WHERE meeting_uuid = %s", (BAD,)) == [("1", "My Meeting", None)]
    assert stored.q("SELECT hookpipe.zoom_text(payload->'payload'->'object'->'id'), "
                    "hookpipe.zoom_text(payload->'payload'->'object'->'topic') "
                    "FROM hookpipe.events WHERE event = 'meeting.started' "
                    "AND payload->'payload'->'object'->>'uuid' = %s", (BAD,)) == [(None, None)]
    rows = sessions(stored, BAD)
    assert [r[:6] for r in rows] == [
        # Frank: join without join_time, leave with an hour 25: paired (by event_ts), times NULL
        ("frank-puuid", "Frank", "jchill@example.com", None, None, None),
        # Gina: participant_uuid is an object, so user_id; her join_time is not a time
        ("gina-uid", "Gina", "jchill@example.com", None, None, None),
        # a participant that is not an object: no key, no times, one row of its own
        (None, None, None, None, None, None),
    ]
    assert rows[0][6] == "left the meeting"
    files = stored.q("SELECT file_id, file_size, recording_start, file_type FROM "
                     "hookpipe.recording_files WHERE meeting_uuid = %s", (BAD,))
    # three files from the first notification, none from the one whose recording_files is
    # not a list; the "big" size, the numeric recording_start and the object id read as NULL
    rec_start = datetime.datetime(2021, 7, 13, 21, 44, 51, tzinfo=UTC)
    assert sorted(files, key=lambda r: r[3]) == [
        ("c0e0a1b2-53f8-4c1e-8d3b-7e9f0a1b2c3d", 271, rec_start, "CHAT"),
        (None, 18890, rec_start, "M4A"),
        ("ed6c2f27-2ae7-42f4-b3d0-835b493e4fa8", None, None, "MP4")]
    # every relation reads in full without an error
    for rel in ("meetings", "participant_sessions", "recording_files"):
        stored.q(f"SELECT * FROM hookpipe.{rel}")


ZOOM_TIMES = [
    ("2021-07-13T21:44:51Z", datetime.datetime(2021, 7, 13, 21, 44, 51, tzinfo=UTC)),
    ("2021-07-13T23:44:51+02:00", datetime.datetime(2021, 7, 13, 21, 44, 51, tzinfo=UTC)),
    ("2021-07-13T16:14:51-0530", datetime.datetime(2021, 7, 13, 21, 44, 51, tzinfo=UTC)),
    ("2021-07-13T21:44:51.250Z", datetime.datetime(2021, 7, 13, 21, 44, 51, 250000, tzinfo=UTC)),
    ("2024-02-29T00:00:00Z", datetime.datetime(2024, 2, 29, tzinfo=UTC)),
    ("2023-02-29T00:00:00Z", None), ("2021-13-01T00:00:00Z", None),
    ("2021-07-13T24:00:00Z", None), ("2021-07-13T21:60:00Z", None),
    ("2021-07-13T21:44:51", None), ("2021-07-13", None), ("1626212691", None),
    ('{"a": 1}', None), ("", None), ("0000-01-01T00:00:00Z", None),
    ("2021-07-13T21:44:51+01:99", None), (None, None),
]


def test_zoom_time_is_safe(stack):
    r = harness.run_daemon("writer", ["-c", stack.config("migrator"), "--migrate"])
    assert r.returncode == 0, r.stderr
    for text, want in ZOOM_TIMES:
        got = stack.q("SELECT hookpipe.zoom_time(%s)", (text,))[0][0]
        assert got == want, text
    # the same result whatever the session's TimeZone and DateStyle
    assert stack.q("SET TIME ZONE 'Asia/Kolkata'; SET DateStyle = 'SQL, DMY'; "
                   "SELECT hookpipe.zoom_time('2021-07-13T21:44:51Z') = "
                   "'2021-07-13 21:44:51+00'::timestamptz")[0][0] is True


@pytest.mark.parametrize("rel", ["meetings", "participant_sessions", "recording_files"])
def test_one_meeting_lookup_is_an_index_scan(stored, rel):
    """meeting_uuid = ... reaches the scan of events (through the grouping, the windows and
    the file dedup), so it is an index condition on events_zoom_meeting_uuid_idx."""
    plan = stored.q(f"SET enable_seqscan = off; EXPLAIN (FORMAT JSON) "
                    f"SELECT * FROM hookpipe.{rel} WHERE meeting_uuid = %s", (M1,))[0][0]
    # hookpipe.events is partitioned: the lookup probes each partition's copy of the index
    indexes = {"events_zoom_meeting_uuid_idx"} | {r[0] for r in stored.q(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'hookpipe.events_zoom_meeting_uuid_idx'::regclass")}
    probes, seq = [], []

    def walk(node):
        if node.get("Index Name") in indexes and M1 in node.get("Index Cond", ""):
            probes.append(node)
        if node.get("Node Type") == "Seq Scan" and node.get("Relation Name", "").startswith(
                "events"):
            seq.append(node)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    assert probes, json.dumps(plan, indent=1)
    assert not seq, json.dumps(plan, indent=1)


def test_relations_on_a_partitioned_events_table(shared_pg):
    """sql/003 only uses columns events has before and after partitioning by event_time: on a
    range-partitioned events table its index exists in every partition, a stay whose join and
    leave lie in two partitions is still one row, and a lookup probes each partition's index.
    (The partitioned table is made here by hand, the way the storage migration makes it.)"""
    db = shared_pg.create_database()
    sql = open(f"{harness.SOURCE_DIR}/sql/003_relations.sql").read()
    shared_pg.query(db, """
        CREATE SCHEMA hookpipe;
        CREATE TABLE hookpipe.events (
            id bigint GENERATED ALWAYS AS IDENTITY, source text NOT NULL, event text NOT NULL,
            event_ts timestamptz, account_id text, received_at timestamptz NOT NULL,
            event_key bytea NOT NULL, payload jsonb NOT NULL, delivery_id text,
            request_id text, inserted_at timestamptz NOT NULL DEFAULT now(),
            event_time timestamptz NOT NULL, PRIMARY KEY (id, event_time),
            UNIQUE (event_key, event_time)) PARTITION BY RANGE (event_time);
        CREATE TABLE hookpipe.events_undated PARTITION OF hookpipe.events
            FOR VALUES FROM (MINVALUE) TO ('1971-01-01');
        CREATE TABLE hookpipe.events_2024_03_05 PARTITION OF hookpipe.events
            FOR VALUES FROM ('2024-03-05') TO ('2024-03-06');
        CREATE TABLE hookpipe.events_2024_03_06 PARTITION OF hookpipe.events
            FOR VALUES FROM ('2024-03-06') TO ('2024-03-07');
    """ + sql)
    late = participant("meeting.participant_left", M1, "81234567890",
                       ms("00:30:00") + 86400000, ALICE,
                       leave_time="2024-03-06T00:30:00Z", leave_reason="left the meeting")
    docs = [joined(M1, "81234567890", ms("23:50:00"), ALICE, t("23:50:00")), late,
            recording(M1, ms("23:55:00"), "a"), recording(M1, ms("00:40:00") + 86400000, "b")]
    for i, doc in enumerate(docs):
        shared_pg.query(db, "INSERT INTO hookpipe.events (source, event, event_ts, received_at, "
                            "event_key, payload, event_time) VALUES ('acme', %s, "
                            "to_timestamp(%s / 1000.0), now(), %s, %s, to_timestamp(%s / 1000.0))",
                        (doc["event"], doc["event_ts"], bytes([i]), json.dumps(doc),
                         doc["event_ts"]))
    parts = shared_pg.query(db, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'hookpipe' "
                                "AND indexdef LIKE '%{payload,object,uuid}%'")
    assert parts == [(4,)]   # the parent's and each partition's
    assert shared_pg.query(db, "SELECT joined_at, left_at, duration_s FROM "
                               "hookpipe.participant_sessions WHERE meeting_uuid = %s", (M1,)) == [
        (ts("23:50:00"), ts("00:30:00", day="2024-03-06"), 2400)]
    assert shared_pg.query(db, "SELECT count(*), min(download_url) FROM hookpipe.recording_files "
                               "WHERE meeting_uuid = %s", (M1,))[0][0] == 3
    plan = shared_pg.query(db, "SET enable_seqscan = off; EXPLAIN SELECT * FROM "
                               "hookpipe.participant_sessions WHERE meeting_uuid = %s", (M1,))
    text = "\n".join(r[0] for r in plan)
    # each of the three partitions is scanned through its copy of the index, by meeting
    assert text.count("Index Cond: (CASE WHEN") == 3, text


@pytest.mark.timeout(120)
def test_lookup_estimate_uses_the_index_statistics(stack):
    """The planner must know that one meeting has few events: with a partial index it ignored
    the index's statistics and guessed 0.5 % of the table per meeting, which at 10 M events
    meant parallel workers and JIT compilation for a 146-row lookup (150-1200 ms)."""
    r = harness.run_daemon("writer", ["-c", stack.config("migrator"), "--migrate"])
    assert r.returncode == 0, r.stderr
    # 4000 meetings x 10 participant events, by SQL (the writer is not what this is about)
    stack.q("""
        INSERT INTO hookpipe.events (source, event, event_time, received_at, event_key, payload)
        SELECT 'acme', ev, '1970-01-01 00:00:00+00', now(), decode(md5('est' || i), 'hex'),
               jsonb_build_object('event', ev, 'payload', jsonb_build_object('object',
                   jsonb_build_object('uuid', 'meeting-' || i % 4000, 'participant',
                       jsonb_build_object('user_id', (i / 4000)::text,
                                          'join_time', '2024-03-05T10:00:00Z'))))
        FROM generate_series(0, 39999) i,
             LATERAL (SELECT CASE WHEN i / 4000 % 2 = 0 THEN 'meeting.participant_joined'
                                  ELSE 'meeting.participant_left' END) e(ev);
        ANALYZE hookpipe.events""")
    plan = stack.q("EXPLAIN (FORMAT JSON) SELECT * FROM hookpipe.participant_sessions "
                   "WHERE meeting_uuid = 'meeting-7'")[0][0]

    def scans(node):
        if node.get("Relation Name") == "events_undated":  # where the rows above are
            yield node
        for child in node.get("Plans", []):
            yield from scans(child)

    (scan,) = scans(plan[0]["Plan"])
    # 10 events really; the default guess would be 0.5 % of 40000 = 200
    assert scan["Plan Rows"] < 50, json.dumps(plan, indent=1)
    assert scan["Node Type"] in ("Index Scan", "Bitmap Heap Scan"), json.dumps(plan, indent=1)

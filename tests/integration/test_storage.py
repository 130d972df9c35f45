"""Storage that survives its own growth (docs/storage.md): hookpipe.events partitioned on
event_time, partitions created when needed, retention by maintenance (--maintain and the
daemon's own passes), and the v1 -> partitioned migration. Real PostgreSQL, real writers."""

import calendar
import datetime
import hashlib
import json
import os
import subprocess
import threading
import time

import pytest

import harness
from writer_helpers import Stack, body, encode, recording_completed

DAY_MS = 86400000


@pytest.fixture
def stack(shared_redis, shared_pg, tmp_path):
    return Stack(shared_redis, shared_pg, tmp_path)


def ms(y, m, d, hh=12):
    return calendar.timegm((y, m, d, hh, 0, 0)) * 1000


def now_ms():
    return int(time.time() * 1000)


def at(t_ms):
    """received_us of a delivery received a second after t_ms: its event_ts is then inside the
    window ([storage] event_time_past_days/_future_s) and gives its event_time."""
    return (t_ms + 1000) * 1000


def config(stack, name, storage=None, **writer):
    """A writer config with a [storage] section."""
    w = {"batch_size": 500, "flush_interval_ms": 20, "name": name}
    w.update(writer)
    extra = "[storage]\n" + "".join(f"{k} = {v}\n" for k, v in (storage or {}).items())
    return harness.write_config(
        os.path.join(str(stack.tmp), f"writer-{name}.ini"),
        redis={"url": stack.redis.url, "queue": stack.queue},
        postgres={"conninfo": stack.pg.conninfo(stack.db)},
        writer=w, log={"level": "info"}, extra=extra)


def writer(stack, storage=None, admin=False, **kw):
    name = harness.unique_name("w")
    if admin:
        kw["admin_listen"] = "127.0.0.1:0"
    d = harness.Daemon("writer", config(stack, name, storage, **kw))
    d.name = name
    d.admin_port = None
    stack.writers.append(d)
    return Stack.start_writer(d, admin)


def maintain(stack, storage, name="maint"):
    r = harness.run_daemon("writer", ["-c", config(stack, name, storage), "--maintain"],
                           timeout=120)
    return r


def partitions(stack):
    return stack.q("SELECT name, lo, hi FROM hookpipe.event_partitions ORDER BY lo")


def placed(stack):
    """{delivery_id: partition name} of every stored row."""
    return dict(stack.q("SELECT e.delivery_id, c.relname::text FROM hookpipe.events e "
                        "JOIN pg_class c ON c.oid = e.tableoid"))


def key_v2(source, raw):
    """event_key of a body with no download tokens (docs/storage.md "The event_key rule")."""
    return hashlib.sha256(b"hookpipe-event-key-v2\0" + source.encode() + b"\0" + raw).digest()


@pytest.mark.timeout(120)
def test_events_spread_over_months_land_in_their_partitions(stack):
    times = {"m2021": ms(2021, 2, 14), "m2024": ms(2024, 6, 30, 23), "m2026": ms(2026, 3, 1, 0),
             "m2031": ms(2031, 12, 31, 23), "m1970": 5000}
    items = [encode(body(event_ts=t), delivery_id=d, received_us=at(t)) for d, t in times.items()]
    items.append(encode(json.dumps({"event": "no.ts", "payload": {}}).encode(),
                        delivery_id="undated"))
    items.append(encode(json.dumps({"event": "bad.ts", "event_ts": "soon"}).encode(),
                        delivery_id="bad_ts"))
    stack.push(items)
    writer(stack, {"partition_interval": "month", "premake": 1})
    stack.wait_rows(len(items))
    where = placed(stack)
    # 2031 is past the horizon (premake, or now + event_time_future_s): no partition, undated
    assert where == {"m2021": "events_p20210201", "m2024": "events_p20240601",
                     "m2026": "events_p20260301", "m2031": "events_undated",
                     "m1970": "events_undated", "undated": "events_undated",
                     "bad_ts": "events_undated"}
    # an event without a usable event_ts is stored with event_ts NULL, event_time 1970-01-01
    rows = stack.q("SELECT delivery_id, event_ts IS NULL, event_time = 'epoch' FROM "
                   "hookpipe.events WHERE delivery_id IN ('undated', 'bad_ts') ORDER BY 1")
    assert rows == [("bad_ts", True, True), ("undated", True, True)]
    # event_time is event_ts where it is dated; event_ts is kept as the body says in any case
    assert stack.q("SELECT count(*) FROM hookpipe.events WHERE event_ts IS NOT NULL AND "
                   "event_ts <> event_time AND delivery_id <> 'm2031'") == [(0,)]
    assert stack.q("SELECT event_ts = to_timestamp(%s / 1000.0) FROM hookpipe.events "
                   "WHERE delivery_id = 'm2031'", (times["m2031"],)) == [(True,)]
    # no DEFAULT partition, ever
    assert stack.q("SELECT partdefid FROM pg_partitioned_table WHERE partrelid = "
                   "'hookpipe.events'::regclass") == [(0,)]


@pytest.mark.timeout(120)
def test_retries_and_duplicates_collapse_across_the_table(stack):
    """Retries (same bytes) and Zoom's duplicate recording.completed (new tokens) of events in
    several partitions, delivered in separate batches, and of an undated event: one row each."""
    w = writer(stack, {"partition_interval": "day"}, admin=True, batch_size=50)
    bodies = [body(event_ts=ms(2025, 1, d), obj={"id": f"o{d}"}) for d in range(1, 11)]
    undated = json.dumps({"event": "x.y", "payload": {"object": {"id": 1}}}).encode()
    first = [encode(b, delivery_id=f"a{i}", received_us=at(ms(2025, 1, i + 1)))
             for i, b in enumerate(bodies)]
    first += [encode(undated, delivery_id="u0"),
              encode(recording_completed("tokA", "urlA", event_ts=ms(2025, 3, 3)),
                     delivery_id="rec0", received_us=at(ms(2025, 3, 3)))]
    stack.push(first)
    stack.wait_rows(len(first))
    # the retries, an hour later each
    again = [encode(b, delivery_id=f"b{i}", received_us=at(ms(2025, 1, i + 1) + 3600000))
             for i, b in enumerate(bodies)]
    again += [encode(undated, delivery_id="u1"),
              encode(recording_completed("tokB", "urlB", event_ts=ms(2025, 3, 3)),
                     delivery_id="rec1", received_us=at(ms(2025, 3, 3) + 3600000))]
    stack.push(again)
    stack.push([encode(body(event_ts=ms(2025, 5, 5)), delivery_id="sentinel",
                       received_us=at(ms(2025, 5, 5)))])
    stack.wait_rows(len(first) + 1)
    assert {d for (d,) in stack.q("SELECT delivery_id FROM hookpipe.events")} == \
        {f"a{i}" for i in range(10)} | {"u0", "rec0", "sentinel"}
    assert stack.q("SELECT count(DISTINCT tableoid) FROM hookpipe.events") == [(13,)]
    harness.wait_for(lambda: harness.metrics(w.admin_port)["hookpipe_writer_duplicates_total"]
                     == len(again), timeout=10, what="duplicates counted")


@pytest.mark.timeout(180)
def test_retention_drops_exactly_the_old_partitions(stack):
    """keep_days = 30, day partitions: partitions wholly older than 30 days go, the rest
    stays; old dead letters and old undated events are deleted, recent ones kept; an event
    already past keep_days when it is stored gets no partition (none is made behind the
    retention boundary): it is stored undated, counted, and goes by its received_at."""
    today = now_ms() // DAY_MS * DAY_MS
    ages = [400, 45, 31, 29, 5, 0]  # days before today
    items = [encode(body(event_ts=today - a * DAY_MS + 3600000), delivery_id=f"d{a}",
                    received_us=at(today - a * DAY_MS + 3600000)) for a in ages]
    old_us = (now_ms() - 40 * DAY_MS) * 1000
    items.append(encode(json.dumps({"event": "no.ts"}).encode(), delivery_id="undated_old",
                        received_us=old_us))
    items.append(encode(json.dumps({"event": "no.ts", "n": 2}).encode(),
                        delivery_id="undated_new"))
    stack.push(items)
    w = writer(stack, {"partition_interval": "day", "premake": 1}, admin=True)
    stack.wait_rows(len(items))
    # an arrival already older than keep_days (none is configured here: not counted)
    assert harness.metrics(w.admin_port)["hookpipe_writer_expired_on_arrival_total"] == 0
    stack.q("INSERT INTO hookpipe.dead_letters (source, received_at, reason, body, item_key) "
            "VALUES ('acme', now() - interval '40 days', 'old', '\\x00', '\\x01'), "
            "('acme', now() - interval '3 days', 'new', '\\x00', '\\x02')")
    before = {n for n, _, _ in partitions(stack)}
    r = maintain(stack, {"partition_interval": "day", "keep_days": 30, "premake": 1})
    assert r.returncode == 0, r.stderr
    after = {n for n, _, _ in partitions(stack)}
    day = lambda a: "events_p" + time.strftime("%Y%m%d", time.gmtime((today - a * DAY_MS) / 1000))
    assert before - after == {day(400), day(45), day(31)}
    assert {day(29), day(5), day(0), "events_undated"} <= after
    assert {d for (d,) in stack.q("SELECT delivery_id FROM hookpipe.events")} == \
        {"d29", "d5", "d0", "undated_new"}
    assert stack.q("SELECT reason FROM hookpipe.dead_letters") == [("new",)]
    assert "partitions_dropped=3" in r.stderr and "rows_deleted=2" in r.stderr

    # a writer with keep_days stores a too-old arrival (received long ago, e.g. out of a
    # restored queue) undated, without a partition, counts it; the next pass deletes it
    w.stop()
    w2 = writer(stack, {"partition_interval": "day", "keep_days": 30}, admin=True)
    harness.wait_for(lambda: "maintenance done" in w2.log(), timeout=20,
                     what="the writer's maintenance pass at start")
    stack.push([encode(body(event_ts=today - 100 * DAY_MS), delivery_id="late",
                       received_us=at(today - 100 * DAY_MS))])
    stack.wait_rows(5, dead=1)  # the recent dead letter stays
    assert placed(stack)["late"] == "events_undated"
    assert day(100) not in {n for n, _, _ in partitions(stack)}
    m = harness.metrics(w2.admin_port)
    assert m['hookpipe_writer_rows_undated_total{reason="no_partition"}'] == 1
    assert m["hookpipe_writer_expired_on_arrival_total"] == 0
    r = maintain(stack, {"partition_interval": "day", "keep_days": 30})
    assert r.returncode == 0, r.stderr
    assert "late" not in placed(stack)


@pytest.mark.timeout(120)
def test_maintain_is_idempotent(stack):
    storage = {"partition_interval": "week", "premake": 3, "keep_days": 10}
    r1 = maintain(stack, storage)
    assert r1.returncode == 0, r1.stderr
    first = partitions(stack)
    # the current week and the 3 after it, plus the undated partition
    assert len(first) == 5
    starts = [lo.astimezone(datetime.timezone.utc) for _, lo, _ in first[1:]]
    assert all(s.weekday() == 0 and s.hour == 0 for s in starts)  # Mondays, UTC
    assert all(b[1] == a[2] for a, b in zip(first[1:], first[2:]))  # contiguous
    for _ in range(2):
        r = maintain(stack, storage)
        assert r.returncode == 0, r.stderr
        assert "partitions_created=0 partitions_dropped=0 rows_deleted=0" in r.stderr
        assert partitions(stack) == first


@pytest.mark.timeout(180)
def test_two_writers_doing_maintenance_at_once_do_not_collide(stack):
    """Many --maintain passes and two daemons (each runs one at start) at the same time:
    every one succeeds, the partitions are exactly the expected ones, each made once."""
    assert harness.run_daemon("writer", ["-c", config(stack, "m0"), "--migrate"]).returncode == 0
    today = now_ms() // DAY_MS * DAY_MS
    # expired partitions for the passes to race on
    stack.q("SELECT hookpipe.ensure_partitions(ARRAY(SELECT to_timestamp(x / 1000.0) FROM "
            "unnest(%s::bigint[]) x), 'day')", ([today - a * DAY_MS for a in (50, 60, 70)],))
    storage = {"partition_interval": "day", "premake": 5, "keep_days": 20,
               "maintenance_interval_s": 1}
    results = [None] * 6

    def run(i):
        results[i] = maintain(stack, storage, name=f"m{i}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    ws = [writer(stack, storage) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    assert all(r is not None and r.returncode == 0 for r in results), results
    names = [n for n, _, _ in partitions(stack)]
    want = ["events_undated"] + ["events_p" + time.strftime(
        "%Y%m%d", time.gmtime((today + d * DAY_MS) / 1000)) for d in range(6)]
    assert names == want
    # the daemons keep passing every second without errors
    time.sleep(2.5)
    for w in ws:
        w.stop()
        assert "maintenance given up" not in w.log()
        assert "level=error" not in w.log()


@pytest.mark.timeout(180)
def test_copy_racing_partition_creation_loses_nothing(stack):
    """Three writers, small batches, every batch holding rows of days no partition exists
    for yet, while --maintain passes run: every row is stored once, none is a dead letter."""
    n_days, per_day = 40, 60
    base = (now_ms() // DAY_MS - 60) * DAY_MS  # days before any premade partition
    items = []
    for i in range(per_day):
        for d in range(n_days):
            t = base + d * DAY_MS + i * 1000
            items.append(encode(body(event_ts=t), delivery_id=f"r{d}_{i}", received_us=at(t)))
    ws = [writer(stack, {"partition_interval": "day", "premake": 0}, admin=True, batch_size=37)
          for _ in range(3)]
    stack.push(items, chunk=100)
    stop = threading.Event()
    passes = []

    def maintainer():
        while not stop.is_set():
            passes.append(maintain(stack, {"partition_interval": "day", "premake": 2},
                                   name=harness.unique_name("mt")).returncode)

    t = threading.Thread(target=maintainer)
    t.start()
    try:
        stack.wait_rows(len(items), timeout=120)
    finally:
        stop.set()
        t.join(60)
    stack.assert_no_duplicates()
    assert passes and all(rc == 0 for rc in passes)
    got = stack.q("SELECT count(DISTINCT tableoid) FROM hookpipe.events")[0][0]
    assert got == n_days
    ensures = sum(harness.metrics(w.admin_port)["hookpipe_writer_partition_ensures_total"]
                  for w in ws)
    assert ensures >= 1


def old_bodies(n, accounts, ts_of):
    """n compact meeting.started bodies, as an older writer stored them: [(raw, event_ts or
    None)], event_ts = ts_of(i), account a{i % accounts}."""
    out = []
    for i in range(n):
        ts = ts_of(i)
        doc = {"event": "meeting.started", "payload": {"account_id": f"a{i % accounts}", "n": i}}
        if ts is not None:
            doc["event_ts"] = ts
        out.append((json.dumps(doc, separators=(",", ":")).encode(), ts))
    return out


@pytest.mark.timeout(180)
def test_migration_from_v1_keeps_every_row(stack):
    """A v1 database (sql/001 only, rows as the v1 writer stored them) migrated with
    --migrate: every row, its id and event_key kept, in the right partitions; new ids follow
    the old ones; a retry of a v1 row arriving after the upgrade is still a duplicate."""
    sql = open(os.path.join(harness.SOURCE_DIR, "sql", "001_initial.sql")).read()
    stack.q(sql)
    stack.q("INSERT INTO hookpipe.schema_migrations (version, name) VALUES (1, '001_initial')")
    bodies = old_bodies(3000, 7, lambda i: None if i % 10 == 0 else
                        ms(2023, 1 + i % 12, 1 + i % 28) + i)
    conn = stack.pg.connect(stack.db)
    with conn, conn.cursor() as cur:
        for i, (raw, ts) in enumerate(bodies):
            cur.execute(
                "INSERT INTO hookpipe.events (source, event, event_ts, account_id, received_at, "
                "event_key, payload, delivery_id) VALUES ('acme', 'meeting.started', "
                "timestamptz 'epoch' + %s::bigint * interval '1 millisecond', "
                "%s, now(), %s, %s, %s)",
                (ts, f"a{i % 7}", key_v2("acme", raw), raw.decode(), f"v1-{i}"))
    conn.close()
    before = stack.q("SELECT id, event_key, delivery_id, event_ts, payload::text, received_at, "
                     "inserted_at FROM hookpipe.events ORDER BY id")
    r = harness.run_daemon("writer", ["-c", config(stack, "mig"), "--migrate"], timeout=120)
    assert r.returncode == 0, r.stderr
    after = stack.q("SELECT id, event_key, delivery_id, event_ts, payload::text, received_at, "
                    "inserted_at FROM hookpipe.events ORDER BY id")
    assert after == before
    assert stack.q("SELECT count(*) FROM hookpipe.events WHERE event_time <> "
                   "COALESCE(event_ts, 'epoch')") == [(0,)]
    assert stack.q("SELECT count(*) FROM hookpipe.events_undated") == [(300,)]
    assert stack.q("SELECT to_regclass('hookpipe.events_v1')") == [(None,)]
    # the upgraded writer: a retry of a v1 row is a duplicate, a new row gets a new id
    writer(stack)
    max_id = before[-1][0]
    stack.push([encode(bodies[5][0], delivery_id="retry", received_us=at(bodies[5][1])),
                encode(bodies[10][0], delivery_id="retry-undated"),
                encode(body(), delivery_id="new")])
    stack.wait_rows(len(before) + 1)
    assert stack.q("SELECT id > %s FROM hookpipe.events WHERE delivery_id = 'new'",
                   (max_id,)) == [(True,)]


@pytest.mark.timeout(120)
def test_one_batch_spanning_hundreds_of_partitions(stack):
    """A replayed export: one batch whose rows need 300 day partitions that do not exist yet
    (more than one partition request holds) is stored whole, without a dead letter."""
    items = [encode(body(event_ts=ms(2020, 1, 1) + d * DAY_MS), delivery_id=f"x{d}",
                    received_us=at(ms(2020, 1, 1) + d * DAY_MS)) for d in range(300)]
    stack.push(items)
    w = writer(stack, {"partition_interval": "day", "premake": 0}, admin=True, batch_size=1000)
    stack.wait_rows(300, timeout=90)
    assert stack.q("SELECT count(DISTINCT tableoid) FROM hookpipe.events") == [(300,)]
    m = harness.metrics(w.admin_port)
    assert m["hookpipe_writer_batches_total"] == 1
    assert m["hookpipe_writer_partition_misses_total"] == 0


@pytest.mark.timeout(180)
def test_migration_to_one_key_keeps_rows_and_deduplication(stack):
    """A v7 database (sql/001-007, rows as a v7 writer stored them, dated and undated) migrated
    with --migrate to v8 (sql/008_one_key.sql): every row kept as it was; the primary key
    (event_time, id) and the unique (event_key, event_time) replaced by the one primary key
    (event_time, event_key) on every partition; a retry of a v7 row after the upgrade is still
    a duplicate, and a new event is a new row with a new id."""
    sql_dir = os.path.join(harness.SOURCE_DIR, "sql")
    for f in sorted(os.listdir(sql_dir)):
        if f.endswith(".sql") and int(f[:3]) <= 7:
            with open(os.path.join(sql_dir, f)) as fh:
                stack.q(fh.read())
            stack.q("INSERT INTO hookpipe.schema_migrations (version, name) VALUES (%s, %s) "
                    "ON CONFLICT DO NOTHING", (int(f[:3]), f[:-4]))
    stack.q("SELECT hookpipe.maintain_premake('month', 1)")
    now = datetime.datetime.now(datetime.timezone.utc)
    month_start = calendar.timegm((now.year, now.month, 1, 0, 0, 0)) * 1000
    t0 = max(now_ms() - 5000, month_start)
    bodies = old_bodies(400, 3, lambda i: None if i % 4 == 0 else t0 + i)
    conn = stack.pg.connect(stack.db)
    with conn, conn.cursor() as cur:
        for i, (raw, ts) in enumerate(bodies):
            cur.execute(
                "INSERT INTO hookpipe.events (source, event, event_ts, account_id, received_at, "
                "event_key, payload, delivery_id, event_time, body) VALUES ('acme', "
                "'meeting.started', timestamptz 'epoch' + %s::bigint * interval '1 millisecond', "
                "%s, timestamptz 'epoch' + %s::bigint * interval '1 microsecond', %s, %s, %s, "
                "COALESCE(timestamptz 'epoch' + %s::bigint * interval '1 millisecond', "
                "'epoch'), %s)",
                (ts, f"a{i % 3}", at(ts) if ts else now_ms() * 1000, key_v2("acme", raw),
                 raw.decode(), f"v7-{i}", ts, raw.decode()))
    conn.close()
    cols = ("SELECT id, event_key, event_time, delivery_id, payload::text, body, received_at, "
            "tableoid::regclass::text FROM hookpipe.events ORDER BY id")
    before = stack.q(cols)
    assert {r[7].split(".")[-1] for r in before} == {
        "events_undated", "events_p%04d%02d01" % (now.year, now.month)}
    r = harness.run_daemon("writer", ["-c", config(stack, "mig8"), "--migrate"], timeout=120)
    assert r.returncode == 0, r.stderr
    assert stack.q(cols) == before
    keys = stack.q("SELECT contype::text, pg_get_constraintdef(oid) FROM pg_constraint "
                   "WHERE conrelid = 'hookpipe.events'::regclass AND contype IN ('p', 'u')")
    assert keys == [("p", "PRIMARY KEY (event_time, event_key)")]
    # every partition has its copy of the key, valid, and no other unique index
    per_part = stack.q(
        "SELECT c.relname::text, count(*) FILTER (WHERE x.indisunique), "
        "bool_and(x.indisvalid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_index x ON x.indrelid = c.oid WHERE i.inhparent = 'hookpipe.events'::regclass "
        "GROUP BY 1")
    assert per_part and all(n == 1 and valid for _, n, valid in per_part), per_part
    # the upgraded writer: a retry of a v7 row (dated and undated) is a duplicate, a new
    # event a new row with an id after the old ones
    writer(stack)
    stack.push([encode(bodies[5][0], delivery_id="retry", received_us=at(bodies[5][1])),
                encode(bodies[8][0], delivery_id="retry-undated"),
                encode(body(), delivery_id="new")])
    stack.wait_rows(len(before) + 1)
    time.sleep(0.5)  # the retries' batch is committed by now: nothing more arrives
    assert stack.q("SELECT count(*) FROM hookpipe.events") == [(len(before) + 1,)]
    assert stack.q("SELECT delivery_id FROM hookpipe.events WHERE id > %s",
                   (before[-1][0],)) == [("new",)]

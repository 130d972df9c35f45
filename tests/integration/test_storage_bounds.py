"""Nothing a body says can fill PostgreSQL (docs/storage.md "Storage: partitions and retention"):
a body's event_ts gives event_time only inside the window around its receipt ([storage]
event_time_past_days / event_time_future_s), outside it the row is stored undated and counted;
partitions are made only inside the maintained horizon; a retry still collapses when the
window's edge falls between its deliveries; and hookpipe-ctl bounds its scans by event_time so
that 2,000 partitions do not exhaust the lock table of a PostgreSQL at its defaults. Real
gateway, writer, Redis and PostgreSQL."""

import calendar
import re
import threading
import time

import pytest

import harness
from writer_helpers import Stack, body, encode

DAY_MS = 86400000
FUTURE_MS = 172800 * 1000  # [storage] event_time_future_s default
PAST_MS = 7 * DAY_MS  # [storage] event_time_past_days default
SECRET_A = "bounds-source-secret-a-01"
SECRET_B = "bounds-source-secret-b-02"


@pytest.fixture
def stack(shared_redis, shared_pg, tmp_path):
    return Stack(shared_redis, shared_pg, tmp_path)


def now_ms():
    return int(time.time() * 1000)


def ms(y, m, d, hh=12):
    return calendar.timegm((y, m, d, hh, 0, 0)) * 1000


def day_partition(t_ms):
    return "events_p" + time.strftime("%Y%m%d", time.gmtime(t_ms / 1000))


def storage_extra(**storage):
    return "[storage]\n" + "".join(f"{k} = {v}\n" for k, v in storage.items())


def placed(stack):
    """{delivery_id: partition name} of every stored row."""
    return dict(stack.q("SELECT e.delivery_id, c.relname::text FROM hookpipe.events e "
                        "JOIN pg_class c ON c.oid = e.tableoid"))


def partition_names(stack):
    return {n for (n,) in stack.q("SELECT name FROM hookpipe.event_partitions")}


def undated(w, reason):
    return harness.metric(harness.metrics(w.admin_port), "hookpipe_writer_rows_undated_total",
                          reason=reason)


def full_config(stack, path, **storage):
    """Gateway + writer + ctl config with two sources (ctl reads no secret)."""
    return harness.write_config(
        path, gateway={"listen": "127.0.0.1:0"},
        redis={"url": stack.redis.url, "queue": stack.queue},
        postgres={"conninfo": stack.pg.conninfo(stack.db)},
        writer={"name": "ctl-only"},
        sources={"acme": {"provider": "zoom", "secret": SECRET_A},
                 "other": {"provider": "zoom", "secret": SECRET_B}},
        extra=storage_extra(**storage) if storage else None)


def ctl(cfg, *args, timeout=120):
    t0 = time.monotonic()
    r = harness.run_daemon("ctl", ["-c", str(cfg)] + [str(a) for a in args], timeout=timeout)
    r.seconds = time.monotonic() - t0
    return r


# ---------------------------------------------------------------- the window

@pytest.mark.timeout(120)
def test_event_ts_outside_the_window_is_stored_undated_and_counted(stack):
    """Received now: event_ts from 7 days before to 2 days after gives event_time; further
    out (a month back, ten days ahead, 2000, 2100) the row is kept in events_undated with
    event_ts as the body says, counted, and no partition is made for it. The window is
    configurable, and the writer reports the number of partitions."""
    w = stack.writer(admin=True, extra=storage_extra(partition_interval="day", premake=1))
    now = now_ms()
    times = {"now": now, "past6d": now - 6 * DAY_MS, "ahead1d": now + DAY_MS,
             "past30d": now - 30 * DAY_MS, "ahead10d": now + 10 * DAY_MS,
             "y2000": ms(2000, 1, 1), "y2100": ms(2100, 1, 1)}
    stack.push([encode(body(event_ts=t), delivery_id=d) for d, t in times.items()])
    stack.wait_rows(len(times))
    where = placed(stack)
    assert where == {"now": day_partition(now), "past6d": day_partition(now - 6 * DAY_MS),
                     "ahead1d": day_partition(now + DAY_MS), "past30d": "events_undated",
                     "ahead10d": "events_undated", "y2000": "events_undated",
                     "y2100": "events_undated"}
    # event_ts is stored as the body says, dated or not
    got = dict(stack.q("SELECT delivery_id, (extract(epoch FROM event_ts) * 1000)::bigint "
                       "FROM hookpipe.events"))
    assert got == times
    names = partition_names(stack)
    for t in (now - 30 * DAY_MS, now + 10 * DAY_MS, ms(2000, 1, 1), ms(2100, 1, 1)):
        assert day_partition(t) not in names
    harness.wait_for(lambda: undated(w, "event_ts_out_of_window") == 4, timeout=10,
                     what="4 rows counted out of the window")
    assert undated(w, "no_partition") == 0
    # the gauge: the partitions counted at the maintenance pass (the partitions the rows made
    # came after it; a pass at start saw undated + today + tomorrow)
    assert harness.metrics(w.admin_port)["hookpipe_writer_partitions"] >= 3

    # a narrower window: 1 day back, nothing ahead
    w.stop()
    w2 = stack.writer(admin=True, extra=storage_extra(
        partition_interval="day", premake=1, event_time_past_days=1, event_time_future_s=0,
        maintenance_interval_s=1))
    now = now_ms()
    stack.push([encode(body(event_ts=now - 2 * DAY_MS), delivery_id="n_past2d"),
                encode(body(event_ts=now + 60000), delivery_id="n_ahead1m"),
                encode(body(event_ts=now - 3600000), delivery_id="n_past1h")])
    stack.wait_rows(len(times) + 3)
    where = placed(stack)
    assert where["n_past2d"] == "events_undated" and where["n_ahead1m"] == "events_undated"
    assert where["n_past1h"] == day_partition(now - 3600000)
    harness.wait_for(lambda: undated(w2, "event_ts_out_of_window") == 2, timeout=10,
                     what="2 rows counted out of the narrower window")
    count = stack.q("SELECT count(*) FROM hookpipe.event_partitions")[0][0]
    harness.wait_for(lambda: harness.metrics(w2.admin_port)["hookpipe_writer_partitions"] == count,
                     timeout=10, what=f"hookpipe_writer_partitions == {count}")


# ---------------------------------------------------------------- retries at the edges

@pytest.mark.timeout(120)
@pytest.mark.parametrize("same_batch", [False, True], ids=["later_batch", "same_batch"])
def test_a_retry_across_the_windows_edge_is_stored_once(stack, same_batch):
    """Zoom's last retry comes 85 minutes after the first delivery, with the same body. At the
    past edge the first is inside the window (dated) and the retry outside; at the future edge
    the first is outside (undated) and the retry inside. Each event is stored once, where its
    first delivery put it — whether the retry comes in a later batch or in the same one."""
    w = stack.writer(admin=True, extra=storage_extra(partition_interval="day", premake=1))
    late_ms = 85 * 60000
    r1 = now_ms() - 2 * 3600000  # the first deliveries were received two hours ago
    ts_past = r1 - PAST_MS + 10 * 60000  # inside for r1, outside for r1 + 85 min
    ts_future = r1 + FUTURE_MS + 10 * 60000  # outside for r1, inside for r1 + 85 min
    b_past = body(event_ts=ts_past, obj={"id": "edge-past"})
    b_future = body(event_ts=ts_future, obj={"id": "edge-future"})
    first = [encode(b_past, received_us=r1 * 1000, delivery_id="past1"),
             encode(b_future, received_us=r1 * 1000, delivery_id="future1")]
    retry = [encode(b_past, received_us=(r1 + late_ms) * 1000, delivery_id="past2"),
             encode(b_future, received_us=(r1 + late_ms) * 1000, delivery_id="future2")]
    if same_batch:
        stack.push(first + retry)
    else:
        stack.push(first)
        stack.wait_rows(2)
        stack.push(retry)
    stack.push([encode(body(), delivery_id="sentinel")])
    stack.wait_rows(3)
    stack.wait_drained()
    time.sleep(0.2)
    assert placed(stack) == {"past1": day_partition(ts_past), "future1": "events_undated",
                             "sentinel": day_partition(now_ms())}
    m = harness.metrics(w.admin_port)
    assert m["hookpipe_writer_duplicates_total"] == 2
    assert harness.metric(m, "hookpipe_writer_rows_undated_total",
                          reason="event_ts_out_of_window") == 2  # future1, and past2 (skipped)
    assert m["hookpipe_writer_dead_letters_total"] == 0


# ---------------------------------------------------------------- the attack of issue 19

@pytest.mark.timeout(420)
def test_one_sources_bodies_cannot_make_partitions_nor_stop_another_source(
        shared_redis, private_pg, tmp_path):
    """With one source's secret, 3,000 signed deliveries whose event_ts lie in 3,000 different
    months (1971 to 2221), against a PostgreSQL at its default lock settings: no partition is
    made for them, every one is stored (undated, counted), the writer does not get stuck, a
    delivery to another source is stored, and hookpipe-ctl status, purge and replay work.
    Before the window and the horizon, this made thousands of partitions until PostgreSQL
    answered "out of shared memory" and the writer retried for ever."""
    stack = Stack(shared_redis, private_pg, tmp_path)
    assert stack.q("SHOW max_locks_per_transaction") == [("64",)]
    assert stack.q("SHOW max_connections") == [("100",)]
    cfg = full_config(stack, tmp_path / "hookpipe.ini")
    w = stack.writer("attacked", admin=True, batch_size=500)  # the shipped [storage] defaults
    harness.wait_for(lambda: "maintenance done" in w.log(), timeout=30,
                     what="the writer's first maintenance pass")
    before = partition_names(stack)
    gw = harness.Daemon("gateway", cfg).start(wait_listen=("http",))
    port = gw.listen_port("http")

    this_month = time.gmtime().tm_year * 12 + time.gmtime().tm_mon - 1
    months = [m for m in range(1971 * 12, 1971 * 12 + 3060) if abs(m - this_month) > 12][:3000]
    bodies = [body(event_ts=ms(m // 12, m % 12 + 1, 15), account_id="attacker",
                   obj={"id": f"a{m}"}) for m in months]
    failures = []

    def send(part):
        for b in part:
            status, _, resp = harness.post_hook(port, "acme", SECRET_A, b, timeout=10)
            if status != 200:
                failures.append((status, resp))

    t0 = time.monotonic()
    threads = [threading.Thread(target=send, args=(bodies[i::6],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    sent_s = time.monotonic() - t0
    assert not failures, failures[:3]
    # another source's delivery, after the flood: stored
    status, _, _ = harness.post_hook(port, "other", SECRET_B,
                                     body(account_id="victim", obj={"id": "v1"}))
    assert status == 200
    harness.wait_for(lambda: stack.q("SELECT count(*) FROM hookpipe.events WHERE source = "
                                     "'other'")[0][0] == 1, timeout=90, interval=0.5,
                     what="the other source's delivery to be stored")
    stack.wait_rows(len(bodies) + 1, timeout=90)
    stack.wait_drained(timeout=30)
    # no partition was made for any of them: none beyond the horizon, none in the past
    assert partition_names(stack) == before, sorted(partition_names(stack) - before)[:5]
    assert stack.q("SELECT count(*) FROM hookpipe.event_partitions "
                   "WHERE hi > now() + interval '4 months'") == [(0,)]
    assert stack.q("SELECT count(*) FROM hookpipe.events_undated WHERE source = 'acme' "
                   "AND event_ts IS NOT NULL") == [(len(bodies),)]
    m = harness.metrics(w.admin_port)
    assert harness.metric(m, "hookpipe_writer_rows_undated_total",
                          reason="event_ts_out_of_window") == len(bodies)
    assert m["hookpipe_writer_partitions"] == len(before)
    assert "out of shared memory" not in w.log()

    # the operator's tool works
    r = ctl(cfg, "status", "--json")
    assert r.returncode == 0, r.stderr
    r = ctl(cfg, "replay", "--to", "http://127.0.0.1:1/hooks/acme", "--dry-run")
    assert r.returncode == 0 and f"{len(bodies) + 1} events would be sent" in r.stdout, \
        r.stdout + r.stderr
    r = ctl(cfg, "purge", "--account", "attacker")
    assert r.returncode == 0 and f"deleted {len(bodies)} events" in r.stdout, r.stdout + r.stderr
    assert stack.count() == 1
    print(f"sent {len(bodies)} signed deliveries in {sent_s:.1f} s")
    gw.stop()


# ---------------------------------------------------------------- hookpipe-ctl, 2,000 partitions

def make_day_partitions(stack, n, chunk=100):
    """n day partitions ending with tomorrow's, made directly (100 per transaction, so that
    making them does not itself need more locks than PostgreSQL has)."""
    for start in range(0, n, chunk):
        stack.q(f"""DO $$
DECLARE d date;
BEGIN
    FOR i IN {start}..{min(start + chunk, n) - 1} LOOP
        d := (now() AT TIME ZONE 'UTC')::date + 1 - i;
        EXECUTE format('CREATE TABLE IF NOT EXISTS hookpipe.%I PARTITION OF hookpipe.events '
                       'FOR VALUES FROM (%L) TO (%L)', 'events_p' || to_char(d, 'YYYYMMDD'),
                       d::text || ' 00:00:00+00', (d + 1)::text || ' 00:00:00+00');
    END LOOP;
END $$""")


@pytest.mark.timeout(600)
def test_ctl_commands_with_2000_partitions(shared_redis, tmp_path):
    """2,000 day partitions on a PostgreSQL at its default lock settings (64 per transaction,
    100 connections: ~7,800 lock slots, and each partition is 6 relations with its indexes).
    status, replay and purge plan only the partitions their time bounds reach (purge goes 50
    partitions per transaction), so they complete; every statement they send that reads
    hookpipe.events carries an event_time bound, and the plans show the pruning."""
    pg = harness.PostgresServer(settings={"log_statement": "all"}).start()
    try:
        stack = Stack(shared_redis, pg, tmp_path)
        cfg = full_config(stack, tmp_path / "hookpipe.ini", partition_interval="day")
        r = harness.run_daemon("writer", ["-c", cfg, "--migrate"])
        assert r.returncode == 0, r.stderr
        t0 = time.monotonic()
        make_day_partitions(stack, 2000)
        made_s = time.monotonic() - t0
        assert stack.q("SELECT count(*) FROM hookpipe.event_partitions")[0][0] == 2001
        assert stack.q("SHOW max_locks_per_transaction") == [("64",)]
        # events of account acctP: 20 received now (through the writer), 30 stored long ago in
        # partitions far apart (what purge must reach, in several of its transactions)
        # (a count over all of hookpipe.events would itself run out of locks: bound it)
        def count_acct():
            return sum(stack.q("SELECT count(*) FROM hookpipe.events WHERE account_id = 'acctP' "
                               "AND event_time >= %s::timestamptz AND event_time < %s::timestamptz",
                               (lo, hi))[0][0] for lo, hi in spans)

        days = [time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400 * (1 - i)))
                for i in range(0, 2001, 50)]
        spans = [(b + " 00:00:00+00", a + " 00:00:00+00") for a, b in zip(days, days[1:])]
        spans[0] = (spans[0][0], "infinity")
        w = stack.writer(extra=storage_extra(partition_interval="day", premake=1))
        stack.push([encode(body(account_id="acctP", obj={"id": f"n{i}"})) for i in range(20)])
        harness.wait_for(lambda: count_acct() == 20, timeout=60, what="20 rows stored")
        w.stop()
        stack.q("INSERT INTO hookpipe.events (source, event, event_ts, account_id, received_at, "
                "event_key, payload, delivery_id, event_time) SELECT 'acme', 'x', t, 'acctP', t, "
                "sha256(i::text::bytea), '{}', 'old' || i, t FROM generate_series(1, 30) i, "
                "LATERAL (SELECT date_trunc('day', now()) - i * 65 * interval '1 day' + "
                "interval '1 hour' AS t) x")
        assert count_acct() == 50
        log_from = len(open(pg.log_path, errors="replace").read())

        st = ctl(cfg, "status", "--json")
        assert st.returncode == 0, st.stderr
        assert '"newest_received_at":"' in st.stdout, st.stdout
        rp = ctl(cfg, "replay", "--to", "http://127.0.0.1:1/hooks/acme", "--dry-run")
        assert rp.returncode == 0 and "20 events would be sent" in rp.stdout, rp.stdout + rp.stderr
        dry = ctl(cfg, "purge", "--account", "acctP", "--dry-run")
        assert dry.returncode == 0 and "would delete 50 events" in dry.stdout, \
            dry.stdout + dry.stderr
        pu = ctl(cfg, "purge", "--account", "acctP")
        assert pu.returncode == 0 and "deleted 50 events" in pu.stdout, pu.stdout + pu.stderr
        assert count_acct() == 0
        print(f"2,000 partitions made in {made_s:.1f} s; status {st.seconds:.2f} s, "
              f"replay --dry-run {rp.seconds:.2f} s, purge --dry-run {dry.seconds:.2f} s, "
              f"purge {pu.seconds:.2f} s")

        # every statement of theirs that reads hookpipe.events is bounded by event_time
        log = open(pg.log_path, errors="replace").read()[log_from:]
        stmts = re.findall(r"LOG:  (?:statement|execute [^:]*): (.*)", log)
        reads = [s for s in stmts if re.search(r"\bhookpipe\.events\b(?!_)", s)
                 and "INSERT" not in s and "regclass" not in s]
        assert len(reads) >= 4, stmts
        for s in reads:
            assert "event_time >= '" in s and "event_time < '" in s, s
        # and PostgreSQL plans only the partitions those bounds reach
        newest = next(s for s in reads if "max(received_at)" in s)
        sql = newest[newest.index("SELECT"):]
        plan = "\n".join(r for (r,) in stack.q("EXPLAIN " + sql))
        scanned = set(re.findall(r"on (events_p\d+|events_undated)", plan))
        assert 1 <= len(scanned) <= 30, plan
        deletes = [s for s in reads if s.lstrip().startswith("DELETE")]
        assert len(deletes) >= 40  # 2001 partitions, 50 a transaction, dry run and real
        d = deletes[-1].replace("$1", "'acctP'")
        plan = "\n".join(r for (r,) in stack.q("EXPLAIN " + d))
        assert len(set(re.findall(r"on (events_p\d+|events_undated)", plan))) <= 50, plan
    finally:
        pg.close()

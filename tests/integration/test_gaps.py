"""Gaps of WebSocket subscriptions against a real Redis, PostgreSQL and writer: gap items
(HPG1, docs/envelope.md) LPUSHed onto the queue beside envelopes become rows of
hookpipe.gaps, once each — also when the same item comes twice, or is stored again by a
writer killed after its commit and before its release; a malformed one becomes a dead letter
with its reason, and a gap item an old writer dead-lettered is queued again as it was by
`dead-letters requeue`. Then `hookpipe-ctl gaps` (order, --source, --since, totals, --json,
errors) and `hookpipe-ctl status` reading a websocket source's state hash and lease.
"""

import datetime
import hashlib
import json
import time

import pytest

import harness
from writer_helpers import Stack, body, encode

UTC = datetime.timezone.utc
HOLDER = "gw-1.example:4242:w0"


def gap_item(source, started_us, ended_us, reason="connection_lost", holder=HOLDER):
    """A gap item exactly as the contract writes it: one line, nothing after its LF."""
    return b"HPG1 %s %d %d %s %s\n" % (source.encode(), started_us, ended_us, reason.encode(),
                                       holder.encode())


def us_time(us):
    return datetime.datetime.fromtimestamp(us // 1000000, UTC).replace(microsecond=us % 1000000)


def iso_us(text):
    """µs since the epoch of "YYYY-MM-DDTHH:MM:SS[.ffffff]Z"."""
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(t.timestamp()) * 1000000 + t.microsecond


@pytest.fixture
def stack(shared_redis, shared_pg, tmp_path):
    return Stack(shared_redis, shared_pg, tmp_path)


def gaps(stack):
    try:
        return stack.q("SELECT source, started_at, ended_at, reason, recorded_by, duration, "
                       "recorded_at FROM hookpipe.gaps ORDER BY started_at, source")
    except Exception:
        return None


def gap_count(stack):
    rows = gaps(stack)
    return -1 if rows is None else len(rows)


def wait_stored(stack, events, gap_rows, dead=0, timeout=60):
    harness.wait_for(lambda: stack.count() == events and gap_count(stack) == gap_rows and
                     stack.dead_count() == dead, timeout=timeout, interval=0.1,
                     what=f"{events} events, {gap_rows} gaps, {dead} dead letters (have "
                          f"{stack.count()}, {gap_count(stack)}, {stack.dead_count()})")


def migrate(stack):
    r = harness.run_daemon("writer", ["-c", stack.config("migrate"), "--migrate"])
    assert r.returncode == 0, r.stderr


def ctl_config(stack, path, sources=None):
    return harness.write_config(
        path, gateway={"listen": "127.0.0.1:0"},
        redis={"url": stack.redis.url, "queue": stack.queue},
        postgres={"conninfo": stack.pg.conninfo(stack.db)},
        writer={"name": "cfg-only", "heartbeat_ttl_s": 2},
        sources=sources or {"acme": {"provider": "zoom", "secret": "gaps-test-secret-0123"}})


def ctl(cfg, *args, timeout=60):
    return harness.run_daemon("ctl", ["-c", str(cfg)] + [str(a) for a in args], timeout=timeout)


def one_line_error(r, code, *needles):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hookpipe-ctl: "), r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


# ---------------------------------------------------------------- the writer

def test_gap_items_are_stored_beside_events_once_each(stack):
    now = int(time.time() * 1e6)
    a = gap_item("zoomws", now - 90_000_000, now - 84_750_000)
    b = gap_item("zoomws", now - 60_000_000, now - 1_000_001, reason="heartbeat_timeout",
                 holder="gw-2:7:w3")
    c = gap_item("other_ws-1", now - 90_000_000, now - 80_000_000, reason="holder_lost")
    # the same start with another end (a second recorder): the first one stored stands
    a_again = gap_item("zoomws", now - 90_000_000, now - 10_000_000, reason="lease_lost")
    events = [encode(body(obj={"id": f"e{i}"}), delivery_id=f"e{i}") for i in range(3)]
    stack.push([events[0], a, events[1], a, b, events[2], a_again, c])
    w = stack.writer(admin=True)
    wait_stored(stack, 3, 3)
    stack.wait_drained()
    got = gaps(stack)
    assert [(g[0], g[1], g[2], g[3], g[4]) for g in got] == [
        ("other_ws-1", us_time(now - 90_000_000), us_time(now - 80_000_000), "holder_lost", HOLDER),
        ("zoomws", us_time(now - 90_000_000), us_time(now - 84_750_000), "connection_lost",
         HOLDER),
        ("zoomws", us_time(now - 60_000_000), us_time(now - 1_000_001), "heartbeat_timeout",
         "gw-2:7:w3"),
    ]
    # duration is ended_at - started_at, exact to the microsecond
    assert [g[5] for g in got] == [datetime.timedelta(seconds=10),
                                   datetime.timedelta(seconds=5, microseconds=250000),
                                   datetime.timedelta(seconds=58, microseconds=999999)]
    assert all(g[6] is not None for g in got)
    assert sorted(r[0] for r in stack.q("SELECT delivery_id FROM hookpipe.events")) == \
        ["e0", "e1", "e2"]
    m = harness.metrics(w.admin_port)
    assert m["hookpipe_writer_gaps_total"] == 3  # rows inserted: the repeats add none
    assert m["hookpipe_writer_rows_inserted_total"] == 3
    assert m["hookpipe_writer_dead_letters_total"] == 0
    assert w.stop() == 0


def test_a_batch_of_gaps_only_and_one_item_batches(stack):
    """A batch with no event at all still commits its gaps and is released; so does one gap
    per batch."""
    now = int(time.time() * 1e6)
    items = [gap_item("zoomws", now - (100 - i) * 1_000_000, now - (100 - i) * 1_000_000 + 500)
             for i in range(40)]
    stack.push(items)
    w = stack.writer(batch_size=1)
    wait_stored(stack, 0, 40)
    stack.wait_drained()
    assert w.stop() == 0
    stack.push([gap_item("zoomws", now, now + 1)])
    w = stack.writer(batch_size=500)
    wait_stored(stack, 0, 41)
    stack.wait_drained()
    assert w.stop() == 0


@pytest.mark.timeout(120)
def test_gap_committed_but_not_released_is_one_row_after_kill_9(redis_server, shared_pg, tmp_path):
    """The writer is killed -9 after PostgreSQL committed the batch (events and gap) and before
    Redis trimmed it off its processing list: the restarted writer stores the batch again, and
    the primary key (and event_key) keep every row single."""
    stack = Stack(redis_server, shared_pg, tmp_path)
    migrate(stack)
    now = int(time.time() * 1e6)
    item = gap_item("zoomws", now - 30_000_000, now - 2_000_000, reason="closed_by_zoom")
    batch = [encode(body(obj={"id": f"k{i}"}), delivery_id=f"k{i}") for i in range(5)] + [item]
    proc = stack.queue + ":processing:victim"
    conn = stack.pg.connect(stack.db)
    conn.autocommit = False
    conn.cursor().execute("LOCK TABLE hookpipe.gaps IN SHARE MODE")  # the gap INSERT waits
    paused = False
    try:
        w = stack.writer("victim", batch_size=100, flush_interval_ms=50)
        stack.push(batch)
        harness.wait_for(lambda: stack.count() == 5 and stack.r.llen(proc) == 6, timeout=30,
                         what="the events committed, the gap waiting for the lock")
        assert gap_count(stack) == 0
        stack.r.execute_command("CLIENT", "PAUSE", 60000, "WRITE")  # no release can run
        paused = True
        conn.rollback()  # the gap commits now
        harness.wait_for(lambda: gap_count(stack) == 1, timeout=20, what="the gap committed")
        time.sleep(0.3)  # its release is sent, and held by the pause
        w.kill()
    finally:
        if paused:
            stack.r.execute_command("CLIENT", "UNPAUSE")
        conn.rollback()
        conn.close()
    assert stack.r.llen(proc) == 6  # committed, never released
    again = stack.writer("victim", admin=True)
    stack.wait_drained()
    wait_stored(stack, 5, 1)
    assert gaps(stack)[0][3] == "closed_by_zoom"
    m = harness.metrics(again.admin_port)
    assert m["hookpipe_writer_leftover_items_total"] == 6
    assert m["hookpipe_writer_gaps_total"] == 0  # found stored: nothing inserted again
    assert m["hookpipe_writer_dead_letters_total"] == 0
    stack.assert_no_duplicates()
    assert again.stop() == 0


def test_malformed_gap_items_become_dead_letters(stack):
    now = int(time.time() * 1e6)
    good = gap_item("zoomws", now - 5_000_000, now)
    bad = {
        b"HPG1 zoomws 5 4 connection_lost h:1:w0\n": "gap item ends before it starts",
        b"HPG1 zoomws 1 2 Connection_Lost h:1:w0\n": "bad reason in gap item",
        b"HPG1 zoomws 1 2 lost h:1:w0\nmore": "bytes after the gap item's line",
        b"HPG1 zoomws 1 2 lost h:1:w0": "bad holder in gap item",
        b"HPG1 zoom/ws 1 2 lost h:1:w0\n": "bad source in gap item",
        b"HPG1 zoomws 01 2 lost h:1:w0\n": "bad start time in gap item",
        b"HPG1 zoomws 1 253402300800000000 lost h:1:w0\n": "gap time out of range",
    }
    stack.push([encode(body(), delivery_id="ok")] + list(bad) + [good])
    w = stack.writer(admin=True)
    wait_stored(stack, 1, 1, dead=len(bad))
    stack.wait_drained()
    rows = stack.q("SELECT source, reason, body, delivery_id, item_key FROM hookpipe.dead_letters")
    got = {bytes(r[2]): r for r in rows}
    assert set(got) == set(bad)
    for item, why in bad.items():
        source, reason, raw, delivery_id, item_key = got[item]
        assert source is None and delivery_id is None  # no envelope: the whole item is kept
        assert reason == why, (item, reason)
        assert bytes(item_key) == hashlib.sha256(item).digest()
    m = harness.metrics(w.admin_port)
    assert m["hookpipe_writer_dead_letters_total"] == len(bad)
    assert m["hookpipe_writer_gaps_total"] == 1
    # stored again (a re-delivered batch), they stay one dead letter each
    stack.push(list(bad))
    stack.wait_drained()
    time.sleep(0.3)
    assert stack.dead_count() == len(bad)
    assert w.stop() == 0


def test_gap_item_dead_lettered_by_an_old_writer_is_requeued_as_it_was(stack, tmp_path):
    """The upgrade order (docs/envelope.md): a writer before schema 6 reads a gap item as an
    envelope of an unknown version and dead-letters it whole; after the upgrade
    `dead-letters requeue` pushes the item back unchanged and it becomes its gap row."""
    migrate(stack)
    cfg = ctl_config(stack, tmp_path / "ctl.ini")
    now = int(time.time() * 1e6)
    item = gap_item("zoomws", now - 7_000_000, now - 1_000_000, reason="gateway_stopped")
    stack.q("INSERT INTO hookpipe.dead_letters (source, reason, body, item_key) "
            "VALUES (NULL, 'unsupported envelope version', %s, %s)",
            (item, hashlib.sha256(item).digest()))
    # and a dead letter without a source that is no gap item: still refused
    stack.q("INSERT INTO hookpipe.dead_letters (source, reason, body, item_key) "
            "VALUES (NULL, 'not an envelope', %s, %s)", (b"garbage", hashlib.sha256(b"x").digest()))
    r = ctl(cfg, "dead-letters", "requeue", "--all", "--reason", "unsupported envelope version")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "as the gap item it was" in r.stdout
    assert stack.r.lrange(stack.queue, 0, -1) == [item]
    assert stack.dead_count() == 1
    r = ctl(cfg, "dead-letters", "requeue", "--all")
    assert r.returncode == 1 and "no source" in r.stderr
    assert stack.r.llen(stack.queue) == 1
    w = stack.writer()
    wait_stored(stack, 0, 1, dead=1)
    assert gaps(stack)[0][:4] == ("zoomws", us_time(now - 7_000_000), us_time(now - 1_000_000),
                                  "gateway_stopped")
    assert w.stop() == 0


# ---------------------------------------------------------------- hookpipe-ctl gaps

def insert_gap(stack, source, started, ended, reason, by=HOLDER):
    stack.q("INSERT INTO hookpipe.gaps (source, started_at, ended_at, reason, recorded_by) "
            "VALUES (%s, %s, %s, %s, %s)", (source, started, ended, reason, by))


def test_ctl_gaps_lists_newest_first_filters_and_totals(stack, tmp_path):
    migrate(stack)
    cfg = ctl_config(stack, tmp_path / "ctl.ini")
    r = ctl(cfg, "gaps")
    assert r.returncode == 0 and r.stdout == "no gaps\n", (r.stdout, r.stderr)
    insert_gap(stack, "zoomA", "2025-06-01T10:00:00Z", "2025-06-01T10:00:05.25Z",
               "connection_lost")
    insert_gap(stack, "zoomA", "2025-06-02T08:00:00Z", "2025-06-02T08:02:03.25Z",
               "heartbeat_timeout", "gw-2:9:w1")
    insert_gap(stack, "zoomB", "2025-06-01T12:00:00Z", "2025-06-01T13:02:03Z", "token_refused")

    r = ctl(cfg, "gaps")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["SOURCE", "STARTED", "ENDED", "DURATION", "REASON", "RECORDED",
                                "BY"]
    rows = [ln.split(None, 3) for ln in lines[1:4]]
    assert [x[:3] for x in rows] == [
        ["zoomA", "2025-06-02T08:00:00.000000Z", "2025-06-02T08:02:03.250000Z"],
        ["zoomB", "2025-06-01T12:00:00.000000Z", "2025-06-01T13:02:03.000000Z"],
        ["zoomA", "2025-06-01T10:00:00.000000Z", "2025-06-01T10:00:05.250000Z"],
    ]
    assert rows[0][3].split() == ["2m", "03.250s", "heartbeat_timeout", "gw-2:9:w1"]
    assert rows[1][3].split() == ["1h", "02m", "03.000s", "token_refused", HOLDER]
    assert rows[2][3].split() == ["5.250s", "connection_lost", HOLDER]
    assert lines[4] == "lost time by source:"
    assert lines[5].split() == ["zoomA", "2m", "08.500s", "in", "2", "gaps"]
    assert lines[6].split() == ["zoomB", "1h", "02m", "03.000s", "in", "1", "gap"]
    assert len(lines) == 7

    r = ctl(cfg, "gaps", "--source", "zoomB")
    assert r.returncode == 0
    assert [ln.split()[0] for ln in r.stdout.splitlines()[1:2]] == ["zoomB"]
    assert "zoomA" not in r.stdout and "zoomB  " in r.stdout

    # --since: the gaps that ended after it; the totals count only the time after it
    r = ctl(cfg, "gaps", "--since", "2025-06-01T12:30:00Z")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [ln.split()[:2] for ln in lines[1:3]] == [["zoomA", "2025-06-02T08:00:00.000000Z"],
                                                     ["zoomB", "2025-06-01T12:00:00.000000Z"]]
    assert lines[3] == "lost time by source since 2025-06-01 12:30:00 UTC:"
    assert lines[4].split() == ["zoomA", "2m", "03.250s", "in", "1", "gap"]
    assert lines[5].split() == ["zoomB", "32m", "03.000s", "in", "1", "gap"]

    # the time forms of replay: +02:00 is 10:30 UTC, so the first zoomA gap is out
    r = ctl(cfg, "gaps", "--since=2025-06-01T12:30:00+02:00", "--source", "zoomA", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["since"] == "2025-06-01T10:30:00.000000Z"
    assert doc["gaps"] == [{"source": "zoomA", "started_at": "2025-06-02T08:00:00.000000Z",
                            "ended_at": "2025-06-02T08:02:03.250000Z", "duration_s": 123.25,
                            "reason": "heartbeat_timeout", "recorded_by": "gw-2:9:w1"}]
    assert doc["totals"] == [{"source": "zoomA", "gaps": 1, "lost_s": 123.25}]
    doc = json.loads(ctl(cfg, "gaps", "--json").stdout)
    assert doc["since"] is None and len(doc["gaps"]) == 3
    assert [(t["source"], t["gaps"], t["lost_s"]) for t in doc["totals"]] == [
        ("zoomA", 2, 128.5), ("zoomB", 1, 3723.0)]

    r = ctl(cfg, "gaps", "--source", "nobody", "--since", "@1748772000")
    assert r.returncode == 0 and r.stdout == \
        "no gaps of source nobody ending after 2025-06-01 10:00:00 UTC\n", r.stdout
    # an age, as replay takes it: nothing ended in the last hour
    r = ctl(cfg, "gaps", "--since", "1h")
    assert r.returncode == 0 and r.stdout.startswith("no gaps ending after "), r.stdout


def test_ctl_gaps_bad_input_and_missing_table(stack, tmp_path):
    cfg = ctl_config(stack, tmp_path / "ctl.ini")
    one_line_error(ctl(cfg, "gaps", "--since", "yesterday"), 2, "gaps: bad --since \"yesterday\"")
    one_line_error(ctl(cfg, "gaps", "--source", "a:b"), 2, "gaps: bad --source \"a:b\"")
    one_line_error(ctl(cfg, "gaps", "zoomA"), 2, "gaps: unexpected argument \"zoomA\"")
    one_line_error(ctl(cfg, "gaps", "--until", "1h"), 2, "gaps: unknown option --until")
    one_line_error(ctl(cfg, "gaps", "--json", "--json"), 2, "--json given twice")
    # a database the writers have not migrated to schema 6
    one_line_error(ctl(cfg, "gaps"), 1, "hookpipe.gaps", "--migrate")
    r = ctl(cfg, "gaps", "--help")
    assert r.returncode == 0 and "gaps [--source S] [--since TIME] [--json]" in r.stdout


# ---------------------------------------------------------------- hookpipe-ctl status

def ws_source(**extra):
    s = {"provider": "zoom", "transport": "websocket", "subscription_id": "sub-123",
         "client_id": "client-abc", "client_secret": "ws-client-secret-0123",
         "account_id": "acct-1"}
    s.update(extra)
    return s


def test_status_shows_each_websocket_subscription(stack, tmp_path):
    migrate(stack)
    webhook_only = ctl_config(stack, tmp_path / "webhook.ini")
    r = ctl(webhook_only, "status", "--json")
    assert r.returncode == 0 and "subscriptions" not in json.loads(r.stdout)
    assert "subscriptions" not in ctl(webhook_only, "status").stdout
    cfg = ctl_config(stack, tmp_path / "ctl.ini", sources={
        "acme": {"provider": "zoom", "secret": "gaps-test-secret-0123"},
        "zoomws": ws_source(), "zoomws2": ws_source(subscription_id="sub-456")})
    up, down = f"{stack.queue}:ws:zoomws", f"{stack.queue}:ws:zoomws2"
    now = int(time.time() * 1e6)
    stack.r.hset(up, mapping={"holder": HOLDER, "connected_us": now - 754_000_000,
                              "alive_us": now - 1_000_000, "heartbeat_us": now - 2_000_000})
    stack.r.set(up + ":lease", HOLDER, px=9000)
    stack.r.hset(down, mapping={"holder": "gw-2:7:w1", "alive_us": now - 30_000_000,
                                "heartbeat_us": now - 31_000_000, "down_reason": "token_refused"})

    r = ctl(cfg, "status", "--json")
    assert r.returncode == 1, (r.stdout, r.stderr)
    st = json.loads(r.stdout)
    assert st["healthy"] is False
    assert st["problem"].startswith("subscription zoomws2 is down since ")
    assert "(token_refused): its events are being lost" in st["problem"]
    a, b = st["subscriptions"]
    assert a["source"] == "zoomws" and a["connected"] is True
    assert a["holder"] == HOLDER and a["lease_holder"] == HOLDER
    assert 0 < a["lease_ttl_ms"] <= 9000
    assert abs(iso_us(a["connected_since"]) - (now - 754_000_000)) < 1_000_000
    assert a["down_since"] is None and a["down_reason"] is None
    assert 1.5 < a["heartbeat_age_s"] < 30
    assert b["source"] == "zoomws2" and b["connected"] is False
    assert b["holder"] == "gw-2:7:w1" and b["lease_holder"] is None and b["lease_ttl_ms"] is None
    assert b["connected_since"] is None and b["down_reason"] == "token_refused"
    assert abs(iso_us(b["down_since"]) - (now - 30_000_000)) < 1_000_000

    r = ctl(cfg, "status")
    assert r.returncode == 1
    text = r.stdout
    assert "subscriptions: 2 websocket, 1 connected" in text
    line_a = next(ln for ln in text.splitlines() if ln.strip().startswith("zoomws "))
    line_b = next(ln for ln in text.splitlines() if ln.strip().startswith("zoomws2 "))
    assert "connected since " in line_a and "(12m 3" in line_a and f"holder {HOLDER}" in line_a
    assert "heartbeat " in line_a and " s ago" in line_a and " s left" in line_a
    assert "down since " in line_b and "reason token_refused" in line_b
    assert "holder gw-2:7:w1" in line_b and line_b.endswith("no lease")
    assert "health: subscription zoomws2 is down since" in text
    # the queue, writers and dead letters are reported as before
    assert text.startswith(f"queue {stack.queue}: 0 items\n")
    assert "dead letters: 0" in text

    # zoomws2 reconnects (another gateway took it): healthy
    stack.r.hset(down, mapping={"holder": "gw-3:8:w0", "connected_us": now})
    stack.r.hdel(down, "down_reason")
    stack.r.set(down + ":lease", "gw-3:8:w0", px=9000)
    r = ctl(cfg, "status", "--json")
    assert r.returncode == 0, r.stdout
    assert [s["connected"] for s in json.loads(r.stdout)["subscriptions"]] == [True, True]
    assert "health: healthy" in ctl(cfg, "status").stdout

    # the holder of zoomws died without a word: its lease expires, its hash still says up
    stack.r.delete(up + ":lease")
    r = ctl(cfg, "status", "--json")
    assert r.returncode == 1
    st = json.loads(r.stdout)
    assert st["subscriptions"][0]["connected"] is False
    assert st["subscriptions"][0]["down_reason"] == "holder_lost"
    assert "subscription zoomws is down since" in st["problem"] and "holder_lost" in st["problem"]

    # a source no gateway has ever held
    stack.r.delete(up)
    r = ctl(cfg, "status")
    assert r.returncode == 1
    assert "not connected, never alive, holder none, no heartbeat, no lease" in r.stdout

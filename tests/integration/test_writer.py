"""hookpipe-writer against a real Redis and PostgreSQL: the path claim → COPY → insert →
release, event_key deduplication, every fixture's columns, poison deliveries going to
dead letters without losing their neighbours, migrations, and the gateway → writer path.
"""

import hashlib
import json
import os
import signal
import threading

import pytest

import harness
from writer_helpers import Stack, body, encode, recording_completed


@pytest.fixture
def stack(shared_redis, shared_pg, tmp_path):
    return Stack(shared_redis, shared_pg, tmp_path)


def test_claim_copy_insert_release(stack):
    items = [encode(body(), delivery_id=f"d{i}") for i in range(1200)]
    stack.push(items)
    w = stack.writer(batch_size=500)
    stack.wait_rows(1200)
    stack.wait_drained()
    stack.assert_no_duplicates()
    # FIFO: ids follow the order the gateway pushed in
    order = [r[0] for r in stack.q("SELECT delivery_id FROM hookpipe.events ORDER BY id")]
    assert order == [f"d{i}" for i in range(1200)]
    assert w.stop() == 0


def test_many_one_item_batches_drain(stack):
    """With one item per batch PostgreSQL often answers a COPY before the call that sent it
    returns; the writer must go on regardless (it once stalled there)."""
    stack.push([encode(body(obj={"id": f"one{i}"}), delivery_id=f"one{i}") for i in range(300)])
    w = stack.writer(batch_size=1)
    stack.wait_rows(300, timeout=60)
    stack.wait_drained()
    assert w.stop() == 0


def test_zoom_retry_gives_one_row(stack):
    b = body(event="meeting.started", event_ts=1700000000001)
    # a retry: same body bytes, new delivery (new timestamp/signature at the gateway)
    stack.push([encode(b, delivery_id="first"), encode(b, delivery_id="retry")])
    stack.writer()
    stack.wait_rows(1)
    stack.wait_drained()
    assert stack.q("SELECT delivery_id FROM hookpipe.events") == [("first",)]


def test_batches_go_straight_into_events_unless_one_holds_a_duplicate(stack):
    """Clean batches are COPied straight into hookpipe.events; a batch with a duplicate
    falls back to the staging table, which skips it and still stores its neighbours."""
    bodies = [body(event_ts=1700000000100 + i) for i in range(50)]
    stack.push([encode(b, delivery_id=f"c{i}") for i, b in enumerate(bodies)])
    w = stack.writer(admin=True)
    stack.wait_rows(50)
    stack.wait_drained()
    m = harness.metrics(w.admin_port)
    assert m["hookpipe_writer_direct_fallbacks_total"] == 0
    assert m["hookpipe_writer_duplicates_total"] == 0
    again = encode(bodies[0], delivery_id="again")
    fresh_body = body(event_ts=1700000000999)
    fresh = encode(fresh_body, delivery_id="fresh")
    stack.push([again, fresh])
    harness.wait_for(lambda: harness.metrics(w.admin_port)["hookpipe_writer_rows_inserted_total"]
                     == 51, timeout=10, what="the fresh row next to the duplicate")
    m = harness.metrics(w.admin_port)
    assert m["hookpipe_writer_direct_fallbacks_total"] >= 1
    assert m["hookpipe_writer_duplicates_total"] == 1
    assert stack.count() == 51
    assert stack.q("SELECT count(*) FROM hookpipe.events WHERE delivery_id = 'fresh'") == [(1,)]
    # the staging path keeps the body bytes as well as the direct one
    assert [r.encode() for (r,) in stack.q("SELECT body FROM hookpipe.events WHERE delivery_id"
                                           " IN ('c0', 'fresh') ORDER BY id")] == \
        [bodies[0], fresh_body]
    assert w.stop() == 0


def test_keep_body_off_stores_null_bodies(stack):
    b = b'{ "event" : "meeting.started", "event_ts": 1700000000200, "payload": {} }'
    stack.push([encode(b, delivery_id="direct")])
    w = stack.writer(extra="[storage]\nkeep_body = off\n")
    stack.wait_rows(1)
    stack.push([encode(b, delivery_id="dup"), encode(body(event_ts=1700000000201),
                                                     delivery_id="staged")])
    stack.wait_drained()
    rows = stack.q("SELECT delivery_id, body IS NULL, payload->>'event' FROM hookpipe.events "
                   "ORDER BY id")
    assert rows == [("direct", True, "meeting.started"),
                    ("staged", True, "meeting.participant_joined")]
    assert w.stop() == 0


def test_zoom_retry_in_a_later_batch_gives_one_row(stack):
    b = body(event="meeting.ended", event_ts=1700000000002)
    stack.push([encode(b, delivery_id="first")])
    w = stack.writer(admin=True)
    stack.wait_rows(1)
    stack.push([encode(b, delivery_id="retry")])
    harness.wait_for(lambda: harness.metrics(w.admin_port)["hookpipe_writer_duplicates_total"]
                     == 1, timeout=10, what="the retry to be seen as a duplicate")
    stack.wait_drained()
    assert stack.q("SELECT delivery_id FROM hookpipe.events") == [("first",)]


def test_duplicate_recording_completed_gives_one_row(stack):
    first = recording_completed("tokenAAAA" * 20, "urlAAAA")
    second = recording_completed("tokenBBBB" * 20, "urlBBBB")
    assert first != second
    stack.push([encode(first, delivery_id="rec1"), encode(second, delivery_id="rec2")])
    w = stack.writer(admin=True)
    stack.wait_rows(1)
    stack.wait_drained()
    m = harness.wait_for(lambda: (lambda m: m if m.get("hookpipe_writer_duplicates_total") == 1
                                  else None)(harness.metrics(w.admin_port)), timeout=10)
    assert m["hookpipe_writer_rows_inserted_total"] == 1
    # the stored payload is the first delivery's, download token included
    payload = stack.q("SELECT payload FROM hookpipe.events")[0][0]
    assert payload["download_token"] == "tokenAAAA" * 20


def test_distinct_notifications_give_distinct_rows(stack):
    ts = 1700000000999
    p1 = {"id": "123", "uuid": "m==", "participant": {"user_id": "u1", "user_name": "Ann"}}
    p2 = {"id": "123", "uuid": "m==", "participant": {"user_id": "u2", "user_name": "Bob"}}
    ended = {"id": "555", "uuid": "x=="}
    items = [encode(body("meeting.participant_joined", ts, obj=p1)),
             encode(body("meeting.participant_joined", ts, obj=p2)),
             encode(body("meeting.ended", ts, obj=ended)),
             encode(body("webinar.ended", ts, obj=ended))]
    stack.push(items)
    stack.writer()
    stack.wait_rows(4)
    stack.wait_drained()


def test_same_body_on_two_sources_gives_two_rows(stack):
    b = body(event="user.created", event_ts=1700000000003)
    stack.push([encode(b, source="appone"), encode(b, source="apptwo")])
    stack.writer()
    stack.wait_rows(2)


def test_every_fixture_row_matches_its_body(stack):
    names = sorted(n[:-5] for n in os.listdir(harness.FIXTURES) if n.endswith(".json"))
    items = []
    for i, name in enumerate(names):
        items.append(encode(harness.fixture_body(name), source="acme",
                            received_us=1700000000000000 + i, delivery_id=f"fx{i}",
                            request_id=f"req {i}%"))
    stack.push(items)
    stack.writer()
    stack.wait_rows(len(names))
    rows = stack.q("SELECT delivery_id, source, event, account_id, "
                   "(extract(epoch FROM event_ts) * 1000)::bigint, payload, "
                   "(extract(epoch FROM received_at) * 1000000)::bigint, request_id, body "
                   "FROM hookpipe.events ORDER BY id")
    assert len(rows) == len(names)
    for (did, source, event, account, ts_ms, payload, recv, reqid, raw), name in zip(rows,
                                                                                     names):
        doc = harness.fixture_json(name)
        i = names.index(name)
        assert did == f"fx{i}"
        assert source == "acme"
        assert event == doc["event"]
        assert account == doc.get("payload", {}).get("account_id")
        assert ts_ms == doc.get("event_ts")
        assert payload == doc
        assert raw.encode() == harness.fixture_body(name)  # byte for byte, unlike payload
        assert recv == 1700000000000000 + i
        assert reqid == f"req%20{i}%25"


def test_body_bytes_needing_copy_escapes_are_stored_exactly(stack):
    tricky = {"event": "meeting.chat_message_sent", "event_ts": 1700000000004,
              "payload": {"account_id": "a\tb\\c", "object": {
                  "text": "line1\nline2\r\n\ttab \\N \\. back\\slash \u00e9\u4e2d\U0001F600",
                  "raw": "\\x00"}}}
    # literal control bytes are escaped by JSON; give the writer raw tab/newline whitespace too
    b = json.dumps(tricky, ensure_ascii=False, indent="\t").encode()
    stack.push([encode(b)])
    stack.writer()
    stack.wait_rows(1)
    payload, account, raw = stack.q("SELECT payload, account_id, body FROM hookpipe.events")[0]
    assert payload == tricky
    assert account == "a\tb\\c"
    assert raw.encode() == b


def poison_items():
    good = [encode(body(), delivery_id=f"good{i}") for i in range(6)]
    bad = {
        "nul": encode(b'{"event":"meeting.started","payload":{"x":"a\\u0000b"}}',
                      delivery_id="nul"),
        "utf8": encode(b'{"event":"meeting.started","payload":{"x":"\xff\xfe"}}',
                       delivery_id="utf8"),
        "notjson": encode(b"this is not json", delivery_id="notjson"),
        "array": encode(b'["event"]', delivery_id="array"),
        "noevent": encode(b'{"payload":{}}', delivery_id="noevent"),
    }
    envelope_bad = b"HP9 garbage\n{}"
    items = [good[0], bad["nul"], good[1], bad["utf8"], good[2], bad["notjson"], good[3],
             bad["array"], envelope_bad, good[4], bad["noevent"], good[5]]
    return items, bad, envelope_bad


def test_poison_deliveries_go_to_dead_letters_and_neighbours_land(stack):
    items, bad, envelope_bad = poison_items()
    stack.push(items)
    w = stack.writer(admin=True)
    stack.wait_rows(6, dead=6)
    stack.wait_drained()
    stored = {r[0] for r in stack.q("SELECT delivery_id FROM hookpipe.events")}
    assert stored == {f"good{i}" for i in range(6)}
    dead = stack.q("SELECT delivery_id, source, reason, body FROM hookpipe.dead_letters")
    by_id = {d[0]: d for d in dead}
    for name, item in bad.items():
        did, source, reason, raw = by_id[name]
        assert source == "acme"
        assert bytes(raw) == item[item.index(b"\n") + 1:]  # the raw body bytes
        assert reason
    (none_row,) = [d for d in dead if d[0] is None]
    assert bytes(none_row[3]) == envelope_bad and none_row[1] is None
    assert "envelope" in none_row[2]
    m = harness.metrics(w.admin_port)
    assert m["hookpipe_writer_dead_letters_total"] == 6
    assert m["hookpipe_writer_rows_inserted_total"] == 6


def test_rows_postgres_rejects_are_bisected_out_of_their_batch(stack):
    """Rows jansson accepts but PostgreSQL refuses (here: a CHECK constraint the test adds)
    are isolated by bisection: each goes to dead letters with PostgreSQL's reason, and every
    other row of the same batch is stored."""
    cfg = stack.config("bisect")
    assert harness.run_daemon("writer", ["-c", cfg, "--migrate"]).returncode == 0
    stack.q("ALTER TABLE hookpipe.events ADD CONSTRAINT test_no_poison "
            "CHECK (payload->'payload'->>'poison' IS NULL)")
    items = []
    for i in range(200):
        extra = {"poison": "yes"} if i in (3, 77, 78, 199) else {}
        b = json.dumps({"event": "meeting.started", "event_ts": 1700000000000 + i,
                        "payload": dict({"account_id": "a", "n": i}, **extra)}).encode()
        items.append(encode(b, delivery_id=f"r{i}"))
    stack.push(items)
    w = stack.writer(name="bisect", admin=True, batch_size=1000, flush_interval_ms=200)
    stack.wait_rows(196, dead=4)
    dead = stack.q("SELECT delivery_id, reason FROM hookpipe.dead_letters ORDER BY delivery_id")
    assert [d[0] for d in dead] == ["r199", "r3", "r77", "r78"]
    assert all("test_no_poison" in d[1] for d in dead)
    m = harness.metrics(w.admin_port)
    assert m["hookpipe_writer_bisect_splits_total"] > 0


def migrations():
    """(version, name) of every sql/NNN_name.sql, in order: what --migrate applies."""
    names = sorted(f[:-4] for f in os.listdir(os.path.join(harness.SOURCE_DIR, "sql"))
                   if f[:3].isdigit() and f.endswith(".sql"))
    return [(int(n[:3]), n) for n in names]


def test_migrate_is_idempotent(stack):
    cfg = stack.config("migrator")
    r1 = harness.run_daemon("writer", ["-c", cfg, "--migrate"])
    assert r1.returncode == 0, r1.stderr
    assert f"applied={len(migrations())}" in r1.stderr
    r2 = harness.run_daemon("writer", ["-c", cfg, "--migrate"])
    assert r2.returncode == 0, r2.stderr
    assert "applied=0" in r2.stderr
    assert stack.q("SELECT version, name FROM hookpipe.schema_migrations ORDER BY version") == \
        migrations()


def test_concurrent_writers_apply_migrations_once(stack):
    cfg = stack.config("racer")
    results = [None] * 6

    def run(i):
        results[i] = harness.run_daemon("writer", ["-c", cfg, "--migrate"])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r is not None and r.returncode == 0 for r in results), results
    applied = sorted(int(r.stderr.split("applied=")[1].split()[0]) for r in results)
    # each migration ran exactly once (each takes the lock in its own transaction, so two
    # racers may share the work)
    assert sum(applied) == len(migrations())
    assert stack.q("SELECT version, name FROM hookpipe.schema_migrations ORDER BY version") == \
        migrations()
    # and daemons starting together (they migrate at start) work on one schema
    ws = [stack.writer() for _ in range(3)]
    stack.push([encode(body()) for _ in range(30)])
    stack.wait_rows(30)
    for w in ws:
        assert w.stop() == 0


def test_migrate_unreachable_postgres_fails(tmp_path, shared_redis):
    port = harness.free_port()
    cfg = harness.write_config(tmp_path / "w.ini", redis={"url": shared_redis.url},
                               postgres={"conninfo": f"postgresql://x@127.0.0.1:{port}/x"},
                               writer={"migrate_wait_s": 0})  # no retry: fail at once
    r = harness.run_daemon("writer", ["-c", cfg, "--migrate"])
    assert r.returncode == 1
    assert "migration failed" in r.stderr


def test_metrics_exposed(stack):
    stack.push([encode(body()) for _ in range(10)] + [encode(b"nope")])
    w = stack.writer(admin=True)
    stack.wait_rows(10, dead=1)
    m = harness.wait_for(lambda: (lambda m: m if m.get("hookpipe_writer_queue_length") == 0
                                  else None)(harness.metrics(w.admin_port)), timeout=10)
    assert m["hookpipe_writer_rows_inserted_total"] == 10
    assert m["hookpipe_writer_dead_letters_total"] == 1
    assert m["hookpipe_writer_duplicates_total"] == 0
    assert m["hookpipe_writer_batch_size_count"] >= 1
    assert m["hookpipe_writer_copy_seconds_count"] >= 1
    assert f'hookpipe_writer_processing_length{{writer="{w.name}"}}' in m


GATEWAY_SECRET = "writer-e2e-secret-0123"


def test_every_zoom_fixture_through_gateway_and_writer(stack, tmp_path):
    if not os.access(harness.daemon_path("gateway"), os.X_OK):
        pytest.fail("hookpipe-gateway is not built")
    cfg = harness.write_config(
        tmp_path / "gw.ini", gateway={"listen": "127.0.0.1:0"},
        redis={"url": stack.redis.url, "queue": stack.queue},
        postgres={"conninfo": stack.pg.conninfo(stack.db)},
        sources={"acme": {"provider": "zoom", "secret": GATEWAY_SECRET}})
    gw = harness.Daemon("gateway", cfg).start(wait_listen=("http",))
    gport = gw.listen_port("http")
    stack.writer()
    names = sorted(n[:-5] for n in os.listdir(harness.FIXTURES) if n.endswith(".json"))
    queued = {}
    for name in names:
        b = harness.fixture_body(name)
        h = {"content-type": "application/json"}
        h.update(harness.zoom_headers(GATEWAY_SECRET, b))
        status, _, resp = harness.http_request(gport, "POST", "/hooks/acme", b, h)
        doc = harness.fixture_json(name)
        if doc.get("event") == "endpoint.url_validation":
            assert status == 200
            continue
        assert status == 200, (name, resp)
        answer = json.loads(resp)
        assert answer["status"] == "queued"
        queued[answer["id"]] = doc
    stack.wait_rows(len(queued))
    rows = stack.q("SELECT delivery_id, event, payload FROM hookpipe.events")
    assert {r[0]: r[2] for r in rows} == queued
    assert gw.stop() == 0


def test_env_overrides_writer_name_and_admin_listen(stack):
    """HOOKPIPE_WRITER_NAME / HOOKPIPE_WRITER_ADMIN_LISTEN override [writer] for one process
    (how the systemd template runs several writers from one INI); a bad address exits 2."""
    cfg = stack.config("from-ini")
    env = dict(os.environ, HOOKPIPE_WRITER_NAME="from-env",
               HOOKPIPE_WRITER_ADMIN_LISTEN="127.0.0.1:0")
    d = harness.Daemon("writer", cfg, env=env)
    d.start(wait_listen=("admin",))
    port = d.listen_port("admin")
    harness.wait_for(lambda: stack.r.exists(stack.queue + ":writer:from-env"), timeout=10,
                     what="the heartbeat key of the env-named writer")
    assert not stack.r.exists(stack.queue + ":writer:from-ini")
    assert "hookpipe_writer_rows_inserted_total" in harness.metrics(port)
    assert d.stop() == 0
    bad = dict(os.environ, HOOKPIPE_WRITER_ADMIN_LISTEN="nonsense")
    r = harness.run_daemon("writer", ["-c", cfg], env=bad)
    assert r.returncode == 2
    assert "HOOKPIPE_WRITER_ADMIN_LISTEN" in r.stderr
    # the config layer applies them, so --check-config judges what the process would run
    r = harness.run_daemon("writer", ["--check-config", "-c", cfg], env=bad)
    assert r.returncode == 2 and cfg + ": HOOKPIPE_WRITER_ADMIN_LISTEN: bad listen address" \
        in r.stderr, r.stderr
    r = harness.run_daemon("writer", ["--check-config", "-c", cfg],
                           env=dict(os.environ, HOOKPIPE_WRITER_NAME="from.env"))
    assert r.returncode == 2 and "HOOKPIPE_WRITER_NAME: bad writer name" in r.stderr, r.stderr


def test_writer_name_follows_the_name_rule(stack):
    """Writer names end up in Redis keys and metric labels: 1-64 of A-Z a-z 0-9 _ -
    (common/name.h), from the INI or HOOKPIPE_WRITER_NAME; anything else exits 2."""
    for bad in ("has.dot", "x" * 65, "sp ace", "quo\"te"):
        r = harness.run_daemon("writer", ["-c", stack.config(bad)], timeout=20)
        assert r.returncode == 2, (bad, r.stderr)
        assert "writer name" in r.stderr and "1-64" in r.stderr
    # the config pass itself refuses it, with file:line: key
    path = stack.config("has.dot")
    r = harness.run_daemon("writer", ["--check-config", "-c", path], timeout=20)
    assert r.returncode == 2 and ": name: bad writer name" in r.stderr, r.stderr
    assert path + ":" in r.stderr
    env = dict(os.environ, HOOKPIPE_WRITER_NAME="from.env")
    r = harness.run_daemon("writer", ["-c", stack.config("ok")], env=env, timeout=20)
    assert r.returncode == 2 and "writer name" in r.stderr
    w = stack.writer("x" * 64)
    stack.push([encode(body())])
    stack.wait_rows(1)
    assert w.stop() == 0


def test_request_id_with_copy_escape_bytes_is_stored_exactly(stack):
    """The request id is not covered by Zoom's signature and may hold a backslash, COPY's
    own escape character: it must be stored as sent."""
    ids = ["abc\\", "x\\ty\\Nz", "plain-1"]
    stack.push([encode(body(), delivery_id=f"r{i}", request_id=rid)
                for i, rid in enumerate(ids)])
    stack.writer()
    stack.wait_rows(3)
    got = dict(stack.q("SELECT delivery_id, request_id FROM hookpipe.events"))
    assert got == {f"r{i}": rid for i, rid in enumerate(ids)}


def test_receive_time_out_of_range_is_a_dead_letter_not_a_loss(stack):
    """An envelope whose receive time PostgreSQL cannot represent (not something the gateway
    writes, but anything on the queue must land somewhere) becomes a dead letter, also in a
    batch that has to go through the staging table (a duplicate forces that)."""
    b = body(event_ts=1700000000555)
    stack.push([encode(b, delivery_id="one"), encode(b, delivery_id="two"),
                encode(body(), delivery_id="far", received_us=9223372036854775807)])
    stack.writer()
    stack.wait_rows(1, dead=1)
    stack.wait_drained()
    (reason,) = stack.q("SELECT reason FROM hookpipe.dead_letters WHERE delivery_id = 'far'")[0]
    assert "receive time" in reason


def test_writer_needs_no_webhook_secret(stack, tmp_path):
    """Least privilege (issue 19): the writer stores bodies and verifies none, so it loads the
    shared INI without resolving a single source secret — a secret_file it cannot read, a
    secret_env or basic_password_env not set in its environment — and drains as usual. The
    gateway, which needs them, refuses the same file."""
    missing = str(tmp_path / "no-such-dir" / "zoom.secret")
    unset = "HOOKPIPE_TEST_UNSET_%d" % os.getpid()
    extra = ("[source.a]\nprovider = zoom\nsecret_file = %s\n\n"
             "[source.b]\nprovider = zoom\nsecret_env = %s\nauth = basic\nbasic_user = zoom\n"
             "basic_password_env = %s\n" % (missing, unset, unset))
    assert unset not in os.environ
    cfg = stack.config("nosecret", extra)
    r = harness.run_daemon("writer", ["--check-config", "-c", cfg], timeout=20)
    assert r.returncode == 0 and "configuration ok (2 sources)" in r.stdout, r.stdout + r.stderr
    w = harness.Daemon("writer", cfg)
    w.start()
    stack.push([encode(body(), source="a"), encode(body(), source="b")])
    stack.wait_rows(2)
    assert w.stop() == 0
    r = harness.run_daemon("gateway", ["--check-config", "-c", cfg], timeout=20)
    assert r.returncode == 2 and "secret" in r.stderr, r.stderr

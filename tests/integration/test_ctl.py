"""hookpipe-ctl against real Redis, PostgreSQL and daemons: status before and after a writer
kill -9, dead letters listed / shown / requeued after their cause is removed, replay into a
second gateway+writer stack (plain and https), recover of live and expired writers, purge of
one account, and every bad input (one clear line, exit 2 for usage/config, 1 at runtime).
"""

import http.server
import json
import os
import pty
import subprocess
import threading
import time

import pytest

import harness
from provider_helpers import PROVIDER_SECRETS, provider_verify
from writer_helpers import Stack, body, encode

SECRET_A = "ctl-source-secret-a-0123"
SECRET_B = "ctl-target-secret-b-4567"
SECRET_ENV = {"CTL_SECRET": SECRET_B}  # replay takes the target's secret from a file or the env


@pytest.fixture
def stack(shared_redis, shared_pg, tmp_path):
    return Stack(shared_redis, shared_pg, tmp_path)


def ctl_config(stack, path, sources=None, **writer):
    w = {"name": "cfg-only", "heartbeat_ttl_s": 2}
    w.update(writer)
    return harness.write_config(
        path, gateway={"listen": "127.0.0.1:0"},
        redis={"url": stack.redis.url, "queue": stack.queue},
        postgres={"conninfo": stack.pg.conninfo(stack.db)}, writer=w,
        sources=sources if sources is not None else {
            "acme": {"provider": "zoom", "secret": SECRET_A}})


def ctl(cfg, *args, env=None, timeout=60):
    argv = (["-c", str(cfg)] if cfg is not None else []) + [str(a) for a in args]
    return harness.run_daemon("ctl", argv, env=env, timeout=timeout)


def ctl_json(cfg, *args):
    r = ctl(cfg, *args)
    return r, json.loads(r.stdout) if r.stdout.strip() else None


def one_line_error(r, code, *needles):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("hookpipe-ctl: "), lines
    for n in needles:
        assert n in lines[0], (n, lines[0])


def migrate(stack):
    cfg = stack.config("migrate")
    assert harness.run_daemon("writer", ["-c", cfg, "--migrate"]).returncode == 0


def canonical(pg_stack, doc):
    """doc as PostgreSQL's jsonb text: what replay sends for a row without a stored body."""
    return pg_stack.q("SELECT %s::jsonb::text", (json.dumps(doc),))[0][0].encode()


def gateway(stack, tmp_path, name, secret, tls=None):
    gw = {"listen": "127.0.0.1:0"}
    if tls:
        gw["tls_cert"], gw["tls_key"] = tls
    cfg = harness.write_config(
        tmp_path / f"gw-{name}.ini", gateway=gw,
        redis={"url": stack.redis.url, "queue": stack.queue},
        postgres={"conninfo": stack.pg.conninfo(stack.db)},
        sources={"acme": {"provider": "zoom", "secret": secret}})
    d = harness.Daemon("gateway", cfg).start(wait_listen=("http",))
    return d, d.listen_port("http")


def post(port, secret, b, request_id=None, tls=False):
    h = harness.zoom_request_headers(secret, b, request_id=request_id)
    status, _, resp = harness.http_request(port, "POST", "/hooks/acme", b, h, tls=tls)
    assert status == 200, (status, resp)
    return json.loads(resp)["id"]


# ---------------------------------------------------------------- status

@pytest.mark.timeout(120)
def test_status_before_and_after_writer_kill(stack, tmp_path):
    migrate(stack)
    cfg = ctl_config(stack, tmp_path / "ctl.ini")
    w = stack.writer("alpha", heartbeat_ttl_s=2, recover_interval_s=1)
    stack.push([encode(body()) for _ in range(5)])
    stack.wait_rows(5)
    harness.wait_for(lambda: ctl_json(cfg, "status", "--json")[1]["writers"], timeout=10)
    r, st = ctl_json(cfg, "status", "--json")
    assert r.returncode == 0, r.stderr
    assert st["queue_length"] == 0 and st["oldest_queued_age_s"] is None
    assert st["dead_letters"] == 0
    assert [(x["name"], x["alive"], x["processing_length"]) for x in st["writers"]] == \
        [("alpha", True, 0)]
    assert st["newest_received_at"] is not None and st["healthy"] is True
    text = ctl(cfg, "status")
    assert text.returncode == 0 and "health: healthy" in text.stdout
    assert "alpha" in text.stdout and "alive" in text.stdout

    # hold the writer mid-batch (its COPY waits for this lock), then kill -9 it
    conn = stack.pg.connect(stack.db)
    conn.autocommit = False
    cur = conn.cursor()
    cur.execute("LOCK TABLE hookpipe.events IN SHARE MODE")
    try:
        stack.push([encode(body()) for _ in range(7)])
        proc = stack.queue + ":processing:alpha"
        harness.wait_for(lambda: stack.r.llen(proc) == 7, timeout=20, what="alpha to claim 7")
        w.kill()
        stack.push([encode(body(), received_us=int((time.time() - 30) * 1e6))])
        # alive until its heartbeat expires; then unhealthy on both rules
        harness.wait_for(lambda: ctl(cfg, "status").returncode == 1, timeout=10,
                         what="status to turn unhealthy")
        r, st = ctl_json(cfg, "status", "--json")
        assert r.returncode == 1
        assert st["healthy"] is False
        assert st["writers"] == [{"name": "alpha", "alive": False, "processing_length": 7,
                                  "heartbeat_ttl_s": 0}]
        assert st["queue_length"] == 1 and 29 < st["oldest_queued_age_s"] < 120
        assert "expired with 7 items" in st["problem"]
        text = ctl(cfg, "status")
        assert text.returncode == 1 and "expired" in text.stdout
        assert "writer alpha expired with 7 items" in text.stdout
    finally:
        conn.rollback()
        conn.close()


def test_status_queue_without_live_writer_is_unhealthy(stack, tmp_path):
    migrate(stack)
    cfg = ctl_config(stack, tmp_path / "ctl.ini")
    r, st = ctl_json(cfg, "status", "--json")
    assert r.returncode == 0 and st["writers"] == [] and st["newest_received_at"] is None
    stack.push([encode(body())])
    r, st = ctl_json(cfg, "status", "--json")
    assert r.returncode == 1 and st["queue_length"] == 1
    assert st["problem"] == "1 items queued and no writer alive"
    # a processing list whose writer is registered nowhere is still a writer known
    stack.r.rpush(stack.queue + ":processing:ghost", encode(body()))
    r, st = ctl_json(cfg, "status", "--json")
    assert r.returncode == 1 and st["writers"] == [
        {"name": "ghost", "alive": False, "processing_length": 1, "heartbeat_ttl_s": 0}]
    assert st["problem"] == "writer ghost expired with 1 items in its processing list"


@pytest.mark.timeout(60)
def test_status_answers_while_events_is_locked(stack, tmp_path):
    """A health check never hangs: with hookpipe.events locked exclusively it fails (exit 1)
    within its statement timeout instead of waiting for the lock."""
    migrate(stack)
    cfg = ctl_config(stack, tmp_path / "ctl.ini")
    conn = stack.pg.connect(stack.db)
    conn.autocommit = False
    conn.cursor().execute("LOCK TABLE hookpipe.events IN ACCESS EXCLUSIVE MODE")
    try:
        t0 = time.monotonic()
        r = ctl(cfg, "status", timeout=30)
        assert time.monotonic() - t0 < 20
        one_line_error(r, 1, "postgres:", "statement timeout")
    finally:
        conn.rollback()
        conn.close()


# ---------------------------------------------------------------- dead letters

def dead_letters(cfg, *args):
    r, rows = ctl_json(cfg, "dead-letters", "list", "--json", *args)
    assert r.returncode == 0, r.stderr
    return rows


@pytest.mark.timeout(120)
def test_poison_dead_lettered_then_requeued_after_the_cause_is_removed(stack, tmp_path):
    cfg = ctl_config(stack, tmp_path / "ctl.ini")
    migrate(stack)
    # the cause, on purpose: PostgreSQL refuses this event
    stack.q("ALTER TABLE hookpipe.events ADD CONSTRAINT ctl_no_poison "
            "CHECK (event <> 'poison.event')")
    stack.writer("dl", recover_interval_s=1)
    poison = body(event="poison.event", account_id="acctP")
    good = body()
    stack.push([encode(poison, delivery_id="orig1"), encode(good)])
    stack.wait_rows(1, dead=1)
    rows = dead_letters(cfg)
    assert len(rows) == 1 and rows[0]["source"] == "acme" and rows[0]["bytes"] == len(poison)
    assert rows[0]["delivery_id"] == "orig1" and "ctl_no_poison" in rows[0]["reason"]
    first = rows[0]["id"]
    assert dead_letters(cfg, "--reason", "ctl_no_poison")[0]["id"] == first
    assert dead_letters(cfg, "--reason", "no such reason") == []
    listing = ctl(cfg, "dead-letters", "list")
    assert listing.returncode == 0 and "1 of 1 dead letter" in listing.stdout
    # show: the raw bytes, unchanged
    shown = subprocess.run([harness.daemon_path("ctl"), "-c", cfg, "dead-letters", "show",
                            str(first)], stdout=subprocess.PIPE, timeout=30)
    assert shown.returncode == 0 and shown.stdout == poison

    # still bad: it becomes a dead letter again (a new one), never lost
    r = ctl(cfg, "dead-letters", "requeue", first)
    assert r.returncode == 0, r.stderr
    harness.wait_for(lambda: [x["id"] for x in dead_letters(cfg)] not in ([], [first]),
                     timeout=20, what="the requeued poison to be dead-lettered again")
    rows = dead_letters(cfg)
    assert len(rows) == 1 and rows[0]["id"] != first and rows[0]["delivery_id"] != "orig1"
    second = rows[0]["id"]

    # the cause removed: requeue stores the row exactly once and the dead letter is gone
    stack.q("ALTER TABLE hookpipe.events DROP CONSTRAINT ctl_no_poison")
    r = ctl(cfg, "dead-letters", "requeue", "--all", "--reason", "ctl_no_poison")
    assert r.returncode == 0, r.stderr
    assert "requeued 1 of 1 dead letter" in r.stdout
    stack.wait_rows(2, dead=0)
    got = stack.q("SELECT source, delivery_id, payload FROM hookpipe.events "
                  "WHERE event = 'poison.event'")
    assert len(got) == 1
    assert got[0][0] == "acme" and got[0][1] not in ("orig1", rows[0]["delivery_id"])
    assert got[0][2] == json.loads(poison)
    # requeueing the same id again: gone
    one_line_error(ctl(cfg, "dead-letters", "requeue", second), 1, f"no dead letter {second}")
    time.sleep(0.5)
    assert stack.count() == 2 and stack.dead_count() == 0


def test_requeue_is_all_or_nothing_when_redis_is_down(redis_server, shared_pg, tmp_path):
    stack = Stack(redis_server, shared_pg, tmp_path)
    # over the unix socket, as a daemon may reach Redis
    cfg = harness.write_config(
        tmp_path / "ctl-unix.ini", redis={"url": redis_server.unix_url, "queue": stack.queue},
        postgres={"conninfo": stack.pg.conninfo(stack.db)})
    migrate(stack)
    b = body()
    stack.q("INSERT INTO hookpipe.dead_letters (source, reason, body, item_key) "
            "VALUES ('acme', 'test', %s, '\\x01'), (NULL, 'no envelope', 'junk', '\\x02')",
            (b,))
    ids = [r[0] for r in stack.q("SELECT id FROM hookpipe.dead_letters ORDER BY id")]
    # show: any bytes, unchanged
    raw = b"\x00\xff\r\n{" + bytes(range(256))
    rid = stack.q("INSERT INTO hookpipe.dead_letters (source, reason, body, item_key) "
                  "VALUES (NULL, 'raw', %s, '\\x03') RETURNING id", (raw,))[0][0]
    shown = subprocess.run([harness.daemon_path("ctl"), "-c", cfg, "dead-letters", "show",
                            str(rid)], stdout=subprocess.PIPE, timeout=30)
    assert shown.returncode == 0 and shown.stdout == raw
    stack.q("DELETE FROM hookpipe.dead_letters WHERE id = %s", (rid,))
    # an item without a source cannot be requeued: refused, kept
    r = ctl(cfg, "dead-letters", "requeue", ids[1])
    assert r.returncode == 1 and "has no source" in r.stderr
    assert stack.dead_count() == 2 and stack.r.llen(stack.queue) == 0
    redis_server.stop()
    r = ctl(cfg, "dead-letters", "requeue", ids[0])
    assert r.returncode == 1 and "redis" in r.stderr
    assert stack.dead_count() == 2
    redis_server.start()
    stack.r = redis_server.client()
    r = ctl(cfg, "dead-letters", "requeue", "--all")
    assert r.returncode == 1  # one of two could not be requeued
    assert "requeued 1 of 2" in r.stdout
    assert stack.dead_count() == 1 and stack.r.llen(stack.queue) == 1
    item = stack.r.lindex(stack.queue, 0)
    head, payload = item.split(b"\n", 1)
    f = head.split(b" ")
    assert f[0] == b"HP1" and f[1] == b"acme" and f[4] == b"-" and payload == b
    assert abs(int(f[2]) / 1e6 - time.time()) < 60 and int(f[5]) == len(payload)


# ---------------------------------------------------------------- replay

def replay_stacks(shared_redis, shared_pg, tmp_path, tls=None):
    src = Stack(shared_redis, shared_pg, tmp_path)
    dst = Stack(shared_redis, shared_pg, tmp_path)
    gw_a, port_a = gateway(src, tmp_path, "a", SECRET_A)
    gw_b, port_b = gateway(dst, tmp_path, "b", SECRET_B, tls=tls)
    src.writer("wa")
    dst.writer("wb")
    return src, dst, port_a, port_b


@pytest.mark.timeout(150)
def test_replay_into_a_second_stack(shared_redis, shared_pg, tmp_path):
    src, dst, port_a, port_b = replay_stacks(shared_redis, shared_pg, tmp_path)
    # the source config holds no secret the operator has: secret_file does not exist
    cfg = ctl_config(src, tmp_path / "ctl.ini", sources={
        "acme": {"provider": "zoom", "secret_file": str(tmp_path / "nonexistent")}})
    docs = []
    for i in range(30):
        ev = "meeting.started" if i % 3 else "recording.completed"
        docs.append({"event": ev, "event_ts": 1700000000000 + i,
                     "payload": {"account_id": "acctR", "object": {"id": f"m{i}", "n": i}}})
    # as Zoom sends them: compact, its own key order; never PostgreSQL's canonical jsonb text
    raw = [json.dumps({"payload": d["payload"], "event_ts": d["event_ts"], "event": d["event"]},
                      separators=(",", ":")).encode() for d in docs]
    assert all(b != canonical(src, d) for b, d in zip(raw, docs))
    first, second = raw[:20], raw[20:]
    for i, b in enumerate(first):
        post(port_a, SECRET_A, b, request_id=f"req-{i}")
    src.wait_rows(20)
    time.sleep(0.05)
    cut = time.time()
    time.sleep(0.05)
    for b in second:
        post(port_a, SECRET_A, b)
    src.wait_rows(30)
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(cut)) + f".{int(cut % 1 * 1e6):06d}Z"
    to = f"http://127.0.0.1:{port_b}/hooks/acme"

    dry = ctl(cfg, "replay", "--to", to, "--dry-run", "--event", "meeting.*")
    assert dry.returncode == 0 and "20 events would be sent" in dry.stdout, dry.stdout
    # selection: meeting.* events received before the cut
    r = ctl(cfg, "replay", "--to", to, "--secret-env", "CTL_SECRET", "--event", "meeting.*",
            "--until", since, "--concurrency", "3", "--rate", "500", env=SECRET_ENV)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 and "13 of 13 events" in lines[0] and "13 ok, 0 failed" in lines[0]
    assert "ETA" not in r.stdout + r.stderr  # no terminal: no progress bar
    want = src.q("SELECT event_key, request_id FROM hookpipe.events WHERE event LIKE 'meeting.%%'"
                 " AND received_at < to_timestamp(%s) ORDER BY event_key", (cut,))
    assert len(want) == 13
    dst.wait_rows(13)
    got = dst.q("SELECT event_key, request_id FROM hookpipe.events ORDER BY event_key")
    assert [bytes(k) for k, _ in got] == [bytes(k) for k, _ in want]
    assert [q for _, q in got] == [q for _, q in want]  # x-zm-request-id sent as stored
    # the same selection again stores nothing twice
    r = ctl(cfg, "replay", "--to", to, "--secret-env", "CTL_SECRET", "--event", "meeting.*",
            "--until", since, env={"CTL_SECRET": SECRET_B})
    assert r.returncode == 0, r.stderr
    # then everything since the cut (secret from a file)
    sf = tmp_path / "secret"
    sf.write_text(SECRET_B + "\n")
    r = ctl(cfg, "replay", "--to", to, "--secret-file", sf, "--since", since, "--source", "acme")
    assert r.returncode == 0 and "10 of 10 events" in r.stdout, r.stdout + r.stderr
    dst.wait_rows(23)
    time.sleep(0.3)
    assert dst.count() == 23
    keys_src = {bytes(k[0]) for k in src.q("SELECT event_key FROM hookpipe.events")}
    keys_dst = {bytes(k[0]) for k in dst.q("SELECT event_key FROM hookpipe.events")}
    assert keys_dst <= keys_src
    assert "canonical" not in r.stdout
    # nothing selected: exit 0, zero sent
    r = ctl(cfg, "replay", "--to", to, "--secret-env", "CTL_SECRET", "--source", "other",
            env=SECRET_ENV)
    assert r.returncode == 0 and "0 of 0 events" in r.stdout
    # a row stored without its body (before schema v4, or keep_body = off): payload's canonical
    # text is sent, counted, and stored at the target under an event_key of its own
    src.q("UPDATE hookpipe.events SET body = NULL WHERE id = (SELECT min(id) FROM "
          "hookpipe.events WHERE event = 'recording.completed') RETURNING id")
    r = ctl(cfg, "replay", "--to", to, "--secret-env", "CTL_SECRET", "--event", "recording.*",
            "--until", since, env=SECRET_ENV)
    assert r.returncode == 0 and "7 of 7 events" in r.stdout, r.stdout + r.stderr
    assert "1 sent as canonical JSON" in r.stdout, r.stdout
    dst.wait_rows(30)
    keys_dst = {bytes(k[0]) for k in dst.q("SELECT event_key FROM hookpipe.events")}
    assert len(keys_dst - keys_src) == 1 and len(keys_dst & keys_src) == 29


@pytest.mark.timeout(120)
def test_replay_failures_are_retried_then_counted(shared_redis, shared_pg, tmp_path):
    src, dst, port_a, port_b = replay_stacks(shared_redis, shared_pg, tmp_path)
    cfg = ctl_config(src, tmp_path / "ctl.ini")
    for i in range(3):
        post(port_a, SECRET_A, body())
    src.wait_rows(3)
    to = f"http://127.0.0.1:{port_b}/hooks/acme"
    r = ctl(cfg, "replay", "--to", to, "--secret-env", "CTL_SECRET", "--retries", "2",
            env={"CTL_SECRET": "wrong-secret"})
    assert r.returncode == 1
    assert "0 ok, 3 failed, 6 retries" in r.stdout, r.stdout
    assert r.stderr.count("HTTP 401 (gave up after 3 attempts)") == 3
    # an unknown path: 404, and a closed port: connection errors
    r = ctl(cfg, "replay", "--to", f"http://127.0.0.1:{port_b}/hooks/nope", "--secret-env",
            "CTL_SECRET", "--retries", "0", env=SECRET_ENV)
    assert r.returncode == 1 and r.stderr.count("HTTP 404") == 3
    r = ctl(cfg, "replay", "--to", f"http://127.0.0.1:{harness.free_port()}/", "--secret-env",
            "CTL_SECRET", "--retries", "1", env=SECRET_ENV)
    assert r.returncode == 1 and "cannot connect" in r.stderr and "0 ok, 3 failed" in r.stdout
    assert dst.count() == 0


@pytest.mark.timeout(150)
def test_replay_https_and_progress_bar(shared_redis, shared_pg, tmp_path):
    cert, key = harness.tls_cert(tmp_path)
    src, dst, port_a, port_b = replay_stacks(shared_redis, shared_pg, tmp_path,
                                             tls=(cert, key))
    cfg = ctl_config(src, tmp_path / "ctl.ini")
    for i in range(40):
        post(port_a, SECRET_A, body())
    src.wait_rows(40)
    to = f"https://127.0.0.1:{port_b}/hooks/acme"
    r = ctl(cfg, "replay", "--to", to, "--secret-env", "CTL_SECRET", "--retries", "0",
            env=SECRET_ENV)
    assert r.returncode == 1 and "certificate verify failed" in r.stderr  # not trusted
    r = ctl(cfg, "replay", "--to", to, "--secret-env", "CTL_SECRET", "--cacert", cert, "--rate",
            "200", env=SECRET_ENV)
    assert r.returncode == 0, r.stderr
    dst.wait_rows(40)
    # --insecure, with stderr on a terminal: a progress bar with rate and ETA
    master, slave = pty.openpty()
    p = subprocess.Popen([harness.daemon_path("ctl"), "-c", cfg, "replay", "--to", to,
                          "--secret-env", "CTL_SECRET", "--insecure", "--rate", "40",
                          "--concurrency", "2"], stdout=subprocess.PIPE, stderr=slave,
                         env=dict(os.environ, **SECRET_ENV))
    os.close(slave)
    out, err = p.communicate(timeout=60)[0], b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    assert p.returncode == 0, err
    harness.check_sanitizer_log(err.decode("utf-8", "replace"), "hookpipe-ctl replay")
    assert b"ETA" in err and b"/s" in err and b"40/40" in err and b"100%" in err
    assert b"40 ok, 0 failed" in out
    time.sleep(0.3)
    assert dst.count() == 40  # replayed twice, stored once


def replay_into(handler, cfg, *args, timeout=60):
    """Runs replay (secret CTL_SECRET, and args) into a local target served by handler."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        return ctl(cfg, "replay", "--to", f"http://127.0.0.1:{srv.server_address[1]}/in",
                   "--secret-env", "CTL_SECRET", *args, env=SECRET_ENV, timeout=timeout)
    finally:
        srv.shutdown()
        srv.server_close()


class _Target(http.server.BaseHTTPRequestHandler):
    """A replay target that answers each body's first POST 503 + Retry-After: 1, then 200 in
    turn with a Content-Length, a chunked body, or no length and a close."""
    protocol_version = "HTTP/1.1"
    seen = []  # (monotonic time, headers dict, body)
    lock = threading.Lock()

    def log_message(self, *a):
        pass

    def do_POST(self):
        b = self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            first = not any(x[2] == b for x in self.seen)
            self.seen.append((time.monotonic(), {k.lower(): v for k, v in self.headers.items()},
                              b))
            n = len(self.seen)
        if first:
            self.send_response(503)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"busy")
        elif n % 3 == 0:
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"3\r\nabc\r\n0\r\n\r\n")
        elif n % 3 == 1:
            self.send_response(204)
            self.end_headers()
        else:
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"bye")
            self.close_connection = True


@pytest.mark.timeout(90)
def test_replay_signs_like_zoom_and_honours_retry_after(stack, tmp_path):
    migrate(stack)
    cfg = ctl_config(stack, tmp_path / "ctl.ini")
    stack.writer("rt")
    bodies = [body(event_ts=1700000000000 + i) for i in range(4)]
    stack.push([encode(b, request_id=f"rid {i}%") for i, b in enumerate(bodies)])
    stack.wait_rows(4)
    _Target.seen = []
    r = replay_into(_Target, cfg, "--concurrency", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 ok, 0 failed, 4 retries" in r.stdout
    seen = _Target.seen
    assert len(seen) == 8
    # the bytes Zoom sent, in the order received, each once and again after the Retry-After
    assert [b for _, _, b in seen[0::2]] == bodies and [b for _, _, b in seen[1::2]] == bodies
    for i in range(0, 8, 2):
        assert seen[i + 1][0] - seen[i][0] >= 0.95  # Retry-After: 1 was honoured
    for when, h, b in seen:
        ts = h["x-zm-request-timestamp"]
        assert abs(int(ts) - time.time()) < 60
        assert h["x-zm-signature"] == harness.zoom_signature(SECRET_B, ts, b)
        assert h["content-type"] == "application/json"
    assert sorted(h["x-zm-request-id"] for _, h, _ in seen[0::2]) == \
        [f"rid {i}%" for i in range(4)]


class _Trickler(http.server.BaseHTTPRequestHandler):
    """A replay target that reads the whole POST, then sends its answer one byte a second
    (the whole answer would take ~100 s)."""
    protocol_version = "HTTP/1.1"
    ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 40\r\n\r\n" +
              b"x" * 40)
    posts = 0
    stop = threading.Event()

    def log_message(self, *a):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        _Trickler.posts += 1
        for i in range(len(self.ANSWER)):
            if self.stop.wait(1):
                break
            try:
                self.wfile.write(self.ANSWER[i:i + 1])  # unbuffered: one byte on the wire
            except OSError:
                break
        self.close_connection = True


@pytest.mark.timeout(90)
def test_replay_timeout_bounds_the_whole_exchange(stack, tmp_path):
    """--timeout is a deadline on each exchange, not on each read: a target that trickles its
    answer a byte a second fails the attempt at the deadline instead of holding the sender."""
    migrate(stack)
    cfg = ctl_config(stack, tmp_path / "ctl.ini")
    stack.writer("tr")
    stack.push([encode(body())])
    stack.wait_rows(1)
    _Trickler.posts = 0
    _Trickler.stop.clear()
    start = time.monotonic()
    try:
        r = replay_into(_Trickler, cfg, "--timeout", "2", "--retries", "1", timeout=30)
    finally:
        _Trickler.stop.set()
    took = time.monotonic() - start
    assert r.returncode == 1, r.stdout + r.stderr
    assert "0 ok, 1 failed, 1 retry" in r.stdout, r.stdout
    assert r.stderr.count("within --timeout 2 s") == 1, r.stderr
    assert _Trickler.posts == 2
    # two attempts of 2 s and a backoff of ~0.2 s
    assert 3.5 <= took < 10, took


class _KeepAlive(http.server.BaseHTTPRequestHandler):
    """A replay target that answers 200 with a length on a kept-alive connection and counts
    connections."""
    protocol_version = "HTTP/1.1"
    connections = 0
    seen = []  # (headers dict, body)
    lock = threading.Lock()

    def log_message(self, *a):
        pass

    def setup(self):
        super().setup()
        with self.lock:
            _KeepAlive.connections += 1

    def do_POST(self):
        b = self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            self.seen.append(({k.lower(): v for k, v in self.headers.items()}, b))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


@pytest.mark.timeout(90)
def test_replay_reuses_one_connection_and_sends_the_exact_bytes(stack, tmp_path):
    migrate(stack)
    cfg = ctl_config(stack, tmp_path / "ctl.ini")
    stack.writer("ka")
    # one body past 1 KiB, where an HTTP client might add Expect: 100-continue
    bodies = [body(event_ts=1700000000000 + i,
                   obj={"id": f"k{i}", "pad": "x" * (5000 if i == 3 else 10)})
              for i in range(12)]
    stack.push([encode(b) for b in bodies])
    stack.wait_rows(12)
    _KeepAlive.connections, _KeepAlive.seen = 0, []
    r = replay_into(_KeepAlive, cfg, "--concurrency", "1")
    assert r.returncode == 0 and "12 ok, 0 failed, 0 retries" in r.stdout, r.stdout + r.stderr
    assert _KeepAlive.connections == 1  # 12 events over one kept-alive connection
    assert sorted(b for _, b in _KeepAlive.seen) == sorted(bodies)
    for h, b in _KeepAlive.seen:
        assert "expect" not in h and int(h["content-length"]) == len(b)
        assert h["content-type"] == "application/json"


# ---------------------------------------------------------------- recover

@pytest.mark.timeout(120)
def test_recover_refuses_a_live_writer_and_moves_an_expired_ones_list(stack, tmp_path):
    migrate(stack)
    cfg = ctl_config(stack, tmp_path / "ctl.ini")
    conn = stack.pg.connect(stack.db)
    conn.autocommit = False
    cur = conn.cursor()
    cur.execute("LOCK TABLE hookpipe.events IN SHARE MODE")
    proc = stack.queue + ":processing:held"
    try:
        w = stack.writer("held", heartbeat_ttl_s=2, recover_interval_s=3600)
        items = [encode(body(), delivery_id=f"d{i}") for i in range(9)]
        stack.push(items)
        harness.wait_for(lambda: stack.r.llen(proc) == 9, timeout=20, what="held to claim 9")
        one_line_error(ctl(cfg, "recover", "held"), 1, "writer held is alive", "--force")
        assert stack.r.llen(proc) == 9 and stack.r.llen(stack.queue) == 0
        w.kill()
        harness.wait_for(lambda: not stack.r.exists(stack.queue + ":writer:held"), timeout=10)
        newer = encode(body(), delivery_id="newer")
        stack.push([newer])
        r = ctl(cfg, "recover", "held")
        assert r.returncode == 0 and "recovered 9 items of writer held" in r.stdout, r.stderr
        assert not stack.r.exists(proc)
        assert b"held" not in stack.r.smembers(stack.queue + ":writers")
        # oldest first at the right end, ahead of the newer item
        assert stack.r.lrange(stack.queue, 0, -1) == [newer] + list(reversed(items))
        one_line_error(ctl(cfg, "recover", "held"), 1, "no writer held")
    finally:
        conn.rollback()
        conn.close()
    stack.writer("after")
    stack.wait_rows(10)
    stack.assert_no_duplicates()


@pytest.mark.timeout(120)
def test_recover_force_moves_a_live_writers_list_without_duplicates(stack, tmp_path):
    migrate(stack)
    cfg = ctl_config(stack, tmp_path / "ctl.ini")
    conn = stack.pg.connect(stack.db)
    conn.autocommit = False
    cur = conn.cursor()
    cur.execute("LOCK TABLE hookpipe.events IN SHARE MODE")
    proc = stack.queue + ":processing:busy"
    try:
        stack.writer("busy", recover_interval_s=3600)
        stack.push([encode(body()) for _ in range(6)])
        harness.wait_for(lambda: stack.r.llen(proc) == 6, timeout=20, what="busy to claim 6")
        r = ctl(cfg, "recover", "busy", "--force")
        assert r.returncode == 0 and "recovered 6 items" in r.stdout, r.stderr
    finally:
        conn.rollback()
        conn.close()
    stack.wait_rows(6)
    stack.wait_drained()
    time.sleep(0.3)
    assert stack.count() == 6
    stack.assert_no_duplicates()


# ---------------------------------------------------------------- purge

@pytest.mark.timeout(120)
def test_purge_one_account(stack, tmp_path):
    cfg = ctl_config(stack, tmp_path / "ctl.ini")
    migrate(stack)
    stack.q("ALTER TABLE hookpipe.events ADD CONSTRAINT ctl_no_poison "
            "CHECK (event <> 'poison.event')")
    stack.writer("p")
    items = [encode(body(account_id="gone1")) for _ in range(4)]
    items += [encode(body(account_id="keep2")) for _ in range(3)]
    items += [encode(body(event="poison.event", account_id="gone1"))]
    items += [encode(body(event="poison.event", account_id="keep2", note="gone1"))]
    items += [encode(b'{"broken "gone1" json')]  # not JSON, holds the id: deleted
    items += [encode(b'not json at all')]
    stack.push(items)
    stack.wait_rows(7, dead=4)
    r = ctl(cfg, "purge", "--account", "gone1", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "would delete 4 events and 2 dead letters" in r.stdout
    assert stack.count() == 7 and stack.dead_count() == 4
    r = ctl(cfg, "purge", "--account", "gone1")
    assert r.returncode == 0 and "deleted 4 events and 2 dead letters" in r.stdout, r.stdout
    assert "1 of them not JSON" in r.stdout
    assert stack.q("SELECT DISTINCT account_id FROM hookpipe.events") == [("keep2",)]
    left = [bytes(b[0]) for b in stack.q("SELECT body FROM hookpipe.dead_letters ORDER BY id")]
    assert len(left) == 2 and all(b"gone1" not in b or b"keep2" in b for b in left)
    r = ctl(cfg, "purge", "--account", "gone1")
    assert r.returncode == 0 and "deleted 0 events and 0 dead letters" in r.stdout


# ---------------------------------------------------------------- bad input

def test_bad_input(stack, tmp_path):
    migrate(stack)
    cfg = ctl_config(stack, tmp_path / "ctl.ini")
    assert ctl(None, "--version").stdout.startswith("hookpipe-ctl ")
    h = ctl(None, "--help")
    assert h.returncode == 0 and "replay --to URL" in h.stdout
    assert ctl(None, "replay", "--help").stdout == h.stdout
    env_cfg = ctl(None, "status", env={"HOOKPIPE_CONFIG": cfg})
    assert env_cfg.returncode == 0, env_cfg.stderr
    usage = [
        ((None, "status"), "no configuration file"),
        ((cfg,), "no command"),
        ((cfg, "frobnicate"), "unknown command \"frobnicate\""),
        ((cfg, "--bogus", "status"), "unknown option --bogus"),
        ((cfg, "status", "--bogus"), "unknown option --bogus"),
        ((cfg, "status", "extra"), "unexpected argument"),
        ((tmp_path / "missing.ini", "status"), "cannot open"),
        ((cfg, "dead-letters"), "needs list, show or requeue"),
        ((cfg, "dead-letters", "drop"), "unknown subcommand"),
        ((cfg, "dead-letters", "show"), "needs one ID"),
        ((cfg, "dead-letters", "show", "abc"), "bad id \"abc\""),
        ((cfg, "dead-letters", "show", "-5"), "unknown option -5"),
        ((cfg, "dead-letters", "list", "--limit", "0"), "bad --limit"),
        ((cfg, "dead-letters", "requeue"), "give IDs or --all"),
        ((cfg, "dead-letters", "requeue", "1", "--all"), "give IDs or --all"),
        ((cfg, "dead-letters", "requeue", "1", "--reason", "x"), "--reason needs --all"),
        ((cfg, "recover"), "needs a writer NAME"),
        ((cfg, "recover", "bad/name"), "bad writer name"),
        ((cfg, "replay", "--secret-env", "HOME"), "needs --to URL"),
        ((cfg, "replay", "--to", "ftp://x/", "--secret-env", "HOME"), "bad --to URL"),
        ((cfg, "replay", "--to", "http://127.0.0.1:1/"),
         "exactly one of --secret-file, --secret-env"),
        ((cfg, "replay", "--to", "http://127.0.0.1:1/", "--secret-file", "a", "--secret-env", "B"),
         "exactly one of --secret-file, --secret-env"),
        # a secret on the command line shows in ps and /proc/PID/cmdline: refused, in either
        # form, pointing to the two ways that keep it out of there (the value is not echoed)
        ((cfg, "replay", "--to", "http://127.0.0.1:1/", "--secret", "s3cr3t-value"),
         "--secret is removed", "use --secret-file FILE or --secret-env VAR"),
        ((cfg, "replay", "--to", "http://127.0.0.1:1/", "--secret=s3cr3t-value", "--dry-run"),
         "--secret is removed", "use --secret-file FILE or --secret-env VAR"),
        ((cfg, "replay", "--to", "http://127.0.0.1:1/", "--secret-env", "HOME", "--since",
          "yesterday"), "bad --since"),
        ((cfg, "replay", "--to", "http://127.0.0.1:1/", "--secret-env", "HOME", "--since", "1h",
          "--until", "2h"), "--until must be later"),
        ((cfg, "replay", "--to", "http://127.0.0.1:1/", "--secret-env", "HOME", "--rate", "0"),
         "bad --rate"),
        ((cfg, "replay", "--to", "http://127.0.0.1:1/", "--secret-env", "HOME", "--concurrency",
          "999"), "bad --concurrency"),
        ((cfg, "replay", "--to", "http://127.0.0.1:1/", "--secret-env", "HOME", "--insecure"),
         "need an https:// URL"),
        ((cfg, "replay", "--to", "https://127.0.0.1:1/", "--secret-env", "HOME", "--cacert",
          tmp_path / "nope.pem"), "cannot load CA certificates"),
        ((cfg, "replay", "--to", "http://127.0.0.1:1/", "--secret-file", tmp_path / "nope"),
         "cannot read --secret-file"),
        ((cfg, "replay", "--to", "http://127.0.0.1:1/", "--secret-env", "CTL_UNSET_VAR"),
         "CTL_UNSET_VAR is not set"),
        ((cfg, "replay", "--to", "http://127.0.0.1:1/", "--secret-env", "HOME", "--event", "a\\"),
         "bad --event"),
        ((cfg, "purge"), "needs --account ID"),
        ((cfg, "purge", "--account", ""), "needs --account ID"),
        ((cfg, "purge", "--account", "a\"b"), "bad account ID"),
    ]
    for args, *needles in usage:
        r = ctl(*args)
        one_line_error(r, 2, *needles)
        assert "s3cr3t" not in r.stdout + r.stderr
    bad_cfg = tmp_path / "bad.ini"
    bad_cfg.write_text("[redis]\nurl = http://nope\n")
    one_line_error(ctl(bad_cfg, "status"), 2, "config error", "bad Redis URL")
    # runtime: missing ids, unreachable servers
    one_line_error(ctl(cfg, "dead-letters", "show", "999999"), 1, "no dead letter 999999")
    one_line_error(ctl(cfg, "recover", "nobody"), 1, "no writer nobody")
    r = ctl(cfg, "dead-letters", "requeue", "999999")
    assert r.returncode == 1 and "no dead letter 999999" in r.stderr
    down_redis = harness.write_config(
        tmp_path / "down-redis.ini", redis={"url": f"redis://127.0.0.1:{harness.free_port()}/0",
                                            "queue": stack.queue},
        postgres={"conninfo": stack.pg.conninfo(stack.db)})
    one_line_error(ctl(down_redis, "status"), 1, "redis: cannot connect")
    one_line_error(ctl(down_redis, "recover", "x"), 1, "redis: cannot connect")
    down_pg = harness.write_config(
        tmp_path / "down-pg.ini", redis={"url": stack.redis.url, "queue": stack.queue},
        postgres={"conninfo": f"postgresql://hookpipe@127.0.0.1:{harness.free_port()}/x"})
    for args in (("status",), ("dead-letters", "list"), ("dead-letters", "show", "1"),
                 ("purge", "--account", "a"),
                 ("replay", "--to", "http://127.0.0.1:1/", "--secret-env", "HOME")):
        one_line_error(ctl(down_pg, *args), 1, "postgres: cannot connect")
    # a password-protected Redis reached with the URL's credentials
    locked = harness.RedisServer(password="pw-ctl")
    locked.start()
    try:
        ok = harness.write_config(tmp_path / "auth.ini",
                                  redis={"url": f"redis://:pw-ctl@127.0.0.1:{locked.port}/3",
                                         "queue": "q"},
                                  postgres={"conninfo": stack.pg.conninfo(stack.db)})
        locked.client().lpush("q", encode(body()))
        r, st = ctl_json(ok, "status", "--json")
        assert st["queue_length"] == 0  # db 0 is not db 3
        import redis
        redis.Redis(host="127.0.0.1", port=locked.port, db=3, password="pw-ctl",
                    socket_timeout=5).lpush("q", encode(body()))
        r, st = ctl_json(ok, "status", "--json")
        assert r.returncode == 1 and st["queue_length"] == 1
        wrong = harness.write_config(tmp_path / "auth-bad.ini",
                                     redis={"url": f"redis://:nope@127.0.0.1:{locked.port}/0",
                                            "queue": "q"},
                                     postgres={"conninfo": stack.pg.conninfo(stack.db)})
        one_line_error(ctl(wrong, "status"), 1, "redis: AUTH")
    finally:
        locked.close()


# ---------------------------------------------------------------- other providers (issue 22)

PROVIDER_ROWS = {  # provider -> (stored headers, body)
    "zoom": (None, body(event="meeting.started")),
    "standard": ({"webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "webhook-timestamp": "1"},
                 b'{"type":"invoice.paid","timestamp":"2024-01-01T00:00:00Z"}'),
    "github": ({"x-github-event": "push", "x-github-delivery": "72d3162e-cc78-11e3",
                "x-github-hook-id": "292430182", "x-evil": "no"}, b'{"ref":"refs/heads/main"}'),
    "stripe": (None, b'{"id":"evt_1","type":"payment_intent.succeeded","created":1700000000}'),
    "slack": (None, b'{"type":"event_callback","event_id":"Ev1","event":{"type":"message"}}'),
    "shopify": ({"x-shopify-topic": "orders/create", "x-shopify-webhook-id": "w-1",
                 "x-shopify-event-id": "e-1", "x-shopify-shop-domain": "s.myshopify.com",
                 "x-shopify-triggered-at": "2024-01-01T00:00:00.000Z",
                 "x-shopify-api-version": "2025-01"}, b'[{"id":1}]'),
}


def insert_provider_rows(stack, rows=PROVIDER_ROWS):
    """One stored row per provider, as the writer stores it (schema v7), undated."""
    for i, (p, (headers, b)) in enumerate(sorted(rows.items())):
        stack.q("INSERT INTO hookpipe.events (source, event, received_at, event_key, payload, "
                "body, provider, headers, event_time) VALUES (%s, %s, now(), %s, %s::jsonb, %s, "
                "%s, %s::jsonb, '1970-01-01+00') RETURNING id",
                (f"src-{p}", "e", f"key-{p}-{i}".encode(), b.decode(), b.decode(), p,
                 json.dumps(headers) if headers is not None else None))


class _Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen = []  # (headers dict, body)

    def log_message(self, *a):
        pass

    def do_POST(self):
        b = self.rfile.read(int(self.headers["Content-Length"]))
        _Recorder.seen.append(({k.lower(): v for k, v in self.headers.items()}, b))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def replay_provider(cfg, provider, *args, secret=None):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    _Recorder.seen = []
    try:
        return ctl(cfg, "replay", "--to", f"http://127.0.0.1:{srv.server_address[1]}/in",
                   "--secret-env", "CTL_SECRET", *args,
                   env={"CTL_SECRET": secret or PROVIDER_SECRETS[provider]})
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.timeout(120)
def test_replay_signs_each_provider_with_its_scheme(stack, tmp_path):
    migrate(stack)
    cfg = ctl_config(stack, tmp_path / "ctl.ini")
    insert_provider_rows(stack)
    for p in sorted(PROVIDER_SECRETS):
        headers, b = PROVIDER_ROWS[p]
        r = replay_provider(cfg, p, "--provider", p)
        assert r.returncode == 0, (p, r.stdout, r.stderr)
        assert "1 of 1 event sent" in r.stdout, r.stdout
        # the other five rows are left out, and said so
        assert "5 events of other providers than %s" % p in r.stderr, r.stderr
        (got,) = _Recorder.seen
        h, sent = got
        assert sent == b  # the bytes as received
        assert provider_verify(p, PROVIDER_SECRETS[p], h, sent), (p, h)
        assert "x-zm-signature" not in h and "x-zm-request-id" not in h
        for name, value in (headers or {}).items():
            if name == "webhook-timestamp":
                assert abs(int(h[name]) - time.time()) < 60  # signed now, not the stored one
            elif name.startswith("x-evil"):
                assert name not in h  # only the provider's own headers are carried
            else:
                assert h[name] == value, (p, name)  # the stored id: never a new one
    # zoom: as before, only the zoom row
    r = replay_provider(cfg, "zoom", secret=SECRET_B)
    assert r.returncode == 0 and "1 of 1 event sent" in r.stdout, r.stdout + r.stderr
    (h, sent), = _Recorder.seen
    assert h["x-zm-signature"] == harness.zoom_signature(SECRET_B, h["x-zm-request-timestamp"],
                                                         sent)
    # --dry-run says what it would sign as
    r = ctl(cfg, "replay", "--to", "http://127.0.0.1:9/in", "--provider", "github", "--dry-run")
    assert r.returncode == 0 and "1 event would be sent" in r.stdout
    assert "signed as github" in r.stdout


@pytest.mark.timeout(60)
def test_replay_provider_refusals(stack, tmp_path):
    migrate(stack)
    cfg = ctl_config(stack, tmp_path / "ctl.ini")
    insert_provider_rows(stack, {"standard": ({"x-other": "1"}, b'{"type":"a"}')})
    # a public key cannot sign: one line, exit 2, nothing sent
    r = replay_provider(cfg, "standard", "--provider", "standard",
                        secret="whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g=")
    one_line_error(r, 2, "whpk_ public key", "whsec_")
    assert _Recorder.seen == []
    r = replay_provider(cfg, "standard", "--provider", "nope")
    one_line_error(r, 2, "unknown --provider", "standard")
    # a standard row stored without its webhook-id cannot be signed (no new id is invented)
    r = replay_provider(cfg, "standard", "--provider", "standard")
    assert r.returncode == 1 and "0 ok, 1 failed" in r.stdout, r.stdout + r.stderr
    assert "no webhook-id" in r.stderr and _Recorder.seen == []


@pytest.mark.timeout(60)
def test_replay_provider_from_the_source_section(stack, tmp_path):
    """Without --provider, --source's [source.NAME] provider decides (needs the config's
    provider support)."""
    migrate(stack)
    cfg = ctl_config(stack, tmp_path / "ctl.ini", sources={
        "src-github": {"provider": "github", "secret": "x"},
        "acme": {"provider": "zoom", "secret": SECRET_A}})
    insert_provider_rows(stack)
    r = replay_provider(cfg, "github", "--source", "src-github")
    assert r.returncode == 0 and "1 of 1 event sent" in r.stdout, r.stdout + r.stderr
    (h, sent), = _Recorder.seen
    assert provider_verify("github", PROVIDER_SECRETS["github"], h, sent)
    r, st = ctl_json(cfg, "status", "--json")
    assert {(s["name"], s["provider"]) for s in st["sources"]} == {
        ("src-github", "github"), ("acme", "zoom")}
    r = ctl(cfg, "status")
    assert "src-github (github)" in r.stdout and "acme (zoom)" in r.stdout


@pytest.mark.timeout(60)
def test_status_shows_each_sources_provider(stack, tmp_path):
    migrate(stack)
    cfg = ctl_config(stack, tmp_path / "ctl.ini")
    r, st = ctl_json(cfg, "status", "--json")
    assert st["sources"] == [{"name": "acme", "provider": "zoom", "transport": "webhook"}]
    r = ctl(cfg, "status")
    assert "sources: acme (zoom)" in r.stdout, r.stdout


@pytest.mark.timeout(150)
def test_replay_standard_into_a_second_stack(shared_redis, shared_pg, tmp_path):
    """A Standard Webhooks delivery stored by one stack, replayed into a second stack whose
    standard source has another secret: accepted there, stored once under the same id (needs
    the gateway's and the writer's provider support)."""
    src = Stack(shared_redis, shared_pg, tmp_path)
    dst = Stack(shared_redis, shared_pg, tmp_path)
    secret_a, secret_b = PROVIDER_SECRETS["standard"], "whsec_c2Vjb25kLXN0YWNrLWtleS0wMTIzNDU2"
    ports = []
    for st, name, sec in ((src, "a", secret_a), (dst, "b", secret_b)):
        gcfg = harness.write_config(
            tmp_path / f"gw-std-{name}.ini", gateway={"listen": "127.0.0.1:0"},
            redis={"url": st.redis.url, "queue": st.queue},
            postgres={"conninfo": st.pg.conninfo(st.db)},
            sources={"std": {"provider": "standard", "secret": sec}})
        d = harness.Daemon("gateway", gcfg).start(wait_listen=("http",))
        ports.append(d.listen_port("http"))
        st.writer("w" + name)
    sender = os.path.join(os.environ.get("HOOKPIPE_SOURCE_DIR", "."), "tools", "hookpipe-send")
    for i in range(3):
        r = subprocess.run([sender, "--provider", "standard", "--secret", secret_a,
                            f"http://127.0.0.1:{ports[0]}/hooks/std", "-"],
                           input=b'{"type":"invoice.paid","n":%d}' % i, capture_output=True,
                           timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
    src.wait_rows(3)
    cfg = ctl_config(src, tmp_path / "ctl.ini", sources={
        "std": {"provider": "standard", "secret_file": str(tmp_path / "nonexistent")}})
    to = f"http://127.0.0.1:{ports[1]}/hooks/std"
    for _ in range(2):  # twice: stored once
        r = ctl(cfg, "replay", "--to", to, "--source", "std", "--secret-env", "CTL_SECRET",
                env={"CTL_SECRET": secret_b})
        assert r.returncode == 0 and "3 ok, 0 failed" in r.stdout, r.stdout + r.stderr
    dst.wait_rows(3)
    time.sleep(0.3)
    assert dst.count() == 3
    q = "SELECT provider, headers->>'webhook-id', body FROM hookpipe.events ORDER BY 2"
    assert dst.q(q) == src.q(q)

"""Redis high availability with real servers on loopback: a master, replicas and three
Sentinels; the gateway and the writer find the master through [redis] sentinels and
follow a failover without a restart; [redis] ack_replicas makes a 200 wait for WAIT; a
replica stopped with SIGSTOP never makes the gateway drop its healthy link to the master.
Bad input (unreachable sentinels, a wrong master_name, sentinels that disagree) gives a
clear error line and 503s, never a crash and never a 200 for something not stored.
"""

import json
import os
import signal
import threading
import time

import pytest

import harness
from gateway_helpers import SECRET_A, decode_envelope, event_body, metric, signed_headers
from harness import (MASTER_NAME, RedisNode, Sentinel, redis_group, sentinel_list,
                     wait_replicas_online)


class HaGw:
    """A gateway (and optionally a writer) whose [redis] section is given whole."""

    def __init__(self, tmp_path, redis, gateway=None, name="gw"):
        self.port = harness.free_port()
        self.admin_port = harness.free_port()
        self.queue = harness.unique_name("hpq")
        self.redis = dict(redis)
        self.redis["queue"] = self.queue
        gw = {"listen": f"127.0.0.1:{self.port}", "admin_listen": f"127.0.0.1:{self.admin_port}",
              "workers": "2", "push_timeout_ms": "1000"}
        gw.update(gateway or {})
        self.path = harness.write_config(os.path.join(str(tmp_path), f"{name}.ini"), gateway=gw,
                                         redis=self.redis, log={"level": "info"},
                                         sources={"alpha": {"provider": "zoom",
                                                            "secret": SECRET_A}})
        self.daemon = harness.Daemon("gateway", self.path)

    def start(self, up=True):
        self.daemon.start(wait_port=self.port)
        if up:
            self.wait_up()
        return self

    def wait_up(self, timeout=15):
        harness.wait_for(lambda: metric(self.metrics(), "hookpipe_gateway_redis_connected") == 1,
                         timeout=timeout, interval=0.05, what="every worker's Redis link up")

    def metrics(self):
        return harness.metrics(self.admin_port)

    def post(self, body, timeout=10):
        st, _, b = harness.http_request(self.port, "POST", "/hooks/alpha", body,
                                        signed_headers(SECRET_A, body), timeout=timeout)
        try:
            doc = json.loads(b.decode())
        except ValueError:
            doc = None
        return st, doc

    def log(self):
        return self.daemon.log()


def writer_config(tmp_path, redis, db, name):
    return harness.write_config(
        os.path.join(str(tmp_path), f"writer-{name}.ini"), redis=redis,
        postgres={"conninfo": harness.shared_postgres().conninfo(db)},
        writer={"batch_size": 200, "flush_interval_ms": 20, "name": name,
                "heartbeat_ttl_s": 3, "recover_interval_s": 1},
        log={"level": "info"})


class Load:
    """Posting threads: every answer is recorded with its time; 200s with their body."""

    def __init__(self, gw, threads=4):
        self.gw = gw
        self.lock = threading.Lock()
        self.answers = []  # (t, status, delivery id or None, body)
        self.stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        while not self.stop_ev.is_set():
            body = event_body()
            try:
                st, doc = self.gw.post(body, timeout=10)
            except OSError as e:
                st, doc = f"error:{e!r}", None
            did = doc.get("id") if st == 200 and isinstance(doc, dict) else None
            with self.lock:
                self.answers.append((time.monotonic(), st, did, body))
            if st != 200:
                time.sleep(0.02)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(30)

    def count(self, status, since=0.0):
        with self.lock:
            return sum(1 for a in self.answers if a[1] == status and a[0] >= since)

    def wait_count(self, status, n, since=0.0, timeout=30, what=""):
        harness.wait_for(lambda: self.count(status, since) >= n, timeout=timeout, interval=0.05,
                         what=what or f"{n} answers {status}")

    def ok(self):
        with self.lock:
            return {a[2]: a[3] for a in self.answers if a[1] == 200}


def sentinel_redis(sentinels, **more):
    r = {"url": "redis://127.0.0.1:1/0", "sentinels": sentinel_list(sentinels),
         "master_name": MASTER_NAME}
    r.update({k: str(v) for k, v in more.items()})
    return r


def lone_sentinel_naming_a_replica():
    """Another master and replica, and a sentinel that was told the replica is MASTER_NAME's
    master: it names a server whose ROLE is not master. Returns (master, replica, sentinel)."""
    other = RedisNode().start()
    other_replica = RedisNode(replicaof=other).start()
    wait_replicas_online(other, 1)
    lone = Sentinel(other_replica.port).start()
    harness.wait_for(lambda: lone.master_port() == other_replica.port, timeout=10,
                     what="the lone sentinel to answer")
    return other, other_replica, lone


@pytest.mark.timeout(170)
@pytest.mark.skipif(harness.SANITIZED, reason="failover under load: normal build only")
def test_failover_under_load_loses_no_acknowledged_delivery(tmp_path):
    """kill -9 the master under steady signed load: 503s during the switch, 200s after without
    a restart, and with ack_replicas = 1 every 200'd delivery is exactly one row."""
    master, (replica,), sentinels = redis_group(nreplicas=1, nsentinels=3)
    redis = sentinel_redis(sentinels, ack_replicas=1, ack_timeout_ms=1000)
    gw = HaGw(tmp_path, redis).start()
    redis["queue"] = gw.queue
    pg = harness.shared_postgres()
    db = pg.create_database()
    writer = harness.Daemon("writer", writer_config(tmp_path, redis, db, "w1")).start()
    load = Load(gw).start()
    try:
        load.wait_count(200, 100, what="100 deliveries before the failover")
        t_kill = time.monotonic()
        master.kill()
        # the sentinels elect the replica; until then and until a replica is back: 503
        harness.wait_for(lambda: all(s.master_port() == replica.port for s in sentinels),
                         timeout=40, interval=0.1, what="sentinels to promote the replica")
        load.wait_count(503, 1, since=t_kill, timeout=20, what="a 503 during the switch")
        # the old master comes back empty; the sentinels make it a replica of the new one
        master.start()
        harness.wait_for(lambda: master.role() == "slave", timeout=30, interval=0.2,
                         what="old master reconfigured as a replica")
        wait_replicas_online(replica, 1, timeout=30)
        t_back = time.monotonic()
        load.wait_count(200, 100, since=t_back, timeout=30,
                        what="100 deliveries answered 200 after the failover")
    finally:
        load.stop()
    ok = load.ok()
    assert gw.daemon.alive() and writer.alive()
    assert "redis connected" in gw.log() and gw.log().count("master_name=") >= 2, gw.log()[-3000:]

    def rows():
        got = pg.query(db, "SELECT delivery_id, count(*) FROM hookpipe.events "
                           "WHERE delivery_id = ANY(%s) GROUP BY delivery_id", (list(ok),))
        return dict(got)
    harness.wait_for(lambda: len(rows()) == len(ok), timeout=60, interval=0.2,
                     what=f"a row for each of the {len(ok)} deliveries answered 200")
    counts = rows()
    assert set(counts) == set(ok)
    assert all(n == 1 for n in counts.values()), {k: n for k, n in counts.items() if n != 1}
    m = gw.metrics()
    print("answers: %d x 200, %d x 503; ack failures %d" % (
        len(ok), load.count(503), metric(m, "hookpipe_gateway_ack_failures_total")))
    assert gw.daemon.stop() == 0
    assert writer.stop() == 0


@pytest.mark.timeout(90)
def test_slow_replica_gives_503_without_resetting_the_master_link(tmp_path):
    """ack_replicas = 1 and the only replica stopped (SIGSTOP): WAIT blocks ack_timeout_ms
    and counts 0, so the push is answered 503 (not replicated); the link to the master is
    never reset as stalled, even with push_timeout_ms well below ack_timeout_ms. After
    SIGCONT the next push is a 200 and is on the replica when answered."""
    master = RedisNode().start()
    replica = RedisNode(replicaof=master).start()
    wait_replicas_online(master, 1)
    gw = HaGw(tmp_path, {"url": master.url, "ack_replicas": "1", "ack_timeout_ms": "700"},
              gateway={"push_timeout_ms": "150"}).start()
    # the replica's first acknowledgement may take a moment after it came online
    harness.wait_for(lambda: gw.post(event_body())[0] == 200, timeout=10, interval=0.2,
                     what="a 200 with the replica running")
    clients_before = master.client().client_list()
    # the 503s of that warm-up (replica not acknowledging yet) count too: compare from here
    before = gw.metrics()
    replica.stop_signal(signal.SIGSTOP)
    try:
        results = []

        def one():
            t0 = time.monotonic()
            results.append(gw.post(event_body()) + (time.monotonic() - t0,))
        threads = [threading.Thread(target=one) for _ in range(12)]
        for t in threads:
            t.start()
            time.sleep(0.05)  # spread over more than one WAIT
        for t in threads:
            t.join(20)
        assert len(results) == 12
        for st, doc, secs in results:
            assert st == 503, doc
            assert doc and "replicate" in doc.get("error", ""), doc
            assert secs < 0.15 + 2 * 0.7 + 1.0, secs
        m = gw.metrics()
        grew = lambda name: metric(m, name) - metric(before, name)
        assert grew("hookpipe_gateway_ack_failures_total") == 12
        assert grew("hookpipe_gateway_push_timeouts_total") == 0
        assert metric(m, "hookpipe_gateway_redis_connected") == 1
        assert "redis link reset" not in gw.log(), gw.log()[-2000:]
        gw_ids = lambda cl: {c["id"] for c in cl if c.get("name", "") == "" and
                             c.get("cmd") not in ("client|list", "client")}
        assert gw_ids(clients_before) <= gw_ids(master.client().client_list()), \
            "the gateway's connections to the master changed"
    finally:
        replica.stop_signal(signal.SIGCONT)
    body = event_body()
    harness.wait_for(lambda: gw.post(body)[0] == 200, timeout=10, interval=0.2,
                     what="a 200 once the replica runs again")
    # WAIT said the replica has it: it is there now, without waiting
    items = [decode_envelope(i)["body"] for i in replica.client().lrange(gw.queue, 0, -1)]
    assert body in items
    assert gw.daemon.stop() == 0


@pytest.mark.timeout(60)
def test_unreachable_sentinels_give_an_error_line_and_503(tmp_path):
    dead = [f"127.0.0.1:{harness.free_port()}", f"127.0.0.1:{harness.free_port()}"]
    redis = {"url": "redis://127.0.0.1:1/0", "sentinels": ",".join(dead),
             "master_name": MASTER_NAME}
    gw = HaGw(tmp_path, redis).start(up=False)
    harness.wait_for(lambda: "redis master not found" in gw.log(), timeout=10,
                     what="the error line")
    log = gw.log()
    assert "redis sentinel unreachable" in log and dead[0] in log and dead[1] in log, log[-2000:]
    for _ in range(3):
        st, doc = gw.post(event_body())
        assert st == 503, doc
    st, _, _ = harness.http_request(gw.port, "GET", "/readyz")
    assert st == 503
    db = harness.shared_postgres().create_database()
    redis["queue"] = gw.queue
    w = harness.Daemon("writer", writer_config(tmp_path, redis, db, "w1")).start()
    harness.wait_for(lambda: "redis master not found" in w.log(), timeout=10,
                     what="the writer's error line")
    assert gw.daemon.alive() and w.alive()
    assert gw.daemon.stop() == 0
    assert w.stop() == 0


@pytest.mark.timeout(90)
def test_wrong_master_name_and_disagreeing_sentinels(tmp_path):
    """A wrong master_name: every sentinel says so, 503s. Sentinels that disagree: one names
    a replica (a lone sentinel watching another pair), the good ones the master; ROLE
    catches the replica, the next sentinel is asked, and every 200 is in the real master.
    Only sentinels that name a replica: 503s, never a 200."""
    master, (replica,), sentinels = redis_group(nreplicas=1, nsentinels=3)
    gw = HaGw(tmp_path, {"url": "redis://127.0.0.1:1/0", "sentinels": sentinel_list(sentinels),
                         "master_name": "no-such-master"}, name="wrong").start(up=False)
    harness.wait_for(lambda: "redis master not found" in gw.log(), timeout=10,
                     what="the error line")
    assert "redis sentinel does not know the master" in gw.log()
    assert gw.post(event_body())[0] == 503
    assert gw.daemon.stop() == 0

    # another pair, unknown to the good sentinels; a lone sentinel names its replica
    other, other_replica, lone = lone_sentinel_naming_a_replica()
    gw = HaGw(tmp_path, {"url": "redis://127.0.0.1:1/0",
                         "sentinels": sentinel_list([lone] + sentinels),
                         "master_name": MASTER_NAME}, name="disagree").start()
    log = gw.log()
    assert "redis sentinel named a server that is not the master" in log, log[-2000:]
    assert f"127.0.0.1:{master.port}" in log
    answered = []
    for _ in range(5):
        body = event_body()
        st, doc = gw.post(body)
        assert st == 200, doc
        answered.append(body)
    in_master = [decode_envelope(i)["body"] for i in master.client().lrange(gw.queue, 0, -1)]
    assert sorted(in_master) == sorted(answered)
    assert other.client().llen(gw.queue) == 0
    assert gw.daemon.stop() == 0

    gw = HaGw(tmp_path, {"url": "redis://127.0.0.1:1/0", "sentinels": lone.addr,
                         "master_name": MASTER_NAME}, name="only-replica").start(up=False)
    harness.wait_for(lambda: "redis master not found" in gw.log(), timeout=10,
                     what="the error line")
    for _ in range(3):
        assert gw.post(event_body())[0] == 503
    assert other.client().llen(gw.queue) == 0 and other_replica.client().llen(gw.queue) == 0
    assert gw.daemon.stop() == 0


@pytest.mark.timeout(90)
def test_manual_failover_is_followed_by_gateway_and_writer(tmp_path):
    """SENTINEL FAILOVER: the master is demoted while still running (its clients are told
    by a dropped connection, a READONLY reply or the once-a-second ROLE check). Both
    daemons end up on the new master without a restart; nothing 200'd is lost."""
    master, (replica,), sentinels = redis_group(nreplicas=1, nsentinels=3)
    redis = sentinel_redis(sentinels)
    gw = HaGw(tmp_path, redis).start()
    redis["queue"] = gw.queue
    pg = harness.shared_postgres()
    db = pg.create_database()
    w = harness.Daemon("writer", writer_config(tmp_path, redis, db, "w1")).start()
    ok = []
    for _ in range(5):
        body = event_body()
        st, doc = gw.post(body)
        assert st == 200, doc
        ok.append(doc["id"])
    sentinels[0].client().execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
    harness.wait_for(lambda: replica.role() == "master" and master.role() == "slave",
                     timeout=30, interval=0.1, what="the replica promoted, the master demoted")
    wait_replicas_online(replica, 1, timeout=30)

    def post_ok():
        st, doc = gw.post(event_body())
        if st == 200:
            ok.append(doc["id"])
        return st == 200
    harness.wait_for(post_ok, timeout=20, interval=0.2, what="a 200 after the failover")
    for _ in range(5):
        assert post_ok()
    harness.wait_for(lambda: pg.query(db, "SELECT count(*) FROM hookpipe.events "
                                          "WHERE delivery_id = ANY(%s)", (ok,))[0][0] == len(ok),
                     timeout=30, interval=0.2, what=f"{len(ok)} rows")
    assert f"127.0.0.1:{replica.port}" in gw.log() and f"127.0.0.1:{replica.port}" in w.log()
    assert gw.daemon.stop() == 0
    assert w.stop() == 0


def _moved_at(answers, node, queue, since, settle=10):
    """When the gateway was on node for good: the first of `settle` 200s stored in node's queue
    answered after `since` and after the last 200 that went elsewhere (the old master), or
    None. answers: Load.answers."""
    stored = {decode_envelope(i)["body"] for i in node.client().lrange(queue, 0, -1)}
    oks = sorted((a[0], a[3] in stored) for a in answers if a[1] == 200 and a[0] >= since)
    last_old = max((t for t, there in oks if not there), default=since)
    new = [t for t, there in oks if there and t > last_old]
    return new[0] if len(new) >= settle else None


def _time_the_move(tmp_path, trigger, limit=3.0):
    """A gateway (2 workers) under signed load and a writer (on a queue of its own, so the
    gateway's stays readable) follow the sentinels; trigger(master, sentinels) makes the replica
    the master. Measures, from the moment a sentinel first names the new master (asked every
    50 ms), until the gateway's 200s land there and until the writer says it connected there;
    both must be within `limit` seconds (issue 20: ~2 s, plus margin)."""
    master, (replica,), sentinels = redis_group(nreplicas=1, nsentinels=3)
    redis = sentinel_redis(sentinels)
    gw = HaGw(tmp_path, redis).start()
    wredis = dict(redis, queue=harness.unique_name("hpq"))
    db = harness.shared_postgres().create_database()
    w = harness.Daemon("writer", writer_config(tmp_path, wredis, db, "w1")).start()
    new_addr = f"127.0.0.1:{replica.port}"
    w_moved = lambda: any("redis connected" in line and new_addr in line
                          for line in w.log().splitlines())
    harness.wait_for(lambda: "redis connected" in w.log(), timeout=15, what="the writer up")
    load = Load(gw).start()
    decided = all_named = writer_at = gw_at = None
    try:
        load.wait_count(200, 50, what="50 deliveries before the failover")
        trigger(master, sentinels)
        deadline = time.monotonic() + 40
        n = 0
        while time.monotonic() < deadline:
            now = time.monotonic()
            named = sum(1 for s in sentinels if s.master_port() == replica.port)
            if named and decided is None:
                decided = now
            if named == len(sentinels) and all_named is None:
                all_named = now
            if writer_at is None and w_moved():
                writer_at = now
            n += 1
            if decided is not None and n % 10 == 0:
                with load.lock:
                    answers = list(load.answers)
                gw_at = _moved_at(answers, replica, gw.queue, decided)
                if (gw_at is not None and writer_at is not None) or now > decided + 15:
                    break
            time.sleep(0.05)
    finally:
        load.stop()
    assert decided is not None, "the sentinels never named the replica"
    gw_at = _moved_at(load.answers, replica, gw.queue, decided)
    fmt = lambda t: "never (>15 s)" if t is None else "%.2f s" % (t - decided)
    print("after the sentinels' decision: all sentinels %s, gateway on the new master %s, "
          "writer %s" % (fmt(all_named), fmt(gw_at), fmt(writer_at)))
    assert gw_at is not None and gw_at - decided <= limit, \
        "gateway moved %s after the decision" % fmt(gw_at)
    assert writer_at is not None and writer_at - decided <= limit, \
        "writer moved %s after the decision" % fmt(writer_at)
    assert gw.daemon.alive() and w.alive()
    return gw, w


@pytest.mark.timeout(90)
def test_gateway_and_writer_follow_a_manual_failover_within_seconds(tmp_path):
    """SENTINEL FAILOVER (asked of a sentinel other than the first in the list) leaves the old
    master a running master for 8-10 s; the daemons hear the sentinels (+switch-master, or the
    once-a-second question) and move within 3 s of the decision, not when it is demoted."""
    gw, w = _time_the_move(tmp_path, lambda master, sentinels: sentinels[1].client()
                           .execute_command("SENTINEL", "FAILOVER", MASTER_NAME))
    assert "redis master moved" in gw.log() and "redis master moved" in w.log(), gw.log()[-3000:]
    assert gw.daemon.stop() == 0
    assert w.stop() == 0


@pytest.mark.timeout(90)
def test_gateway_and_writer_follow_a_stopped_master_within_seconds(tmp_path):
    """SIGSTOP of the master: its connections hang (no reset, no error); once the sentinels
    elect the replica the daemons move within 3 s, and neither daemon hangs."""
    stopped = []

    def stop(master, sentinels):
        master.stop_signal(signal.SIGSTOP)
        stopped.append(master)
    try:
        gw, w = _time_the_move(tmp_path, stop)
    finally:
        for m in stopped:
            m.stop_signal(signal.SIGCONT)
    assert gw.daemon.stop() == 0
    assert w.stop() == 0


@pytest.mark.timeout(90)
def test_master_demoted_behind_the_sentinels_back_is_left(tmp_path):
    """The master becomes a replica without its clients being dropped (REPLICAOF on it):
    a push gets READONLY and is answered 503, an idle link notices through its ROLE check,
    and the sentinels (still naming it) get no 200 out of it. Once it is a master again the
    gateway comes back by itself."""
    master, (replica,), sentinels = redis_group(nreplicas=1, nsentinels=3)
    gw = HaGw(tmp_path, sentinel_redis(sentinels), gateway={"workers": "2"}).start()
    assert gw.post(event_body())[0] == 200
    elsewhere = RedisNode().start()
    master.client().execute_command("REPLICAOF", "127.0.0.1", str(elsewhere.port))
    try:
        st, doc = gw.post(event_body())
        assert st == 503, doc
        harness.wait_for(lambda: "redis server is no longer the master" in gw.log(), timeout=5,
                         interval=0.05, what="an idle link's ROLE check to notice")
        assert "redis sentinel named a server that is not the master" in gw.log() or \
            "READONLY" in gw.log(), gw.log()[-2000:]
        for _ in range(3):
            assert gw.post(event_body())[0] == 503
    finally:
        master.client().execute_command("REPLICAOF", "NO", "ONE")
    gw.wait_up()
    body = event_body()
    st, doc = gw.post(body)
    assert st == 200, doc
    assert body in [decode_envelope(i)["body"] for i in master.client().lrange(gw.queue, 0, -1)]
    assert gw.daemon.stop() == 0


@pytest.mark.timeout(120)
@pytest.mark.skipif(harness.SANITIZED, reason="failover: normal build only")
def test_ctl_reaches_the_master_through_the_sentinels(tmp_path):
    """hookpipe-ctl reads [redis] sentinels as the daemons do: it asks them for the master
    (url's host is unreachable), checks ROLE there, and after a failover reaches the new
    master. A wrong master_name, or sentinels that only name a replica: one line per server
    asked, then the reason, exit 1."""
    master, (replica,), sentinels = redis_group(nreplicas=1, nsentinels=3)
    pg = harness.shared_postgres()
    db = pg.create_database()
    queue = harness.unique_name("hpq")

    def ctl_config(name, redis):
        r = dict(redis)
        r["queue"] = queue
        return harness.write_config(os.path.join(str(tmp_path), f"ctl-{name}.ini"), redis=r,
                                    postgres={"conninfo": pg.conninfo(db)},
                                    writer={"name": "cfg-only"})

    def status(cfg):
        r = harness.run_daemon("ctl", ["-c", cfg, "status", "--json"], timeout=60)
        return r, json.loads(r.stdout) if r.stdout.strip() else None

    good = ctl_config("good", sentinel_redis(sentinels))
    assert harness.run_daemon("writer", ["-c", good, "--migrate"]).returncode == 0
    master.client().lpush(queue, b"x", b"y")
    r, doc = status(good)
    assert doc is not None and doc["queue_length"] == 2, (r.stdout, r.stderr)

    # the sentinels elect the replica; ctl follows them without a config change
    master.stop_signal(signal.SIGKILL)
    harness.wait_for(lambda: all(s.master_port() == replica.port for s in sentinels),
                     timeout=40, interval=0.1, what="sentinels to promote the replica")
    harness.wait_for(lambda: replica.role() == "master", timeout=20, what="replica promoted")
    replica.client().lpush(queue, b"z")
    r, doc = status(good)
    assert doc is not None and doc["queue_length"] == 3, (r.stdout, r.stderr)

    r = harness.run_daemon("ctl", ["-c", ctl_config("wrong", sentinel_redis(
        sentinels, master_name="no-such-master")), "status"], timeout=60)
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == len(sentinels) + 1, r.stderr
    assert all('names no master "no-such-master"' in line for line in lines[:-1]), r.stderr
    assert 'master "no-such-master" not found' in lines[-1], r.stderr

    # a lone sentinel watching another pair names a replica: ROLE catches it
    _, other_replica, lone = lone_sentinel_naming_a_replica()
    r = harness.run_daemon("ctl", ["-c", ctl_config("replica", {
        "url": "redis://127.0.0.1:1/0", "sentinels": lone.addr, "master_name": MASTER_NAME}),
        "status"], timeout=60)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "not the master" in r.stderr and f"127.0.0.1:{other_replica.port}" in r.stderr, \
        r.stderr

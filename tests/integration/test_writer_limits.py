"""hookpipe-writer at the edges of its dependencies: a Redis full to `maxmemory` under
`noeviction` (the queue still drains, a dead writer's list is still recovered, the heartbeat
still holds), a SIGTERM while PostgreSQL is down (bounded by `shutdown_timeout_s`), and
`--migrate` waiting a bounded time (`migrate_wait_s`) for PostgreSQL to accept connections.
"""

import signal
import time

import pytest
import redis

import harness
from writer_helpers import Stack, body, encode


def delivery(i, prefix="m"):
    return encode(body(obj={"id": f"{prefix}{i}", "pad": "p" * 200}), delivery_id=f"{prefix}{i}")


def assert_exact(stack, n):
    assert stack.count() == n
    stack.assert_no_duplicates()
    assert stack.q("SELECT count(DISTINCT delivery_id) FROM hookpipe.events")[0][0] == n


def refuses_writes(r):
    try:
        r.set(harness.unique_name("probe"), "x")
    except redis.exceptions.ResponseError as exc:
        assert "OOM" in str(exc)
        return True
    return False


def fill_until_refused(stack, headroom=3 << 20, chunk=100):
    """Sets maxmemory a few MB above what Redis uses now, then LPUSHes deliveries until
    Redis refuses even a small write (an LPUSH is all or nothing). Returns how many the
    queue holds."""
    r = stack.r
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("maxmemory", str(int(r.info("memory")["used_memory"]) + headroom))
    i = 0
    while not refuses_writes(r):
        assert i < 200000, "Redis never refused a write"
        try:
            r.lpush(stack.queue, *[delivery(j) for j in range(i, i + chunk)])
            i += chunk
        except redis.exceptions.ResponseError as exc:
            assert "OOM" in str(exc), exc
            chunk = 1  # a big command's own buffer can tip it over: go on one by one
    n = r.llen(stack.queue)
    assert n == i and n > 1000
    return n


@pytest.mark.timeout(120)
def test_full_redis_queue_drains_completely(redis_server, shared_pg, tmp_path):
    stack = Stack(redis_server, shared_pg, tmp_path)
    n = fill_until_refused(stack)
    w = stack.writer("oomdrain", batch_size=500)
    stack.wait_rows(n, timeout=90)
    stack.wait_drained()
    assert_exact(stack, n)
    assert w.stop() == 0


@pytest.mark.timeout(120)
def test_full_redis_dead_writers_list_is_recovered(redis_server, shared_pg, tmp_path):
    """Everything sits in a dead writer's processing list and Redis is full: the live
    writer's claim (queue empty) and its recovery of the dead list must both get through."""
    stack = Stack(redis_server, shared_pg, tmp_path)
    r = stack.r
    r.sadd(stack.queue + ":writers", "ghost")  # registered before Redis is full
    n = fill_until_refused(stack)
    r.rename(stack.queue, stack.queue + ":processing:ghost")  # no heartbeat: ghost is dead
    assert refuses_writes(r)
    w = stack.writer("rescuer", batch_size=500, recover_interval_s=1)
    stack.wait_rows(n, timeout=90)
    stack.wait_drained()
    assert_exact(stack, n)
    assert "expired writer recovered" in w.log()
    assert w.stop() == 0


def stuck_writer(stack, name, **writer):
    """A writer that has migrated on stack.pg (private), then lost it: PostgreSQL is
    stopped, 30 deliveries are pushed, and the writer holds them in its processing list."""
    w = stack.writer(name, batch_size=50, heartbeat_ttl_s=2, **writer)
    harness.wait_for(lambda: "writer started" in w.log(), timeout=30, what="writer start")
    stack.pg.stop("fast")
    stack.push([delivery(i, "s") for i in range(30)])
    proc = stack.queue + ":processing:" + name
    harness.wait_for(lambda: stack.r.llen(proc) == 30 and stack.r.llen(stack.queue) == 0,
                     timeout=30, what="the writer to claim the 30 deliveries")
    return w, proc


@pytest.mark.timeout(120)
def test_heartbeat_holds_while_redis_is_full(redis_server, private_pg, tmp_path):
    """Storing waits for PostgreSQL, so only the heartbeat timer keeps the writer alive;
    with Redis full it must still refresh the key, or another writer would take its batch."""
    stack = Stack(redis_server, private_pg, tmp_path)
    w, proc = stuck_writer(stack, "hbfull")
    hb = stack.queue + ":writer:hbfull"
    stack.r.config_set("maxmemory-policy", "noeviction")
    stack.r.config_set("maxmemory", "1")
    assert refuses_writes(stack.r)
    deadline = time.monotonic() + 3 * 2  # three TTLs
    while time.monotonic() < deadline:
        assert stack.r.exists(hb), "the heartbeat expired while the writer was alive"
        time.sleep(0.1)
    assert stack.r.llen(proc) == 30
    stack.r.config_set("maxmemory", "0")
    private_pg.start()
    stack.wait_rows(30, timeout=60)
    stack.wait_drained()
    assert_exact(stack, 30)
    assert w.stop() == 0


@pytest.mark.timeout(120)
def test_sigterm_while_postgres_is_down_exits_after_shutdown_timeout(shared_redis, private_pg,
                                                                     tmp_path):
    stack = Stack(shared_redis, private_pg, tmp_path)
    w, proc = stuck_writer(stack, "pgdown", shutdown_timeout_s=3)
    t0 = time.monotonic()
    assert w.stop(signal.SIGTERM, timeout=3 + 10) == 0
    took = time.monotonic() - t0
    assert took >= 2.5, f"exited after {took:.1f}s, before shutdown_timeout_s"
    line = [x for x in w.log().splitlines() if "shutdown timeout" in x]
    assert len(line) == 1 and "items=30" in line[0], w.log()[-2000:]
    assert stack.r.llen(proc) == 30  # left for recovery
    private_pg.start()
    other = stack.writer("pgback", recover_interval_s=1)
    stack.wait_rows(30, timeout=60)
    stack.wait_drained()
    assert_exact(stack, 30)
    assert other.stop() == 0


@pytest.mark.timeout(90)
def test_migrate_waits_for_postgres_to_accept_connections(shared_redis, tmp_path):
    pg = harness.PostgresServer()
    pg.start()  # initdb now, so the start below is quick
    pg.stop("fast")
    try:
        db = "postgres"
        cfg = harness.write_config(tmp_path / "w.ini", redis={"url": shared_redis.url},
                                   postgres={"conninfo": pg.conninfo(db)},
                                   writer={"migrate_wait_s": 60})
        d = harness.Daemon("writer", cfg, args=["--migrate"]).start()
        harness.wait_for(lambda: "retrying" in d.log(), timeout=20,
                         what="--migrate to retry the connection")
        assert d.alive()
        pg.start()
        assert d.wait(timeout=30) == 0, d.log()[-2000:]
        assert pg.query(db, "SELECT count(*) FROM hookpipe.schema_migrations")[0][0] >= 1
    finally:
        pg.close()


@pytest.mark.timeout(60)
def test_migrate_gives_up_after_migrate_wait_s(tmp_path, shared_redis):
    port = harness.free_port()
    cfg = harness.write_config(tmp_path / "w.ini", redis={"url": shared_redis.url},
                               postgres={"conninfo": f"postgresql://x@127.0.0.1:{port}/x"},
                               writer={"migrate_wait_s": 2})
    t0 = time.monotonic()
    r = harness.run_daemon("writer", ["-c", cfg, "--migrate"])
    took = time.monotonic() - t0
    assert r.returncode == 1
    assert 1.5 <= took < 15, took
    assert "migration failed" in r.stderr and "gave up after 2 s" in r.stderr, r.stderr

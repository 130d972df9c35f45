"""hookpipe-writer under load and faults: several writers on one queue, SIGKILL at random
moments, recovery of a dead writer's processing list by another writer, PostgreSQL and
Redis restarts, and graceful SIGTERM. Each test checks the exact row count and that no
delivery was stored twice.
"""

import random
import signal
import threading
import time

import pytest

import harness
from writer_helpers import Stack, body, encode


def load(n, prefix="d"):
    """n distinct deliveries (distinct bodies, so distinct event_keys)."""
    return [encode(body(obj={"id": f"{prefix}{i}", "n": i}), delivery_id=f"{prefix}{i}")
            for i in range(n)]


def assert_exact(stack, n):
    assert stack.count() == n
    stack.assert_no_duplicates()
    assert stack.q("SELECT count(DISTINCT delivery_id) FROM hookpipe.events")[0][0] == n


@pytest.fixture
def stack(shared_redis, shared_pg, tmp_path):
    return Stack(shared_redis, shared_pg, tmp_path)


@pytest.mark.timeout(240)
def test_two_writers_20k_deliveries_exactly_once(stack):
    a = stack.writer("alpha", admin=True, batch_size=500)
    b = stack.writer("bravo", admin=True, batch_size=500)
    stack.push(load(20000))
    stack.wait_rows(20000, timeout=180)
    stack.wait_drained()
    assert_exact(stack, 20000)
    ma, mb = harness.metrics(a.admin_port), harness.metrics(b.admin_port)
    # never the same item twice: no writer ever met a row the other had stored
    assert ma["hookpipe_writer_duplicates_total"] == 0
    assert mb["hookpipe_writer_duplicates_total"] == 0
    assert ma["hookpipe_writer_rows_inserted_total"] + mb["hookpipe_writer_rows_inserted_total"] \
        == 20000
    assert ma["hookpipe_writer_rows_inserted_total"] > 0
    assert mb["hookpipe_writer_rows_inserted_total"] > 0
    assert a.stop() == 0 and b.stop() == 0


@pytest.mark.timeout(300)
def test_sigkill_mid_batch_repeatedly_loses_and_duplicates_nothing(stack):
    n = 40000
    stack.push(load(n))
    rng = random.Random(7)
    kills = mid_batch = 0
    proc = stack.queue + ":processing:victim"
    w = stack.writer("victim", batch_size=300)
    while kills < 8:
        time.sleep(rng.uniform(0.05, 0.3))
        if stack.count() >= n:
            break
        w.kill()
        kills += 1
        if stack.r.llen(proc) > 0:
            mid_batch += 1  # killed holding a claimed batch
        # restarted under the same name: its leftover processing list comes first
        w = stack.writer("victim", batch_size=300)
    assert kills >= 4, "the load finished before the writer could be killed a few times"
    assert mid_batch >= 2, f"only {mid_batch} of {kills} kills hit a batch in flight"
    stack.wait_rows(n, timeout=180)
    stack.wait_drained()
    assert_exact(stack, n)
    assert w.stop() == 0


@pytest.mark.timeout(120)
def test_killed_writers_list_is_recovered_by_another_writer(stack):
    cfg = stack.config("setup")
    assert harness.run_daemon("writer", ["-c", cfg, "--migrate"]).returncode == 0
    conn = stack.pg.connect(stack.db)
    conn.autocommit = False
    cur = conn.cursor()
    # hold the writer mid-batch: its INSERT waits for this lock
    cur.execute("LOCK TABLE hookpipe.events IN ACCESS EXCLUSIVE MODE")
    a = stack.writer("doomed", heartbeat_ttl_s=2, recover_interval_s=1, batch_size=1000)
    stack.push(load(700))
    proc_a = stack.queue + ":processing:doomed"
    harness.wait_for(lambda: stack.r.llen(proc_a) == 700 and stack.r.llen(stack.queue) == 0,
                     timeout=20, what="writer A to claim the whole load")
    a.kill()
    b = stack.writer("rescuer", admin=True, heartbeat_ttl_s=2, recover_interval_s=1)
    conn.rollback()
    conn.close()
    stack.wait_rows(700, timeout=60)
    stack.wait_drained()
    assert_exact(stack, 700)
    assert not stack.r.exists(proc_a)
    assert b"doomed" not in stack.r.smembers(stack.queue + ":writers")
    m = harness.metrics(b.admin_port)
    assert m["hookpipe_writer_recovered_items_total"] == 700
    assert b.stop() == 0


def test_recovered_items_keep_their_place_ahead_of_newer_ones(stack):
    """A dead writer's items are older than anything still queued: they go back to the
    RIGHT end, oldest first, so a single writer stores them before the newer ones."""
    cfg = stack.config("setup2")
    assert harness.run_daemon("writer", ["-c", cfg, "--migrate"]).returncode == 0
    ghost = stack.queue + ":processing:ghost"
    old = [encode(body(), delivery_id=f"old{i}") for i in range(5)]
    new = [encode(body(), delivery_id=f"new{i}") for i in range(5)]
    stack.r.rpush(ghost, *old)  # a processing list holds the oldest at the left
    stack.r.sadd(stack.queue + ":writers", "ghost")  # no heartbeat: expired
    stack.push(new)
    stack.writer("solo", batch_size=1, recover_interval_s=1)
    stack.wait_rows(10, timeout=30)
    order = [r[0] for r in stack.q("SELECT delivery_id FROM hookpipe.events ORDER BY id")]
    # the recovery may run after the first claims, but the old items stay in order, and
    # every new item claimed after the recovery comes after all the old ones
    olds = [d for d in order if d.startswith("old")]
    assert olds == [f"old{i}" for i in range(5)]
    first_old = order.index("old0")
    assert all(d.startswith("old") for d in order[first_old:first_old + 5])


@pytest.mark.timeout(240)
def test_postgres_restart_mid_load_exact_count(redis_server, private_pg, tmp_path):
    stack = Stack(redis_server, private_pg, tmp_path)
    n = 30000
    stack.push(load(n))
    w = stack.writer("pgfault", batch_size=200)
    harness.wait_for(lambda: stack.count() > 1000, timeout=60, what="some rows")
    private_pg.restart("fast")
    c1 = stack.count()
    assert c1 < n, "the load finished before the restart; nothing was tested"
    harness.wait_for(lambda: stack.count() > c1, timeout=60, what="progress after the restart")
    private_pg.kill()  # and a crash, with recovery on start
    time.sleep(0.5)
    private_pg.start()
    stack.wait_rows(n, timeout=180)
    stack.wait_drained()
    assert_exact(stack, n)
    assert "postgres connection failed" in w.log()
    assert w.stop() == 0


@pytest.mark.timeout(180)
def test_redis_restart_mid_load_exact_count(redis_aof, shared_pg, tmp_path):
    stack = Stack(redis_aof, shared_pg, tmp_path)
    n = 10000
    stack.push(load(n))
    w = stack.writer("redisfault", batch_size=300)
    harness.wait_for(lambda: stack.count() > 500, timeout=60, what="some rows")
    redis_aof.restart()
    stack.r = redis_aof.client()
    stack.wait_rows(n, timeout=120)
    stack.wait_drained()
    assert_exact(stack, n)
    assert "redis disconnected" in w.log() or "redis connect failed" in w.log()
    assert w.stop() == 0


@pytest.mark.timeout(180)
def test_sigterm_mid_load_loses_nothing(stack):
    n = 20000
    stack.push(load(n))
    w = stack.writer("graceful", batch_size=500)
    harness.wait_for(lambda: stack.count() > 2000, timeout=60, what="some rows")
    assert w.stop(signal.SIGTERM) == 0
    stored = stack.count()
    queued = stack.r.llen(stack.queue)
    assert stored < n, "the load finished before SIGTERM; nothing was tested"
    # the batch in flight was finished and released: nothing left in processing
    assert stack.r.llen(stack.queue + ":processing:graceful") == 0
    assert stored + queued == n
    w2 = stack.writer("graceful", batch_size=500)
    stack.wait_rows(n, timeout=120)
    assert_exact(stack, n)
    assert w2.stop(signal.SIGINT) == 0


def test_sigterm_when_idle_exits_zero_and_deregisters(stack):
    w = stack.writer("idle")
    harness.wait_for(lambda: stack.r.exists(stack.queue + ":writer:idle"), timeout=10)
    assert w.stop() == 0
    assert not stack.r.exists(stack.queue + ":writer:idle")
    assert b"idle" not in stack.r.smembers(stack.queue + ":writers")

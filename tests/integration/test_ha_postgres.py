"""PostgreSQL high availability with real servers on loopback: writers with a multi-host
conninfo (target_session_attrs=read-write) follow a standby made with pg_basebackup and
promoted after kill -9 of the primary under load, losing nothing acknowledged with
synchronous_standby_names set; and writers through PgBouncer in pool_mode = transaction
carry a load through a writer kill -9 with every delivery stored exactly once.
"""

import os
import threading
import time

import pytest

import harness
from harness import PgBouncer, PgStandby, make_synchronous, pg_primary
from writer_helpers import body, encode


def writer_config(tmp_path, redis, queue, conninfo, name):
    return harness.write_config(
        os.path.join(str(tmp_path), f"writer-{name}.ini"),
        redis={"url": redis.url, "queue": queue}, postgres={"conninfo": conninfo},
        writer={"batch_size": 200, "flush_interval_ms": 20, "name": name,
                "heartbeat_ttl_s": 3, "recover_interval_s": 1, "shutdown_timeout_s": 5},
        log={"level": "info"})


def wait_drained(redis, queue, writers, timeout=60):
    r = redis.client()

    def left():
        return r.llen(queue) + sum(r.llen(k) for k in r.keys(queue + ":processing:*"))
    harness.wait_for(lambda: left() == 0, timeout=timeout, interval=0.1,
                     what="queue and processing lists drained (%d left; last writer lines: %s)"
                          % (left(), [w.log().splitlines()[-1:] for w in writers]))


class Feeder:
    """LPUSHes n envelopes in chunks with short pauses: a steady load, not one burst. With
    retry_every = k, every k-th event comes again a little later with a new delivery id, as
    Zoom's retries do: the batches holding one are stored through the staging table."""

    def __init__(self, redis, queue, n, chunk=200, pause=0.01, retry_every=0):
        self.r = redis.client()
        self.queue = queue
        bodies = [body() for _ in range(n)]
        self.items = []
        for i, b in enumerate(bodies):
            self.items.append(encode(b, source="acme"))
            if retry_every and i % retry_every == 0 and i >= chunk:
                self.items.append(encode(bodies[i - chunk], source="acme"))
        self.chunk, self.pause = chunk, pause
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        for i in range(0, len(self.items), self.chunk):
            self.r.lpush(self.queue, *self.items[i:i + self.chunk])
            time.sleep(self.pause)

    def start(self):
        self.thread.start()
        return self

    def join(self):
        self.thread.join(120)


def counts(pg, db):
    try:
        return pg.query(db, "SELECT count(*), count(DISTINCT delivery_id) FROM hookpipe.events")[0]
    except Exception:
        return (-1, -1)


@pytest.mark.timeout(240)
@pytest.mark.skipif(harness.SANITIZED, reason="standby promotion under load: normal build only")
def test_writer_follows_a_promoted_synchronous_standby(tmp_path):
    primary = pg_primary()
    db = primary.create_database()
    standby = PgStandby(primary).start()
    make_synchronous(primary)
    redis = harness.RedisServer().start()
    queue = harness.unique_name("hpq")
    conninfo = (f"host=127.0.0.1,127.0.0.1 port={primary.port},{standby.port} dbname={db} "
                f"user={primary.user} target_session_attrs=read-write connect_timeout=2")
    w = harness.Daemon("writer", writer_config(tmp_path, redis, queue, conninfo, "w1")).start()
    n = 20000
    feeder = Feeder(redis, queue, n).start()
    harness.wait_for(lambda: counts(primary, db)[0] >= 3000, timeout=60, interval=0.05,
                     what="rows on the primary before it dies")
    primary.kill()
    t_kill = time.monotonic()
    standby.promote()
    feeder.join()
    harness.wait_for(lambda: counts(standby, db)[0] == n, timeout=90, interval=0.2,
                     what=f"{n} rows on the promoted standby (have {counts(standby, db)})")
    assert counts(standby, db) == (n, n)
    assert w.alive(), w.log()[-3000:]
    wait_drained(redis, queue, [w])
    print("promoted and caught up %.1f s after the kill" % (time.monotonic() - t_kill))
    assert w.stop() == 0


@pytest.mark.timeout(240)
def test_writers_through_pgbouncer_transaction_pooling_survive_a_writer_kill(tmp_path):
    """Three writers share two server connections through PgBouncer (pool_mode =
    transaction), and each server connection is replaced after a second (server_lifetime),
    so consecutive transactions of one writer land on different, often fresh, backends:
    nothing may rely on session state. One writer is killed with -9 under load and replaced;
    every event is stored exactly once, its retries skipped (through the staging table).
    Migrations also run through PgBouncer."""
    pg = harness.shared_postgres()
    db = pg.create_database()
    bouncer = PgBouncer(pg, pool_mode="transaction", pool_size=2, server_lifetime=1).start()
    redis = harness.RedisServer().start()
    queue = harness.unique_name("hpq")
    conninfo = bouncer.conninfo(db)
    cfg = writer_config(tmp_path, redis, queue, conninfo, "mig")
    r = harness.run_daemon("writer", ["-c", cfg, "--migrate"], timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    writers = [harness.Daemon("writer", writer_config(tmp_path, redis, queue, conninfo, f"w{i}"))
               .start() for i in range(3)]
    n = 15000 if not harness.SANITIZED else 4000
    # spread over several seconds, so server connections are replaced while it runs
    feeder = Feeder(redis, queue, n, chunk=100, pause=0.05 if not harness.SANITIZED else 0.15,
                    retry_every=50)
    feeder.start()
    harness.wait_for(lambda: counts(pg, db)[0] >= n // 5, timeout=60, interval=0.05,
                     what="rows before the kill (have %s; writer log: %s)" % (
                         counts(pg, db), writers[0].log()[-1500:]))
    writers[0].kill()
    writers.append(harness.Daemon("writer", writer_config(tmp_path, redis, queue, conninfo,
                                                          "w3")).start())
    feeder.join()
    harness.wait_for(lambda: counts(pg, db)[0] == n, timeout=60, interval=0.2,
                     what=f"{n} rows (have {counts(pg, db)})")
    assert counts(pg, db) == (n, n)  # one row per event: the retries were skipped
    assert pg.query(db, "SELECT count(*) FROM hookpipe.dead_letters")[0][0] == 0
    wait_drained(redis, queue, writers[1:])
    for w in writers[1:]:
        assert "postgres statement failed" not in w.log(), w.log()[-3000:]
    for w in writers[1:]:
        assert w.alive(), w.log()[-3000:]
        assert w.stop() == 0

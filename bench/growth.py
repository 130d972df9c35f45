"""Part (g) of bench/run: does the insert rate hold up as hookpipe.events grows?

For each layout — the partitioned table (this tree's writer, [storage] partition_interval = day)
and the v1 single table (a writer built from the last v1 commit, when bench/run could build one)
— a fresh database, two writers, and a feeder that streams unique envelopes into the queue,
keeping LLEN under a bound (the full load never sits in Redis), with event_ts advancing with
the load (about N/5.5 rows per day, so the rows span six daily partitions) until the writers'
hookpipe_writer_rows_inserted_total reaches N (20 million; 1 million with --quick). Rows/s is
recorded for each million; the ratio last million / first million says whether the rate holds.
Writes the "growth" section of bench/results.json; bench/plot.py renders it into RESULTS.md
and bench/growth.png. Ports, configs, daemons and processes are the integration-test
harness's (tests/integration/harness).

Also, once per run, the COPY stall (s): while the writers drain a backlog into the partitioned
layout, a 60-second query reads hookpipe.events (ACCESS SHARE on every partition), rows
arrive for a new day (its partition is created) and `hookpipe-writer --maintain` tries to
drop an expired partition (DETACH needs ACCESS EXCLUSIVE; it waits at most lock_timeout,
then retries). The longest gap between two increases of rows_inserted_total is the stall.
"""

import argparse
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import harness  # noqa: E402
import plot  # noqa: E402
import results  # noqa: E402
import zoomgen  # noqa: E402

SOURCE = "bench"
QUEUE = "hookpipe:growth"
DAY_MS = 86400000
LLEN_MAX = 100000  # the feeder keeps the queue below this


def say(msg):
    print(f"bench(g): {msg}", flush=True)


class Growth:
    def __init__(self, a):
        self.a = a
        self.pgs = harness.SharedPostgres("127.0.0.1", a.pg_port, "hookpipe")
        self.redis = harness.SharedRedis(f"redis://127.0.0.1:{a.redis_port}/0")
        self.r = self.redis.client(socket_timeout=60)
        self.notes = []

    def fresh_db(self, db):
        self.pgs.query("postgres", f"DROP DATABASE IF EXISTS {db}")
        self.pgs.query("postgres", f"CREATE DATABASE {db}")

    def config(self, name, db, admin, storage=None):
        """Writes tmp/growth-name.ini: a writer of db with its admin listener on port admin."""
        return harness.write_config(
            os.path.join(self.a.tmp, f"growth-{name}.ini"), log={"level": "warn"},
            redis={"url": self.redis.url, "queue": QUEUE},
            postgres={"conninfo": self.pgs.conninfo(db)},
            writer={"name": f"growth-{name}", "admin_listen": f"127.0.0.1:{admin}",
                    "batch_size": 1000, "flush_interval_ms": 100},
            storage=storage,
            sources={SOURCE: {"provider": "zoom", "secret": "growth-bench-secret"}})

    def start_writers(self, binary, db, tag, n=2, storage=None):
        """n writers (binary) of db; returns [(daemon, admin port)] once each serves /metrics."""
        ws = []
        for i in range(n):
            port = harness.free_port()
            d = harness.Daemon("writer", self.config(f"{tag}-{i}", db, port, storage), exe=binary,
                               log_path=os.path.join(self.a.tmp, f"growth-{tag}-{i}.log"))
            ws.append((d.start(wait_port=port, timeout=60), port))
        return ws

    @staticmethod
    def rows_inserted(ws):
        return harness.rows_inserted(port for _, port in ws)

    @staticmethod
    def stop_writers(ws):
        for d, _ in ws:
            if d.alive():
                d.signal(signal.SIGTERM)
        for d, _ in ws:
            try:
                d.stop(timeout=30)
            except AssertionError:  # killed after 30 s; its log says why
                pass

    def feeder(self, n, first_ts_ms, per_day, stop, first=0, rate=0):
        """Streams envelopes first..first+n with event_ts advancing per_day rows a day (at
        most rate a second when rate > 0)."""
        pipe = self.r.pipeline(transaction=False)
        chunk = []
        now_us = int(time.time() * 1e6)
        t0 = time.monotonic()
        for i in range(first, first + n):
            if stop.is_set():
                return
            if rate and i % 1000 == 0:
                ahead = (i - first) / rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
            ts = first_ts_ms + (i * DAY_MS) // per_day
            chunk.append(zoomgen.envelope(SOURCE, i, now_us + i, ts - i % 1000))
            if len(chunk) == 1000:
                pipe.lpush(QUEUE, *chunk)
                chunk = []
                if len(pipe) >= 10:
                    pipe.execute()
                    while self.r.llen(QUEUE) > LLEN_MAX and not stop.is_set():
                        time.sleep(0.02)
        if chunk:
            pipe.lpush(QUEUE, *chunk)
        pipe.execute()

    def run_layout(self, tag, binary, storage):
        a = self.a
        n = a.rows
        db = f"bench_growth_{tag}"
        self.fresh_db(db)
        self.r.delete(QUEUE)
        ws = self.start_writers(binary, db, tag, storage=storage)
        per_day = n * 2 // 11
        # start at a UTC midnight a few days back, so day partitions are created as rows move on
        today = int(time.time() * 1000) // DAY_MS * DAY_MS
        first_ts = today - 3 * DAY_MS + 1000
        stop = threading.Event()
        feed = threading.Thread(target=self.feeder, args=(n, first_ts, per_day, stop), daemon=True)
        t0 = time.monotonic()
        feed.start()
        marks = [t0]
        step = 1_000_000 if n >= 5_000_000 else max(n // 10, 1)
        deadline = t0 + a.timeout
        done = 0
        say(f"{tag}: streaming {n:,} envelopes, {per_day:,} a day of event_ts")
        try:
            while done < n and time.monotonic() < deadline:
                done = self.rows_inserted(ws)
                while done >= step * len(marks) and len(marks) <= n // step:
                    marks.append(time.monotonic())
                    k = len(marks) - 1
                    say(f"{tag}: {k * step:,} rows, {step / (marks[-1] - marks[-2]):,.0f} rows/s")
                if not all(d.alive() for d, _ in ws):
                    raise SystemExit(f"bench(g): a writer died; see {a.tmp}/growth-{tag}-*.log")
                time.sleep(0.2)
        finally:
            stop.set()
            feed.join(30)
            self.stop_writers(ws)
        rows, dead, size = self.pgs.query(
            db, "SELECT (SELECT count(*) FROM hookpipe.events), (SELECT count(*) FROM "
            "hookpipe.dead_letters), pg_total_relation_size('hookpipe.events') + coalesce(("
            "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE "
            "inhparent = 'hookpipe.events'::regclass), 0)")[0]
        parts = 0
        if tag == "partitioned":
            parts = self.pgs.query(db, "SELECT count(*) FROM hookpipe.event_partitions")[0][0]
        self.fresh_db(db)  # frees the disk for the next layout
        rates = [step / (marks[i] - marks[i - 1]) for i in range(1, len(marks))]
        if rows < n:
            self.notes.append(f"(g) {tag}: only {rows:,} of {n:,} rows within {a.timeout} s")
        return {"rows": rows, "dead": dead, "rates": rates, "bytes": int(size), "partitions": parts,
                "step": step, "seconds": marks[-1] - t0,
                "ratio": rates[-1] / rates[0] if len(rates) >= 2 else None}

    def stall(self):
        """The longest COPY stall while a 60 s query reads the partitioned hookpipe.events."""
        a = self.a
        db = "bench_growth_stall"
        self.fresh_db(db)
        self.r.delete(QUEUE)
        ws = self.start_writers(a.writer, db, "stall", n=1,
                                storage={"partition_interval": "day", "premake": 0})
        # an old partition for --maintain to drop
        self.pgs.query(db, "SELECT hookpipe.ensure_partitions(ARRAY['2001-01-01'::timestamptz], "
                       "'day')")
        today = int(time.time() * 1000) // DAY_MS * DAY_MS
        stop = threading.Event()
        # 5,000 rows/s for 70 s, 87,500 a day of event_ts from today: a new day (partition)
        # every 17.5 s, while the query runs
        feed = threading.Thread(target=self.feeder, args=(350000, today, 87500, stop),
                                kwargs={"rate": 5000}, daemon=True)
        samples = []
        reader_err = []

        def reader():
            rc = self.pgs.connect(db)
            try:
                with rc.cursor() as cur:
                    cur.execute("SELECT count(*) FROM hookpipe.events, pg_sleep(60)")
            except Exception as e:  # recorded, reported
                reader_err.append(str(e))
            finally:
                rc.close()

        feed.start()
        while self.rows_inserted(ws) < 20000:
            time.sleep(0.05)
        rt = threading.Thread(target=reader, daemon=True)
        t_query = time.monotonic()
        rt.start()
        time.sleep(2)
        mcfg = self.config("maint", db, harness.free_port(),
                           {"partition_interval": "day", "keep_days": 3650})
        mlog = os.path.join(a.tmp, "growth-maintain.log")
        maint = harness.start_process([a.writer, "-c", mcfg, "--maintain"], mlog)
        last, t_last, worst = self.rows_inserted(ws), time.monotonic(), 0.0
        while rt.is_alive() and time.monotonic() - t_query < 62:
            v = self.rows_inserted(ws)
            now = time.monotonic()
            if v != last:
                worst = max(worst, now - t_last)
                last, t_last = v, now
            samples.append((now - t_query, v))
            time.sleep(0.02)
        maint.wait(200)
        harness.stop_process(maint)
        with open(mlog, errors="replace") as f:
            maint_tail = (f.read().strip().splitlines() or [""])[-1][:300]
        stop.set()
        feed.join(30)
        rt.join(70)
        self.stop_writers(ws)
        parts = self.pgs.query(db, "SELECT count(*) FROM hookpipe.event_partitions")[0][0]
        return {"max_stall_s": worst, "rows_during": last, "partitions": parts,
                "maintain_rc": maint.returncode, "maintain_tail": maint_tail,
                "reader_error": reader_err[0] if reader_err else ""}


def figures(res):
    """The results as FIGUREs (bench/results.py) for the "growth" section."""
    F = results.figure
    out = []
    for tag in ("partitioned", "v1"):
        if tag not in res:
            continue
        r = res[tag]
        target = dict(target="≥ 0.9", ok=r["ratio"] is not None and r["ratio"] >= 0.9) \
            if tag == "partitioned" else {}
        out += [F(f"g.{tag}.rows", r["rows"], "count"),
                F(f"g.{tag}.rates", r["rates"], "rows/s", {"step_rows": r["step"]}),
                F(f"g.{tag}.ratio", r["ratio"], "ratio", None, **target),
                F(f"g.{tag}.partitions", r["partitions"], "count"),
                F(f"g.{tag}.size", r["bytes"] / 2**30, "GiB"),
                F(f"g.{tag}.dead_letters", r["dead"], "count"),
                F(f"g.{tag}.seconds", r["seconds"], "s")]
    if "stall" in res:
        st = res["stall"]
        out += [F("g.stall.longest_gap", st["max_stall_s"], "s"),
                F("g.stall.rows", st["rows_during"], "count"),
                F("g.stall.partitions", st["partitions"], "count")]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rows", type=int)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--writer", required=True, help="this tree's hookpipe-writer")
    ap.add_argument("--v1-writer", default="", help="a v1 hookpipe-writer (empty: skip v1)")
    ap.add_argument("--redis-port", type=int, required=True)
    ap.add_argument("--pg-port", type=int, required=True)
    ap.add_argument("--pg-bin", default="/usr/lib/postgresql/15/bin")
    ap.add_argument("--source", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     ".."))
    ap.add_argument("--results", required=True, help="write the growth section of this "
                    "results.json")
    a = ap.parse_args()
    a.rows = a.rows or (1_000_000 if a.quick else 20_000_000)
    a.timeout = 7200
    section = results.run_facts(a.source, a.quick)
    section["machine"] = results.machine(a.pg_bin)
    section["settings"] = {"rows": a.rows, "writers": 2, "batch_size": 1000,
                           "llen_max": LLEN_MAX, "rows_per_day": a.rows * 2 // 11,
                           "v1_writer": bool(a.v1_writer)}
    g = Growth(a)
    res = {}
    try:
        res["stall"] = g.stall()
        say(f"stall: {res['stall']}")
        res["partitioned"] = g.run_layout("partitioned", a.writer,
                                          {"partition_interval": "day", "premake": 2})
        if a.v1_writer:
            res["v1"] = g.run_layout("v1", a.v1_writer, None)
        else:
            g.notes.append("(g) no v1 writer could be built: v1 layout skipped")
    finally:
        harness.cleanup_all()
    section["load_average_after"] = results.load_average()
    section["figures"] = figures(res)
    section["stall"] = {k: res["stall"][k] for k in ("maintain_rc", "maintain_tail",
                                                      "reader_error")}
    section["notes"] = g.notes
    results.save_section(a.results, "growth", section)
    print("\n".join(plot.growth_md(section)))
    say(f"wrote {a.results} (bench/plot.py renders RESULTS.md and growth.png from it)")


if __name__ == "__main__":
    main()

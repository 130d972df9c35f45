"""Part (k) of the bench: what each index and column of hookpipe.events costs, and what the
key's layout does to the rate inside a large partition (issue 23, sections 2 and 3).

Every case is a fresh database migrated with sql/*.sql, one change applied (an index dropped,
body left NULL as with [storage] keep_body = off, schema v7's two keys put back, ...), a
CHECKPOINT, then psql \\copy of the same N rows (the writer's columns, a Zoom participant
event of 668 bytes each, the rows of bench/run's part (b) ceiling) into the current month's
partition. For each case it prints the wall time, PostgreSQL's CPU (every postgres process,
the exited backends included: the postmaster's reaped-children time), the COPY's own
backend's CPU (read from /proc before it exits: free of autovacuum and the checkpointer, the
stable figure), the WAL written and the partition's size; each case runs `--repeat` times and
the median is shown.

The large-partition cases first fill this month's partition with `--big` rows (default 10 M:
narrow rows with a random event_key and meeting uuid each, event times spread over the month
up to an hour ago, body NULL), then \\copy the same N rows, and report the rate against the
same copy into an empty partition, for the shipped key (primary key (event_time, event_key))
and for schema v7's two keys.

PostgreSQL runs with its shipped settings (fsync, full_page_writes, shared_buffers 128 MB,
max_wal_size 1 GB), started by the integration-test harness on a free port.

    bench/schema.py [--rows N] [--repeat K] [--big M] [--cases a,b,...] [--results FILE]

With --results it writes the "storage" section of bench/results.json (bench/plot.py renders
it into RESULTS.md); bench/run runs it as part k.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.join(BENCH_DIR, "..")
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))
import harness  # noqa: E402
import results  # noqa: E402
import zoomgen  # noqa: E402

COLS = zoomgen.COPY_COLUMNS

# The two keys of schema v7 (sql/008_one_key.sql replaced them with one): the primary key
# (event_time, id) and the unique (event_key, event_time), whose random leading SHA-256
# spreads inserts over the whole index.
V7_KEYS = ("ALTER TABLE hookpipe.events DROP CONSTRAINT events_pkey; "
           "ALTER TABLE hookpipe.events ADD CONSTRAINT events_pkey PRIMARY KEY (event_time, id); "
           "ALTER TABLE hookpipe.events ADD CONSTRAINT events_key_time_key "
           "UNIQUE (event_key, event_time)")

# name: (what it is, SQL run after the migrations, keep body)
CASES = {
    "all": ("the shipped schema (every index, body kept)", None, True),
    "v7_keys": ("schema v7's two keys: (event_time, id) and unique (event_key, event_time)",
                V7_KEYS, True),
    "no_body": ("body NULL ([storage] keep_body = off)", None, False),
    "no_account": ("without (account_id, event_time)",
                   "DROP INDEX hookpipe.events_account_time_idx", True),
    "no_event": ("without (event, event_time)", "DROP INDEX hookpipe.events_event_time_idx", True),
    "no_uuid": ("without the relations' meeting uuid index",
                "DROP INDEX hookpipe.events_zoom_meeting_uuid_idx", True),
    "no_provider": ("without the partial (provider, event, event_time)",
                    "DROP INDEX hookpipe.events_provider_event_time_idx", True),
    "body_lz4": ("body and payload compressed with lz4",
                 "ALTER TABLE hookpipe.events ALTER COLUMN body SET COMPRESSION lz4; "
                 "ALTER TABLE hookpipe.events ALTER COLUMN payload SET COMPRESSION lz4", True),
    "heap_only": ("no index at all (the heap and WAL alone)",
                  "ALTER TABLE hookpipe.events DROP CONSTRAINT events_pkey; "
                  "DROP INDEX hookpipe.events_account_time_idx; "
                  "DROP INDEX hookpipe.events_event_time_idx; "
                  "DROP INDEX hookpipe.events_zoom_meeting_uuid_idx; "
                  "DROP INDEX hookpipe.events_provider_event_time_idx", True),
}
BIG_CASES = {"big_shipped": None, "big_v7_keys": V7_KEYS}

# --big narrow rows in this month's partition: a random key and meeting uuid each, times
# spread evenly from the month's start to now. The partition is made anew without indexes,
# filled, and attached: ATTACH builds its indexes in one sorted pass each, minutes faster
# than 10 M inserts into six B-trees (such a bulk-built index is denser than one grown by
# inserts: if anything, it favours the random key, whose inserts split pages).
FILL_SQL = """
DROP TABLE hookpipe.{part};
CREATE TABLE hookpipe.{part} (LIKE hookpipe.events INCLUDING DEFAULTS);
INSERT INTO hookpipe.{part} (id, source, event, event_ts, account_id, received_at, event_key,
                             payload, delivery_id, event_time)
SELECT -i, 'bench', 'meeting.participant_joined', t, 'ACCT' || (i % 5000), t,
       sha256(('fill' || i)::bytea),
       jsonb_build_object('event', 'meeting.participant_joined', 'payload',
                          jsonb_build_object('object', jsonb_build_object('uuid', md5(i::text)))),
       'fill-' || i, t
FROM (SELECT i, date_trunc('month', now()) +
             (now() - interval '1 hour' - date_trunc('month', now())) * (i::float8 / {n}) AS t
      FROM generate_series(1, {n}) i) s;
ALTER TABLE hookpipe.events ATTACH PARTITION hookpipe.{part} {bound};
"""


# The documented queries that a key layout could change (docs/storage.md, docs/querying.md,
# hookpipe-ctl replay's span, the writer's retry lookup), timed on the large partition: name
# -> SQL (:key and :time: a stored row's, picked at random each time).
QUERIES = {
    "newest_20": "SELECT id, event, event_time FROM hookpipe.events "
                 "ORDER BY event_time DESC LIMIT 20",
    "account_day": "SELECT count(*) FROM hookpipe.events WHERE account_id = 'ACCT42' "
                   "AND event_time >= now() - interval '1 day'",
    "one_hour": "SELECT count(*) FROM hookpipe.events WHERE event_time >= now() - "
                "interval '3 hours' AND event_time < now() - interval '2 hours'",
    "retry_lookup": "SELECT 1 FROM hookpipe.events WHERE event_key = :key "
                    "AND event_time = :time",
}


def say(msg):
    print(f"bench(k): {msg}", flush=True)


def pg_cpu(pg):
    """CPU seconds of every postgres process so far: the postmaster's own and its reaped
    children's (exited backends), and its live children's."""
    with open(f"/proc/{pg.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    total = sum(int(x) for x in fields[11:15]) / harness.CLK_TCK
    for kid in harness._children_of(pg.pid):
        total += harness.cpu_seconds(kid) or 0.0
    return total


class Bench:
    def __init__(self, a):
        self.a = a
        self.tmp = tempfile.mkdtemp(prefix="hookpipe-bench-k-")
        self.pg = harness.PostgresServer(settings={"fsync": "on", "full_page_writes": "on"})
        self.rows = os.path.join(self.tmp, "rows.txt")
        self.rows_nobody = os.path.join(self.tmp, "rows-nobody.txt")
        self.queries = {}  # case name -> query -> [median ms per repeat]

    def psql(self, db, *args, script=None, timeout=3600):
        """psql's output (-A -t); script: fed on stdin (-f -)."""
        if script is not None:
            args += ("-f", "-")
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
                            "127.0.0.1", "-p", str(self.pg.port), "-U", self.pg.user, "-d", db,
                            *args], input=script.encode() if script else None,
                           capture_output=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"psql {args}: {r.stderr.decode(errors='replace')}")
        return r.stdout.decode().strip()

    def fresh(self, db, ddl):
        self.psql("postgres", "-c", f"DROP DATABASE IF EXISTS {db}")
        self.psql("postgres", "-c", f"CREATE DATABASE {db}")
        sql_dir = os.path.join(SOURCE_DIR, "sql")
        for f in sorted(os.listdir(sql_dir)):
            if f.endswith(".sql"):
                self.psql(db, "-f", os.path.join(sql_dir, f))
        self.psql(db, "-c", "SELECT hookpipe.maintain_premake('month', 2)")
        if ddl:
            self.psql(db, "-c", ddl)

    def partition(self, db):
        return self.psql(db, "-c", "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON "
                         "c.oid = i.inhrelid WHERE i.inhparent = 'hookpipe.events'::regclass "
                         "AND pg_get_expr(c.relpartbound, c.oid) LIKE '%' || "
                         "to_char(date_trunc('month', now()), 'YYYY-MM-DD') || '%' "
                         "AND c.relname <> 'events_undated'")

    def copy(self, db, path):
        """\\copy path into hookpipe.events after a CHECKPOINT: wall s, PostgreSQL CPU s
        (every process: background writers, autovacuum), the COPY's own backend's CPU s, WAL
        bytes."""
        self.psql(db, "-c", "CHECKPOINT")
        lsn0 = self.psql(db, "-c", "SELECT pg_current_wal_insert_lsn()")
        stat = os.path.join(self.tmp, "backend.stat")
        cpu0, t0 = pg_cpu(self.pg), time.monotonic()
        # the backend's own CPU, read while it still lives (psql's \\! with its pid)
        self.psql(db, script=f"SELECT pg_backend_pid() AS pid \\gset\n\\setenv PID :pid\n"
                  f"\\copy hookpipe.events ({COLS}) from '{path}'\n"
                  f"\\! cat /proc/$PID/stat > {stat}\n")
        wall, cpu = time.monotonic() - t0, pg_cpu(self.pg) - cpu0
        with open(stat) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        backend = (int(fields[11]) + int(fields[12])) / harness.CLK_TCK
        wal = int(self.psql(db, "-c", f"SELECT pg_current_wal_insert_lsn() - '{lsn0}'"))
        return wall, cpu, backend, wal

    def time_queries(self, db, name, times=7):
        """Each of QUERIES, `times` times after one warm-up (EXPLAIN ANALYZE's execution
        time); their medians in ms under self.queries[name]."""
        got = self.queries.setdefault(name, {})
        for q, sql in QUERIES.items():
            ms = []
            for i in range(times + 1):
                pick = "SELECT encode(event_key, 'hex'), event_time FROM hookpipe.events "
                row = (self.psql(db, "-F", " ", "-c", pick + "TABLESAMPLE SYSTEM (0.01) LIMIT 1")
                       or self.psql(db, "-F", " ", "-c", pick + "OFFSET (random() * 1000)::int "
                                    "LIMIT 1"))
                key, _, t = row.partition(" ")
                text = sql.replace(":key", f"'\\x{key}'::bytea").replace(":time", f"'{t}'")
                out = self.psql(db, "-c", f"EXPLAIN (ANALYZE, FORMAT JSON) {text}")
                if i:
                    ms.append(json.loads(out)[0]["Execution Time"])
            got.setdefault(q, []).append(statistics.median(ms))
            say(f"  {name}: {q} {statistics.median(ms):.3f} ms")

    def one(self, name, ddl, keep_body, big=0):
        """One run of a case: a fresh database (filled with big rows first when big), the
        \\copy; (wall s, PostgreSQL CPU s, backend CPU s, WAL bytes, partition bytes)."""
        db = "bench_k"
        self.fresh(db, ddl)
        part = self.partition(db)
        if big:
            t0 = time.monotonic()
            bound = self.psql(db, "-c", "SELECT pg_get_expr(relpartbound, oid) FROM "
                              f"pg_class WHERE oid = 'hookpipe.{part}'::regclass")
            self.psql(db, script=FILL_SQL.format(n=big, part=part, bound=bound))
            self.psql(db, "-c", "VACUUM ANALYZE hookpipe.events")
            say(f"  {name}: {big:,} rows filled in {time.monotonic() - t0:.0f} s")
        wall, cpu, backend, wal = self.copy(db, self.rows if keep_body else self.rows_nobody)
        if big:
            self.time_queries(db, name)
        size = int(self.psql(db, "-c", f"SELECT pg_total_relation_size('hookpipe.{part}')"))
        say(f"  {name}: {wall:.2f} s, PostgreSQL CPU {cpu:.2f} s (its backend {backend:.2f} "
            f"s), WAL {wal / 1e6:.0f} MB")
        return (wall, cpu, backend, wal, size)

    def summary(self, what, runs):
        n = self.a.rows
        med = [statistics.median(r[i] for r in runs) for i in range(5)]
        return {"what": what, "rows": n, "wall_s": med[0], "rate": n / med[0],
                "pg_cpu_us_per_row": med[1] * 1e6 / n, "backend_cpu_us_per_row": med[2] * 1e6 / n,
                "wal_bytes_per_row": med[3] / n, "partition_bytes": med[4], "runs": runs}

    def run(self):
        """The cases round-robin, `repeat` rounds: this VM's speed drifts by 10-20 % over
        minutes, and a drift then touches every case alike instead of the ones run during it."""
        a = self.a
        self.pg.start()
        say(f"PostgreSQL 15 on port {self.pg.port} (shipped settings); writing {a.rows:,} rows")
        zoomgen.write_copy_rows(self.rows, a.rows)
        with open(self.rows) as src, open(self.rows_nobody, "w") as dst:
            for line in src:
                f = line.rstrip("\n").split("\t")
                f[-1] = "\\N"
                dst.write("\t".join(f) + "\n")
        for name in a.cases:
            if name not in CASES and name not in BIG_CASES:
                raise SystemExit(f"unknown case {name}")
        big_label = f" ({a.big:,} rows)"
        runs = {}
        for rnd in range(a.repeat):
            say(f"round {rnd + 1} of {a.repeat}")
            for name in a.cases:
                if name in CASES:
                    _, ddl, keep = CASES[name]
                    runs.setdefault(name, []).append(self.one(name, ddl, keep))
                else:
                    ddl = BIG_CASES[name]
                    runs.setdefault(name + " (empty)", []).append(
                        self.one(name + " (empty)", ddl, True))
                    runs.setdefault(name + big_label, []).append(
                        self.one(name + big_label, ddl, True, big=a.big))
        out = {"rows": a.rows, "repeat": a.repeat, "cases": {}}
        for name in a.cases:
            if name in CASES:
                out["cases"][name] = self.summary(CASES[name][0], runs[name])
            else:
                empty = self.summary(name + " (empty)", runs[name + " (empty)"])
                full = self.summary(name + big_label, runs[name + big_label])
                q = self.queries.get(name + big_label, {})
                out["cases"][name] = {"empty": empty, "full": full, "big": a.big,
                                      "ratio": full["rate"] / empty["rate"],
                                      "queries_ms": {k: statistics.median(v)
                                                     for k, v in q.items()}}
        return out


def report(out):
    base = out["cases"].get("all")
    print(f"\n{out['rows']:,} rows per \\copy, median of {out['repeat']}")
    print(f"{'case':<18} {'rows/s':>8} {'PG µs/row':>10} {'backend':>8} {'vs all':>7} "
          f"{'WAL B/row':>10} {'MB':>6}  what")
    for name, c in out["cases"].items():
        for tag, r in ([("", c)] if "ratio" not in c else
                       [(" empty", c["empty"]), (" full", c["full"])]):
            rel = (f"{r['backend_cpu_us_per_row'] / base['backend_cpu_us_per_row']:.2f}"
                   if base and "ratio" not in c else "")
            print(f"{name + tag:<18} {r['rate']:>8.0f} {r['pg_cpu_us_per_row']:>10.1f} "
                  f"{r['backend_cpu_us_per_row']:>8.1f} {rel:>7} {r['wal_bytes_per_row']:>10.0f} "
                  f"{r['partition_bytes'] / 1e6:>6.0f}  {r['what']}")
        if "ratio" in c:
            print(f"{name:<18} rate at {c['big']:,} rows / empty: {c['ratio']:.2f}; queries "
                  "(ms): " + ", ".join(f"{k} {v:.3f}" for k, v in c["queries_ms"].items()))


def section(a, out):
    """The "storage" section of results.json: per case its rate, PostgreSQL CPU per row (every
    process, and the COPY's backend alone), WAL per row and the partition's size; per
    large-partition layout the rate beside an empty partition's."""
    F = results.figure
    figs = []
    for name, c in out["cases"].items():
        parts = ([("", c)] if "ratio" not in c else [(".empty", c["empty"]), (".full", c["full"])])
        for tag, r in parts:
            how = {"case": r["what"], "rows": r["rows"]}
            p = f"k.{name}{tag}"
            figs += [F(f"{p}.rate", r["rate"], "rows/s", how),
                     F(f"{p}.pg_cpu", r["pg_cpu_us_per_row"], "us/row", how),
                     F(f"{p}.backend_cpu", r["backend_cpu_us_per_row"], "us/row", how),
                     F(f"{p}.wal", r["wal_bytes_per_row"], "bytes/row", how),
                     F(f"{p}.size", r["partition_bytes"] / 1e6, "MB", how)]
        if "ratio" in c:
            figs.append(F(f"k.{name}.ratio", c["ratio"], "ratio",
                          {"rows_in_partition": c["big"]}, ">= 0.95", c["ratio"] >= 0.95))
            for q, v in c["queries_ms"].items():
                figs.append(F(f"k.{name}.query.{q}", v, "ms",
                              {"rows_in_partition": c["big"], "sql": QUERIES[q]}))
    sec = dict(results.run_facts(SOURCE_DIR, False), machine=results.machine(),
               settings={"rows": a.rows, "repeat": a.repeat, "big": a.big,
                         "postgres": "shipped settings (fsync, full_page_writes on)"},
               figures=figs)
    return sec


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--big", type=int, default=10_000_000)
    p.add_argument("--cases", default=",".join(list(CASES) + list(BIG_CASES)))
    p.add_argument("--json", help="also write the raw figures here")
    p.add_argument("--results", help="write the storage section of this results.json")
    a = p.parse_args()
    a.cases = [c for c in a.cases.split(",") if c]
    b = Bench(a)
    # SIGTERM (bench/run's timeout) stops PostgreSQL cleanly: a postmaster killed with its
    # parent leaves its busy backends running
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        out = b.run()
    finally:
        b.pg.close()
        shutil.rmtree(b.tmp, ignore_errors=True)  # the rows files: ~1 kB a row
    report(out)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    if a.results:
        results.save_section(a.results, "storage", section(a, out))
        say(f"wrote the storage section (part k) of {a.results}")


if __name__ == "__main__":
    main()

"""Part (g) of bench/run: does the insert rate hold up as hookpipe.events grows?

For each layout — the partitioned table (this tree's writer, [storage] partition_interval = day)
and the v1 single table (a writer built from the last v1 commit, when bench/run could build one)
— a fresh database, two writers, and a feeder that streams unique envelopes into the queue,
keeping LLEN under a bound (the full load never sits in Redis), with event_ts advancing with
the load (about N/5.5 rows per day, so the rows span six daily partitions) until the writers'
hookpipe_writer_rows_inserted_total reaches N (20 million; 1 million with --quick). Rows/s is
recorded for each million; the ratio last million / first million says whether the rate holds.
Writes bench/growth.png (python3-matplotlib) and a "Growth" section into bench/RESULTS.md.

Also, once per run, the COPY stall (s): while the writers drain a backlog into the partitioned
layout, a 60-second query reads hookpipe.events (ACCESS SHARE on every partition), rows
arrive for a new day (its partition is created) and `hookpipe-writer --maintain` tries to
drop an expired partition (DETACH needs ACCESS EXCLUSIVE; it waits at most lock_timeout,
then retries). The longest gap between two increases of rows_inserted_total is the stall.
"""

import argparse
import datetime
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

import psycopg2
import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoomgen  # noqa: E402

SOURCE = "bench"
QUEUE = "hookpipe:growth"
DAY_MS = 86400000
LLEN_MAX = 100000  # the feeder keeps the queue below this


def say(msg):
    print(f"bench(g): {msg}", flush=True)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Growth:
    def __init__(self, a):
        self.a = a
        self.r = redis.Redis(host="127.0.0.1", port=a.redis_port)
        self.procs = []
        self.notes = []

    def pg(self, db="postgres"):
        c = psycopg2.connect(host="127.0.0.1", port=self.a.pg_port, user="hookpipe", dbname=db)
        c.autocommit = True
        return c

    def fresh_db(self, db):
        c = self.pg()
        with c.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
            cur.execute(f"CREATE DATABASE {db}")
        c.close()

    def config(self, path, db, name, admin, storage=None):
        lines = ["[log]", "level = warn", "",
                 "[redis]", f"url = redis://127.0.0.1:{self.a.redis_port}/0", f"queue = {QUEUE}", "",
                 "[postgres]",
                 f"conninfo = host=127.0.0.1 port={self.a.pg_port} user=hookpipe dbname={db}", "",
                 "[writer]", f"name = {name}", f"admin_listen = 127.0.0.1:{admin}",
                 "batch_size = 1000", "flush_interval_ms = 100", ""]
        if storage:
            lines += ["[storage]"] + [f"{k} = {v}" for k, v in storage.items()] + [""]
        lines += [f"[source.{SOURCE}]", "provider = zoom", "secret = growth-bench-secret", ""]
        with open(path, "w") as f:
            f.write("\n".join(lines))
        return path

    def start_writers(self, binary, db, tag, n=2, storage=None):
        ws = []
        for i in range(n):
            port = free_port()
            cfg = self.config(os.path.join(self.a.tmp, f"growth-{tag}-{i}.ini"), db,
                              f"growth-{tag}-{i}", port, storage)
            log = open(os.path.join(self.a.tmp, f"growth-{tag}-{i}.log"), "ab")
            p = subprocess.Popen([binary, "-c", cfg], stdout=log, stderr=subprocess.STDOUT)
            log.close()
            self.procs.append(p)
            ws.append((p, port))
        deadline = time.monotonic() + 60
        for p, port in ws:
            while True:
                if p.poll() is not None:
                    raise SystemExit(f"bench(g): writer exited {p.returncode}; see "
                                     f"{self.a.tmp}/growth-{tag}-*.log")
                try:
                    self.rows_inserted([(p, port)])
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("bench(g): a writer did not come up")
                    time.sleep(0.1)
        return ws

    @staticmethod
    def rows_inserted(ws):
        total = 0
        for _, port in ws:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                m = re.search(rb"^hookpipe_writer_rows_inserted_total (\d+)", r.read(), re.M)
                total += int(m.group(1))
        return total

    def stop_writers(self, ws):
        for p, _ in ws:
            if p.poll() is None:
                p.terminate()
        for p, _ in ws:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

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
                if any(p.poll() is not None for p, _ in ws):
                    raise SystemExit(f"bench(g): a writer died; see {a.tmp}/growth-{tag}-*.log")
                time.sleep(0.2)
        finally:
            stop.set()
            feed.join(30)
            self.stop_writers(ws)
        c = self.pg(db)
        with c.cursor() as cur:
            cur.execute("SELECT count(*) FROM hookpipe.events")
            rows = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM hookpipe.dead_letters")
            dead = cur.fetchone()[0]
            cur.execute("SELECT pg_total_relation_size('hookpipe.events') + coalesce((SELECT "
                        "sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE "
                        "inhparent = 'hookpipe.events'::regclass), 0)")
            size = int(cur.fetchone()[0])
            parts = 0
            if tag == "partitioned":
                cur.execute("SELECT count(*) FROM hookpipe.event_partitions")
                parts = cur.fetchone()[0]
        c.close()
        self.fresh_db(db)  # frees the disk for the next layout
        rates = [step / (marks[i] - marks[i - 1]) for i in range(1, len(marks))]
        if rows < n:
            self.notes.append(f"(g) {tag}: only {rows:,} of {n:,} rows within {a.timeout} s")
        return {"rows": rows, "dead": dead, "rates": rates, "bytes": size, "partitions": parts,
                "step": step,
                "seconds": marks[-1] - t0,
                "ratio": rates[-1] / rates[0] if len(rates) >= 2 else float("nan")}

    def stall(self):
        """The longest COPY stall while a 60 s query reads the partitioned hookpipe.events."""
        a = self.a
        db = "bench_growth_stall"
        self.fresh_db(db)
        self.r.delete(QUEUE)
        ws = self.start_writers(a.writer, db, "stall", n=1,
                                storage={"partition_interval": "day", "premake": 0})
        c = self.pg(db)
        with c.cursor() as cur:  # an old partition for --maintain to drop
            cur.execute("SELECT hookpipe.ensure_partitions(ARRAY['2001-01-01'::timestamptz], "
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
            rc = self.pg(db)
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
        mcfg = self.config(os.path.join(a.tmp, "growth-maintain.ini"), db, "growth-maint",
                           free_port(), {"partition_interval": "day", "keep_days": 3650})
        maint = subprocess.Popen([a.writer, "-c", mcfg, "--maintain"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        last, t_last, worst = self.rows_inserted(ws), time.monotonic(), 0.0
        while rt.is_alive() and time.monotonic() - t_query < 62:
            v = self.rows_inserted(ws)
            now = time.monotonic()
            if v != last:
                worst = max(worst, now - t_last)
                last, t_last = v, now
            samples.append((now - t_query, v))
            time.sleep(0.02)
        _, maint_err = maint.communicate(timeout=200)
        stop.set()
        feed.join(30)
        rt.join(70)
        self.stop_writers(ws)
        with c.cursor() as cur:
            cur.execute("SELECT count(*) FROM hookpipe.event_partitions")
            parts = cur.fetchone()[0]
        c.close()
        return {"max_stall_s": worst, "rows_during": last, "partitions": parts,
                "maintain_rc": maint.returncode,
                "maintain_tail": (maint_err.strip().splitlines() or [""])[-1][:300],
                "reader_error": reader_err[0] if reader_err else ""}


def plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for tag, style in (("partitioned", "-o"), ("v1", "-s")):
        if tag in res:
            rates = res[tag]["rates"]
            step = res[tag]["step"]
            ax.plot([(i + 1) * step / 1e6 for i in range(len(rates))], rates, style, markersize=3,
                    label=f"{tag} (last/first {res[tag]['ratio']:.2f})")
    step = next(iter(r["step"] for k, r in res.items() if k != "stall"), 1_000_000)
    ax.set_xlabel("rows in hookpipe.events (millions)")
    ax.set_ylabel(f"rows/s over each {step:,} rows")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title("hookpipe writer insert rate as the table grows (2 writers)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def machine():
    """CPU model, cores, memory, kernel, PostgreSQL: one line."""
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) / 2**20
    try:
        pgv = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pgv = "psql ?"
    return (f"{os.cpu_count()} x {cpu}, {mem:.1f} GiB, kernel {os.uname().release}, {pgv}")


def report(a, res):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    lines = ["<!-- growth:begin -->", "## Growth (part g)", "",
             f"Run {now}{' (--quick)' if a.quick else ''}: {a.rows:,} rows per layout, 2 writers, "
             f"batch 1000, feeder keeping LLEN < {LLEN_MAX:,}, event_ts advancing "
             f"{a.rows * 2 // 11:,} rows a day; load average at the end {load}. "
             "Curve: [growth.png](growth.png).", "", f"Machine: {machine()}.", "",
             "| layout | rows | first step rows/s | last step rows/s | last / first | "
             "partitions | size | target |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for tag in ("partitioned", "v1"):
        if tag not in res or not res[tag]["rates"]:
            continue
        r = res[tag]
        target = ""
        if tag == "partitioned":
            target = "≥ 0.9: " + ("PASS" if r["ratio"] >= 0.9 else "MISS")
        lines.append(f"| {tag} | {r['rows']:,} | {r['rates'][0]:,.0f} | {r['rates'][-1]:,.0f} | "
                     f"{r['ratio']:.2f} | {r['partitions'] or '1 table'} | "
                     f"{r['bytes'] / 2**30:.2f} GiB | {target} |")
    lines.append("")
    for tag in ("partitioned", "v1"):
        if tag in res:
            lines.append(f"{tag} rows/s per {res[tag]['step']:,} rows: " +
                         ", ".join(f"{x:,.0f}" for x in res[tag]["rates"]))
            lines.append("")
    if "stall" in res:
        s = res["stall"]
        lines += [f"COPY stall (s): longest gap between two commits of one writer fed 5,000 "
                  f"rows/s while a 60 s query read hookpipe.events, new day partitions were "
                  f"created for the arriving rows and `--maintain` tried to drop an expired "
                  f"partition: **{s['max_stall_s']:.2f} s** ({s['rows_during']:,} rows stored "
                  f"by the end; {s['partitions']} partitions; --maintain exit "
                  f"{s['maintain_rc']}: `{s['maintain_tail']}`).", ""]
    for n in a.notes:
        lines.append(f"Note: {n}")
    lines.append("<!-- growth:end -->")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rows", type=int)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--writer", required=True, help="this tree's hookpipe-writer")
    ap.add_argument("--v1-writer", default="", help="a v1 hookpipe-writer (empty: skip v1)")
    ap.add_argument("--redis-port", type=int, required=True)
    ap.add_argument("--pg-port", type=int, required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--png", required=True)
    a = ap.parse_args()
    a.rows = a.rows or (1_000_000 if a.quick else 20_000_000)
    a.timeout = 7200
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
        for p in g.procs:
            if p.poll() is None:
                p.kill()
    a.notes = g.notes
    plot(res, a.png)
    md = report(a, res)
    old = open(a.results).read() if os.path.exists(a.results) else ""
    if "<!-- growth:begin -->" in old:
        old = re.sub(r"<!-- growth:begin -->.*<!-- growth:end -->\n?", lambda m: md, old,
                     flags=re.S)
    else:
        old = old + ("\n" if old else "") + md
    with open(a.results, "w") as f:
        f.write(old)
    print(md)
    say(f"wrote {a.results} and {a.png}")


if __name__ == "__main__":
    main()

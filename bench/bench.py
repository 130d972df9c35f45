"""The measuring half of bench/run: given a running redis-server (AOF on), PostgreSQL 15 and
nginx (started by bench/run), it starts hookpipe-gateway and hookpipe-writer processes with
generated configs and measures (a) gateway ack throughput/latency vs nginx, (b) writer drain
vs psql \\copy, (c) end to end, (d) peak RSS; prints a table and writes bench/RESULTS.md.

Every process started here dies with this one (PR_SET_PDEATHSIG) and is killed in `finally`.
"""

import argparse
import ctypes
import datetime
import hashlib
import http.client
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import psycopg2
import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoomgen  # noqa: E402

SOURCE = "bench"
SECRET = "bench-secret-0123456789abcdef"
QUEUE = "hookpipe:events"

_libc = ctypes.CDLL(None, use_errno=True)
_procs = []


def die_with_parent():
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def say(msg):
    print(f"bench: {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.05)
    raise SystemExit(f"bench: timed out after {timeout}s waiting for {what}")


def http_get(port, path, timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def start(cmd, log_path):
    log = open(log_path, "ab")
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    log.close()
    _procs.append(p)
    return p


def stop(p, timeout=15):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def vm_hwm_kb(pid):
    """Peak resident set size (VmHWM) of a live process, in kB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def write_config(path, gateway, redis_url, conninfo, writer):
    def section(name, d):
        return [f"[{name}]"] + [f"{k} = {v}" for k, v in d.items()] + [""]

    lines = ["[log]", "level = warn", ""]
    lines += section("gateway", gateway)
    lines += section("redis", {"url": redis_url, "queue": QUEUE})
    lines += section("postgres", {"conninfo": conninfo})
    lines += section("writer", writer)
    lines += section(f"source.{SOURCE}", {"provider": "zoom", "secret": SECRET})
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def gateway_counts(admin_port):
    """(200s, non-200s) answered on /hooks/bench so far, from the gateway's own /metrics."""
    _, body = http_get(admin_port, "/metrics")
    ok = other = 0
    for m in re.finditer(
        r'^hookpipe_gateway_requests_total\{source="%s",status="([^"]+)"\} (\S+)$' % SOURCE,
        body.decode(), re.M,
    ):
        if m.group(1) == "200":
            ok += int(float(m.group(2)))
        else:
            other += int(float(m.group(2)))
    return ok, other


def run_wrk(url, data_file, seconds, conns, threads, log_path):
    """Runs wrk with bench/zoom.lua; returns the dict of its BENCH line."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zoom.lua")
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", "5s", "-s", script,
           url, "--", data_file]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120,
                         preexec_fn=die_with_parent)
    with open(log_path, "a") as f:
        f.write(" ".join(cmd) + "\n" + out.stdout + out.stderr + "\n")
    m = re.search(r"^BENCH (.*)$", out.stdout, re.M)
    if out.returncode != 0 or not m:
        raise SystemExit(f"bench: wrk failed (see {log_path}):\n{out.stdout}{out.stderr}")
    res = {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    return res


class Bench:
    def __init__(self, a):
        self.a = a
        self.tmp = a.tmp
        self.r = redis.Redis(host="127.0.0.1", port=a.redis_port)
        self.results = {}
        self.notes = []
        self.writer_hwm_kb = 0
        self.gateway = None
        self.gw_admin = None
        self.wrk_log = os.path.join(self.tmp, "wrk.log")

    # ------------------------------------------------------------------ helpers
    def pg(self, db="postgres"):
        c = psycopg2.connect(host="127.0.0.1", port=self.a.pg_port, user="hookpipe", dbname=db)
        c.autocommit = True
        return c

    def conninfo(self, db):
        return f"host=127.0.0.1 port={self.a.pg_port} user=hookpipe dbname={db}"

    def fresh_db(self, db):
        c = self.pg()
        try:
            with c.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {db}")
                cur.execute(f"CREATE DATABASE {db}")
        finally:
            c.close()

    def count_rows(self, conn, table="hookpipe.events"):
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {table}")
            return cur.fetchone()[0]

    def start_writers(self, db, n, tag):
        procs = []
        for i in range(n):
            cfg = write_config(
                os.path.join(self.tmp, f"writer-{tag}-{i}.ini"),
                {"listen": "127.0.0.1:1", "admin_listen": ""},
                f"redis://127.0.0.1:{self.a.redis_port}/0",
                self.conninfo(db),
                {"name": f"bench-{tag}-{i}", "admin_listen": "", "batch_size": 1000,
                 "flush_interval_ms": 100},
            )
            procs.append(start([os.path.join(self.a.build, "hookpipe-writer"), "-c", cfg],
                               os.path.join(self.tmp, f"writer-{tag}-{i}.log")))
        conn = self.pg(db)

        def migrated():
            for p in procs:
                if p.poll() is not None:
                    raise SystemExit(f"bench: writer exited {p.returncode}; see "
                                     f"{self.tmp}/writer-{tag}-*.log")
            with conn.cursor() as cur:
                cur.execute("SELECT to_regclass('hookpipe.events') IS NOT NULL")
                return cur.fetchone()[0]

        wait_for(migrated, 60, "writer migrations")
        time.sleep(0.5)  # let every writer finish connecting before the clock starts
        return procs, conn

    def stop_writers(self, procs):
        for p in procs:
            if p.poll() is None:
                self.writer_hwm_kb = max(self.writer_hwm_kb, vm_hwm_kb(p.pid))
            else:
                self.notes.append(f"a writer exited early with status {p.returncode}")
            stop(p)

    # ------------------------------------------------------------------ (a)
    def start_gateway(self):
        port, admin = free_port(), free_port()
        cfg = write_config(
            os.path.join(self.tmp, "gateway.ini"),
            {"listen": f"127.0.0.1:{port}", "admin_listen": f"127.0.0.1:{admin}",
             "workers": self.a.gateway_workers, "timestamp_tolerance_s": 3600,
             "max_queue_length": 100000000, "max_connections": 10000},
            f"redis://127.0.0.1:{self.a.redis_port}/0",
            self.conninfo("postgres"),
            {"admin_listen": ""},
        )
        self.gateway = start([os.path.join(self.a.build, "hookpipe-gateway"), "-c", cfg],
                             os.path.join(self.tmp, "gateway.log"))
        self.gw_port, self.gw_admin = port, admin

        def up():
            if self.gateway.poll() is not None:
                raise SystemExit(f"bench: gateway exited; see {self.tmp}/gateway.log")
            return http_get(admin, "/healthz")[0] == 200

        wait_for(up, 20, "the gateway")

    def bench_ack(self):
        a = self.a
        say(f"(a) generating {a.pool} pre-signed requests (timestamps: now; tolerance 3600 s)")
        pool = os.path.join(self.tmp, "pool.lua")
        zoomgen.write_lua_pool(pool, a.pool, SECRET, f"/hooks/{SOURCE}")
        gw_url = f"http://127.0.0.1:{self.gw_port}/"
        ng_url = f"http://127.0.0.1:{a.nginx_port}/hooks/{SOURCE}"
        res = {}
        for name, url in (("gateway", gw_url), ("nginx", ng_url)):
            say(f"(a) {name}: warm-up {a.warmup}s, then {a.ack_seconds}s, wrk -t1 -c{a.conns}")
            run_wrk(url, pool, a.warmup, a.conns, 1, self.wrk_log)
            if name == "gateway":
                self.r.delete(QUEUE)
                before = gateway_counts(self.gw_admin)
            res[name] = run_wrk(url, pool, a.ack_seconds, a.conns, 1, self.wrk_log)
            if name == "gateway":
                after = gateway_counts(self.gw_admin)
                res["gw_200"] = after[0] - before[0]
                res["gw_non200"] = after[1] - before[1]
                res["queued"] = self.r.llen(QUEUE)
                self.r.delete(QUEUE)
        res["ratio"] = res["gateway"]["rps"] / res["nginx"]["rps"]
        self.results["a"] = res

    # ------------------------------------------------------------------ (b)
    def fill_staging(self, key, n, first):
        """LPUSHes n envelopes onto key (pipelined, 1000 per LPUSH): FIFO order as the gateway."""
        self.r.delete(key)
        now_us = int(time.time() * 1e6)
        ts_ms = int(time.time() * 1000)
        pipe = self.r.pipeline(transaction=False)
        chunk = []
        for i in range(first, first + n):
            chunk.append(zoomgen.envelope(SOURCE, i, now_us + i, ts_ms))
            if len(chunk) == 1000:
                pipe.lpush(key, *chunk)
                chunk = []
                if len(pipe) >= 20:
                    pipe.execute()
        if chunk:
            pipe.lpush(key, *chunk)
        pipe.execute()
        assert self.r.llen(key) == n

    def drain(self, nwriters, n):
        db = f"bench_drain_{nwriters}"
        self.fresh_db(db)
        self.r.delete(QUEUE)
        staging = "bench:staging"
        self.fill_staging(staging, n, 0)
        procs, conn = self.start_writers(db, nwriters, f"b{nwriters}")
        try:
            t0 = time.monotonic()
            self.r.rename(staging, QUEUE)  # atomically hands the whole backlog to the writers
            deadline = t0 + self.a.drain_timeout
            rows = 0
            while time.monotonic() < deadline:
                rows = self.count_rows(conn)
                if rows >= n:
                    break
                time.sleep(0.05)
            elapsed = time.monotonic() - t0
            dead = self.count_rows(conn, "hookpipe.dead_letters")
        finally:
            self.stop_writers(procs)
            conn.close()
        if rows < n:
            self.notes.append(f"(b) {nwriters} writer(s): only {rows} of {n} rows after "
                              f"{self.a.drain_timeout}s")
        return {"rows": rows, "dead": dead, "seconds": elapsed, "rate": rows / elapsed}

    def copy_ceiling(self, n):
        db = "bench_copy"
        self.fresh_db(db)
        sql_dir = os.path.join(self.a.source, "sql")
        for f in sorted(os.listdir(sql_dir)):
            if f.endswith(".sql"):
                subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                                str(self.a.pg_port), "-U", "hookpipe", "-d", db, "-f",
                                os.path.join(sql_dir, f)], check=True, capture_output=True)
        path = os.path.join(self.tmp, "copy.txt")
        now_us = int(time.time() * 1e6)
        ts_ms = int(time.time() * 1000)

        def iso(seconds):
            return (datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
                    .isoformat().encode())

        def esc(b):
            return (b.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n")
                    .replace(b"\r", b"\\r"))

        with open(path, "wb") as f:
            for i in range(n):
                body = zoomgen.body(i, ts_ms)
                key = hashlib.sha256(b"hookpipe-event-key-v1\0bench\0" + body).hexdigest()
                f.write(b"\t".join([
                    SOURCE.encode(), b"meeting.participant_joined",
                    iso((ts_ms + i % 1000) / 1000.0), b"AAAAAABBBB%04d" % (i % 10000),
                    iso((now_us + i) / 1e6), b"\\\\x" + key.encode(), esc(body),
                    b"bench-%d" % i, b"\\N",
                ]) + b"\n")
        cols = "source,event,event_ts,account_id,received_at,event_key,payload,delivery_id,request_id"
        t0 = time.monotonic()
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                        str(self.a.pg_port), "-U", "hookpipe", "-d", db, "-c",
                        f"\\copy hookpipe.events ({cols}) from '{path}'"], check=True)
        elapsed = time.monotonic() - t0
        c = self.pg(db)
        rows = self.count_rows(c)
        c.close()
        return {"rows": rows, "seconds": elapsed, "rate": rows / elapsed}

    def bench_drain(self):
        n = self.a.envelopes
        res = {}
        for w in (1, 2):
            say(f"(b) {n} envelopes in Redis, draining with {w} writer(s)")
            res[f"w{w}"] = self.drain(w, n)
        say(f"(b) ceiling: psql \\copy of the same {n} rows")
        res["copy"] = self.copy_ceiling(n)
        res["ratio1"] = res["w1"]["rate"] / res["copy"]["rate"]
        res["ratio2"] = res["w2"]["rate"] / res["copy"]["rate"]
        self.results["b"] = res

    # ------------------------------------------------------------------ (c)
    def bench_e2e(self):
        a = self.a
        db = "bench_e2e"
        self.fresh_db(db)
        self.r.delete(QUEUE)
        procs, conn = self.start_writers(db, 2, "c")
        live = os.path.join(self.tmp, "live.lua")
        zoomgen.write_lua_live(live, SECRET, f"/hooks/{SOURCE}", first=10_000_000)
        maxlen = [0]
        sampling = threading.Event()
        sampling.set()

        def sampler():
            r = redis.Redis(host="127.0.0.1", port=a.redis_port)
            while sampling.is_set():
                maxlen[0] = max(maxlen[0], r.llen(QUEUE))
                time.sleep(0.1)

        th = threading.Thread(target=sampler, daemon=True)
        try:
            before = gateway_counts(self.gw_admin)
            th.start()
            say(f"(c) wrk {a.e2e_seconds}s against the gateway (every body unique, signed in wrk) "
                "with 2 writers draining")
            t0 = time.monotonic()
            w = run_wrk(f"http://127.0.0.1:{self.gw_port}/", live, a.e2e_seconds, a.conns, 1,
                        self.wrk_log)
            after = gateway_counts(self.gw_admin)
            ok, other = after[0] - before[0], after[1] - before[1]
            deadline = time.monotonic() + a.drain_timeout
            rows, last_change, t_last = 0, time.monotonic(), time.monotonic()
            while time.monotonic() < deadline:
                n = self.count_rows(conn)
                if n != rows:
                    rows, t_last = n, time.monotonic()
                if rows >= ok or time.monotonic() - t_last > 15:
                    break
                time.sleep(0.05)
            sampling.clear()
            th.join(2)
            dead = self.count_rows(conn, "hookpipe.dead_letters")
        finally:
            sampling.clear()
            self.stop_writers(procs)
            conn.close()
        elapsed = t_last - t0
        self.results["c"] = {"wrk": w, "ok": ok, "other": other, "rows": rows, "dead": dead,
                             "seconds": elapsed, "rate": rows / elapsed, "max_llen": maxlen[0],
                             "drain_after_wrk": t_last - t0 - w["duration_us"] / 1e6}

    # ------------------------------------------------------------------ run
    def run(self):
        try:
            self.start_gateway()
            if "a" in self.a.parts:
                self.bench_ack()
            if "b" in self.a.parts:
                self.bench_drain()
            if "c" in self.a.parts:
                self.bench_e2e()
            if self.gateway.poll() is None:
                self.results["gw_hwm_kb"] = vm_hwm_kb(self.gateway.pid)
            self.results["writer_hwm_kb"] = self.writer_hwm_kb
        finally:
            for p in _procs:
                stop(p)
        return self.results


# ---------------------------------------------------------------------- machine and report
def cmd_out(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (out.stdout + out.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def first_match(pattern, text, default="?"):
    m = re.search(pattern, text, re.M)
    return m.group(1).strip() if m else default


def pkg_version(pkg):
    return cmd_out(["dpkg-query", "-W", "-f", "${Version}", pkg]) or "?"


def machine_info(a):
    cpu = first_match(r"^model name\s*:\s*(.*)$", open("/proc/cpuinfo").read())
    mem_kb = int(first_match(r"^MemTotal:\s*(\d+)", open("/proc/meminfo").read(), "0"))
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": f"{mem_kb / 1048576:.1f} GiB",
        "kernel": platform.release(),
        "os": first_match(r'^PRETTY_NAME="?([^"\n]*)', open("/etc/os-release").read()),
        "gcc": first_match(r"^(gcc.*)$", cmd_out(["gcc", "--version"])),
        "libevent": pkg_version("libevent-dev"),
        "hiredis": pkg_version("libhiredis-dev"),
        "redis": first_match(r"v=(\S+)", cmd_out(["redis-server", "--version"])),
        "postgres": first_match(r"\) (\S+)", cmd_out([os.path.join(a.pg_bin, "postgres"),
                                                       "--version"])),
        "nginx": first_match(r"nginx/(\S+)", cmd_out(["nginx", "-v"])),
        "wrk": first_match(r"^wrk (\S+)", cmd_out(["wrk", "-v"])),
    }


def verdict(ok):
    return "PASS" if ok else "MISS"


def report(a, res, info, load_before, load_after, others, others_after):
    """Returns (table text, RESULTS.md text)."""
    rows = []  # (figure, value, target, verdict)
    if "a" in res:
        r = res["a"]
        g, n = r["gateway"], r["nginx"]
        rows += [
            ("(a) gateway acks/s", f"{g['rps']:,.0f}", "", ""),
            ("(a) gateway latency p50 / p99", f"{g['p50_us'] / 1000:.2f} / {g['p99_us'] / 1000:.2f} ms",
             "p99 <= 5 ms", verdict(g["p99_us"] <= 5000)),
            ("(a) gateway answers 200 / other (its /metrics)", f"{r['gw_200']:,} / {r['gw_non200']:,}",
             "other = 0", verdict(r["gw_non200"] == 0 and r["gw_200"] > 0)),
            ("(a) envelopes in Redis after the run", f"{r['queued']:,}", "= 200s",
             verdict(r["queued"] == r["gw_200"])),
            ("(a) nginx return 200 (ceiling) req/s", f"{n['rps']:,.0f}", "", ""),
            ("(a) nginx latency p50 / p99", f"{n['p50_us'] / 1000:.2f} / {n['p99_us'] / 1000:.2f} ms", "", ""),
            ("(a) ratio gateway / nginx", f"{r['ratio']:.2f}", ">= 0.5", verdict(r["ratio"] >= 0.5)),
        ]
    if "b" in res:
        r = res["b"]
        for w in ("w1", "w2"):
            x = r[w]
            rows.append((f"(b) drain, {w[1]} writer(s): rows/s", f"{x['rate']:,.0f}",
                         f"all {a.envelopes:,} rows",
                         verdict(x["rows"] == a.envelopes and x["dead"] == 0)))
        rows += [
            ("(b) psql \\copy (ceiling) rows/s", f"{r['copy']['rate']:,.0f}", "", ""),
            ("(b) ratio 1 writer / \\copy", f"{r['ratio1']:.2f}", ">= 0.6", verdict(r["ratio1"] >= 0.6)),
            ("(b) ratio 2 writers / \\copy", f"{r['ratio2']:.2f}", "(info)", ""),
        ]
    if "c" in res:
        r = res["c"]
        rows += [
            ("(c) end to end events/s into PostgreSQL", f"{r['rate']:,.0f}", ">= 20,000",
             verdict(r["rate"] >= 20000)),
            ("(c) gateway acks/s during it (wrk)", f"{r['wrk']['rps']:,.0f}", "", ""),
            ("(c) gateway latency p50 / p99", f"{r['wrk']['p50_us'] / 1000:.2f} / "
             f"{r['wrk']['p99_us'] / 1000:.2f} ms", "", ""),
            ("(c) largest queue length (LLEN / 100 ms)", f"{r['max_llen']:,}", "", ""),
            ("(c) drain time after wrk stopped", f"{r['drain_after_wrk']:.1f} s", "", ""),
            ("(c) 200s / non-200s / rows / dead letters",
             f"{r['ok']:,} / {r['other']:,} / {r['rows']:,} / {r['dead']:,}", "rows = 200s",
             verdict(r["rows"] == r["ok"] and r["ok"] > 0)),
        ]
    if res.get("gw_hwm_kb"):
        rows.append(("(d) gateway peak RSS (VmHWM)", f"{res['gw_hwm_kb'] / 1024:.1f} MB", "<= 32 MB",
                     verdict(res["gw_hwm_kb"] <= 32 * 1024)))
    if res.get("writer_hwm_kb"):
        rows.append(("(d) writer peak RSS (VmHWM, max)", f"{res['writer_hwm_kb'] / 1024:.1f} MB",
                     "<= 64 MB", verdict(res["writer_hwm_kb"] <= 64 * 1024)))

    w = [max(len(r[i]) for r in rows + [("figure", "value", "target", "")]) for i in range(4)]
    fmt = "| {:<%d} | {:>%d} | {:<%d} | {:<%d} |" % tuple(w)
    lines = [fmt.format("figure", "value", "target", ""), fmt.format(*("-" * x for x in w))]
    lines += [fmt.format(*r) for r in rows]
    table = "\n".join(lines)

    mode = "quick (--quick)" if a.quick else "full"
    md = [
        "# hookpipe benchmark results",
        "",
        f"Written by `bench/run` ({mode}) on {info['date']}. Re-run it to replace this file;",
        "README.md section \"Benchmarks\" explains each figure.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        f"| CPU | {info['cpu']} |",
        f"| cores | {info['cores']} |",
        f"| memory | {info['memory']} |",
        f"| OS / kernel | {info['os']} / {info['kernel']} |",
        f"| gcc | {info['gcc']} |",
        f"| libevent / hiredis (Debian) | {info['libevent']} / {info['hiredis']} |",
        f"| redis / PostgreSQL / nginx / wrk | {info['redis']} / {info['postgres']} / "
        f"{info['nginx']} / {info['wrk']} |",
        f"| load average before / after | {load_before} / {load_after} |",
        "",
        "## Figures",
        "",
        table,
        "",
        "## Setup",
        "",
        f"- All on 127.0.0.1. Release build (`-DCMAKE_BUILD_TYPE=Release`) in build-bench/.",
        f"- (a) wrk 1 thread, {a.conns} keep-alive connections, {a.warmup} s warm-up then "
        f"{a.ack_seconds} s; gateway `workers = {a.gateway_workers}` and nginx "
        "`worker_processes 1`, so wrk, the server and redis-server share the 2 cores. Requests: "
        f"{a.pool:,} distinct signed meeting.participant_joined bodies (~700 bytes), "
        "pre-generated right before the run and cycled; `timestamp_tolerance_s = 3600` so "
        "they stay fresh. nginx gets byte-identical requests (`location / { return 200; }`).",
        "- Redis: `appendonly yes`, `appendfsync everysec`, no RDB, auto AOF rewrite off.",
        "- PostgreSQL 15: fsync on, synchronous_commit on (writer default), shared_buffers "
        "256MB, max_wal_size 4GB.",
        f"- (b) {a.envelopes:,} v1 envelopes LPUSHed (pipelined) to a side key, writers "
        "started on a fresh database and migrated, then the key is RENAMEd onto the queue and "
        "the clock runs until count(*) = all. Writers: batch_size 1000, flush_interval_ms 100. "
        "Ceiling: one `psql \\copy` of the same rows (same columns, same jsonb payloads) into "
        "an identical fresh hookpipe.events.",
        f"- (c) wrk {a.e2e_seconds} s, every body unique (signed inside wrk), 2 writers; "
        "events/s = rows / (time from wrk start to the last row landing).",
        "- (d) VmHWM from /proc/PID/status: the one gateway process across (a)-(c); the "
        "largest of all writer processes in (b)-(c).",
        "",
        "## Other processes using CPU when the run started",
        "",
        "```",
        others.strip() or "(none)",
        "```",
        "",
        "## Other processes using CPU when it ended",
        "",
        "```",
        others_after.strip() or "(none)",
        "```",
        "",
    ]
    if a.notes:
        md += ["## Notes", ""] + [f"- {n}" for n in a.notes] + [""]
    return table, "\n".join(md)


def busy_processes(seconds=1.0):
    """Processes that used >= 5 % of a core over the last second (other load on the box)."""

    def snap():
        out = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    st = f.read()
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            comm = st[st.index(b"(") + 1 : st.rindex(b")")].decode(errors="replace")
            fields = st[st.rindex(b")") + 2 :].split()
            out[int(pid)] = (int(fields[11]) + int(fields[12]), (cmd or comm)[:100])
        return out

    hz = os.sysconf("SC_CLK_TCK")
    first = snap()
    time.sleep(seconds)
    second = snap()
    busy = []
    for pid, (ticks, cmd) in second.items():
        if pid in first and pid != os.getpid():
            pct = 100.0 * (ticks - first[pid][0]) / hz / seconds
            if pct >= 5.0:
                busy.append((pct, pid, cmd))
    busy.sort(reverse=True)
    return "\n".join(f"{pct:5.0f}% {pid:>7} {cmd}" for pct, pid, cmd in busy[:12])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--redis-port", type=int, required=True)
    ap.add_argument("--pg-port", type=int, required=True)
    ap.add_argument("--pg-bin", default="/usr/lib/postgresql/15/bin")
    ap.add_argument("--nginx-port", type=int, required=True)
    ap.add_argument("--parts", default="abc")
    ap.add_argument("--gateway-workers", type=int, default=1)
    ap.add_argument("--results", help="write RESULTS.md here")
    a = ap.parse_args()
    a.conns = 64
    if a.quick:
        a.warmup, a.ack_seconds, a.e2e_seconds, a.envelopes, a.pool = 1, 3, 8, 20000, 20000
    else:
        a.warmup, a.ack_seconds, a.e2e_seconds, a.envelopes, a.pool = 2, 10, 30, 200000, 50000
    a.drain_timeout = 300
    info = machine_info(a)
    load_before = " ".join(open("/proc/loadavg").read().split()[:3])
    others = busy_processes()
    b = Bench(a)
    res = b.run()
    a.notes = b.notes
    load_after = " ".join(open("/proc/loadavg").read().split()[:3])
    others_after = busy_processes()
    table, md = report(a, res, info, load_before, load_after, others, others_after)
    print()
    print(table)
    print()
    if others:
        print("other processes using CPU at the start (figures are noisy):\n" + others)
    for n in b.notes:
        print("note: " + n)
    if a.results:
        with open(a.results, "w") as f:
            f.write(md)
        say(f"wrote {a.results}")


if __name__ == "__main__":
    main()

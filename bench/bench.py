"""The measuring half of bench/run: given a running redis-server (AOF on), PostgreSQL 15 and
nginx (started by bench/run), it starts hookpipe-gateway and hookpipe-writer processes with
generated configs and measures (a) gateway ack throughput/latency vs nginx, (h) the same over
HTTPS, (b) writer drain vs psql \\copy, (c) end to end, (w) end to end from one Zoom WebSocket
subscription, (d) peak RSS, (s) acks/s of a `provider = standard` (Standard Webhooks) source
beside a `zoom` source of the same gateway, (o) latency at a steady rate, open loop
(hookpipe-openloop, bench/openloop.c); prints the table and writes the "bench" section of
bench/results.json — and parts (s) and (o) their own "standard" and "openloop" sections, so a
run of (s) or (o) alone leaves the other parts' figures as they were (bench/plot.py renders
RESULTS.md from it).

Ports, configs, daemons, the other processes, the Zoom signer, the Zoom WebSocket stand-in
(harness/zoom_ws.py) and /proc figures are the integration-test harness's
(tests/integration/harness): every process started here dies with this one (PR_SET_PDEATHSIG)
and is killed in `finally`.
"""

import argparse
import json
import os
import re
import sys
import threading
import time

import resource

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(BENCH_DIR, "..", "tests", "integration"))
import harness  # noqa: E402
import plot  # noqa: E402
import results  # noqa: E402
import standardgen  # noqa: E402
import zoomgen  # noqa: E402

SOURCE = "bench"
SECRET = "bench-secret-0123456789abcdef"
QUEUE = "hookpipe:events"
WS_SOURCE = "bench-ws"  # (w): the websocket source's name (its rows' source)
WS_EVENT = "meeting.participant_joined"
WS_BODY_BYTES = 668  # (w): the size of zoomgen.body(), the webhook parts' bodies
STD_SOURCE = "bench-standard"  # (s): the provider = standard source beside the zoom one


def say(msg):
    print(f"bench: {msg}", flush=True)


def gateway_counts(admin_port, source=SOURCE):
    """(200s, non-200s) answered on /hooks/<source> so far, and the LPUSH commands sent so far
    (hookpipe_gateway_redis_pushes_total), from the gateway's own /metrics."""
    m = harness.metrics(admin_port)
    ok = other = 0
    for key, value in m.items():
        hit = re.fullmatch(r'hookpipe_gateway_requests_total\{source="%s",status="([^"]+)"\}'
                           % re.escape(source), key)
        if hit and hit.group(1) == "200":
            ok += int(value)
        elif hit:
            other += int(value)
    return ok, other, int(harness.metric(m, "hookpipe_gateway_redis_pushes_total"))


def run_wrk(url, data_file, seconds, conns, threads, log_path):
    """Runs wrk with bench/zoom.lua; returns the dict of its BENCH line."""
    script = os.path.join(BENCH_DIR, "zoom.lua")
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", "5s", "-s", script,
           url, "--", data_file]
    out = harness.run_process(cmd, capture_output=True, text=True, timeout=seconds + 120)
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
        self.pgs = harness.SharedPostgres("127.0.0.1", a.pg_port, "hookpipe")
        self.redis = harness.SharedRedis(f"redis://127.0.0.1:{a.redis_port}/0")
        self.r = self.redis.client(socket_timeout=60)
        self.results = {}
        self.notes = []
        self.writer_hwm_kb = 0
        self.gw_hwm_kb = 0
        self.wrk_log = os.path.join(self.tmp, "wrk.log")
        self.s_notes = []  # part (s)'s notes: its own section

    # ------------------------------------------------------------------ helpers
    def fresh_db(self, db):
        self.pgs.query("postgres", f"DROP DATABASE IF EXISTS {db}")
        self.pgs.query("postgres", f"CREATE DATABASE {db}")

    def count_rows(self, db, table="hookpipe.events"):
        return self.pgs.query(db, f"SELECT count(*) FROM {table}")[0][0]

    def config(self, name, gateway=None, writer=None, sources=None):
        """Writes tmp/name.ini: the bench source (or sources) and queue, this run's Redis and
        PostgreSQL."""
        return harness.write_config(
            os.path.join(self.tmp, f"{name}.ini"), log={"level": "warn"},
            gateway={k: v for k, v in (gateway or {}).items() if v is not None},
            redis={"url": self.redis.url, "queue": QUEUE},
            postgres={"conninfo": self.pgs.conninfo(writer.pop("db") if writer else "postgres")},
            writer=writer, sources=sources or {SOURCE: {"provider": "zoom", "secret": SECRET}})

    def daemon(self, kind, name, cfg):
        """hookpipe-<kind> of the bench build, logging to tmp/name.log."""
        return harness.Daemon(kind, cfg, exe=os.path.join(self.a.build, f"hookpipe-{kind}"),
                              log_path=os.path.join(self.tmp, f"{name}.log"))

    def stop(self, d):
        """SIGTERM and wait (SIGKILL after 15 s, noted); records the peak RSS first."""
        if d.alive():
            hwm = harness.proc_status_kb(d.pid, "VmHWM")
            if d.kind == "writer":
                self.writer_hwm_kb = max(self.writer_hwm_kb, hwm)
            else:
                self.gw_hwm_kb = max(self.gw_hwm_kb, hwm)
        elif d.kind == "writer":
            self.notes.append(f"a writer exited early with status {d.proc.returncode}")
        try:
            d.stop()
        except AssertionError:
            self.notes.append(f"hookpipe-{d.kind} (pid {d.pid}) had to be killed")

    def start_writers(self, db, n, tag):
        """n writers of db, each with its admin listener on a free port (d.admin), which
        rows_inserted() reads."""
        ws = []
        for i in range(n):
            admin = harness.free_port()
            cfg = self.config(f"writer-{tag}-{i}", gateway={"listen": "127.0.0.1:1"},
                              writer={"db": db, "name": f"bench-{tag}-{i}", "batch_size": 1000,
                                      "flush_interval_ms": 100,
                                      "admin_listen": f"127.0.0.1:{admin}"})
            d = self.daemon("writer", f"writer-{tag}-{i}", cfg).start()
            d.admin = admin
            ws.append(d)

        def migrated():
            for d in ws:
                if not d.alive():
                    raise SystemExit(f"bench: writer exited {d.proc.returncode}; see "
                                     f"{self.tmp}/writer-{tag}-*.log")
            return self.pgs.query(db, "SELECT to_regclass('hookpipe.events') IS NOT NULL")[0][0]

        harness.wait_for(migrated, timeout=60, interval=0.05, what="writer migrations")
        for d in ws:
            harness.wait_for(lambda d=d: self.rows_inserted([d]) is not None, timeout=30,
                             interval=0.05, what=f"writer {d.pid}'s /metrics")
        time.sleep(0.5)  # let every writer finish connecting before the clock starts
        return ws

    @staticmethod
    def rows_inserted(ws):
        """Rows the writers ws stored so far, from their own /metrics
        (hookpipe_writer_rows_inserted_total): counting them with count(*) while they drain
        would cost PostgreSQL a scan of every row stored so far, each time. None while one
        does not answer."""
        try:
            return harness.rows_inserted(d.admin for d in ws)
        except (OSError, AssertionError, TypeError, ValueError):
            return None

    # ------------------------------------------------------------------ (a)
    def start_gateway(self, workers=None, tls=None, name="gateway", sources=None,
                      bench_keys=True):
        """A gateway with the shipped defaults but for the bench's own keys (workers: the
        default unless given; tls: (cert, key) files; sources: the config's sources, default
        the one zoom source; bench_keys False: not even those, only where it listens).
        Returns (daemon, port, admin port)."""
        port, admin = harness.free_port(), harness.free_port()
        gw = {"listen": f"127.0.0.1:{port}", "admin_listen": f"127.0.0.1:{admin}",
              "workers": workers}
        if bench_keys:
            gw.update(timestamp_tolerance_s=3600, max_queue_length=100000000,
                      max_connections=10000)
        if tls is not None:
            gw["tls_cert"], gw["tls_key"] = tls
        d = self.daemon("gateway", name, self.config(name, gateway=gw, sources=sources)).start(
            wait_port=admin, timeout=20)
        harness.wait_for(lambda: harness.http_request(admin, "GET", "/healthz")[0] == 200,
                         timeout=20, interval=0.05, what="the gateway's /healthz")
        return d, port, admin

    def ack_run(self, url, pool, admin=None, source=SOURCE):
        """Warm-up, then the timed wrk run; with admin (a gateway), its own counts (of
        source) and what reached Redis."""
        a = self.a
        run_wrk(url, pool, a.warmup, a.conns, 1, self.wrk_log)
        if admin is None:
            return run_wrk(url, pool, a.ack_seconds, a.conns, 1, self.wrk_log)
        self.r.delete(QUEUE)
        before = gateway_counts(admin, source)
        forks = self.redis_forks()
        redis_cpu = self.redis_cpu_s()
        res = run_wrk(url, pool, a.ack_seconds, a.conns, 1, self.wrk_log)
        after = gateway_counts(admin, source)
        res["lpushes"] = after[2] - before[2]
        res["redis_cpu_s"] = self.redis_cpu_s() - redis_cpu
        res["gw_200"], res["gw_non200"] = after[0] - before[0], after[1] - before[1]
        res["queued"] = self.r.llen(QUEUE)
        res["aof_rewrites"] = self.redis_forks() - forks
        self.r.delete(QUEUE)
        return res

    def redis_pid(self):
        return int(self.r.info("server")["process_id"])

    def redis_cpu_s(self):
        """CPU seconds redis-server used so far (its main process; rewrites fork children)."""
        return harness.cpu_seconds(self.redis_pid())

    def redis_delayed_fsyncs(self):
        """Times Redis delayed a write for a slow background fsync so far (aof_delayed_fsync:
        its log's "Asynchronous AOF fsync is taking too long")."""
        return int(self.r.info("persistence").get("aof_delayed_fsync", 0))

    def redis_forks(self):
        """Forks Redis made so far: with no RDB saves configured, its AOF rewrites."""
        return int(self.r.info("stats")["total_forks"])

    def bench_ack(self):
        a = self.a
        say(f"(a) generating {a.pool} pre-signed requests (timestamps: now; tolerance 3600 s)")
        pool = os.path.join(self.tmp, "pool.lua")
        zoomgen.write_lua_pool(pool, a.pool, SECRET, f"/hooks/{SOURCE}")
        res = {}
        runs = [("gateway", None)] + [(f"gateway_w{w}", w) for w in a.tuned_workers]
        for name, workers in runs:
            d, port, admin = self.start_gateway(workers, name=name)
            say(f"(a) {name} (workers = {workers if workers is not None else 'default'}): "
                f"warm-up {a.warmup}s, then {a.ack_seconds}s, wrk -t1 -c{a.conns}")
            res[name] = self.ack_run(f"http://127.0.0.1:{port}/", pool, admin)
            self.stop(d)
        say(f"(a) nginx: warm-up {a.warmup}s, then {a.ack_seconds}s, wrk -t1 -c{a.conns}")
        res["nginx"] = self.ack_run(f"http://127.0.0.1:{a.nginx_port}/hooks/{SOURCE}", pool)
        res["ratio"] = res["gateway"]["rps"] / res["nginx"]["rps"]
        self.results["a"] = res

    # ------------------------------------------------------------------ (s)
    def bench_standard(self):
        """(s): one gateway configured as in (a) (shipped defaults, default workers) with two
        sources, the zoom one of (a) and a `provider = standard` one beside it; the run of (a)
        (warm-up, then wrk -t1 -c64 for ack_s) against each in turn, zoom first. Bodies of the
        same size (zoomgen.body's 668 bytes), every one distinct and signed at "now"."""
        a = self.a
        out = {"load_average_before": results.load_average(),
               "busy_before": busy_processes()}
        paths = {"zoom": f"/hooks/{SOURCE}", "standard": f"/hooks/{STD_SOURCE}"}
        gens = {"zoom": (zoomgen, SECRET), "standard": (standardgen, standardgen.SECRET)}
        say(f"(s) generating {a.pool} pre-signed requests per provider (zoom, standard)")
        pools, sizes = {}, {}
        for prov, (gen, secret) in gens.items():
            pools[prov] = os.path.join(self.tmp, f"pool-s-{prov}.lua")
            gen.write_lua_pool(pools[prov], a.pool, secret, paths[prov])
            step = max(1, a.pool // 200)
            sample = [len(gen.raw_request(secret, paths[prov], i)) for i in range(0, a.pool, step)]
            sizes[prov] = (sum(sample) / len(sample), len(gen.body(0)))
        sources = {SOURCE: {"provider": "zoom", "secret": SECRET},
                   STD_SOURCE: {"provider": "standard", "secret": standardgen.SECRET}}
        saved, self.gw_hwm_kb = self.gw_hwm_kb, 0  # (d) stays the other parts' figure
        d, port, admin = self.start_gateway(None, name="gateway-s", sources=sources)
        try:
            for prov, source in (("zoom", SOURCE), ("standard", STD_SOURCE)):
                say(f"(s) {prov} source /hooks/{source}: warm-up {a.warmup}s, then "
                    f"{a.ack_seconds}s, wrk -t1 -c{a.conns}")
                r = self.ack_run(f"http://127.0.0.1:{port}/", pools[prov], admin, source)
                r["request_bytes"], r["body_bytes"] = sizes[prov]
                out[prov] = r
        finally:
            self.stop(d)
            out["gw_hwm_kb"], self.gw_hwm_kb = self.gw_hwm_kb, saved
        out["ratio"] = out["standard"]["rps"] / out["zoom"]["rps"]
        out["load_average_after"] = results.load_average()
        out["busy_after"] = busy_processes()
        self.results["s"] = out

    # ------------------------------------------------------------------ (h) HTTPS
    def make_certs(self):
        """A self-signed certificate for 127.0.0.1 of each kind: {kind: (cert, key)}."""
        out = {}
        for kind in ("rsa", "ecdsa"):
            os.makedirs(os.path.join(self.tmp, kind), exist_ok=True)
            out[kind] = harness.tls_cert(os.path.join(self.tmp, kind), kind=kind)
            os.chmod(out[kind][1], 0o600)
        return out

    def start_tls_nginx(self, certs):
        """nginx answering 200 over TLS, one port per certificate kind: {kind: port}."""
        d = os.path.join(self.tmp, "nginx-tls")
        os.makedirs(os.path.join(d, "logs"), exist_ok=True)
        ports = {k: harness.free_port() for k in certs}
        servers = "".join(
            f"    server {{ listen 127.0.0.1:{ports[k]} ssl; ssl_certificate {c}; "
            f"ssl_certificate_key {key}; ssl_protocols TLSv1.2 TLSv1.3; "
            f"location / {{ return 200; }} }}\n"
            for k, (c, key) in certs.items())
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(f"""worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{servers}}}
""")
        proc = harness.start_process(["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"),
                                      "-g", "daemon off;"], os.path.join(d, "logs", "stdout.log"))

        def up():
            if proc.poll() is not None:
                raise SystemExit(f"bench: TLS nginx exited; see {d}/logs")
            return all(harness.port_open(p, timeout=1) for p in ports.values())

        harness.wait_for(up, timeout=20, interval=0.05, what="TLS nginx")
        return proc, ports

    def bench_tls(self):
        a = self.a
        certs = self.make_certs()
        pools = {}
        for mode, close in (("keepalive", False), ("close", True)):
            pools[mode] = os.path.join(self.tmp, f"pool-{mode}.lua")
            zoomgen.write_lua_pool(pools[mode], a.pool, SECRET, f"/hooks/{SOURCE}", close=close)
        nginx, nports = self.start_tls_nginx(certs)
        res = {}
        try:
            for kind, files in certs.items():
                d, port, admin = self.start_gateway(None, tls=files, name=f"gateway-{kind}")
                for mode in ("keepalive", "close"):
                    say(f"(h) HTTPS {kind} {mode}: gateway then nginx, {a.ack_seconds}s each")
                    g = self.ack_run(f"https://127.0.0.1:{port}/", pools[mode], admin)
                    n = self.ack_run(f"https://127.0.0.1:{nports[kind]}/hooks/{SOURCE}",
                                     pools[mode])
                    res[f"{kind}_{mode}"] = {"gateway": g, "nginx": n,
                                             "ratio": g["rps"] / n["rps"]}
                self.stop(d)
        finally:
            harness.stop_process(nginx)
        self.results["h"] = res

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
        ws = self.start_writers(db, nwriters, f"b{nwriters}")
        try:
            t0 = time.monotonic()
            self.r.rename(staging, QUEUE)  # atomically hands the whole backlog to the writers
            deadline = t0 + self.a.drain_timeout
            rows = 0
            while time.monotonic() < deadline:
                rows = self.rows_inserted(ws) or rows
                if rows >= n:
                    break
                time.sleep(0.05)
            elapsed = time.monotonic() - t0
            rows = self.count_rows(db)  # the writers' count, checked once at the end
            dead = self.count_rows(db, "hookpipe.dead_letters")
        finally:
            for d in ws:
                self.stop(d)
        if rows < n:
            self.notes.append(f"(b) {nwriters} writer(s): only {rows} of {n} rows after "
                              f"{self.a.drain_timeout}s")
        return {"rows": rows, "dead": dead, "seconds": elapsed, "rate": rows / elapsed}

    def psql(self, db, *args):
        harness.run_process(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                             self.a.pg_port, "-U", "hookpipe", "-d", db, *args], check=True,
                            capture_output=True)

    def copy_ceiling(self, n):
        """psql \\copy of n rows like the writer's into a fresh, migrated hookpipe.events."""
        db = "bench_copy"
        self.fresh_db(db)
        sql_dir = os.path.join(self.a.source, "sql")
        for f in sorted(os.listdir(sql_dir)):
            if f.endswith(".sql"):
                self.psql(db, "-f", os.path.join(sql_dir, f))
        # the partitions a writer's maintenance makes at start (the default interval, month)
        self.psql(db, "-c", "SELECT hookpipe.maintain_premake('month', 2)")
        path = zoomgen.write_copy_rows(os.path.join(self.tmp, "copy.txt"), n, SOURCE)
        t0 = time.monotonic()
        self.psql(db, "-c", f"\\copy hookpipe.events ({zoomgen.COPY_COLUMNS}) from '{path}'")
        elapsed = time.monotonic() - t0
        rows = self.count_rows(db)
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
    @staticmethod
    def cpu_snapshot(pids):
        """{name: {pid: CPU seconds}} of each process group, and the machine's busy and total
        CPU seconds (/proc/stat)."""
        out = {}
        for name, group in pids().items():
            out[name] = {p: s for p in group if (s := harness.cpu_seconds(p)) is not None}
        with open("/proc/stat") as f:
            cpu = [int(x) for x in f.readline().split()[1:]]
        idle = cpu[3] + cpu[4]
        return out, (sum(cpu[:8]) - idle) / harness.CLK_TCK, sum(cpu[:8]) / harness.CLK_TCK

    def pg_pids(self):
        """The postmaster and all its children (backends, walwriter, checkpointer...)."""
        with open(os.path.join(self.tmp, "pg", "data", "postmaster.pid")) as f:
            master = int(f.readline())
        return [master] + harness._children_of(master)

    def bench_e2e(self):
        a = self.a
        db = "bench_e2e"
        self.fresh_db(db)
        self.r.delete(QUEUE)
        n_req = a.e2e_seconds * a.e2e_rate_cap
        say(f"(c) pre-signing {n_req:,} distinct requests (read by wrk one after the other)")
        stream = zoomgen.write_stream(os.path.join(self.tmp, "stream.bin"), n_req, SECRET,
                                      f"/hooks/{SOURCE}", first=10_000_000)
        gw, port, admin = self.start_gateway(None, name="gateway-e2e")
        ws = self.start_writers(db, a.e2e_writers, "c")
        redis_pid = self.redis_pid()

        def pids():
            return {"gateway": [gw.pid], "redis": [redis_pid],
                    "writers": [d.pid for d in ws], "postgres": self.pg_pids()}

        maxlen = [0]
        sampling = threading.Event()
        sampling.set()

        def sampler():
            r = self.redis.client()
            while sampling.is_set():
                maxlen[0] = max(maxlen[0], r.llen(QUEUE))
                time.sleep(0.1)

        th = threading.Thread(target=sampler, daemon=True)
        try:
            before = gateway_counts(admin)
            forks = self.redis_forks()
            th.start()
            say(f"(c) wrk {a.e2e_seconds}s against the gateway (pre-signed, every body distinct) "
                f"with {a.e2e_writers} writers draining")
            cpu0 = self.cpu_snapshot(pids)
            wrk0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            w = run_wrk(f"http://127.0.0.1:{port}/", stream, a.e2e_seconds, a.conns, 1,
                        self.wrk_log)
            wrk1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            after = gateway_counts(admin)
            ok, other = after[0] - before[0], after[1] - before[1]
            deadline = time.monotonic() + a.drain_timeout
            rows, t_last = 0, time.monotonic()
            while time.monotonic() < deadline:
                n = self.rows_inserted(ws) or rows
                if n != rows:
                    rows, t_last = n, time.monotonic()
                if rows >= ok or time.monotonic() - t_last > 15:
                    break
                time.sleep(0.05)
            cpu1 = self.cpu_snapshot(pids)
            rows = self.count_rows(db)  # the writers' count, checked once at the end
            rewrites = self.redis_forks() - forks
            sampling.clear()
            th.join(2)
            dead = self.count_rows(db, "hookpipe.dead_letters")
        finally:
            sampling.clear()
            for d in ws:
                self.stop(d)
            self.stop(gw)
        elapsed = t_last - t0
        # CPU per event of each part, from t0 until the last row landed
        cpu = {}
        for name, now in cpu1[0].items():
            was = cpu0[0].get(name, {})
            cpu[name] = sum(t - was.get(p, 0) for p, t in now.items())
        cpu["wrk"] = (wrk1.ru_utime + wrk1.ru_stime) - (wrk0.ru_utime + wrk0.ru_stime)
        busy, total = cpu1[1] - cpu0[1], cpu1[2] - cpu0[2]
        say(f"(c) ceiling: psql \\copy of the same {rows:,} rows")
        copy = self.copy_ceiling(max(rows, 1))
        self.results["c"] = {"wrk": w, "ok": ok, "other": other, "rows": rows, "dead": dead,
                             "seconds": elapsed, "rate": rows / elapsed, "max_llen": maxlen[0],
                             "drain_after_wrk": t_last - t0 - w["duration_us"] / 1e6,
                             "aof_rewrites": rewrites, "copy": copy,
                             "ratio": rows / elapsed / copy["rate"], "cpu": cpu,
                             "busy": busy, "total": total, "requests": n_req}

    # ------------------------------------------------------------------ (w) websocket
    def ws_run(self, nwriters):
        """One Zoom WebSocket subscription end to end: the stand-in (its own CA, ca_file in the
        source), a gateway at its defaults with one websocket source (default heartbeat_s and
        lease_ms) and nwriters writers on a fresh database; once the link is up (its first
        heartbeat answered) the stand-in sends a.ws_events events as fast as it can on its one
        connection, and the writers' rows_inserted_total is read every 100 ms until every row
        is there (count(*) is checked once, at the end)."""
        from harness.zoom_ws import ZoomStandIn  # python3-websockets

        first_send = {}

        class StandIn(ZoomStandIn):
            """The stand-in, noting the moment it starts sending (its events built by then):
            the clock and the CPU count start there, not while it builds the bodies."""

            async def _send_frames(self, *args):
                first_send["cpu"] = self.bench_snapshot()
                first_send["t"] = time.time()
                return await super()._send_frames(*args)

        a = self.a
        n = a.ws_events
        db = f"bench_ws_{nwriters}"
        tag = f"w{nwriters}"
        self.fresh_db(db)
        self.r.delete(QUEUE)
        for key in self.r.scan_iter(f"{QUEUE}:ws:*"):  # the lease and link state of a run before
            self.r.delete(key)
        zdir = os.path.join(self.tmp, f"zoom-{tag}")
        os.makedirs(zdir, exist_ok=True)
        z = StandIn(zdir).start()
        gw = None
        ws = []
        poller = None
        polling = threading.Event()
        samples = []  # (time.time(), rows) each time the writers' count changed
        maxlen = [0]
        try:
            ws = self.start_writers(db, nwriters, tag)
            port, admin = harness.free_port(), harness.free_port()
            src = {"provider": "zoom", "transport": "websocket",
                   "subscription_id": z.subscription_id, "client_id": z.client_id,
                   "client_secret": z.client_secret, "account_id": z.account_id,
                   "oauth_url": z.oauth_url, "ws_url": z.ws_url, "ca_file": z.ca_file}
            name = f"gateway-ws-{tag}"
            cfg = self.config(name, gateway={"listen": f"127.0.0.1:{port}",
                                             "admin_listen": f"127.0.0.1:{admin}"},
                              sources={WS_SOURCE: src})
            gw = self.daemon("gateway", name, cfg).start(wait_port=admin, timeout=20)
            if not z.wait_up(30):
                raise SystemExit(f"bench: (w) the gateway's link to the stand-in was not up "
                                 f"within 30 s; see {self.tmp}/{name}.log")
            redis_pid = self.redis_pid()

            def pids():
                return {"gateway": [gw.pid], "redis": [redis_pid],
                        "writers": [d.pid for d in ws], "postgres": self.pg_pids(),
                        "standin": [os.getpid()]}

            def poll():
                r = self.redis.client()
                rows = 0
                while polling.is_set():
                    tick = time.monotonic()
                    got = self.rows_inserted(ws) or rows  # the writers' count, not count(*)
                    if got != rows:
                        rows = got
                        samples.append((time.time(), rows))
                    maxlen[0] = max(maxlen[0], r.llen(QUEUE))
                    time.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))

            polling.set()
            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            say(f"(w) {nwriters} writer(s): the stand-in builds {n:,} events, then sends them "
                "as fast as it can on its one connection")
            z.bench_snapshot = lambda: self.cpu_snapshot(pids)
            cpu_before = self.cpu_snapshot(pids)
            z.send_burst(n, size=WS_BODY_BYTES, event=WS_EVENT, timeout=60 + n * 0.002)
            sent = z.sent
            deadline = time.monotonic() + a.drain_timeout
            last_change = time.monotonic()
            seen = 0
            while time.monotonic() < deadline:
                rows = samples[-1][1] if samples else 0
                if rows != seen:
                    seen, last_change = rows, time.monotonic()
                if rows >= n or time.monotonic() - last_change > 15:
                    break
                time.sleep(0.05)
            cpu1 = self.cpu_snapshot(pids)
            polling.clear()
            poller.join(5)
            m = harness.metrics(admin)
            messages = int(harness.metric(m, "hookpipe_gateway_ws_messages_total",
                                          source=WS_SOURCE))
            rejected = int(sum(v for k, v in m.items()
                               if k.startswith("hookpipe_gateway_ws_rejected_total{")
                               and f'source="{WS_SOURCE}"' in k))
            rows, keys = self.pgs.query(
                db, "SELECT count(*), count(DISTINCT event_key) FROM hookpipe.events "
                    "WHERE source = %s", (WS_SOURCE,))[0]
            dead = self.count_rows(db, "hookpipe.dead_letters")
            connections = len(z.intervals)
        finally:
            polling.clear()
            if poller is not None:
                poller.join(5)
            for d in ws:
                self.stop(d)
            if gw is not None:
                self.stop(gw)
            z.stop()
        taken = sum(1 for _, _, up in sent if up)
        if "t" not in first_send:  # the stand-in changed: from before it built the events
            self.notes.append("(w) the stand-in's send start was not seen: CPU counted from "
                              "before it built the events, time from its first send's log")
        cpu0 = first_send.get("cpu", cpu_before)
        t_first, t_sent = first_send.get("t", sent[0][0]), sent[-1][0]
        t_row = samples[-1][0] if samples else t_first
        cpu = {}
        for name, now in cpu1[0].items():
            was = cpu0[0].get(name, {})
            cpu[name] = sum(t - was.get(p, 0) for p, t in now.items())
        if rows < n:
            self.notes.append(f"(w) {nwriters} writer(s): {rows:,} of {n:,} rows")
        return {"events": n, "sent": len(sent), "taken": taken, "rows": rows, "keys": keys,
                "dead": dead, "messages": messages, "rejected": rejected,
                "connections": connections, "send_seconds": t_sent - t_first,
                "sent_rate": len(sent) / max(t_sent - t_first, 1e-9),
                "seconds": t_row - t_first, "rate": rows / max(t_row - t_first, 1e-9),
                "drain_after_send": t_row - t_sent, "max_llen": maxlen[0], "cpu": cpu,
                "busy": cpu1[1] - cpu0[1]}

    def bench_ws(self):
        res = {}
        for w in self.a.ws_writers:
            res[f"w{w}"] = self.ws_run(w)
        self.results["w"] = res

    # ------------------------------------------------------------------ (o) open loop
    def openloop(self, port, reqs, rate, seconds, tls, new_conn):
        """One hookpipe-openloop run (bench/openloop.c): the dict of its --json report."""
        exe = os.path.join(self.a.build, "hookpipe-openloop")
        if not os.access(exe, os.X_OK):
            raise SystemExit(f"bench: {exe} is not built (cmake --build ... --target "
                             "hookpipe-openloop)")
        argv = [exe, "--port", str(port), "--rate", "%.0f" % rate, "--duration", str(seconds),
                "--requests", reqs, "--json", "--timeout", "10"]
        argv += ["--tls"] if tls else []
        # a new connection per request resumes the TLS session of the one before, as wrk
        # does in (h), whose maximum the rates are a share of
        argv += (["--new-connection-per-request", "--tls-resume"] if new_conn
                 else ["--connections", str(self.a.o_conns)])
        out = harness.run_process(argv, capture_output=True, text=True, timeout=seconds + 60)
        with open(self.wrk_log, "a") as f:
            f.write(" ".join(argv) + "\n" + out.stdout + out.stderr + "\n")
        if out.returncode != 0:
            raise SystemExit(f"bench: hookpipe-openloop failed (see {self.wrk_log}):\n"
                             f"{out.stdout}{out.stderr}")
        return json.loads(out.stdout)

    def openloop_max(self, mode, port, tls, close):
        """The maximum acks/s of mode: this run's (a) or (h) ECDSA figure when it ran, else a
        short wrk run (1 s warm-up, 3 s, 64 connections) against this gateway, as in (a)."""
        if mode == "plain_keepalive" and "a" in self.results:
            return self.results["a"]["gateway"]["rps"], "part (a) of this run"
        key = "ecdsa_close" if close else "ecdsa_keepalive"
        if tls and key in self.results.get("h", {}):
            return self.results["h"][key]["gateway"]["rps"], f"part (h) {key} of this run"
        pool = os.path.join(self.tmp, f"pool-o-{mode}.lua")
        zoomgen.write_lua_pool(pool, self.a.pool, SECRET, f"/hooks/{SOURCE}", close=close)
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/"
        run_wrk(url, pool, 1, self.a.conns, 1, self.wrk_log)
        res = run_wrk(url, pool, 3, self.a.conns, 1, self.wrk_log)
        self.r.unlink(QUEUE)
        return res["rps"], f"wrk -t1 -c{self.a.conns}, 3 s"

    def e2e_max(self):
        """The end-to-end maximum (rows/s stored while wrk sends as fast as it can, 2 writers):
        this run's part (c) when it ran, else the one in bench/results.json."""
        if "c" in self.results:
            return self.results["c"]["rate"], "part (c) of this run"
        try:
            with open(os.path.join(self.a.source, "bench", "results.json")) as f:
                bench = json.load(f)["bench"]
            fig = {x["id"]: x["value"] for x in bench["figures"]}
            return fig["c.rate"], f"part (c) of bench/results.json ({bench['date']})"
        except (OSError, KeyError, ValueError) as e:
            raise SystemExit(f"bench: (o) plain_keepalive_e2e needs part (c)'s rate: run c too "
                             f"({e})")

    def wait_drained(self, ws, stored, timeout=120):
        """Until the writers ws have stored `stored` rows (rows_inserted) and the queue is
        empty; returns the rows they stored."""
        deadline = time.monotonic() + timeout
        rows = 0
        while time.monotonic() < deadline:
            rows = self.rows_inserted(ws) or rows
            if rows >= stored and self.r.llen(QUEUE) == 0:
                break
            time.sleep(0.1)
        return rows

    def bench_openloop(self):
        """(o): latency at a steady rate, open loop. Per mode (plain keep-alive, HTTPS
        keep-alive, HTTPS with a new connection per request; ECDSA P-256) a gateway with the
        shipped defaults (nothing set but where it listens and its certificate), Redis only:
        its maximum acks/s in that mode, then hookpipe-openloop at 25, 50 and 75 % of it for
        o_seconds each (a 1 s warm-up at 25 % first), every request signed right before.
        Mode plain_keepalive_e2e: the same over plain keep-alive with two writers storing
        everything into a fresh database, at shares of the end-to-end maximum (part (c));
        each rate's queue is drained before the next. With HOOKPIPE_BENCH_GATEWAY_SCHED the
        gateway's threads get that scheduling (a labelled comparison: sched_spec)."""
        a = self.a
        out = {"load_average_before": results.load_average(),
               "busy_before": busy_processes(), "runs": {}}
        os.makedirs(os.path.join(self.tmp, "ecdsa-o"), exist_ok=True)
        cert = harness.tls_cert(os.path.join(self.tmp, "ecdsa-o"), kind="ecdsa")
        os.chmod(cert[1], 0o600)
        saved, self.gw_hwm_kb = self.gw_hwm_kb, 0  # (d) stays the other parts' figure
        for mode, tls, close in (("plain_keepalive", False, False),
                                 ("https_keepalive", True, False),
                                 ("https_new", True, True),
                                 ("plain_keepalive_e2e", False, False)):
            if mode not in a.o_modes:
                continue
            e2e = mode.endswith("_e2e")
            ws = []
            if e2e:
                self.fresh_db("bench_o")
                ws = self.start_writers("bench_o", a.e2e_writers, "o")
            d, port, admin = self.start_gateway(None, tls=cert if tls else None,
                                                name=f"gateway-o-{mode}", bench_keys=False)
            apply_sched(d.pid, a.gateway_sched)
            stored = 0
            try:
                self.r.unlink(QUEUE)
                top, how = (self.e2e_max() if e2e
                            else self.openloop_max(mode, port, tls, close))
                say(f"(o) {mode}: maximum {top:,.0f} acks/s ({how})")
                reqs = os.path.join(self.tmp, f"requests-o-{mode}.bin")
                first = [10_000_000]  # e2e: every request distinct, so every one is a new row

                def requests_for(rate, seconds):
                    if not e2e:
                        return reqs
                    n = int(rate * seconds) + 16
                    zoomgen.write_requests(reqs, n, SECRET, f"/hooks/{SOURCE}", first=first[0])
                    first[0] += n
                    return reqs

                if not e2e:
                    zoomgen.write_requests(reqs, a.pool, SECRET, f"/hooks/{SOURCE}",
                                           close=close)
                warm = self.openloop(port, requests_for(top * 0.25, 1), top * 0.25, 1, tls,
                                     close)  # warm-up
                if e2e:
                    stored = self.wait_drained(ws, warm["status_200"])
                else:
                    self.r.unlink(QUEUE)
                runs = {"max": top, "max_from": how}
                conns = ("a new connection each" if close
                         else f"{a.o_conns} keep-alive connections")
                for pct in a.o_percents:
                    rate = top * pct / 100
                    say(f"(o) {mode}: {pct} % = {rate:,.0f} req/s for {a.o_seconds} s, open "
                        f"loop ({conns})")
                    before = gateway_counts(admin)
                    forks = self.redis_forks()
                    delayed = self.redis_delayed_fsyncs()
                    r = self.openloop(port, requests_for(rate, a.o_seconds), rate, a.o_seconds,
                                      tls, close)
                    after = gateway_counts(admin)
                    r["gw_200"], r["gw_non200"] = after[0] - before[0], after[1] - before[1]
                    r["aof_rewrites"] = self.redis_forks() - forks
                    r["aof_delayed_fsyncs"] = self.redis_delayed_fsyncs() - delayed
                    r["percent"] = pct
                    runs[f"r{pct}"] = r
                    if e2e:  # every row stored before the next rate
                        was, stored = stored, self.wait_drained(ws, stored + r["status_200"])
                        r["rows_stored"] = stored - was
                    else:
                        self.r.unlink(QUEUE)
                    time.sleep(0.5)
                out["runs"][mode] = runs
            finally:
                self.stop(d)
                for w in ws:
                    self.stop(w)
        out["gw_hwm_kb"], self.gw_hwm_kb = self.gw_hwm_kb, saved
        out["load_average_after"] = results.load_average()
        out["busy_after"] = busy_processes()
        self.results["o"] = out

    # ------------------------------------------------------------------ run
    def run(self):
        try:
            if "a" in self.a.parts:
                self.bench_ack()
            if "h" in self.a.parts:
                self.bench_tls()
            if "b" in self.a.parts:
                self.bench_drain()
            if "c" in self.a.parts:
                self.bench_e2e()
            if "w" in self.a.parts:
                self.bench_ws()
            if "s" in self.a.parts:
                self.bench_standard()
            if "o" in self.a.parts:
                self.bench_openloop()
            self.results["gw_hwm_kb"] = self.gw_hwm_kb
            self.results["writer_hwm_kb"] = self.writer_hwm_kb
        finally:
            harness.cleanup_all()
        return self.results


# ---------------------------------------------------------------------- figures
def figures(a, res):
    """The results as FIGUREs (bench/results.py): every number RESULTS.md shows, derived ones
    (ratios, per-delivery and per-event costs) computed here from the unrounded measurements,
    with their targets and whether each was met."""
    F = results.figure
    out = []

    def ms(us):
        return us / 1000

    if "a" in res:
        r = res["a"]
        g, n = r["gateway"], r["nginx"]
        default = {"workers": "default"}
        out += [
            F("a.gateway.acks", g["rps"], "req/s", default),
            F("a.gateway.p50", ms(g["p50_us"]), "ms", default),
            F("a.gateway.p99", ms(g["p99_us"]), "ms", default, "p99 <= 2 ms",
              g["p99_us"] <= 2000),
            F("a.gateway.answers_200", g["gw_200"], "count", default),
            F("a.gateway.answers_other", g["gw_non200"], "count", default, "other = 0",
              g["gw_non200"] == 0 and g["gw_200"] > 0),
            F("a.gateway.queued", g["queued"], "count", default, "= 200s",
              g["queued"] == g["gw_200"]),
            F("a.gateway.aof_rewrites", g["aof_rewrites"], "count", default, "(info)"),
            F("a.gateway.deliveries_per_lpush", g["gw_200"] / max(g["lpushes"], 1),
              "deliveries", default, "(info)"),
            F("a.gateway.redis_cpu_per_delivery", g["redis_cpu_s"] * 1e6 / max(g["gw_200"], 1),
              "µs", default, "(info)"),
            F("a.nginx.rps", n["rps"], "req/s"),
            F("a.nginx.p50", ms(n["p50_us"]), "ms"),
            F("a.nginx.p99", ms(n["p99_us"]), "ms"),
            F("a.ratio", r["ratio"], "ratio", None, ">= 0.8", r["ratio"] >= 0.8),
        ]
        for k in sorted(x for x in r if x.startswith("gateway_w")):
            t, tuned = r[k], {"workers": int(k[9:])}
            out += [F(f"a.{k}.acks", t["rps"], "req/s", tuned),
                    F(f"a.{k}.p99", ms(t["p99_us"]), "ms", tuned),
                    F(f"a.{k}.ratio", t["rps"] / n["rps"], "ratio", tuned, "(info)")]
    for k, r in sorted(res.get("h", {}).items()):
        kind, mode = k.split("_")
        g, n = r["gateway"], r["nginx"]
        how = {"certificate": {"rsa": "RSA 2048", "ecdsa": "ECDSA P-256"}[kind],
               "connection": "keep-alive" if mode == "keepalive" else "new per request"}
        if mode == "keepalive":
            target, ok = ">= 0.8", r["ratio"] >= 0.8
        else:
            target = ">= 0.95, p99 <= 2x nginx"
            ok = r["ratio"] >= 0.95 and g["p99_us"] <= 2 * n["p99_us"]
        out += [F(f"h.{k}.gateway.rps", g["rps"], "req/s", how),
                F(f"h.{k}.nginx.rps", n["rps"], "req/s", how),
                F(f"h.{k}.gateway.p99", ms(g["p99_us"]), "ms", how),
                F(f"h.{k}.nginx.p99", ms(n["p99_us"]), "ms", how),
                F(f"h.{k}.ratio", r["ratio"], "ratio", how, target, ok)]
    if "b" in res:
        r = res["b"]
        for w in ("w1", "w2"):
            x = r[w]
            out.append(F(f"b.drain_{w}.rate", x["rate"], "rows/s", {"writers": int(w[1])},
                         f"all {a.envelopes:,} rows",
                         x["rows"] == a.envelopes and x["dead"] == 0))
        out += [F("b.copy.rate", r["copy"]["rate"], "rows/s"),
                F("b.ratio_w1", r["ratio1"], "ratio", {"writers": 1}, ">= 0.9",
                  r["ratio1"] >= 0.9),
                F("b.ratio_w2", r["ratio2"], "ratio", {"writers": 2}, "(info)")]
    if "c" in res:
        r = res["c"]
        w = r["wrk"]
        out += [
            F("c.rate", r["rate"], "events/s"),
            F("c.copy.rate", r["copy"]["rate"], "rows/s"),
            F("c.ratio", r["ratio"], "ratio", None, ">= 0.7", r["ratio"] >= 0.7),
            F("c.gateway.acks", w["rps"], "req/s"),
            F("c.gateway.p50", ms(w["p50_us"]), "ms"),
            F("c.gateway.p99", ms(w["p99_us"]), "ms", None, "p99 <= 5 ms", w["p99_us"] <= 5000),
            F("c.aof_rewrites", r["aof_rewrites"], "count", None, ">= 1", r["aof_rewrites"] >= 1),
            F("c.requests_sent_twice", int(w.get("wraps", 0)), "count", None, "0",
              w.get("wraps", 0) == 0),
            F("c.max_queue_length", r["max_llen"], "count"),
            F("c.drain_after_wrk", r["drain_after_wrk"], "s"),
            F("c.answers_200", r["ok"], "count"),
            F("c.answers_other", r["other"], "count"),
            F("c.rows", r["rows"], "count", None, "rows = 200s",
              r["rows"] == r["ok"] and r["ok"] > 0),
            F("c.dead_letters", r["dead"], "count"),
        ]
        # where the CPU went, from wrk's start to the last row: seconds and µs per stored event
        n = max(r["rows"], 1)
        total = sum(r["cpu"].get(k, 0.0) for k in plot.CPU_PARTS)
        spent = dict(r["cpu"], sum=total, rest=max(r["busy"] - total, 0.0), machine=r["busy"])
        for key in plot.CPU_PARTS + ("sum", "rest", "machine"):
            out += [F(f"c.cpu.{key}", spent.get(key, 0.0), "s"),
                    F(f"c.cpu_per_event.{key}", spent.get(key, 0.0) * 1e6 / n, "µs")]
        cores = os.cpu_count()
        bound = cores * n / r["busy"] if r["busy"] > 0 else 0
        out += [F("c.seconds", r["seconds"], "s"),
                F("c.cpu.available", cores * r["seconds"], "s"),
                F("c.cpu_bound", bound, "events/s"),
                F("c.cpu_bound_fraction", r["rate"] / bound if bound else 0, "ratio")]
    for k, x in sorted(res.get("w", {}).items()):
        # one Zoom WebSocket subscription (one connection) end to end, per writers count
        how = {"writers": int(k[1:]), "connections": 1}
        n = x["events"]
        ok = (x["taken"] == n and x["rows"] == n and x["keys"] == n and x["dead"] == 0
              and x["rejected"] == 0 and x["messages"] == n)
        out += [
            F(f"w.{k}.rate", x["rate"], "events/s", how),
            F(f"w.{k}.sent_rate", x["sent_rate"], "events/s", how),
            F(f"w.{k}.sent", x["taken"], "count", how),
            F(f"w.{k}.rows", x["rows"], "count", how, f"rows = sent = {n:,}", ok),
            F(f"w.{k}.dead_letters", x["dead"], "count", how),
            F(f"w.{k}.rejected", x["rejected"], "count", how),
            F(f"w.{k}.connections", x["connections"], "count", how),
            F(f"w.{k}.seconds", x["seconds"], "s", how),
            F(f"w.{k}.drain_after_send", x["drain_after_send"], "s", how),
            F(f"w.{k}.max_queue_length", x["max_llen"], "count", how),
        ]
        stored = max(x["rows"], 1)
        spent = dict(x["cpu"], machine=x["busy"])
        for part in plot.WS_CPU_PARTS:
            out.append(F(f"w.{k}.cpu_per_event.{part}", spent.get(part, 0.0) * 1e6 / stored,
                         "µs", how))
    if "c" in res and res.get("w"):
        # like with like: the (w) run with as many writers as (c) had, else the most writers
        same = f"w{a.e2e_writers}"
        k = same if same in res["w"] else max(res["w"], key=lambda x: int(x[1:]))
        out.append(F("w.ratio", res["w"][k]["rate"] / res["c"]["rate"], "ratio",
                     {"writers": int(k[1:]), "c_writers": a.e2e_writers}, "(info)"))
    if res.get("gw_hwm_kb"):
        out.append(F("d.gateway_peak_rss", res["gw_hwm_kb"] / 1024, "MB", None, "<= 32 MB",
                     res["gw_hwm_kb"] <= 32 * 1024))
    if res.get("writer_hwm_kb"):
        out.append(F("d.writer_peak_rss", res["writer_hwm_kb"] / 1024, "MB", None, "<= 64 MB",
                     res["writer_hwm_kb"] <= 64 * 1024))
    return out


def standard_figures(r):
    """Part (s)'s FIGUREs: the two sources of one gateway, standard and zoom, and the ratio."""
    F = results.figure
    out = []
    for prov in ("standard", "zoom"):
        g, how = r[prov], {"provider": prov}
        out += [
            F(f"s.{prov}.acks", g["rps"], "req/s", how),
            F(f"s.{prov}.p50", g["p50_us"] / 1000, "ms", how),
            F(f"s.{prov}.p99", g["p99_us"] / 1000, "ms", how),
            F(f"s.{prov}.answers_200", g["gw_200"], "count", how),
            F(f"s.{prov}.answers_other", g["gw_non200"], "count", how, "other = 0",
              g["gw_non200"] == 0 and g["gw_200"] > 0),
            F(f"s.{prov}.queued", g["queued"], "count", how, "= 200s",
              g["queued"] == g["gw_200"]),
            F(f"s.{prov}.aof_rewrites", g["aof_rewrites"], "count", how, "(info)"),
            F(f"s.{prov}.deliveries_per_lpush", g["gw_200"] / max(g["lpushes"], 1),
              "deliveries", how, "(info)"),
            F(f"s.{prov}.request_bytes", g["request_bytes"], "bytes", how),
            F(f"s.{prov}.body_bytes", g["body_bytes"], "bytes", how),
        ]
    out.append(F("s.ratio", r["ratio"], "ratio", None, "(info)"))
    if r.get("gw_hwm_kb"):
        out.append(F("s.gateway_peak_rss", r["gw_hwm_kb"] / 1024, "MB", None, "(info)"))
    return out


def openloop_figures(r):
    """Part (o)'s FIGUREs: per mode its maximum, and per rate the answers, the latency
    percentiles from the scheduled send time and the generator's own lateness. Issue 23's
    target (p99 <= 1 ms, p99.9 <= 5 ms at 50 % of the maximum) on the keep-alive modes."""
    F = results.figure
    out = []
    for mode in plot.O_MODES:
        if mode not in r["runs"]:
            continue
        runs = r["runs"][mode]
        out.append(F(f"o.{mode}.max", runs["max"], "req/s", {"measured_by": runs["max_from"]}))
        for key in sorted((k for k in runs if k.startswith("r")), key=lambda k: int(k[1:])):
            x, pct = runs[key], int(key[1:])
            how = {"percent_of_max": pct, "connections": x["connections"],
                   "mode": x["mode"], "tls": x["tls"]}
            lat, late = x["latency_ms"], x["lateness_ms"]
            p = f"o.{mode}.{key}"
            target = pct == 50 and mode in ("plain_keepalive", "https_keepalive")
            e2e_target = pct == 50 and mode == "plain_keepalive_e2e"
            out += [
                F(f"{p}.rate", x["rate"], "req/s", how),
                F(f"{p}.answer_rate", x["answer_rate"], "req/s", how),
                F(f"{p}.count", x["count"], "count", how),
                F(f"{p}.answers_other", x["non_200"] + x["errors"] + x["unanswered"], "count",
                  how, "0", x["non_200"] + x["errors"] + x["unanswered"] == 0),
                F(f"{p}.p50", lat["p50"], "ms", how),
                F(f"{p}.p90", lat["p90"], "ms", how),
                F(f"{p}.p99", lat["p99"], "ms", how,
                  *(("p99 <= 1 ms", lat["p99"] <= 1) if target else
                    ("p99 <= 2 ms", lat["p99"] <= 2) if e2e_target else ())),
                F(f"{p}.p999", lat["p99.9"], "ms", how, *(("p99.9 <= 5 ms", lat["p99.9"] <= 5)
                                                          if target else ())),
                F(f"{p}.max", lat["max"], "ms", how),
                F(f"{p}.late_p50", late["p50"], "ms", how),
                F(f"{p}.late_p99", late["p99"], "ms", how),
                F(f"{p}.late_p999", late["p99.9"], "ms", how),
                F(f"{p}.late_max", late["max"], "ms", how),
                F(f"{p}.generator_cpu", x["cpu_s"] / max(x["elapsed_s"], 1e-9), "ratio", how),
                F(f"{p}.aof_rewrites", x["aof_rewrites"], "count", how, "(info)"),
                F(f"{p}.aof_delayed_fsyncs", x["aof_delayed_fsyncs"], "count", how, "(info)"),
            ]
            if "rows_stored" in x:
                out.append(F(f"{p}.rows_stored", x["rows_stored"], "count", how,
                             "every 200 stored", x["rows_stored"] >= x["status_200"]))
    if r.get("gw_hwm_kb"):
        out.append(F("o.gateway_peak_rss", r["gw_hwm_kb"] / 1024, "MB", None, "(info)"))
    return out


def sched_spec(spec):
    """HOOKPIPE_BENCH_GATEWAY_SCHED's value as [(what, value)]: comma-separated nice:N (the
    nice value), cpus:A-B or cpus:A+B (affinity), fifo:P or rr:P (real-time priority).
    Empty: []."""
    out = []
    for item in (x.strip() for x in (spec or "").split(",")):
        if not item:
            continue
        what, _, value = item.partition(":")
        if what not in ("nice", "cpus", "fifo", "rr") or not value:
            raise SystemExit(f"bench: HOOKPIPE_BENCH_GATEWAY_SCHED: bad item {item!r}")
        out.append((what, value))
    return out


def apply_sched(pid, spec):
    """Gives every thread of pid the scheduling in spec (sched_spec): a labelled option for
    operators, never a hidden setting of the shipped-defaults figures."""
    for tid in (int(t) for t in os.listdir(f"/proc/{pid}/task")):
        for what, value in spec:
            if what == "nice":
                os.setpriority(os.PRIO_PROCESS, tid, int(value))
            elif what == "cpus":
                cpus = set()
                for part in value.split("+"):
                    lo, _, hi = part.partition("-")
                    cpus.update(range(int(lo), int(hi or lo) + 1))
                os.sched_setaffinity(tid, cpus)
            else:
                policy = os.SCHED_FIFO if what == "fifo" else os.SCHED_RR
                os.sched_setscheduler(tid, policy, os.sched_param(int(value)))


def busy_processes(seconds=1.0):
    """Processes that used >= 5 % of a core over the last second (other load on the box)."""

    def snap():
        out = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
                with open(f"/proc/{pid}/comm") as f:
                    cmd = cmd or f.read().strip()
            except OSError:
                continue
            cpu = harness.cpu_seconds(pid)
            if cpu is not None:
                out[int(pid)] = (cpu, cmd[:100])
        return out

    first = snap()
    time.sleep(seconds)
    second = snap()
    busy = []
    for pid, (cpu, cmd) in second.items():
        if pid in first and pid != os.getpid():
            pct = 100.0 * (cpu - first[pid][0]) / seconds
            if pct >= 5.0:
                busy.append((pct, pid, cmd))
    busy.sort(reverse=True)
    return [{"cpu_percent": round(pct), "pid": pid, "command": cmd}
            for pct, pid, cmd in busy[:12]]


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
    ap.add_argument("--parts", default="ahbcswo")
    ap.add_argument("--tuned-workers", default="2",
                    help="comma-separated workers values run beside the default in (a)")
    ap.add_argument("--results", help="write the bench section of this results.json")
    a = ap.parse_args()
    a.conns = 64
    a.tuned_workers = [int(x) for x in a.tuned_workers.split(",") if x.strip()]
    a.e2e_writers = 2
    a.e2e_rate_cap = 40000  # pre-signed requests per second of (c): more than it can take
    if a.quick:
        a.warmup, a.ack_seconds, a.e2e_seconds, a.envelopes, a.pool = 1, 3, 8, 20000, 20000
    else:
        a.warmup, a.ack_seconds, a.e2e_seconds, a.envelopes, a.pool = 2, 10, 30, 200000, 50000
    a.ws_events = 20000 if a.quick else 200000  # (w): events the stand-in sends per run
    a.ws_writers = [1, 2]  # (w): writers counts measured (1; 2 beside it, labelled, as (c))
    a.drain_timeout = 300
    a.o_seconds = 5 if a.quick else 15  # (o): seconds per rate
    a.o_percents = [25, 50, 75]  # (o): rates, in % of the mode's maximum
    a.o_conns = 16  # (o): keep-alive connections sharing the schedule
    a.o_modes = [m for m in os.environ.get("HOOKPIPE_BENCH_O_MODES", ",".join(plot.O_MODES))
                 .split(",") if m]
    a.gateway_sched = sched_spec(os.environ.get("HOOKPIPE_BENCH_GATEWAY_SCHED"))
    section = results.run_facts(a.source, a.quick)
    bench_parts = a.parts.replace("s", "").replace("o", "")  # (s), (o): sections of their own
    section["parts"] = bench_parts
    section["machine"] = results.machine(a.pg_bin)
    section["settings"] = {
        "build_dir": os.path.relpath(os.path.abspath(a.build), os.path.abspath(a.source)),
        "build_type": harness.build_option("CMAKE_BUILD_TYPE", "?", build_dir=a.build),
        "connections": a.conns, "wrk_threads": 1, "warmup_s": a.warmup, "ack_s": a.ack_seconds,
        "pool_requests": a.pool, "tuned_workers": a.tuned_workers, "envelopes": a.envelopes,
        "writer_batch_size": 1000, "writer_flush_interval_ms": 100, "e2e_s": a.e2e_seconds,
        "e2e_requests": a.e2e_seconds * a.e2e_rate_cap, "e2e_writers": a.e2e_writers,
        "ws_events": a.ws_events, "ws_writers": a.ws_writers, "ws_body_bytes": WS_BODY_BYTES,
    }
    s_section = dict(results.run_facts(a.source, a.quick), parts="s",
                     machine=section["machine"], settings={
                         k: section["settings"][k] for k in (
                             "build_dir", "build_type", "connections", "wrk_threads",
                             "warmup_s", "ack_s", "pool_requests")})
    o_section = dict(results.run_facts(a.source, a.quick), parts="o",
                     machine=section["machine"], settings={
                         "build_dir": section["settings"]["build_dir"],
                         "build_type": section["settings"]["build_type"],
                         "seconds": a.o_seconds, "percents": a.o_percents,
                         "connections": a.o_conns, "warmup_s": 1,
                         "certificate": "ECDSA P-256", "max_wrk_s": 3,
                         "pool_requests": a.pool, "new_connection_tls_resume": True,
                         "e2e_writers": a.e2e_writers,
                         "gateway_sched": os.environ.get("HOOKPIPE_BENCH_GATEWAY_SCHED", ""),
                         "redis_args": os.environ.get("HOOKPIPE_BENCH_REDIS_ARGS", "")})
    if bench_parts:
        section["load_average_before"] = results.load_average()
        section["busy_before"] = busy_processes()
    b = Bench(a)
    res = b.run()
    if bench_parts:
        section["load_average_after"] = results.load_average()
        section["busy_after"] = busy_processes()
        section["figures"] = figures(a, res)
        section["notes"] = b.notes
        print()
        print(plot.figures_md(section))
        print()
        if section["busy_before"]:
            print("other processes using CPU at the start (figures are noisy):\n"
                  + plot.busy_md(section["busy_before"]))
        for n in b.notes:
            print("note: " + n)
        if a.results:
            results.save_section(a.results, "bench", section)
            say(f"wrote the bench section of {a.results} (bench/plot.py renders RESULTS.md "
                "from it)")
    if "s" in a.parts:
        r = res["s"]
        for k in ("load_average_before", "busy_before", "load_average_after", "busy_after"):
            s_section[k] = r[k]
        s_section["figures"] = standard_figures(r)
        s_section["notes"] = b.s_notes
        print()
        print(plot.figures_md(s_section, plot.STANDARD_ROWS))
        print()
        if s_section["busy_before"]:
            print("other processes using CPU at the start of (s) (figures are noisy):\n"
                  + plot.busy_md(s_section["busy_before"]))
        if a.results:
            results.save_section(a.results, "standard", s_section)
            say(f"wrote the standard section (part s) of {a.results}")
    if "o" in a.parts:
        r = res["o"]
        for k in ("load_average_before", "busy_before", "load_average_after", "busy_after"):
            o_section[k] = r[k]
        o_section["figures"] = openloop_figures(r)
        o_section["notes"] = []
        print()
        print("\n".join(plot.openloop_table(o_section)))
        print()
        if o_section["busy_before"]:
            print("other processes using CPU at the start of (o) (figures are noisy):\n"
                  + plot.busy_md(o_section["busy_before"]))
        if a.results:
            results.save_section(a.results, "openloop", o_section)
            say(f"wrote the openloop section (part o) of {a.results}")


if __name__ == "__main__":
    main()

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

import resource

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


HZ = os.sysconf("SC_CLK_TCK")


def proc_stat(pid):
    """(parent pid, CPU ticks in user + system, comm) from /proc/PID/stat; None once gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            st = f.read()
    except OSError:
        return None
    fields = st[st.rindex(b")") + 2:].split()
    comm = st[st.index(b"(") + 1:st.rindex(b")")].decode(errors="replace")
    return int(fields[1]), int(fields[11]) + int(fields[12]), comm


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
    lines += section("gateway", {k: v for k, v in gateway.items() if v is not None})
    lines += section("redis", {"url": redis_url, "queue": QUEUE})
    lines += section("postgres", {"conninfo": conninfo})
    lines += section("writer", writer)
    lines += section(f"source.{SOURCE}", {"provider": "zoom", "secret": SECRET})
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def gateway_pushes(admin_port):
    """LPUSH commands the gateway sent so far (hookpipe_gateway_redis_pushes_total)."""
    _, body = http_get(admin_port, "/metrics")
    m = re.search(r"^hookpipe_gateway_redis_pushes_total (\S+)$", body.decode(), re.M)
    return int(float(m.group(1))) if m else 0


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
        self.gw_hwm_kb = 0
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
    def start_gateway(self, workers=None, tls=None, name="gateway"):
        """A gateway with the shipped defaults but for the bench's own keys (workers: the
        default unless given; tls: (cert, key) files). Returns (process, port, admin port)."""
        port, admin = free_port(), free_port()
        gw = {"listen": f"127.0.0.1:{port}", "admin_listen": f"127.0.0.1:{admin}",
              "workers": workers, "timestamp_tolerance_s": 3600,
              "max_queue_length": 100000000, "max_connections": 10000}
        if tls is not None:
            gw["tls_cert"], gw["tls_key"] = tls
        cfg = write_config(os.path.join(self.tmp, f"{name}.ini"), gw,
                           f"redis://127.0.0.1:{self.a.redis_port}/0", self.conninfo("postgres"),
                           {"admin_listen": ""})
        proc = start([os.path.join(self.a.build, "hookpipe-gateway"), "-c", cfg],
                     os.path.join(self.tmp, f"{name}.log"))

        def up():
            if proc.poll() is not None:
                raise SystemExit(f"bench: gateway exited; see {self.tmp}/{name}.log")
            return http_get(admin, "/healthz")[0] == 200

        wait_for(up, 20, "the gateway")
        return proc, port, admin

    def stop_gateway(self, proc):
        if proc.poll() is None:
            self.gw_hwm_kb = max(self.gw_hwm_kb, vm_hwm_kb(proc.pid))
        stop(proc)

    def ack_run(self, url, pool, admin=None):
        """Warm-up, then the timed wrk run; with admin (a gateway), its own counts and what
        reached Redis."""
        a = self.a
        run_wrk(url, pool, a.warmup, a.conns, 1, self.wrk_log)
        if admin is None:
            return run_wrk(url, pool, a.ack_seconds, a.conns, 1, self.wrk_log)
        self.r.delete(QUEUE)
        before = gateway_counts(admin)
        pushes = gateway_pushes(admin)
        forks = self.redis_forks()
        redis_cpu = self.redis_cpu_s()
        res = run_wrk(url, pool, a.ack_seconds, a.conns, 1, self.wrk_log)
        after = gateway_counts(admin)
        res["lpushes"] = gateway_pushes(admin) - pushes
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
        return proc_stat(self.redis_pid())[1] / HZ

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
            proc, port, admin = self.start_gateway(workers, name=name)
            say(f"(a) {name} (workers = {workers if workers is not None else 'default'}): "
                f"warm-up {a.warmup}s, then {a.ack_seconds}s, wrk -t1 -c{a.conns}")
            res[name] = self.ack_run(f"http://127.0.0.1:{port}/", pool, admin)
            self.stop_gateway(proc)
        say(f"(a) nginx: warm-up {a.warmup}s, then {a.ack_seconds}s, wrk -t1 -c{a.conns}")
        res["nginx"] = self.ack_run(f"http://127.0.0.1:{a.nginx_port}/hooks/{SOURCE}", pool)
        res["ratio"] = res["gateway"]["rps"] / res["nginx"]["rps"]
        self.results["a"] = res

    # ------------------------------------------------------------------ (h) HTTPS
    def make_certs(self):
        """A self-signed certificate for 127.0.0.1 of each kind: {kind: (cert, key)}."""
        out = {}
        for kind, args in (("rsa", ["-newkey", "rsa:2048"]),
                           ("ecdsa", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])):
            cert, key = (os.path.join(self.tmp, f"{kind}.{x}") for x in ("crt", "key"))
            subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2", *args,
                            "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, capture_output=True)
            os.chmod(key, 0o600)
            out[kind] = (cert, key)
        return out

    def start_tls_nginx(self, certs):
        """nginx answering 200 over TLS, one port per certificate kind: {kind: port}."""
        d = os.path.join(self.tmp, "nginx-tls")
        os.makedirs(os.path.join(d, "logs"), exist_ok=True)
        ports = {k: free_port() for k in certs}
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
        proc = start(["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"), "-g", "daemon off;"],
                     os.path.join(d, "logs", "stdout.log"))

        def up():
            if proc.poll() is not None:
                raise SystemExit(f"bench: TLS nginx exited; see {d}/logs")
            for p in ports.values():
                socket.create_connection(("127.0.0.1", p), timeout=1).close()
            return True

        wait_for(up, 20, "TLS nginx")
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
                proc, port, admin = self.start_gateway(None, tls=files, name=f"gateway-{kind}")
                for mode in ("keepalive", "close"):
                    say(f"(h) HTTPS {kind} {mode}: gateway then nginx, {a.ack_seconds}s each")
                    g = self.ack_run(f"https://127.0.0.1:{port}/", pools[mode], admin)
                    n = self.ack_run(f"https://127.0.0.1:{nports[kind]}/hooks/{SOURCE}",
                                     pools[mode])
                    res[f"{kind}_{mode}"] = {"gateway": g, "nginx": n,
                                             "ratio": g["rps"] / n["rps"]}
                self.stop_gateway(proc)
        finally:
            stop(nginx)
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
        """psql \\copy of n rows like the writer's into a fresh, migrated hookpipe.events."""
        db = "bench_copy"
        self.fresh_db(db)
        sql_dir = os.path.join(self.a.source, "sql")
        for f in sorted(os.listdir(sql_dir)):
            if f.endswith(".sql"):
                subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                                str(self.a.pg_port), "-U", "hookpipe", "-d", db, "-f",
                                os.path.join(sql_dir, f)], check=True, capture_output=True)
        # the partitions a writer's maintenance makes at start (the default interval, month)
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                        str(self.a.pg_port), "-U", "hookpipe", "-d", db, "-c",
                        "SELECT hookpipe.maintain_premake('month', 2)"], check=True,
                       capture_output=True)
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
                key = hashlib.sha256(b"hookpipe-event-key-v2\0bench\0" + body).hexdigest()
                ts = iso((ts_ms + i % 1000) / 1000.0)
                f.write(b"\t".join([
                    SOURCE.encode(), b"meeting.participant_joined", ts,
                    b"AAAAAABBBB%04d" % (i % 10000), iso((now_us + i) / 1e6),
                    b"\\\\x" + key.encode(), esc(body), b"bench-%d" % i, b"\\N", ts, esc(body),
                ]) + b"\n")
        # the columns the writer fills (writer/row.h ROW_EVENTS_COLUMNS): payload and body
        cols = ("source,event,event_ts,account_id,received_at,event_key,payload,delivery_id,"
                "request_id,event_time,body")
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
    def cpu_snapshot(self, pids):
        """{name: {pid: CPU ticks (user + system)}} of each process group, and the machine's
        busy and total CPU seconds (/proc/stat)."""
        out = {}
        for name, group in pids().items():
            out[name] = {p: st[1] for p in group if (st := proc_stat(p)) is not None}
        with open("/proc/stat") as f:
            cpu = [int(x) for x in f.readline().split()[1:]]
        idle = cpu[3] + cpu[4]
        return out, (sum(cpu[:8]) - idle) / HZ, sum(cpu[:8]) / HZ

    def pg_pids(self):
        """The postmaster and all its children (backends, walwriter, checkpointer...)."""
        with open(os.path.join(self.tmp, "pg", "data", "postmaster.pid")) as f:
            master = int(f.readline())
        kids = [int(p) for p in os.listdir("/proc")
                if p.isdigit() and (st := proc_stat(p)) is not None and st[0] == master]
        return [master] + kids

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
        procs, conn = self.start_writers(db, a.e2e_writers, "c")
        redis_pid = self.redis_pid()

        def pids():
            return {"gateway": [gw.pid], "redis": [redis_pid],
                    "writers": [p.pid for p in procs], "postgres": self.pg_pids()}

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
                n = self.count_rows(conn)
                if n != rows:
                    rows, t_last = n, time.monotonic()
                if rows >= ok or time.monotonic() - t_last > 15:
                    break
                time.sleep(0.05)
            cpu1 = self.cpu_snapshot(pids)
            rewrites = self.redis_forks() - forks
            sampling.clear()
            th.join(2)
            dead = self.count_rows(conn, "hookpipe.dead_letters")
        finally:
            sampling.clear()
            self.stop_writers(procs)
            self.stop_gateway(gw)
            conn.close()
        elapsed = t_last - t0
        # CPU per event of each part, from t0 until the last row landed
        cpu = {}
        for name, now in cpu1[0].items():
            was = cpu0[0].get(name, {})
            cpu[name] = sum(t - was.get(p, 0) for p, t in now.items()) / HZ
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
            self.results["gw_hwm_kb"] = self.gw_hwm_kb
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

    def ms(us):
        return f"{us / 1000:.2f}"

    if "a" in res:
        r = res["a"]
        g, n = r["gateway"], r["nginx"]
        rows += [
            ("(a) gateway acks/s (default workers)", f"{g['rps']:,.0f}", "", ""),
            ("(a) gateway latency p50 / p99", f"{ms(g['p50_us'])} / {ms(g['p99_us'])} ms",
             "p99 <= 2 ms", verdict(g["p99_us"] <= 2000)),
            ("(a) gateway answers 200 / other (its /metrics)", f"{g['gw_200']:,} / {g['gw_non200']:,}",
             "other = 0", verdict(g["gw_non200"] == 0 and g["gw_200"] > 0)),
            ("(a) envelopes in Redis after the run", f"{g['queued']:,}", "= 200s",
             verdict(g["queued"] == g["gw_200"])),
            ("(a) Redis AOF rewrites during the run", f"{g['aof_rewrites']}", "(info)", ""),
            ("(a) deliveries per LPUSH (coalesced)", f"{g['gw_200'] / max(g['lpushes'], 1):.1f}",
             "(info)", ""),
            ("(a) redis-server CPU per delivery", f"{g['redis_cpu_s'] * 1e6 / max(g['gw_200'], 1):.1f} µs",
             "(info)", ""),
            ("(a) nginx return 200 (ceiling) req/s", f"{n['rps']:,.0f}", "", ""),
            ("(a) nginx latency p50 / p99", f"{ms(n['p50_us'])} / {ms(n['p99_us'])} ms", "", ""),
            ("(a) ratio gateway / nginx", f"{r['ratio']:.2f}", ">= 0.8", verdict(r["ratio"] >= 0.8)),
        ]
        for k in sorted(x for x in r if x.startswith("gateway_w")):
            t = r[k]
            rows.append((f"(a) tuned: workers = {k[9:]} acks/s, p99, / nginx",
                         f"{t['rps']:,.0f}, {ms(t['p99_us'])} ms, {t['rps'] / n['rps']:.2f}",
                         "(info)", ""))
    if "h" in res:
        for k, r in sorted(res["h"].items()):
            kind, mode = k.split("_")
            g, n = r["gateway"], r["nginx"]
            what = "keep-alive" if mode == "keepalive" else "new connection per request"
            if mode == "keepalive":
                target, ok = ">= 0.8", r["ratio"] >= 0.8
            else:
                target = ">= 0.95, p99 <= 2x nginx"
                ok = r["ratio"] >= 0.95 and g["p99_us"] <= 2 * n["p99_us"]
            rows += [
                (f"(h) HTTPS {kind.upper()} {what}: gateway / nginx req/s",
                 f"{g['rps']:,.0f} / {n['rps']:,.0f}", "", ""),
                (f"(h) HTTPS {kind.upper()} {what}: p99 gateway / nginx",
                 f"{ms(g['p99_us'])} / {ms(n['p99_us'])} ms", "", ""),
                (f"(h) HTTPS {kind.upper()} {what}: ratio", f"{r['ratio']:.2f}", target,
                 verdict(ok)),
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
            ("(b) ratio 1 writer / \\copy", f"{r['ratio1']:.2f}", ">= 0.9", verdict(r["ratio1"] >= 0.9)),
            ("(b) ratio 2 writers / \\copy", f"{r['ratio2']:.2f}", "(info)", ""),
        ]
    if "c" in res:
        r = res["c"]
        rows += [
            ("(c) end to end events/s into PostgreSQL", f"{r['rate']:,.0f}", "", ""),
            ("(c) psql \\copy of the same rows (ceiling) rows/s", f"{r['copy']['rate']:,.0f}", "", ""),
            ("(c) ratio end to end / \\copy", f"{r['ratio']:.2f}", ">= 0.7",
             verdict(r["ratio"] >= 0.7)),
            ("(c) gateway acks/s during it (wrk)", f"{r['wrk']['rps']:,.0f}", "", ""),
            ("(c) gateway latency p50 / p99", f"{ms(r['wrk']['p50_us'])} / "
             f"{ms(r['wrk']['p99_us'])} ms", "p99 <= 5 ms", verdict(r["wrk"]["p99_us"] <= 5000)),
            ("(c) Redis AOF rewrites during it", f"{r['aof_rewrites']}", ">= 1",
             verdict(r["aof_rewrites"] >= 1)),
            ("(c) requests sent twice (pre-signed file ran out)", f"{int(r['wrk'].get('wraps', 0))}",
             "0", verdict(r["wrk"].get("wraps", 0) == 0)),
            ("(c) largest queue length (LLEN / 100 ms)", f"{r['max_llen']:,}", "", ""),
            ("(c) drain time after wrk stopped", f"{r['drain_after_wrk']:.1f} s", "", ""),
            ("(c) 200s / non-200s / rows / dead letters",
             f"{r['ok']:,} / {r['other']:,} / {r['rows']:,} / {r['dead']:,}", "rows = 200s",
             verdict(r["rows"] == r["ok"] and r["ok"] > 0)),
        ]
    if res.get("gw_hwm_kb"):
        rows.append(("(d) gateway peak RSS (VmHWM, max)", f"{res['gw_hwm_kb'] / 1024:.1f} MB",
                     "<= 32 MB", verdict(res["gw_hwm_kb"] <= 32 * 1024)))
    if res.get("writer_hwm_kb"):
        rows.append(("(d) writer peak RSS (VmHWM, max)", f"{res['writer_hwm_kb'] / 1024:.1f} MB",
                     "<= 64 MB", verdict(res["writer_hwm_kb"] <= 64 * 1024)))

    w = [max(len(r[i]) for r in rows + [("figure", "value", "target", "")]) for i in range(4)]
    fmt = "| {:<%d} | {:>%d} | {:<%d} | {:<%d} |" % tuple(w)
    lines = [fmt.format("figure", "value", "target", ""), fmt.format(*("-" * x for x in w))]
    lines += [fmt.format(*r) for r in rows]
    table = "\n".join(lines)
    cpu_md = cpu_table(res["c"]) if "c" in res else []
    if cpu_md:
        table += "\n\n" + "\n".join(cpu_md)

    mode = "quick (--quick)" if a.quick else "full"
    md = [
        "# hookpipe benchmark results",
        "",
        f"Written by `bench/run` ({mode}) on {info['date']}. Re-run it to replace this file;",
        "docs/benchmarks.md explains each figure.",
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
        f"{a.ack_seconds} s; the gateway at its default `workers` (cores - 1, at least 1) — labelled "
        "tuned rows beside it — and nginx `worker_processes 1`; wrk, the server and "
        f"redis-server share the cores. Requests: {a.pool:,} distinct signed "
        "meeting.participant_joined bodies (~700 bytes), pre-generated right before the run and "
        "cycled; `timestamp_tolerance_s = 3600` so they stay fresh. nginx gets byte-identical "
        "requests (`location / { return 200; }`).",
        "- (h) the same over HTTPS, a self-signed RSA 2048 and an ECDSA P-256 certificate, "
        "gateway (`tls_cert`, default workers) and nginx (`ssl`, same certificate, 1 worker, "
        "`ssl_protocols TLSv1.2 TLSv1.3`: Debian 12's nginx 1.22 leaves TLS 1.3 out by default "
        "and would compare TLS 1.2 session resumption, no key exchange, with the gateway's TLS "
        "1.3); both negotiate TLS 1.3 with X25519. Keep-alive, and `Connection: close` on every "
        "request: a new TCP connection and TLS handshake each, which wrk resumes from the "
        "session ticket its previous connection got (`SSL_clear()` keeps the session): a PSK "
        "handshake with a fresh X25519 exchange, the certificate's signature once per wrk "
        "connection.",
        "- Redis: as the docs (docs/high-availability.md) tell users to run it: "
        "`appendonly yes`, `appendfsync everysec`, "
        "Redis's default automatic AOF rewrite (100 %, 64 MB), no RDB. PostgreSQL 15: its "
        "defaults (fsync on, shared_buffers 128MB, max_wal_size 1GB); the writer's default "
        "synchronous_commit on.",
        f"- (b) {a.envelopes:,} v1 envelopes LPUSHed (pipelined) to a side key, writers "
        "started on a fresh database and migrated, then the key is RENAMEd onto the queue and "
        "the clock runs until count(*) = all. Writers: batch_size 1000, flush_interval_ms 100. "
        "Ceiling: one `psql \\copy` of the same rows into an identical fresh, migrated "
        "hookpipe.events (the writer's columns: `payload` jsonb and `body` text, its indexes "
        "and partitions).",
        f"- (c) wrk {a.e2e_seconds} s, 1 thread, {a.conns} connections, reading "
        f"{a.e2e_seconds * a.e2e_rate_cap:,} distinct pre-signed requests one after the other "
        f"(no signing in wrk, no body twice); the gateway at its defaults, {a.e2e_writers} "
        "writers at theirs but batch_size 1000; events/s = rows / (time from wrk start to the "
        "last row landing); the \\copy ceiling of the same number of rows right after, as in "
        "(b). CPU: utime + stime from /proc of each process (PostgreSQL: the postmaster and "
        "all its children; wrk: its rusage), the machine's from /proc/stat.",
        "- (d) VmHWM from /proc/PID/status: the largest of the gateway processes of (a), (h) "
        "and (c); the largest of all writer processes in (b)-(c).",
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


def cpu_table(r):
    """Where the CPU went in (c): seconds and microseconds per stored event of each part, the
    sum, and the rate that sum allows on this machine's cores."""
    n = max(r["rows"], 1)
    cores = os.cpu_count()
    parts = [("gateway", "hookpipe-gateway"), ("redis", "redis-server"),
             ("writers", "hookpipe-writer (all)"), ("postgres", "PostgreSQL (all processes)"),
             ("wrk", "wrk (load generator)")]
    out = ["| (c) CPU from wrk start to the last row | CPU s | µs / event |",
           "| --- | ---: | ---: |"]
    total = 0.0
    for key, label in parts:
        sec = r["cpu"].get(key, 0.0)
        total += sec
        out.append(f"| {label} | {sec:.1f} | {sec * 1e6 / n:.1f} |")
    other = max(r["busy"] - total, 0.0)
    out += [f"| sum of the above | {total:.1f} | {total * 1e6 / n:.1f} |",
            f"| rest of the machine (kernel threads, softirq, other processes) | {other:.1f} | "
            f"{other * 1e6 / n:.1f} |",
            f"| machine busy / available ({cores} cores × {r['seconds']:.1f} s) | "
            f"{r['busy']:.1f} / {cores * r['seconds']:.1f} | |"]
    bound = cores * 1e6 / (r["busy"] * 1e6 / n) if r["busy"] > 0 else 0
    out += ["", f"At {r['busy'] * 1e6 / n:.1f} µs of CPU per event in all, {cores} cores allow "
            f"at most {bound:,.0f} events/s; measured {r['rate']:,.0f} "
            f"({r['rate'] / bound:.2f} of that bound)." if bound else ""]
    return out


def busy_processes(seconds=1.0):
    """Processes that used >= 5 % of a core over the last second (other load on the box)."""

    def snap():
        out = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            st = proc_stat(pid)
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            if st is not None:
                out[int(pid)] = (st[1], (cmd or st[2])[:100])
        return out

    first = snap()
    time.sleep(seconds)
    second = snap()
    busy = []
    for pid, (ticks, cmd) in second.items():
        if pid in first and pid != os.getpid():
            pct = 100.0 * (ticks - first[pid][0]) / HZ / seconds
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
    ap.add_argument("--parts", default="ahbc")
    ap.add_argument("--tuned-workers", default="2",
                    help="comma-separated workers values run beside the default in (a)")
    ap.add_argument("--results", help="write RESULTS.md here")
    a = ap.parse_args()
    a.conns = 64
    a.tuned_workers = [int(x) for x in a.tuned_workers.split(",") if x.strip()]
    a.e2e_writers = 2
    a.e2e_rate_cap = 40000  # pre-signed requests per second of (c): more than it can take
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
        # part g's section (bench/growth.py) is kept: it is measured on its own schedule
        try:
            m = re.search(r"<!-- growth:begin -->.*<!-- growth:end -->\n?",
                          open(a.results).read(), re.S)
        except OSError:
            m = None
        with open(a.results, "w") as f:
            f.write(md + ("\n" + m.group(0) if m else ""))
        say(f"wrote {a.results}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Instructions (callgrind Ir) per acknowledged request of hookpipe-gateway and per stored
row of hookpipe-writer, for one or more build directories (issue 20: "before and after").

    /usr/bin/python3 bench/callgrind.py BUILD [BUILD ...] [--repeat 2] [--json]
        [--requests 2000,12000] [--rows 5000,25000] [--conns 4]
        [--only gateway|writer] [--keep DIR]

Each BUILD is a CMake build directory holding hookpipe-gateway and hookpipe-writer (use
RelWithDebInfo); the source tree it was built from (CMakeCache.txt) gives the commit shown,
with "+dirty" when that tree had uncommitted changes to tracked files at the time of the run.

gateway: hookpipe-gateway runs under `valgrind --tool=callgrind` (all threads summed in one
  profile: --separate-threads=no, the default) with `workers = 1` and one Zoom source,
  against a private redis-server. N signed POSTs (x-zm-signature v0 over "v0:{ts}:{body}",
  signed just before each is sent) go over --conns keep-alive connections; every one must
  get 200; then SIGTERM and the profile's total Ir. Done for N1 and N2, the figure is
  (Ir(N2) - Ir(N1)) / (N2 - N1): start-up, shutdown and the readiness probes cancel out.
writer: the queue is first filled by the same build's gateway run natively (so the envelopes
  are exactly what that gateway writes); then, for M1 and M2 rows, a fresh database and a
  queue holding the oldest M items, and hookpipe-writer under callgrind until Redis holds
  none of them and hookpipe.events has M rows (polled from outside: the writer's admin
  listener is off, nothing is asked of it), SIGTERM, total Ir. Figure as above, per row.
  Only the writer process is measured: PostgreSQL's and Redis's work is not in the figure.

Bodies: tests/fixtures/zoom/meeting.participant_joined.json, compact, with event_ts now and a
unique fixed-width participant id (so every row is distinct and every body one size).
--repeat R runs every measurement R times and prints each pair's figure and their spread.
--keep DIR keeps the callgrind.out files (for callgrind_annotate) instead of deleting them.
Needs valgrind, redis-server, PostgreSQL 15 (HOOKPIPE_PG_BIN), python3-redis, python3-psycopg2;
the servers come from tests/integration/harness (run as the postgres user when root).
"""

import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness  # noqa: E402  (tests/integration/harness: servers, daemons, signer, ports)
import results as bench_results  # noqa: E402  (bench/results.py)

SOURCE = "cg"
SECRET = "callgrind-secret-0123456789abcdef"
QUEUE = "hookpipe:cg"
SRC_LIST = "hookpipe:cg:envelopes"  # the envelopes the native gateway wrote, oldest at right
WRITER_NAME = "cgwriter"


def log(msg):
    print(f"callgrind.py: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- builds


def build_source(build):
    """(source dir, commit description) of a build directory, from its CMakeCache.txt."""
    src = None
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_HOME_DIRECTORY:"):
                    src = line.split("=", 1)[1].strip()
    except OSError:
        pass
    if not src:
        return None, "?"
    try:
        commit = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", src, "status", "--porcelain", "--untracked-files=no"],
                               check=True, capture_output=True, text=True).stdout.strip()
        return src, commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return src, "?"


def exe(build, kind):
    path = os.path.join(build, f"hookpipe-{kind}")
    if not os.access(path, os.X_OK):
        raise SystemExit(f"callgrind.py: {path} is not built")
    return path


def daemon(build, kind, config, outdir=None, tag=""):
    """A harness.Daemon for BUILD's hookpipe-KIND -c config; under callgrind when outdir."""
    d = harness.Daemon(kind, config)
    d.exe = exe(build, kind)
    d.argv = [d.exe, "-c", str(config)]
    if outdir is not None:
        d.cg_out = os.path.join(outdir, f"callgrind.out.{kind}.{tag}.%p")
        d.argv = ["valgrind", "--tool=callgrind", "--separate-threads=no",
                  f"--callgrind-out-file={d.cg_out}"] + d.argv
    return d


def callgrind_total(d):
    """Total Ir of the profile(s) of daemon d (one file: threads are not separated)."""
    files = glob.glob(d.cg_out.replace("%p", str(d.pid)) + "*")
    if not files:
        raise RuntimeError(f"no callgrind output {d.cg_out} for pid {d.pid}; log:\n"
                           f"{d.log()[-3000:]}")
    total = 0
    for path in files:
        found = None
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith("totals:") or (found is None and line.startswith("summary:")):
                    found = int(line.split()[1])
        if found is None:
            raise RuntimeError(f"no totals in {path}")
        total += found
    return total, files


# --------------------------------------------------------------------------- requests

_FIXTURE = harness.fixture_json("meeting.participant_joined")


def make_body(i):
    doc = json.loads(json.dumps(_FIXTURE))
    doc["event_ts"] = int(time.time() * 1000)
    doc["payload"]["object"]["participant"]["id"] = f"cg{os.getpid() % 100000:05d}{i:012d}"
    return json.dumps(doc, separators=(",", ":")).encode()


def post_signed(port, n, conns, timeout=60):
    """n signed POSTs to /hooks/SOURCE over conns keep-alive connections (each signed just
    before it is sent). Returns {status: count} (errors as 'error: ...')."""
    counter = iter(range(n))
    lock = threading.Lock()
    statuses = {}

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                body = make_body(i)
                try:
                    conn.request("POST", f"/hooks/{SOURCE}", body,
                                 harness.zoom_request_headers(SECRET, body))
                    resp = conn.getresponse()
                    resp.read()
                    key = resp.status
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    key = f"error: {exc!r}"
                with lock:
                    statuses[key] = statuses.get(key, 0) + 1
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def readyz(port):
    try:
        return harness.http_request(port, "GET", "/readyz", timeout=5)[0] == 200
    except OSError:
        return False


# --------------------------------------------------------------------------- runs


class Bench:
    def __init__(self, tmp, redis, pg, conns, keep):
        self.tmp = tmp
        self.redis = redis
        self.pg = pg
        self.conns = conns
        self.keep = keep
        self.r = redis.client(socket_timeout=30)
        self.runs = 0

    def gateway_config(self, queue):
        return harness.write_config(
            os.path.join(self.tmp, "gateway.ini"),
            gateway={"listen": "127.0.0.1:0", "admin_listen": "", "workers": 1},
            redis={"url": self.redis.url, "queue": queue},
            sources={SOURCE: {"provider": "zoom", "secret": SECRET}},
            log={"level": "info"})

    def _start_gateway(self, d, timeout):
        d.start(wait_listen=("http",), timeout=timeout)
        port = d.listen_port("http")
        harness.wait_for(lambda: readyz(port), timeout=timeout, interval=0.2,
                         what="gateway /readyz 200 (Redis link up)")
        return port

    def _send(self, port, n):
        statuses = post_signed(port, n, self.conns)
        if statuses != {200: n}:
            raise RuntimeError(f"not every POST got 200: {statuses}")

    def _finish(self, d, timeout=300):
        """SIGTERM under callgrind and the profile's total."""
        rc = d.stop(signal.SIGTERM, timeout=timeout)
        if rc != 0:
            raise RuntimeError(f"hookpipe-{d.kind} exited {rc}; log:\n{d.log()[-3000:]}")
        total, files = callgrind_total(d)
        for path in files:
            if self.keep:
                os.makedirs(self.keep, exist_ok=True)
                shutil.move(path, os.path.join(self.keep, os.path.basename(path)))
            else:
                os.unlink(path)
        return total

    def gateway_run(self, build, n, tag):
        """Total Ir of a callgrind'ed gateway that acknowledged n signed POSTs."""
        queue = f"{QUEUE}:gw"
        self.r.delete(queue)
        d = daemon(build, "gateway", self.gateway_config(queue), outdir=self.tmp, tag=tag)
        try:
            port = self._start_gateway(d, timeout=120)
            t0 = time.monotonic()
            self._send(port, n)
            secs = time.monotonic() - t0
            total = self._finish(d)
        finally:
            d.finish()
        if self.r.llen(queue) != n:
            raise RuntimeError(f"queue holds {self.r.llen(queue)} items, not {n}")
        self.r.delete(queue)
        log(f"gateway n={n}: Ir={total} ({secs:.1f} s of requests)")
        return total

    def preload(self, build, m):
        """SRC_LIST := m envelopes written by BUILD's gateway (run natively)."""
        self.r.delete(SRC_LIST)
        d = daemon(build, "gateway", self.gateway_config(SRC_LIST))
        try:
            port = self._start_gateway(d, timeout=30)
            self._send(port, m)
            rc = d.stop(signal.SIGTERM, timeout=60)
            if rc != 0:
                raise RuntimeError(f"native gateway exited {rc}")
        finally:
            d.finish()
        have = self.r.llen(SRC_LIST)
        if have != m:
            raise RuntimeError(f"preload: {have} envelopes, not {m}")

    def count_rows(self, db):
        return self.pg.query(db, "SELECT count(*) FROM hookpipe.events")[0][0]

    def writer_run(self, build, m, tag):
        """Total Ir of a callgrind'ed writer that stored the m oldest envelopes."""
        for key in [QUEUE] + self.r.keys(QUEUE + ":*"):
            if key != SRC_LIST.encode() and key != SRC_LIST:
                self.r.delete(key)
        items = self.r.lrange(SRC_LIST, -m, -1)  # the m oldest, order kept by RPUSH
        for i in range(0, len(items), 1000):
            self.r.rpush(QUEUE, *items[i:i + 1000])
        db = self.pg.create_database("hp_cg_")
        cfg = harness.write_config(
            os.path.join(self.tmp, "writer.ini"),
            redis={"url": self.redis.url, "queue": QUEUE},
            postgres={"conninfo": self.pg.conninfo(db)},
            writer={"name": WRITER_NAME, "admin_listen": ""},
            log={"level": "info"})
        d = daemon(build, "writer", cfg, outdir=self.tmp, tag=tag)
        try:
            t0 = time.monotonic()
            d.start()
            processing = f"{QUEUE}:processing:{WRITER_NAME}"

            def drained():
                if not d.alive():
                    raise RuntimeError(f"writer exited {d.proc.returncode}; log:\n"
                                       f"{d.log()[-3000:]}")
                return self.r.llen(QUEUE) == 0 and self.r.llen(processing) == 0

            harness.wait_for(drained, timeout=1800, interval=0.5, fatal=(RuntimeError,),
                             what=f"writer to drain {m} items")
            harness.wait_for(lambda: self.count_rows(db) == m, timeout=60, interval=2,
                             what=f"{m} rows in hookpipe.events")
            secs = time.monotonic() - t0
            total = self._finish(d)
        finally:
            d.finish()
        rows = self.count_rows(db)
        if rows != m:
            raise RuntimeError(f"{rows} rows stored, not {m}")
        log(f"writer m={m}: Ir={total} ({secs:.1f} s from start to drained)")
        return total


def slope(a, b, n1, n2):
    return (b - a) / (n2 - n1)


def summarize(figures):
    mean = sum(figures) / len(figures)
    spread = (max(figures) - min(figures)) / mean * 100 if mean else 0.0
    return mean, spread


def pair(text):
    a, b = (int(x) for x in text.split(","))
    if not 0 < a < b:
        raise argparse.ArgumentTypeError("want N1,N2 with 0 < N1 < N2")
    return a, b


def measure(run, build, label, sizes, repeat, size_name, per):
    """Ir per unit by the difference of two runs of sizes[0] and sizes[1], repeat times."""
    s1, s2 = sizes
    runs = []
    for k in range(repeat):
        i1 = run(build, s1, f"{label}.{s1}.{k}")
        i2 = run(build, s2, f"{label}.{s2}.{k}")
        runs.append({"ir1": i1, "ir2": i2, per: slope(i1, i2, s1, s2)})
    mean, spread = summarize([r[per] for r in runs])
    return {size_name + "1": s1, size_name + "2": s2, "runs": runs, "ir_" + per: mean,
            "spread_pct": spread}


def section(args, results):
    """The "callgrind" section of results.json: per build (its directory's name and commit)
    instructions per acknowledged request and per stored row, with the runs' spread."""
    F = bench_results.figure
    figs = []
    for res in results:
        label = os.path.basename(res["build"].rstrip("/"))
        how = {"build": label, "commit": res["commit"]}
        if "gateway" in res:
            g = res["gateway"]
            figs.append(F(f"i.{label}.gateway", g["ir_per_request"], "Ir/request",
                          dict(how, requests=[g["n1"], g["n2"]], spread_pct=g["spread_pct"])))
        if "writer" in res:
            w = res["writer"]
            figs.append(F(f"i.{label}.writer", w["ir_per_row"], "Ir/row",
                          dict(how, rows=[w["m1"], w["m2"]], spread_pct=w["spread_pct"])))
    return dict(bench_results.run_facts(os.path.join(HERE, ".."), False),
                machine=bench_results.machine(),
                settings={"repeat": args.repeat, "connections": args.conns,
                          "valgrind": "--tool=callgrind, all threads in one profile"},
                figures=figs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("builds", nargs="+", help="CMake build directories")
    ap.add_argument("--requests", type=pair, default=(2000, 12000), metavar="N1,N2",
                    help="gateway: POSTs of the two runs (default 2000,12000)")
    ap.add_argument("--rows", type=pair, default=(5000, 25000), metavar="M1,M2",
                    help="writer: rows of the two runs (default 5000,25000)")
    ap.add_argument("--conns", type=int, default=4, help="keep-alive connections (default 4)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each measurement (default 1)")
    ap.add_argument("--only", choices=("gateway", "writer"), help="measure one daemon only")
    ap.add_argument("--keep", metavar="DIR", help="keep the callgrind.out files in DIR")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--results", metavar="FILE",
                    help="write the callgrind section of this bench/results.json (the builds "
                         "in the order given: e.g. before, after)")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("callgrind.py: valgrind not found")
    builds = [os.path.abspath(b) for b in args.builds]
    for b in builds:
        for kind in ("gateway", "writer"):
            if args.only in (None, kind):
                exe(b, kind)

    tmp = tempfile.mkdtemp(prefix="hookpipe-callgrind-")
    results = []
    try:
        redis = harness.RedisServer().start()
        pg = harness.PostgresServer().start() if args.only != "gateway" else None
        bench = Bench(tmp, redis, pg, args.conns, args.keep and os.path.abspath(args.keep))
        for b in builds:
            src, commit = build_source(b)
            res = {"build": b, "source": src, "commit": commit}
            label = os.path.basename(b.rstrip("/"))
            if args.only in (None, "gateway"):
                res["gateway"] = measure(bench.gateway_run, b, label, args.requests,
                                         args.repeat, "n", "per_request")
            if args.only in (None, "writer"):
                bench.preload(b, args.rows[1])
                res["writer"] = measure(bench.writer_run, b, label, args.rows, args.repeat,
                                        "m", "per_row")
                res["writer"]["note"] = "the writer process only; PostgreSQL not measured"
            results.append(res)
    finally:
        harness.cleanup_all()
        shutil.rmtree(tmp, ignore_errors=True)

    if args.results:
        bench_results.save_section(args.results, "callgrind", section(args, results))
        log(f"wrote the callgrind section of {args.results}")
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'build':<28} {'commit':<16} {'figure':<28} {'Ir':>12} {'spread':>8}  runs")
    for res in results:
        b = res["build"]
        b = b if len(b) <= 28 else "…" + b[-27:]
        for key, unit, label in (("gateway", "ir_per_request", "gateway Ir/acked request"),
                                 ("writer", "ir_per_row", "writer Ir/stored row")):
            if key not in res:
                continue
            g = res[key]
            each = ", ".join(f"{r[unit.replace('ir_', '')]:.0f}" for r in g["runs"])
            print(f"{b:<28} {res['commit']:<16} {label:<28} {g[unit]:>12.0f} "
                  f"{g['spread_pct']:>7.2f}%  {each}")
    if any("writer" in r for r in results):
        print("(writer: the hookpipe-writer process only; PostgreSQL's work is not measured)")


if __name__ == "__main__":
    main()

"""Integration-test harness: real redis-server and PostgreSQL 15 on free loopback ports,
hookpipe daemons as subprocesses with generated configs, and small HTTP/Zoom helpers.

Every process started here is registered and killed at interpreter exit (and by the
conftest fixtures after each test); children also get PR_SET_PDEATHSIG so they die with
the test process even when it is killed hard. Daemon logs are scanned for sanitizer
reports, which fail the test.
"""

import atexit
import ctypes
import hashlib
import hmac
import http.client
import itertools
import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse
import uuid

SOURCE_DIR = os.path.abspath(
    os.environ.get("HOOKPIPE_SOURCE_DIR")
    or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
)
BUILD_DIR = os.path.abspath(os.environ.get("HOOKPIPE_BUILD_DIR") or os.path.join(SOURCE_DIR, "build"))
FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures", "zoom")


def build_option(name, default=""):
    """The value of a CMake cache entry of BUILD_DIR (e.g. 'HOOKPIPE_SANITIZE'), else default."""
    try:
        with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return default


# True when BUILD_DIR is the ASan+UBSan build (tests that inspect binaries or time may adapt).
SANITIZED = build_option("HOOKPIPE_SANITIZE").upper() in ("ON", "1", "TRUE", "YES")
PG_BIN = os.environ.get("HOOKPIPE_PG_BIN", "/usr/lib/postgresql/15/bin")
REDIS_SERVER = os.environ.get("HOOKPIPE_REDIS_SERVER", "redis-server")

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")

IS_ROOT = os.geteuid() == 0

# --------------------------------------------------------------------------- process registry

_cleanups = {}  # id -> callable, run (newest first) at exit
_cleanup_ids = itertools.count()
_daemons = []  # every Daemon ever created in this process, for the per-test check


def _register_cleanup(fn):
    key = next(_cleanup_ids)
    _cleanups[key] = fn
    return key


def _unregister_cleanup(key):
    _cleanups.pop(key, None)


def cleanup_all():
    """Kills every process the harness started and removes its temp dirs. Idempotent."""
    for key in sorted(_cleanups, reverse=True):
        fn = _cleanups.pop(key, None)
        if fn is None:
            continue
        try:
            fn()
        except Exception:  # cleanup must go on for the others
            pass


atexit.register(cleanup_all)

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the test process dies, however it dies."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:  # parent already gone between fork and prctl
        os._exit(1)


def _pg_user_kwargs():
    """subprocess kwargs that run a command as the postgres user when we are root."""
    if not IS_ROOT:
        return {}
    pw = pwd.getpwnam("postgres")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def _kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _children_of(pid):
    """PIDs whose parent is pid (from /proc)."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ..." — comm may contain spaces and parentheses
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def _pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] != b"Z"


# --------------------------------------------------------------------------- small helpers

_ports_given = set()


def free_port():
    """A TCP port free on 127.0.0.1 right now (never the same one twice per process)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise RuntimeError("no free port found")


def port_open(port, host="127.0.0.1", timeout=0.2):
    """True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(pred, timeout=10, interval=0.02, what=""):
    """Polls pred() until it returns something truthy (which is returned) or timeout."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except Exception as exc:  # a predicate may fail while the thing is starting
            last_exc = exc
        if time.monotonic() >= deadline:
            msg = f"timed out after {timeout}s waiting for {what or getattr(pred, '__name__', 'condition')}"
            if last_exc is not None:
                msg += f" (last error: {last_exc!r})"
            raise AssertionError(msg)
        time.sleep(interval)


def unique_name(prefix="hp"):
    """A fresh name for keys, queues and writers on shared servers: prefix + 12 hex digits."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def fixture_path(name):
    if not name.endswith(".json"):
        name += ".json"
    return os.path.join(FIXTURES, name)


def fixture_json(name):
    """The fixture tests/fixtures/zoom/<name>.json as a Python object."""
    with open(fixture_path(name), "rb") as f:
        return json.load(f)


def fixture_body(name):
    """The fixture re-serialised compactly, as Zoom sends it (bytes)."""
    return json.dumps(fixture_json(name), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def zoom_signature(secret, ts, body):
    """'v0=' + hex HMAC-SHA256(secret, 'v0:' + ts + ':' + body)."""
    if isinstance(secret, str):
        secret = secret.encode()
    if isinstance(body, str):
        body = body.encode()
    msg = b"v0:" + str(ts).encode() + b":" + body
    return "v0=" + hmac.new(secret, msg, hashlib.sha256).hexdigest()


def zoom_headers(secret, body, ts=None):
    """The two Zoom signature headers for body (ts defaults to now)."""
    if ts is None:
        ts = int(time.time())
    return {"x-zm-request-timestamp": str(ts), "x-zm-signature": zoom_signature(secret, ts, body)}


def zoom_token(secret, plain_token):
    """The url_validation encryptedToken: hex HMAC-SHA256(secret, plainToken)."""
    if isinstance(secret, str):
        secret = secret.encode()
    return hmac.new(secret, plain_token.encode(), hashlib.sha256).hexdigest()


def http_request(port, method, path, body=b"", headers=None, timeout=5, tls=False, host="127.0.0.1"):
    """One HTTP/1.1 request on a fresh connection. Returns (status, lowercased headers, body)."""
    if isinstance(body, str):
        body = body.encode()
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body if (body or method in ("POST", "PUT")) else None,
                     headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def post_hook(port, source, secret, body, ts=None, headers=None, timeout=5, tls=False):
    """POSTs body to /hooks/<source> signed with secret. Returns http_request's triple."""
    if isinstance(body, str):
        body = body.encode()
    h = {"content-type": "application/json"}
    h.update(zoom_headers(secret, body, ts))
    if headers:
        h.update(headers)
    return http_request(port, "POST", f"/hooks/{source}", body, h, timeout=timeout, tls=tls)


def raw_request(port, data, timeout=5, host="127.0.0.1"):
    """Sends raw bytes, half-closes, returns everything read until the server closes."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def metrics(port, path="/metrics"):
    """GET /metrics parsed into {'name{labels}': float} (labels verbatim, no labels: 'name')."""
    status, _, body = http_request(port, "GET", path)
    if status != 200:
        raise AssertionError(f"GET {path} on port {port}: {status}")
    out = {}
    for line in body.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            # labels may hold spaces and '}' inside quotes: find the closing brace outside them
            i = line.index("{")
            j, quoted, esc = i + 1, False, False
            while j < len(line):
                c = line[j]
                if esc:
                    esc = False
                elif c == "\\":
                    esc = True
                elif c == '"':
                    quoted = not quoted
                elif c == "}" and not quoted:
                    break
                j += 1
            key, rest = line[: j + 1], line[j + 1 :].split()
        else:
            parts = line.split()
            key, rest = parts[0], parts[1:]
        if rest:
            out[key] = float(rest[0])
    return out


def write_config(path, gateway=None, redis=None, postgres=None, writer=None, sources=None,
                 log=None, extra=None):
    """Writes an INI config and returns its path (str).

    Each section is a dict written verbatim as `key = value` (True/False -> on/off).
    sources = {name: {'provider': 'zoom', 'secret': ...}} becomes [source.name] sections.
    extra = raw text appended at the end (for tests of bad configs).
    So that no test ever binds the fixed default admin ports, admin_listen is written as
    empty (off) in [gateway] and [writer] unless given.
    """
    path = str(path)
    gateway = dict(gateway or {})
    writer = dict(writer or {})
    gateway.setdefault("admin_listen", "")
    writer.setdefault("admin_listen", "")

    def value(v):
        if v is True:
            return "on"
        if v is False:
            return "off"
        return str(v)

    lines = []
    for name, section in (("log", log), ("gateway", gateway), ("redis", redis),
                          ("postgres", postgres), ("writer", writer)):
        if section is None:
            continue
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {value(v)}" for k, v in section.items())
        lines.append("")
    for name, section in (sources or {}).items():
        lines.append(f"[source.{name}]")
        lines.extend(f"{k} = {value(v)}" for k, v in section.items())
        lines.append("")
    if extra:
        lines.append(extra)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def check_sanitizer_log(text, what="process"):
    """Raises AssertionError when text holds an ASan/UBSan/LSan report."""
    for marker in SANITIZER_MARKERS:
        if marker in text:
            i = text.index(marker)
            excerpt = text[max(0, i - 200) : i + 4000]
            raise AssertionError(f"sanitizer report in {what} log:\n{excerpt}")


# --------------------------------------------------------------------------- Redis


class RedisServer:
    """A private redis-server in its own temp dir on a free port (also a unix socket)."""

    def __init__(self, appendonly=False, port=None, appendfsync="always", password=None):
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.appendonly = appendonly
        self.appendfsync = appendfsync  # 'always': data confirmed before kill -9 survives it
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="hookpipe-redis-")
        self.unix_path = os.path.join(self.dir, "redis.sock")
        self.log_path = os.path.join(self.dir, "redis.log")
        self.proc = None
        self._cleanup_key = _register_cleanup(self.close)

    @property
    def url(self):
        auth = f":{urllib.parse.quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def unix_url(self):
        return f"unix://{self.unix_path}"

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=10):
        if self.alive():
            return self
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--daemonize", "no",
                "--unixsocket", self.unix_path, "--unixsocketperm", "777",
                "--logfile", self.log_path,
                "--appendonly", "yes" if self.appendonly else "no",
                "--appendfsync", self.appendfsync]
        if self.password:
            argv += ["--requirepass", self.password]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited ({self.proc.returncode}): {self.log()}")
            return self.client(socket_timeout=0.5).ping()

        try:
            wait_for(ready, timeout=timeout, what=f"redis-server on port {self.port}")
        except AssertionError:
            self.kill()
            raise
        return self

    def stop(self, timeout=10):
        """SIGTERM (redis syncs its AOF on shutdown) and wait; SIGKILL if it hangs."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self):
        """SIGKILL: a crash. With appendonly + appendfsync always, acknowledged writes survive."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self, timeout=10):
        """stop() then start() on the same port and directory."""
        self.stop()
        return self.start(timeout)

    def client(self, **kwargs):
        import redis  # python3-redis; imported late so the harness loads without it

        kwargs.setdefault("socket_timeout", 5)
        return redis.Redis(host="127.0.0.1", port=self.port, db=0, password=self.password,
                           decode_responses=False, **kwargs)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
        _unregister_cleanup(self._cleanup_key)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class SharedRedis:
    """The redis-server tests/run started (HOOKPIPE_TEST_REDIS_URL). Never stopped by tests:
    use unique_name() for keys and queues."""

    shared = True

    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 6379
        self.password = urllib.parse.unquote(u.password) if u.password else None
        self.db = int(u.path.strip("/") or 0)
        self.url = url

    def client(self, **kwargs):
        import redis

        kwargs.setdefault("socket_timeout", 5)
        return redis.Redis(host=self.host, port=self.port, db=self.db, password=self.password,
                           decode_responses=False, **kwargs)

    def alive(self):
        return True

    def _refuse(self, *a, **kw):
        raise RuntimeError("the shared redis cannot be stopped or restarted; use RedisServer()")

    start = stop = kill = restart = _refuse


_shared_redis = None


def shared_redis():
    """The shared Redis (from HOOKPIPE_TEST_REDIS_URL), else one private server per process."""
    global _shared_redis
    if _shared_redis is None:
        url = os.environ.get("HOOKPIPE_TEST_REDIS_URL")
        if url:
            _shared_redis = SharedRedis(url)
        else:
            _shared_redis = RedisServer().start()
    return _shared_redis


# --------------------------------------------------------------------------- PostgreSQL


class _PostgresClient:
    """What both PG kinds offer: unique databases, conninfo URIs and psycopg2 connections."""

    host = "127.0.0.1"
    port = None
    user = "hookpipe"

    def conninfo(self, db="postgres"):
        return f"postgresql://{self.user}@{self.host}:{self.port}/{db}"

    def connect(self, db="postgres", **kwargs):
        import psycopg2  # python3-psycopg2

        kwargs.setdefault("connect_timeout", 5)
        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=db, **kwargs)
        conn.autocommit = True
        return conn

    def create_database(self, prefix="hp_"):
        """CREATE DATABASE with a fresh unique name; returns the name."""
        name = unique_name(prefix)
        conn = self.connect("postgres")
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return name

    def query(self, db, sql, args=None):
        """Runs sql on a short-lived connection; returns all rows (or [] without a result)."""
        conn = self.connect(db)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()


class PostgresServer(_PostgresClient):
    """A private PostgreSQL 15, initdb'd in a temp dir (as the postgres user when root),
    listening on 127.0.0.1:free port with trust auth for the superuser `user`."""

    shared = False

    def __init__(self, port=None, user="hookpipe", settings=None):
        self.port = port or free_port()
        self.user = user
        self.settings = {"fsync": "off", "full_page_writes": "off", "max_connections": "100"}
        self.settings.update(settings or {})
        self.dir = tempfile.mkdtemp(prefix="hookpipe-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "postgres.log")
        self.proc = None
        self._log = None
        self._cleanup_key = _register_cleanup(self.close)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _initdb(self):
        os.mkdir(self.data, 0o700)
        kw = _pg_user_kwargs()
        if IS_ROOT:
            os.chown(self.data, kw["user"], kw["group"])
        r = subprocess.run([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", self.user,
                            "--auth=trust", "-E", "UTF8", "--locale=C", "-N"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
                           preexec_fn=_die_with_parent, **kw)
        if r.returncode != 0:
            raise AssertionError(f"initdb failed: {r.stdout.decode(errors='replace')}")

    def start(self, timeout=30):
        if self.alive():
            return self
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            self._initdb()
        argv = [os.path.join(PG_BIN, "postgres"), "-D", self.data, "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-k", self.data]
        for k, v in self.settings.items():
            argv += ["-c", f"{k}={v}"]
        self._log = open(self.log_path, "ab")
        # postgres runs in the foreground as our child so kill() and PDEATHSIG reach it
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
                                     **_pg_user_kwargs())

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"postgres exited ({self.proc.returncode}): {self.log()[-3000:]}")
            self.connect("postgres", connect_timeout=1).close()
            return True

        try:
            wait_for(ready, timeout=timeout, interval=0.05, what=f"PostgreSQL on port {self.port}")
        except AssertionError:
            self.kill()
            raise
        return self

    def _reap(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        if self._log:
            self._log.close()
            self._log = None

    def stop(self, mode="fast", timeout=30):
        """Shutdown: mode 'smart' (SIGTERM), 'fast' (SIGINT) or 'immediate' (SIGQUIT, crash-like)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        sig = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode]
        self.proc.send_signal(sig)
        self._reap(timeout)

    def kill(self):
        """kill -9 of the postmaster and its backends (a crash; recovery runs on next start)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        kids = _children_of(self.proc.pid)
        self.proc.kill()
        for pid in kids:
            _kill_pid(pid)
        self.proc.wait()
        wait_for(lambda: not any(_pid_alive(p) for p in kids), timeout=10,
                 what="postgres backends to exit")
        if self._log:
            self._log.close()
            self._log = None

    def restart(self, mode="fast", timeout=30):
        """stop(mode) then start() on the same port and data directory."""
        self.stop(mode)
        return self.start(timeout)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        try:
            self.stop("immediate", timeout=10)
        finally:
            self.kill()
            shutil.rmtree(self.dir, ignore_errors=True)
            _unregister_cleanup(self._cleanup_key)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class SharedPostgres(_PostgresClient):
    """The PostgreSQL tests/run started (HOOKPIPE_TEST_PG_*). Never stopped by tests: use
    create_database() for isolation and PostgresServer() for restart/kill tests."""

    shared = True

    def __init__(self, host, port, user):
        self.host = host
        self.port = int(port)
        self.user = user

    def alive(self):
        return True

    def _refuse(self, *a, **kw):
        raise RuntimeError("the shared PostgreSQL cannot be stopped or restarted; use PostgresServer()")

    start = stop = kill = restart = _refuse


_shared_pg = None


def shared_postgres():
    """The shared PostgreSQL (from HOOKPIPE_TEST_PG_HOST/PORT/USER), else one private server."""
    global _shared_pg
    if _shared_pg is None:
        port = os.environ.get("HOOKPIPE_TEST_PG_PORT")
        if port:
            _shared_pg = SharedPostgres(os.environ.get("HOOKPIPE_TEST_PG_HOST", "127.0.0.1"), port,
                                        os.environ.get("HOOKPIPE_TEST_PG_USER", "hookpipe"))
        else:
            _shared_pg = PostgresServer().start()
    return _shared_pg


# --------------------------------------------------------------------------- daemons


def daemon_path(kind):
    return os.path.join(BUILD_DIR, f"hookpipe-{kind}")


class Daemon:
    """A hookpipe daemon (`kind` 'gateway' or 'writer') run as BUILD_DIR/hookpipe-<kind> -c FILE.

    stdout and stderr go to one log file (log()). stop()/kill() fail the test when the log
    holds a sanitizer report; the conftest does the same check for daemons left running.
    """

    def __init__(self, kind, config_path, args=(), env=None):
        self.kind = kind
        self.exe = daemon_path(kind)
        self.argv = [self.exe, "-c", str(config_path)] + [str(a) for a in args]
        self.env = dict(os.environ)
        self.env.update({k: str(v) for k, v in (env or {}).items()})
        fd, self.log_path = tempfile.mkstemp(prefix=f"hookpipe-{kind}-", suffix=".log")
        os.close(fd)
        self.proc = None
        self.returncode = None
        self._checked = False
        _daemons.append(self)
        self._cleanup_key = _register_cleanup(self._final)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait_port=None, timeout=10):
        """Starts the process; with wait_port, polls until that TCP port accepts."""
        if not os.access(self.exe, os.X_OK):
            raise AssertionError(f"{self.exe} is not built")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=self.env,
                                         preexec_fn=_die_with_parent)
        self.returncode = None
        if wait_port is not None:
            def ready():
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"hookpipe-{self.kind} exited with {self.proc.returncode} before "
                        f"port {wait_port} opened; log:\n{self.log()[-4000:]}")
                return port_open(wait_port)

            wait_for(ready, timeout=timeout, what=f"hookpipe-{self.kind} to listen on {wait_port}")
        return self

    def wait(self, timeout=15):
        """Waits for the process to exit on its own; returns its returncode."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"hookpipe-{self.kind} still running after {timeout}s")
        self.check_log()
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Sends sig and waits; fails the test if it does not exit in time. Returns returncode."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"hookpipe-{self.kind} did not exit within {timeout}s of "
                                     f"signal {sig}; log:\n{self.log()[-4000:]}")
        self.returncode = self.proc.returncode
        self.check_log()
        return self.returncode

    def kill(self):
        """SIGKILL (a crash) and wait. Returns returncode (-9)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.returncode = self.proc.returncode
        self.check_log()
        return self.returncode

    def signal(self, sig):
        """Sends sig (e.g. SIGHUP) without waiting."""
        self.proc.send_signal(sig)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def check_log(self):
        check_sanitizer_log(self.log(), f"hookpipe-{self.kind} (pid {self.pid})")

    def finish(self):
        """End-of-test check: kills the daemon if still running, then checks its log once."""
        if self._checked:
            return
        self._checked = True
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        try:
            self.check_log()
        finally:
            self._final()

    def _final(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        _unregister_cleanup(self._cleanup_key)
        if os.environ.get("HOOKPIPE_KEEP_LOGS") != "1":
            try:
                os.unlink(self.log_path)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.finish()


def run_daemon(kind, args, env=None, timeout=30, input=None):
    """Runs hookpipe-<kind> args to completion (e.g. --check-config, --migrate, --version).
    Returns a CompletedProcess with text stdout/stderr; fails on a sanitizer report."""
    full_env = dict(os.environ)
    full_env.update({k: str(v) for k, v in (env or {}).items()})
    r = subprocess.run([daemon_path(kind)] + [str(a) for a in args], env=full_env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       input=input, preexec_fn=_die_with_parent)
    r.stdout = r.stdout.decode("utf-8", "replace")
    r.stderr = r.stderr.decode("utf-8", "replace")
    check_sanitizer_log(r.stdout + r.stderr, f"hookpipe-{kind} {' '.join(map(str, args))}")
    return r


def daemons_since(n):
    """Daemons created after the first n (the conftest checks them after each test)."""
    return _daemons[n:]


def daemon_count():
    return len(_daemons)


def tls_cert(directory, cn="127.0.0.1"):
    """A self-signed cert + key (openssl CLI) in directory. Returns (cert_path, key_path)."""
    cert = os.path.join(str(directory), "cert.pem")
    key = os.path.join(str(directory), "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", f"/CN={cn}",
                    "-addext", f"subjectAltName=IP:{cn}"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return cert, key

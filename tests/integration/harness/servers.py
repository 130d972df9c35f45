"""Servers: a private redis-server or PostgreSQL 15 per test (on a chosen port, retried on
EADDRINUSE, and checked to be the very process that answers), and the shared ones that
tests/run started (HOOKPIPE_TEST_REDIS_URL, HOOKPIPE_TEST_PG_*), which tests never stop.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import urllib.parse

from .processes import (IS_ROOT, _children_of, _die_with_parent, _kill_pid, _pg_user_kwargs,
                        _pid_alive, _register_cleanup, _unregister_cleanup, free_port,
                        unique_name, wait_for)

PG_BIN = os.environ.get("HOOKPIPE_PG_BIN", "/usr/lib/postgresql/15/bin")
REDIS_SERVER = os.environ.get("HOOKPIPE_REDIS_SERVER", "redis-server")
BIND_ATTEMPTS = 5  # ports tried when the chosen one is taken meanwhile


def _file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _bind_failed(log):
    return "Address already in use" in log


# --------------------------------------------------------------------------- Redis


class ServerProcess:
    """What every server process started here shares: its log, SIGKILL, and close (kill,
    remove its directory, forget its cleanup). Needs proc, log_path, dir, _cleanup_key."""

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
        _unregister_cleanup(self._cleanup_key)


def _start_on_a_free_port(server, timeout, what):
    """Runs server._start_once(timeout) until the server is up. A port chosen here that turns
    out to be taken (EADDRINUSE) is replaced by another, up to BIND_ATTEMPTS times; a given
    port, or the port of a restart, is kept and the failure raised."""
    for attempt in range(BIND_ATTEMPTS):
        offset = _file_size(server.log_path)
        if server._start_once(timeout):
            server._port_fixed = True
            return server
        log = server.log()[offset:]
        if server._port_fixed or not _bind_failed(log) or attempt == BIND_ATTEMPTS - 1:
            raise AssertionError(f"{what} exited ({server.proc.returncode}): {log[-3000:]}")
        server.port = free_port()
    raise AssertionError("unreachable")


class RedisServer(ServerProcess):
    """A private redis-server in its own temp dir on a free port (also a unix socket)."""

    def __init__(self, appendonly=False, port=None, appendfsync="always", password=None,
                 extra_args=()):
        self.host = "127.0.0.1"
        self.extra_args = list(extra_args)  # more redis-server arguments (e.g. --replicaof)
        self.port = port or free_port()
        self._port_fixed = port is not None  # given, or bound once: restarts keep it
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
        """Starts redis-server and waits until it answers. A port chosen here that turns out
        to be taken (EADDRINUSE) is replaced by another, up to BIND_ATTEMPTS times; a given
        port, or the port of a restart, is kept and the failure raised."""
        if self.alive():
            return self
        return _start_on_a_free_port(self, timeout, "redis-server")

    def _start_once(self, timeout):
        """True once our redis-server answers; False when it exited."""
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--daemonize", "no",
                "--unixsocket", self.unix_path, "--unixsocketperm", "777",
                "--logfile", self.log_path,
                "--appendonly", "yes" if self.appendonly else "no",
                "--appendfsync", self.appendfsync]
        if self.password:
            argv += ["--requirepass", self.password]
        argv += self.extra_args
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)

        def ready():
            if self.proc.poll() is not None:
                return "exited"
            # Whoever answers on the port must be this process, not a server that holds it.
            info = self.client(socket_timeout=0.5).info("server")
            return "up" if int(info["process_id"]) == self.proc.pid else None

        try:
            state = wait_for(ready, timeout=timeout, what=f"redis-server on port {self.port}")
        except AssertionError:
            self.kill()
            raise
        if state == "exited":
            self.proc.wait()
            return False
        return True

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

    # kill(): SIGKILL, a crash; with appendonly + appendfsync always, acknowledged writes survive

    def restart(self, timeout=10):
        """stop() then start() on the same port and directory."""
        self.stop()
        return self.start(timeout)

    def client(self, **kwargs):
        import redis  # python3-redis; imported late so the harness loads without it

        kwargs.setdefault("socket_timeout", 5)
        return redis.Redis(host="127.0.0.1", port=self.port, db=0, password=self.password,
                           decode_responses=False, **kwargs)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class _SharedServer:
    """A server tests/run started for all tests: always up, and not theirs to stop."""

    KIND = "server"
    PRIVATE = "a private server"

    def alive(self):
        return True

    def _refuse(self, *a, **kw):
        raise RuntimeError(f"the shared {self.KIND} cannot be stopped or restarted; "
                           f"use {self.PRIVATE}")

    start = stop = kill = restart = _refuse


class SharedRedis(_SharedServer):
    """The redis-server tests/run started (HOOKPIPE_TEST_REDIS_URL). Never stopped by tests:
    use unique_name() for keys and queues."""

    shared = True
    KIND, PRIVATE = "redis", "RedisServer()"

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


class PostgresServer(ServerProcess, _PostgresClient):
    """A private PostgreSQL 15, initdb'd in a temp dir (as the postgres user when root),
    listening on 127.0.0.1:free port with trust auth for the superuser `user`."""

    shared = False

    def __init__(self, port=None, user="hookpipe", settings=None):
        self.port = port or free_port()
        self._port_fixed = port is not None  # given, or bound once: restarts keep it
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
        """Starts postgres (initdb first if needed) and waits until it accepts connections.
        A port chosen here that turns out to be taken is replaced, as in RedisServer.start."""
        if self.alive():
            return self
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            self._initdb()
        return _start_on_a_free_port(self, timeout, "postgres")

    def _start_once(self, timeout):
        argv = [os.path.join(PG_BIN, "postgres"), "-D", self.data, "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-k", self.data]
        for k, v in self.settings.items():
            argv += ["-c", f"{k}={v}"]
        self._log = open(self.log_path, "ab")
        # postgres runs in the foreground as our child so kill() and PDEATHSIG reach it
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
                                     **_pg_user_kwargs())
        data = os.path.realpath(self.data)

        def ready():
            if self.proc.poll() is not None:
                return "exited"
            conn = self.connect("postgres", connect_timeout=1)
            try:
                with conn.cursor() as cur:
                    cur.execute("SHOW data_directory")
                    theirs = cur.fetchone()[0]
            finally:
                conn.close()
            # Whoever answers on the port must be this cluster, not a server that holds it.
            return "up" if os.path.realpath(theirs) == data else None

        try:
            state = wait_for(ready, timeout=timeout, interval=0.05,
                             what=f"PostgreSQL on port {self.port}")
        except AssertionError:
            self.kill()
            raise
        if state == "exited":
            self._reap(10)
            return False
        return True

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


class SharedPostgres(_SharedServer, _PostgresClient):
    """The PostgreSQL tests/run started (HOOKPIPE_TEST_PG_*). Never stopped by tests: use
    create_database() for isolation and PostgresServer() for restart/kill tests."""

    shared = True
    KIND, PRIVATE = "PostgreSQL", "PostgresServer()"

    def __init__(self, host, port, user):
        self.host = host
        self.port = int(port)
        self.user = user



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


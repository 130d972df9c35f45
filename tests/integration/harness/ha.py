"""High-availability servers for the tests: Redis replicas and Sentinels, a PostgreSQL
streaming standby made with pg_basebackup, and PgBouncer, all real servers on loopback,
registered for cleanup like the other servers here.
"""

import os
import shutil
import signal
import subprocess
import tempfile

from .processes import (IS_ROOT, _die_with_parent, _pg_user_kwargs, _register_cleanup,
                        free_port, port_open, sigstop, wait_for)
from .servers import PG_BIN, REDIS_SERVER, PostgresServer, RedisServer, ServerProcess

MASTER_NAME = "hpmaster"


class RedisNode(RedisServer):
    """A private redis-server that may be a replica of another RedisServer (replicaof)."""

    def __init__(self, replicaof=None, extra_args=(), **kw):
        more = ["--replicaof", "127.0.0.1", str(replicaof.port)] if replicaof is not None else []
        super().__init__(extra_args=more + list(extra_args), **kw)
        self.replicaof = replicaof

    def role(self):
        """'master', 'slave', or None when it does not answer."""
        try:
            r = self.client(socket_timeout=1).execute_command("ROLE")
        except Exception:
            return None
        return r[0].decode() if isinstance(r[0], bytes) else r[0]

    def stop_signal(self, sig):
        """Sends sig (SIGSTOP: a replica that stops acknowledging; SIGCONT) to the server."""
        if sig == signal.SIGSTOP:
            sigstop(self.proc.pid)
        else:
            os.kill(self.proc.pid, sig)


class Sentinel(ServerProcess):
    """A redis-server --sentinel monitoring MASTER_NAME at master_port (quorum 2 unless told)."""

    def __init__(self, master_port, quorum=2, down_after_ms=1000, name=MASTER_NAME):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="hookpipe-sentinel-")
        self.conf = os.path.join(self.dir, "sentinel.conf")
        self.log_path = os.path.join(self.dir, "sentinel.log")
        with open(self.conf, "w") as f:
            f.write(f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
                    f"logfile {self.log_path}\n"
                    f"sentinel monitor {name} 127.0.0.1 {master_port} {quorum}\n"
                    f"sentinel down-after-milliseconds {name} {down_after_ms}\n"
                    f"sentinel failover-timeout {name} 10000\n"
                    f"sentinel parallel-syncs {name} 1\n")
        self.proc = None
        self._cleanup_key = _register_cleanup(self.close)

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def start(self, timeout=10):
        self.proc = subprocess.Popen([REDIS_SERVER, self.conf, "--sentinel"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        wait_for(lambda: self.proc.poll() is None and self.client().ping(),
                         timeout=timeout, what=f"sentinel on port {self.port}")
        return self

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)

    def master_port(self, name=MASTER_NAME):
        try:
            r = self.client().execute_command("SENTINEL", "get-master-addr-by-name", name)
        except Exception:
            return None
        return int(r[1]) if r else None

    def master_info(self, name=MASTER_NAME):
        r = self.client().execute_command("SENTINEL", "MASTER", name)
        if isinstance(r, dict):
            return {k.decode() if isinstance(k, bytes) else k:
                    v.decode() if isinstance(v, bytes) else v for k, v in r.items()}
        it = [x.decode() if isinstance(x, bytes) else x for x in r]
        return dict(zip(it[0::2], it[1::2]))



def wait_replicas_online(master, n, timeout=20):
    """Until master's INFO replication lists n replicas in state online."""
    def ok():
        info = master.client(socket_timeout=1).info("replication")
        online = [k for k, v in info.items()
                  if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online"]
        return len(online) >= n
    wait_for(ok, timeout=timeout, interval=0.1, what=f"{n} replica(s) online")


def redis_group(nreplicas=1, nsentinels=3, down_after_ms=1000):
    """A master, nreplicas replicas and nsentinels sentinels that see each other."""
    master = RedisNode().start()
    replicas = [RedisNode(replicaof=master).start() for _ in range(nreplicas)]
    wait_replicas_online(master, nreplicas)
    sentinels = [Sentinel(master.port, down_after_ms=down_after_ms).start()
                 for _ in range(nsentinels)]

    def settled():
        for s in sentinels:
            info = s.master_info()
            if int(info.get("num-other-sentinels", 0)) != nsentinels - 1:
                return False
            if int(info.get("num-slaves", 0)) != nreplicas:
                return False
        return True
    wait_for(settled, timeout=30, interval=0.2,
                     what="sentinels to find each other and the replicas")
    return master, replicas, sentinels


def sentinel_list(sentinels):
    return ",".join(s.addr if hasattr(s, "addr") else s for s in sentinels)


# --------------------------------------------------------------------------- PostgreSQL


class PgStandby(PostgresServer):
    """A streaming standby of primary, made with pg_basebackup -R (hot_standby on)."""

    def __init__(self, primary, **kw):
        super().__init__(**kw)
        self.primary = primary

    def _initdb(self):
        os.mkdir(self.data, 0o700)
        kw = _pg_user_kwargs()
        if IS_ROOT:
            os.chown(self.data, kw["user"], kw["group"])
        r = subprocess.run([os.path.join(PG_BIN, "pg_basebackup"), "-h", "127.0.0.1",
                            "-p", str(self.primary.port), "-U", self.primary.user,
                            "-D", self.data, "-R", "-X", "stream", "-c", "fast"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
                           preexec_fn=_die_with_parent, **kw)
        if r.returncode != 0:
            raise AssertionError(f"pg_basebackup failed: {r.stdout.decode(errors='replace')}")
        # primary_conninfo from -R names application_name=standby1 for synchronous_standby_names
        with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as f:
            f.write("primary_conninfo = 'host=127.0.0.1 port=%d user=%s application_name=standby1'\n"
                    % (self.primary.port, self.primary.user))

    def promote(self, timeout=30):
        kw = _pg_user_kwargs()
        subprocess.run([os.path.join(PG_BIN, "pg_ctl"), "promote", "-D", self.data, "-w",
                        "-t", str(timeout)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.STDOUT, timeout=timeout + 10,
                       preexec_fn=_die_with_parent, **kw)

        def writable():
            return self.query("postgres", "SELECT pg_is_in_recovery()")[0][0] is False
        wait_for(writable, timeout=timeout, interval=0.1, what="standby promoted")


def pg_primary():
    """A primary that accepts replication connections (initdb --auth=trust already trusts
    replication from 127.0.0.1). Make it synchronous with make_synchronous once the standby
    streams: before that, every commit would wait for a standby that is not there."""
    settings = {"wal_level": "replica", "max_wal_senders": "5", "hot_standby": "on"}
    return PostgresServer(settings=settings).start()


def make_synchronous(primary, standby_name="standby1", timeout=30):
    """synchronous_standby_names = standby_name on primary; waits until it streams as sync."""
    primary.query("postgres", f"ALTER SYSTEM SET synchronous_standby_names = '{standby_name}'")
    primary.query("postgres", "SELECT pg_reload_conf()")
    wait_for(lambda: primary.query("postgres", "SELECT sync_state FROM pg_stat_replication "
                                   "WHERE application_name = %s", (standby_name,)) == [("sync",)],
             timeout=timeout, interval=0.1, what="the standby streaming as synchronous")


# --------------------------------------------------------------------------- PgBouncer

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


class PgBouncer(ServerProcess):
    """pgbouncer in front of pg (pool_mode transaction unless told), trust auth. A short
    server_lifetime replaces server connections by fresh backends all the time, so a client
    that relies on session state (a temp table, a SET) finds it missing."""

    def __init__(self, pg, pool_mode="transaction", pool_size=10, server_lifetime=3600):
        self.pg = pg
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="hookpipe-pgbouncer-")
        os.chmod(self.dir, 0o777)
        self.ini = os.path.join(self.dir, "pgbouncer.ini")
        self.log_path = os.path.join(self.dir, "pgbouncer.log")
        users = os.path.join(self.dir, "users.txt")
        with open(users, "w") as f:
            f.write(f'"{pg.user}" ""\n')
        with open(self.ini, "w") as f:
            f.write("[databases]\n"
                    f"* = host=127.0.0.1 port={pg.port}\n"
                    "[pgbouncer]\n"
                    f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\n"
                    f"unix_socket_dir =\nauth_type = trust\nauth_file = {users}\n"
                    f"pool_mode = {pool_mode}\ndefault_pool_size = {pool_size}\n"
                    f"max_client_conn = 200\nlogfile = {self.log_path}\n"
                    f"server_lifetime = {server_lifetime}\n"
                    "ignore_startup_parameters = extra_float_digits,options\n"
                    "server_reset_query =\n")
        self.proc = None
        self._cleanup_key = _register_cleanup(self.close)

    def start(self, timeout=10):
        kw = _pg_user_kwargs()  # pgbouncer refuses to run as root
        if IS_ROOT:
            for p in (self.dir, self.ini):
                os.chown(p, kw["user"], kw["group"])
        self.proc = subprocess.Popen([PGBOUNCER, self.ini], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent, **kw)
        wait_for(lambda: self.proc.poll() is None and port_open(self.port),
                         timeout=timeout, what=f"pgbouncer on port {self.port}")
        return self

    def conninfo(self, db):
        return f"postgresql://{self.pg.user}@127.0.0.1:{self.port}/{db}"



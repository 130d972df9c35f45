"""Processes: where the sources and binaries are, the registry of every process the harness
starts (killed at interpreter exit and by the conftest after each test; children also get
PR_SET_PDEATHSIG so they die with the test process however it dies), the starter of any
other program (start_process / stop_process / run_process), /proc helpers (CPU seconds,
/proc/PID/status figures), ports and the one polling helper (wait_for).
"""

import atexit
import ctypes
import itertools
import os
import pwd
import random
import signal
import socket
import subprocess
import time
import uuid

SOURCE_DIR = os.path.abspath(
    os.environ.get("HOOKPIPE_SOURCE_DIR")
    or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
)
BUILD_DIR = os.path.abspath(os.environ.get("HOOKPIPE_BUILD_DIR") or os.path.join(SOURCE_DIR, "build"))


def build_option(name, default="", build_dir=None):
    """The value of a CMake cache entry of build_dir (default BUILD_DIR; e.g.
    'HOOKPIPE_SANITIZE', 'CMAKE_BUILD_TYPE'), else default."""
    try:
        with open(os.path.join(build_dir or BUILD_DIR, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return default


# True when BUILD_DIR is the ASan+UBSan build (tests that inspect binaries or time may adapt).
SANITIZED = build_option("HOOKPIPE_SANITIZE").upper() in ("ON", "1", "TRUE", "YES")

IS_ROOT = os.geteuid() == 0

_random = random.SystemRandom()

# --------------------------------------------------------------------------- process registry

_cleanups = {}  # id -> callable, run (newest first) at exit
_cleanup_ids = itertools.count()


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


def _stat_fields(path):
    """The fields of a /proc/.../stat file after "pid (comm)" (state, ppid, ...; comm may
    hold spaces and parentheses), or None once the process or thread is gone."""
    try:
        with open(path, "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()


def _thread_states(pid):
    tasks = os.listdir(f"/proc/{pid}/task")
    states = (_stat_fields(f"/proc/{pid}/task/{tid}/stat") for tid in tasks)
    return [fields[0] for fields in states if fields]


def sigstop(pid, timeout=10):
    """SIGSTOPs pid and returns once every one of its threads is stopped. kill() returning
    is not enough: the kernel wakes one thread to take the signal and that one stops the
    others, so on a busy machine another thread runs on (and reads its sockets) until the
    first is scheduled."""
    os.kill(pid, signal.SIGSTOP)
    wait_for(lambda: all(s == b"T" for s in _thread_states(pid)), timeout=timeout,
             what=f"every thread of {pid} stopped")


def _children_of(pid):
    """PIDs whose parent is pid (from /proc)."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(f"/proc/{entry}/stat")
        if fields is not None and len(fields) > 1 and int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def _pid_alive(pid):
    fields = _stat_fields(f"/proc/{pid}/stat")
    return bool(fields) and fields[0] != b"Z"


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU seconds process pid has used so far (/proc/PID/stat), None once it
    is gone."""
    fields = _stat_fields(f"/proc/{pid}/stat")
    if not fields:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kb(pid, field):
    """A kB figure of /proc/PID/status, e.g. "VmHWM" (peak resident set); 0 when absent."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------- other processes


def start_process(argv, log_path, env=None):
    """Starts argv (any program: nginx, a hookpipe binary built elsewhere...) with stdout and
    stderr appended to log_path; it dies with this process and cleanup_all kills it. Returns
    the Popen; stop it with stop_process."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env, preexec_fn=_die_with_parent)

    def kill():
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    proc.harness_cleanup_key = _register_cleanup(kill)
    return proc


def stop_process(proc, sig=signal.SIGTERM, timeout=15):
    """Sends sig to a start_process process and waits up to timeout, then SIGKILLs it.
    Returns its returncode."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _unregister_cleanup(getattr(proc, "harness_cleanup_key", None))
    return proc.returncode


def run_process(argv, **kwargs):
    """subprocess.run(argv, **kwargs) whose child dies with this process."""
    return subprocess.run([str(a) for a in argv], preexec_fn=_die_with_parent, **kwargs)


# --------------------------------------------------------------------------- ports and polling

_ports_given = set()


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A TCP port free on 127.0.0.1 right now (never the same one twice per process), for a
    server that needs its port chosen in advance (redis-server, PostgreSQL, a restart on the
    same port). Taken at random below the kernel's ephemeral range, where port-0 binds and
    client connections never land. It is still only free *now*: whoever binds it must
    retry with another port on EADDRINUSE (the servers here do). Daemons bind port 0
    instead and report their port (Daemon.listen_port)."""
    low = _ephemeral_range()[0]
    start = max(1024, low - 20000)
    for _ in range(200):
        port = _random.randrange(start, low)
        if port in _ports_given:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
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


TCP_ESTABLISHED, TCP_LISTEN = "01", "0A"


def tcp_sockets(port, state, proc_file="/proc/net/tcp"):
    """The receive queues (bytes not yet read by their owner; for a LISTEN socket, the
    connections waiting to be accepted) of this namespace's TCP sockets bound to local port
    `port` in state `state` (TCP_ESTABLISHED, TCP_LISTEN), from /proc/net/tcp or tcp6: []
    when none."""
    queues = []
    try:
        with open(proc_file) as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == state and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    queues.append(int(fields[4].split(":")[1], 16))
    except OSError:
        pass
    return queues


def wait_for(pred, timeout=10, interval=0.02, what="", fatal=()):
    """Polls pred() until it returns something truthy (which is returned) or timeout. An
    exception from pred is taken as "not yet" (a thing starting may fail), except those of
    the types in fatal, which are raised at once."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except fatal:
            raise
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


"""deploy/run-local end to end: start the stack on free ports with a private state directory,
send a signed event with tools/hookpipe-send, see its row in PostgreSQL, run the
`hookpipe-ctl status` the script prints (as a newcomer would), stop with SIGINT, check that
every process is gone, start again and see the data kept.

The main test lets the script build the daemons and hookpipe-ctl itself, into a private
build directory (the tree the test runs from is never rebuilt); the shorter ones reuse the
daemons in HOOKPIPE_BUILD_DIR (HOOKPIPE_SKIP_BUILD=1). The state directory never is the
checkout's .run/.
"""

import os
import random
import re
import signal
import socket
import subprocess
import tempfile
import time

import pytest

SOURCE_DIR = os.environ.get(
    "HOOKPIPE_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD_DIR = os.environ.get("HOOKPIPE_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
RUN_LOCAL = os.path.join(SOURCE_DIR, "deploy", "run-local")
SENDER = os.path.join(SOURCE_DIR, "tools", "hookpipe-send")
FIXTURE = os.path.join(SOURCE_DIR, "tests", "fixtures", "zoom", "meeting.started.json")
START_DEADLINE_S = 300  # includes the build in the main test
STOP_DEADLINE_S = 90


def _port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _free_ports():
    """Ports for the stack, all distinct and free: gateway, redis, pg, then three consecutive
    admin ports (gateway, writer 1, writer 2). Taken below the kernel's ephemeral range, so
    the client connections of tests running alongside cannot grab them meanwhile."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except OSError:
        ephemeral_low = 32768
    low = max(10000, ephemeral_low - 12000)
    rng = random.Random()
    for _ in range(500):
        port, redis_port, pg_port, admin = [rng.randrange(low, ephemeral_low - 3)
                                            for _ in range(4)]
        every = [port, redis_port, pg_port, admin, admin + 1, admin + 2]
        if len(set(every)) == len(every) and all(map(_port_free, every)):
            return port, redis_port, pg_port, admin
    raise AssertionError("no free ports found")


def _alive(pid):
    """True while pid exists and is not a zombie (a zombie has already exited)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


class Stack:
    def __init__(self, tmp, build):
        self.state = os.path.join(tmp, "state")
        port, redis_port, pg_port, admin_port = _free_ports()
        self.env = dict(os.environ,
                        HOOKPIPE_STATE_DIR=self.state,
                        HOOKPIPE_BUILD_DIR=os.path.join(tmp, "build") if build else BUILD_DIR,
                        HOOKPIPE_SKIP_BUILD="0" if build else "1",
                        HOOKPIPE_PORT=str(port),
                        HOOKPIPE_REDIS_PORT=str(redis_port),
                        HOOKPIPE_PG_PORT=str(pg_port),
                        HOOKPIPE_ADMIN_PORT=str(admin_port))
        self.proc = None
        self.out_path = os.path.join(tmp, "run-local.out")

    def output(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def start(self):
        out = open(self.out_path, "wb")
        # Own session: the SIGINT below reaches only the script, as Ctrl-C would reach its
        # foreground process group.
        self.proc = subprocess.Popen([RUN_LOCAL], stdout=out, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=SOURCE_DIR, start_new_session=True)
        out.close()
        end = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < end:
            if "Press Ctrl-C to stop." in self.output():
                return
            if self.proc.poll() is not None:
                raise AssertionError("run-local exited %s:\n%s" % (self.proc.returncode,
                                                                    self.output()))
            time.sleep(0.2)
        raise AssertionError("run-local not ready after %ds:\n%s" % (START_DEADLINE_S,
                                                                     self.output()))

    def pids(self):
        """Every process the stack runs: pid files, plus the PostgreSQL postmaster."""
        pids = {}
        pid_dir = os.path.join(self.state, "pids")
        for name in os.listdir(pid_dir):
            with open(os.path.join(pid_dir, name)) as f:
                pids[name] = int(f.read().strip())
        with open(os.path.join(self.state, "pg.location")) as f:
            pg_base = f.read().strip()
        with open(os.path.join(pg_base, "data", "postmaster.pid")) as f:
            pids["postmaster"] = int(f.readline().strip())
        return pids

    def interrupt(self):
        # As a terminal's Ctrl-C does: SIGINT to the script's whole process group. The
        # daemons run in their own sessions and must be stopped by the script, in order.
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            raise AssertionError("run-local did not stop within %ds after SIGINT:\n%s"
                                 % (STOP_DEADLINE_S, self.output()))

    def conninfo(self):
        with open(os.path.join(self.state, "hookpipe.ini")) as f:
            return re.search(r"^conninfo = (.+)$", f.read(), re.M).group(1)

    def sql(self, query):
        r = subprocess.run(["psql", "-X", "-tA", self.conninfo(), "-c", query],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def send(self):
        url = "http://127.0.0.1:%s/hooks/example" % self.env["HOOKPIPE_PORT"]
        return subprocess.run([SENDER, "--secret-file", os.path.join(self.state, "example.secret"),
                               "--unique", url, FIXTURE], capture_output=True, timeout=60)

    def wait_rows(self, want, deadline_s=30):
        end = time.monotonic() + deadline_s
        n = None
        while time.monotonic() < end:
            n = int(self.sql("SELECT count(*) FROM hookpipe.events WHERE source = 'example'"))
            if n >= want:
                return n
            time.sleep(0.2)
        return n

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        # Whatever a failed run left behind.
        subprocess.run([RUN_LOCAL, "--stop"], env=self.env, capture_output=True, timeout=120)


def _make_stack(build):
    if not build:
        for binary in ("hookpipe-gateway", "hookpipe-writer"):
            if not os.access(os.path.join(BUILD_DIR, binary), os.X_OK):
                pytest.skip("%s/%s not built yet" % (BUILD_DIR, binary))
    tmp = tempfile.mkdtemp(prefix="hookpipe-run-local-")
    # As root PostgreSQL runs as postgres, which must be able to enter the state directory.
    os.chmod(tmp, 0o755)
    s = Stack(tmp, build)
    try:
        yield s
    finally:
        s.cleanup()
        # PostgreSQL (another user) may still be unlinking its last files: retry briefly.
        for _ in range(25):
            subprocess.run(["rm", "-rf", tmp], capture_output=True, timeout=60)
            if not os.path.exists(tmp):
                break
            time.sleep(0.2)


@pytest.fixture
def stack():
    yield from _make_stack(build=False)


@pytest.fixture
def building_stack():
    yield from _make_stack(build=True)


@pytest.mark.timeout(900)
def test_run_local_start_send_stop_restart_keeps_data(building_stack):
    stack = building_stack
    stack.start()
    out = stack.output()
    assert "building into" in out
    for binary in ("hookpipe-gateway", "hookpipe-writer", "hookpipe-ctl"):
        assert os.access(os.path.join(stack.env["HOOKPIPE_BUILD_DIR"], binary), os.X_OK)
    assert "webhook URL    http://127.0.0.1:%s/hooks/example" % stack.env["HOOKPIPE_PORT"] in out
    with open(os.path.join(stack.state, "example.secret")) as f:
        secret = f.read().strip()
    assert secret and secret in out
    assert "tools/hookpipe-send" in out and "psql" in out

    r = stack.send()
    assert r.returncode == 0, r.stdout + r.stderr
    assert stack.wait_rows(1) == 1, stack.output()

    # The operator's tool was built beside the daemons, and the command printed for it works
    # against the stack just started.
    ctl = os.path.join(stack.env["HOOKPIPE_BUILD_DIR"], "hookpipe-ctl")
    printed = "%s -c %s status" % (ctl, os.path.join(stack.state, "hookpipe.ini"))
    assert "\n  %s\n" % printed in out, out
    env = {k: v for k, v in os.environ.items() if k != "HOOKPIPE_CONFIG"}
    r = subprocess.run(printed.split(), capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "writers: 2 known, 2 alive" in r.stdout and "health: healthy" in r.stdout, r.stdout
    assert "newest event received: 20" in r.stdout, r.stdout

    pids = stack.pids()
    assert {"gateway", "writer-local-1", "writer-local-2", "redis", "postmaster"} <= {
        n.replace(".pid", "") for n in pids}
    assert all(_alive(p) for p in pids.values())

    assert stack.interrupt() == 0, stack.output()
    out = stack.output()
    # Order: the daemons before the stores they write to.
    order = [out.index("stopped " + n) for n in
             ("gateway", "writer-local-1", "writer-local-2", "redis", "postgresql")]
    assert order == sorted(order), out
    for name, pid in pids.items():
        assert not _alive(pid), "%s (pid %d) still running after SIGINT" % (name, pid)
    for var in ("HOOKPIPE_PORT", "HOOKPIPE_REDIS_PORT", "HOOKPIPE_PG_PORT"):
        assert _port_free(int(stack.env[var])), var

    # Again: same secret, the row still there, and a second event lands too.
    stack.start()
    with open(os.path.join(stack.state, "example.secret")) as f:
        assert f.read().strip() == secret
    assert stack.wait_rows(1) == 1
    r = stack.send()
    assert r.returncode == 0, r.stdout + r.stderr
    assert stack.wait_rows(2) == 2
    pids = stack.pids()
    assert stack.interrupt() == 0, stack.output()
    for name, pid in pids.items():
        assert not _alive(pid), "%s (pid %d) still running after SIGINT" % (name, pid)


@pytest.mark.timeout(300)
def test_run_local_sigterm_stops_everything(stack):
    stack.start()
    pids = stack.pids()
    stack.proc.send_signal(signal.SIGTERM)
    assert stack.proc.wait(timeout=STOP_DEADLINE_S) == 0, stack.output()
    for name, pid in pids.items():
        assert not _alive(pid), "%s (pid %d) still running after SIGTERM" % (name, pid)


@pytest.mark.timeout(300)
def test_run_local_refuses_a_busy_port(stack):
    with socket.socket() as s:
        s.bind(("127.0.0.1", int(stack.env["HOOKPIPE_PORT"])))
        s.listen(1)
        r = subprocess.run([RUN_LOCAL], env=stack.env, capture_output=True, text=True,
                           timeout=120)
    assert r.returncode == 1
    assert "HOOKPIPE_PORT" in r.stderr and "in use" in r.stderr

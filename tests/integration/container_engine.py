"""A private Docker engine for the container tests (test_containers.py, test_package.py).

No registry is reachable here, so the engine gets its images locally: a Debian 12 root file
system made by tests/containers/mkbase (debootstrap; cached in CACHE as a tarball) is
imported and tagged debian:12-slim, and stand-ins for postgres:15 and redis:7 are built
from it (tests/containers/*.Dockerfile). The engine's data root is kept in CACHE too, so
images and build layers survive between runs; its sockets live in a temporary directory.
Runs are serialised by a lock in CACHE. The engine has no default bridge and does not
touch iptables: containers reach each other on compose's own network, the host reaches
published ports through docker-proxy on 127.0.0.1, and builds that install packages use
the host network (the Debian mirror).

engine(reason_out) returns an Engine, or None with the reason in reason_out[0].
"""

import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time

import harness

SOURCE_DIR = os.environ.get(
    "HOOKPIPE_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
CACHE = os.environ.get("HOOKPIPE_TEST_CACHE", "/var/cache/hookpipe-test")
CONTAINERS = os.path.join(SOURCE_DIR, "tests", "containers")


class Engine:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="hpd-", dir="/tmp")  # short: a socket path
        self.sock = os.path.join(self.tmp, "docker.sock")
        self.env = dict(os.environ, DOCKER_HOST="unix://" + self.sock, DOCKER_BUILDKIT="0")
        self.proc = None
        self.lock = None
        self.timings = {}

    def run(self, *args, timeout=600, check=True, **kw):
        r = subprocess.run(list(args), capture_output=True, text=True, env=kw.pop("env", self.env),
                           timeout=timeout, **kw)
        if check and r.returncode != 0:
            raise AssertionError("%s: exit %d\n%s\n%s" % (" ".join(args), r.returncode,
                                                         r.stdout[-3000:], r.stderr[-3000:]))
        return r

    def docker(self, *args, **kw):
        return self.run("docker", *args, **kw)

    def start(self):
        os.makedirs(CACHE, exist_ok=True)
        self.lock = open(os.path.join(CACHE, "lock"), "w")
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        log = open(os.path.join(self.tmp, "dockerd.log"), "w")
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", os.path.join(CACHE, "docker-root"),
             "--exec-root", os.path.join(self.tmp, "exec"),
             "--pidfile", os.path.join(self.tmp, "docker.pid"),
             "--host", "unix://" + self.sock, "--iptables=false", "--ip-masq=false",
             "--bridge=none"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        harness.wait_for(lambda: self.proc.poll() is not None or self.docker(
            "version", check=False, timeout=10).returncode == 0, timeout=60, interval=0.5,
            what="dockerd to answer")
        if self.proc.poll() is not None:
            raise AssertionError("dockerd exited: " + self.log()[-2000:])
        # leftovers of an interrupted run on this private engine
        ids = self.docker("ps", "-aq").stdout.split()
        if ids:
            self.docker("rm", "-f", *ids)
        self.docker("network", "prune", "-f")
        self.docker("volume", "prune", "-f")

    def log(self):
        try:
            with open(os.path.join(self.tmp, "dockerd.log")) as f:
                return f.read()
        except OSError:
            return ""

    def has_image(self, ref):
        return self.docker("image", "inspect", ref, check=False).returncode == 0

    def base_images(self):
        """debian:12-slim (debootstrap) and the postgres:15 / redis:7 stand-ins."""
        t0 = time.monotonic()
        if not self.has_image("hookpipe-test/debian:12"):
            self.run(os.path.join(CONTAINERS, "mkbase"), CACHE, timeout=1800, env=os.environ)
            self.docker("import", os.path.join(CACHE, "debian-bookworm.tar"),
                        "hookpipe-test/debian:12", timeout=600)
        self.docker("tag", "hookpipe-test/debian:12", "debian:12-slim")
        self.timings["base"] = time.monotonic() - t0
        t0 = time.monotonic()
        self.docker("build", "-q", "-t", "postgres:15", "-f", "postgres.Dockerfile", ".",
                    cwd=CONTAINERS)
        self.docker("build", "-q", "-t", "redis:7", "-f", "redis.Dockerfile", ".", cwd=CONTAINERS)
        self.timings["stand-ins"] = time.monotonic() - t0

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.lock is not None:
            self.lock.close()


def why_not():
    """None when an engine can be started here, else the reason."""
    if os.environ.get("HOOKPIPE_CONTAINER_TESTS", "1") == "0":
        return "HOOKPIPE_CONTAINER_TESTS=0"
    if harness.SANITIZED:
        return "containers are tested once, in the non-sanitizer run"
    if os.geteuid() != 0:
        return "dockerd needs root (run tests/run as root)"
    for tool in ("dockerd", "docker", "docker-compose", "debootstrap"):
        if shutil.which(tool) is None:
            return "%s not installed (Debian packages docker.io docker-compose debootstrap)" % tool
    return None

"""Daemons: hookpipe-gateway / hookpipe-writer as subprocesses with generated INI configs,
their logs (scanned for sanitizer reports, which fail the test) and the listener lines
they print, which give the port each bound (use port 0 in the config):
    ts=… level=info comp=gateway msg="listening" what=http addr=127.0.0.1:43127
"""

import os
import re
import signal
import subprocess
import tempfile

from .processes import (BUILD_DIR, _die_with_parent, _register_cleanup, _unregister_cleanup,
                        port_open, wait_for)
from .servers import _file_size

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")

# The stable listener line (docs/operations.md, "Logs"): one per listener, after it is bound.
LISTENING = re.compile(r'^ts=\S+ level=info comp=\w+ msg="listening" what=(\w+) addr=(\S+)', re.M)

_daemons = []  # every Daemon ever created in this process, for the per-test check


def _connect_addr(addr):
    """(host, port) to connect to for a reported "host:port" / "[v6]:port" listener."""
    host, port = addr.rsplit(":", 1)
    host = host.strip("[]")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return host, int(port)


class _Exited(Exception):
    """The daemon exited while we waited for it (not worth polling on)."""


def write_config(path, gateway=None, redis=None, postgres=None, writer=None, sources=None,
                 log=None, extra=None, storage=None):
    """Writes an INI config and returns its path (str).

    Each section (log, gateway, redis, postgres, writer, storage) is a dict written verbatim
    as `key = value` (True/False -> on/off).
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
                          ("postgres", postgres), ("writer", writer), ("storage", storage)):
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



def daemon_path(kind):
    return os.path.join(BUILD_DIR, f"hookpipe-{kind}")


class Daemon:
    """A hookpipe daemon (`kind` 'gateway' or 'writer') run as BUILD_DIR/hookpipe-<kind> -c FILE
    (or as exe, another build's binary).

    stdout and stderr go to one log file (log()): a temp file removed at cleanup, or log_path,
    which is kept. stop()/kill() fail the test when the log holds a sanitizer report; the
    conftest does the same check for daemons left running.
    """

    def __init__(self, kind, config_path, args=(), env=None, exe=None, log_path=None):
        self.kind = kind
        self.exe = exe or daemon_path(kind)
        self.argv = [self.exe, "-c", str(config_path)] + [str(a) for a in args]
        self.env = dict(os.environ)
        self.env.update({k: str(v) for k, v in (env or {}).items()})
        self._own_log = log_path is None
        if self._own_log:
            fd, self.log_path = tempfile.mkstemp(prefix=f"hookpipe-{kind}-", suffix=".log")
            os.close(fd)
        else:
            self.log_path = str(log_path)
        self.proc = None
        self.returncode = None
        self._checked = False
        self._log_offset = 0
        _daemons.append(self)
        self._cleanup_key = _register_cleanup(self._final)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait_port=None, timeout=10, wait_listen=()):
        """Starts the process. With wait_port, polls until that TCP port accepts; with
        wait_listen (e.g. ("http", "admin")), waits for the daemon to report each listener
        (see listen_port) and for its port to accept."""
        if not os.access(self.exe, os.X_OK):
            raise AssertionError(f"{self.exe} is not built")
        self._log_offset = _file_size(self.log_path)  # listen_port reads this start's lines
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=self.env,
                                         preexec_fn=_die_with_parent)
        self.returncode = None
        addrs = [("127.0.0.1", wait_port)] if wait_port is not None else []
        addrs += [_connect_addr(self.listen_addr(what, timeout)) for what in wait_listen]
        for host, port in addrs:
            def ready(host=host, port=port):
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"hookpipe-{self.kind} exited with {self.proc.returncode} before "
                        f"port {port} opened; log:\n{self.log()[-4000:]}")
                return port_open(port, host)

            wait_for(ready, timeout=timeout, what=f"hookpipe-{self.kind} to listen on {port}")
        return self

    def listeners(self):
        """{what: "host:port"} from the msg="listening" lines of the current start."""
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            text = f.read().decode("utf-8", "replace")
        return {what: addr for what, addr in LISTENING.findall(text)}

    def listen_addr(self, what="http", timeout=10):
        """The "host:port" the daemon reported for listener what ("http" or "admin"), waiting
        up to timeout for the line; fails at once if the daemon exits first."""
        def reported():
            addr = self.listeners().get(what)
            if addr is None and self.proc.poll() is not None:
                raise _Exited(f"hookpipe-{self.kind} exited with {self.proc.returncode} before "
                              f"reporting its {what} listener; log:\n{self.log()[-4000:]}")
            return addr

        try:
            return wait_for(reported, timeout=timeout, fatal=(_Exited,), what=f"hookpipe-{self.kind} "
                            f"to report its {what} listener")
        except _Exited as exc:
            raise AssertionError(str(exc)) from None

    def listen_port(self, what="http", timeout=10):
        """The port of listener what (see listen_addr): the one to use with port 0."""
        return int(self.listen_addr(what, timeout).rsplit(":", 1)[1])

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
        if self._own_log and os.environ.get("HOOKPIPE_KEEP_LOGS") != "1":
            try:
                os.unlink(self.log_path)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.finish()


def run_daemon(kind, args, env=None, timeout=30, input=None, exe=None):
    """Runs hookpipe-<kind> (or exe) args to completion (e.g. --check-config, --migrate,
    --version). Returns a CompletedProcess with text stdout/stderr; fails on a sanitizer
    report."""
    full_env = dict(os.environ)
    full_env.update({k: str(v) for k, v in (env or {}).items()})
    r = subprocess.run([exe or daemon_path(kind)] + [str(a) for a in args], env=full_env,
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


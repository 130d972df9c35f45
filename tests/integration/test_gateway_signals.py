"""The gateway's signals: SIGHUP reloads sources and secrets (a broken file keeps the old
configuration and the log says why), SIGTERM/SIGINT stop accepting, finish the pushes in
flight (every 200 queued) and exit 0.
"""

import json
import os
import re
import signal
import socket
import threading
import time

import harness
from gateway_helpers import SECRET_A, Gw, event_body, ids_once, metric

S1, S2, S3, S4 = ("rot-secret-one-1111", "rot-secret-two-2222", "rot-secret-three-3333",
                  "rot-secret-four-4444")


def status(gw, source, secret):
    return gw.post(source, event_body(), secret, timeout=3)[0]


def hup_and_wait(gw, before_reloads, before_failures, want_failure=False):
    """Sends SIGHUP and waits until the reload (or its rejection) is counted."""
    gw.daemon.signal(signal.SIGHUP)
    name = ("hookpipe_gateway_config_reload_failures_total" if want_failure
            else "hookpipe_gateway_config_reloads_total")
    before = before_failures if want_failure else before_reloads
    harness.wait_for(lambda: metric(gw.metrics(), name) >= before + 1, timeout=5,
                     what="%s to move" % name)


def counts(gw):
    m = gw.metrics()
    return (metric(m, "hookpipe_gateway_config_reloads_total"),
            metric(m, "hookpipe_gateway_config_reload_failures_total"))


def all_ok(gw, source, secret, n=8):
    """n posts on fresh connections (spread over the workers by SO_REUSEPORT) all 200."""
    return all(status(gw, source, secret) == 200 for _ in range(n))


def test_sighup_rotates_secrets_and_keeps_old_config_when_broken(tmp_path):
    gw = Gw(tmp_path, harness.shared_redis(), name="hup",
            sources={"alpha": {"provider": "zoom", "secret": S1}}).start()
    try:
        assert all_ok(gw, "alpha", S1)
        assert status(gw, "alpha", S2) == 401
        assert status(gw, "delta", S1) == 404

        # 1. rotate: S2 replaces S1 outright, and a new source appears
        gw.write(sources={"alpha": {"provider": "zoom", "secret": S2},
                          "delta": {"provider": "zoom", "secret": S3}})
        hup_and_wait(gw, *counts(gw))
        # every worker has the new keys once the reload is counted, give them a moment
        harness.wait_for(lambda: all_ok(gw, "alpha", S2), timeout=3, what="S2 accepted")
        assert all(status(gw, "alpha", S1) == 401 for _ in range(8))
        assert all_ok(gw, "delta", S3)

        # 2. rotate with overlap: S3 current, S2 previous; delta removed
        gw.write(sources={"alpha": {"provider": "zoom", "secret": S3, "secret_previous": S2}})
        hup_and_wait(gw, *counts(gw))
        harness.wait_for(lambda: all_ok(gw, "alpha", S3), timeout=3, what="S3 accepted")
        assert all_ok(gw, "alpha", S2)
        assert status(gw, "alpha", S1) == 401
        harness.wait_for(lambda: status(gw, "delta", S3) == 404, timeout=3, what="delta gone")

        # 3. a broken file: unknown key. The old keys keep working, S4 is not taken.
        gw.write(sources={"alpha": {"provider": "zoom", "secret": S4}},
                 raw_append="[gateway]\nbogus_reload_key = 1\n")
        with open(gw.config_path) as f:
            lines = f.read().splitlines()
        bad_line = lines.index("bogus_reload_key = 1") + 1
        hup_and_wait(gw, *counts(gw), want_failure=True)
        assert all_ok(gw, "alpha", S3)
        assert all_ok(gw, "alpha", S2)
        assert status(gw, "alpha", S4) == 401
        log = gw.log()
        assert "bogus_reload_key" in log, log[-2000:]
        assert re.search(r"%s:%d" % (re.escape(gw.config_path), bad_line), log), log[-2000:]

        # 4. a broken value in a source (empty secret): also rejected as a whole
        gw.write(sources={"alpha": {"provider": "zoom", "secret": S4},
                          "echo": {"provider": "zoom"}})
        hup_and_wait(gw, *counts(gw), want_failure=True)
        assert all_ok(gw, "alpha", S3)
        assert status(gw, "alpha", S4) == 401

        # 5. fixed file: reload works again
        gw.write(sources={"alpha": {"provider": "zoom", "secret": S4}})
        hup_and_wait(gw, *counts(gw))
        harness.wait_for(lambda: all_ok(gw, "alpha", S4), timeout=3, what="S4 accepted")
        assert status(gw, "alpha", S3) == 401
        assert gw.daemon.alive()

        # secrets never reach the log
        log = gw.log()
        for s in (S1, S2, S3, S4):
            assert s not in log, "secret in the log"
    finally:
        gw.clear_queue()
    assert gw.stop() == 0


def test_sigterm_finishes_pushes_in_flight_then_exits_0(tmp_path, redis_server):
    gw = Gw(tmp_path, redis_server, gateway={"push_timeout_ms": 8000, "workers": 2}).start()
    n = 16
    results = [None] * n
    bodies = [event_body() for _ in range(n)]

    def poster(i):
        try:
            results[i] = gw.post("alpha", bodies[i], gateway_secret(), timeout=20)
        except OSError as e:
            results[i] = ("error", repr(e), b"")

    harness.sigstop(redis_server.pid)
    try:
        threads = [threading.Thread(target=poster, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        harness.wait_for(
            lambda: metric(gw.metrics(), "hookpipe_gateway_requests_in_flight") == n,
            timeout=5, what="all requests in flight (pushes pending)")
        gw.daemon.signal(signal.SIGTERM)
        time.sleep(0.5)
        assert gw.daemon.alive(), "exited with pushes in flight"
        # no longer accepting: a new request is refused or never answered
        try:
            with socket.create_connection(("127.0.0.1", gw.port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                s.settimeout(1)
                reply = s.recv(100)
        except (ConnectionRefusedError, ConnectionResetError, socket.timeout):
            reply = b""
        assert not reply.startswith(b"HTTP/1.1 200"), reply
    finally:
        os.kill(redis_server.pid, signal.SIGCONT)
    for t in threads:
        t.join(20)
    rc = gw.daemon.wait(timeout=15)
    assert rc == 0, gw.log()[-3000:]
    statuses = [r[0] for r in results]
    assert statuses == [200] * n, results
    answered = {json.loads(r[2].decode())["id"]: bodies[i] for i, r in enumerate(results)}
    items = gw.items()
    assert ids_once(items) == set(answered)
    for e in items:
        assert e["body"] == answered[e["id"]]


def gateway_secret():
    return SECRET_A


def test_sigint_and_sigterm_when_idle_exit_0_promptly(tmp_path):
    for sig in (signal.SIGINT, signal.SIGTERM):
        gw = Gw(tmp_path, harness.shared_redis(), name="idle%d" % sig).start()
        # an idle keep-alive connection must not hold the shutdown up
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=2)
        try:
            assert status(gw, "alpha", gateway_secret()) == 200
            t0 = time.monotonic()
            assert gw.stop(sig, timeout=5) == 0, gw.log()[-2000:]
            assert time.monotonic() - t0 < 3
            assert "stopp" in gw.log()
        finally:
            s.close()
            gw.clear_queue()

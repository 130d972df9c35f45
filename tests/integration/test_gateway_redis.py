"""The gateway against Redis: deliveries of one loop turn coalesced into one LPUSH; a
Redis that goes away: stopped during concurrent traffic and restarted on the same port,
paused with SIGSTOP so pushes are never confirmed. The rule
under test is "never 200 unless queued": every 200'd delivery id must be in the list
exactly once (with its own body), and while Redis is gone the answers are fast 503s.
"""

import json
import os
import signal
import socket
import threading
import time

import pytest

import harness
from gateway_helpers import (SECRET_A, Gw, event_body, format_request, ids_once, metric,
                             retry_after_ok, signed_headers, wait_ready)


def post_json(gw, body, timeout=5):
    """POST a signed body to alpha; (status, headers, parsed JSON or None, seconds)."""
    t0 = time.monotonic()
    try:
        st, h, b = gw.post("alpha", body, SECRET_A, timeout=timeout)
    except OSError as e:
        return "error:%r" % e, {}, None, time.monotonic() - t0
    try:
        doc = json.loads(b.decode())
    except ValueError:
        doc = None
    return st, h, doc, time.monotonic() - t0


def wait_all_links_up(gw, timeout=8):
    harness.wait_for(lambda: metric(gw.metrics(), "hookpipe_gateway_redis_connected") == 1,
                     timeout=timeout, what="every worker's Redis link up again")


def check_queue_against_answers(gw, answered):
    """answered: {delivery_id: body} of every 200. All must be queued once, with that body."""
    items = gw.items()
    queued_ids = ids_once(items)
    missing = set(answered) - queued_ids
    assert not missing, "%d deliveries answered 200 but not in the list: %s" % (
        len(missing), sorted(missing)[:5])
    by_id = {e["id"]: e for e in items}
    for delivery_id, body in answered.items():
        assert by_id[delivery_id]["body"] == body, delivery_id
        assert by_id[delivery_id]["source"] == "alpha"
    return items


def test_redis_down_is_503_with_retry_after_and_readyz_follows(tmp_path, redis_server):
    gw = Gw(tmp_path, redis_server, gateway={"push_timeout_ms": 500}).start()
    body = event_body()
    st, h, doc, _ = post_json(gw, body)
    assert st == 200, doc
    redis_server.stop()
    wait_ready(gw, 503, timeout=5)
    st, h, doc, secs = post_json(gw, event_body())
    assert st == 503, doc
    assert retry_after_ok(h), h
    assert isinstance(doc, dict) and "error" in doc
    assert secs < 1.0
    m = gw.metrics()
    assert metric(m, "hookpipe_gateway_redis_connected") == 0
    assert metric(m, "hookpipe_gateway_requests_total", source="alpha", status="503") >= 1
    assert gw.stop() == 0


def test_redis_stopped_during_traffic_then_restarted(tmp_path, redis_aof):
    """Many concurrent posters; Redis stopped, then restarted on the same port (AOF keeps the
    list). No 200 without the item in the list; fast 503s while down; 200s again after."""
    gw = Gw(tmp_path, redis_aof, gateway={"push_timeout_ms": 500, "workers": 2}).start()
    lock = threading.Lock()
    answered = {}  # id -> body, for every 200
    log = []  # (t_start, t_end, status, retry_after_ok)
    bad = []
    stop = threading.Event()

    def poster():
        while not stop.is_set():
            body = event_body()
            t0 = time.monotonic()
            st, h, doc, _ = post_json(gw, body, timeout=5)
            t1 = time.monotonic()
            with lock:
                log.append((t0, t1, st, retry_after_ok(h)))
                if st == 200:
                    if not (isinstance(doc, dict) and doc.get("status") == "queued"):
                        bad.append(("200 without queued", doc))
                    else:
                        answered[doc["id"]] = body
                elif st != 503:
                    bad.append((st, doc))

    threads = [threading.Thread(target=poster, daemon=True) for _ in range(12)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        with lock:
            before = sum(1 for e in log if e[2] == 200)
        assert before > 20, "too few 200s before the outage: %d" % before
        redis_aof.stop()
        t_down = time.monotonic()
        wait_ready(gw, 503, timeout=5)
        time.sleep(1.5)
        t_restart = time.monotonic()
        redis_aof.start()
        # back to 200 without restarting the gateway
        harness.wait_for(lambda: post_json(gw, b'{"event":"probe.x"}')[0] == 200, timeout=8,
                         what="a 200 after Redis restarted")
        t_back = time.monotonic()
        wait_ready(gw, 200, timeout=5)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not bad, bad[:5]
    # Requests made while Redis was fully down: all 503 + Retry-After, each in < 1 s.
    down = [e for e in log if e[0] > t_down + 0.2 and e[1] < t_restart]
    assert len(down) > 10, "too few requests while Redis was down: %d" % len(down)
    assert {e[2] for e in down} == {503}, sorted({str(e[2]) for e in down})
    assert all(e[3] for e in down), "503 without Retry-After"
    slow = [round(e[1] - e[0], 3) for e in down if e[1] - e[0] >= 1.0]
    assert not slow, "503s slower than 1 s while Redis was down: %s" % slow[:10]
    after = [e for e in log if e[0] > t_back and e[2] == 200]
    assert after, "no 200s after Redis came back"
    assert t_back - t_restart < 8
    # The list: every 200 there exactly once with its own body; the probe too.
    items = check_queue_against_answers(gw, answered)
    assert len(items) >= len(answered)
    assert gw.stop() == 0


def test_push_not_confirmed_in_time_is_503(tmp_path, redis_server):
    gw = Gw(tmp_path, redis_server, gateway={"push_timeout_ms": 300}).start()
    answered = {}
    body = event_body()
    st, _, doc, _ = post_json(gw, body)
    assert st == 200, doc
    answered[doc["id"]] = body
    harness.sigstop(redis_server.pid)
    try:
        results = []
        for _ in range(3):
            st, h, doc, secs = post_json(gw, event_body(), timeout=5)
            results.append((st, secs, retry_after_ok(h)))
        for st, secs, ra in results:
            assert st == 503, results
            assert ra, results
            assert secs < 0.3 + 0.7, results
        # a link with no reply for push_timeout_ms is dropped (and redialled), so the
        # gateway stops sending into the stall and /readyz tells the load balancer
        wait_ready(gw, 503, timeout=5)
        assert metric(gw.metrics(), "hookpipe_gateway_redis_connected") == 0
    finally:
        os.kill(redis_server.pid, signal.SIGCONT)
    # Replies for the timed-out pushes now arrive late; they must not be matched to the
    # new requests: each 200 from here on must be queued with its own body.
    harness.wait_for(lambda: post_json(gw, b'{"event":"probe.x"}')[0] == 200, timeout=5,
                     what="a 200 after SIGCONT")
    wait_all_links_up(gw)
    for _ in range(20):
        body = event_body()
        st, _, doc, _ = post_json(gw, body)
        assert st == 200, doc
        answered[doc["id"]] = body
    check_queue_against_answers(gw, answered)
    assert metric(gw.metrics(), "hookpipe_gateway_push_timeouts_total") >= 1
    assert gw.stop() == 0


def test_redis_killed_hard_then_back(tmp_path, redis_aof):
    """kill -9 of Redis (appendfsync always): what was 200'd survives; the gateway reconnects."""
    gw = Gw(tmp_path, redis_aof, gateway={"push_timeout_ms": 500}).start()
    answered = {}
    for _ in range(30):
        body = event_body()
        st, _, doc, _ = post_json(gw, body)
        assert st == 200, doc
        answered[doc["id"]] = body
    redis_aof.kill()
    wait_ready(gw, 503, timeout=5)
    st, h, doc, secs = post_json(gw, event_body())
    assert st == 503 and retry_after_ok(h) and secs < 1.0, (st, h, doc, secs)
    redis_aof.start()
    harness.wait_for(lambda: post_json(gw, b'{"event":"probe.y"}')[0] == 200, timeout=8,
                     what="a 200 after Redis restarted")
    check_queue_against_answers(gw, answered)
    assert gw.stop() == 0


def _read_answer(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    n = int([ln.split(b":")[1] for ln in head.split(b"\r\n")
             if ln.lower().startswith(b"content-length:")][0])
    while len(rest) < n:
        rest += s.recv(65536)
    return int(head.split(b" ")[1]), json.loads(rest[:n])


@pytest.mark.parametrize("n,max_pushes", [(40, 3), (600, 12)])
def test_deliveries_of_one_loop_turn_share_one_lpush(tmp_path, redis_server, n, max_pushes):
    """Requests that are ready together (sent while the gateway is stopped, then all read in
    one loop turn) go to Redis in few multi-element LPUSHes — at most 256 per command — yet
    each is answered 200 with its own id, which is in the list once with its own body, in the
    order received. Without coalescing each would be an LPUSH of its own."""
    gw = Gw(tmp_path, redis_server, gateway={"workers": 1, "max_connections": 1000}).start()
    before = metric(gw.metrics(), "hookpipe_gateway_redis_pushes_total")
    socks = [socket.create_connection(("127.0.0.1", gw.port), timeout=10) for _ in range(n)]
    bodies = [event_body() for _ in range(n)]
    harness.wait_for(lambda: metric(gw.metrics(), "hookpipe_gateway_connections") == n,
                     timeout=10, what="every connection accepted")
    requests = [format_request("POST", "/hooks/alpha", b, signed_headers(SECRET_A, b))
                for b in bodies]
    harness.sigstop(gw.daemon.pid)
    try:
        for s, r in zip(socks, requests):
            s.sendall(r)
        # nor does sendall() returning mean the bytes are in the gateway's receive queues
        total = sum(len(r) for r in requests)
        harness.wait_for(lambda: sum(harness.tcp_sockets(gw.port, harness.TCP_ESTABLISHED))
                         == total, timeout=10, what="every request in the gateway's queues")
    finally:
        os.kill(gw.daemon.pid, signal.SIGCONT)
    answered = {}
    for s, b in zip(socks, bodies):
        st, doc = _read_answer(s)
        assert st == 200, doc
        answered[doc["id"]] = b
        s.close()
    pushes = metric(gw.metrics(), "hookpipe_gateway_redis_pushes_total") - before
    assert -(-n // 256) <= pushes <= max_pushes, pushes  # at most 256 per LPUSH
    items = gw.items()
    assert len(items) == n
    assert {i["id"]: i["body"] for i in items} == answered
    ids = [i["id"] for i in items]  # oldest first: delivery ids count up within a worker
    assert ids == sorted(ids)
    assert gw.stop() == 0

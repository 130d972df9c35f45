"""Gateway defects found by an outside review (issue 8), each pinned by a raw-socket test:
pipelining clients that never read must not pin memory (plain and TLS), the bytes buffered
across all connections are capped, per-request state (HEAD) does not leak into the next
answer, and a Connection: close is final even when a later Connection header says otherwise.
"""

import json
import socket
import ssl
import time

import pytest

import harness
from gateway_helpers import SECRET_A, Gw, event_body, metric, recv_until_closed, vm_rss_kb

PIPELINED = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 1000
FLOOD_CONNS = 100
RSS_LIMIT_KB = 64 * 1024


def split_responses(data):
    """Splits a byte stream of HTTP/1.1 answers (each with Content-Length) into
    [(status, headers, body)]; asserts that each body is exactly Content-Length bytes."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, "incomplete head: %r" % data[:200]
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers["content-length"])
        body, data = rest[:n], rest[n:]
        out.append((int(lines[0].split(" ")[1]), headers, body))
    return out


def flood(port, seconds, wrap=None):
    """FLOOD_CONNS connections pipeline GET /healthz as fast as the gateway takes it and
    never read an answer. Returns (sockets, bytes sent); the caller closes the sockets."""
    socks = []
    for _ in range(FLOOD_CONNS):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        if wrap is not None:
            s = wrap(s)
        s.setblocking(False)
        socks.append(s)
    sent = 0
    stalled_since = None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        progress = False
        for s in socks:
            try:
                sent += s.send(PIPELINED)
                progress = True
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
        if progress:
            stalled_since = None
        elif stalled_since is None:
            stalled_since = time.monotonic()
        elif time.monotonic() - stalled_since > 1:
            break  # every connection is blocked: the gateway stopped reading them
        else:
            time.sleep(0.01)
    return socks, sent


def check_flood_holds(gw, wrap=None):
    base = vm_rss_kb(gw.daemon.pid)
    socks, sent = flood(gw.port, 4, wrap)
    try:
        rss = vm_rss_kb(gw.daemon.pid)
        assert rss < RSS_LIMIT_KB, "gateway RSS %d kB (from %d kB) after %d bytes pipelined" % (
            rss, base, sent)
        body = event_body()
        # within Zoom's 3 s: the flood's backlog (seconds of work in kernel buffers) must not
        # keep other sockets waiting (worker.c WORKER_MAX_CALLBACKS_PER_PASS)
        st, _, b = gw.post("alpha", body, secret=SECRET_A, timeout=3)
        assert st == 200, b
        assert vm_rss_kb(gw.daemon.pid) < RSS_LIMIT_KB
    finally:
        for s in socks:
            s.close()
    assert [i["body"] for i in gw.items()] == [body]


@pytest.mark.skipif(harness.SANITIZED, reason="RSS is not meaningful under ASan")
@pytest.mark.timeout(60)
def test_pipelining_clients_that_never_read_do_not_pin_memory(tmp_path, redis_server):
    gw = Gw(tmp_path, redis_server).start()
    check_flood_holds(gw)
    assert gw.stop() == 0


@pytest.mark.skipif(harness.SANITIZED, reason="RSS is not meaningful under ASan")
@pytest.mark.timeout(60)
def test_tls_pipelining_clients_that_never_read_do_not_pin_memory(tmp_path, redis_server):
    cert, key = harness.tls_cert(tmp_path)
    gw = Gw(tmp_path, redis_server, gateway={"tls_cert": cert, "tls_key": key}).start()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    check_flood_holds(gw, wrap=ctx.wrap_socket)
    assert gw.stop() == 0


def read_head(s, timeout=5):
    s.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.timeout(120)
def test_bytes_buffered_across_connections_are_capped(tmp_path, redis_server):
    """Bytes held for clients count against one process-wide budget. A body whose head proved
    its sender (Basic) reads on past it; an unproven one (a signature not yet checkable) is
    shed with 503; every other connection stops reading while the budget is exceeded, and
    resumes when it is not."""
    sources = {"alpha": {"provider": "zoom", "secret": SECRET_A, "auth": "basic",
                         "basic_user": "u", "basic_password": "p"},
               "bravo": {"provider": "zoom", "secret": SECRET_A}}
    gw = Gw(tmp_path, redis_server, sources=sources,
            gateway={"max_body_bytes": 1 << 30, "workers": 1, "read_timeout_s": 120}).start()
    budget = int(metric(gw.metrics(), "hookpipe_gateway_buffer_budget_bytes"))
    assert budget >= 64 << 20, budget
    # an unproven body on its way: a forged signature of the right form passes the head
    unproven = socket.create_connection(("127.0.0.1", gw.port))
    unproven.sendall(b"POST /hooks/bravo HTTP/1.1\r\nHost: x\r\nx-zm-request-timestamp: %d\r\n"
                     b"x-zm-signature: v0=%s\r\nContent-Length: %d\r\n\r\n"
                     % (int(time.time()), b"0" * 64, 4 << 20) + b"y" * (2 << 20))
    harness.wait_for(lambda: metric(gw.metrics(), "hookpipe_gateway_buffered_bytes") >= 2 << 20,
                     timeout=10, what="the unproven body buffered")
    # a proven one that holds more than the whole budget
    big = socket.create_connection(("127.0.0.1", gw.port))
    big.sendall(b"POST /hooks/alpha HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dTpw\r\n"
                b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % (budget + (16 << 20)))
    assert read_head(big).startswith(b"HTTP/1.1 100"), "the proven body is read"
    big.settimeout(60)  # 260 MiB through a sanitized gateway on a busy machine
    big.sendall(b"x" * (budget + (4 << 20)))
    late = None
    try:
        harness.wait_for(lambda: metric(gw.metrics(), "hookpipe_gateway_buffer_budget_exceeded")
                         == 1, timeout=20, what="buffered bytes over the budget")
        # the unproven body was shed: 503, and it no longer counts
        (st, h, b), = split_responses(recv_until_closed(unproven, timeout=10))
        assert st == 503 and h.get("retry-after") == "1", b
        assert metric(gw.metrics(), "hookpipe_gateway_buffer_full_rejections_total") == 1
        # ...and a new request is not read until memory is released
        late = socket.create_connection(("127.0.0.1", gw.port))
        late.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        late.settimeout(1)
        with pytest.raises(socket.timeout):
            late.recv(4096)
    finally:
        big.close()
        unproven.close()
    (st, _, b), = split_responses(recv_until_closed(late, timeout=10))
    late.close()
    assert st == 200, b
    harness.wait_for(lambda: metric(gw.metrics(), "hookpipe_gateway_buffered_bytes") == 0,
                     timeout=10, what="buffered bytes back to 0")
    assert metric(gw.metrics(), "hookpipe_gateway_buffer_budget_exceeded") == 0
    assert gw.stop() == 0


HEAD_FIRST = b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("follow,status", [
    (b"BOGUS\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 20000, 431),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", 408),
])
def test_error_after_head_request_carries_its_body(tmp_path, redis_server, follow, status):
    """HEAD, then on the same connection a request answered with an error: the error's
    body is sent, as its Content-Length says (the HEAD flag is per request)."""
    gw = Gw(tmp_path, redis_server, gateway={"read_timeout_s": 1}).start()
    with socket.create_connection(("127.0.0.1", gw.port)) as s:
        s.sendall(HEAD_FIRST)
        first = read_head(s)
        assert first.startswith(b"HTTP/1.1 200"), first
        assert first.endswith(b"\r\n\r\n")
        s.sendall(follow)
        rest = recv_until_closed(s)
    (st, h, b), = split_responses(rest)
    assert st == status, rest[:300]
    assert len(b) == int(h["content-length"]) > 0
    assert json.loads(b)["error"]
    assert gw.stop() == 0


def test_connection_close_is_final(tmp_path, redis_server):
    """Connection: close, then Connection: keep-alive: the connection still closes after
    the answer, and the next pipelined request is not served."""
    gw = Gw(tmp_path, redis_server).start()
    with socket.create_connection(("127.0.0.1", gw.port)) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Connection: keep-alive\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answers = split_responses(recv_until_closed(s))
    assert len(answers) == 1, answers
    st, h, _ = answers[0]
    assert st == 200
    assert h.get("connection") == "close"
    assert gw.stop() == 0

"""The gateway's optional HTTPS listener (tls_cert + tls_key): signed posts over TLS 1.2 and
1.3 are queued byte for byte, plain HTTP on the TLS port gets no HTTP answer, and a TLS 1.1
client is refused (when the local OpenSSL can still speak TLS 1.1 as a client at all).
"""

import json
import os
import select
import signal
import socket
import ssl
import threading

import pytest

import harness
from gateway_helpers import SECRET_A, Gw, event_body, format_request, metric, signed_headers


@pytest.fixture(scope="module")
def tls_gw(tmp_path_factory):
    d = tmp_path_factory.mktemp("gwtls")
    cert, key = harness.tls_cert(d)
    g = Gw(d, harness.shared_redis(), name="tls",
           gateway={"tls_cert": cert, "tls_key": key, "workers": 2})
    g.cert = cert
    g.key = key
    g.start()
    yield g
    g.clear_queue()
    assert g.stop() == 0


def client_ctx(version=None, seclevel0=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if seclevel0:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    if version is not None:
        ctx.minimum_version = version
        ctx.maximum_version = version
    return ctx


def tls_post(port, ctx, body, headers):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as s:
            s.sendall(format_request("POST", "/hooks/alpha", body, headers, keep_alive=False))
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return s.version(), data


def test_https_post_is_queued(tls_gw):
    tls_gw.clear_queue()
    body = harness.fixture_body("meeting.started")
    st, h, b = tls_gw.post("alpha", body, SECRET_A)  # harness.http_request with tls=True
    assert st == 200, b
    delivery_id = json.loads(b.decode())["id"]
    items = tls_gw.items()
    assert [(e["id"], e["body"], e["source"]) for e in items] == [(delivery_id, body, "alpha")]
    tls_gw.clear_queue()


def test_https_url_validation(tls_gw):
    body = harness.fixture_body("endpoint.url_validation")
    plain = harness.fixture_json("endpoint.url_validation")["payload"]["plainToken"]
    st, _, b = tls_gw.post("alpha", body, SECRET_A)
    assert st == 200
    assert json.loads(b.decode())["encryptedToken"] == harness.zoom_token(SECRET_A, plain)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_1_2_and_1_3_accepted(tls_gw, version):
    body = event_body()
    got, data = tls_post(tls_gw.port, client_ctx(version), body, signed_headers(SECRET_A, body))
    assert got == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    tls_gw.clear_queue()


def test_plain_http_on_tls_port_gets_no_http_answer(tls_gw):
    before = metric(tls_gw.metrics(), "hookpipe_gateway_tls_handshake_failures_total")
    body = event_body()
    req = format_request("POST", "/hooks/alpha", body, signed_headers(SECRET_A, body))
    reply = harness.raw_request(tls_gw.port, req, timeout=5)
    assert not reply.startswith(b"HTTP/"), reply[:200]
    assert tls_gw.llen() == 0
    harness.wait_for(
        lambda: metric(tls_gw.metrics(), "hookpipe_gateway_tls_handshake_failures_total")
        > before, timeout=5, what="tls_handshake_failures_total to move")
    # the listener still serves TLS afterwards
    assert tls_gw.post("alpha", body, SECRET_A)[0] == 200
    tls_gw.clear_queue()


def local_tls11_client_possible(cert, key):
    """True when this OpenSSL lets a client complete a TLS 1.1 handshake (with a local
    Python server that allows it), so a refusal by the gateway means the gateway refused."""
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        sctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        sctx.minimum_version = ssl.TLSVersion.TLSv1_1
        sctx.maximum_version = ssl.TLSVersion.TLSv1_1
        sctx.load_cert_chain(cert, key)
        cctx = client_ctx(ssl.TLSVersion.TLSv1_1, seclevel0=True)
    except (ssl.SSLError, ValueError):
        return False
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]
    result = {}

    def serve():
        lsock.settimeout(5)
        try:
            conn, _ = lsock.accept()
            with sctx.wrap_socket(conn, server_side=True) as s:
                s.recv(1)
        except (OSError, ssl.SSLError):
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with cctx.wrap_socket(raw) as s:
                result["version"] = s.version()
                s.sendall(b"x")
    except (OSError, ssl.SSLError):
        pass
    finally:
        t.join(5)
        lsock.close()
    return result.get("version") == "TLSv1.1"


def test_tls_1_1_client_refused(tls_gw):
    if not local_tls11_client_possible(tls_gw.cert, tls_gw.key):
        pytest.skip("this OpenSSL cannot complete a TLS 1.1 handshake even with a willing "
                    "server, so a refusal would prove nothing")
    body = event_body()
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        tls_post(tls_gw.port, client_ctx(ssl.TLSVersion.TLSv1_1, seclevel0=True), body,
                 signed_headers(SECRET_A, body))
    assert tls_gw.llen() == 0


def test_new_connections_do_not_stall_a_request_in_flight(tmp_path, redis_server):
    """A burst of new TLS connections waits its turn behind a request already in flight on
    the same loop: a worker takes one new connection (one handshake) per pass of its loop,
    so the request's read, LPUSH and Redis reply come after a few handshakes, not after the
    whole burst's. Accepting the backlog whole (evconnlistener's default) put all 150
    handshakes — tens of ms of CPU — in front of the answer. The burst is also larger than
    the 128 that libevent's default listen() backlog held (its connects hung)."""
    with open("/proc/sys/net/core/somaxconn") as f:  # caps the gateway's backlog of 4096
        n = 150 if int(f.read()) > 150 else 100
    cert, key = harness.tls_cert(tmp_path)
    gw = Gw(tmp_path, redis_server,
            gateway={"tls_cert": cert, "tls_key": key, "workers": 1}).start()
    ctx = client_ctx(ssl.TLSVersion.TLSv1_3)
    ka = ctx.wrap_socket(socket.create_connection(("127.0.0.1", gw.port), timeout=10))
    body = event_body()
    request = format_request("POST", "/hooks/alpha", body, signed_headers(SECRET_A, body))
    burst = []
    harness.sigstop(gw.daemon.pid)
    try:
        for _ in range(n):  # each sends its ClientHello and waits for the server's answer
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", gw.port), timeout=10),
                                do_handshake_on_connect=False)
            s.setblocking(False)
            with pytest.raises(ssl.SSLWantReadError):
                s.do_handshake()
            burst.append(s)
        ka.sendall(request)
        harness.wait_for(
            lambda: sum(1 for q in harness.tcp_sockets(gw.port, harness.TCP_ESTABLISHED) if q)
            == n + 1, timeout=10, what="the request and every ClientHello in the queues")
    finally:
        os.kill(gw.daemon.pid, signal.SIGCONT)
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = ka.recv(65536)
        assert chunk, answer
        answer += chunk
    handshaken, _, _ = select.select(burst, [], [], 0)  # ServerHello already sent
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert len(handshaken) < n // 3, len(handshaken)
    for s in burst:  # and the burst is served: every handshake completes
        s.setblocking(True)
        s.do_handshake()
        s.close()
    ka.close()
    assert gw.stop() == 0

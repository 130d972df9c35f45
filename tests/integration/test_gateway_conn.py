"""Connection lifecycle edge cases of the gateway, with raw sockets against the real daemon:
bodies above the default input buffer, HEAD answers, a client that half-closes after its
request, error answers that must not be lost to a reset, and SIGTERM with answers still
owed to a client that is slow to read them.
"""

import json
import os
import signal
import socket
import ssl

import pytest

import harness
from gateway_helpers import (SECRET_A, Gw, event_body, format_request, recv_until_closed,
                             send_oversized_post, signed_headers)


def signed_post(body, keep_alive=True):
    return format_request("POST", "/hooks/alpha", body, signed_headers(SECRET_A, body),
                          keep_alive=keep_alive)


def test_body_larger_than_the_input_buffer_is_accepted(tmp_path, redis_server):
    """A body is read whole whatever its size up to max_body_bytes: a 6 MiB one is accepted."""
    gw = Gw(tmp_path, redis_server, gateway={"max_body_bytes": 8 << 20}).start()
    body = event_body(pad_to=6 << 20)
    st, _, resp = gw.post("alpha", body, secret=SECRET_A, timeout=30)
    assert st == 200, resp
    (item,) = gw.items()
    assert item["body"] == body
    assert gw.stop() == 0


def test_head_answers_carry_no_body(tmp_path, redis_server):
    """HEAD gets the GET headers (Content-Length included) but no body bytes, so the next
    answer on a keep-alive connection is not corrupted."""
    gw = Gw(tmp_path, redis_server).start()
    with socket.create_connection(("127.0.0.1", gw.port)) as s:
        s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = recv_until_closed(s)
    first, rest = data.split(b"\r\n\r\n", 1)
    assert first.startswith(b"HTTP/1.1 200"), data
    assert b"Content-Length: 15" in first, data
    assert rest.startswith(b"HTTP/1.1 200"), data  # not {"status":"ok"}HTTP/1.1 ...
    assert rest.endswith(b'{"status":"ok"}'), data
    assert gw.stop() == 0


def test_half_closed_client_still_gets_its_answers(tmp_path, redis_server):
    """A client that shuts down its sending side after its requests is answered for every
    one of them, and each 200 is in the queue."""
    gw = Gw(tmp_path, redis_server).start()
    bodies = [event_body() for _ in range(3)]
    with socket.create_connection(("127.0.0.1", gw.port)) as s:
        s.sendall(b"".join(signed_post(b) for b in bodies))
        s.shutdown(socket.SHUT_WR)
        data = recv_until_closed(s)
    assert data.count(b"HTTP/1.1 200") == 3, data
    assert data.count(b'"status":"queued"') == 3, data
    assert [i["body"] for i in gw.items()] == bodies
    assert gw.stop() == 0


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_error_answer_survives_an_unread_body(tmp_path, redis_server, tls):
    """413 before the body is read: the gateway shuts its side (TLS: close_notify first)
    and drains instead of closing with unread input (which makes the kernel reset the
    connection), so a client still sending gets the whole answer and no reset."""
    opts = {"max_body_bytes": 1024}
    if tls:
        cert, key = harness.tls_cert(tmp_path)
        opts.update(tls_cert=cert, tls_key=key)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    gw = Gw(tmp_path, redis_server, gateway=opts).start()
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as raw:
            s = ctx.wrap_socket(raw) if tls else raw
            send_oversized_post(s, 4 << 20)
            if not tls:  # (an SSLSocket's shutdown drops the TLS layer)
                s.shutdown(socket.SHUT_WR)
            data = recv_until_closed(s)
        assert data.startswith(b"HTTP/1.1 413"), data[:200]
        assert b"Connection: close" in data
        assert json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]
    assert gw.llen() == 0
    assert gw.stop() == 0


def test_sigterm_delivers_answers_still_owed(tmp_path, redis_server):
    """SIGTERM while a pipelining client has not read its answers yet: every delivery in
    the queue was answered 200 to the client before the connection closed."""
    gw = Gw(tmp_path, redis_server, gateway={"workers": "1"}).start()
    n = 4000
    bodies = [event_body() for _ in range(n)]
    payload = b"".join(signed_post(b) for b in bodies)
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # answers back up in the server
    s.settimeout(10)
    sent = 0
    try:
        while sent < len(payload):
            sent += s.send(payload[sent:sent + 65536])
            if gw.llen() > n // 4:
                break
    except (BlockingIOError, socket.timeout):
        pass
    gw.daemon.signal(signal.SIGTERM)
    data = recv_until_closed(s, timeout=15)
    s.close()
    assert gw.daemon.wait(15) == 0
    answered = data.count(b'"status":"queued"')
    queued = gw.llen()
    assert queued > 0
    assert answered == queued, (answered, queued)

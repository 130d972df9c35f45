"""Helpers shared by the gateway integration tests (tests/integration/test_gateway_*.py).

Builds on the harness package: a Gw object owns one generated config, one hookpipe-gateway
process and the Redis it pushes to, and knows how to sign, post and read back the
queue. decode_envelope is an independent reader of envelope v1 (common/envelope.h),
so a gateway that wrote the format wrongly fails these tests.
"""

import asyncio
import json
import os
import re
import signal
import socket
import time
import uuid

import harness

SECRET_A = "alpha-secret-0123456789"
SECRET_B = "bravo-secret-9876543210"
SECRET_C_NEW = "charlie-secret-new"
SECRET_C_OLD = "charlie-secret-old"

ENVELOPE_HEADER = re.compile(
    rb"^HP1 ([A-Za-z0-9_-]{1,64}) ([0-9]{1,20}) ([A-Za-z0-9_-]{1,64}) (\S+) ([0-9]{1,20})\n")


# The one Zoom signer of the tests (harness/zoom.py), under the names these tests use.
sign = harness.zoom_signature


def signed_headers(secret, body, ts=None, request_id=None, extra=None):
    return harness.zoom_request_headers(secret, body, ts=ts, request_id=request_id, extra=extra)


def event_body(event="meeting.started", pad_to=None, **fields):
    """A compact JSON object body with a unique marker; padded to exactly pad_to bytes."""
    obj = {"event": event, "event_ts": int(time.time() * 1000),
           "payload": {"marker": uuid.uuid4().hex}}
    obj.update(fields)
    body = json.dumps(obj, separators=(",", ":")).encode()
    if pad_to is not None:
        obj["pad"] = ""
        base = len(json.dumps(obj, separators=(",", ":")).encode())
        assert pad_to >= base, (pad_to, base)
        obj["pad"] = "x" * (pad_to - base)
        body = json.dumps(obj, separators=(",", ":")).encode()
        assert len(body) == pad_to
    return body


def percent_decode(s):
    out = bytearray()
    i = 0
    b = s.encode("ascii")
    while i < len(b):
        if b[i:i + 1] == b"%":
            out.append(int(b[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(b[i])
            i += 1
    return bytes(out)


def decode_envelope(item):
    """Parses one queue item (envelope v1) into a dict; raises AssertionError if malformed."""
    m = ENVELOPE_HEADER.match(item)
    assert m, "not an HP1 envelope: %r" % item[:200]
    source, received_us, delivery_id, request_id, body_len = m.groups()
    body = item[m.end():]
    assert len(body) == int(body_len), "body_len %s but %d body bytes" % (body_len, len(body))
    for c in request_id:  # percent-encoding leaves only '!'..'~' bytes
        assert 0x21 <= c <= 0x7E, request_id
    return {
        "source": source.decode(),
        "received_us": int(received_us),
        "id": delivery_id.decode(),
        "request_id": None if request_id == b"-" else percent_decode(request_id.decode()),
        "raw_request_id": request_id.decode(),
        "body": body,
    }


def ids_once(items):
    """Delivery ids of the decoded items, asserting each appears exactly once."""
    ids = [e["id"] for e in items]
    dup = {i for i in ids if ids.count(i) > 1} if len(set(ids)) != len(ids) else set()
    assert not dup, "delivery ids queued more than once: %s" % sorted(dup)[:10]
    return set(ids)


def json_body(body):
    return json.loads(body.decode())


def retry_after_ok(headers):
    v = headers.get("retry-after")
    return v is not None and v.strip().isdigit() and int(v) >= 1


class Gw:
    """One gateway under test: config file, Redis, daemon, ports and queue name."""

    def __init__(self, tmp_path, redis, gateway=None, sources=None, name="gw"):
        self.tmp = tmp_path
        self.redis = redis
        # Port 0: the gateway binds free ports and reports them; start() reads them.
        self.port = None
        self.admin_port = None
        self.queue = "hp:test:%s:%s" % (name, uuid.uuid4().hex[:8])
        self.config_path = os.path.join(str(tmp_path), "%s.ini" % name)
        self.gateway_opts = {
            "listen": "127.0.0.1:0",
            "admin_listen": "127.0.0.1:0",
            "workers": "2",
        }
        self.gateway_opts.update(gateway or {})
        self.sources = sources if sources is not None else default_sources()
        self.write()
        self.daemon = None

    def write(self, sources=None, gateway=None, raw_append=None):
        if sources is not None:
            self.sources = sources
        if gateway is not None:
            self.gateway_opts.update(gateway)
        harness.write_config(self.config_path, gateway=self.gateway_opts,
                             redis={"url": self.redis.url, "queue": self.queue},
                             sources=self.sources, extra=raw_append)

    def start(self, ready=True):
        """Starts the daemon and reads the ports it bound (a restart may get new ones); with
        ready, waits until /readyz says Redis is connected."""
        self.daemon = harness.Daemon("gateway", self.config_path)
        admin = self.gateway_opts.get("admin_listen") not in (None, "")
        self.daemon.start(wait_listen=("http", "admin") if admin else ("http",))
        self.port = self.daemon.listen_port("http")
        self.admin_port = self.daemon.listen_port("admin") if admin else None
        if ready:
            wait_ready(self, 200, timeout=10)
            # /readyz answers for the worker that took the connection: wait for all links
            harness.wait_for(
                lambda: metric(self.metrics(), "hookpipe_gateway_redis_connected") == 1,
                timeout=10, interval=0.05, what="every worker's Redis link up")
        return self

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.daemon is None:
            return None
        rc = self.daemon.stop(sig, timeout)
        return rc

    def client(self):
        return self.redis.client()

    # --- requests -------------------------------------------------------------------
    def request(self, method, path, body=b"", headers=None, timeout=5):
        return harness.http_request(self.port, method, path, body, headers, timeout=timeout,
                                    tls=self.gateway_opts.get("tls_cert") not in (None, ""))

    def post(self, source, body, secret=None, ts=None, headers=None, request_id=None,
             timeout=5):
        h = {}
        if secret is not None:
            h = signed_headers(secret, body, ts=ts, request_id=request_id)
        if headers:
            h.update(headers)
        return self.request("POST", "/hooks/%s" % source, body, h, timeout=timeout)

    def admin(self, path):
        return harness.http_request(self.admin_port, "GET", path, timeout=5)

    def metrics(self):
        return harness.metrics(self.admin_port)

    # --- the queue -------------------------------------------------------------------
    def clear_queue(self):
        self.client().delete(self.queue)

    def raw_items(self):
        """Queue items oldest first (LPUSH puts the newest at the left)."""
        return list(reversed(self.client().lrange(self.queue, 0, -1)))

    def items(self):
        return [decode_envelope(i) for i in self.raw_items()]

    def llen(self):
        return self.client().llen(self.queue)

    def log(self):
        return self.daemon.log() if self.daemon else ""


def default_sources():
    return {
        "alpha": {"provider": "zoom", "secret": SECRET_A},
        "bravo": {"provider": "zoom", "secret": SECRET_B},
        "charlie": {"provider": "zoom", "secret": SECRET_C_NEW,
                    "secret_previous": SECRET_C_OLD},
    }


metric = harness.metric  # value of one sample of harness.metrics() output, 0 when absent


# --- raw sockets ------------------------------------------------------------------------------
def vm_rss_kb(pid):
    """The resident memory of process pid, in kB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def recv_until_closed(sock, timeout=5):
    """Everything sock (plain or TLS) receives until the peer closes or timeout passes."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def send_oversized_post(sock, size):
    """Sends a POST head declaring size body bytes, waits for the early answer to be on its
    way, then the whole body (raises ECONNRESET/EPIPE if the gateway resets instead)."""
    sock.sendall(b"POST /hooks/alpha HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
    time.sleep(0.2)  # the 413 is on its way back
    chunk = b"x" * 65536
    for _ in range(size // len(chunk)):
        sock.sendall(chunk)


# --- raw-socket HTTP client for many concurrent keep-alive requests -------------------------
def format_request(method, path, body=b"", headers=None, keep_alive=True):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    for k, v in (headers or {}).items():
        lines.append("%s: %s" % (k, v))
    if method in ("POST", "PUT") or body:
        lines.append("Content-Length: %d" % len(body))
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def read_response(reader):
    """Reads one HTTP/1.1 response; returns (status, headers lowercased, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = await reader.read()
    return status, headers, body


async def _post_many(port, jobs, conns, timeout):
    """jobs: list of (path, body, headers). Sends them over conns keep-alive connections."""
    results = [None] * len(jobs)
    queue = asyncio.Queue()
    for i in range(len(jobs)):
        queue.put_nowait(i)

    async def worker():
        reader = writer = None
        try:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                path, body, headers = jobs[i]
                t0 = time.monotonic()
                for attempt in range(2):
                    try:
                        if writer is None:
                            reader, writer = await asyncio.open_connection("127.0.0.1", port)
                        writer.write(format_request("POST", path, body, headers))
                        await writer.drain()
                        st, h, b = await read_response(reader)
                        results[i] = (st, h, b, time.monotonic() - t0)
                        if h.get("connection", "").lower() == "close":
                            writer.close()
                            writer = None
                        break
                    except (ConnectionError, asyncio.IncompleteReadError) as e:
                        # A connection closed by the server between requests: reconnect once.
                        if writer is not None:
                            writer.close()
                        writer = None
                        results[i] = ("error", repr(e), b"", time.monotonic() - t0)
        finally:
            if writer is not None:
                writer.close()

    await asyncio.wait_for(asyncio.gather(*[worker() for _ in range(conns)]), timeout)
    return results


def post_many(port, jobs, conns=50, timeout=120):
    return asyncio.run(_post_many(port, jobs, conns, timeout))


def readyz(gw):
    try:
        return gw.request("GET", "/readyz", timeout=2)[0]
    except OSError:
        return None


def wait_ready(gw, want=200, timeout=10):
    """Polls the public GET /readyz until it answers want (200 or 503)."""
    harness.wait_for(lambda: readyz(gw) == want, timeout=timeout, interval=0.05,
                     what="/readyz == %d" % want)

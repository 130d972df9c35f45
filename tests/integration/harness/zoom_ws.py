"""Zoom stand-in for WebSocket event subscriptions: the Server-to-Server OAuth token endpoint
and the wss:// event socket on loopback, TLS from a CA made per run, served by asyncio in a
background thread and driven from synchronous tests (every method thread-safe and bounded).

Follows Zoom's published documentation:
  https://developers.zoom.us/docs/api/websockets/          "Using WebSockets"
  https://developers.zoom.us/docs/internal-apps/s2s-oauth/ "Server-to-Server OAuth"
Zoom's behaviour: POST /oauth/token (HTTP Basic client_id:client_secret; grant_type
account_credentials + account_id, or client_credentials; grant fields in the query string or
the form body) answering {"access_token","token_type":"bearer","expires_in":3599,"scope"};
401 invalid_client, 400 unsupported_grant_type / invalid_request. GET
/ws?subscriptionId=ID&access_token=TOKEN (RFC 6455): a missing, bad or expired token or a wrong
subscriptionId completes the upgrade, sends {"module":"build_connection","success":false,
"content":...} and closes; {"module":"heartbeat"} is answered {"module":"heartbeat",
"success":true,"content":"live"}; each event is {"module":"message","content":"<webhook body
as a JSON string>"}; Zoom neither buffers nor resends (an event with no connection up is lost).

Ours, not Zoom's (marked FAULT below): refuse_tokens, refuse_connections, stall_handshakes,
heartbeats_answered = False, close_on_token_expiry, expire_tokens(), drop(), close(), ping(),
send_raw() and send_message_with_content(); the wording of messages the documentation does not
give; several connections per subscription are allowed (so a test can see two holders).
"""

import asyncio
import base64
import concurrent.futures
import http
import json
import math
import os
import secrets
import ssl
import threading
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import websockets
import websockets.exceptions

from .processes import _register_cleanup, _unregister_cleanup, run_process

OPCODE_TEXT, OPCODE_BINARY, OPCODE_CONT = 0x1, 0x2, 0x0
CALL_TIMEOUT_S = 10  # default bound on one call into the loop thread
READ_TIMEOUT_S = 10  # token endpoint: a whole request must arrive within this
CLOSE_TIMEOUT_S = 2  # websocket closing handshake
STALL_MAX_S = 3600  # a stalled handshake is released by stop() long before this

_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = hookpipe test
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def make_ca(directory):
    """A CA (ECDSA P-256, openssl CLI) and a server cert it signed for DNS:localhost and
    IP:127.0.0.1, in directory. Returns (ca_file, cert_file, key_file)."""
    d = str(directory)
    cnf, ca, ca_key, csr, cert, key = (os.path.join(d, n) for n in (
        "openssl.cnf", "ca.pem", "ca.key", "server.csr", "server.pem", "server.key"))
    with open(cnf, "w") as f:
        f.write(_OPENSSL_CNF)
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    steps = [
        ["openssl", "req", "-x509", "-config", cnf, "-extensions", "v3_ca", *newkey,
         "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=hookpipe test CA"],
        ["openssl", "req", "-new", "-config", cnf, *newkey, "-keyout", key, "-out", csr,
         "-subj", "/CN=localhost"],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
         "-set_serial", "0x" + secrets.token_hex(8), "-days", "2", "-extfile", cnf,
         "-extensions", "v3_server", "-out", cert],
    ]
    for argv in steps:
        done = run_process(argv, capture_output=True, timeout=60)
        if done.returncode != 0:
            err = done.stderr.decode(errors="replace")
            raise RuntimeError(f"{' '.join(argv[:3])} failed: {err}")
    return ca, cert, key


def _compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _fake_token():
    """An opaque token shaped like Zoom's (a JWT of several hundred characters), so a client's
    buffers meet a realistic length; only the stand-in's table gives it meaning."""
    b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    header = b64(b'{"alg":"HS512","v":"2.0","kid":"' + secrets.token_hex(16).encode() + b'"}')
    claims = b64(_compact({"aud": "https://oauth.zoom.us", "uid": secrets.token_urlsafe(16),
                           "nbf": int(time.time()), "jti": str(uuid.uuid4()),
                           "pad": secrets.token_urlsafe(240)}).encode())
    return f"{header}.{claims}.{b64(secrets.token_bytes(64))}"


def event_body(account_id, event="meeting.started", size=None):
    """A webhook body as Zoom sends it (compact JSON str), unique by payload.object.uuid;
    event_ts = now in ms. With size, payload.object.topic is padded so len(body) == size."""
    obj = {"id": str(secrets.randbelow(9 * 10**10) + 10**10),
           "uuid": base64.b64encode(uuid.uuid4().bytes).decode(),
           "host_id": base64.urlsafe_b64encode(secrets.token_bytes(15)).decode(),
           "topic": "hookpipe stand-in", "type": 2,
           "start_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "timezone": "UTC", "duration": 60}
    body = {"event": event, "event_ts": int(time.time() * 1000),
            "payload": {"account_id": account_id, "object": obj}}
    if size is not None:
        obj["topic"] = ""
        pad = size - len(_compact(body))
        if pad < 0:
            raise ValueError(f"size {size} is below the smallest body ({size - pad})")
        obj["topic"] = "x" * pad
    return _compact(body)


def token_decision(stand_in, method, target, headers, body):
    """The token endpoint's answer to one request, no I/O: (status, json_obj, log_entry).
    headers: lowercased names."""
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    form = parse_qs(body.decode("latin-1"), keep_blank_values=True)
    field = lambda name: (form.get(name) or query.get(name) or [None])[0]
    grant, account = field("grant_type"), field("account_id")
    entry = {"time": time.time(), "grant": grant, "account_id": account, "ok": False,
             "status": 0, "error": None, "content_type": headers.get("content-type")}

    def answer(status, error=None, reason=None, obj=None):
        entry.update(status=status, error=error, ok=status == 200)
        return status, obj if obj is not None else {"reason": reason, "error": error}, entry

    if parts.path != "/oauth/token":
        return answer(404, "not_found", "Not Found")
    if method != "POST":
        return answer(405, "invalid_request", "Method Not Allowed")
    if "client_id" in query or "client_secret" in query:
        return answer(400, "invalid_request",
                      "Invalid request : client_id and client_secret must not be in the URL")
    auth = headers.get("authorization", "")
    try:
        scheme, _, b64 = auth.partition(" ")
        user, _, password = base64.b64decode(b64.strip(), validate=True).decode().partition(":")
        good = scheme.lower() == "basic" and (user, password) == (stand_in.client_id,
                                                                    stand_in.client_secret)
    except (ValueError, UnicodeDecodeError):
        good = False
    if not good or stand_in.refuse_tokens:  # refuse_tokens: FAULT
        return answer(401, "invalid_client", "Invalid client_id or client_secret")
    if grant not in ("account_credentials", "client_credentials"):
        return answer(400, "unsupported_grant_type", "unsupported grant type")
    if grant == "account_credentials":
        if not account:
            return answer(400, "invalid_request", "Invalid request : Missing account_id")
        if account != stand_in.account_id:
            return answer(400, "invalid_request", "Invalid request : Invalid account_id")
    ttl = stand_in.token_ttl_s
    return answer(200, obj={"access_token": None, "token_type": "bearer",
                            "expires_in": max(0, math.ceil(ttl) - 1),  # Zoom: 3599 for 3600
                            "scope": "marketplace:read:list_event_subscriptions"})


class _Conn:
    """One upgraded, accepted WebSocket connection (its fields change on the loop thread)."""

    def __init__(self, ws, token):
        self.ws = ws
        self.token = token  # the access_token it opened with
        self.interval = None  # index into the intervals log once up
        self.send_lock = asyncio.Lock()  # keeps a fragmented message's frames together
        self.closed = asyncio.Event()  # set when its handler has logged the close


class ZoomStandIn:
    """Zoom's token endpoint (oauth_url) and event socket (ws_url), with faults on command.
    start()/stop() or a with block; see the module docstring for what is Zoom's."""

    def __init__(self, directory, client_id="hp-client", client_secret="hp-secret-0123456789",
                 account_id="hp-account", subscription_id="hp-sub-1", token_ttl_s=3600):
        self.directory = str(directory)
        self.client_id, self.client_secret = client_id, client_secret
        self.account_id, self.subscription_id = account_id, subscription_id
        self.token_ttl_s = token_ttl_s  # lifetime of tokens issued from now on (seconds)
        self.refuse_tokens = False  # FAULT: 401 invalid_client for every token request
        self.refuse_connections = False  # FAULT: build_connection success:false, then close
        self.refuse_content = "Invalid Token"  # content of that refusal
        self.stall_handshakes = False  # FAULT: hold new upgrade requests (until stop())
        self.heartbeats_answered = True  # FAULT when False: heartbeats go unanswered
        self.close_on_token_expiry = False  # FAULT: close a connection once its token expires
        self.ca_file = self.oauth_url = self.ws_url = None
        self._cond = threading.Condition()  # guards the logs below; notified on up/down
        self._intervals = []  # [up_at, down_at or None]
        self._sent = []  # (time, body, up)
        self._token_requests = []
        self._upgrades = []  # dicts: time, token, subscription_id, authorization, result
        self._client_messages = []  # (time, data): client frames other than heartbeats
        self._counts = dict(tokens_issued=0, connections_opened=0, heartbeats_received=0,
                            handshakes_stalled=0, pongs_received=0, max_concurrent_up=0)
        self._up = 0
        self._tokens = {}  # token -> expires_at (time.time()); loop thread only
        self._conns = set()  # open _Conn; changed on the loop thread under _cond
        self._loop = self._thread = self._cleanup_key = None
        self._ws_server = self._token_server = self._release = None

    # ------------------------------------------------------------------ lifecycle

    def start(self):
        """Makes the CA and certs, starts both servers on loopback ports (port 0: no race)."""
        self.ca_file, cert, key = make_ca(self.directory)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="zoom-standin",
                                        daemon=True)
        self._thread.start()
        self._cleanup_key = _register_cleanup(self.stop)
        try:
            oauth_port, ws_port = self._call(self._start_servers(tls))
        except BaseException:
            self.stop()
            raise
        self.oauth_url = f"https://127.0.0.1:{oauth_port}/oauth/token"
        self.ws_url = f"wss://127.0.0.1:{ws_port}/ws"
        return self

    def stop(self):
        """Aborts every connection, releases stalled handshakes, stops the thread. Idempotent."""
        if self._loop is None:
            return
        try:
            if self._thread.is_alive():
                self._call(self._shutdown(), timeout=15)
        except Exception:  # stop must go on: the thread is a daemon either way
            pass
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self._loop.close()
            self._loop = None
            _unregister_cleanup(self._cleanup_key)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _call(self, coro, timeout=CALL_TIMEOUT_S):
        """Runs coro on the loop thread and returns its result within timeout (then cancels)."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("ZoomStandIn is not running")
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError(f"zoom stand-in call did not finish within {timeout} s") from None

    async def _start_servers(self, tls):
        self._release = asyncio.Event()
        self._token_server = await asyncio.start_server(
            self._token_client, "127.0.0.1", 0, ssl=tls, ssl_handshake_timeout=READ_TIMEOUT_S)
        self._ws_server = await websockets.serve(
            self._ws_handler, "127.0.0.1", 0, ssl=tls, process_request=self._process_request,
            max_size=None, ping_interval=None, compression=None, close_timeout=CLOSE_TIMEOUT_S,
            ssl_handshake_timeout=READ_TIMEOUT_S)
        return (self._token_server.sockets[0].getsockname()[1],
                self._ws_server.sockets[0].getsockname()[1])

    async def _shutdown(self):
        self._release.set()
        for conn in list(self._conns):
            conn.ws.transport.abort()
        self._token_server.close()
        self._ws_server.close()
        await asyncio.wait_for(self._ws_server.wait_closed(), 10)
        await asyncio.wait_for(self._token_server.wait_closed(), 2)

    # ------------------------------------------------------------------ token endpoint

    async def _token_client(self, reader, writer):
        try:
            status, obj = await asyncio.wait_for(self._token_exchange(reader), READ_TIMEOUT_S)
            data = _compact(obj).encode()
            writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json;charset=UTF-8\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                         % (status, http.HTTPStatus(status).phrase.encode(), len(data), data))
            await asyncio.wait_for(writer.drain(), READ_TIMEOUT_S)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError, ssl.SSLError, ValueError):
            pass
        finally:
            writer.close()

    async def _token_exchange(self, reader):
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, target, _ = head[0].split(" ", 2)
        headers = {}
        for line in head[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return 411, {"reason": "Length Required", "error": "invalid_request"}
        length = int(headers.get("content-length", "0"))
        if not 0 <= length <= 65536:
            return 413, {"reason": "Payload Too Large", "error": "invalid_request"}
        body = await reader.readexactly(length)
        status, obj, entry = token_decision(self, method, target, headers, body)
        if status == 200:
            token = _fake_token()
            self._tokens[token] = time.time() + self.token_ttl_s
            obj["access_token"] = token
        with self._cond:
            self._token_requests.append(entry)
            self._counts["tokens_issued"] += status == 200
        return status, obj

    def expire_tokens(self):
        """FAULT: every token issued so far expires now (upgrades with them are refused)."""
        async def expire():
            now = time.time()
            for token in self._tokens:
                self._tokens[token] = min(self._tokens[token], now)
        self._call(expire())

    # ------------------------------------------------------------------ websocket endpoint

    async def _process_request(self, path, headers):
        """Before the upgrade: 404 off /ws; FAULT stall_handshakes holds the request."""
        if urlsplit(path).path != "/ws":
            return http.HTTPStatus.NOT_FOUND, [], b"not found\n"
        if self.stall_handshakes:
            with self._cond:
                self._counts["handshakes_stalled"] += 1
                self._upgrades.append(self._upgrade_entry(path, headers, "stalled"))
            try:
                await asyncio.wait_for(self._release.wait(), STALL_MAX_S)
            except asyncio.TimeoutError:
                pass
            return http.HTTPStatus.SERVICE_UNAVAILABLE, [], b""
        return None

    @staticmethod
    def _upgrade_entry(path, headers, result):
        query = parse_qs(urlsplit(path).query, keep_blank_values=True)
        return {"time": time.time(), "token": (query.get("access_token") or [None])[0],
                "subscription_id": (query.get("subscriptionId") or [None])[0],
                "authorization": headers.get("Authorization"), "result": result}

    def _refusal(self, entry):
        """The build_connection content refusing this upgrade, or None to accept it."""
        token = entry["token"]
        if self.refuse_connections:  # FAULT
            return self.refuse_content
        if not token:
            return "token is empty"
        if self._tokens.get(token, 0) <= time.time():
            return "Invalid Token"
        if entry["subscription_id"] != self.subscription_id:
            return "invalid subscriptionId"
        return None

    async def _ws_handler(self, ws):
        entry = self._upgrade_entry(ws.path, ws.request_headers, "ok")
        refusal = self._refusal(entry)
        entry["result"] = refusal or "ok"
        with self._cond:
            self._upgrades.append(entry)
        if refusal:
            try:
                await ws.send(_compact({"module": "build_connection", "success": False,
                                        "content": refusal}))
                await ws.close()
            except websockets.exceptions.ConnectionClosed:
                pass
            return
        conn = _Conn(ws, entry["token"])
        with self._cond:
            self._conns.add(conn)
            self._counts["connections_opened"] += 1
        watcher = asyncio.ensure_future(self._watch_expiry(conn))
        try:
            async for data in ws:
                await self._on_client_message(conn, data)
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            watcher.cancel()
            with self._cond:
                self._conns.discard(conn)
            self._mark(conn, up=False)
            conn.closed.set()

    async def _on_client_message(self, conn, data):
        try:
            msg = json.loads(data) if isinstance(data, str) else None
        except ValueError:
            msg = None
        if not (isinstance(msg, dict) and msg.get("module") == "heartbeat"):
            with self._cond:
                self._client_messages.append((time.time(), data))
            return
        with self._cond:
            self._counts["heartbeats_received"] += 1
        if not self.heartbeats_answered:  # FAULT
            return
        answer = _compact({"module": "heartbeat", "success": True, "content": "live",
                           "version": "1.0", "timestamp": int(time.time() * 1000)})
        async with conn.send_lock:
            await conn.ws.send(answer)
        self._mark(conn, up=True)

    def _mark(self, conn, up):
        """Logs conn's first answered heartbeat (up) or its close (down) in intervals."""
        with self._cond:
            if up and conn.interval is None:
                conn.interval = len(self._intervals)
                self._intervals.append([time.time(), None])
                self._up += 1
                self._counts["max_concurrent_up"] = max(self._counts["max_concurrent_up"], self._up)
            elif not up and conn.interval is not None and self._intervals[conn.interval][1] is None:
                self._intervals[conn.interval][1] = time.time()
                self._up -= 1
            else:
                return
            self._cond.notify_all()

    async def _watch_expiry(self, conn):
        """FAULT close_on_token_expiry: closes conn (1000, no build_connection message) once
        the token it opened with has expired, checked every 0.1 s while the flag is set."""
        while not (self.close_on_token_expiry and self._tokens.get(conn.token, 0) <= time.time()):
            await asyncio.sleep(0.1)
        await conn.ws.close(1000, "token expired")

    def _up_conns(self):
        return [c for c in self._conns if c.interval is not None and not c.closed.is_set()]

    # ------------------------------------------------------------------ sending (thread-safe)

    def send_events(self, n, size=None, event="meeting.started", interval_s=0.0, timeout=None):
        """Sends n events (each a fresh event_body) to every connection that is up, interval_s
        apart; each send is logged in sent with whether a connection took it. Returns the
        bodies."""
        bodies = [event_body(self.account_id, event, size) for _ in range(n)]
        self._send_bodies(bodies, interval_s, timeout)
        return bodies

    def send_burst(self, n, size=None, event="meeting.started", timeout=None):
        """n events built first, then sent in a tight loop (20,000 take a few seconds)."""
        return self.send_events(n, size, event, 0.0, timeout)

    def _send_bodies(self, bodies, interval_s, timeout):
        frames = [_compact({"module": "message", "content": b}) for b in bodies]
        if timeout is None:
            timeout = CALL_TIMEOUT_S + len(bodies) * (interval_s + 0.002)
        self._call(self._send_frames(bodies, frames, interval_s), timeout)

    async def _send_frames(self, bodies, frames, interval_s):
        for i, (body, frame) in enumerate(zip(bodies, frames)):
            if i and interval_s:
                await asyncio.sleep(interval_s)
            taken = False
            for conn in self._up_conns():
                try:
                    async with conn.send_lock:
                        await conn.ws.send(frame)
                    taken = True
                except websockets.exceptions.ConnectionClosed:
                    pass
            with self._cond:
                self._sent.append((time.time(), body, taken))

    def send_raw(self, data, fragments=None):
        """FAULT: data (str: text, bytes: binary) as one message to every open connection;
        fragments=k splits its bytes into k frames (a text one may split a UTF-8 sequence, as
        RFC 6455 allows). Returns the number of connections it went to."""
        payload = data.encode() if isinstance(data, str) else bytes(data)
        k = max(1, min(fragments or 1, max(1, len(payload))))
        step = -(-len(payload) // k) if payload else 0
        parts = [payload[i * step:(i + 1) * step] for i in range(k)]
        first = OPCODE_TEXT if isinstance(data, str) else OPCODE_BINARY

        async def send_one(conn):
            async with conn.send_lock:
                for i, part in enumerate(parts):
                    await conn.ws.write_frame(i == k - 1, first if i == 0 else OPCODE_CONT, part)
        return self._call(self._each_open(send_one))

    def send_message_with_content(self, content):
        """FAULT: {"module":"message","content":content} as is (content any JSON value, e.g. a
        str that is not JSON, an object instead of a string). Returns the connection count."""
        return self.send_raw(_compact({"module": "message", "content": content}))

    def ping(self):
        """FAULT: a ping frame to every open connection; pongs are counted in pongs_received.
        Returns the connection count."""
        def count_pong(fut):
            if not fut.cancelled() and fut.exception() is None:
                with self._cond:
                    self._counts["pongs_received"] += 1

        async def ping_one(conn):
            (await conn.ws.ping()).add_done_callback(count_pong)
        return self._call(self._each_open(ping_one))

    def drop(self):
        """FAULT: aborts every open connection's TCP (no close frame). Returns once each is
        logged down; the connection count."""
        async def abort(conn):
            conn.ws.transport.abort()
            await asyncio.wait_for(conn.closed.wait(), 5)
        return self._call(self._each_open(abort))

    def close(self, code=1000, reason=""):
        """FAULT: a clean close (close frame, code) from Zoom's side on every open connection.
        Returns once each is logged down; the connection count."""
        async def close_one(conn):
            await conn.ws.close(code, reason)
            await asyncio.wait_for(conn.closed.wait(), 5)
        return self._call(self._each_open(close_one), CALL_TIMEOUT_S + CLOSE_TIMEOUT_S)

    async def _each_open(self, action):
        conns = list(self._conns)
        results = await asyncio.gather(*(action(c) for c in conns), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(
                    r, websockets.exceptions.ConnectionClosed):
                raise r
        return sum(not isinstance(r, BaseException) for r in results)

    # ------------------------------------------------------------------ the log (thread-safe)

    def _get(self, fn):
        with self._cond:
            return fn()

    def _logged(copy, doc):
        """A read-only property: copy(self) taken under the lock."""
        return property(lambda self: self._get(lambda: copy(self)), doc=doc)

    def _counter(name, doc=None):
        return property(lambda self: self._get(lambda: self._counts[name]), doc=doc)

    intervals = _logged(lambda s: [tuple(i) for i in s._intervals],
                        "(up_at, down_at or None) per connection, time.time(); up_at = its "
                        "first heartbeat answered")
    sent = _logged(lambda s: list(s._sent), "(time, body, up) per event; up: a connection took it")
    token_requests = _logged(lambda s: [dict(e) for e in s._token_requests],
                             "dicts: time, grant, account_id, ok, status, error, content_type")
    upgrades = _logged(lambda s: [dict(e) for e in s._upgrades],
                       "dicts: time, token, subscription_id, authorization, result ('ok', "
                       "'stalled' or the build_connection refusal)")
    token_seen_in_ws = _logged(lambda s: [e["token"] for e in s._upgrades],
                               "access_token of each upgrade request (None when absent)")
    client_messages = _logged(lambda s: list(s._client_messages),
                              "(time, data) of client messages other than heartbeats")
    current_connections = _logged(lambda s: len(s._conns), "open accepted connections")
    up_connections = _logged(lambda s: s._up, "connections up (first heartbeat answered)")
    tokens_issued = _counter("tokens_issued")
    connections_opened = _counter("connections_opened", "accepted upgrades (not refused ones)")
    heartbeats_received = _counter("heartbeats_received")
    handshakes_stalled = _counter("handshakes_stalled")
    pongs_received = _counter("pongs_received")
    max_concurrent_up = _counter("max_concurrent_up", "most connections up at once (> 1: two "
                                                      "holders)")
    del _logged, _counter

    def events_sent_while_up(self):
        """Bodies of the events a connection took (those a client must deliver)."""
        return [body for _, body, up in self.sent if up]

    def down_intervals(self, since=None, until=None):
        """(start, end) spans with no connection up, from max(since, first up) to until
        (default now); [] before the first up."""
        ivs = sorted(self.intervals)
        if not ivs:
            return []
        end = time.time() if until is None else until
        cursor = ivs[0][0] if since is None else max(since, ivs[0][0])
        gaps = []
        for up_at, down_at in ivs:
            if cursor >= end:
                break
            if up_at > cursor:
                gaps.append((cursor, min(up_at, end)))
            cursor = max(cursor, end if down_at is None else down_at)
        if cursor < end:
            gaps.append((cursor, end))
        return gaps

    def wait_up(self, timeout=10):
        """True once some connection is up (first heartbeat answered), False after timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._up > 0, timeout)

    def wait_down(self, timeout=10):
        """True once no connection is up, False after timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._up == 0, timeout)

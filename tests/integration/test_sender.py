"""tools/hookpipe-send: signs exactly as Zoom does and reports honestly.

First against a small http.server stand-in whose signature check (the harness's one Zoom
signer) is itself pinned to the test vector in tests/fixtures/zoom/README.md, then (when
build/hookpipe-gateway exists) against the real gateway with a private redis-server.
"""

import base64
import hmac
import http.server
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
import time
import uuid

import pytest

import harness
from provider_helpers import PROVIDER_SECRETS, provider_verify

SOURCE_DIR = os.environ.get(
    "HOOKPIPE_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD_DIR = os.environ.get("HOOKPIPE_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
SENDER = os.path.join(SOURCE_DIR, "tools", "hookpipe-send")
FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures", "zoom")
GATEWAY = os.path.join(BUILD_DIR, "hookpipe-gateway")
SECRET = "secretValueTest"

# The vector published in tests/fixtures/zoom/README.md.
VECTOR_TS = "1658940994"
VECTOR_BODY = (b'{"event":"session.started","payload":{"account_id":"{ACCOUNT_ID}","object":'
               b'{"start_time":"2022-07-27T16:56:34Z","id":"{SESSION_ID}"}},'
               b'"event_ts":1658940994914}')
VECTOR_SIG = "v0=96e8a131e9983d4bc96627eee7c67f9506d0aeb8f767260a822fb3f2abe703d5"
VECTOR_PLAIN = "qgg8vlvZRS6UYooatFL8Aw"
VECTOR_ENCRYPTED = "70c1f2e2e6ca2d39297490d1f9142c7d701415ea8e6151f6562a08fa657a40ff"


def expected_signature(secret, ts, body):
    return harness.zoom_signature(secret, ts, body)  # the tests' one Zoom signer


def test_stand_in_check_matches_published_vector():
    # The stand-in below is only a valid judge if it agrees with Zoom's own vector.
    assert expected_signature(SECRET, VECTOR_TS, VECTOR_BODY) == VECTOR_SIG
    assert harness.zoom_token(SECRET, VECTOR_PLAIN) == VECTOR_ENCRYPTED


class StandIn(http.server.BaseHTTPRequestHandler):
    """Verifies like a Zoom receiver; records what it got. Class attributes set per server."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        srv = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ts = self.headers.get("x-zm-request-timestamp", "")
        sig = self.headers.get("x-zm-signature", "")
        ok = hmac.compare_digest(sig, expected_signature(srv.secret, ts, body))
        srv.received.append({"headers": dict(self.headers), "body": body, "sig_ok": ok})
        if srv.delay:
            time.sleep(srv.delay)
        status, answer = 200, {"status": "queued"}
        if not ok:
            status, answer = 401, {"error": "bad signature"}
        elif srv.force_status is not None:
            status, answer = srv.force_status, {"error": "forced"}
        else:
            doc = json.loads(body)
            if doc.get("event") == "endpoint.url_validation":
                plain = doc["payload"]["plainToken"]
                key = srv.secret if not srv.wrong_token else "not-the-secret"
                answer = {"plainToken": plain, "encryptedToken": harness.zoom_token(key, plain)}
        data = json.dumps(answer).encode() if status != 204 else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 503:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def stand_in():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    srv.secret, srv.received, srv.force_status, srv.wrong_token = SECRET, [], None, False
    srv.tls, srv.delay = False, 0
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = "http://127.0.0.1:%d/hooks/example" % srv.server_address[1]
    yield srv
    srv.shutdown()
    srv.server_close()


def send(*args, env=None, stdin=None, timeout=60):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([SENDER, *args], input=stdin, capture_output=True, env=full_env,
                          timeout=timeout)


def test_signs_fixture_bytes_as_is_with_zoom_headers(stand_in):
    fixture = os.path.join(FIXTURES, "meeting.started.json")
    with open(fixture, "rb") as f:
        raw = f.read()
    before = int(time.time())
    r = send("--secret", SECRET, stand_in.url, fixture)
    after = int(time.time())
    assert r.returncode == 0, r.stderr
    assert b"HTTP 200" in r.stdout and b"queued" in r.stdout
    (got,) = stand_in.received
    assert got["sig_ok"]
    assert got["body"] == raw  # pretty-printed bytes, not re-serialised
    h = {k.lower(): v for k, v in got["headers"].items()}
    assert h["content-type"] == "application/json"
    assert h["user-agent"] == "Zoom Marketplace/1.0a"
    assert before <= int(h["x-zm-request-timestamp"]) <= after
    assert uuid.UUID(h["x-zm-request-id"]).version == 4


def test_secret_from_env_file_and_stdin_body(stand_in, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")  # trailing newline is not part of the secret
    r = send("--secret-file", str(secret_file), stand_in.url, "-", stdin=VECTOR_BODY)
    assert r.returncode == 0, r.stderr
    r = send("--secret-env", "HP_TEST_SECRET", stand_in.url, "-", stdin=VECTOR_BODY,
             env={"HP_TEST_SECRET": SECRET})
    assert r.returncode == 0, r.stderr
    assert [x["sig_ok"] for x in stand_in.received] == [True, True]
    assert all(x["body"] == VECTOR_BODY for x in stand_in.received)


def test_wrong_secret_is_a_failure(stand_in):
    r = send("--secret", "wrong", stand_in.url, "-", stdin=VECTOR_BODY)
    assert r.returncode == 1
    assert b"HTTP 401" in r.stdout
    assert stand_in.received[0]["sig_ok"] is False


def test_5xx_exits_1_and_shows_retry_after(stand_in):
    stand_in.force_status = 503
    r = send("--secret", SECRET, stand_in.url, "-", stdin=VECTOR_BODY)
    assert r.returncode == 1
    assert b"HTTP 503" in r.stdout and b"Retry-After: 1" in r.stdout


@pytest.mark.parametrize("status,rc", [(200, 0), (204, 0), (201, 1), (202, 1)])
def test_only_200_and_204_count_as_delivered(stand_in, status, rc):
    # Zoom's rule: anything but 200 or 204 is a failed delivery, even another 2xx.
    stand_in.force_status = None if status == 200 else status
    r = send("--secret", SECRET, "--count", "2", stand_in.url, "-", stdin=VECTOR_BODY)
    assert r.returncode == rc, r.stdout + r.stderr
    assert b"sent 2" in r.stdout and (b"%d: 2" % status) in r.stdout
    if rc:
        assert b"HTTP %d" % status in r.stdout


@pytest.mark.timeout(60)
def test_answer_later_than_3s_is_a_failure(stand_in):
    # Zoom also counts a 200 that takes longer than 3 s as failed (and retries it).
    stand_in.delay = 3.3
    r = send("--secret", SECRET, stand_in.url, "-", stdin=VECTOR_BODY)
    assert r.returncode == 1, r.stdout + r.stderr
    assert b"HTTP 200" in r.stdout
    assert b"later than 3 s" in r.stderr
    stand_in.delay = 0
    r = send("--secret", SECRET, stand_in.url, "-", stdin=VECTOR_BODY)
    assert r.returncode == 0, r.stdout + r.stderr


def test_missing_secret_is_usage_error(stand_in):
    r = send(stand_in.url, "-", stdin=VECTOR_BODY)
    assert r.returncode == 2
    assert stand_in.received == []


def test_compact_reserialises(stand_in):
    fixture = os.path.join(FIXTURES, "meeting.started.json")
    r = send("--secret", SECRET, "--compact", stand_in.url, fixture)
    assert r.returncode == 0, r.stderr
    body = stand_in.received[0]["body"]
    assert b"\n" not in body and b": " not in body
    with open(fixture, "rb") as f:
        assert json.loads(body) == json.loads(f.read())


def test_count_unique_gives_distinct_event_ts(stand_in):
    fixture = os.path.join(FIXTURES, "meeting.started.json")
    r = send("--secret", SECRET, "--count", "5", "--unique", stand_in.url, fixture)
    assert r.returncode == 0, r.stderr
    assert b"sent 5" in r.stdout
    assert len(stand_in.received) == 5 and all(x["sig_ok"] for x in stand_in.received)
    docs = [json.loads(x["body"]) for x in stand_in.received]
    assert len({d["event_ts"] for d in docs}) == 5
    assert len({x["headers"]["x-zm-request-id"] for x in stand_in.received}) == 5
    # Everything but event_ts is the fixture unchanged.
    with open(fixture, "rb") as f:
        orig = json.loads(f.read())
    for d in docs:
        d["event_ts"] = orig["event_ts"]
        assert d == orig


def test_validate_checks_encrypted_token(stand_in):
    r = send("--secret", SECRET, "--validate", stand_in.url)
    assert r.returncode == 0, r.stderr
    doc = json.loads(stand_in.received[0]["body"])
    assert doc["event"] == "endpoint.url_validation"
    assert isinstance(doc["payload"]["plainToken"], str) and doc["payload"]["plainToken"]
    assert isinstance(doc["event_ts"], int)

    stand_in.wrong_token = True
    r = send("--secret", SECRET, "--validate", stand_in.url)
    assert r.returncode == 1
    assert b"does not match" in r.stderr


def _make_cert(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not installed (Debian package openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    return str(cert), str(key)


def test_https_cacert_and_insecure(stand_in, tmp_path):
    cert, key = _make_cert(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    srv.secret, srv.received, srv.force_status, srv.wrong_token = SECRET, [], None, False
    srv.delay = 0
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = "https://127.0.0.1:%d/hooks/example" % srv.server_address[1]
        # Unknown CA: refused, nothing sent.
        r = send("--secret", SECRET, url, "-", stdin=VECTOR_BODY)
        assert r.returncode == 1 and b"certificate" in r.stderr.lower()
        r = send("--secret", SECRET, "--cacert", cert, url, "-", stdin=VECTOR_BODY)
        assert r.returncode == 0, r.stderr
        r = send("--secret", SECRET, "--insecure", url, "-", stdin=VECTOR_BODY)
        assert r.returncode == 0, r.stderr
        assert [x["sig_ok"] for x in srv.received] == [True, True]
    finally:
        srv.shutdown()
        srv.server_close()


# --- against the real gateway -------------------------------------------------------------


class _Gateway:
    """A real gateway with a private Redis (harness.RedisServer). Started on port 0, except
    for a restart on the same port: then on a port chosen below the ephemeral range, where
    the sender's own reconnects during the outage cannot land (a self-connect)."""

    def __init__(self, tmp_path, redis, fixed_port=False):
        self.tmp_path = tmp_path
        self.redis = redis
        self.redis_port = redis.port
        self.listen = "127.0.0.1:%d" % harness.free_port() if fixed_port else "127.0.0.1:0"
        self.daemon = None
        self.url = None

    def start(self):
        config = harness.write_config(
            self.tmp_path / "hookpipe.ini", gateway={"listen": self.listen, "workers": 1},
            redis={"url": self.redis.url, "queue": "test:events"},
            sources={"example": {"provider": "zoom", "secret_env": "HP_SENDER_TEST_SECRET"}})
        self.daemon = harness.Daemon("gateway", config, env={"HP_SENDER_TEST_SECRET": SECRET})
        self.daemon.start(wait_listen=("http",))
        self.url = "http://127.0.0.1:%d/hooks/example" % self.daemon.listen_port("http")

    def kill(self):
        self.daemon.kill()


def _redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                          timeout=10, check=True).stdout.strip()


def _built():
    if not os.access(GATEWAY, os.X_OK):
        pytest.skip("%s not built yet: the real-gateway part needs it" % GATEWAY)


@pytest.fixture
def gateway(tmp_path, redis_server):
    _built()
    gw = _Gateway(tmp_path, redis_server)
    gw.start()
    yield {"url": gw.url, "redis_port": gw.redis_port}


@pytest.fixture
def gateway_proc(tmp_path, redis_server):
    _built()
    gw = _Gateway(tmp_path, redis_server, fixed_port=True)
    gw.start()
    yield gw


def _wait_llen(redis_port, want, deadline_s=10):
    end = time.monotonic() + deadline_s
    n = None
    while time.monotonic() < end:
        n = int(_redis_cli(redis_port, "LLEN", "test:events"))
        if n == want:
            return n
        time.sleep(0.05)
    return n


def test_real_gateway_accepts_signed_fixture(gateway):
    fixture = os.path.join(FIXTURES, "meeting.started.json")
    r = send("--secret", SECRET, gateway["url"], fixture)
    assert r.returncode == 0, r.stdout + r.stderr
    assert b"HTTP 200" in r.stdout and b"queued" in r.stdout
    assert _wait_llen(gateway["redis_port"], 1) == 1

    r = send("--secret", SECRET, "--count", "3", "--unique", gateway["url"], fixture)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _wait_llen(gateway["redis_port"], 4) == 4


def test_real_gateway_rejects_wrong_secret(gateway):
    fixture = os.path.join(FIXTURES, "meeting.started.json")
    r = send("--secret", "not-the-secret", gateway["url"], fixture)
    assert r.returncode == 1
    assert b"HTTP 401" in r.stdout
    assert int(_redis_cli(gateway["redis_port"], "LLEN", "test:events")) == 0


def test_real_gateway_url_validation(gateway):
    r = send("--secret", SECRET, "--validate", gateway["url"])
    assert r.returncode == 0, r.stdout + r.stderr
    r = send("--secret", "not-the-secret", "--validate", gateway["url"])
    assert r.returncode == 1
    assert int(_redis_cli(gateway["redis_port"], "LLEN", "test:events")) == 0


RESTART_COUNT = 3000
RESTART_INTERVAL_S = 0.002


@pytest.mark.timeout(180)
def test_count_run_survives_a_gateway_restart(gateway_proc):
    """Issue 8 item 9: after one connection error every later request failed with
    "Request-sent". Across a kill + restart of the gateway on the same port, only the
    requests sent during the outage may fail; every one after it gets its 200."""
    fixture = os.path.join(FIXTURES, "meeting.started.json")
    sender = subprocess.Popen(
        [SENDER, "--secret", SECRET, "--count", str(RESTART_COUNT), "--unique", "--quiet",
         "--interval", str(RESTART_INTERVAL_S), gateway_proc.url, fixture],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Some requests land before the outage...
        assert _wait_llen_at_least(gateway_proc.redis_port, 100, deadline_s=60) >= 100
        gateway_proc.kill()
        llen_at_kill = int(_redis_cli(gateway_proc.redis_port, "LLEN", "test:events"))
        assert llen_at_kill < RESTART_COUNT - 500, "the run ended before the outage"
        time.sleep(1.0)  # the outage: the port refuses connections meanwhile
        gateway_proc.start()
        out, err = sender.communicate(timeout=150)
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.wait(timeout=10)
    out, err = out.decode(), err.decode()
    errors = [int(m) for m in re.findall(r"^request (\d+) failed: ", err, re.M)]
    stuck = [line for line in err.splitlines() if "Request-sent" in line]
    assert stuck == [], "%d requests failed on a broken connection, from %s" % (
        len(stuck), stuck[0])
    # Answers other than 200: only 503s, while the restarted gateway's Redis link comes up.
    answers = {int(n): int(st) for n, st in re.findall(r"^request (\d+): HTTP (\d+) ", out, re.M)}
    assert set(answers.values()) <= {503}, answers
    failed = sorted(errors + list(answers))
    assert errors, "no request failed: the outage was not seen\n" + err
    # The failures are one contiguous run (the outage), well before the end of the run...
    assert failed == list(range(failed[0], failed[-1] + 1)), failed
    after = RESTART_COUNT - failed[-1]
    print("requests %d..%d failed during the outage (%d refused, %d answered 503), %d after it"
          % (failed[0], failed[-1], len(errors), len(answers), after))
    assert after >= 500, "only %d requests after the outage" % after
    # ...and the summary counts every other request as a 200.
    m = re.search(r"^sent %d in .*; (.*)$" % RESTART_COUNT, out, re.M)
    assert m, out
    counts = dict(part.split(": ") for part in m.group(1).split(", "))
    assert int(counts.get("200", 0)) == RESTART_COUNT - len(failed), counts
    assert int(counts.get("error", 0)) == len(errors), counts
    assert sender.returncode == 1  # not every request succeeded
    # Every 200 is in Redis (plus at most the one request in flight at the kill).
    ok = RESTART_COUNT - len(failed)
    llen = _wait_llen_at_least(gateway_proc.redis_port, ok, deadline_s=10)
    assert ok <= llen <= ok + 1, (ok, llen)


def _wait_llen_at_least(redis_port, want, deadline_s):
    end = time.monotonic() + deadline_s
    n = 0
    while time.monotonic() < end:
        n = int(_redis_cli(redis_port, "LLEN", "test:events"))
        if n >= want:
            break
        time.sleep(0.02)
    return n


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


# ---- the other authentication modes (issue 12) ---------------------------------------------

def test_auth_flags_send_the_headers_of_each_mode(stand_in):
    fixture = os.path.join(FIXTURES, "meeting.started.json")
    r = send("--secret", SECRET, "--basic", "zoom:pa:ss", "--header", "X-Hook-Key: v1",
             stand_in.url, fixture)
    assert r.returncode == 0, r.stderr
    (got,) = stand_in.received
    h = {k.lower(): v for k, v in got["headers"].items()}
    assert got["sig_ok"]  # still signed when a secret is given
    assert h["authorization"] == "Basic " + base64.b64encode(b"zoom:pa:ss").decode()
    assert h["x-hook-key"] == "v1"
    stand_in.received.clear()
    r = send("--secret", SECRET, "--verification-token", "vt-123", stand_in.url, fixture)
    assert r.returncode == 0, r.stderr
    assert {k.lower(): v for k, v in stand_in.received[0]["headers"].items()}[
        "authorization"] == "vt-123"


def test_auth_flags_without_a_secret_send_no_signature(stand_in):
    stand_in.force_status = None
    r = send("--basic", "zoom:pw", stand_in.url, "-", stdin=VECTOR_BODY)
    (got,) = stand_in.received
    h = {k.lower(): v for k, v in got["headers"].items()}
    assert "x-zm-signature" not in h and "authorization" in h
    assert r.returncode == 1  # the stand-in wants a signature: 401, reported as a failure


@pytest.mark.parametrize("args", [
    ["--basic", "zoom:pw", "--verification-token", "t"],
    ["--basic", "nocolon"],
    ["--header", ":v"],
    ["--validate", "--basic", "zoom:pw"],  # url_validation needs the secret
])
def test_auth_flag_misuse_is_a_usage_error(stand_in, args):
    r = send(*args, stand_in.url, "-", stdin=VECTOR_BODY)
    assert r.returncode == 2, r.stderr
    assert stand_in.received == []


@pytest.fixture
def auth_gateway(tmp_path):
    if not os.access(GATEWAY, os.X_OK):
        pytest.skip("%s not built yet" % GATEWAY)
    import harness
    from gateway_helpers import Gw
    gw = Gw(tmp_path, harness.shared_redis(), name="send-auth", sources={
        "b": {"provider": "zoom", "secret": SECRET, "auth": "signature bearer",
              "oauth_client_id": "cid", "oauth_client_secret": "csec"},
        "h": {"provider": "zoom", "secret": SECRET, "auth": "header,token",
              "header_name": "X-Hook-Key", "header_value": "hv",
              "verification_token": "vt"},
    }).start()
    yield gw
    gw.stop()


def test_oauth_fetches_a_token_from_the_real_gateway(auth_gateway):
    url = "http://127.0.0.1:%d/hooks/b" % auth_gateway.port
    fixture = os.path.join(FIXTURES, "meeting.started.json")
    r = send("--secret", SECRET, "--oauth", "cid:csec", url, fixture)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert b"queued" in r.stdout
    r = send("--secret", SECRET, "--validate", "--oauth", "cid:csec", url)
    assert r.returncode == 0, (r.stdout, r.stderr)
    r = send("--secret", SECRET, "--oauth", "cid:wrong", url, fixture)
    assert r.returncode == 1
    assert b"invalid_client" in r.stderr
    r = send("--secret", SECRET, url, fixture)  # signed, but no token
    assert r.returncode == 1 and b"HTTP 401" in r.stdout


def test_header_and_verification_token_against_the_real_gateway(auth_gateway):
    url = "http://127.0.0.1:%d/hooks/h" % auth_gateway.port
    fixture = os.path.join(FIXTURES, "meeting.started.json")
    r = send("--header", "X-Hook-Key:hv", "--verification-token", "vt", url, fixture)
    assert r.returncode == 0, (r.stdout, r.stderr)
    r = send("--header", "X-Hook-Key:hv", url, fixture)
    assert r.returncode == 1 and b"HTTP 401" in r.stdout


# ---- the other providers (issue 22) ----------------------------------------------------------
# Each signature is checked by a verifier written from the provider's document (not by the
# sender's code: provider_helpers.py), itself pinned first to the published vectors in
# tests/fixtures/providers/.

PROVIDER_FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures", "providers")
PROVIDER_BODY = (b'{"id":"evt_1","event_id":"Ev01","type":"payment_intent.succeeded",'
                 b'"event":{"type":"message"},"n":1}')


def _fixture(name):
    v = {}
    with open(os.path.join(PROVIDER_FIXTURES, name), encoding="utf-8") as f:
        for line in f.read().split("\n"):
            if line and not line.startswith("#") and "=" in line:
                k, _, val = line.partition("=")
                v[k] = val
    return v


@pytest.mark.parametrize("name", ["standard-v1.txt", "github.txt", "stripe.txt", "slack.txt",
                                  "shopify.txt"])
def test_provider_verifier_matches_published_vector(name):
    v = _fixture(name)
    p, body = v["provider"], v["body"].encode()
    sig_header = {"standard": "webhook-signature", "github": "x-hub-signature-256",
                  "stripe": "stripe-signature", "slack": "x-slack-signature",
                  "shopify": "x-shopify-hmac-sha256"}[p]
    h = {sig_header: v["signature"], "webhook-id": v.get("id", ""),
         "webhook-timestamp": v.get("timestamp", ""),
         "x-slack-request-timestamp": v.get("timestamp", "")}
    now = int(v["timestamp"]) if "timestamp" in v else None
    assert provider_verify(p, v["secret"], h, body, now=now)
    assert not provider_verify(p, v["secret"], h, body + b" ", now=now)
    assert not provider_verify(p, v["secret"] + "x", h, body, now=now)
    if p in ("standard", "stripe", "slack"):
        assert not provider_verify(p, v["secret"], h, body, now=now + 301)


class ProviderStandIn(http.server.BaseHTTPRequestHandler):
    """Verifies srv.provider's signature (provider_verify); answers Slack's url_verification
    with its challenge (srv.challenge_answer overrides it)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        srv = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ok = provider_verify(srv.provider, srv.secret, dict(self.headers), body)
        srv.received.append({"headers": {k.lower(): v for k, v in self.headers.items()},
                             "body": body, "sig_ok": ok})
        status, data = (200, b'{"status":"queued"}') if ok else (401, b'{"error":"signature"}')
        doc = json.loads(body) if ok else None
        if isinstance(doc, dict) and doc.get("type") == "url_verification":
            data = (srv.challenge_answer or doc["challenge"]).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def provider_stand_in():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ProviderStandIn)
    srv.provider, srv.secret, srv.received, srv.challenge_answer = None, None, [], None
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    srv.url = "http://127.0.0.1:%d/hooks/p" % srv.server_address[1]
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("provider", sorted(PROVIDER_SECRETS))
def test_provider_signatures_verify_independently(provider_stand_in, provider):
    srv = provider_stand_in
    srv.provider, srv.secret = provider, PROVIDER_SECRETS[provider]
    r = send("--provider", provider, "--secret", srv.secret, "--count", "2", srv.url, "-",
             stdin=PROVIDER_BODY)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [x["sig_ok"] for x in srv.received] == [True, True]
    assert all(x["body"] == PROVIDER_BODY for x in srv.received)  # the bytes as they are
    a, b = (x["headers"] for x in srv.received)
    assert "x-zm-signature" not in a and a["content-type"] == "application/json"
    ids = {"standard": "webhook-id", "github": "x-github-delivery",
           "shopify": "x-shopify-webhook-id"}
    if provider in ids:  # a fresh delivery id per request
        assert a[ids[provider]] and a[ids[provider]] != b[ids[provider]]
    if provider == "standard":
        assert a["webhook-id"].startswith("msg_")
        assert abs(int(a["webhook-timestamp"]) - time.time()) < 60
    if provider == "github":
        assert a["x-github-event"] == "ping" and uuid.UUID(a["x-github-delivery"])
    if provider == "shopify":
        assert a["x-shopify-topic"] == "orders/create"
        assert a["x-shopify-event-id"] == a["x-shopify-webhook-id"]
        assert a["x-shopify-shop-domain"].endswith(".myshopify.com")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", a["x-shopify-triggered-at"])
        assert a["x-shopify-api-version"]
    # the wrong secret: the receiver refuses, the sender reports it
    r = send("--provider", provider, "--secret", srv.secret + "x" if provider != "standard"
             else "whsec_b3RoZXI=", srv.url, "-", stdin=PROVIDER_BODY)
    assert r.returncode == 1 and b"HTTP 401" in r.stdout
    assert srv.received[-1]["sig_ok"] is False


def test_provider_headers_options_and_pinned_id(provider_stand_in):
    srv = provider_stand_in
    srv.provider, srv.secret = "github", PROVIDER_SECRETS["github"]
    r = send("--provider", "github", "--secret", srv.secret, "--event", "push", "--id",
             "d-1", "--count", "2", srv.url, "-", stdin=PROVIDER_BODY)
    assert r.returncode == 0, r.stderr
    assert [x["headers"]["x-github-delivery"] for x in srv.received] == ["d-1", "d-1"]
    assert {x["headers"]["x-github-event"] for x in srv.received} == {"push"}
    srv.received.clear()
    srv.provider, srv.secret = "shopify", PROVIDER_SECRETS["shopify"]
    r = send("--provider", "shopify", "--secret", srv.secret, "--event", "products/update",
             "--shop-domain", "acme.myshopify.com", srv.url, "-", stdin=PROVIDER_BODY)
    assert r.returncode == 0, r.stderr
    h = srv.received[0]["headers"]
    assert h["x-shopify-topic"] == "products/update"
    assert h["x-shopify-shop-domain"] == "acme.myshopify.com"
    srv.received.clear()
    # standard: the secret's whsec_ prefix and padding are optional, as the spec's libraries
    srv.provider, srv.secret = "standard", PROVIDER_SECRETS["standard"]
    r = send("--provider", "standard", "--secret", srv.secret[len("whsec_"):], "--id", "msg_x",
             "--timestamp", str(int(time.time()) - 10), srv.url, "-", stdin=PROVIDER_BODY)
    assert r.returncode == 0, r.stderr
    assert srv.received[0]["headers"]["webhook-id"] == "msg_x"


@pytest.mark.parametrize("provider,field", [("stripe", "id"), ("slack", "event_id")])
def test_unique_gives_fresh_body_ids(provider_stand_in, provider, field):
    srv = provider_stand_in
    srv.provider, srv.secret = provider, PROVIDER_SECRETS[provider]
    r = send("--provider", provider, "--secret", srv.secret, "--count", "3", "--unique",
             srv.url, "-", stdin=PROVIDER_BODY)
    assert r.returncode == 0, r.stderr
    docs = [json.loads(x["body"]) for x in srv.received]
    assert all(x["sig_ok"] for x in srv.received)
    assert len({d[field] for d in docs}) == 3
    orig = json.loads(PROVIDER_BODY)
    for d in docs:
        d[field] = orig[field]
        assert d == orig


def test_slack_url_verification(provider_stand_in):
    srv = provider_stand_in
    srv.provider, srv.secret = "slack", PROVIDER_SECRETS["slack"]
    r = send("--provider", "slack", "--secret", srv.secret, "--validate", srv.url)
    assert r.returncode == 0, r.stdout + r.stderr
    assert b"challenge echoed" in r.stderr
    doc = json.loads(srv.received[0]["body"])
    assert doc["type"] == "url_verification" and doc["challenge"] and doc["token"]
    assert srv.received[0]["sig_ok"]
    srv.challenge_answer = "not-the-challenge"
    r = send("--provider", "slack", "--secret", srv.secret, "--validate", srv.url)
    assert r.returncode == 1 and b"not echoed" in r.stderr
    r = send("--provider", "slack", "--secret", "wrong", "--validate", srv.url)
    assert r.returncode == 1 and b"HTTP 401" in r.stdout


@pytest.mark.parametrize("args", [
    ["--provider", "standard", "--secret", "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g="],
    ["--provider", "standard", "--secret", "whsec_not*base64"],
    ["--provider", "stripe", "--secret", "s", "--event", "x"],
    ["--provider", "github", "--secret", "s", "--validate"],
    ["--provider", "github", "--secret", "s", "--shop-domain", "a.myshopify.com"],
    ["--provider", "stripe", "--secret", "s", "--id", "evt_1"],
    ["--provider", "nope", "--secret", "s"],
])
def test_provider_misuse_is_a_usage_error(provider_stand_in, args):
    r = send(*args, provider_stand_in.url, "-", stdin=PROVIDER_BODY)
    assert r.returncode == 2, r.stdout + r.stderr
    assert provider_stand_in.received == []


# against the real gateway: needs the gateway's provider support (issue 22)

@pytest.fixture
def provider_gateway(tmp_path, redis_server):
    _built()
    sources = {p: {"provider": p, "secret": s} for p, s in PROVIDER_SECRETS.items()}
    config = harness.write_config(
        tmp_path / "hookpipe.ini", gateway={"listen": "127.0.0.1:0", "workers": 1},
        redis={"url": redis_server.url, "queue": "test:events"}, sources=sources)
    d = harness.Daemon("gateway", config)
    d.start(wait_listen=("http",))
    yield {"port": d.listen_port("http"), "redis_port": redis_server.port}
    d.kill()


@pytest.mark.parametrize("provider", sorted(PROVIDER_SECRETS))
def test_real_gateway_accepts_each_provider(provider_gateway, provider):
    url = "http://127.0.0.1:%d/hooks/%s" % (provider_gateway["port"], provider)
    r = send("--provider", provider, "--secret", PROVIDER_SECRETS[provider], url, "-",
             stdin=PROVIDER_BODY)
    assert r.returncode == 0, r.stdout + r.stderr
    assert b"queued" in r.stdout
    assert _wait_llen(provider_gateway["redis_port"], 1) == 1
    wrong = "whsec_b3RoZXI=" if provider == "standard" else "not-the-secret"
    r = send("--provider", provider, "--secret", wrong, url, "-", stdin=PROVIDER_BODY)
    assert r.returncode == 1 and b"HTTP 401" in r.stdout
    assert int(_redis_cli(provider_gateway["redis_port"], "LLEN", "test:events")) == 1


def test_real_gateway_slack_url_verification(provider_gateway):
    url = "http://127.0.0.1:%d/hooks/slack" % provider_gateway["port"]
    r = send("--provider", "slack", "--secret", PROVIDER_SECRETS["slack"], "--validate", url)
    assert r.returncode == 0, r.stdout + r.stderr
    r = send("--provider", "slack", "--secret", "not-the-secret", "--validate", url)
    assert r.returncode == 1
    assert int(_redis_cli(provider_gateway["redis_port"], "LLEN", "test:events")) == 0

"""The webhook providers beside Zoom (issue 22) end to end, against a real Redis, PostgreSQL,
gateway and writer: for each of standard (Standard Webhooks v1, also under Svix's header
names), github, stripe, slack and shopify, a delivery signed as the provider's documentation
says (the signers below are this file's own, written from those documents: README
"Providers") becomes one row of hookpipe.events with the provider's event, time and account;
a redelivery of it is still one row; a tampered body, a wrong secret, an old timestamp and a
missing signature header are 401 and queue nothing; a secret_previous still verifies while
rotating; Slack's url_verification is answered with its challenge and not queued; JSON arrays
are stored; --check-config names a provider's missing or foreign keys.
"""

import base64
import datetime
import hashlib
import hmac
import json
import time
import uuid

import pytest

import harness
from gateway_helpers import Gw
from writer_helpers import Stack, encode

UTC = datetime.timezone.utc

# The secrets as each provider hands them out (Standard Webhooks: whsec_ + base64 of the key;
# Stripe: whsec_ used whole as the HMAC key).
STD_KEY = b"hookpipe-standard-webhooks-key-32"
SECRETS = {
    "standard": "whsec_" + base64.b64encode(STD_KEY).decode(),
    "github": "gh-secret-It's a Secret to Everybody",
    "stripe": "whsec_stripe0123456789abcdefghijkl",
    "slack": "8f742231b10e8888abcd99yyyzzz85a5",
    "shopify": "shpss_hookpipe0123456789abcdef",
}
PREVIOUS = {
    "standard": "whsec_" + base64.b64encode(b"the-previous-standard-key-bytes!").decode(),
    "github": "gh-previous-secret",
    "stripe": "whsec_previous0123456789abcdef",
    "slack": "previous-slack-signing-secret-00",
    "shopify": "shpss_previous0123456789abcdef",
}
TIMESTAMPED = {"standard", "stripe", "slack"}


def hmac256(key, data):
    return hmac.new(key, data, hashlib.sha256)


def std_key(secret):
    return base64.b64decode(secret[len("whsec_"):])


def sign(provider, secret, body, headers, ts=None):
    """The signature headers of provider over body (headers: the delivery's other headers,
    e.g. webhook-id, which Standard Webhooks signs). Returns a new dict."""
    ts = int(time.time()) if ts is None else ts
    h = dict(headers)
    if provider == "standard":
        # standardwebhooks.com spec: base64(HMAC-SHA256(key, "id.timestamp.body"))
        wid = h.get("webhook-id") or h.get("svix-id")
        prefix = "svix-" if "svix-id" in h else "webhook-"
        mac = hmac256(std_key(secret), f"{wid}.{ts}.".encode() + body).digest()
        h[prefix + "timestamp"] = str(ts)
        h[prefix + "signature"] = "v1," + base64.b64encode(mac).decode()
    elif provider == "github":
        # docs.github.com "Validating webhook deliveries": sha256= hex HMAC of the body
        h["X-Hub-Signature-256"] = "sha256=" + hmac256(secret.encode(), body).hexdigest()
    elif provider == "stripe":
        # docs.stripe.com/webhooks "Verify manually": t=TS,v1=hex HMAC of "TS.body"
        mac = hmac256(secret.encode(), f"{ts}.".encode() + body).hexdigest()
        h["Stripe-Signature"] = f"t={ts},v1={mac}"
    elif provider == "slack":
        # api.slack.com/authentication/verifying-requests-from-slack: v0= hex of "v0:TS:body"
        h["X-Slack-Request-Timestamp"] = str(ts)
        h["X-Slack-Signature"] = "v0=" + hmac256(secret.encode(), f"v0:{ts}:".encode()
                                                 + body).hexdigest()
    elif provider == "shopify":
        # shopify.dev "Verify webhooks": base64 HMAC-SHA256 of the body
        h["X-Shopify-Hmac-Sha256"] = base64.b64encode(hmac256(secret.encode(), body).digest(
        )).decode()
    return h


def compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def iso(t):
    return datetime.datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def delivery(provider, svix=False):
    """(body, unsigned headers, expected (event, event time s or None, account)) of one
    realistic delivery of provider, shaped as its documentation shows."""
    now = time.time()
    uid = uuid.uuid4().hex
    if provider == "standard":
        t = now - 5
        body = compact({"type": "invoice.paid", "timestamp": iso(t),
                        "data": {"invoice": "in_" + uid}})
        hid = "msg_" + uid
        return body, {("svix-id" if svix else "webhook-id"): hid}, ("invoice.paid", t, None)
    if provider == "github":
        body = compact({"action": "opened", "issue": {"number": 7, "title": uid},
                        "repository": {"full_name": "octo/hello"},
                        "installation": {"id": 4242}})
        return body, {"X-GitHub-Event": "issues", "X-GitHub-Delivery": str(uuid.uuid4()),
                      "X-GitHub-Hook-ID": "1234"}, ("issues.opened", None, "4242")
    if provider == "stripe":
        t = int(now) - 3
        body = compact({"id": "evt_" + uid, "object": "event", "type": "payment_intent.succeeded",
                        "created": t, "account": "acct_1Hook", "data": {"object": {"id": uid}}})
        return body, {}, ("payment_intent.succeeded", t, "acct_1Hook")
    if provider == "slack":
        t = int(now) - 2
        body = compact({"token": "x", "team_id": "T0HOOK", "api_app_id": "A0HOOK",
                        "type": "event_callback", "event_id": "Ev" + uid, "event_time": t,
                        "event": {"type": "app_mention", "text": uid}})
        return body, {}, ("app_mention", t, "T0HOOK")
    if provider == "shopify":
        t = now - 1
        body = compact({"id": 820982911946154508, "email": uid + "@example.com",
                        "total_price": "9.99"})
        return body, {"X-Shopify-Topic": "orders/create",
                      "X-Shopify-Shop-Domain": "hookpipe.myshopify.com",
                      "X-Shopify-Event-Id": str(uuid.uuid4()),
                      "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                      "X-Shopify-Triggered-At": iso(t).replace("Z", "000Z"),
                      "X-Shopify-API-Version": "2024-07"}, ("orders/create", t,
                                                           "hookpipe.myshopify.com")
    raise AssertionError(provider)


class Pipe:
    """A gateway and a writer on one queue and database."""

    def __init__(self, redis, pg, tmp_path, sources, name="gw"):
        self.stack = Stack(redis, pg, tmp_path)
        r = harness.run_daemon("writer", ["-c", self.stack.config("migrate"), "--migrate"])
        assert r.returncode == 0, r.stdout + r.stderr
        self.gw = Gw(tmp_path, redis, sources=sources, name=name)
        self.gw.queue = self.stack.queue
        self.gw.write()
        self.gw.start()
        self.writer = self.stack.writer()

    def post(self, source, body, headers):
        return self.gw.request("POST", f"/hooks/{source}", body, headers)

    def rows(self, source):
        return self.stack.q(
            "SELECT provider, event, extract(epoch FROM event_ts), account_id, payload::text "
            "FROM hookpipe.events WHERE source = %s ORDER BY id", (source,))

    def settle(self):
        """Waits until every queued item is stored (the queue and processing lists drained)."""
        self.stack.wait_drained(timeout=30)

    def auth_failures(self, source, reason):
        return harness.metric(self.gw.metrics(), "hookpipe_gateway_auth_failures_total",
                              source=source, reason=reason) or 0

    def stop(self):
        assert self.gw.stop() == 0, self.gw.log()[-2000:]
        for w in self.stack.writers:
            w.stop()


def sources_for(providers, previous=False):
    out = {}
    for p in providers:
        s = {"provider": p, "secret": SECRETS[p]}
        if previous:
            s["secret_previous"] = PREVIOUS[p]
        out[p] = s
    return out


@pytest.fixture
def pipe(shared_redis, shared_pg, tmp_path):
    p = Pipe(shared_redis, shared_pg, tmp_path,
             dict(sources_for(["standard", "github", "stripe", "slack", "shopify"]),
                  svix={"provider": "standard", "secret": SECRETS["standard"]}))
    yield p
    p.stop()


PROVIDERS = ["standard", "github", "stripe", "slack", "shopify"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_signed_delivery_is_one_row_with_the_providers_facts_and_refusals_queue_nothing(
        pipe, provider):
    secret = SECRETS[provider]
    body, hdrs, (event, t, account) = delivery(provider)
    st, _, text = pipe.post(provider, body, sign(provider, secret, body, hdrs))
    assert st == 200, text
    pipe.settle()
    rows = pipe.rows(provider)
    assert len(rows) == 1, rows
    prov, ev, ts, acct, payload = rows[0]
    assert (prov, ev, acct) == (provider, event, account), rows[0]
    assert json.loads(payload) == json.loads(body)
    if t is not None:
        assert ts is not None and abs(float(ts) - t) < 0.002, (ts, t)

    # the provider's redelivery (same delivery id, signed again later) is still one row
    time.sleep(1.1)
    st, _, text = pipe.post(provider, body, sign(provider, secret, body, hdrs))
    assert st == 200, text
    pipe.settle()
    assert len(pipe.rows(provider)) == 1

    # refusals: 401, counted, nothing queued
    before = pipe.stack.r.llen(pipe.stack.queue)
    fresh, fresh_hdrs, _ = delivery(provider)
    good = sign(provider, secret, fresh, fresh_hdrs)
    cases = [("tampered body", fresh[:-1] + b" }", good),
             ("wrong secret", fresh, sign(provider, PREVIOUS[provider], fresh, fresh_hdrs))]
    sig_header = {"standard": "webhook-signature", "github": "X-Hub-Signature-256",
                  "stripe": "Stripe-Signature", "slack": "X-Slack-Signature",
                  "shopify": "X-Shopify-Hmac-Sha256"}[provider]
    cases.append(("missing signature header", fresh,
                  {k: v for k, v in good.items() if k != sig_header}))
    if provider in TIMESTAMPED:
        cases.append(("timestamp 10 minutes old", fresh,
                      sign(provider, secret, fresh, fresh_hdrs, ts=int(time.time()) - 600)))
    sig_failures = pipe.auth_failures(provider, "signature")
    for what, b, h in cases:
        st, _, text = pipe.post(provider, b, h)
        assert st == 401, (what, st, text)
    assert pipe.stack.r.llen(pipe.stack.queue) == before
    assert pipe.auth_failures(provider, "signature") >= sig_failures + 3
    if provider in TIMESTAMPED:
        assert pipe.auth_failures(provider, "timestamp") >= 1
    pipe.settle()
    assert len(pipe.rows(provider)) == 1
    assert SECRETS[provider] not in pipe.gw.log()


def test_svix_header_names_verify_as_standard_webhooks(pipe):
    body, hdrs, (event, _, _) = delivery("standard", svix=True)
    st, _, text = pipe.post("svix", body, sign("standard", SECRETS["standard"], body, hdrs))
    assert st == 200, text
    pipe.settle()
    rows = pipe.rows("svix")
    assert [(r[0], r[1]) for r in rows] == [("standard", event)]


def test_standard_signature_list_any_match_passes(pipe):
    body, hdrs, _ = delivery("standard")
    h = sign("standard", SECRETS["standard"], body, hdrs)
    other = sign("standard", PREVIOUS["standard"], body, hdrs)["webhook-signature"]
    h["webhook-signature"] = other + " v2,c29tZXRoaW5n " + h["webhook-signature"]
    st, _, text = pipe.post("standard", body, h)
    assert st == 200, text


def test_json_arrays_and_bodies_without_facts_are_stored(pipe):
    body = b'[{"id":1},{"id":2}]'
    hdrs = {"X-Shopify-Topic": "products/update", "X-Shopify-Shop-Domain": "a.myshopify.com",
            "X-Shopify-Webhook-Id": str(uuid.uuid4())}
    st, _, text = pipe.post("shopify", body, sign("shopify", SECRETS["shopify"], body, hdrs))
    assert st == 200, text
    gh = b'["ping"]'  # no event header, no action: the row is kept with what there is
    st, _, text = pipe.post("github", gh, sign("github", SECRETS["github"], gh,
                                               {"X-GitHub-Delivery": str(uuid.uuid4())}))
    assert st == 200, text
    not_json = b'{"id": '
    st, _, _ = pipe.post("github", not_json, sign("github", SECRETS["github"], not_json, {}))
    assert st == 400
    pipe.settle()
    assert [(r[0], r[1], r[3]) for r in pipe.rows("shopify")] == [
        ("shopify", "products/update", "a.myshopify.com")]
    gh_rows = pipe.rows("github")
    assert len(gh_rows) == 1 and json.loads(gh_rows[0][4]) == ["ping"]
    assert gh_rows[0][1] is None


def test_slack_url_verification_is_answered_and_not_queued(pipe):
    before = pipe.stack.r.llen(pipe.stack.queue)
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = compact({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": challenge,
                    "type": "url_verification"})
    st, _, text = pipe.post("slack", body, sign("slack", SECRETS["slack"], body, {}))
    assert st == 200, text
    assert json.loads(text) == {"challenge": challenge}
    # unsigned, it is refused like any request
    st, _, _ = pipe.post("slack", body, {})
    assert st == 401
    assert pipe.stack.r.llen(pipe.stack.queue) == before
    pipe.settle()
    assert pipe.rows("slack") == []


def test_zoom_relations_ignore_other_providers_rows(pipe):
    """A Standard Webhooks event that happens to look like Zoom's meeting.started is stored,
    queryable by provider, and stays out of hookpipe.meetings (Zoom-only)."""
    t = time.time()
    obj = {"uuid": "zoomlike-" + uuid.uuid4().hex, "id": 85746065432, "topic": "not zoom",
           "host_id": "h", "start_time": iso(t)}
    body = compact({"type": "meeting.started", "timestamp": iso(t), "event": "meeting.started",
                    "payload": {"account_id": "acct", "object": obj}})
    hdrs = {"webhook-id": "msg_" + uuid.uuid4().hex}
    st, _, text = pipe.post("standard", body, sign("standard", SECRETS["standard"], body, hdrs))
    assert st == 200, text
    pipe.settle()
    got = pipe.stack.q("SELECT provider, event, headers->>'webhook-id' FROM hookpipe.events "
                       "WHERE provider = 'standard'")
    assert got == [("standard", "meeting.started", hdrs["webhook-id"])], got
    assert pipe.stack.q("SELECT count(*) FROM hookpipe.meetings WHERE meeting_uuid = %s",
                        (obj["uuid"],)) == [(0,)]
    # the control: the same object from Zoom is a meeting
    zobj = dict(obj, uuid="zoom-" + uuid.uuid4().hex)
    pipe.stack.push([encode(compact({"event": "meeting.started", "event_ts": int(t * 1000),
                                     "payload": {"account_id": "acct", "object": zobj}}),
                            source="zoomsrc")])
    pipe.settle()
    assert pipe.stack.q("SELECT count(*) FROM hookpipe.meetings WHERE meeting_uuid = %s",
                        (zobj["uuid"],)) == [(1,)]


def test_rotation_with_secret_previous_and_sighup(shared_redis, shared_pg, tmp_path):
    p = Pipe(shared_redis, shared_pg, tmp_path, sources_for(PROVIDERS, previous=True))
    try:
        for provider in PROVIDERS:
            for secret in (SECRETS[provider], PREVIOUS[provider]):
                body, hdrs, _ = delivery(provider)
                st, _, text = p.post(provider, body, sign(provider, secret, body, hdrs))
                assert st == 200, (provider, text)
        # rotation done: the previous secret is dropped by a reload
        p.gw.write(sources=sources_for(PROVIDERS))
        p.gw.daemon.signal(1)  # SIGHUP
        body, hdrs, _ = delivery("github")
        h = sign("github", PREVIOUS["github"], body, hdrs)
        answers = []  # until the reload lands, the previous secret still verifies (one row)
        harness.wait_for(lambda: answers.append(p.post("github", body, h)[0]) or
                         answers[-1] == 401, timeout=10,
                         what="the previous secret refused after SIGHUP")
        assert set(answers) <= {200, 401}, answers
        p.settle()
        for provider in PROVIDERS:
            want = 2 + (provider == "github" and 200 in answers)
            assert len(p.rows(provider)) == want, (provider, answers)
    finally:
        p.stop()


def check_config(path):
    return harness.run_daemon("gateway", ["-c", path, "--check-config"])


def line_of(path, text):
    with open(path) as f:
        return f.read().splitlines().index(text) + 1


@pytest.mark.parametrize("source,line,key", [
    ({"provider": "github", "secret": "x", "public_key": "whpk_" + "A" * 44},
     "public_key = whpk_" + "A" * 44, "public_key"),
    ({"provider": "stripe", "secret": "whsec_abc", "auth": "signature bearer",
      "oauth_client_id": "c", "oauth_client_secret": "s"}, "auth = signature bearer", "auth"),
    ({"provider": "standard", "secret": "whsec_not base64!"}, "secret = whsec_not base64!",
     "secret"),
    ({"provider": "slack", "secret": "x", "transport": "websocket"}, "transport = websocket",
     "transport"),
    ({"provider": "gitlab", "secret": "x"}, "provider = gitlab", "provider"),
])
def test_check_config_names_a_providers_foreign_or_bad_keys(tmp_path, source, line, key):
    path = harness.write_config(tmp_path / "bad.ini", gateway={"listen": "127.0.0.1:0"},
                                redis={"url": "redis://127.0.0.1:1/0", "queue": "q"},
                                sources={"src": source})
    r = check_config(path)
    err = r.stdout + r.stderr
    assert r.returncode == 2, err
    assert f"{path}:{line_of(path, line)}: {key}" in err, err


def test_check_config_accepts_every_provider_and_a_public_key_alone(tmp_path):
    srcs = sources_for(PROVIDERS, previous=True)
    srcs["v1a"] = {"provider": "standard",
                   "public_key": "whpk_" + base64.b64encode(bytes(range(32))).decode()}
    path = harness.write_config(tmp_path / "ok.ini", gateway={"listen": "127.0.0.1:0"},
                                redis={"url": "redis://127.0.0.1:1/0", "queue": "q"},
                                sources=srcs)
    r = check_config(path)
    assert r.returncode == 0, r.stdout + r.stderr
    missing = harness.write_config(tmp_path / "missing.ini", gateway={"listen": "127.0.0.1:0"},
                                   redis={"url": "redis://127.0.0.1:1/0", "queue": "q"},
                                   sources={"gh": {"provider": "github"}})
    r = check_config(missing)
    assert r.returncode == 2 and ": secret" in r.stdout + r.stderr, r.stdout + r.stderr

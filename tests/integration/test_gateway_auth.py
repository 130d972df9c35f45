"""Every way a Zoom app can authenticate a delivery ([source.NAME] auth, issue 12), against
the real gateway and Redis: each mode alone and in combination (every listed check must
pass), url_validation under each mode (always behind Zoom's signature, never a signing
oracle: issue 19), the token endpoint's every answer (no credentials in the query),
stateless bearer tokens (another gateway instance accepts them, another source does not,
expired, altered, truncated and longer-lived than the TTL allows are 401), refusals counted
by reason, no secret in the log, SIGHUP rotation of each secret through its _previous form
and of the token TTL, and bad auth config exiting 2.
"""

import base64
import hashlib
import hmac
import json
import signal
import time
import urllib.parse

import pytest

import harness
from gateway_helpers import Gw, event_body, metric, signed_headers

SIG = "sig-secret-0123"
BASIC_PW = "basic-pass-word"
HDR_VALUE = "hdr-value-4567"
VTOKEN = "legacy-verification-token-89"
CLIENT_ID = "zoom-client"
CLIENT_SECRET = "client-secret-abcdef"
ALL_SECRETS = (SIG, BASIC_PW, HDR_VALUE, VTOKEN, CLIENT_SECRET)


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def sources():
    common = {"provider": "zoom", "secret": SIG}
    return {
        "sig": dict(common),
        "basic": dict(common, auth="basic", basic_user="zoom", basic_password=BASIC_PW),
        "hdr": dict(common, auth="header", header_name="X-Hook-Key", header_value=HDR_VALUE),
        "tok": dict(common, auth="token", verification_token=VTOKEN),
        "bear": dict(common, auth="bearer", oauth_client_id=CLIENT_ID,
                     oauth_client_secret=CLIENT_SECRET),
        "bear2": dict(common, auth="bearer", oauth_client_id=CLIENT_ID,
                      oauth_client_secret=CLIENT_SECRET),
        "sigbasic": dict(common, auth="signature, basic", basic_user="zoom",
                         basic_password=BASIC_PW),
        "combo": dict(common, auth="signature header token", header_name="X-Hook-Key",
                      header_value=HDR_VALUE, verification_token=VTOKEN),
        "hdrbear": dict(common, auth="header,bearer", header_name="X-Hook-Key",
                        header_value=HDR_VALUE, oauth_client_id=CLIENT_ID,
                        oauth_client_secret=CLIENT_SECRET),
    }


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    # wrong credentials by the dozen from one address: the failure throttle (its own tests
    # in test_gateway_attack.py) would answer them 429
    g = Gw(tmp_path_factory.mktemp("auth"), harness.shared_redis(), name="auth",
           sources=sources(), gateway={"auth_failure_limit": 0})
    g.write(raw_append="[log]\nlevel = debug")
    g.start()
    yield g
    g.stop()


def get_token(gw, source="bear", client_id=CLIENT_ID, secret=CLIENT_SECRET, port=None):
    st, h, b = harness.http_request(
        port or gw.port, "POST", "/hooks/%s/token" % source, b"grant_type=client_credentials",
        {"content-type": "application/x-www-form-urlencoded",
         "authorization": basic(client_id, secret)})
    assert st == 200, (st, b)
    return json.loads(b)["access_token"]


def mint(source, expires, client_secret=CLIENT_SECRET):
    """A token made independently of the gateway, from the format documented in token.h."""
    key = hmac.new(client_secret.encode(), b"hookpipe bearer token v1", hashlib.sha256).digest()
    signed = "hp1.%s.%d" % (source, expires)
    mac = hmac.new(key, signed.encode(), hashlib.sha256).digest()
    return signed + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def post(gw, source, headers=None, sign=True, body=None):
    body = body if body is not None else event_body()
    h = signed_headers(SIG, body) if sign else {"content-type": "application/json"}
    h.update(headers or {})
    return gw.request("POST", "/hooks/%s" % source, body, h)


def failures(gw, source, reason):
    return metric(gw.metrics(), "hookpipe_gateway_auth_failures_total", source=source,
                  reason=reason)


def expect_401(gw, source, reason, headers=None, sign=True):
    before = failures(gw, source, reason)
    st, h, b = post(gw, source, headers, sign)
    assert st == 401, (source, reason, st, b)
    harness.wait_for(lambda: failures(gw, source, reason) == before + 1, timeout=3,
                     what="auth failure %s/%s counted" % (source, reason))
    return h, json.loads(b)


def queued(gw, body):
    return any(e["body"] == body for e in gw.items())


@pytest.mark.timeout(60)
def test_signature_default_unchanged(gw):
    assert post(gw, "sig")[0] == 200
    expect_401(gw, "sig", "signature", sign=False, headers={"x-zm-request-timestamp":
                                                            str(int(time.time()))})
    expect_401(gw, "sig", "timestamp", sign=False)


@pytest.mark.timeout(60)
def test_basic(gw):
    body = event_body()
    st, _, b = post(gw, "basic", {"authorization": basic("zoom", BASIC_PW)}, sign=False,
                    body=body)
    assert st == 200, b
    assert queued(gw, body)
    for bad in (None, basic("zoom", "wrong"), basic("zoomx", BASIC_PW), "Basic !!!",
                "Bearer " + base64.b64encode(b"zoom:" + BASIC_PW.encode()).decode()):
        h, err = expect_401(gw, "basic", "basic", {"authorization": bad} if bad else None,
                            sign=False)
        assert h.get("www-authenticate") == 'Basic realm="hookpipe"', h
        assert err == {"error": "missing or wrong basic credentials"}


@pytest.mark.timeout(60)
def test_custom_header(gw):
    assert post(gw, "hdr", {"X-Hook-Key": HDR_VALUE}, sign=False)[0] == 200
    assert post(gw, "hdr", {"x-hook-key": HDR_VALUE}, sign=False)[0] == 200  # any case
    expect_401(gw, "hdr", "header", sign=False)
    expect_401(gw, "hdr", "header", {"X-Hook-Key": HDR_VALUE + "x"}, sign=False)
    expect_401(gw, "hdr", "header", {"X-Hook-Key": HDR_VALUE[:-1]}, sign=False)
    # the header twice is refused even when both copies are right
    raw = (b"POST /hooks/hdr HTTP/1.1\r\nHost: x\r\nX-Hook-Key: %s\r\nX-Hook-Key: %s\r\n"
           b"Content-Length: 2\r\nConnection: close\r\n\r\n{}" % ((HDR_VALUE.encode(),) * 2))
    assert harness.raw_request(gw.port, raw).startswith(b"HTTP/1.1 401")


@pytest.mark.timeout(60)
def test_verification_token(gw):
    assert post(gw, "tok", {"authorization": VTOKEN}, sign=False)[0] == 200
    expect_401(gw, "tok", "verification_token", sign=False)
    expect_401(gw, "tok", "verification_token", {"authorization": VTOKEN + "0"}, sign=False)
    expect_401(gw, "tok", "verification_token", {"authorization": "Bearer " + VTOKEN},
               sign=False)


@pytest.mark.timeout(60)
def test_bearer(gw):
    tok = get_token(gw)
    body = event_body()
    st, _, b = post(gw, "bear", {"authorization": "Bearer " + tok}, sign=False, body=body)
    assert st == 200, b
    assert queued(gw, body)
    # a token made from the documented format is accepted: the format is the contract
    assert post(gw, "bear", {"authorization": "Bearer " + mint("bear", int(time.time()) + 60)},
                sign=False)[0] == 200
    h, err = expect_401(gw, "bear", "bearer_missing", sign=False)
    assert h.get("www-authenticate") == 'Bearer realm="hookpipe"'
    h, err = expect_401(gw, "bear", "bearer_expired",
                        {"authorization": "Bearer " + mint("bear", int(time.time()) - 1)},
                        sign=False)
    assert 'error="invalid_token"' in h.get("www-authenticate", "")
    assert err == {"error": "bearer token expired"}
    # another source's token (same client credentials, so the same key): refused
    other = get_token(gw, "bear2")
    expect_401(gw, "bear", "bearer_other_source", {"authorization": "Bearer " + other},
               sign=False)
    assert post(gw, "bear2", {"authorization": "Bearer " + other}, sign=False)[0] == 200
    # altered: a later expiry with the old MAC, a flipped MAC character; truncated
    parts = tok.split(".")
    later = ".".join([parts[0], parts[1], str(int(parts[2]) + 3600), parts[3]])
    expect_401(gw, "bear", "bearer_invalid", {"authorization": "Bearer " + later}, sign=False)
    flipped = tok[:-3] + ("A" if tok[-3] != "A" else "B") + tok[-2:]
    expect_401(gw, "bear", "bearer_invalid", {"authorization": "Bearer " + flipped},
               sign=False)
    expect_401(gw, "bear", "bearer_malformed", {"authorization": "Bearer " + tok[:-1]},
               sign=False)
    expect_401(gw, "bear", "bearer_invalid",
               {"authorization": "Bearer " + mint("bear", int(time.time()) + 60, "other")},
               sign=False)
    # a bearer token is not a basic credential, nor the other way round
    expect_401(gw, "bear", "bearer_missing", {"authorization": basic(CLIENT_ID, CLIENT_SECRET)},
               sign=False)


@pytest.mark.timeout(60)
def test_combinations_need_every_check(gw):
    good_basic = {"authorization": basic("zoom", BASIC_PW)}
    assert post(gw, "sigbasic", good_basic)[0] == 200
    expect_401(gw, "sigbasic", "basic")  # signed, no basic
    expect_401(gw, "sigbasic", "signature", dict(good_basic, **{
        "x-zm-request-timestamp": str(int(time.time()))}), sign=False)
    both = {"X-Hook-Key": HDR_VALUE, "authorization": VTOKEN}
    assert post(gw, "combo", both)[0] == 200
    expect_401(gw, "combo", "header", {"authorization": VTOKEN})
    expect_401(gw, "combo", "verification_token", {"X-Hook-Key": HDR_VALUE})
    expect_401(gw, "combo", "timestamp", both, sign=False)
    tok = get_token(gw, "hdrbear")
    assert post(gw, "hdrbear", {"X-Hook-Key": HDR_VALUE, "authorization": "Bearer " + tok},
                sign=False)[0] == 200
    expect_401(gw, "hdrbear", "bearer_missing", {"X-Hook-Key": HDR_VALUE}, sign=False)
    expect_401(gw, "hdrbear", "header", {"authorization": "Bearer " + tok}, sign=False)


AUTH_OF = {
    "sig": lambda gw: {},
    "basic": lambda gw: {"authorization": basic("zoom", BASIC_PW)},
    "hdr": lambda gw: {"X-Hook-Key": HDR_VALUE},
    "tok": lambda gw: {"authorization": VTOKEN},
    "bear": lambda gw: {"authorization": "Bearer " + get_token(gw)},
    "sigbasic": lambda gw: {"authorization": basic("zoom", BASIC_PW)},
    "combo": lambda gw: {"X-Hook-Key": HDR_VALUE, "authorization": VTOKEN},
}


def validation_body(plain):
    return json.dumps({"event": "endpoint.url_validation", "event_ts": 1,
                       "payload": {"plainToken": plain}}).encode()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("source", sorted(AUTH_OF))
def test_url_validation_under_each_mode(gw, source):
    """The challenge is answered with the source's secret once the source's checks and,
    whatever auth says, Zoom's signature pass (Zoom signs its validation requests); refused
    (no HMAC of a caller's choice) when either does not."""
    plain = "plain-%s-%d" % (source, time.time_ns())
    body = validation_body(plain)
    st, _, b = post(gw, source, AUTH_OF[source](gw), sign=True, body=body)
    assert st == 200, (source, st, b)
    assert json.loads(b) == {"plainToken": plain,
                             "encryptedToken": harness.zoom_token(SIG, plain)}
    st, _, b = post(gw, source, {}, sign=False, body=body)
    assert st == 401, (source, st, b)
    assert b"encryptedToken" not in b


@pytest.mark.timeout(60)
@pytest.mark.parametrize("source", sorted(set(AUTH_OF) - {"sig", "sigbasic", "combo"}))
def test_url_validation_is_no_signing_oracle(gw, source):
    """Issue 19 item 3. Under auth without signature, a caller holding the source's Basic,
    header, token or bearer credential (or one that was rotated out, or a replay target that
    shares the secret) must not get HMAC(secret, x) for an x of its choice: with
    x = "v0:TS:BODY" that is the x-zm-signature of any body at any time. The challenge needs
    Zoom's own signature of the request, and a plainToken of Zoom's shape."""
    auth = AUTH_OF[source](gw)
    body = validation_body("plain-%d" % time.time_ns())
    # the source's credential alone: no signature, a wrong one, a stale one
    for headers, sign in ((auth, False),
                          (dict(auth, **signed_headers("not-the-secret", body)), False),
                          (dict(auth, **signed_headers(SIG, body, ts=int(time.time()) - 3600)),
                           False)):
        st, _, b = post(gw, source, headers, sign=sign, body=body)
        assert st == 401, (source, st, b)
        assert b"encryptedToken" not in b
        assert json.loads(b) == {"error": "url_validation needs a valid x-zm-signature"}, b
    # the attack itself: the answer would be the signature of forged at ts
    ts = int(time.time())
    forged = event_body()
    oracle = validation_body("v0:%d:%s" % (ts, forged.decode()))
    st, _, b = post(gw, source, auth, sign=True, body=oracle)
    assert st == 400 and b"encryptedToken" not in b, (source, st, b)
    assert "plainToken" in json.loads(b)["error"]
    # other events are unaffected: the source's own checks decide, unsigned
    assert post(gw, source, AUTH_OF[source](gw), sign=False)[0] == 200


@pytest.mark.timeout(60)
def test_url_validation_plain_token_shape(gw):
    """Zoom's plainToken is a short random string ("qgg8vlvZRS6UYooatFL8Aw" in its docs):
    1..128 characters of A-Z a-z 0-9 - _ + / = . are answered, anything else is 400."""
    for plain in ("qgg8vlvZRS6UYooatFL8Aw", "a" * 128, "a+b/c=d-e_f.g"):
        st, _, b = post(gw, "sig", body=validation_body(plain))
        assert st == 200 and json.loads(b)["plainToken"] == plain, (plain, st, b)
    for plain in ("", "a" * 129, "v0:1:x", "tok-\u00e9", "a b", 'a"b', "a\\nb"):
        st, _, b = post(gw, "sig", body=validation_body(plain))
        assert st == 400 and b"encryptedToken" not in b, (plain, st, b)


def token_call(gw, body=b"", headers=None, query="", method="POST", source="bear"):
    h = {"content-type": "application/x-www-form-urlencoded"}
    h.update(headers or {})
    st, hd, b = gw.request(method, "/hooks/%s/token%s" % (source, query), body, h)
    return st, hd, b


@pytest.mark.timeout(60)
def test_token_endpoint_answers(gw):
    good = {"authorization": basic(CLIENT_ID, CLIENT_SECRET)}
    form = ("grant_type=client_credentials&client_id=%s&client_secret=%s" % (
        CLIENT_ID, urllib.parse.quote(CLIENT_SECRET))).encode()
    # 200 three ways: Basic + body, Basic + query (as Zoom's own token endpoint takes it),
    # form credentials
    for body, headers, query in ((b"grant_type=client_credentials", good, ""),
                                 (b"", good, "?grant_type=client_credentials"),
                                 (form, {}, "")):
        st, h, b = token_call(gw, body, headers, query)
        assert st == 200, (st, b)
        doc = json.loads(b)
        assert doc["token_type"] == "Bearer" and doc["expires_in"] == 3600, doc
        assert doc["access_token"].startswith("hp1.bear.")
        assert h.get("cache-control") == "no-store" and h.get("pragma") == "no-cache"
        assert post(gw, "bear", {"authorization": "Bearer " + doc["access_token"]},
                    sign=False)[0] == 200
    # 401 invalid_client
    before = failures(gw, "bear", "client_credentials")
    for body, headers in ((b"grant_type=client_credentials",
                           {"authorization": basic(CLIENT_ID, "nope")}),
                          (b"grant_type=client_credentials", {}),
                          (b"grant_type=client_credentials&client_id=%s&client_secret=x" %
                           CLIENT_ID.encode(), {}),
                          (b"grant_type=password", {"authorization": basic("x", "y")})):
        st, h, b = token_call(gw, body, headers)
        assert (st, json.loads(b)) == (401, {"error": "invalid_client"}), (body, st, b)
        assert h.get("www-authenticate") == 'Basic realm="hookpipe"'
    harness.wait_for(lambda: failures(gw, "bear", "client_credentials") == before + 4,
                     timeout=3, what="invalid_client counted")
    # 400 unsupported_grant_type / invalid_request
    st, _, b = token_call(gw, b"grant_type=authorization_code&code=x", good)
    assert (st, json.loads(b)) == (400, {"error": "unsupported_grant_type"})
    for body, headers, query in ((b"", good, ""),  # no grant_type
                                 (b"grant_type=client_credentials", good,
                                  "?grant_type=client_credentials"),  # repeated
                                 (b"grant_type=client_credentials&client_secret=" +
                                  CLIENT_SECRET.encode(), good, ""),  # two methods
                                 (b"grant_type=%zz", good, "")):
        st, _, b = token_call(gw, body, headers, query)
        assert (st, json.loads(b)) == (400, {"error": "invalid_request"}), (body, query, st, b)
    # client credentials in the query string (RFC 6749 2.3.1: they would end in proxy logs),
    # right or wrong, with or without Basic: invalid_request, no token, nothing counted
    before = failures(gw, "bear", "client_credentials")
    cred_query = "client_id=%s&client_secret=%s" % (CLIENT_ID, urllib.parse.quote(CLIENT_SECRET))
    for body, headers, query in ((b"grant_type=client_credentials", {}, "?" + cred_query),
                                 (b"", {}, "?grant_type=client_credentials&" + cred_query),
                                 (b"grant_type=client_credentials&client_id=" +
                                  CLIENT_ID.encode(), {},
                                  "?client_secret=" + urllib.parse.quote(CLIENT_SECRET)),
                                 (b"grant_type=client_credentials", good,
                                  "?client_id=" + CLIENT_ID),
                                 (b"grant_type=client_credentials", {},
                                  "?client_id=x&client_secret=y")):
        st, h, b = token_call(gw, body, headers, query)
        assert (st, json.loads(b)) == (400, {"error": "invalid_request"}), (body, query, st, b)
        assert h.get("cache-control") == "no-store"
    assert failures(gw, "bear", "client_credentials") == before
    # not a token endpoint: wrong method, unknown source, a source without bearer, too big
    st, h, _ = token_call(gw, method="GET")
    assert st == 405 and "POST" in h.get("allow", "")
    assert token_call(gw, b"grant_type=client_credentials", good, source="nosuch")[0] == 404
    assert token_call(gw, b"grant_type=client_credentials", good, source="basic")[0] == 404
    assert token_call(gw, b"x" * 5000, good)[0] == 413


@pytest.mark.timeout(60)
def test_tokens_are_stateless_across_instances(tmp_path, gw):
    """A second gateway with the same configuration accepts the first one's tokens."""
    other = Gw(tmp_path, harness.shared_redis(), name="auth2", sources=sources()).start()
    try:
        tok = get_token(gw)
        assert post(other, "bear", {"authorization": "Bearer " + tok}, sign=False)[0] == 200
        tok2 = get_token(other)
        assert post(gw, "bear", {"authorization": "Bearer " + tok2}, sign=False)[0] == 200
    finally:
        other.stop()


@pytest.mark.timeout(60)
def test_no_secret_in_the_log(gw):
    tok = get_token(gw)
    post(gw, "bear", {"authorization": "Bearer " + tok + "x"}, sign=False)
    post(gw, "basic", {"authorization": basic("zoom", BASIC_PW + "x")}, sign=False)
    token_call(gw, b"grant_type=client_credentials",
               {"authorization": basic(CLIENT_ID, CLIENT_SECRET + "x")})
    harness.wait_for(lambda: "token request refused" in gw.log(), timeout=3,
                     what="debug line for the refused token request")
    log = gw.log()
    assert "reason=bearer_malformed" in log or "reason=bearer_invalid" in log
    for s in ALL_SECRETS + (tok, base64.b64encode(b"zoom:" + BASIC_PW.encode()).decode()):
        assert s not in log


# ---- SIGHUP rotation ------------------------------------------------------------------------

def hup(gw):
    before = metric(gw.metrics(), "hookpipe_gateway_config_reloads_total")
    gw.daemon.signal(signal.SIGHUP)
    harness.wait_for(lambda: metric(gw.metrics(), "hookpipe_gateway_config_reloads_total") >=
                     before + 1, timeout=5, what="reload counted")


def all_status(gw, source, headers_fn, want, n=8):
    """n requests on fresh connections (spread over the workers) all answered want."""
    return all(post(gw, source, headers_fn(), sign=False)[0] == want for _ in range(n))


ROTATIONS = [
    # (mode keys before, after with _previous, after alone, headers for a value)
    ("basic", {"auth": "basic", "basic_user": "zoom"}, "basic_password",
     lambda v: {"authorization": basic("zoom", v)}),
    ("header", {"auth": "header", "header_name": "X-K"}, "header_value",
     lambda v: {"X-K": v}),
    ("token", {"auth": "token"}, "verification_token", lambda v: {"authorization": v}),
]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("mode,keys,key,headers", ROTATIONS, ids=[r[0] for r in ROTATIONS])
def test_sighup_rotation(tmp_path, mode, keys, key, headers):
    old, new = "old-%s-value" % mode, "new-%s-value" % mode
    src = lambda **kv: {"r": dict({"provider": "zoom", "secret": SIG}, **keys, **kv)}
    g = Gw(tmp_path, harness.shared_redis(), name="rot-" + mode, sources=src(**{key: old}))
    g.start()
    try:
        assert all_status(g, "r", lambda: headers(old), 200)
        assert all_status(g, "r", lambda: headers(new), 401, n=2)
        # rotating: the new value, and the old one as _previous: both accepted, no 401
        g.write(sources=src(**{key: new, key + "_previous": old}))
        hup(g)
        harness.wait_for(lambda: all_status(g, "r", lambda: headers(new), 200), timeout=3,
                         what="new value accepted")
        assert all_status(g, "r", lambda: headers(old), 200)
        # rotation over: the old value is refused
        g.write(sources=src(**{key: new}))
        hup(g)
        harness.wait_for(lambda: all_status(g, "r", lambda: headers(old), 401), timeout=3,
                         what="old value refused")
        assert all_status(g, "r", lambda: headers(new), 200)
    finally:
        g.stop()


@pytest.mark.timeout(90)
def test_sighup_rotation_of_the_client_secret(tmp_path):
    """Tokens issued under the old client secret stay valid while it is the _previous one,
    and are refused once it is removed; the old credentials get tokens meanwhile."""
    src = lambda **kv: {"b": dict({"provider": "zoom", "secret": SIG, "auth": "bearer",
                                   "oauth_client_id": CLIENT_ID}, **kv)}
    g = Gw(tmp_path, harness.shared_redis(), name="rot-bearer",
           sources=src(oauth_client_secret="cs-old")).start()
    bearer = lambda t: (lambda: {"authorization": "Bearer " + t})
    try:
        old_tok = get_token(g, "b", secret="cs-old")
        assert all_status(g, "b", bearer(old_tok), 200)
        g.write(sources=src(oauth_client_secret="cs-new", oauth_client_secret_previous="cs-old"))
        hup(g)
        harness.wait_for(lambda: all(token_call(g, b"grant_type=client_credentials",
                                                {"authorization": basic(CLIENT_ID, "cs-new")},
                                                source="b")[0] == 200 for _ in range(6)),
                         timeout=3, what="new client secret accepted")
        new_tok = get_token(g, "b", secret="cs-new")
        assert all_status(g, "b", bearer(old_tok), 200)
        assert all_status(g, "b", bearer(new_tok), 200)
        assert get_token(g, "b", secret="cs-old")  # the old credentials still work
        g.write(sources=src(oauth_client_secret="cs-new"))
        hup(g)
        harness.wait_for(lambda: all_status(g, "b", bearer(old_tok), 401), timeout=3,
                         what="old tokens refused")
        assert all_status(g, "b", bearer(new_tok), 200)
        assert token_call(g, b"grant_type=client_credentials",
                          {"authorization": basic(CLIENT_ID, "cs-old")}, source="b")[0] == 401
    finally:
        g.stop()


@pytest.mark.timeout(90)
def test_lowering_the_token_ttl_shortens_issued_tokens(tmp_path):
    """Issue 19 item 4: a bearer token expiring further ahead than oauth_token_ttl_s (+ 60 s)
    allows is refused, so a reload that lowers the TTL shortens tokens already issued; a
    token the new TTL covers (and one made by hand within it) is accepted."""
    src = lambda **kv: {"b": dict({"provider": "zoom", "secret": SIG, "auth": "bearer",
                                   "oauth_client_id": CLIENT_ID,
                                   "oauth_client_secret": CLIENT_SECRET}, **kv)}
    g = Gw(tmp_path, harness.shared_redis(), name="ttl", sources=src()).start()
    bearer = lambda t: (lambda: {"authorization": "Bearer " + t})
    try:
        old_tok = get_token(g, "b")  # expires in 3600 s
        assert all_status(g, "b", bearer(old_tok), 200)
        # issued elsewhere (or forged with a leaked key) for far ahead: refused at once
        far = mint("b", int(time.time()) + 3600 + 600)
        before = failures(g, "b", "bearer_expired")
        assert all_status(g, "b", bearer(far), 401, n=2)
        harness.wait_for(lambda: failures(g, "b", "bearer_expired") == before + 2, timeout=3,
                         what="counted as bearer_expired")
        g.write(sources=src(oauth_token_ttl_s=300))
        hup(g)
        harness.wait_for(lambda: all_status(g, "b", bearer(old_tok), 401), timeout=3,
                         what="the 3600 s token refused under a 300 s TTL")
        new_tok = get_token(g, "b")
        assert all_status(g, "b", bearer(new_tok), 200)
        assert all_status(g, "b", bearer(mint("b", int(time.time()) + 300 + 30)), 200)
    finally:
        g.stop()


# ---- bad configuration ----------------------------------------------------------------------

@pytest.mark.parametrize("extra,line_text,key", [
    ("auth = basic\nbasic_user = u", "auth = basic", "basic_password"),
    ("auth = kerberos", "auth = kerberos", "auth"),
    ("header_name = X-K", "header_name = X-K", "header_name"),
    ("auth = bearer\noauth_client_id = i\noauth_client_secret = s\noauth_token_ttl_s = 1",
     "oauth_token_ttl_s = 1", "oauth_token_ttl_s"),
])
def test_bad_auth_config_exits_2_with_file_line_key(tmp_path, extra, line_text, key):
    path = harness.write_config(
        tmp_path / "gw.ini", gateway={"listen": "127.0.0.1:1", "workers": 1},
        redis={"url": "redis://127.0.0.1:1/0", "queue": "q"},
        extra="[source.a]\nprovider = zoom\nsecret = s\n" + extra)
    with open(path) as f:
        n = f.read().splitlines().index(line_text) + 1
    for args in (["--check-config", "-c", path], ["-c", path]):
        r = harness.run_daemon("gateway", args)
        out = r.stdout + r.stderr
        assert r.returncode == 2, (args, out)
        assert "%s:%d: %s" % (path, n, key) in out, out

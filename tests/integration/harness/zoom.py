"""Zoom: THE one signer every test uses (x-zm-signature v0, the url_validation token, the
request headers Zoom sends), and the fixtures in tests/fixtures/zoom/. Pinned to Zoom's
published test vector by test_harness_smoke.py.
"""

import hashlib
import hmac
import json
import os
import time

from .processes import SOURCE_DIR

FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures", "zoom")


def fixture_path(name):
    if not name.endswith(".json"):
        name += ".json"
    return os.path.join(FIXTURES, name)


def fixture_json(name):
    """The fixture tests/fixtures/zoom/<name>.json as a Python object."""
    with open(fixture_path(name), "rb") as f:
        return json.load(f)


def fixture_body(name):
    """The fixture re-serialised compactly, as Zoom sends it (bytes)."""
    return json.dumps(fixture_json(name), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def zoom_signature(secret, ts, body):
    """'v0=' + hex HMAC-SHA256(secret, 'v0:' + ts + ':' + body)."""
    if isinstance(secret, str):
        secret = secret.encode()
    if isinstance(body, str):
        body = body.encode()
    msg = b"v0:" + str(ts).encode() + b":" + body
    return "v0=" + hmac.new(secret, msg, hashlib.sha256).hexdigest()


def zoom_headers(secret, body, ts=None):
    """The two Zoom signature headers for body (ts defaults to now)."""
    if ts is None:
        ts = int(time.time())
    return {"x-zm-request-timestamp": str(ts), "x-zm-signature": zoom_signature(secret, ts, body)}


def zoom_token(secret, plain_token):
    """The url_validation encryptedToken: hex HMAC-SHA256(secret, plainToken)."""
    if isinstance(secret, str):
        secret = secret.encode()
    return hmac.new(secret, plain_token.encode(), hashlib.sha256).hexdigest()


def zoom_request_headers(secret, body, ts=None, request_id=None, extra=None):
    """Every header of a Zoom delivery of body: content-type, the signature pair, and
    x-zm-request-id when given; extra headers last (they may override)."""
    if isinstance(body, str):
        body = body.encode()
    h = {"content-type": "application/json"}
    h.update(zoom_headers(secret, body, ts))
    if request_id is not None:
        h["x-zm-request-id"] = request_id
    if extra:
        h.update(extra)
    return h

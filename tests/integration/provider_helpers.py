"""Helpers for the tests of the providers beside Zoom (issue 22): a signing secret per
provider (from the vectors in tests/fixtures/providers/) and provider_verify(), a verifier
written from each provider's own document, independent of the C and Python signers it judges
(test_sender.py pins it to the published vectors first).
"""

import base64
import hashlib
import hmac
import time

PROVIDER_SECRETS = {
    "standard": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "github": "It's a Secret to Everybody",
    "stripe": "whsec_hookpipe0test0stripe0signing0secret",
    "slack": "8f742231b10e8888abcd99yyyzzz85a5",
    "shopify": "hookpipe_shopify_test_client_secret",
}


def _mac(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


def provider_verify(provider, secret, headers, body, now=None, tolerance=300):
    """True when headers (lower-cased names) sign body under provider's documented scheme."""
    h = {k.lower(): v for k, v in headers.items()}
    now = time.time() if now is None else now
    key = secret.encode()

    def fresh(ts):
        return ts.isdigit() and abs(now - int(ts)) <= tolerance

    if provider == "standard":
        msg_id, ts = h.get("webhook-id", ""), h.get("webhook-timestamp", "")
        raw = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
        try:
            k = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
        except ValueError:
            return False
        want = base64.b64encode(_mac(k, f"{msg_id}.{ts}.".encode() + body)).decode()
        sigs = [e.partition(",") for e in h.get("webhook-signature", "").split(" ") if e]
        return bool(msg_id) and fresh(ts) and any(
            v == "v1" and hmac.compare_digest(s, want) for v, _, s in sigs)
    if provider == "github":
        return hmac.compare_digest(h.get("x-hub-signature-256", ""),
                                   "sha256=" + _mac(key, body).hex())
    if provider == "stripe":
        items = [i.partition("=") for i in h.get("stripe-signature", "").split(",")]
        ts = [v for k, _, v in items if k == "t"]
        if len(ts) != 1 or not fresh(ts[0]):
            return False
        want = _mac(key, ts[0].encode() + b"." + body).hex()
        return any(k == "v1" and hmac.compare_digest(v, want) for k, _, v in items)
    if provider == "slack":
        ts = h.get("x-slack-request-timestamp", "")
        want = "v0=" + _mac(key, b"v0:" + ts.encode() + b":" + body).hex()
        return fresh(ts) and hmac.compare_digest(h.get("x-slack-signature", ""), want)
    if provider == "shopify":
        return hmac.compare_digest(h.get("x-shopify-hmac-sha256", ""),
                                   base64.b64encode(_mac(key, body)).decode())
    raise ValueError(provider)

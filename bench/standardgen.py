"""Bench load generator data for part (s): Standard Webhooks v1 deliveries (standardwebhooks.com,
the standard-webhooks specification) the same size as bench/zoomgen.py's Zoom bodies, so the
two sources of one gateway can be compared like with like. Each body is the Zoom body's
meeting.participant_joined object under Standard Webhooks' envelope keys ({"type",
"timestamp", "data"}; no `customer_key`, to make room for the longer ISO timestamp), its
`topic` sized so the body is exactly len(zoomgen.body(n)) bytes, unique per n. Signed here
(the test harness has no Standard Webhooks signer), per the spec: webhook-signature = "v1," +
base64(HMAC-SHA256(base64decode(secret minus "whsec_"), "{webhook-id}.{webhook-timestamp}." +
body)). Written as Lua data files that bench/zoom.lua
feeds to wrk (mode "pool", the same as zoomgen.write_lua_pool).

Used by bench/bench.py; also runnable alone:
  python3 bench/standardgen.py lua-pool OUT.lua N SECRET PATH   (N pre-signed raw requests)
"""

import base64
import datetime
import hashlib
import hmac
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoomgen  # noqa: E402

# A Standard Webhooks secret as a provider hands it out: "whsec_" + base64(key).
SECRET = "whsec_" + base64.b64encode(b"hookpipe-bench-standard-key-0032").decode()

BODY_TEMPLATE = (
    '{{"type":"meeting.participant_joined","timestamp":"{iso}",'
    '"data":{{"account_id":"AAAAAABBBB{acct:04d}","object":{{'
    '"id":"{meeting}","uuid":"{n:012d}AiAiAiiAii==","host_id":"x1yCzABCDEfg23HiJKl4mN",'
    '"topic":"{topic}","type":8,"start_time":"2021-07-13T21:44:51Z",'
    '"timezone":"America/Los_Angeles","duration":60,"participant":{{'
    '"user_id":"{n:016d}","user_name":"Jill Chill","id":"iFx{n:012d}zBc",'
    '"participant_uuid":"{n:016d}AAiAii","join_time":"2021-07-13T21:44:51Z",'
    '"email":"jchill{acct}@example.com","registrant_id":"abcdefghij0-klmnopq23456",'
    '"participant_user_id":"iFx{n:012d}zBc",'
    '"phone_number":"8615250064084"}}}}}}}}'
)
TOPIC = "My Meeting (weekly, all hands) "  # sliced to the room left: 30 bytes


def body(n, ts=None):
    """The n-th unique body (bytes), exactly as long as zoomgen.body(n)."""
    if ts is None:
        ts = time.time()
    iso = datetime.datetime.fromtimestamp(ts + (n % 1000) / 1000, datetime.timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    fields = dict(iso=iso, n=n, acct=n % 10000, meeting=8_000_000_000 + n)
    want = len(zoomgen.body(n))
    base = len(BODY_TEMPLATE.format(topic="", **fields))
    room = want - base
    if room < 1:
        raise ValueError(f"standardgen: body {n} cannot be made {want} bytes")
    topic = (TOPIC * (room // len(TOPIC) + 1))[:room]
    b = BODY_TEMPLATE.format(topic=topic, **fields).encode()
    assert len(b) == want
    return b


def key(secret):
    """The HMAC key of a whsec_ secret: the base64 after the prefix, decoded."""
    raw = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def headers(secret, msg_id, ts, b):
    """webhook-id, webhook-timestamp, webhook-signature for body b (Standard Webhooks v1)."""
    mac = hmac.new(key(secret), f"{msg_id}.{ts}.".encode() + b, hashlib.sha256).digest()
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts),
            "webhook-signature": "v1," + base64.b64encode(mac).decode()}


def raw_request(secret, path, n, ts=None):
    """A complete keep-alive HTTP/1.1 request for body n, signed at ts (default now)."""
    if ts is None:
        ts = int(time.time())
    b = body(n, ts)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Svix-Webhooks/1.0\r\n"
        + "Content-Type: application/json\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers(secret, f"msg_{n:024d}", ts, b).items())
        + f"Content-Length: {len(b)}\r\n\r\n"
    )
    return head.encode() + b


def write_lua_pool(out_path, n, secret, path, first=0):
    """Writes `return {mode="pool", requests={...}}` with n distinct pre-signed requests."""
    ts = int(time.time())
    with open(out_path, "w") as f:
        f.write('return {mode="pool", requests={\n')
        for i in range(first, first + n):
            f.write(zoomgen.lua_quote(raw_request(secret, path, i, ts)))
            f.write(",\n")
        f.write("}}\n")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "lua-pool":
        write_lua_pool(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        sys.exit(__doc__)

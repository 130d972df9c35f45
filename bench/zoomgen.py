"""Bench load generator data: realistic, unique Zoom meeting.participant_joined bodies (~700
bytes, compact JSON shaped like tests/fixtures/zoom/meeting.participant_joined.json), signed
with the Zoom v0 scheme by the test harness's signer (harness.zoom_headers), written as Lua
data files that bench/zoom.lua feeds to wrk, as the requests file of hookpipe-openloop
(bench/openloop.c: each an 8-digit length, then the bytes) and as queue envelopes (v1,
common/envelope.h) / COPY rows for the writer benchmark.

Used by bench/bench.py and tests/integration/test_openloop.py; also runnable alone:
  python3 bench/zoomgen.py lua-pool OUT.lua N SECRET PATH   (N pre-signed raw requests)
  python3 bench/zoomgen.py stream OUT N SECRET PATH         (N pre-signed, read in sequence)
  python3 bench/zoomgen.py requests OUT N SECRET PATH [close]  (hookpipe-openloop's file)
Every request is signed at the time it is written: the gateway refuses a timestamp more than
timestamp_tolerance_s (300 by default) from its clock, so write the file right before a run.
"""

import datetime
import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import harness  # noqa: E402

# One body; {n} makes it unique. Keys are in Zoom's order.
BODY_TEMPLATE = (
    '{{"event":"meeting.participant_joined","event_ts":{ts_ms},'
    '"payload":{{"account_id":"AAAAAABBBB{acct:04d}","object":{{'
    '"id":"{meeting}","uuid":"{n:012d}AiAiAiiAii==","host_id":"x1yCzABCDEfg23HiJKl4mN",'
    '"topic":"My Meeting","type":8,"start_time":"2021-07-13T21:44:51Z",'
    '"timezone":"America/Los_Angeles","duration":60,"participant":{{'
    '"user_id":"{n:016d}","user_name":"Jill Chill","id":"iFx{n:012d}zBc",'
    '"participant_uuid":"{n:016d}AAiAii","join_time":"2021-07-13T21:44:51Z",'
    '"email":"jchill{acct}@example.com","registrant_id":"abcdefghij0-klmnopq23456",'
    '"participant_user_id":"iFx{n:012d}zBc","customer_key":"349589LkJyeW",'
    '"phone_number":"8615250064084"}}}}}}}}'
)


def body(n, ts_ms=None):
    """The n-th unique body (bytes)."""
    if ts_ms is None:
        ts_ms = int(time.time() * 1000)
    return BODY_TEMPLATE.format(
        ts_ms=ts_ms + n % 1000, n=n, acct=n % 10000, meeting=8_000_000_000 + n
    ).encode()


def raw_request(secret, path, n, ts=None, close=False):
    """A complete HTTP/1.1 request for body n, signed at ts (default now): keep-alive, or with
    close a `Connection: close` one (a new connection per request, as Zoom may do)."""
    if ts is None:
        ts = int(time.time())
    b = body(n)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Zoom Marketplace/1.0a\r\n"
        + ("Connection: close\r\n" if close else "")
        + "Content-Type: application/json; charset=utf-8\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in harness.zoom_headers(secret, b, ts).items())
        + f"x-zm-trackingid: v=2.0&s=bench&rid={n:016d}\r\n"
        f"Content-Length: {len(b)}\r\n\r\n"
    )
    return head.encode() + b


def lua_quote(data):
    """bytes -> a Lua double-quoted string literal (byte exact: no long brackets, which
    would turn \\r\\n into \\n)."""
    out = ['"']
    for ch in data:
        if ch == 0x22:
            out.append('\\"')
        elif ch == 0x5C:
            out.append("\\\\")
        elif 0x20 <= ch < 0x7F:
            out.append(chr(ch))
        else:
            out.append("\\%03d" % ch)
    out.append('"')
    return "".join(out)


def write_lua_pool(out_path, n, secret, path, first=0, close=False):
    """Writes `return {mode="pool", requests={...}}` with n distinct pre-signed requests."""
    ts = int(time.time())
    with open(out_path, "w") as f:
        f.write('return {mode="pool", requests={\n')
        for i in range(first, first + n):
            f.write(lua_quote(raw_request(secret, path, i, ts, close)))
            f.write(",\n")
        f.write("}}\n")


def write_requests(out_path, n, secret, path, first=0, close=False):
    """n distinct requests signed now, each an 8-digit length and the bytes: what wrk reads
    through bench/zoom.lua in mode "stream", and hookpipe-openloop's --requests file (with
    close, each asks `Connection: close`, for --new-connection-per-request)."""
    ts = int(time.time())
    with open(out_path, "wb", buffering=1 << 20) as f:
        for i in range(first, first + n):
            r = raw_request(secret, path, i, ts, close)
            f.write(b"%08d" % len(r))
            f.write(r)
    return out_path


def write_stream(out_path, n, secret, path, first=0):
    """n distinct pre-signed requests in a file that wrk reads one after the other (each is
    an 8-digit length and the bytes), so a long run sends no body twice and wrk signs
    nothing; out_path.lua is the data file for bench/zoom.lua (mode "stream")."""
    write_requests(out_path, n, secret, path, first)
    with open(out_path + ".lua", "w") as f:
        f.write('return {mode="stream", file=%s, count=%d}\n'
                % (lua_quote(out_path.encode()), n))
    return out_path + ".lua"


# The columns write_copy_rows fills, in its order (the writer's: writer/row.h
# ROW_EVENTS_COLUMNS, payload and body both).
COPY_COLUMNS = ("source,event,event_ts,account_id,received_at,event_key,payload,delivery_id,"
                "request_id,event_time,body")


def write_copy_rows(path, n, source="bench"):
    """n rows of body(0..n-1) as the writer stores them, in COPY text format for
    COPY_COLUMNS: what bench parts (b), (c) and (k) \\copy."""
    now_us = int(time.time() * 1e6)
    ts_ms = int(time.time() * 1000)

    def iso(seconds):
        return (datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
                .isoformat().encode())

    def esc(b):
        return (b.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n")
                .replace(b"\r", b"\\r"))

    with open(path, "wb") as f:
        for i in range(n):
            b = body(i, ts_ms)
            key = hashlib.sha256(b"hookpipe-event-key-v2\0" + source.encode() + b"\0" + b)
            ts = iso((ts_ms + i % 1000) / 1000.0)
            f.write(b"\t".join([
                source.encode(), b"meeting.participant_joined", ts,
                b"AAAAAABBBB%04d" % (i % 10000), iso((now_us + i) / 1e6),
                b"\\\\x" + key.hexdigest().encode(), esc(b), b"bench-%d" % i, b"\\N", ts,
                esc(b),
            ]) + b"\n")
    return path


def envelope(source, n, received_us, ts_ms=None):
    """Queue envelope v1 for body n (see common/envelope.h)."""
    b = body(n, ts_ms)
    return b"HP1 %s %d bench-%d - %d\n" % (source.encode(), received_us, n, len(b)) + b


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "lua-pool":
        write_lua_pool(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif cmd == "stream":
        write_stream(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif cmd == "requests":
        write_requests(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5],
                       close=sys.argv[6:7] == ["close"])
    else:
        sys.exit(__doc__)

"""The gateway's HTTP contract, row by row (docs/design.md "HTTP contract"), against the real
hookpipe-gateway and a real redis-server: what each request is answered and exactly what
(if anything) lands on the Redis list, decoded by an independent envelope v1 reader.
"""

import json
import re
import time

import pytest

import harness
from gateway_helpers import (SECRET_A, SECRET_B, SECRET_C_NEW, SECRET_C_OLD, Gw, event_body,
                             metric, readyz, retry_after_ok, sign, signed_headers, wait_ready)

MAX_BODY = 4096
TOLERANCE = 60
MAX_QUEUE = 50
ALL_SECRETS = (SECRET_A, SECRET_B, SECRET_C_NEW, SECRET_C_OLD)
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = Gw(tmp_path_factory.mktemp("gwhttp"), harness.shared_redis(), name="http",
           gateway={"max_body_bytes": MAX_BODY, "timestamp_tolerance_s": TOLERANCE,
                    "max_queue_length": MAX_QUEUE, "read_timeout_s": 5})
    g.start()
    yield g
    rc = g.stop()
    assert rc == 0, "gateway exit code %r; log:\n%s" % (rc, g.log()[-3000:])
    g.clear_queue()


@pytest.fixture(autouse=True)
def empty_queue(gw):
    assert gw.daemon.alive(), "gateway died; log:\n" + gw.log()[-3000:]
    gw.clear_queue()
    yield


def assert_error(status, headers, body, want):
    """A 4xx/5xx answer: the status, a small JSON {"error": ...} body, no secret in it."""
    assert status == want, (status, body)
    assert len(body) < 512, body
    doc = json.loads(body.decode())
    assert isinstance(doc, dict) and isinstance(doc.get("error"), str), body
    for s in ALL_SECRETS:
        assert s.encode() not in body


def assert_queued(status, headers, body):
    assert status == 200, (status, body)
    assert headers.get("content-type", "").startswith("application/json"), headers
    doc = json.loads(body.decode())
    assert doc["status"] == "queued", doc
    assert ID_RE.match(doc["id"]), doc
    return doc["id"]


# --- 200: queued --------------------------------------------------------------------------

@pytest.mark.parametrize("fixture", ["meeting.started", "meeting.participant_joined",
                                     "user.created"])
def test_signed_fixture_is_queued_as_exact_bytes(gw, fixture):
    body = harness.fixture_body(fixture)
    t0 = time.time()
    st, h, b = gw.post("alpha", body, SECRET_A, request_id="req-%s-1" % fixture)
    t1 = time.time()
    delivery_id = assert_queued(st, h, b)
    items = gw.items()
    assert len(items) == 1, items
    env = items[0]
    assert env["body"] == body
    assert env["source"] == "alpha"
    assert env["id"] == delivery_id
    assert env["request_id"] == ("req-%s-1" % fixture).encode()
    assert int((t0 - 1) * 1e6) <= env["received_us"] <= int((t1 + 1) * 1e6)


def test_pretty_printed_body_is_stored_unchanged(gw):
    # The signature covers the bytes as sent; the gateway must neither re-serialise nor trim.
    with open(harness.fixture_path("meeting.started"), "rb") as f:
        body = f.read()
    assert b"\n  " in body
    st, h, b = gw.post("alpha", body, SECRET_A)
    delivery_id = assert_queued(st, h, b)
    env = gw.items()[0]
    assert (env["id"], env["body"], env["request_id"]) == (delivery_id, body, None)
    assert env["raw_request_id"] == "-"


def test_non_ascii_utf8_body_signed_and_stored_byte_for_byte(gw):
    body = ('{"event":"meeting.started","payload":{"object":{"topic":"Jürgen’s 会议 🎉 ñ",'
            '"host":"Zoë"}},"event_ts":1626230691572}').encode("utf-8")
    assert len(body) != len(body.decode("utf-8"))
    st, h, b = gw.post("alpha", body, SECRET_A)
    delivery_id = assert_queued(st, h, b)
    items = gw.items()
    assert [(e["id"], e["body"]) for e in items] == [(delivery_id, body)]


def test_request_id_percent_encoded_trackingid_fallback_and_absent(gw):
    body1, body2, body3, body4 = (event_body() for _ in range(4))
    ids = []
    ids.append(assert_queued(*gw.post("alpha", body1, SECRET_A, request_id="a b%c")))
    ids.append(assert_queued(*gw.post("alpha", body2, SECRET_A,
                                      headers={"x-zm-trackingid": "track-7"})))
    ids.append(assert_queued(*gw.post("alpha", body3, SECRET_A, request_id="rid-wins",
                                      headers={"x-zm-trackingid": "track-8"})))
    ids.append(assert_queued(*gw.post("alpha", body4, SECRET_A)))
    items = gw.items()  # oldest first
    assert [e["id"] for e in items] == ids
    assert [e["body"] for e in items] == [body1, body2, body3, body4]
    assert items[0]["raw_request_id"] == "a%20b%25c"
    assert items[0]["request_id"] == b"a b%c"
    assert items[1]["request_id"] == b"track-7"
    assert items[2]["request_id"] == b"rid-wins"
    assert items[3]["raw_request_id"] == "-"


def test_queue_is_fifo_and_ids_unique(gw):
    bodies = [event_body() for _ in range(20)]
    ids = [assert_queued(*gw.post("bravo", b, SECRET_B)) for b in bodies]
    assert len(set(ids)) == 20
    items = gw.items()
    assert [e["id"] for e in items] == ids  # rightmost (oldest) first
    assert [e["body"] for e in items] == bodies
    assert {e["source"] for e in items} == {"bravo"}


def test_keep_alive_connection_serves_several_requests(gw):
    jobs = []
    for _ in range(10):
        body = event_body()
        jobs.append(("/hooks/alpha", body, signed_headers(SECRET_A, body)))
    from gateway_helpers import post_many
    results = post_many(gw.port, jobs, conns=1, timeout=20)
    assert [r[0] for r in results] == [200] * 10, results
    assert gw.llen() == 10


# --- url_validation -----------------------------------------------------------------------

def test_url_validation_answers_token_and_queues_nothing(gw):
    body = harness.fixture_body("endpoint.url_validation")
    plain = harness.fixture_json("endpoint.url_validation")["payload"]["plainToken"]
    st, h, b = gw.post("alpha", body, SECRET_A)
    assert st == 200, b
    assert h.get("content-type", "").startswith("application/json"), h
    doc = json.loads(b.decode())
    assert doc == {"plainToken": plain, "encryptedToken": harness.zoom_token(SECRET_A, plain)}
    # Zoom's published vector, computed by us, agrees with the formula above.
    assert harness.zoom_token("secretValueTest", "qgg8vlvZRS6UYooatFL8Aw") == \
        "70c1f2e2e6ca2d39297490d1f9142c7d701415ea8e6151f6562a08fa657a40ff"
    assert gw.llen() == 0


def test_url_validation_uses_each_sources_own_secret(gw):
    body = b'{"payload":{"plainToken":"tok_b-42"},"event":"endpoint.url_validation"}'
    st, _, b = gw.post("bravo", body, SECRET_B)
    assert st == 200, b
    doc = json.loads(b.decode())
    assert doc["plainToken"] == "tok_b-42"
    assert doc["encryptedToken"] == harness.zoom_token(SECRET_B, "tok_b-42")
    assert gw.llen() == 0
    # only a plainToken of Zoom's shape is answered (gateway/hook.c): not this one
    body = b'{"payload":{"plainToken":"tok-\xc3\xa9-42"},"event":"endpoint.url_validation"}'
    assert gw.post("bravo", body, SECRET_B)[0] == 400


def test_url_validation_without_valid_signature_is_401(gw):
    body = harness.fixture_body("endpoint.url_validation")
    assert_error(*gw.post("alpha", body, SECRET_B), 401)
    assert_error(*gw.post("alpha", body), 401)
    assert gw.llen() == 0


# --- 401 ----------------------------------------------------------------------------------

def _sig_cases():
    def flip(sig):  # change one hex digit
        last = sig[-1]
        return sig[:-1] + ("0" if last != "0" else "1")

    return {
        "missing signature": lambda ts, body: {"x-zm-request-timestamp": str(ts)},
        "missing timestamp": lambda ts, body: {"x-zm-signature": sign(SECRET_A, ts, body)},
        "both missing": lambda ts, body: {},
        "tampered signature": lambda ts, body: {"x-zm-request-timestamp": str(ts),
                                                "x-zm-signature": flip(sign(SECRET_A, ts, body))},
        "truncated signature": lambda ts, body: {"x-zm-request-timestamp": str(ts),
                                                 "x-zm-signature": sign(SECRET_A, ts, body)[:-1]},
        "signature v0= only": lambda ts, body: {"x-zm-request-timestamp": str(ts),
                                                "x-zm-signature": "v0="},
        "empty signature": lambda ts, body: {"x-zm-request-timestamp": str(ts),
                                             "x-zm-signature": ""},
        "signature with extra digit": lambda ts, body: {
            "x-zm-request-timestamp": str(ts), "x-zm-signature": sign(SECRET_A, ts, body) + "0"},
        "uppercase hex": lambda ts, body: {
            "x-zm-request-timestamp": str(ts),
            "x-zm-signature": "v0=" + sign(SECRET_A, ts, body)[3:].upper()},
        "missing v0= prefix": lambda ts, body: {"x-zm-request-timestamp": str(ts),
                                                "x-zm-signature": sign(SECRET_A, ts, body)[3:]},
        "v1= prefix": lambda ts, body: {"x-zm-request-timestamp": str(ts),
                                        "x-zm-signature": "v1=" + sign(SECRET_A, ts, body)[3:]},
        "another source's secret": lambda ts, body: {"x-zm-request-timestamp": str(ts),
                                                     "x-zm-signature": sign(SECRET_B, ts, body)},
        "signed over another timestamp": lambda ts, body: {
            "x-zm-request-timestamp": str(ts), "x-zm-signature": sign(SECRET_A, ts - 1, body)},
        "non-numeric timestamp": lambda ts, body: {
            "x-zm-request-timestamp": "%dabc" % ts, "x-zm-signature": sign(SECRET_A, "%dabc" % ts,
                                                                            body)},
        "timestamp in milliseconds": lambda ts, body: {
            "x-zm-request-timestamp": str(ts * 1000),
            "x-zm-signature": sign(SECRET_A, ts * 1000, body)},
        "stale timestamp": lambda ts, body: {
            "x-zm-request-timestamp": str(ts - TOLERANCE - 5),
            "x-zm-signature": sign(SECRET_A, ts - TOLERANCE - 5, body)},
        "future timestamp": lambda ts, body: {
            "x-zm-request-timestamp": str(ts + TOLERANCE + 5),
            "x-zm-signature": sign(SECRET_A, ts + TOLERANCE + 5, body)},
        "negative timestamp": lambda ts, body: {
            "x-zm-request-timestamp": "-1", "x-zm-signature": sign(SECRET_A, -1, body)},
    }


@pytest.mark.parametrize("case", sorted(_sig_cases()))
def test_bad_signature_or_timestamp_is_401_and_nothing_queued(gw, case):
    body = event_body()
    headers = {"content-type": "application/json"}
    headers.update(_sig_cases()[case](int(time.time()), body))
    st, h, b = gw.request("POST", "/hooks/alpha", body, headers)
    assert_error(st, h, b, 401)
    assert gw.llen() == 0


def test_tampered_body_is_401(gw):
    body = event_body()
    headers = signed_headers(SECRET_A, body)
    tampered = body.replace(b'"meeting.started"', b'"meeting.ended"')
    assert tampered != body
    assert_error(*gw.request("POST", "/hooks/alpha", tampered, headers), 401)
    # one extra byte at the end (same JSON meaning) must also fail: bytes are signed, not JSON
    assert_error(*gw.request("POST", "/hooks/alpha", body + b" ", headers), 401)
    assert gw.llen() == 0


def test_timestamps_just_inside_tolerance_are_accepted(gw):
    now = int(time.time())
    ids = []
    for ts in (now - TOLERANCE + 5, now + TOLERANCE - 5):
        body = event_body()
        ids.append(assert_queued(*gw.post("alpha", body, SECRET_A, ts=ts)))
    assert [e["id"] for e in gw.items()] == ids


def test_secret_previous_and_current_both_accepted(gw):
    b1, b2 = event_body(), event_body()
    i1 = assert_queued(*gw.post("charlie", b1, SECRET_C_NEW))
    i2 = assert_queued(*gw.post("charlie", b2, SECRET_C_OLD))
    assert_error(*gw.post("charlie", event_body(), SECRET_A), 401)
    assert [(e["id"], e["body"], e["source"]) for e in gw.items()] == \
        [(i1, b1, "charlie"), (i2, b2, "charlie")]


# --- 400 ----------------------------------------------------------------------------------

BAD_BODIES = {
    "not JSON": b"hello, this is not json",
    "JSON array": b'[{"event":"meeting.started"}]',
    "JSON string": b'"meeting.started"',
    "JSON number": b"42",
    "JSON null": b"null",
    "empty body": b"",
    "object without event": b'{"event_ts":1626230691572,"payload":{}}',
    "event only nested": b'{"payload":{"event":"meeting.started"},"event_ts":1}',
    "event is a number": b'{"event":1,"payload":{}}',
    "event is null": b'{"event":null}',
    "event is an object": b'{"event":{"name":"meeting.started"}}',
    "event is an array": b'{"event":["meeting.started"]}',
    "event as a value not a key": b'{"name":"event","x":"event"}',
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_body_not_object_with_string_event_is_400(gw, case):
    body = BAD_BODIES[case]
    st, h, b = gw.post("alpha", body, SECRET_A)
    assert_error(st, h, b, 400)
    assert gw.llen() == 0


def test_truncated_json_object_is_400(gw):
    # Not a JSON object at all (the closing brace never comes), though it starts like one.
    body = b'{"event":"meeting.started","payload":{"a":1}'
    assert_error(*gw.post("alpha", body, SECRET_A), 400)
    assert gw.llen() == 0


# --- 404 / 405 / 413 ----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/hooks/nosuch", "/hooks/alpha2", "/hooks/ALPHA", "/hooks/",
                                  "/nothing", "/hooks/alpha/extra"])
def test_unknown_source_or_path_is_404(gw, path):
    body = event_body()
    st, h, b = gw.request("POST", path, body, signed_headers(SECRET_A, body))
    assert_error(st, h, b, 404)
    assert gw.llen() == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_non_post_on_hook_is_405_with_allow_post(gw, method):
    body = event_body() if method in ("PUT", "PATCH") else b""
    st, h, b = gw.request(method, "/hooks/alpha", body, signed_headers(SECRET_A, body))
    assert st == 405, (st, b)
    assert h.get("allow", "").replace(" ", "") == "POST", h
    assert gw.llen() == 0


def test_body_exactly_at_limit_is_200_and_one_over_is_413(gw):
    at = event_body(pad_to=MAX_BODY)
    over = event_body(pad_to=MAX_BODY + 1)
    st, h, b = gw.post("alpha", over, SECRET_A)
    assert_error(st, h, b, 413)
    assert gw.llen() == 0
    delivery_id = assert_queued(*gw.post("alpha", at, SECRET_A))
    assert [(e["id"], e["body"]) for e in gw.items()] == [(delivery_id, at)]


def test_huge_declared_length_is_413_without_sending_the_body(gw):
    # The gateway must refuse on the Content-Length alone, not wait for 100 MB to arrive.
    head = (b"POST /hooks/alpha HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n")
    t0 = time.monotonic()
    reply = harness.raw_request(gw.port, head, timeout=4)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert time.monotonic() - t0 < 3
    assert gw.llen() == 0


# --- 503: queue over max_queue_length ----------------------------------------------------

def test_queue_over_limit_is_503_with_retry_after_until_it_drains(gw):
    r = gw.client()
    r.lpush(gw.queue, *[b"filler-%d" % i for i in range(MAX_QUEUE + 1)])
    # The gateway learns the length from its own LPUSH replies or a periodic LLEN: /readyz
    # reports it, and a POST after that must be refused.
    wait_ready(gw, 503, timeout=10)
    st, h, _ = gw.request("GET", "/readyz")
    assert st == 503 and retry_after_ok(h), (st, h)
    body = event_body()
    st, h, b = gw.post("alpha", body, SECRET_A)
    assert_error(st, h, b, 503)
    assert retry_after_ok(h), h
    assert gw.llen() == MAX_QUEUE + 1
    assert body not in r.lrange(gw.queue, 0, -1)
    gw.clear_queue()
    wait_ready(gw, 200, timeout=10)
    assert_queued(*gw.post("alpha", body, SECRET_A))
    assert gw.items()[0]["body"] == body


# --- health, readiness, metrics -----------------------------------------------------------

def test_healthz_and_readyz(gw):
    st, _, _ = gw.request("GET", "/healthz")
    assert st == 200
    assert readyz(gw) == 200


def test_metrics_move_with_requests(gw):
    m0 = gw.metrics()
    for _ in range(3):
        assert_queued(*gw.post("bravo", event_body(), SECRET_B))
    for _ in range(2):
        assert gw.post("bravo", event_body(), SECRET_A)[0] == 401
    assert gw.post("bravo", b"[]", SECRET_B)[0] == 400
    assert gw.request("GET", "/hooks/bravo")[0] == 405
    m1 = gw.metrics()

    def delta(name, **labels):
        return metric(m1, name, **labels) - metric(m0, name, **labels)

    assert delta("hookpipe_gateway_requests_total", source="bravo", status="200") == 3
    assert delta("hookpipe_gateway_requests_total", source="bravo", status="401") == 2
    assert delta("hookpipe_gateway_requests_total", source="bravo", status="400") == 1
    assert delta("hookpipe_gateway_requests_total", source="bravo", status="405") == 1
    assert delta("hookpipe_gateway_enqueue_seconds_count") == 3
    assert delta('hookpipe_gateway_enqueue_seconds_bucket{le="+Inf"}') == 3
    assert delta("hookpipe_gateway_enqueue_seconds_sum") > 0
    assert metric(m1, "hookpipe_gateway_redis_connected") == 1
    assert metric(m1, "hookpipe_gateway_requests_in_flight") == 0
    assert "hookpipe_gateway_connections" in m1
    # buckets are cumulative and end at the count
    buckets = sorted(
        ((float(k.split('le="')[1].rstrip('"}').replace("+Inf", "inf")), v)
         for k, v in m1.items() if k.startswith("hookpipe_gateway_enqueue_seconds_bucket")))
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    assert buckets[-1][1] == metric(m1, "hookpipe_gateway_enqueue_seconds_count")
    # the queue length gauge follows the list (last LPUSH reply or periodic LLEN)
    harness.wait_for(lambda: gw.metrics()["hookpipe_gateway_queue_length"] == gw.llen(),
                     timeout=5, what="queue_length gauge == LLEN")


def test_connections_gauge_counts_open_connections(gw):
    import socket
    base = gw.metrics()["hookpipe_gateway_connections"]
    socks = [socket.create_connection(("127.0.0.1", gw.port), timeout=2) for _ in range(5)]
    try:
        harness.wait_for(lambda: gw.metrics()["hookpipe_gateway_connections"] >= base + 5,
                         timeout=5, what="connections gauge +5")
    finally:
        for s in socks:
            s.close()
    harness.wait_for(lambda: gw.metrics()["hookpipe_gateway_connections"] <= base,
                     timeout=5, what="connections gauge back down")


# --- HTTP/1.1 details real clients rely on -------------------------------------------------

def raw_exchange(port, data, want_responses, timeout=5):
    """Sends data on one connection and reads until want_responses answers arrived."""
    from gateway_helpers import read_response
    import asyncio

    async def go():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(data)
            await writer.drain()
            return [await read_response(reader) for _ in range(want_responses)]
        finally:
            writer.close()

    return asyncio.run(asyncio.wait_for(go(), timeout))


def test_pipelined_requests_answered_in_order(gw):
    from gateway_helpers import format_request
    bodies = [event_body() for _ in range(3)]
    data = b"".join(format_request("POST", "/hooks/alpha", b, signed_headers(SECRET_A, b))
                    for b in bodies[:2])
    data += format_request("POST", "/hooks/alpha", b"[]", signed_headers(SECRET_A, b"[]"))
    data += format_request("POST", "/hooks/alpha", bodies[2], signed_headers(SECRET_A, bodies[2]))
    answers = raw_exchange(gw.port, data, 4)
    assert [a[0] for a in answers] == [200, 200, 400, 200], answers
    ids = [json.loads(a[2].decode())["id"] for a in answers if a[0] == 200]
    assert [(e["id"], e["body"]) for e in gw.items()] == list(zip(ids, bodies))


def test_header_names_are_case_insensitive_and_query_ignored(gw):
    body = event_body()
    h = signed_headers(SECRET_A, body, request_id="MiXeD")
    h = {"X-Zm-Request-Timestamp": h["x-zm-request-timestamp"],
         "X-ZM-SIGNATURE": h["x-zm-signature"], "X-Zm-Request-Id": "MiXeD",
         "Content-Type": "application/json"}
    st, hh, b = gw.request("POST", "/hooks/alpha?via=proxy", body, h)
    delivery_id = assert_queued(st, hh, b)
    env = gw.items()[0]
    assert (env["id"], env["body"], env["request_id"]) == (delivery_id, body, b"MiXeD")


def test_expect_100_continue(gw):
    # curl sends Expect: 100-continue for bodies over 1 KB and waits up to 1 s for it.
    import socket
    body = event_body(pad_to=2000)
    h = signed_headers(SECRET_A, body)
    head = ("POST /hooks/alpha HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            "Content-Length: %d\r\n" % len(body)
            + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n").encode()
    with socket.create_connection(("127.0.0.1", gw.port), timeout=2) as s:
        s.sendall(head)
        first = s.recv(100)
        assert first.startswith(b"HTTP/1.1 100"), first
        s.sendall(body)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    rest = data[data.index(b"HTTP/1.1 2"):] if b"HTTP/1.1 2" in data else data
    assert rest.startswith(b"HTTP/1.1 200"), data
    assert gw.items()[0]["body"] == body


def test_malformed_request_line_is_400_and_daemon_survives(gw):
    for junk in (b"\x00\x01\x02\r\n\r\n", b"POST\r\n\r\n", b"GARBAGE / HTTP/9.9\r\n\r\n",
                 b"POST /hooks/alpha HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                 b"POST /hooks/alpha HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"):
        reply = harness.raw_request(gw.port, junk, timeout=3)
        assert reply[:12] in (b"HTTP/1.1 400", b"HTTP/1.1 505", b"HTTP/1.1 411"), (junk, reply)
    assert gw.daemon.alive()
    assert_queued(*gw.post("alpha", event_body(), SECRET_A))


def test_chunked_body_is_411_and_oversized_head_is_431(gw):
    body = event_body()
    h = signed_headers(SECRET_A, body)
    req = ("POST /hooks/alpha HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
           + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n").encode()
    req += b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    reply = harness.raw_request(gw.port, req, timeout=3)
    assert reply.startswith(b"HTTP/1.1 411"), reply[:200]
    big = b"POST /hooks/alpha HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\n"
    reply = harness.raw_request(gw.port, big, timeout=3)
    assert reply.startswith(b"HTTP/1.1 431"), reply[:200]
    assert gw.llen() == 0
    assert gw.daemon.alive()

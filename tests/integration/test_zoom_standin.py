"""The Zoom WebSocket stand-in (harness/zoom_ws.py) checked with a Python client over TLS
with its CA, so the gateway's tests can trust it: token grants and refusals, upgrades and
build_connection refusals, heartbeats, events, faults and the intervals log.
"""

import asyncio
import base64
import http.client
import json
import ssl
import time
from urllib.parse import urlencode, urlsplit

import pytest
import websockets
import websockets.exceptions

from harness.zoom_ws import ZoomStandIn

HEARTBEAT = json.dumps({"module": "heartbeat"})


@pytest.fixture
def zoom(tmp_path):
    with ZoomStandIn(tmp_path) as z:
        yield z


def tls_context(zoom):
    return ssl.create_default_context(cafile=zoom.ca_file)


def token_request(zoom, form=None, query="", user=None, password=None, host="127.0.0.1"):
    """POSTs to the token endpoint; returns (status, json)."""
    url = urlsplit(zoom.oauth_url)
    auth = base64.b64encode(f"{user or zoom.client_id}:{password or zoom.client_secret}".encode())
    body = urlencode(form if form is not None else
                     {"grant_type": "account_credentials", "account_id": zoom.account_id})
    conn = http.client.HTTPSConnection(host, url.port, timeout=5, context=tls_context(zoom))
    try:
        conn.request("POST", url.path + query, body=body,
                     headers={"Authorization": "Basic " + auth.decode(),
                              "Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def token(zoom):
    status, answer = token_request(zoom)
    assert status == 200, answer
    return answer["access_token"]


def ws_url(zoom, access_token, subscription_id=None):
    query = {"subscriptionId": subscription_id or zoom.subscription_id}
    if access_token is not None:
        query["access_token"] = access_token
    return zoom.ws_url + "?" + urlencode(query)


async def recv_json(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def test_token_grants_and_refusals(zoom):
    status, answer = token_request(zoom)
    assert status == 200
    assert answer["token_type"] == "bearer" and answer["expires_in"] == 3599
    assert len(answer["access_token"]) > 300 and answer["scope"]
    status, _ = token_request(zoom, {"grant_type": "client_credentials"}, host="localhost")
    assert status == 200
    # Zoom's documented form: the grant in the query string, nothing in the body
    status, _ = token_request(zoom, {}, query="?grant_type=account_credentials&account_id="
                                               + zoom.account_id)
    assert status == 200
    assert token_request(zoom, password="wrong") == (
        401, {"reason": "Invalid client_id or client_secret", "error": "invalid_client"})
    status, answer = token_request(zoom, {"grant_type": "account_credentials"})
    assert (status, answer["error"]) == (400, "invalid_request")
    assert "Missing account_id" in answer["reason"]
    status, answer = token_request(zoom, {"grant_type": "password"})
    assert (status, answer["error"]) == (400, "unsupported_grant_type")
    status, answer = token_request(zoom, query="?client_id=" + zoom.client_id)
    assert (status, answer["error"]) == (400, "invalid_request")
    zoom.refuse_tokens = True
    assert token_request(zoom)[0] == 401
    log = zoom.token_requests
    assert [e["ok"] for e in log] == [True, True, True, False, False, False, False, False]
    assert log[1]["grant"] == "client_credentials" and log[0]["account_id"] == zoom.account_id
    assert zoom.tokens_issued == 3


def test_events_heartbeats_and_log(zoom):
    url = ws_url(zoom, token(zoom))
    t0 = time.time()

    async def scenario():
        async with websockets.connect(url, ssl=tls_context(zoom), max_size=None) as ws:
            await ws.send(HEARTBEAT)
            answer = await recv_json(ws)
            assert {k: answer[k] for k in ("module", "success", "content")} == {
                "module": "heartbeat", "success": True, "content": "live"}
            assert await asyncio.to_thread(zoom.wait_up, 5)
            bodies = await asyncio.to_thread(zoom.send_events, 3, 700)
            got = [await recv_json(ws) for _ in bodies]
            assert [m["module"] for m in got] == ["message"] * 3
            assert [m["content"] for m in got] == bodies  # the body as a JSON string
            events = [json.loads(b) for b in bodies]
            assert all(len(b) == 700 for b in bodies)
            assert len({e["payload"]["object"]["uuid"] for e in events}) == 3
            assert all(e["event"] == "meeting.started" for e in events)
            assert all(abs(e["event_ts"] / 1000 - time.time()) < 5 for e in events)
            # a burst (built first, sent in a tight loop), read while it is sent
            async def read(n):
                return [json.loads((await recv_json(ws))["content"]) for _ in range(n)]
            reader = asyncio.ensure_future(read(20000))
            started = time.monotonic()
            burst = await asyncio.to_thread(zoom.send_burst, 20000)
            received = await reader
            assert time.monotonic() - started < 15
            assert [e["payload"]["object"]["uuid"] for e in received] == [
                json.loads(b)["payload"]["object"]["uuid"] for b in burst]
            zoom.heartbeats_answered = False
            await ws.send(HEARTBEAT)
            with pytest.raises(asyncio.TimeoutError):
                await recv_json(ws, timeout=0.5)
    asyncio.run(scenario())
    assert zoom.wait_down(5)
    assert zoom.send_events(1)  # nobody up: logged, lost
    assert len(zoom.events_sent_while_up()) == 20003 and zoom.sent[-1][2] is False
    (up_at, down_at), = zoom.intervals
    assert t0 < up_at < down_at <= time.time()
    assert zoom.down_intervals()[0][0] == down_at
    assert zoom.down_intervals(until=down_at) == []
    assert zoom.heartbeats_received == 2 and zoom.connections_opened == 1
    assert zoom.token_seen_in_ws == [urlsplit(url).query.split("access_token=")[1]]


def test_build_connection_refusals(zoom):
    access_token = token(zoom)

    async def refused(url, headers=None):
        async with websockets.connect(url, ssl=tls_context(zoom), extra_headers=headers) as ws:
            answer = await recv_json(ws)
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            return answer

    async def scenario():
        header_only = await refused(ws_url(zoom, None),
                                    {"Authorization": "Bearer " + access_token})
        assert header_only == {"module": "build_connection", "success": False,
                               "content": "token is empty"}
        assert (await refused(ws_url(zoom, "nope")))["content"] == "Invalid Token"
        assert (await refused(ws_url(zoom, access_token, "other-sub")))["content"] == \
            "invalid subscriptionId"
        zoom.refuse_connections = True
        assert (await refused(ws_url(zoom, access_token)))["success"] is False
        zoom.refuse_connections = False
        await asyncio.to_thread(zoom.expire_tokens)
        assert (await refused(ws_url(zoom, access_token)))["content"] == "Invalid Token"
    asyncio.run(scenario())
    assert [u["result"] for u in zoom.upgrades] == [
        "token is empty", "Invalid Token", "invalid subscriptionId", "Invalid Token",
        "Invalid Token"]
    assert zoom.upgrades[0]["authorization"] == "Bearer " + access_token
    assert zoom.connections_opened == 0 and zoom.intervals == []


def test_faults_stall_drop_close_raw(zoom):
    url = ws_url(zoom, token(zoom))
    ctx = tls_context(zoom)

    async def up():
        ws = await websockets.connect(url, ssl=ctx, max_size=None, open_timeout=5)
        await ws.send(HEARTBEAT)
        assert (await recv_json(ws))["content"] == "live"
        return ws

    async def scenario():
        zoom.stall_handshakes = True
        with pytest.raises(asyncio.TimeoutError):
            await websockets.connect(url, ssl=ctx, open_timeout=1)
        assert zoom.handshakes_stalled == 1 and zoom.current_connections == 0
        zoom.stall_handshakes = False

        ws = await up()
        assert await asyncio.to_thread(zoom.drop) == 1
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.code == 1006  # no close frame
        assert zoom.up_connections == 0

        ws = await up()
        text = "é" * 5 + "€"  # 13 bytes of UTF-8, split mid-sequence into 4 frames
        assert await asyncio.to_thread(zoom.send_raw, text, 4) == 1
        assert await asyncio.wait_for(ws.recv(), 5) == text
        assert await asyncio.to_thread(zoom.send_raw, b"\x00\xff") == 1
        assert await asyncio.wait_for(ws.recv(), 5) == b"\x00\xff"
        await asyncio.to_thread(zoom.send_message_with_content, {"event": "x"})
        assert (await recv_json(ws))["content"] == {"event": "x"}
        assert await asyncio.to_thread(zoom.ping) == 1
        await ws.send("not json")  # logged as a client message
        await asyncio.sleep(0.2)  # the client answers the ping while it reads
        assert await asyncio.to_thread(zoom.close, 4000) == 1
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.code == 4000

        zoom.token_ttl_s = 1
        zoom.close_on_token_expiry = True
        started = time.monotonic()
        ws = await websockets.connect(ws_url(zoom, token(zoom)), ssl=ctx, open_timeout=5)
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert 0.9 < time.monotonic() - started < 4 and closed.value.code == 1000
    asyncio.run(scenario())
    assert zoom.pongs_received == 1
    assert [d for _, d in zoom.client_messages] == ["not json"]
    assert zoom.connections_opened == 3 and zoom.max_concurrent_up == 1
    (a_up, a_down), (b_up, b_down) = zoom.intervals
    assert a_up < a_down < b_up < b_down
    assert zoom.down_intervals(a_up, b_down) == [(a_down, b_up)]

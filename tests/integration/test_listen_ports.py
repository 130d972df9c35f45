"""Port 0: both daemons bind what the kernel gives and report it, one log line per listener:
    msg="listening" what=http|admin addr=HOST:PORT
The gateway's workers all share the first socket's port (SO_REUSEPORT), so one port number
reaches every worker; the harness reads the ports from these lines instead of guessing free
ports (a bind-close-reuse race).
"""

import json
import os
import re
import socket

import pytest

import harness

LISTENING = re.compile(r'msg="listening" what=(\w+) addr=(\S+)')


def _listening(log):
    return {what: addr for what, addr in LISTENING.findall(log)}


def _listen_sockets(port, proc_file):
    return len(harness.tcp_sockets(port, harness.TCP_LISTEN, proc_file))


def _gateway_config(tmp_path, redis, listen, admin, workers):
    return harness.write_config(
        tmp_path / "gw.ini", gateway={"listen": listen, "admin_listen": admin, "workers": workers},
        redis={"url": redis.url, "queue": harness.unique_name("hpq")},
        sources={"acme": {"provider": "zoom", "secret": "s3cret"}})


def test_gateway_port_0_reports_the_bound_ports_and_every_worker_shares_one(tmp_path,
                                                                             shared_redis):
    cfg = _gateway_config(tmp_path, shared_redis, "127.0.0.1:0", "127.0.0.1:0", 3)
    gw = harness.Daemon("gateway", cfg).start()
    found = harness.wait_for(lambda: (lambda d: d if {"http", "admin"} <= set(d) else None)(
        _listening(gw.log())), timeout=10, what="both listening lines")
    host, port = found["http"].rsplit(":", 1)
    ahost, aport = found["admin"].rsplit(":", 1)
    port, aport = int(port), int(aport)
    assert host == ahost == "127.0.0.1"
    assert port != 0 and aport != 0 and port != aport
    # One line per listener, not per worker.
    assert len(LISTENING.findall(gw.log())) == 2, gw.log()
    # The three workers' sockets are all on the one reported port.
    assert _listen_sockets(port, "/proc/net/tcp") == 3
    assert _listen_sockets(aport, "/proc/net/tcp") == 1
    harness.wait_for(lambda: harness.metrics(aport)["hookpipe_gateway_redis_connected"] == 1,
                     timeout=10, what="redis link up")
    body = json.dumps({"event": "meeting.started", "payload": {}}).encode()
    statuses = [harness.post_hook(port, "acme", "s3cret", body)[0] for _ in range(20)]
    assert statuses == [200] * 20
    # The Daemon API reads the same lines.
    assert gw.listen_port("http") == port and gw.listen_port("admin") == aport
    assert gw.stop() == 0


def test_default_workers_leave_one_core(tmp_path, shared_redis):
    """workers = 0: one loop per online core but one (Redis and the writers share the host),
    at least one — one SO_REUSEPORT socket each on the reported port."""
    cfg = _gateway_config(tmp_path, shared_redis, "127.0.0.1:0", "", 0)
    gw = harness.Daemon("gateway", cfg).start(wait_listen=("http",))
    port = gw.listen_port("http")
    want = max(1, min(os.sysconf("SC_NPROCESSORS_ONLN") - 1, 64))
    assert _listen_sockets(port, "/proc/net/tcp") == want
    assert f"workers={want}" in gw.log(), gw.log()
    assert gw.stop() == 0


def test_gateway_port_0_on_ipv6(tmp_path, shared_redis):
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    cfg = _gateway_config(tmp_path, shared_redis, "[::1]:0", "", 2)
    gw = harness.Daemon("gateway", cfg).start(wait_listen=("http",))
    addr = _listening(gw.log())["http"]
    assert re.fullmatch(r"\[::1\]:\d+", addr), addr
    port = gw.listen_port("http")
    assert _listen_sockets(port, "/proc/net/tcp6") == 2
    with socket.create_connection(("::1", port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 200")
    assert gw.stop() == 0


def test_fixed_port_is_reported_as_configured(tmp_path, shared_redis):
    port = harness.free_port()
    cfg = _gateway_config(tmp_path, shared_redis, "127.0.0.1:%d" % port, "", 1)
    gw = harness.Daemon("gateway", cfg).start(wait_listen=("http",))
    assert _listening(gw.log()) == {"http": "127.0.0.1:%d" % port}
    assert gw.stop() == 0


def test_writer_admin_port_0(tmp_path, shared_redis, pg_db, shared_pg):
    cfg = harness.write_config(
        tmp_path / "w.ini", redis={"url": shared_redis.url, "queue": harness.unique_name("hpq")},
        postgres={"conninfo": shared_pg.conninfo(pg_db)},
        writer={"admin_listen": "127.0.0.1:0", "name": harness.unique_name("w")})
    w = harness.Daemon("writer", cfg).start(wait_listen=("admin",))
    port = w.listen_port("admin")
    assert port != 0
    assert _listening(w.log()) == {"admin": "127.0.0.1:%d" % port}
    assert "hookpipe_writer_rows_inserted_total" in harness.metrics(port)
    assert w.stop() == 0

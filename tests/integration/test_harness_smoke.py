"""Checks the integration harness itself: Redis restart keeps AOF data, PostgreSQL databases
are created and reachable, private PostgreSQL survives restart and kill -9, the Zoom helpers
match the published test vectors, config writing, metrics parsing and process cleanup, and
that a server whose chosen port is taken moves to another one (never using the other server).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import harness


def test_zoom_headers_match_published_vector():
    body = (b'{"event":"session.started","payload":{"account_id":"{ACCOUNT_ID}","object":'
            b'{"start_time":"2022-07-27T16:56:34Z","id":"{SESSION_ID}"}},"event_ts":1658940994914}')
    h = harness.zoom_headers("secretValueTest", body, ts=1658940994)
    assert h == {
        "x-zm-request-timestamp": "1658940994",
        "x-zm-signature": "v0=96e8a131e9983d4bc96627eee7c67f9506d0aeb8f767260a822fb3f2abe703d5",
    }
    assert (harness.zoom_token("secretValueTest", "qgg8vlvZRS6UYooatFL8Aw")
            == "70c1f2e2e6ca2d39297490d1f9142c7d701415ea8e6151f6562a08fa657a40ff")


def test_zoom_headers_default_timestamp_is_now():
    import time

    h = harness.zoom_headers("s", b"{}")
    assert abs(int(h["x-zm-request-timestamp"]) - time.time()) < 5


def test_fixture_body_is_compact_json():
    names = [n[:-5] for n in os.listdir(harness.FIXTURES) if n.endswith(".json")]
    assert "meeting.started" in names
    for name in names:
        body = harness.fixture_body(name)
        assert b"\n" not in body and b", " not in body and b'": ' not in body
        with open(os.path.join(harness.FIXTURES, name + ".json"), "rb") as f:
            assert json.loads(body) == json.load(f)


def test_free_port_is_bindable_and_unique():
    ports = {harness.free_port() for _ in range(20)}
    assert len(ports) == 20
    assert not harness.port_open(ports.pop())


def test_redis_restart_keeps_appendonly_data():
    with harness.RedisServer(appendonly=True) as r:
        port = r.port
        r.client().lpush("q", b"a\x00b", b"second")
        r.restart()
        assert r.port == port
        assert r.client().lrange("q", 0, -1) == [b"second", b"a\x00b"]
        # appendfsync always: acknowledged writes survive kill -9 too
        r.client().lpush("q", b"third")
        r.kill()
        assert not r.alive()
        r.start()
        assert r.client().llen("q") == 3
        assert r.url == f"redis://127.0.0.1:{port}/0"
        # the unix socket answers as well
        import redis

        assert redis.Redis(unix_socket_path=r.unix_path).ping()


def test_redis_without_appendonly_loses_data_on_restart():
    # the counterpart of the test above: proves the restart really restarted the server
    with harness.RedisServer() as r:
        r.client().set("k", b"v")
        pid = r.pid
        r.restart()
        assert r.pid != pid
        assert r.client().get("k") is None


def test_redis_fixture_is_private(redis_server):
    c = redis_server.client()
    assert c.dbsize() == 0
    c.set("x", b"1")
    assert redis_server.port != getattr(harness.shared_redis(), "port", None)


def test_shared_redis_answers(shared_redis):
    key = harness.unique_name("smoke:")
    c = shared_redis.client()
    c.set(key, b"v", ex=60)
    assert c.get(key) == b"v"
    c.delete(key)


def test_shared_postgres_create_database_and_connect(shared_pg):
    db1 = shared_pg.create_database()
    db2 = shared_pg.create_database()
    assert db1 != db2
    conn = shared_pg.connect(db1)
    with conn.cursor() as cur:
        cur.execute("SELECT current_database(), current_setting('server_version_num')::int, "
                    "rolsuper FROM pg_roles WHERE rolname = current_user")
        name, version, superuser = cur.fetchone()
    conn.close()
    assert name == db1 and version // 10000 == 15 and superuser
    assert shared_pg.conninfo(db1).endswith(f"@127.0.0.1:{shared_pg.port}/{db1}")
    # the conninfo URI is what libpq clients use: check it with psql
    out = subprocess.run(["psql", shared_pg.conninfo(db2), "-Atc", "SELECT 41 + 1"],
                         stdout=subprocess.PIPE, timeout=30, check=True).stdout
    assert out.strip() == b"42"
    # UTF-8 databases: non-ASCII jsonb round-trips
    assert shared_pg.query(db1, "SELECT %s::jsonb ->> 'k'", ['{"k":"Café ☕"}']) == [("Café ☕",)]


def test_private_postgres_survives_restart_and_kill(private_pg):
    db = private_pg.create_database()
    private_pg.query(db, "CREATE TABLE t (v int); INSERT INTO t VALUES (1)")
    port = private_pg.port
    private_pg.restart()
    assert private_pg.port == port
    assert private_pg.query(db, "SELECT v FROM t") == [(1,)]
    private_pg.query(db, "INSERT INTO t VALUES (2)")
    conn = private_pg.connect(db)  # a backend that must die with the postmaster
    private_pg.kill()
    assert not private_pg.alive()
    private_pg.start()
    assert private_pg.query(db, "SELECT v FROM t ORDER BY v") == [(1,), (2,)]
    conn.close()


def test_write_config_writes_sections_verbatim(tmp_path):
    path = harness.write_config(
        tmp_path / "c.ini",
        gateway={"listen": "127.0.0.1:1234", "workers": 1},
        redis={"url": "redis://127.0.0.1:1/0"},
        writer={"synchronous_commit": False},
        sources={"acme": {"provider": "zoom", "secret": "s3cr=t ;x"}},
    )
    text = open(path).read()
    assert "[gateway]\nlisten = 127.0.0.1:1234\nworkers = 1\nadmin_listen = \n" in text
    assert "[writer]\nsynchronous_commit = off\nadmin_listen = \n" in text
    assert "[source.acme]\nprovider = zoom\nsecret = s3cr=t ;x\n" in text
    assert "[postgres]" not in text


def test_metrics_parser(tmp_path):
    # a tiny HTTP server stands in for a daemon's admin listener
    port = harness.free_port()
    text = textwrap.dedent("""\
        # HELP a_total things
        # TYPE a_total counter
        a_total 3
        b{source="x y",code="200"} 1.5
        c_bucket{le="+Inf"} 7
        """)
    script = textwrap.dedent(f"""\
        import http.server
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = {text!r}.encode()
                self.send_response(200); self.send_header('Content-Length', str(len(body)))
                self.end_headers(); self.wfile.write(body)
            def log_message(self, *a): pass
        http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()
        """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        harness.wait_for(lambda: harness.port_open(port), timeout=10, what="stub server")
        m = harness.metrics(port)
    finally:
        proc.kill()
        proc.wait()
    assert m == {"a_total": 3.0, 'b{source="x y",code="200"}': 1.5, 'c_bucket{le="+Inf"}': 7.0}


def test_daemon_sanitizer_report_fails(tmp_path):
    # Any executable stands in for a daemon: a fake that prints an ASan header and waits.
    fake = tmp_path / "hookpipe-fake"
    fake.write_text("#!/bin/sh\necho '==1==ERROR: AddressSanitizer: heap-use-after-free' >&2\n"
                    "exec sleep 30\n")
    fake.chmod(0o755)
    d = harness.Daemon("fake", tmp_path / "none.ini")
    d.exe = str(fake)
    d.argv[0] = str(fake)
    d.start()
    harness.wait_for(lambda: "AddressSanitizer" in d.log(), timeout=10, what="fake report")
    try:
        d.stop(signal.SIGTERM)
    except AssertionError as exc:
        assert "heap-use-after-free" in str(exc)
    else:
        raise AssertionError("stop() did not fail on a sanitizer report")
    d._checked = True  # already reported: keep the after-test guard quiet


def test_daemon_left_running_is_killed_and_start_reports_early_exit(tmp_path):
    fake = tmp_path / "hookpipe-fake"
    fake.write_text("#!/bin/sh\necho started\nexec sleep 60\n")
    fake.chmod(0o755)
    d = harness.Daemon("fake", tmp_path / "none.ini", args=["--x"])
    d.exe = d.argv[0] = str(fake)
    d.start()
    assert d.alive()
    harness.wait_for(lambda: "started" in d.log(), timeout=10)
    d.finish()  # what the after-test guard does
    assert not d.alive()

    dead = tmp_path / "hookpipe-dead"
    dead.write_text("#!/bin/sh\necho cannot start >&2\nexit 2\n")
    dead.chmod(0o755)
    d2 = harness.Daemon("dead", tmp_path / "none.ini")
    d2.exe = d2.argv[0] = str(dead)
    try:
        d2.start(wait_port=harness.free_port(), timeout=5)
    except AssertionError as exc:
        assert "exited with 2" in str(exc) and "cannot start" in str(exc)
    else:
        raise AssertionError("start() did not report the early exit")


def test_processes_die_with_the_test_process(tmp_path):
    # A child python starts redis + postgres through the harness, then is killed with -9:
    # PR_SET_PDEATHSIG must take both servers down with it.
    script = textwrap.dedent("""\
        import sys, time
        sys.path.insert(0, %r)
        import harness
        r = harness.RedisServer().start()
        p = harness.PostgresServer().start()
        print(r.pid, p.pid, r.dir, p.dir, flush=True)
        time.sleep(120)
        """ % os.path.dirname(os.path.dirname(os.path.abspath(harness.__file__))))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        line = proc.stdout.readline().split()
        rpid, ppid = int(line[0]), int(line[1])
        dirs = [d.decode() for d in line[2:]]
        assert harness._pid_alive(rpid) and harness._pid_alive(ppid)
    finally:
        proc.kill()
        proc.wait()
    harness.wait_for(lambda: not harness._pid_alive(rpid) and not harness._pid_alive(ppid),
                     timeout=15, what="redis and postgres to die with their parent")
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def test_build_option_reads_cmake_cache():
    if not os.path.exists(os.path.join(harness.BUILD_DIR, "CMakeCache.txt")):
        return  # integration tests run against a configured build; nothing to read otherwise
    assert harness.build_option("CMAKE_PROJECT_NAME") == "hookpipe"
    assert harness.build_option("NO_SUCH_ENTRY", "x") == "x"
    # SANITIZED tells the truth about the binaries: they link libasan exactly when it is set
    exe = harness.daemon_path("gateway")
    if os.path.exists(exe):
        ldd = subprocess.run(["ldd", exe], stdout=subprocess.PIPE, timeout=30).stdout
        assert (b"libasan" in ldd) == harness.SANITIZED


def _taken_first(monkeypatch, taken):
    """Makes the servers' next free_port() return the taken port once, then real ones."""
    import harness.servers as servers

    real = servers.free_port
    calls = []

    def fake():
        calls.append(1)
        return taken if len(calls) == 1 else real()

    monkeypatch.setattr(servers, "free_port", fake)
    return calls


def test_redis_retries_another_port_when_its_port_is_taken(monkeypatch):
    # Another redis-server holds the port the new one was given: the new one must not
    # take the other for itself (it checks the pid that answers) and moves to another port.
    with harness.RedisServer() as other:
        calls = _taken_first(monkeypatch, other.port)
        with harness.RedisServer() as r:
            assert len(calls) == 2
            assert r.port != other.port
            assert int(r.client().info("server")["process_id"]) == r.pid
            assert "Address already in use" in r.log()
            # The port it ended on is kept by a restart.
            port = r.port
            r.restart()
            assert r.port == port and int(r.client().info("server")["process_id"]) == r.pid


def test_redis_given_port_taken_fails_clearly():
    with harness.RedisServer() as other:
        r = harness.RedisServer(port=other.port)
        try:
            r.start(timeout=10)
        except AssertionError as exc:
            assert "Address already in use" in str(exc)
        else:
            raise AssertionError("a RedisServer on a taken port started")
        finally:
            r.close()


def test_postgres_retries_another_port_when_its_port_is_taken(monkeypatch, shared_pg):
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        taken = holder.getsockname()[1]
        calls = _taken_first(monkeypatch, taken)
        with harness.PostgresServer() as pg:
            assert len(calls) == 2 and pg.port != taken
            assert pg.query("postgres", "SHOW data_directory")[0][0] == pg.data

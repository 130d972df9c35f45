"""hookpipe-gateway's command line: --check-config verdicts (exit 0, or exit 2 with one
line naming file:line: key), --version, --help, and start-up refusals (bad config, a
listen address already taken) that exit non-zero instead of running half-configured.
"""

import re
import socket

import pytest

import harness

GOOD = {
    "gateway": {"listen": "127.0.0.1:18080", "workers": 1},
    "redis": {"url": "redis://127.0.0.1:6379/0", "queue": "q"},
    "sources": {"acme": {"provider": "zoom", "secret": "s3cr3t-value"}},
}


def write(tmp_path, extra=None, **over):
    parts = dict(GOOD)
    parts.update(over)
    return harness.write_config(tmp_path / "gw.ini", gateway=parts["gateway"],
                                redis=parts["redis"], sources=parts["sources"], extra=extra)


def line_of(path, text):
    with open(path) as f:
        return f.read().splitlines().index(text) + 1


def test_check_config_ok(tmp_path):
    path = write(tmp_path)
    r = harness.run_daemon("gateway", ["--check-config", "-c", path])
    assert r.returncode == 0, r.stderr
    assert "ok" in (r.stdout + r.stderr).lower()
    assert "s3cr3t-value" not in r.stdout + r.stderr


def test_check_config_via_env(tmp_path):
    path = write(tmp_path)
    r = harness.run_daemon("gateway", ["--check-config"], env={"HOOKPIPE_CONFIG": path})
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("key,line_text,extra", [
    ("bogus_key", "bogus_key = 1", "[gateway]\nbogus_key = 1"),
    ("max_body_bytes", "max_body_bytes = lots", "[gateway]\nmax_body_bytes = lots"),
    ("workers", "workers = -3", "[gateway]\nworkers = -3"),
    ("listen", "listen = nowhere", "[gateway]\nlisten = nowhere"),
    ("provider", "provider = gitlab", "[source.other]\nprovider = gitlab\nsecret = x"),
])
def test_check_config_bad_key_exit_2_with_file_line_key(tmp_path, key, line_text, extra):
    path = write(tmp_path, extra=extra)
    n = line_of(path, line_text)
    r = harness.run_daemon("gateway", ["--check-config", "-c", path])
    assert r.returncode == 2, (r.stdout, r.stderr)
    out = r.stdout + r.stderr
    assert "%s:%d: %s" % (path, n, key) in out, out
    assert len(out.strip().splitlines()) == 1, out


@pytest.mark.parametrize("daemon", ["gateway", "writer"])
def test_check_config_bad_redis_url_exit_2(tmp_path, daemon):
    """A URL the daemons cannot use fails the config pass (it used to pass, then exit 1 at
    start without file:line:key), and the message never echoes the password."""
    url = "redis://u:hunter2@h:1/0x"
    path = write(tmp_path, redis={"url": url, "queue": "q"})
    n = line_of(path, "url = " + url)
    r = harness.run_daemon(daemon, ["--check-config", "-c", path])
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "%s:%d: url: bad Redis URL" % (path, n) in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "hunter2" not in r.stdout + r.stderr


def test_check_config_unknown_section_exit_2(tmp_path):
    path = write(tmp_path, extra="[gatewya]\nlisten = 127.0.0.1:1")
    n = line_of(path, "[gatewya]")
    r = harness.run_daemon("gateway", ["--check-config", "-c", path])
    assert r.returncode == 2
    assert "%s:%d:" % (path, n) in r.stderr, r.stderr


def test_missing_config_file_exit_2(tmp_path):
    r = harness.run_daemon("gateway", ["--check-config", "-c", str(tmp_path / "absent.ini")])
    assert r.returncode == 2
    assert "absent.ini" in r.stderr


def test_no_config_given_exit_2(tmp_path):
    r = harness.run_daemon("gateway", [], env={"HOOKPIPE_CONFIG": ""})
    assert r.returncode == 2
    assert "HOOKPIPE_CONFIG" in r.stderr or "-c" in r.stderr


def test_bad_config_refuses_to_start(tmp_path):
    path = write(tmp_path, extra="[gateway]\nbogus_key = 1")
    r = harness.run_daemon("gateway", ["-c", path], timeout=10)
    assert r.returncode == 2
    assert "bogus_key" in r.stderr


def test_listen_address_in_use_exits_nonzero(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        gw = dict(GOOD["gateway"], listen="127.0.0.1:%d" % port)
        path = write(tmp_path, gateway=gw)
        r = harness.run_daemon("gateway", ["-c", path], timeout=10)
    assert r.returncode != 0


def test_version_and_help():
    r = harness.run_daemon("gateway", ["--version"])
    assert r.returncode == 0
    assert re.match(r"^hookpipe-gateway \S+", r.stdout), r.stdout
    r = harness.run_daemon("gateway", ["--help"])
    assert r.returncode == 0
    for word in ("-c", "--check-config", "--version", "--help"):
        assert word in r.stdout, r.stdout
    r = harness.run_daemon("gateway", ["--no-such-flag"])
    assert r.returncode == 2

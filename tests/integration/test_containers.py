"""docker-compose.yml for real: a private Docker engine (container_engine.py) builds the
project's images from deploy/Dockerfile on a debootstrap'd debian:12-slim, brings the stack
up with stand-ins for postgres:15 and redis:7 and two writers (the webhook secret in the
gateway's environment only, PGPASSWORD in the writers' only), takes signed events through
the published gateway port on 127.0.0.1, SIGKILLs a writer in the middle, and checks that
every event answered 200 is exactly one row. Skipped, saying why, where no engine can be
started (not root, docker.io / docker-compose / debootstrap missing, the sanitizer run).
"""

import json
import os
import threading
import time
import uuid

import pytest

import container_engine
import harness

SOURCE_DIR = container_engine.SOURCE_DIR
SECRET = "container-test-secret-0123"


@pytest.fixture(scope="module")
def engine():
    reason = container_engine.why_not()
    if reason:
        print("test_containers: SKIPPED: " + reason)
        pytest.skip("container test skipped: " + reason)
    e = container_engine.Engine()
    try:
        e.start()
        e.base_images()
        yield e
    finally:
        print("test_containers: timings (s): %s" % {k: round(v, 1) for k, v in e.timings.items()})
        e.stop()


def _compose(e, project, *args, timeout=600, check=True, port=0):
    env = dict(e.env, HOOKPIPE_SECRET_EXAMPLE=SECRET, HOOKPIPE_PG_PASSWORD="compose-test-pw",
               HOOKPIPE_BIND="127.0.0.1", HOOKPIPE_PORT=str(port), HOOKPIPE_NOFILE="4096")
    return e.run("docker-compose", "-p", project, "-f",
                 os.path.join(SOURCE_DIR, "docker-compose.yml"), *args, env=env, timeout=timeout,
                 check=check, cwd=SOURCE_DIR)


def _event(i):
    return json.dumps({"event": "meeting.participant_joined", "event_ts": 1700000000000 + i,
                       "payload": {"account_id": "acct", "object": {"id": uuid.uuid4().hex}}},
                      separators=(",", ":")).encode()


@pytest.mark.timeout(900)
def test_compose_stack_stores_every_accepted_event_once(engine):
    e = engine
    t0 = time.monotonic()
    # the compose build, with the host network for apt (no NAT on this engine), labelled with
    # the version from VERSION as deploy/Dockerfile asks
    with open(os.path.join(SOURCE_DIR, "VERSION")) as f:
        version = f.read().strip()
    for target in ("gateway", "writer"):
        e.docker("build", "--network", "host", "-q", "-f", "deploy/Dockerfile", "--target",
                 target, "--build-arg", "HOOKPIPE_VERSION=" + version,
                 "-t", "hookpipe-%s:local" % target, ".", cwd=SOURCE_DIR, timeout=900)
        image = "hookpipe-%s:local" % target
        label = e.docker("inspect", "-f",
                         '{{index .Config.Labels "org.opencontainers.image.version"}}', image)
        assert label.stdout.strip() == version, label.stdout
        r = e.docker("run", "--rm", "--network", "none", "--entrypoint",
                     "/usr/local/bin/hookpipe-%s" % target, image, "--version")
        assert r.stdout == "hookpipe-%s %s\n" % (target, version), r.stdout
    # a HOOKPIPE_VERSION other than VERSION's fails the build (the label cannot lie)
    r = e.docker("build", "--network", "host", "--force-rm", "-f", "deploy/Dockerfile", "--target",
                 "gateway", "--build-arg", "HOOKPIPE_VERSION=0.0.0-not-" + version, ".",
                 cwd=SOURCE_DIR, timeout=900, check=False)
    assert r.returncode != 0 and "but VERSION says " + version in r.stdout + r.stderr, r.stderr
    e.timings["project images"] = time.monotonic() - t0
    project = "hpct%s" % uuid.uuid4().hex[:6]
    port = harness.free_port()
    t0 = time.monotonic()
    try:
        _compose(e, project, "up", "-d", "--no-build", "--scale", "writer=2", port=port,
                 timeout=300)
        e.timings["compose up"] = time.monotonic() - t0

        def accepted():
            try:
                return harness.post_hook(port, "example", SECRET, _event(-1), timeout=2)[0] == 200
            except OSError:
                return False

        harness.wait_for(accepted, timeout=60, interval=0.5, what="the gateway to answer 200")
        # least privilege: the webhook secret only in the gateway, PGPASSWORD only in writers
        env_of = lambda c: json.loads(e.docker("inspect", "-f", "{{json .Config.Env}}",
                                               "%s_%s_1" % (project, c)).stdout)
        gateway_env, writer_env = env_of("gateway"), env_of("writer")
        assert "HOOKPIPE_SECRET_EXAMPLE=" + SECRET in gateway_env
        assert not any(v.startswith("PGPASSWORD=") for v in gateway_env)
        assert not any(v.startswith("HOOKPIPE_SECRET") for v in writer_env), writer_env
        assert any(v.startswith("PGPASSWORD=") for v in writer_env)
        ids = []
        errors = []

        def send(n, offset):
            for i in range(n):
                try:
                    status, _, body = harness.post_hook(port, "example", SECRET,
                                                        _event(offset + i), timeout=5)
                except OSError as exc:
                    errors.append(str(exc))
                    continue
                if status == 200:
                    ids.append(json.loads(body)["id"])

        t0 = time.monotonic()
        senders = [threading.Thread(target=send, args=(300, k * 1000)) for k in range(4)]
        for t in senders:
            t.start()
        harness.wait_for(lambda: len(ids) >= 300, timeout=60, what="300 accepted events")
        killed = "%s_writer_1" % project
        e.docker("kill", "-s", "KILL", killed)
        for t in senders:
            t.join(120)
        e.timings["1200 posts"] = time.monotonic() - t0
        assert len(ids) >= 1100, (len(ids), errors[:5])

        def rows():
            r = _compose(e, project, "exec", "-T", "postgres", "psql", "-U", "hookpipe", "-d",
                         "hookpipe", "-Atc", "SELECT delivery_id FROM hookpipe.events",
                         check=False, port=port, timeout=60)
            return r.stdout.split() if r.returncode == 0 else None

        # the warm-up events are rows too; the killed writer's batch comes back after
        # heartbeat_ttl_s (10 s in the compose INI)
        want = set(ids)
        harness.wait_for(lambda: want <= set(rows() or []), timeout=120, interval=1,
                         what="every 200'd event stored")
        stored = rows()
        assert len(stored) == len(set(stored)), "a delivery stored twice"
        missing = want - set(stored)
        assert not missing, sorted(missing)[:5]
        logs = _compose(e, project, "logs", "--no-color", "writer", port=port).stdout
        print("test_containers: %d events accepted, %d rows; recovery: %s" % (
            len(ids), len(stored), [line for line in logs.splitlines()
                                    if "recovered" in line or "leftover" in line][:3]))
    finally:
        _compose(e, project, "down", "-v", "-t", "10", port=port, check=False, timeout=300)

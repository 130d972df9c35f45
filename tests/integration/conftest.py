"""pytest fixtures over the harness package: private Redis per test, the shared PostgreSQL and Redis,
a fresh database per test, a time limit per test, and an after-test check that kills every
daemon a test left running and fails the test on a sanitizer report in any daemon log.
"""

import os
import signal

import pytest

import harness

DEFAULT_TEST_TIMEOUT_S = int(os.environ.get("HOOKPIPE_TEST_TIMEOUT", "180"))


def _on_sigterm(signum, frame):
    harness.cleanup_all()
    os._exit(143)


def pytest_configure(config):
    config.addinivalue_line("markers", "timeout(seconds): per-test time limit (default 180 s)")
    # SIGTERM (e.g. ctest giving up) must still run the atexit cleanup of every process.
    signal.signal(signal.SIGTERM, _on_sigterm)


def pytest_unconfigure(config):
    harness.cleanup_all()


@pytest.fixture(autouse=True)
def _hookpipe_guard(request):
    """Bounds each test in time and checks/kills the daemons it started."""
    marker = request.node.get_closest_marker("timeout")
    limit = int(marker.args[0]) if marker else DEFAULT_TEST_TIMEOUT_S

    def on_alarm(signum, frame):
        raise TimeoutError(f"test exceeded its {limit} s time limit")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    first = harness.daemon_count()
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        errors = []
        for d in harness.daemons_since(first):
            try:
                d.finish()
            except AssertionError as exc:
                errors.append(str(exc))
        if errors:
            pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def redis_server():
    """A private redis-server (no AOF) for this test only, started."""
    server = harness.RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def redis_aof():
    """A private redis-server with appendonly yes + appendfsync always, started."""
    server = harness.RedisServer(appendonly=True)
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def shared_redis():
    """The shared Redis: use harness.unique_name() for every key and queue."""
    return harness.shared_redis()


@pytest.fixture(scope="session")
def shared_pg():
    """The shared PostgreSQL (create_database() per test; never stop it)."""
    return harness.shared_postgres()


@pytest.fixture
def pg_db(shared_pg):
    """A fresh database on the shared PostgreSQL; its name."""
    return shared_pg.create_database()


@pytest.fixture
def private_pg():
    """A private PostgreSQL for this test only (for stop/restart/kill), started."""
    server = harness.PostgresServer()
    server.start()
    yield server
    server.close()

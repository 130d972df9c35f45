"""deploy/observability against the real daemons: the metrics a dashboard and the alerts need
(oldest queued item's age, last committed batch, last accepted delivery per source, the
writer's Redis link), promtool check/test of the alert rules, every metric the rules and the
Grafana dashboard query exists in a running gateway's and writer's /metrics, the Grafana
provisioning files, the compose `observability` profile, and a real Prometheus on loopback
that scrapes a running gateway and writer and answers queries through its HTTP API.
"""

import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

import harness
from gateway_helpers import SECRET_A, Gw, event_body
from writer_helpers import Stack, body, encode

SOURCE_DIR = os.environ.get(
    "HOOKPIPE_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
OBS = os.path.join(SOURCE_DIR, "deploy", "observability")
RULES = os.path.join(OBS, "prometheus-rules.yml")
DASHBOARD = os.path.join(OBS, "grafana-dashboard.json")
COMPOSE = os.path.join(SOURCE_DIR, "docker-compose.yml")

# PromQL words that look like metric names but are not (functions, keywords, labels).
METRIC_RE = re.compile(r"\b(hookpipe_[a-z0-9_]+|up)\b")


def _promtool():
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool missing: tests/run installs the Debian package prometheus")
    return path


def _names(m):
    """Metric names of harness.metrics() output."""
    return {k.split("{", 1)[0] for k in m}


def _declared(port):
    """Metric names a /metrics page declares with # TYPE, series or not (the gateway's
    hookpipe_gateway_ws_* have a series per websocket source only: none without one)."""
    status, _, text = harness.http_request(port, "GET", "/metrics")
    assert status == 200
    names = set()
    for line in text.decode().splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            names.add(name)
            if kind == "histogram":
                names |= {name + "_bucket", name + "_sum", name + "_count"}
    return names


@pytest.fixture
def running(shared_redis, shared_pg, tmp_path):
    """A gateway and a writer on one queue, one accepted delivery stored."""
    gw = Gw(tmp_path, shared_redis)
    gw.start()
    stack = Stack(shared_redis, shared_pg, tmp_path, queue=gw.queue)
    w = stack.writer(admin=True, heartbeat_ttl_s=3)
    status, _, _ = gw.post("alpha", event_body(), secret=SECRET_A)
    assert status == 200
    status, _, _ = gw.post("alpha", event_body(), secret="a-wrong-secret")
    assert status == 401  # so the 401 and authentication-failure series exist
    stack.wait_rows(1)
    yield gw, stack, w
    w.stop()
    gw.stop()


def test_rules_pass_promtool_check_and_unit_tests():
    r = subprocess.run([_promtool(), "check", "rules", RULES], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([_promtool(), "test", "rules", "prometheus-rules.test.yml"], cwd=OBS,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_rules_have_runbooks_and_cover_the_issue():
    yaml = pytest.importorskip("yaml")
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    alerts = {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}
    for name in ("HookpipeQueueGrowing", "HookpipeQueueOldestItemOld", "HookpipeNoLiveWriter",
                 "HookpipeWriterExpiredWithItems", "HookpipeDeadLetters",
                 "HookpipeGateway503Ratio", "HookpipeRedisDisconnected", "Hookpipe401Spike",
                 "HookpipeSourceSilent"):
        assert name in alerts, name
    for name, rule in alerts.items():
        assert len(rule["annotations"]["runbook"]) > 80, name
        assert rule["labels"]["severity"] in ("warning", "critical"), name


def _rule_metrics():
    yaml = pytest.importorskip("yaml")
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    return {m for g in doc["groups"] for r in g["rules"] for m in METRIC_RE.findall(r["expr"])}


def _dashboard_metrics():
    with open(DASHBOARD) as f:
        dash = json.load(f)  # valid JSON or this fails
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 10
    for p in dash["panels"]:
        assert p["datasource"]["uid"] == "hookpipe-prometheus", p["title"]
    return {m for e in exprs for m in METRIC_RE.findall(e)}


def test_dashboard_and_rules_query_only_metrics_the_daemons_export(running):
    gw, stack, w = running
    wanted = _rule_metrics() | _dashboard_metrics()
    harness.wait_for(lambda: harness.metric(harness.metrics(w.admin_port),
                                            "hookpipe_writer_redis_connected") == 1,
                     timeout=15, what="a writer heartbeat")
    have = _names(gw.metrics()) | _names(harness.metrics(w.admin_port)) | {"up"}
    # a WebSocket subscription's series exist only where one is configured: declared suffices
    ws = {m for m in wanted if m.startswith("hookpipe_gateway_ws_")}
    assert ws, "the subscription panel and alert query hookpipe_gateway_ws_*"
    have |= ws & _declared(gw.admin_port)
    missing = sorted(wanted - have)
    assert not missing, missing
    # the panels the issue asks for
    dash = _dashboard_metrics()
    for m in ("hookpipe_gateway_requests_total", "hookpipe_gateway_enqueue_seconds_bucket",
              "hookpipe_writer_queue_length", "hookpipe_writer_queue_oldest_age_seconds",
              "hookpipe_writer_rows_inserted_total", "hookpipe_writer_batch_size_bucket",
              "hookpipe_writer_copy_seconds_bucket", "hookpipe_writer_dead_letters_total",
              "hookpipe_writer_processing_length"):
        assert m in dash, m


def test_last_accepted_and_last_batch_timestamps(running, tmp_path):
    gw, stack, w = running
    t0 = time.time()
    status, _, _ = gw.post("alpha", event_body(), secret=SECRET_A)
    assert status == 200
    status, _, _ = gw.post("bravo", event_body(), secret="not-the-secret")
    assert status == 401
    t1 = time.time()
    m = gw.metrics()
    alpha = harness.metric(m, "hookpipe_gateway_last_accepted_timestamp_seconds", source="alpha")
    assert t0 - 0.01 <= alpha <= t1 + 0.01
    # a 401 is not an accepted delivery: bravo never had one
    assert not any(k.startswith("hookpipe_gateway_last_accepted_timestamp_seconds") and
                   'source="bravo"' in k for k in m)
    stack.wait_rows(2)

    def stamped():
        v = harness.metric(harness.metrics(w.admin_port),
                           "hookpipe_writer_last_batch_timestamp_seconds")
        return v >= t0 - 0.01 and v <= time.time() + 0.01

    harness.wait_for(stamped, timeout=10, what="last batch timestamp after the second batch")
    # drained: the oldest item's age is 0
    harness.wait_for(lambda: harness.metric(harness.metrics(w.admin_port),
                                            "hookpipe_writer_queue_oldest_age_seconds") == 0,
                     timeout=10, what="oldest age 0 on an empty queue")


def test_oldest_age_is_the_rightmost_envelopes_age(shared_redis, private_pg, tmp_path):
    """With PostgreSQL down the queue stays full; the gauge follows the rightmost item."""
    stack = Stack(shared_redis, private_pg, tmp_path)
    w = stack.writer(admin=True, heartbeat_ttl_s=3, batch_size=1)
    stack.push([encode(body(), delivery_id="warm")])
    stack.wait_rows(1)
    private_pg.stop()
    now = time.time()
    ages = [900, 600, 300, 120]  # oldest first, as the gateway pushed them
    stack.push([encode(body(), received_us=int((now - a) * 1e6), delivery_id=f"a{a}")
                for a in ages])

    def expected():
        item = stack.r.lindex(stack.queue, -1)
        received = int(item.split(b" ", 3)[2]) / 1e6
        return time.time() - received

    def matches():
        got = harness.metric(harness.metrics(w.admin_port),
                             "hookpipe_writer_queue_oldest_age_seconds")
        return got > 100 and abs(got - expected()) < 5

    harness.wait_for(matches, timeout=15, interval=0.2,
                     what="oldest age to match the rightmost envelope")
    private_pg.start()
    stack.wait_rows(5, timeout=60)
    harness.wait_for(lambda: harness.metric(harness.metrics(w.admin_port),
                                            "hookpipe_writer_queue_oldest_age_seconds") == 0,
                     timeout=15, what="oldest age back to 0")
    assert w.stop() == 0


def test_writer_reports_redis_link(redis_server, shared_pg, tmp_path):
    stack = Stack(redis_server, shared_pg, tmp_path)
    w = stack.writer(admin=True, heartbeat_ttl_s=3)
    gauge = "hookpipe_writer_redis_connected"
    harness.wait_for(lambda: harness.metric(harness.metrics(w.admin_port), gauge) == 1,
                     timeout=15, what="redis_connected 1")
    redis_server.stop()
    harness.wait_for(lambda: harness.metric(harness.metrics(w.admin_port), gauge) == 0,
                     timeout=15, what="redis_connected 0 with Redis stopped")
    redis_server.start()
    harness.wait_for(lambda: harness.metric(harness.metrics(w.admin_port), gauge) == 1,
                     timeout=30, what="redis_connected 1 again")
    assert w.stop() == 0


def test_grafana_provisioning_files():
    yaml = pytest.importorskip("yaml")
    prov = os.path.join(OBS, "grafana", "provisioning")
    with open(os.path.join(prov, "datasources", "hookpipe.yml")) as f:
        ds = yaml.safe_load(f)["datasources"]
    assert [d["uid"] for d in ds] == ["hookpipe-prometheus"]
    assert ds[0]["type"] == "prometheus" and ds[0]["url"] == "http://prometheus:9090"
    with open(os.path.join(prov, "dashboards", "hookpipe.yml")) as f:
        providers = yaml.safe_load(f)["providers"]
    assert providers[0]["type"] == "file"
    path = providers[0]["options"]["path"]
    # the compose file mounts the dashboard JSON into that directory
    with open(COMPOSE) as f:
        grafana = yaml.safe_load(f)["services"]["grafana"]
    assert "./deploy/observability/grafana-dashboard.json:%s/hookpipe.json:ro" % path in \
        grafana["volumes"]
    assert "./deploy/observability/grafana/provisioning:/etc/grafana/provisioning:ro" in \
        grafana["volumes"]


def test_compose_observability_profile():
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose not installed (Debian package docker-compose)")
    yaml = pytest.importorskip("yaml")
    env = dict(os.environ, HOOKPIPE_SECRET_EXAMPLE="s", HOOKPIPE_PG_PASSWORD="p")
    r = subprocess.run(["docker-compose", "-f", COMPOSE, "--profile", "observability", "config"],
                       capture_output=True, text=True, env=env, cwd=SOURCE_DIR, timeout=60)
    assert r.returncode == 0, r.stderr
    services = yaml.safe_load(r.stdout)["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["observability"], name
        for port in services[name]["ports"]:
            # v1 renders "127.0.0.1:9090:9090/tcp", v2 a mapping
            ip = port["host_ip"] if isinstance(port, dict) else port.split(":")[0]
            assert ip == "127.0.0.1", (name, port)
    # the rules Prometheus loads are the checked file
    rules = os.path.join(SOURCE_DIR, "deploy", "observability", "prometheus-rules.yml")
    mounts = [(v["source"], v["target"]) if isinstance(v, dict) else tuple(v.split(":")[:2])
              for v in services["prometheus"]["volumes"]]
    assert (rules, "/etc/prometheus/prometheus-rules.yml") in mounts, mounts
    for name in ("postgres", "redis", "migrate", "writer", "gateway"):
        assert "profiles" not in services[name], name


def _prom_get(port, path, **params):
    url = "http://127.0.0.1:%d%s?%s" % (port, path, urllib.parse.urlencode(params))
    with urllib.request.urlopen(url, timeout=5) as resp:
        doc = json.load(resp)
    assert doc["status"] == "success", doc
    return doc["data"]


@pytest.mark.timeout(120)
def test_real_prometheus_scrapes_gateway_and_writer(running, tmp_path):
    prom = shutil.which("prometheus")
    if prom is None:
        pytest.fail("prometheus missing: tests/run installs the Debian package prometheus")
    gw, stack, w = running
    port = harness.free_port()
    conf = tmp_path / "prometheus.yml"
    conf.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "rule_files: [%s]\n"
        "scrape_configs:\n"
        "  - job_name: hookpipe-gateway\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
        "  - job_name: hookpipe-writer\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
        % (json.dumps(RULES), gw.admin_port, w.admin_port))
    r = subprocess.run([shutil.which("promtool"), "check", "config", str(conf)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    log = open(tmp_path / "prometheus.log", "w")
    p = subprocess.Popen([prom, "--config.file=%s" % conf,
                          "--storage.tsdb.path=%s" % (tmp_path / "tsdb"),
                          "--web.listen-address=127.0.0.1:%d" % port],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        def series(query):
            try:
                return _prom_get(port, "/api/v1/query", query=query)["result"]
            except OSError:
                return []

        harness.wait_for(lambda: len(series("up == 1")) == 2, timeout=60, interval=0.5,
                         what="both targets up in Prometheus")
        got = series('hookpipe_gateway_requests_total{job="hookpipe-gateway",source="alpha",'
                     'status="200"}')
        assert got and float(got[0]["value"][1]) >= 1
        harness.wait_for(lambda: series("hookpipe_writer_rows_inserted_total >= 1"),
                         timeout=30, interval=0.5, what="rows_inserted in Prometheus")
        assert series("hookpipe_writer_queue_oldest_age_seconds")
        assert series("hookpipe_gateway_last_accepted_timestamp_seconds")
        rules = _prom_get(port, "/api/v1/rules")["groups"]
        loaded = [r for g in rules for r in g["rules"]]
        assert len(loaded) >= 9
        # every rule evaluates without error against the live series
        harness.wait_for(lambda: all(r.get("health") == "ok" for g in _prom_get(
            port, "/api/v1/rules")["groups"] for r in g["rules"]), timeout=30, interval=0.5,
            what="every rule healthy")
        # nothing is wrong with this stack: no alert fires
        firing = [a for a in _prom_get(port, "/api/v1/alerts")["alerts"]
                  if a["state"] == "firing"]
        assert not firing, firing
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()


def test_bench_plot_draws_pngs_from_results(tmp_path):
    pytest.importorskip("matplotlib", reason="python3-matplotlib (bench/run installs it)")
    r = subprocess.run(["/usr/bin/python3", os.path.join(SOURCE_DIR, "bench", "plot.py"),
                        os.path.join(SOURCE_DIR, "bench", "RESULTS.md"), str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for name in ("throughput.png", "latency.png"):
        with open(tmp_path / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", name
        # the committed pictures are the ones docs/benchmarks.md shows
        assert os.path.exists(os.path.join(SOURCE_DIR, "bench", name)), name
    # a results file without figures is an error, not an empty picture
    empty = tmp_path / "EMPTY.md"
    empty.write_text("# nothing\n")
    r = subprocess.run(["/usr/bin/python3", os.path.join(SOURCE_DIR, "bench", "plot.py"),
                        str(empty), str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "no figures" in r.stderr

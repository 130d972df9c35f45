"""Redis Cluster readiness of the key names: on a one-node Redis Cluster (all 16384 slots
on one node, so no client redirection is needed), a queue named with a hash tag keeps
every key the gateway and the writers touch in one slot, so every script runs and every
200'd delivery becomes a row; an untagged queue makes the scripts fail with CROSSSLOT,
which is what a cluster would say to any script whose keys were not declared or spread.
"""

import os

import pytest

import harness
from gateway_helpers import SECRET_A, event_body, signed_headers


def cluster_node():
    node = harness.RedisServer(extra_args=["--cluster-enabled", "yes", "--cluster-config-file",
                                           "nodes.conf"]).start()
    c = node.client()
    c.execute_command("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
    harness.wait_for(lambda: b"cluster_state:ok" in c.execute_command("CLUSTER", "INFO"),
                     timeout=10, interval=0.1, what="the one-node cluster to be ok")
    return node


def start_pair(tmp_path, node, queue, db):
    port = harness.free_port()
    redis = {"url": node.url, "queue": queue}
    gw = harness.Daemon("gateway", harness.write_config(
        os.path.join(str(tmp_path), "gw.ini"), gateway={"listen": f"127.0.0.1:{port}"},
        redis=redis, sources={"alpha": {"provider": "zoom", "secret": SECRET_A}})).start(
            wait_port=port)
    w = harness.Daemon("writer", harness.write_config(
        os.path.join(str(tmp_path), "w.ini"), redis=redis,
        postgres={"conninfo": harness.shared_postgres().conninfo(db)},
        writer={"name": "w1", "flush_interval_ms": 20}, log={"level": "info"})).start()
    return port, gw, w


def post(port):
    body = event_body()
    st, _, _ = harness.http_request(port, "POST", "/hooks/alpha", body,
                                    signed_headers(SECRET_A, body))
    return st


@pytest.mark.timeout(60)
def test_hash_tagged_queue_works_on_a_cluster_node(tmp_path):
    node = cluster_node()
    pg = harness.shared_postgres()
    db = pg.create_database()
    port, gw, w = start_pair(tmp_path, node, "{hookpipe}:events", db)
    harness.wait_for(lambda: post(port) == 200, timeout=10, interval=0.1, what="a first 200")
    for _ in range(19):
        assert post(port) == 200
    harness.wait_for(lambda: pg.query(db, "SELECT count(*) FROM hookpipe.events")[0][0] == 20,
                     timeout=20, interval=0.1, what="20 rows")
    keys = sorted(k.decode() for k in node.client().keys("*"))
    slots = {node.client().execute_command("CLUSTER", "KEYSLOT", k) for k in keys}
    assert len(slots) == 1, keys
    assert "{hookpipe}:events:writers" in keys and "{hookpipe}:events:writer:w1" in keys
    assert "CROSSSLOT" not in w.log() and "level=error" not in w.log(), w.log()[-2000:]
    assert gw.stop() == 0 and w.stop() == 0


@pytest.mark.timeout(60)
def test_untagged_queue_is_refused_by_a_cluster_node(tmp_path):
    node = cluster_node()
    db = harness.shared_postgres().create_database()
    port, gw, w = start_pair(tmp_path, node, "hookpipe:events", db)
    harness.wait_for(lambda: "CROSSSLOT" in w.log(), timeout=15, interval=0.1,
                     what="the writer's scripts refused with CROSSSLOT")
    assert gw.stop() == 0 and w.stop() == 0

"""Helpers shared by the writer integration tests (tests/integration/test_writer*.py).

Builds on the harness package: encode() writes queue envelopes v1 (common/envelope.h) independently
of the C code, Stack owns one Redis queue name, one database and the writer configs, and
knows how to push items, start writers and read back hookpipe.events / dead_letters.
"""

import json
import os
import time
import uuid

import harness


def encode(body, source="acme", received_us=None, delivery_id=None, request_id=None):
    """An envelope v1 as the gateway LPUSHes it: header line + the raw body bytes."""
    if isinstance(body, str):
        body = body.encode()
    if received_us is None:
        received_us = int(time.time() * 1e6)
    if delivery_id is None:
        delivery_id = uuid.uuid4().hex
    if request_id is None:
        rid = b"-"
    else:
        rid = b"".join(bytes([c]) if 0x20 < c < 0x7F and c != 0x25 else b"%%%02X" % c
                       for c in request_id.encode())
    head = b"HP1 %s %d %s %s %d\n" % (source.encode(), received_us, delivery_id.encode(), rid,
                                      len(body))
    return head + body


def body(event="meeting.participant_joined", event_ts=None, account_id="acct1", obj=None, **top):
    """A compact Zoom-like body (bytes)."""
    doc = {"event": event, "event_ts": event_ts if event_ts is not None else
           int(time.time() * 1000), "payload": {"account_id": account_id,
                                                "object": obj if obj is not None else
                                                {"id": uuid.uuid4().hex}}}
    doc.update(top)
    return json.dumps(doc, separators=(",", ":")).encode()


def recording_completed(download_token, url_token, event_ts=1700000000123):
    """A realistic recording.completed body; the tokens vary between Zoom's duplicates."""
    files = []
    for i, ftype in enumerate(("MP4", "M4A", "CHAT")):
        files.append({
            "id": f"file-{i}-9a8b7c", "meeting_id": "ZZ8hK3WqRJ2c5RfrQXb7xw==",
            "recording_start": "2023-11-14T22:10:01Z", "recording_end": "2023-11-14T22:53:20Z",
            "file_type": ftype, "file_extension": ftype, "file_size": 1048576 * (i + 1),
            "play_url": f"https://example.zoom.us/rec/play/{url_token}-{i}",
            "download_url": f"https://example.zoom.us/rec/download/{url_token}-{i}",
            "status": "completed", "recording_type": "shared_screen_with_speaker_view",
        })
    doc = {
        "event": "recording.completed", "event_ts": event_ts,
        "payload": {"account_id": "lAAAAAAAAAAAAA", "object": {
            "uuid": "ZZ8hK3WqRJ2c5RfrQXb7xw==", "id": 6840331990, "account_id": "lAAAAAAAAAAAAA",
            "host_id": "Ty6ykNolSU2k1N4oc0NRcQ", "topic": "My Personal Meeting Room", "type": 4,
            "start_time": "2023-11-14T22:10:00Z", "timezone": "America/Los_Angeles",
            "host_email": "jchill@example.com", "duration": 43, "total_size": 6291456,
            "recording_count": 3, "share_url": "https://example.zoom.us/rec/share/abc",
            "recording_files": files, "password": "", "recording_play_passcode": "xyz"}},
        "download_token": download_token,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


class Stack:
    """One queue on a Redis server + one database, and writers draining them."""

    def __init__(self, redis, pg, tmp_path, db=None, queue=None):
        self.redis = redis
        self.pg = pg
        self.tmp = tmp_path
        self.db = db or pg.create_database()
        self.queue = queue or harness.unique_name("hpq")
        self.r = redis.client()
        self.writers = []

    def config(self, name, extra=None, **writer):
        w = {"batch_size": 500, "flush_interval_ms": 20, "name": name}
        w.update(writer)
        return harness.write_config(
            os.path.join(str(self.tmp), f"writer-{name}.ini"),
            redis={"url": self.redis.url, "queue": self.queue},
            postgres={"conninfo": self.pg.conninfo(self.db)},
            writer=w, log={"level": "info"}, extra=extra)

    def writer(self, name=None, admin=False, start=True, extra=None, **writer):
        name = name or harness.unique_name("w")
        if admin:
            writer["admin_listen"] = "127.0.0.1:0"  # the writer reports the port it bound
        d = harness.Daemon("writer", self.config(name, extra, **writer))
        d.name = name
        d.admin_port = None
        self.writers.append(d)
        if start:
            self.start_writer(d, admin)
        return d

    @staticmethod
    def start_writer(d, admin=None):
        """Starts writer d (again); with an admin listener, sets d.admin_port to its port."""
        if admin is None:
            admin = d.admin_port is not None
        d.start(wait_listen=("admin",) if admin else ())
        if admin:
            d.admin_port = d.listen_port("admin")
        return d

    def push(self, items, chunk=1000):
        """LPUSHes items (envelopes) in order, as the gateway would."""
        for i in range(0, len(items), chunk):
            self.r.lpush(self.queue, *items[i:i + chunk])

    def q(self, sql, args=None):
        return self.pg.query(self.db, sql, args)

    def count(self):
        try:
            return self.q("SELECT count(*) FROM hookpipe.events")[0][0]
        except Exception:
            return -1

    def dead_count(self):
        try:
            return self.q("SELECT count(*) FROM hookpipe.dead_letters")[0][0]
        except Exception:
            return -1

    def processing_keys(self):
        return self.r.keys(self.queue + ":processing:*")

    def wait_rows(self, n, timeout=60, dead=0):
        harness.wait_for(lambda: self.count() == n and self.dead_count() == dead,
                         timeout=timeout, interval=0.1,
                         what=f"{n} rows and {dead} dead letters (have {self.count()}, "
                              f"{self.dead_count()})")

    def wait_drained(self, timeout=60):
        harness.wait_for(lambda: self.r.llen(self.queue) == 0 and not any(
            self.r.llen(k) for k in self.processing_keys()), timeout=timeout, interval=0.1,
            what="queue and processing lists to drain")

    def assert_no_duplicates(self):
        dup = self.q("SELECT count(*) FROM (SELECT delivery_id FROM hookpipe.events "
                     "GROUP BY delivery_id HAVING count(*) > 1) d")[0][0]
        assert dup == 0

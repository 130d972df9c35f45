"""Every log line of both daemons is logfmt that parses: values with quotes, spaces,
backslashes or newlines (a dead letter's reason, PostgreSQL's messages, Redis errors)
are quoted and escaped, never written raw.
"""

import json
import re

import pytest

import harness
from writer_helpers import Stack, body, encode

# key=value, where value is bare (no space, quote or '=') or a JSON-style quoted string
_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_.]*)=("(?:[^"\\\x00-\x1f]|\\["\\/bfnrtu])*"|[^\s"=]*)(?: |$)')


def parse_logfmt(line):
    """Parses one line strictly; raises ValueError if any byte is not part of a pair."""
    out, pos = {}, 0
    while pos < len(line):
        m = _PAIR.match(line, pos)
        if m is None:
            raise ValueError(f"not logfmt at column {pos}: {line!r}")
        key, value = m.group(1), m.group(2)
        out[key] = json.loads(value) if value.startswith('"') else value
        pos = m.end()
    for k in ("ts", "level", "comp", "msg"):
        if k not in out:
            raise ValueError(f"no {k}= in {line!r}")
    return out


def test_parser_rejects_the_old_unescaped_form():
    # the form the writer used to log: a quote inside a quoted value ends it early
    with pytest.raises(ValueError):
        parse_logfmt('ts=x level=warn comp=writer msg="dead letter stored" '
                     'reason="body has no string "event""')
    assert parse_logfmt('ts=x level=warn comp=w msg="a \\"b\\"" n=1')["msg"] == 'a "b"'


@pytest.fixture
def stack(shared_redis, shared_pg, tmp_path):
    return Stack(shared_redis, shared_pg, tmp_path)


def test_writer_log_lines_parse_with_quotes_in_reasons(stack):
    items = [
        encode(body(), delivery_id="good1"),
        encode(b'{"payload":{}}', delivery_id="noevent"),  # reason: no string "event"
        encode(b'{"event":"meeting.started","x":"a\\u0000b"}', delivery_id="nul"),
        encode(b'{"event":"a\\"b\\nc","payload":{}}', delivery_id="odd"),
    ]
    stack.push(items)
    w = stack.writer()
    stack.wait_rows(2, dead=2)
    w.stop()
    lines = [l for l in w.log().splitlines() if l.strip()]
    assert lines
    parsed = [parse_logfmt(l) for l in lines]  # raises on any unparseable line
    dead = {p.get("delivery"): p for p in parsed if p["msg"] == "dead letter stored"}
    assert set(dead) == {"noevent", "nul"}, lines
    assert '"event"' in dead["noevent"]["reason"]
    (db_reason,) = stack.q("SELECT reason FROM hookpipe.dead_letters WHERE delivery_id = "
                           "'noevent'")[0]
    assert dead["noevent"]["reason"] == db_reason


def test_gateway_log_lines_parse(tmp_path, shared_redis):
    """A gateway whose Redis refuses pushes logs Redis' error text (spaces, quotes)."""
    r = shared_redis.client()
    queue = harness.unique_name("hpq")
    r.set(queue, "not a list")  # LPUSH answers WRONGTYPE Operation against a key ...
    cfg = harness.write_config(
        tmp_path / "gw.ini", gateway={"listen": "127.0.0.1:0", "workers": 1,
                                      "admin_listen": ""},
        redis={"url": shared_redis.url, "queue": queue},
        sources={"acme": {"provider": "zoom", "secret": "s"}}, log={"level": "debug"})
    gw = harness.Daemon("gateway", cfg).start(wait_listen=("http",))
    port = gw.listen_port("http")
    # ready = its Redis link is up, so the 503 below is Redis refusing the push
    harness.wait_for(lambda: harness.http_request(port, "GET", "/readyz")[0] == 200,
                     what="gateway ready")
    st, _, _ = harness.post_hook(port, "acme", "s", json.dumps({"event": "x"}).encode())
    assert st == 503
    gw.stop()
    lines = [l for l in gw.log().splitlines() if l.strip()]
    parsed = [parse_logfmt(l) for l in lines]
    errors = [p for p in parsed if p["msg"] == "push failed"]
    assert errors and errors[0]["error"].startswith("WRONGTYPE"), lines

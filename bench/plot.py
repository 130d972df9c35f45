#!/usr/bin/python3
"""bench/plot.py [results.json] [OUTDIR]: the one renderer of the benchmark results. From
bench/results.json (written by bench/bench.py and bench/growth.py; schema in bench/results.py
and docs/benchmarks.md) it writes, in OUTDIR (default: beside results.json):

    RESULTS.md       machine, figures with targets, CPU per event, setup, standard vs zoom
                     acks (part s), open-loop steady rate (part o), growth (part g)
    throughput.png   requests, rows and events per second, with the nginx and \\copy ceilings
    latency.png      p50/p99 of the gateway's answers, with nginx's
    growth.png       the writers' insert rate as hookpipe.events grows (part g)

bench/run calls it after each run. A RESULTS.md path given instead of results.json stands for
the results.json beside it. Needs python3-matplotlib for the pictures.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results  # noqa: E402

# Each unit's number format and the suffix shown after the value(s).
UNITS = {
    "req/s": ("{:,.0f}", ""), "rows/s": ("{:,.0f}", ""), "events/s": ("{:,.0f}", ""),
    "count": ("{:,.0f}", ""), "ratio": ("{:.2f}", ""), "deliveries": ("{:.1f}", ""),
    "ms": ("{:.2f}", " ms"), "µs": ("{:.1f}", " µs"), "s": ("{:.1f}", " s"),
    "MB": ("{:.1f}", " MB"), "GiB": ("{:.2f}", " GiB"), "bytes": ("{:,.0f}", " bytes"),
}

# (c)'s CPU table: the parts measured, in order, and their labels.
CPU_PARTS = ("gateway", "redis", "writers", "postgres", "wrk")
CPU_LABELS = {"gateway": "hookpipe-gateway", "redis": "redis-server",
              "writers": "hookpipe-writer (all)", "postgres": "PostgreSQL (all processes)",
              "wrk": "wrk (load generator)", "sum": "sum of the above",
              "rest": "rest of the machine (kernel threads, softirq, other processes)"}

# (w)'s CPU per event: the parts measured, in order ("standin": the bench's own Python
# process, which runs the Zoom stand-in; "machine": the machine's busy time, /proc/stat).
WS_CPU_PARTS = ("gateway", "standin", "redis", "writers", "postgres", "machine")

H_CONNECTION = {"keepalive": "keep-alive", "close": "new connection per request"}


def by_id(section):
    return {f["id"]: f for f in (section or {}).get("figures", [])}


def number(f):
    if f["value"] is None:  # not measured (e.g. a ratio of fewer than two steps)
        return "-"
    return UNITS.get(f["unit"], ("{}", ""))[0].format(f["value"])


def cell(figs):
    """The value cell of a row: its figures' numbers joined by " / " with the unit shown once
    when they share it, else each with its own."""
    suffixes = {UNITS.get(f["unit"], ("", ""))[1] for f in figs}
    if len(suffixes) == 1:
        return " / ".join(number(f) for f in figs) + suffixes.pop()
    return ", ".join(number(f) + UNITS.get(f["unit"], ("", ""))[1] for f in figs)


def verdict(figs):
    """(target, PASS/MISS/"") of the last figure of a row that has a target."""
    for f in reversed(figs):
        if "target" in f:
            return f["target"], {True: "PASS", False: "MISS"}.get(f.get("pass"), "")
    return "", ""


# The rows of the Figures table: (label, [figure ids]); "tuned" and "https" stand for the rows
# of the tuned workers values and of the HTTPS runs the section has, "ws" those of the (w) runs
# (one per writers count).
FIGURE_ROWS = [
    ("(a) gateway acks/s (default workers)", ["a.gateway.acks"]),
    ("(a) gateway latency p50 / p99", ["a.gateway.p50", "a.gateway.p99"]),
    ("(a) gateway answers 200 / other (its /metrics)",
     ["a.gateway.answers_200", "a.gateway.answers_other"]),
    ("(a) envelopes in Redis after the run", ["a.gateway.queued"]),
    ("(a) Redis AOF rewrites during the run", ["a.gateway.aof_rewrites"]),
    ("(a) deliveries per LPUSH (coalesced)", ["a.gateway.deliveries_per_lpush"]),
    ("(a) redis-server CPU per delivery", ["a.gateway.redis_cpu_per_delivery"]),
    ("(a) nginx return 200 (ceiling) req/s", ["a.nginx.rps"]),
    ("(a) nginx latency p50 / p99", ["a.nginx.p50", "a.nginx.p99"]),
    ("(a) ratio gateway / nginx", ["a.ratio"]),
    "tuned",
    "https",
    ("(b) drain, 1 writer(s): rows/s", ["b.drain_w1.rate"]),
    ("(b) drain, 2 writer(s): rows/s", ["b.drain_w2.rate"]),
    ("(b) psql \\copy (ceiling) rows/s", ["b.copy.rate"]),
    ("(b) ratio 1 writer / \\copy", ["b.ratio_w1"]),
    ("(b) ratio 2 writers / \\copy", ["b.ratio_w2"]),
    ("(c) end to end events/s into PostgreSQL", ["c.rate"]),
    ("(c) psql \\copy of the same rows (ceiling) rows/s", ["c.copy.rate"]),
    ("(c) ratio end to end / \\copy", ["c.ratio"]),
    ("(c) gateway acks/s during it (wrk)", ["c.gateway.acks"]),
    ("(c) gateway latency p50 / p99", ["c.gateway.p50", "c.gateway.p99"]),
    ("(c) Redis AOF rewrites during it", ["c.aof_rewrites"]),
    ("(c) requests sent twice (pre-signed file ran out)", ["c.requests_sent_twice"]),
    ("(c) largest queue length (LLEN / 100 ms)", ["c.max_queue_length"]),
    ("(c) drain time after wrk stopped", ["c.drain_after_wrk"]),
    ("(c) 200s / non-200s / rows / dead letters",
     ["c.answers_200", "c.answers_other", "c.rows", "c.dead_letters"]),
    "ws",
    ("(d) gateway peak RSS (VmHWM, max)", ["d.gateway_peak_rss"]),
    ("(d) writer peak RSS (VmHWM, max)", ["d.writer_peak_rss"]),
]


# The rows of part (s)'s table (its own section, "standard"): one gateway, two sources.
STANDARD_ROWS = [
    ("(s) acks/s: standard source / zoom source", ["s.standard.acks", "s.zoom.acks"]),
    ("(s) ratio standard / zoom", ["s.ratio"]),
    ("(s) standard: latency p50 / p99", ["s.standard.p50", "s.standard.p99"]),
    ("(s) zoom: latency p50 / p99", ["s.zoom.p50", "s.zoom.p99"]),
    ("(s) standard: answers 200 / other (its /metrics)",
     ["s.standard.answers_200", "s.standard.answers_other"]),
    ("(s) zoom: answers 200 / other (its /metrics)",
     ["s.zoom.answers_200", "s.zoom.answers_other"]),
    ("(s) standard: envelopes in Redis after the run", ["s.standard.queued"]),
    ("(s) zoom: envelopes in Redis after the run", ["s.zoom.queued"]),
    ("(s) Redis AOF rewrites during the run: standard / zoom",
     ["s.standard.aof_rewrites", "s.zoom.aof_rewrites"]),
    ("(s) deliveries per LPUSH: standard / zoom",
     ["s.standard.deliveries_per_lpush", "s.zoom.deliveries_per_lpush"]),
    ("(s) body bytes: standard / zoom", ["s.standard.body_bytes", "s.zoom.body_bytes"]),
    ("(s) request bytes (headers + body): standard / zoom",
     ["s.standard.request_bytes", "s.zoom.request_bytes"]),
    ("(s) gateway peak RSS (VmHWM)", ["s.gateway_peak_rss"]),
]


def figure_rows(section, table=None):
    """(label, [figure ids]) of the Figures table (or of table, a list like FIGURE_ROWS), in
    order, for the figures the section has."""
    fig = by_id(section)
    rows = []
    for row in FIGURE_ROWS if table is None else table:
        if row == "tuned":
            for fid in sorted(f for f in fig if f.startswith("a.gateway_w") and f.endswith(".acks")):
                run = fid[:-len(".acks")]
                rows.append((f"(a) tuned: workers = {fig[fid]['settings']['workers']} acks/s, "
                             "p99, / nginx", [fid, run + ".p99", run + ".ratio"]))
        elif row == "https":
            for fid in sorted(f for f in fig if f.startswith("h.") and f.endswith(".ratio")):
                k = fid.split(".")[1]
                kind, mode = k.split("_")
                what = f"(h) HTTPS {kind.upper()} {H_CONNECTION[mode]}"
                rows += [(f"{what}: gateway / nginx req/s",
                          [f"h.{k}.gateway.rps", f"h.{k}.nginx.rps"]),
                         (f"{what}: p99 gateway / nginx",
                          [f"h.{k}.gateway.p99", f"h.{k}.nginx.p99"]),
                         (f"{what}: ratio", [fid])]
        elif row == "ws":
            for fid in sorted((f for f in fig if f.startswith("w.w") and f.endswith(".rate")),
                              key=lambda f: int(f.split(".")[1][1:])):
                k = fid.split(".")[1]
                nw = fig[fid]["settings"]["writers"]
                what = f"(w) WebSocket, {nw} writer{'s' if nw > 1 else ''}"
                rows += [(f"{what}: events/s into PostgreSQL (one connection)", [fid]),
                         (f"{what}: stand-in send rate events/s", [f"w.{k}.sent_rate"]),
                         (f"{what}: sent / rows / dead letters / rejected",
                          [f"w.{k}.sent", f"w.{k}.rows", f"w.{k}.dead_letters",
                           f"w.{k}.rejected"]),
                         (f"{what}: largest queue length (LLEN / 100 ms)",
                          [f"w.{k}.max_queue_length"]),
                         (f"{what}: drain time after the last send", [f"w.{k}.drain_after_send"]),
                         (f"{what}: gateway CPU per event", [f"w.{k}.cpu_per_event.gateway"]),
                         (f"{what}: CPU/event stand-in / Redis / writers / PG / machine",
                          [f"w.{k}.cpu_per_event.{p}" for p in WS_CPU_PARTS[1:]])]
            if "w.ratio" in fig:
                nw = fig["w.ratio"]["settings"]["writers"]
                nc = fig["w.ratio"]["settings"]["c_writers"]
                each = (f"{nw} writer{'s' if nw > 1 else ''} each" if nw == nc
                        else f"{nw} writer(s) vs {nc}")
                rows.append((f"(w) ratio websocket / webhook end to end (events/s, {each})",
                             ["w.ratio"]))
        else:
            rows.append(row)
    return [(label, ids) for label, ids in rows if all(i in fig for i in ids)]


def figures_md(section, table=None):
    """The Figures table (or table's, see figure_rows), then (c)'s CPU table: what bench.py
    also prints."""
    fig = by_id(section)
    rows = []
    for label, ids in figure_rows(section, table):
        figs = [fig[i] for i in ids]
        rows.append((label, cell(figs)) + verdict(figs))
    w = [max(len(r[i]) for r in rows + [("figure", "value", "target", "")]) for i in range(4)]
    fmt = "| {:<%d} | {:>%d} | {:<%d} | {:<%d} |" % tuple(w)
    lines = [fmt.format("figure", "value", "target", ""), fmt.format(*("-" * x for x in w))]
    lines += [fmt.format(*r) for r in rows]
    if "c.cpu.machine" in fig:
        lines += [""] + cpu_md(section)
    return "\n".join(lines)


def cpu_md(section):
    """Where the CPU went in (c): seconds and µs per stored event of each part, the sum, and
    the rate that sum allows on the machine's cores."""
    fig = by_id(section)

    def v(fid):
        return fig[fid]["value"]

    out = ["| (c) CPU from wrk start to the last row | CPU s | µs / event |",
           "| --- | ---: | ---: |"]
    for key in CPU_PARTS + ("sum", "rest"):
        out.append(f"| {CPU_LABELS[key]} | {v('c.cpu.' + key):.1f} | "
                   f"{v('c.cpu_per_event.' + key):.1f} |")
    cores = section["machine"]["cores"]
    out += [f"| machine busy / available ({cores} cores × {v('c.seconds'):.1f} s) | "
            f"{v('c.cpu.machine'):.1f} / {v('c.cpu.available'):.1f} | |", ""]
    if v("c.cpu_bound"):
        out.append(f"At {v('c.cpu_per_event.machine'):.1f} µs of CPU per event in all, {cores} "
                   f"cores allow at most {v('c.cpu_bound'):,.0f} events/s; measured "
                   f"{v('c.rate'):,.0f} ({v('c.cpu_bound_fraction'):.2f} of that bound).")
    return out


def busy_md(busy):
    return "\n".join(f"{b['cpu_percent']:5.0f}% {b['pid']:>7} {b['command']}" for b in busy)


def at_commit(section):
    """" at commit C" of a section ("" when it was not recorded)."""
    if not section.get("git_commit"):
        return ""
    dirty = " (with uncommitted changes)" if section.get("git_dirty") else ""
    return f" at commit `{section['git_commit'][:12]}`{dirty}"


def bench_md(section):
    m, s = section["machine"], section["settings"]
    mode = "quick (--quick)" if section["mode"] == "quick" else "full"

    def load(key):
        return " ".join(f"{x:.2f}" for x in section[key])

    md = [
        f"Written by `bench/run` ({mode}) on {section['date']}{at_commit(section)}: rendered by",
        "`bench/plot.py` from [results.json](results.json). Re-run it to replace both;",
        "docs/benchmarks.md explains each figure.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        f"| CPU | {m['cpu']} |",
        f"| cores | {m['cores']} |",
        f"| memory | {m['memory_gib']:.1f} GiB |",
        f"| OS / kernel | {m['os']} / {m['kernel']} |",
        f"| gcc | {m['gcc']} |",
        f"| libevent / hiredis (Debian) | {m['libevent']} / {m['hiredis']} |",
        f"| redis / PostgreSQL / nginx / wrk | {m['redis']} / {m['postgres']} / "
        f"{m['nginx']} / {m['wrk']} |",
        f"| load average before / after | {load('load_average_before')} / "
        f"{load('load_average_after')} |",
        "",
        "## Figures",
        "",
        figures_md(section),
        "",
        "## Setup",
        "",
        f"- All on 127.0.0.1. {s['build_type']} build (`-DCMAKE_BUILD_TYPE={s['build_type']}`) "
        f"in {s['build_dir']}/.",
        f"- (a) wrk {s['wrk_threads']} thread, {s['connections']} keep-alive connections, "
        f"{s['warmup_s']} s warm-up then {s['ack_s']} s; the gateway at its default `workers` "
        "(cores - 1, at least 1) — labelled tuned rows beside it — and nginx "
        "`worker_processes 1`; wrk, the server and redis-server share the cores. Requests: "
        f"{s['pool_requests']:,} distinct signed meeting.participant_joined bodies (~700 bytes), "
        "pre-generated right before the run and cycled; `timestamp_tolerance_s = 3600` so they "
        "stay fresh. nginx gets byte-identical requests (`location / { return 200; }`).",
        "- (h) the same over HTTPS, a self-signed RSA 2048 and an ECDSA P-256 certificate, "
        "gateway (`tls_cert`, default workers) and nginx (`ssl`, same certificate, 1 worker, "
        "`ssl_protocols TLSv1.2 TLSv1.3`: Debian 12's nginx 1.22 leaves TLS 1.3 out by default "
        "and would compare TLS 1.2 session resumption, no key exchange, with the gateway's TLS "
        "1.3); both negotiate TLS 1.3 with X25519. Keep-alive, and `Connection: close` on every "
        "request: a new TCP connection and TLS handshake each, which wrk resumes from the "
        "session ticket its previous connection got (`SSL_clear()` keeps the session): a PSK "
        "handshake with a fresh X25519 exchange, the certificate's signature once per wrk "
        "connection.",
        "- Redis: as the docs (docs/high-availability.md) tell users to run it: "
        "`appendonly yes`, `appendfsync everysec`, Redis's default automatic AOF rewrite "
        "(100 %, 64 MB), no RDB. PostgreSQL 15: its defaults (fsync on, shared_buffers 128MB, "
        "max_wal_size 1GB); the writer's default synchronous_commit on.",
        f"- (b) {s['envelopes']:,} v1 envelopes LPUSHed (pipelined) to a side key, writers "
        "started on a fresh database and migrated, then the key is RENAMEd onto the queue and "
        "the clock runs until count(*) = all. Writers: batch_size "
        f"{s['writer_batch_size']}, flush_interval_ms {s['writer_flush_interval_ms']}. "
        "Ceiling: one `psql \\copy` of the same rows into an identical fresh, migrated "
        "hookpipe.events (the writer's columns: `payload` jsonb and `body` text, its indexes "
        "and partitions).",
        f"- (c) wrk {s['e2e_s']} s, {s['wrk_threads']} thread, {s['connections']} connections, "
        f"reading {s['e2e_requests']:,} distinct pre-signed requests one after the other "
        f"(no signing in wrk, no body twice); the gateway at its defaults, {s['e2e_writers']} "
        f"writers at theirs but batch_size {s['writer_batch_size']}; events/s = rows / (time "
        "from wrk start to the last row landing); the \\copy ceiling of the same number of rows "
        "right after, as in (b). CPU: utime + stime from /proc of each process (PostgreSQL: the "
        "postmaster and all its children; wrk: its rusage), the machine's from /proc/stat.",
    ]
    ws = any(f.startswith("w.") for f in by_id(section))
    if ws:
        md += [
            "- (w) one Zoom WebSocket subscription: the Python stand-in "
            "(tests/integration/harness/zoom_ws.py: token endpoint and wss:// socket, TLS from a "
            "CA made per run, given as `ca_file`) in the bench's own process; a gateway at its "
            "defaults with one `transport = websocket` source (default `heartbeat_s` 30, "
            "`lease_ms` 10000) and 1 writer (2 beside it, labelled), each on a fresh database. "
            "Once the link is up (its first heartbeat answered) the stand-in builds "
            f"{s['ws_events']:,} distinct `meeting.participant_joined` bodies of "
            f"{s['ws_body_bytes']} bytes (the size of (a)-(c)'s), then sends them as fast as "
            "it can on its one connection; events/s = rows / (time from the first send to the "
            "last row seen, count(*) polled every 100 ms). CPU as in (c), from the first send "
            "to the last row; the stand-in's is the bench process's.",
        ]
    md += [
        "- (d) VmHWM from /proc/PID/status: the largest of the gateway processes of (a), (h)"
        + (", (c) and (w); the largest of all writer processes in (b)-(c) and (w)." if ws else
           " and (c); the largest of all writer processes in (b)-(c)."),
        "",
    ]
    for when, key in (("the run started", "busy_before"), ("it ended", "busy_after")):
        md += [f"## Other processes using CPU when {when}", "", "```",
               busy_md(section[key]) or "(none)", "```", ""]
    if section.get("notes"):
        md += ["## Notes", ""] + [f"- {n}" for n in section["notes"]] + [""]
    return md


def standard_md(section):
    """The "Standard Webhooks vs Zoom acks (part s)" section of RESULTS.md."""
    m, s = section["machine"], section["settings"]
    fig = by_id(section)

    def load(key):
        return " ".join(f"{x:.2f}" for x in section[key])

    body = fig.get("s.zoom.body_bytes", {}).get("value", 0)
    md = ["## Standard Webhooks vs Zoom acks (part s)", "",
          f"Run {section['date']}{at_commit(section)}"
          f"{' (--quick)' if section['mode'] == 'quick' else ''} on {m['cores']} x {m['cpu']}, "
          f"{m['memory_gib']:.1f} GiB, {m['os']}, kernel {m['kernel']}; load average before / "
          f"after {load('load_average_before')} / {load('load_average_after')}.", "",
          figures_md(section, STANDARD_ROWS), "",
          f"- One gateway, configured as in (a) ({s['build_type']} build in {s['build_dir']}/, "
          "default `workers`, `timestamp_tolerance_s = 3600`), with two sources: `[source.bench]` "
          "`provider = zoom` and `[source.bench-standard]` `provider = standard` (a `whsec_` "
          f"secret). The run of (a) against each in turn, zoom first: wrk {s['wrk_threads']} "
          f"thread, {s['connections']} keep-alive connections, {s['warmup_s']} s warm-up then "
          f"{s['ack_s']} s, cycling {s['pool_requests']:,} distinct requests pre-signed right "
          "before the run. Bodies of the same size "
          f"({body:,.0f} bytes): (a)'s meeting.participant_joined, and for standard the same "
          "object under Standard Webhooks' `type` / `timestamp` / `data` "
          "(bench/standardgen.py), signed `v1,` base64 HMAC-SHA256 of "
          "`webhook-id.webhook-timestamp.body`.",
          ""]
    for when, key in (("the run started", "busy_before"), ("it ended", "busy_after")):
        md += [f"Other processes using CPU when {when}:", "", "```",
               busy_md(section[key]) or "(none)", "```", ""]
    if section.get("notes"):
        md += [f"Note: {n}" for n in section["notes"]] + [""]
    return md


# (o)'s modes, in order, and their labels.
O_MODES = {"plain_keepalive": "HTTP keep-alive", "https_keepalive": "HTTPS keep-alive",
           "https_new": "HTTPS new connection per request",
           "plain_keepalive_e2e": "HTTP keep-alive, 2 writers storing"}


def openloop_table(section):
    """Part (o)'s table: per mode and rate, latency from the scheduled send time (p50 / p90 /
    p99 / p99.9 / max), the generator's own lateness and CPU, what was not a 200, and Redis's
    AOF rewrites and delayed fsyncs meanwhile."""
    fig = by_id(section)
    lines = ["| mode | % of max | req/s | p50 | p90 | p99 | p99.9 | max | lateness p99 / "
             "p99.9 / max | generator CPU (cores) | not 200 | AOF rewrites / delayed fsyncs "
             "| target |",
             "| --- |" + " ---: |" * 11 + " --- |"]
    for mode, label in O_MODES.items():
        if f"o.{mode}.max" not in fig:
            continue
        top = fig[f"o.{mode}.max"]
        rates = sorted({int(f.split(".")[2][1:]) for f in fig
                        if f.startswith(f"o.{mode}.r") and f.endswith(".rate")})
        for pct in rates:
            p = f"o.{mode}.r{pct}"

            def ms(k):
                return "%.2f" % fig[f"{p}.{k}"]["value"]

            figs = [fig[f"{p}.p99"], fig[f"{p}.p999"]]
            target = "; ".join(f"{f['target']}: {'PASS' if f['pass'] else 'MISS'}"
                              for f in figs if "target" in f)
            delayed = fig.get(p + ".aof_delayed_fsyncs")
            lines.append(
                f"| {label} | {pct} % of {top['value']:,.0f} | {fig[p + '.rate']['value']:,.0f} "
                f"| {ms('p50')} | {ms('p90')} | {ms('p99')} | {ms('p999')} | {ms('max')} | "
                f"{ms('late_p99')} / {ms('late_p999')} / {ms('late_max')} | "
                f"{number(fig[p + '.generator_cpu']) if p + '.generator_cpu' in fig else '-'} | "
                f"{number(fig[p + '.answers_other'])} | {number(fig[p + '.aof_rewrites'])} / "
                f"{number(delayed) if delayed else '-'} | "
                f"{target} |")
    return lines


def openloop_md(section):
    """The "Open-loop steady rate (part o)" section of RESULTS.md."""
    m, s = section["machine"], section["settings"]
    fig = by_id(section)

    def load(key):
        return " ".join(f"{x:.2f}" for x in section[key])

    md = ["## Open-loop steady rate (part o)", "",
          f"Run {section['date']}{at_commit(section)}"
          f"{' (--quick)' if section['mode'] == 'quick' else ''} on {m['cores']} x {m['cpu']}, "
          f"{m['memory_gib']:.1f} GiB, {m['os']}, kernel {m['kernel']}; load average before / "
          f"after {load('load_average_before')} / {load('load_average_after')}. Milliseconds.",
          ""]
    md += openloop_table(section)
    hows = ", ".join(f"{label}: {fig[f'o.{mode}.max']['settings']['measured_by']}"
                     for mode, label in O_MODES.items() if f"o.{mode}.max" in fig)
    md += ["",
           f"- `hookpipe-openloop` (bench/openloop.c) sends on one evenly spaced schedule for "
           f"{s['seconds']} s per rate ({s['warmup_s']} s warm-up at 25 % first), over "
           f"{s['connections']} keep-alive connections — or a new connection per request, "
           "resuming the TLS session of the one before (as wrk does in (h)) — and measures each "
           "request's latency from its **scheduled** send time, so a stall of the server shows "
           "in the tail instead of slowing the sender (coordinated omission). Lateness: when the "
           "generator handed the request to a connection minus when it was due — its own delay; "
           "when that is small the tail is the system's. A request unanswered counts with the "
           "time the run ended.",
           f"- Per mode a gateway with the shipped defaults ({s['build_type']} build in "
           f"{s['build_dir']}/; nothing in its config but where it listens and, for HTTPS, an "
           f"{s['certificate']} certificate), Redis (AOF everysec) only, no writers; the queue "
           f"is emptied between runs. {s['pool_requests']:,} distinct requests signed right "
           f"before each mode's runs, cycled. Maximum of each mode: {hows}.",
           ""]
    for when, key in (("the run started", "busy_before"), ("it ended", "busy_after")):
        md += [f"Other processes using CPU when {when}:", "", "```",
               busy_md(section[key]) or "(none)", "```", ""]
    if section.get("notes"):
        md += [f"Note: {n}" for n in section["notes"]] + [""]
    return md


def growth_table(fig, stopped=()):
    """The growth table and the rates lines of the layouts in fig (g.<layout>.* figures); the
    partitions and size columns only when recorded."""
    tags = [t for t in ("partitioned", "v1") if fig.get(f"g.{t}.rates", {}).get("value")]
    extra = any(f"g.{t}.size" in fig for t in tags)
    head = ["layout", "rows", "first step rows/s", "last step rows/s", "last / first"]
    head += ["partitions", "size", "target"] if extra else ["target"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    rates_lines = []
    for tag in tags:
        rates, rows, ratio = (fig[f"g.{tag}.{k}"] for k in ("rates", "rows", "ratio"))
        target, ok = verdict([ratio])
        cells = [tag, number(rows), f"{rates['value'][0]:,.0f}", f"{rates['value'][-1]:,.0f}",
                 number(ratio)]
        if tag in stopped:
            cells[0] += " (stopped)"
            cells[4] += f" (at {rows['value'] / 1e6:g} M)"
        if extra:
            parts, size = fig.get(f"g.{tag}.partitions"), fig.get(f"g.{tag}.size")
            cells += ["" if parts is None else str(parts["value"] or "1 table"),
                      "" if size is None else number(size) + " GiB"]
        cells.append(f"{target}: {ok}" if target else "")
        lines.append("| " + " | ".join(cells) + " |")
        rates_lines += [f"{tag} rows/s per {rates['settings']['step_rows']:,} rows: "
                        + ", ".join(f"{x:,.0f}" for x in rates["value"]), ""]
    return lines + [""] + rates_lines


def growth_md(section):
    """The "Growth (part g)" section of RESULTS.md."""
    fig, s, m = by_id(section), section["settings"], section["machine"]
    load = " ".join(f"{x:.2f}" for x in section["load_average_after"])
    lines = ["## Growth (part g)", "",
             f"Run {section['date']}{at_commit(section)}"
             f"{' (--quick)' if section['mode'] == 'quick' else ''}: "
             f"{s['rows']:,} rows per layout, {s['writers']} writers, batch {s['batch_size']}, "
             f"feeder keeping LLEN < {s['llen_max']:,}, event_ts advancing "
             f"{s['rows_per_day']:,} rows a day; load average at the end {load}. "
             "Curve: [growth.png](growth.png).", "",
             f"Machine: {m['cores']} x {m['cpu']}, {m['memory_gib']:.1f} GiB, kernel "
             f"{m['kernel']}, PostgreSQL {m['postgres']}.", ""]
    lines += growth_table(fig)
    if "g.stall.longest_gap" in fig:
        st = section["stall"]
        lines += ["COPY stall (s): longest gap between two commits of one writer fed 5,000 "
                  "rows/s while a 60 s query read hookpipe.events, new day partitions were "
                  "created for the arriving rows and `--maintain` tried to drop an expired "
                  f"partition: **{fig['g.stall.longest_gap']['value']:.2f} s** "
                  f"({number(fig['g.stall.rows'])} rows stored by the end; "
                  f"{number(fig['g.stall.partitions'])} partitions; --maintain exit "
                  f"{st['maintain_rc']}: `{st['maintain_tail']}`"
                  + (f"; the query: {st['reader_error']}" if st.get("reader_error") else "")
                  + ").", ""]
    lines += [f"Note: {n}" for n in section.get("notes", [])]
    return lines


def storage_md(section):
    """The "Storage cost per row (part k)" section of RESULTS.md."""
    fig, s, m = by_id(section), section["settings"], section["machine"]
    cases = []
    for f in section["figures"]:
        name = f["id"].rsplit(".", 1)[0]
        if f["id"].endswith(".rate") and name not in cases:
            cases.append(name)
    lines = ["## Storage cost per row (part k)", "",
             f"Run {section['date']}{at_commit(section)} on {m['cores']} x {m['cpu']}, "
             f"PostgreSQL {m['postgres']} with its shipped settings: psql \\copy of the same "
             f"{s['rows']:,} rows (the writer's columns, 668-byte Zoom bodies) into a fresh "
             f"month partition after a CHECKPOINT, one change per case, median of "
             f"{s['repeat']}; the large-partition cases first fill the partition with "
             f"{s['big']:,} rows (bench/schema.py).", "",
             "| case | rows/s | PostgreSQL CPU µs/row (all processes) | its backend µs/row | "
             "WAL bytes/row | partition MB | what |", "| --- |" + " ---: |" * 5 + " --- |"]
    for name in cases:
        lines.append(
            f"| {name[2:]} | {fig[name + '.rate']['value']:,.0f} | "
            f"{fig[name + '.pg_cpu']['value']:.1f} | {fig[name + '.backend_cpu']['value']:.1f} | "
            f"{fig[name + '.wal']['value']:,.0f} | {fig[name + '.size']['value']:,.0f} | "
            f"{fig[name + '.rate']['settings']['case']} |")
    ratios = [f for f in section["figures"] if f["id"].endswith(".ratio")]
    if ratios:
        lines += ["", "Rate with the partition full / empty: " + "; ".join(
            f"{f['id'][2:-6]} **{f['value']:.2f}** ({f['target']}: "
            f"{'PASS' if f['pass'] else 'MISS'})" for f in ratios) + "."]
    queries = [f for f in section["figures"] if ".query." in f["id"]]
    if queries:
        lines += ["", "Documented queries on the large partition (median execution time, ms):",
                  "", "| layout | query | ms | SQL |", "| --- | --- | ---: | --- |"]
        lines += [f"| {f['id'].split('.')[1]} | {f['id'].split('.')[-1]} | {f['value']:.3f} | "
                  f"`{f['settings']['sql']}` |" for f in queries]
    return lines + [""]


def callgrind_md(section):
    """The "Instructions per request and per row (callgrind)" section of RESULTS.md."""
    s, m = section["settings"], section["machine"]
    lines = ["## Instructions per request and per row (callgrind)", "",
             f"Run {section['date']} on {m['cores']} x {m['cpu']} (`bench/callgrind.py`, "
             f"{s['valgrind']}; {s['repeat']} run(s) of each size, {s['connections']} "
             "keep-alive connections): instructions (Ir) per acknowledged request of "
             "hookpipe-gateway and per stored row of hookpipe-writer, each the difference "
             "of two runs of different sizes divided by the difference of their sizes, so "
             "start-up and shutdown cancel out. These hold still where wall-clock figures "
             "move ±15–30 % between runs; PostgreSQL's and Redis's work is not in them.", "",
             "| build | commit | gateway Ir / request | writer Ir / row |",
             "| --- | --- | ---: | ---: |"]
    builds = {}
    for f in section["figures"]:
        b = builds.setdefault(f["settings"]["build"], {"commit": f["settings"]["commit"]})
        b[f["id"].rsplit(".", 1)[1]] = f
    for name, b in builds.items():
        def cell(k):
            return (f"{b[k]['value']:,.0f} (±{b[k]['settings']['spread_pct']:.1f} %)"
                    if k in b else "-")
        lines.append(f"| {name} | `{b['commit']}` | {cell('gateway')} | {cell('writer')} |")
    return lines + [""]


def labelled_md(labelled):
    """Part (o) runs with a setting that is not shipped (results.json "labelled")."""
    lines = ["## Labelled comparisons: part (o) with settings that are not shipped", "",
             "Each run changes one thing from the shipped settings (its label); they are "
             "comparisons for operators, not the defaults (docs/performance.md).", ""]
    for label, section in labelled.items():
        s = section["settings"]
        what = "; ".join(x for x in (
            f"Redis `{s['redis_args']}`" if s.get("redis_args") else "",
            f"gateway threads `{s['gateway_sched']}`" if s.get("gateway_sched") else "") if x)
        lines += [f"### {label}", "",
                  f"Run {section['date']}{at_commit(section)}"
                  f"{' (--quick)' if section['mode'] == 'quick' else ''}: "
                  f"{what or 'shipped settings'}.", ""]
        lines += openloop_table(section) + [""]
    return lines


def history_md(entry):
    """An earlier growth run kept by hand (results.json "history")."""
    return ([f"### Earlier run: {entry['title']}", "", entry["text"], ""]
            + growth_table(by_id(entry), entry.get("stopped", ())) + [entry["after"], ""])


def results_md(data):
    md = ["# hookpipe benchmark results", ""]
    if "bench" in data:
        md += bench_md(data["bench"])
    if "standard" in data:
        md += standard_md(data["standard"])
    if "openloop" in data:
        md += openloop_md(data["openloop"])
    if "growth" in data:
        md += growth_md(data["growth"])
    if "storage" in data:
        md += storage_md(data["storage"])
    if "callgrind" in data:
        md += callgrind_md(data["callgrind"])
    if data.get("labelled"):
        md += labelled_md(data["labelled"])
    for entry in data.get("history", []):
        if entry.get("part") == "g":
            md += history_md(entry)
    return "\n".join(md).rstrip("\n") + "\n"


# ---------------------------------------------------------------------- pictures
def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bars(ax, labels, values, colors):
    pos = range(len(labels))
    rects = ax.barh(list(pos), values, color=colors)
    ax.set_yticks(list(pos), labels)
    ax.invert_yaxis()
    for r, v in zip(rects, values):
        ax.text(r.get_width(), r.get_y() + r.get_height() / 2, " {:,.0f}".format(v),
                va="center", fontsize=8)
    ax.margins(x=0.18)


def draw_throughput(plt, fig_, path):
    tp = [(k, lbl, c) for k, lbl, c in (
        ("a.gateway.acks", "(a) gateway acks/s", "tab:blue"),
        ("a.nginx.rps", "(a) nginx return 200 (ceiling)", "tab:gray"),
        ("b.drain_w1.rate", "(b) drain, 1 writer: rows/s", "tab:green"),
        ("b.drain_w2.rate", "(b) drain, 2 writers: rows/s", "tab:green"),
        ("b.copy.rate", "(b) psql \\copy (ceiling)", "tab:gray"),
        ("c.rate", "(c) end to end events/s", "tab:orange"),
        ("c.copy.rate", "(c) psql \\copy (ceiling)", "tab:gray"),
        ("c.gateway.acks", "(c) gateway acks/s during (c)", "tab:blue"),
        ("w.w1.rate", "(w) websocket, 1 writer: events/s", "tab:red"),
        ("w.w2.rate", "(w) websocket, 2 writers: events/s", "tab:red"),
    ) if k in fig_]
    if not tp:
        return False
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(tp) + 1.2))
    bars(ax, [t[1] for t in tp], [fig_[t[0]]["value"] for t in tp], [t[2] for t in tp])
    ax.set_xlabel("per second")
    ax.set_title("hookpipe throughput (bench/results.json)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def draw_latency(plt, fig_, path):
    lat = [(k, lbl) for k, lbl in (
        ("a.gateway", "(a) gateway, acks only"),
        ("a.nginx", "(a) nginx return 200"),
        ("c.gateway", "(c) gateway, end to end"),
    ) if k + ".p50" in fig_ and k + ".p99" in fig_]
    if not lat:
        return False
    fig, ax = plt.subplots(figsize=(8, 0.7 * len(lat) + 1.4))
    p = [(fig_[k + ".p50"]["value"], fig_[k + ".p99"]["value"]) for k, _ in lat]
    y = range(len(lat))
    ax.barh([i - 0.2 for i in y], [v[0] for v in p], height=0.4, label="p50")
    ax.barh([i + 0.2 for i in y], [v[1] for v in p], height=0.4, label="p99")
    for i, (a, b) in zip(y, p):
        ax.text(a, i - 0.2, " %.2f" % a, va="center", fontsize=8)
        ax.text(b, i + 0.2, " %.2f" % b, va="center", fontsize=8)
    ax.set_yticks(list(y), [lbl for _, lbl in lat])
    ax.invert_yaxis()
    ax.margins(x=0.15)
    ax.set_xlabel("ms (request sent to answer, wrk)")
    ax.set_title("hookpipe answer latency percentiles (bench/results.json)")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def draw_growth(plt, fig_, path):
    curves = [t for t in ("partitioned", "v1") if f"g.{t}.rates" in fig_]
    if not curves:
        return False
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for tag, style in zip(curves, ("-o", "-s")):
        rates = fig_[f"g.{tag}.rates"]["value"]
        step = fig_[f"g.{tag}.rates"]["settings"]["step_rows"]
        ax.plot([(i + 1) * step / 1e6 for i in range(len(rates))], rates, style, markersize=3,
                label=f"{tag} (last/first {fig_[f'g.{tag}.ratio']['value']:.2f})")
    step = fig_[f"g.{curves[0]}.rates"]["settings"]["step_rows"]
    ax.set_xlabel("rows in hookpipe.events (millions)")
    ax.set_ylabel(f"rows/s over each {step:,} rows")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title("hookpipe writer insert rate as the table grows (2 writers)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "results.json")
    if not path.endswith(".json"):  # a RESULTS.md: the results.json beside it
        path = os.path.join(os.path.dirname(os.path.abspath(path)), "results.json")
    outdir = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(path))
    data = results.load(path)
    if not any(by_id(data.get(k)) for k in ("bench", "standard", "openloop", "growth", "storage",
                                             "callgrind")):
        sys.exit(f"bench/plot.py: no figures in {path}")
    written = [os.path.join(outdir, "RESULTS.md")]
    with open(written[0], "w", encoding="utf-8") as f:
        f.write(results_md(data))
    plt = pyplot()
    for name, draw, section in (("throughput.png", draw_throughput, "bench"),
                                ("latency.png", draw_latency, "bench"),
                                ("growth.png", draw_growth, "growth")):
        if draw(plt, by_id(data.get(section)), os.path.join(outdir, name)):
            written.append(os.path.join(outdir, name))
    for w in written:
        print("bench/plot.py: wrote %s" % w)


if __name__ == "__main__":
    main()

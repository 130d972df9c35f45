#!/usr/bin/python3
"""bench/plot.py [RESULTS.md] [OUTDIR]: draws the benchmark figures as PNG files next to
RESULTS.md (or in OUTDIR) from its "Figures" table, so the pictures always show the
numbers of the committed run: throughput.png (requests, rows and events per second, with
the nginx and psql \\copy ceilings) and latency.png (p50/p99 of the gateway's answers, with
nginx's). bench/run calls it after each run. Needs python3-matplotlib.
"""

import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def figures(path):
    """{figure name: value text} of the Figures table."""
    out = {}
    with open(path) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 2 and re.match(r"\([a-z]\) ", cells[0]):
                out[cells[0]] = cells[1]
    return out


def number(text):
    return float(text.replace(",", "").split()[0])


def pair(text):
    """'0.72 / 1.70 ms' -> (0.72, 1.70)"""
    a, b = text.replace("ms", "").split("/")
    return float(a), float(b)


def bars(ax, labels, values, colors):
    pos = range(len(labels))
    rects = ax.barh(list(pos), values, color=colors)
    ax.set_yticks(list(pos), labels)
    ax.invert_yaxis()
    for r, v in zip(rects, values):
        ax.text(r.get_width(), r.get_y() + r.get_height() / 2, " {:,.0f}".format(v),
                va="center", fontsize=8)
    ax.margins(x=0.18)


def main():
    results = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "RESULTS.md")
    outdir = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(results))
    fig_ = figures(results)
    written = []

    tp = [(k, lbl, c) for k, lbl, c in (
        ("(a) gateway acks/s (default workers)", "(a) gateway acks/s", "tab:blue"),
        ("(a) nginx return 200 (ceiling) req/s", "(a) nginx return 200 (ceiling)", "tab:gray"),
        ("(b) drain, 1 writer(s): rows/s", "(b) drain, 1 writer: rows/s", "tab:green"),
        ("(b) drain, 2 writer(s): rows/s", "(b) drain, 2 writers: rows/s", "tab:green"),
        ("(b) psql \\copy (ceiling) rows/s", "(b) psql \\copy (ceiling)", "tab:gray"),
        ("(c) end to end events/s into PostgreSQL", "(c) end to end events/s", "tab:orange"),
        ("(c) psql \\copy of the same rows (ceiling) rows/s", "(c) psql \\copy (ceiling)",
         "tab:gray"),
        ("(c) gateway acks/s during it (wrk)", "(c) gateway acks/s during (c)", "tab:blue"),
    ) if k in fig_]
    if tp:
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(tp) + 1.2))
        bars(ax, [t[1] for t in tp], [number(fig_[t[0]]) for t in tp], [t[2] for t in tp])
        ax.set_xlabel("per second")
        ax.set_title("hookpipe throughput (bench/RESULTS.md)")
        fig.tight_layout()
        written.append(os.path.join(outdir, "throughput.png"))
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)

    lat = [(k, lbl) for k, lbl in (
        ("(a) gateway latency p50 / p99", "(a) gateway, acks only"),
        ("(a) nginx latency p50 / p99", "(a) nginx return 200"),
        ("(c) gateway latency p50 / p99", "(c) gateway, end to end"),
    ) if k in fig_]
    if lat:
        fig, ax = plt.subplots(figsize=(8, 0.7 * len(lat) + 1.4))
        p = [pair(fig_[k]) for k, _ in lat]
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
        ax.set_title("hookpipe answer latency percentiles (bench/RESULTS.md)")
        ax.legend(loc="upper right")
        fig.tight_layout()
        written.append(os.path.join(outdir, "latency.png"))
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    if not written:
        sys.exit("bench/plot.py: no figures found in %s" % results)
    for w in written:
        print("bench/plot.py: wrote %s" % w)


if __name__ == "__main__":
    main()

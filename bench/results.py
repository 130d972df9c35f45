"""bench/results.json: what bench/bench.py (parts a, h, b, c, w, d; s; o) and bench/growth.py
(part g) measured, one section each, written by them and read by bench/plot.py, which renders
bench/RESULTS.md and the PNGs from it. docs/benchmarks.md describes the schema:

    {"schema": 1,
     "bench":   SECTION,            parts a h b c w d (bench.py replaces it)
     "standard": SECTION,           part s (bench.py replaces it when it runs s)
     "openloop": SECTION,           part o (bench.py replaces it when it runs o)
     "growth":  SECTION,            part g (growth.py replaces it)
     "storage": SECTION,            part k (schema.py replaces it)
     "callgrind": SECTION,          instructions per request / row (callgrind.py --results)
     "labelled": {LABEL: SECTION},  part o with a setting that is not shipped, kept by hand:
                                    python3 bench/results.py label results.json LABEL other.json
     "history": [EARLIER, ...]}     earlier runs kept by hand (neither script touches it)

    SECTION = {"date", "mode" ("full" | "quick"), "git_commit", "git_dirty", "machine": {...},
               "settings": {...}, "figures": [FIGURE, ...], ...}
    FIGURE  = {"id", "value" (a number, or a list of numbers), "unit",
               "settings": {...} (what it was measured with, when not the section's),
               "target": "..." and "pass": true | false (when it has a target)}
"""

import datetime
import json
import os
import platform
import re
import subprocess

SCHEMA = 1


def figure(fid, value, unit, settings=None, target=None, ok=None):
    """One FIGURE: a measured (or derived) number with its unit; target and whether it was met."""
    f = {"id": fid, "value": value, "unit": unit}
    if settings:
        f["settings"] = settings
    if target is not None:
        f["target"] = target
    if ok is not None:
        f["pass"] = bool(ok)
    return f


def _out(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (r.stdout + r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _match(pattern, text):
    m = re.search(pattern, text, re.M)
    return m.group(1).strip() if m else "?"


def machine(pg_bin="/usr/lib/postgresql/15/bin"):
    """What the figures were measured on: CPU, cores, memory, OS, kernel and versions."""
    with open("/proc/cpuinfo") as f:
        cpu = _match(r"^model name\s*:\s*(.*)$", f.read())
    with open("/proc/meminfo") as f:
        mem_kb = int(_match(r"^MemTotal:\s*(\d+)", f.read()))
    with open("/etc/os-release") as f:
        os_name = _match(r'^PRETTY_NAME="?([^"\n]*)', f.read())
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1048576, 1),
        "os": os_name,
        "kernel": platform.release(),
        "gcc": _match(r"^(gcc.*)$", _out(["gcc", "--version"])),
        "libevent": _out(["dpkg-query", "-W", "-f", "${Version}", "libevent-dev"]) or "?",
        "hiredis": _out(["dpkg-query", "-W", "-f", "${Version}", "libhiredis-dev"]) or "?",
        "redis": _match(r"v=(\S+)", _out(["redis-server", "--version"])),
        "postgres": _match(r"\) (\S+)", _out([os.path.join(pg_bin, "postgres"), "--version"])),
        "nginx": _match(r"nginx/(\S+)", _out(["nginx", "-v"])),
        "wrk": _match(r"^wrk (\S+)", _out(["wrk", "-v"])),
    }


def load_average():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def run_facts(source_dir, quick):
    """date (UTC), mode and the git commit of the tree measured (dirty: with uncommitted
    changes)."""
    commit = _out(["git", "-C", source_dir, "rev-parse", "HEAD"])
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "quick" if quick else "full",
        "git_commit": commit if re.fullmatch(r"[0-9a-f]{40}", commit) else None,
        "git_dirty": bool(_out(["git", "-C", source_dir, "status", "--porcelain",
                                "--untracked-files=no"])),
    }


def load(path):
    """The results file as a dict ({} when it does not exist)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def save_section(path, name, section):
    """Replaces section name ("bench", "standard", "openloop", "growth", "storage" or
    "callgrind") of the results file, keeping the others."""
    data = load(path)
    data["schema"] = SCHEMA
    data[name] = section
    _write(path, data)


def add_labelled(path, label, other):
    """Keeps the "openloop" section of the results file other (a run with a setting that is
    not shipped: HOOKPIPE_BENCH_REDIS_ARGS, HOOKPIPE_BENCH_GATEWAY_SCHED) under
    "labelled" -> label in the results file path; RESULTS.md shows it apart."""
    data = load(path)
    section = load(other)["openloop"]
    data.setdefault("labelled", {})[label] = section
    _write(path, data)


def _write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 5 or sys.argv[1] != "label":
        sys.exit("usage: bench/results.py label RESULTS_JSON LABEL OTHER_RESULTS_JSON")
    add_labelled(sys.argv[2], sys.argv[3], sys.argv[4])

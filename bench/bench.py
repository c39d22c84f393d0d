"""corral's benchmark: corrald and supervisord 4.3.0 side by side, in one run.

Run it as `bench/run` (which installs the test dependencies first). See docs/PERFORMANCE.md.
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import traceback

import harness
import workloads

REPO = harness.REPO
RESULTS = os.path.join(harness.BENCH_DIR, "results")
DOC = os.path.join(REPO, "docs", "PERFORMANCE.md")
DOC_BEGIN = "<!-- bench:results:begin (bench/run --write-doc rewrites this part) -->"
DOC_END = "<!-- bench:results:end -->"

# --only names -> the scenario that produces them
SELECTORS = {
    "rss": "idle",
    "idle": "idle",
    "wakeups": "idle",
    "crash": "crash",
    "flood": "flood",
    "lines": "lines",
    "chatty": "chatty",
    "many": "many",
    "numprocs": "many",
    "rolling": "rolling",
    "health": "health",
    "metrics": "observe",
    "api": "observe",
    "observe": "observe",
    "events": "events",
    "scale": "scale",
}


class Figure:
    """One row of the table."""

    def __init__(self, key, scenario, workload, measure, unit, get, target, fmt="{:.1f}",
                 check=None, subject="corral"):
        self.subject = subject  # whose figure is compared with supervisord's
        self.key = key
        self.scenario = scenario
        self.workload = workload
        self.measure = measure
        self.unit = unit
        self.get = get  # result dict -> value
        self.target = target  # ("ratio", max) | ("abs", max) | None
        self.fmt = fmt
        self.check = check  # result dict -> (ok, note) correctness condition


def _rolling_note(c, s):
    parts = []
    if c.get("available"):
        parts.append(f"corral: {c['requests']} requests, `restart --rolling` took "
                     f"{c['restart_s']:.1f} s")
    if s and s.get("available"):
        errs = ", ".join(f"{k} {v}" for k, v in s["socket_errors"].items() if v)
        parts.append(f"supervisord: {s['requests']} requests, restart took "
                     f"{s['restart_s']:.1f} s, socket errors: {errs or 'none'}, "
                     f"non-2xx {s['non2xx']}")
    return "; ".join(parts)


def _health_check(r):
    if r.get("kind") != "corral":
        return True, "no checks (supervisord ignores the options)"
    want = HEALTH_CHECKS_MIN * r["window_s"]
    ok = r["checks"] >= want and r["healthy"] == workloads.HEALTH_PROGRAMS
    return ok, (f"{r['checks']} checks in {r['window_s']:.0f} s "
                f"({r['checks'] / r['window_s']:.0f}/s), {r['healthy']} of "
                f"{workloads.HEALTH_PROGRAMS} healthy")


# 100 checks a second are due; a check starts a second after the previous one ended.
HEALTH_CHECKS_MIN = 0.9 * 100


def _bytes_check(r):
    if r.get("bytes_ok"):
        return True, "every byte in order"
    return False, f"BYTES WRONG: {r.get('bytes')} landed"


def _streams_check(r):
    if "skipped" in r:
        return True, r["skipped"]
    if r.get("streams_ok"):
        return True, (f"{r['events']} events to each of {r['clients']} clients, none lost or "
                      f"duplicated, the same on every stream")
    return False, "STREAMS WRONG: " + "; ".join(r.get("problems", []))
def _scale(n, key, conv=None):
    """A figure of the scaling curve at n programs (None where that size did not finish)."""

    def get(r):
        v = r.get(str(n), {}).get(key)
        return conv(v) if conv is not None and v is not None else v

    return get


def _growth(key):
    """Per-process cost at 3000 programs over the cost at 1000."""

    def get(r):
        a, b = r.get("1000", {}).get(key), r.get("3000", {}).get(key)
        if a is None or b is None or not a:
            return None
        return (b / 3000) / (a / 1000)

    return get


def _rss_per_process(r):
    a, b = r.get("100", {}).get("rss_kb"), r.get("3000", {}).get("rss_kb")
    if a is None or b is None:
        return None
    return (b - a) / 2900


FIGURES = [
    Figure("rss", "idle", "50 idle programs", "daemon RSS", "MiB",
           lambda r: r["rss_kb"] / 1024, ("ratio", 0.20)),
    Figure("wakeups", "idle", "50 idle programs, 5 s", "daemon wake-ups (context switches)",
           "", lambda r: r["wakeups"], ("abs", 2), fmt="{:.0f}"),
    Figure("idle_cpu", "idle", "50 idle programs, 5 s", "daemon CPU (schedstat)", "ms",
           lambda r: r["sched_cpu_s"] * 1000, None, fmt="{:.2f}"),
    Figure("crash", "crash", "a program that crashes every 50 ms",
           "crash-to-respawn gap, median of 20", "ms", lambda r: r["gap_ms"], ("ratio", 0.02),
           fmt="{:.2f}"),
    Figure("flood", "flood", "one child writing 256 MiB to stdout", "daemon CPU", "s",
           lambda r: r["cpu_s"], ("ratio", 0.20), fmt="{:.2f}", check=_bytes_check),
    Figure("flood_floor_rw", "flood", "the same 256 MiB, no daemon: bare read/write loop",
           "CPU (the floor for any reader)", "s", lambda r: r["cpu_s"], None, fmt="{:.2f}",
           subject="floor-rw"),
    Figure("flood_floor_splice", "flood", "the same 256 MiB, no daemon: bare splice loop",
           "CPU (the floor with splice(2))", "s", lambda r: r["cpu_s"], None, fmt="{:.2f}",
           subject="floor-splice"),
    Figure("lines", "lines", "20 children × 20,000 one-line writes", "daemon CPU", "s",
           lambda r: r["cpu_s"], ("ratio", 0.20), fmt="{:.2f}", check=_bytes_check),
    Figure("lines_floor", "lines", "the same 20 children, no daemon: bare poll loop",
           "CPU (the floor: spawn + copy, read every 10 ms)", "s", lambda r: r["cpu_s"], None,
           fmt="{:.2f}", subject="floor-poll"),
    Figure("chatty", "chatty", "the same at 4,000 lines/s per child (5 s)", "daemon CPU", "s",
           lambda r: r["cpu_s"], ("ratio", 0.20), fmt="{:.2f}", check=_bytes_check),
    Figure("many_start", "many", "`numprocs=1000`", "time until all RUNNING", "s",
           lambda r: r["all_running_s"], ("ratio", 0.10), fmt="{:.3f}"),
    Figure("many_rpc", "many", "`numprocs=1000`", "`getAllProcessInfo` latency", "ms",
           lambda r: r["rpc_ms"], ("ratio", 0.10), fmt="{:.1f}"),
    Figure("many_status", "many", "`numprocs=1000`",
           "`corralctl status` / `supervisorctl status`", "ms", lambda r: r["status_ms"],
           ("ratio", 0.10), fmt="{:.0f}"),
    Figure("health_cpu", "health", "100 programs, `healthcheck_interval=1` (tcp), 30 s",
           "daemon CPU (schedstat)", "ms", lambda r: r["sched_cpu_s"] * 1000, None,
           fmt="{:.0f}", check=_health_check),
    Figure("health_wakeups", "health", "100 programs, `healthcheck_interval=1` (tcp), 30 s",
           "daemon wake-ups (context switches)", "", lambda r: r["wakeups"], None,
           fmt="{:.0f}"),
    Figure("metrics_ms", "observe", "`numprocs=1000`",
           "one `/metrics` scrape (supervisord: `getAllProcessInfo`), latency", "ms",
           lambda r: r["metrics_ms"], None, fmt="{:.1f}"),
    Figure("metrics_cpu", "observe", "`numprocs=1000`",
           "one `/metrics` scrape (supervisord: `getAllProcessInfo`), daemon CPU", "ms",
           lambda r: r["metrics_cpu_ms"], None, fmt="{:.1f}"),
    Figure("api_ms", "observe", "`numprocs=1000`",
           "`GET /api/v1/processes` (supervisord: `getAllProcessInfo`), latency", "ms",
           lambda r: r["api_ms"], None, fmt="{:.1f}"),
    Figure("api_cpu", "observe", "`numprocs=1000`",
           "`GET /api/v1/processes` (supervisord: `getAllProcessInfo`), daemon CPU", "ms",
           lambda r: r["api_cpu_ms"], None, fmt="{:.1f}"),
    Figure("events_cpu", "events", "100 processes flapping (one exit every 20 ms), 100 event "
           "stream clients, 10 s", "daemon CPU (supervisord: no event stream)", "s",
           lambda r: r.get("cpu_s"), None, fmt="{:.2f}", check=_streams_check),
    Figure("events_alone", "events", "the same flapping, no client attached, 10 s",
           "daemon CPU", "s", lambda r: r.get("cpu_alone_s"), None, fmt="{:.2f}"),
    *[
        f
        for n in (100, 1000, 3000)
        for f in (
            Figure(f"scale{n}_start", "scale", f"{n:,} programs, AUTO logs", "time until all RUNNING",
                   "s", _scale(n, "all_running_s"), ("ratio", 0.15) if n == 1000 else None,
                   fmt="{:.2f}"),
            Figure(f"scale{n}_latency", "scale", f"{n:,} programs, AUTO logs",
                   "worst `getState` latency while they start", "ms",
                   _scale(n, "probe_worst_ms"), ("abs", 100) if n == 3000 else None,
                   fmt="{:.0f}"),
            Figure(f"scale{n}_rpc", "scale", f"{n:,} programs, AUTO logs",
                   "`getAllProcessInfo` latency", "ms", _scale(n, "rpc_ms"), None, fmt="{:.1f}"),
            Figure(f"scale{n}_status", "scale", f"{n:,} programs, AUTO logs",
                   "`corralctl status` / `supervisorctl status`", "ms", _scale(n, "status_ms"),
                   None, fmt="{:.0f}"),
            Figure(f"scale{n}_rss", "scale", f"{n:,} programs, AUTO logs", "daemon RSS", "MiB",
                   _scale(n, "rss_kb", lambda v: v / 1024), ("ratio", 0.25) if n == 1000 else None,
                   fmt="{:.1f}"),
        )
    ],
    Figure("scale1000_floor", "scale", "the same 1,000 programs, no daemon: bare posix_spawn loop",
           "time until all spawned (the floor: 1000 spawns, 2000 log files)", "s",
           _scale(1000, "all_running_s"), None, fmt="{:.2f}", subject="floor-spawn"),
    Figure("scale_start_growth", "scale", "3,000 vs 1,000 programs",
           "start time per process, 3,000 / 1,000", "×", _growth("all_running_s"), ("abs", 1.3),
           fmt="{:.2f}"),
    Figure("scale_rpc_growth", "scale", "3,000 vs 1,000 programs",
           "`getAllProcessInfo` per process, 3,000 / 1,000", "×", _growth("rpc_ms"), ("abs", 1.3),
           fmt="{:.2f}"),
    Figure("scale_rss_per_process", "scale", "100 → 3,000 programs",
           "daemon RSS per added process", "KiB", _rss_per_process, ("abs", 4), fmt="{:.1f}"),
    Figure("rolling", "rolling", "rolling restart under `wrk`",
           "failed requests (socket errors + non-2xx)", "",
           lambda r: r["failed"], ("abs", 0), fmt="{:.0f}"),
]


# CPU figures are noisy on a small shared machine: these run --repeat times (alternating
# the daemons) and report the median.
REPEATED = {"flood", "lines", "chatty"}


def combine(runs):
    """One result from repeated runs: the median of each number, all() of each flag."""
    good = [r for r in runs if "error" not in r]
    if not good:
        return None
    if len(runs) == 1:
        return good[0]
    out = {}
    for k, v in good[0].items():
        vals = [r.get(k) for r in good]
        if isinstance(v, bool):
            out[k] = all(vals)
        elif isinstance(v, (int, float)) and all(isinstance(x, (int, float)) for x in vals):
            out[k] = statistics.median(vals)
        else:
            out[k] = v
    out["runs"] = runs
    return out


def sh(argv, **kw):
    try:
        return subprocess.run(argv, capture_output=True, text=True, **kw).stdout.strip()
    except OSError:
        return ""


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = harness.status_kb("self", "VmRSS")  # placeholder, replaced below
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    virt = []
    m = re.search(r"Hypervisor vendor:\s*(\S+)", sh(["lscpu"]))
    if m:
        virt.append(f"{m.group(1)} guest")
    container = sh(["systemd-detect-virt", "--container"])
    if container and container != "none":
        virt.append(f"in a {container} container")
    virt = ", ".join(virt)
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "virtualization": virt,
        "python": platform.python_version(),
        "supervisord": sh([os.path.join(harness.VENV_BIN, "supervisord"), "--version"]),
        "rustc": sh(["rustc", "--version"]),
        "filesystem": tmp_filesystem(),
    }


def tmp_filesystem():
    """The file system the daemons' temp dirs (and so their logs) live on, and what
    creating a file there costs (rotation creates one)."""
    import tempfile

    tmp = os.path.realpath(tempfile.gettempdir())
    best = ("", "?", "?")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            mnt = left.split()[4]
            fstype, source = right.split()[:2]
            if (tmp == mnt or tmp.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best[0]):
                best = (mnt, fstype, source)
    mnt, fstype, source = best
    desc = f"{tmp} on {fstype} ({source})"
    if fstype == "ext4":
        try:
            with open(f"/sys/fs/ext4/{os.path.basename(source)}/journal_task") as f:
                if f.read().strip() == "<none>":
                    desc += ", no journal"
        except OSError:
            pass
    d = tempfile.mkdtemp(prefix="corral-bench-fs-")
    try:
        t = time.process_time()
        for i in range(100):
            os.close(os.open(f"{d}/f{i}", os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644))
        create_us = (time.process_time() - t) / 100 * 1e6
    finally:
        for i in range(100):
            try:
                os.unlink(f"{d}/f{i}")
            except OSError:
                pass
        os.rmdir(d)
    return {"tmp": desc, "create_us": round(create_us, 1)}


def git_rev():
    rev = sh(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"])
    return rev + ("+dirty" if dirty else "")


def build(args):
    if args.bin_dir:
        return os.path.abspath(args.bin_dir)
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
    print(f"building release binaries (target dir {target}) ...", flush=True)
    subprocess.run(
        ["cargo", "build", "--release", "-p", "corrald", "-p", "corralctl"],
        cwd=REPO,
        check=True,
        env={**os.environ, "CARGO_TARGET_DIR": target},
    )
    return os.path.join(target, "release")


def evaluate(fig, c, s):
    """value_corral, value_supervisord, ratio, status, note."""
    note = ""
    if c is None or s is None:
        return None, None, None, "ERROR", "workload failed"
    if fig.scenario == "rolling" and not c.get("available", True):
        sv = fig.get(s) if s.get("available", True) else None
        return None, sv, None, "N/A", f"not available yet: {c.get('missing')}"
    if fig.scenario == "rolling" and c.get("restart_rc"):
        note = f"corralctl restart --rolling failed: {c.get('restart_out')}"
        return fig.get(c), fig.get(s), None, "ERROR", note
    cv, sv = fig.get(c), fig.get(s)
    ratio = cv / sv if sv and cv is not None else None
    ok = True
    if fig.target is None:
        status = "—"
    else:
        kind, limit = fig.target
        value = ratio if kind == "ratio" else cv
        ok = value is not None and value <= limit + 1e-12
        status = "PASS" if ok else "MISS"
    if fig.scenario == "rolling":
        note = _rolling_note(c, s)
    if fig.check:
        cok, cnote = fig.check(c)
        sok, snote = fig.check(s)
        note = "corral: " + cnote
        if not sok:
            note += "; supervisord: " + snote
        if not cok:
            status = "FAIL"
    return cv, sv, ratio, status, note


def target_text(fig):
    if fig.target is None:
        return "(reported)"
    kind, limit = fig.target
    if kind == "ratio":
        return f"≤ {limit * 100:.0f} %"
    return f"≤ {limit:g}" if limit else "0"


def fmt_value(fig, v):
    if v is None:
        return "—"
    s = fig.fmt.format(v)
    return f"{s} {fig.unit}".strip()


def fmt_ratio(r):
    if r is None:
        return "—"
    if r < 0.001:
        return f"{r * 100:.3f} %"
    if r < 0.1:
        return f"{r * 100:.2f} %"
    return f"{r * 100:.1f} %"


def table_rows(results):
    rows = []
    for fig in FIGURES:
        if fig.scenario not in results:
            continue
        pair = results[fig.scenario]
        if fig.subject not in pair:
            continue
        cv, sv, ratio, status, note = evaluate(fig, pair.get(fig.subject), pair.get("supervisord"))
        rows.append({
            "corral_text": fmt_value(fig, cv),
            "supervisord_text": fmt_value(fig, sv),
            "ratio_text": fmt_ratio(ratio),
            "key": fig.key,
            "workload": fig.workload,
            "measure": fig.measure,
            "unit": fig.unit,
            "corral": cv,
            "supervisord": sv,
            "ratio": ratio,
            "target": target_text(fig),
            "status": status,
            "note": note,
            "_fig": fig,
        })
    return rows


def print_table(rows):
    headers = ["workload", "measure", "corral", "supervisord", "corral/sd", "target", ""]
    body = [
        [r["workload"], r["measure"], r["corral_text"], r["supervisord_text"],
         r["ratio_text"], r["target"], r["status"]]
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(headers, *body)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    print()
    print(line)
    print("-" * len(line))
    for b in body:
        print("  ".join(x.ljust(w) for x, w in zip(b, widths)))
    for r in rows:
        if r["note"] and r["status"] not in ("PASS", "—"):
            print(f"  {r['key']}: {r['note']}")


def markdown(rows, meta):
    m = meta["machine"]
    out = [
        f"Run {meta['date']} at commit `{meta['commit']}` with `bench/run`:",
        f"{m['cpu']}, {m['cores']} cores{' (' + m['virtualization'] + ')' if m['virtualization'] else ''}, "
        f"{m['memory_gib']} GiB, Linux {m['kernel']}; {m['supervisord'] and 'supervisord ' + m['supervisord']}, "
        f"Python {m['python']}, {m['rustc']}. Logs in {m['filesystem']['tmp']}; creating a "
        f"file there costs {m['filesystem']['create_us']:.0f} µs of CPU.",
        "",
        "| workload | measure | corral | supervisord | corral / supervisord | target | |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        when = f" ({r['from']})" if r.get("from") else ""
        out.append(
            f"| {r['workload']} | {r['measure']} | {r['corral_text']} | "
            f"{r['supervisord_text']} | {r['ratio_text']} | {r['target']} | "
            f"{r['status']}{when} |"
        )
    notes = [f"- {r['workload']}, {r['measure']}: {r['note']}" for r in rows if r["note"]]
    if notes:
        out += [""] + notes
    return "\n".join(out) + "\n"


def write_doc(md):
    if os.path.exists(DOC):
        text = open(DOC).read()
    else:
        text = f"# Performance\n\n{DOC_BEGIN}\n{DOC_END}\n"
    if DOC_BEGIN not in text or DOC_END not in text:
        text += f"\n{DOC_BEGIN}\n{DOC_END}\n"
    pre = text[: text.index(DOC_BEGIN) + len(DOC_BEGIN)]
    post = text[text.index(DOC_END):]
    with open(DOC, "w") as f:
        f.write(pre + "\n" + md + post)
    print(f"wrote the table into {os.path.relpath(DOC, REPO)}")


def main():
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    p.add_argument("--only", help="comma-separated subset: " + ",".join(SELECTORS))
    p.add_argument("--write-doc", action="store_true",
                   help="write the figures table into docs/PERFORMANCE.md")
    p.add_argument("--bin-dir", default=os.environ.get("CORRAL_BENCH_BIN_DIR"),
                   help="use prebuilt corrald/corralctl from DIR instead of building "
                        "(env CORRAL_BENCH_BIN_DIR)")
    p.add_argument("--daemons", default="corral,supervisord",
                   help="which daemons to run (default both)")
    p.add_argument("--repeat", type=int, default=3,
                   help="runs of the CPU workloads (flood, lines, chatty); the median is "
                        "reported")
    p.add_argument("--keep", action="store_true", help="keep the daemons' temp dirs")
    p.add_argument("--perf", metavar="DIR",
                   help="profile the daemons with perf record during the CPU windows of "
                        "flood and lines, into DIR (the figures then include perf's overhead)")
    p.add_argument("--output", default=os.path.join(RESULTS, "latest.json"))
    args = p.parse_args()
    if args.keep:
        os.environ["CORRAL_BENCH_KEEP"] = "1"
    if args.perf:
        os.environ["CORRAL_BENCH_PERF"] = os.path.abspath(args.perf)

    if args.only:
        wanted = []
        for name in args.only.split(","):
            name = name.strip()
            if name not in SELECTORS:
                p.error(f"unknown workload {name!r}; choose from {', '.join(SELECTORS)}")
            if SELECTORS[name] not in wanted:
                wanted.append(SELECTORS[name])
        scenarios = [s for s in workloads.WORKLOADS if s in wanted]
    else:
        scenarios = list(workloads.WORKLOADS)
    daemons = [d.strip() for d in args.daemons.split(",")]

    bins = build(args)
    for exe in ("corrald", "corralctl"):
        if not os.access(os.path.join(bins, exe), os.X_OK):
            sys.exit(f"bench: no {exe} in {bins}")
    meta = {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "commit": git_rev(),
        "machine": machine(),
        "bin_dir": bins,
    }
    print(f"machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, "
          f"Linux {meta['machine']['kernel']}; commit {meta['commit']}; logs in "
          f"{meta['machine']['filesystem']['tmp']} (file create "
          f"{meta['machine']['filesystem']['create_us']:.0f} µs)")

    results = {}
    for scen in scenarios:
        extras = workloads.EXTRA_SUBJECTS.get(scen, {}) if len(daemons) > 1 else {}
        subjects = daemons + list(extras)
        runs = {kind: [] for kind in subjects}
        reps = args.repeat if scen in REPEATED else 1
        for rep in range(reps):
            for kind in subjects:
                busy = harness.machine_busy(0.5)
                tag = f" (run {rep + 1}/{reps})" if reps > 1 else ""
                print(f"{scen}: {kind}{tag} ...", end="", flush=True)
                t = time.monotonic()
                try:
                    if kind in extras:
                        r = extras[kind](bins)
                    else:
                        r = workloads.WORKLOADS[scen](kind, bins)
                except Exception as e:  # one workload failing must not sink the run
                    traceback.print_exc()
                    r = {"error": f"{type(e).__name__}: {e}"}
                r["machine_busy_before"] = round(busy, 3)
                runs[kind].append(r)
                warn = f"  (machine {busy:.0%} busy before it)" if busy > 0.25 else ""
                print(f" {time.monotonic() - t:.1f}s{warn}", flush=True)
        results[scen] = {kind: combine(rs) for kind, rs in runs.items()}
    raw = results

    if len(daemons) < 2:
        print(json.dumps(raw, indent=1, default=str))
        return 0
    rows = table_rows(results)
    print_table(rows)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    doc = {
        **meta,
        "figures": [{k: v for k, v in r.items() if k != "_fig"} for r in rows],
        "raw": raw,
    }
    # With --only, keep the figures of the previous run for the workloads not rerun now
    # (marked with that run's date in the doc).
    if args.only and os.path.exists(args.output):
        try:
            old = json.load(open(args.output))
            fresh = {r["key"] for r in rows}
            kept = {}
            for f in old.get("figures", []):
                if f["key"] not in fresh:
                    f.setdefault("from", f"run of {old.get('date')}, {old.get('commit')}")
                    kept[f["key"]] = f
            merged = {**kept, **{f["key"]: f for f in doc["figures"]}}
            order = [fig.key for fig in FIGURES]
            doc["figures"] = sorted(merged.values(), key=lambda f: order.index(f["key"])
                                    if f["key"] in order else len(order))
            doc["raw"] = {**old.get("raw", {}), **raw}
        except (OSError, ValueError, KeyError):
            pass
    with open(args.output, "w") as f:
        json.dump(doc, f, indent=1, default=str)
    print(f"\nwrote {os.path.relpath(args.output, REPO)}")
    if args.write_doc:
        write_doc(markdown(doc["figures"], meta))
    return 1 if any(r["status"] in ("FAIL", "ERROR") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

"""The workloads. Each function runs one daemon kind through one workload and returns a
dict of raw measurements; bench.py turns pairs of them into the figures table.

Every workload follows the same rules for both daemons: the same config body (except where
the workload is about a corral feature), its own temp dir and unix socket, CPU read from
/proc/PID/stat exactly at the start and end of the workload window, and the daemon driven
over XML-RPC with one call to start the window (no polling RPC inside a CPU window:
completion is watched on the file system and in the main log).
"""

import hashlib
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

import harness
from harness import Daemon, wait_until

sys.path.insert(0, os.path.join(harness.BENCH_DIR, "children"))
import pattern  # noqa: E402

CHILDREN = os.path.join(harness.BENCH_DIR, "children")


# ---------------------------------------------------------------------------------------
# 50 idle programs: RSS, wake-ups and CPU while idle

IDLE_PROGRAMS = 50
IDLE_WINDOW = 5.0


def idle(kind, bins):
    body = "".join(
        f"[program:idle{i:02d}]\ncommand=/bin/sleep 1000000\n\n" for i in range(IDLE_PROGRAMS)
    )
    with Daemon(kind, bins, body) as d:
        d.start()
        d.wait_socket()
        wait_until(
            lambda: d.count_log("entered RUNNING") >= IDLE_PROGRAMS,
            60,
            what="50 programs RUNNING",
        )
        d.remember_children()
        time.sleep(2.0)  # let start-up work settle
        rss = d.rss_kb()
        c0, cpu0, s0 = d.ctxt(), d.cpu(), d.sched()
        t0 = time.monotonic()
        time.sleep(IDLE_WINDOW)
        c1, cpu1, s1 = d.ctxt(), d.cpu(), d.sched()
        elapsed = time.monotonic() - t0
        return {
            "rss_kb": rss,
            "window_s": elapsed,
            "wakeups": (c1["voluntary"] - c0["voluntary"])
            + (c1["nonvoluntary"] - c0["nonvoluntary"]),
            "voluntary": c1["voluntary"] - c0["voluntary"],
            "nonvoluntary": c1["nonvoluntary"] - c0["nonvoluntary"],
            "threads": c1["threads"],
            "cpu_s": cpu1 - cpu0,
            "sched_cpu_s": (s1 - s0) / 1e9,
        }


# ---------------------------------------------------------------------------------------
# a program that crashes every 50 ms: crash-to-respawn gap

CRASH_GAPS = 20

# The child stamps its first and last moment with bash's $EPOCHREALTIME (microseconds, no
# fork), so the gap between one run's "end" and the next run's "start" is the whole time the
# program was down: the daemon noticing the exit, deciding, forking and exec'ing. The stamps
# go to a file, not stdout: output on its pipes wakes supervisord's loop, which then often
# respawns at once; a program that dies without a word waits for its 1 s poll (measured:
# 1003-1008 ms silent, 1-7 ms or ~1 s when it writes just before exiting).
CRASH_BODY = """\
[program:crash]
command=/bin/bash -c 'echo "start $EPOCHREALTIME" >> %(here)s/stamps; sleep 0.05; echo "end $EPOCHREALTIME" >> %(here)s/stamps; exit 3'
autorestart=true
startsecs=0
startretries=3
"""


def crash(kind, bins):
    with Daemon(kind, bins, CRASH_BODY) as d:
        d.start()
        d.wait_socket()
        need = CRASH_GAPS + 2
        wait_until(
            lambda: d.count_log("spawned: 'crash'") >= need,
            need * 2 + 30,
            interval=0.1,
            what=f"{need} spawns of 'crash'",
        )
        d.remember_children()
        # main-log view: "exited: crash" -> next "spawned: 'crash'"
        log_gaps = []
        exited_at = None
        for t, _, msg in d.log():
            if msg.startswith("exited: crash "):
                exited_at = t
            elif msg.startswith("spawned: 'crash'") and exited_at is not None:
                log_gaps.append(t - exited_at)
                exited_at = None
        # the program's view
        child_gaps = []
        last_end = None
        with open(os.path.join(d.dir, "stamps")) as f:
            for line in f:
                word, _, stamp = line.strip().partition(" ")
                if word == "end":
                    last_end = float(stamp)
                elif word == "start" and last_end is not None:
                    child_gaps.append(float(stamp) - last_end)
                    last_end = None
        log_gaps = log_gaps[:CRASH_GAPS]
        child_gaps = child_gaps[:CRASH_GAPS]
        if len(child_gaps) < CRASH_GAPS:
            raise RuntimeError(f"only {len(child_gaps)} crash gaps recorded")
        return {
            "gap_ms": statistics.median(child_gaps) * 1000,
            "gap_ms_all": [round(g * 1000, 3) for g in child_gaps],
            "mainlog_gap_ms": statistics.median(log_gaps) * 1000 if log_gaps else None,
            "mainlog_gap_ms_all": [round(g * 1000, 1) for g in log_gaps],
        }


# ---------------------------------------------------------------------------------------
# log capture: one 256 MiB flood, and 20 chatty children

FLOOD_MAXBYTES = 32 * 1024 * 1024  # with backups=10 (the default), keeps all 256 MiB
FLOOD_BODY = f"""\
[program:flood]
command=%(python)s %(bench)s/children/flood.py {pattern.FLOOD_BYTES}
autostart=false
autorestart=false
startsecs=0
stdout_logfile=%(here)s/logs/flood.log
stdout_logfile_maxbytes={FLOOD_MAXBYTES}
stdout_logfile_backups=10
stderr_logfile=%(here)s/logs/flood.err
"""

_flood_digest = None


def _digest(paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            while True:
                b = f.read(1 << 22)
                if not b:
                    break
                h.update(b)
    return h.hexdigest()


def _capture_window(d, start_call, expected_bytes, log_paths, exits, timeout):
    """Start children with one RPC call; wait until `exits` of them have exited and every
    expected byte is on disk; return (cpu seconds, schedstat seconds, wall seconds)."""
    time.sleep(1.0)  # let start-up work settle
    prof = harness.Profiler(d, start_call[1])
    cpu0, s0 = d.cpu(), d.sched()
    t0 = time.monotonic()
    d.rpc(*start_call)
    deadline = time.monotonic() + timeout
    while True:
        size = harness.total_size(log_paths())
        if size >= expected_bytes and d.count_log("exited: ") >= exits:
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    cpu1, s1 = d.cpu(), d.sched()
    wall = time.monotonic() - t0
    prof.stop()
    # Data still arriving after the window would be missed by the figure: give it a moment
    # so the byte check sees it (it then fails the byte check rather than hiding).
    time.sleep(0.5)
    return cpu1 - cpu0, (s1 - s0) / 1e9, wall


def flood(kind, bins):
    global _flood_digest
    if _flood_digest is None:
        _flood_digest = pattern.flood_digest()
    with Daemon(kind, bins, FLOOD_BODY) as d:
        d.start()
        d.wait_socket()
        path = os.path.join(d.dir, "logs", "flood.log")
        cpu, sched, wall = _capture_window(
            d,
            ("supervisor.startProcess", "flood", False),
            pattern.FLOOD_BYTES,
            lambda: harness.rotated_files(path),
            1,
            300,
        )
        files = harness.rotated_files(path)
        sizes = [os.path.getsize(p) for p in files]
        ok = sum(sizes) == pattern.FLOOD_BYTES and _digest(files) == _flood_digest
        return {
            "cpu_s": cpu,
            "sched_cpu_s": sched,
            "wall_s": wall,
            "bytes_ok": ok,
            "bytes": sum(sizes),
            "files": len(files),
            "rotated_sizes": sorted(set(sizes[:-1])),
        }


def flood_floor(mode):
    """The same 256 MiB through a bare loop (children/floor.py): what moving it into a
    file costs with no daemon around it. mode: 'rw' (read/write) or 'splice'."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory(prefix="corral-bench-floor-") as d:
        out = subprocess.run(
            [harness.PYTHON, os.path.join(CHILDREN, "floor.py"), mode,
             os.path.join(d, "out.log"), str(pattern.FLOOD_BYTES)],
            capture_output=True, text=True, check=True, timeout=300,
        )
    r = json.loads(out.stdout)
    r["bytes_ok"] = r["bytes"] == pattern.FLOOD_BYTES
    return r


LINES_PROCS = 20
# supervisord's default maxbytes (50MB): 820 KB per child never rotates. Rotation is the
# flood's business; here a rotation would mostly measure the file system creating the new
# file (see docs/PERFORMANCE.md), not the per-line cost this workload is about.
LINES_MAXBYTES = 50 * 1024 * 1024
LINES_BODY = f"""\
[program:lines]
command=%(python)s %(bench)s/children/lines.py %(process_num)d {pattern.LINES}%(rate)s
process_name=lines%(process_num)02d
numprocs={LINES_PROCS}
autostart=false
autorestart=false
startsecs=0
stdout_logfile=%(here)s/logs/lines%(process_num)02d.log
stdout_logfile_maxbytes={LINES_MAXBYTES}
stdout_logfile_backups=10
stderr_logfile=%(here)s/logs/lines%(process_num)02d.err
"""


# The chatty variant: each child writes its lines at this rate (20,000 lines in 5 s), the
# way a busy service logs, instead of as fast as it can.
CHATTY_RATE = 4000


def lines(kind, bins, rate=None):
    expected = {k: pattern.lines_stream(k) for k in range(LINES_PROCS)}
    total = sum(len(v) for v in expected.values())
    body = LINES_BODY.replace("%(rate)s", f" {rate}" if rate else "")
    with Daemon(kind, bins, body) as d:
        d.start()
        d.wait_socket()
        logs = os.path.join(d.dir, "logs")

        def paths():
            out = []
            for k in range(LINES_PROCS):
                out += harness.rotated_files(os.path.join(logs, f"lines{k:02d}.log"))
            return out

        cpu, sched, wall = _capture_window(
            d, ("supervisor.startProcessGroup", "lines", False), total, paths, LINES_PROCS, 300
        )
        bad = []
        landed = 0
        for k in range(LINES_PROCS):
            data = b"".join(
                open(p, "rb").read()
                for p in harness.rotated_files(os.path.join(logs, f"lines{k:02d}.log"))
            )
            landed += len(data)
            if data != expected[k]:
                bad.append(k)
        return {
            "cpu_s": cpu,
            "sched_cpu_s": sched,
            "wall_s": wall,
            "bytes_ok": not bad,
            "bytes": landed,
            "expected_bytes": total,
            "bad_children": bad,
        }


# ---------------------------------------------------------------------------------------
# numprocs=1000

MANY = 1000
MANY_BODY = f"""\
[program:many]
command=/bin/sleep 1000000
process_name=many%(process_num)04d
numprocs={MANY}
startsecs=0
autorestart=false
redirect_stderr=true
stdout_logfile=NONE
"""
RPC_SAMPLES = 20
STATUS_SAMPLES = 10


def many(kind, bins):
    with Daemon(kind, bins, MANY_BODY, minfds=10000) as d:
        d.start()
        wait_until(
            lambda: d.count_log("entered RUNNING") >= MANY,
            300,
            interval=0.1,
            what=f"{MANY} programs RUNNING",
        )
        running = [t for t, _, m in d.log() if "entered RUNNING" in m]
        all_running = max(running) - d.t_start
        d.remember_children()
        d.wait_socket()
        time.sleep(1.0)
        body = d.rpc_raw("supervisor.getAllProcessInfo")
        names = len(re.findall(rb"<name>name</name>", body))
        if names != MANY:
            raise RuntimeError(f"getAllProcessInfo returned {names} processes")
        rpc = []
        for _ in range(RPC_SAMPLES):
            t = time.perf_counter()
            d.rpc_raw("supervisor.getAllProcessInfo")
            rpc.append(time.perf_counter() - t)
        status = []
        for _ in range(STATUS_SAMPLES):
            argv = d.ctl_argv("status")
            t = time.perf_counter()
            r = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL)
            status.append(time.perf_counter() - t)
            lines_out = r.stdout.count(b"RUNNING")
            if lines_out != MANY:
                raise RuntimeError(f"status printed {lines_out} RUNNING lines (rc {r.returncode})")
        return {
            "all_running_s": all_running,
            "rpc_ms": statistics.median(rpc) * 1000,
            "rpc_ms_all": [round(x * 1000, 2) for x in rpc],
            "status_ms": statistics.median(status) * 1000,
            "status_ms_all": [round(x * 1000, 1) for x in status],
        }


# ---------------------------------------------------------------------------------------
# rolling restart under wrk

GUNICORN = os.path.join(harness.VENV_BIN, "gunicorn")
GUNICORN_ARGS = f"--workers 2 --graceful-timeout 5 --chdir {CHILDREN} app:app"
WRK_SECONDS = 12
RESTART_AT = 3.0


def rolling_missing(d):
    """What is missing for `corralctl restart --rolling` (being built), or None. Asked of
    the running daemon (corral.rollingRestart in system.listMethods) and of corralctl: with
    no name, a corralctl that knows the flag prints its usage, an older one takes
    `--rolling` for a process name and finds no such process (restarting nothing)."""
    missing = []
    if "corral.rollingRestart" not in d.rpc("system.listMethods"):
        missing.append("corrald has no corral.rollingRestart")
    r = d.ctl("restart", "--rolling")
    if "no such process" in (r.stdout + r.stderr):
        missing.append("corralctl has no `restart --rolling`")
    return "; ".join(missing) or None


def _wrk_counts(out):
    # wrk prints the socket errors line only when there are some.
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups() if m else (0,) * 4)))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = int(m.group(1)) if m else 0
    m = re.search(r"(\d+) requests in", out)
    requests = int(m.group(1)) if m else 0
    return errors, non2xx, requests


def rolling(kind, bins):
    port = harness.free_port()
    if kind == "corral":
        # Gunicorn takes the socket from LISTEN_FDS by itself. Adding `--bind fd://3` makes
        # Gunicorn 23 open fd 3 twice (once per source), closing it after the first: EBADF.
        body = f"""\
[socket:web]
listen=tcp://127.0.0.1:{port}

[program:web]
command={GUNICORN} {GUNICORN_ARGS}
sockets=web
readiness=notify
stopwaitsecs=15
redirect_stderr=true
stdout_logfile=%(here)s/logs/web.log
"""
        restart = ("restart", "--rolling", "web")
    else:
        body = f"""\
[program:web]
command={GUNICORN} --bind 127.0.0.1:{port} {GUNICORN_ARGS}
stopwaitsecs=15
redirect_stderr=true
stdout_logfile=%(here)s/logs/web.log
"""
        restart = ("restart", "web")
    url = f"http://127.0.0.1:{port}/"

    def answers():
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    with Daemon(kind, bins, body) as d:
        d.start()
        d.wait_socket()
        if kind == "corral":
            missing = rolling_missing(d)
            if missing:
                return {"available": False, "missing": missing}
        wait_until(answers, 60, interval=0.1, what="the web app answering")
        wait_until(
            lambda: d.count_log("entered RUNNING") >= 1, 60, what="web RUNNING"
        )
        d.remember_children()
        wrk = subprocess.Popen(
            ["wrk", "-t2", "-c16", f"-d{WRK_SECONDS}s", "--timeout", "5s", url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            time.sleep(RESTART_AT)
            t = time.monotonic()
            r = d.ctl(*restart, timeout=120)
            restart_s = time.monotonic() - t
            out, _ = wrk.communicate(timeout=WRK_SECONDS + 60)
        finally:
            if wrk.poll() is None:
                os.killpg(wrk.pid, 9)
                wrk.wait()
        d.remember_children()
        errors, non2xx, requests = _wrk_counts(out)
        return {
            "available": True,
            "failed": sum(errors.values()) + non2xx,
            "socket_errors": errors,
            "non2xx": non2xx,
            "requests": requests,
            "restart_s": restart_s,
            "restart_rc": r.returncode,
            "restart_out": (r.stdout + r.stderr).strip()[-500:],
            "wrk": out,
        }


# Extra subjects run beside the two daemons in a scenario.
EXTRA_SUBJECTS = {
    "flood": {
        "floor-rw": lambda bins: flood_floor("rw"),
        "floor-splice": lambda bins: flood_floor("splice"),
    },
    "lines": {
        "floor-poll": lambda bins: lines_floor(0.010),
    },
}

def lines_floor(pause):
    """The lines workload with no daemon: a bare poll loop copying the 20 pipes into files
    (children/linesfloor.py), reading every `pause` seconds."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory(prefix="corral-bench-floor-") as d:
        out = subprocess.run(
            [harness.PYTHON, os.path.join(CHILDREN, "linesfloor.py"), d, str(pause)],
            capture_output=True, text=True, check=True, timeout=300,
        )
    return json.loads(out.stdout)


def chatty(kind, bins):
    return lines(kind, bins, rate=CHATTY_RATE)


WORKLOADS = {
    "idle": idle,
    "crash": crash,
    "flood": flood,
    "lines": lines,
    "chatty": chatty,
    "many": many,
    "rolling": rolling,
}

"""The workloads. Each function runs one daemon kind through one workload and returns a
dict of raw measurements; bench.py turns pairs of them into the figures table.

Every workload follows the same rules for both daemons: the same config body (except where
the workload is about a corral feature), its own temp dir and unix socket, CPU read from
/proc/PID/stat exactly at the start and end of the workload window, and the daemon driven
over XML-RPC with one call to start the window (no polling RPC inside a CPU window:
completion is watched on the file system and in the main log).
"""

import hashlib
import json
import os
import re
import selectors
import socket
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
# the scaling curve: 100, 1000, 3000 programs with default (AUTO) logs

SCALE_SIZES = (100, 1000, 3000)
# supervisord at 3000 takes minutes; past this it is reported as not finished.
SCALE_TIMEOUT = {100: 120, 1000: 300, 3000: 300}
SCALE_PROBE_EVERY = 0.01  # seconds between one control-plane probe's answer and the next
SCALE_SETTLE = 2.0


def scale_body(n):
    # Defaults for the logs: two AUTO files per process, three pipes per process.
    return f"""\
[program:scale]
command=/bin/sleep 1000000
process_name=scale%(process_num)04d
numprocs={n}
startsecs=0
autorestart=false
"""


def scale_minfds(n):
    """Enough descriptors for either daemon: three pipe ends and two log files per
    process, and some to spare (supervisord raises its soft limit only to minfds)."""
    return max(1024, 5 * n + 256)


class LatencyProbe:
    """A thread sending `supervisor.getState` over a raw unix-socket request, one after
    another with SCALE_PROBE_EVERY between an answer and the next request, from the moment
    the daemon's socket exists until stopped: the latency of each (the time from connect
    to the last byte of the answer; a connection the daemon does not accept yet waits in
    the socket's backlog and counts)."""

    def __init__(self, d):
        import threading

        self.d = d
        self.samples = []  # (seconds since daemon start, latency seconds)
        self.errors = 0
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop_ev.is_set() and not os.path.exists(self.d.sock):
            time.sleep(0.002)
        while not self.stop_ev.is_set():
            t = time.perf_counter()
            when = time.time() - self.d.t_start
            try:
                self.d.rpc_raw("supervisor.getState", timeout=600)
                self.samples.append((when, time.perf_counter() - t))
            except OSError:
                self.errors += 1
            self.stop_ev.wait(SCALE_PROBE_EVERY)

    def stop(self):
        self.stop_ev.set()
        self.thread.join(700)


def scale_one(kind, bins, n):
    # On tmpfs where there is one: creating the 2n log files on the ext4 /tmp of the
    # machine this was written on costs 30 µs to over 1 ms of CPU each, depending on how
    # many files anyone deleted lately (ext4 without a journal skips recently deleted
    # inodes, find_inode_bit -> recently_deleted): 80 % of corrald's CPU in a profiled run,
    # and a random amount for both daemons. The curve is about the daemons.
    with Daemon(kind, bins, scale_body(n), minfds=scale_minfds(n),
                tmpdir=harness.tmpfs_dir()) as d:
        d.start()
        probe = LatencyProbe(d)
        try:
            finished = True
            try:
                wait_until(
                    lambda: d.count_log("entered RUNNING") >= n,
                    SCALE_TIMEOUT[n],
                    interval=0.1,
                    what=f"{n} programs RUNNING",
                )
            except TimeoutError:
                finished = False
        finally:
            probe.stop()
        cpu = d.cpu()
        d.remember_children()
        if not finished:
            return {"n": n, "finished": False, "timeout_s": SCALE_TIMEOUT[n],
                    "running": d.count_log("entered RUNNING")}
        running = [t for t, _, m in d.log() if "entered RUNNING" in m]
        all_running = max(running) - d.t_start
        lat = [x for _, x in probe.samples]
        worst = max(probe.samples, key=lambda s: s[1]) if probe.samples else (None, None)
        time.sleep(SCALE_SETTLE)
        rss = d.rss_kb()
        d.wait_socket()
        rpc = []
        for _ in range(RPC_SAMPLES // 2):
            t = time.perf_counter()
            body = d.rpc_raw("supervisor.getAllProcessInfo")
            rpc.append(time.perf_counter() - t)
        names = len(re.findall(rb"<name>name</name>", body))
        if names != n:
            raise RuntimeError(f"getAllProcessInfo returned {names} processes")
        status = []
        for _ in range(STATUS_SAMPLES // 2):
            t = time.perf_counter()
            r = subprocess.run(d.ctl_argv("status"), capture_output=True,
                               stdin=subprocess.DEVNULL)
            status.append(time.perf_counter() - t)
            if r.stdout.count(b"RUNNING") != n:
                raise RuntimeError(f"status printed {r.stdout.count(b'RUNNING')} RUNNING "
                                   f"lines (rc {r.returncode})")
        fds = len(os.listdir(f"/proc/{d.pid}/fd"))
        return {
            "n": n,
            "finished": True,
            "logs_on": "tmpfs" if d.dir.startswith("/dev/shm/") else "the default temp dir",
            "all_running_s": all_running,
            "per_process_ms": all_running / n * 1000,
            "rpc_ms": statistics.median(rpc) * 1000,
            "rpc_ms_all": [round(x * 1000, 2) for x in rpc],
            "status_ms": statistics.median(status) * 1000,
            "rss_kb": rss,
            "cpu_s": cpu,
            "cpu_per_process_ms": cpu / n * 1000,
            "fds": fds,
            "probe_worst_ms": worst[1] * 1000 if worst[1] is not None else None,
            "probe_worst_at_s": worst[0],
            "probe_median_ms": statistics.median(lat) * 1000 if lat else None,
            "probe_samples": len(lat),
            "probe_errors": probe.errors,
            "spawn_errors": d.count_log("spawnerr") + d.count_log("too many open files"),
        }


def scale(kind, bins):
    """Every size in turn; one result with a sub-result per size. supervisord's sizes that
    do not finish within SCALE_TIMEOUT are reported as such and bigger ones skipped."""
    out = {}
    for n in SCALE_SIZES:
        r = scale_one(kind, bins, n)
        out[str(n)] = r
        print(f" [{n}: {r.get('all_running_s', float('nan')):.2f}s]", end="", flush=True)
        if not r["finished"]:
            break
    return out


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
    "scale": {
        "floor-spawn": lambda bins: {"1000": spawn_floor(1000)},
    },
}


def spawn_floor(n):
    """Starting n programs with no daemon: a bare posix_spawn loop that creates the same
    two log files per program (children/spawnfloor.py), on the same file system."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory(prefix="corral-bench-floor-", dir=harness.tmpfs_dir()) as d:
        out = subprocess.run(
            [harness.PYTHON, os.path.join(CHILDREN, "spawnfloor.py"), d, str(n)],
            capture_output=True, text=True, check=True, timeout=300,
        )
    return json.loads(out.stdout)

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


# ---------------------------------------------------------------------------------------
# 100 programs with a tcp health check every second

HEALTH_PROGRAMS = 100
HEALTH_WINDOW = 30.0


class _Acceptor:
    """A listening socket in the bench process that accepts and closes every connection
    (what each tcp health check connects to), counting them."""

    def __init__(self):
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            c.close()

    def close(self):
        self.running = False
        self.sock.close()


def health(kind, bins):
    """Both daemons get the same 100 programs with `healthcheck=tcp://…`,
    `healthcheck_interval=1` (supervisord ignores the options it does not know: its figure
    is the same programs without checks); CPU and wake-ups over 30 s, and how many checks
    reached the listener."""
    acceptor = _Acceptor()
    body = "".join(
        f"[program:h{i:03d}]\ncommand=/bin/sleep 1000000\n"
        f"healthcheck=tcp://127.0.0.1:{acceptor.port}\nhealthcheck_interval=1\n\n"
        for i in range(HEALTH_PROGRAMS)
    )
    try:
        with Daemon(kind, bins, body) as d:
            d.start()
            d.wait_socket()
            wait_until(
                lambda: d.count_log("entered RUNNING") >= HEALTH_PROGRAMS,
                60,
                what=f"{HEALTH_PROGRAMS} programs RUNNING",
            )
            d.remember_children()
            time.sleep(2.0)  # every check under way
            n0 = acceptor.count
            c0, cpu0, s0 = d.ctxt(), d.cpu(), d.sched()
            t0 = time.monotonic()
            time.sleep(HEALTH_WINDOW)
            c1, cpu1, s1 = d.ctxt(), d.cpu(), d.sched()
            elapsed = time.monotonic() - t0
            checks = acceptor.count - n0
            healthy = None
            if kind == "corral":
                healthy = sum(
                    1 for h in d.rpc("corral.getAllProcessHealth") if h["state"] == "healthy"
                )
            return {
                "kind": kind,
                "window_s": elapsed,
                "checks": checks,
                "healthy": healthy,
                "cpu_s": cpu1 - cpu0,
                "sched_cpu_s": (s1 - s0) / 1e9,
                "wakeups": (c1["voluntary"] - c0["voluntary"])
                + (c1["nonvoluntary"] - c0["nonvoluntary"]),
            }
    finally:
        acceptor.close()
# observing 1000 processes: /metrics and GET /api/v1/processes (corral), against what a
# scraper has to do with supervisord: getAllProcessInfo (node_exporter's old collector)

OBSERVE_SAMPLES = 10


def http_get_raw(d, path, timeout=60):
    """GET `path` over the daemon's unix socket (HTTP/1.0); (status, body)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(d.sock)
        s.sendall(b"GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" % path.encode())
        chunks = []
        while True:
            c = s.recv(1 << 20)
            if not c:
                break
            chunks.append(c)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _timed(d, call):
    """Median latency and daemon CPU per call over OBSERVE_SAMPLES calls."""
    lat = []
    cpu0 = d.cpu()
    for _ in range(OBSERVE_SAMPLES):
        t = time.perf_counter()
        call()
        lat.append(time.perf_counter() - t)
    cpu = (d.cpu() - cpu0) / OBSERVE_SAMPLES
    return statistics.median(lat) * 1000, cpu * 1000


def observe(kind, bins):
    with Daemon(kind, bins, MANY_BODY, minfds=10000) as d:
        d.start()
        wait_until(lambda: d.count_log("entered RUNNING") >= MANY, 300, interval=0.1,
                   what=f"{MANY} programs RUNNING")
        d.remember_children()
        d.wait_socket()
        time.sleep(1.0)

        def xmlrpc_all():
            body = d.rpc_raw("supervisor.getAllProcessInfo")
            assert body.count(b"<name>name</name>") == MANY

        if kind != "corral":
            ms, cpu = _timed(d, xmlrpc_all)
            return {"metrics_ms": ms, "metrics_cpu_ms": cpu, "api_ms": ms, "api_cpu_ms": cpu,
                    "how": "getAllProcessInfo over XML-RPC (what a scraper asks supervisord)"}

        def metrics():
            status, body = http_get_raw(d, "/metrics")
            assert status == 200 and body.count(b"corral_process_up{") == MANY, status

        def api():
            status, body = http_get_raw(d, "/api/v1/processes")
            assert status == 200 and len(json.loads(body)) == MANY, status

        m_ms, m_cpu = _timed(d, metrics)
        a_ms, a_cpu = _timed(d, api)
        return {"metrics_ms": m_ms, "metrics_cpu_ms": m_cpu, "api_ms": a_ms, "api_cpu_ms": a_cpu}


# ---------------------------------------------------------------------------------------
# the event stream: 100 clients attached while 100 processes flap

STREAM_CLIENTS = 100
FLAPPERS = 100
FLAP_BODY = f"""\
[program:flap]
command=/bin/sh -c "sleep 2"
process_name=flap%(process_num)03d
numprocs={FLAPPERS}
startsecs=0
autorestart=true
redirect_stderr=true
stdout_logfile=NONE
"""
STREAM_SECONDS = 10
EVENT_RE = re.compile(rb'id: (\d+)\nevent: state\ndata: \{[^\n]*?"from":"(\w+)"[^\n]*?'
                      rb'"namespec":"([^"]+)"[^\n]*?"to":"(\w+)"')


class StreamClient:
    """One SSE client on the unix socket: de-chunks as it reads and keeps (id, namespec,
    from, to) of each state event."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
        self.sock.setblocking(False)
        self.raw = b""
        self.body = b""
        self.head = None
        self.events = []
        self.snapshot = False
        self.closed = False

    def feed(self, data):
        if not data:
            self.closed = True
            return
        self.raw += data
        if self.head is None:
            if b"\r\n\r\n" not in self.raw:
                return
            self.head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        while True:
            line, sep, rest = self.raw.partition(b"\r\n")
            if not sep:
                break
            size = int(line, 16)
            if len(rest) < size + 2:
                break
            self.body += rest[:size]
            self.raw = rest[size + 2:]
        while b"\n\n" in self.body:
            msg, _, self.body = self.body.partition(b"\n\n")
            if b"event: snapshot" in msg:
                self.snapshot = True
            m = EVENT_RE.match(msg)
            if m:
                self.events.append((int(m.group(1)), m.group(3), m.group(2), m.group(4)))


def _pump(clients, seconds):
    sel = selectors.DefaultSelector()
    for c in clients:
        sel.register(c.sock, selectors.EVENT_READ, c)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.05):
            try:
                key.data.feed(key.fileobj.recv(1 << 18))
            except BlockingIOError:
                pass
    sel.close()


def _check_streams(clients):
    """No lost or duplicated event: each stream's ids count up by one from 1, each
    process's events chain (each from is the previous to), every stream has the same."""
    problems = []
    first = clients[0].events
    for i, c in enumerate(clients):
        ids = [e[0] for e in c.events]
        if ids != list(range(1, len(ids) + 1)):
            problems.append(f"client {i}: ids not 1..{len(ids)}")
        last = {}
        for _, ns, frm, to in c.events:
            if ns in last and last[ns] != frm:
                problems.append(f"client {i}: {ns.decode()} {last[ns].decode()} then {frm.decode()}")
                break
            last[ns] = to
        if c.events != first:
            problems.append(f"client {i}: {len(c.events)} events, client 0 {len(first)}")
        if c.closed:
            problems.append(f"client {i}: stream closed")
    return problems


def events(kind, bins):
    if kind != "corral":
        return {"skipped": "supervisord has no event stream"}
    with Daemon(kind, bins, FLAP_BODY, minfds=10000) as d:
        d.start()
        d.wait_socket()
        wait_until(lambda: d.count_log("entered RUNNING") >= FLAPPERS, 120, interval=0.1,
                   what=f"{FLAPPERS} programs RUNNING")
        d.remember_children()
        # The same flapping with nobody attached, for reference.
        cpu0 = d.cpu()
        time.sleep(STREAM_SECONDS)
        alone = d.cpu() - cpu0
        clients = [StreamClient(d.sock) for _ in range(STREAM_CLIENTS)]
        _pump(clients, 1.0)
        if not all(c.snapshot for c in clients):
            raise RuntimeError("not every client got its snapshot")
        exited0 = d.count_log("exited: ")
        cpu0 = d.cpu()
        _pump(clients, STREAM_SECONDS)
        cpu = d.cpu() - cpu0
        exits = d.count_log("exited: ") - exited0
        # Stop the flapping and read what is still on its way.
        d.rpc("supervisor.stopAllProcesses")
        _pump(clients, 2.0)
        d.remember_children()
        problems = _check_streams(clients)
        for c in clients:
            c.sock.close()
        return {
            "cpu_s": cpu,
            "cpu_alone_s": alone,
            "events": len(clients[0].events),
            "exits_in_window": exits,
            "clients": STREAM_CLIENTS,
            "problems": problems[:10],
            "streams_ok": not problems,
        }


WORKLOADS = {
    "idle": idle,
    "crash": crash,
    "flood": flood,
    "lines": lines,
    "chatty": chatty,
    "many": many,
    "rolling": rolling,
    "health": health,
    "observe": observe,
    "events": events,
    "scale": scale,
}

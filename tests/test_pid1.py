"""corrald as a container's main process: PID 1 in its own PID namespace (`unshare --pid
--fork --mount-proc`, as root), reaping every orphan, SIGTERM within a deadline, program
output on corrald's own stdout (prefixed or JSON lines), `shutdown_on_exit`, and the
`GET /api/v1/health` endpoint for Kubernetes probes."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from harness import PROGRAMS_DIR as PROGS
from harness import PY, Daemon, corral_bin, free_port, wait_for

needs_pidns = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nsenter"),
    reason="a PID namespace needs root, unshare and nsenter")


class Pid1Daemon(Daemon):
    """A corrald that is PID 1 of a new PID namespace (`unshare` forks it and waits)."""

    @property
    def argv(self):
        return ["unshare", "--pid", "--fork", "--mount-proc", corral_bin("corrald"), "-n", "-c", self.conf]

    def host_pid(self):
        """corrald's pid outside the namespace: unshare's only child."""
        def child():
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                pids = f.read().split()
            return int(pids[0]) if pids else None
        return wait_for(child, timeout=10, what="unshare's child")


@pytest.fixture
def pid1_factory(tmp_path):
    started = []

    def make(programs, **kw):
        d = Pid1Daemon("corral", tmp_path / "corral", programs, **kw)
        started.append(d)
        d.start()
        return d

    yield make
    for d in started:
        if d.proc is not None and d.proc.poll() is None:
            try:
                os.kill(d.host_pid(), signal.SIGKILL)  # PID 1 dies: the kernel ends the rest
            except (ProcessLookupError, AssertionError):
                pass
        d.stop()


def children_of(pid):
    """(pid, state, cmdline) of every process whose parent is `pid`."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append((int(entry), fields[0], cmd))
    return out


def gone(pid):
    """Reaped: no /proc entry at all (a zombie still has one)."""
    return not os.path.exists("/proc/%d" % pid)


@needs_pidns
def test_pid1_reaps_every_orphan(pid1_factory):
    d = pid1_factory("""
        [program:spawner]
        command=/bin/sh -c '({py} -c "import time; time.sleep(1)" grandchild-marker &);exec sleep 1000'
        startsecs=0
    """.format(py=PY))
    pid = d.host_pid()
    d.wait_state("spawner", "RUNNING")
    assert "running as init (PID 1)" in d.mainlog()
    # The program's orphaned grandchild is re-parented to PID 1 (corrald) ...
    orphan = wait_for(lambda: [c for c in children_of(pid) if c[2].startswith(PY) and "grandchild-marker" in c[2]],
                      what="the orphaned grandchild under corrald")[0][0]
    # ... and so is a process nobody supervises that entered the namespace (`docker exec`).
    subprocess.run(["nsenter", "--target", str(pid), "--pid", "--", "/bin/sh", "-c",
                    '%s -c "import time; time.sleep(1)" stray-marker & exit 0' % PY], check=True)
    stray = wait_for(lambda: [c for c in children_of(pid) if c[2].startswith(PY) and "stray-marker" in c[2]],
                     what="the stray orphan under corrald")[0][0]
    # Both exit after a second and are reaped: no zombie is left.
    try:
        wait_for(lambda: gone(orphan) and gone(stray), timeout=10, what="both orphans reaped")
    except AssertionError:
        raise AssertionError("orphans %d, %d; corrald's children now: %r; stat: %r" % (
            orphan, stray, children_of(pid),
            [open("/proc/%d/stat" % p).read() for p in (orphan, stray) if not gone(p)]))
    assert not [c for c in children_of(pid) if c[1] == "Z"], children_of(pid)
    # As init, orphans are routine: not logged at INFO.
    assert not re.search(r"INFO reaped unknown pid", d.mainlog())
    # SIGTERM from the runtime: an orderly shutdown, exit status 0.
    os.kill(pid, signal.SIGTERM)
    assert d.proc.wait(timeout=20) == 0


@needs_pidns
def test_sigterm_shutdown_finishes_within_the_deadline(pid1_factory):
    d = pid1_factory("""
        [program:stubborn]
        command={py} {progs}/ignore_term.py
        stopwaitsecs=60
        startsecs=0
    """.format(py=PY, progs=PROGS), header_extra="shutdown_timeout=2")
    pid = d.host_pid()
    stubborn = d.wait_state("stubborn", "RUNNING")["pid"]  # its pid inside the namespace
    wait_for(lambda: "ready" in d.rpc().supervisor.readProcessStdoutLog("stubborn", 0, 100),
             what="stubborn to ignore SIGTERM")
    t0 = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    status = d.proc.wait(timeout=20)
    took = time.monotonic() - t0
    assert 2 <= took < 6, "shutdown_timeout=2 (then SIGKILL), took %.1fs" % took
    assert status == 1, "the deadline passed: what was left was killed"
    log = d.mainlog()
    assert "shutdown took longer than shutdown_timeout (2 s): sending SIGKILL to what is left (stubborn)" in log
    assert stubborn > 1
    assert not children_of(pid)


@needs_pidns
def test_default_deadline_in_init_mode_is_documented_as_9s(pid1_factory):
    d = pid1_factory("""
        [program:quick]
        command=sleep 1000
        startsecs=0
    """)
    d.wait_state("quick", "RUNNING")
    assert "shutdown deadline 9 s" in d.mainlog()
    os.kill(d.host_pid(), signal.SIGINT)
    assert d.proc.wait(timeout=20) == 0


def read_stdout(d):
    with open(os.path.join(d.dir, "daemon.stdout"), "rb") as f:
        return f.read().decode("utf-8", "replace")


# Two programs whose 64-byte lines arrive in chunks that cut them (writer.py), and one on
# stderr: every line whole, each program's in order.
OUTPUT_PROGRAMS = """
    [program:alpha]
    command={py} {progs}/writer.py 6400 100
    startsecs=0
    autorestart=false

    [group:web]
    programs=beta

    [program:beta]
    command={py} {progs}/writer.py 3200 37
    startsecs=0
    autorestart=false

    [program:err]
    command=/bin/sh -c 'printf "to stderr\\n" >&2;printf "no newline at the end" >&2;exec sleep 1000'
    startsecs=0
"""


def writer_lines(n):
    data = b"".join(b"%08d" % i + b"x" * 55 + b"\n" for i in range(n // 64 + 1))[:n]
    return data.decode().splitlines()


@needs_pidns
def test_prefixed_output_shows_every_line_whole_and_in_order(pid1_factory):
    d = pid1_factory(OUTPUT_PROGRAMS.format(py=PY, progs=PROGS), header_extra="forward_output=prefixed",
                     loglevel="info")
    want = {"alpha": writer_lines(6400), "web:beta": writer_lines(3200)}

    def lines_of(name):
        return [line.split(" | ", 1)[1] for line in read_stdout(d).splitlines()
                if line.split(" | ", 1)[0].rstrip() == name]

    wait_for(lambda: all(lines_of(n) == want[n] for n in want), timeout=20,
             what="every line of alpha and web:beta, in order")
    out = read_stdout(d)
    # Names are padded to the longest ("web:beta", 8) as Foreman does.
    assert "alpha    | 00000000" + "x" * 55 + "\n" in out
    assert "err      | to stderr\n" in out
    # The harness joins corrald's stderr to its stdout; the last line, without its newline,
    # waits for the end of the program's output.
    assert "no newline at the end" not in out
    d.rpc().supervisor.stopProcess("err")
    wait_for(lambda: "err      | no newline at the end\n" in read_stdout(d), what="the last partial line")
    os.kill(d.host_pid(), signal.SIGTERM)
    assert d.proc.wait(timeout=20) == 0


@needs_pidns
def test_json_output_lines(pid1_factory):
    d = pid1_factory(OUTPUT_PROGRAMS.format(py=PY, progs=PROGS), header_extra="forward_output=json",
                     loglevel="info")
    want = {"alpha": writer_lines(6400), "web:beta": writer_lines(3200)}

    def records():
        out = []
        for line in read_stdout(d).splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def lines_of(name):
        return [r["line"] for r in records() if r["process"] == name]

    wait_for(lambda: all(lines_of(n) == want[n] for n in want), timeout=20,
             what="every JSON line of alpha and web:beta, in order")
    err = [r for r in records() if r["process"] == "err"]
    assert err[0]["stream"] == "stderr" and err[0]["line"] == "to stderr"
    r = records()[0]
    assert set(r) == {"time", "process", "stream", "line"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["time"]), r["time"]
    os.kill(d.host_pid(), signal.SIGTERM)
    assert d.proc.wait(timeout=20) == 0


def test_dev_stdout_logfile_with_default_maxbytes(daemon_factory):
    # supervisord fails to rotate /dev/stdout (Illegal seek) unless maxbytes=0; corrald
    # never rotates a device or a pipe, whatever maxbytes says.
    d = daemon_factory("corral", """
        [program:talker]
        command={py} {progs}/writer.py 640 64
        stdout_logfile=/dev/stdout
        stdout_logfile_maxbytes=100
        startsecs=0
    """.format(py=PY, progs=PROGS), loglevel="info")
    # corrald's own lines (the main log, on its stdout too) and the program's share the
    # descriptor: whole lines, none overwritten, even with stdout a regular file.
    want = writer_lines(640)
    wait_for(lambda: [line for line in read_stdout(d).splitlines() if not line.startswith("20")] == want,
             what="every line on corrald's stdout")
    assert not os.path.exists("/dev/stdout.1")
    assert "ERRO" not in d.mainlog() and "CRIT cannot write" not in d.mainlog()


def test_shutdown_on_exit_hands_on_the_exit_status(daemon_factory):
    d = daemon_factory("corral", """
        [program:main]
        command=/bin/sh -c 'sleep 1;exit 3'
        shutdown_on_exit=true
        startsecs=0
        autorestart=true

        [program:sidecar]
        command=sleep 1000
        startsecs=0
    """)
    assert d.wait_exit(timeout=20) == 3
    log = d.mainlog()
    assert "'main' is EXITED (exit status 3) and has shutdown_on_exit=true: shutting down, exit status 3" in log
    assert "stopped: sidecar" in log
    assert log.count("spawned: 'main'") == 1, "never restarted"


def test_shutdown_on_exit_of_a_fatal_program(daemon_factory):
    d = daemon_factory("corral", """
        [program:main]
        command=/nonexistent/binary
        shutdown_on_exit=true
        startretries=0
    """, start=False)
    d.start(wait=False)
    assert d.wait_exit(timeout=20) == 1
    assert "'main' is FATAL (never ran) and has shutdown_on_exit=true" in d.mainlog()


def test_shutdown_on_exit_ignores_a_requested_stop(daemon_factory):
    d = daemon_factory("corral", """
        [program:main]
        command=sleep 1000
        shutdown_on_exit=true
        startsecs=0
    """)
    d.wait_state("main", "RUNNING")
    d.rpc().supervisor.stopProcess("main")
    d.rpc().supervisor.startProcess("main")
    assert d.proc.poll() is None
    assert d.state("main") == "RUNNING"


def health(port, auth=None):
    req = urllib.request.Request("http://127.0.0.1:%d/api/v1/health" % port)
    if auth:
        import base64
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        return e.code, json.loads(body) if body.startswith(b"{") else body


def test_health_endpoint(daemon_factory):
    port = free_port()
    d = daemon_factory("corral", """
        [program:web]
        command=sleep 1000
        startsecs=0

        [program:slow]
        command={py} {progs}/notify_ready.py 1.5
        readiness=notify
        startsecs=0

        [program:manual]
        command=sleep 1000
        autostart=false
    """.format(py=PY, progs=PROGS), inet_port=port)
    code, body = health(port)
    assert code == 503 and body["status"] == "unavailable", body
    assert {"name": "slow", "state": "STARTING"} in body["not_ready"]
    d.wait_state("slow", "RUNNING")
    assert health(port) == (200, {"status": "ok", "running": 2, "expected": 2})
    d.rpc().supervisor.stopProcess("web")
    code, body = health(port)
    assert code == 503 and body["not_ready"] == [{"name": "web", "state": "STOPPED"}]


def test_health_endpoint_counts_health_checks(daemon_factory):
    # With healthcheck=, RUNNING is not enough: the last check must have passed. A check
    # that has not finished yet does not count either.
    port = free_port()
    d = daemon_factory("corral", """
        [program:checked]
        command=/bin/sleep 1000
        startsecs=0
        healthcheck=exec:true
        healthcheck_interval=0.3

        [program:pending]
        command=/bin/sleep 1000
        startsecs=0
        healthcheck=exec:sleep 600
        healthcheck_timeout=600
        healthcheck_interval=600
    """, inet_port=port)
    want = (503, {"status": "unavailable", "running": 1, "expected": 2,
                  "not_ready": [{"name": "pending", "state": "RUNNING, not checked yet"}]})
    wait_for(lambda: health(port) == want, timeout=15)
    assert d.state("pending") == "RUNNING"


def test_health_endpoint_with_credentials(daemon_factory):
    port = free_port()
    d = daemon_factory("corral", """
        [program:web]
        command=sleep 1000
        startsecs=0
    """, inet_port=port, inet_username="user", inet_password="secret", unix=False)
    d.wait_state("web", "RUNNING")
    assert health(port) == (200, {"status": "ok", "running": 1, "expected": 1})
    d.rpc().supervisor.stopProcess("web")
    # A probe without credentials gets the verdict, not the names.
    assert health(port) == (503, {"status": "unavailable", "running": 0, "expected": 1})
    # The right credentials see the names; wrong ones are refused as everywhere else.
    code, body = health(port, "user:secret")
    assert code == 503 and body["not_ready"] == [{"name": "web", "state": "STOPPED"}]
    assert health(port, "user:wrong")[0] == 401

"""In-place self-upgrade (issue 14): corrald executes a new binary under the same pid and
carries on where it was. Programs keep their pids, logs continue without a gap or a
repeated byte, sockets keep serving (zero failed requests under wrk), event listeners keep
their events, and a binary that fails its check changes nothing.
"""

import os
import re
import shutil
import signal
import stat
import subprocess
import textwrap
import time

import pytest

from harness import PY, corral_bin, free_port, pid_alive, read_text, wait_for
from test_rolling import Load, program

COUNTER = textwrap.dedent("""
    import sys, time
    i = 0
    while True:
        sys.stdout.write("line %08d\\n" % i)
        sys.stdout.flush()
        i += 1
        time.sleep(0.0005)
""")

RECORDER = textwrap.dedent("""
    import sys
    out = open(sys.argv[1], "a")
    while True:
        sys.stdout.write("READY\\n"); sys.stdout.flush()
        header = sys.stdin.readline()
        fields = dict(x.split(":", 1) for x in header.split())
        payload = sys.stdin.read(int(fields["len"]))
        out.write(fields["eventname"] + " " + payload.replace("\\n", " ") + "\\n"); out.flush()
        sys.stdout.write("RESULT 2\\nOK"); sys.stdout.flush()
""")


def _programs(tmp_path):
    (tmp_path / "counter.py").write_text(COUNTER)
    (tmp_path / "recorder.py").write_text(RECORDER)
    return textwrap.dedent("""
        [program:counter]
        command={py} {dir}/counter.py
        stdout_logfile={{here}}/counter.log
        stdout_logfile_maxbytes=200KB
        stdout_logfile_backups=50

        [program:sleeper]
        command=sleep 1000
        stdout_logfile=NONE

        [eventlistener:recorder]
        command={py} {dir}/recorder.py {dir}/events.txt
        events=PROCESS_STATE
    """).format(py=PY, dir=tmp_path)


def _counter_lines(d):
    """Every line the counter wrote, from the rotated backups (oldest first) and the log."""
    base = os.path.join(d.dir, "counter.log")
    files = sorted((p for p in os.listdir(d.dir) if p.startswith("counter.log.")),
                   key=lambda p: -int(p.rsplit(".", 1)[1]))
    text = "".join(read_text(os.path.join(d.dir, p)) for p in files) + read_text(base)
    return [int(line.split()[1]) for line in text.splitlines() if line.startswith("line ")]


def _pids(d):
    return {p["name"]: p["pid"] for p in d.rpc().supervisor.getAllProcessInfo()}


class Ctl:
    def __init__(self, result):
        self.returncode, self.stdout, self.stderr = result


def upgrade(d, *args):
    return Ctl(d.ctl("upgrade", *args, client="corralctl", timeout=120))


def test_upgrade_keeps_pids_logs_and_listeners(daemon_factory, tmp_path):
    d = daemon_factory("corral", _programs(tmp_path))
    for name in ("counter", "sleeper", "recorder"):
        d.wait_state(name, "RUNNING", timeout=20)
    before = _pids(d)
    daemon_pid = d.proc.pid
    events = tmp_path / "events.txt"
    wait_for(lambda: "PROCESS_STATE_RUNNING" in read_text(events), timeout=20)
    wait_for(lambda: len(_counter_lines(d)) > 1000, timeout=20)

    r = upgrade(d)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "upgraded: corrald pid %d" % daemon_pid in r.stdout, r.stdout

    # Same daemon, same children, both clients still answer.
    assert d.proc.poll() is None
    assert d.rpc().supervisor.getPID() == daemon_pid
    assert _pids(d) == before
    r = Ctl(d.ctl("status", client="supervisorctl"))
    assert re.search(r"counter\s+RUNNING\s+pid %d" % before["counter"], r.stdout), r.stdout
    assert "upgraded in place" in read_text(d.logfile)

    # The log goes on from where the old image stopped reading: no gap, no repeat, and
    # rotation continues (the backups are what it already wrote).
    seen = len(_counter_lines(d))
    wait_for(lambda: len(_counter_lines(d)) > seen + 2000, timeout=30)
    lines = _counter_lines(d)
    assert lines == list(range(lines[0], lines[0] + len(lines))), "gap or repeat in the log"
    assert lines[0] == 0

    # Exits are still reaped and routed: the new image restarts what dies...
    os.kill(before["sleeper"], signal.SIGKILL)
    wait_for(lambda: d.info("sleeper")["pid"] not in (0, before["sleeper"])
             and d.state("sleeper") == "RUNNING", timeout=20)
    assert not pid_alive(before["sleeper"])
    # ...and the listener, carried over with its protocol state, gets the events.
    wait_for(lambda: any(line.startswith("PROCESS_STATE_EXITED processname:sleeper")
                         for line in read_text(events).splitlines()), timeout=20)

    # It can upgrade again, and still shuts down cleanly, stopping everything.
    assert upgrade(d).returncode == 0
    assert _pids(d)["counter"] == before["counter"]
    d.rpc().supervisor.shutdown()
    d.wait_exit(timeout=30)
    assert not pid_alive(before["counter"])


def test_a_binary_that_fails_its_check_changes_nothing(daemon_factory, tmp_path):
    d = daemon_factory("corral", _programs(tmp_path))
    d.wait_state("counter", "RUNNING", timeout=20)
    before = _pids(d)
    bad = tmp_path / "bad-corrald"
    bad.write_text("#!/bin/sh\necho 'state format 99 only'\nexit 3\n")
    bad.chmod(bad.stat().st_mode | stat.S_IEXEC)
    r = upgrade(d, "--binary", str(bad))
    assert r.returncode != 0
    assert "failed (exit status 3): state format 99 only" in r.stdout, r.stdout
    missing = upgrade(d, "--binary", str(tmp_path / "nope"))
    assert missing.returncode != 0 and "nope" in missing.stdout
    assert _pids(d) == before
    assert d.rpc().supervisor.getState()["statename"] == "RUNNING"
    log = read_text(d.logfile)
    assert "refused" in log and "executing" not in log


def test_upgrade_to_another_binary_and_by_signal(daemon_factory, tmp_path):
    copy = tmp_path / "corrald-new"
    shutil.copy(corral_bin("corrald"), copy)
    d = daemon_factory("corral", _programs(tmp_path))
    d.wait_state("counter", "RUNNING", timeout=20)
    before = _pids(d)
    r = upgrade(d, "--binary", str(copy))
    assert r.returncode == 0, r.stdout
    assert os.readlink("/proc/%d/exe" % d.proc.pid) == str(copy)
    # SIGUSR1: the same, with the binary it runs now.
    os.kill(d.proc.pid, signal.SIGUSR1)
    wait_for(lambda: read_text(d.logfile).count("upgraded in place") == 2, timeout=30)
    wait_for(d.responding, timeout=20)
    assert _pids(d) == before


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_upgrade_under_load_fails_no_request(daemon_factory):
    port = free_port()
    d = daemon_factory("corral", program(port))
    web = d.wait_state("web", "RUNNING", timeout=30)["pid"]
    load = Load(port, 6)
    # Upgrade while wrk is at full load: after it has served some requests.
    logged = os.path.join(d.dir, "web.log")
    time.sleep(2)
    r = upgrade(d)
    assert r.returncode == 0, r.stdout
    requests, failures, out = load.result()
    assert requests > 100, out
    assert failures == 0, out
    assert d.info("web")["pid"] == web

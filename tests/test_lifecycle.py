"""corrald's lifecycle, end to end: timing of respawns, backoff and stop escalation, log
rotation, priority order, reload, signals to the daemon, environment, leftovers, and the
recovery of processes left by a killed predecessor.

Every test starts the real corrald binary in its own directory and talks to it over its
own unix socket (XML-RPC through Python's client, or the real supervisorctl).
"""

import base64
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import xmlrpc.client

import pytest

from harness import PROGRAMS_DIR as PROGS
from harness import PY, Daemon, corral_bin, free_port, pid_alive, read_text, wait_for


def log_times(log, pattern):
    """Timestamps (seconds) of main-log lines matching `pattern`."""
    out = []
    for line in log.splitlines():
        if re.search(pattern, line):
            stamp = line[:23]  # 2024-01-01 12:00:00,123
            t = time.mktime(time.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S")) + int(stamp[20:23]) / 1000
            out.append(t)
    return out


def test_crash_is_respawned_in_milliseconds(daemon_factory):
    d = daemon_factory("corral", """
        [program:crasher]
        command=/bin/sh -c "sleep 0.05; exit 1"
        startsecs=0
        autorestart=true
    """)
    wait_for(lambda: len(log_times(d.mainlog(), r"spawned: 'crasher'")) >= 12, timeout=20)
    log = d.mainlog()
    exits = log_times(log, r"exited: crasher")
    spawns = log_times(log, r"spawned: 'crasher'")
    gaps = sorted(s - e for e, s in zip(exits, spawns[1:]))
    median = gaps[len(gaps) // 2]
    # supervisord takes about a second (its poll loop); corral reacts to SIGCHLD at once.
    assert median < 0.1, gaps


def test_backoff_is_1_2_3_seconds_then_fatal(daemon_factory):
    d = daemon_factory("corral", """
        [program:quick]
        command=/bin/false
        startretries=3
    """)
    wait_for(lambda: d.state("quick") == "FATAL", timeout=15)
    spawns = log_times(d.mainlog(), r"spawned: 'quick'")
    assert len(spawns) == 4
    delays = [b - a for a, b in zip(spawns, spawns[1:])]
    for want, got in zip([1, 2, 3], delays):
        assert want - 0.05 <= got <= want + 0.5, delays
    assert "gave up: quick entered FATAL state, too many start retries too quickly" in d.mainlog()
    assert d.info("quick")["description"] == "Exited too quickly (process log may have details)"


def test_stop_escalates_to_sigkill_at_stopwaitsecs(daemon_factory):
    d = daemon_factory("corral", """
        [program:stubborn]
        command={py} {progs}/ignore_term.py
        stopwaitsecs=2
        startsecs=0
        stdout_logfile={{here}}/stubborn.log
    """.format(py=PY, progs=PROGS))
    info = d.wait_state("stubborn", "RUNNING")
    out = os.path.join(d.dir, "stubborn.log")
    wait_for(lambda: "ready" in read_text(out), what="signal handlers installed")
    t0 = time.monotonic()
    assert d.rpc().supervisor.stopProcess("stubborn") is True
    took = time.monotonic() - t0
    assert 1.9 <= took <= 3.5, took
    assert not pid_alive(info["pid"])
    log = d.mainlog()
    assert "killing 'stubborn' (%d) with SIGKILL" % info["pid"] in log
    assert "stopped: stubborn (terminated by SIGKILL)" in log


def test_log_rotation_keeps_every_byte(daemon_factory, tmp_path):
    n, maxbytes = 1_000_003, 100_000
    d = daemon_factory("corral", """
        [program:writer]
        command={py} {progs}/writer.py {n} 4096
        stdout_logfile={{here}}/writer.log
        stdout_logfile_maxbytes={maxbytes}
        stdout_logfile_backups=20
        startsecs=0
    """.format(py=PY, progs=PROGS, n=n, maxbytes=maxbytes))
    base = os.path.join(d.dir, "writer.log")

    def files():
        out = [base + ".%d" % i for i in range(20, 0, -1) if os.path.exists(base + ".%d" % i)]
        return out + [base]

    wait_for(lambda: sum(os.path.getsize(f) for f in files()) == n, timeout=20, what="all bytes logged")
    rotated = files()[:-1]
    assert len(rotated) == n // maxbytes
    assert all(os.path.getsize(f) == maxbytes for f in rotated)
    data = b""
    for f in files():
        with open(f, "rb") as fh:
            data += fh.read()
    expected = b"".join(b"%08d" % i + b"x" * 55 + b"\n" for i in range(n // 64 + 1))[:n]
    assert data == expected


def test_priority_order_start_ascending_stop_descending(daemon_factory, tmp_path):
    order = tmp_path / "order.txt"
    progs = "".join("""
        [program:p{prio}]
        command={progs}/trap_order.sh p{prio} {order}
        priority={prio}
        startsecs=0
    """.format(prio=prio, progs=PROGS, order=order) for prio in (300, 100, 200))
    d = daemon_factory("corral", progs)
    wait_for(lambda: order.exists() and order.read_text().count("start") == 3, timeout=10)
    # Spawned in ascending priority (they then race to write the file, as under supervisord).
    spawned = re.findall(r"spawned: '(p\d+)'", d.mainlog())
    assert spawned == ["p100", "p200", "p300"]
    d.stop()
    stops = [l for l in order.read_text().splitlines() if l.startswith("stop")]
    assert stops == ["stop p300", "stop p200", "stop p100"]


def test_hup_reloads_the_configuration(daemon_factory):
    d = daemon_factory("corral", """
        [program:a]
        command=/bin/sleep 1000
        startsecs=0
    """)
    old_pid = d.wait_state("a", "RUNNING")["pid"]
    with open(d.conf, "a") as f:
        f.write("\n[program:b]\ncommand=/bin/sleep 1000\nstartsecs=0\n")
    os.kill(d.proc.pid, signal.SIGHUP)
    wait_for(lambda: d.state("b") == "RUNNING", timeout=10)
    new_pid = d.wait_state("a", "RUNNING")["pid"]
    assert new_pid != old_pid and not pid_alive(old_pid)
    assert "received SIGHUP indicating restart request" in d.mainlog()


def test_hup_with_a_broken_config_keeps_everything_running(daemon_factory):
    d = daemon_factory("corral", """
        [program:a]
        command=/bin/sleep 1000
        startsecs=0
    """)
    pid = d.wait_state("a", "RUNNING")["pid"]
    with open(d.conf, "a") as f:
        f.write("\n[program:broken]\nstartsecs=notanumber\n")
    os.kill(d.proc.pid, signal.SIGHUP)
    wait_for(lambda: "restart aborted" in d.mainlog(), timeout=10)
    assert d.info("a")["pid"] == pid and d.state("a") == "RUNNING"
    assert d.rpc().supervisor.getState()["statename"] == "RUNNING"


def test_hup_applies_changed_http_servers(daemon_factory, tmp_path):
    """supervisord reopens its HTTP servers on a reload; so does corrald, keeping a server
    whose address is unchanged (with its new credentials and mode) and moving one whose
    address changed."""
    p1, p2 = free_port(), free_port()
    d = daemon_factory("corral", """
        [program:a]
        command=/bin/sleep 1000
        startsecs=0
    """, inet_port=p1)
    d.wait_state("a", "RUNNING")
    assert urllib.request.urlopen("http://127.0.0.1:%d/" % p1, timeout=5).status == 200

    text = read_text(d.conf)
    text = text.replace("port=127.0.0.1:%d" % p1, "port=127.0.0.1:%d\nusername=u\npassword=p" % p2)
    text = text.replace("file=%s" % d.sock, "file=%s\nchmod=0770" % d.sock)
    d.write_config(text)
    os.kill(d.proc.pid, signal.SIGHUP)

    def status(port, auth=None):
        req = urllib.request.Request("http://127.0.0.1:%d/RPC2" % port, method="POST",
                                     data=xmlrpc.client.dumps((), "supervisor.getState").encode())
        if auth:
            req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
        try:
            return urllib.request.urlopen(req, timeout=5).status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None

    wait_for(lambda: status(p2, "u:p") == 200, timeout=15, what="the inet server on its new port")
    assert status(p2) == 401
    wait_for(lambda: status(p1) is None, timeout=5, what="the old port to close")
    assert stat.S_IMODE(os.stat(d.sock).st_mode) == 0o770
    # The unix server kept its socket and still answers.
    assert d.rpc().supervisor.getState()["statename"] == "RUNNING"
    wait_for(lambda: d.state("a") == "RUNNING", timeout=10)
    assert "moved [inet_http_server] on 127.0.0.1:%d to [inet_http_server] on 127.0.0.1:%d" % (
        p1, p2) in d.mainlog()

    # A server that goes from the file is closed (its socket file removed).
    d.inet_port, d.inet_username, d.rpc_password = p2, "u", "p"
    text = text.replace("[unix_http_server]\nfile=%s\nchmod=0770\n" % d.sock, "")
    d.write_config(text)
    os.kill(d.proc.pid, signal.SIGHUP)
    wait_for(lambda: not os.path.exists(d.sock), timeout=15, what="the unix socket to go")
    wait_for(lambda: status(p2, "u:p") == 200, timeout=15)


def test_hup_recreates_a_deleted_socket_file(daemon_factory):
    """A /tmp cleaner removed supervisor.sock: supervisorctl can no longer connect, and a
    reload (SIGHUP; supervisord reopens its servers too) brings the socket back."""
    d = daemon_factory("corral", """
        [program:a]
        command=/bin/sleep 1000
        startsecs=0
    """)
    d.wait_state("a", "RUNNING")
    os.unlink(d.sock)
    os.kill(d.proc.pid, signal.SIGHUP)
    wait_for(lambda: os.path.exists(d.sock), timeout=15, what="the socket file to be re-created")
    wait_for(lambda: d.state("a") == "RUNNING", timeout=10)
    assert "re-created the socket file of [unix_http_server] at %s" % d.sock in d.mainlog()


def test_usr2_reopens_logs(daemon_factory):
    d = daemon_factory("corral", """
        [program:talker]
        command=/bin/sh -c "while true; do echo tick; sleep 0.1; done"
        stdout_logfile={here}/talker.log
        startsecs=0
    """)
    log = os.path.join(d.dir, "talker.log")
    wait_for(lambda: os.path.exists(log) and os.path.getsize(log) > 0)
    os.rename(log, log + ".old")
    os.rename(d.logfile, d.logfile + ".old")
    os.kill(d.proc.pid, signal.SIGUSR2)
    wait_for(lambda: os.path.exists(log) and os.path.getsize(log) > 0, what="child log reopened")
    wait_for(lambda: os.path.exists(d.logfile), what="main log reopened")


def test_child_environment(daemon_factory):
    d = daemon_factory("corral", """
        [program:env]
        command=/bin/sh -c "env; umask; pwd; id; exec sleep 1000"
        stdout_logfile={here}/env.log
        environment=FOO="bar baz",HOME="/overridden"
        directory=/tmp
        umask=027
        startsecs=0

        [program:asnobody]
        command=/bin/sh -c "echo HOME=$HOME USER=$USER LOGNAME=$LOGNAME; id -u; exec sleep 1000"
        stdout_logfile={here}/nobody.log
        user=nobody
        startsecs=0
    """)
    out = os.path.join(d.dir, "env.log")
    wait_for(lambda: "uid=" in read_text(out))
    text = read_text(out)
    assert "SUPERVISOR_ENABLED=1" in text
    assert "SUPERVISOR_PROCESS_NAME=env" in text
    assert "SUPERVISOR_GROUP_NAME=env" in text
    assert "SUPERVISOR_SERVER_URL=unix://" + d.sock in text
    assert "FOO=bar baz" in text and "HOME=/overridden" in text
    assert "\n0027\n" in text and "\n/tmp\n" in text
    out = os.path.join(d.dir, "nobody.log")
    wait_for(lambda: len(read_text(out).splitlines()) >= 2)
    lines = read_text(out).splitlines()
    assert lines[0] == "HOME=/nonexistent USER=nobody LOGNAME=nobody"
    assert lines[1] == "65534"


def test_send_stdin(daemon_factory):
    d = daemon_factory("corral", """
        [program:echo]
        command=/bin/cat
        stdout_logfile={here}/cat.log
        startsecs=0
    """)
    d.wait_state("echo", "RUNNING")
    assert d.rpc().supervisor.sendProcessStdin("echo", "hello stdin\n") is True
    out = os.path.join(d.dir, "cat.log")
    wait_for(lambda: read_text(out) == "hello stdin\n")


def start_forker(daemon_factory, option):
    """A program whose shell starts a background child, then execs: (daemon, child's pid)."""
    d = daemon_factory("corral", """
        [program:forker]
        command=/bin/sh -c "sleep 1000 & echo $! > {here}/child.pid; exec sleep 1000"
        startsecs=0
        %s
    """ % option)
    d.wait_state("forker", "RUNNING")
    return d, int(wait_for(lambda: read_text(os.path.join(d.dir, "child.pid")).strip()))


def test_leftovers_are_stopped_and_named_in_the_log(daemon_factory):
    # The main process starts a background child and exits; the child keeps running.
    d, child = start_forker(daemon_factory, "stopasgroup=false")
    assert pid_alive(child)
    d.rpc().supervisor.stopProcess("forker")
    assert not pid_alive(child), "the background child must not outlive its program"
    assert "sending SIGTERM to leftover process %d" % child in d.mainlog()


def test_leftovers_can_be_left_alone(daemon_factory):
    d, child = start_forker(daemon_factory, "stopdescendants=false")
    try:
        d.rpc().supervisor.stopProcess("forker")
        assert pid_alive(child), "stopdescendants=false leaves the child running"
    finally:
        os.kill(child, signal.SIGKILL)


def test_orphans_of_a_daemonizing_child_are_stopped(daemon_factory):
    # A double fork with setsid: the grandchild leaves the session and process group, and is
    # re-parented to corrald (a subreaper) when its parent exits.
    d = daemon_factory("corral", """
        [program:daemonizer]
        command={py} -c "import os,time,sys; pid=os.fork(); \
            pid==0 and (os.setsid(), os.fork()==0 and (open('{{here}}/orphan.pid','w').write(str(os.getpid())), time.sleep(1000)), os._exit(0)); \
            time.sleep(1000)"
        startsecs=0
    """.format(py=PY))
    d.wait_state("daemonizer", "RUNNING")
    orphan = int(wait_for(lambda: read_text(os.path.join(d.dir, "orphan.pid")).strip()))
    assert read_text("/proc/%d/stat" % orphan).rsplit(")", 1)[1].split()[1] == str(d.proc.pid)
    d.rpc().supervisor.stopProcess("daemonizer")
    wait_for(lambda: not pid_alive(orphan), timeout=5, what="orphan stopped")


def test_processes_of_a_killed_predecessor_are_stopped(tmp_path):
    programs = """
        [program:holder]
        command=/bin/sleep 1000
        startsecs=0
    """
    first = Daemon("corral", tmp_path / "d", programs).start()
    try:
        pid = first.wait_state("holder", "RUNNING")["pid"]
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
        assert pid_alive(pid), "a SIGKILLed corrald leaves its children behind"
    finally:
        first.stdout.close()
        first.proc = None
    second = Daemon("corral", tmp_path / "d", programs).start()
    try:
        assert not pid_alive(pid)
        assert "left running by a previous corrald" in second.mainlog()
        assert second.wait_state("holder", "RUNNING")["pid"] != pid
    finally:
        second.stop()
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_daemonizes_and_writes_pidfile(tmp_path):
    d = Daemon("corral", tmp_path / "d", """
        [program:a]
        command=/bin/sleep 1000
        startsecs=0
    """)
    d.write_config(read_text(d.conf).replace("nodaemon=true", "nodaemon=false"))
    r = subprocess.run([corral_bin("corrald"), "-c", d.conf], cwd=d.dir, timeout=20)
    assert r.returncode == 0
    pid = int(wait_for(lambda: read_text(d.pidfile).strip()))
    try:
        wait_for(lambda: d.rpc().supervisor.getState()["statename"] == "RUNNING")
        assert d.rpc().supervisor.getPID() == pid
        child = d.wait_state("a", "RUNNING")["pid"]
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not pid_alive(pid), timeout=15)
    assert not pid_alive(child)
    assert not os.path.exists(d.pidfile) and not os.path.exists(d.sock)


def test_deleted_log_file_is_recreated(daemon_factory):
    d = daemon_factory("corral", """
        [program:talker]
        command=/bin/sh -c "while true; do echo tick; sleep 0.05; done"
        stdout_logfile={here}/talker.log
        startsecs=0
    """)
    log = os.path.join(d.dir, "talker.log")
    wait_for(lambda: os.path.exists(log) and os.path.getsize(log) > 0)
    os.remove(log)
    wait_for(lambda: os.path.exists(log) and os.path.getsize(log) > 0, what="log recreated")
    assert d.state("talker") == "RUNNING"


def test_bad_config_reports_every_error_and_exits_2(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text(
        "[supervisord]\nlogfile=%s/d.log\n\n"
        "[program:a]\ncommand=/bin/true\nstartsecs=abc\n\n"
        "[program:b]\nautorestart=maybe\n\n"
        "[program:c]\ncommand=/bin/true\nnumprocs=2\n" % tmp_path
    )
    r = subprocess.run([corral_bin("corrald"), "-n", "-c", str(conf)], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2
    err = r.stderr
    assert "%s:6: [program:a] startsecs:" % conf in err
    assert "[program:b]" in err and "autorestart" in err
    assert "command" in err  # b has no command
    assert "%(process_num)" in err


def test_daemon_drops_privileges_after_binding_its_sockets(tmp_path):
    """[supervisord] user=: corrald binds its [socket:x] sockets as root (port < 1024 would
    work), then runs as that user; its children run as that user too."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    # Not under tmp_path: its parents are root-only, and the daemon opens its files after
    # becoming nobody (as supervisord does).
    run = tempfile.mkdtemp(prefix="corral-user-")
    os.chmod(run, 0o777)
    port = free_port()
    d = Daemon("corral", run, """
        [socket:web]
        listen=tcp://127.0.0.1:{port}

        [program:who]
        command=/bin/sh -c "id -u > {{here}}/who.txt; exec sleep 1000"
        sockets=web
        startsecs=0
    """.format(port=port), header_extra="user=nobody")
    d.start()
    try:
        uid_line = [l for l in open("/proc/%d/status" % d.proc.pid) if l.startswith("Uid:")][0]
        assert uid_line.split()[1] == "65534"
        out = os.path.join(d.dir, "who.txt")
        wait_for(lambda: read_text(out).strip() == "65534")
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        d.stop()
        shutil.rmtree(run, ignore_errors=True)


def test_full_disk_drops_output_and_nothing_else(daemon_factory, tmp_path):
    """A log on a full file system: the output is dropped (said once in the main log), the
    program and every other program carry on, and logging resumes when space is back."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here: %s" % r.stderr.decode().strip())
    try:
        d = daemon_factory("corral", """
            [program:flood]
            command={py} -c "import os,time; line=b'x'*1023+b'\\n'; [(os.write(1, line), time.sleep(0.002)) for _ in iter(int, 1)]"
            stdout_logfile={mnt}/flood.log
            stdout_logfile_maxbytes=0
            startsecs=0

            [program:other]
            command=/bin/sh -c "while true; do echo alive; sleep 0.1; done"
            stdout_logfile={{here}}/other.log
            startsecs=0
        """.format(py=PY, mnt=mnt))
        wait_for(lambda: "output is being dropped" in d.mainlog(), timeout=20)
        assert d.state("flood") == "RUNNING" and d.state("other") == "RUNNING"
        other = os.path.join(d.dir, "other.log")
        size = os.path.getsize(other)
        wait_for(lambda: os.path.getsize(other) > size, what="the other program still logging")
        assert d.mainlog().count("output is being dropped") == 1, "said once, not per write"
        # Space comes back (the log is deleted): the log is recreated and fills again.
        flood_log = mnt / "flood.log"
        os.remove(str(flood_log))
        wait_for(lambda: flood_log.exists() and flood_log.stat().st_size > 0, what="logging to resume")
        assert d.rpc().supervisor.getState()["statename"] == "RUNNING"
    finally:
        subprocess.run(["umount", "-l", str(mnt)])

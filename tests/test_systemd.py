"""corrald under systemd, with test doubles for systemd's two protocols: a unix datagram
socket the test binds and passes as NOTIFY_SOCKET (sd_notify: READY=1 only once the
programs are up, STATUS=, RELOADING=1, STOPPING=1, WATCHDOG=1 at half of WATCHDOG_USEC),
and a launcher that binds sockets and passes them as LISTEN_FDS (socket activation) for
corrald's HTTP servers and `[socket:x] listen=systemd:NAME`."""

import os
import signal
import socket
import statistics
import subprocess
import time
import urllib.request

import pytest

from harness import PROGRAMS_DIR as PROGS
from harness import PY, Daemon, corral_bin, free_port, http_get, wait_for


class NotifyDouble:
    """systemd's end of NOTIFY_SOCKET: every datagram, with the time it arrived."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []

    def receive(self, timeout):
        """The next datagram's assignments as a dict (None at the timeout)."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4097)
        except socket.timeout:
            return None
        msg = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
        self.messages.append((time.monotonic(), msg))
        return msg

    def wait(self, key, timeout=20):
        """Read datagrams until one has `key`; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.receive(max(0.01, deadline - time.monotonic()))
            if msg is not None and key in msg:
                return msg
        raise AssertionError("no %s within %ss; got %r" % (key, timeout, self.messages))

    def close(self):
        self.sock.close()


@pytest.fixture
def notify(tmp_path):
    n = NotifyDouble(str(tmp_path / "notify.sock"))
    yield n
    n.close()


def test_ready_only_after_the_programs_are_up(daemon_factory, notify):
    d = daemon_factory("corral", """
        [program:slow]
        command={py} {progs}/notify_ready.py 1.5
        readiness=notify
        startsecs=0

        [program:steady]
        command=sleep 1000
        startsecs=1

        [program:envdump]
        command=/bin/sh -c 'env;exec sleep 1000'
        startsecs=0

        [program:manual]
        command=sleep 1000
        autostart=false
    """.format(py=PY, progs=PROGS), env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "0"},
        start=False)
    t0 = time.monotonic()
    d.start(wait=False)
    ready = notify.wait("READY")
    took = time.monotonic() - t0
    # At the moment READY=1 arrives, every autostart program is RUNNING.
    states = {p["name"]: p["statename"] for p in d.rpc().supervisor.getAllProcessInfo()}
    assert states == {"slow": "RUNNING", "steady": "RUNNING", "envdump": "RUNNING",
                      "manual": "STOPPED"}, states
    assert took >= 1.4, "READY=1 waited for slow's own READY=1 (%.2fs)" % took
    assert ready["READY"] == "1"
    assert ready["STATUS"] == "3 of 4 programs RUNNING; 1 STOPPED"
    # Before it, only STATUS lines.
    before = [m for _, m in notify.messages[:-1]]
    assert before and all(set(m) == {"STATUS"} for m in before), before
    # systemd's variables are corrald's alone.
    env = d.rpc().supervisor.readProcessStdoutLog("envdump", 0, 100000)
    assert "SUPERVISOR_PROCESS_NAME=envdump" in env
    assert notify.path not in env and "WATCHDOG_USEC" not in env
    # A reload: RELOADING=1 (with MONOTONIC_USEC), then READY=1 once the programs are
    # back up; a shutdown: STOPPING=1.
    os.kill(d.proc.pid, signal.SIGHUP)
    reloading = notify.wait("RELOADING")
    assert reloading["RELOADING"] == "1" and int(reloading["MONOTONIC_USEC"]) > 0
    t1 = time.monotonic()
    notify.wait("READY")
    assert time.monotonic() - t1 >= 1.2, "READY=1 again only when slow is ready again"
    assert d.state("slow") == "RUNNING"
    os.kill(d.proc.pid, signal.SIGTERM)
    assert notify.wait("STOPPING")["STOPPING"] == "1"
    assert d.wait_exit() == 0


def test_status_follows_the_processes(daemon_factory, notify):
    d = daemon_factory("corral", """
        [program:a]
        command=sleep 1000
        startsecs=0
    """, env={"NOTIFY_SOCKET": notify.path}, start=False)
    d.start(wait=False)
    assert notify.wait("READY")["STATUS"] == "1 of 1 programs RUNNING"
    d.rpc().supervisor.stopProcess("a")
    wait_for(lambda: notify.receive(1) == {"STATUS": "0 of 1 programs RUNNING; 1 STOPPED"},
             what="the status after a stop")


def test_watchdog_at_half_the_interval(daemon_factory, notify):
    daemon_factory("corral", "", env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"},
                   start=False).start(wait=False)
    notify.wait("READY")
    pings = []
    deadline = time.monotonic() + 2.2
    while time.monotonic() < deadline:
        msg = notify.receive(deadline - time.monotonic())
        if msg and msg.get("WATCHDOG") == "1":
            pings.append(time.monotonic())
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    assert 8 <= len(pings) <= 13, pings
    assert 0.15 <= statistics.median(gaps) <= 0.25, gaps


def test_watchdog_for_another_pid_is_not_ours(daemon_factory, notify):
    d = daemon_factory("corral", "", env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000",
                                          "WATCHDOG_PID": "1"}, start=False)
    d.start(wait=False)
    notify.wait("READY")
    assert notify.receive(0.5) is None


class ActivatedDaemon(Daemon):
    """corrald started the way systemd starts a socket-activated service."""

    sockets = ()

    @property
    def argv(self):
        return [PY, os.path.join(PROGS, "socket_activate.py")] + list(self.sockets) + [
            "--", corral_bin("corrald"), "-n", "-c", self.conf]


def test_sockets_from_systemd(tmp_path):
    inet, web = free_port(), free_port()
    d = ActivatedDaemon("corral", tmp_path / "corral", """
        [socket:web]
        listen=systemd:web

        [program:app]
        command={py} {progs}/listen_fds.py serve
        sockets=web
        startsecs=0
    """.format(py=PY, progs=PROGS), inet_port=inet)
    d.sockets = ("control=unix:" + d.sock, "web=tcp:127.0.0.1:%d" % web,
                 "admin=tcp:127.0.0.1:%d" % inet, "spare=tcp:127.0.0.1:%d" % free_port())
    try:
        d.start()
        log = d.mainlog()
        assert "[unix_http_server] at %s uses the socket systemd passed (control)" % d.sock in log
        assert "[inet_http_server] on 127.0.0.1:%d uses the socket systemd passed (admin)" % inet in log
        assert "socket 'web' passed by systemd systemd:web" in log
        assert "systemd passed sockets nothing uses" in log and "spare (fd 6)" in log
        # Both HTTP servers answer on systemd's sockets; the program serves on its own.
        assert d.rpc().supervisor.getState()["statename"] == "RUNNING"
        assert "supervisor" in http_get(inet, "/")
        d.wait_state("app", "RUNNING")
        pid = d.info("app")["pid"]
        assert wait_for(lambda: http_get(web, "/") == str(pid), what="the app on systemd's socket")
        # The program got exactly its socket, as fd 3: none of corrald's.
        line = d.rpc().supervisor.readProcessStdoutLog("app", 0, 1000)
        assert line.startswith("LISTEN_FDS=1 pidok=True names=web 3:AF_INET:1"), line
        os.kill(d.proc.pid, signal.SIGTERM)
        assert d.wait_exit() == 0
        # systemd's socket file stays where systemd put it.
        assert os.path.exists(d.sock)
    finally:
        d.stop()


def test_listen_fds_for_another_process_are_left_alone(daemon_factory):
    d = daemon_factory("corral", "", env={"LISTEN_FDS": "2", "LISTEN_PID": "1"})
    assert "LISTEN_PID (1) is not corrald's pid" in d.mainlog()

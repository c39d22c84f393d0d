"""Sockets owned by corrald (`[socket:x]`, systemd's LISTEN_FDS protocol) and readiness
checks (`readiness=notify|tcp://|http://|exec:`)."""

import os
import pwd
import signal
import socket
import stat
import subprocess
import time
import xmlrpc.client

import pytest

from harness import PROGRAMS_DIR as PROGS
from harness import PY, corral_bin, free_port, http_get, pid_alive, read_text, wait_for


def socket_inode(pid, fd):
    return os.readlink("/proc/%d/fd/%d" % (pid, fd))


# listen_fds.py serving HTTP (its pid) on a corrald-owned socket.
SERVED_APP = """
    [socket:web]
    listen=tcp://127.0.0.1:{port}

    [program:app]
    command={py} {progs}/listen_fds.py serve
    sockets=web
    startsecs=0
"""


def start_served_app(daemon_factory, port):
    return daemon_factory("corral", SERVED_APP.format(py=PY, progs=PROGS, port=port))


# ---- readiness -------------------------------------------------------------------------


def test_notify_readiness(daemon_factory):
    d = daemon_factory("corral", """
        [program:slowready]
        command={py} {progs}/notify_ready.py 1.5 warming-up
        readiness=notify
        startsecs=0
    """.format(py=PY, progs=PROGS))
    t0 = time.monotonic()
    assert d.state("slowready") == "STARTING"
    d.wait_state("slowready", "RUNNING", timeout=10)
    assert time.monotonic() - t0 >= 1.3, "RUNNING only once READY=1 arrived"
    assert "process is ready (notify)" in d.mainlog()


def test_never_ready_is_a_failed_start(daemon_factory):
    d = daemon_factory("corral", """
        [program:never]
        command={py} {progs}/notify_ready.py -1
        readiness=notify
        readiness_timeout=1
        startretries=1
        stopwaitsecs=1
    """.format(py=PY, progs=PROGS))
    d.wait_state("never", "FATAL", timeout=15)
    log = d.mainlog()
    assert "not ready after 1 seconds (readiness_timeout), stopping it" in log
    assert log.count("spawned: 'never'") == 2


def test_tcp_readiness(daemon_factory):
    port = free_port()
    d = daemon_factory("corral", """
        [program:late]
        command={py} {progs}/late_listener.py {port} 1.2
        readiness=tcp://127.0.0.1:{port}
    """.format(py=PY, progs=PROGS, port=port))
    t0 = time.monotonic()
    d.wait_state("late", "RUNNING", timeout=10)
    assert time.monotonic() - t0 >= 1.0


def test_http_readiness_wants_2xx(daemon_factory):
    ok, bad = free_port(), free_port()
    d = daemon_factory("corral", """
        [program:ok]
        command={py} {progs}/late_listener.py {ok} 0.5
        readiness=http://127.0.0.1:{ok}/health

        [program:bad]
        command={py} {progs}/late_listener.py {bad} 0 "503 Service Unavailable"
        readiness=http://127.0.0.1:{bad}/health
        readiness_timeout=2
        startretries=0
        stopwaitsecs=1
    """.format(py=PY, progs=PROGS, ok=ok, bad=bad))
    d.wait_state("ok", "RUNNING", timeout=10)
    d.wait_state("bad", "FATAL", timeout=15)


def test_exec_readiness(daemon_factory, tmp_path):
    flag = tmp_path / "ready.flag"
    d = daemon_factory("corral", """
        [program:waiter]
        command=/bin/sleep 1000
        readiness=exec:test -f {flag}
    """.format(flag=flag))
    time.sleep(1.5)  # not a correctness wait: the state must still be STARTING after it
    assert d.state("waiter") == "STARTING"
    flag.write_text("")
    d.wait_state("waiter", "RUNNING", timeout=10)


# ---- sockets ---------------------------------------------------------------------------


def test_listen_fds_protocol_and_unix_socket_mode_owner(daemon_factory):
    port = free_port()
    d = daemon_factory("corral", """
        [socket:web]
        listen=tcp://127.0.0.1:{port}

        [socket:admin]
        listen=unix://{{here}}/admin.sock
        mode=0640
        owner=nobody

        [program:app]
        command={py} {progs}/listen_fds.py serve
        sockets=web,admin
        stdout_logfile={{here}}/app.log
        startsecs=0
    """.format(py=PY, progs=PROGS, port=port))
    out = os.path.join(d.dir, "app.log")
    wait_for(lambda: "LISTEN_FDS" in read_text(out))
    assert read_text(out).splitlines()[0] == "LISTEN_FDS=2 pidok=True names=web:admin 3:AF_INET:1 4:AF_UNIX:1"
    st = os.stat(os.path.join(d.dir, "admin.sock"))
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert st.st_uid == pwd.getpwnam("nobody").pw_uid
    assert http_get(port) == str(d.info("app")["pid"])


def test_socket_fd_expansion_in_command(daemon_factory):
    d = daemon_factory("corral", """
        [socket:a]
        listen=tcp://127.0.0.1:{p1}
        [socket:b]
        listen=tcp://127.0.0.1:{p2}

        [program:show]
        command=/bin/sh -c "echo fd=%(socket_fd_b)s; exec sleep 1000"
        sockets=a,b
        stdout_logfile={{here}}/show.log
        startsecs=0
    """.format(p1=free_port(), p2=free_port()))
    wait_for(lambda: read_text(os.path.join(d.dir, "show.log")) == "fd=4\n")


def test_socket_is_kept_across_restart_and_hup_reload(daemon_factory):
    port = free_port()
    d = start_served_app(daemon_factory, port)
    pid = d.wait_state("app", "RUNNING")["pid"]
    wait_for(lambda: http_get(port) == str(pid))
    inode = socket_inode(pid, 3)
    assert d.rpc().supervisor.stopProcess("app")
    # While the program is down, connections queue in corrald's backlog instead of failing.
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    d.rpc().supervisor.startProcess("app")
    c.sendall(b"GET / HTTP/1.0\r\n\r\n")
    assert c.recv(1024).startswith(b"HTTP/1.0 200")
    c.close()
    pid2 = d.info("app")["pid"]
    assert socket_inode(pid2, 3) == inode
    os.kill(d.proc.pid, signal.SIGHUP)
    wait_for(lambda: d.info("app")["pid"] not in (pid, pid2) and d.state("app") == "RUNNING", timeout=15)
    pid3 = d.info("app")["pid"]
    assert socket_inode(pid3, 3) == inode, "an unchanged socket survives a reload"
    assert http_get(port) == str(pid3)


def test_bad_listen_value_is_a_clear_error(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text(
        "[supervisord]\nlogfile=%s/d.log\n\n[socket:web]\nlisten=http://0.0.0.0:80\n\n"
        "[program:a]\ncommand=/bin/true\nsockets=web,nosuch\n" % tmp_path
    )
    r = subprocess.run([corral_bin("corrald"), "--check", "-c", str(conf)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "%s:5: [socket:web] listen:" % conf in r.stdout + r.stderr
    assert "nosuch" in r.stdout + r.stderr


def test_bad_listen_on_reload_disturbs_nothing(daemon_factory):
    port = free_port()
    d = start_served_app(daemon_factory, port)
    pid = d.wait_state("app", "RUNNING")["pid"]
    with open(d.conf) as f:
        text = f.read()
    d.write_config(text.replace("listen=tcp://127.0.0.1:%d" % port, "listen=tcp://127.0.0.1:notaport"))
    os.kill(d.proc.pid, signal.SIGHUP)
    wait_for(lambda: "restart aborted" in d.mainlog())
    assert d.info("app")["pid"] == pid and http_get(port) == str(pid)
    # and through the API: reread refuses with the reason
    with pytest.raises(xmlrpc.client.Fault) as f:
        d.rpc().supervisor.reloadConfig()
    assert f.value.faultCode == 92 and "listen" in f.value.faultString
    assert pid_alive(pid)


def test_fcgi_program_gets_its_socket_as_stdin(daemon_factory):
    """[fcgi-program:x] keeps supervisord's behaviour: the socket is fd 0 of every process."""
    port = free_port()
    d = daemon_factory("corral", """
        [fcgi-program:fcgi]
        socket=tcp://127.0.0.1:{port}
        command={py} -c "import socket,os; s=socket.socket(fileno=0); c,_=s.accept(); c.sendall(str(os.getpid()).encode()); c.close(); import time; time.sleep(1000)"
        process_name=%(program_name)s_%(process_num)s
        numprocs=2
        startsecs=0
    """.format(port=port, py=PY))
    d.wait_state("fcgi:fcgi_0", "RUNNING")
    d.wait_state("fcgi:fcgi_1", "RUNNING")
    pids = set()
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            pids.add(int(c.recv(100)))
    assert pids == {d.info("fcgi:fcgi_0")["pid"], d.info("fcgi:fcgi_1")["pid"]}

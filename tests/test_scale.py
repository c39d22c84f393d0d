"""Scale (issue 15): the control plane answers while corrald starts and stops thousands of
processes, and file descriptors are planned, not discovered.

How fast is the benchmark's business (bench/run's scaling curve, docs/PERFORMANCE.md);
these tests only hold corrald to what a user can see, with generous deadlines.
"""

import os
import re
import socket
import subprocess
import threading
import time
import xmlrpc.client

from harness import Daemon, corral_bin, wait_for

MANY = 1000
# Far above what an answer takes; it only catches a daemon that keeps a request waiting
# until it is done with all its processes (seconds with a thousand of them).
PROMPT = 5.0

MANY_PROGRAMS = """
[program:many]
command=/bin/sleep 1000
process_name=many%(process_num)04d
numprocs={n}
startsecs=0
autorestart=false
"""


def raw_get_state(sock, timeout=60.0):
    """supervisor.getState over a plain HTTP/1.0 request on the unix socket: (state name,
    seconds from connect to the whole answer). A connection corrald does not accept yet
    waits in the socket's backlog, and that counts."""
    body = xmlrpc.client.dumps((), methodname="supervisor.getState").encode()
    req = (b"POST /RPC2 HTTP/1.0\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n"
           % len(body)) + body
    t = time.monotonic()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock)
        s.sendall(req)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    elapsed = time.monotonic() - t
    (result,), _ = xmlrpc.client.loads(data.partition(b"\r\n\r\n")[2])
    return result["statename"], elapsed


class Prober:
    """A thread asking getState again and again (20 ms apart) until stopped, noting for each
    answer how long it took and how many processes were RUNNING once it had come."""

    def __init__(self, d, running):
        self.d, self.running = d, running
        self.answers = []  # (latency, processes RUNNING when the answer had arrived)
        self.errors = []
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop_ev.is_set():
            try:
                _, latency = raw_get_state(self.d.sock)
                self.answers.append((latency, self.running()))
            except OSError as e:
                self.errors.append(repr(e))
            self.stop_ev.wait(0.02)

    def stop(self):
        self.stop_ev.set()
        self.thread.join(120)


def count_log(d, needle):
    return d.mainlog().count(needle)


def test_requests_are_answered_while_1000_processes_start_and_stop(daemon_factory):
    d = daemon_factory("corral", MANY_PROGRAMS.format(n=MANY), start=False, loglevel="info",
                       header_extra="minfds=%d" % (6 * MANY + 256))
    d.start(wait=False)
    wait_for(lambda: os.path.exists(d.sock), timeout=20, what="the socket")
    prober = Prober(d, lambda: count_log(d, "entered RUNNING"))
    try:
        wait_for(lambda: count_log(d, "entered RUNNING") >= MANY, timeout=300, interval=0.1,
                 what="%d processes RUNNING" % MANY)
    finally:
        prober.stop()
    during = [a for a in prober.answers if a[1] < MANY]
    assert not prober.errors, prober.errors
    # Answered while the processes were being started, not once they all were...
    assert len(during) >= 3, prober.answers[:20]
    # ... and each of them promptly.
    worst = max(latency for latency, _ in prober.answers)
    assert worst < PROMPT, "a getState took %.2f s during the start" % worst

    # supervisorctl's stop and start of the whole group return when the group is done, and
    # the daemon answers meanwhile.
    for verb, state, said, done in (("stop", "STOPPED", ": stopped", "stopped: "),
                                    ("start", "RUNNING", ": started", None)):
        before = count_log(d, done or "entered RUNNING")
        prober = Prober(d, lambda: 0)
        try:
            code, out, err = d.ctl(verb, "many:*", timeout=300)
        finally:
            prober.stop()
        assert code == 0, (out[-500:], err[-500:])
        assert out.count(said) == MANY, out[-500:]
        infos = d.rpc().supervisor.getAllProcessInfo()
        assert [i["statename"] for i in infos] == [state] * MANY
        assert count_log(d, done or "entered RUNNING") - before == MANY
        assert len(prober.answers) >= 3 and not prober.errors, (prober.answers, prober.errors)
        worst = max(latency for latency, _ in prober.answers)
        assert worst < PROMPT, "a getState took %.2f s during '%s many:*'" % (worst, verb)


def check(tmp_path, text, limit):
    conf = tmp_path / "supervisord.conf"
    conf.write_text(text)
    return subprocess.run(["prlimit", "--nofile=%s" % limit, "--", corral_bin("corrald"),
                           "--check", "-c", str(conf)], capture_output=True, text=True)


def test_check_reports_a_configuration_that_needs_more_fds_than_the_hard_limit(tmp_path):
    text = "[supervisord]\nlogfile=%s/main.log\n" % tmp_path + MANY_PROGRAMS.format(n=400)
    r = check(tmp_path, text, "256:1024")
    assert r.returncode == 0, r.stderr
    # Five per process: stdin, stdout and stderr pipe ends, two AUTO log files.
    m = re.search(r"file descriptors: about (\d+) needed \((\d+) for 400 processes, (\d+) for "
                  r"corrald itself\); limit here: 1024 \(soft 256;", r.stdout)
    assert m, r.stdout
    need, per_processes, own = map(int, m.groups())
    assert per_processes == 2000 and need == per_processes + own
    warning = [line for line in r.stdout.splitlines() if "warning:" in line]
    assert len(warning) == 1, r.stdout
    w = warning[0]
    assert "needs about %d file descriptors but the hard limit (RLIMIT_NOFILE) is 1024" % need in w
    assert "`ulimit -Hn %d`" % need in w and "`LimitNOFILE=%d`" % need in w, w
    assert "OK: corrald would run this configuration" in r.stdout

    # Enough room: the figure, no warning. Logs NONE and stderr merged: two per process.
    text = text.replace("autorestart=false", "autorestart=false\nstdout_logfile=NONE\n"
                        "redirect_stderr=true")
    r = check(tmp_path, text, "1024:%d" % 4096)
    assert "about %d needed (800 for 400 processes" % (800 + own) in r.stdout, r.stdout
    assert "warning:" not in r.stdout


class LimitedDaemon(Daemon):
    """corrald started under `prlimit --nofile=SOFT:HARD`."""

    limit = "1024:1024"

    @property
    def argv(self):
        return ["prlimit", "--nofile=%s" % self.limit, "--"] + super().argv


def limited(tmp_path, limit, programs, header_extra=""):
    d = LimitedDaemon("corral", tmp_path / "d", programs, loglevel="info",
                      header_extra=header_extra)
    d.limit = limit
    return d


def test_corrald_takes_the_hard_limit_and_its_children_keep_supervisords(tmp_path):
    d = limited(tmp_path, "256:4096", """
[program:limits]
command=/bin/sh -c 'echo "soft $(ulimit -Sn) hard $(ulimit -Hn)"; exec sleep 1000'
startsecs=0
""", header_extra="minfds=300")
    try:
        d.start()
        d.wait_state("limits", "RUNNING")
        out = wait_for(lambda: d.rpc().supervisor.readProcessStdoutLog("limits", 0, 0),
                       what="the program's output")
        # supervisord raises its soft limit to minfds and its children inherit that.
        assert out.strip() == "soft 300 hard 4096", out
        with open("/proc/%d/limits" % d.proc.pid) as f:
            line = next(x for x in f if x.startswith("Max open files"))
        assert line.split()[3:5] == ["4096", "4096"], line
        log = d.mainlog()
        assert "Increased RLIMIT_NOFILE limit to 300" in log
        assert re.search(r"file descriptors: this configuration needs about \d+ \(1 processes\); "
                         r"corrald may open 4096", log), log
    finally:
        d.stop()


def test_running_out_of_fds_is_reported_once(tmp_path):
    n = 100
    d = limited(tmp_path, "150:150", MANY_PROGRAMS.format(n=n).replace(
        "autorestart=false", "autorestart=false\nstartretries=0\nstdout_logfile=NONE\n"
        "redirect_stderr=true"), header_extra="minfds=100")
    try:
        d.start()
        infos = wait_for(lambda: (lambda i: all(x["statename"] in ("RUNNING", "FATAL") for x in i)
                                  and i)(d.rpc().supervisor.getAllProcessInfo()),
                         timeout=60, what="every process RUNNING or FATAL")
        fatal = [i for i in infos if i["statename"] == "FATAL"]
        assert 0 < len(fatal) < n, [i["statename"] for i in infos]
        assert all(i["spawnerr"] == "too many open files to spawn '%s'" % i["name"] for i in fatal)
        log = d.mainlog()
        # Each process has supervisord's spawnerr line; the explanation comes once.
        assert log.count("spawnerr: too many open files to spawn") == len(fatal)
        assert log.count("has run out of file descriptors") == 1, log[-3000:]
        assert "the hard limit (RLIMIT_NOFILE) is 150" in log
    finally:
        d.stop()


def test_a_removed_group_closes_its_log_files(daemon_factory):
    d = daemon_factory("corral", """
[program:gone]
command=/bin/sleep 1000
startsecs=0
""")
    d.wait_state("gone", "RUNNING")
    path = d.rpc().supervisor.getProcessInfo("gone")["stdout_logfile"]
    fd_dir = "/proc/%d/fd" % d.proc.pid

    def holds_log():
        return any(os.readlink(os.path.join(fd_dir, fd)) == path for fd in os.listdir(fd_dir)
                   if os.path.exists(os.path.join(fd_dir, fd)))

    assert holds_log()
    d.rpc().supervisor.stopProcess("gone")
    assert d.rpc().supervisor.removeProcessGroup("gone")
    wait_for(lambda: not holds_log(), timeout=10, what="corrald to close the removed log file")

"""Running one daemon (corrald or supervisord) in its own temp dir, and measuring it.

Everything a daemon starts is accounted for: the daemon runs in its own session (so its
pid is its process group), its descendants are recorded while it runs, and `stop()` ends
the daemon with SIGTERM, then SIGKILLs (by pid, checking start times against pid reuse)
anything it left behind, and its process group.
"""

import datetime
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import xmlrpc.client

CLK_TCK = os.sysconf("SC_CLK_TCK")
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
VENV_BIN = os.path.join(REPO, ".venv", "bin")
PYTHON = os.path.join(VENV_BIN, "python")

HEADER = """\
[unix_http_server]
file=%(here)s/sock

[supervisord]
logfile=%(here)s/main.log
logfile_maxbytes=0
pidfile=%(here)s/daemon.pid
childlogdir=%(here)s/logs
loglevel=info
nodaemon=true
minfds={minfds}
identifier=bench

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://%(here)s/sock

"""


# ---------------------------------------------------------------------------------------
# /proc readings


def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    # Fields after the command name (which may contain spaces and parentheses).
    return s[s.rindex(")") + 2 :].split()


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    rest = _stat_fields(pid)
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def start_time(pid):
    return int(_stat_fields(pid)[19])


def ppid(pid):
    return int(_stat_fields(pid)[1])


def sched_ns(pid):
    """On-CPU time of all threads in ns (schedstat), a finer cross-check of cpu_seconds."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def ctxt_switches(pid):
    """Voluntary + non-voluntary context switches summed over all threads: the number of
    times the daemon was scheduled off the CPU, i.e. how often it woke up."""
    vol = nonvol = 0
    threads = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        nonvol += int(line.split()[1])
            threads += 1
        except OSError:
            pass
    return {"voluntary": vol, "nonvoluntary": nonvol, "threads": threads}


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def descendants(root):
    """Pids (with start times) of every live descendant of root."""
    children = {}
    for pid in all_pids():
        try:
            children.setdefault(ppid(pid), []).append(pid)
        except (OSError, ValueError, IndexError):
            pass
    out = {}
    todo = [root]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            try:
                out[c] = start_time(c)
            except (OSError, ValueError, IndexError):
                continue
            todo.append(c)
    return out


def machine_busy(seconds=1.0):
    """Fraction of all CPUs busy over `seconds` (to flag measurements disturbed by other
    work on the machine)."""

    def read():
        with open("/proc/stat") as f:
            vals = [int(x) for x in f.readline().split()[1:]]
        idle = vals[3] + vals[4]
        return sum(vals), idle

    t1, i1 = read()
    time.sleep(seconds)
    t2, i2 = read()
    return 1.0 - (i2 - i1) / max(1, t2 - t1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------
# main log

_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) (\w+) (.*)$")


def parse_mainlog(path):
    """[(epoch seconds, level, message)] of a supervisord-format main log."""
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = _LOG_LINE.match(line.rstrip("\n"))
                if not m:
                    continue
                t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
                out.append((t.timestamp() + int(m.group(2)) / 1000, m.group(3), m.group(4)))
    except FileNotFoundError:
        pass
    return out


# ---------------------------------------------------------------------------------------
# the daemons


class Daemon:
    """One daemon under test. kind is 'corral' or 'supervisord'."""

    def __init__(self, kind, bins, body, minfds=1024, tmpdir=None):
        self.kind = kind
        self.bins = bins
        self.dir = tempfile.mkdtemp(prefix=f"corral-bench-{kind}-", dir=tmpdir)
        os.makedirs(os.path.join(self.dir, "logs"))
        self.conf = os.path.join(self.dir, "daemon.conf")
        with open(self.conf, "w") as f:
            f.write(HEADER.format(minfds=minfds))
            f.write(body.replace("%(bench)s", BENCH_DIR).replace("%(python)s", PYTHON))
        self.sock = os.path.join(self.dir, "sock")
        self.mainlog = os.path.join(self.dir, "main.log")
        self.proc = None
        self.pid = None
        self.t_start = None
        self.known = {}  # descendants seen: pid -> start time

    @property
    def label(self):
        return "corral" if self.kind == "corral" else "supervisord"

    def start(self):
        if self.kind == "corral":
            argv = [os.path.join(self.bins, "corrald"), "-n", "-c", self.conf]
        else:
            argv = [os.path.join(VENV_BIN, "supervisord"), "-n", "-c", self.conf]
        out = open(os.path.join(self.dir, "daemon.out"), "wb")
        self.t_start = time.time()
        self.proc = subprocess.Popen(
            argv,
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        self.pid = self.proc.pid
        return self

    def wait_socket(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited early; see {self.dir}/daemon.out")
            if os.path.exists(self.sock):
                try:
                    self.rpc_raw("supervisor.getState")
                    return
                except OSError:
                    pass
            time.sleep(0.02)
        raise RuntimeError(f"{self.label} did not open {self.sock}")

    def remember_children(self):
        self.known.update(descendants(self.pid))

    # -- measurement

    def cpu(self):
        return cpu_seconds(self.pid)

    def sched(self):
        return sched_ns(self.pid)

    def ctxt(self):
        return ctxt_switches(self.pid)

    def rss_kb(self):
        return status_kb(self.pid, "VmRSS")

    def log(self):
        return parse_mainlog(self.mainlog)

    def count_log(self, needle):
        try:
            with open(self.mainlog, errors="replace") as f:
                return sum(1 for line in f if needle in line)
        except FileNotFoundError:
            return 0

    # -- talking to it

    def rpc_raw(self, method, *params, timeout=60):
        """POST one XML-RPC call over the unix socket; the raw response body. Plain
        HTTP/1.0 over a socket, so timing it measures the daemon, not a client library."""
        body = xmlrpc.client.dumps(params, methodname=method).encode()
        req = (
            b"POST /RPC2 HTTP/1.0\r\nHost: localhost\r\nContent-Type: text/xml\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        ) + body
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.sock)
            s.sendall(req)
            chunks = []
            while True:
                c = s.recv(1 << 20)
                if not c:
                    break
                chunks.append(c)
        data = b"".join(chunks)
        head, _, body = data.partition(b"\r\n\r\n")
        status = head.split(b"\r\n")[0]
        if not status.startswith(b"HTTP/1.") or b" 200 " not in status + b" ":
            raise OSError(f"bad response: {head[:200]!r}")
        return body

    def rpc(self, method, *params):
        result, _ = xmlrpc.client.loads(self.rpc_raw(method, *params))
        return result[0]

    def ctl(self, *args, timeout=120):
        if self.kind == "corral":
            argv = [os.path.join(self.bins, "corralctl"), "-c", self.conf, *args]
        else:
            argv = [os.path.join(VENV_BIN, "supervisorctl"), "-c", self.conf, *args]
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )

    def ctl_argv(self, *args):
        if self.kind == "corral":
            return [os.path.join(self.bins, "corralctl"), "-c", self.conf, *args]
        return [os.path.join(VENV_BIN, "supervisorctl"), "-c", self.conf, *args]

    # -- stopping

    def stop(self, timeout=120):
        if self.proc is None:
            return
        try:
            self.remember_children()
        except OSError:
            pass
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
        # Anything it left behind, by pid (if it is still the same process) and the
        # daemon's process group.
        for pid, st in self.known.items():
            try:
                if start_time(pid) == st:
                    os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError, IndexError):
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc = None

    def cleanup(self, keep=False):
        self.stop()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup(keep=os.environ.get("CORRAL_BENCH_KEEP") == "1")
        return False


class Profiler:
    """With CORRAL_BENCH_PERF=DIR, record the daemon with `perf record` (cpu-clock, call
    graphs) during a workload window, into DIR/<daemon>-<name>.perf.data. (Starting perf
    costs the daemon nothing; the figures of a profiled run are still reported, but read
    them with perf's overhead in mind.)"""

    def __init__(self, daemon, name):
        self.proc = None
        out = os.environ.get("CORRAL_BENCH_PERF")
        if not out:
            return
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, f"{daemon.label}-{name}.perf.data")
        self.proc = subprocess.Popen(
            ["perf", "record", "-q", "--no-inherit", "-e", "cpu-clock", "-F", "20000", "--call-graph",
             "dwarf,16384", "-p", str(daemon.pid), "-o", path],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(0.5)  # perf attaches

    def stop(self):
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait()


def tmpfs_dir():
    """/dev/shm if it is a writable tmpfs, else None (the default temp dir)."""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if left.split()[4] == "/dev/shm" and right.split()[0] == "tmpfs":
                    return "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    except OSError:
        pass
    return None


def wait_until(pred, timeout, interval=0.05, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def rotated_files(path):
    """The files of a rotated log, oldest first: path.N … path.1, path."""
    d, base = os.path.split(path)
    numbered = []
    for name in os.listdir(d):
        if name.startswith(base + "."):
            suffix = name[len(base) + 1 :]
            if suffix.isdigit():
                numbered.append((int(suffix), os.path.join(d, name)))
    files = [p for _, p in sorted(numbered, reverse=True)]
    if os.path.exists(path):
        files.append(path)
    return files


def total_size(paths):
    t = 0
    for p in paths:
        try:
            t += os.path.getsize(p)
        except OSError:
            pass
    return t

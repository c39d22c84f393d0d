"""Test harness: start real daemons (corrald or supervisord 4.3.0) in a temp dir and talk to them.

Every daemon gets its own directory, its own unix socket, and is stopped by pid (then by
process group) when the test ends; nothing is ever killed by name.
"""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
import xmlrpc.client

from supervisor.xmlrpc import SupervisorTransport

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where corrald and corralctl are: $CORRAL_BIN_DIR (scripts/test sets it to the directory
# cargo built into), else cargo's default, ${CARGO_TARGET_DIR:-target}/debug.
if os.environ.get("CORRAL_BIN_DIR"):
    BIN_DIR = os.environ["CORRAL_BIN_DIR"]
    BIN_DIR_SOURCE = "from CORRAL_BIN_DIR"
else:
    BIN_DIR = os.path.join(REPO, os.environ.get("CARGO_TARGET_DIR") or "target", "debug")
    BIN_DIR_SOURCE = "CORRAL_BIN_DIR is unset, so ${CARGO_TARGET_DIR:-target}/debug"
VENV_BIN = os.path.dirname(sys.executable)
# The helper programs of tests/programs, and the Python that runs them.
PROGRAMS_DIR = os.path.join(REPO, "tests", "programs")
PY = sys.executable


def missing_bin_message(name):
    """Why `name` cannot be found, naming where we looked and the variable that says so."""
    return ("%s not found in %s (%s). Build it with `cargo build`, or set CORRAL_BIN_DIR to "
            "the directory that holds corrald and corralctl (e.g. $CARGO_TARGET_DIR/debug)"
            % (name, BIN_DIR, BIN_DIR_SOURCE))


def corral_bin(name):
    """Path of a corral binary (corrald, corralctl)."""
    path = os.path.join(BIN_DIR, name)
    if not os.path.exists(path):
        raise RuntimeError(missing_bin_message(name))
    return path


def venv_bin(name):
    """Path of a tool installed in the test venv (supervisord, supervisorctl, gunicorn)."""
    return os.path.join(VENV_BIN, name)


def ctl_bin(client):
    """The client executable: "supervisorctl" (Python, 4.3.0) or "corralctl"."""
    return venv_bin("supervisorctl") if client == "supervisorctl" else corral_bin("corralctl")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_text(path):
    """The text of a file, or "" while it does not exist (for polling with wait_for)."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def http_get(port, path="/", timeout=5):
    """The body (text) of GET http://127.0.0.1:PORT/PATH."""
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return r.read().decode()


def http_parse(raw):
    """(status, headers dict (lower-case names), body) of the first response in `raw`."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def wait_for(cond, timeout=10.0, interval=0.01, what=None):
    """Poll `cond` until it returns something truthy; return that value, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except Exception as exc:  # the condition may fail while things start up
            last_exc = exc
        if time.monotonic() > deadline:
            msg = "timed out after %.1fs waiting for %s" % (timeout, what or getattr(cond, "__name__", cond))
            if last_exc is not None:
                msg += " (last error: %r)" % (last_exc,)
            raise AssertionError(msg)
        time.sleep(interval)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie still "exists"; treat it as dead
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Daemon:
    """One supervisor daemon (kind 'corral' or 'supervisord') in its own directory.

    `programs` is the text of the config after the standard header; use {here} for the
    daemon's directory. The header sets nodaemon, a unix socket, logfile, pidfile and
    childlogdir inside that directory.
    """

    def __init__(self, kind, tmpdir, programs="", header_extra="", unix=True, inet_port=None,
                 loglevel="debug", env=None, inet_username=None, inet_password=None):
        self.kind = kind
        self.dir = str(tmpdir)
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "supervisor.sock")
        self.logfile = os.path.join(self.dir, "daemon.log")
        self.pidfile = os.path.join(self.dir, "daemon.pid")
        self.conf = os.path.join(self.dir, "supervisord.conf")
        self.inet_port = inet_port
        # Credentials of the [inet_http_server] (password as written in the config: plain or
        # {SHA}hex); rpc() sends inet_username / rpc_password when set.
        self.inet_username = inet_username
        self.inet_password = inet_password
        self.rpc_password = inet_password
        self.proc = None
        self.env = env
        parts = [
            "[supervisord]",
            "nodaemon=true",
            "logfile=%s" % self.logfile,
            "pidfile=%s" % self.pidfile,
            "childlogdir=%s" % self.dir,
            "loglevel=%s" % loglevel,
            header_extra.strip(),
            "",
        ]
        if unix:
            parts += ["[unix_http_server]", "file=%s" % self.sock, ""]
        if inet_port:
            parts += ["[inet_http_server]", "port=127.0.0.1:%d" % inet_port]
            if inet_username is not None:
                parts += ["username=%s" % inet_username, "password=%s" % inet_password]
            parts += [""]
        parts += [
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            "serverurl=unix://%s" % self.sock if unix else "serverurl=http://127.0.0.1:%d" % inet_port,
            "",
            textwrap.dedent(programs).replace("{here}", self.dir),
        ]
        # Everything but the programs, so set_programs() can rewrite just those.
        self.config_head = "\n".join(parts[:-1])
        self.write_config("\n".join(parts))

    def set_programs(self, programs):
        """Rewrite the config with new program sections (same header), e.g. before reread."""
        self.write_config(self.config_head + "\n" + textwrap.dedent(programs).replace("{here}", self.dir))

    def write_config(self, text):
        with open(self.conf, "w") as f:
            f.write(text)

    @property
    def argv(self):
        if self.kind == "corral":
            return [corral_bin("corrald"), "-n", "-c", self.conf]
        return [venv_bin("supervisord"), "-n", "-c", self.conf]

    def start(self, wait=True):
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.stdout = open(os.path.join(self.dir, "daemon.stdout"), "wb")
        # Its own session: a stray signal to the test runner's group never reaches it, and
        # clean-up can target exactly its process group.
        self.proc = subprocess.Popen(self.argv, cwd=self.dir, stdout=self.stdout,
                                     stderr=subprocess.STDOUT, start_new_session=True, env=env)
        if wait:
            wait_for(self.responding, timeout=20, what="%s to answer on its socket" % self.kind)
        return self

    def responding(self):
        if self.proc.poll() is not None:
            raise AssertionError("%s exited with %s:\n%s" % (self.kind, self.proc.returncode, self.output()))
        try:
            return self.rpc().supervisor.getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Fault):
            return False

    def rpc(self, allow_none=False):
        if self.inet_port and not os.path.exists(self.sock):
            userinfo = ""
            if self.inet_username is not None:
                userinfo = "%s:%s@" % (self.inet_username, self.rpc_password)
            return xmlrpc.client.ServerProxy("http://%s127.0.0.1:%d/RPC2" % (userinfo, self.inet_port),
                                             allow_none=allow_none)
        return xmlrpc.client.ServerProxy(
            "http://127.0.0.1", transport=SupervisorTransport(None, None, "unix://" + self.sock),
            allow_none=allow_none)

    def connect(self, timeout=10.0, unix_path=None):
        """A raw socket to the daemon's HTTP server (inet when configured, else unix), or
        to the unix socket at `unix_path`."""
        if self.inet_port and unix_path is None:
            return socket.create_connection(("127.0.0.1", self.inet_port), timeout=timeout)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(unix_path or self.sock)
        return s

    def http_raw(self, data, timeout=5.0, until=None, unix_path=None):
        """Send raw bytes (to `unix_path` if given, see connect); read until the server
        closes, `until(received)` is true, or `timeout` passes. Returns (received bytes,
        timed_out)."""
        s = self.connect(timeout, unix_path)
        deadline = time.monotonic() + timeout
        out = b""
        timed_out = False
        try:
            s.sendall(data)
            while not (until and until(out)):
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                s.settimeout(left)
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    timed_out = True
                    break
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                out += chunk
        finally:
            s.close()
        return out, timed_out

    def ctl(self, *args, client="supervisorctl", input=None, timeout=60, env=None):
        """Run supervisorctl (Python, 4.3.0) or corralctl against this daemon."""
        r = subprocess.run([ctl_bin(client), "-c", self.conf] + list(args), capture_output=True,
                           text=True, input=input, timeout=timeout,
                           env=None if env is None else dict(os.environ, **env))
        return r.returncode, r.stdout, r.stderr

    def wait_exit(self, timeout=20):
        """Wait for the daemon to exit by itself (after `shutdown`); return its exit status."""
        return self.proc.wait(timeout=timeout)

    def output(self):
        try:
            with open(os.path.join(self.dir, "daemon.stdout"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def mainlog(self):
        try:
            with open(self.logfile, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def info(self, name):
        return self.rpc().supervisor.getProcessInfo(name)

    def state(self, name):
        return self.info(name)["statename"]

    def wait_state(self, name, *states, timeout=10):
        return wait_for(lambda: self.state(name) in states and self.info(name), timeout=timeout,
                        what="%s to reach %s" % (name, "/".join(states)))

    def stop(self, timeout=30):
        """SIGTERM the daemon by pid and wait; escalate to SIGKILL of its process group."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self.stdout.close()
        self.proc = None

"""Supervisor 4.3.0's own end-to-end suite (supervisor/tests/test_end_to_end.py, as installed
from the pinned wheel, never modified) run against supervisord, or against corrald.

The upstream module starts its programs with
``pexpect.spawn(sys.executable, ['-m', 'supervisor.supervisord', *args])`` (and
``supervisor.supervisorctl``). We import it under a name of our own and replace two of its
module globals, so the file itself stays as shipped:

* ``pexpect``: a proxy whose ``spawn`` rewrites the command line according to the mode (run
  ``<bin>/corrald *args`` instead of supervisord, ``<bin>/corralctl *args`` instead of
  supervisorctl), remembers every child so that the test's leftovers can be stopped, and
  records what each child printed (shown when a test fails);
* ``resource_filename``: points ``fixtures/...`` at a copy of the package's fixtures that has
  ``hello.sh`` back (issue-565.conf runs it; the 4.3.0 wheel does not ship it).

The fixtures use fixed paths under /tmp (``/tmp/issue-835.sock``...), as upstream does; a
lock file keeps two runs of this suite on one machine (two worktrees) from meeting there.
"""

import fcntl
import importlib.util
import inspect
import io
import os
import shutil
import signal
import sys
import time
import unittest

import pexpect

import harness

# Each mode: (which daemon runs, which client runs).
MODES = {
    "supervisord": ("supervisord", "supervisorctl"),
    "corrald": ("corrald", "supervisorctl"),
    "corralctl": ("corrald", "corralctl"),
}

# How the upstream tests start supervisor's programs.
_SUPERVISORD = ["-m", "supervisor.supervisord"]
_SUPERVISORCTL = ["-m", "supervisor.supervisorctl"]

# hello.sh from upstream's supervisor/tests/fixtures (Supervisor/supervisor, commit 7c309c5),
# missing from the 4.3.0 wheel: it prints this line with n = 1..10, one a second. Written
# out here with the same output and timing.
HELLO_SH = """\
#!/bin/bash
# Restored by corral's tests: supervisor's fixtures/hello.sh, which the 4.3.0 wheel lacks.
for n in 1 2 3 4 5 6 7 8 9 10; do
    echo "The \u00d8resund bridge ends in Malm\u00f6 - $n"
    sleep 1
done
"""

LOCK_PATH = "/tmp/corral-supervisor-e2e.lock"

# How long a daemon may take to exit after the test's clean-up sent it SIGINT, before it is
# sent SIGTERM and then SIGKILL (supervisord's own stop of a child takes up to stopwaitsecs).
EXIT_GRACE = 30.0


def upstream_path():
    """The installed test_end_to_end.py (from the pinned supervisor wheel)."""
    spec = importlib.util.find_spec("supervisor.tests.test_end_to_end")
    return spec.origin


def load_upstream():
    """The upstream module, imported afresh under another name, with END_TO_END set so that
    its test class is a real unittest.TestCase (upstream skips the suite without it)."""
    spec = importlib.util.spec_from_file_location("supervisor_upstream_end_to_end", upstream_path())
    module = importlib.util.module_from_spec(spec)
    saved = os.environ.get("END_TO_END")
    os.environ["END_TO_END"] = "1"
    try:
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del os.environ["END_TO_END"]
        else:
            os.environ["END_TO_END"] = saved
    return module


def test_names(module):
    """The upstream test names, in unittest's order."""
    return unittest.TestLoader().getTestCaseNames(module.EndToEndTests)


def uses_supervisor(module, name):
    """Whether the test runs supervisord or supervisorctl (the rest run pidproxy or
    echo_supervisord_conf, which corral does not replace)."""
    source = inspect.getsource(getattr(module.EndToEndTests, name))
    return "supervisor.supervisord" in source or "supervisor.supervisorctl" in source


def make_fixtures(dest):
    """A copy of the package's fixtures directory, with hello.sh restored."""
    src = os.path.join(os.path.dirname(upstream_path()), "fixtures")
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
    hello = os.path.join(dest, "hello.sh")
    with open(hello, "w", encoding="utf-8") as f:
        f.write(HELLO_SH)
    os.chmod(hello, 0o755)
    return dest


class Spawner:
    """What the upstream module sees as `pexpect`: the real module, except that `spawn`
    runs the mode's programs and keeps every child it started."""

    def __init__(self, mode, cwd):
        self._daemon, self._client = MODES[mode]
        # Where the children run: issue-1298.conf names no logfile, so the daemon writes
        # supervisord.log (and its pidfile) into its working directory.
        self._cwd = cwd
        self.children = []  # (command line as asked, as run, pexpect child, its output)

    def __getattr__(self, name):
        return getattr(pexpect, name)

    def _rewrite(self, command, args, env):
        args = list(args)
        if command == sys.executable and args[:2] == _SUPERVISORD and self._daemon == "corrald":
            return harness.corral_bin("corrald"), args[2:], env
        if command == sys.executable and args[:2] == _SUPERVISORCTL and self._client == "corralctl":
            return harness.corral_bin("corralctl"), args[2:], self._corralctl_env(env)
        if command == "/bin/sh" and args[:1] == ["-c"] and len(args) == 2:
            # test_issue_1298 pipes supervisorctl through `cat -u` in a shell command line.
            line = args[1]
            line = self._rewrite_shell(line, _SUPERVISORD, self._daemon == "corrald", "corrald")
            if self._client == "corralctl" and "supervisor.supervisorctl" in line:
                line = self._rewrite_shell(line, _SUPERVISORCTL, True, "corralctl")
                env = self._corralctl_env(env)
            return command, ["-c", line], env
        return command, args, env

    @staticmethod
    def _rewrite_shell(line, module_args, replace, binary):
        if not replace or module_args[1] not in line:
            return line
        python_m = "'%s' %s" % (sys.executable, " ".join(module_args))
        if python_m not in line:
            # Fail loudly rather than run the reference program where corral was meant.
            raise AssertionError("cannot find %r in the shell command %r" % (python_m, line))
        return line.replace(python_m, "'%s'" % harness.corral_bin(binary))

    @staticmethod
    def _corralctl_env(env):
        # corralctl colours the state word on a terminal (a documented choice, see
        # docs/CORRALCTL.md), and pexpect gives it a terminal; the upstream tests match
        # supervisorctl's plain text, so ask for no colour the standard way (no-color.org).
        env = dict(os.environ if env is None else env)
        env["NO_COLOR"] = "1"
        return env

    def spawn(self, command, args=(), **kw):
        asked = [command, *args]
        command, args, env = self._rewrite(command, args, kw.get("env"))
        if env is not None:
            kw["env"] = env
        kw.setdefault("cwd", self._cwd)
        child = pexpect.spawn(command, args, **kw)
        output = io.StringIO() if kw.get("encoding") else io.BytesIO()
        child.logfile_read = output
        self.children.append((asked, [command, *args], child, output))
        return child

    def stop_all(self):
        """Wait for every child to exit (the test's clean-ups sent them SIGINT), reading
        their output meanwhile so that none blocks on a full terminal. Whatever is still
        running at the deadline gets SIGTERM, then SIGKILL: sent to the child's process group
        (pexpect makes each child a session leader), which also holds the rest of a shell
        pipeline after the shell itself is gone; a daemon's own children are in groups of
        their own and are the daemon's to stop."""
        for _, _, child, _ in self.children:
            deadline = time.monotonic() + EXIT_GRACE
            for sig in (None, signal.SIGTERM, signal.SIGKILL):
                if sig is not None:
                    try:
                        os.killpg(child.pid, sig)
                    except ProcessLookupError:
                        pass
                    deadline = time.monotonic() + 10
                if _read_to_eof(child, deadline):
                    break
            child.close(force=True)

    def report(self):
        """What each child printed, for a failure's report."""
        parts = []
        for asked, ran, child, output in self.children:
            text = output.getvalue()
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
            parts.append("---- %r\n     ran %r: exit status %s, signal %s\n%s" % (
                asked, ran, child.exitstatus, child.signalstatus, text))
        return "\n".join(parts)


def _read_to_eof(child, deadline):
    """Read the child's terminal until it closes (True), or until the deadline (False).
    Gives up early when the child itself has exited but others in its group still hold the
    terminal (the rest of a pipeline, which the test's SIGINT to the shell did not reach)."""
    orphaned_since = None
    while time.monotonic() < deadline:
        try:
            child.expect(pexpect.EOF, timeout=0.5)
            return True
        except pexpect.TIMEOUT:
            pass
        except pexpect.ExceptionPexpect:
            return True
        if child.isalive():
            orphaned_since = None
        elif orphaned_since is None:
            orphaned_since = time.monotonic()
        elif time.monotonic() - orphaned_since > 2:
            return False
    return False


class Lock:
    """An exclusive lock on LOCK_PATH while held (the fixtures' /tmp paths are fixed)."""

    def __enter__(self):
        self._f = open(LOCK_PATH, "a")
        fcntl.flock(self._f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._f, fcntl.LOCK_UN)
        self._f.close()


def run(module, fixtures, name, mode):
    """Run one upstream test in `mode`. Returns (unittest result, the Spawner (its report()
    is what the children printed), seconds taken)."""
    spawner = Spawner(mode, os.path.dirname(fixtures))
    module.pexpect = spawner
    module.resource_filename = lambda _package, path: os.path.join(
        fixtures, os.path.relpath(path, "fixtures"))
    result = unittest.TestResult()
    started = time.monotonic()
    try:
        module.EndToEndTests(name).run(result)
    finally:
        spawner.stop_all()
        module.pexpect = pexpect
    return result, spawner, time.monotonic() - started

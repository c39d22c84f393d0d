"""Rolling restarts: a Flask app under Gunicorn on a socket owned by corrald, replaced
under `wrk` load with zero failed requests; replacements that crash or never become ready
leave the old process serving; `update` of a changed program rolls too.
"""

import re
import shutil
import subprocess
import textwrap

import pytest

from harness import PROGRAMS_DIR as PROGS
from harness import free_port, http_get, pid_alive, venv_bin, wait_for

GUNICORN = venv_bin("gunicorn")

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (scripts/setup-test-deps)")


def program(port, extra="", name="web", command=None):
    command = command or "{g} --preload --workers 2 --graceful-timeout 5 --chdir {progs} flask_app:app".format(
        g=GUNICORN, progs=PROGS)
    return textwrap.dedent("""
        [socket:web]
        listen=tcp://127.0.0.1:{port}

        [program:{name}]
        command={command}
        sockets=web
        readiness=notify
        stopwaitsecs=10
        stdout_logfile={{here}}/{name}.log
        redirect_stderr=true
    """).format(port=port, name=name, command=command) + extra + "\n"


class Load:
    """wrk in the background for `seconds`; `.result()` gives (requests, failures)."""

    started = []  # stopped by _stop_load if a test ends before its result()

    def __init__(self, port, seconds):
        self.proc = subprocess.Popen(
            ["wrk", "-t2", "-c16", "-d%ds" % seconds, "--timeout", "5s", "http://127.0.0.1:%d/" % port],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        Load.started.append(self.proc)

    def result(self):
        out, _ = self.proc.communicate(timeout=120)
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        failures = 0
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        if m:
            failures += sum(int(x) for x in m.groups())
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if m:
            failures += int(m.group(1))
        return requests, failures, out


@pytest.fixture(autouse=True)
def _stop_load():
    """A test that fails before collecting its load would leave wrk running: stop it by pid."""
    yield
    while Load.started:
        proc = Load.started.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def rolling(d, *names):
    return d.ctl("restart", "--rolling", *names, client="corralctl", timeout=120)


def test_rolling_restart_under_load_fails_no_request(daemon_factory):
    port = free_port()
    d = daemon_factory("corral", program(port))
    first = d.wait_state("web", "RUNNING", timeout=30)["pid"]
    wait_for(lambda: http_get(port).startswith("pid"))
    load = Load(port, 10)
    pids = [first]
    for _ in range(3):
        code, out, err = rolling(d, "web")
        assert code == 0, (out, err)
        m = re.search(r"^web: replaced \(pid (\d+) -> (\d+)\)$", out, re.M)
        assert m, out
        assert int(m.group(1)) == pids[-1]
        pids.append(int(m.group(2)))
        assert d.info("web")["pid"] == pids[-1]
        assert not pid_alive(pids[-2])
    requests, failures, out = load.result()
    assert failures == 0, out
    assert requests > 500, out
    assert len(set(pids)) == 4


@pytest.mark.parametrize("how", ["crashes", "never-ready"])
def test_failed_replacement_keeps_the_old_process_serving(daemon_factory, tmp_path, how):
    port = free_port()
    flag = tmp_path / "flag"
    if how == "crashes":
        extra = 'environment=FAIL_FLAG="%s"' % flag
        command = None
        expect = "exited before it was ready"
    else:
        extra = "readiness_timeout=3"
        command = "/bin/sh -c 'if [ -e {flag} ]; then exec sleep 1000; fi; exec {g} --preload --workers 2 --chdir {progs} flask_app:app'".format(
            flag=flag, g=GUNICORN, progs=PROGS)
        expect = "not ready after 3 seconds"
    d = daemon_factory("corral", program(port, extra, command=command))
    pid = d.wait_state("web", "RUNNING", timeout=30)["pid"]
    wait_for(lambda: http_get(port).startswith("pid"))
    flag.write_text("")
    load = Load(port, 8)
    code, out, err = rolling(d, "web")
    assert code == 1, (out, err)
    assert re.search(r"^web: ERROR \(replacement %s.*\); the old process keeps serving" % expect, out, re.M), out
    assert d.info("web")["pid"] == pid and d.state("web") == "RUNNING"
    requests, failures, wrk_out = load.result()
    assert failures == 0, wrk_out
    assert requests > 100
    assert "the running process keeps serving" in d.mainlog()


def test_seed_app_on_a_corral_socket_restarts_20_times_under_load(daemon_factory, tmp_path):
    """seeds/000's Flask app, unchanged, served from a corral-owned socket by Gunicorn."""
    app_dir = tmp_path / "flask-app"
    app_dir.mkdir()
    from test_seed_flask import APP
    (app_dir / "app.py").write_text(APP)
    port = free_port()
    command = "{g} --preload --workers 2 --graceful-timeout 5 --chdir {dir} app:app".format(g=GUNICORN, dir=app_dir)
    d = daemon_factory("corral", program(port, command=command, name="techcoil-flask-app"))
    d.wait_state("techcoil-flask-app", "RUNNING", timeout=30)
    wait_for(lambda: http_get(port) == "SUCCESS")
    load = Load(port, 45)
    pids = set()
    for _ in range(20):
        code, out, err = rolling(d, "techcoil-flask-app")
        assert code == 0, (out, err)
        pids.add(d.info("techcoil-flask-app")["pid"])
    requests, failures, out = load.result()
    assert len(pids) == 20
    assert failures == 0, out
    assert requests > 1000, out


def test_rolling_a_group_one_process_at_a_time(daemon_factory):
    port = free_port()
    d = daemon_factory("corral", program(port, "numprocs=2\nprocess_name=%(program_name)s_%(process_num)d"))
    before = {n: d.wait_state("web:web_%d" % n, "RUNNING", timeout=30)["pid"] for n in (0, 1)}
    load = Load(port, 8)
    code, out, err = rolling(d, "web:*")
    assert code == 0, (out, err)
    lines = [l for l in out.splitlines() if "replaced" in l]
    assert [l.split(":")[0] + ":" + l.split(":")[1] for l in lines] == ["web:web_0", "web:web_1"]
    after = {n: d.info("web:web_%d" % n)["pid"] for n in (0, 1)}
    assert all(after[n] != before[n] for n in (0, 1))
    requests, failures, wrk_out = load.result()
    assert failures == 0, wrk_out


def test_update_of_a_changed_program_on_sockets_rolls(daemon_factory):
    port = free_port()
    d = daemon_factory("corral", program(port, 'environment=APP_VERSION="1"'))
    old = d.wait_state("web", "RUNNING", timeout=30)["pid"]
    wait_for(lambda: http_get(port).endswith("version 1\n"))
    with open(d.conf) as f:
        text = f.read()
    d.write_config(text.replace('APP_VERSION="1"', 'APP_VERSION="2"'))
    load = Load(port, 8)
    code, out, err = d.ctl("update", client="corralctl", timeout=120)
    assert code == 0, (out, err)
    assert "web: updated process group without a gap" in out
    assert d.info("web")["pid"] != old
    assert http_get(port).endswith("version 2\n")
    requests, failures, wrk_out = load.result()
    assert failures == 0, wrk_out
    # nothing left to update
    code, out, err = d.ctl("reread", client="corralctl")
    assert out.strip() == "No config updates to processes"

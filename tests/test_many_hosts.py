"""corralctl and several servers at once: `-s` repeated (or `[supervisorctl:NAME]`
sections), `status` of all of them with a server column, actions on `SERVER:name` or on
every server, `--json` with the server; against two corrald and one supervisord. With one
server, corralctl prints exactly what supervisorctl prints."""

import json
import os
import subprocess

import pytest

from harness import corral_bin, venv_bin, wait_for

PROGRAMS = """
    [program:web]
    command=sleep 1000
    startsecs=0

    [program:{own}]
    command=sleep 1000
    startsecs=0

    [program:idle]
    command=sleep 1000
    autostart=false
"""


@pytest.fixture
def three(daemon_factory):
    a = daemon_factory("corral", PROGRAMS.format(own="alpha"), subdir="a")
    b = daemon_factory("corral", PROGRAMS.format(own="beta"), subdir="b")
    c = daemon_factory("supervisord", PROGRAMS.format(own="gamma"), subdir="c")
    for d, own in ((a, "alpha"), (b, "beta"), (c, "gamma")):
        d.wait_state("web", "RUNNING")
        d.wait_state(own, "RUNNING")
    return a, b, c


def ctl(*args, cwd=None):
    r = subprocess.run([corral_bin("corralctl")] + list(args), capture_output=True, text=True,
                       timeout=60, cwd=cwd)
    return r.returncode, r.stdout, r.stderr


def servers(a, b, c):
    return ["-s", "a=unix://" + a.sock, "-s", "b=unix://" + b.sock, "-s", "c=unix://" + c.sock]


def test_status_of_all_servers(three):
    a, b, c = three
    code, out, err = ctl(*servers(a, b, c), "status")
    rows = [line.split() for line in out.splitlines()]
    seen = {(r[0], r[1], r[2]) for r in rows}
    for server, own in (("a", "alpha"), ("b", "beta"), ("c", "gamma")):
        assert (server, "web", "RUNNING") in seen, out
        assert (server, own, "RUNNING") in seen, out
        assert (server, "idle", "STOPPED") in seen, out
    assert len(rows) == 9, out
    # The server column, then supervisorctl's line.
    line = next(line for line in out.splitlines() if line.startswith("c ") and " idle " in line)
    assert line == "c  idle                             STOPPED   Not started"
    assert code == 3, "some processes are not running (LSB status 3), as supervisorctl says"


def test_actions_on_one_server_only(three):
    a, b, c = three
    before = {d: d.info("web")["pid"] for d in (a, b, c)}
    code, out, err = ctl(*servers(a, b, c), "restart", "b:web")
    assert out.splitlines() == ["b  web: stopped", "b  web: started"], out
    assert code == 0, err
    assert a.info("web")["pid"] == before[a] and c.info("web")["pid"] == before[c]
    assert b.info("web")["pid"] != before[b]
    # A name without a server goes to every server; SERVER:all to all of one.
    code, out, err = ctl(*servers(a, b, c), "stop", "web", "c:all")
    lines = out.splitlines()
    assert "a  web: stopped" in lines and "b  web: stopped" in lines and "c  web: stopped" in lines
    assert "c  gamma: stopped" in lines
    assert a.state("alpha") == "RUNNING" and c.state("gamma") == "STOPPED"


def test_json_includes_the_server(three):
    a, b, c = three
    code, out, err = ctl(*servers(a, b, c), "--json", "status", "web")
    doc = json.loads(out)
    assert doc["command"] == "status"
    assert sorted((r["server"], r["namespec"], r["statename"]) for r in doc["results"]) == [
        ("a", "web", "RUNNING"), ("b", "web", "RUNNING"), ("c", "web", "RUNNING")]
    code, out, err = ctl(*servers(a, b, c), "--json", "start", "a:idle")
    doc = json.loads(out)
    assert doc["results"] == [{"server": "a", "name": "idle", "action": "start", "ok": True,
                               "status": "started", "code": 80}]


def test_one_server_is_exactly_supervisorctl(three):
    a, b, c = three
    for d in (a, c):
        r = subprocess.run([venv_bin("supervisorctl"), "-s", "unix://" + d.sock, "status", "idle"],
                           capture_output=True, text=True, timeout=60)
        code, out, err = ctl("-s", "unix://" + d.sock, "status", "idle")
        assert (code, out) == (r.returncode, r.stdout)


def test_servers_from_the_config_file(three, tmp_path):
    a, b, c = three
    conf = tmp_path / "ctl.conf"
    conf.write_text("[supervisorctl]\n\n[supervisorctl:left]\nserverurl=unix://%s\n\n"
                    "[supervisorctl:right]\nserverurl=unix://%s\n" % (a.sock, c.sock))
    code, out, err = ctl("-c", str(conf), "pid", "right:gamma")
    assert out == "right  %d\n" % c.info("gamma")["pid"], out
    code, out, err = ctl("-c", str(conf), "status")
    assert {line.split()[0] for line in out.splitlines()} == {"left", "right"}
    # tail follows one process, named with its server.
    code, out, err = ctl("-c", str(conf), "tail", "web")
    assert "needs one process as SERVER:NAME (servers: left, right)" in out and code == 2


def test_an_unreachable_server_does_not_hide_the_others(three, tmp_path):
    a, b, c = three
    code, out, err = ctl("-s", "a=unix://" + a.sock, "-s", "gone=unix://%s/nothing.sock" % tmp_path,
                         "status", "web")
    lines = out.splitlines()
    assert any(line.startswith("a     web ") and "RUNNING" in line for line in lines), out
    assert "gone  unix://%s/nothing.sock no such file" % tmp_path in lines, out
    assert code == 4, "the unreachable server's status is unknown"

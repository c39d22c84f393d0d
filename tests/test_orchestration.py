"""Orchestration (issue 12): dependencies between programs, pools scaled at run time,
environment files and stop sequences, with real processes, the real supervisorctl and
corralctl.
"""

import datetime
import json
import os
import re
import subprocess
import time

import pytest

from harness import PROGRAMS_DIR as PROGS
from harness import PY, corral_bin, free_port, read_text, venv_bin, wait_for


def log_time(line):
    """The time of a main log line (`2026-01-02 03:04:05,678 INFO ...`)."""
    return datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")


def first_line(log, pattern):
    for line in log.splitlines():
        if re.search(pattern, line):
            return line
    raise AssertionError("no line matching %r in:\n%s" % (pattern, log))


def status_line(d, name, client="supervisorctl"):
    code, out, err = d.ctl("status", name, client=client)
    return out.strip()


# ---- dependencies --------------------------------------------------------------------


def db_web_programs(port, tmp_path, db_command=None, extra_db="", autostart="true"):
    db_command = db_command or "{py} {progs}/delayed_listener.py {port} 2".format(py=PY, progs=PROGS, port=port)
    return """
        [program:db]
        command={db_command}
        readiness=tcp://127.0.0.1:{port}
        startsecs=0
        autostart={autostart}
        {extra_db}

        [program:migrate]
        command=/bin/sh -c "sleep 0.5; echo migrated > {tmp}/migrated"
        depends_on=db:started
        autorestart=false
        startsecs=0
        autostart={autostart}

        [program:web]
        command=/bin/sh -c "test -e {tmp}/migrated && exec sleep 1000"
        depends_on=db, migrate:completed
        startsecs=1
        autostart={autostart}
    """.format(db_command=db_command, port=port, tmp=tmp_path, extra_db=extra_db, autostart=autostart)


def test_web_starts_after_db_is_ready_and_stops_before_it(daemon_factory, tmp_path):
    port = free_port()
    d = daemon_factory("corral", db_web_programs(port, tmp_path))
    # db takes 2 s to listen: meanwhile web waits, and says so to the real supervisorctl.
    line = status_line(d, "web")
    assert re.match(r"^web\s+STOPPED\s+waiting for db \(ready\)(, migrate \(completed\))?$", line), line
    d.wait_state("web", "RUNNING", timeout=20)
    log = d.mainlog()
    db_ready = log_time(first_line(log, r"success: db entered RUNNING state, process is ready"))
    migrate_done = log_time(first_line(log, r"exited: migrate \(exit status 0; expected\)"))
    migrate_spawned = log_time(first_line(log, r"spawned: 'migrate'"))
    web_spawned = log_time(first_line(log, r"spawned: 'web'"))
    db_spawned = log_time(first_line(log, r"spawned: 'db'"))
    assert db_ready - db_spawned >= datetime.timedelta(seconds=1.9)
    assert migrate_spawned >= db_spawned, "migrate needs db started only"
    assert migrate_spawned < db_ready
    assert web_spawned >= db_ready and web_spawned >= migrate_done
    assert (tmp_path / "migrated").exists()
    # `corralctl deps` shows the graph and where each dependency is.
    code, out, err = d.ctl("deps", client="corralctl")
    assert code == 0, (out, err)
    assert out.splitlines() == [
        " 1. db",
        " 2. migrate  after db:started (met)",
        " 3. web      after db:ready (met), migrate:completed (met)",
    ]
    deps = d.rpc().corral.getDependencies()
    assert [p["name"] for p in deps] == ["db", "migrate", "web"]
    assert deps[0]["required_by"] == ["migrate", "web"]
    # Shutdown: web stops before db.
    d.stop()
    log = d.mainlog()
    assert log_time(first_line(log, r"stopped: web")) <= log_time(first_line(log, r"stopped: db"))
    assert log.index("stopped: web") < log.index("stopped: db")


def test_healthy_waits_for_a_passing_health_check(daemon_factory, tmp_path):
    # db is RUNNING at once, but its health check fails until the marker exists: app,
    # which needs db healthy, waits for the check, not for RUNNING.
    marker = tmp_path / "db-ok"
    d = daemon_factory("corral", f"""
        [program:db]
        command=/bin/sleep 1000
        startsecs=0
        healthcheck=exec:test -e {marker}
        healthcheck_interval=0.2
        healthcheck_retries=1000

        [program:app]
        command=/bin/sleep 1000
        startsecs=0
        depends_on=db:healthy
    """)
    d.wait_state("db", "RUNNING")
    wait_for(lambda: d.rpc().corral.getProcessHealth("db")["failures"] >= 2, timeout=10)
    assert d.state("app") == "STOPPED"
    assert re.match(r"^app\s+STOPPED\s+waiting for db \(healthy\)$", status_line(d, "app"))
    marker.write_text("")
    d.wait_state("app", "RUNNING", timeout=10)
    assert d.rpc().corral.getProcessHealth("db")["state"] == "healthy"


def test_a_fatal_dependency_blocks_and_start_says_so(daemon_factory, tmp_path):
    port = free_port()
    d = daemon_factory("corral", db_web_programs(port, tmp_path, db_command="/bin/false",
                                                 extra_db="startretries=1"))
    d.wait_state("db", "FATAL", timeout=15)
    wait_for(lambda: "blocked: db is FATAL" in status_line(d, "web"), timeout=10)
    assert re.match(r"^web\s+STOPPED\s+blocked: db is FATAL$", status_line(d, "web"))
    # migrate needed db started only, which it was for a moment.
    assert d.state("migrate") == "EXITED"
    # supervisorctl's start of a blocked process: a spawn error, as for any failed start.
    code, out, err = d.ctl("start", "web")
    assert out.strip() == "web: ERROR (spawn error)", (out, err)
    assert d.state("web") == "STOPPED"
    code, out, err = d.ctl("deps", "web", client="corralctl")
    assert "db:ready (blocked: db is FATAL)" in out, out


def test_start_starts_what_it_depends_on_first(daemon_factory, tmp_path):
    port = free_port()
    d = daemon_factory("corral", db_web_programs(port, tmp_path, autostart="false"))
    time.sleep(0.5)
    for name in ("db", "migrate", "web"):
        assert d.state(name) == "STOPPED"
    # Not autostart: nothing waits, supervisord's description.
    assert re.match(r"^web\s+STOPPED\s+Not started$", status_line(d, "web"))
    t0 = time.monotonic()
    code, out, err = d.ctl("start", "web", client="corralctl")
    assert code == 0 and out.strip() == "web: started", (out, err)
    assert time.monotonic() - t0 >= 2, "waited for db to be ready"
    assert d.state("db") == "RUNNING" and d.state("migrate") == "EXITED"
    # A stop of db leaves web running (it is a condition to start, not a bond).
    code, out, err = d.ctl("stop", "db")
    assert d.state("web") == "RUNNING"
    # `stop all` stops web before db.
    d.ctl("start", "db")
    d.ctl("stop", "all")
    log = d.mainlog()
    assert log.rindex("stopped: web") < log.rindex("stopped: db")


def test_a_cycle_is_refused_by_check(tmp_path):
    conf = tmp_path / "s.conf"
    conf.write_text(
        "[supervisord]\nlogfile=%s/l\npidfile=%s/p\n"
        "[program:a]\ncommand=/bin/true\ndepends_on=b\n"
        "[program:b]\ncommand=/bin/true\ndepends_on=a:started\n" % (tmp_path, tmp_path))
    r = subprocess.run([corral_bin("corrald"), "--check", "-c", str(conf)], capture_output=True, text=True)
    assert r.returncode == 2, r
    assert "%s:6: [program:a] depends_on: dependency cycle: a -> b -> a" % conf in r.stdout, r.stdout


def test_check_shows_the_start_order(tmp_path):
    conf = tmp_path / "s.conf"
    conf.write_text(
        "[supervisord]\nlogfile=%s/l\npidfile=%s/p\n"
        "[program:web]\ncommand=/bin/true\ndepends_on=db\npriority=1\n"
        "[program:db]\ncommand=/bin/true\n"
        "[program:tool]\ncommand=/bin/true\n" % (tmp_path, tmp_path))
    r = subprocess.run([corral_bin("corrald"), "--check", "-c", str(conf)], capture_output=True, text=True)
    assert r.returncode == 0, r
    order = r.stdout.split("start order (depends_on, then priority):\n")[1]
    assert order.splitlines()[:3] == ["  1. db", "  2. web after db (ready)", "  3. tool"]


# ---- scaling ---------------------------------------------------------------------------

WORKER = """
    [program:worker]
    command=sleep 1000
    process_name=worker_%(process_num)02d
    numprocs={n}
    startsecs=0
    stdout_logfile={{here}}/worker_%(process_num)02d.log
"""


def pids(d, group="worker"):
    return {p["name"]: p["pid"] for p in d.rpc().supervisor.getAllProcessInfo()
            if p["group"] == group and p["statename"] == "RUNNING"}


def names(d, group="worker"):
    return sorted(p["name"] for p in d.rpc().supervisor.getAllProcessInfo() if p["group"] == group)


def scale(d, arg):
    code, out, err = d.ctl("scale", "worker", arg, client="corralctl", timeout=60)
    assert code == 0, (out, err)
    return out


def test_scale_up_down_and_relative_keeps_the_others(daemon_factory):
    d = daemon_factory("corral", WORKER.format(n=2))
    wait_for(lambda: len(pids(d)) == 2)
    first = pids(d)
    out = scale(d, "5")
    assert "worker:worker_04: started (pid" in out and "worker: scaled from 2 to 5 processes" in out, out
    five = pids(d)
    assert sorted(five) == ["worker_%02d" % i for i in range(5)]
    assert {k: five[k] for k in first} == first, "the running ones kept their pids"
    assert os.path.exists(os.path.join(d.dir, "worker_04.log")), "logs as numprocs=5 would name them"
    out = scale(d, "3")
    assert out.splitlines()[:2] == ["worker:worker_04: stopped", "worker:worker_03: stopped"], out
    three = pids(d)
    assert names(d) == ["worker_00", "worker_01", "worker_02"]
    assert three == {k: five[k] for k in three}
    out = scale(d, "+1")
    assert "worker:worker_03: started" in out
    four = pids(d)
    assert names(d) == ["worker_00", "worker_01", "worker_02", "worker_03"]
    assert {k: four[k] for k in three} == three
    assert four["worker_03"] != five["worker_03"]
    assert d.mainlog().count("scaled 'worker' from") == 3
    # Visible to the real supervisorctl too.
    code, out, err = d.ctl("status")
    assert len([l for l in out.splitlines() if l.startswith("worker:worker_0")]) == 4
    # Errors: an unknown group, a negative count.
    code, out, err = d.ctl("scale", "nope", "2", client="corralctl")
    assert code == 1 and out.strip() == "nope: ERROR (no such group)"
    code, out, err = d.ctl("scale", "worker", "-9", client="corralctl")
    assert code == 1 and "can't run -5 processes" in out


def test_update_after_a_numprocs_change_keeps_running_pids(daemon_factory):
    d = daemon_factory("corral", WORKER.format(n=2))
    wait_for(lambda: len(pids(d)) == 2)
    before = pids(d)
    d.set_programs(WORKER.format(n=4))
    code, out, err = d.ctl("update", client="corralctl", timeout=60)
    assert code == 0, (out, err)
    assert "worker:worker_03: started" in out, out
    wait_for(lambda: len(pids(d)) == 4)
    after = pids(d)
    assert {k: after[k] for k in before} == before
    # The file now says 4: another update changes nothing.
    code, out, err = d.ctl("update", client="corralctl")
    assert out.strip() == "", out
    # Lower it: the highest go, the others stay.
    d.set_programs(WORKER.format(n=1))
    code, out, err = d.ctl("update", client="corralctl", timeout=60)
    assert code == 0, (out, err)
    assert pids(d) == {"worker_00": before["worker_00"]}


def test_a_scaled_count_lasts_until_the_program_changes(daemon_factory):
    d = daemon_factory("corral", WORKER.format(n=2))
    wait_for(lambda: len(pids(d)) == 2)
    scale(d, "3")
    code, out, err = d.ctl("update", client="corralctl")
    assert out.strip() == "" and len(pids(d)) == 3
    # Another change to the program: update restarts it with the file's count.
    d.set_programs(WORKER.format(n=2).replace("sleep 1000", "sleep 999"))
    code, out, err = d.ctl("update", client="corralctl", timeout=60)
    assert code == 0, (out, err)
    wait_for(lambda: len(pids(d)) == 2)
    assert names(d) == ["worker_00", "worker_01"]


# ---- environment files ------------------------------------------------------------------

ENV_FILE = r"""# the service's settings
export DATABASE_URL="postgres://u:p@db/app?sslmode=require"   # inline comment
SECRET='it\'s $HOME ${HOME} \\ not expanded'
GREETING = hello world  # a comment after an unquoted value
HASH=abc#123
EMPTY=
MULTI="line one
line two\tTabbed"
ESCAPES="a \"quoted\" \\ word\n"

OVERRIDDEN=from-file
"""


def test_environment_file_reaches_the_child_as_python_dotenv_reads_it(daemon_factory, tmp_path):
    from dotenv import dotenv_values
    env_file = tmp_path / "web.env"
    env_file.write_text(ENV_FILE)
    common = tmp_path / "common.env"
    common.write_text("COMMON=1\nOVERRIDDEN=from-common\n")
    out = tmp_path / "env.json"
    d = daemon_factory("corral", """
        [program:web]
        command={py} {progs}/env_dump.py {out}
        environment_file={env}, -{missing}
        environment=OVERRIDDEN="from-environment"
        startsecs=0
    """.format(py=PY, progs=PROGS, out=out, env=env_file, missing=tmp_path / "missing.env"),
        header_extra="environment_file=%s" % common)
    d.wait_state("web", "RUNNING")
    got = json.loads(wait_for(lambda: read_text(out)))
    expected = dict(dotenv_values(str(common), interpolate=False))
    expected.update(dotenv_values(str(env_file), interpolate=False))
    expected["OVERRIDDEN"] = "from-environment"
    for k, v in expected.items():
        assert got.get(k) == v, (k, got.get(k), v)
    assert got["SECRET"] == "it's $HOME ${HOME} \\ not expanded"
    assert got["MULTI"] == "line one\nline two\tTabbed"
    # Read at every spawn: a changed file applies on the next start.
    env_file.write_text("GREETING=changed\n")
    os.unlink(out)
    d.ctl("restart", "web")
    got = json.loads(wait_for(lambda: read_text(out)))
    assert got["GREETING"] == "changed" and "DATABASE_URL" not in got


def test_a_malformed_environment_file_fails_the_spawn_with_file_and_line(daemon_factory, tmp_path):
    env_file = tmp_path / "bad.env"
    env_file.write_text("A=1\n# fine\nthis is not an assignment\n")
    out = tmp_path / "env.json"
    programs = """
        [program:web]
        command={py} {progs}/env_dump.py {out}
        environment_file={env}
        startretries=1
        startsecs=0
    """.format(py=PY, progs=PROGS, out=out, env=env_file)
    d = daemon_factory("corral", programs)
    info = d.wait_state("web", "FATAL", timeout=15)
    why = "environment_file %s:3: expected KEY=VALUE, found 'this is not an assignment'" % env_file
    assert info["spawnerr"] == why
    assert why in status_line(d, "web")
    assert "spawnerr: " + why in d.mainlog()
    # corrald --check reports it as a problem of this host.
    r = subprocess.run([corral_bin("corrald"), "--check", "-c", d.conf], capture_output=True, text=True)
    assert r.returncode == 2 and why in r.stdout, r.stdout
    assert "(the file itself is fine)" in r.stdout
    # A missing required file, then fixed: the next start reads it.
    env_file.unlink()
    code, o, e = d.ctl("start", "web")
    assert "spawn error" in o
    info = d.wait_state("web", "FATAL", timeout=15)
    assert "environment_file %s: no such file" % env_file in info["spawnerr"]
    env_file.write_text("A=1\n")
    code, o, e = d.ctl("start", "web")
    assert o.strip() == "web: started", (o, e)


# ---- stop sequences --------------------------------------------------------------------


def test_an_rq_style_worker_finishes_or_is_aborted_by_the_sequence(daemon_factory, tmp_path):
    short, stuck = tmp_path / "short.log", tmp_path / "stuck.log"
    d = daemon_factory("corral", """
        [program:short]
        command={py} {progs}/rq_worker.py {short} 2
        stopsequence=INT/30, INT/5
        startsecs=0

        [program:stuck]
        command={py} {progs}/rq_worker.py {stuck} 60
        stopsequence=INT/30, INT/5
        startsecs=0
    """.format(py=PY, progs=PROGS, short=short, stuck=stuck))
    wait_for(lambda: "job started" in read_text(short) and "job started" in read_text(stuck))
    t0 = time.monotonic()
    rpc = d.rpc()
    rpc.supervisor.stopProcess("short", False)
    rpc.supervisor.stopProcess("stuck", False)
    # The real supervisorctl shows where each stop is.
    line = wait_for(lambda: re.match(r"^stuck\s+STOPPING\s+INT sent \d+ s ago, INT in \d+ s$",
                                     status_line(d, "stuck")) and status_line(d, "stuck"))
    # The 2 s job finishes on the first INT.
    d.wait_state("short", "STOPPED", timeout=15)
    assert read_text(short).splitlines()[-3:] == ["warm shutdown", "job finished", "exit 0"]
    assert time.monotonic() - t0 < 10
    assert "stopped: short (exit status 0)" in d.mainlog()
    # The stuck one is aborted by the second INT, 30 s after the first.
    wait_for(lambda: "stopping 'stuck'" in d.mainlog(), timeout=45)
    d.wait_state("stuck", "STOPPED", timeout=15)
    elapsed = time.monotonic() - t0
    assert 29 <= elapsed < 40, elapsed
    assert read_text(stuck).splitlines() == ["job started", "warm shutdown", "job aborted", "exit 1"]
    assert "stopping 'stuck' (" in d.mainlog() and "still alive, sending SIGINT" in d.mainlog()
    assert "SIGKILL" not in d.mainlog()
    assert line.startswith("stuck")

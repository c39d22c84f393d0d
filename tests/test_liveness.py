"""Liveness (issue 11): health checks, the sd_notify watchdog, recycling (max_memory,
max_lifetime with jitter, one at a time) and backoff without limits, with real processes
and real clients (supervisorctl 4.3.0, corralctl, xmlrpc.client, wrk, gunicorn, superlance).
"""

import os
import re
import shutil
import subprocess
import time

import pytest

from harness import PROGRAMS_DIR as PROGS
from harness import PY, corral_bin, free_port, http_get, read_text, venv_bin, wait_for

GUNICORN = venv_bin("gunicorn")


def health(d, name):
    return d.rpc().corral.getProcessHealth(name)


def new_pid(d, name, old, timeout):
    """Wait until `name` runs with a pid other than `old`; return (pid, seconds waited)."""
    t0 = time.monotonic()

    def moved():
        info = d.info(name)
        return info["statename"] == "RUNNING" and info["pid"] not in (0, old) and info["pid"]

    pid = wait_for(moved, timeout=timeout, interval=0.05, what="%s to run with a new pid" % name)
    return pid, time.monotonic() - t0


def statuses(d, name):
    """`status NAME` as supervisorctl 4.3.0 and corralctl print it (both must work)."""
    out = {}
    for client in ("supervisorctl", "corralctl"):
        code, stdout, stderr = d.ctl("status", name, client=client)
        assert "Traceback" not in stdout + stderr and "error" not in stderr.lower(), (client, stdout, stderr)
        out[client] = stdout
    return out


def test_hanging_http_app_is_restarted_in_time_and_status_says_why(daemon_factory, tmp_path):
    port = free_port()
    hang = tmp_path / "hang"
    interval, retries, timeout, stopwaitsecs = 1, 3, 0.5, 2
    d = daemon_factory("corral", f"""
        [program:app]
        command={PY} {PROGS}/health_app.py {port} {hang}
        healthcheck=http://127.0.0.1:{port}/health
        healthcheck_interval={interval}
        healthcheck_timeout={timeout}
        healthcheck_retries={retries}
        stopwaitsecs={stopwaitsecs}
    """)
    pid = d.wait_state("app", "RUNNING", timeout=20)["pid"]
    h = wait_for(lambda: health(d, "app")["state"] == "healthy" and health(d, "app"), timeout=10)
    assert h["last_result"] == f"http://127.0.0.1:{port}/health: HTTP 200"
    assert h["check"] == f"http://127.0.0.1:{port}/health"
    assert statuses(d, "app")["supervisorctl"].split()[1:3] == ["RUNNING", "pid"]
    assert "unhealthy" not in statuses(d, "app")["corralctl"]

    hang.write_text("")  # /health hangs from now on
    bound = interval * retries + timeout + stopwaitsecs
    pid2, took = new_pid(d, "app", pid, timeout=bound + 15)
    assert took < bound + 1.5, f"restarted after {took:.1f} s, bound {bound} s"
    why = f"unhealthy: http://127.0.0.1:{port}/health: timed out after 0.5 s (3 in a row)"
    # The reason stays in status until a check succeeds (the flag is still there).
    for client, out in statuses(d, "app").items():
        assert re.match(rf"app\s+RUNNING\s+pid {pid2}, uptime \S+; {re.escape(why)}$", out.strip()), (client, out)
    assert why in d.info("app")["description"]
    log = d.mainlog()
    assert f"app (pid {pid}) is {why}; restarting it" in log
    h = health(d, "app")
    assert h["restarts"]["health"] == 1 and h["restarts"]["crash"] == 0
    assert h["note"] == why

    hang.unlink()
    wait_for(lambda: health(d, "app")["state"] == "healthy", timeout=10)
    assert d.info("app")["description"].startswith(f"pid {pid2}, uptime ")
    assert "unhealthy" not in d.info("app")["description"]
    assert d.info("app")["pid"] == pid2
    # corralctl health, text and JSON.
    code, out, _ = d.ctl("health", "app", client="corralctl")
    assert code == 0 and re.match(r"app\s+healthy\s+http://.*HTTP 200 \(\d+ s ago\); restarts: health 1$", out.strip()), out
    code, out, _ = d.ctl("--json", "health", client="corralctl")
    import json
    doc = json.loads(out)
    assert doc["results"][0]["namespec"] == "app" and doc["results"][0]["restarts"]["health"] == 1


def test_tcp_and_exec_checks_run_as_the_program_does(daemon_factory, tmp_path):
    closed = free_port()
    (tmp_path / "marker").write_text("")
    d = daemon_factory("corral", f"""
        [program:ok]
        command=/bin/sleep 1000
        directory={tmp_path}
        environment=MARK="yes"
        healthcheck=exec:test "$MARK" = yes && test -f marker && echo "fine in $PWD"
        healthcheck_interval=0.3

        [program:down]
        command=/bin/sleep 1000
        healthcheck=tcp://127.0.0.1:{closed}
        healthcheck_interval=0.3
        healthcheck_retries=2
        stopwaitsecs=1
    """)
    h = wait_for(lambda: health(d, "ok")["state"] == "healthy" and health(d, "ok"), timeout=15)
    assert h["last_result"] == f'exec:test "$MARK" = yes && test -f marker && echo "fine in $PWD": exit status 0: fine in {tmp_path}'
    wait_for(lambda: health(d, "down")["restarts"]["health"] >= 1, timeout=15)
    assert health(d, "down")["last_result"] == f"tcp://127.0.0.1:{closed}: connection refused"
    assert f"down (pid" in d.mainlog() and f"unhealthy: tcp://127.0.0.1:{closed}: connection refused (2 in a row)" in d.mainlog()
    # A failing exec check says what it printed.
    (tmp_path / "marker").unlink()
    wait_for(lambda: health(d, "ok")["failures"] >= 1, timeout=10)
    assert health(d, "ok")["last_result"].endswith(": exit status 1")


def test_an_exec_check_that_times_out_is_killed(daemon_factory, tmp_path):
    from harness import pid_alive
    d = daemon_factory("corral", f"""
        [program:slow]
        command=/bin/sleep 1000
        healthcheck=exec:echo $$ >> {tmp_path}/checks; exec sleep 100
        healthcheck_interval=0.2
        healthcheck_timeout=0.5
        healthcheck_retries=100
    """)
    d.wait_state("slow", "RUNNING", timeout=10)
    wait_for(lambda: health(d, "slow")["failures"] >= 2, timeout=15)
    assert health(d, "slow")["last_result"].endswith(": timed out after 0.5 s")
    pids = [int(p) for p in read_text(tmp_path / "checks").split()]
    assert len(pids) >= 2
    wait_for(lambda: not any(pid_alive(p) for p in pids[:-1]), timeout=5, what="timed-out checks killed")
    assert "reaped unknown pid" not in d.mainlog()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (scripts/setup-test-deps)")
def test_unhealthy_gunicorn_on_a_socket_is_replaced_with_no_failed_request(daemon_factory, tmp_path):
    port = free_port()
    sick = tmp_path / "sick"
    d = daemon_factory("corral", f"""
        [socket:web]
        listen=tcp://127.0.0.1:{port}

        [program:web]
        command={GUNICORN} --preload --workers 2 --graceful-timeout 5 --chdir {PROGS} flask_app:app
        sockets=web
        readiness=notify
        stopwaitsecs=10
        healthcheck=exec:test ! -e {sick}
        healthcheck_interval=0.5
        healthcheck_retries=2
        stdout_logfile={{here}}/web.log
        redirect_stderr=true
    """)
    old = d.wait_state("web", "RUNNING", timeout=30)["pid"]
    wait_for(lambda: http_get(port).startswith("pid"))
    wrk = subprocess.Popen(["wrk", "-t2", "-c16", "-d10s", "--timeout", "5s", f"http://127.0.0.1:{port}/"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(2)
        sick.write_text("")
        wait_for(lambda: "rolling restart of 'web': started replacement" in d.mainlog(), timeout=15, interval=0.05)
        sick.unlink()  # the replacement is healthy
        wait_for(lambda: f"retired 'web' pid {old}" in d.mainlog(), timeout=30)
        out, _ = wrk.communicate(timeout=60)
    finally:
        if wrk.poll() is None:
            wrk.kill()
            wrk.communicate()
    failures = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        failures += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        failures += int(m.group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    assert failures == 0, out
    assert requests > 200, out
    info = d.info("web")
    assert info["statename"] == "RUNNING" and info["pid"] != old
    assert health(d, "web")["restarts"]["health"] == 1
    assert "stopped: web" not in d.mainlog(), "replaced, never stopped"


def test_watchdog_silence_restarts_and_pings_keep_a_process(daemon_factory, tmp_path):
    env = tmp_path / "env"
    quiet = tmp_path / "quiet"
    d = daemon_factory("corral", f"""
        [program:dog]
        command={PY} {PROGS}/watchdog_app.py {env} 0.2 {quiet}
        watchdogsecs=1
        stopwaitsecs=2

        [program:trig]
        command={PY} {PROGS}/watchdog_app.py {tmp_path}/env2 0.2 {tmp_path}/pull trigger
        watchdogsecs=30
        stopwaitsecs=2
    """)
    pid = d.wait_state("dog", "RUNNING", timeout=20)["pid"]
    usec, wd_pid, own, notify = read_text(env).split()
    assert (usec, int(wd_pid), notify) == ("1000000", int(own), "notify")
    assert int(own) == pid
    wait_for(lambda: health(d, "dog")["state"] == "healthy", timeout=5)
    time.sleep(3)  # three times watchdogsecs: still the same process
    assert d.info("dog")["pid"] == pid and health(d, "dog")["restarts"]["watchdog"] == 0

    quiet.write_text("")
    pid2, took = new_pid(d, "dog", pid, timeout=15)
    assert took < 1 + 2 + 1.5, took
    why = "unhealthy: watchdog: no WATCHDOG=1 for 1 s"
    assert why in statuses(d, "dog")["supervisorctl"]
    quiet.unlink()
    wait_for(lambda: health(d, "dog")["state"] == "healthy", timeout=5)
    assert health(d, "dog")["restarts"]["watchdog"] >= 1
    assert read_text(env).splitlines()[-1].split()[1] == str(pid2)

    tpid = d.wait_state("trig", "RUNNING", timeout=10)["pid"]
    (tmp_path / "pull").write_text("")
    new_pid(d, "trig", tpid, timeout=10)
    assert "trig (pid %d) is unhealthy: watchdog: the process sent WATCHDOG=trigger" % tpid in d.mainlog()


def test_a_child_growing_past_max_memory_recycles_the_tree(daemon_factory, tmp_path):
    grow = tmp_path / "grow"
    d = daemon_factory("corral", f"""
        [program:mem]
        command={PY} {PROGS}/memory_tree.py {grow} 20 160
        max_memory=60MB
        stopwaitsecs=2
    """)
    pid = d.wait_state("mem", "RUNNING", timeout=20)["pid"]
    time.sleep(6)  # a sample or more below the limit: nothing happens
    assert d.info("mem")["pid"] == pid
    assert "max_memory" not in d.mainlog().replace("max_memory 60.0 MB)", "")
    grow.write_text("")
    pid2, took = new_pid(d, "mem", pid, timeout=20)
    grow.unlink()
    assert took < 5 + 2 + 3, took
    m = re.search(r"recycling mem \(pid %d\): memory ([\d.]+) MB > max_memory 60\.0 MB" % pid, d.mainlog())
    assert m and float(m.group(1)) > 60, d.mainlog()[-3000:]
    assert health(d, "mem")["restarts"]["memory"] == 1
    # The parent alone is small: it is the tree that counted.
    with open("/proc/%d/statm" % pid2) as f:
        assert int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") < 60 << 20


def test_a_pool_with_max_lifetime_recycles_one_process_at_a_time(daemon_factory):
    d = daemon_factory("corral", """
        [program:pool]
        command=/bin/sleep 1000
        process_name=%(program_name)s_%(process_num)d
        numprocs=4
        max_lifetime=2
        max_lifetime_jitter=2
        startsecs=1
        stopwaitsecs=1
    """)
    for n in range(4):
        d.wait_state("pool:pool_%d" % n, "RUNNING", timeout=20)
    wait_for(lambda: d.mainlog().count("restart of pool_") >= 8, timeout=60, interval=0.2)
    active, most, recycles = set(), 0, 0
    for line in d.mainlog().splitlines():
        m = re.search(r"recycling (pool_\d) \(pid \d+\): max_lifetime 2 s", line)
        if m:
            active.add(m.group(1))
            recycles += 1
            most = max(most, len(active))
        m = re.search(r"restart of (pool_\d) \(lifetime\)", line)
        if m:
            active.discard(m.group(1))
    assert recycles >= 8
    assert most == 1, "two processes recycled at once"
    counts = [health(d, "pool:pool_%d" % n)["restarts"]["lifetime"] for n in range(4)]
    assert sum(counts) >= 8 and all(c >= 1 for c in counts), counts


def test_infinite_retries_with_backoff_max_end_up_running(daemon_factory, tmp_path):
    until, log = tmp_path / "until", tmp_path / "starts"
    until.write_text("%f" % (time.time() + 20))
    d = daemon_factory("corral", f"""
        [program:flaky]
        command={PY} {PROGS}/fail_until.py {until} {log}
        startretries=infinite
        backoff_max=2
        startsecs=1
    """)
    seen_backoff = False
    deadline = time.monotonic() + 40
    while d.state("flaky") != "RUNNING" and time.monotonic() < deadline:
        info = d.info("flaky")
        if info["statename"] == "BACKOFF" and not seen_backoff:
            out = statuses(d, "flaky")
            m = re.search(r"BACKOFF\s+Exited too quickly \(process log may have details\); next attempt in (\d) s", out["supervisorctl"])
            if m:
                assert int(m.group(1)) <= 2
                assert "next attempt in" in out["corralctl"]
                seen_backoff = True
        time.sleep(0.1)
    assert d.state("flaky") == "RUNNING"
    assert seen_backoff
    starts = [float(x) for x in read_text(log).split()]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert len(starts) >= 10
    assert max(gaps) < 2 + 0.8, gaps  # 2 s of backoff, plus starting Python
    assert "FATAL" not in d.mainlog()


def test_listeners_get_liveness_events_only_by_name(daemon_factory, tmp_path):
    port = free_port()
    hang = tmp_path / "hang"
    rec = f"{PY} {PROGS}/event_recorder.py"
    d = daemon_factory("corral", f"""
        [eventlistener:health]
        command={rec} {{here}}/health.txt
        events=PROCESS_HEALTH_UNHEALTHY,PROCESS_HEALTH_HEALTHY,PROCESS_RECYCLED

        [eventlistener:everything]
        command={rec} {{here}}/all.txt
        events=EVENT

        [eventlistener:states]
        command={rec} {{here}}/states.txt
        events=PROCESS_STATE

        [eventlistener:crashmail]
        command={venv_bin("crashmail")} -a -m ops@example.com -s "cat >> {{here}}/mail.txt"
        events=PROCESS_STATE_EXITED

        [program:app]
        command={PY} {PROGS}/health_app.py {port} {hang}
        healthcheck=http://127.0.0.1:{port}/health
        healthcheck_interval=0.3
        healthcheck_timeout=0.5
        healthcheck_retries=2
        stopwaitsecs=1

        [program:short]
        command=/bin/sleep 1000
        max_lifetime=2
        stopwaitsecs=1

        [program:crasher]
        command=/bin/sh -c "sleep 1.5; exit 3"
        startretries=100
    """)
    pid = d.wait_state("app", "RUNNING", timeout=20)["pid"]
    here = d.dir
    wait_for(lambda: "PROCESS_HEALTH_HEALTHY" in read_text(f"{here}/health.txt"), timeout=10)
    hang.write_text("")
    new_pid(d, "app", pid, timeout=15)
    hang.unlink()
    wait_for(lambda: "PROCESS_RECYCLED" in read_text(f"{here}/health.txt"), timeout=15)
    wait_for(lambda: "crasher" in read_text(f"{here}/mail.txt"), timeout=15)
    got = read_text(f"{here}/health.txt")
    m = re.search(r"^PROCESS_HEALTH_UNHEALTHY processname:app groupname:app pid:%d\|(.*)$" % pid, got, re.M)
    assert m, got
    assert m.group(1) == f"unhealthy: http://127.0.0.1:{port}/health: timed out after 0.5 s (2 in a row)"
    assert re.search(r"^PROCESS_RECYCLED processname:short groupname:short pid:\d+ reason:lifetime\|max_lifetime 2 s reached$", got, re.M), got
    everything = read_text(f"{here}/all.txt")
    assert "PROCESS_STATE_RUNNING" in everything
    assert "PROCESS_HEALTH" not in everything and "PROCESS_RECYCLED" not in everything
    states = read_text(f"{here}/states.txt")
    assert "PROCESS_STATE_STOPPING processname:app" in states
    assert "PROCESS_HEALTH" not in states
    mail = read_text(f"{here}/mail.txt")
    assert "To: ops@example.com" in mail and "crasher" in mail


def test_check_shows_and_validates_the_options(tmp_path):
    conf = tmp_path / "s.conf"
    conf.write_text(f"""[supervisord]
logfile={tmp_path}/d.log
pidfile={tmp_path}/d.pid
[program:web]
command=/bin/sleep 1
healthcheck=http://127.0.0.1:8000/health
healthcheck_interval=0.5
watchdogsecs=10
max_memory=1GB
max_lifetime=3600
max_lifetime_jitter=300
startretries=infinite
backoff_max=30
""")
    r = subprocess.run([corral_bin("corrald"), "--check", "-c", str(conf)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "startretries=infinite" in r.stdout
    assert "healthcheck=http://127.0.0.1:8000/health (interval 0.5 s, timeout 5 s, retries 3, start period 0 s)" in r.stdout
    assert "watchdogsecs=10 max_memory=1073741824 bytes max_lifetime=3600 s (+ up to 300 s jitter) backoff_max=30 s" in r.stdout
    conf.write_text(conf.read_text().replace("healthcheck_interval=0.5", "healthcheck_interval=soon")
                    .replace("max_memory=1GB", "max_memory=lots"))
    r = subprocess.run([corral_bin("corrald"), "--check", "-c", str(conf)], capture_output=True, text=True)
    assert r.returncode == 2
    assert f"{conf}:7: [program:web] healthcheck_interval: 'soon' is not a number of seconds" in r.stdout
    assert f"{conf}:9: [program:web] max_memory:" in r.stdout


def test_without_options_nothing_changes(daemon_factory):
    d = daemon_factory("corral", """
        [program:plain]
        command=/bin/sleep 1000
    """)
    pid = d.wait_state("plain", "RUNNING", timeout=10)["pid"]
    h = health(d, "plain")
    assert (h["state"], h["check"], h["last_check"], h["note"]) == ("unknown", "", 0, "")
    assert d.info("plain")["description"].startswith("pid %d, uptime" % pid)
    code, out, _ = d.ctl("health", client="corralctl")
    assert code == 0 and re.match(r"plain\s+unknown\s+no health check$", out.strip()), out
    # supervisorctl's help list is unchanged; corralctl explains its own command.
    code, out, _ = d.ctl("help", client="corralctl")
    assert "health" not in out
    code, out, _ = d.ctl("help", "health", client="corralctl")
    assert out.startswith("health\t")

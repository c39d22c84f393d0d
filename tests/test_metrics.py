"""GET /metrics against the real corrald: promtool accepts it, and its values agree with
getAllProcessInfo and with /proc.

promtool comes from Debian's `prometheus` package (scripts/setup-test-deps installs it).
"""

import base64
import os
import re
import shutil
import subprocess
import textwrap
import urllib.error
import urllib.request

import pytest

from harness import PY, free_port, wait_for

PROMTOOL = shutil.which("promtool")

# A tree with a known memory use: a shell with two children that each touch some memory
# and then sleep (so their RSS holds still while it is measured).
HOG = "import sys, time; b = bytes(range(256)) * (int(sys.argv[1]) * 4096); time.sleep(1000)"

PROGRAMS = r"""
[inet_http_server]
port=127.0.0.1:{port}
username=admin
password=secret
readonly_username=viewer
readonly_password=look

[program:tree]
command=sh -c '{py} -c "{hog}" 40 & {py} -c "{hog}" 20 & wait'
startsecs=0

[program:printer]
command=sh -c 'printf "%%s" 0123456789; printf "%%s" abc >&2; exec sleep 1000'
startsecs=0

[program:crasher]
command=sh -c 'sleep 1.2; exit 3'
startsecs=1
startretries=100

[program:idle]
command=sleep 1000
autostart=false

[group:web]
programs=w1

[program:w1]
command=sleep 1000
numprocs=2
process_name=w1_%(process_num)s
startsecs=0
"""


def scrape(port, creds=("admin", "secret")):
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % port)
    if creds:
        token = base64.b64encode(("%s:%s" % creds).encode()).decode()
        req.add_header("Authorization", "Basic " + token)
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def parse(text):
    """{(name, frozenset(labels)): value}"""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        assert m, line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def series(metrics, metric, **labels):
    want = set(labels.items())
    return {k: v for k, v in metrics.items() if k[0] == metric and want <= set(k[1])}


def one(metrics, metric, **labels):
    s = series(metrics, metric, **labels)
    assert len(s) == 1, (metric, labels, s)
    return next(iter(s.values()))


@pytest.fixture
def corral(daemon_factory):
    port = free_port()
    text = PROGRAMS.replace("{port}", str(port)).replace("{py}", PY).replace("{hog}", HOG)
    d = daemon_factory("corral", text)
    d.http_port = port
    for name in ("tree", "printer", "web:w1_0", "web:w1_1"):
        d.wait_state(name, "RUNNING")
    return d


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian's prometheus) is not installed")
def test_promtool_accepts_the_exposition(corral):
    text = scrape(corral.http_port)
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_values_agree_with_get_all_process_info(corral):
    rpc = corral.rpc()
    m = parse(scrape(corral.http_port))
    infos = rpc.supervisor.getAllProcessInfo()
    assert len(infos) == 6
    for info in infos:
        if info["name"] == "crasher":
            continue  # it changes state all the time
        lbl = dict(group=info["group"], name=info["name"])
        running = info["statename"] == "RUNNING"
        assert one(m, "corral_process_up", **lbl) == float(running), info["name"]
        states = series(m, "corral_process_state", **lbl)
        assert len(states) == 8
        assert {dict(k[1])["state"] for k, v in states.items() if v == 1} == {info["statename"]}
        if info["start"]:
            assert one(m, "corral_process_start_time_seconds", **lbl) == info["start"]
        assert one(m, "corral_process_exit_status", **lbl) == info["exitstatus"]
        assert one(m, "node_supervisord_up", **lbl) == float(running)
        assert one(m, "node_supervisord_state", **lbl) == info["state"]
        assert one(m, "node_supervisord_exit_status", **lbl) == info["exitstatus"]
        if running:
            assert one(m, "node_supervisord_start_time_seconds", **lbl) == info["start"]
            assert one(m, "corral_process_open_fds", **lbl) >= 3
    assert one(m, "corral_process_up", name="w1_1", process_num="1") == 1
    assert one(m, "corral_program_processes_desired", group="web") == 2
    assert one(m, "corral_program_processes_running", group="web") == 2
    assert one(m, "corral_program_processes_running", group="idle") == 0
    assert one(m, "corral_build_info") == 1
    assert one(m, "process_open_fds") > 0
    assert one(m, "process_resident_memory_bytes") > 0
    # Never a pid as a label.
    assert not any(k == "pid" for key in m for k, _ in key[1])


def tree_rss_from_proc(pid):
    """RSS of `pid` and all its descendants, read from /proc by the test itself."""
    page = os.sysconf("SC_PAGE_SIZE")
    children = {}
    stats = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                line = f.read()
        except OSError:
            continue
        rest = line[line.rindex(")") + 2:].split()
        p, ppid, rss = int(entry), int(rest[1]), int(rest[21])
        stats[p] = rss * page
        children.setdefault(ppid, []).append(p)
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += stats.get(p, 0)
        stack.extend(children.get(p, []))
    return total


def test_memory_and_cpu_of_a_known_tree(corral):
    pid = corral.info("tree")["pid"]
    # The two children have touched their 40 + 20 MiB.
    last = [0]

    def settled():
        now, before = tree_rss_from_proc(pid), last[0]
        last[0] = now
        return now > 60 * 1024 * 1024 and abs(now - before) < 0.01 * now

    wait_for(settled, timeout=30, interval=0.2, what="the tree's memory to settle")
    before = tree_rss_from_proc(pid)
    m = parse(scrape(corral.http_port))
    after = tree_rss_from_proc(pid)
    got = one(m, "corral_process_resident_memory_bytes", name="tree")
    assert min(before, after) * 0.98 <= got <= max(before, after) * 1.02, (got, before, after)
    assert one(m, "corral_process_cpu_seconds_total", name="tree") > 0
    # A single process: its own RSS.
    w = corral.info("web:w1_0")["pid"]
    assert abs(one(m, "corral_process_resident_memory_bytes", name="w1_0") - tree_rss_from_proc(w)) < 512 * 1024


def test_log_bytes_and_restarts_are_counted(corral):
    m = parse(scrape(corral.http_port))
    assert one(m, "corral_process_log_bytes_total", name="printer", stream="stdout") == 10
    assert one(m, "corral_process_log_bytes_total", name="printer", stream="stderr") == 3
    # crasher runs past startsecs, exits with 3, and autorestart starts it again.
    wait_for(lambda: one(parse(scrape(corral.http_port)), "corral_process_restarts_total",
                         name="crasher", reason="crash") >= 1, timeout=20, what="a counted restart")
    m = parse(scrape(corral.http_port))
    assert one(m, "corral_process_restarts_total", name="printer", reason="crash") == 0


def test_same_credentials_as_everything_else(corral):
    assert "corral_process_up" in scrape(corral.http_port, ("viewer", "look"))
    with pytest.raises(urllib.error.HTTPError) as e:
        scrape(corral.http_port, None)
    assert e.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as e:
        scrape(corral.http_port, ("admin", "wrong"))
    assert e.value.code == 401


def test_served_on_the_unix_socket_too(corral):
    raw, _ = corral.http_raw(b"GET /metrics HTTP/1.0\r\n\r\n", until=lambda b: b"node_supervisord_up" in b and b.endswith(b"\n"))
    assert raw.startswith(b"HTTP/1.0 200"), raw[:200]
    assert b"corral_process_up" in raw

"""Contract test: corrald's XML-RPC API answers like supervisord 4.3.0.

Every test starts supervisord (the reference) and corrald with the same configuration,
makes the same calls through Python's xmlrpc.client (or raw HTTP) and compares the results
and faults (faultCode and faultString). What legitimately differs between two runs is
normalised: pids, times, the daemons' directories, the random suffix of AUTO log names.

Where supervisord answers a bad argument with an HTTP 500 (an uncaught Python exception),
corral answers with a fault: those cases assert both sides and are listed in
docs/COMPATIBILITY.md. Where supervisord's own answer is broken (log text that is not
UTF-8 or holds control characters), the test asserts that corral works and that
supervisord fails the way the document says.

Run: CORRAL_BIN_DIR=target-rpc/debug .venv/bin/python -m pytest tests/test_rpc_contract.py
"""

import base64
import datetime
import hashlib
import os
import re
import socket
import time
import xmlrpc.client
from xml.parsers.expat import ExpatError

import pytest

from harness import PY, Daemon, free_port, http_parse, wait_for

# --- the shared configuration ----------------------------------------------------------

# One process in every reachable state, the group forms, and the error cases of
# startProcess. The `sleep` processes ignore SIGWINCH, so signal tests can use it freely.
PROGRAMS = r"""
[group:grp]
programs=ga,gb

[program:ga]
command=sleep 1000
startsecs=0

[program:gb]
command=sleep 1000
startsecs=0
autostart=false

[program:sleeper]
command=sleep 1000
startsecs=0

[program:stopped]
command=sleep 1000
autostart=false

[program:exits]
command=sh -c 'echo out; echo err >&2; exit 0'
startsecs=0
autorestart=false

[program:fatal]
command=sh -c 'exit 3'
startsecs=1
startretries=0

[program:backoff]
command=sh -c 'sleep 0.1; exit 3'
startsecs=5
startretries=100

[program:notexec]
command={here}/notexec.txt
autostart=false

[program:nofile]
command=/nonexistent/x
autostart=false

[program:cat]
command=cat
startsecs=0
stdout_logfile={here}/cat.log
redirect_stderr=true

[program:quiet]
command=sleep 1000
startsecs=0
stdout_logfile=NONE
stderr_logfile=NONE

[program:multi]
command=sleep 1000
numprocs=2
process_name=%(program_name)s_%(process_num)d
startsecs=0
"""

# Without `backoff`, whose STARTING/BACKOFF flapping makes "running" and "signallable"
# a race between the two daemons.
PROGRAMS_STEADY = PROGRAMS.replace(
    "[program:backoff]\ncommand=sh -c 'sleep 0.1; exit 3'\nstartsecs=5\nstartretries=100\n", "")
assert "backoff" not in PROGRAMS_STEADY

SETTLED = {"ga": "RUNNING", "gb": "STOPPED", "sleeper": "RUNNING", "stopped": "STOPPED",
           "exits": "EXITED", "fatal": "FATAL", "cat": "RUNNING", "quiet": "RUNNING",
           "multi:multi_0": "RUNNING", "multi:multi_1": "RUNNING"}


def prepare(d):
    with open(os.path.join(d.dir, "notexec.txt"), "w") as f:
        f.write("not a program\n")


def settle(d, states=SETTLED, timeout=20):
    for name, state in states.items():
        key = name if ":" in name or name not in ("ga", "gb") else "grp:" + name
        d.wait_state(key, state, timeout=timeout)


# --- normalisation -----------------------------------------------------------------------

TIME_KEYS = ("pid", "now", "start", "stop")


def norm(value, d):
    """What may differ between two runs of the same configuration, made equal."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in TIME_KEYS and isinstance(v, int):
                out[k] = "<%s>" % k if v else 0
            else:
                out[k] = norm(v, d)
        if isinstance(out.get("description"), str):
            desc = re.sub(r"pid \d+, uptime \d+:\d\d:\d\d", "pid <pid>, uptime <uptime>",
                          out["description"])
            out["description"] = re.sub(r"^\w{3} \d\d \d\d:\d\d [AP]M$", "<date>", desc)
        return out
    if isinstance(value, (list, tuple)):
        return [norm(v, d) for v in value]
    if isinstance(value, str):
        value = value.replace(d.dir, "{here}")
        return re.sub(r"---supervisor-[A-Za-z0-9_]+\.log", "---supervisor-<auto>.log", value)
    return value


def outcome(d, method, *args):
    """('ok', value) | ('fault', code, text) | ('http', status) | ('error', exception type)."""
    proxy = d.rpc(allow_none=True)
    ns, name = method.split(".", 1)
    try:
        return ("ok", norm(getattr(getattr(proxy, ns), name)(*args), d))
    except xmlrpc.client.Fault as f:
        return ("fault", f.faultCode, norm(f.faultString, d))
    except xmlrpc.client.ProtocolError as e:
        return ("http", e.errcode)
    except ExpatError:
        return ("error", "ExpatError")


def explain(method, args, s, c):
    """A failure message that points at the first element that differs."""
    msg = "%s%r\n  supervisord: %r\n  corral:      %r" % (method, args, s, c)
    if s[0] == c[0] == "ok" and isinstance(s[1], list) and isinstance(c[1], list):
        for i, (a, b) in enumerate(zip(s[1], c[1])):
            if a != b:
                if isinstance(a, dict) and isinstance(b, dict):
                    a = {k: v for k, v in a.items() if b.get(k) != v}
                    b = {k: b.get(k) for k in a}
                msg += "\n  first difference at [%d]:\n    supervisord: %r\n    corral:      %r" % (
                    i, a, b)
                break
        else:
            msg += "\n  lengths: %d vs %d" % (len(s[1]), len(c[1]))
    return msg


class Pair:
    """supervisord and corrald side by side, with the same programs."""

    def __init__(self, sup, cor):
        self.sup, self.cor = sup, cor
        self.both = (sup, cor)

    def call(self, method, *args):
        return outcome(self.sup, method, *args), outcome(self.cor, method, *args)

    def same(self, method, *args):
        s, c = self.call(method, *args)
        assert c == s, explain(method, args, s, c)
        return c

    def same_unordered(self, method, *args):
        """Results of a call that waits for several processes: supervisord appends them in
        the order its polling sees each one finish, so compare them as a set."""
        s, c = self.call(method, *args)
        key = lambda r: (r["group"], r["name"])  # noqa: E731
        if s[0] == "ok" and c[0] == "ok":
            s, c = ("ok", sorted(s[1], key=key)), ("ok", sorted(c[1], key=key))
        assert c == s, explain(method, args, s, c)
        return c

    def wait_state(self, name, *states, timeout=20):
        return [d.wait_state(name, *states, timeout=timeout) for d in self.both]


def start_pair(make, programs=PROGRAMS, states=SETTLED, **kw):
    sup = make("supervisord", programs, start=False, subdir="supervisord", **kw)
    cor = make("corral", programs, start=False, subdir="corral", **kw)
    for d in (sup, cor):
        prepare(d)
        d.start()
    for d in (sup, cor):
        settle(d, states)
    return Pair(sup, cor)


def module_pair(tmp_path_factory, name, programs, states):
    """start_pair for a module-scoped fixture: yields the Pair, stops both at the end."""
    base = tmp_path_factory.mktemp(name)
    daemons = []

    def make(kind, programs, start=False, subdir=None, **kw):
        d = Daemon(kind, base / subdir, programs, **kw)
        daemons.append(d)
        return d

    try:
        yield start_pair(make, programs, states)
    finally:
        for d in daemons:
            d.stop()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A module-wide pair for calls that change nothing."""
    # Without `backoff`: whole-daemon answers (getAllProcessInfo, signalAllProcesses)
    # would race with its STARTING/BACKOFF flapping.
    yield from module_pair(tmp_path_factory, "contract", PROGRAMS_STEADY, SETTLED)


@pytest.fixture
def fresh(daemon_factory):
    """start_pair(programs=..., states=...) on a pair of its own, stopped at test end."""
    return lambda programs=PROGRAMS, states=SETTLED, **kw: start_pair(daemon_factory, programs,
                                                                      states, **kw)


# --- introspection ---------------------------------------------------------------------

def test_list_methods_is_supervisords_plus_corral_namespace(pair):
    s, c = pair.call("system.listMethods")
    assert s[0] == c[0] == "ok"
    corral_only = [m for m in c[1] if m.startswith("corral.")]
    assert corral_only, "corral.* methods are listed"
    assert [m for m in c[1] if not m.startswith("corral.")] == s[1]


def test_method_help_and_signature_of_every_method(pair):
    methods = pair.sup.rpc().system.listMethods()
    assert len(methods) == 41  # 37 supervisor.* (aliases included) and 4 system.*
    for m in methods:
        pair.same("system.methodHelp", m)
        pair.same("system.methodSignature", m)


# Calls that change nothing (or change it back), with their expected outcome on both.
STATIC_CALLS = [
    # versions and identity
    ("supervisor.getAPIVersion",),
    ("supervisor.getVersion",),
    ("supervisor.getSupervisorVersion",),
    ("supervisor.getIdentification",),
    ("supervisor.getState",),
    # wrong argument counts: Python's TypeError, INCORRECT_PARAMETERS
    ("supervisor.getAPIVersion", 1),
    ("supervisor.getState", "x"),
    ("supervisor.getPID", 1),
    ("supervisor.readLog", 0),
    ("supervisor.readLog", 0, 0, 0),
    ("supervisor.clearLog", 1),
    ("supervisor.shutdown", 1),
    ("supervisor.restart", 1),
    ("supervisor.reloadConfig", 1),
    ("supervisor.addProcessGroup",),
    ("supervisor.removeProcessGroup", "a", "b"),
    ("supervisor.startProcess",),
    ("supervisor.startProcess", "sleeper", True, 1),
    ("supervisor.startProcessGroup",),
    ("supervisor.startAllProcesses", True, 1),
    ("supervisor.stopProcess",),
    ("supervisor.stopProcessGroup", "a", True, 1),
    ("supervisor.stopAllProcesses", True, 1),
    ("supervisor.signalProcess", "sleeper"),
    ("supervisor.signalProcessGroup", "grp"),
    ("supervisor.signalAllProcesses",),
    ("supervisor.getAllConfigInfo", 1),
    ("supervisor.getProcessInfo",),
    ("supervisor.getProcessInfo", "a", "b"),
    ("supervisor.getAllProcessInfo", 1),
    ("supervisor.readProcessStdoutLog", "exits", 0),
    ("supervisor.readProcessStderrLog", "exits", 0, 0, 0),
    ("supervisor.readProcessLog",),
    ("supervisor.tailProcessStdoutLog", "exits"),
    ("supervisor.tailProcessStderrLog", "exits", 0),
    ("supervisor.tailProcessLog", "exits", 0, 0, 0),
    ("supervisor.clearProcessLogs",),
    ("supervisor.clearProcessLog", "a", "b"),
    ("supervisor.clearAllProcessLogs", 1),
    ("supervisor.sendProcessStdin", "cat"),
    ("supervisor.sendRemoteCommEvent", "t"),
    ("system.listMethods", 1),
    ("system.methodHelp",),
    ("system.methodSignature", "a", "b"),
    ("system.multicall",),
    # unknown methods (CVE-2017-11610: no traversal, no private names)
    ("supervisor.nope",),
    ("supervisor._update", "x"),
    ("supervisor.supervisord",),
    ("supervisor.getState.im_func",),
    ("nope.getState",),
    ("system.nope",),
    ("system._listMethods",),
    # process info in every state, every name form
    ("supervisor.getProcessInfo", "sleeper"),
    ("supervisor.getProcessInfo", "stopped"),
    ("supervisor.getProcessInfo", "exits"),
    ("supervisor.getProcessInfo", "fatal"),
    ("supervisor.getProcessInfo", "quiet"),
    ("supervisor.getProcessInfo", "grp:ga"),
    ("supervisor.getProcessInfo", "grp:gb"),
    ("supervisor.getProcessInfo", "multi:multi_0"),
    ("supervisor.getProcessInfo", xmlrpc.client.Binary(b"sleeper")),
    ("supervisor.getProcessInfo", "grp:*"),
    ("supervisor.getProcessInfo", "grp:"),
    ("supervisor.getProcessInfo", "grp"),
    ("supervisor.getProcessInfo", "ga"),
    ("supervisor.getProcessInfo", "multi"),
    ("supervisor.getProcessInfo", "multi:nope"),
    ("supervisor.getProcessInfo", "nope"),
    ("supervisor.getProcessInfo", "nope:x"),
    ("supervisor.getProcessInfo", ":"),
    ("supervisor.getProcessInfo", ""),
    ("supervisor.getProcessInfo", "caf\u00e9 \u2603"),
    ("supervisor.getProcessInfo", "bad\x01name"),  # not XML: HTTP 400 on both
    ("supervisor.getAllProcessInfo",),
    ("supervisor.getAllConfigInfo",),
    # main log: argument checks (reading is compared in its own test)
    ("supervisor.readLog", -1, 1),
    ("supervisor.readLog", 0, -1),
    ("supervisor.readLog", None, 0),
    ("supervisor.readLog", 0, ["x"]),
    ("supervisor.readLog", {"a": 1}, 0),
    ("supervisor.readLog", 0, datetime.datetime(2020, 1, 2, 3, 4, 5)),
    ("supervisor.readMainLog", 10 ** 9, 0),
    # process logs
    ("supervisor.readProcessStdoutLog", "exits", 0, 0),
    ("supervisor.readProcessStderrLog", "exits", 0, 0),
    ("supervisor.readProcessLog", "exits", 0, 0),
    ("supervisor.readProcessStdoutLog", "exits", 1, 2),
    ("supervisor.readProcessStdoutLog", "exits", "1", 2),
    ("supervisor.readProcessStdoutLog", "exits", 1.9, True),
    ("supervisor.readProcessStdoutLog", "exits", -2, 0),
    ("supervisor.readProcessStdoutLog", "exits", -100, 0),
    ("supervisor.readProcessStdoutLog", "exits", -2, 1),
    ("supervisor.readProcessStdoutLog", "exits", 0, -1),
    ("supervisor.readProcessStdoutLog", "exits", 100, 2),
    ("supervisor.readProcessStdoutLog", "exits", None, 0),
    ("supervisor.readProcessStdoutLog", "exits", 0, {"a": 1}),
    ("supervisor.readProcessStderrLog", "exits", [1], 0),
    ("supervisor.readProcessStderrLog", "cat", 0, 0),
    ("supervisor.readProcessStderrLog", "cat", "not checked", 0),
    ("supervisor.readProcessStdoutLog", "quiet", 0, 0),
    ("supervisor.readProcessStdoutLog", "nope", 0, 0),
    ("supervisor.readProcessStdoutLog", "grp:*", 0, 0),
    ("supervisor.readProcessStdoutLog", "grp:nope", 0, 0),
    ("supervisor.tailProcessStdoutLog", "exits", 0, 100),
    ("supervisor.tailProcessStdoutLog", "exits", 0, 1),
    ("supervisor.tailProcessStdoutLog", "exits", 0, 2),
    ("supervisor.tailProcessStdoutLog", "exits", 2, 100),
    ("supervisor.tailProcessStdoutLog", "exits", 3, 1),
    ("supervisor.tailProcessStdoutLog", "exits", 100, 100),
    ("supervisor.tailProcessStdoutLog", "exits", -5, 100),
    ("supervisor.tailProcessStdoutLog", "exits", 0, -5),
    ("supervisor.tailProcessStdoutLog", "exits", -5, -5),
    ("supervisor.tailProcessStdoutLog", "exits", 0, 0),
    ("supervisor.tailProcessStdoutLog", "exits", "2", 1.5),
    ("supervisor.tailProcessStdoutLog", "exits", None, 1),
    ("supervisor.tailProcessStderrLog", "exits", 0, ["x"]),
    ("supervisor.tailProcessStderrLog", "exits", 0, 100),
    ("supervisor.tailProcessLog", "exits", 0, 100),
    ("supervisor.tailProcessStderrLog", "cat", 0, 100),
    ("supervisor.tailProcessStderrLog", "cat", "not checked", None),
    ("supervisor.tailProcessStdoutLog", "quiet", 0, 100),
    ("supervisor.tailProcessStdoutLog", "nope", 0, 100),
    ("supervisor.tailProcessStdoutLog", "grp:", 0, 100),
    # start / stop refusals (nothing changes)
    ("supervisor.startProcess", "sleeper"),
    ("supervisor.startProcess", "grp:ga", False),
    ("supervisor.startProcess", "nope"),
    ("supervisor.startProcess", "grp:nope"),
    ("supervisor.startProcess", "notexec"),
    ("supervisor.startProcess", "nofile"),
    ("supervisor.startProcessGroup", "nope"),
    ("supervisor.startProcessGroup", "grp:ga"),
    ("supervisor.startProcessGroup", 1),
    ("supervisor.startProcessGroup", 1.5),
    ("supervisor.startProcessGroup", True),
    ("supervisor.startProcessGroup", None),
    ("supervisor.startProcessGroup", datetime.datetime(2020, 1, 2, 3, 4, 5)),
    ("supervisor.startProcessGroup", ["grp"]),
    ("supervisor.startProcessGroup", {"grp": 1}),
    ("supervisor.stopProcess", "stopped"),
    ("supervisor.stopProcess", "exits"),
    ("supervisor.stopProcess", "fatal"),
    ("supervisor.stopProcess", "nope"),
    ("supervisor.stopProcess", "grp:gb"),
    ("supervisor.stopProcessGroup", "nope"),
    ("supervisor.stopProcessGroup", 7, False),
    ("supervisor.stopProcessGroup", None),
    ("supervisor.stopProcessGroup", [1]),
    # signals: the sleep processes ignore SIGWINCH (28)
    ("supervisor.signalProcess", "sleeper", "WINCH"),
    ("supervisor.signalProcess", "sleeper", "sigwinch"),
    ("supervisor.signalProcess", "sleeper", " SIGWINCH "),
    ("supervisor.signalProcess", "sleeper", "28"),
    ("supervisor.signalProcess", "sleeper", 28),
    ("supervisor.signalProcess", "sleeper", 28.9),
    ("supervisor.signalProcess", "sleeper", xmlrpc.client.Binary(b"WINCH")),
    ("supervisor.signalProcess", "sleeper", "BOGUS"),
    ("supervisor.signalProcess", "sleeper", ""),
    ("supervisor.signalProcess", "sleeper", 999),
    ("supervisor.signalProcess", "sleeper", -1),
    ("supervisor.signalProcess", "sleeper", 33),
    ("supervisor.signalProcess", "sleeper", "1.5"),
    ("supervisor.signalProcess", "sleeper", xmlrpc.client.Binary(b"nope")),
    ("supervisor.signalProcess", "stopped", "WINCH"),
    ("supervisor.signalProcess", "exits", "WINCH"),
    ("supervisor.signalProcess", "fatal", "WINCH"),
    ("supervisor.signalProcess", "stopped", "BOGUS"),
    ("supervisor.signalProcess", "nope", "WINCH"),
    ("supervisor.signalProcess", "grp:*", "WINCH"),
    ("supervisor.signalProcess", "grp:", "BOGUS"),
    ("supervisor.signalProcess", "grp:ga", "WINCH"),
    ("supervisor.signalProcessGroup", "grp", "WINCH"),
    ("supervisor.signalProcessGroup", "grp", "BOGUS"),
    ("supervisor.signalProcessGroup", "multi", 28),
    ("supervisor.signalProcessGroup", "stopped", "WINCH"),
    ("supervisor.signalProcessGroup", "nope", "WINCH"),
    ("supervisor.signalProcessGroup", "grp:ga", "WINCH"),
    ("supervisor.signalProcessGroup", 5, "WINCH"),
    ("supervisor.signalProcessGroup", None, "WINCH"),
    ("supervisor.signalProcessGroup", ["grp"], "WINCH"),
    ("supervisor.signalAllProcesses", "WINCH"),
    ("supervisor.signalAllProcesses", "BOGUS"),
    ("supervisor.signalAllProcesses", 999),
    # stdin
    ("supervisor.sendProcessStdin", "stopped", "x"),
    ("supervisor.sendProcessStdin", "exits", "x"),
    ("supervisor.sendProcessStdin", "nope", "x"),
    ("supervisor.sendProcessStdin", "grp:*", "x"),
    ("supervisor.sendProcessStdin", "cat", 5),
    ("supervisor.sendProcessStdin", "cat", 1.5),
    ("supervisor.sendProcessStdin", "cat", True),
    ("supervisor.sendProcessStdin", "cat", None),
    ("supervisor.sendProcessStdin", "cat", ["x"]),
    ("supervisor.sendProcessStdin", "cat", {"a": 1}),
    ("supervisor.sendProcessStdin", "cat", datetime.datetime(2020, 1, 2, 3, 4, 5)),
    ("supervisor.sendProcessStdin", "nope", None),
    # remote communication events (no listener: accepted and dropped)
    ("supervisor.sendRemoteCommEvent", "type", "data"),
    ("supervisor.sendRemoteCommEvent", 1, None),
    # groups
    ("supervisor.addProcessGroup", "grp"),
    ("supervisor.addProcessGroup", "sleeper"),
    ("supervisor.addProcessGroup", "nope"),
    ("supervisor.addProcessGroup", "grp:ga"),
    ("supervisor.addProcessGroup", 5),
    ("supervisor.addProcessGroup", 1.5),
    ("supervisor.addProcessGroup", None),
    ("supervisor.addProcessGroup", ["x"]),
    ("supervisor.addProcessGroup", {"a": 1}),
    ("supervisor.addProcessGroup", datetime.datetime(2020, 1, 2, 3, 4, 0)),
    ("supervisor.removeProcessGroup", "grp"),
    ("supervisor.removeProcessGroup", "sleeper"),
    ("supervisor.removeProcessGroup", "nope"),
    ("supervisor.removeProcessGroup", 5),
    ("supervisor.removeProcessGroup", True),
    ("supervisor.removeProcessGroup", None),
    ("supervisor.removeProcessGroup", ["x"]),
    ("supervisor.removeProcessGroup", {"a": 1}),
    # log clearing: refusals
    ("supervisor.clearProcessLogs", "nope"),
    ("supervisor.clearProcessLogs", "grp:*"),
    ("supervisor.clearProcessLog", "grp:"),
    # introspection with odd arguments
    ("system.methodHelp", "nope"),
    ("system.methodHelp", "supervisor._update"),
    ("system.methodHelp", 5),
    ("system.methodHelp", None),
    ("system.methodHelp", ["supervisor.getState"]),
    ("system.methodHelp", xmlrpc.client.Binary(b"supervisor.getState")),
    ("system.methodSignature", "nope"),
    ("system.methodSignature", 1.5),
    ("system.methodSignature", {"a": 1}),
    ("system.methodSignature", xmlrpc.client.Binary(b"system.multicall")),
    # multicall
    ("system.multicall", []),
    ("system.multicall", [
        {"methodName": "supervisor.getAPIVersion"},
        {"methodName": "supervisor.getProcessInfo", "params": ["nope"]},
        {"methodName": "nope"},
        {"params": []},
        {"methodName": None},
        {"methodName": "system.multicall", "params": [[]]},
        {"methodName": "supervisor.getAPIVersion", "params": [1]},
        {"methodName": "supervisor.getState", "params": "ab"},
        {"methodName": "supervisor.getState", "params": ""},
        {"methodName": "supervisor.getProcessInfo", "params": "x"},
        {"methodName": "supervisor.getProcessInfo", "params": {"sleeper": 1}},
        {"methodName": "supervisor.getState", "params": 5},
        {"methodName": "supervisor.getState", "params": None},
        {"methodName": "nope", "params": 5},
        {"methodName": 5},
        {"methodName": ["x"]},
        {"methodName": 1.5},
        {"methodName": xmlrpc.client.Binary(b"supervisor.getAPIVersion")},
        {"methodName": "system.methodSignature", "params": ["supervisor.getState"]},
        {"methodName": "supervisor.startProcess", "params": ["sleeper"]},
        {"methodName": "supervisor.stopProcess", "params": ["stopped"]},
    ]),
    ("system.multicall", {"a": 1}),
]


@pytest.mark.parametrize("call", STATIC_CALLS, ids=lambda c: "%s%r" % (c[0], c[1:]))
def test_static_call(pair, call):
    pair.same(*call)


def test_static_calls_left_every_process_as_it_was(pair):
    # A guard for the module pair: no static call may have changed a process.
    settle(pair.sup)
    settle(pair.cor)


def test_get_pid_is_the_daemon(pair):
    for d in pair.both:
        assert d.rpc().supervisor.getPID() == d.proc.pid


def test_process_info_fields(pair):
    """Beyond the normalised comparison: the fields that carry times and pids are sane."""
    for d in pair.both:
        for info in d.rpc().supervisor.getAllProcessInfo():
            assert set(info) == {"name", "group", "start", "stop", "now", "state", "statename",
                                 "spawnerr", "exitstatus", "logfile", "stdout_logfile",
                                 "stderr_logfile", "pid", "description"}
            assert abs(info["now"] - time.time()) < 60
            assert (info["pid"] > 0) == (info["statename"] in ("RUNNING", "STARTING", "STOPPING"))
            if info["statename"] != "STOPPED":
                assert 0 < info["start"] <= info["now"]
            assert info["logfile"] == info["stdout_logfile"]


def test_backoff_state(fresh):
    pair = fresh()
    # Both alternate STARTING/BACKOFF; compare what each shows while in BACKOFF.
    infos = pair.wait_state("backoff", "BACKOFF")
    s, c = (norm(i, d) for i, d in zip(infos, pair.both))
    assert c == s
    assert s["spawnerr"] == "Exited too quickly (process log may have details)"


def test_read_main_log(pair):
    for d in pair.both:
        proxy = d.rpc()
        with open(d.logfile, "rb") as f:
            data = f.read()
        # The whole log, a slice, the tail: the same bytes the file holds.
        assert proxy.supervisor.readLog(0, 0).encode() .startswith(data[:200])
        assert proxy.supervisor.readLog(5, 10).encode() == data[5:15]
        assert proxy.supervisor.readMainLog(-20, 0).encode() == data[-20:] or \
            len(proxy.supervisor.readMainLog(-20, 0)) == 20
        assert proxy.supervisor.readLog(10 ** 9, 0) == ""
        assert proxy.supervisor.readLog(10 ** 9, 5) == ""


# --- bad arguments: supervisord's HTTP 500, corral's fault --------------------------------

# (call, corral's fault code, corral's fault string). supervisord answers each with HTTP 500.
INTENTIONAL_500 = [
    (("supervisor.getProcessInfo", 1), 2, "INCORRECT_PARAMETERS"),
    (("supervisor.getProcessInfo", None), 2, "INCORRECT_PARAMETERS"),
    (("supervisor.getProcessInfo", ["x"]), 2, "INCORRECT_PARAMETERS"),
    (("supervisor.getProcessInfo", {"a": 1}), 2, "INCORRECT_PARAMETERS"),
    (("supervisor.startProcess", 1), 2, "INCORRECT_PARAMETERS"),
    (("supervisor.stopProcess", True), 2, "INCORRECT_PARAMETERS"),
    (("supervisor.signalProcess", 1.5, "HUP"), 2, "INCORRECT_PARAMETERS"),
    (("supervisor.clearProcessLogs", 5), 2, "INCORRECT_PARAMETERS"),
    (("supervisor.sendProcessStdin", 5, "x"), 2, "INCORRECT_PARAMETERS"),
    (("supervisor.readProcessStdoutLog", 5, 0, 0), 2, "INCORRECT_PARAMETERS"),
    (("supervisor.tailProcessStdoutLog", None, 0, 0), 2, "INCORRECT_PARAMETERS"),
    (("supervisor.readLog", "a", 0), 3, "BAD_ARGUMENTS"),
    (("supervisor.readLog", 0, ""), 3, "BAD_ARGUMENTS"),
    (("supervisor.readProcessStdoutLog", "exits", "x", 2), 3, "BAD_ARGUMENTS"),
    (("supervisor.readProcessStderrLog", "exits", 0, "1.5"), 3, "BAD_ARGUMENTS"),
    (("supervisor.tailProcessStdoutLog", "exits", "a", 100), 3, "BAD_ARGUMENTS"),
    (("supervisor.signalProcess", "sleeper", None), 11, "BAD_SIGNAL: None"),
    (("supervisor.signalProcess", "sleeper", ["HUP"]), 11, "BAD_SIGNAL: ['HUP']"),
    (("supervisor.signalProcess", "sleeper", {"HUP": 1}), 11, "BAD_SIGNAL: {'HUP': 1}"),
    (("supervisor.signalProcess", "sleeper", datetime.datetime(2020, 1, 2, 3, 4, 5)), 11,
     "BAD_SIGNAL: 2020-01-02 03:04:05"),
    (("system.multicall", "x"), 2, "INCORRECT_PARAMETERS"),
]


@pytest.mark.parametrize("call,code,text", INTENTIONAL_500, ids=lambda c: repr(c))
def test_supervisord_500_is_a_corral_fault(pair, call, code, text):
    s, c = pair.call(*call)
    assert s == ("http", 500)
    assert c == ("fault", code, text)


def test_multicall_exceptions_are_corral_faults(pair):
    # Inside system.multicall supervisord reports an uncaught exception as a FAILED fault
    # holding the Python exception; corral reports the fault a direct call gets.
    calls = [{"methodName": "supervisor.readLog", "params": ["a", 1]},
             {"methodName": "supervisor.getProcessInfo", "params": [1]}]
    s, c = pair.call("system.multicall", calls)
    assert [r["faultCode"] for r in s[1]] == [30, 30]
    assert s[1][0]["faultString"].startswith("FAILED: <class 'AttributeError'>")
    assert c == ("ok", [{"faultCode": 3, "faultString": "BAD_ARGUMENTS"},
                        {"faultCode": 2, "faultString": "INCORRECT_PARAMETERS"}])
    # A call that is not a struct: supervisord 500 for the whole multicall.
    s, c = pair.call("system.multicall", [{"methodName": "supervisor.getAPIVersion"}, "x"])
    assert s == ("http", 500)
    assert c == ("ok", ["3.0", {"faultCode": 2, "faultString": "INCORRECT_PARAMETERS: No methodName"}])


# --- process lifecycle -----------------------------------------------------------------

def test_start_and_stop_with_and_without_wait(fresh):
    p = fresh()
    p.same("supervisor.startProcess", "stopped")
    p.same("supervisor.getProcessInfo", "stopped")
    p.same("supervisor.startProcess", "stopped")  # ALREADY_STARTED
    p.same("supervisor.stopProcess", "stopped")
    p.same("supervisor.getProcessInfo", "stopped")
    p.same("supervisor.stopProcess", "stopped")  # NOT_RUNNING
    p.same("supervisor.startProcess", "stopped", False)
    p.wait_state("stopped", "RUNNING")
    p.same("supervisor.stopProcess", "stopped", False)
    p.wait_state("stopped", "STOPPED")
    # EXITED and FATAL processes start again
    p.same("supervisor.startProcess", "exits")
    p.wait_state("exits", "EXITED")
    p.same("supervisor.startProcess", "fatal")  # ABNORMAL_TERMINATION
    p.wait_state("fatal", "FATAL")
    p.same("supervisor.getProcessInfo", "fatal")
    p.same("supervisor.startProcess", "fatal", False)
    p.wait_state("fatal", "FATAL")
    # BACKOFF is a running state: stopProcess stops it at once (no signal to send).
    # Each daemon is caught in its own BACKOFF window.
    results = []
    for d in p.both:
        d.wait_state("backoff", "BACKOFF")
        results.append(outcome(d, "supervisor.stopProcess", "backoff"))
    assert results == [("ok", True), ("ok", True)]
    p.same("supervisor.getProcessInfo", "backoff")
    p.same("supervisor.startProcess", "backoff", False)


TRANSITIONAL = r"""
[program:slowstart]
command=sleep 1000
startsecs=60
autostart=false

[program:stubborn]
command=sh -c "trap '' TERM; exec sleep 1000"
startsecs=0
stopwaitsecs=60

[program:other]
command=sleep 1000
startsecs=0
"""


def test_starting_and_stopping_states(fresh):
    p = fresh(TRANSITIONAL, {"stubborn": "RUNNING", "other": "RUNNING"})
    # STARTING: not yet up for startsecs.
    p.same("supervisor.startProcess", "slowstart", False)
    p.wait_state("slowstart", "STARTING")
    p.same("supervisor.getProcessInfo", "slowstart")
    p.same("supervisor.startProcess", "slowstart")  # ALREADY_STARTED
    p.same("supervisor.signalProcess", "slowstart", "WINCH")
    p.same("supervisor.sendProcessStdin", "slowstart", "x\n")
    p.same("supervisor.stopProcess", "slowstart")
    p.same("supervisor.getProcessInfo", "slowstart")
    # STOPPING: stubborn ignores SIGTERM; it stays STOPPING until SIGKILL.
    p.same("supervisor.stopProcess", "stubborn", False)
    p.wait_state("stubborn", "STOPPING")
    p.same("supervisor.getProcessInfo", "stubborn")
    p.same("supervisor.stopProcess", "stubborn")  # NOT_RUNNING
    p.same("supervisor.stopProcessGroup", "stubborn")  # nothing running: []
    p.same("supervisor.signalProcess", "stubborn", "WINCH")
    p.same("supervisor.signalProcessGroup", "stubborn", "WINCH")
    p.same("supervisor.sendProcessStdin", "stubborn", "x\n")
    p.same("supervisor.startProcess", "stubborn", False)
    p.same("supervisor.startProcess", "stubborn")
    p.same("supervisor.startProcessGroup", "stubborn")
    p.same("supervisor.getAllProcessInfo")
    p.same("supervisor.signalProcess", "stubborn", "KILL")
    p.wait_state("stubborn", "STOPPED")
    p.same("supervisor.getProcessInfo", "stubborn")


EXITS = r"""
[program:badexit]
command=sh -c 'exit 3'
startsecs=0
autorestart=false

[program:killed]
command=sh -c 'kill -9 $$'
startsecs=0
autorestart=false

[program:expected2]
command=sh -c 'exit 2'
startsecs=0
autorestart=unexpected
exitcodes=2

[program:sl]
command=sleep 1000
startsecs=0
"""


def test_exit_statuses(fresh):
    p = fresh(EXITS, {"badexit": "EXITED", "killed": "EXITED", "expected2": "EXITED",
                      "sl": "RUNNING"})
    p.same("supervisor.getAllProcessInfo")  # Bad exit code 3 / -1, expected 2
    p.same("supervisor.stopProcess", "sl")
    p.same("supervisor.getProcessInfo", "sl")  # stopped by signal: exitstatus -1
    p.same("supervisor.startProcess", "sl")
    p.same("supervisor.getProcessInfo", "sl")  # a new start forgets the exit status


def test_group_forms(fresh):
    p = fresh()
    p.same_unordered("supervisor.startProcess", "grp:*")
    p.same("supervisor.startProcessGroup", "grp")  # all running: nothing to do
    p.same_unordered("supervisor.stopProcess", "grp:")
    p.same("supervisor.stopProcessGroup", "grp")
    p.same_unordered("supervisor.startProcessGroup", "grp", True)
    p.same_unordered("supervisor.stopProcessGroup", "grp", True)
    p.same("supervisor.startProcessGroup", "grp", False)
    p.wait_state("grp:ga", "RUNNING")
    p.wait_state("grp:gb", "RUNNING")
    p.same("supervisor.stopProcessGroup", "grp", False)
    p.wait_state("grp:ga", "STOPPED")
    p.wait_state("grp:gb", "STOPPED")
    p.same("supervisor.getProcessInfo", "grp:ga")


def test_start_and_stop_all(fresh):
    p = fresh(PROGRAMS_STEADY, dict(SETTLED))
    p.same_unordered("supervisor.stopAllProcesses")
    p.same("supervisor.getAllProcessInfo")
    p.same("supervisor.stopAllProcesses")  # nothing running: []
    # Everything starts but fatal, backoff (ABNORMAL_TERMINATION) and the two that can't.
    p.same_unordered("supervisor.startAllProcesses")
    for d in p.both:
        settle(d, {"fatal": "FATAL", "exits": "EXITED"})
    p.same_unordered("supervisor.stopAllProcesses", True)
    # Without waiting: `fatal` exits at once, and whether supervisord's reap() right after
    # the fork already sees that (SPAWN_ERROR) or not (OK) is a race; the rest must agree.
    s, c = p.call("supervisor.startAllProcesses", False)
    for r in (s, c):
        fatal = [x for x in r[1] if x["name"] == "fatal"]
        assert len(fatal) == 1 and fatal[0]["status"] in (80, 50), r
    drop = lambda r: ("ok", [x for x in r[1] if x["name"] != "fatal"])  # noqa: E731
    assert drop(c) == drop(s), explain("supervisor.startAllProcesses", (False,), s, c)
    for d in p.both:
        settle(d, {"fatal": "FATAL", "exits": "EXITED"})
    p.same("supervisor.stopAllProcesses", False)


VARIED = r"""
[program:varied]
command=/bin/sleep 1000
directory=/tmp
umask=022
priority=5
autostart=false
autorestart=unexpected
startsecs=3
startretries=7
exitcodes=0,2,255
stopsignal=INT
stopwaitsecs=4
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={here}/v.log
stdout_logfile_maxbytes=1KB
stdout_logfile_backups=3
stdout_capture_maxbytes=2MB
stdout_events_enabled=true
stdout_syslog=true
stderr_logfile=NONE
stderr_capture_maxbytes=10
stderr_events_enabled=true
serverurl=AUTO
environment=A="1",B="2"

[program:two]
command=sleep 1000
numprocs=3
numprocs_start=5
process_name=%(program_name)s-%(process_num)02d
priority=1
autostart=false
stderr_logfile_maxbytes=0
serverurl=http://127.0.0.1:9/x

[group:g2]
programs=two
priority=3

[eventlistener:lis]
command={python} {here}/listener.py
events=REMOTE_COMMUNICATION
stdout_logfile={here}/lis.log

[fcgi-program:fc]
command=sleep 1000
socket=unix://{here}/fc.sock
autostart=false
"""

# An event listener that appends each event (header and payload) to events.txt.
LISTENER = r"""
import os, sys
here = os.path.dirname(os.path.abspath(__file__))
while True:
    sys.stdout.write("READY\n"); sys.stdout.flush()
    header = sys.stdin.readline()
    fields = dict(x.split(":", 1) for x in header.split())
    payload = sys.stdin.read(int(fields["len"]))
    with open(os.path.join(here, "events.txt"), "a") as f:
        f.write(header + payload + "\n--\n")
    sys.stdout.write("RESULT 2\nOK"); sys.stdout.flush()
"""


def test_config_variety_and_remote_events(daemon_factory):
    programs = VARIED.replace("{python}", PY)
    sup = daemon_factory("supervisord", programs, start=False, subdir="supervisord")
    cor = daemon_factory("corral", programs, start=False, subdir="corral")
    for d in (sup, cor):
        with open(os.path.join(d.dir, "listener.py"), "w") as f:
            f.write(LISTENER)
        d.start()
        d.wait_state("lis", "RUNNING")
    p = Pair(sup, cor)
    p.same("supervisor.getAllConfigInfo")
    p.same("supervisor.getAllProcessInfo")
    p.same("supervisor.sendRemoteCommEvent", "mytype", "some data\nline 2")
    p.same("supervisor.sendRemoteCommEvent", "t\u00e9", "d\u2603")
    events = []
    for d in p.both:
        path = os.path.join(d.dir, "events.txt")
        text = wait_for(lambda: os.path.exists(path) and open(path).read().count("--\n") == 2
                        and open(path).read(), what="two events at %s's listener" % d.kind)
        events.append(re.sub(r"serial:\d+", "serial:N", text))
    assert events[1] == events[0]
    assert "eventname:REMOTE_COMMUNICATION" in events[0]
    assert "type:mytype\nsome data\nline 2" in events[0]
    p.same_unordered("supervisor.startAllProcesses", False)
    p.same("supervisor.getAllProcessInfo")


def test_signals_that_act(fresh):
    p = fresh(PROGRAMS_STEADY)
    p.same("supervisor.signalProcess", "sleeper", "TERM")
    p.wait_state("sleeper", "RUNNING", "STARTING", "BACKOFF", "EXITED")
    # Killed processes are restarted, corrald in milliseconds, supervisord on its next
    # tick: which processes are running (and so signalled) is only the same once both
    # daemons have settled again.
    for d in p.both:
        settle(d, {k: v for k, v in SETTLED.items() if k != "sleeper"})
    p.same("supervisor.signalProcessGroup", "multi", "KILL")
    for d in p.both:
        settle(d, {k: v for k, v in SETTLED.items() if k != "sleeper"})
    p.same("supervisor.signalProcess", "grp:*", 9)
    for d in p.both:
        settle(d)
    p.same("supervisor.signalAllProcesses", "HUP")


def test_stdin_reaches_the_process(fresh):
    p = fresh()
    p.same("supervisor.sendProcessStdin", "cat", "hello\n")
    p.same("supervisor.sendProcessStdin", "cat", xmlrpc.client.Binary("caf\u00e9\n".encode()))
    p.same("supervisor.sendProcessStdin", "cat", "unicod\u00e9 \u2603\n")
    for d in p.both:
        wait_for(lambda: "\u2603" in d.rpc().supervisor.readProcessStdoutLog("cat", 0, 0),
                 what="cat output in %s" % d.kind)
    p.same("supervisor.readProcessStdoutLog", "cat", 0, 0)
    p.same("supervisor.tailProcessStdoutLog", "cat", 0, 5)
    p.same("supervisor.tailProcessLog", "cat", 3, 1000)
    p.same("supervisor.readProcessLog", "cat", -7, 0)


def test_clear_logs(fresh):
    p = fresh()
    for d in p.both:
        wait_for(lambda: d.rpc().supervisor.readProcessStdoutLog("exits", 0, 0) == "out\n",
                 what="exits' output in %s's log" % d.kind)
    p.same("supervisor.readProcessStdoutLog", "exits", 0, 0)
    # A running process: both remove and reopen its logs.
    p.same("supervisor.sendProcessStdin", "cat", "before\n")
    for d in p.both:
        wait_for(lambda: d.rpc().supervisor.readProcessStdoutLog("cat", 0, 0) == "before\n",
                 what="cat output in %s" % d.kind)
    p.same("supervisor.clearProcessLogs", "cat")
    p.same("supervisor.readProcessStdoutLog", "cat", 0, 0)
    p.same("supervisor.sendProcessStdin", "cat", "after\n")
    for d in p.both:
        wait_for(lambda: d.rpc().supervisor.readProcessStdoutLog("cat", 0, 0) == "after\n",
                 what="cat output in %s's new log" % d.kind)
    p.same("supervisor.clearProcessLog", "grp:ga")
    p.same("supervisor.readProcessStdoutLog", "grp:ga", 0, 0)
    p.same("supervisor.clearAllProcessLogs")
    p.same("supervisor.tailProcessStdoutLog", "cat", 0, 10)
    # A process that is not running: supervisord dropped its log dispatchers when it
    # exited, so it answers True and clears nothing; corral clears the files (see
    # docs/COMPATIBILITY.md).
    p.same("supervisor.clearProcessLogs", "exits")
    assert outcome(p.sup, "supervisor.readProcessStdoutLog", "exits", 0, 0) == ("ok", "out\n")
    assert outcome(p.cor, "supervisor.readProcessStdoutLog", "exits", 0, 0) == ("ok", "")
    assert outcome(p.cor, "supervisor.readProcessStderrLog", "exits", 0, 0) == ("ok", "")


def test_log_files_removed_from_disk(fresh):
    p = fresh(PROGRAMS_STEADY)
    for d in p.both:
        info = d.info("exits")
        os.remove(info["stdout_logfile"])
        os.remove(d.logfile)
    p.same("supervisor.readProcessStdoutLog", "exits", 0, 0)  # NO_FILE: path
    p.same("supervisor.readProcessStdoutLog", "exits", "x", None)  # before int()
    p.same("supervisor.tailProcessStdoutLog", "exits", 0, 10)  # ['', 0, False]
    p.same("supervisor.tailProcessLog", "exits", "x", None)
    p.same("supervisor.readProcessStderrLog", "exits", 0, 0)
    p.same("supervisor.readLog", 0, 0)  # NO_FILE: path
    p.same("supervisor.readLog", None, "x")
    p.same("supervisor.clearLog")  # NO_FILE
    for d in p.both:
        raw, timed_out = d.http_raw(b"GET /logtail/exits HTTP/1.0\r\n\r\n", timeout=10)
        assert not timed_out and http_parse(raw)[0] == 404


def test_clear_main_log(fresh):
    p = fresh()
    p.same("supervisor.clearLog")
    for d in p.both:
        # The old log is gone and a new one is written (backoff keeps spawning).
        text = wait_for(lambda: d.rpc().supervisor.readLog(0, 0), what="the reopened log")
        assert "supervisord started with pid" not in text
    # corral logs the reopening in the new file; supervisord logs it just before it
    # reopens, so the line may land in the removed file.
    assert "INFO reopening log file" in p.cor.rpc().supervisor.readLog(0, 0)


def test_reload_config_and_groups(fresh):
    p = fresh()
    p.same("supervisor.reloadConfig")  # nothing changed: [[[], [], []]]
    for d in p.both:
        with open(d.conf) as f:
            text = f.read()
        text = text.replace("[program:quiet]", "[program:newone]\ncommand=sleep 1000\n"
                            "startsecs=0\n\n[program:quiet]")
        text = text.replace("[program:exits]\ncommand=sh -c 'echo out; echo err >&2; exit 0'",
                            "[program:exits]\ncommand=sh -c 'echo changed; exit 0'")
        text = text.replace("[program:nofile]\ncommand=/nonexistent/x\nautostart=false\n", "")
        d.write_config(text)
    p.same("supervisor.reloadConfig")
    p.same("supervisor.getAllConfigInfo")
    p.same("supervisor.addProcessGroup", "newone")
    p.same("supervisor.addProcessGroup", "newone")  # ALREADY_ADDED
    p.same("supervisor.getProcessInfo", "newone")
    p.same("supervisor.removeProcessGroup", "sleeper")  # STILL_RUNNING
    p.same("supervisor.removeProcessGroup", "nofile")
    p.same("supervisor.getProcessInfo", "nofile")
    p.same("supervisor.stopProcess", "sleeper")
    p.same("supervisor.removeProcessGroup", "sleeper")
    p.same("supervisor.addProcessGroup", "sleeper")
    p.same("supervisor.getAllConfigInfo")
    p.same("supervisor.reloadConfig")


def test_reload_config_broken(fresh):
    p = fresh()
    for d in p.both:
        with open(d.conf, "a") as f:
            f.write("\n[program:broken]\n")
    s, c = p.call("supervisor.reloadConfig")
    assert s == ("fault", 92, "CANT_REREAD: program section program:broken does not specify a "
                 "command in section 'program:broken' (file: '{here}/supervisord.conf')")
    assert c == s


def test_shutdown_state(fresh):
    # stubborn ignores SIGTERM (an ignored signal stays ignored across exec), so shutdown
    # lasts until the test kills it.
    programs = PROGRAMS + "\n[program:stubborn]\ncommand=sh -c \"trap '' TERM; exec sleep 1000\"\n" \
                          "startsecs=0\nstopwaitsecs=120\n"
    p = fresh(PROGRAMS_STEADY + programs[len(PROGRAMS):], dict(SETTLED, stubborn="RUNNING"))
    stubborn = [d.info("stubborn")["pid"] for d in p.both]
    p.same("supervisor.shutdown")
    for d in p.both:
        # Processes are stopping (stubborn ignores SIGTERM): every supervisor.* call fails.
        wait_for(lambda: outcome(d, "supervisor.getState") == ("fault", 6, "SHUTDOWN_STATE"),
                 what="SHUTDOWN_STATE from %s" % d.kind)
    p.same("supervisor.getState")
    p.same("supervisor.getProcessInfo", "sleeper")
    p.same("supervisor.shutdown")
    p.same("supervisor.restart")
    p.same("supervisor.startProcess", "sleeper")
    p.same("supervisor.getState", 1)  # the argument count is checked first
    p.same("supervisor.nope")
    p.same("supervisor.signalProcessGroup", "nope", "HUP")
    p.same("supervisor.signalProcessGroup", ["x"], "HUP")
    p.same("supervisor.signalAllProcesses", "WINCH")  # signals, then SHUTDOWN_STATE
    p.same("supervisor.sendRemoteCommEvent", "t", "d")  # no state check at all
    p.same("system.methodHelp", "supervisor.getPID")
    p.same("system.multicall", [{"methodName": "supervisor.getPID"},
                                {"methodName": "system.methodSignature",
                                 "params": ["supervisor.getPID"]}])
    for d, pid in zip(p.both, stubborn):
        os.kill(pid, 9)
        wait_for(lambda: d.proc.poll() is not None, timeout=30, what="%s to exit" % d.kind)


def test_restart(fresh):
    p = fresh(PROGRAMS_STEADY)
    pids = [d.rpc().supervisor.getPID() for d in p.both]
    p.same("supervisor.restart")
    for d in p.both:
        wait_for(d.responding, timeout=30, what="%s to come back" % d.kind)
        settle(d)
    assert [d.rpc().supervisor.getPID() for d in p.both] == pids
    p.same("supervisor.getState")
    p.same("supervisor.getAllProcessInfo")


# --- HTTP ------------------------------------------------------------------------------

def post_bytes(body, version="1.1", extra=""):
    return ("POST /RPC2 HTTP/%s\r\nHost: localhost\r\nContent-Type: text/xml\r\n"
            "Content-Length: %d\r\n%s\r\n" % (version, len(body), extra)).encode() + body


GET_VERSION = xmlrpc.client.dumps((), "supervisor.getAPIVersion").encode()


@pytest.fixture(scope="module")
def http_pair(tmp_path_factory):
    yield from module_pair(tmp_path_factory, "http", PROGRAMS, {"exits": "EXITED", "cat": "RUNNING"})


@pytest.mark.parametrize("name,request_bytes,status", [
    ("malformed xml", post_bytes(b"<methodCall><methodName>x</methodName", "1.0"), 400),
    ("not xml", post_bytes(b"hello", "1.0"), 400),
    ("no methodName", post_bytes(b"<?xml version='1.0'?><methodCall><params></params>"
                                 b"</methodCall>", "1.0"), 400),
    ("empty methodName", post_bytes(b"<methodCall><methodName></methodName></methodCall>",
                                    "1.0"), 400),
    ("no params element", post_bytes(b"<methodCall><methodName>supervisor.getAPIVersion"
                                     b"</methodName></methodCall>", "1.0"), 200),
    ("GET /RPC2", b"GET /RPC2 HTTP/1.0\r\n\r\n", 400),
    ("PUT /RPC2", b"PUT /RPC2 HTTP/1.0\r\nContent-Length: 0\r\n\r\n", 400),
    ("unknown path", b"GET /nope HTTP/1.0\r\n\r\n", 404),
    ("unknown logtail", b"GET /logtail/nope HTTP/1.0\r\n\r\n", 404),
    ("logtail of a group", b"GET /logtail/grp:* HTTP/1.0\r\n\r\n", 404),
    ("logtail bad channel", b"GET /logtail/exits/bogus HTTP/1.0\r\n\r\n", 404),
    ("logtail of no log", b"GET /logtail/quiet HTTP/1.0\r\n\r\n", 404),
])
def test_http_status(http_pair, name, request_bytes, status):
    for d in http_pair.both:
        raw, timed_out = d.http_raw(request_bytes, timeout=10)
        assert not timed_out, "%s: %s did not close the connection" % (name, d.kind)
        got, headers, body = http_parse(raw)
        assert got == status, "%s: %s answered %s" % (name, d.kind, got)
        assert raw.startswith(b"HTTP/1.0 ")


def test_empty_body(http_pair):
    # supervisord waits for a body that never comes (medusa collects Content-Length: 0
    # forever); corral answers 400 at once.
    raw, timed_out = http_pair.cor.http_raw(post_bytes(b"", "1.0"), timeout=10)
    assert not timed_out and http_parse(raw)[0] == 400
    raw, timed_out = http_pair.sup.http_raw(post_bytes(b"", "1.0"), timeout=2)
    assert timed_out and raw == b""


def test_requests_supervisord_takes_and_corral_refuses(http_pair):
    # An <int> beyond XML-RPC's 32 bits (Python's client refuses to send one): supervisord
    # takes any Python int; corral's decoder rejects the request.
    big = post_bytes(b"<?xml version='1.0'?><methodCall><methodName>supervisor.readLog"
                     b"</methodName><params><param><value><int>99999999999</int></value>"
                     b"</param><param><value><int>0</int></value></param></params>"
                     b"</methodCall>", "1.0")
    assert http_parse(http_pair.sup.http_raw(big)[0])[0] == 200
    assert http_parse(http_pair.cor.http_raw(big)[0])[0] == 400
    # supervisord's web interface, served by corral too (tests/test_web_ui.py compares it
    # in depth): the same status page, but for what depends on the moment (each process's
    # state, description and actions).
    root = b"GET / HTTP/1.0\r\n\r\n"
    sup_page, cor_page = (status_page_shape(d.http_raw(root)[0]) for d in http_pair.both)
    assert sup_page[0] == 200 and cor_page == sup_page


def status_page_shape(raw):
    """(status, Content-Type, page) of a status page, its per-process states, descriptions
    and action lists blanked."""
    status, headers, body = http_parse(raw)
    page = body.decode("utf-8")
    page = re.sub(r'<span class="status\w+">\w+</span>', "<span>STATE</span>", page)
    page = re.sub(r"<td><span>[^<]*</span></td>", "<td><span>DESC</span></td>", page)
    page = re.sub(r"<ul>\n.*?</ul>", "<ul>ACTIONS</ul>", page, flags=re.S)
    return status, headers.get("content-type"), page


def test_keep_alive(http_pair):
    for d in http_pair.both:
        # HTTP/1.1: two requests on one connection, the second asks to close.
        req = post_bytes(GET_VERSION) + post_bytes(GET_VERSION, extra="Connection: close\r\n")
        raw, timed_out = d.http_raw(req, timeout=10)
        assert not timed_out
        assert raw.count(b"HTTP/1.1 200 OK") == 2
        assert raw.count(b"<string>3.0</string>") == 2
        # HTTP/1.0 closes unless asked to keep alive.
        raw, timed_out = d.http_raw(post_bytes(GET_VERSION, "1.0"), timeout=10)
        assert not timed_out and raw.startswith(b"HTTP/1.0 200")
        raw, timed_out = d.http_raw(post_bytes(GET_VERSION, "1.0", "Connection: keep-alive\r\n"),
                                    timeout=1, until=lambda b: b.endswith(b"</methodResponse>\n"))
        assert raw.startswith(b"HTTP/1.0 200")
        assert http_parse(raw)[1]["connection"].lower() == "keep-alive"
        # The Python client keeps its connection for several calls.
        proxy = d.rpc()
        assert [proxy.supervisor.getAPIVersion() for _ in range(3)] == ["3.0"] * 3

    # Each way of ending a connection gets medusa's headers (but Server and Date).
    def headers(d, req):
        raw, _ = d.http_raw(req, timeout=10, until=lambda b: b.endswith(b"</methodResponse>\n"))
        return {k: v for k, v in http_parse(raw)[1].items() if k not in ("server", "date")}
    for req in (post_bytes(GET_VERSION), post_bytes(GET_VERSION, extra="Connection: close\r\n"),
                post_bytes(GET_VERSION, "1.0"),
                post_bytes(GET_VERSION, "1.0", "Connection: keep-alive\r\n")):
        assert headers(http_pair.cor, req) == headers(http_pair.sup, req), req


def test_huge_body_is_refused_not_hung(http_pair):
    huge_cl = b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\nabc"
    raw, timed_out = http_pair.cor.http_raw(huge_cl, timeout=10)
    assert not timed_out and http_parse(raw)[0] == 413
    # A body really sent, past corral's 8 MiB limit.
    big = b"<methodCall><methodName>x</methodName><params><param><value><string>" + \
          b"x" * (9 * 1024 * 1024) + b"</string></value></param></params></methodCall>"
    s = http_pair.cor.connect(timeout=20)
    try:
        s.sendall(post_bytes(big)[:200])
        # corral answers 413 on the headers and drains the rest (a lingering close), so the
        # whole body goes out and the answer is still there to read.
        s.sendall(big)
        s.shutdown(socket.SHUT_WR)
        raw = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            raw += chunk
    finally:
        s.close()
    assert raw and http_parse(raw)[0] == 413
    # Headers past 16 KiB: 431.
    raw, timed_out = http_pair.cor.http_raw(b"GET /RPC2 HTTP/1.1\r\nX-Big: " + b"a" * 20000 +
                                            b"\r\n\r\n", timeout=10)
    assert not timed_out and http_parse(raw)[0] == 431
    # supervisord waits for the announced terabyte (documented in COMPATIBILITY.md).
    raw, timed_out = http_pair.sup.http_raw(huge_cl, timeout=2)
    assert timed_out and raw == b""
    assert http_pair.cor.rpc().supervisor.getAPIVersion() == "3.0"


def read_stream(d, path, until, timeout=10, auth=None):
    req = "GET %s HTTP/1.1\r\nHost: localhost\r\n" % path
    if auth:
        req += "Authorization: Basic %s\r\n" % auth
    raw, _ = d.http_raw((req + "\r\n").encode(), timeout=timeout,
                        until=lambda b: b"\r\n\r\n" in b and until(dechunk(b)))
    return raw


def dechunk(raw):
    """The body so far of a chunked response (a partial last chunk is dropped)."""
    body = raw.partition(b"\r\n\r\n")[2]
    out = b""
    while body:
        size_line, sep, rest = body.partition(b"\r\n")
        if not sep:
            break
        size = int(size_line.split(b";")[0], 16)
        if size == 0 or len(rest) < size:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return out


def test_logtail_streams(http_pair):
    for d in http_pair.both:
        raw = read_stream(d, "/logtail/exits", lambda b: b"out\n" in b)
        status, headers, _ = http_parse(raw)
        assert status == 200 and headers["transfer-encoding"] == "chunked"
        assert headers["content-type"] == "text/plain;charset=utf-8"
        assert headers["x-accel-buffering"] == "no"
        assert dechunk(raw) == b"out\n"
        raw = read_stream(d, "/logtail/exits/stderr", lambda b: b"err\n" in b)
        assert dechunk(raw) == b"err\n"
        raw = read_stream(d, "/logtail/exits/stdout", lambda b: b"out\n" in b)
        assert dechunk(raw) == b"out\n"
        raw = read_stream(d, "/mainlogtail", lambda b: len(b) > 0)
        status, headers, _ = http_parse(raw)
        assert status == 200 and "x-accel-buffering" not in headers
        with open(d.logfile, "rb") as f:
            assert dechunk(raw) in f.read()
    # The stream follows what is written after it started.
    for d in http_pair.both:
        s = d.connect(timeout=10)
        try:
            s.sendall(b"GET /logtail/cat HTTP/1.1\r\nHost: localhost\r\n\r\n")
            buf = [b""]

            def got(marker):
                try:
                    buf[0] += s.recv(65536)
                except socket.timeout:
                    pass
                return marker in dechunk(buf[0])

            marker = ("streamed-%s" % d.kind).encode()
            s.settimeout(0.2)
            wait_for(lambda: got(b"\x00never") or b"\r\n\r\n" in buf[0], timeout=10,
                     what="logtail response head")
            d.rpc().supervisor.sendProcessStdin("cat", marker.decode() + "\n")
            wait_for(lambda: got(marker), timeout=10, what="streamed output from %s" % d.kind)
        finally:
            s.close()


# --- authentication ----------------------------------------------------------------------

@pytest.mark.parametrize("password,config_password", [
    ("s3cret", "s3cret"),
    ("s3cret", "{SHA}" + hashlib.sha1(b"s3cret").hexdigest()),
], ids=["plain", "sha"])
def test_inet_auth(daemon_factory, password, config_password):
    for kind in ("supervisord", "corral"):
        d = daemon_factory(kind, PROGRAMS, start=False, subdir=kind, unix=False,
                           inet_port=free_port(), inet_username="user",
                           inet_password=config_password)
        prepare(d)
        d.rpc_password = password
        d.start()
        assert d.rpc().supervisor.getAPIVersion() == "3.0"
        for creds in (None, "user:wrong", "other:" + password, "user:" + config_password
                      if config_password != password else "user:" + password.upper()):
            extra = ""
            if creds:
                extra = "Authorization: Basic %s\r\n" % base64.b64encode(creds.encode()).decode()
            for req in (post_bytes(GET_VERSION, "1.0", extra),
                        ("GET /logtail/exits HTTP/1.0\r\n%s\r\n" % extra).encode(),
                        ("GET /mainlogtail HTTP/1.0\r\n%s\r\n" % extra).encode()):
                raw, timed_out = d.http_raw(req, timeout=10)
                status, headers, _ = http_parse(raw)
                assert status == 401, (kind, creds, req[:30])
                assert headers["www-authenticate"] == 'Basic realm="default"'
        d.rpc_password = "wrong"
        with pytest.raises(xmlrpc.client.ProtocolError) as e:
            d.rpc().supervisor.getAPIVersion()
        assert e.value.errcode == 401
        good = base64.b64encode(("user:" + password).encode()).decode()
        raw = read_stream(d, "/logtail/exits", lambda b: b"out\n" in b, auth=good)
        assert http_parse(raw)[0] == 200 and dechunk(raw) == b"out\n"


def test_unix_socket_auth(daemon_factory):
    # An inet server without auth to drive the daemon, and a unix one with auth to test.
    programs = PROGRAMS + "\n[unix_http_server]\nfile={here}/auth.sock\nusername=u\n" \
                          "password={SHA}%s\n" % hashlib.sha1(b"pw").hexdigest()
    for kind in ("supervisord", "corral"):
        d = daemon_factory(kind, programs, start=False, subdir=kind, unix=False,
                           inet_port=free_port())
        prepare(d)
        d.start()

        def ask(extra):
            raw, timed_out = d.http_raw(post_bytes(GET_VERSION, "1.0", extra), timeout=10,
                                        unix_path=os.path.join(d.dir, "auth.sock"))
            assert not timed_out, "%s did not close the connection" % d.kind
            return http_parse(raw)

        status, headers, _ = ask("")
        assert status == 401 and headers["www-authenticate"] == 'Basic realm="default"'
        basic = lambda c: "Authorization: Basic %s\r\n" % base64.b64encode(c).decode()  # noqa
        assert ask(basic(b"u:nope"))[0] == 401
        status, _, body = ask(basic(b"u:pw"))
        assert status == 200 and b"<string>3.0</string>" in body


# --- log text that is not valid UTF-8, or holds control characters -----------------------

def test_log_text_that_breaks_supervisord(fresh):
    programs = PROGRAMS + r"""
[program:binary]
command=printf 'ok \377\376 bad \342\202 cut\n'
startsecs=0
autorestart=false
stdout_logfile={here}/binary.log

[program:ansi]
command=printf 'ok \033[31mred\033[0m \001\002 \037 done\n'
startsecs=0
autorestart=false
stdout_logfile={here}/ansi.log
"""
    p = fresh(programs, dict(SETTLED, binary="EXITED", ansi="EXITED"))
    for d in p.both:
        wait_for(lambda: os.path.getsize(os.path.join(d.dir, "ansi.log")) > 0 and
                 os.path.getsize(os.path.join(d.dir, "binary.log")) > 0, what="the logs")
    proxy = p.cor.rpc()
    # corral: text Python parses, invalid sequences and forbidden characters as U+FFFD.
    assert proxy.supervisor.readProcessStdoutLog("binary", 0, 0) == \
        "ok \ufffd\ufffd bad \ufffd cut\n"
    assert proxy.supervisor.readProcessStdoutLog("ansi", 0, 0) == \
        "ok \ufffd[31mred\ufffd[0m \ufffd\ufffd \ufffd done\n"
    assert proxy.supervisor.tailProcessStdoutLog("binary", 0, 100) == \
        ["ok \ufffd\ufffd bad \ufffd cut\n", 17, False]
    assert proxy.supervisor.tailProcessStdoutLog("binary", 0, 2)[0] == "t\n"
    # a tail that starts inside a multi-byte sequence
    assert proxy.supervisor.readProcessStdoutLog("binary", 11, 2) == "\ufffd "
    # supervisord: invalid UTF-8 is an uncaught UnicodeDecodeError (HTTP 500); control
    # characters are sent raw, and no XML parser accepts the response.
    assert outcome(p.sup, "supervisor.readProcessStdoutLog", "binary", 0, 0) == ("http", 500)
    assert outcome(p.sup, "supervisor.tailProcessStdoutLog", "binary", 0, 100) == ("http", 500)
    assert outcome(p.sup, "supervisor.readProcessStdoutLog", "ansi", 0, 0) == \
        ("error", "ExpatError")
    assert outcome(p.sup, "supervisor.tailProcessStdoutLog", "ansi", 0, 100) == \
        ("error", "ExpatError")
    # The streaming tail passes bytes through unchanged on both.
    for d in p.both:
        raw = read_stream(d, "/logtail/binary", lambda b: b"cut\n" in b)
        assert dechunk(raw) == b"ok \377\376 bad \342\202 cut\n"

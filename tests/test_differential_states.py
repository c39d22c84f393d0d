"""The same configuration under supervisord 4.3.0 and corrald: every process must go through
the same sequence of states.

The sequences are recorded by an eventlistener (tests/programs/state_recorder.py) that both
daemons run unchanged, so every transition is seen, however fast (polling getProcessInfo
would miss some). The two daemons run side by side in separate directories.
"""

import os

from harness import PROGRAMS_DIR as PROGS
from harness import PY, wait_for

CONFIG = """
[eventlistener:recorder]
command={py} {progs}/state_recorder.py {{here}}/states.log
events=PROCESS_STATE
buffer_size=200

[program:good]
command=/bin/sleep 1000
startsecs=1

[program:quick]
command=/bin/false
startretries=2

[program:once]
command=/bin/sh -c "sleep 1.3; exit 0"
startsecs=1

[program:bad_exit]
command=/bin/sh -c "sleep 1.3; exit 3"
autorestart=false

[program:flapping]
command=/bin/sh -c "n=$(cat {{here}}/flaps 2>/dev/null || echo 0); n=$((n+1)); echo $n > {{here}}/flaps; sleep 1.3; [ $n -ge 3 ] && exit 0; exit 7"
autorestart=unexpected
startsecs=1

[program:stubborn]
command={py} {progs}/ignore_term.py
stopwaitsecs=1
startsecs=0

[program:manual]
command=/bin/sleep 1000
autostart=false

[program:missing]
command=/nonexistent/binary
startretries=1
""".format(py=PY, progs=PROGS)


def sequences(path, exclude=("recorder",)):
    seqs = {}
    try:
        with open(path) as f:
            for line in f:
                name, frm, to = line.split()
                if name in exclude:
                    continue
                seqs.setdefault(name, []).append((frm, to))
    except FileNotFoundError:
        pass
    return seqs


def drive(d):
    """The scenario: let things settle, poke a few processes, shut down."""
    states_log = os.path.join(d.dir, "states.log")
    wait_for(lambda: d.state("quick") == "FATAL", timeout=20, what="quick FATAL")
    wait_for(lambda: d.state("missing") == "FATAL", timeout=20, what="missing FATAL")
    wait_for(lambda: d.state("once") == "EXITED", timeout=10)
    wait_for(lambda: d.state("bad_exit") == "EXITED", timeout=10)
    wait_for(lambda: d.state("good") == "RUNNING", timeout=10)
    # flapping exits unexpectedly twice (restarted each time), then as expected.
    wait_for(lambda: d.state("flapping") == "EXITED" and d.info("flapping")["exitstatus"] == 0,
             timeout=20, what="flapping to finish its three runs")
    assert d.rpc().supervisor.startProcess("manual") is True
    assert d.rpc().supervisor.stopProcess("stubborn") is True   # SIGKILL after stopwaitsecs
    assert d.rpc().supervisor.stopProcess("good") is True
    assert d.rpc().supervisor.startProcess("good", False) is True
    wait_for(lambda: d.state("good") == "RUNNING", timeout=10)
    # The recorder hears of a transition a little after it happens: wait until it has the
    # last one before taking the snapshot that must match exactly.
    wait_for(lambda: sequences(states_log).get("good", []).count(("STARTING", "RUNNING")) == 2
             and ("STOPPING", "STOPPED") in sequences(states_log).get("stubborn", []),
             timeout=10, what="the recorder to catch up")
    before_shutdown = sequences(states_log)
    d.stop()
    return before_shutdown, sequences(states_log)


def test_same_state_sequences(daemon_factory):
    ref = daemon_factory("supervisord", CONFIG)
    ours = daemon_factory("corral", CONFIG)
    expected, expected_all = drive(ref)
    actual, actual_all = drive(ours)
    assert set(actual) == set(expected)
    for name in sorted(expected):
        assert actual[name] == expected[name], "state sequence of %s differs" % name
    # At shutdown supervisord stops the recorder (an eventlistener) after the programs, but
    # it dispatches events on its 1-second tick, so the last STOPPING->STOPPED events are
    # sometimes never delivered before the listener goes. What it did record must be a
    # prefix of what corrald recorded, and corrald must record every program stopping.
    for name in sorted(expected_all):
        ref_seq, our_seq = expected_all[name], actual_all.get(name, [])
        assert our_seq[:len(ref_seq)] == ref_seq, "shutdown sequence of %s differs" % name
    for name in ("good", "manual"):
        assert actual_all[name][-1] == ("STOPPING", "STOPPED"), name
    # Sanity: the scenario exercised what it claims to.
    assert ("BACKOFF", "FATAL") in expected["quick"]
    assert ("STOPPING", "STOPPED") in expected["stubborn"]
    assert ("RUNNING", "EXITED") in expected["bad_exit"]

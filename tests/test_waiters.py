"""Waiting calls observe the transition they wait for, even when other clients move the
process on before the waiter looks (issue 10, defect 2).

stopProcess(name, wait=True) used to watch only the latest published state: with another
client starting the process again at once, the STOPPED it waited for was never seen and
the call hung. supervisord answers every call; so must corrald.
"""

import threading
import time
import xmlrpc.client

from harness import PY, wait_for

PROGRAM = """
[program:sleeper]
command={py} -c "import time; time.sleep(1000)"
stopwaitsecs=5
autostart=true
"""


def _starter(d, stop, counts):
    # A multicall of many starts keeps start requests queued in the daemon back to back,
    # without the Python client's round trips between them: the race is then certain to
    # be tried at every stop.
    rpc = d.rpc()
    calls = [{"methodName": "supervisor.startProcess", "params": ["sleeper", False]}] * 200
    while not stop.is_set():
        try:
            for r in rpc.system.multicall(calls):
                if r is True:
                    counts["started"] += 1
                else:
                    counts["refused"] += 1  # ALREADY_STARTED while it runs: legitimate
        except (OSError, xmlrpc.client.Fault):
            counts["errors"] += 1


def test_stop_answers_while_others_start_the_process_again(daemon_factory):
    # (supervisord's own stopProcess can wait for a whole poll interval per round here;
    # the point is that corrald's never hangs.)
    kind = "corral"
    d = daemon_factory(kind, PROGRAM.format(py=PY))
    d.wait_state("sleeper", "RUNNING")
    stop = threading.Event()
    counts = {"started": 0, "refused": 0, "errors": 0}
    starters = [threading.Thread(target=_starter, args=(d, stop, counts), daemon=True)
                for _ in range(5)]
    for t in starters:
        t.start()
    try:
        for attempt in range(10):
            result = {}

            def call():
                try:
                    result["value"] = d.rpc().supervisor.stopProcess("sleeper", True)
                except xmlrpc.client.Fault as f:
                    result["fault"] = f.faultString

            t0 = time.monotonic()
            caller = threading.Thread(target=call, daemon=True)
            caller.start()
            # The process stops within stopwaitsecs (5 s; it obeys SIGTERM at once): a
            # generous bound, polled, never a fixed sleep.
            caller.join(timeout=30)
            assert not caller.is_alive(), "stopProcess #%d hung (%s)" % (attempt, kind)
            elapsed = time.monotonic() - t0
            # Either it stopped (True), or it was not running when asked (NOT_RUNNING).
            assert result.get("value") is True or "NOT_RUNNING" in result.get("fault", ""), result
            assert elapsed < 30
            wait_for(lambda: d.state("sleeper") in ("RUNNING", "STARTING", "STOPPED"), timeout=10)
    finally:
        stop.set()
        for t in starters:
            t.join(timeout=30)
    assert counts["errors"] == 0, counts
    assert counts["started"] > 0, counts


def test_start_waiter_sees_running_even_if_another_client_stopped_it(daemon_factory):
    """startProcess(wait) returns True when the process reached RUNNING, even if another
    request has stopped it again before the waiter looked."""
    d = daemon_factory("corral", PROGRAM.format(py=PY).replace("autostart=true", "autostart=false"))
    for _ in range(3):
        out = {}

        def start():
            try:
                out["value"] = d.rpc().supervisor.startProcess("sleeper", True)
            except xmlrpc.client.Fault as f:
                out["fault"] = f.faultString

        t = threading.Thread(target=start, daemon=True)
        t.start()
        d.wait_state("sleeper", "RUNNING", timeout=15)
        d.rpc().supervisor.stopProcess("sleeper", True)
        t.join(timeout=30)
        assert not t.is_alive(), "startProcess hung"
        assert out.get("value") is True, out

"""The least any daemon can spend starting N programs with AUTO logs: a bare loop that
creates the two log files of each program and `posix_spawn`s it (`/bin/sleep`, in a
session of its own, stdout and stderr on its files), with no event loop, no pipes, no
state. Prints JSON: the wall time until the last spawn returned (glibc's posix_spawn
returns after the child exec'd) and this process's CPU. Stops every child it started,
by pid.

    spawnfloor.py DIR N
"""

import json
import os
import signal
import sys
import time

d, n = sys.argv[1], int(sys.argv[2])
argv = ["/bin/sleep", "1000000"]
pids = []


def sched_s():
    with open("/proc/self/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


t0, c0 = time.perf_counter(), sched_s()
try:
    for i in range(n):
        out = os.open(os.path.join(d, f"p{i:04d}-stdout.log"), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        err = os.open(os.path.join(d, f"p{i:04d}-stderr.log"), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        pids.append(os.posix_spawn(argv[0], argv, os.environ, setsid=True, file_actions=[
            (os.POSIX_SPAWN_DUP2, out, 1), (os.POSIX_SPAWN_DUP2, err, 2)]))
        os.close(out)
        os.close(err)
    wall, cpu = time.perf_counter() - t0, sched_s() - c0
finally:
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    for pid in pids:
        os.waitpid(pid, 0)
print(json.dumps({"n": n, "finished": True, "all_running_s": wall, "cpu_s": cpu}))

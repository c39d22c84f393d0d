"""The least CPU any daemon can spend moving a child's output into a log file: run the
flood child with its stdout on a pipe and copy the pipe into a file with a bare loop
(no rotation, no event loop, nothing else), reporting this process's CPU seconds.

    floor.py MODE OUT_FILE BYTES      MODE: rw (read/write, 256 KiB) or splice
"""

import fcntl
import json
import os
import subprocess
import sys
import time

mode, out_path, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
here = os.path.dirname(os.path.abspath(__file__))
r, w = os.pipe()
fcntl.fcntl(r, fcntl.F_SETPIPE_SZ, 256 * 1024)
child = subprocess.Popen(
    [sys.executable, os.path.join(here, "flood.py"), str(total)], stdout=w, close_fds=True
)
os.close(w)
# splice(2) refuses O_APPEND files (a log file is opened O_APPEND); the bare loop may cheat.
flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_APPEND if mode == "rw" else 0)
out = os.open(out_path, flags, 0o644)
def sched_s():
    with open("/proc/self/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


t0, s0 = os.times(), sched_s()
n = 0
if mode == "rw":
    while True:
        b = os.read(r, 256 * 1024)
        if not b:
            break
        os.write(out, b)
        n += len(b)
else:
    while True:
        k = os.splice(r, out, 256 * 1024)
        if not k:
            break
        n += k
t1, s1 = os.times(), sched_s()
child.wait()
cpu = (t1.user - t0.user) + (t1.system - t0.system)
print(json.dumps({"cpu_s": cpu, "sched_cpu_s": s1 - s0, "bytes": n}))

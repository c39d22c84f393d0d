"""The least CPU an event loop spends on the lines workload: start the 20 lines children
with their stdout on pipes and copy each pipe into its own file with a bare poll loop
(no supervision, no rotation), letting the pipes fill for PAUSE seconds between rounds.
Reports this process's CPU seconds (schedstat) as JSON.

    linesfloor.py OUT_DIR PAUSE
"""

import fcntl
import json
import os
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pattern  # noqa: E402


def sched_s():
    with open("/proc/self/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


out_dir, pause = sys.argv[1], float(sys.argv[2])
here = os.path.dirname(os.path.abspath(__file__))
outs = {}
poll = select.poll()
children = []
t0, c0 = sched_s(), os.times()
for k in range(20):
    r, w = os.pipe()
    fcntl.fcntl(r, fcntl.F_SETPIPE_SZ, 256 * 1024)
    os.set_blocking(r, False)
    outs[r] = os.open(os.path.join(out_dir, f"lines{k:02d}.log"),
                      os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    children.append(subprocess.Popen(
        [sys.executable, os.path.join(here, "lines.py"), str(k), str(pattern.LINES)],
        stdout=w, close_fds=True))
    os.close(w)
    poll.register(r, select.POLLIN)
live = set(outs)
total = 0
while live:
    for fd, _ in poll.poll():
        try:
            b = os.read(fd, 256 * 1024)
        except BlockingIOError:
            continue
        if not b:
            poll.unregister(fd)
            live.discard(fd)
            continue
        os.write(outs[fd], b)
        total += len(b)
    if pause:
        time.sleep(pause)
t1, c1 = sched_s(), os.times()
for c in children:
    c.wait()
ok = all(
    open(os.path.join(out_dir, f"lines{k:02d}.log"), "rb").read() == pattern.lines_stream(k)
    for k in range(20)
)
cpu = (c1.user - c0.user) + (c1.system - c0.system)
print(json.dumps({"cpu_s": cpu, "sched_cpu_s": t1 - t0, "bytes": total, "bytes_ok": ok}))

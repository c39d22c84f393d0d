"""A parent that stays small and a child that grows: while the file GROW_FLAG exists, the
child allocates (and touches) STEP_MB more every 0.2 s, up to MAX_MB. For max_memory tests:
only the tree's memory passes the limit.

Usage: memory_tree.py GROW_FLAG STEP_MB MAX_MB
"""
import os
import subprocess
import sys
import time

if len(sys.argv) > 4 and sys.argv[4] == "child":
    flag, step, top = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    blocks = []
    while True:
        if os.path.exists(flag) and len(blocks) * step < top:
            blocks.append(bytearray(b"x" * (step << 20)))
        time.sleep(0.2)

child = subprocess.Popen([sys.executable] + sys.argv + ["child"])
print("child %d" % child.pid, flush=True)
child.wait()

"""Write pattern.LINES one-line writes (one write(2) per line) to stdout, then exit 0.
argv[1] is the child's number (the program's process_num), argv[2] the number of lines,
argv[3] (optional) lines per second: paced in steps of 1 ms; as fast as possible without."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pattern  # noqa: E402

k = int(sys.argv[1])
count = int(sys.argv[2]) if len(sys.argv) > 2 else pattern.LINES
rate = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
write = os.write
start = time.monotonic()
for i in range(count):
    data = pattern.line(k, i)
    while data:
        data = data[write(1, data) :]
    if rate:
        ahead = start + (i + 1) / rate - time.monotonic()
        if ahead > 0.001:
            time.sleep(ahead)

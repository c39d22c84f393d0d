"""Write pattern.LINES one-line writes (one write(2) per line) to stdout, as fast as
possible, then exit 0. argv[1] is the child's number (the program's process_num)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pattern  # noqa: E402

k = int(sys.argv[1])
count = int(sys.argv[2]) if len(sys.argv) > 2 else pattern.LINES
write = os.write
for i in range(count):
    data = pattern.line(k, i)
    while data:
        data = data[write(1, data) :]

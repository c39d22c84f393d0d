"""Writes exactly N bytes to stdout in chunks of CHUNK bytes, then sleeps forever.

Usage: writer.py N CHUNK. The bytes form a checkable pattern: line i is "%08d" % i padded
with 'x' to 64 bytes including the newline, so any loss, duplication or reordering shows.
"""
import os
import sys
import time

n, chunk = int(sys.argv[1]), int(sys.argv[2])
data = b"".join(b"%08d" % i + b"x" * 55 + b"\n" for i in range(n // 64 + 1))[:n]
for off in range(0, n, chunk):
    os.write(1, data[off:off + chunk])
while True:
    time.sleep(3600)

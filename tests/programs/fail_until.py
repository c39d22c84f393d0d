"""Exits 1 at once until the Unix time written in FILE has passed; after that it stays up.
Appends each start's time to LOG.

Usage: fail_until.py FILE LOG
"""
import sys
import time

with open(sys.argv[2], "a") as f:
    f.write("%.3f\n" % time.time())
if time.time() < float(open(sys.argv[1]).read()):
    sys.exit(1)
print("up", flush=True)
while True:
    time.sleep(3600)

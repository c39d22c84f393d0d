"""Writes its environment as JSON to OUT (atomically), then sleeps until stopped.

Usage: env_dump.py OUT
"""
import json
import os
import sys
import time

out = sys.argv[1]
with open(out + ".tmp", "w") as f:
    json.dump(dict(os.environ), f)
os.rename(out + ".tmp", out)
while True:
    time.sleep(3600)

"""Ignores SIGTERM and SIGINT; only SIGKILL stops it. Prints a line when it gets a signal."""
import signal
import sys
import time


def note(sig, frame):
    print("got signal %d" % sig, flush=True)


signal.signal(signal.SIGTERM, note)
signal.signal(signal.SIGINT, note)
print("ready", flush=True)
while True:
    time.sleep(3600)

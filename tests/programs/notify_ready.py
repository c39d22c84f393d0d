"""Sends READY=1 (sd_notify) after DELAY seconds, if NOTIFY_SOCKET is set; then sleeps.

Usage: notify_ready.py DELAY [STATUS]. A negative DELAY never sends READY=1.
"""
import os
import socket
import sys
import time

delay = float(sys.argv[1])
addr = os.environ.get("NOTIFY_SOCKET", "")
if addr.startswith("@"):
    addr = "\0" + addr[1:]


def notify(msg):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(msg.encode(), addr)
    s.close()


if len(sys.argv) > 2:
    notify("STATUS=" + sys.argv[2])
if delay >= 0:
    time.sleep(delay)
    notify("READY=1")
print("notified" if delay >= 0 else "never ready", flush=True)
while True:
    time.sleep(3600)

"""Speaks systemd's watchdog protocol: records WATCHDOG_USEC, WATCHDOG_PID and its own pid
in ENVFILE, then sends WATCHDOG=1 every EVERY seconds on NOTIFY_SOCKET, as long as the
file STOP_FLAG does not exist (then it stays silent, as a hung server would). With a
third argument `trigger`, it sends WATCHDOG=trigger once STOP_FLAG exists.

Usage: watchdog_app.py ENVFILE EVERY STOP_FLAG [trigger]
"""
import os
import socket
import sys
import time

envfile, every, flag = sys.argv[1], float(sys.argv[2]), sys.argv[3]
trigger = len(sys.argv) > 4 and sys.argv[4] == "trigger"
addr = os.environ.get("NOTIFY_SOCKET", "")
if addr.startswith("@"):
    addr = "\0" + addr[1:]
with open(envfile, "a") as f:
    f.write("%s %s %d %s\n" % (os.environ.get("WATCHDOG_USEC"), os.environ.get("WATCHDOG_PID"),
                               os.getpid(), "notify" if addr else "-"))


def notify(msg):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(msg.encode(), addr)
    s.close()


sent_trigger = False
while True:
    if not os.path.exists(flag):
        notify("WATCHDOG=1")
    elif trigger and not sent_trigger:
        notify("WATCHDOG=trigger")
        sent_trigger = True
    time.sleep(every)

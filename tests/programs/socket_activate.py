"""A stand-in for systemd's socket activation: bind the sockets, then exec a program with
them as fds 3, 4, ... and LISTEN_FDS, LISTEN_PID (its own pid: exec keeps it) and
LISTEN_FDNAMES, as systemd passes them.

Usage: socket_activate.py NAME=tcp:HOST:PORT|NAME=unix:PATH ... -- PROGRAM ARGS...
"""
import os
import socket
import sys

sep = sys.argv.index("--")
specs, argv = sys.argv[1:sep], sys.argv[sep + 1:]
socks = []
names = []
for spec in specs:
    name, _, where = spec.partition("=")
    kind, _, addr = where.partition(":")
    if kind == "tcp":
        host, _, port = addr.rpartition(":")
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))
    else:
        if os.path.exists(addr):
            os.unlink(addr)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(addr)
        os.chmod(addr, 0o666)
    s.listen(64)
    socks.append(s)
    names.append(name)
# Move them to 3, 4, ... without clobbering one another.
dups = [os.dup(s.fileno()) for s in socks]
for s in socks:
    s.close()
for i, fd in enumerate(dups):
    os.dup2(fd, 3 + i, inheritable=True)
for fd in dups:
    if fd >= 3 + len(dups):
        os.close(fd)
env = dict(os.environ, LISTEN_FDS=str(len(dups)), LISTEN_PID=str(os.getpid()),
           LISTEN_FDNAMES=":".join(names))
os.execve(argv[0], argv, env)

"""Reports what systemd's socket-activation protocol handed it, then serves HTTP on fd 3.

Prints one line: LISTEN_FDS, LISTEN_PID==getpid, LISTEN_FDNAMES, and for each passed fd
its socket family and whether it is listening. Then answers every HTTP request on fd 3
with its pid (so a test can see which process served it).
"""
import os
import socket
import sys

n = int(os.environ.get("LISTEN_FDS", "0"))
info = []
for fd in range(3, 3 + n):
    s = socket.socket(fileno=os.dup(fd))
    info.append("%d:%s:%s" % (fd, s.family.name, s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)))
    s.detach()
print("LISTEN_FDS=%d pidok=%s names=%s %s" % (
    n, os.environ.get("LISTEN_PID") == str(os.getpid()), os.environ.get("LISTEN_FDNAMES"), " ".join(info)), flush=True)
if n and len(sys.argv) > 1 and sys.argv[1] == "serve":
    srv = socket.socket(fileno=3)
    while True:
        conn, _ = srv.accept()
        conn.recv(65536)
        body = str(os.getpid()).encode()
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        conn.close()
else:
    import time
    while True:
        time.sleep(3600)

"""Starts listening on 127.0.0.1:PORT after DELAY seconds; answers HTTP with STATUS.

Usage: late_listener.py PORT DELAY [STATUS]."""
import socket
import sys
import time

port, delay = int(sys.argv[1]), float(sys.argv[2])
status = sys.argv[3] if len(sys.argv) > 3 else "200 OK"
time.sleep(delay)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(16)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.recv(65536)
    c.sendall(("HTTP/1.0 %s\r\nContent-Length: 2\r\n\r\nok" % status).encode())
    c.close()

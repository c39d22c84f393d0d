"""A server that takes a while to start: waits DELAY seconds, then listens on 127.0.0.1:PORT
and accepts (and closes) connections until stopped. Prints `listening` when it does.

Usage: delayed_listener.py PORT DELAY
"""
import socket
import sys
import time

port, delay = int(sys.argv[1]), float(sys.argv[2])
time.sleep(delay)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(16)
print("listening", flush=True)
while True:
    conn, _ = s.accept()
    conn.close()

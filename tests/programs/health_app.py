"""A small HTTP server for health-check tests: GET /health answers 200, or hangs for as
long as the file HANG_FLAG exists (the way a server stuck on a request does). Every
other path answers 200 with the pid.

Usage: health_app.py PORT HANG_FLAG. Takes fd 3 instead of binding when LISTEN_FDS is set.
"""
import http.server
import os
import socket
import sys
import time

port, flag = int(sys.argv[1]), sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            while os.path.exists(flag):
                time.sleep(0.1)
        body = ("pid %d\n" % os.getpid()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if os.environ.get("LISTEN_FDS"):
    server = Server(("127.0.0.1", port), Handler, bind_and_activate=False)
    server.socket = socket.socket(fileno=3)
else:
    server = Server(("127.0.0.1", port), Handler)
print("serving on %d" % port, flush=True)
server.serve_forever()

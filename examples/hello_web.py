"""A tiny web server that serves on the socket corrald hands it (systemd's LISTEN_FDS
protocol): fd 3 is already bound and listening, so restarts never race for the port."""
import http.server
import os
import socket
import socketserver


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from pid %d\n" % os.getpid()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)


class FromFd(socketserver.ThreadingMixIn, http.server.HTTPServer):
    def __init__(self, fd):
        socketserver.BaseServer.__init__(self, None, Handler)
        self.socket = socket.socket(fileno=fd)

    def server_bind(self):
        pass  # corrald bound it


if __name__ == "__main__":
    assert os.environ.get("LISTEN_PID") == str(os.getpid()), "run me under corrald"
    print("serving on %s (fd 3)" % os.environ["LISTEN_FDNAMES"], flush=True)
    FromFd(3).serve_forever()

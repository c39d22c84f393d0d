"""Programs for tests/test_reliability.py, one per mode:

  probe_child.py bind PORT
      Listen on 127.0.0.1:PORT (no SO_REUSEADDR: a second bind fails while the first is
      alive), start a `sleep` grandchild in the background, and wait.
  probe_child.py ignoring N PIDFILE
      Ignore SIGTERM, start N `sleep` processes that inherit that (SIG_IGN survives exec),
      write their pids to PIDFILE (one a line, then "done"), and wait.
  probe_child.py garbage MIB HASHFILE
      Write MIB MiB of pseudo-random bytes (every byte value: invalid UTF-8, NULs, escape
      sequences, CRs) to stderr, then their length and SHA-256 to HASHFILE, and wait.
  probe_child.py lines N INTERVAL
      Write N numbered 64-byte lines to stdout, one every INTERVAL seconds, then wait.
"""
import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import time


def wait_forever():
    while True:
        time.sleep(3600)


def bind(port):
    s = socket.socket()
    s.bind(("127.0.0.1", int(port)))
    s.listen(16)
    subprocess.Popen(["sleep", "1000"])
    print("listening on %s" % port, flush=True)
    wait_forever()


def ignoring(n, pidfile):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    procs = [subprocess.Popen(["sleep", "1000"]) for _ in range(int(n))]
    with open(pidfile + ".tmp", "w") as f:
        f.write("".join("%d\n" % p.pid for p in procs) + "done\n")
    os.rename(pidfile + ".tmp", pidfile)
    wait_forever()


def garbage(mib, hashfile):
    rnd = random.Random(10)
    block = rnd.randbytes(1 << 20)
    h = hashlib.sha256()
    total = 0
    for i in range(int(mib)):
        # Vary the blocks a little so that a duplicated or dropped MiB changes the hash.
        chunk = bytes([i & 0xFF]) + block[1:]
        view = memoryview(chunk)
        while view:
            n = os.write(2, view[:65536])
            view = view[n:]
        h.update(chunk)
        total += len(chunk)
    with open(hashfile + ".tmp", "w") as f:
        f.write("%d %s\n" % (total, h.hexdigest()))
    os.rename(hashfile + ".tmp", hashfile)
    wait_forever()


def lines(n, interval):
    for i in range(int(n)):
        os.write(1, b"%08d" % i + b"x" * 55 + b"\n")
        time.sleep(float(interval))
    wait_forever()


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    {"bind": bind, "ignoring": ignoring, "garbage": garbage, "lines": lines}[mode](*args)

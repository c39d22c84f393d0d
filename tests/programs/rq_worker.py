"""An RQ-style worker: works on one job of JOB_SECONDS; the first SIGINT (or SIGTERM) is a
warm shutdown (finish the job, then exit 0), the second aborts the job (exit 1), as
python-rq's worker does. Each step is appended to LOG (one line each): `job started`,
`warm shutdown`, `job finished`, `job aborted`, `exit N`.

Usage: rq_worker.py LOG JOB_SECONDS
"""
import signal
import sys
import time

log_path, job_seconds = sys.argv[1], float(sys.argv[2])
requests = 0


def log(line):
    with open(log_path, "a") as f:
        f.write(line + "\n")


def on_signal(sig, frame):
    global requests
    requests += 1
    if requests == 1:
        log("warm shutdown")
    else:
        log("job aborted")
        log("exit 1")
        sys.exit(1)


signal.signal(signal.SIGINT, on_signal)
signal.signal(signal.SIGTERM, on_signal)
while True:
    log("job started")
    end = time.monotonic() + job_seconds
    while time.monotonic() < end:
        time.sleep(0.05)
    log("job finished")
    if requests:
        log("exit 0")
        sys.exit(0)

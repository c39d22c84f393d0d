"""The Flask app of the rolling-restart tests (and the benchmark): answers with the pid of
the worker that served the request. If FAIL_FLAG names an existing file at start-up, it
refuses to start (to test a replacement that never becomes ready)."""
import os
import sys

from flask import Flask

flag = os.environ.get("FAIL_FLAG")
if flag and os.path.exists(flag):
    sys.exit("refusing to start: %s exists" % flag)

app = Flask(__name__)


@app.route("/")
def index():
    return "pid %d version %s\n" % (os.getpid(), os.environ.get("APP_VERSION", "-"))

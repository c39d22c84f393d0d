"""The failure in seeds/000: a Flask app with debug=True, started through `bash -E -c
./start.sh` with the post's *first* configuration (no stopsignal, no stopasgroup).

`supervisorctl restart` sends SIGTERM to bash only; the Flask reloader's child (a
grandchild) keeps the port, and under supervisord 4.3.0 the restarted app dies with
`Address already in use`. corrald stops the leftovers of the old tree before it starts the
new one, so restart after restart the app comes back and serves.
"""

import os
import signal
import textwrap
import urllib.request

from harness import PY, free_port, pid_alive, read_text, wait_for

APP = '''
from flask import Flask
app = Flask(__name__)

@app.route("/")
def index():
    return "SUCCESS"

if __name__ == "__main__":
    import os
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), debug=True, threaded=True)
'''


def make_app(tmp_path, python):
    app_dir = tmp_path / "flask-app"
    app_dir.mkdir()
    (app_dir / "app.py").write_text(APP)
    start = app_dir / "start.sh"
    start.write_text("#!/bin/bash\n%s ./app.py\n" % python)
    start.chmod(0o755)
    return app_dir


def config(app_dir, port):
    # The post's first configuration, verbatim but for paths and the port.
    return textwrap.dedent("""
        [program:techcoil-flask-app]
        directory={dir}
        command=/bin/bash -E -c ./start.sh
        autostart=true
        autorestart=true
        environment=PORT="{port}"
    """).format(dir=app_dir, port=port)


def serves(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=2) as r:
            return r.read() == b"SUCCESS"
    except OSError:
        return False


def tree_pids(pgid):
    """Processes still in the program's process group (to clean up after supervisord)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                out.append(int(entry))
    return out


def test_restart_again_and_again_under_corrald(daemon_factory, tmp_path):
    port = free_port()
    app_dir = make_app(tmp_path, PY)
    d = daemon_factory("corral", config(app_dir, port))
    wait_for(lambda: serves(port), timeout=20, what="the app to serve")
    name = "techcoil-flask-app"
    for i in range(8):
        old = d.info(name)["pid"]
        code, out, err = d.ctl("restart", name)
        assert code == 0, (out, err)
        assert out == "%s: stopped\n%s: started\n" % (name, name)
        assert not pid_alive(old)
        wait_for(lambda: serves(port), timeout=20, what="the app to serve after restart %d" % i)
        assert d.state(name) == "RUNNING"
    with open(d.info(name)["stderr_logfile"]) as f:
        assert "Address already in use" not in f.read()
    assert "sending SIGTERM to leftover process" in d.mainlog()


def test_supervisord_fails_the_same_restart(daemon_factory, tmp_path):
    """The reference: supervisord 4.3.0 fails this scenario (so the test above can fail)."""
    port = free_port()
    app_dir = make_app(tmp_path, PY)
    d = daemon_factory("supervisord", config(app_dir, port))
    name = "techcoil-flask-app"
    pgids = set()
    try:
        wait_for(lambda: serves(port), timeout=20, what="the app to serve")
        failed = False
        for _ in range(3):
            pgids.add(d.info(name)["pid"])
            d.ctl("restart", name)
            try:
                wait_for(lambda: d.state(name) in ("BACKOFF", "FATAL") or
                         "Address already in use" in read_text(d.info(name)["stderr_logfile"]),
                         timeout=10)
                failed = True
                break
            except AssertionError:
                continue
        assert failed, "supervisord was expected to fail with 'Address already in use'"
    finally:
        # supervisord leaves the Flask processes behind: stop them by process group.
        pgids.add(d.info(name)["pid"] or 0)
        d.stop()
        for pgid in pgids - {0}:
            for pid in tree_pids(pgid):
                os.kill(pid, signal.SIGKILL)

"""corral's JSON API (/api/v1/) against the real corrald.

The OpenAPI document kept in the repository validates (openapi-spec-validator) and is the
one served; every endpoint it lists is called; results and faults are those of the
XML-RPC methods the endpoints run; the event stream sends a snapshot, then each state
change within 100 ms of it; a client that stops reading is dropped, not buffered; the
read-only user gets 403 on every action (JSON API and XML-RPC) and sees everything else.
"""

import base64
import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
import xmlrpc.client

import pytest

from harness import REPO, free_port, wait_for

OPENAPI = os.path.join(REPO, "crates", "corrald", "src", "rpc", "api", "openapi.json")

PROGRAMS = r"""
[inet_http_server]
port=127.0.0.1:{port}
username=admin
password=secret
readonly_username=viewer
readonly_password=look

[program:sleeper]
command=sleep 1000
startsecs=0

[program:talker]
command=sh -c 'i=0; while true; do echo "talk $i"; echo "oops $i" >&2; i=$((i+1)); sleep 0.2; done'
startsecs=0
stopsignal=KILL

[group:pool]
programs=p1,p2

[program:p1]
command=sleep 1000
startsecs=0

[program:p2]
command=sleep 1000
startsecs=0
"""

FULL = ("admin", "secret")
VIEWER = ("viewer", "look")


class Api:
    def __init__(self, port, creds):
        self.port = port
        self.creds = creds

    def request(self, method, path, body=None, timeout=30):
        data = None
        headers = {}
        if self.creds:
            token = base64.b64encode(("%s:%s" % self.creds).encode()).decode()
            headers["Authorization"] = "Basic " + token
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif method == "POST":
            data = b""
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data,
                                     headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return r.status, r.headers, raw
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def json(self, method, path, body=None):
        status, headers, raw = self.request(method, path, body)
        return status, json.loads(raw) if raw else None

    def rpc(self):
        u, p = self.creds
        return xmlrpc.client.ServerProxy("http://%s:%s@127.0.0.1:%d/RPC2" % (u, p, self.port))


@pytest.fixture
def corral(daemon_factory):
    port = free_port()
    d = daemon_factory("corral", PROGRAMS.replace("{port}", str(port)))
    d.http_port = port
    for name in ("sleeper", "talker", "pool:p1", "pool:p2"):
        d.wait_state(name, "RUNNING")
    return d


def full(d):
    return Api(d.http_port, FULL)


def viewer(d):
    return Api(d.http_port, VIEWER)


def test_the_document_validates_and_is_the_one_served(corral):
    from openapi_spec_validator import validate

    with open(OPENAPI) as f:
        doc = json.load(f)
    validate(doc)
    status, served = full(corral).json("GET", "/api/v1/openapi.json")
    assert status == 200
    assert served == doc


def sse_open(port, creds, path="/api/v1/events", rcvbuf=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    token = base64.b64encode(("%s:%s" % creds).encode()).decode()
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n\r\n" % (path, token)).encode())
    return s


class SseReader:
    """Reads an SSE stream (chunked) in a thread; each event with its arrival time."""

    def __init__(self, sock):
        self.sock = sock
        self.events = []
        self.head = b""
        self.closed = False
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        buf = b""
        body = b""
        head_done = False
        self.sock.settimeout(60)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                now = time.monotonic()
                buf += chunk
                if not head_done:
                    if b"\r\n\r\n" not in buf:
                        continue
                    self.head, _, buf = buf.partition(b"\r\n\r\n")
                    head_done = True
                # De-chunk what is complete.
                while True:
                    line, sep, rest = buf.partition(b"\r\n")
                    if not sep:
                        break
                    size = int(line, 16)
                    if len(rest) < size + 2:
                        break
                    body += rest[:size]
                    buf = rest[size + 2:]
                    if size == 0:
                        break
                while b"\n\n" in body:
                    msg, _, body = body.partition(b"\n\n")
                    fields = {}
                    for ln in msg.decode().split("\n"):
                        if ln.startswith(":") or ":" not in ln:
                            continue
                        k, _, v = ln.partition(":")
                        fields[k] = v[1:] if v.startswith(" ") else v
                    if "data" in fields:
                        with self.lock:
                            self.events.append((now, fields.get("event"), fields.get("id"),
                                                json.loads(fields["data"])))
        except OSError:
            pass
        self.closed = True

    def of(self, kind):
        with self.lock:
            return [e for e in self.events if e[1] == kind]

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def fill_path(path, names):
    return re.sub(r"\{(\w+)\}", lambda m: urllib.request.quote(names[m.group(1)], safe=""), path)


def test_every_endpoint_the_document_lists_answers_as_documented(corral):
    with open(OPENAPI) as f:
        doc = json.load(f)
    api = full(corral)
    names = {"name": "talker", "group": "pool", "stream": "stdout"}
    called = []
    # Actions in an order that leaves the processes running: stop, then start, ...
    order = ["stop", "start", "restart", "rolling-restart", "signal", "clear-logs"]

    def rank(item):
        path, _ = item
        last = path.rsplit("/", 1)[-1]
        return (path.count("/"), order.index(last) if last in order else -1, path)

    for path, item in sorted(doc["paths"].items(), key=rank):
        for method, op in item.items():
            if method not in ("get", "post"):
                continue
            url = fill_path(path, names)
            documented = set(op["responses"])
            if path.endswith("/follow") or path.endswith("/events"):
                s = sse_open(corral.http_port, FULL, url)
                s.settimeout(10)
                got = b""
                while b"\r\n\r\n" not in got:
                    got += s.recv(4096)
                s.close()
                status = int(got.split()[1])
                assert str(status) in documented, (path, status)
                called.append((method, path, status))
                continue
            body = None
            if path.endswith("/signal"):
                body = {"signal": "CONT"}
            if path.endswith("/stop") or path.endswith("/restart"):
                body = {"wait": True}
            status, j = api.json(method.upper(), url, body)
            assert str(status) in documented, (path, status, j)
            if status >= 400:
                assert set(j) == {"error"} and {"code", "message"} <= set(j["error"]), j
            called.append((method, path, status))
    assert {(m, p) for m, p, _ in called} == {
        (m, p) for p, item in doc["paths"].items() for m in item if m in ("get", "post")}
    # Every call succeeded.
    assert [c for c in called if c[2] != 200] == []


def strip_volatile(info):
    return {k: v for k, v in info.items() if k not in ("now", "description")}


def test_results_and_faults_are_the_xmlrpc_ones(corral):
    api = full(corral)
    rpc = api.rpc()
    status, procs = api.json("GET", "/api/v1/processes")
    assert status == 200
    xml = rpc.supervisor.getAllProcessInfo()
    assert [strip_volatile({k: p[k] for k in x}) for p, x in zip(procs, xml)] == \
        [strip_volatile(x) for x in xml]
    assert [p["namespec"] for p in procs] == ["pool:p1", "pool:p2", "sleeper", "talker"]
    status, one = api.json("GET", "/api/v1/processes/pool:p1")
    assert status == 200 and one["name"] == "p1" and one["group"] == "pool"

    # Faults: the XML-RPC fault's code and text, with a fitting status.
    def fault_of(method, *args):
        with pytest.raises(xmlrpc.client.Fault) as e:
            getattr(rpc.supervisor, method)(*args)
        return e.value.faultCode, e.value.faultString

    cases = [
        ("GET", "/api/v1/processes/nope", None, 404, ("getProcessInfo", "nope")),
        ("POST", "/api/v1/processes/nope/start", None, 404, ("startProcess", "nope")),
        ("POST", "/api/v1/processes/sleeper/start", None, 409, ("startProcess", "sleeper")),
        ("POST", "/api/v1/processes/sleeper/signal", {"signal": "NOPE"}, 400,
         ("signalProcess", "sleeper", "NOPE")),
        ("POST", "/api/v1/groups/nope/stop", None, 404, ("stopProcessGroup", "nope")),
    ]
    for method, path, body, want_status, call in cases:
        status, j = api.json(method, path, body)
        code, text = fault_of(*call)
        assert status == want_status, (path, j)
        assert j["error"]["faultCode"] == code and j["error"]["message"] == text, (path, j)
        assert j["error"]["code"] == text.split(":")[0]
    # Stopping a stopped process: NOT_RUNNING, 409.
    assert api.json("POST", "/api/v1/processes/sleeper/stop")[0] == 200
    status, j = api.json("POST", "/api/v1/processes/sleeper/stop")
    assert status == 409 and j["error"]["code"] == "NOT_RUNNING"
    assert api.json("POST", "/api/v1/processes/sleeper/start")[1] == {"result": True}
    # Group results are the XML-RPC arrays.
    status, j = api.json("POST", "/api/v1/groups/pool/signal", {"signal": "CONT"})
    assert status == 200
    assert sorted((r["name"], r["status"]) for r in j["result"]) == [("p1", 80), ("p2", 80)]
    # Wrong method, unknown path, bad body.
    assert api.json("DELETE", "/api/v1/processes")[0] == 405
    assert api.json("GET", "/api/v1/nope")[0] == 404
    status, headers, raw = api.request("POST", "/api/v1/processes/sleeper/signal")
    assert status == 400
    req = urllib.request.Request("http://127.0.0.1:%d/api/v1/all/stop" % corral.http_port,
                                 data=b"{not json", method="POST",
                                 headers={"Authorization": "Basic " + base64.b64encode(b"admin:secret").decode()})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400
    # No credentials: 401, as everywhere.
    assert Api(corral.http_port, None).request("GET", "/api/v1/processes")[0] == 401


def test_logs_read_and_follow(corral):
    api = full(corral)
    rpc = api.rpc()
    wait_for(lambda: "talk 3" in rpc.supervisor.tailProcessStdoutLog("talker", 0, 1000)[0])
    status, j = api.json("GET", "/api/v1/processes/talker/logs/stdout?tail=1000")
    text, offset, overflow = rpc.supervisor.tailProcessStdoutLog("talker", 0, 1000)
    assert status == 200 and j["text"] in text + j["text"] and j["offset"] >= offset
    status, j = api.json("GET", "/api/v1/processes/talker/logs/stderr?offset=0&length=6")
    assert status == 200 and j["text"] == "oops 0"
    status, j = api.json("GET", "/api/v1/log?tail=500")
    assert status == 200 and "talker" in j["text"]
    # Follow from an offset: what is appended after it arrives.
    status, j = api.json("GET", "/api/v1/processes/talker/logs/stdout?tail=10")
    s = sse_open(corral.http_port, FULL, "/api/v1/processes/talker/logs/stdout/follow?offset=%d" % j["offset"])
    s.settimeout(10)
    got = b""
    deadline = time.monotonic() + 10
    while got.count(b"talk ") < 3 and time.monotonic() < deadline:
        got += s.recv(4096)
    s.close()
    assert got.count(b"talk ") >= 3, got
    first = int(re.search(rb"talk (\d+)", got).group(1))
    assert ("talk %d" % first) not in j["text"] or first > 0


def test_event_stream_snapshot_then_each_change_within_100_ms(corral):
    api = full(corral)
    rpc = api.rpc()
    r = SseReader(sse_open(corral.http_port, VIEWER))  # read-only users may watch
    try:
        snap = wait_for(lambda: r.of("snapshot"), what="the snapshot")[0]
        assert b"text/event-stream" in r.head
        assert sorted(p["namespec"] for p in snap[3]["processes"]) == \
            ["pool:p1", "pool:p2", "sleeper", "talker"]
        assert snap[2] == "0"
        for action, final in (("stopProcess", "STOPPED"), ("startProcess", "RUNNING")):
            getattr(rpc.supervisor, action)("sleeper")
            changed_at = time.monotonic()
            ev = wait_for(lambda: [e for e in r.of("state")
                                   if e[3]["namespec"] == "sleeper" and e[3]["to"] == final],
                          timeout=5, what="the %s event" % final)[0]
            assert ev[0] - changed_at < 0.1, "delivered %.3f s after the change" % (ev[0] - changed_at)
        states = [(e[3]["from"], e[3]["to"]) for e in r.of("state") if e[3]["namespec"] == "sleeper"]
        assert states == [("RUNNING", "STOPPING"), ("STOPPING", "STOPPED"),
                          ("STOPPED", "STARTING"), ("STARTING", "RUNNING")]
        ids = [int(e[2]) for e in r.events if e[2] is not None]
        assert ids == list(range(len(ids))), ids
        last = r.of("state")[-1][3]["process"]
        assert last["statename"] == "RUNNING" and last["pid"] == rpc.supervisor.getProcessInfo("sleeper")["pid"]
    finally:
        r.close()


def test_a_client_that_stops_reading_is_dropped(daemon_factory):
    port = free_port()
    # A process that flaps as fast as it can: each run is 3 state events.
    d = daemon_factory("corral", """
        [inet_http_server]
        port=127.0.0.1:%d

        [program:flap]
        command=true
        startsecs=0
        autorestart=true
        startretries=1000000
        """ % port, loglevel="info")
    s = sse_open(port, ("x", "y"), rcvbuf=4096)
    try:
        wait_for(lambda: "event stream subscriber dropped" in d.mainlog(), timeout=60,
                 what="the slow stream to be dropped")
        # The daemon goes on answering.
        assert d.rpc().supervisor.getState()["statename"] == "RUNNING"
    finally:
        s.close()


def test_the_read_only_user_sees_everything_and_may_do_nothing(corral):
    api = viewer(corral)
    with open(OPENAPI) as f:
        doc = json.load(f)
    names = {"name": "sleeper", "group": "pool", "stream": "stdout"}
    posts = [p for p, item in doc["paths"].items() if "post" in item]
    assert len(posts) >= 19
    for path in posts:
        status, j = api.json("POST", fill_path(path, names), {"signal": "HUP"})
        assert status == 403, (path, j)
        assert j["error"]["code"] == "FORBIDDEN"
    for path in ("/api/v1/processes", "/api/v1/processes/sleeper", "/api/v1/supervisor",
                 "/api/v1/processes/talker/logs/stdout", "/api/v1/log", "/api/v1/stats"):
        assert api.json("GET", path)[0] == 200, path
    assert api.json("GET", "/api/v1/whoami")[1] == {"role": "readonly"}
    assert full(corral).json("GET", "/api/v1/whoami")[1] == {"role": "full"}
    # Nothing moved.
    assert all(p["statename"] == "RUNNING" for p in api.json("GET", "/api/v1/processes")[1])

    # XML-RPC: get*/read*/tail*/system.* answer; every other method is 403.
    rpc = api.rpc()
    assert rpc.supervisor.getState()["statename"] == "RUNNING"
    assert rpc.supervisor.readLog(0, 10)
    assert rpc.supervisor.tailProcessStdoutLog("talker", 0, 10)
    assert "supervisor.stopProcess" in rpc.system.listMethods()
    for method in rpc.system.listMethods():
        if re.match(r"(supervisor|corral)\.(get|read|tail)|system\.", method):
            continue
        with pytest.raises(xmlrpc.client.ProtocolError) as e:
            getattr(rpc, method)("sleeper")
        assert e.value.errcode == 403, method
    with pytest.raises(xmlrpc.client.ProtocolError) as e:
        rpc.system.multicall([{"methodName": "supervisor.getState", "params": []},
                              {"methodName": "supervisor.stopProcess", "params": ["sleeper"]}])
    assert e.value.errcode == 403
    assert rpc.system.multicall([{"methodName": "supervisor.getState", "params": []}])
    # supervisord's own page: the read-only user sees it, its actions are refused.
    status, _, page = api.request("GET", "/")
    assert status == 200 and b"sleeper" in page
    status, _, _ = api.request("GET", "/index.html?processname=sleeper&action=stop")
    assert status == 403
    assert corral.state("sleeper") == "RUNNING"
    # The dashboard and /metrics are for looking: open to the read-only user.
    assert api.request("GET", "/dashboard/")[0] == 200
    assert api.request("GET", "/metrics")[0] == 200

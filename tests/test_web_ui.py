"""supervisord's web interface, on corrald and on supervisord 4.3.0 side by side.

Both daemons run the same programs with an [inet_http_server]; every page, static file,
redirect and error is fetched from both and compared after normalising what differs
between two runs (pids, uptimes, stop times, the time in a message). Each action is
performed on both, and the message it redirects to and the process states it leaves are
compared.
"""

import base64
import os
import re
import socket
import urllib.parse

import pytest

import supervisor
from harness import free_port, http_parse, wait_for

UI_DIR = os.path.join(os.path.dirname(supervisor.__file__), "ui")

PROGRAMS = r"""
[program:sleeper]
command=sleep 1000

[program:talker]
command=sh -c 'printf "\033[32mgreen\033[0m <b>bold</b> & &amp; \"q\" caf\303\251\n"; i=0; while [ $i -lt 100 ]; do echo "line $i of the talker, long enough to pass a kilobyte"; i=$((i+1)); done; exec sleep 1000'
startsecs=0

[program:binary]
command=sh -c 'printf "ok \377 bad\n"; exec sleep 1000'
startsecs=0

[program:exits]
command=true
startsecs=0
autorestart=false

[program:fatal]
command=sh -c 'exit 3'
startsecs=1
startretries=0

[program:broken]
command=/nonexistent/program
autostart=false

[program:nolog]
command=sleep 1000
stdout_logfile=NONE
autostart=false

[group:grp]
programs=off

[program:off]
command=sleep 1000
autostart=false

[program:multi]
command=sleep 1000
numprocs=2
process_name=%(program_name)s_%(process_num)s
startsecs=0
"""

SETTLED = {"sleeper": "RUNNING", "talker": "RUNNING", "binary": "RUNNING", "exits": "EXITED", "fatal": "FATAL",
           "broken": "STOPPED", "nolog": "STOPPED", "grp:off": "STOPPED",
           "multi:multi_0": "RUNNING", "multi:multi_1": "RUNNING"}

TRANSITIONAL = {"STARTING", "STOPPING", "BACKOFF"}

# The Host every request names, so that redirects are the same on both daemons.
HOST = "ui.example:8080"


class Pair:
    def __init__(self, sup, cor):
        self.sup, self.cor = sup, cor
        self.both = (sup, cor)


def start_pair(daemon_factory, **kw):
    pair = Pair(*[daemon_factory(kind, PROGRAMS, inet_port=free_port(), **kw)
                  for kind in ("supervisord", "corral")])
    for d in pair.both:
        for name, state in SETTLED.items():
            d.wait_state(name, state, timeout=20)
    return pair


@pytest.fixture
def pair(daemon_factory):
    return start_pair(daemon_factory)


# --- HTTP ---------------------------------------------------------------------------------

def request_bytes(method, target, headers=(), body=None, version="1.0"):
    lines = ["%s %s HTTP/%s" % (method, target, version)]
    lines += ["%s: %s" % h for h in headers]
    if body is not None:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def fetch(d, target, method="GET", headers=(("Host", HOST),), body=None, timeout=60):
    """One HTTP/1.0 request (the daemon closes the connection after answering)."""
    raw, timed_out = d.http_raw(request_bytes(method, target, headers, body), timeout=timeout)
    assert not timed_out, "%s did not answer %s %s" % (d.kind, method, target)
    return http_parse(raw)


# supervisord sends Server and Date, corral neither (COMPATIBILITY.md, XML-RPC row 13);
# corral says `Connection: close` where medusa closes without saying so; Last-Modified of
# the static files is each daemon's own installation time.
UNCOMPARED = {"server", "date", "connection", "last-modified"}


def comparable(headers):
    return {k: v for k, v in headers.items() if k not in UNCOMPARED}


CTIME = r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) " \
        r"[ \d]\d \d\d:\d\d:\d\d \d{4}"


def normalise(body):
    """What two runs of the same page may differ in."""
    text = body.decode("utf-8", "surrogateescape")
    text = re.sub(r"pid \d+, uptime [^<]*", "pid PID, uptime UPTIME", text)
    text = re.sub(r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d\d \d\d:\d\d [AP]M",
                  "STOPTIME", text)
    return re.sub(CTIME, "CTIME", text)


def same_page(pair, target, **kw):
    """Fetch from both; assert the same status, headers and (normalised) body."""
    (ss, sh, sb), (cs, ch, cb) = [fetch(d, target, **kw) for d in pair.both]
    sc, cc = comparable(sh), comparable(ch)
    if sb != cb:
        # Pids and times differ between the two runs, and so may the lengths of pages
        # that show them: each Content-Length must fit its own body, and the bodies
        # are compared normalised.
        for h, b in ((sh, sb), (ch, cb)):
            assert int(h.get("content-length", len(b))) == len(b), target
        sc.pop("content-length", None)
        cc.pop("content-length", None)
    assert (cs, cc) == (ss, sc), target
    assert normalise(cb) == normalise(sb), target
    return cs, ch, cb


def message_of(location):
    """The message a redirect carries, its time normalised."""
    url = urllib.parse.urlsplit(location)
    assert "%s://%s%s" % (url.scheme, url.netloc, url.path) == "http://%s/" % HOST
    message = urllib.parse.parse_qs(url.query)["message"][0]
    return re.sub(CTIME, "CTIME", message)


def states(d):
    return {("%s:%s" % (i["group"], i["name"]) if i["group"] != i["name"] else i["name"]):
            i["statename"] for i in d.rpc().supervisor.getAllProcessInfo()}


def settled_states(d):
    return wait_for(lambda: (lambda s: s if not TRANSITIONAL & set(s.values()) else None)(states(d)),
                    timeout=30, what="%s's processes to settle" % d.kind)


def server_name(d):
    """The name a daemon's [inet_http_server] on 127.0.0.1 gives itself."""
    if d.kind == "corral":
        return "127.0.0.1"
    try:
        return socket.gethostbyaddr("127.0.0.1")[0]
    except OSError:
        return "127.0.0.1"


# --- pages --------------------------------------------------------------------------------

def test_status_page(pair):
    status, headers, body = same_page(pair, "/")
    assert status == 200
    assert headers["content-type"] == "text/html;charset=utf-8"
    assert headers["cache-control"] == headers["pragma"] == "no-cache"
    page = body.decode()
    # One row per process, sorted by group then name, alternately shaded.
    names = re.findall(r'<a href="tail.html\?processname=([^"]*)" target="_blank">', page)
    assert names == ["binary", "broken", "exits", "fatal", "grp%3Aoff", "multi%3Amulti_0",
                     "multi%3Amulti_1", "nolog", "sleeper", "talker"]
    assert '<span class="statusrunning">running</span>' in page
    assert '<span class="statuserror">fatal</span>' in page
    assert 'href="index.html?processname=grp%3Aoff&amp;action=start" name="Start"' in page
    assert '<div class="hidden">#</div>' in page
    for target in ("/index.html", "//index.html", "/%69ndex.html", "/index.html?x=y"):
        same_page(pair, target)
    # HTTP/1.1, two requests on one connection.
    for d in pair.both:
        req = request_bytes("GET", "/", [("Host", HOST)], version="1.1") + \
            request_bytes("GET", "/index.html", [("Host", HOST), ("Connection", "close")],
                          version="1.1")
        raw, timed_out = d.http_raw(req, timeout=20)
        assert not timed_out and raw.count(b"HTTP/1.1 200 OK") == 2, d.kind


def test_message_is_shown_escaped(pair):
    for query in ("message=Process%20sleeper%20started",
                  "message=a%3Cb%3E%26amp;%26c%22+d%C3%A9%FF&message=second",
                  "message=&action="):
        status, _, body = same_page(pair, "/index.html?" + query)
        assert status == 200
    _, _, body = same_page(pair, "/?message=a%3Cscript%3E")
    assert b'<div class="status_msg">a&lt;script></div>' in body


def test_tail_page(pair):
    _, _, body = same_page(pair, "/tail.html?processname=talker&limit=100000")
    # The log's text as it is: an escape sequence stays (XML-RPC would replace ESC).
    assert "\x1b[32mgreen\x1b[0m &lt;b>bold&lt;/b> &amp; &amp; \"q\" café\n" in body.decode()
    assert b'href="tail.html?processname=talker&amp;limit=100000"' in body
    # The last kilobyte by default (and for any limit below it).
    for query in ("processname=talker", "processname=talker&limit=10",
                  "processname=talker&limit=abc", "limit=2000&processname=talker"):
        _, _, body = same_page(pair, "/tail.html?" + query)
        assert len(re.search(rb"<pre>(.*)</pre>", body, re.S).group(1)) >= 1024
    for query, text in [("", "No process name found"),
                        ("processname=", "No process name found"),
                        ("processname=nope", "ERROR: unexpected rpc fault [10] BAD_NAME: nope"),
                        ("processname=grp%3A", "ERROR: unexpected rpc fault [10] BAD_NAME: grp:"),
                        ("processname=nolog", "No file for nolog"),
                        ("processname=grp%3Aoff", "")]:
        status, _, body = same_page(pair, "/tail.html?" + query)
        assert status == 200 and ("<pre>%s</pre>" % text).encode() in body, query
    # The page's form posts; a POST body's fields count too.
    same_page(pair, "/tail.html", method="POST", body=b"processname=talker")


def test_static_files(pair):
    files = {"stylesheets/supervisor.css": "text/css", "images/icon.png": "image/png",
             "images/rule.gif": "image/gif", "images/state0.gif": "image/gif",
             "images/state1.gif": "image/gif", "images/state2.gif": "image/gif",
             "images/state3.gif": "image/gif", "images/supervisor.gif": "image/gif",
             "status.html": "text/html", "tail.html": "text/html"}
    for path, ctype in files.items():
        with open(os.path.join(UI_DIR, path), "rb") as f:
            data = f.read()
        # GET /tail.html is the tail page; the template itself is served only to HEAD.
        if path != "tail.html":
            status, headers, body = same_page(pair, "/" + path)
            assert (status, headers["content-type"], body) == (200, ctype, data)
            assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT",
                                headers["last-modified"])
        status, headers, body = same_page(pair, "/" + path, method="HEAD")
        assert (status, headers["content-type"], headers["content-length"], body) == \
            (200, ctype, str(len(data)), b"")
    # Paths resolve as medusa's filesystem resolves them.
    for target in ("/images/../images/icon.png", "/../../images/rule.gif", "/images//rule.gif",
                   "/%69mages/rule.gif", "/images/rule.gif;x?y", "/images/icon.png/"):
        assert same_page(pair, target)[0] == 200, target
    for target, status in [("/nothing", 404), ("/images/", 404), ("/stylesheets/", 404),
                           ("/index.html/", 404), ("/images/nothing.gif", 404)]:
        assert same_page(pair, target)[0] == status, target
    for method in ("HEAD", "PUT", "DELETE"):
        same_page(pair, "/images/rule.gif" if method != "HEAD" else "/", method=method,
                  body=b"x" if method == "PUT" else None)
    # If-Modified-Since: unchanged since a future date is a 304, unless the length differs.
    future = "Sun, 06 Nov 2095 08:49:37 GMT"
    for ims, status in [(future, 304), (future + "; length=54", 304), (future + "; length=1", 200),
                        ("Sun, 06 Nov 1994 08:49:37 GMT", 200), ("garbage", 200)]:
        got = same_page(pair, "/images/rule.gif",
                        headers=[("Host", HOST), ("If-Modified-Since", ims)])[0]
        assert got == status, ims


def test_directory_redirects(pair):
    for d in pair.both:
        status, headers, _ = fetch(d, "/images")
        assert status == 301
        # medusa names itself here, whatever the Host header says: supervisord by the
        # reverse DNS name of 127.0.0.1, corral by the address (COMPATIBILITY.md).
        assert headers["location"] == "http://%s/images/" % server_name(d)


# --- actions ------------------------------------------------------------------------------

def act(pair, target, expected, method="GET", body=None):
    """Perform an action on both daemons; both redirect with `expected`, and leave the
    processes in the same states."""
    for d in pair.both:
        status, headers, _ = fetch(d, target, method=method, body=body)
        assert status == 301, (d.kind, target)
        assert message_of(headers["location"]) == expected, (d.kind, target)
    sup_states, cor_states = [settled_states(d) for d in pair.both]
    assert cor_states == sup_states, target
    return cor_states


def test_process_actions(pair):
    s = act(pair, "/index.html?processname=sleeper&action=stop", "Process sleeper stopped")
    assert s["sleeper"] == "STOPPED"
    act(pair, "/index.html?processname=sleeper&action=stop",
        "unexpected rpc fault [70] NOT_RUNNING: sleeper")
    s = act(pair, "/index.html?processname=sleeper&action=start", "Process sleeper started")
    assert s["sleeper"] == "RUNNING"
    act(pair, "/?processname=sleeper&action=start", "ERROR: Process sleeper: already started")
    pids = [d.info("sleeper")["pid"] for d in pair.both]
    s = act(pair, "/index.html?processname=sleeper&action=restart", "Process sleeper restarted")
    assert s["sleeper"] == "RUNNING"
    assert all(d.info("sleeper")["pid"] != pid for d, pid in zip(pair.both, pids))
    s = act(pair, "/index.html?processname=grp%3Aoff&action=start", "Process grp:off started")
    assert s["grp:off"] == "RUNNING"
    act(pair, "/index.html?processname=broken&action=start",
        "ERROR: Process broken: no such file")
    # Exits while starting: supervisord records "Exited too quickly" as the spawn error.
    s = act(pair, "/index.html?processname=fatal&action=start", "ERROR: Process fatal: spawn error")
    assert s["fatal"] == "FATAL"
    act(pair, "/index.html?processname=nope&action=start", "No such process named nope")
    act(pair, "/index.html?processname=grp%3A*&action=stop", "No such process named grp:*")
    # The form posts; its fields override the query string's.
    s = act(pair, "/index.html?action=refresh", "Process multi:multi_0 stopped", method="POST",
            body=b"action=stop&processname=multi%3Amulti_0")
    assert s["multi:multi_0"] == "STOPPED"
    act(pair, "/index.html?action=refresh&processname=sleeper", "Page refreshed at CTIME")
    same_page(pair, "/")


def test_clear_log(pair):
    act(pair, "/index.html?processname=talker&action=clearlog", "Log for talker cleared")
    _, _, body = same_page(pair, "/tail.html?processname=talker")
    assert b"<pre></pre>" in body


def test_all_actions(pair):
    s = act(pair, "/index.html?action=stopall", "All stopped at CTIME")
    assert set(s.values()) <= {"STOPPED", "EXITED", "FATAL"}
    same_page(pair, "/")
    s = act(pair, "/index.html?action=restartall", "All restarted at CTIME")
    # startAllProcesses starts everything, autostart or not; broken has no command.
    assert s == dict(SETTLED, nolog="RUNNING", **{"grp:off": "RUNNING"})
    same_page(pair, "/")


def test_bad_actions_are_500(pair):
    # supervisord's view raises (ValueError) for these: a 500, and the error logged.
    for query in ("action=bogus", "action=startall", "action=start",
                  "action=bogus&processname=sleeper"):
        status, _, _ = same_page(pair, "/index.html?" + query)
        assert status == 500, query
    assert "Web interface error" in pair.cor.mainlog()


def test_methods_and_lengths(pair):
    assert same_page(pair, "/ok.html")[2] == b"OK"
    same_page(pair, "/ok.html", method="POST", body=b"x")
    # HEAD of a page goes to the file handler: there is no index.html file.
    assert same_page(pair, "/", method="HEAD")[0] == 404
    assert same_page(pair, "/tail.html", method="HEAD")[0] == 200
    # medusa's POST collector wants a Content-Length.
    for d in pair.both:
        raw, _ = d.http_raw(b"POST /index.html HTTP/1.0\r\nHost: x\r\n\r\n", timeout=10)
        assert http_parse(raw)[0] == 411, d.kind


def test_host_less_and_unix_redirects(pair):
    # Without a Host header, the server's own name and port: supervisord's is the reverse
    # DNS name of its address, corral's the address (COMPATIBILITY.md).
    for d in pair.both:
        raw, _ = d.http_raw(b"GET /?action=refresh HTTP/1.0\r\n\r\n", timeout=10)
        status, headers, _ = http_parse(raw)
        assert status == 301
        assert headers["location"].startswith("http://%s:%d/?message=Page%%20refreshed" %
                                              (server_name(d), d.inet_port))
    # The unix socket serves the same interface; medusa's "port" there is the socket path.
    for d in pair.both:
        raw, timed_out = d.http_raw(b"GET /?action=refresh HTTP/1.0\r\n\r\n", timeout=10,
                                    unix_path=d.sock)
        assert not timed_out, "%s did not close the connection" % d.kind
        status, headers, _ = http_parse(raw)
        assert status == 301
        assert headers["location"].startswith(
            "http://<unix domain socket>:%s/?message=Page%%20refreshed" % d.sock)


def test_auth(daemon_factory):
    pair = Pair(*[daemon_factory(kind, PROGRAMS, inet_port=free_port(), inet_username="user",
                                 inet_password="secret")
                  for kind in ("supervisord", "corral")])
    good = "Basic " + base64.b64encode(b"user:secret").decode()
    bad = "Basic " + base64.b64encode(b"user:wrong").decode()
    for d in pair.both:
        wait_for(lambda: d.state("sleeper") == "RUNNING", timeout=20)
    for target in ("/", "/index.html", "/tail.html?processname=sleeper", "/images/icon.png",
                   "/nothing", "/index.html?action=stopall"):
        for auth in (None, bad):
            headers = [("Host", HOST)] + ([("Authorization", auth)] if auth else [])
            for d in pair.both:
                status, h, _ = fetch(d, target, headers=headers)
                assert status == 401, (d.kind, target)
                assert h["www-authenticate"] == 'Basic realm="default"'
        same_page(pair, target if "action" not in target else "/",
                  headers=[("Host", HOST), ("Authorization", good)])
    for d in pair.both:
        assert d.state("sleeper") == "RUNNING"


def test_where_supervisord_answers_badly(pair):
    """The web interface's departures from supervisord (COMPATIBILITY.md, XML-RPC row 12),
    each where supervisord's answer is broken."""
    # A log that is not UTF-8: supervisord fails to decode it (500); corral shows U+FFFD.
    assert fetch(pair.sup, "/tail.html?processname=binary")[0] == 500
    status, _, body = fetch(pair.cor, "/tail.html?processname=binary")
    assert status == 200 and "<pre>ok \ufffd bad\n</pre>" in body.decode()
    # A page POSTed with an empty body, or a page path with ;params: supervisord never
    # answers; corral answers as for no form, and as its file handler does.
    for req, status in [(b"POST /index.html HTTP/1.0\r\nContent-Length: 0\r\n\r\n", 200),
                        (b"GET /index.html;x HTTP/1.0\r\n\r\n", 404)]:
        raw, timed_out = pair.sup.http_raw(req, timeout=2)
        assert timed_out and raw == b""
        raw, timed_out = pair.cor.http_raw(req, timeout=10)
        assert not timed_out and http_parse(raw)[0] == status
    # 304 Not Modified to HTTP/1.1: supervisord sends an empty chunked body after it, which
    # a 304 cannot have (a client reads it as the start of the next response).
    req = request_bytes("GET", "/images/rule.gif",
                        [("Host", HOST), ("If-Modified-Since", "Sun, 06 Nov 2095 08:49:37 GMT")],
                        version="1.1")
    for d in pair.both:
        raw, _ = d.http_raw(req, timeout=2)
        assert http_parse(raw)[0] == 304
        assert raw.partition(b"\r\n\r\n")[2] == (b"0\r\n\r\n" if d is pair.sup else b"")

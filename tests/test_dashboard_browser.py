"""The dashboard (/dashboard/) in a real headless Chromium against the real corrald.

Debian's chromium and chromium-driver (scripts/setup-test-deps installs them), driven by
Python's selenium; no browser is downloaded. Chromium starts with the flags this machine
needs (no background networking: the network is closed) and a fresh profile.

Log in (Basic credentials), see every process, stop and start one and watch its state
change without a reload, follow a log while the program prints, use a group action; a
read-only login shows no action buttons and its actions are refused. Saves a screenshot
(docs/dashboard.png when CORRAL_SCREENSHOT names that path, as README's is made).
"""

import base64
import os
import shutil
import tempfile

import pytest

from harness import free_port, wait_for

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="Debian's chromium and chromium-driver are not installed")

PROGRAMS = r"""
[inet_http_server]
port=127.0.0.1:{port}
username=admin
password=secret
readonly_username=viewer
readonly_password=look

[program:api]
command=sh -c 'while true; do echo "GET /health 200"; sleep 2; done'
startsecs=0
stopsignal=KILL

[program:printer]
command=sh -c 'i=0; while true; do echo "printed line $i"; i=$((i+1)); sleep 0.3; done'
startsecs=0
stopsignal=KILL

[group:workers]
programs=queue,mailer

[program:queue]
command=sleep 1000
startsecs=0

[program:mailer]
command=sleep 1000
startsecs=0
"""


@pytest.fixture
def corral(daemon_factory):
    port = free_port()
    d = daemon_factory("corral", PROGRAMS.replace("{port}", str(port)))
    d.http_port = port
    for name in ("api", "printer", "workers:queue", "workers:mailer"):
        d.wait_state(name, "RUNNING")
    return d


@pytest.fixture
def browser():
    drivers = []
    profiles = []

    def make(user, password):
        profile = tempfile.mkdtemp(prefix="corral-chromium-")
        profiles.append(profile)
        o = webdriver.ChromeOptions()
        o.binary_location = CHROMIUM
        for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--user-data-dir=" + profile, "--window-size=1280,760"):
            o.add_argument(a)
        d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
        drivers.append(d)
        # Logging in: the Basic credentials a browser sends once its user typed them.
        token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        d.execute_cdp_cmd("Network.enable", {})
        d.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": "Basic " + token}})
        return d

    yield make
    for d in drivers:
        d.quit()
    for p in profiles:
        shutil.rmtree(p, ignore_errors=True)


def row(d, namespec):
    return d.find_element(By.CSS_SELECTOR, 'tr[data-namespec="%s"]' % namespec)


def row_state(d, namespec):
    return row(d, namespec).get_attribute("data-state")


def confirm(d):
    dialog = wait_for(lambda: d.find_element(By.ID, "confirm").is_displayed()
                      and d.find_element(By.ID, "confirm"), what="the confirmation")
    dialog.find_element(By.ID, "confirm-ok").click()


def open_dashboard(d, port):
    d.get("http://127.0.0.1:%d/dashboard/" % port)
    wait_for(lambda: d.execute_script("return document.body.dataset.ready") == "true",
             timeout=20, what="the dashboard's first snapshot")
    # A marker that a reload would lose.
    d.execute_script("window.__noReload = 42")


def test_the_dashboard_live(corral, browser, tmp_path):
    d = browser("admin", "secret")
    open_dashboard(d, corral.http_port)
    rpc = corral.rpc()

    # Every process is there, in its state.
    for info in rpc.supervisor.getAllProcessInfo():
        ns = info["name"] if info["group"] == info["name"] else "%s:%s" % (info["group"], info["name"])
        assert row_state(d, ns) == info["statename"]
        assert str(info["pid"]) in row(d, ns).text

    # Stop one, confirm, watch it change; start it again.
    row(d, "api").find_element(By.CSS_SELECTOR, 'button[data-action="stop"]').click()
    confirm(d)
    wait_for(lambda: row_state(d, "api") == "STOPPED", timeout=10, what="api STOPPED on the page")
    assert corral.state("api") == "STOPPED"
    row(d, "api").find_element(By.CSS_SELECTOR, 'button[data-action="start"]').click()
    wait_for(lambda: row_state(d, "api") == "RUNNING", timeout=10, what="api RUNNING on the page")
    assert str(corral.info("api")["pid"]) in row(d, "api").text

    # A group action: stop the workers group, then start it.
    group = d.find_element(By.CSS_SELECTOR, 'tbody.group[data-group="workers"]')
    group.find_element(By.CSS_SELECTOR, 'button[data-action="stop"]').click()
    confirm(d)
    wait_for(lambda: row_state(d, "workers:queue") == row_state(d, "workers:mailer") == "STOPPED",
             timeout=10, what="the workers STOPPED on the page")
    group.find_element(By.CSS_SELECTOR, 'button[data-action="start"]').click()
    wait_for(lambda: row_state(d, "workers:queue") == row_state(d, "workers:mailer") == "RUNNING",
             timeout=10, what="the workers RUNNING on the page")

    # Follow a log while the program prints.
    row(d, "printer").find_element(By.CSS_SELECTOR, 'button[data-action="logs"]').click()
    pre = d.find_element(By.ID, "log-text")
    wait_for(lambda: "printed line" in pre.text, timeout=10, what="the log's text")

    def last_line():
        nums = [int(l.rsplit(" ", 1)[1]) for l in pre.text.splitlines() if l.startswith("printed line ")]
        return nums[-1] if nums else -1

    first = last_line()
    wait_for(lambda: last_line() >= first + 3, timeout=10, what="new lines to arrive in the log view")
    # Search narrows the view to what matches.
    d.find_element(By.ID, "log-search").send_keys("line %d" % first)
    wait_for(lambda: "1 match" in d.find_element(By.ID, "log-matches").text, what="the search")
    d.find_element(By.ID, "log-close").click()

    # The page was never reloaded.
    assert d.execute_script("return window.__noReload") == 42
    shot = os.environ.get("CORRAL_SCREENSHOT")
    if shot:
        # README's picture: let the plots gather a few samples (one every 5 s).
        wait_for(lambda: d.execute_script(
            "return [...document.querySelectorAll('polyline')].some("
            "(l) => l.getAttribute('points').split(' ').length >= 4)"),
            timeout=60, interval=1, what="a few samples in the plots")
    else:
        shot = str(tmp_path / "dashboard.png")
    d.save_screenshot(shot)
    assert os.path.getsize(shot) > 10000


def test_a_read_only_login_has_no_actions(corral, browser):
    d = browser("viewer", "look")
    open_dashboard(d, corral.http_port)
    assert len(d.find_elements(By.CSS_SELECTOR, "tr[data-namespec]")) == 4
    assert d.find_elements(By.CSS_SELECTOR, "button.act") == []
    for action in ("start", "stop", "restart", "rolling-restart", "signal"):
        assert d.find_elements(By.CSS_SELECTOR, 'button[data-action="%s"]' % action) == []
    # Logs are for looking: there.
    assert d.find_elements(By.CSS_SELECTOR, 'button[data-action="logs"]')
    assert "read-only" in d.find_element(By.ID, "role").text
    # An action sent anyway is refused.
    status = d.execute_async_script("""
        const done = arguments[0];
        fetch(location.origin + '/api/v1/processes/api/stop', {method: 'POST', body: ''})
          .then((r) => done(r.status));
    """)
    assert status == 403
    assert corral.state("api") == "RUNNING"

"""Supervisor 4.3.0's own end-to-end suite, unmodified, three ways:

* ``supervisord``: as upstream runs it (supervisord + supervisorctl): the reference, which
  shows what passes here;
* ``corrald``: corrald in place of supervisord, with the real supervisorctl;
* ``corralctl``: corrald and corralctl in place of both.

Each upstream test is one pytest test per mode, named after it
(``test_upstream[test_issue_638-corrald]``). See supervisor_e2e.py for how the upstream
module is loaded and its programs replaced.

    CORRAL_BIN_DIR=$PWD/target/debug .venv/bin/python -m pytest tests/test_supervisor_e2e.py -q
"""

import os

import pytest

import supervisor_e2e

UPSTREAM = supervisor_e2e.load_upstream()
NAMES = supervisor_e2e.test_names(UPSTREAM)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    with supervisor_e2e.Lock():
        yield supervisor_e2e.make_fixtures(str(tmp_path_factory.mktemp("e2e") / "fixtures"))


@pytest.mark.parametrize("mode", list(supervisor_e2e.MODES))
@pytest.mark.parametrize("name", NAMES)
def test_upstream(fixtures, name, mode):
    if mode != "supervisord" and not supervisor_e2e.uses_supervisor(UPSTREAM, name):
        pytest.skip("runs neither supervisord nor supervisorctl: the reference mode covers it")
    result, spawner, elapsed = supervisor_e2e.run(UPSTREAM, fixtures, name, mode)
    problems = result.errors + result.failures
    if problems:
        print(spawner.report())
        pytest.fail("%s (%s) after %.1fs:\n%s" % (
            name, mode, elapsed, "\n".join(text for _, text in problems)), pytrace=False)
    if result.skipped:
        pytest.skip("upstream skipped it: %s" % result.skipped[0][1])
    assert result.testsRun == 1


def test_suite_is_complete():
    """The upstream module still has the tests the issue counts (24 that run supervisord,
    3 that do not), so a change of the pinned wheel cannot quietly shrink what runs."""
    daemon = [n for n in NAMES if supervisor_e2e.uses_supervisor(UPSTREAM, n)]
    assert len(daemon) == 24, daemon
    assert len(NAMES) == 27, NAMES


def test_hello_sh_restored(fixtures):
    hello = os.path.join(fixtures, "hello.sh")
    assert os.access(hello, os.X_OK)
    with open(os.path.join(fixtures, "issue-565.conf")) as f:
        assert "%(here)s/hello.sh" in f.read()


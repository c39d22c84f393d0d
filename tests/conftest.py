import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pytest  # noqa: E402

import harness  # noqa: E402
from harness import Daemon  # noqa: E402


def pytest_sessionstart(session):
    # Nearly every test runs corrald or corralctl: without them, stop at once with the hint,
    # rather than fail each test with it.
    for name in ("corrald", "corralctl"):
        if not os.path.exists(os.path.join(harness.BIN_DIR, name)):
            pytest.exit(harness.missing_bin_message(name), returncode=4)


@pytest.fixture
def daemon_factory(tmp_path):
    """daemon_factory(kind, programs, **kw) -> started Daemon; all stopped at test end."""
    started = []

    def make(kind="corral", programs="", start=True, subdir=None, **kw):
        d = Daemon(kind, tmp_path / (subdir or kind), programs, **kw)
        started.append(d)
        if start:
            d.start()
        return d

    yield make
    for d in started:
        d.stop()


def pytest_configure(config):
    # Long tests (tens of seconds each); they run by default, `-m "not slow"` skips them.
    config.addinivalue_line("markers", "slow: a long test (still part of ./scripts/test)")

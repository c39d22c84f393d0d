import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pytest  # noqa: E402

from harness import Daemon  # noqa: E402


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

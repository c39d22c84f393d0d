"""corrald's command line beside supervisord 4.3.0's: the same getopt rules (unique prefixes of
long options, clustered short options), the same checks in the same order, the same exit
codes and messages. Each case stops before a configuration is read, so nothing starts."""

import os
import subprocess

import pytest

from harness import corral_bin, venv_bin

CASES = [
    ["-?"],
    ["-h"],
    ["--he"],
    ["-n", "--help"],
    ["-x"],
    ["-nx"],
    ["--bogus"],
    ["--conf"],
    ["-c"],
    ["--nod", "-c"],
    ["--c", "f.conf"],
    ["--n"],
    ["--help=1"],
    ["--=x"],
    ["--ch"],
    ["--che"],
    ["--conf", "f.conf", "--nod", "--bogus"],
    ["-n", "-n"],
    ["-c", "a.conf", "--configuration=b.conf"],
    ["-n", "-n", "-h"],
    ["-h", "-n", "-n"],
    ["x"],
    ["-c", "f.conf", "x", "-n"],
    ["-h", "it's"],
    ["-"],
]


def first_lines(argv, cwd):
    r = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=30)

    def first(text):
        return text.splitlines()[0].replace(argv[0], "PROG") if text else ""

    return r.returncode, first(r.stdout), first(r.stderr)


@pytest.mark.parametrize("args", CASES, ids=" ".join)
def test_command_line_like_supervisord(tmp_path, args):
    expected = first_lines([venv_bin("supervisord")] + args, tmp_path)
    assert first_lines([corral_bin("corrald")] + args, tmp_path) == expected


def test_usage_text_is_supervisords_then_corrals(tmp_path):
    ref = subprocess.run([venv_bin("supervisord"), "-h"], capture_output=True, text=True)
    ours = subprocess.run([corral_bin("corrald"), "-h"], capture_output=True, text=True)
    assert (ref.returncode, ours.returncode) == (0, 0)
    expected = ref.stdout.replace(venv_bin("supervisord"), "PROG")
    text = ours.stdout.replace(corral_bin("corrald"), "PROG")
    assert text.startswith(expected)
    # corral's own options are documented after supervisord's text.
    assert "\n--check -- " in text[len(expected):]


def test_corral_options_only_in_full(tmp_path):
    conf = tmp_path / "s.conf"
    conf.write_text("[supervisord]\nlogfile=%s\n" % (tmp_path / "s.log"))
    r = subprocess.run([corral_bin("corrald"), "--check", "--conf", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([corral_bin("corrald"), "--chec", "-c", str(conf)],
                       capture_output=True, text=True)
    assert (r.returncode, r.stderr.splitlines()[0]) == (2, "Error: option --chec not recognized")
    assert not os.path.exists(tmp_path / "s.log")

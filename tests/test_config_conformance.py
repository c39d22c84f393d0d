"""corrald reads supervisord.conf files exactly as supervisord 4.3.0 does.

* The conformance corpus (shared/conformance: 40 real configs with supervisord's own view of
  each) is run through `corrald --check --json` by the corpus's own `--compare`, which must
  report 40/40.
* Bad configs: `corrald --check` reports every error at once, each as
  FILE:LINE: [SECTION] OPTION: MESSAGE in supervisord's words, and exits 2.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from harness import REPO, corral_bin


def conformance_dir():
    # The workplace's shared copy when there is one, else the copy vendored in the repo
    # (tests/conformance, taken from it) so that a clean clone runs the corpus too.
    candidates = [os.environ.get("CORRAL_CONFORMANCE_DIR"),
                  os.path.join(os.path.dirname(REPO), "shared", "conformance"),
                  os.path.join(REPO, "tests", "conformance")]
    for c in candidates:
        if c and os.path.exists(os.path.join(c, "supervisord_view.py")):
            return c
    raise AssertionError("conformance corpus not found (tried %s); set CORRAL_CONFORMANCE_DIR"
                         % ", ".join(c for c in candidates if c))


def test_corpus_reads_like_supervisord():
    corpus = conformance_dir()
    cmd = [sys.executable, "supervisord_view.py", "--corpus", "configs", "--compare",
           "%s --check --json -c {config}" % corral_bin("corrald")]
    r = subprocess.run(cmd, cwd=corpus, capture_output=True, text=True, timeout=600)
    lines = r.stdout.strip().splitlines()
    assert lines, r.stderr
    assert lines[-1] == "40/40 files read the same as supervisord 4.3.0", r.stdout + r.stderr
    assert r.returncode == 0


def check(tmp_path, text, *extra, files=None, env=None):
    conf = tmp_path / "supervisord.conf"
    conf.write_text(text)
    for name, body in (files or {}).items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, bytes):
            p.write_bytes(body)
        else:
            p.write_text(body)
    run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    run_env.update(env or {})
    r = subprocess.run([corral_bin("corrald"), "--check", *extra, "-c", str(conf)],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=60, env=run_env)
    return r, str(conf)


HEAD = "[supervisord]\nlogfile=%(here)s/s.log\npidfile=%(here)s/s.pid\n"


def test_all_errors_at_once_with_file_and_line(tmp_path):
    r, conf = check(tmp_path, HEAD + (
        "[program:web]\n"            # 4
        "command=/bin/web\n"         # 5
        "startsecs=abc\n"            # 6
        "autorestart=maybe\n"        # 7
        "stopsignal=FOO\n"           # 8
        "umask=999\n"                # 9
        "[program:nocmd]\n"          # 10
        "autostart=true\n"           # 11
        "[program:many]\n"           # 12
        "command=x\n"                # 13
        "numprocs=3\n"               # 14
        "[include]\n"                # 15
        "files=conf.d/*.conf\n"),    # 16
        files={"conf.d/a.conf": "[program:a]\ncommand=a\nstopwaitsecs=soon\n"})
    assert r.returncode == 2, r.stdout + r.stderr
    out = r.stdout
    inc = str(tmp_path / "conf.d" / "a.conf")
    for expected in [
        "%s:6: [program:web] startsecs: invalid literal for int() with base 10: 'abc'" % conf,
        "%s:7: [program:web] autorestart: invalid 'autorestart' value 'maybe'" % conf,
        "%s:8: [program:web] stopsignal: value 'FOO' is not a valid signal name" % conf,
        "%s:9: [program:web] umask: 999 can not be converted to an octal type" % conf,
        "%s:10: [program:nocmd] command: program section program:nocmd does not specify a command" % conf,
        "%s:14: [program:many] numprocs: %%(process_num) must be present within process_name when numprocs > 1" % conf,
        "%s:3: [program:a] stopwaitsecs: invalid literal for int() with base 10: 'soon'" % inc,
    ]:
        assert expected in out, "missing %r in:\n%s" % (expected, out)
    assert "7 errors: corrald would refuse this configuration" in out


def test_json_errors_and_partial_view(tmp_path):
    r, conf = check(tmp_path, HEAD + "[program:a]\ncommand=a\nstartretries=x\n"
                    "[program:b]\ncommand=b\nuser=no-such-user-here\n", "--json")
    assert r.returncode == 2
    v = json.loads(r.stdout)
    assert v["error"] == ("%s:6: [program:a] startretries: invalid literal for int() with base 10: 'x'"
                          % conf)
    assert v["errors"][1] == "%s:9: [program:b] user: Invalid user name no-such-user-here" % conf
    assert [g["name"] for g in v["groups"]] == ["a", "b"]
    assert v["groups"][1]["processes"][0]["user"] == "no-such-user-here"


def test_include_problems(tmp_path):
    r, conf = check(tmp_path, HEAD + "[include]\n;files=x\n")
    assert r.returncode == 2
    assert ("%s:4: [include] .ini file has [include] section, but no files setting" % conf) in r.stdout

    r, conf = check(tmp_path, HEAD + "[include]\nfiles=nothing/*.conf\n")
    assert r.returncode == 0, r.stdout
    assert 'No file matches via include "%s"' % (tmp_path / "nothing" / "*.conf") in r.stdout

    r, conf = check(tmp_path, HEAD + "[include]\nfiles=bad.conf\n",
                    files={"bad.conf": b"[program:x]\ncommand=caf\xe9\n"})
    assert r.returncode == 2
    assert "%s:2: the file is not valid UTF-8" % (tmp_path / "bad.conf") in r.stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_include(tmp_path):
    secret = tmp_path / "secret.conf"
    secret.write_text("[program:s]\ncommand=s\n")
    secret.chmod(0)
    r, conf = check(tmp_path, HEAD + "[include]\nfiles=secret.conf\n")
    assert r.returncode == 2
    assert "could not read config file %s" % secret in r.stdout


def test_syntax_and_format_errors_in_supervisords_words(tmp_path):
    r, conf = check(tmp_path, HEAD + "[program:a]\ncommand=date +%Y\nuser=%USER%\nnot an option\n")
    assert r.returncode == 2
    out = r.stdout
    assert ("Source contains parsing errors: '%s'\n\t[line  7]: 'not an option\\n'" % conf) in out
    assert ("%s:6: [program:a] user: Format string '%%USER%%' for 'program:a.user' is badly "
            "formatted: unsupported format character 'U' (0x55) at index 1" % conf) in out
    assert ("%s:5: [program:a] command: Format string 'date +%%Y' for 'program:a.command' is badly "
            "formatted: unsupported format character 'Y' (0x59) at index 7" % conf) in out


def test_unknown_sections_ignored_with_a_warning(tmp_path):
    r, conf = check(tmp_path, HEAD + "[Program:x]\ncommand=x\n[program:y]\ncommand=y\n")
    assert r.returncode == 0, r.stdout
    assert "[Program:x] is not a section supervisord or corral reads; ignored" in r.stdout
    assert "    y\n      command: y" in r.stdout


def test_corral_extensions(tmp_path):
    r, conf = check(tmp_path, HEAD + (
        "[socket:web]\nlisten=tcp://127.0.0.1:8000\n"
        "[program:web]\ncommand=gunicorn --bind fd://%(socket_fd_web)s app:app\nsockets=web\n"
        "readiness=tcp://127.0.0.1:8000\n"), "--json")
    assert r.returncode == 0, r.stdout
    v = json.loads(r.stdout)
    assert v["groups"][0]["processes"][0]["command"] == "gunicorn --bind fd://3 app:app"
    assert v["corral"]["sockets"][0]["port"] == 8000
    assert v["corral"]["processes"]["web"]["readiness"] == {"tcp": {"host": "127.0.0.1", "port": 8000}}
    assert any("runs gunicorn" in w and "stopwaitsecs=35" in w for w in v["corral_warnings"])

    r, conf = check(tmp_path, HEAD + "[socket:web]\nlisten=0.0.0.0:80\n[program:a]\ncommand=a\nsockets=web,x\n")
    assert r.returncode == 2
    assert ("%s:5: [socket:web] listen: invalid listen value '0.0.0.0:80': expected tcp://HOST:PORT, "
            "tcp://[V6ADDR]:PORT, unix:///absolute/path or systemd:NAME" % conf) in r.stdout
    assert "sockets= names x, but there is no [socket:x] section" in r.stdout


def test_duplicate_process_names_refused(tmp_path):
    r, conf = check(tmp_path, HEAD + "[group:g]\nprograms=a,b\n[program:a]\ncommand=a\nprocess_name=w\n"
                    "[program:b]\ncommand=b\nprocess_name=w\n")
    assert r.returncode == 2
    assert "%s:11: [program:b] process_name: process name w appears twice in group g" % conf in r.stdout


SYNTHETIC = os.path.join(REPO, "crates", "config", "tests", "supervisord-differential")


def test_synthetic_configs_read_like_supervisord(tmp_path):
    """Live differential: supervisord's own answer is computed now, not stored."""
    corpus = conformance_dir()
    work = tmp_path / "syn"
    shutil.copytree(SYNTHETIC, work / "configs")
    view = os.path.join(corpus, "supervisord_view.py")
    w = subprocess.run([sys.executable, view, "--corpus", "configs", "--write"], cwd=str(work),
                       capture_output=True, text=True, timeout=600)
    assert w.returncode == 0, w.stderr
    corrald = corral_bin("corrald")
    r = subprocess.run([sys.executable, view, "--corpus", "configs", "--compare",
                        "%s --check --json -c {config}" % corrald],
                       cwd=str(work), capture_output=True, text=True, timeout=600)
    n = len([f for f in os.listdir(SYNTHETIC) if f.endswith(".conf")])
    assert r.stdout.strip().splitlines()[-1] == (
        "%d/%d files read the same as supervisord 4.3.0" % (n, n)), r.stdout

    # Where supervisord refuses a file, corrald says what supervisord says (its message
    # without the " in section ... (file: ...)" suffix, which corrald gives as FILE:LINE:
    # [SECTION] OPTION; the list of available names depends on the environment).
    for name in sorted(os.listdir(work / "configs")):
        if not name.endswith(".expected.json"):
            continue
        with open(work / "configs" / name) as f:
            expected = json.load(f)
        if "error" not in expected:
            continue
        conf = work / "configs" / name.replace(".expected.json", ".conf")
        message = expected["error"].split(" in section '")[0].split(" Available names:")[0]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        envf = str(conf)[:-5] + ".env"
        if os.path.exists(envf):
            with open(envf) as f:
                env.update(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        out = subprocess.run([corrald, "--check", "--json", "-c", str(conf)], cwd=str(conf.parent),
                             env=env, capture_output=True, text=True, timeout=60)
        ours = json.loads(out.stdout)
        here = str(conf.parent)
        found = [e for e in ours["errors"] if message.replace("<HERE>", here) in e]
        assert found, "%s: supervisord says %r; corrald says %r" % (name, message, ours["errors"])


def test_check_warns_where_supervisord_loses_input(tmp_path):
    """What supervisord silently loses, corrald reads the same way (the synthetic
    differential test compares this file with supervisord's view) but warns about, naming
    file and line; --strict makes those warnings errors, for --check and at start-up."""
    conf = str(tmp_path / "lossy.conf")
    shutil.copy(os.path.join(SYNTHETIC, "27-lossy-input.conf"), conf)

    # supervisord's own reading, to show the warnings are about real losses.
    view = subprocess.run([sys.executable, os.path.join(conformance_dir(), "supervisord_view.py"),
                           conf], cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    assert view.returncode == 0, view.stderr
    env = {(g["name"], p["name"]): p["environment"]
           for g in json.loads(view.stdout)["groups"] for p in g["processes"]}
    assert env[("front", "web")] == {"DSN": "$"}
    assert env[("front", "worker")] == env[("back", "worker")] == {"P": "abc"}
    assert env[("spaces", "spaces")] == {"GREETING": "hello"}

    r = subprocess.run([corral_bin("corrald"), "--check", "-c", conf], cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout
    expected = [
        "%s:7: [Program:cased] is not a section supervisord or corral reads; ignored "
        "(section names are case-sensitive)",
        "%s:11: [program:web] command: an inline comment cuts a quoted value: "
        "`; exec sleep 1000\"` is dropped",
        "%s:12: [program:web] environment: as supervisord reads it, DSN=$HOME becomes DSN=$",
        "%s:13: [program:web] stderror_logfile: unknown option, ignored",
        "%s:17: [program:worker] environment: as supervisord reads it, P=abc#123 becomes P=abc; "
        "B=2 is dropped",
        "%s:21: [program:spaces] environment: as supervisord reads it, GREETING=hello world "
        "becomes GREETING=hello",
        "%s:27: [group:back] programs: worker is also in [group:front]; supervisord runs a "
        "second copy of it there",
    ]
    warnings = r.stdout.split("corral warnings:\n", 1)[1].splitlines()
    for want in expected:
        assert any(w.strip().startswith(want % conf) for w in warnings), (want, r.stdout)
    # In the order of the file.
    lines = [int(w.strip().split(":")[1]) for w in warnings if w.startswith("  " + conf)]
    assert lines == sorted(lines)

    r = subprocess.run([corral_bin("corrald"), "--check", "--strict", "-c", conf],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout
    assert "%d errors: corrald would refuse this configuration" % len(expected) in r.stdout

    r = subprocess.run([corral_bin("corrald"), "--check", "--strict", "--json", "-c", conf],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert len(json.loads(r.stdout)["errors"]) == len(expected)

    # The daemon itself refuses to start with --strict, and says why; nothing runs.
    r = subprocess.run([corral_bin("corrald"), "--strict", "-n", "-c", conf], cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "environment: as supervisord reads it, DSN=$HOME becomes DSN=$" in r.stderr
    assert not os.path.exists(tmp_path / "supervisord.pid")

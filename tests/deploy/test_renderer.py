"""The test-only kustomize renderer: its strategic-merge rules, its refusals, and (where kubectl
is installed) agreement with `kubectl kustomize` on deploy/ and on a kustomization that uses
every rule."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, KUSTOMIZATIONS
from tests.deploy.kustomize import KustomizeError, render, split_image, strategic_merge

KUBECTL = shutil.which("kubectl")

BASE_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers:
        - name: main
          image: registry.example:5000/team/app:1.0
          args: ["--one", "--two"]
          env: [{name: A, value: "1"}, {name: B, value: "2"}]
          ports: [{name: http, containerPort: 80}]
          volumeMounts: [{name: data, mountPath: /data}]
        - name: side
          image: side@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
      volumes:
        - {name: data, emptyDir: {}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {KEEP: "1", DROP: "2"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: doomed}
data: {X: "1"}
"""

OVERLAY_PATCH = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 2
  strategy: {type: Recreate}
  template:
    spec:
      containers:
        - name: main
          args: ["--three"]
          env:
            - {name: C, value: "3"}
            - {name: A, value: "9"}
            - {name: D, valueFrom: {secretKeyRef: {name: s, key: k}}}
          ports: [{name: metrics, containerPort: 9090}]
      volumes:
        - name: data
          emptyDir: null
          persistentVolumeClaim: {claimName: data}
        - {name: tmp, emptyDir: {}}
"""


def write_fixture_kustomization(root: Path) -> Path:
    (root / "base").mkdir()
    (root / "base" / "objects.yaml").write_text(BASE_DEPLOYMENT)
    (root / "base" / "kustomization.yaml").write_text("resources: [objects.yaml]\n")
    overlay = root / "overlay"
    overlay.mkdir()
    (overlay / "deployment-patch.yaml").write_text(OVERLAY_PATCH)
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": ["../base"],
                "patches": [
                    {"path": "deployment-patch.yaml"},
                    {
                        "patch": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n"
                        "data: {DROP: null, NEW: '3'}\n"
                    },
                    {"patch": "$patch: delete\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: doomed}\n"},
                ],
                "images": [
                    {"name": "registry.example:5000/team/app", "newTag": "2.0"},
                    {"name": "side", "newName": "mirror.example/side"},
                ],
            }
        )
    )
    return overlay


def by_id(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def test_renders_patches_and_images(tmp_path: Path) -> None:
    objects = by_id(render(write_fixture_kustomization(tmp_path)))
    assert set(objects) == {("Deployment", "app"), ("ConfigMap", "settings")}
    assert objects["ConfigMap", "settings"]["data"] == {"KEEP": "1", "NEW": "3"}
    spec = objects["Deployment", "app"]["spec"]
    assert spec["replicas"] == 2 and spec["strategy"] == {"type": "Recreate"}
    main, side = spec["template"]["spec"]["containers"]
    assert main["args"] == ["--three"]
    assert [e["name"] for e in main["env"]] == ["C", "A", "D", "B"]
    assert main["env"][1] == {"name": "A", "value": "9"}
    assert [p["containerPort"] for p in main["ports"]] == [9090, 80]
    assert main["image"] == "registry.example:5000/team/app:2.0"
    assert side["image"].startswith("mirror.example/side@sha256:")
    assert spec["template"]["spec"]["volumes"] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
        {"name": "tmp", "emptyDir": {}},
    ]


def test_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(KustomizeError, match="commonLabels"):
        render(tmp_path)
    with pytest.raises(KustomizeError, match="tolerationz"):
        strategic_merge({"spec": {}}, {"spec": {"tolerationz": [{"key": "x"}]}})
    with pytest.raises(KustomizeError, match=r"\$patch"):
        strategic_merge({"env": [{"name": "A"}]}, {"env": [{"name": "A", "$patch": "delete"}]}, ("c",))


def test_split_image() -> None:
    assert split_image("registry:5000/a/b:1.2") == ("registry:5000/a/b", "1.2", None)
    assert split_image("registry:5000/a/b") == ("registry:5000/a/b", None, None)
    assert split_image("b:1@sha256:ff") == ("b", "1", "sha256:ff")


def kubectl_kustomize(directory: Path) -> list[dict[str, Any]]:
    assert KUBECTL
    proc = subprocess.run(
        [KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode != 0 and "unknown command" in proc.stderr:
        pytest.skip(f"this kubectl has no kustomize: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed: the renderer is checked by its own tests")
@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_agrees_with_kubectl_on_deploy(name: str) -> None:
    assert by_id(render(DEPLOY / name)) == by_id(kubectl_kustomize(DEPLOY / name))


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed: the renderer is checked by its own tests")
def test_agrees_with_kubectl_on_every_rule(tmp_path: Path) -> None:
    overlay = write_fixture_kustomization(tmp_path)
    assert by_id(render(overlay)) == by_id(kubectl_kustomize(overlay))

"""deploy/: every rendered object is valid Kubernetes in strict mode, and the Deployment fits the
server (probes, settings, grace), the image (user, writable paths) and each overlay's storage."""

from __future__ import annotations

import argparse
import copy
import re
from pathlib import Path, PurePosixPath

import kubernetes_validate
import pytest
import yaml

import backend
from backend.config import add_serve_arguments
from tests.deploy.conftest import DEPLOY, KUSTOMIZATIONS, OVERLAYS, REPO
from tests.deploy.dockerfile import Dockerfile
from tests.support.manifests import POSTGRES, SQLITE, Obj, find, one, pod_spec, server_container, settings

Rendered = dict[str, list[Obj]]

# The oldest Kubernetes release still in wide use, and the newest the validator knows.
KUBE_VERSIONS = ("1.28.0", kubernetes_validate.latest_version())


def env_value(objects: list[Obj], dockerfile: Dockerfile, name: str) -> str | None:
    """What the server sees for a plain REDRUNNER_* variable: container env, then the ConfigMap,
    then the image's ENV (Kubernetes gives env precedence over envFrom)."""
    for item in server_container(objects).get("env", []):
        if item["name"] == name:
            value: str | None = item.get("value")
            return value
    return settings(objects).get(name, dockerfile.final.env.get(name))


def mount_for(objects: list[Obj], path: str) -> tuple[Obj, Obj]:
    """The volumeMount that holds `path` (the deepest one) and its volume."""
    mounts = [
        m for m in server_container(objects)["volumeMounts"] if PurePosixPath(path).is_relative_to(m["mountPath"])
    ]
    assert mounts, f"{path} is on the read-only root filesystem"
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    (volume,) = [v for v in pod_spec(objects)["volumes"] if v["name"] == mount["name"]]
    return mount, volume


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_rendered_objects_are_valid_in_strict_mode(rendered: Rendered, name: str, version: str) -> None:
    assert rendered[name], f"{name} renders nothing"
    errors = []
    for obj in rendered[name]:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']} at {'.'.join(map(str, err.path))}: {err.message}")
    assert not errors, "\n".join(errors)


def test_strict_validation_rejects_an_unknown_field(rendered: Rendered) -> None:
    # Guards the test above: a misspelt field must fail, not be ignored.
    deployment = copy.deepcopy(one(rendered[SQLITE], "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[-1], strict=True)


def test_secret_examples_are_valid_and_match_the_references(rendered: Rendered) -> None:
    examples = [d for d in yaml.safe_load_all((DEPLOY / "secrets.example.yaml").read_text()) if d]
    for secret in examples:
        kubernetes_validate.validate(secret, KUBE_VERSIONS[-1], strict=True)
    keys = {(s["metadata"]["name"], key) for s in examples for key in s["stringData"]}
    token_volume = next(v for v in pod_spec(rendered[SQLITE])["volumes"] if "secret" in v)["secret"]
    assert (token_volume["secretName"], token_volume["items"][0]["key"]) in keys
    (db_url,) = [e for e in server_container(rendered[POSTGRES])["env"] if e["name"] == "REDRUNNER_DATABASE_URL"]
    ref = db_url["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) in keys


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_no_secret_values_are_committed(rendered: Rendered, name: str) -> None:
    assert not find(rendered[name], "Secret"), "Secrets are created out of band (deploy/README.md)"
    plain = {e["name"] for e in server_container(rendered[name]).get("env", []) if "value" in e}
    assert "REDRUNNER_TOKEN" not in plain | set(settings(rendered[name]))


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_token_is_read_from_the_secret_volume(rendered: Rendered, name: str, dockerfile: Dockerfile) -> None:
    token_file = str(env_value(rendered[name], dockerfile, "REDRUNNER_TOKEN_FILE"))
    mount, volume = mount_for(rendered[name], token_file)
    assert mount["readOnly"] is True
    assert volume["secret"]["items"] == [{"key": "token", "path": PurePosixPath(token_file).name}]
    assert volume["secret"].get("optional") is not True, "a pod without its token would serve without auth"
    # Readable by the pod's fsGroup, by nobody else.
    assert volume["secret"]["defaultMode"] == 0o440


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_probes_point_at_the_health_routes(rendered: Rendered, name: str) -> None:
    container = server_container(rendered[name])
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    (port,) = container["ports"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] == port["name"]
    assert str(port["containerPort"]) == settings(rendered[name])["REDRUNNER_PORT"]
    (service_port,) = one(rendered[name], "Service")["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_pod_runs_as_the_image_user_without_privileges(rendered: Rendered, name: str, dockerfile: Dockerfile) -> None:
    pod = pod_spec(rendered[name])
    container = server_container(rendered[name])
    assert pod["securityContext"]["runAsNonRoot"] is True
    image_uid, _, image_gid = dockerfile.final.last("USER").args.partition(":")
    assert pod["securityContext"]["runAsUser"] == int(image_uid)
    assert pod["securityContext"]["runAsGroup"] == pod["securityContext"]["fsGroup"] == int(image_gid)
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["automountServiceAccountToken"] is False


def backup_root() -> str:
    """Where the bundled components write backups (a role default, overridable by extravars)."""
    defaults = yaml.safe_load((REPO / "components/project/roles/backup/defaults/main.yml").read_text())
    root = str(defaults["backup_root"])
    assert root.startswith("/") and "{{" not in root
    return root


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_path_the_server_and_ansible_write_is_a_volume(
    rendered: Rendered, name: str, dockerfile: Dockerfile
) -> None:
    objects = rendered[name]
    writable = ["/tmp", backup_root()] + [
        str(env_value(objects, dockerfile, var))
        for var in ("HOME", "ANSIBLE_LOCAL_TEMP", "ANSIBLE_SSH_CONTROL_PATH_DIR", "REDRUNNER_STATE_DIR")
    ]
    for path in writable:
        mount, volume = mount_for(objects, path)
        assert not mount.get("readOnly"), f"{path} is mounted read-only"
        assert {"emptyDir", "persistentVolumeClaim"} & set(volume), f"{path} is not on a writable volume"
    _, tmp = mount_for(objects, "/tmp")
    assert "sizeLimit" in tmp["emptyDir"], "an unbounded /tmp can fill the node's disk"


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_termination_grace_outlasts_the_shutdown_grace(rendered: Rendered, name: str, dockerfile: Dockerfile) -> None:
    pod = pod_spec(rendered[name])
    grace = float(env_value(rendered[name], dockerfile, "REDRUNNER_SHUTDOWN_GRACE") or 20)
    pre_stop = server_container(rendered[name])["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    # The kubelet counts the preStop hook against the same deadline; the server exits within grace + 5.
    assert pod["terminationGracePeriodSeconds"] > float(pre_stop[1]) + grace + 5


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_service_links_cannot_clobber_the_port_setting(rendered: Rendered, name: str) -> None:
    # The Service "redrunner" would otherwise inject REDRUNNER_PORT=tcp://<ip>:8787.
    assert one(rendered[name], "Service")["metadata"]["name"] == "redrunner"
    assert pod_spec(rendered[name])["enableServiceLinks"] is False


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_metrics_are_announced_for_scraping(rendered: Rendered, name: str) -> None:
    annotations = one(rendered[name], "Deployment")["spec"]["template"]["metadata"]["annotations"]
    (port,) = server_container(rendered[name])["ports"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port["containerPort"]),
        "prometheus.io/path": "/metrics",
    }


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_selectors_pick_the_server_pods(rendered: Rendered, name: str) -> None:
    objects = rendered[name]
    deployment = one(objects, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"].items()
    selectors = [deployment["spec"]["selector"]["matchLabels"], one(objects, "Service")["spec"]["selector"]]
    selectors += [pdb["spec"]["selector"]["matchLabels"] for pdb in find(objects, "PodDisruptionBudget")]
    for spread in pod_spec(objects).get("topologySpreadConstraints", []):
        selectors.append(spread["labelSelector"]["matchLabels"])
    for selector in selectors:
        assert selector and selector.items() <= labels


def server_setting_names() -> set[str]:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    return set(re.findall(r"REDRUNNER_[A-Z_]+", parser.format_help())) | {"REDRUNNER_TOKEN"}


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_backups_are_pruned_with_their_jobs_on_the_backups_volume(
    rendered: Rendered, name: str, dockerfile: Dockerfile
) -> None:
    """Retention removes a pruned Job's backups only under REDRUNNER_BACKUP_ROOT: the folder the
    components write to, on the backups volume (not the state volume, not the root filesystem)."""
    objects = rendered[name]
    root = env_value(objects, dockerfile, "REDRUNNER_BACKUP_ROOT")
    assert root == backup_root()
    assert float(env_value(objects, dockerfile, "REDRUNNER_RETAIN_DAYS") or 0) > 0
    mount, _ = mount_for(objects, root)
    assert mount["name"] == "backups"


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_settings_are_ones_the_server_reads(rendered: Rendered, name: str, dockerfile: Dockerfile) -> None:
    known = server_setting_names()
    names = set(settings(rendered[name])) | {e["name"] for e in server_container(rendered[name]).get("env", [])}
    names |= {n for n in dockerfile.final.env if n.startswith("REDRUNNER_")}
    assert names <= known, f"not server settings (typo?): {sorted(names - known)}"


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_sizes_and_image(rendered: Rendered, name: str) -> None:
    container = server_container(rendered[name])
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    assert container["image"] == f"redrunner:{backend.__version__}", "image tag and package version disagree"


def test_single_keeps_sqlite_on_a_claim_with_one_replica(rendered: Rendered, dockerfile: Dockerfile) -> None:
    objects = rendered[SQLITE]
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    # Two pods must never share the SQLite file or the ReadWriteOnce volume, not even in a rollout.
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    claims = {c["metadata"]["name"]: c for c in find(objects, "PersistentVolumeClaim")}
    assert all(c["spec"]["accessModes"] == ["ReadWriteOnce"] for c in claims.values())
    url = settings(objects)["REDRUNNER_DATABASE_URL"]
    assert url.startswith("sqlite:////")
    _, volume = mount_for(objects, url.removeprefix("sqlite:///"))
    assert volume["persistentVolumeClaim"]["claimName"] in claims and set(volume) == {"name", "persistentVolumeClaim"}
    _, state = mount_for(objects, str(env_value(objects, dockerfile, "REDRUNNER_STATE_DIR")))
    assert state is volume
    _, backups = mount_for(objects, backup_root())
    assert backups["persistentVolumeClaim"]["claimName"] in claims and set(backups) == {"name", "persistentVolumeClaim"}


def test_postgres_runs_replicas_with_the_url_from_a_secret(rendered: Rendered, dockerfile: Dockerfile) -> None:
    objects = rendered[POSTGRES]
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] > 1
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    (db_url,) = [e for e in server_container(objects)["env"] if e["name"] == "REDRUNNER_DATABASE_URL"]
    assert set(db_url["valueFrom"]) == {"secretKeyRef"}
    assert "REDRUNNER_DATABASE_URL" not in settings(objects)
    _, state = mount_for(objects, str(env_value(objects, dockerfile, "REDRUNNER_STATE_DIR")))
    assert "emptyDir" in state and "persistentVolumeClaim" not in state
    # The only claim holds backups, shared by all replicas: a restore may run on another one.
    (claim,) = find(objects, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    _, backups = mount_for(objects, backup_root())
    assert backups["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert one(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_kustomizations_list_every_manifest_file() -> None:
    # A manifest left out of `resources`/`patches` would silently never be applied.
    for directory in [DEPLOY / name for name in KUSTOMIZATIONS]:
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        used = set(kustomization.get("resources", [])) | {p["path"] for p in kustomization.get("patches", [])}
        present = {p.name for p in Path(directory).glob("*.yaml")} - {"kustomization.yaml"}
        assert present <= used, f"{directory}: not referenced: {sorted(present - used)}"


@pytest.mark.parametrize("name", OVERLAYS)
def test_overlays_say_where_the_image_comes_from(name: str) -> None:
    # The place a user points at their registry: an `images:` entry for the base's image name.
    kustomization = yaml.safe_load((DEPLOY / "overlays" / name / "kustomization.yaml").read_text())
    (entry,) = [i for i in kustomization.get("images", []) if i["name"] == "redrunner"]
    assert entry["newName"] and entry["newTag"] == backend.__version__


def files_path_default() -> str:
    defaults = yaml.safe_load((REPO / "components/project/roles/files/defaults/main.yml").read_text())
    return str(defaults["files_path"])


def test_app_volume_example_is_read_only_for_backups_and_writable_for_restores(rendered: Rendered) -> None:
    backup, restore = rendered["examples/app-volume"], rendered["examples/app-volume-restore"]
    path = files_path_default()
    mount, volume = mount_for(backup, path)
    # Inside the volume, not its mount point: a restore renames the directory it replaces.
    assert mount["mountPath"] != path
    assert mount["readOnly"] is True and set(volume) == {"name", "persistentVolumeClaim"}
    restore_mount, restore_volume = mount_for(restore, path)
    assert restore_mount["readOnly"] is False and restore_volume == volume
    # The restore variant changes that one flag and nothing else.
    flipped = copy.deepcopy(restore)
    for m in server_container(flipped)["volumeMounts"]:
        if m["mountPath"] == mount["mountPath"]:
            m["readOnly"] = True
    assert flipped == backup
    # And the example is the single overlay plus that mount.
    without = copy.deepcopy(backup)
    server_container(without)["volumeMounts"].remove(mount)
    pod_spec(without)["volumes"].remove(volume)
    assert without == rendered[SQLITE]

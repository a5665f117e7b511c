"""A test-only renderer for the subset of kustomize that deploy/ uses.

kubectl and kustomize are not guaranteed on the machines that run the tests, and no PyPI package
renders a kustomization (pykustomize needs Python 3.14; the `kustomize` package is a Python DSL,
not a renderer). So the tests render deploy/ with this module, which implements only what the
manifests use and refuses everything else, so that a manifest change outside the subset fails
loudly instead of rendering wrongly:

- kustomization keys `resources` (files and directories), `patches` (strategic merge patches
  given by `path` or inline `patch`, target taken from the patch's own kind and name) and
  `images` (`newName`, `newTag`, `digest`);
- strategic merge: maps merge, `null` deletes a key, lists with a Kubernetes merge key merge by
  that key (the patch's elements first, in its order, then the untouched ones, as kustomize
  orders them), lists the API declares atomic are replaced, a document-level `$patch: delete`
  drops the resource. Any other list or `$patch` directive raises.

Where kubectl is on PATH, tests/deploy/test_renderer.py checks this output against
`kubectl kustomize` for every kustomization in deploy/.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

SUPPORTED_KEYS = frozenset({"apiVersion", "kind", "resources", "patches", "images"})
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})

# patchMergeKey of the lists the manifests patch, from the Kubernetes API types. `ports` depends
# on its owner: a container's merge on containerPort, a Service's on port.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "topologySpreadConstraints": "topologyKey",
}
# Lists without a patch strategy in the API types: a patch replaces them whole.
ATOMIC_LISTS = frozenset(
    {"args", "command", "envFrom", "tolerations", "accessModes", "drop", "add", "items", "matchExpressions"}
)


class KustomizeError(Exception):
    """The kustomization is invalid or uses something outside the supported subset."""


def load_documents(path: Path) -> list[Obj]:
    with path.open(encoding="utf-8") as fh:
        docs = [doc for doc in yaml.safe_load_all(fh) if doc is not None]
    for doc in docs:
        if not isinstance(doc, dict):
            raise KustomizeError(f"{path}: a document is not a mapping")
    return docs


def resource_id(obj: Obj) -> tuple[str, str, str]:
    try:
        return (obj["apiVersion"], obj["kind"], obj["metadata"]["name"])
    except (KeyError, TypeError) as exc:
        raise KustomizeError(f"resource without apiVersion, kind or metadata.name: {obj!r}") from exc


def render(directory: Path) -> list[Obj]:
    """The objects `kubectl kustomize DIRECTORY` would print, in resource order."""
    kfile = directory / "kustomization.yaml"
    if not kfile.is_file():
        raise KustomizeError(f"{directory}: no kustomization.yaml")
    (kustomization,) = load_documents(kfile)
    unknown = set(kustomization) - SUPPORTED_KEYS
    if unknown:
        raise KustomizeError(f"{kfile}: unsupported keys {sorted(unknown)}")

    objects: list[Obj] = []
    for entry in kustomization.get("resources", []):
        source = directory / entry
        objects.extend(render(source) if source.is_dir() else load_documents(source))
    ids = [resource_id(obj) for obj in objects]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise KustomizeError(f"{kfile}: resources defined twice: {sorted(duplicates)}")

    for spec in kustomization.get("patches", []):
        for patch in _patch_documents(directory, spec):
            objects = _apply_patch(objects, patch)
    for image in kustomization.get("images", []):
        _set_image(objects, image)
    return objects


def _patch_documents(directory: Path, spec: Obj) -> list[Obj]:
    if set(spec) == {"path"}:
        return load_documents(directory / spec["path"])
    if set(spec) == {"patch"}:
        return [doc for doc in yaml.safe_load_all(spec["patch"]) if doc is not None]
    raise KustomizeError(f"unsupported patch entry (only `path` or `patch`, no target): {spec!r}")


def _apply_patch(objects: list[Obj], patch: Obj) -> list[Obj]:
    target = resource_id(patch)
    matches = [i for i, obj in enumerate(objects) if resource_id(obj) == target]
    if len(matches) != 1:
        raise KustomizeError(f"patch target {target} matches {len(matches)} resources")
    index = matches[0]
    if patch.get("$patch") == "delete":
        return objects[:index] + objects[index + 1 :]
    body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")}
    objects[index] = strategic_merge(objects[index], body)
    return objects


def strategic_merge(original: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    """Merge `patch` into a copy of `original` with strategic-merge-patch rules (the subset above)."""
    if isinstance(patch, dict):
        if "$patch" in patch:
            raise KustomizeError(f"unsupported $patch directive at {'.'.join(path)}")
        result = copy.deepcopy(original) if isinstance(original, dict) else {}
        for key, value in patch.items():
            if value is None:
                result.pop(key, None)
            else:
                result[key] = strategic_merge(result.get(key), value, (*path, key))
        return result
    if isinstance(patch, list):
        return _merge_list(original if isinstance(original, list) else [], patch, path)
    return patch


def merge_key(path: tuple[str, ...]) -> str | None:
    field = path[-1] if path else ""
    if field == "ports":
        return "containerPort" if {"containers", "initContainers"} & set(path) else "port"
    if field in MERGE_KEYS:
        return MERGE_KEYS[field]
    if field in ATOMIC_LISTS:
        return None
    raise KustomizeError(f"no strategic merge rule for the list at {'.'.join(path)}")


def _merge_list(original: list[Any], patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    key = merge_key(path)
    if key is None:
        return copy.deepcopy(patch)
    by_key = {old.get(key): old for old in original if isinstance(old, dict)}
    merged: list[Any] = []
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise KustomizeError(f"list element without merge key {key!r} at {'.'.join(path)}")
        if "$patch" in item:
            raise KustomizeError(f"unsupported $patch directive in the list at {'.'.join(path)}")
        merged.append(strategic_merge(by_key.get(item[key], {}), item, path))
    patched = {item[key] for item in patch}
    return merged + [copy.deepcopy(old) for old in original if old.get(key) not in patched]


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """`registry:5000/name:tag@sha256:...` -> (name with registry, tag, digest)."""
    rest, _, digest = image.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return rest[:colon], rest[colon + 1 :], digest or None
    return rest, None, digest or None


def _set_image(objects: list[Obj], spec: Obj) -> None:
    unknown = set(spec) - {"name", "newName", "newTag", "digest"}
    if unknown:
        raise KustomizeError(f"unsupported images fields {sorted(unknown)}")
    for obj in objects:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        pod = obj["spec"]["template"]["spec"]
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            name, tag, digest = split_image(container["image"])
            if name != spec["name"]:
                continue
            name = spec.get("newName", name)
            if "digest" in spec:
                container["image"] = f"{name}@{spec['digest']}"
                continue
            tag = str(spec["newTag"]) if "newTag" in spec else tag
            container["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")

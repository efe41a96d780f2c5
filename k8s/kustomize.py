"""An offline preview of `kustomize build` for the subset these manifests use.

Supported: `resources` (files and directories), `namespace`, `images`, `replicas`, `patches`
(strategic merge, by the patch's kind and name or by `target`, `$patch: delete` included; JSON 6902
lists, by `target`).
Anything else in a kustomization is refused rather than ignored, and a patch, image or replicas
entry that matches nothing is an error, as it is for kustomize.
Usage: `python -m k8s.kustomize k8s/manifests/overlays/prod` prints the objects as YAML.
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]
SUPPORTED = {"apiVersion", "kind", "namespace", "resources", "images", "replicas", "patches"}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
}
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
}


class KustomizeError(ValueError):
    pass


def load_yaml(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def kustomization(directory: Path) -> Obj:
    body: Obj = load_yaml(directory / "kustomization.yaml")[0]
    unknown = set(body) - SUPPORTED
    if unknown:
        raise KustomizeError(f"{directory}: unsupported kustomization fields {sorted(unknown)}")
    return body


def object_id(obj: Obj) -> tuple[str, str, str]:
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


# --- strategic merge ----------------------------------------------------------------------------


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        return "containerPort" if all("containerPort" in i for i in items) else "port"
    return MERGE_KEYS.get(field)


def merge(base: Any, patch: Any, field: str = "") -> Any:
    """Strategic merge: maps merge, `null` deletes, lists of named items merge by their key
    (`$patch: delete` removes one), other lists are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = merge(out[key], value, key)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(patch, list):
        key = _merge_key(field, [*base, *patch])
        if key is None or not all(isinstance(i, dict) and key in i for i in [*base, *patch]):
            return copy.deepcopy(patch)
        out_list = [dict(i) for i in base]
        for item in patch:
            index = next((n for n, b in enumerate(out_list) if b[key] == item[key]), None)
            if item.get("$patch") == "delete":
                if index is not None:
                    out_list.pop(index)
            elif index is None:
                out_list.append(copy.deepcopy(item))
            else:
                out_list[index] = merge(out_list[index], item, field)
        return out_list
    return copy.deepcopy(patch)


# --- JSON 6902 ----------------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise KustomizeError(f"JSON pointer must start with '/': {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _step(node: Any, part: str) -> Any:
    return node[int(part)] if isinstance(node, list) else node[part]


def json_patch(obj: Obj, ops: list[Obj]) -> Obj:
    out = copy.deepcopy(obj)
    for op in ops:
        *parents, last = _pointer(op["path"])
        try:
            node = out
            for part in parents:
                node = _step(node, part)
            kind = op["op"]
            if kind == "add":
                if isinstance(node, list):
                    node.insert(len(node) if last == "-" else int(last), copy.deepcopy(op["value"]))
                else:
                    node[last] = copy.deepcopy(op["value"])
            elif kind == "replace":
                _step(node, last)  # must exist
                node[int(last) if isinstance(node, list) else last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del node[int(last) if isinstance(node, list) else last]
            elif kind == "test":
                if _step(node, last) != op["value"]:
                    raise KustomizeError(f"test failed at {op['path']}")
            else:
                raise KustomizeError(f"unsupported JSON patch op {kind!r}")
        except (KeyError, IndexError, TypeError) as error:
            raise KustomizeError(f"{op['op']} {op['path']}: no such path in {object_id(obj)}") from error
    return out


# --- targets ------------------------------------------------------------------------------------


def _labels_match(selector: str, labels: dict[str, str]) -> bool:
    pairs = [term.split("=", 1) for term in selector.split(",") if term]
    return all(labels.get(k.strip()) == v.strip() for k, v in pairs)


def matches(obj: Obj, target: Obj) -> bool:
    group, _, version = obj["apiVersion"].rpartition("/")
    checks = {
        "kind": obj["kind"],
        "group": group,
        "version": version,
        "namespace": obj["metadata"].get("namespace", ""),
    }
    for key, value in target.items():
        if key == "name":
            if not re.fullmatch(value, obj["metadata"]["name"]):
                return False
        elif key == "labelSelector":
            if not _labels_match(value, obj["metadata"].get("labels", {})):
                return False
        elif key in checks:
            if checks[key] != value:
                return False
        else:
            raise KustomizeError(f"unsupported patch target field {key!r}")
    return True


def patch_targets(objects: list[Obj], entry: Obj, body: Any) -> list[int]:
    """Indexes of the objects a `patches` entry applies to."""
    if "target" in entry:
        target = entry["target"]
    elif isinstance(body, dict):
        target = {"kind": body["kind"], "name": re.escape(body["metadata"]["name"])}
    else:
        raise KustomizeError("a JSON 6902 patch needs a target")
    found = [n for n, obj in enumerate(objects) if matches(obj, target)]
    if not found:
        raise KustomizeError(f"patch {entry.get('path', '(inline)')}: no object matches {target}")
    return found


def _patch_body(directory: Path, entry: Obj) -> Any:
    if "path" in entry:
        docs = load_yaml(directory / entry["path"])
        if len(docs) != 1:
            raise KustomizeError(f"{entry['path']}: one patch per file")
        return docs[0]
    return yaml.safe_load(entry["patch"])


# --- images, replicas, namespace ----------------------------------------------------------------


def split_image(ref: str) -> tuple[str, str | None, str | None]:
    ref, _, digest = ref.partition("@")
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :], digest or None
    return ref, None, digest or None


def containers(obj: Any) -> Iterator[Obj]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict) and "image" in c)
            else:
                yield from containers(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from containers(value)


def set_images(objects: list[Obj], images: list[Obj]) -> None:
    for entry in images:
        hits = 0
        for obj in objects:
            for container in containers(obj):
                name, tag, digest = split_image(container["image"])
                if name != entry["name"]:
                    continue
                hits += 1
                name = entry.get("newName", name)
                tag = entry.get("newTag", tag)
                digest = entry.get("digest", digest)
                container["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
        if not hits:
            raise KustomizeError(f"image {entry['name']!r} is used by no container")


def set_replicas(objects: list[Obj], replicas: list[Obj]) -> None:
    for entry in replicas:
        found = [
            o
            for o in objects
            if o["kind"] in ("Deployment", "StatefulSet", "ReplicaSet")
            and o["metadata"]["name"] == entry["name"]
        ]
        if not found:
            raise KustomizeError(f"replicas: no workload named {entry['name']!r}")
        for obj in found:
            obj["spec"]["replicas"] = entry["count"]


def build(directory: Path) -> list[Obj]:
    """The objects `kustomize build <directory>` would give, in order."""
    directory = Path(directory)
    body = kustomization(directory)
    objects: list[Obj] = []
    for resource in body.get("resources", []):
        path = directory / resource
        objects += build(path) if path.is_dir() else load_yaml(path)
    seen: set[tuple[str, str, str]] = set()
    for obj in objects:
        if object_id(obj) in seen:
            raise KustomizeError(f"duplicate object {object_id(obj)}")
        seen.add(object_id(obj))
    for entry in body.get("patches", []):
        patch = _patch_body(directory, entry)
        targets = patch_targets(objects, entry, patch)
        if isinstance(patch, dict) and patch.get("$patch") == "delete":
            objects = [obj for n, obj in enumerate(objects) if n not in targets]
            continue
        for index in targets:
            if isinstance(patch, list):
                objects[index] = json_patch(objects[index], patch)
            else:
                named = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind", "metadata")}
                objects[index] = merge(objects[index], named)
                if patch.get("metadata"):
                    meta = {k: v for k, v in patch["metadata"].items() if k not in ("name", "namespace")}
                    objects[index]["metadata"] = merge(objects[index]["metadata"], meta)
    set_images(objects, body.get("images", []))
    set_replicas(objects, body.get("replicas", []))
    if "namespace" in body:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = body["namespace"]
    return objects


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    print(yaml.safe_dump_all(build(Path(argv[0])), sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

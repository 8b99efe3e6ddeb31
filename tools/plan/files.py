"""The offline plan's files: each resource the program registers as one readable YAML file, named and ordered as it
would be deployed (its dependencies first, Helm's install order among the rest).

Kubernetes objects are written as the manifests the provider would send, the Helm release as its chart reference and
values, the kind cluster as its config, a built image as its build; tools/plan/render.py writes them, with the index
and the pods.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from tools.plan.manifest_yaml import SECRET, dump_yaml, ordered, sanitize
from tools.plan.mock_engine import IMAGE_TYPE, Recording, Registered, stand_in_digest

# The plan's index, beside the numbered object files.
INDEX = "index.md"
SPARK_KINDS = ("SparkApplication", "ScheduledSparkApplication")
KIND_CLUSTER_STEM = "kind-cluster"
HELM_RELEASE_STEM = "helmrelease"
KIND_CLUSTER_TYPE = "pulumi-python:dynamic:Resource"
HELM_RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
# Release inputs that are provider plumbing, not part of what Helm installs.
_HELM_INTERNAL = {"compat", "resourceNames"}
PLAN_FILE = re.compile(r"^\d{2,}-[a-z0-9.-]+\.yaml$")
# Helm's install order: the tie-breaker among objects that do not depend on each other.
_INSTALL_ORDER = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodDisruptionBudget", "ServiceAccount",
    "Secret", "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
    "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service",
    "DaemonSet", "Pod", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob",
    "IngressClass", "Ingress", "APIService",
)

Category = str  # "kubernetes" | "helm" | "kind" | "dynamic" | "image"


@dataclass
class PlanFile:
    """One written file: what it holds and why it looks the way it does."""

    filename: str
    category: Category
    resource: Registered
    document: dict[str, Any]
    comments: list[str] = field(default_factory=list)

    def text(self) -> str:
        header = "".join(f"# {line}\n" for line in self.comments)
        return header + dump_yaml(self.document)


# --- classification --------------------------------------------------------------------------------------


def _is_kubernetes_object(resource: Registered) -> bool:
    inputs = resource.inputs
    return (resource.custom and resource.type.startswith("kubernetes:")
            and "apiVersion" in inputs and "kind" in inputs)


def file_category(filename: str) -> Category | None:
    """Which kind of document a plan file holds, from its name alone (tests use this to pick validators)."""
    if filename == INDEX or not PLAN_FILE.match(filename):
        return None
    stem = filename.split("-", 1)[1].removesuffix(".yaml")
    if stem == KIND_CLUSTER_STEM:
        return "kind"
    if stem.startswith(f"{HELM_RELEASE_STEM}-"):
        return "helm"
    if stem.startswith("dynamic-"):
        return "dynamic"
    if stem.startswith("image-"):
        return "image"
    return "kubernetes"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-") or "unnamed"


# --- documents -------------------------------------------------------------------------------------------


def _kubernetes_file(resource: Registered) -> tuple[str, dict[str, Any], list[str]]:
    obj = ordered(sanitize(resource.inputs))
    if obj["kind"] == "Secret":  # a Secret's payload is secret even where the program did not mark it
        for key in ("data", "stringData"):
            if isinstance(obj.get(key), dict):
                obj[key] = {k: SECRET for k in obj[key]}
    metadata = obj.get("metadata") or {}
    name = metadata.get("name")
    comments = [f"{obj['kind']} from Pulumi resource {resource.type}::{resource.name}"]
    if not name:
        comments.append(
            f'metadata.name is assigned by Pulumi at deploy time: "{resource.name}-<random suffix>"'
        )
    if resource.protect:
        comments.append("protected: `pulumi destroy` refuses to delete it")
    if resource.replace_on_changes:
        comments.append(f"replaced (not updated) when these change: {', '.join(resource.replace_on_changes)}")
    if resource.custom_timeouts:
        timeouts = ", ".join(f"{k} {v}" for k, v in sorted(resource.custom_timeouts.items()))
        comments.append(f"Pulumi timeouts: {timeouts}")
    stem = f"{obj['kind'].lower()}-{_slug(name or resource.name)}"
    return stem, obj, comments


def _helm_file(resource: Registered) -> tuple[str, dict[str, Any], list[str]]:
    inputs = sanitize(resource.inputs)
    repo_opts = inputs.pop("repositoryOpts", None) or {}
    document: dict[str, Any] = {
        "name": inputs.pop("name", resource.name),
        "chart": inputs.pop("chart", None),
        "version": inputs.pop("version", None),
        "repository": repo_opts.pop("repo", None),
        "namespace": inputs.pop("namespace", None),
        "values": ordered(inputs.pop("values", None) or {}),
    }
    if repo_opts:
        document["repositoryOpts"] = ordered(repo_opts)
    options = {k: v for k, v in inputs.items() if k not in _HELM_INTERNAL}
    if options:
        document["options"] = ordered(options)
    comments = [
        "Helm release (not a Kubernetes object): installed by the Pulumi Kubernetes provider from this chart",
        f"reference and these values. Pulumi resource {resource.type}::{resource.name}",
    ]
    return f"{HELM_RELEASE_STEM}-{_slug(str(document['name']))}", document, comments


def _kind_config(inputs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The config the provider passes to `kind create cluster`, rendered by the project's own renderer.

    Only the inputs are registered (the config is an output), so re-render them; None if that is not possible.
    """
    try:
        from infra.cluster.kind import render_kind_config

        text = render_kind_config(inputs["name"], inputs["node_image"], int(inputs["workers"]),
                                  inputs.get("extra_mounts") or [])
    except Exception:  # an unfinished or changed renderer must not stop the plan; the inputs are still written
        return None
    return yaml.safe_load(text)


def _dynamic_file(resource: Registered) -> tuple[str, dict[str, Any], list[str]]:
    inputs = ordered(sanitize(resource.inputs))
    if "node_image" not in inputs:
        comments = [f"Pulumi dynamic resource {resource.name} (not a Kubernetes object): its inputs"]
        return f"dynamic-{_slug(resource.name)}", inputs, comments
    config = _kind_config(inputs)
    comments = [f"kind cluster (Pulumi dynamic resource {resource.name}; not a Kubernetes object)."]
    if config is None:
        comments.append("The provider's inputs; it renders the kind config from them.")
        return KIND_CLUSTER_STEM, inputs, comments
    comments.append("The config the provider passes to `kind create cluster --config`. Provider-only inputs:")
    comments += [f"  {k}: {inputs[k]}" for k in ("wait", "kind_path") if k in inputs]
    return KIND_CLUSTER_STEM, config, comments


def _image_file(resource: Registered) -> tuple[str, dict[str, Any], list[str]]:
    """An application image (sparkstack:images): its tags, where it goes, the digest and the Dockerfile."""
    inputs = sanitize(resource.inputs)
    document = {
        "tags": inputs.get("tags"),
        "push": bool(inputs.get("push")),
        "load": bool(inputs.get("load")),
        "platforms": inputs.get("platforms"),
        "context": (inputs.get("context") or {}).get("location", "").rsplit("/", 1)[-1] + "/",
        "digest": stand_in_digest(resource.inputs),
        "dockerfile": (inputs.get("dockerfile") or {}).get("inline"),
    }
    comments = [f"Application image {resource.name} (pulumi-docker-build; not a Kubernetes object).",
                "digest: a stand-in computed offline from the build's inputs; the build reports the real one,",
                "and pushed images are referenced by it (<repository>@<digest>), loaded ones by their content tag."]
    return f"image-{_slug(resource.name)}", document, comments


def _tie_break(resource: Registered) -> tuple[int, str, str]:
    if resource.type == KIND_CLUSTER_TYPE:
        rank = 0
    elif resource.type.startswith("pulumi:providers:"):
        rank = 1
    elif not resource.custom:
        rank = 2
    elif resource.type == HELM_RELEASE_TYPE:
        rank = 10 + _INSTALL_ORDER.index("CustomResourceDefinition")  # the release installs the CRDs
    else:
        kind = str(resource.inputs.get("kind", ""))
        rank = 10 + (_INSTALL_ORDER.index(kind) if kind in _INSTALL_ORDER else len(_INSTALL_ORDER))
    metadata = resource.inputs.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return rank, resource.type, str(sanitize(name) if name else resource.name)


def deployment_order(recording: Recording) -> list[Registered]:
    """Resources in an order Pulumi could create them: after their parent, provider and dependencies.

    Not the engine's registration order: that follows when each resource's inputs resolve, which varies
    from run to run. Independent resources are ordered by Helm's install order, then type and name.
    """
    by_urn = {r.urn: r for r in recording.resources}
    needs: dict[str, set[str]] = {}
    for r in recording.resources:
        provider_urn = r.provider.rsplit("::", 1)[0] if r.provider else ""
        needs[r.urn] = {u for u in (*r.dependencies, r.parent, provider_urn) if u in by_urn and u != r.urn}
    done: set[str] = set()
    result: list[Registered] = []
    while len(result) < len(by_urn):
        ready = [by_urn[u] for u, deps in needs.items() if u not in done and deps <= done]
        if not ready:  # a cycle cannot come from the engine; keep going rather than loop forever
            ready = [by_urn[u] for u in needs if u not in done]
        chosen = min(ready, key=_tie_break)
        done.add(chosen.urn)
        result.append(chosen)
    return result


def render_files(recording: Recording) -> list[PlanFile]:
    """One PlanFile per object the stack would create, in deployment order (see `deployment_order`)."""
    picked: list[tuple[Category, Registered]] = []
    for resource in deployment_order(recording):
        if resource.type == HELM_RELEASE_TYPE:
            picked.append(("helm", resource))
        elif resource.type == KIND_CLUSTER_TYPE:
            picked.append(("kind" if "node_image" in resource.inputs else "dynamic", resource))
        elif resource.type == IMAGE_TYPE:
            picked.append(("image", resource))
        elif _is_kubernetes_object(resource):
            picked.append(("kubernetes", resource))
    width = max(2, len(str(len(picked) - 1)))
    builders = {"helm": _helm_file, "kind": _dynamic_file, "dynamic": _dynamic_file,
                "kubernetes": _kubernetes_file, "image": _image_file}
    files = []
    for index, (category, resource) in enumerate(picked):
        stem, document, comments = builders[category](resource)
        files.append(PlanFile(f"{index:0{width}d}-{stem}.yaml", category, resource, document, comments))
    return files

"""Offline plan: every object the stack would create, as readable YAML, without a cluster or a Pulumi backend.

`pulumi preview` needs a backend and shows diffs, not manifests. This runs the real program under the SDK mock
engine (tools/plan/mock_engine.py) and writes what each resource would send: one file per Kubernetes object, the
Helm release as its chart reference and values, and the kind cluster config. Reviewers can read it, and
tests/test_manifests.py feeds the same files to kubernetes-validate, the operator's CRDs and checkov.

With pods on (the command line's default) it also writes, under `pods/`, the driver and executor pod of every
application run (one-shot, and the template of each schedule) as Spark 4.0.4 builds them from what operator v2.5.2
submits, patched as its webhook does (tools/pods/builders.py). Those are not objects the stack creates, so they
have their own index and stay out of the plan's own files. Pods need Java; `--no-pods` writes the plan without it.

    sparkstack plan [--stack dev] [--out build/manifests] [--no-pods] [--json] [--verbose]
    (also `python -m tools.plan`, the same flags and output)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from infra.conventions import APPLICATION_LABEL
from tools.console import BAD_INPUT, OK, QUIET, Progress, add_json, add_verbose
from tools.plan.manifest_yaml import SECRET, dump_yaml, mask_secure, ordered, sanitize
from tools.plan.mock_engine import IMAGE_TYPE, ROOT, Recording, Registered, run_program, stack_config, stand_in_digest

if TYPE_CHECKING:
    from tools.pods.builders import PodRenderer

INDEX = "index.md"
POD_DIR = "pods"
SPARK_KINDS = ("SparkApplication", "ScheduledSparkApplication")
KIND_CLUSTER_STEM = "kind-cluster"
HELM_RELEASE_STEM = "helmrelease"
KIND_CLUSTER_TYPE = "pulumi-python:dynamic:Resource"
HELM_RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
# Release inputs that are provider plumbing, not part of what Helm installs.
_HELM_INTERNAL = {"compat", "resourceNames"}
_PLAN_FILE = re.compile(r"^\d{2,}-[a-z0-9.-]+\.yaml$")
# Helm's install order: the tie-breaker among objects that do not depend on each other.
_INSTALL_ORDER = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodDisruptionBudget", "ServiceAccount",
    "Secret", "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
    "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service",
    "DaemonSet", "Pod", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob",
    "IngressClass", "Ingress", "APIService",
)

Category = str  # "kubernetes" | "helm" | "kind" | "dynamic" | "image"


class StackNotFoundError(FileNotFoundError):
    """--stack names no Pulumi.<stack>.yaml."""


class ForeignFilesError(RuntimeError):
    """The output folder holds files an earlier plan did not write."""


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
    if filename == INDEX or not _PLAN_FILE.match(filename):
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


def _index(stack: str, recording: Recording, files: list[PlanFile]) -> str:
    lines = [
        f"# Plan for stack `{stack}`",
        "",
        "Generated by `python -m tools.plan` from the program run under the Pulumi mock engine; do not edit.",
        "Files are numbered in an order Pulumi could create them (dependencies first).",
        f"Secret inputs are written as `{SECRET}`.",
        "",
        "| File | Kind | Name | Namespace | Pulumi resource |",
        "| --- | --- | --- | --- | --- |",
    ]
    for f in files:
        if f.category == "kubernetes":
            meta = f.document.get("metadata") or {}
            kind, name, namespace = f.document["kind"], meta.get("name") or "(assigned by Pulumi)", \
                meta.get("namespace", "")
        elif f.category == "helm":
            kind, name, namespace = "Helm release", f.document["name"], f.document.get("namespace") or ""
        elif f.category == "image":
            kind, name, namespace = "image", ", ".join(f.document.get("tags") or []), ""
        else:
            kind, name, namespace = "kind cluster" if f.category == "kind" else "dynamic", f.resource.name, ""
        lines.append(f"| {f.filename} | {kind} | {name} | {namespace} | `{f.resource.type}::{f.resource.name}` |")
    written = {id(f.resource) for f in files}
    others = [r for r in deployment_order(recording) if id(r) not in written]
    if others:
        lines += ["", "Also registered (no file: providers and components):", ""]
        lines += [f"- `{r.type}::{r.name}`" for r in others]
    return "\n".join(lines) + "\n"


def render_plan(recording: Recording, stack: str = "dev") -> dict[str, str]:
    """File name -> text for every plan file, plus the index; pure, so tests need no subprocess or disk."""
    files = render_files(recording)
    rendered = {f.filename: f.text() for f in files}
    rendered[INDEX] = _index(stack, recording, files)
    return rendered


# --- pods ------------------------------------------------------------------------------------------------


def render_pods(files: list[PlanFile], renderer: PodRenderer, stack: str = "dev",
                progress: Progress = QUIET) -> dict[str, str]:
    """`pods/` file name -> text: the driver and executor pod of each Spark object of the plan, plus their index.

    A pod file is named after the plan file it comes from (`16-sparkapplication-sales-etl.yaml` gives
    `16-sparkapplication-sales-etl-driver.yaml`); a ScheduledSparkApplication's pods are those of one run.
    """
    from tools.pods.pod_security import restricted_violations
    from tools.pods.submission import scheduled_run

    rendered: dict[str, str] = {}
    rows = []
    for plan_file in files:
        document = plan_file.document
        if plan_file.category != "kubernetes" or document.get("kind") not in SPARK_KINDS:
            continue
        meta = document["metadata"]
        application = (meta.get("labels") or {}).get(APPLICATION_LABEL, meta["name"])
        scheduled = document["kind"] == "ScheduledSparkApplication"
        app = scheduled_run(document) if scheduled else document
        progress.show(f"plan {stack}: building the pods of {application} with Spark's builders")
        pods = renderer.render(app, application)
        stem = plan_file.filename.removesuffix(".yaml")
        for role, pod in (("driver", pods.driver), ("executor", pods.executor)):
            container = pod["spec"]["containers"][0]
            resources = container.get("resources") or {}
            requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
            violations = restricted_violations(pod)
            name = f"{stem}-{role}.yaml"
            comments = [
                f"The {role} pod of {document['kind']} {meta['name']} ({plan_file.filename}), application "
                f"sparkstack:applications.{application}" + (f", one scheduled run ({pods.run})" if scheduled else ""),
                "as Spark 4.0.4's builders make it from what operator v2.5.2 submits, then as the operator's webhook",
                "patches it (tools/pods/builders.py). Not created by the stack; <...> marks values chosen at run time.",
                f"memory {requests.get('memory')} (request = limit: memory + overhead), cpu request "
                f"{requests.get('cpu')}, limit {limits.get('cpu', 'none')}",
                "Pod Security restricted (v1.33): " + ("admitted" if not violations else "REJECTED: "
                                                       + "; ".join(violations)),
            ]
            rendered[name] = "".join(f"# {line}\n" for line in comments) + dump_yaml(ordered(pod))
            rows.append(f"| {name} | {application} | {pods.run} | {role} | {requests.get('memory')} | "
                        f"{requests.get('cpu')} | {limits.get('cpu', '')} | {'yes' if not violations else 'NO'} |")
    lines = [
        f"# Spark pods for stack `{stack}`",
        "",
        "Generated by `python -m tools.plan`: the pods Spark 4.0.4 builds for each application run, as operator v2.5.2",
        "submits it and its webhook patches it. Not objects the stack creates; see tools/pods/builders.py.",
        "",
        "| File | Application | Run | Role | Memory request | CPU request | CPU limit | Pod Security restricted |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ]
    rendered[INDEX] = "\n".join(lines) + "\n"
    return rendered


# --- running ---------------------------------------------------------------------------------------------


def record_stack(stack: str, root: Path = ROOT) -> Recording:
    """Run the program with `Pulumi.<stack>.yaml`'s config, as `pulumi preview -s <stack>` would."""
    if not (root / f"Pulumi.{stack}.yaml").exists():
        known = ", ".join(sorted(f.name.split(".")[1] for f in root.glob("Pulumi.*.yaml"))) or "none"
        raise StackNotFoundError(f"no Pulumi.{stack}.yaml in {root}; --stack takes one of: {known}")
    config: dict[str, Any] = {}
    secret_keys: list[str] = []
    for key, value in stack_config(stack, root).items():
        config[key], secret = mask_secure(value)
        if secret:
            secret_keys.append(key)
    return run_program(config, stack=stack, secret_keys=secret_keys, preview=True)


def _plan_written(path: Path) -> bool:
    return path.is_file() and (path.name == INDEX or bool(_PLAN_FILE.match(path.name)))


def _clean(folder: Path) -> None:
    """Remove only what an earlier plan wrote; refuse to touch a folder holding anything else."""
    if not folder.exists():
        return
    pods = folder / POD_DIR
    foreign = [p.name for p in folder.iterdir() if not (_plan_written(p) or (p == pods and p.is_dir()))]
    if pods.is_dir():
        foreign += [f"{POD_DIR}/{p.name}" for p in pods.iterdir() if not _plan_written(p)]
    if foreign:
        raise ForeignFilesError(f"{folder} holds files the plan did not write ({', '.join(sorted(foreign))}); "
                           "choose another --out")
    if pods.is_dir():
        for path in pods.iterdir():
            path.unlink()
        pods.rmdir()
    for path in folder.iterdir():
        path.unlink()


def write_plan(stack: str = "dev", out: Path | str = ROOT / "build" / "manifests", pods: bool = False,
               renderer: PodRenderer | None = None, progress: Progress = QUIET) -> tuple[Path, dict[str, str]]:
    """Render the stack's plan into `<out>/<stack>/` (cleaned first); return the folder and what was written.

    With `pods`, also the Spark pods into `<out>/<stack>/pods/` (keys `pods/<file>`), built in one local Spark
    session (or `renderer`'s). Everything is rendered before anything is written, so a refusal leaves the old plan.
    """
    progress.show(f"plan {stack}: running the program under the mock engine")
    recording = record_stack(stack)
    files = render_files(recording)
    rendered = {f.filename: f.text() for f in files}
    rendered[INDEX] = _index(stack, recording, files)
    pod_files: dict[str, str] = {}
    if pods:
        if renderer is not None:
            pod_files = render_pods(files, renderer, stack, progress)
        else:
            from tools.pods.builders import PodRenderer, local_spark

            progress.show(f"plan {stack}: starting a local Spark session for the pods")
            with local_spark() as spark:
                pod_files = render_pods(files, PodRenderer(spark), stack, progress)
    folder = Path(out) / stack
    _clean(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (folder / name).write_text(text, encoding="utf-8")
    if pod_files:
        (folder / POD_DIR).mkdir()
        for name, text in pod_files.items():
            (folder / POD_DIR / name).write_text(text, encoding="utf-8")
    return folder, {**rendered, **{f"{POD_DIR}/{n}": t for n, t in pod_files.items()}}


EXAMPLE = "sparkstack plan --stack dev --no-pods --out build/manifests"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default="dev", help="stack whose Pulumi.<stack>.yaml to use (default: dev)")
    parser.add_argument("--out", default="build/manifests", type=Path,
                        help="output root; files go to <out>/<stack>/ (default: build/manifests)")
    parser.add_argument("--no-pods", dest="pods", action="store_false",
                        help="skip the Spark pods (they need Java and start a local Spark session)")
    add_json(parser, "what was written")
    add_verbose(parser, "list every file written")


def run(args: argparse.Namespace) -> int:
    """The command: write the plan, print one line (or the JSON), exit 0, or 2 with the reason on stderr."""
    from infra.config import ConfigError
    from tools.pods.builders import JavaMissingError, SparkRefusedError

    progress = Progress()
    try:
        with progress.until_done():
            folder, rendered = write_plan(args.stack, args.out, pods=args.pods, progress=progress)
    except ConfigError as exc:  # the program's own report, one line per key: no traceback
        print(f"plan {args.stack}: nothing written: {exc}", file=sys.stderr)
        return BAD_INPUT
    except JavaMissingError as exc:
        print(f"plan {args.stack}: cannot render the Spark pods: {exc}; or run with --no-pods", file=sys.stderr)
        return BAD_INPUT
    except SparkRefusedError as exc:
        print(f"plan {args.stack}: nothing written: {exc}", file=sys.stderr)
        return BAD_INPUT
    except (StackNotFoundError, ForeignFilesError) as exc:
        print(f"plan {args.stack}: nothing written: {exc}", file=sys.stderr)
        return BAD_INPUT
    counts: dict[str, int] = {}
    for name in rendered:
        category = "pod" if name.startswith(f"{POD_DIR}/") and not name.endswith(INDEX) else file_category(name)
        if category:
            counts[category] = counts.get(category, 0) + 1
    total = sum(counts.values())
    if args.json:
        print(json.dumps({"stack": args.stack, "folder": str(folder), "total": total,
                          "counts": dict(sorted(counts.items())), "files": sorted(rendered)}, indent=2))
        return OK
    detail = ", ".join(f"{n} {c}" for c, n in sorted(counts.items()))
    print(f"plan {args.stack}: {total} files ({detail}) -> {folder}/")
    if args.verbose:
        for name in sorted(rendered):
            print(f"  {folder / name}")
    return OK


def main(argv: list[str] | None = None) -> int:
    """`python -m tools.plan`, kept for scripts that call it: the same flags and output as `sparkstack plan`."""
    parser = argparse.ArgumentParser(prog="python -m tools.plan", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

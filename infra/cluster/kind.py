"""A kind cluster as a typed Pulumi resource, backed by our own dynamic provider (there is no pulumi-kind).

The provider drives the `kind` CLI with a generated config. Pulumi pickles the provider object with dill
into the state and runs it later in a separate provider process (`python -m pulumi.dynamic`) whose sys.path
need not contain this repository. dill pickles a class or function *by reference* (module + name, i.e. an
import on load) whenever it finds it under its qualified name in an importable module, and by value
otherwise. So the whole provider (class, helpers, error type) is defined inside `_build_provider()`:
their qualified names contain `<locals>`, dill cannot locate them and stores their code in the state, and
the provider process needs only the stdlib, PyYAML and pulumi.

Rule for maintainers: code the provider calls must live inside that function; a module-level helper would be
pickled by reference and break `pulumi up`. tests/test_kind_cluster.py guards this by loading the pickled
provider in a process that cannot import this repository.

The function runs on first use (`provider_parts()`), never at import: mutation testing (mutmut) imports the
module before it switches a mutant on, so a body run at import could never be mutated, and tests could not tell
which of them exercise it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import pulumi
from pulumi.dynamic import ResourceProvider

DEFAULT_WAIT = "300s"
DEFAULT_KIND_PATH = "kind"
MountDicts = Sequence[Mapping[str, Any]]
Validator = Callable[[Mapping[str, Any]], list[tuple[str, str]]]
Renderer = Callable[[str, str, int, MountDicts], str]


def _build_provider() -> tuple[type[ResourceProvider], type[RuntimeError], Validator, Renderer]:
    """Define the provider and everything it calls in a local scope so dill pickles all of it by value.

    Returns the provider class, its error type, and the validator and renderer KindClusterArgs reuses.
    """
    import hashlib
    import json
    import re
    import shlex
    import subprocess
    import tempfile

    from pulumi.dynamic import (
        CheckFailure,
        CheckResult,
        CreateResult,
        DiffResult,
        ReadResult,
        UpdateResult,
    )

    # kind accepts `^[a-z0-9.-]+$` and warns above 50 characters (kind's pkg/internal/apis/config/validate.go,
    # pkg/cluster/internal/create/create.go), but `<name>-control-plane` is a container and node hostname, so it
    # must stay a 63-character DNS label: 49 characters, no dots.
    max_name_len = 63 - len("-control-plane")
    name_re = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
    repo_re = re.compile(r"[a-z0-9][a-z0-9._/:-]*")
    tag_re = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
    digest_re = re.compile(r"sha256:[0-9a-f]{64}")
    duration_part_re = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
    unit_seconds = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    mount_keys = ("host_path", "container_path", "read_only")
    # Changing any of these means a different cluster: kind cannot reconfigure nodes in place.
    replace_fields = ("name", "node_image", "workers", "extra_mounts")
    # These only affect how future kind commands run, so they update the state without touching the cluster.
    update_fields = ("wait", "kind_path", "guard_data")
    # The stack config keys behind the replace fields, for messages users can act on.
    config_keys = {"name": "cluster.name", "node_image": "cluster.nodeImage", "workers": "cluster.workers",
                   "extra_mounts": "cluster.extraMounts"}
    output_keys = (
        "name", "node_image", "workers", "extra_mounts", "wait", "kind_path",
        "guard_data", "config", "config_hash", "kubeconfig", "context", "endpoint",
    )  # fmt: skip
    stderr_tail_lines = 20
    query_timeout = 60
    delete_timeout = 300
    # The first create pulls a ~1 GB node image before `--wait` even starts counting.
    min_create_timeout = 900
    create_margin = 600

    class KindError(RuntimeError):
        """A kind command failed or its cluster is in a state we cannot handle automatically."""

    def duration_seconds(value: str) -> float | None:
        """Seconds in a Go duration ("300s", "5m", "1m30s"), or None if it is not one."""
        if not isinstance(value, str) or not value:
            return None
        pos, total = 0, 0.0
        while pos < len(value):
            match = duration_part_re.match(value, pos)
            if match is None:
                return None
            total += float(match.group(1)) * unit_seconds[match.group(2)]
            pos = match.end()
        return total

    def image_problem(image: Any) -> str | None:
        if not isinstance(image, str) or not image or any(c.isspace() for c in image):
            return f"must be an image reference such as kindest/node:v1.33.1, got {image!r}"
        ref, _, digest = image.partition("@")
        if digest and not digest_re.fullmatch(digest):
            return f"{image!r} has an invalid digest {digest!r} (expected sha256:<64 hex digits>)"
        repo, sep, tag = ref.rpartition(":")
        if not sep or "/" in tag:
            if not digest:
                return (f"{image!r} has no tag; pin one, e.g. kindest/node:v1.33.1 (node images are per version), "
                        "or a digest, e.g. kindest/node@sha256:<64 hex digits>")
            # A digest alone is the strongest pin (the content itself); kind and containerd accept it.
            repo, tag = ref, ""
        if not repo_re.fullmatch(repo):
            return f"{image!r} has an invalid repository {repo!r} (lowercase letters, digits, '._/:-')"
        if tag and not tag_re.fullmatch(tag):
            return f"{image!r} has an invalid tag {tag!r}"
        if tag == "latest":
            return f"{image!r} uses the mutable 'latest' tag; pin a version, e.g. kindest/node:v1.33.1"
        return None

    def mounts_problems(mounts: Any) -> list[str]:
        if not isinstance(mounts, (list, tuple)):
            return [f"must be a list of mounts (host_path, container_path, read_only), got {mounts!r}"]
        problems: list[str] = []
        seen: set[str] = set()
        for i, mount in enumerate(mounts):
            if not isinstance(mount, Mapping):
                problems.append(f"[{i}] must be a mapping with keys {', '.join(mount_keys)}")
                continue
            unknown = sorted(set(mount) - set(mount_keys))
            if unknown:
                problems.append(f"[{i}] has unknown keys {unknown}; expected {', '.join(mount_keys)}")
            for key in ("host_path", "container_path"):
                path = mount.get(key)
                if not isinstance(path, str) or not path.startswith("/"):
                    problems.append(
                        f"[{i}].{key} must be an absolute path (the provider process may run in another "
                        f"directory), got {path!r}"
                    )
            if not isinstance(mount.get("read_only", False), bool):
                problems.append(f"[{i}].read_only must be true or false, got {mount.get('read_only')!r}")
            container_path = mount.get("container_path")
            if isinstance(container_path, str):
                if container_path in seen:
                    problems.append(f"[{i}].container_path {container_path!r} is mounted twice on each node")
                seen.add(container_path)
        return problems

    def validate(props: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(property, reason) for every invalid input; shared by KindClusterArgs and the provider's check."""
        failures: list[tuple[str, str]] = []
        name = props.get("name")
        if not isinstance(name, str) or len(name) > max_name_len or not name_re.fullmatch(name):
            failures.append((
                "name",
                f"{name!r} is not a valid kind cluster name: use 1-{max_name_len} lowercase letters, digits "
                "and '-', starting and ending with a letter or digit",
            ))  # fmt: skip
        problem = image_problem(props.get("node_image"))
        if problem:
            failures.append(("node_image", problem))
        workers = props.get("workers")
        if isinstance(workers, bool) or not isinstance(workers, (int, float)) or workers < 0 or workers % 1:
            failures.append(("workers", f"must be a whole number >= 0, got {workers!r}"))
        failures.extend(("extra_mounts", p) for p in mounts_problems(props.get("extra_mounts", [])))
        wait = props.get("wait", "300s")
        if duration_seconds(wait) is None:
            failures.append(("wait", f"must be a duration for `kind create --wait` (300s, 5m), got {wait!r}"))
        kind_path = props.get("kind_path", "kind")
        if not isinstance(kind_path, str) or not kind_path.strip():
            failures.append(("kind_path", f"must be the kind executable's name or path, got {kind_path!r}"))
        return failures

    def normalize(props: Mapping[str, Any]) -> dict[str, Any]:
        """Canonical inputs: the wire makes ints floats and omits defaults, so diff these, not raw props."""
        workers = props.get("workers", 0)
        if isinstance(workers, float) and workers.is_integer():
            workers = int(workers)
        mounts = props.get("extra_mounts") or []
        return {
            "name": props.get("name"),
            "node_image": props.get("node_image"),
            "workers": workers,
            "extra_mounts": [
                {
                    "host_path": m.get("host_path"),
                    "container_path": m.get("container_path"),
                    "read_only": bool(m.get("read_only", False)),
                }
                if isinstance(m, Mapping)
                else m
                for m in (mounts if isinstance(mounts, (list, tuple)) else [mounts])
            ],
            "wait": props.get("wait") or "300s",
            "kind_path": props.get("kind_path") or "kind",
            "guard_data": bool(props.get("guard_data", False)),
        }

    def config_document(name: str, node_image: str, workers: int, extra_mounts: MountDicts) -> dict[str, Any]:
        mounts = [
            {
                "hostPath": m["host_path"],
                "containerPath": m["container_path"],
                "readOnly": bool(m.get("read_only")),
            }
            for m in extra_mounts
        ]

        def node(role: str) -> dict[str, Any]:
            spec: dict[str, Any] = {"role": role, "image": node_image}
            if mounts:
                # Every node gets every mount: a pod reading host data may land on any node.
                spec["extraMounts"] = [dict(m) for m in mounts]
            return spec

        return {
            "kind": "Cluster",
            "apiVersion": "kind.x-k8s.io/v1alpha4",
            "name": name,
            "nodes": [node("control-plane")] + [node("worker") for _ in range(int(workers))],
        }

    def render_config(name: str, node_image: str, workers: int, extra_mounts: MountDicts) -> str:
        """The kind config as YAML; deterministic (fixed key order) so its text and hash are stable."""
        import yaml

        document = config_document(name, node_image, workers, extra_mounts)
        return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)

    def config_hash(name: str, node_image: str, workers: int, extra_mounts: MountDicts) -> str:
        """Hash of the config's content, not its text: YAML formatting alone must not replace a cluster."""
        document = config_document(name, node_image, workers, extra_mounts)
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def tail(text: str) -> str:
        lines = (text or "").strip().splitlines()[-stderr_tail_lines:]
        return "\n".join(lines) if lines else "(no stderr)"

    def run(argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        """Run kind; any failure becomes a KindError naming the command, exit code and stderr tail."""
        command = shlex.join(argv)
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except FileNotFoundError as exc:
            raise KindError(
                f"cannot run `{command}`: executable {argv[0]!r} not found; install kind "
                "(https://kind.sigs.k8s.io) or set kind_path"
            ) from exc
        except OSError as exc:
            raise KindError(f"cannot run `{command}`: {exc}") from exc
        except subprocess.TimeoutExpired as exc:
            stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr
            message = f"`{command}` timed out after {timeout:.0f}s; stderr tail:\n{tail(stderr or '')}"
            raise KindError(message) from exc
        if proc.returncode != 0:
            message = f"`{command}` failed with exit code {proc.returncode}; stderr:\n{tail(proc.stderr)}"
            raise KindError(message)
        return proc

    def list_clusters(kind_path: str) -> set[str]:
        # kind prints "No kind clusters found." on stderr; guard against it on stdout anyway.
        out = run([kind_path, "get", "clusters"], query_timeout).stdout
        return {line.strip() for line in out.splitlines() if line.strip() and " " not in line.strip()}

    def get_kubeconfig(kind_path: str, name: str) -> tuple[str, str]:
        """(kubeconfig, API server URL) of a running cluster."""
        import yaml

        kubeconfig = run([kind_path, "get", "kubeconfig", "--name", name], query_timeout).stdout
        try:
            doc = yaml.safe_load(kubeconfig) or {}
            contexts = {c["name"]: c.get("context", {}) for c in doc.get("contexts") or []}
            clusters = {c["name"]: c.get("cluster", {}) for c in doc.get("clusters") or []}
            cluster_name = contexts.get(f"kind-{name}", {}).get("cluster", f"kind-{name}")
            cluster = clusters.get(cluster_name) or next(iter(clusters.values()), {})
            endpoint = cluster["server"]
        except (yaml.YAMLError, AttributeError, KeyError, TypeError) as exc:
            raise KindError(f"`kind get kubeconfig --name {name}`: unusable kubeconfig: {exc!r}") from exc
        return kubeconfig, endpoint

    def outputs(inputs: Mapping[str, Any], kubeconfig: str, endpoint: str) -> dict[str, Any]:
        args = (inputs["name"], inputs["node_image"], inputs["workers"], inputs["extra_mounts"])
        return {
            **inputs,
            "config": render_config(*args),
            "config_hash": config_hash(*args),
            "kubeconfig": kubeconfig,
            "context": f"kind-{inputs['name']}",
            "endpoint": endpoint,
        }

    def raise_if_invalid(props: Mapping[str, Any]) -> None:
        failures = validate(props)
        if failures:
            raise ValueError("invalid kind cluster inputs: " + "; ".join(f"{p}: {r}" for p, r in failures))

    class KindClusterProvider(ResourceProvider):
        """CRUD for one kind cluster; the resource id is the cluster name (unique per Docker host)."""

        # The pickled provider holds code and constants only, so it need not be stored as a secret.
        serialize_as_secret_always = False

        def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
            new = normalize(news)
            failures = [CheckFailure(prop, reason) for prop, reason in validate(new)]
            if olds.get("name") and new["guard_data"]:
                # Preview-time, before anything is deleted: a new cluster means a new Kubernetes provider, which
                # replaces every object, and the protected data claim makes that fail half-way.
                old = normalize(olds)
                for field in (f for f in replace_fields if old[f] != new[f]):
                    failures.append(CheckFailure(field, (
                        f"changing sparkstack:{config_keys[field]} replaces the kind cluster and every object on it, "
                        "including the protected data claim; copy the data out first, set "
                        "sparkstack:platform.storage.protectData to false, then run `pulumi up` again (README: "
                        f"'Changing the cluster'), or put {config_keys[field]} back")))
            return CheckResult(news, failures)

        def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
            old, new = normalize(olds), normalize(news)
            replaces = [field for field in replace_fields if old[field] != new[field]]
            if not replaces and olds.get("config_hash"):
                args = (new["name"], new["node_image"], new["workers"], new["extra_mounts"])
                try:
                    new_hash = config_hash(*args)
                except (KeyError, TypeError, ValueError):
                    new_hash = None
                if new_hash != olds["config_hash"]:
                    # Same inputs, but this code renders a different config than the one the cluster runs.
                    replaces.append("config")
            updates = [field for field in update_fields if old[field] != new[field]]
            return DiffResult(
                changes=bool(replaces or updates),
                replaces=replaces,
                # Two kind clusters cannot share a name, so a same-name replacement must delete first.
                delete_before_replace=bool(replaces) and old["name"] == new["name"],
            )

        def create(self, props: dict[str, Any]) -> CreateResult:
            inputs = normalize(props)
            raise_if_invalid(inputs)
            name, kind_path = inputs["name"], inputs["kind_path"]
            if name in list_clusters(kind_path):
                raise KindError(
                    f"a kind cluster named {name!r} already exists but is not in this stack's state. "
                    f"Delete it with `kind delete cluster --name {name}` and run again, or import it into "
                    "the stack instead of creating it."
                )
            config = render_config(name, inputs["node_image"], inputs["workers"], inputs["extra_mounts"])
            create_timeout = max(min_create_timeout, (duration_seconds(inputs["wait"]) or 0) + create_margin)
            with tempfile.TemporaryDirectory(prefix="kind-config-") as tmp:
                config_path = os.path.join(tmp, f"{name}.yaml")
                with open(config_path, "w", encoding="utf-8") as fh:
                    fh.write(config)
                argv = [kind_path, "create", "cluster", "--name", name, "--config", config_path]
                run([*argv, "--wait", inputs["wait"]], create_timeout)
            try:
                kubeconfig, endpoint = get_kubeconfig(kind_path, name)
            except Exception:
                # Create must be all-or-nothing: a cluster Pulumi does not record would block every retry.
                with contextlib.suppress(KindError):
                    run([kind_path, "delete", "cluster", "--name", name], delete_timeout)
                raise
            return CreateResult(id_=name, outs=outputs(inputs, kubeconfig, endpoint))

        def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
            name = props.get("name") or id_
            kind_path = props.get("kind_path") or "kind"
            if name not in list_clusters(kind_path):
                # An empty id tells the engine the resource is gone (e.g. `kind delete cluster` by hand).
                return ReadResult(id_=None, outs={})
            kubeconfig, endpoint = get_kubeconfig(kind_path, name)
            outs = {key: props[key] for key in output_keys if key in props}
            outs.update(name=name, kubeconfig=kubeconfig, endpoint=endpoint, context=f"kind-{name}")
            return ReadResult(id_=name, outs=outs)

        def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
            old, new = normalize(olds), normalize(news)
            changed = [field for field in replace_fields if old[field] != new[field]]
            if changed:
                raise KindError(f"changing {', '.join(changed)} needs a replacement, not an update")
            outs = {key: olds[key] for key in output_keys if key in olds}
            outs.update({field: new[field] for field in update_fields})
            return UpdateResult(outs=outs)

        def delete(self, id_: str, props: dict[str, Any]) -> None:
            name = props.get("name") or id_
            kind_path = props.get("kind_path") or "kind"
            # Idempotent: a cluster someone already deleted by hand is simply gone.
            if name in list_clusters(kind_path):
                run([kind_path, "delete", "cluster", "--name", name], delete_timeout)

    return KindClusterProvider, KindError, validate, render_config


class ProviderParts(NamedTuple):
    """What `_build_provider()` defines: the provider class, its error type, the validator and the renderer."""

    provider: type[ResourceProvider]
    error: type[RuntimeError]
    validate: Validator
    render: Renderer


@functools.cache
def provider_parts() -> ProviderParts:
    """The provider and its helpers, built once per process on first use (the module docstring says why)."""
    return ProviderParts(*_build_provider())


def validate_kind_props(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(property, reason) for every invalid input, exactly as the provider's check reports them."""
    return provider_parts().validate(props)


@dataclasses.dataclass(frozen=True)
class KindMount:
    """A host directory mounted into every node, so hostPath volumes see it whichever node a pod lands on."""

    host_path: str
    container_path: str
    read_only: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


MountLike = KindMount | Mapping[str, Any]


def _as_mount(mount: MountLike) -> KindMount:
    if isinstance(mount, KindMount):
        return mount
    if isinstance(mount, Mapping):
        unknown = sorted(set(mount) - {"host_path", "container_path", "read_only"})
        missing = [k for k in ("host_path", "container_path") if k not in mount]
        if unknown or missing:
            raise ValueError(
                f"invalid extra mount {dict(mount)!r}: expected keys host_path, container_path[, read_only]"
                + (f"; unknown {unknown}" if unknown else "")
                + (f"; missing {missing}" if missing else "")
            )
        return KindMount(mount["host_path"], mount["container_path"], mount.get("read_only", False))
    raise ValueError(f"invalid extra mount {mount!r}: expected a KindMount or a mapping")


def render_kind_config(
    name: str, node_image: str, workers: int, extra_mounts: Sequence[MountLike] = ()
) -> str:
    """The kind config YAML the provider passes to `kind create cluster --config` (pure; no validation)."""
    return provider_parts().render(name, node_image, workers, [_as_mount(m).to_dict() for m in extra_mounts])


@dataclasses.dataclass(frozen=True)
class KindClusterArgs:
    """Validated inputs of a KindCluster: invalid values fail at construction, before any kind command runs.

    A relative `host_path` is resolved against the current directory (the Pulumi program's), because the
    provider process that runs kind may have another working directory.
    """

    name: str
    node_image: str
    workers: int
    extra_mounts: Sequence[MountLike] = ()
    wait: str = DEFAULT_WAIT
    kind_path: str = DEFAULT_KIND_PATH
    # Refuse a change that replaces the cluster while data on it is protected (see the provider's check).
    guard_data: bool = False

    def __post_init__(self) -> None:
        mounts = tuple(_as_mount(m) for m in self.extra_mounts or ())
        mounts = tuple(
            dataclasses.replace(m, host_path=os.path.abspath(m.host_path))
            if isinstance(m.host_path, str) and m.host_path and not os.path.isabs(m.host_path)
            else m
            for m in mounts
        )
        object.__setattr__(self, "extra_mounts", mounts)
        failures = validate_kind_props(self.to_props())
        if failures:
            problems = "; ".join(f"{prop}: {reason}" for prop, reason in failures)
            raise ValueError(f"invalid KindClusterArgs: {problems}")

    def to_props(self) -> dict[str, Any]:
        """The provider's input property bag (plain values only: the provider validates and diffs them)."""
        return {
            "name": self.name,
            "node_image": self.node_image,
            "workers": self.workers,
            "extra_mounts": [_as_mount(m).to_dict() for m in self.extra_mounts],
            "wait": self.wait,
            "kind_path": self.kind_path,
            "guard_data": self.guard_data,
        }


class KindCluster(pulumi.dynamic.Resource):
    """A local Kubernetes cluster made by `kind`; `kubeconfig` (secret) feeds a pulumi_kubernetes Provider."""

    name: pulumi.Output[str]
    node_image: pulumi.Output[str]
    workers: pulumi.Output[int]
    config: pulumi.Output[str]
    config_hash: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    context: pulumi.Output[str]
    endpoint: pulumi.Output[str]

    def __init__(
        self, resource_name: str, args: KindClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if not isinstance(args, KindClusterArgs):
            raise TypeError(f"KindCluster expects KindClusterArgs, got {type(args).__name__}")
        already_secret = opts is not None and "kubeconfig" in (opts.additional_secret_outputs or [])
        secret = pulumi.ResourceOptions(additional_secret_outputs=[] if already_secret else ["kubeconfig"])
        opts = pulumi.ResourceOptions.merge(opts, secret)
        # None-valued props are not sent as inputs; listing them creates the output attributes.
        props: dict[str, Any] = {
            **args.to_props(),
            **{key: None for key in ("config", "config_hash", "kubeconfig", "context", "endpoint")},
        }
        super().__init__(provider_parts().provider(), resource_name, props, opts)

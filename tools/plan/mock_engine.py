"""Run the real Pulumi program under the SDK's mock engine and record everything it registers.

The one Pulumi harness: the tests and the offline plan (`tools/plan/render.py`, which is why it lives in tools/) drive
the program, or any component, through it, and the SDK internals it needs stay in this file. The recording keeps
what `pulumi preview` would see per resource: type, name, inputs (secrets still marked), parent, dependencies,
provider and options. Like the engine, it marks the outputs named in `additional_secret_outputs` as secret.
"""

from __future__ import annotations

import asyncio
import os
import runpy
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks, rpc
from pulumi.runtime.settings import set_root_resource
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "sparkstack"
FAKE_KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n"


@dataclass
class Registered:
    """One RegisterResource call, as the engine received it."""

    type: str
    name: str
    urn: str
    parent: str
    dependencies: list[str]
    provider: str
    inputs: dict[str, Any]
    custom: bool
    protect: bool
    delete_before_replace: bool
    replace_on_changes: list[str]
    additional_secret_outputs: list[str]
    custom_timeouts: dict[str, str]

    @property
    def plain_inputs(self) -> dict[str, Any]:
        """Inputs with secret markers removed (what the API server would receive)."""
        return unwrap(self.inputs)


@dataclass
class Recording:
    resources: list[Registered] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registered:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one {type_} {name or ''}, found {[r.name for r in found]}")
        return found[0]


def unwrap(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


IMAGE_TYPE = "docker-build:index:Image"


def stand_in_digest(inputs: dict) -> str:
    """No image is built offline: a digest derived from the build's inputs (Dockerfile, tags) stands in for the one
    the registry will report, so the plan shows where it goes; the plan's image file says it is a stand-in."""
    import hashlib
    import json

    return "sha256:" + hashlib.sha256(json.dumps(unwrap(inputs), sort_keys=True, default=str).encode()).hexdigest()


class StackMocks(pulumi.runtime.Mocks):
    """Echo inputs back as outputs, plus the few outputs the program reads from its resources."""

    spark_run_state = "COMPLETED"
    spark_run_message = ""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs)
        if args.typ == "pulumi-python:dynamic:Resource":
            name = unwrap(state.get("name", args.name))
            state.update({
                "kubeconfig": FAKE_KUBECONFIG,
                "context": f"kind-{name}",
                "endpoint": "https://127.0.0.1:6443",
                "config_hash": "0123456789ab",
            })
        if args.typ == IMAGE_TYPE:
            state["digest"] = stand_in_digest(state)
        if args.typ == "kubernetes:helm.sh/v3:Release":
            state["status"] = {"status": "deployed", "namespace": state.get("namespace"), "name": state.get("name")}
        if args.typ.endswith(":SparkApplication"):
            # What the provider reads back once a waited-for run has ended; a test may set another final state.
            state["status"] = {"applicationState": {"state": self.spark_run_state,
                                                    "errorMessage": self.spark_run_message}}
        metadata = state.get("metadata")
        if isinstance(metadata, dict) and "name" not in metadata:
            # The Kubernetes provider auto-names objects from the resource name plus a random suffix.
            state["metadata"] = {**metadata, "name": f"{args.name}-mock1234"}
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None


class RecordingMonitor(mocks.MockMonitor):
    def __init__(self, mock: pulumi.runtime.Mocks) -> None:
        super().__init__(mock)
        self.recording = Recording()

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.additionalSecretOutputs:
            # What the engine does with the option; the SDK's MockMonitor ignores it.
            state = rpc.deserialize_properties(response.object)
            for key in request.additionalSecretOutputs:
                if key in state and not rpc.is_rpc_secret(state[key]):
                    state[key] = rpc.wrap_rpc_secret(state[key])
            response.object.CopyFrom(_sync_await(rpc.serialize_properties(state, {})))
        if request.type != "pulumi:pulumi:Stack":
            timeouts = request.customTimeouts
            self.recording.resources.append(Registered(
                type=request.type,
                name=request.name,
                urn=response.urn,
                parent=request.parent,
                dependencies=list(request.dependencies),
                provider=request.provider,
                inputs=rpc.deserialize_properties(request.object),
                custom=request.custom,
                protect=request.protect,
                delete_before_replace=request.deleteBeforeReplace,
                replace_on_changes=list(request.replaceOnChanges),
                additional_secret_outputs=list(request.additionalSecretOutputs),
                custom_timeouts={k: v for k, v in
                                 (("create", timeouts.create), ("update", timeouts.update),
                                  ("delete", timeouts.delete)) if v},
            ))
        return response

    def RegisterResourceOutputs(self, request):  # noqa: N802
        if "::pulumi:pulumi:Stack::" in request.urn:
            self.recording.outputs = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)


def stack_config(stack: str, root: Path = ROOT) -> dict[str, Any]:
    """The `config:` block of `Pulumi.<stack>.yaml`, as the CLI would hand it to the program."""
    path = root / f"Pulumi.{stack}.yaml"
    return (yaml.safe_load(path.read_text()) or {}).get("config", {}) if path.exists() else {}


def _as_engine_config(config: dict[str, Any]) -> dict[str, str]:
    """The CLI passes structured values as JSON strings; plain strings stay as they are."""
    import json

    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def run_program(
    config: dict[str, Any],
    stack: str = "dev",
    secret_keys: list[str] | None = None,
    program: Callable[[], None] | None = None,
    preview: bool = False,
    spark_run: tuple[str, str] = ("COMPLETED", ""),
) -> Recording:
    """Run `__main__.py` (or `program`) under mocks with the given config; return what it registered.

    `spark_run` is the final state and message every SparkApplication reads back (what the operator wrote)."""
    try:  # the SDK's sync helpers need a current loop; a test that ran asyncio.run() may have left none
        asyncio.get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
    engine = StackMocks()
    engine.spark_run_state, engine.spark_run_message = spark_run
    monitor = RecordingMonitor(engine)
    pulumi.runtime.set_all_config(_as_engine_config(config), secret_keys or [])
    mocks.set_mocks(engine, project=PROJECT, stack=stack, preview=preview, monitor=monitor)
    monitor.mocks = engine

    def main() -> None:
        if program is not None:
            program()
            return
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        with _cwd(ROOT):
            runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    set_root_resource(None)  # set_mocks made a throwaway root stack; run_in_stack makes the real one
    try:
        _sync_await(run_in_stack(main))
    except BaseException as exc:
        exc.recording = monitor.recording  # type: ignore[attr-defined]  # lets tests check nothing was created
        raise
    finally:
        pulumi.runtime.set_all_config({}, [])
    return monitor.recording

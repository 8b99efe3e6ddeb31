"""KindCluster: config rendering, args validation, provider CRUD against a fake `kind`, the resource under
the SDK's mocks, and the pickled provider loaded the way `pulumi up` does (by a process without this repo)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import select
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import grpc
import pulumi
import pytest
import yaml
from pulumi.dynamic.dynamic import serialize_provider

from infra.cluster.kind import (
    KindCluster,
    KindClusterArgs,
    KindMount,
    provider_parts,
    render_kind_config,
)
from tools.plan.mock_engine import run_program

FAKE_KIND = Path(__file__).parent / "fakes" / "kind"
REPO = Path(__file__).resolve().parents[1]
IMAGE = "kindest/node:v1.33.1"

# The floating tag the provider must refuse (test input only; nothing deploys it).
UNPINNED = "latest"


class FakeKind:
    """The fake kind's state dir, as the tests see it."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.state = root / "state"
        self.path = self.bin / "kind"

    def calls(self) -> list[dict[str, Any]]:
        log = self.state / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def argvs(self) -> list[list[str]]:
        return [call["argv"] for call in self.calls()]

    def clusters(self) -> list[str]:
        return sorted(p.stem for p in (self.state / "clusters").glob("*.json"))

    def delete_by_hand(self, name: str) -> None:
        (self.state / "clusters" / f"{name}.json").unlink()

    def reset_log(self) -> None:
        (self.state / "calls.jsonl").unlink(missing_ok=True)

    def env(self) -> dict[str, str]:
        return {"PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}", "FAKE_KIND_STATE": str(self.state)}


@pytest.fixture
def fake_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKind:
    """`kind` on PATH is the fake, run by this interpreter (no dependence on a python3 on PATH)."""
    fake = FakeKind(tmp_path / "fake-kind")
    fake.bin.mkdir(parents=True)
    source = FAKE_KIND.read_text().split("\n", 1)[1]
    fake.path.write_text(f"#!{sys.executable}\n{source}")
    fake.path.chmod(0o755)
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("FAKE_KIND_FAIL", raising=False)
    return fake


def props(**overrides: Any) -> dict[str, Any]:
    args = {
        "name": "demo",
        "node_image": IMAGE,
        "workers": 2,
        "extra_mounts": [KindMount("/srv/data", "/data", read_only=True)],
    }
    args.update(overrides)
    return KindClusterArgs(**args).to_props()


def KindClusterProvider() -> Any:  # noqa: N802 - stands in for the class, built on first use
    return provider_parts().provider()


def kind_error() -> type[RuntimeError]:
    return provider_parts().error


@pytest.fixture
def provider() -> Any:
    return KindClusterProvider()


# --- config and args ------------------------------------------------------------------------------------


def test_render_kind_config_has_control_plane_workers_images_and_mounts_on_every_node() -> None:
    mounts = [
        KindMount("/srv/data", "/data", read_only=True),
        {"host_path": "/tmp/s", "container_path": "/s"},
    ]
    text = render_kind_config("demo", IMAGE, 2, mounts)
    doc = yaml.safe_load(text)
    assert doc["kind"] == "Cluster"
    assert doc["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert doc["name"] == "demo"
    assert [n["role"] for n in doc["nodes"]] == ["control-plane", "worker", "worker"]
    expected_mounts = [
        {"hostPath": "/srv/data", "containerPath": "/data", "readOnly": True},
        {"hostPath": "/tmp/s", "containerPath": "/s", "readOnly": False},
    ]
    for node in doc["nodes"]:
        assert node["image"] == IMAGE
        assert node["extraMounts"] == expected_mounts
    assert render_kind_config("demo", IMAGE, 2, mounts) == text  # deterministic


def test_render_kind_config_without_mounts_or_workers() -> None:
    assert render_kind_config("solo", IMAGE, 0) == textwrap.dedent(f"""\
        kind: Cluster
        apiVersion: kind.x-k8s.io/v1alpha4
        name: solo
        nodes:
        - role: control-plane
          image: {IMAGE}
        """)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "Demo"}, "not a valid kind cluster name"),
        ({"name": "-demo"}, "not a valid kind cluster name"),
        ({"name": "a" * 50}, "not a valid kind cluster name"),
        ({"node_image": "kindest/node"}, "has no tag"),
        ({"node_image": "localhost:5000/kindest/node"}, "has no tag"),
        ({"node_image": f"kindest/node:{UNPINNED}"}, "'latest'"),
        ({"node_image": "kindest/node:v1.33.1@sha256:beef"}, "invalid digest"),
        ({"node_image": "kindest/node@sha256:beef"}, "invalid digest"),
        ({"node_image": "Kindest/node@sha256:" + "a" * 64}, "invalid repository"),
        ({"workers": -1}, "workers: must be a whole number >= 0"),
        ({"workers": True}, "workers: must be a whole number >= 0"),
        ({"wait": "5 minutes"}, "wait: must be a duration"),
        ({"kind_path": ""}, "kind_path"),
        ({"extra_mounts": [KindMount("/a", "data")]}, "container_path must be an absolute path"),
        ({"extra_mounts": [KindMount("/a", "/d"), KindMount("/b", "/d")]}, "mounted twice"),
    ],
)
def test_args_validation_errors(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="invalid KindClusterArgs") as excinfo:
        props(**overrides)
    assert message in str(excinfo.value)


def test_args_accept_pinned_images_and_resolve_relative_host_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    digest = "sha256:" + "a" * 64
    args = KindClusterArgs(
        "demo",
        f"localhost:5000/kindest/node:v1.33.1@{digest}",
        0,
        extra_mounts=[{"host_path": "data", "container_path": "/data"}],
        wait="1m30s",
    )
    assert args.extra_mounts == (KindMount(str(tmp_path / "data"), "/data", False),)
    # A digest alone (no tag) is the strongest pin, with or without a registry port.
    for image in (f"kindest/node@{digest}", f"localhost:5000/kindest/node@{digest}"):
        assert KindClusterArgs("demo", image, 0).node_image == image
    with pytest.raises(ValueError, match="unknown"):
        KindClusterArgs("demo", IMAGE, 0, extra_mounts=[{"hostPath": "/a", "containerPath": "/b"}])


def test_the_provider_takes_names_of_at_most_49_characters(provider) -> None:
    """`<name>-control-plane` is a node's hostname, a DNS label of at most 63 characters: 63 - 14 = 49."""
    longest = props(name="a" * 49)
    assert provider.check({}, longest).failures == []
    assert [f.property for f in provider.check({}, {**longest, "name": "a" * 50}).failures] == ["name"]


def test_check_reports_failures_per_property(provider) -> None:
    result = provider.check({}, {"name": "Bad", "node_image": f"x:{UNPINNED}", "workers": 1, "extra_mounts": []})
    assert sorted(f.property for f in result.failures) == ["name", "node_image"]
    assert provider.check({}, props()).failures == []


def test_check_refuses_a_cluster_replacement_while_data_is_protected(provider) -> None:
    """Preview-time: a new cluster replaces every Kubernetes object, which a protected claim makes fail half-way."""
    old = props(guard_data=True)
    result = provider.check(old, props(workers=3, guard_data=True))
    assert [f.property for f in result.failures] == ["workers"]
    assert "sparkstack:cluster.workers" in result.failures[0].reason
    assert "sparkstack:platform.storage.protectData" in result.failures[0].reason
    assert provider.check(old, props(workers=3, guard_data=False)).failures == []  # unprotected: replace is fine
    assert provider.check(old, props(wait="600s", guard_data=True)).failures == []  # no replacement
    assert provider.check({}, props(guard_data=True)).failures == []  # first create


# --- provider CRUD against the fake kind -----------------------------------------------------------------


def test_create_runs_kind_with_generated_config_and_returns_outputs(fake_kind: FakeKind, provider) -> None:
    inputs = props()
    result = provider.create(inputs)

    argvs = fake_kind.argvs()
    assert argvs[0] == ["get", "clusters"]
    create = argvs[1]
    assert create[:6] == ["create", "cluster", "--name", "demo", "--config", create[5]]
    assert create[6:] == ["--wait", "300s"]
    assert argvs[2:] == [["get", "kubeconfig", "--name", "demo"]]
    assert not Path(create[5]).exists(), "the temporary config file must be cleaned up"

    config = yaml.safe_load(fake_kind.calls()[1]["config"])
    assert [(n["role"], n["image"]) for n in config["nodes"]] == [
        ("control-plane", IMAGE),
        ("worker", IMAGE),
        ("worker", IMAGE),
    ]
    assert all(
        n["extraMounts"] == [{"hostPath": "/srv/data", "containerPath": "/data", "readOnly": True}]
        for n in config["nodes"]
    )

    assert result.id == "demo"
    outs = result.outs
    assert (
        outs["config"]
        == fake_kind.calls()[1]["config"]
        == render_kind_config("demo", IMAGE, 2, [KindMount("/srv/data", "/data", True)])
    )
    assert len(outs["config_hash"]) == 64
    assert outs["context"] == "kind-demo"
    assert outs["endpoint"].startswith("https://127.0.0.1:")
    kubeconfig = yaml.safe_load(outs["kubeconfig"])
    assert kubeconfig["current-context"] == "kind-demo"
    assert kubeconfig["clusters"][0]["cluster"]["server"] == outs["endpoint"]
    assert {k: outs[k] for k in ("name", "node_image", "workers", "wait", "kind_path")} == {
        "name": "demo",
        "node_image": IMAGE,
        "workers": 2,
        "wait": "300s",
        "kind_path": "kind",
    }
    assert fake_kind.clusters() == ["demo"]


def test_create_uses_kind_path_and_wait(fake_kind: FakeKind, provider, monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    provider.create(props(kind_path=str(fake_kind.path), wait="10m"))
    assert fake_kind.argvs()[1][-2:] == ["--wait", "10m"]


def test_create_refuses_a_cluster_that_already_exists(fake_kind: FakeKind, provider) -> None:
    provider.create(props())
    fake_kind.reset_log()
    with pytest.raises(kind_error(), match=r"already exists.*kind delete cluster --name demo"):
        provider.create(props())
    assert fake_kind.argvs() == [["get", "clusters"]], "must not touch the existing cluster"


def test_failing_kind_raises_with_command_exit_code_and_stderr(
    fake_kind: FakeKind, provider, monkeypatch
) -> None:
    monkeypatch.setenv("FAKE_KIND_FAIL", "create")
    with pytest.raises(kind_error()) as excinfo:
        provider.create(props())
    message = str(excinfo.value)
    assert "kind create cluster --name demo --config" in message
    assert "exit code 1" in message
    assert "ERROR: failed to create cluster: boom" in message
    assert fake_kind.clusters() == []


def test_missing_kind_executable_is_a_clear_error(provider, tmp_path: Path) -> None:
    with pytest.raises(kind_error(), match="not found; install kind"):
        provider.create(props(kind_path=str(tmp_path / "no-such-kind")))


def test_read_refreshes_kubeconfig_and_notices_a_hand_deleted_cluster(fake_kind: FakeKind, provider) -> None:
    outs = provider.create(props()).outs
    stale = {**outs, "kubeconfig": "stale", "endpoint": "https://old", "__provider": "opaque"}
    read = provider.read("demo", stale)
    assert read.id == "demo"
    assert read.outs == outs

    fake_kind.delete_by_hand("demo")
    gone = provider.read("demo", outs)
    assert not gone.id
    assert gone.outs == {}


def test_delete_is_idempotent(fake_kind: FakeKind, provider) -> None:
    outs = provider.create(props()).outs
    fake_kind.reset_log()
    provider.delete("demo", outs)
    assert fake_kind.argvs() == [["get", "clusters"], ["delete", "cluster", "--name", "demo"]]
    assert fake_kind.clusters() == []
    fake_kind.reset_log()
    provider.delete("demo", outs)
    assert fake_kind.argvs() == [["get", "clusters"]]


# --- diff and update ------------------------------------------------------------------------------------


@pytest.fixture
def created(fake_kind: FakeKind, provider) -> dict[str, Any]:
    return provider.create(props()).outs


def test_diff_identical_inputs_is_no_change(provider, created) -> None:
    # Numbers come back from the engine as floats; that is not a change.
    result = provider.diff("demo", {**created, "workers": 2.0}, props())
    assert result.changes is False
    assert result.replaces == []


@pytest.mark.parametrize(
    ("overrides", "replaced"),
    [
        ({"node_image": "kindest/node:v1.32.5"}, ["node_image"]),
        ({"workers": 3}, ["workers"]),
        ({"extra_mounts": []}, ["extra_mounts"]),
        ({"extra_mounts": [KindMount("/srv/data", "/data", read_only=False)]}, ["extra_mounts"]),
        ({"workers": 0, "node_image": "kindest/node:v1.32.5"}, ["node_image", "workers"]),
    ],
)
def test_diff_replaces_on_cluster_shape_changes(provider, created, overrides, replaced) -> None:
    result = provider.diff("demo", created, props(**overrides))
    assert result.changes is True
    assert result.replaces == replaced
    assert result.delete_before_replace is True, "the same name cannot exist twice"


def test_diff_rename_creates_before_deleting(provider, created) -> None:
    result = provider.diff("demo", created, props(name="demo2"))
    assert result.replaces == ["name"]
    assert result.delete_before_replace is False


def test_diff_replaces_when_the_rendered_config_changed_for_the_same_inputs(provider, created) -> None:
    result = provider.diff("demo", {**created, "config_hash": "0" * 64}, props())
    assert result.replaces == ["config"]


def test_wait_and_kind_path_changes_update_in_place(fake_kind: FakeKind, provider, created) -> None:
    news = props(wait="10m", kind_path=str(fake_kind.path))
    result = provider.diff("demo", created, news)
    assert (result.changes, result.replaces) == (True, [])
    fake_kind.reset_log()
    outs = provider.update("demo", created, news).outs
    assert outs == {**created, "wait": "10m", "kind_path": str(fake_kind.path)}
    assert fake_kind.argvs() == [], "an update does not touch the cluster"
    with pytest.raises(kind_error(), match="needs a replacement"):
        provider.update("demo", created, props(workers=5))


# --- the resource under the SDK's mocks -----------------------------------------------------------------


def test_kind_cluster_under_mocks_has_secret_kubeconfig_and_pinned_image() -> None:
    seen: dict[str, Any] = {}

    def program() -> None:
        cluster = KindCluster(
            "kind",
            KindClusterArgs("demo", IMAGE, 1, extra_mounts=[KindMount("/srv/data", "/data")]),
            opts=pulumi.ResourceOptions(protect=True, additional_secret_outputs=["endpoint"]),
        )
        pulumi.Output.all(cluster.kubeconfig, cluster.context, cluster.workers).apply(
            lambda values: seen.update(kubeconfig=values[0], context=values[1], workers=values[2]))
        # Secret only because the engine applies additional_secret_outputs (the harness does what it does).
        pulumi.Output.from_input(cluster.kubeconfig.is_secret()).apply(lambda s: seen.update(secret=s))

    recording = run_program({}, program=program)
    registered = recording.one("pulumi-python:dynamic:Resource")
    assert registered.name == "kind"
    inputs = registered.plain_inputs
    assert inputs["node_image"] == IMAGE
    assert inputs["extra_mounts"] == [{"host_path": "/srv/data", "container_path": "/data", "read_only": False}]
    assert "__provider" in inputs
    # The pickled provider is code and constants only: stored in plain text, so previews can diff it.
    from pulumi.runtime import rpc
    assert not rpc.is_rpc_secret(registered.inputs["__provider"])
    assert "kubeconfig" not in inputs
    assert sorted(registered.additional_secret_outputs) == ["endpoint", "kubeconfig"], "caller's options are merged"
    assert registered.protect is True
    assert seen["secret"] is True
    assert seen["context"] == "kind-demo"
    assert int(seen["workers"]) == 1


def test_kind_cluster_requires_typed_args() -> None:
    with pytest.raises(TypeError, match="KindClusterArgs"):
        KindCluster("kind", {"name": "demo"})  # type: ignore[arg-type]


# --- the provider as the real provider process loads it --------------------------------------------------


def _isolated_env(fake: FakeKind | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PULUMI"))}
    if fake is not None:
        env.update(fake.env())
    return env


def test_pickled_provider_loads_and_diffs_in_a_process_that_cannot_import_the_repo(tmp_path: Path) -> None:
    serialized = serialize_provider(KindClusterProvider())
    (tmp_path / "provider.b64").write_text(serialized)
    script = textwrap.dedent("""
        import base64, json, sys
        import dill
        try:
            import infra
        except ImportError:
            importable = False
        else:
            importable = True
        provider = dill.loads(base64.b64decode(open("provider.b64").read()))
        olds = json.loads(sys.argv[1])
        news = dict(olds, workers=olds["workers"] + 1)
        same, changed = provider.diff("demo", olds, olds), provider.diff("demo", olds, news)
        print(json.dumps({
            "repo_importable": importable,
            "sys_path": sys.path,
            "class": type(provider).__qualname__,
            "same": [same.changes, same.replaces],
            "changed": [changed.changes, changed.replaces, changed.delete_before_replace],
        }))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(props())],
        cwd=tmp_path,
        env=_isolated_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["repo_importable"] is False
    assert not any(str(REPO) == p or p.startswith(f"{REPO}{os.sep}infra") for p in result["sys_path"])
    assert result["class"].endswith("<locals>.KindClusterProvider")
    assert result["same"] == [False, []]
    assert result["changed"] == [True, ["workers"], True]


def test_serialized_provider_is_stable_across_processes() -> None:
    """A provider blob that changed on every run would show `__provider` as changed on every preview."""
    code = (
        "from pulumi.dynamic.dynamic import serialize_provider;"
        "from infra.cluster.kind import provider_parts;"
        "print(serialize_provider(provider_parts().provider()))"
    )
    env = {**_isolated_env(), "PYTHONHASHSEED": "7"}
    other = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert other.stdout.strip() == serialize_provider(KindClusterProvider())


def test_real_dynamic_provider_server_runs_the_full_lifecycle(tmp_path: Path, fake_kind: FakeKind) -> None:
    """Drive `python -m pulumi.dynamic` (what the engine launches) over gRPC, from outside the repo."""
    from pulumi.runtime import proto, rpc
    from pulumi.runtime.proto import provider_pb2_grpc

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.dynamic"],
        cwd=workdir,
        env=_isolated_env(fake_kind),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([server.stdout], [], [], 30)
        assert ready, "the provider server did not print its port"
        port = int(server.stdout.readline().strip())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        urn = "urn:pulumi:dev::sparkstack::pulumi-python:dynamic:Resource::kind"
        blob = serialize_provider(KindClusterProvider())

        def struct(values: dict[str, Any]) -> Any:
            return asyncio.run(rpc.serialize_properties({**values, "__provider": blob}, {}))

        def plain(message: Any) -> dict[str, Any]:
            values = rpc.deserialize_properties(message)
            values.pop("__provider", None)
            return values

        inputs = props()
        check = stub.Check(proto.CheckRequest(urn=urn, olds=struct({}), news=struct(inputs)), timeout=30)
        assert list(check.failures) == []
        bad = stub.Check(proto.CheckRequest(urn=urn, olds=struct({}), news=struct({**inputs, "name": "X"})))
        assert [f.property for f in bad.failures] == ["name"]

        created = stub.Create(proto.CreateRequest(urn=urn, properties=struct(inputs)), timeout=60)
        outs = plain(created.properties)
        assert created.id == "demo"
        assert outs["context"] == "kind-demo"
        assert outs["endpoint"].startswith("https://127.0.0.1:")
        assert fake_kind.clusters() == ["demo"]

        same = stub.Diff(proto.DiffRequest(id="demo", urn=urn, olds=struct(outs), news=struct(inputs)))
        assert same.changes == proto.DiffResponse.DIFF_NONE
        grown = struct({**inputs, "workers": 3})
        diff = stub.Diff(proto.DiffRequest(id="demo", urn=urn, olds=struct(outs), news=grown))
        assert diff.changes == proto.DiffResponse.DIFF_SOME
        assert list(diff.replaces) == ["workers"]
        assert diff.deleteBeforeReplace is True

        read = stub.Read(proto.ReadRequest(id="demo", urn=urn, properties=struct(outs)), timeout=30)
        assert read.id == "demo"
        assert plain(read.properties)["kubeconfig"] == outs["kubeconfig"]

        stub.Delete(proto.DeleteRequest(id="demo", urn=urn, properties=struct(outs)), timeout=60)
        assert fake_kind.clusters() == []
        stub.Delete(proto.DeleteRequest(id="demo", urn=urn, properties=struct(outs)), timeout=60)
        gone = stub.Read(proto.ReadRequest(id="demo", urn=urn, properties=struct(outs)), timeout=30)
        assert gone.id == "", "an empty id is how the engine learns the cluster is gone"
        channel.close()
    finally:
        server.terminate()
        try:
            _, stderr = server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            _, stderr = server.communicate()
    assert "ModuleNotFoundError" not in stderr


def test_fake_kind_is_executable_by_hand() -> None:
    """The repo copy stays runnable directly (`FAKE_KIND_STATE=/tmp/k tests/fakes/kind get clusters`)."""
    assert os.access(FAKE_KIND, os.X_OK)
    assert FAKE_KIND.read_text().startswith("#!/usr/bin/env python3\n")


def _created_hash(provider: Any, cluster_props: dict[str, Any]) -> tuple[str, str]:
    """(config_hash, the config kind received) of one create, deleting the cluster after it."""
    result = provider.create(cluster_props)
    provider.delete(result.id, result.outs)
    return result.outs["config_hash"], result.outs["config"]


def test_config_hash_is_of_what_kind_receives_and_changes_with_every_input_that_defines_the_cluster(
        fake_kind: FakeKind, provider) -> None:
    base, config = _created_hash(provider, props())
    canonical = json.dumps(yaml.safe_load(fake_kind.calls()[1]["config"]), sort_keys=True, separators=(",", ":"))
    assert base == hashlib.sha256(canonical.encode()).hexdigest()
    assert config == fake_kind.calls()[1]["config"]
    variants = {
        "name": props(name="other"),
        "node image": props(node_image="kindest/node:v1.32.5"),
        "workers": props(workers=1),
        "no mounts": props(extra_mounts=[]),
        "a writable mount": props(extra_mounts=[KindMount("/srv/data", "/data", read_only=False)]),
        "another host path": props(extra_mounts=[KindMount("/srv/other", "/data", read_only=True)]),
        "another container path": props(extra_mounts=[KindMount("/srv/data", "/mnt", read_only=True)]),
    }
    hashes = {what: _created_hash(provider, variant)[0] for what, variant in variants.items()}
    assert [what for what, value in hashes.items() if value == base] == []
    assert len(set(hashes.values())) == len(hashes)
    # How kind is run is not the cluster: the same cluster, the same hash.
    assert _created_hash(provider, props(wait="10m"))[0] == base


@pytest.mark.parametrize(("path", "accessor"), [("infra/cluster/kind.py", "provider_parts"),
                                                ("infra/images/kind_load.py", "provider_class")])
def test_importing_a_provider_module_does_not_build_the_provider(
        path: str, accessor: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Built at import, the provider's code could never be mutated: mutmut imports before it switches a mutant on."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"fresh_{accessor}", REPO / path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    cached = getattr(module, accessor)
    assert cached.cache_info().currsize == 0
    built = cached()
    assert cached.cache_info().currsize == 1 and cached() is built, "one build per process, then the cache"


# --- the provider's rules, in process (kind replaced by a scripted subprocess.run) -----------------------

DIGEST = "sha256:" + "0123456789abcdef" * 4


class ScriptedKind:
    """`subprocess.run` for the provider, in process: records each call's argv and timeout and answers from
    `answers` (first argv words -> CompletedProcess fields, or an exception to raise)."""

    def __init__(self, answers: dict[tuple[str, ...], Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[list[str], float]] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        assert kwargs == {"capture_output": True, "text": True, "timeout": kwargs["timeout"], "check": False}
        self.calls.append((list(argv), kwargs["timeout"]))
        for words, answer in self.answers.items():
            if tuple(argv[1:1 + len(words)]) == words:
                if isinstance(answer, BaseException):
                    raise answer
                stdout, stderr, code = answer
                return subprocess.CompletedProcess(argv, code, stdout, stderr)
        return subprocess.CompletedProcess(argv, 0, "", "")


KUBECONFIG_DEMO = yaml.safe_dump({
    "clusters": [{"name": "first", "cluster": {"server": "https://first:1"}},
                 {"name": "ours", "cluster": {"server": "https://ours:2"}}],
    "contexts": [{"name": "kind-demo", "context": {"cluster": "ours", "user": "u"}}],
})


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch):
    def install(answers: dict[tuple[str, ...], Any] | None = None) -> ScriptedKind:
        fake = ScriptedKind({("get", "clusters"): ("", "No kind clusters found.\n", 0),
                             ("get", "kubeconfig"): (KUBECONFIG_DEMO, "", 0), **(answers or {})})
        monkeypatch.setattr(subprocess, "run", fake)
        return fake
    return install


def failures(**raw: Any) -> list[tuple[str, str]]:
    """The validator's findings for the defaults of `props()` with `raw` values put in unchecked."""
    from infra.cluster.kind import validate_kind_props

    return validate_kind_props({**props(), **raw})


ABOUT_NAME = ("is not a valid kind cluster name: use 1-49 lowercase letters, digits and '-', starting and ending "
              "with a letter or digit")


@pytest.mark.parametrize(("raw", "expected"), [
    ({"name": "Demo"}, [("name", f"'Demo' {ABOUT_NAME}")]),
    ({"name": None}, [("name", f"None {ABOUT_NAME}")]),
    ({"name": "demo-"}, [("name", f"'demo-' {ABOUT_NAME}")]),
    ({"node_image": ""}, [("node_image", "must be an image reference such as kindest/node:v1.33.1, got ''")]),
    ({"node_image": 5}, [("node_image", "must be an image reference such as kindest/node:v1.33.1, got 5")]),
    ({"node_image": "kindest/node :v1"},
     [("node_image", "must be an image reference such as kindest/node:v1.33.1, got 'kindest/node :v1'")]),
    ({"node_image": "kindest/node:v1@sha256:beef"},
     [("node_image", "'kindest/node:v1@sha256:beef' has an invalid digest 'sha256:beef' "
                     "(expected sha256:<64 hex digits>)")]),
    ({"node_image": "kindest/node"},
     [("node_image", "'kindest/node' has no tag; pin one, e.g. kindest/node:v1.33.1 (node images are per "
                     "version), or a digest, e.g. kindest/node@sha256:<64 hex digits>")]),
    ({"node_image": "Kindest/node:v1"},
     [("node_image", "'Kindest/node:v1' has an invalid repository 'Kindest/node' (lowercase letters, digits, "
                     "'._/:-')")]),
    ({"node_image": "kindest/node:-v1"}, [("node_image", "'kindest/node:-v1' has an invalid tag '-v1'")]),
    ({"node_image": "kindest/node:" + "v" * 129},
     [("node_image", f"'kindest/node:{'v' * 129}' has an invalid tag '{'v' * 129}'")]),
    ({"node_image": f"kindest/node:{UNPINNED}"},
     [("node_image", "'kindest/node:latest' uses the mutable 'latest' tag; pin a version, e.g. "
                     "kindest/node:v1.33.1")]),
    ({"workers": -1}, [("workers", "must be a whole number >= 0, got -1")]),
    ({"workers": 1.5}, [("workers", "must be a whole number >= 0, got 1.5")]),
    ({"workers": False}, [("workers", "must be a whole number >= 0, got False")]),
    ({"workers": "2"}, [("workers", "must be a whole number >= 0, got '2'")]),
    ({"extra_mounts": "/data"},
     [("extra_mounts", "must be a list of mounts (host_path, container_path, read_only), got '/data'")]),
    ({"extra_mounts": ["/data"]},
     [("extra_mounts", "[0] must be a mapping with keys host_path, container_path, read_only")]),
    ({"extra_mounts": [{"host_path": "/a", "container_path": "/b", "hostPath": "/a"}]},
     [("extra_mounts", "[0] has unknown keys ['hostPath']; expected host_path, container_path, read_only")]),
    ({"extra_mounts": [{"host_path": "data", "container_path": "/b"}]},
     [("extra_mounts", "[0].host_path must be an absolute path (the provider process may run in another "
                       "directory), got 'data'")]),
    ({"extra_mounts": [{"container_path": "/b"}]},
     [("extra_mounts", "[0].host_path must be an absolute path (the provider process may run in another "
                       "directory), got None")]),
    ({"extra_mounts": [{"host_path": "/a", "container_path": "/b", "read_only": "yes"}]},
     [("extra_mounts", "[0].read_only must be true or false, got 'yes'")]),
    ({"extra_mounts": [{"host_path": "/a", "container_path": "/d"}, {"host_path": "/b", "container_path": "/e"},
                       {"host_path": "/c", "container_path": "/d"}]},
     [("extra_mounts", "[2].container_path '/d' is mounted twice on each node")]),
    ({"wait": "5 minutes"}, [("wait", "must be a duration for `kind create --wait` (300s, 5m), got '5 minutes'")]),
    ({"wait": "300"}, [("wait", "must be a duration for `kind create --wait` (300s, 5m), got '300'")]),
    ({"wait": "1d"}, [("wait", "must be a duration for `kind create --wait` (300s, 5m), got '1d'")]),
    ({"wait": "5m x"}, [("wait", "must be a duration for `kind create --wait` (300s, 5m), got '5m x'")]),
    ({"wait": 300}, [("wait", "must be a duration for `kind create --wait` (300s, 5m), got 300")]),
    ({"wait": ""}, [("wait", "must be a duration for `kind create --wait` (300s, 5m), got ''")]),
    ({"kind_path": " "}, [("kind_path", "must be the kind executable's name or path, got ' '")]),
    ({"kind_path": None}, [("kind_path", "must be the kind executable's name or path, got None")]),
    ({"name": "X", "workers": -1, "wait": "soon"}, [
        ("name", f"'X' {ABOUT_NAME}"), ("workers", "must be a whole number >= 0, got -1"),
        ("wait", "must be a duration for `kind create --wait` (300s, 5m), got 'soon'")]),
])
def test_every_invalid_input_is_named_with_the_fix(raw: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert failures(**raw) == expected


@pytest.mark.parametrize("raw", [
    {"name": "a"}, {"name": "a1-b2"}, {"workers": 0}, {"workers": 3.0}, {"extra_mounts": []},
    {"extra_mounts": ({"host_path": "/a", "container_path": "/b", "read_only": True},)},
    {"node_image": f"kindest/node@{DIGEST}"}, {"node_image": "kindest/node:" + "v" * 128},
    {"node_image": f"localhost:5000/kindest/node:v1.33.1@{DIGEST}"}, {"node_image": "kindest/node:_v1.x-2"},
    {"wait": "1m30s"}, {"wait": "1.5h"}, {"wait": "500ms"}, {"wait": "10us"}, {"wait": "10µs"}, {"wait": "9ns"},
    {"kind_path": "/usr/local/bin/kind"},
])
def test_valid_inputs_pass(raw: dict[str, Any]) -> None:
    assert failures(**raw) == []


def test_wait_and_kind_path_default_when_absent() -> None:
    from infra.cluster.kind import validate_kind_props

    bare = {k: v for k, v in props().items() if k not in ("wait", "kind_path", "extra_mounts")}
    assert validate_kind_props(bare) == []


@pytest.mark.parametrize(("wait", "timeout"), [
    # max(900 s for the first image pull, the wait plus 600 s), worked out by hand per unit.
    ("300s", 900), ("1000s", 1600), ("20m", 1800), ("1h", 4200), ("1h0m30s", 4230), ("2000000ms", 2600),
    ("3000000000us", 3600), ("3000000000µs", 3600), ("4000000000000ns", 4600), ("0.5h", 2400),
])
def test_create_waits_the_wait_plus_a_margin_for_the_image_pull(scripted, provider, wait: str, timeout: int) -> None:
    kind = scripted()
    provider.create(props(wait=wait))
    assert [(argv[1:3], t) for argv, t in kind.calls] == [
        (["get", "clusters"], 60), (["create", "cluster"], timeout), (["get", "kubeconfig"], 60)]


def test_create_outputs_come_from_the_clusters_own_context(scripted, provider) -> None:
    kind = scripted()
    outs = provider.create(props(workers=1.0, extra_mounts=[], guard_data=True)).outs
    assert kind.calls[1][0][:5] == ["kind", "create", "cluster", "--name", "demo"]
    assert kind.calls[2][0] == ["kind", "get", "kubeconfig", "--name", "demo"]
    document = {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "name": "demo",
                "nodes": [{"role": "control-plane", "image": IMAGE}, {"role": "worker", "image": IMAGE}]}
    assert outs == {
        "name": "demo", "node_image": IMAGE, "workers": 1, "extra_mounts": [], "wait": "300s", "kind_path": "kind",
        "guard_data": True, "config": yaml.safe_dump(document, sort_keys=False),
        "config_hash": hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode())
        .hexdigest(),
        "kubeconfig": KUBECONFIG_DEMO, "context": "kind-demo", "endpoint": "https://ours:2",
    }
    assert type(outs["workers"]) is int


@pytest.mark.parametrize(("kubeconfig", "endpoint"), [
    # No context of ours: the cluster kind names `kind-<name>`, else the only one there is.
    ({"clusters": [{"name": "x", "cluster": {"server": "https://x"}},
                   {"name": "kind-demo", "cluster": {"server": "https://kd"}}]}, "https://kd"),
    ({"clusters": [{"name": "x", "cluster": {"server": "https://x"}}],
      "contexts": [{"name": "kind-other", "context": {"cluster": "y"}}]}, "https://x"),
])
def test_the_endpoint_falls_back_to_kinds_cluster_name(scripted, provider, kubeconfig, endpoint) -> None:
    scripted({("get", "kubeconfig"): (yaml.safe_dump(kubeconfig), "", 0)})
    assert provider.create(props()).outs["endpoint"] == endpoint


@pytest.mark.parametrize("kubeconfig", ["clusters: [", "", "clusters: []\n", "- a list\n",
                                        "clusters:\n- name: kind-demo\n  cluster: {}\n"])
def test_an_unusable_kubeconfig_deletes_the_new_cluster_and_says_so(scripted, provider, kubeconfig: str) -> None:
    kind = scripted({("get", "kubeconfig"): (kubeconfig, "", 0)})
    with pytest.raises(kind_error(), match=r"^`kind get kubeconfig --name demo`: unusable kubeconfig: "):
        provider.create(props())
    assert kind.calls[-1] == (["kind", "delete", "cluster", "--name", "demo"], 300)


def test_a_failed_cleanup_still_reports_the_first_error(scripted, provider) -> None:
    kind = scripted({("get", "kubeconfig"): ("", "ERROR: no nodes\n", 1), ("delete",): ("", "stuck\n", 1)})
    with pytest.raises(kind_error()) as excinfo:
        provider.create(props())
    assert str(excinfo.value) == ("`kind get kubeconfig --name demo` failed with exit code 1; stderr:\n"
                                  "ERROR: no nodes")
    assert [argv[1] for argv, _ in kind.calls] == ["get", "create", "get", "delete"]


def test_create_refuses_a_cluster_kind_already_lists_with_the_commands_to_fix_it(scripted, provider) -> None:
    kind = scripted({("get", "clusters"): ("other\ndemo\n", "", 0)})
    with pytest.raises(kind_error()) as excinfo:
        provider.create(props())
    assert str(excinfo.value) == (
        "a kind cluster named 'demo' already exists but is not in this stack's state. Delete it with "
        "`kind delete cluster --name demo` and run again, or import it into the stack instead of creating it.")
    assert len(kind.calls) == 1


def test_create_validates_before_running_kind(scripted, provider) -> None:
    kind = scripted()
    with pytest.raises(ValueError) as excinfo:
        provider.create({**props(), "name": "Bad", "workers": -2})
    assert str(excinfo.value) == (f"invalid kind cluster inputs: name: 'Bad' {ABOUT_NAME}; "
                                  "workers: must be a whole number >= 0, got -2")
    assert kind.calls == []


def test_kinds_stderr_is_cut_to_its_last_20_lines(scripted, provider) -> None:
    stderr = "".join(f"line {i}\n" for i in range(1, 31))
    kind = scripted({("create",): ("", stderr, 3)})
    with pytest.raises(kind_error()) as excinfo:
        provider.create(props())
    command = " ".join(kind.calls[1][0])
    expected_tail = "\n".join(f"line {i}" for i in range(11, 31))
    assert str(excinfo.value) == f"`{command}` failed with exit code 3; stderr:\n{expected_tail}"


def test_a_silent_failure_says_there_was_no_stderr(scripted, provider) -> None:
    scripted({("get", "clusters"): ("", "  \n", 2)})
    with pytest.raises(kind_error()) as excinfo:
        provider.delete("demo", {"name": "demo"})
    assert str(excinfo.value) == "`kind get clusters` failed with exit code 2; stderr:\n(no stderr)"


@pytest.mark.parametrize(("stderr", "tail"), [(b"pulling image\n", "pulling image"), ("waiting\n", "waiting"),
                                              (None, "(no stderr)")])
def test_a_timed_out_kind_names_the_command_the_limit_and_its_stderr(scripted, provider, stderr, tail) -> None:
    scripted({("get", "clusters"): subprocess.TimeoutExpired(["kind"], 60, stderr=stderr)})
    with pytest.raises(kind_error()) as excinfo:
        provider.read("demo", {"name": "demo", "kind_path": "/opt/kind tools/kind"})
    assert str(excinfo.value) == f"`'/opt/kind tools/kind' get clusters` timed out after 60s; stderr tail:\n{tail}"


def test_kind_that_cannot_start_is_named(scripted, provider) -> None:
    scripted({("get", "clusters"): PermissionError(13, "Permission denied")})
    with pytest.raises(kind_error()) as excinfo:
        provider.delete("demo", {"name": "demo", "kind_path": "/bin/kind"})
    assert str(excinfo.value) == "cannot run `/bin/kind get clusters`: [Errno 13] Permission denied"
    scripted({("get", "clusters"): FileNotFoundError(2, "No such file")})
    with pytest.raises(kind_error()) as excinfo:
        provider.delete("demo", {"name": "demo", "kind_path": "/bin/kind"})
    assert str(excinfo.value) == ("cannot run `/bin/kind get clusters`: executable '/bin/kind' not found; install "
                                  "kind (https://kind.sigs.k8s.io) or set kind_path")
    assert issubclass(kind_error(), RuntimeError)


def test_read_and_delete_use_the_id_and_kind_when_the_state_lacks_them(scripted, provider) -> None:
    kind = scripted({("get", "clusters"): ("No kind clusters found.\nwith space\ndemo\n", "", 0)})
    read = provider.read("demo", {"workers": 2, "__provider": "x", "config_hash": "h"})
    assert read.id == "demo"
    assert read.outs == {"workers": 2, "config_hash": "h", "name": "demo", "kubeconfig": KUBECONFIG_DEMO,
                         "endpoint": "https://ours:2", "context": "kind-demo"}
    provider.delete("demo", {})
    assert [argv for argv, _ in kind.calls] == [
        ["kind", "get", "clusters"], ["kind", "get", "kubeconfig", "--name", "demo"],
        ["kind", "get", "clusters"], ["kind", "delete", "cluster", "--name", "demo"]]
    assert kind.calls[-1][1] == 300
    # Only names count: kind's "No kind clusters found." is not a cluster called "No".
    assert provider.read("with space", {}).id is None
    assert provider.read("No", {"name": "No"}).outs == {}


def test_check_returns_the_inputs_it_was_given(provider) -> None:
    news = props()
    assert provider.check({}, news).inputs == news


@pytest.mark.parametrize(("field", "change", "key"), [
    ("name", {"name": "other"}, "cluster.name"),
    ("node_image", {"node_image": "kindest/node:v1.32.5"}, "cluster.nodeImage"),
    ("workers", {"workers": 3}, "cluster.workers"),
    ("extra_mounts", {"extra_mounts": []}, "cluster.extraMounts"),
])
def test_check_names_the_config_key_and_the_way_out_for_every_replacing_change(provider, field, change, key):
    result = provider.check(props(guard_data=True), props(guard_data=True, **change))
    assert [(f.property, f.reason) for f in result.failures] == [(field, (
        f"changing sparkstack:{key} replaces the kind cluster and every object on it, including the protected "
        "data claim; copy the data out first, set sparkstack:platform.storage.protectData to false, then run "
        f"`pulumi up` again (README: 'Changing the cluster'), or put {key} back"))]


def test_check_guards_only_a_cluster_that_exists(provider) -> None:
    assert provider.check({"workers": 3}, props(guard_data=True)).failures == []
    # The guard reads the new inputs: turning it off is how a replacement is allowed.
    assert provider.check(props(guard_data=True), props(workers=3)).failures == []


def test_diff_reads_the_wires_omitted_defaults_as_the_defaults(provider) -> None:
    olds = {"name": "demo", "node_image": IMAGE, "workers": 2.0, "extra_mounts": None}
    news = {**props(extra_mounts=[]), "wait": "", "kind_path": None}
    assert provider.diff("demo", olds, news).changes is False
    assert provider.diff("demo", olds, props(extra_mounts=[], guard_data=True)).changes is True


def test_diff_of_a_setting_only_updates(provider, created) -> None:
    for change in ({"guard_data": True}, {"wait": "10m"}, {"kind_path": "/bin/kind"}):
        result = provider.diff("demo", created, props(**change))
        assert (result.changes, result.replaces, result.delete_before_replace) == (True, [], False), change


def test_diff_without_a_recorded_hash_compares_inputs_only(provider, created) -> None:
    olds = {k: v for k, v in created.items() if k != "config_hash"}
    assert provider.diff("demo", olds, props()).replaces == []


def test_diff_replaces_when_the_config_cannot_be_rendered_again(provider, created) -> None:
    olds = {**created, "extra_mounts": [{"host_path": "/a"}]}
    assert provider.diff("demo", olds, {**props(), "extra_mounts": [{"host_path": "/a"}]}).replaces == ["config"]


def test_update_keeps_the_outputs_and_takes_the_new_settings(provider, created) -> None:
    news = props(wait="10m", guard_data=True)
    outs = provider.update("demo", {**created, "__provider": "x"}, news).outs
    assert outs == {**created, "wait": "10m", "guard_data": True}
    with pytest.raises(kind_error()) as excinfo:
        provider.update("demo", created, props(name="other", workers=5))
    assert str(excinfo.value) == "changing name, workers needs a replacement, not an update"


def test_mounts_given_as_mappings_keep_read_only_and_bad_ones_are_named() -> None:
    mounts = [{"host_path": "/a", "container_path": "/b", "read_only": True},
              {"host_path": "/c", "container_path": "/d"}]
    args = KindClusterArgs("demo", IMAGE, 0, extra_mounts=mounts)
    assert args.extra_mounts == (KindMount("/a", "/b", True), KindMount("/c", "/d", False))
    expected = "expected keys host_path, container_path[, read_only]"
    cases = [
        ({"host_path": "/a", "container_path": "/b", "ro": True},
         f"invalid extra mount {{'host_path': '/a', 'container_path': '/b', 'ro': True}}: {expected}; unknown ['ro']"),
        ({"host_path": "/a"}, f"invalid extra mount {{'host_path': '/a'}}: {expected}; missing ['container_path']"),
        ({"hostPath": "/a", "container_path": "/b"},
         f"invalid extra mount {{'hostPath': '/a', 'container_path': '/b'}}: {expected}; unknown ['hostPath']; "
         "missing ['host_path']"),
        ("/a:/b", "invalid extra mount '/a:/b': expected a KindMount or a mapping"),
    ]
    for mount, message in cases:
        with pytest.raises(ValueError) as excinfo:
            KindClusterArgs("demo", IMAGE, 0, extra_mounts=[mount])
        assert str(excinfo.value) == message


def test_kubeconfig_entries_without_their_details_fall_back_and_odd_stderr_bytes_are_replaced(
        scripted, provider) -> None:
    kubeconfig = {"clusters": [{"name": "x", "cluster": {"server": "https://x"}},
                               {"name": "kind-demo", "cluster": {"server": "https://kd"}}],
                  "contexts": [{"name": "kind-demo"}]}
    scripted({("get", "kubeconfig"): (yaml.safe_dump(kubeconfig), "", 0)})
    assert provider.create(props()).outs["endpoint"] == "https://kd"
    scripted({("get", "clusters"): subprocess.TimeoutExpired(["kind"], 60, stderr=b"bad \xff byte")})
    with pytest.raises(kind_error()) as excinfo:
        provider.read("demo", {"name": "demo"})
    assert str(excinfo.value).endswith("stderr tail:\nbad \ufffd byte")


def test_read_and_delete_go_by_the_name_in_the_state_before_the_id(scripted, provider) -> None:
    kind = scripted({("get", "clusters"): ("demo\n", "", 0)})
    assert provider.read("stale-id", {"name": "demo"}).id == "demo"
    provider.delete("stale-id", {"name": "demo"})
    assert [argv[1:] for argv, _ in kind.calls] == [
        ["get", "clusters"], ["get", "kubeconfig", "--name", "demo"],
        ["get", "clusters"], ["delete", "cluster", "--name", "demo"]]

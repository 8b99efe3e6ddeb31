"""The plan's Spark pods (tools/plan/render.py with pods, tools/pods/builders.py): what Spark 4.0.4 and operator
v2.5.2 would create.

For every application run of the dev and existing stacks, the rendered driver and executor pods are checked
against the plan's own SparkApplication objects, with expectations computed here in plain Python: Pod Security
"restricted", every declared mount, memory = memory + overhead, CPU request and limit, service account. The pods
are built once per stack in the session's shared Spark JVM.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tools.plan.files import INDEX, PlanFile, render_files
from tools.plan.render import POD_DIR, main, record_stack, render_pods, write_plan
from tools.pods.builders import PodRenderer, SparkRefusedError
from tools.pods.pod_security import restricted_violations
from tools.pods.submission import scheduled_run, submission
from tools.pods.webhook import mutate

STACKS = ("dev", "existing", "teams")
SPARK_KINDS = ("SparkApplication", "ScheduledSparkApplication")
ROLES = ("driver", "executor")


@pytest.fixture(scope="module")
def renderer(spark: Any) -> PodRenderer:
    return PodRenderer(spark)


@pytest.fixture(scope="module", params=STACKS)
def plan(request: pytest.FixtureRequest, renderer: PodRenderer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder, _ = write_plan(request.param, tmp_path_factory.mktemp(f"plan-{request.param}"), pods=True,
                           renderer=renderer)
    return folder


def spark_objects(folder: Path) -> dict[str, dict[str, Any]]:
    docs = {p.name: yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.yaml"))}
    return {name: doc for name, doc in docs.items() if doc.get("kind") in SPARK_KINDS}


def runs(folder: Path) -> list[tuple[str, dict[str, Any], dict[str, dict[str, Any]]]]:
    """(plan file, the run's SparkApplication spec, {role: pod}) for every Spark object of the plan."""
    found = []
    for name, doc in spark_objects(folder).items():
        spec = doc["spec"]["template"] if doc["kind"] == "ScheduledSparkApplication" else doc["spec"]
        stem = name.removesuffix(".yaml")
        pods = {role: yaml.safe_load((folder / POD_DIR / f"{stem}-{role}.yaml").read_text(encoding="utf-8"))
                for role in ROLES}
        found.append((name, spec, pods))
    return found


def mib(size: str) -> int:
    """Spark's memory format (JavaUtils.byteStringAsMb, binary units) in MiB."""
    number, unit = re.fullmatch(r"(\d+)([kmgt]?)b?", size.strip().lower()).groups()  # type: ignore[union-attr]
    return int(number) * {"k": 1 / 1024, "": 1 / 1024 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}[unit] // 1


def expected_memory_mib(pod_spec: dict[str, Any]) -> int:
    """memory + overhead; a Python application's overhead defaults to max(40 % of memory, 384 MiB) on Kubernetes."""
    memory = int(mib(pod_spec["memory"]))
    if pod_spec.get("memoryOverhead"):
        return memory + int(mib(pod_spec["memoryOverhead"]))
    return memory + max(int(0.4 * memory), 384)


def spark_container(pod: dict[str, Any], role: str) -> dict[str, Any]:
    name = f"spark-kubernetes-{role}"
    [container] = [c for c in pod["spec"]["containers"] if c["name"] == name]
    return container


# --- the plan writes the pods -------------------------------------------------------------------------------


def test_plan_writes_both_pods_of_every_application_run(plan: Path) -> None:
    objects = spark_objects(plan)
    assert objects, "the stack has no Spark objects"
    written = sorted(p.name for p in (plan / POD_DIR).iterdir())
    expected = [*sorted(f"{n.removesuffix('.yaml')}-{r}.yaml" for n in objects for r in ROLES), INDEX]
    assert written == expected
    index = (plan / POD_DIR / INDEX).read_text(encoding="utf-8")
    assert all(name in index for name in written if name != INDEX)
    pod_names = {n for n in written if n != INDEX}
    assert not pod_names & {p.name for p in plan.iterdir()}, "pods must stay out of the plan's own files"
    assert not any(n in (plan / INDEX).read_text(encoding="utf-8") for n in pod_names)


def test_pods_pass_pod_security_restricted(plan: Path) -> None:
    problems = [f"{name} {role}: {v}" for name, _, pods in runs(plan) for role, pod in pods.items()
                for v in restricted_violations(pod)]
    assert not problems, "\n".join(problems)


def test_pods_are_valid_kubernetes_1_33_pods(plan: Path) -> None:
    for _, _, pods in runs(plan):
        for role, pod in pods.items():
            assert pod["kind"] == "Pod" and pod["metadata"]["labels"]["spark-role"] == role
            kubernetes_validate.validate(pod, "1.33", strict=True)


def test_every_declared_mount_reaches_its_pod(plan: Path) -> None:
    checked = 0
    for name, spec, pods in runs(plan):
        volumes = {v["name"]: v for v in spec["volumes"]}
        for role in ROLES:
            pod = pods[role]
            pod_volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
            mounts = {m["name"]: m for m in spark_container(pod, role)["volumeMounts"]}
            for declared in spec[role]["volumeMounts"]:
                where = f"{name} {role} {declared['name']}"
                assert declared["name"] in mounts, f"{where}: not mounted"
                assert mounts[declared["name"]]["mountPath"] == declared["mountPath"], where
                assert bool(mounts[declared["name"]].get("readOnly")) == bool(declared.get("readOnly")), where
                source = volumes[declared["name"]]
                got = pod_volumes[declared["name"]]
                if declared["name"].startswith("spark-local-dir-"):  # rebuilt by Spark from spark-submit's settings
                    assert got["emptyDir"]["sizeLimit"] == source["emptyDir"]["sizeLimit"], where
                    env = {e["name"]: e.get("value") for e in spark_container(pod, role)["env"]}
                    assert declared["mountPath"] in env["SPARK_LOCAL_DIRS"].split(","), where
                else:  # added by the webhook, as declared
                    assert got == source, where
                checked += 1
    assert checked >= 3  # existing: scratch in both pods and the driver's event-log claim (scripts in the image)


def test_the_data_claim_reaches_exactly_the_pods_that_use_it(plan: Path) -> None:
    """dev reads /data: both pods mount the claim. existing and teams read object storage but publish to the
    (ReadWriteMany) claim, since the job refuses object-store outputs: both pods mount it too. Applications that
    touch only object storage never mount it (tests/test_spark_spec.py)."""
    expected = {"dev": {"driver", "executor"}, "existing": {"driver", "executor"},
                "teams": {"driver", "executor"}}[plan.name]
    for name, _, pods in runs(plan):
        for role, pod in pods.items():
            mounts = {m["mountPath"] for m in spark_container(pod, role)["volumeMounts"]}
            claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"]
                      if "persistentVolumeClaim" in v}
            uses = "/data" in mounts and claims == {"spark-data"}
            assert uses == (role in expected), f"{name} {role}: mounts {sorted(mounts)}, claims {sorted(claims)}"


def test_decommissioning_executors_get_sparks_pre_stop_hook_and_time_to_migrate(plan: Path) -> None:
    """dev runs on kind (shuffle mode local): Kubernetes' defaults. existing and teams default to decommission: Spark's
    builder adds the preStop hook running /opt/decom.sh (spark.kubernetes.decommission.script's default) and the
    webhook copies the 120 s grace period (platform.shuffle.decommission.gracePeriodSeconds' default); the driver
    is never decommissioned."""
    decommissions = {"dev": False, "existing": True, "teams": True}[plan.name]  # by each stack's cluster.kind
    for name, _, pods in runs(plan):
        executor, driver = pods["executor"], pods["driver"]
        hook = spark_container(executor, "executor").get("lifecycle", {}).get("preStop")
        grace = executor["spec"].get("terminationGracePeriodSeconds")
        if decommissions:
            assert hook == {"exec": {"command": ["/opt/decom.sh"]}}, name
            assert grace == 120, name
        else:
            assert hook is None and grace is None, name
        assert "lifecycle" not in spark_container(driver, "driver"), name
        assert driver["spec"].get("terminationGracePeriodSeconds") is None, name


def test_memory_request_is_memory_plus_effective_overhead(plan: Path) -> None:
    for name, spec, pods in runs(plan):
        for role in ROLES:
            resources = spark_container(pods[role], role)["resources"]
            expected = f"{expected_memory_mib(spec[role])}Mi"
            assert resources["requests"]["memory"] == expected, f"{name} {role}"
            assert resources["limits"]["memory"] == expected, f"{name} {role}"


def test_batch_scheduled_pods_carry_queue_priority_and_gang(plan: Path) -> None:
    """With batchScheduler: yunikorn both pods carry the queue label and priority class, and the driver the gang:
    itself, and max(instances, minExecutors, initialExecutors) executors with their memory requests."""
    for name, spec, pods in runs(plan):
        if spec.get("batchScheduler") != "yunikorn":
            assert not any("queue" in pod["metadata"]["labels"] for pod in pods.values()), name
            continue
        queue, priority = spec["batchSchedulerOptions"]["queue"], spec["driver"].get("priorityClassName")
        for role, pod in pods.items():
            assert pod["metadata"]["labels"]["queue"] == queue, f"{name} {role}"
            assert pod["spec"].get("priorityClassName") == priority, f"{name} {role}"
            assert pod["metadata"]["annotations"]["yunikorn.apache.org/task-group-name"] == f"spark-{role}"
            # The webhook names the batch scheduler (addSchedulerName), else YuniKorn never sees the pod.
            assert pod["spec"].get("schedulerName") == "yunikorn", f"{name} {role}"
        groups = json.loads(pods["driver"]["metadata"]["annotations"]["yunikorn.apache.org/task-groups"])
        dynamic = spec.get("dynamicAllocation") or {}
        members = max(spec["executor"].get("instances", 0), dynamic.get("minExecutors", 0),
                      dynamic.get("initialExecutors", 0))
        assert [(g["name"], g["minMember"]) for g in groups] == [("spark-driver", 1), ("spark-executor", members)]
        assert groups[1]["minResource"]["memory"] == f"{expected_memory_mib(spec['executor'])}Mi"
    if plan.name == "teams":
        assert any(spec.get("batchScheduler") == "yunikorn" for _, spec, _ in runs(plan))


def test_cpu_request_and_limit_are_the_configured_ones(plan: Path) -> None:
    for name, spec, pods in runs(plan):
        for role in ROLES:
            resources = spark_container(pods[role], role)["resources"]
            configured = spec[role]
            assert resources["requests"]["cpu"] == str(configured.get("coreRequest") or configured["cores"]), name
            assert resources.get("limits", {}).get("cpu") == configured.get("coreLimit"), f"{name} {role}"
            assert pods[role]["spec"]["serviceAccountName"] == configured["serviceAccount"], f"{name} {role}"


def test_pod_rendering_is_reproducible(plan: Path, renderer: PodRenderer) -> None:
    """A second rendering in the same JVM (new random names, ids) writes the same files."""
    again = render_pods(render_files(record_stack(plan.name)), renderer, plan.name)
    assert again == {p.name: p.read_text(encoding="utf-8") for p in (plan / POD_DIR).iterdir()}


# --- Spark's refusals name the config key ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev_files() -> list[PlanFile]:
    return render_files(record_stack("dev"))


@pytest.fixture(scope="module")
def dev_application(dev_files: list[PlanFile]) -> dict[str, Any]:
    return next(f.document for f in dev_files if f.document.get("kind") == "SparkApplication")


def test_a_configuration_spark_refuses_fails_the_plan_with_sparks_message_and_the_config_key(
    renderer: PodRenderer, dev_files: list[PlanFile]
) -> None:
    files = copy.deepcopy(dev_files)
    app = next(f.document for f in files if f.document.get("kind") == "SparkApplication")
    del app["spec"]["executor"]["cores"]  # else the typed field, passed after sparkConf, would win
    app["spec"]["sparkConf"]["spark.executor.cores"] = "1.5"
    with pytest.raises(SparkRefusedError) as caught:
        render_pods(files, renderer)
    message = str(caught.value)
    assert message.startswith("sparkstack:applications.sales-etl.executor.cores: ")
    assert "spark.executor.cores should be int, but was 1.5" in message


def test_a_refused_sparkconf_key_is_named_as_such(renderer: PodRenderer, dev_application: dict[str, Any]) -> None:
    app = copy.deepcopy(dev_application)
    app["spec"]["sparkConf"]["spark.kubernetes.memoryOverheadFactor"] = "lots"
    with pytest.raises(SparkRefusedError, match=r"^sparkstack:applications\.sales-etl\.sparkConf\."
                                                r"spark\.kubernetes\.memoryOverheadFactor: .*should be double"):
        renderer.render(app, "sales-etl")


def test_plan_without_java_says_so_and_no_pods_still_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["--stack", "dev", "--out", str(tmp_path)]) == 2
    assert "Java is not installed" in capsys.readouterr().err and not (tmp_path / "dev").exists()
    assert main(["--stack", "dev", "--out", str(tmp_path), "--no-pods"]) == 0
    assert (tmp_path / "dev" / INDEX).exists() and not (tmp_path / "dev" / POD_DIR).exists()


# --- the operator's mapping, without a JVM -------------------------------------------------------------------


def test_submission_follows_the_operator(dev_application: dict[str, Any]) -> None:
    sub = submission(dev_application)
    conf = sub.conf
    assert sub.name == "sales-etl" and sub.main_file == "local:///opt/sparkstack/jobs/sales_etl.py"
    assert sub.arguments == ["--input", "/data/input", "--output", "/data/output", "--max-reject-ratio", "0.01"]
    assert conf["spark.kubernetes.driver.pod.name"] == "sales-etl-driver"
    assert conf["spark.kubernetes.submission.waitAppCompletion"] == "false"
    assert conf["spark.driver.memory"] == "2g" and conf["spark.executor.memory"] == "1g"
    assert conf["spark.kubernetes.executor.request.cores"] == "500m"
    assert conf["spark.kubernetes.authenticate.executor.serviceAccountName"] == "spark-executor"
    assert conf["spark.dynamicAllocation.shuffleTracking.enabled"] == "true"
    # Only spark-local-dir-* volumes go to spark-submit; the data claim and scripts are the webhook's.
    volume_keys = sorted(k for k in conf if ".volumes." in k)
    assert volume_keys and all("spark-local-dir-scratch" in k for k in volume_keys)
    assert conf["spark.kubernetes.executor.volumes.emptyDir.spark-local-dir-scratch.options.sizeLimit"] == "10Gi"
    assert conf["spark.kubernetes.driver.label.sparkoperator.k8s.io/app-name"] == "sales-etl"
    assert sub.driver_template["metadata"]["ownerReferences"][0]["controller"] is True
    assert "controller" not in sub.executor_template["metadata"]["ownerReferences"][0]


def test_typed_fields_win_over_sparkconf_as_in_the_operator(dev_application: dict[str, Any]) -> None:
    app = copy.deepcopy(dev_application)
    app["spec"]["sparkConf"]["spark.executor.memory"] = "8g"
    assert submission(app).conf["spark.executor.memory"] == "1g"


def test_scheduled_run_is_named_and_labelled_like_the_operators() -> None:
    scheduled = {"metadata": {"name": "nightly", "namespace": "jobs", "labels": {"team": "x"}},
                 "spec": {"template": {"type": "Python"}}}
    run = scheduled_run(scheduled, "123")
    assert run["metadata"] == {"name": "nightly-123", "namespace": "jobs",
                               "labels": {"sparkoperator.k8s.io/scheduled-app-name": "nightly", "team": "x"}}
    assert run["spec"] == {"type": "Python"}


def test_webhook_adds_declared_volumes_env_and_contexts(dev_application: dict[str, Any]) -> None:
    app = copy.deepcopy(dev_application)
    app["spec"]["executor"]["env"] = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    pod = {"metadata": {"name": "e", "labels": {"spark-role": "executor"}},
           "spec": {"containers": [{"name": "spark-kubernetes-executor", "env": [{"name": "A", "value": "1"}],
                                    "securityContext": {"privileged": True}}],
                    "volumes": [{"name": "spark-local-dir-scratch", "emptyDir": {}}]}}
    patched = mutate(pod, app)
    container = patched["spec"]["containers"][0]
    assert [e["name"] for e in container["env"]] == ["A", "TOKEN"]
    assert container["securityContext"] == app["spec"]["executor"]["securityContext"]  # replaced, not merged
    assert patched["spec"]["securityContext"] == app["spec"]["executor"]["podSecurityContext"]
    assert [v["name"] for v in patched["spec"]["volumes"]] == ["spark-local-dir-scratch", "jobs", "data"]
    assert [m["name"] for m in container["volumeMounts"]] == ["jobs", "data"]
    assert "ownerReferences" not in patched["metadata"]  # only the driver gets the application as owner
    assert pod["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]  # the input is untouched


def test_webhook_options_for_fields_our_model_emits(dev_application: dict[str, Any]) -> None:
    """Expectations read from operator v2.5.2's internal/webhook/sparkpod_defaulter.go: addOwnerReference (driver
    only, not twice), addVolumes (a volume mounted twice is added once), addPriorityClassName (clears priority and
    preemptionPolicy), addContainerSecurityContext and addPodSecurityContext (a nil context leaves the pod's),
    addTerminationGracePeriodSeconds
    (a nil check: 0 is set)."""
    app = copy.deepcopy(dev_application)
    app["metadata"]["uid"] = "u-1"
    owner = {"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication", "name": "sales-etl",
             "uid": "u-1", "controller": True, "blockOwnerDeletion": True}
    driver = app["spec"]["driver"]
    del driver["securityContext"], driver["podSecurityContext"]
    driver["priorityClassName"] = "batch-high"
    driver["volumeMounts"] = [{"name": "data", "mountPath": "/data/input", "subPath": "input"},
                              {"name": "data", "mountPath": "/data/output", "subPath": "output"}]
    pod = {"metadata": {"name": "d", "labels": {"spark-role": "driver"}, "ownerReferences": [owner]},
           "spec": {"priority": 0, "preemptionPolicy": "PreemptLowerPriority", "securityContext": {"fsGroup": 185},
                    "containers": [{"name": "sidecar"}, {"name": "spark-kubernetes-driver",
                                                         "securityContext": {"runAsUser": 185}}]}}
    patched = mutate(pod, app)
    assert patched["metadata"]["ownerReferences"] == [owner]
    assert patched["spec"]["priorityClassName"] == "batch-high"
    assert "priority" not in patched["spec"] and "preemptionPolicy" not in patched["spec"]
    data = next(v for v in app["spec"]["volumes"] if v["name"] == "data")
    assert patched["spec"]["volumes"] == [data]
    spark_container = patched["spec"]["containers"][1]
    assert spark_container["volumeMounts"] == driver["volumeMounts"] and "volumeMounts" not in patched["spec"][
        "containers"][0]
    assert spark_container["securityContext"] == {"runAsUser": 185}
    assert patched["spec"]["securityContext"] == {"fsGroup": 185}  # addPodSecurityContext: nil leaves it too
    assert "terminationGracePeriodSeconds" not in patched["spec"]  # the driver's is unset

    app["spec"]["executor"]["terminationGracePeriodSeconds"] = 0
    executor = {"metadata": {"labels": {"spark-role": "executor"}}, "spec": {"containers": [{"name": "executor"}]}}
    assert mutate(executor, app)["spec"]["terminationGracePeriodSeconds"] == 0
    with pytest.raises(ValueError, match="no spark-role label"):
        mutate({"metadata": {"labels": {}}, "spec": {"containers": [{"name": "x"}]}}, app)


# What mutateSparkPod reads that infra/spark/crd.py has no field for (sparkpod_defaulter.go, operator v2.5.2).
WEBHOOK_ONLY_FIELDS = ("envFrom", "configMaps", "ports", "hostNetwork", "hostAliases", "initContainers", "sidecars",
                       "dnsConfig", "schedulerName", "nodeSelector", "affinity", "tolerations", "memoryLimit", "gpu",
                       "lifecycle", "shareProcessNamespace")


@pytest.mark.parametrize("role", ROLES)
def test_pod_fields_our_model_cannot_emit_are_refused_not_guessed(dev_application: dict[str, Any],
                                                                  role: str) -> None:
    from infra.spark.crd import DriverSpec, ExecutorSpec
    from tools.pods.submission import NotReproducedError

    model = {f.alias for spec in (DriverSpec, ExecutorSpec) for f in spec.model_fields.values()}
    assert not model & set(WEBHOOK_ONLY_FIELDS)  # a new model field needs its webhook option reproduced
    for name in WEBHOOK_ONLY_FIELDS:
        app = copy.deepcopy(dev_application)
        app["spec"][role][name] = {}
        with pytest.raises(NotReproducedError, match=rf"spec\.{role}\.{name} is not reproduced"):
            submission(app)
    app = copy.deepcopy(dev_application)
    app["spec"]["type"] = "Scala"
    with pytest.raises(NotReproducedError, match="only type: Python applications are reproduced, not 'Scala'"):
        submission(app)


def test_a_spark_error_points_at_the_config_key_to_edit() -> None:
    from tools.pods.submission import config_key

    # The scratch volume's settings come from sparkstack:platform.storage, not the application.
    scratch = "spark.kubernetes.executor.volumes.emptyDir.spark-local-dir-scratch.options.sizeLimit"
    assert config_key("etl", scratch, {scratch: "platform.storage"}) == "sparkstack:platform.storage"
    assert config_key("etl", "spark.executor.memory") == "sparkstack:applications.etl.executor.memory"
    # A key with no origin (Spark's own default, say) is named where the application would set it.
    assert config_key("etl", "spark.sql.shuffle.partitions") == (
        "sparkstack:applications.etl.sparkConf.spark.sql.shuffle.partitions")

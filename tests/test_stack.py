"""The whole program (`__main__.py`) under the Pulumi mock engine, with the stack files users deploy."""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any

import pytest
from pulumi.runtime import rpc

from infra.platform.scripts import config_map_name, read_scripts
from infra.spark.placement import Placement
from tests.scopes import recorded
from tests.spark_driver import SPARK_DRIVER_CALLS
from tools.plan.mock_engine import Recording, Registered, run_program, stack_config

NS = "kubernetes:core/v1:Namespace"
RELEASE = "kubernetes:helm.sh/v3:Release"
JOB = "kubernetes:batch/v1:Job"
APP = "kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication"
SCHEDULED = "kubernetes:sparkoperator.k8s.io/v1beta2:ScheduledSparkApplication"
PROVIDER = "pulumi:providers:kubernetes"
KIND = "pulumi-python:dynamic:Resource"


@pytest.fixture(scope=recorded)
def dev() -> Recording:
    return run_program(stack_config("dev"))


def dev_config(**changes: Any) -> dict[str, Any]:
    """Pulumi.dev.yaml with some sections' keys replaced, e.g. generator={"enabled": False}."""
    config = copy.deepcopy(stack_config("dev"))
    for section, values in changes.items():
        target = config.setdefault(f"sparkstack:{section}", {})
        for key, value in values.items():
            if isinstance(value, dict) and isinstance(target.get(key), dict):
                target[key] = {**target[key], **value}
            else:
                target[key] = value
    return config


def ancestors(rec: Recording, res: Registered) -> list[Registered]:
    chain, urns = [], {r.urn for r in rec.resources}
    while res.parent in urns:
        res = rec.by_urn(res.parent)
        chain.append(res)
    return chain


def depends_on(rec: Recording, res: Registered, other: Registered) -> bool:
    """True when `res` (or a component it sits in) declares a dependency on `other` (or its children)."""
    targets = {other.urn} | {r.urn for r in rec.resources if other in ancestors(rec, r)}
    sources = [res, *ancestors(rec, res)]
    return any(targets & set(s.dependencies) for s in sources)


def k8s_resources(rec: Recording) -> list[Registered]:
    return [r for r in rec.resources if r.type.startswith("kubernetes:")]


def test_dev_stack_registers_the_whole_platform(dev: Recording) -> None:
    types = {r.type for r in dev.resources}
    for expected in (KIND, PROVIDER, NS, RELEASE, JOB, APP, SCHEDULED,
                     "kubernetes:core/v1:ServiceAccount", "kubernetes:rbac.authorization.k8s.io/v1:Role",
                     "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "kubernetes:core/v1:ConfigMap",
                     "kubernetes:core/v1:PersistentVolumeClaim", "kubernetes:apps/v1:DaemonSet"):
        assert expected in types, expected
    names = {r.plain_inputs["metadata"]["name"] for r in dev.of_type(NS)}
    assert names == {"spark-jobs", "spark-operator"}


def test_every_kubernetes_object_sits_in_the_platform_or_its_application(dev: Recording) -> None:
    """Children of a component are deleted, protected and shown with it; a stray object would be an orphan."""
    platform = dev.one("sparkstack:platform:Platform")
    applications = {a.urn: a.name for a in dev.of_type("sparkstack:spark:Application")}
    for res in k8s_resources(dev):
        owners = [a.urn for a in ancestors(dev, res)]
        if res.type in (APP, SCHEDULED):
            assert applications.get(owners[0]) == res.plain_inputs["metadata"]["name"], res.name
        else:
            assert platform.urn in owners, f"{res.type} {res.name} is not in the Platform component"


def test_every_namespaced_object_names_its_namespace(dev: Recording) -> None:
    """Without one, the provider puts an object in its default namespace, where nothing of ours looks for it."""
    cluster_scoped = {NS, "kubernetes:scheduling.k8s.io/v1:PriorityClass"}
    for res in k8s_resources(dev):
        if res.type in cluster_scoped:
            continue
        inputs = res.plain_inputs
        namespace = inputs["namespace"] if res.type == RELEASE else inputs["metadata"].get("namespace")
        expected = "spark-operator" if res.type == RELEASE else "spark-jobs"
        assert namespace == expected, f"{res.type} {res.name} is in {namespace!r}"


def test_every_kubernetes_resource_uses_the_one_explicit_provider(dev: Recording) -> None:
    provider = dev.one(PROVIDER)
    for res in k8s_resources(dev):
        assert res.provider.startswith(provider.urn + "::"), f"{res.type} {res.name} uses {res.provider!r}"


def test_provider_is_built_from_the_kind_cluster_and_kubeconfig_stays_secret(dev: Recording) -> None:
    kind = dev.one(KIND)
    provider = dev.one(PROVIDER)
    assert rpc.is_rpc_secret(provider.inputs["kubeconfig"])
    assert kind.urn in provider.dependencies
    assert kind.plain_inputs["node_image"] == "kindest/node:v1.33.1"
    assert int(kind.plain_inputs["workers"]) == 1
    assert rpc.is_rpc_secret(dev.outputs["kubeconfig"])


def test_the_kind_cluster_inputs_in_full(dev: Recording) -> None:
    """cluster.createTimeoutSeconds' default (900) is kind's --wait; protectData guards the cluster."""
    kind = dev.one(KIND)
    assert kind.name == "kind-cluster"
    assert {k: v for k, v in kind.plain_inputs.items() if k != "__provider"} == {
        "name": "sparkstack-dev", "node_image": "kindest/node:v1.33.1", "workers": 1, "extra_mounts": [],
        "wait": "900s", "kind_path": "kind", "guard_data": True}
    assert kind.additional_secret_outputs == ["kubeconfig"]


def test_provider_identity_follows_the_kind_cluster_shape(dev: Recording) -> None:
    """Only a new cluster (its config hash, from the kind resource) may replace every Kubernetes object."""
    provider = dev.one(PROVIDER).plain_inputs
    assert provider["clusterIdentifier"] == "kind-sparkstack-dev-0123456789ab"  # the mock kind's config_hash
    assert provider["deleteUnreachable"] == "false"  # deliberate (provider inputs travel as strings)


def test_delete_unreachable_is_an_explicit_choice() -> None:
    rec = run_program(dev_config(cluster={"deleteUnreachable": True}))
    assert rec.one(PROVIDER).plain_inputs["deleteUnreachable"] == "true"


def test_namespaces_come_before_the_release(dev: Recording) -> None:
    release = dev.one(RELEASE)
    for ns in dev.of_type(NS):
        assert depends_on(dev, release, ns), ns.name


def test_spark_resources_come_after_the_release_and_the_etl_after_the_generator(dev: Recording) -> None:
    release, job = dev.one(RELEASE), dev.one(JOB)
    for res in (dev.one(APP), dev.one(SCHEDULED)):
        assert depends_on(dev, res, release)
    assert depends_on(dev, dev.one(APP), job)
    assert not depends_on(dev, release, job)  # the check can tell "no" too
    assert not depends_on(dev, dev.one(SCHEDULED), job)  # a schedule need not wait for sample data
    pvc = dev.one("kubernetes:core/v1:PersistentVolumeClaim")
    assert depends_on(dev, job, pvc)


def test_image_pulls_come_before_the_job_and_the_first_run(dev: Recording) -> None:
    """A 1 GB pull must not race the generator's deadline or Spark's executor allocation."""
    prepull = dev.one("kubernetes:apps/v1:DaemonSet")
    assert depends_on(dev, dev.one(JOB), prepull)
    assert depends_on(dev, dev.one(APP), prepull)


def test_release_uses_chart_2x_keys_for_our_namespace(dev: Recording) -> None:
    release = dev.one(RELEASE).plain_inputs
    assert (release["chart"], release["version"]) == ("spark-operator", "2.5.2")
    assert release["repositoryOpts"]["repo"] == "https://kubeflow.github.io/spark-operator"
    values = release["values"]
    assert values["spark"]["jobNamespaces"] == ["spark-jobs"]
    assert values["image"]["tag"] == values["hook"]["image"]["tag"] == "2.5.2"  # the chart's own version, exactly
    assert values["webhook"]["enable"] is True
    assert "sparkJobNamespaces" not in values and "serviceAccounts" not in values
    assert release["skipAwait"] is False


def test_driver_role_grants_every_call_a_spark_driver_makes(dev: Recording) -> None:
    role = dev.one("kubernetes:rbac.authorization.k8s.io/v1:Role").plain_inputs
    granted = {(resource, verb) for rule in role["rules"] if rule["apiGroups"] == [""]
               for resource in rule["resources"] for verb in rule["verbs"]}
    missing = {call: where for call, where in SPARK_DRIVER_CALLS.items() if call not in granted}
    assert not missing, f"the driver Role lacks what Spark's driver calls: {missing}"


def test_driver_rbac_is_least_privilege_and_executor_has_none(dev: Recording) -> None:
    role = dev.one("kubernetes:rbac.authorization.k8s.io/v1:Role").plain_inputs
    resources = {res for rule in role["rules"] for res in rule["resources"]}
    assert resources <= {"pods", "services", "configmaps", "persistentvolumeclaims"}
    pvc_verbs = next(rule["verbs"] for rule in role["rules"] if rule["resources"] == ["persistentvolumeclaims"])
    assert {"delete", "deletecollection"} <= set(pvc_verbs)  # Spark 4 deletes its claims at shutdown
    assert not any("*" in rule["verbs"] or "*" in rule["resources"] for rule in role["rules"])
    assert not any(v in rule["verbs"] for rule in role["rules"] for v in ("escalate", "bind", "impersonate"))
    binding = dev.one("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding").plain_inputs
    assert [s["name"] for s in binding["subjects"]] == ["spark-driver"]
    accounts = {
        r.plain_inputs["metadata"]["name"]: r.plain_inputs for r in dev.of_type("kubernetes:core/v1:ServiceAccount")
    }
    assert accounts["spark-executor"]["automountServiceAccountToken"] is False
    assert accounts["spark-driver"]["automountServiceAccountToken"] is True  # the driver calls the API server
    spec = dev.one(APP).plain_inputs["spec"]
    assert spec["driver"]["serviceAccount"] == "spark-driver"
    assert spec["executor"]["serviceAccount"] == "spark-executor"


def test_job_namespace_enforces_restricted_pod_security(dev: Recording) -> None:
    labels = next(r for r in dev.of_type(NS) if r.plain_inputs["metadata"]["name"] == "spark-jobs").plain_inputs
    assert labels["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_data_volume_is_protected_and_scratch_is_a_sized_empty_dir(dev: Recording) -> None:
    assert dev.one("kubernetes:core/v1:PersistentVolumeClaim").protect is True
    volumes = {v["name"]: v for v in dev.one(APP).plain_inputs["spec"]["volumes"]}
    scratch = [v for name, v in volumes.items() if name.startswith("spark-local-dir-")]
    assert len(scratch) == 1 and scratch[0]["emptyDir"]["sizeLimit"] == "10Gi"
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "spark-data"


def test_scripts_are_shipped_and_mounted_by_content_hash(dev: Recording) -> None:
    cm = dev.one("kubernetes:core/v1:ConfigMap").plain_inputs
    assert set(cm["data"]) >= {"sales_etl.py", "generate_data.py"}
    assert cm["data"]["sales_etl.py"] == read_scripts()["sales_etl.py"]
    assert cm["immutable"] is True
    name = cm["metadata"]["name"]
    assert re.fullmatch(r"sparkstack-jobs-[0-9a-f]{10}", name)
    for res in (dev.one(APP), dev.one(JOB)):
        inputs = res.plain_inputs
        spec = inputs["spec"] if res.type == APP else inputs["spec"]["template"]["spec"]
        assert {"name": name, "defaultMode": 292} in [v.get("configMap") for v in spec["volumes"]]


def test_the_scripts_name_changes_with_every_script_and_only_with_them() -> None:
    scripts = {"a.py": "print(1)\n", "b.py": "print(2)\n"}
    name = config_map_name(scripts)
    assert config_map_name(dict(reversed(scripts.items()))) == name  # the order files are read in does not count
    variants = [
        {**scripts, "a.py": "print(1) \n"},  # one byte more
        {"a.py": scripts["a.py"], "c.py": scripts["b.py"]},  # a file renamed
        {"a.py": "print(1)\nprint(2)\n", "b.py": ""},  # the same bytes, moved between files
        {**scripts, "c.py": ""},  # an empty file added
    ]
    names = {config_map_name(v) for v in variants}
    assert name not in names and len(names) == len(variants)


def test_scripts_are_read_in_name_order_and_refused_when_missing_or_too_big(tmp_path) -> None:
    from infra.platform.scripts import content_hash

    (tmp_path / "b.py").write_text("print(2)\n")
    (tmp_path / "a.py").write_text("print(1)\n")
    (tmp_path / "notes.txt").write_text("not shipped")
    scripts = read_scripts(tmp_path)
    assert list(scripts.items()) == [("a.py", "print(1)\n"), ("b.py", "print(2)\n")]
    expected = hashlib.sha256(b"a.py\0print(1)\n\0b.py\0print(2)\n\0").hexdigest()[:10]
    assert content_hash(scripts) == expected and config_map_name(scripts) == f"sparkstack-jobs-{expected}"
    (tmp_path / "c.py").write_text("#" * 899_982)  # 9 + 9 + 899,982 = 900,000 bytes: the most a run ships
    assert len(read_scripts(tmp_path)) == 3
    (tmp_path / "c.py").write_text("#" * 899_983)
    with pytest.raises(ValueError) as excinfo:
        read_scripts(tmp_path)
    assert str(excinfo.value) == "jobs/ holds 900001 bytes of scripts; a ConfigMap takes at most 900000"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError) as missing:
        read_scripts(empty)
    assert str(missing.value) == f"no PySpark scripts found in {empty}; the stack ships jobs/*.py"


def test_a_script_change_rolls_the_applications(monkeypatch: pytest.MonkeyPatch, dev: Recording) -> None:
    original = read_scripts()
    changed = {**original, "sales_etl.py": original["sales_etl.py"] + "\n# changed\n"}
    monkeypatch.setattr("infra.stack.read_scripts", lambda: changed)
    rec = run_program(stack_config("dev"))
    before, after = dev.one(APP), rec.one(APP)
    assert before.plain_inputs["spec"]["volumes"] != after.plain_inputs["spec"]["volumes"]
    assert after.replace_on_changes == ["spec"] and after.delete_before_replace


def test_generator_job_writes_the_etl_input_with_the_spark_image(dev: Recording) -> None:
    job = dev.one(JOB).plain_inputs
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "apache/spark:4.0.4-python3"
    command = container["command"]
    assert command[command.index("--output") + 1] == "/data/input"
    assert command[command.index("--rows-per-file") + 1] == "50000"
    etl_args = dev.one(APP).plain_inputs["spec"]["arguments"]
    assert etl_args[etl_args.index("--input") + 1] == "/data/input"
    assert job["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] == "900"


def test_regenerated_data_re_runs_the_applications_that_read_it(dev: Recording) -> None:
    rec = run_program(dev_config(generator={"rowsPerFile": 1000}))
    assert rec.one(APP).plain_inputs["spec"] != dev.one(APP).plain_inputs["spec"]
    # The schedule is not replaced: its next run reads the new data anyway.
    assert rec.one(SCHEDULED).plain_inputs["spec"] == dev.one(SCHEDULED).plain_inputs["spec"]

def test_etl_waits_for_completion_and_runs_nightly(dev: Recording) -> None:
    app = dev.one(APP).plain_inputs
    assert "@.state=='COMPLETED'" in app["metadata"]["annotations"]["pulumi.com/waitFor"]
    nightly = dev.one(SCHEDULED).plain_inputs["spec"]
    assert (nightly["schedule"], nightly["concurrencyPolicy"]) == ("0 3 * * *", "Forbid")
    assert int(nightly["successfulRunHistoryLimit"]) == 3 and int(nightly["failedRunHistoryLimit"]) == 5
    assert nightly["template"]["mainApplicationFile"] == app["spec"]["mainApplicationFile"]


def test_outputs_tell_users_where_to_look(dev: Recording) -> None:
    out = {k: v for k, v in dev.outputs.items() if k != "kubeconfig"}
    assert out["namespace"] == "spark-jobs"
    assert out["applications"] == {"sales-etl": {"script": "sales_etl.py", "run_on_up": True, "schedule": "0 3 * * *"}}
    assert "port-forward svc/sales-etl-ui-svc" in out["commands"]["sales-etl: spark_ui"]
    assert "logs -f sales-etl-driver" in out["commands"]["sales-etl: driver_log"]
    assert "scheduled-app-name=sales-etl" in out["commands"]["sales-etl: scheduled_runs"]


def test_generator_can_be_disabled() -> None:
    rec = run_program(dev_config(generator={"enabled": False}))
    assert rec.of_type(JOB) == []
    assert rec.one(APP)


def test_host_path_scratch_is_an_explicit_opt_in_that_lowers_pod_security() -> None:
    rec = run_program(dev_config(platform={"storage": {"scratchHostPath": "/mnt/spark-scratch"}}))
    ns = next(r for r in rec.of_type(NS) if r.plain_inputs["metadata"]["name"] == "spark-jobs")
    assert ns.plain_inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    volumes = rec.one(APP).plain_inputs["spec"]["volumes"]
    assert any(v.get("hostPath", {}).get("path") == "/mnt/spark-scratch" for v in volumes)


def test_existing_cluster_uses_secret_kubeconfig_and_context() -> None:
    config = {k: v for k, v in stack_config("existing").items()}
    config["sparkstack:kubeconfig"] = "apiVersion: v1\nkind: Config\n"
    config["sparkstack:objectStoreCredentials"] = {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "s3cr3t"}
    rec = run_program(config, stack="existing",
                      secret_keys=["sparkstack:kubeconfig", "sparkstack:objectStoreCredentials"])
    assert rec.of_type(KIND) == []
    provider = rec.one(PROVIDER)
    assert rpc.is_rpc_secret(provider.inputs["kubeconfig"])
    assert provider.plain_inputs["context"].startswith("arn:aws:eks:")
    assert provider.plain_inputs["clusterIdentifier"] == f"existing-{provider.plain_inputs['context']}"
    assert provider.plain_inputs["deleteUnreachable"] == "false"
    secret = rec.one("kubernetes:core/v1:Secret")
    assert rpc.is_rpc_secret(secret.inputs["stringData"])
    assert secret.plain_inputs["stringData"] == {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t"}
    assert (secret.name, secret.plain_inputs["type"]) == ("object-store-credentials", "Opaque")
    assert secret.plain_inputs["metadata"]["name"] == "object-store-credentials"
    assert secret.plain_inputs["metadata"]["labels"]["app.kubernetes.io/component"] == "credentials"
    app = rec.one(SCHEDULED)
    assert depends_on(rec, app, secret)
    env = {e["name"]: e for e in app.plain_inputs["spec"]["template"]["driver"]["env"]}
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "object-store-credentials"
    assert "s3cr3t" not in str(app.plain_inputs)
    assert rec.of_type(JOB) == []
    # Input in object storage, output on the ReadWriteMany claim (the job publishes only where rename is atomic):
    # both pods mount it.
    scheduled = rec.one(SCHEDULED).plain_inputs["spec"]["template"]
    assert "/data/curated/sales" in scheduled["arguments"]
    assert any(m["name"] == "data" for m in scheduled["executor"]["volumeMounts"])
    assert any(m["name"] == "data" for m in scheduled["driver"]["volumeMounts"])
    assert rec.one("kubernetes:core/v1:PersistentVolumeClaim").plain_inputs["spec"]["accessModes"] == ["ReadWriteMany"]
    # The stock image has no S3A connector: the application runs in the built image that carries it, not
    # spark.jars.packages (resolved in the operator's controller); tests/test_images.py checks the image.
    assert "spark.jars.packages" not in scheduled["sparkConf"]
    assert scheduled["image"].startswith("123456789012.dkr.ecr.eu-west-1.amazonaws.com/spark-etl@sha256:")
    assert rec.of_type(APP) == []  # runOnUp: false, scheduled only


# --- observability: event logs, History Server, metrics ---------------------------------------------------

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def test_every_application_logs_events_where_the_history_server_reads(dev: Recording) -> None:
    server = dev.one(DEPLOYMENT, "spark-history-server").plain_inputs
    container = server["spec"]["template"]["spec"]["containers"][0]
    options = dict(o.removeprefix("-D").split("=", 1)
                   for o in next(e["value"] for e in container["env"] if e["name"] == "SPARK_HISTORY_OPTS").split())
    assert options["spark.history.fs.logDirectory"] == "file:///data/spark-events"
    assert options["spark.history.fs.cleaner.enabled"] == "true"
    assert options["spark.history.fs.cleaner.maxAge"] == "7d"
    for spec in (dev.one(APP).plain_inputs["spec"], dev.one(SCHEDULED).plain_inputs["spec"]["template"]):
        conf = spec["sparkConf"]
        assert conf["spark.eventLog.enabled"] == "true"
        assert conf["spark.eventLog.dir"] == options["spark.history.fs.logDirectory"]
        assert {"name": "data", "mountPath": "/data"} in spec["driver"]["volumeMounts"]  # where the log goes


def test_history_server_is_restricted_sized_served_and_waited_for(dev: Recording) -> None:
    server = dev.one(DEPLOYMENT, "spark-history-server")
    pod = server.plain_inputs["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    for container in (*pod["initContainers"], *pod["containers"]):
        context = container["securityContext"]
        assert context["runAsNonRoot"] and not context["allowPrivilegeEscalation"]
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert container["resources"]["limits"]["memory"] and container["image"] == "apache/spark:4.0.4-python3"
    mounts = pod["containers"][0]["volumeMounts"]
    assert {"name": "data", "mountPath": "/data/spark-events", "subPath": "spark-events"} in mounts
    assert pod["initContainers"][0]["command"] == ["mkdir", "-p", "/data/spark-events"]
    service = dev.one("kubernetes:core/v1:Service", "spark-history-server").plain_inputs
    assert int(service["spec"]["ports"][0]["port"]) == 18080
    assert depends_on(dev, dev.one(APP), server)  # the log folder exists before a driver writes to it
    assert "port-forward svc/spark-history-server 18080:18080" in dev.outputs["commands"]["history_server"]


def test_metrics_on_drivers_executors_and_operator(dev: Recording) -> None:
    conf = dev.one(APP).plain_inputs["spec"]["sparkConf"]
    assert conf["spark.ui.prometheus.enabled"] == "true"
    sink = "spark.metrics.conf.*.sink.prometheusServlet"
    assert conf[f"{sink}.class"] == "org.apache.spark.metrics.sink.PrometheusServlet"
    assert conf[f"{sink}.path"] == "/metrics/prometheus"
    values = dev.one(RELEASE).plain_inputs["values"]["prometheus"]
    assert values == {"metrics": {"enable": True}, "podMonitor": {"create": False}}
    assert dev.of_type("kubernetes:monitoring.coreos.com/v1:PodMonitor") == []  # kind has no Prometheus Operator


def test_metric_names_are_namespaced_by_the_application_name_not_the_run(dev: Recording) -> None:
    """Without spark.metrics.namespace Spark names metrics after spark.app.id, new each run (MetricsSystem)."""
    run = dev.one(APP).plain_inputs
    scheduled = dev.one(SCHEDULED).plain_inputs
    for spec in (run["spec"], scheduled["spec"]["template"]):
        assert spec["sparkConf"]["spark.metrics.namespace"] == "sales-etl"
    off = run_program(dev_config(platform={"metrics": {"enabled": False}}))
    assert "spark.metrics.namespace" not in off.one(APP).plain_inputs["spec"]["sparkConf"]
    own = run_program(dev_config(applications={"sales-etl": {
        **stack_config("dev")["sparkstack:applications"]["sales-etl"], "sparkConf": {"spark.metrics.namespace": "x"}}}))
    assert own.one(APP).plain_inputs["spec"]["sparkConf"]["spark.metrics.namespace"] == "x"


def test_pod_monitors_carry_the_labels_prometheus_selects_on() -> None:
    rec = run_program(dev_config(platform={"metrics": {"podMonitor": True,
                                                       "podMonitorLabels": {"release": "kube-prometheus-stack"}}}))
    monitor = rec.one("kubernetes:monitoring.coreos.com/v1:PodMonitor").plain_inputs
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["metadata"]["labels"]["app.kubernetes.io/part-of"] == "sparkstack"  # ours are kept
    assert "namespaceSelector" not in monitor["spec"]  # its own namespace only, without teams
    # Both of Spark's servlets on the driver's UI port: the driver's and executors' metrics, and the executors'.
    assert monitor["spec"] == {"selector": {"matchLabels": {"spark-role": "driver"}}, "podMetricsEndpoints": [
        {"port": "spark-ui", "path": "/metrics/prometheus"},
        {"port": "spark-ui", "path": "/metrics/executors/prometheus"}]}
    assert (monitor["apiVersion"], monitor["kind"]) == ("monitoring.coreos.com/v1", "PodMonitor")
    assert monitor["metadata"] == {"name": "spark-drivers", "namespace": "spark-jobs", "labels": {
        "app.kubernetes.io/name": "spark-drivers", "app.kubernetes.io/component": "metrics",
        "app.kubernetes.io/part-of": "sparkstack", "app.kubernetes.io/managed-by": "pulumi",
        "release": "kube-prometheus-stack"}}
    operator = rec.one(RELEASE).plain_inputs["values"]["prometheus"]["podMonitor"]
    assert operator == {"create": True, "labels": {"release": "kube-prometheus-stack"}}


def test_history_server_runs_in_the_foreground_without_a_daemon_switch(dev: Recording) -> None:
    """spark-class is the container's process; SPARK_NO_DAEMONIZE is read only by sbin/spark-daemon.sh."""
    container = dev.one(DEPLOYMENT, "spark-history-server").plain_inputs["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][0] == "/opt/spark/bin/spark-class"
    assert "SPARK_NO_DAEMONIZE" not in {e["name"] for e in container["env"]}


def test_operator_controller_memory_covers_its_concurrent_submissions(dev: Recording) -> None:
    """Each worker may run one spark-submit JVM (about 250 MB resident, measured; see infra/platform/operator.py)
    beside the controller itself (allow 128 MiB): the limit must hold all of them at once."""
    controller = dev.one(RELEASE).plain_inputs["values"]["controller"]
    workers = controller["workers"]
    limit = controller["resources"]["limits"]["memory"]
    assert limit.endswith("Mi") and controller["resources"]["requests"]["memory"] == limit
    assert workers >= 2 and int(limit[:-2]) * 2**20 >= workers * 250 * 10**6 + 128 * 2**20


def test_pod_monitor_only_when_asked_and_history_can_be_off() -> None:
    rec = run_program(dev_config(platform={"metrics": {"podMonitor": True}, "history": {"enabled": False}}))
    monitor = rec.one("kubernetes:monitoring.coreos.com/v1:PodMonitor").plain_inputs
    assert monitor["spec"]["selector"] == {"matchLabels": {"spark-role": "driver"}}
    assert rec.one(RELEASE).plain_inputs["values"]["prometheus"]["podMonitor"] == {"create": True}
    assert rec.of_type(DEPLOYMENT) == []
    assert "spark.eventLog.enabled" not in rec.one(APP).plain_inputs["spec"]["sparkConf"]


def _restricted(uid: int = 185) -> dict[str, Any]:
    """The hardened container context every platform container gets (written out, not taken from conventions)."""
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}}


HISTORY_LABELS = {"app.kubernetes.io/component": "history-server", "app.kubernetes.io/part-of": "sparkstack",
                  "app.kubernetes.io/name": "spark-history-server", "app.kubernetes.io/managed-by": "pulumi"}


def test_the_history_server_deployment_and_service_in_full(dev: Recording) -> None:
    """Every field of the dev stack's History Server, written out: probes, ports, sizes, the log folder's init
    container and the pod's restrictions are each a default someone chose, so a change must show up here."""
    server = dev.one(DEPLOYMENT, "spark-history-server").plain_inputs
    assert server["metadata"]["labels"] == HISTORY_LABELS
    assert server["metadata"]["namespace"] == "spark-jobs"
    assert sorted(server["metadata"]["annotations"].values()) == [
        "CKV_K8S_15=IfNotPresent on purpose: the 1 GB Spark image is pre-pulled and tag-pinned",
        "CKV_K8S_40=the apache/spark image's user is uid 185; non-root is enforced",
        "CKV_K8S_43=images are pinned by exact tag in config; digests differ per registry mirror"]
    spec = server["spec"]
    assert {k: v for k, v in spec.items() if k != "template"} == {
        "replicas": 1, "strategy": {"type": "Recreate"},
        "selector": {"matchLabels": {"app.kubernetes.io/name": "spark-history-server"}}}
    assert spec["template"]["metadata"] == {"labels": HISTORY_LABELS}
    image = "apache/spark:4.0.4-python3"
    assert spec["template"]["spec"] == {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 185, "runAsGroup": 185, "fsGroup": 185,
                            "fsGroupChangePolicy": "OnRootMismatch", "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [{
            "name": "log-folder", "image": image, "imagePullPolicy": "IfNotPresent",
            "command": ["mkdir", "-p", "/data/spark-events"],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
            "securityContext": _restricted(),
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        }],
        "containers": [{
            "name": "history-server", "image": image, "imagePullPolicy": "IfNotPresent",
            "command": ["/opt/spark/bin/spark-class", "org.apache.spark.deploy.history.HistoryServer"],
            "env": [{"name": "SPARK_HISTORY_OPTS", "value": (
                "-Dspark.history.fs.logDirectory=file:///data/spark-events -Dspark.history.ui.port=18080 "
                "-Dspark.history.fs.cleaner.enabled=true -Dspark.history.fs.cleaner.maxAge=7d")}],
            "ports": [{"name": "http", "containerPort": 18080}],
            "readinessProbe": {"httpGet": {"path": "/api/v1/applications?limit=1", "port": "http"},
                               "periodSeconds": 10, "failureThreshold": 6},
            "livenessProbe": {"httpGet": {"path": "/api/v1/version", "port": "http"},
                              "initialDelaySeconds": 60, "periodSeconds": 30},
            "resources": {"requests": {"cpu": "100m", "memory": "1536Mi"},
                          "limits": {"cpu": "500m", "memory": "1536Mi"}},
            "securityContext": _restricted(),
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"},
                             {"name": "data", "mountPath": "/data/spark-events", "subPath": "spark-events"}],
        }],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                    {"name": "data", "persistentVolumeClaim": {"claimName": "spark-data"}}],
    }
    service = dev.one("kubernetes:core/v1:Service", "spark-history-server")
    assert service.plain_inputs["spec"] == {
        "selector": {"app.kubernetes.io/name": "spark-history-server"},
        "ports": [{"name": "http", "port": 18080, "targetPort": "http"}]}
    assert service.plain_inputs["metadata"] == {"name": "spark-history-server", "namespace": "spark-jobs",
                                                "labels": HISTORY_LABELS}
    assert depends_on(dev, service, dev.one(DEPLOYMENT, "spark-history-server"))


def test_the_operator_release_in_full(dev: Recording) -> None:
    """Chart 2.5.2's keys (its values.yaml) with our choices: our namespace only, our RBAC, 4 workers in 1280Mi."""
    release = dev.one(RELEASE)
    assert release.plain_inputs == {
        "name": "spark-operator", "chart": "spark-operator", "version": "2.5.2",
        "repositoryOpts": {"repo": "https://kubeflow.github.io/spark-operator"}, "namespace": "spark-operator",
        "skipAwait": False, "atomic": True, "cleanupOnFail": True, "timeout": 600, "maxHistory": 5,
        "compat": "true",
        "values": {
            "image": {"tag": "2.5.2"}, "hook": {"image": {"tag": "2.5.2"}},
            "spark": {"jobNamespaces": ["spark-jobs"], "serviceAccount": {"create": False, "name": "spark-driver"},
                      "rbac": {"create": False}},
            "webhook": {"enable": True, "failurePolicy": "Fail", "timeoutSeconds": 10},
            "controller": {"replicas": 1, "batchScheduler": {"enable": False}, "workers": 4,
                           "resources": {"requests": {"cpu": "100m", "memory": "1280Mi"},
                                         "limits": {"memory": "1280Mi"}}},
            "prometheus": {"metrics": {"enable": True}, "podMonitor": {"create": False}},
        },
    }
    # Helm's own timeout (600 s) plus a minute before Pulumi gives up on the release.
    assert release.custom_timeouts == {"create": "660s"}
    namespaces = {r.plain_inputs["metadata"]["name"]: r for r in dev.of_type(NS)}
    assert {namespaces["spark-operator"].urn, namespaces["spark-jobs"].urn} <= set(release.dependencies)


def test_the_image_prepull_daemonset_in_full(dev: Recording) -> None:
    """Pull the Spark image on every node with a no-op init container, then idle in the pause image."""
    prepull = dev.one("kubernetes:apps/v1:DaemonSet")
    assert prepull.name == "spark-image-prepull"
    assert prepull.custom_timeouts == {"create": "30m", "update": "30m"}  # a 1 GB pull on a slow link
    inputs = prepull.plain_inputs
    labels = {"app.kubernetes.io/component": "prepull", "app.kubernetes.io/part-of": "sparkstack",
              "app.kubernetes.io/name": "spark-image-prepull", "app.kubernetes.io/managed-by": "pulumi"}
    assert inputs["metadata"]["labels"] == labels
    assert sorted(inputs["metadata"]["annotations"].values()) == [
        "CKV_K8S_15=IfNotPresent on purpose: the 1 GB Spark image is pre-pulled and tag-pinned",
        "CKV_K8S_43=images are pinned by exact tag in config; digests differ per registry mirror",
        "CKV_K8S_8=the pause container serves nothing to probe",
        "CKV_K8S_9=the pause container serves nothing to probe"]
    tiny = {"requests": {"cpu": "1m", "memory": "8Mi"}, "limits": {"cpu": "50m", "memory": "32Mi"}}
    assert inputs["spec"] == {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "spark-image-prepull"}},
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "100%"}},
        "template": {"metadata": {"labels": labels}, "spec": {
            "automountServiceAccountToken": False, "enableServiceLinks": False, "terminationGracePeriodSeconds": 5,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532,
                                "fsGroupChangePolicy": "OnRootMismatch",
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "initContainers": [{"name": "pull-spark", "image": "apache/spark:4.0.4-python3",
                                "imagePullPolicy": "IfNotPresent", "command": ["/bin/sh", "-c", "exit 0"],
                                "resources": tiny, "securityContext": _restricted(65532)}],
            "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10", "imagePullPolicy": "IfNotPresent",
                            "resources": tiny, "securityContext": _restricted(65532)}],
        }},
    }


def test_the_spark_identities_in_full(dev: Recording) -> None:
    def labels(component: str) -> dict[str, str]:
        return {"app.kubernetes.io/component": component, "app.kubernetes.io/part-of": "sparkstack",
                "app.kubernetes.io/name": component, "app.kubernetes.io/managed-by": "pulumi"}

    def meta(name: str) -> dict[str, Any]:
        return {"name": name, "namespace": "spark-jobs", "labels": labels(name)}

    accounts = {r.name: r.plain_inputs for r in dev.of_type("kubernetes:core/v1:ServiceAccount")}
    assert accounts == {
        "spark-driver": {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("spark-driver"),
                         "automountServiceAccountToken": True},
        "spark-executor": {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("spark-executor"),
                           "automountServiceAccountToken": False},
    }
    every = ["create", "get", "list", "watch", "delete", "deletecollection"]
    role = dev.one("kubernetes:rbac.authorization.k8s.io/v1:Role")
    assert role.name == "spark-driver"
    assert role.plain_inputs["metadata"] == meta("spark-driver")
    assert role.plain_inputs["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": every},
        {"apiGroups": [""], "resources": ["services", "configmaps"], "verbs": every},
        {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": every[1:]},
    ]
    binding = dev.one("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    assert binding.name == "spark-driver"
    assert binding.plain_inputs["metadata"] == meta("spark-driver")
    assert binding.plain_inputs["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                               "name": "spark-driver"}
    assert binding.plain_inputs["subjects"] == [
        {"kind": "ServiceAccount", "name": "spark-driver", "namespace": "spark-jobs"}]


def test_operator_values_watch_the_teams_and_hand_pods_to_the_batch_scheduler() -> None:
    from infra.config import MetricsConfig
    from infra.platform.operator import operator_values

    metrics = MetricsConfig(enabled=False, pod_monitor=True, pod_monitor_labels={"release": "prom"})
    values = operator_values("spark-jobs", metrics, ["analytics", "finance"], batch_scheduler=True)
    assert values["spark"]["jobNamespaces"] == ["spark-jobs", "analytics", "finance"]
    assert values["controller"]["batchScheduler"] == {"enable": True}
    assert values["prometheus"] == {"metrics": {"enable": False},
                                    "podMonitor": {"create": True, "labels": {"release": "prom"}}}


def test_run_settings_for_event_logs_and_metrics_are_all_or_nothing() -> None:
    from infra.config import HistoryConfig, MetricsConfig
    from infra.platform.observability import event_log_conf, metrics_conf

    assert event_log_conf(HistoryConfig(log_directory="s3a://bucket/logs")) == {
        "spark.eventLog.enabled": "true", "spark.eventLog.dir": "s3a://bucket/logs"}
    assert event_log_conf(HistoryConfig(enabled=False)) == {}
    assert metrics_conf(MetricsConfig()) == {
        "spark.ui.prometheus.enabled": "true",
        "spark.metrics.conf.*.sink.prometheusServlet.class": "org.apache.spark.metrics.sink.PrometheusServlet",
        "spark.metrics.conf.*.sink.prometheusServlet.path": "/metrics/prometheus",
        "spark.metrics.appStatusSource.enabled": "true"}
    assert metrics_conf(MetricsConfig(enabled=False)) == {}


def _parsed(stack: str, **changes: Any) -> Any:
    from infra.config_loader import parse_config

    config = stack_config(stack)
    raw = {key.removeprefix("sparkstack:"): copy.deepcopy(value) for key, value in config.items()
           if key.startswith("sparkstack:")}
    for section, values in changes.items():
        raw.setdefault(section, {}).update(values)
    return parse_config(raw)


def test_the_commands_users_copy_in_full() -> None:
    from infra.stack import commands

    kube = "KUBECONFIG=<(pulumi stack output kubeconfig --show-secrets) "
    assert commands(_parsed("dev")) == {
        "status": f"{kube}kubectl -n spark-jobs get sparkapplications,scheduledsparkapplications",
        "history_server": f"{kube}kubectl -n spark-jobs port-forward svc/spark-history-server 18080:18080  "
                          "# then open http://localhost:18080",
        "sales-etl: spark_ui": f"{kube}kubectl -n spark-jobs port-forward svc/sales-etl-ui-svc 4040:4040",
        "sales-etl: driver_log": f"{kube}kubectl -n spark-jobs logs -f sales-etl-driver",
        "sales-etl: scheduled_runs": f"{kube}kubectl -n spark-jobs get sparkapplications "
                                     "-l sparkoperator.k8s.io/scheduled-app-name=sales-etl",
    }
    # An existing cluster: the user's own kubeconfig; a team's application is looked for in its namespace.
    teams = _parsed("teams")
    assert commands(teams) == {
        "status": "kubectl -n spark-jobs get sparkapplications,scheduledsparkapplications",
        "sales-etl: scheduled_runs": "kubectl -n analytics get sparkapplications "
                                     "-l sparkoperator.k8s.io/scheduled-app-name=sales-etl",
    }


def test_placement_takes_the_applications_priority_else_its_teams_and_the_teams_queue() -> None:
    from infra.stack import placement, uses_priorities

    teams = _parsed("teams")
    assert placement(teams, "analytics", None) == Placement(queue="root.analytics", priority="batch-default")
    assert placement(teams, "analytics", "batch-critical") == Placement(queue="root.analytics",
                                                                        priority="batch-critical")
    assert placement(teams, "finance", None) == Placement(queue="root.finance", priority=None)
    assert placement(teams, None, None) == Placement(queue="root.default", priority=None)
    dev = _parsed("dev")
    assert placement(dev, None, "batch-default") == Placement(queue=None, priority="batch-default")
    assert uses_priorities(teams) is True
    assert uses_priorities(dev) is False
    # Either one needs the PriorityClasses: a team (with or without a priority), or an application's priority.
    def with_priority(cfg: Any, priority: str | None) -> Any:
        app = cfg.applications["sales-etl"].model_copy(update={"priority": priority})
        return cfg.model_copy(update={"applications": {"sales-etl": app}})

    assert uses_priorities(with_priority(teams, None)) is True
    assert uses_priorities(with_priority(dev, "batch-default")) is True


def test_namespaces_claim_and_network_policy_in_full(dev: Recording) -> None:
    pss = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}
    # Pinned to the cluster's minor version, so an upgrade cannot tighten the profile silently.
    pss.update({f"pod-security.kubernetes.io/{mode}-version": "v1.33" for mode in ("enforce", "warn", "audit")})

    def namespace(name: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {
            "app.kubernetes.io/name": name, "app.kubernetes.io/component": "namespace",
            "app.kubernetes.io/part-of": "sparkstack", "app.kubernetes.io/managed-by": "pulumi", **pss}}}

    assert {r.name: r.plain_inputs for r in dev.of_type(NS)} == {
        "job-namespace": namespace("spark-jobs"), "operator-namespace": namespace("spark-operator")}
    claim = dev.one("kubernetes:core/v1:PersistentVolumeClaim")
    assert (claim.name, claim.protect) == ("spark-data", True)
    assert claim.plain_inputs["metadata"] == {"name": "spark-data", "namespace": "spark-jobs", "labels": {
        "app.kubernetes.io/name": "data", "app.kubernetes.io/component": "data",
        "app.kubernetes.io/part-of": "sparkstack", "app.kubernetes.io/managed-by": "pulumi"}}
    assert claim.plain_inputs["spec"] == {"accessModes": ["ReadWriteOnce"],
                                          "resources": {"requests": {"storage": "5Gi"}}}
    policy = dev.one("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    assert policy.name == "same-namespace-only"
    assert policy.plain_inputs["metadata"]["name"] == "same-namespace-only"
    assert policy.plain_inputs["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"],
                                           "ingress": [{"from": [{"podSelector": {}}]}]}


def test_object_store_keys_reach_pods_from_the_secret_by_name() -> None:
    from infra.secrets import credentials_env

    assert credentials_env() == [
        {"name": "AWS_ACCESS_KEY_ID",
         "valueFrom": {"secretKeyRef": {"name": "object-store-credentials", "key": "AWS_ACCESS_KEY_ID"}}},
        {"name": "AWS_SECRET_ACCESS_KEY",
         "valueFrom": {"secretKeyRef": {"name": "object-store-credentials", "key": "AWS_SECRET_ACCESS_KEY"}}}]


def test_the_data_generator_job_in_full(dev: Recording) -> None:
    """Pulumi.dev.yaml's generator (3 files of 50,000 rows, seed 42) with the default 900 s deadline."""
    job = dev.one(JOB)
    assert job.name == "data-generator"
    assert job.custom_timeouts == {"create": "1020s"}  # the deadline plus two minutes to schedule and pull
    inputs = job.plain_inputs
    assert "name" not in inputs["metadata"], "auto-named: a changed spec replaces the Job"
    assert inputs["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] == "900"
    scripts = config_map_name(read_scripts())
    assert inputs["spec"] == {
        "backoffLimit": 2, "activeDeadlineSeconds": 900,
        "template": {"metadata": {"labels": {
            "app.kubernetes.io/name": "data-generator", "app.kubernetes.io/component": "data-generator",
            "app.kubernetes.io/part-of": "sparkstack", "app.kubernetes.io/managed-by": "pulumi"}}, "spec": {
            "restartPolicy": "Never", "serviceAccountName": "spark-executor", "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 185, "runAsGroup": 185, "fsGroup": 185,
                                "fsGroupChangePolicy": "OnRootMismatch", "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "generate", "image": "apache/spark:4.0.4-python3", "imagePullPolicy": "IfNotPresent",
                "command": ["python3", "/opt/sparkstack/jobs/generate_data.py", "--output", "/data/input",
                            "--files", "3", "--rows-per-file", "50000", "--seed", "42"],
                "env": [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}, {"name": "PYTHONUNBUFFERED", "value": "1"}],
                "resources": {"requests": {"cpu": "250m", "memory": "128Mi"},
                              "limits": {"cpu": "1", "memory": "512Mi"}},
                "securityContext": _restricted(),
                "volumeMounts": [{"name": "jobs", "mountPath": "/opt/sparkstack/jobs", "readOnly": True},
                                 {"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
            }],
            "volumes": [{"name": "jobs", "configMap": {"name": scripts, "defaultMode": 0o444}},
                        {"name": "data", "persistentVolumeClaim": {"claimName": "spark-data"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
        }},
    }


def test_without_pre_pull_there_is_no_daemonset_and_nothing_waits_for_one() -> None:
    rec = run_program(dev_config(platform={"prePull": False}))
    assert rec.of_type("kubernetes:apps/v1:DaemonSet") == []
    assert rec.one(JOB) and rec.one(APP) and rec.one(DEPLOYMENT, "spark-history-server")


def test_a_driver_mounts_the_data_claim_for_its_event_log_only_while_the_history_server_reads_it() -> None:
    """An application that names no path on the data volume: its executors never mount the claim, its driver only
    to write the event log there (a ReadWriteOnce claim held needlessly pins pods to one node)."""
    config = dev_config(applications={"sales-etl": {**stack_config("dev")["sparkstack:applications"]["sales-etl"],
                                                    "arguments": []}})
    spec = run_program(config).one(APP).plain_inputs["spec"]
    assert [m["name"] for m in spec["driver"]["volumeMounts"]] == ["jobs", "spark-local-dir-scratch", "data"]
    assert [m["name"] for m in spec["executor"]["volumeMounts"]] == ["jobs", "spark-local-dir-scratch"]
    config["sparkstack:platform"]["history"] = {"enabled": False}
    spec = run_program(config).one(APP).plain_inputs["spec"]
    assert [m["name"] for m in spec["driver"]["volumeMounts"]] == ["jobs", "spark-local-dir-scratch"]

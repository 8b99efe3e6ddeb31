"""Teams as configuration (`sparkstack:teams`) under the mock engine: per-team objects, YuniKorn queues,
priorities, and the fit checks that refuse an application before any resource is created.

Expected figures are worked out here by hand from Spark 4.0.4's rule (memory + max(0.4 x memory, 384 MiB) for
Python applications), never taken from infra/fit.py.
"""

from __future__ import annotations

import copy
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from infra.config import ConfigError
from tests.crd_schema import crd_errors, validators
from tests.reference import OPERATOR_REFERENCE
from tests.scopes import recorded
from tools.plan.mock_engine import ROOT, Recording, Registered, run_program, stack_config

K8S_VERSION = "1.33"
NS = "kubernetes:core/v1:Namespace"
QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMITS = "kubernetes:core/v1:LimitRange"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
PRIORITY = "kubernetes:scheduling.k8s.io/v1:PriorityClass"
RELEASE = "kubernetes:helm.sh/v3:Release"
SCHEDULED = "kubernetes:sparkoperator.k8s.io/v1beta2:ScheduledSparkApplication"
YUNIKORN_VALUES = OPERATOR_REFERENCE.parent / "yunikorn-v1.8.0" / "chart" / "values.yaml"


@pytest.fixture(scope=recorded)
def teams() -> Recording:
    return run_program(stack_config("teams"), stack="teams")


def teams_config(**apps: dict[str, Any]) -> dict[str, Any]:
    config = copy.deepcopy(stack_config("teams"))
    for name, changes in apps.items():
        config["sparkstack:applications"][name].update(changes)
    return config


def in_namespace(rec: Recording, type_: str, namespace: str) -> list[Registered]:
    return [r for r in rec.of_type(type_) if r.plain_inputs["metadata"].get("namespace") == namespace]


def manifest(res: Registered) -> dict[str, Any]:
    group_version, kind = res.type.split(":")[1], res.type.split(":")[2]
    group, version = group_version.rsplit("/", 1) if "/" in group_version else ("", group_version)
    api_version = version if group in ("core", "") else f"{group}/{version}"
    body = {k: v for k, v in res.plain_inputs.items() if k not in ("apiVersion", "kind")}
    return {"apiVersion": api_version, "kind": kind, **body}


# --- the dev stack is unchanged without teams ----------------------------------------------------------------


def test_dev_stack_has_no_team_objects() -> None:
    dev = run_program(stack_config("dev"))
    assert not dev.of_type(QUOTA) and not dev.of_type(LIMITS) and not dev.of_type(PRIORITY)
    [release] = dev.of_type(RELEASE)
    values = release.plain_inputs["values"]
    assert values["spark"]["jobNamespaces"] == ["spark-jobs"]
    assert values["controller"]["batchScheduler"] == {"enable": False}
    spec = dev.one("kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication").plain_inputs["spec"]
    assert "batchScheduler" not in spec and "priorityClassName" not in spec["driver"]


# --- per team --------------------------------------------------------------------------------------------


def test_each_team_gets_a_namespace_watched_by_the_operator(teams: Recording) -> None:
    """Restricted, enforced as baseline where YuniKorn's placeholders must be admitted (tests/test_real_yunikorn.py
    shows restricted refusing them): warn and audit stay restricted. Without YuniKorn, enforced restricted."""
    labels = {r.plain_inputs["metadata"]["name"]: r.plain_inputs["metadata"]["labels"] for r in teams.of_type(NS)}
    for namespace in ("analytics", "finance", "spark-jobs"):
        assert labels[namespace]["pod-security.kubernetes.io/enforce"] == "baseline", namespace
        assert labels[namespace]["pod-security.kubernetes.io/warn"] == "restricted", namespace
        assert labels[namespace]["pod-security.kubernetes.io/audit"] == "restricted", namespace
    config = stack_config("teams")
    config["sparkstack:platform"] = {**config["sparkstack:platform"], "yunikorn": {"enabled": False}}
    without = run_program(config, stack="teams")
    enforce = "pod-security.kubernetes.io/enforce"
    enforced = {r.plain_inputs["metadata"]["name"]: r.plain_inputs["metadata"]["labels"][enforce]
                for r in without.of_type(NS)}
    assert {n: enforced[n] for n in ("analytics", "finance", "spark-jobs")} == dict.fromkeys(
        ("analytics", "finance", "spark-jobs"), "restricted")
    operator = next(r for r in teams.of_type(RELEASE) if r.plain_inputs["chart"] == "spark-operator")
    assert operator.plain_inputs["values"]["spark"]["jobNamespaces"] == ["spark-jobs", "analytics", "finance"]
    assert operator.plain_inputs["values"]["controller"]["batchScheduler"] == {"enable": True}


def test_host_path_scratch_makes_every_spark_namespace_privileged() -> None:
    """Every Spark pod mounts the hostPath scratch, which baseline and restricted both refuse: a team's namespace
    must be lowered like the job namespace, or its drivers are never admitted. The operator's stays restricted."""
    config = stack_config("teams")
    platform = config["sparkstack:platform"]
    config["sparkstack:platform"] = {**platform, "storage": {**platform["storage"],
                                                             "scratchHostPath": "/mnt/spark-scratch"}}
    rec = run_program(config, stack="teams")
    enforced = {r.plain_inputs["metadata"]["name"]: r.plain_inputs["metadata"]["labels"][
        "pod-security.kubernetes.io/enforce"] for r in rec.of_type(NS)}
    assert {n: enforced[n] for n in ("analytics", "finance", "spark-jobs")} == dict.fromkeys(
        ("analytics", "finance", "spark-jobs"), "privileged")
    assert enforced["spark-operator"] == "restricted"


def test_quota_and_limit_range_follow_the_team_config(teams: Recording) -> None:
    [analytics] = in_namespace(teams, QUOTA, "analytics")
    assert analytics.plain_inputs["spec"]["hard"] == {
        "requests.cpu": "16", "requests.memory": "64Gi", "limits.memory": "64Gi", "pods": "60"}
    [finance] = in_namespace(teams, QUOTA, "finance")
    assert finance.plain_inputs["spec"]["hard"]["pods"] == "30"
    [limits] = in_namespace(teams, LIMITS, "finance")
    [container] = limits.plain_inputs["spec"]["limits"]
    assert container["max"] == {"memory": "32Gi"}
    assert "cpu" not in container.get("default", {})  # a default CPU limit below a driver's request breaks it


def test_team_has_spark_identities_and_admins_manage_only_their_namespace(teams: Recording) -> None:
    accounts = {r.plain_inputs["metadata"]["name"] for r in
                in_namespace(teams, "kubernetes:core/v1:ServiceAccount", "finance")}
    assert accounts == {"spark-driver", "spark-executor"}
    admin = [b for b in in_namespace(teams, BINDING, "analytics")
             if b.plain_inputs["metadata"]["name"] == "spark-team-admin"]
    assert [s["name"] for s in admin[0].plain_inputs["subjects"]] == ["analytics-eng"]
    assert admin[0].plain_inputs["subjects"][0]["kind"] == "Group"
    assert not [b for b in in_namespace(teams, BINDING, "finance")
                if b.plain_inputs["metadata"]["name"] == "spark-team-admin"]  # finance names no admins
    role = next(r for r in in_namespace(teams, ROLE, "analytics")
                if r.plain_inputs["metadata"]["name"] == "spark-team-admin")
    verbs = {(res, v) for rule in role.plain_inputs["rules"] for res in rule["resources"] for v in rule["verbs"]}
    assert ("sparkapplications", "create") in verbs and ("pods/log", "get") in verbs
    assert ("pods", "delete") not in verbs and ("secrets", "get") not in verbs
    for kind in ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "kubernetes:core/v1:ConfigMap"):
        assert in_namespace(teams, kind, "analytics"), kind


def test_team_limits_admin_role_and_priority_classes_in_full(teams: Recording) -> None:
    def labels(component: str, name: str | None = None) -> dict[str, str]:
        return {"app.kubernetes.io/name": name or component, "app.kubernetes.io/component": component,
                "app.kubernetes.io/part-of": "sparkstack", "app.kubernetes.io/managed-by": "pulumi"}

    [limits] = in_namespace(teams, LIMITS, "analytics")
    assert limits.plain_inputs["metadata"] == {"name": "spark-team-limits", "namespace": "analytics",
                                               "labels": labels("team-limits")}
    # Only containers Spark does not size get defaults; no CPU limit; no container above the team's memory.
    assert limits.plain_inputs["spec"] == {"limits": [{
        "type": "Container", "defaultRequest": {"cpu": "100m", "memory": "128Mi"}, "default": {"memory": "512Mi"},
        "max": {"memory": "64Gi"}}]}
    [quota] = in_namespace(teams, QUOTA, "analytics")
    assert quota.plain_inputs["metadata"] == {"name": "spark-team-quota", "namespace": "analytics",
                                              "labels": labels("team-quota")}
    role = next(r for r in in_namespace(teams, ROLE, "analytics")
                if r.plain_inputs["metadata"]["name"] == "spark-team-admin")
    assert role.plain_inputs["metadata"]["labels"] == labels("team-admin")
    assert role.plain_inputs["rules"] == [
        {"apiGroups": ["sparkoperator.k8s.io"], "resources": ["sparkapplications", "scheduledsparkapplications"],
         "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
        {"apiGroups": ["sparkoperator.k8s.io"],
         "resources": ["sparkapplications/status", "scheduledsparkapplications/status"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods", "pods/log", "events", "services"],
         "verbs": ["get", "list", "watch"]}]
    binding = next(b for b in in_namespace(teams, BINDING, "analytics")
                   if b.plain_inputs["metadata"]["name"] == "spark-team-admin")
    assert binding.plain_inputs["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                               "name": "spark-team-admin"}
    assert binding.plain_inputs["subjects"] == [
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "analytics-eng"}]

    def priority(name: str, value: int, policy: str) -> dict[str, Any]:
        return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": name, "labels": labels("priority-class", name)}, "value": value,
                "globalDefault": False, "preemptionPolicy": policy,
                "description": f"sparkstack: {name} Spark applications"}

    assert {r.name: r.plain_inputs for r in teams.of_type(PRIORITY)} == {
        "priority-batch-critical": priority("batch-critical", 100_000, "PreemptLowerPriority"),
        "priority-batch-default": priority("batch-default", 10_000, "PreemptLowerPriority"),
        "priority-batch-preemptible": priority("batch-preemptible", 100, "Never")}


def test_new_objects_are_strictly_valid_for_kubernetes_1_33(teams: Recording) -> None:
    kinds = (NS, QUOTA, LIMITS, ROLE, BINDING, PRIORITY, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
    checked = 0
    for res in teams.resources:
        if res.type in kinds:
            kubernetes_validate.validate(manifest(res), K8S_VERSION, strict=True)
            checked += 1
    assert checked >= 15
    bad = manifest(teams.of_type(QUOTA)[0])
    bad["spec"]["hardd"] = bad["spec"].pop("hard")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


# --- scheduling and priorities ---------------------------------------------------------------------------


def test_application_runs_in_its_team_queue_with_its_priority(teams: Recording) -> None:
    scheduled = teams.one(SCHEDULED).plain_inputs
    assert scheduled["metadata"]["namespace"] == "analytics"
    template = scheduled["spec"]["template"]
    assert template["batchScheduler"] == "yunikorn"
    assert template["batchSchedulerOptions"] == {"queue": "root.analytics", "priorityClassName": "batch-critical"}
    for role in ("driver", "executor"):
        assert template[role]["labels"]["queue"] == "root.analytics"
        assert template[role]["priorityClassName"] == "batch-critical"
    errors = crd_errors(validators()["ScheduledSparkApplication"],
                        {"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "ScheduledSparkApplication",
                         "metadata": scheduled["metadata"], "spec": scheduled["spec"]})
    assert not errors, errors


def test_team_priority_applies_when_the_application_names_none() -> None:
    rec = run_program(teams_config(**{"sales-etl": {"priority": None}}), stack="teams")
    template = rec.one(SCHEDULED).plain_inputs["spec"]["template"]
    assert template["driver"]["priorityClassName"] == "batch-default"  # analytics' priority


def test_priority_classes_are_the_platforms(teams: Recording) -> None:
    classes = {r.plain_inputs["metadata"]["name"]: r.plain_inputs for r in teams.of_type(PRIORITY)}
    assert set(classes) == {"batch-critical", "batch-default", "batch-preemptible"}
    assert int(classes["batch-critical"]["value"]) > int(classes["batch-default"]["value"]) > \
        int(classes["batch-preemptible"]["value"])
    assert classes["batch-preemptible"]["preemptionPolicy"] == "Never"


def test_yunikorn_queues_one_per_team(teams: Recording) -> None:
    release = next(r for r in teams.of_type(RELEASE) if r.plain_inputs["chart"] == "yunikorn")
    assert release.plain_inputs["version"] == "1.8.0"
    queues = yaml.safe_load(release.plain_inputs["values"]["yunikornDefaults"]["queues.yaml"])
    [root] = queues["partitions"][0]["queues"]
    children = {q["name"]: q.get("resources") for q in root["queues"]}
    assert children["analytics"] == {"guaranteed": {"vcore": "8", "memory": "32Gi"},
                                     "max": {"vcore": "16", "memory": "64Gi"}}
    assert children["finance"] == {"max": {"vcore": "8", "memory": "32Gi"}}  # no queue: its quota is the max
    assert "default" in children
    # A pod's queue label must name a configured queue (a team cannot make itself a new one, outside the limits
    # above); a pod without one goes to root.default.
    assert queues["partitions"][0]["placementrules"] == [
        {"name": "provided", "create": False}, {"name": "fixed", "value": "root.default", "create": False}]


def test_the_yunikorn_release_in_full(teams: Recording) -> None:
    """Chart 1.8.0 with every image at the chart's own version, and the queues document exactly as written."""
    release = next(r for r in teams.of_type(RELEASE) if r.plain_inputs["chart"] == "yunikorn")
    assert release.custom_timeouts == {"create": "660s"}  # helm's 600 s plus a minute
    inputs = {k: v for k, v in release.plain_inputs.items() if k != "values"}
    assert inputs == {"name": "yunikorn", "chart": "yunikorn", "version": "1.8.0", "namespace": "yunikorn",
                      "repositoryOpts": {"repo": "https://apache.github.io/yunikorn-release"}, "skipAwait": False,
                      "atomic": True, "cleanupOnFail": True, "timeout": 600, "maxHistory": 5, "compat": "true"}
    values = release.plain_inputs["values"]
    assert {k: v for k, v in values.items() if k != "yunikornDefaults"} == {
        "image": {"tag": "scheduler-1.8.0", "pullPolicy": "IfNotPresent"},
        "pluginImage": {"tag": "scheduler-plugin-1.8.0", "pullPolicy": "IfNotPresent"},
        "admissionController": {"image": {"tag": "admission-1.8.0", "pullPolicy": "IfNotPresent"}},
        "web": {"image": {"tag": "web-1.8.0", "pullPolicy": "IfNotPresent"}}}
    assert yaml.safe_load(values["yunikornDefaults"]["queues.yaml"]) == {"partitions": [{
        "name": "default",
        "placementrules": [{"name": "provided", "create": False},
                           {"name": "fixed", "value": "root.default", "create": False}],
        "queues": [{"name": "root", "submitacl": "*", "queues": [
            {"name": "default"},
            {"name": "analytics", "resources": {"max": {"vcore": "16", "memory": "64Gi"},
                                                "guaranteed": {"vcore": "8", "memory": "32Gi"}}},
            {"name": "finance", "resources": {"max": {"vcore": "8", "memory": "32Gi"}}}]}],
    }]}


def test_a_queue_max_under_the_quota_caps_the_team_queue() -> None:
    config = teams_config()
    config["sparkstack:teams"]["analytics"]["queue"]["max"] = {"cpu": "15", "memory": "63Gi"}
    release = next(r for r in run_program(config, stack="teams").of_type(RELEASE)
                   if r.plain_inputs["chart"] == "yunikorn")
    queues = yaml.safe_load(release.plain_inputs["values"]["yunikornDefaults"]["queues.yaml"])
    [root] = queues["partitions"][0]["queues"]
    analytics = next(q for q in root["queues"] if q["name"] == "analytics")
    assert analytics["resources"]["max"] == {"vcore": "15", "memory": "63Gi"}  # not the quota's 16 / 64Gi


def _keys(values: dict[str, Any], prefix: str = "") -> set[str]:
    out = set()
    for key, value in values.items():
        out.add(prefix + key)
        if isinstance(value, dict) and key != "yunikornDefaults":
            out |= _keys(value, f"{prefix}{key}.")
    return out


def test_yunikorn_values_exist_in_the_pinned_chart(teams: Recording) -> None:
    if not YUNIKORN_VALUES.exists():
        pytest.skip(f"YuniKorn chart values not at {YUNIKORN_VALUES}")
    chart = _keys(yaml.safe_load(YUNIKORN_VALUES.read_text()))
    release = next(r for r in teams.of_type(RELEASE) if r.plain_inputs["chart"] == "yunikorn")
    ours = _keys(release.plain_inputs["values"])
    assert ours <= chart, ours - chart
    assert "notAKey" not in chart  # the comparison can fail


# --- fit checks, before any resource ---------------------------------------------------------------------


def _refused(config: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        run_program(config, stack="teams")
    assert not [r for r in info.value.recording.resources if r.type.startswith("kubernetes:")]
    return str(info.value)


def test_application_over_its_team_quota_is_refused_with_the_figures() -> None:
    config = teams_config(**{"sales-etl": {"team": "finance", "dynamicAllocation":
                                           {"initialExecutors": 2, "minExecutors": 1, "maxExecutors": 10},
                                           "executor": {"cores": 1, "memory": "3g"}}})
    # driver 2g: 2048 + int(0.4 x 2048) = 2867 MiB; executor 3g: 3072 + int(0.4 x 3072) = 4300 MiB.
    expected = Decimal(2867 + 10 * 4300) / 1024
    message = _refused(config)
    assert (f"sparkstack:applications.sales-etl: needs {expected:.1f}Gi memory at 10 executors; "
            "team finance allows 32Gi") in message
    assert "needs 11 CPU at 10 executors; team finance allows 8" in message


def test_application_over_its_queue_max_is_refused() -> None:
    config = teams_config()
    config["sparkstack:teams"]["analytics"]["queue"]["max"] = {"cpu": "16", "memory": "16Gi"}
    # sales-etl: driver 2g (2867 MiB) + 7 executors of 4g (4096 + 1638 MiB).
    expected = Decimal(2867 + 7 * 5734) / 1024
    assert f"needs {expected:.1f}Gi memory at 7 executors; the queue of team analytics allows at most 16Gi" \
        in _refused(config)


def test_one_executor_over_the_limit_range_is_refused() -> None:
    config = teams_config(**{"sales-etl": {"team": "finance", "executor": {"cores": 1, "memory": "28g"},
                                           "dynamicAllocation": {"initialExecutors": 1, "minExecutors": 1,
                                                                 "maxExecutors": 1}}})
    # 28g + 0.4 x 28g = 40141 MiB, above finance's 32Gi per container.
    assert "applications.sales-etl.executor.memory: one executor pod needs 39.2Gi; the LimitRange of team " \
           "finance allows at most 32Gi" in _refused(config)


def test_guaranteed_resources_over_the_cluster_capacity_are_refused() -> None:
    config = teams_config()
    config["sparkstack:teams"]["finance"]["queue"] = {"guaranteed": {"cpu": "4", "memory": "100Gi"},
                                                      "max": {"cpu": "8", "memory": "128Gi"}}
    message = _refused(config)
    assert "sparkstack:teams: the queues' guaranteed memory adds up to 132.0Gi (analytics 32Gi + finance 100Gi); " \
           "the cluster has 128Gi" in message


def test_unknown_team_and_priority_are_named() -> None:
    message = _refused(teams_config(**{"sales-etl": {"team": "marketing", "priority": "urgent"}}))
    assert "sparkstack:applications.sales-etl.team (got 'marketing'): is not a team; use one of: analytics, " \
           "finance" in message
    assert "sparkstack:applications.sales-etl.priority (got 'urgent')" in message


def test_team_applications_need_event_logs_off_the_platform_claim() -> None:
    config = teams_config()
    config["sparkstack:platform"]["history"] = {"enabled": True}
    assert "sparkstack:platform.history.logDirectory (got '/data/spark-events'): sales-etl run in their teams'" \
        in _refused(config)


def test_with_yunikorn_the_quota_must_hold_the_gang_with_the_driver_counted_twice() -> None:
    """Quota is charged per pod created: the pending driver, its placeholder and 7 executor placeholders. sales-etl
    with 7 executors from the start: 1 + 7 x 2 = 15 CPU at its largest fits a quota of 15; 2 x 1 + 7 x 2 = 16
    while YuniKorn gathers the gang does not (tests/test_real_yunikorn.py shows such a gang lost)."""
    config = teams_config(**{"sales-etl": {"dynamicAllocation": {"initialExecutors": 7, "minExecutors": 1,
                                                                 "maxExecutors": 7}}})
    config["sparkstack:teams"]["analytics"]["quota"]["cpu"] = "15"
    config["sparkstack:teams"]["analytics"]["queue"]["max"]["cpu"] = "15"
    message = _refused(config)
    assert ("sparkstack:applications.sales-etl: needs 16 CPU while YuniKorn gathers its gang (the driver and its "
            "placeholder, and 7 executor placeholders); team analytics allows 15") in message
    assert "memory" not in message and "pods" not in message
    # Pods the same way: 1 + 7 at the largest fit 8; 2 + 7 while gathering do not. Memory: the driver's 2g is
    # 2g + max(0.4 x 2g, 384Mi) = 2867Mi for a Python application, counted twice beside 7 executors of 5734Mi.
    config["sparkstack:teams"]["analytics"]["quota"].update(cpu="16", pods=8, memory=f"{2867 + 7 * 5734}Mi")
    config["sparkstack:teams"]["analytics"]["queue"]["max"]["cpu"] = "16"
    message = _refused(config)
    assert "needs 9 pods while YuniKorn gathers its gang" in message and "allows 8; lower" in message
    assert f"needs {(2 * 2867 + 7 * 5734) / 1024:.1f}Gi memory while YuniKorn gathers its gang" in message
    assert "CPU" not in message
    config["sparkstack:platform"]["yunikorn"]["enabled"] = False  # no placeholders: the largest footprint fits
    assert run_program(config, stack="teams").of_type(SCHEDULED)


def test_application_over_its_team_pod_count_is_refused() -> None:
    config = teams_config()
    config["sparkstack:teams"]["analytics"]["quota"]["pods"] = 5
    # sales-etl at its largest: 1 driver + maxExecutors 7 = 8 pods.
    assert "needs 8 pods at 7 executors; team analytics allows 5" in _refused(config)


def test_team_names_and_admins_are_checked_even_when_settings_do_not_parse() -> None:
    config = teams_config()
    config["sparkstack:teams"]["Data_Science"] = {"quota": {"cpu": "2"}}  # bad name, and memory/pods missing
    config["sparkstack:teams"]["spark-jobs"] = {"quota": {"cpu": "2", "memory": "4Gi", "pods": 5}}
    # kube-* namespaces are Kubernetes' own (kube-system, kube-public, kube-node-lease).
    config["sparkstack:teams"]["kube-data"] = {"quota": {"cpu": "2", "memory": "4Gi", "pods": 5}}
    config["sparkstack:teams"]["analytics"]["admins"] = ["group:analytics-eng", "alice"]
    message = _refused(config)
    assert "sparkstack:teams.Data_Science (got 'Data_Science'): not a valid Kubernetes name" in message
    assert "sparkstack:teams.Data_Science.quota.memory: is required" in message
    assert "sparkstack:teams.spark-jobs (got 'spark-jobs'): is a namespace the platform" in message
    assert "sparkstack:teams.kube-data (got 'kube-data'): is a namespace the platform" in message
    assert "sparkstack:teams.analytics.admins.1 (got 'alice'): must name a Kubernetes group" in message


def test_one_pod_monitor_scrapes_the_drivers_of_every_team() -> None:
    config = copy.deepcopy(stack_config("teams"))
    config["sparkstack:platform"].setdefault("metrics", {})["podMonitor"] = True
    rec = run_program(config, stack="teams")
    monitor = rec.one("kubernetes:monitoring.coreos.com/v1:PodMonitor").plain_inputs
    assert monitor["metadata"]["namespace"] == "spark-jobs"
    assert sorted(monitor["spec"]["namespaceSelector"]["matchNames"]) == ["analytics", "finance", "spark-jobs"]


# --- event logs of every team in one History Server, on kind --------------------------------------------------

PV = "kubernetes:core/v1:PersistentVolume"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
NODE_FOLDER = "/var/sparkstack/spark-events"


def kind_teams_config() -> dict[str, Any]:
    """The dev stack (kind, History Server on the data volume) with its application moved into a team."""
    config = copy.deepcopy(stack_config("dev"))
    config["sparkstack:teams"] = {"analytics": {"quota": {"cpu": "16", "memory": "64Gi", "pods": 60}}}
    config["sparkstack:applications"]["sales-etl"]["team"] = "analytics"
    return config


@pytest.fixture(scope=recorded)
def kind_teams() -> Recording:
    return run_program(kind_teams_config(), preview=True)


def test_on_kind_every_namespace_writes_event_logs_to_the_folder_the_history_server_reads(
        kind_teams: Recording) -> None:
    volumes = {r.plain_inputs["spec"]["claimRef"]["namespace"]: r.plain_inputs for r in kind_teams.of_type(PV)}
    assert set(volumes) == {"spark-jobs", "analytics"}
    claims = {r.plain_inputs["metadata"]["namespace"]: r.plain_inputs for r in kind_teams.of_type(PVC)
              if r.plain_inputs["metadata"]["name"] == "spark-events"}
    for ns, volume in volumes.items():
        assert volume["spec"]["hostPath"] == {"path": NODE_FOLDER, "type": "Directory"}
        assert volume["spec"]["claimRef"]["name"] == "spark-events"
        assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Retain"  # destroy leaves the logs
        assert claims[ns]["spec"]["volumeName"] == volume["metadata"]["name"] == f"spark-events-{ns}"
        assert claims[ns]["spec"]["storageClassName"] == volume["spec"]["storageClassName"]
        for res in (volume, claims[ns]):
            kind = "PersistentVolume" if res is volume else "PersistentVolumeClaim"
            kubernetes_validate.validate({"apiVersion": "v1", "kind": kind, **res}, K8S_VERSION, strict=True)
    # Every kind node mounts the one folder on this machine at the volumes' path.
    [cluster] = kind_teams.of_type("pulumi-python:dynamic:Resource")
    [mount] = [m for m in cluster.plain_inputs["extra_mounts"] if m["container_path"] == NODE_FOLDER]
    assert mount["host_path"] == str(ROOT / "data" / "event-logs" / "sparkstack-dev") and not mount["read_only"]
    # The History Server reads the folder through the platform's claim, where the drivers' log directory is.
    server = kind_teams.one("kubernetes:apps/v1:Deployment", "spark-history-server").plain_inputs["spec"]["template"]
    assert {"name": "spark-events", "persistentVolumeClaim": {"claimName": "spark-events"}} in \
        server["spec"]["volumes"]
    [container] = server["spec"]["containers"]
    assert {"name": "spark-events", "mountPath": "/data/spark-events"} in container["volumeMounts"]
    assert not server["spec"]["initContainers"]
    # The team's driver mounts its own namespace's claim there and logs to it; its executors do not.
    app = kind_teams.one("kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication").plain_inputs
    assert app["metadata"]["namespace"] == "analytics"
    assert app["spec"]["sparkConf"]["spark.eventLog.dir"] == "file:///data/spark-events"
    assert {"name": "spark-events", "mountPath": "/data/spark-events"} in app["spec"]["driver"]["volumeMounts"]
    assert all(m["name"] != "spark-events" for m in app["spec"]["executor"]["volumeMounts"])
    assert not crd_errors(validators()["SparkApplication"], app)


def test_event_logs_are_shared_only_on_kind_with_team_applications_and_logs_on_the_data_volume() -> None:
    from types import SimpleNamespace

    from infra.config import HistoryConfig
    from infra.platform.event_logs import shares_event_logs

    kind, existing = SimpleNamespace(kind="kind"), SimpleNamespace(kind="existing")
    on_volume = HistoryConfig()
    team_app, own_app = SimpleNamespace(team="analytics"), SimpleNamespace(team=None)
    assert shares_event_logs(kind, on_volume, {"a": own_app, "b": team_app}) is True
    assert shares_event_logs(existing, on_volume, {"b": team_app}) is False
    assert shares_event_logs(kind, HistoryConfig(enabled=False), {"b": team_app}) is False
    assert shares_event_logs(kind, HistoryConfig(log_directory="s3a://logs/spark"), {"b": team_app}) is False
    assert shares_event_logs(kind, on_volume, {"a": own_app}) is False


def test_the_shared_event_log_volume_and_claim_in_full(kind_teams: Recording) -> None:
    def labels() -> dict[str, str]:
        return {"app.kubernetes.io/name": "event-logs", "app.kubernetes.io/component": "event-logs",
                "app.kubernetes.io/part-of": "sparkstack", "app.kubernetes.io/managed-by": "pulumi"}

    [volume] = [r for r in kind_teams.of_type(PV) if r.plain_inputs["spec"]["claimRef"]["namespace"] == "analytics"]
    assert volume.plain_inputs["metadata"] == {"name": "spark-events-analytics", "labels": labels()}
    assert volume.plain_inputs["spec"] == {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"], "persistentVolumeReclaimPolicy": "Retain",
        "storageClassName": "sparkstack-events", "hostPath": {"path": NODE_FOLDER, "type": "Directory"},
        "claimRef": {"namespace": "analytics", "name": "spark-events"}}
    [claim] = [r for r in in_namespace(kind_teams, PVC, "analytics") if r.plain_inputs["metadata"]["name"] ==
               "spark-events"]
    assert claim.plain_inputs["metadata"] == {"name": "spark-events", "namespace": "analytics", "labels": labels()}
    assert claim.plain_inputs["spec"] == {
        "accessModes": ["ReadWriteMany"], "storageClassName": "sparkstack-events",
        "volumeName": "spark-events-analytics", "resources": {"requests": {"storage": "1Gi"}}}


def test_the_folder_is_made_writable_for_the_pods_on_up_and_left_alone_on_preview(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import infra.platform.event_logs as event_logs

    monkeypatch.setattr(event_logs, "HOST_ROOT", tmp_path / "event-logs")
    run_program(kind_teams_config(), preview=True)
    assert not (tmp_path / "event-logs").exists()
    run_program(kind_teams_config())
    folder = tmp_path / "event-logs" / "sparkstack-dev"
    assert folder.is_dir() and stat.S_IMODE(folder.stat().st_mode) == 0o1777  # uid 185 writes, nobody else deletes


def test_without_team_applications_kind_keeps_event_logs_on_the_data_claim() -> None:
    dev = run_program(stack_config("dev"), preview=True)
    assert not dev.of_type(PV)
    [cluster] = dev.of_type("pulumi-python:dynamic:Resource")
    assert all(m["container_path"] != NODE_FOLDER for m in cluster.plain_inputs["extra_mounts"])


# --- the fit rules as pure functions: figures worked out by hand -----------------------------------------------


def _fit_lines(apps: dict[str, dict[str, Any]], teams: dict[str, dict[str, Any]],
               platform: dict[str, Any] | None = None, cluster: dict[str, Any] | None = None) -> list[str]:
    from infra.config import ClusterConfig, PlatformConfig, TeamConfig
    from infra.config_applications import ApplicationConfig
    from infra.fit import team_problems

    return [p.line() for p in team_problems(
        PlatformConfig.model_validate(platform or {}), {n: TeamConfig.model_validate(t) for n, t in teams.items()},
        {n: ApplicationConfig.model_validate({"script": "sales_etl.py", **a}) for n, a in apps.items()},
        list(teams), ClusterConfig.model_validate(cluster or {}))]


def _team(cpu: str, memory: str, pods: int, **more: Any) -> dict[str, Any]:
    return {"quota": {"cpu": cpu, "memory": memory, "pods": pods}, **more}


# A default 2g pod of a Python application: 2048 + max(int(0.4 x 2048), 384) = 2867 MiB (Spark 4.0.4).
POD_MIB = 2867


def test_over_quota_and_queue_each_limit_gets_its_line() -> None:
    # 1 driver + 5 executors of 2867 MiB = 17202 MiB = 16.8Gi; 6 cores; 6 pods.
    app = {"team": "data", "dynamicAllocation": {"maxExecutors": 5}}
    team = _team("4", "8Gi", 4, queue={"max": {"cpu": "2", "memory": "4Gi"}})
    fix_memory = "lower maxExecutors or the executor memory, or raise the team's limit"
    fix_cpu = "lower maxExecutors or coreRequest, or raise the team's limit"
    assert _fit_lines({"etl": app}, {"data": team}) == [
        f"  sparkstack:applications.etl: needs 16.8Gi memory at 5 executors; team data allows 8Gi; {fix_memory}",
        f"  sparkstack:applications.etl: needs 6 CPU at 5 executors; team data allows 4; {fix_cpu}",
        "  sparkstack:applications.etl: needs 16.8Gi memory at 5 executors; the queue of team data allows at most "
        f"4Gi; {fix_memory}",
        "  sparkstack:applications.etl: needs 6 CPU at 5 executors; the queue of team data allows at most 2; "
        f"{fix_cpu}",
        "  sparkstack:applications.etl: needs 6 pods at 5 executors; team data allows 4; lower maxExecutors or raise "
        "the team's quota.pods"]
    # Exactly the footprint fits: 17202Mi, 6 CPU, 6 pods.
    assert _fit_lines({"etl": app}, {"data": _team("6", f"{6 * POD_MIB}Mi", 6)}) == []


def test_the_gang_must_fit_where_the_largest_footprint_does() -> None:
    """min = initial = max = 2: at its largest 1 + 2 pods (3 CPU, 3 x 2867 MiB) fit the quota exactly; while YuniKorn
    gathers the gang the driver counts twice: 4 CPU, 4 x 2867 = 11468 MiB = 11.2Gi, 1 + 2 + 1 = 4 pods."""
    app = {"team": "data", "dynamicAllocation": {"minExecutors": 2, "initialExecutors": 2, "maxExecutors": 2}}
    team = _team("3", f"{3 * POD_MIB}Mi", 3)
    while_ = "while YuniKorn gathers its gang (the driver and its placeholder, and 2 executor placeholders)"
    fix = "lower minExecutors/initialExecutors or the driver's size, or raise the team's quota"
    yunikorn = {"yunikorn": {"enabled": True}}
    assert _fit_lines({"etl": app}, {"data": team}, yunikorn) == [
        f"  sparkstack:applications.etl: needs 11.2Gi memory {while_}; team data allows 8601Mi; {fix}",
        f"  sparkstack:applications.etl: needs 4 CPU {while_}; team data allows 3; {fix}",
        f"  sparkstack:applications.etl: needs 4 pods {while_}; team data allows 3; {fix}.pods"]
    assert _fit_lines({"etl": app}, {"data": team}) == []  # no batch scheduler, no placeholders
    assert _fit_lines({"etl": app}, {"data": _team("4", f"{4 * POD_MIB}Mi", 4)}, yunikorn) == []
    # Static allocation: the gang is executor.instances.
    static = {"team": "data", "dynamicAllocation": {"enabled": False}, "executor": {"instances": 2}}
    assert len(_fit_lines({"etl": static}, {"data": team}, yunikorn)) == 3


def test_one_pod_over_the_limit_range() -> None:
    # 8g executor: 8192 + int(0.4 x 8192) = 11468 MiB = 11.2Gi; with the driver 2867 + 11468 = 14335 MiB = 14.0Gi.
    app = {"team": "data", "dynamicAllocation": {"enabled": False}, "executor": {"memory": "8g"}}
    assert _fit_lines({"etl": app}, {"data": _team("8", "10Gi", 10)}) == [
        "  sparkstack:applications.etl: needs 14.0Gi memory at 1 executors; team data allows 10Gi; lower "
        "maxExecutors or the executor memory, or raise the team's limit",
        "  sparkstack:applications.etl.executor.memory: one executor pod needs 11.2Gi; the LimitRange of team data "
        "allows at most 10Gi per container"]
    big_driver = {"team": "data", "dynamicAllocation": {"enabled": False}, "driver": {"memory": "8g"}}
    assert _fit_lines({"etl": big_driver}, {"data": _team("8", "12Gi", 10)}) == [
        "  sparkstack:applications.etl: needs 14.0Gi memory at 1 executors; team data allows 12Gi; lower "
        "maxExecutors or the executor memory, or raise the team's limit"]
    assert _fit_lines({"etl": big_driver}, {"data": _team("8", "11Gi", 10)})[-1] == (
        "  sparkstack:applications.etl.driver.memory: one driver pod needs 11.2Gi; the LimitRange of team data "
        "allows at most 11Gi per container")


def test_queue_guarantees_above_their_max_and_above_the_cluster() -> None:
    teams = {"a": _team("8", "8Gi", 9, queue={"guaranteed": {"cpu": "9", "memory": "8Gi"},
                                              "max": {"cpu": "8", "memory": "8Gi"}}),
             "b": _team("8", "8Gi", 9, queue={"guaranteed": {"cpu": "2.5", "memory": "1Gi"},
                                              "max": {"cpu": "8", "memory": "500Mi"}})}
    capacity = {"capacity": {"cpu": "11", "memory": "9Gi"}}
    assert _fit_lines({}, teams, capacity) == [
        "  sparkstack:teams.a.queue.guaranteed.cpu (got '9'): is above queue.max.cpu (8); lower it",
        "  sparkstack:teams.b.queue.guaranteed.memory (got '1Gi'): is above queue.max.memory (500Mi); lower it",
        "  sparkstack:teams: the queues' guaranteed cpu adds up to 11.5 (a 9 + b 2.5); the cluster has 11 "
        "(platform.capacity.cpu); lower a team's queue.guaranteed"]
    assert _fit_lines({}, teams, {"capacity": {"cpu": "11.5", "memory": "8Gi"}})[-1] == (
        "  sparkstack:teams: the queues' guaranteed memory adds up to 9.0Gi (a 8Gi + b 1Gi); the cluster has 8Gi "
        "(platform.capacity.memory); lower a team's queue.guaranteed")
    assert len(_fit_lines({}, teams, {"capacity": {"cpu": "11.5", "memory": "9Gi"}})) == 2  # equal fits


@pytest.mark.parametrize("name", ["spark-jobs", "spark-operator", "yunikorn", "default", "kube-data"])
def test_team_names_the_platform_or_kubernetes_uses(name: str) -> None:
    assert _fit_lines({}, {name: _team("1", "1Gi", 2)}) == [
        f"  sparkstack:teams.{name} (got {name!r}): is a namespace the platform (or Kubernetes) already uses; rename "
        "the team"]


def test_a_team_name_that_is_no_namespace_name() -> None:
    assert _fit_lines({}, {"Data_Eng": _team("1", "1Gi", 2)}) == [
        "  sparkstack:teams.Data_Eng (got 'Data_Eng'): not a valid Kubernetes name; use at most 63 lowercase letters, "
        "digits and '-', starting and ending with a letter or digit (e.g. 'spark-jobs'); the team's namespace takes "
        "this name"]
    assert _fit_lines({}, {"kubeflow": _team("1", "1Gi", 2), "defaults": _team("1", "1Gi", 2)}) == []


def test_unknown_team_and_priority_read_in_full() -> None:
    assert _fit_lines({"etl": {"team": "data", "priority": "urgent"}}, {}) == [
        "  sparkstack:applications.etl.priority (got 'urgent'): is not one of the platform's priority classes; write "
        "one of batch-critical, batch-default, batch-preemptible",
        "  sparkstack:applications.etl.team (got 'data'): is not a team; use one of: none configured under "
        "sparkstack:teams"]
    assert _fit_lines({"etl": {"priority": "batch-default"}}, {}) == []


def test_team_applications_and_event_logs_on_the_claim_outside_kind() -> None:
    apps = {"etl": {"team": "data"}, "etl2": {"team": "data"}, "own": {}}
    team = {"data": _team("8", "32Gi", 20)}
    existing = {"kind": "existing", "context": "x"}
    assert _fit_lines(apps, team, cluster=existing) == [
        "  sparkstack:platform.history.logDirectory (got '/data/spark-events'): etl, etl2 run in their teams' "
        "namespaces, whose drivers cannot write to the platform's data claim; keep event logs in object storage "
        "(s3a://bucket/prefix), which every team's drivers and the History Server share, or set "
        "platform.history.enabled: false"]
    assert _fit_lines(apps, team) == []  # kind: one folder on the nodes
    assert _fit_lines(apps, team, {"history": {"enabled": False}}, existing) == []
    assert _fit_lines(apps, team, {"history": {"logDirectory": "s3a://b/ev/"}}, existing) == []
    assert _fit_lines({"own": {}}, team, cluster=existing) == []


def test_a_size_spark_refuses_in_spark_conf_is_named() -> None:
    app = {"team": "data", "sparkConf": {"spark.executor.pyspark.memory": "lots"}}
    [line] = _fit_lines({"etl": app}, {"data": _team("8", "32Gi", 20)})
    assert line.startswith("  sparkstack:applications.etl.sparkConf: cannot size the pods (not a Spark memory size;")


@pytest.mark.parametrize(("role", "memory", "overhead", "conf", "mib"), [
    ("driver", "2g", None, {}, 2048 + 819),  # 0.4 x 2048 = 819.2
    ("executor", "512m", None, {}, 512 + 384),  # 0.4 x 512 = 204 < the 384 MiB minimum
    ("executor", "960m", None, {}, 960 + 384),  # 0.4 x 960 = 384: the minimum, either way
    ("executor", "961m", None, {}, 961 + 384),  # 384.4 rounds down to 384
    ("executor", "2g", "1g", {}, 2048 + 1024),
    ("executor", "8g", None, {"spark.kubernetes.memoryOverheadFactor": "0.2"}, 8192 + 1638),
    ("executor", "8g", None, {"spark.kubernetes.memoryOverheadFactor": "0.2",
                              "spark.executor.memoryOverheadFactor": "0.1"}, 8192 + 819),
    ("driver", "8g", None, {"spark.executor.memoryOverheadFactor": "0.1"}, 8192 + 3276),
    ("executor", "2g", None, {"spark.executor.minMemoryOverhead": "1g"}, 2048 + 1024),
    ("driver", "2g", None, {"spark.executor.minMemoryOverhead": "1g"}, 2048 + 819),
    ("executor", "2g", None, {"spark.memory.offHeap.enabled": " True ", "spark.memory.offHeap.size": "1g"},
     2048 + 819 + 1024),
    ("executor", "2g", None, {"spark.memory.offHeap.enabled": "false", "spark.memory.offHeap.size": "1g"},
     2048 + 819),
    ("executor", "2g", None, {"spark.memory.offHeap.enabled": "true"}, 2048 + 819),
    ("executor", "2g", None, {"spark.executor.pyspark.memory": "512m"}, 2048 + 819 + 512),
    ("driver", "2g", None, {"spark.executor.pyspark.memory": "512m"}, 2048 + 819),
])
def test_pod_memory_as_spark_sizes_it(role: str, memory: str, overhead: str | None, conf: dict[str, str],
                                      mib: int) -> None:
    from infra.config_applications import PodConfig
    from infra.fit import pod_memory_mib

    assert pod_memory_mib(role, PodConfig(memory_overhead=overhead), memory, conf) == mib


def test_cpu_and_footprints() -> None:
    from infra.config_applications import ApplicationConfig, PodConfig
    from infra.fit import footprint, gang_executors, gang_peak, gib, pod_cpu

    assert pod_cpu(PodConfig(cores=3)) == 3 and pod_cpu(PodConfig(cores=3, core_request="500m")) == Decimal("0.5")
    app = ApplicationConfig.model_validate({
        "script": "a.py", "driver": {"cores": 2, "memory": "1g"}, "executor": {"coreRequest": "1.5", "memory": "4g"},
        "dynamicAllocation": {"minExecutors": 3, "initialExecutors": 1, "maxExecutors": 6}})
    fp = footprint(app)
    # driver 1024 + 409 = 1433 MiB; executor 4096 + 1638 = 5734 MiB.
    assert (fp.executors, fp.driver_mib, fp.executor_mib, fp.driver_cpu, fp.executor_cpu) == (
        6, 1433, 5734, 2, Decimal("1.5"))
    assert (fp.memory_bytes, fp.cpu, fp.pods) == ((1433 + 6 * 5734) * 2**20, Decimal("11"), 7)
    assert gang_executors(app) == 3  # max(min 3, initial 1)
    assert gang_executors(app.model_copy(update={"dynamic_allocation": app.dynamic_allocation.model_copy(
        update={"initial_executors": 4})})) == 4
    peak = gang_peak(app)
    assert (peak.executors, peak.driver_mib, peak.driver_cpu, peak.executor_mib) == (3, 2 * 1433, 4, 5734)
    assert gib(3 * 2**29) == "1.5Gi" and gib(2**30 - 2**20) == "1.0Gi"


def test_yunikorn_runs_in_a_baseline_namespace_under_the_platform(teams: Recording) -> None:
    """The YuniKorn chart's pods set no security context (v1.8.0 values.yaml: every `*SecurityContext` is `{}`),
    which `restricted` refuses, so its namespace enforces `baseline` and warns `restricted`; its release belongs to
    the platform component like every other chart."""
    [ns] = [r for r in teams.of_type(NS) if r.plain_inputs["metadata"]["name"] == "yunikorn"]
    labels = ns.plain_inputs["metadata"]["labels"]
    assert (labels["pod-security.kubernetes.io/enforce"], labels["pod-security.kubernetes.io/warn"]) == (
        "baseline", "restricted")
    [platform] = teams.of_type("sparkstack:platform:Platform")
    [release] = [r for r in teams.of_type(RELEASE) if r.plain_inputs["chart"] == "yunikorn"]
    assert release.parent == platform.urn


def test_each_teams_identities_have_their_own_pulumi_names(teams: Recording) -> None:
    """The accounts share their Kubernetes names across namespaces; their Pulumi names must not collide."""
    accounts = sorted(r.name for r in teams.of_type("kubernetes:core/v1:ServiceAccount"))
    assert accounts == ["spark-driver", "spark-executor", "team-analytics-spark-driver",
                        "team-analytics-spark-executor", "team-finance-spark-driver", "team-finance-spark-executor"]


def test_every_data_claim_asks_for_the_configured_storage_class(teams: Recording) -> None:
    claims = {r.plain_inputs["metadata"]["namespace"]: r.plain_inputs["spec"]
              for r in teams.of_type("kubernetes:core/v1:PersistentVolumeClaim")}
    assert sorted(claims) == ["analytics", "finance", "spark-jobs"]
    for spec in claims.values():  # Pulumi.teams.yaml's platform.storage
        assert (spec["storageClassName"], spec["accessModes"]) == ("efs-sc", ["ReadWriteMany"])

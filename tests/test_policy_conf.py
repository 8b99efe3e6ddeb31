"""The pack's model of what Spark Operator v2.5.2 hands spark-submit (policy/spark_submit_conf.py), in process.

Every expected key, value and order below is read by hand from the operator's source at tag v2.5.2, not from the
code under test: internal/controller/sparkapplication/submission.go (`buildSparkSubmitArgs` and its option
functions), pkg/common/spark.go and constants.go (the key templates, label names, secret file names, volume types),
pkg/util/sparkapplication.go (`GetDriverPodName`, `GetLocalVolumes`). spark-submit keeps the last `--conf` of a
key, so the order is the contract the rules rely on.
"""

from __future__ import annotations

from typing import Any

import pytest
from spark_submit_conf import (
    ANY_KEY,
    UNKNOWN,
    Problem,
    Setting,
    Unknown,
    effective,
    go_string,
    plain_conf,
    submit_settings,
)

IMAGE = "apache/spark:4.0.4-python3"
EXECUTOR_IMAGE = "registry.local:5000/spark:4.0.4-exec"
LABELS = {"team": "analytics", "kueue.x-k8s.io/queue-name": "batch"}


def full_spec() -> dict[str, Any]:
    """A spec that sets every field the operator turns into a `--conf` (numbers as the engine sends them)."""
    return {
        "deps": {"jars": ["local:///opt/a.jar", "local:///opt/b.jar"], "packages": ["org.example:lib:1.0"],
                 "excludePackages": ["org.example:old"], "repositories": ["https://repo.example/maven"],
                 "pyFiles": ["local:///opt/helpers.zip"], "files": ["local:///opt/lookup.csv"],
                 "archives": ["local:///opt/env.tgz#env"]},
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "imagePullSecrets": ["reg-a", "reg-b"],
        "pythonVersion": "3",
        "memoryOverheadFactor": "0.4",
        "sparkConf": {"spark.sql.adaptive.enabled": "true", "spark.kubernetes.driver.pod.name": "from-conf"},
        "hadoopConf": {"fs.s3a.endpoint": "http://minio:9000"},
        "driver": {
            "podName": "etl-drv", "cores": 1.0, "coreRequest": "500m", "coreLimit": "1200m", "memory": "2g",
            "memoryOverhead": "512m", "serviceAccount": "spark", "javaOptions": "-Dd=1",
            "kubernetesMaster": "https://k8s:443", "labels": {"role": "drv"}, "annotations": {"a": "1"},
            "serviceLabels": {"sl": "x"}, "serviceAnnotations": {"sa": "y"},
            "envSecretKeyRefs": {"TOKEN": {"name": "creds", "key": "token"}}, "envVars": {"MODE": "batch"},
            "secrets": [{"name": "gcp", "path": "/mnt/gcp/", "secretType": "GCPServiceAccount"}],
            "volumeMounts": [{"name": "jobs", "mountPath": "/opt/jobs"},
                             {"name": "spark-local-dir-a", "mountPath": "/scratch/a", "subPath": "drv",
                              "readOnly": True}],
        },
        "executor": {
            "instances": 2.0, "image": EXECUTOR_IMAGE, "cores": 2.0, "coreRequest": "1", "coreLimit": "2",
            "memory": "4g", "memoryOverhead": "1g", "serviceAccount": "spark-exec", "deleteOnTermination": False,
            "javaOptions": "-De=1", "labels": {"role": "exe"}, "annotations": {"b": "2"},
            "envSecretKeyRefs": {"PW": {"name": "creds", "key": "pw"}}, "envVars": {"MODE": "exec"},
            "secrets": [{"name": "hdt", "path": "/mnt/hdt", "secretType": "HadoopDelegationToken"},
                        {"name": "plain", "path": "/mnt/plain"}],
            "volumeMounts": [{"name": "spark-local-dir-b", "mountPath": "/scratch/b"},
                             {"name": "spark-local-dir-c", "mountPath": "/scratch/c"},
                             {"name": "spark-local-dir-d", "mountPath": "/scratch/d", "readOnly": False}],
        },
        "volumes": [{"name": "jobs", "configMap": {"name": "sparkstack-jobs"}},
                    {"name": "spark-local-dir-a", "emptyDir": {"sizeLimit": "10Gi", "medium": "Memory"}},
                    {"name": "spark-local-dir-b", "hostPath": {"path": "/data/b", "type": "Directory"}},
                    {"name": "spark-local-dir-c", "nfs": {"path": "/export", "server": "nfs.local", "readOnly": True}},
                    {"name": "spark-local-dir-d", "persistentVolumeClaim": {"claimName": "scratch",
                                                                            "readOnly": True}}],
        "nodeSelector": {"disk": "ssd"},
        "dynamicAllocation": {"enabled": True, "initialExecutors": 1.0, "minExecutors": 1.0, "maxExecutors": 4.0,
                              "shuffleTrackingEnabled": False, "shuffleTrackingTimeout": 60.0},
    }


OP = "sparkoperator.k8s.io"
DRV, EXE = "spark.kubernetes.driver", "spark.kubernetes.executor"
EXPECTED_FULL = [
    # dependenciesOption: --jars, --packages, ... as SparkSubmit's OptionAssigner stores them
    ("spark.jars", "local:///opt/a.jar,local:///opt/b.jar", "deps.jars"),
    ("spark.jars.packages", "org.example:lib:1.0", "deps.packages"),
    ("spark.jars.excludes", "org.example:old", "deps.excludePackages"),
    ("spark.jars.repositories", "https://repo.example/maven", "deps.repositories"),
    ("spark.submit.pyFiles", "local:///opt/helpers.zip", "deps.pyFiles"),
    ("spark.files", "local:///opt/lookup.csv", "deps.files"),
    ("spark.archives", "local:///opt/env.tgz#env", "deps.archives"),
    # namespaceOption, imageOption, pythonVersionOption, memoryOverheadFactorOption, submissionWaitAppCompletionOption
    ("spark.kubernetes.namespace", "spark-jobs", "metadata.namespace"),
    ("spark.kubernetes.container.image", IMAGE, "image"),
    ("spark.kubernetes.container.image.pullPolicy", "IfNotPresent", "imagePullPolicy"),
    ("spark.kubernetes.container.image.pullSecrets", "reg-a,reg-b", "imagePullSecrets"),
    ("spark.kubernetes.pyspark.pythonVersion", "3", "pythonVersion"),
    ("spark.kubernetes.memoryOverheadFactor", "0.4", "memoryOverheadFactor"),
    ("spark.kubernetes.submission.waitAppCompletion", "false", "operator"),
    # sparkConfOption (the driver pod name key is skipped), hadoopConfOption
    ("spark.sql.adaptive.enabled", "true", "sparkConf.spark.sql.adaptive.enabled"),
    ("spark.hadoop.fs.s3a.endpoint", "http://minio:9000", "hadoopConf.fs.s3a.endpoint"),
    # driverPodTemplateOption (its container name), driverPodNameOption (driver.podName first)
    (f"{DRV}.podTemplateContainerName", "spark-kubernetes-driver", "operator"),
    (f"{DRV}.pod.name", "etl-drv", "driver.podName"),
    # driverConfOption
    (f"{DRV}.label.{OP}/app-name", "etl", "metadata.name"),
    (f"{DRV}.label.{OP}/launched-by-spark-operator", "true", "operator"),
    (f"{DRV}.label.{OP}/mutated-by-spark-operator", "true", "operator"),
    (f"{DRV}.label.{OP}/submission-id", "<submission-id>", "operator"),
    (f"{DRV}.container.image", IMAGE, "image"),
    ("spark.driver.cores", "1", "driver.cores"),
    (f"{DRV}.request.cores", "500m", "driver.coreRequest"),
    (f"{DRV}.limit.cores", "1200m", "driver.coreLimit"),
    ("spark.driver.memory", "2g", "driver.memory"),
    ("spark.driver.memoryOverhead", "512m", "driver.memoryOverhead"),
    ("spark.kubernetes.authenticate.driver.serviceAccountName", "spark", "driver.serviceAccount"),
    ("spark.driver.extraJavaOptions", "-Dd=1", "driver.javaOptions"),
    ("spark.kubernetes.driver.master", "https://k8s:443", "driver.kubernetesMaster"),
    (f"{DRV}.label.team", "analytics", "metadata.labels.team"),  # the Kueue label is not propagated
    (f"{DRV}.label.role", "drv", "driver.labels.role"),
    (f"{DRV}.annotation.a", "1", "driver.annotations.a"),
    (f"{DRV}.service.label.sl", "x", "driver.serviceLabels.sl"),
    (f"{DRV}.service.annotation.sa", "y", "driver.serviceAnnotations.sa"),
    (f"{DRV}.secretKeyRef.TOKEN", "creds:token", "driver.envSecretKeyRefs.TOKEN"),
    # driverEnvOption, driverSecretOption (filepath.Join(path, "key.json")), driverVolumeMountsOption
    ("spark.kubernetes.driverEnv.MODE", "batch", "driver.envVars.MODE"),
    (f"{DRV}.secrets.gcp", "/mnt/gcp/", "driver.secrets[0]"),
    ("spark.kubernetes.driverEnv.GOOGLE_APPLICATION_CREDENTIALS", "/mnt/gcp/key.json", "driver.secrets[0]"),
    (f"{DRV}.volumes.emptyDir.spark-local-dir-a.mount.path", "/scratch/a", "driver.volumeMounts[1].mountPath"),
    (f"{DRV}.volumes.emptyDir.spark-local-dir-a.mount.subPath", "drv", "driver.volumeMounts[1].subPath"),
    (f"{DRV}.volumes.emptyDir.spark-local-dir-a.mount.readOnly", "true", "driver.volumeMounts[1].readOnly"),
    (f"{DRV}.volumes.emptyDir.spark-local-dir-a.options.sizeLimit", "10Gi",
     "volumes.spark-local-dir-a.emptyDir.sizeLimit"),
    (f"{DRV}.volumes.emptyDir.spark-local-dir-a.options.medium", "Memory", "volumes.spark-local-dir-a.emptyDir.medium"),
    # executorPodTemplateOption, executorConfOption
    (f"{EXE}.podTemplateContainerName", "spark-kubernetes-executor", "operator"),
    (f"{EXE}.label.{OP}/app-name", "etl", "metadata.name"),
    (f"{EXE}.label.{OP}/launched-by-spark-operator", "true", "operator"),
    (f"{EXE}.label.{OP}/mutated-by-spark-operator", "true", "operator"),
    (f"{EXE}.label.{OP}/submission-id", "<submission-id>", "operator"),
    ("spark.executor.instances", "2", "executor.instances"),
    (f"{EXE}.container.image", EXECUTOR_IMAGE, "executor.image"),
    ("spark.executor.cores", "2", "executor.cores"),
    (f"{EXE}.request.cores", "1", "executor.coreRequest"),
    (f"{EXE}.limit.cores", "2", "executor.coreLimit"),
    ("spark.executor.memory", "4g", "executor.memory"),
    ("spark.executor.memoryOverhead", "1g", "executor.memoryOverhead"),
    ("spark.kubernetes.authenticate.executor.serviceAccountName", "spark-exec", "executor.serviceAccount"),
    (f"{EXE}.deleteOnTermination", "false", "executor.deleteOnTermination"),
    (f"{EXE}.label.team", "analytics", "metadata.labels.team"),
    (f"{EXE}.label.role", "exe", "executor.labels.role"),
    (f"{EXE}.annotation.b", "2", "executor.annotations.b"),
    (f"{EXE}.secretKeyRef.PW", "creds:pw", "executor.envSecretKeyRefs.PW"),
    ("spark.executor.extraJavaOptions", "-De=1", "executor.javaOptions"),
    # executorEnvOption, executorSecretOption, executorVolumeMountsOption
    ("spark.executorEnv.MODE", "exec", "executor.envVars.MODE"),
    (f"{EXE}.secrets.hdt", "/mnt/hdt", "executor.secrets[0]"),
    ("spark.executorEnv.HADOOP_TOKEN_FILE_LOCATION", "/mnt/hdt/hadoop.token", "executor.secrets[0]"),
    (f"{EXE}.secrets.plain", "/mnt/plain", "executor.secrets[1]"),
    (f"{EXE}.volumes.hostPath.spark-local-dir-b.mount.path", "/scratch/b", "executor.volumeMounts[0].mountPath"),
    (f"{EXE}.volumes.hostPath.spark-local-dir-b.options.path", "/data/b", "volumes.spark-local-dir-b.hostPath.path"),
    (f"{EXE}.volumes.hostPath.spark-local-dir-b.options.type", "Directory", "volumes.spark-local-dir-b.hostPath.type"),
    (f"{EXE}.volumes.nfs.spark-local-dir-c.mount.path", "/scratch/c", "executor.volumeMounts[1].mountPath"),
    (f"{EXE}.volumes.nfs.spark-local-dir-c.options.path", "/export", "volumes.spark-local-dir-c.nfs.path"),
    (f"{EXE}.volumes.nfs.spark-local-dir-c.options.server", "nfs.local", "volumes.spark-local-dir-c.nfs.server"),
    (f"{EXE}.volumes.nfs.spark-local-dir-c.options.readOnly", "true", "volumes.spark-local-dir-c.nfs.readOnly"),
    (f"{EXE}.volumes.persistentVolumeClaim.spark-local-dir-d.mount.path", "/scratch/d",
     "executor.volumeMounts[2].mountPath"),
    (f"{EXE}.volumes.persistentVolumeClaim.spark-local-dir-d.options.claimName", "scratch",
     "volumes.spark-local-dir-d.persistentVolumeClaim.claimName"),
    (f"{EXE}.volumes.persistentVolumeClaim.spark-local-dir-d.options.readOnly", "true",
     "volumes.spark-local-dir-d.persistentVolumeClaim.readOnly"),
    # nodeSelectorOption, dynamicAllocationOption (%d for the counts and the timeout, %t for tracking)
    ("spark.kubernetes.node.selector.disk", "ssd", "nodeSelector.disk"),
    ("spark.dynamicAllocation.enabled", "true", "dynamicAllocation.enabled"),
    ("spark.dynamicAllocation.initialExecutors", "1", "dynamicAllocation.initialExecutors"),
    ("spark.dynamicAllocation.minExecutors", "1", "dynamicAllocation.minExecutors"),
    ("spark.dynamicAllocation.maxExecutors", "4", "dynamicAllocation.maxExecutors"),
    ("spark.dynamicAllocation.shuffleTracking.enabled", "false", "dynamicAllocation.shuffleTrackingEnabled"),
    ("spark.dynamicAllocation.shuffleTracking.timeout", "60", "dynamicAllocation.shuffleTrackingTimeout"),
]


def triples(settings: list[Setting]) -> list[tuple[str, Any, str]]:
    return [(s.key, s.value, s.field) for s in settings]


def test_every_typed_field_becomes_the_operators_conf_in_its_order() -> None:
    assert triples(submit_settings("etl", "spark-jobs", LABELS, full_spec())) == EXPECTED_FULL


def test_a_bare_spec_gets_only_what_the_operator_always_writes() -> None:
    found = triples(submit_settings("etl", "spark-jobs", None, {}))
    assert found == [
        ("spark.kubernetes.namespace", "spark-jobs", "metadata.namespace"),
        ("spark.kubernetes.submission.waitAppCompletion", "false", "operator"),
        (f"{DRV}.podTemplateContainerName", "spark-kubernetes-driver", "operator"),
        (f"{DRV}.pod.name", "etl-driver", "driver.podName"),  # GetDriverPodName: <name>-driver
        (f"{DRV}.label.{OP}/app-name", "etl", "metadata.name"),
        (f"{DRV}.label.{OP}/launched-by-spark-operator", "true", "operator"),
        (f"{DRV}.label.{OP}/mutated-by-spark-operator", "true", "operator"),
        (f"{DRV}.label.{OP}/submission-id", "<submission-id>", "operator"),
        (f"{EXE}.podTemplateContainerName", "spark-kubernetes-executor", "operator"),
        (f"{EXE}.label.{OP}/app-name", "etl", "metadata.name"),
        (f"{EXE}.label.{OP}/launched-by-spark-operator", "true", "operator"),
        (f"{EXE}.label.{OP}/mutated-by-spark-operator", "true", "operator"),
        (f"{EXE}.label.{OP}/submission-id", "<submission-id>", "operator"),
    ]


def test_empty_strings_and_lists_write_nothing_and_pods_fall_back_to_the_image() -> None:
    """The operator writes image, pullPolicy, pythonVersion and memoryOverheadFactor only when non-empty, and a
    dependency or pull-secret list only when it has items; an empty pod image falls back to spec.image."""
    spec = {"deps": {"jars": [], "files": None}, "image": IMAGE, "imagePullPolicy": "", "imagePullSecrets": [],
            "pythonVersion": "", "memoryOverheadFactor": "", "driver": {"image": ""}, "executor": {"image": None}}
    conf = plain_conf(submit_settings("etl", "ns", None, spec))
    assert conf[f"{DRV}.container.image"] == conf[f"{EXE}.container.image"] == IMAGE
    absent = {"spark.jars", "spark.files", "spark.kubernetes.container.image.pullPolicy",
              "spark.kubernetes.container.image.pullSecrets", "spark.kubernetes.pyspark.pythonVersion",
              "spark.kubernetes.memoryOverheadFactor"}
    assert not absent & set(conf)
    without_image = plain_conf(submit_settings("etl", "ns", None, {"image": ""}))
    assert not {"spark.kubernetes.container.image", f"{DRV}.container.image", f"{EXE}.container.image"} & set(
        without_image)


@pytest.mark.parametrize(("driver", "spark_conf", "pod"), [
    ({"podName": "mine"}, {"spark.kubernetes.driver.pod.name": "conf"}, "mine"),
    ({"podName": ""}, {"spark.kubernetes.driver.pod.name": "conf"}, "conf"),  # GetDriverPodName: sparkConf next
    ({}, {"spark.kubernetes.driver.pod.name": ""}, "etl-driver"),
    (None, None, "etl-driver"),
])
def test_the_driver_pod_name_is_the_operators(driver: Any, spark_conf: Any, pod: str) -> None:
    settings = submit_settings("etl", "ns", None, {"driver": driver, "sparkConf": spark_conf})
    assert [(s.value, s.field) for s in settings if s.key == "spark.kubernetes.driver.pod.name"] == [
        (pod, "driver.podName")]


@pytest.mark.parametrize(("typed", "expected"), [
    # shuffleTrackingEnabled unset: the operator writes true (dynamicAllocationOption).
    ({"enabled": True}, [("spark.dynamicAllocation.enabled", "true", "dynamicAllocation.enabled"),
                         ("spark.dynamicAllocation.shuffleTracking.enabled", "true", "dynamicAllocation.enabled")]),
    ({"enabled": True, "shuffleTrackingEnabled": True},
     [("spark.dynamicAllocation.enabled", "true", "dynamicAllocation.enabled"),
      ("spark.dynamicAllocation.shuffleTracking.enabled", "true", "dynamicAllocation.shuffleTrackingEnabled")]),
    ({"enabled": False, "maxExecutors": 3.0, "shuffleTrackingEnabled": False}, []),  # not enabled: nothing
    (None, []),
])
def test_dynamic_allocation_is_written_only_when_enabled(typed: Any, expected: list[tuple[str, str, str]]) -> None:
    settings = submit_settings("etl", "ns", None, {"dynamicAllocation": typed})
    assert [t for t in triples(settings) if t[0].startswith("spark.dynamicAllocation.")] == expected


# --- values the engine does not know yet, and shapes the operator cannot read ------------------------------------


def shape(settings: list[Setting], key_prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, what the value is, field): UNKNOWN, the Problem's reason, or the string."""
    def what(value: Any) -> str:
        if isinstance(value, Unknown):
            assert value is UNKNOWN or repr(value) == "<unknown until apply>"
            return "UNKNOWN"
        return f"problem: {value.reason}" if isinstance(value, Problem) else value
    return [(s.key, what(s.value), s.field) for s in settings if s.key.startswith(key_prefix)]


def test_unknown_maps_may_set_any_key_they_map_to() -> None:
    assert repr(UNKNOWN) == "<unknown until apply>"  # how a note shows a value the engine does not know yet
    spec = {"sparkConf": UNKNOWN, "hadoopConf": UNKNOWN, "nodeSelector": UNKNOWN,
            "driver": {"labels": UNKNOWN, "envVars": UNKNOWN}}
    settings = submit_settings("etl", UNKNOWN, UNKNOWN, spec)
    found = shape(settings)
    assert ("*", "UNKNOWN", "sparkConf") in found
    assert ("spark.hadoop.*", "UNKNOWN", "hadoopConf") in found
    assert ("spark.kubernetes.node.selector.*", "UNKNOWN", "nodeSelector") in found
    assert (f"{DRV}.label.*", "UNKNOWN", "metadata.labels") in found
    assert (f"{EXE}.label.*", "UNKNOWN", "metadata.labels") in found
    assert (f"{DRV}.label.*", "UNKNOWN", "driver.labels") in found
    assert ("spark.kubernetes.driverEnv.*", "UNKNOWN", "driver.envVars") in found
    # An unknown sparkConf could hold the driver pod name: the operator's name for it is unknown too.
    assert shape(settings, f"{DRV}.pod.name") == [(f"{DRV}.pod.name", "UNKNOWN", "driver.podName")]
    # The key a single unknown value decides: the namespace.
    assert shape(settings, "spark.kubernetes.namespace") == [
        ("spark.kubernetes.namespace", "UNKNOWN", "metadata.namespace")]


def test_an_unknown_pod_or_dynamic_allocation_makes_every_key_it_writes_unknown() -> None:
    settings = submit_settings("etl", "ns", None, {"driver": UNKNOWN, "dynamicAllocation": UNKNOWN})
    found = shape(settings)
    assert (f"{DRV}.pod.name", "UNKNOWN", "driver.podName") in found
    assert ("spark.driver.*", "UNKNOWN", "driver") in found
    assert (f"{DRV}.*", "UNKNOWN", "driver") in found
    assert ("spark.dynamicAllocation.*", "UNKNOWN", "dynamicAllocation") in found
    assert shape(settings, "spark.executor") == []  # the executor is known and writes no spark.executor.* key
    enabled_unknown = submit_settings("etl", "ns", None, {"dynamicAllocation": {"enabled": UNKNOWN}})
    assert shape(enabled_unknown, "spark.dynamicAllocation") == [
        ("spark.dynamicAllocation.*", "UNKNOWN", "dynamicAllocation.enabled")]
    # Pull secrets not known at preview: the key they write is undecided, not absent.
    secrets_unknown = submit_settings("etl", "ns", None, {"imagePullSecrets": UNKNOWN})
    assert shape(secrets_unknown, "spark.kubernetes.container.image.pullSecrets") == [
        ("spark.kubernetes.container.image.pullSecrets", "UNKNOWN", "imagePullSecrets")]


def test_unreadable_parts_become_problems_naming_the_field_and_the_next_option_still_runs() -> None:
    spec = {"deps": ["not", "a", "map"], "sparkConf": "spark.x=1", "imagePullSecrets": "one-secret",
            "driver": ["not", "a", "pod"], "executor": {"memory": {"size": 4}, "cores": 1.0},
            "dynamicAllocation": "on"}
    found = shape(submit_settings("etl", "ns", None, spec))
    assert ("spark.jars", "problem: cannot be read (TypeError: expected an object, got list)", "deps") in found
    assert ("spark.archives", "problem: cannot be read (TypeError: expected an object, got list)", "deps") in found
    assert ("*", "problem: expected an object, got str", "sparkConf") in found
    assert ("spark.kubernetes.container.image.pullSecrets",
            "problem: cannot be read (TypeError: expected a list, got str)", "imagePullSecrets") in found
    assert (f"{DRV}.pod.name", "problem: cannot be read (TypeError: expected an object, got list)",
            "driver.podName") in found
    assert ("spark.driver.*", "problem: cannot be read (TypeError: expected an object, got list)", "driver") in found
    assert ("spark.executor.memory", "problem: is not a string or number", "executor.memory") in found
    assert ("spark.executor.cores", "1", "executor.cores") in found  # the rest of the executor still read
    assert ("spark.dynamicAllocation.*", "problem: cannot be read (TypeError: expected an object, got str)",
            "dynamicAllocation") in found


@pytest.mark.parametrize(("mounts", "volumes", "reason"), [
    ([{"name": "spark-local-dir-x", "mountPath": "/x"}], [], "volume spark-local-dir-x not found"),
    ([{"name": "spark-local-dir-x", "mountPath": "/x"}], [{"name": "spark-local-dir-x", "configMap": {"name": "c"}}],
     "unsupported volume type"),
    (["not a mount"], [], "cannot be read (TypeError: expected an object, got str)"),
    ([{"name": "spark-local-dir-x", "mountPath": "/x"}], [{"name": "spark-local-dir-x", "hostPath": {}}],
     "cannot be read (KeyError: 'path')"),
])
def test_local_volume_mounts_the_operator_refuses_are_problems(mounts: list[Any], volumes: list[Any],
                                                               reason: str) -> None:
    spec = {"volumes": volumes, "executor": {"volumeMounts": [{"name": "jobs", "mountPath": "/j"}, *mounts]}}
    found = shape(submit_settings("etl", "ns", None, spec), f"{EXE}.volumes")
    # The mount's own keys may come first (the operator reads the volume after the mount path); then the problem.
    assert found[-1] == (f"{EXE}.volumes.*", f"problem: {reason}", "executor.volumeMounts[1]")
    assert len(found) == (2 if "KeyError" in reason else 1), found


def test_an_empty_dir_without_size_limit_or_medium_writes_only_its_mount() -> None:
    spec = {"volumes": [{"name": "spark-local-dir-s", "emptyDir": {}}],
            "executor": {"volumeMounts": [{"name": "spark-local-dir-s", "mountPath": "/s", "subPath": ""}]}}
    assert triples(submit_settings("etl", "ns", None, spec))[-1:] == [
        (f"{EXE}.volumes.emptyDir.spark-local-dir-s.mount.path", "/s", "executor.volumeMounts[0].mountPath")]


# --- reading the settings back ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    (True, "true"), (False, "false"), (1.0, "1"), (1.5, "1.5"), (7, "7"), ("2g", "2g"), ("", "")])
def test_scalars_are_formatted_as_the_operator_does(value: Any, text: str) -> None:
    assert go_string(value) == text


@pytest.mark.parametrize("value", [{"a": 1}, ["a"], None])
def test_a_non_scalar_is_refused(value: Any) -> None:
    with pytest.raises(TypeError, match=f"not a scalar: {type(value).__name__}"):
        go_string(value)


def test_the_last_setting_of_a_key_or_a_pattern_covering_it_wins() -> None:
    settings = [Setting("spark.driver.memory", "1g", "sparkConf.spark.driver.memory"),
                Setting("spark.driver.*", UNKNOWN, "driver"),
                Setting("spark.executor.memory", "2g", "executor.memory")]
    assert effective(settings, "spark.driver.memory") is settings[1]
    assert effective(settings, "spark.driver.cores") is settings[1]
    assert effective(settings, "spark.driverx") is None  # the pattern covers keys under spark.driver. only
    assert effective(settings, "spark.executor.memory") is settings[2]
    assert effective(settings, "spark.executor.cores") is None
    anything = [*settings, Setting(ANY_KEY, UNKNOWN, "sparkConf")]
    assert effective(anything, "spark.executor.memory") is anything[-1]
    assert effective(settings[:1], "spark.driver.memory") is settings[0]


def test_plain_conf_keeps_the_last_value_and_refuses_problems_and_unknowns() -> None:
    settings = [Setting("spark.a", "1", "sparkConf.spark.a"), Setting("spark.a", "2", "driver.a")]
    assert plain_conf(settings) == {"spark.a": "2"}
    with pytest.raises(ValueError, match=r"^spec\.driver\.memory: is not a string or number$"):
        plain_conf([*settings, Setting("spark.driver.memory", Problem("driver.memory", {}, "is not a string or "
                                                                                             "number"), "x")])
    with pytest.raises(ValueError, match=r"^spec\.sparkConf is not known$"):
        plain_conf([*settings, Setting("*", UNKNOWN, "sparkConf")])

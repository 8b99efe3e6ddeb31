"""Bad configuration fails before any resource is registered, one line per problem naming the key and the fix.

The table pairs each mistake with a valid neighbour: the rule must refuse exactly the bad value, not its
surroundings. Every bad case runs the real program under the mock engine and asserts nothing was registered.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError
from infra.config_loader import parse_config
from tools.plan.mock_engine import run_program, stack_config

# The floating tag the config must refuse (test input only; nothing deploys it).
UNPINNED = "latest"
APP = "sparkstack:applications.sales-etl"
HADOOP_AWS = "org.apache.hadoop:hadoop-aws:3.4.1"
DEV = stack_config("dev")


def dev_with(section: str, path: str, value: Any, *more: Any) -> dict[str, Any]:
    """Pulumi.dev.yaml (as the CLI hands it over) with keys, at dotted paths below sections, set: `more` repeats
    (section, path, value)."""
    config = copy.deepcopy(DEV)
    changes = [(section, path, value), *zip(more[::3], more[1::3], more[2::3], strict=True)]
    for where, dotted, new in changes:
        node = config.setdefault(f"sparkstack:{where}", {})
        keys = dotted.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = new
    return config


def app_with(path: str, value: Any) -> dict[str, Any]:
    return dev_with("applications", f"sales-etl.{path}", value)


def never_runs() -> dict[str, Any]:
    config = app_with("runOnUp", False)
    del config["sparkstack:applications"]["sales-etl"]["schedule"]
    return config


# (config, the key path the error must name, a word of the fix, a valid neighbour config)
CASES: list[tuple[str, dict[str, Any], str, str, dict[str, Any]]] = [
    # Spark memory sizes (JavaUtils.byteStringAs) and minimums (UnifiedMemoryManager)
    ("memory with a space", app_with("executor.memory", "8 GB"), f"{APP}.executor.memory", "'2g'",
     app_with("executor.memory", "8GB")),
    ("fractional memory", app_with("executor.memory", "1.5g"), f"{APP}.executor.memory", "fractions",
     app_with("executor.memory", "1536m")),
    ("memory without unit", app_with("driver.memory", "2048"), f"{APP}.driver.memory", "unit",
     app_with("driver.memory", "2048m")),
    ("unknown memory unit", app_with("driver.memory", "2x"), f"{APP}.driver.memory", "unit",
     app_with("driver.memory", "2G")),
    ("executor memory below Spark's minimum", app_with("executor.memory", "400m"), f"{APP}.executor.memory",
     "450m", app_with("executor.memory", "450m")),
    ("driver memory below the minimum", app_with("driver.memory", "256m"), f"{APP}.driver.memory", "512m",
     app_with("driver.memory", "512m")),
    ("bad memoryOverhead", app_with("executor.memoryOverhead", "lots"), f"{APP}.executor.memoryOverhead", "'512m'",
     app_with("executor.memoryOverhead", "512mb")),
    ("memory as a number", app_with("executor.memory", 2), f"{APP}.executor.memory", "quotes",
     app_with("executor.memory", "2g")),
    # CPU
    ("cores zero", app_with("executor.cores", 0), f"{APP}.executor.cores", "greater than or equal to 1",
     app_with("executor.cores", 1)),
    ("cores fractional", app_with("driver.cores", 1.5), f"{APP}.driver.cores", "whole number",
     app_with("driver.cores", 2)),
    ("cores as text", app_with("driver.cores", "two"), f"{APP}.driver.cores", "plain number",
     app_with("driver.cores", 2)),
    ("cores as bool", app_with("driver.cores", True), f"{APP}.driver.cores", "plain number",
     app_with("driver.cores", 1)),
    ("bad coreRequest", app_with("driver.coreRequest", "half"), f"{APP}.driver.coreRequest", "'500m'",
     app_with("driver.coreRequest", "0.5")),
    ("zero coreRequest", app_with("driver.coreRequest", "0"), f"{APP}.driver.coreRequest", "more than zero",
     app_with("driver.coreRequest", "100m")),
    ("sub-millicore", app_with("driver.coreRequest", "0.0005"), f"{APP}.driver.coreRequest", "millicore",
     app_with("driver.coreRequest", "0.001")),
    ("limit below request", app_with("executor.coreLimit", "400m"), f"{APP}.executor.coreLimit",
     "at least 500m", app_with("executor.coreLimit", "500m")),
    ("limit below cores", dev_with("applications", "sales-etl.driver",
                                   {"cores": 2, "coreLimit": "1500m", "memory": "2g"}),
     f"{APP}.driver.coreLimit", "at least 2", dev_with("applications", "sales-etl.driver",
                                                      {"cores": 2, "coreLimit": 2, "memory": "2g"})),
    ("instances zero", app_with("executor.instances", 0), f"{APP}.executor.instances",
     "greater than or equal to 1", app_with("executor.instances", 1)),
    # dynamic allocation
    ("min above max", app_with("dynamicAllocation", {"minExecutors": 3, "maxExecutors": 2}),
     f"{APP}.dynamicAllocation.maxExecutors", "minExecutors (3)",
     app_with("dynamicAllocation", {"minExecutors": 0, "initialExecutors": 0, "maxExecutors": 2})),
    ("initial above max", app_with("dynamicAllocation.initialExecutors", 5),
     f"{APP}.dynamicAllocation.initialExecutors", "maxExecutors (2)",
     app_with("dynamicAllocation.initialExecutors", 2)),
    ("max zero", app_with("dynamicAllocation.maxExecutors", 0), f"{APP}.dynamicAllocation.maxExecutors",
     "greater than or equal to 1", app_with("dynamicAllocation.maxExecutors", 1)),
    ("negative min", app_with("dynamicAllocation.minExecutors", -1), f"{APP}.dynamicAllocation.minExecutors",
     "greater than or equal to 0", app_with("dynamicAllocation", {"minExecutors": 0, "initialExecutors": 1})),
    ("enabled as text", app_with("dynamicAllocation.enabled", "yes"), f"{APP}.dynamicAllocation.enabled",
     "true or false", app_with("dynamicAllocation.enabled", False)),
    # sparkConf
    ("conf owned by a typed field", app_with("sparkConf", {"spark.executor.memory": "4g"}),
     f"{APP}.sparkConf.spark.executor.memory", "executor.memory",
     app_with("sparkConf", {"spark.sql.ansi.enabled": True})),
    ("conf sets the dynamic allocation bounds", app_with("sparkConf", {"spark.dynamicAllocation.maxExecutors": 9}),
     f"{APP}.sparkConf.spark.dynamicAllocation.maxExecutors", "dynamicAllocation.maxExecutors",
     app_with("sparkConf", {"spark.dynamicAllocation.executorIdleTimeout": "120s"})),
    ("conf turns off shuffle tracking", app_with("sparkConf", {"spark.dynamicAllocation.shuffleTracking.enabled":
                                                                False}),
     f"{APP}.sparkConf.spark.dynamicAllocation.shuffleTracking.enabled", "shuffle service",
     dev_with("applications", "sales-etl.sparkConf", {"spark.dynamicAllocation.shuffleTracking.enabled": False},
              "applications", "sales-etl.dynamicAllocation.enabled", False)),
    ("conf value is a list", app_with("sparkConf", {"spark.jars.packages": ["a", "b"]}),
     f"{APP}.sparkConf.spark.jars.packages", "single value",
     app_with("sparkConf", {"spark.jars.packages": "a,b", "spark.jars.ivy": "/tmp/.ivy2"})),
    ("packages without a writable ivy folder", app_with("sparkConf", {"spark.jars.packages": "a:b:1"}),
     f"{APP}.sparkConf.spark.jars.ivy", "/tmp/.ivy2",
     app_with("sparkConf", {"spark.jars.packages": "a:b:1", "spark.jars.ivy": "/tmp/ivy"})),
    ("packages with ivy on the read-only root", app_with("sparkConf", {"spark.jars.packages": "a:b:1",
                                                                      "spark.jars.ivy": "/opt/spark/.ivy2"}),
     f"{APP}.sparkConf.spark.jars.ivy", "controller", app_with("sparkConf", {"spark.jars.ivy": "/opt/x"})),
    ("output in an object store", app_with("arguments", ["--input", "/data/input", "--output", "s3a://b/out"]),
     f"{APP}.arguments", "/data/", app_with("arguments", ["--input", "/data/input", "--output", "/data/output"])),
    ("output in an object store, one argument", app_with("arguments", ["--output=GS://b/out"]),
     f"{APP}.arguments", "(gs://)", app_with("arguments", ["--output=hdfs://nn/out"])),
    ("conf value is a mapping", app_with("sparkConf", {"spark.x": {"y": 1}}), f"{APP}.sparkConf.spark.x",
     "single value", app_with("sparkConf", {"spark.x": 1})),
    ("conf key without spark. prefix", app_with("sparkConf", {"fs.s3a.endpoint": "x"}), f"{APP}.sparkConf.fs.s3a",
     "spark.hadoop", app_with("sparkConf", {"spark.hadoop.fs.s3a.endpoint": "x"})),
    ("sparkConf not a mapping", app_with("sparkConf", ["spark.x=1"]), f"{APP}.sparkConf", "mapping",
     app_with("sparkConf", {})),
    # application shape
    ("missing script", dev_with("applications", "etl2", {"arguments": []}), "sparkstack:applications.etl2.script",
     "required", dev_with("applications", "etl2", {"script": "sales_etl.py"})),
    ("script not in jobs/", app_with("script", "nope.py"), f"{APP}.script", "sales_etl.py",
     app_with("script", "generate_data.py")),
    ("script in a sub-folder", app_with("script", "jobs/sales_etl.py"), f"{APP}.script", "directly in jobs/",
     app_with("script", "sales_etl.py")),
    ("arguments not a list", app_with("arguments", "--input /data"), f"{APP}.arguments", "list",
     app_with("arguments", ["--input", "/data"])),
    ("never runs", never_runs(), f"{APP}.runOnUp",
     "add a schedule", app_with("runOnUp", False)),
    ("unknown application key", app_with("scirpt", "x.py"), f"{APP}.scirpt", "unknown key",
     app_with("script", "sales_etl.py")),
    ("timeout zero", app_with("timeoutSeconds", 0), f"{APP}.timeoutSeconds", "greater than or equal to 1",
     app_with("timeoutSeconds", 60)),
    ("waitForCompletion as text", app_with("waitForCompletion", "true"), f"{APP}.waitForCompletion",
     "true or false", app_with("waitForCompletion", True)),
    ("name with capitals", dev_with("applications", "Sales-ETL", {"script": "sales_etl.py"}),
     "sparkstack:applications.Sales-ETL", "lowercase",
     dev_with("applications", "sales-etl-2", {"script": "sales_etl.py"})),
    ("name starting with a digit", dev_with("applications", "1etl", {"script": "sales_etl.py"}),
     "sparkstack:applications.1etl", "starting with a letter",
     dev_with("applications", "etl1", {"script": "sales_etl.py"})),
    ("name too long", dev_with("applications", "e" * 57, {"script": "sales_etl.py"}),
     f"sparkstack:applications.{'e' * 57}", "at most 56",
     dev_with("applications", "e" * 56, {"script": "sales_etl.py"})),
    ("scheduled name too long", dev_with("applications", "s" * 37, {"script": "sales_etl.py",
                                                                    "schedule": {"cron": "@daily"}}),
     f"sparkstack:applications.{'s' * 37}", "20-character suffix",
     dev_with("applications", "s" * 36, {"script": "sales_etl.py", "schedule": {"cron": "@daily"}})),
    # schedules (robfig/cron v3 ParseStandard, Go time zones)
    ("hour 25", app_with("schedule.cron", "0 25 * * *"), f"{APP}.schedule.cron", "0-23",
     app_with("schedule.cron", "0 23 * * *")),
    ("day of week 7", app_with("schedule.cron", "0 3 * * 7"), f"{APP}.schedule.cron", "0-6",
     app_with("schedule.cron", "0 3 * * 0")),
    ("six fields", app_with("schedule.cron", "0 0 3 * * *"), f"{APP}.schedule.cron", "not 5",
     app_with("schedule.cron", "0 3 * * *")),
    ("prose", app_with("schedule.cron", "every night"), f"{APP}.schedule.cron", "not 5",
     app_with("schedule.cron", "@midnight")),
    ("unknown descriptor", app_with("schedule.cron", "@nightly"), f"{APP}.schedule.cron", "descriptor",
     app_with("schedule.cron", "@daily")),
    ("bad @every", app_with("schedule.cron", "@every day"), f"{APP}.schedule.cron", "@every 1h",
     app_with("schedule.cron", "@every 1h30m")),
    ("zero step", app_with("schedule.cron", "*/0 * * * *"), f"{APP}.schedule.cron", "zero step",
     app_with("schedule.cron", "*/15 * * * *")),
    ("reversed range", app_with("schedule.cron", "0 3 * * fri-mon"), f"{APP}.schedule.cron", "starts after",
     app_with("schedule.cron", "0 3 * * mon-fri")),
    ("own TZ prefix", app_with("schedule.cron", "CRON_TZ=UTC 0 3 * * *"), f"{APP}.schedule.cron", "timeZone",
     app_with("schedule.cron", "0 3 1,15 * *")),
    ("unknown time zone", app_with("schedule.timeZone", "Mars/Olympus"), f"{APP}.schedule.timeZone",
     "Europe/Berlin", app_with("schedule.timeZone", "America/New_York")),
    ("negative history", app_with("schedule.failedRunHistoryLimit", -1), f"{APP}.schedule.failedRunHistoryLimit",
     "greater than or equal to 0", app_with("schedule.failedRunHistoryLimit", 0)),
    ("unknown concurrency", app_with("schedule.concurrencyPolicy", "Sometimes"),
     f"{APP}.schedule.concurrencyPolicy", "'Forbid'", app_with("schedule.concurrencyPolicy", "Replace")),
    ("schedule without cron", app_with("schedule", {"timeZone": "UTC"}), f"{APP}.schedule.cron", "required",
     app_with("schedule", {"cron": "@hourly", "timeZone": "UTC"})),
    # cluster
    ("unsupported cluster kind", dev_with("cluster", "kind", "eks"), "sparkstack:cluster.kind", "'existing'",
     dev_with("cluster", "kind", "kind")),
    ("workers true", dev_with("cluster", "workers", True), "sparkstack:cluster.workers", "plain number",
     dev_with("cluster", "workers", 2)),
    ("negative workers", dev_with("cluster", "workers", -1), "sparkstack:cluster.workers",
     "greater than or equal to 0", dev_with("cluster", "workers", 0)),
    ("context on kind", dev_with("cluster", "context", "prod"), "sparkstack:cluster.context", "kind: existing",
     dev_with("cluster", "name", "sparkstack-dev")),
    ("kind name too long for its node names", dev_with("cluster", "name", "k" * 50), "sparkstack:cluster.name",
     "1-49", dev_with("cluster", "name", "k" * 49)),
    ("unpinned node image", dev_with("cluster", "nodeImage", f"kindest/node:{UNPINNED}"),
     "sparkstack:cluster.nodeImage", "exact tag", dev_with("cluster", "nodeImage", "kindest/node:v1.32.5")),
    ("node image digest too short", dev_with("cluster", "nodeImage", "kindest/node@sha256:beef"),
     "sparkstack:cluster.nodeImage", "64 hex digits",
     dev_with("cluster", "nodeImage", "kindest/node@sha256:" + "a" * 64)),
    ("relative mount", dev_with("cluster", "extraMounts", [{"hostPath": "./data", "containerPath": "/data"}]),
     "sparkstack:cluster.extraMounts.0.hostPath", "absolute path",
     dev_with("cluster", "extraMounts", [{"hostPath": "/srv/data", "containerPath": "/data"}])),
    ("unknown cluster key", dev_with("cluster", "worker", 2), "sparkstack:cluster.worker", "valid keys here",
     dev_with("cluster", "workers", 2)),
    # platform
    ("bad data size", dev_with("platform", "storage.dataSize", "8 GB"), "sparkstack:platform.storage.dataSize",
     "'5Gi'", dev_with("platform", "storage.dataSize", "8G")),
    ("zero data size", dev_with("platform", "storage.dataSize", "0Gi"), "sparkstack:platform.storage.dataSize",
     "more than zero", dev_with("platform", "storage.dataSize", "1Gi")),
    ("zero scratch", dev_with("platform", "storage.scratchSizeLimit", "0"),
     "sparkstack:platform.storage.scratchSizeLimit", "more than zero",
     dev_with("platform", "storage.scratchSizeLimit", "20Gi")),
    ("relative scratch host path", dev_with("platform", "storage.scratchHostPath", "scratch"),
     "sparkstack:platform.storage.scratchHostPath", "absolute", dev_with("platform", "storage.scratchHostPath",
                                                                        "/mnt/scratch")),
    ("bad namespace", dev_with("platform", "namespace", "Spark_Jobs"), "sparkstack:platform.namespace", "lowercase",
     dev_with("platform", "namespace", "spark-jobs-2")),
    ("same namespaces", dev_with("platform", "operator.namespace", "spark-jobs"),
     "sparkstack:platform.operator.namespace", "must differ", dev_with("platform", "operator.namespace", "ops")),
    ("chart 1.x", dev_with("platform", "operator.chartVersion", "1.4.6"), "sparkstack:platform.operator.chartVersion",
     "'2.5.2'", dev_with("platform", "operator.chartVersion", "2.5.2")),
    ("access mode typo", dev_with("platform", "storage.accessMode", "RWX"), "sparkstack:platform.storage.accessMode",
     "'ReadWriteMany'", dev_with("platform", "storage.accessMode", "ReadWriteMany")),
    # spark
    ("untagged image", dev_with("spark", "image", "apache/spark"), "sparkstack:spark.image", "pin an exact version",
     dev_with("spark", "image", "apache/spark:4.0.4")),
    ("floating tag", dev_with("spark", "image", f"apache/spark:{UNPINNED}"), "sparkstack:spark.image", "exact tag",
     dev_with("spark", "image", "apache/spark:4.0.4-scala2.13-java17-python3-ubuntu")),
    ("image of another Spark", dev_with("spark", "image", "apache/spark:3.5.1-python3"), "sparkstack:spark.image",
     "Spark 3.5.1", dev_with("spark", "image", "registry.example.com/team/spark-app:2024-06")),
    ("unsupported Spark version", dev_with("spark", "version", "3.5.1"), "sparkstack:spark.version", "'4.0.4'",
     dev_with("spark", "version", "4.0.4")),
    # object storage with the stock image, and a claim shared across nodes
    ("s3a without hadoop-aws", app_with("arguments", ["--input", "s3a://b/raw/"]), f"{APP}.sparkConf",
     "hadoop-aws", dev_with("applications", "sales-etl.arguments", ["--input", "s3a://b/raw/"],
                            "applications", "sales-etl.sparkConf", {"spark.jars.packages": HADOOP_AWS,
                                                                    "spark.jars.ivy": "/tmp/.ivy2"})),
    ("history in s3a with the stock image", dev_with("platform", "history.logDirectory", "s3a://b/events/"),
     "sparkstack:platform.history.logDirectory", "hadoop-aws",
     dev_with("platform", "history.logDirectory", "s3a://b/events/", "spark", "image", "example.com/spark-s3:4.0.4")),
    ("history outside the volume and object storage", dev_with("platform", "history.logDirectory", "/tmp/events"),
     "sparkstack:platform.history.logDirectory", "s3a://", dev_with("platform", "history.logDirectory", "/data/ev")),
    ("bad cleaner age", dev_with("platform", "history.cleanerMaxAge", "a week"),
     "sparkstack:platform.history.cleanerMaxAge", "'7d'", dev_with("platform", "history.cleanerMaxAge", "168h")),
    # object storage and workload identity
    ("region with a space", dev_with("platform", "objectStore.region", "eu west 1"),
     "sparkstack:platform.objectStore.region", "'eu-west-1'", dev_with("platform", "objectStore.region", "eu-west-1")),
    ("endpoint with a path", dev_with("platform", "objectStore.endpoint", "https://minio:9000/bucket"),
     "sparkstack:platform.objectStore.endpoint", "no path",
     dev_with("platform", "objectStore.endpoint", "https://minio.storage:9000")),
    ("provider that is not a class", dev_with("platform", "objectStore.credentialsProviders", ["web identity"]),
     "sparkstack:platform.objectStore.credentialsProviders.0", "Java class",
     dev_with("platform", "objectStore.credentialsProviders",
              ["org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"])),
    ("no provider at all", dev_with("platform", "objectStore.credentialsProviders", []),
     "sparkstack:platform.objectStore.credentialsProviders", "default chain",
     dev_with("platform", "objectStore.pathStyleAccess", True)),
    ("annotation key with a space", dev_with("platform", "serviceAccountAnnotations", {"role arn": "x"}),
     "sparkstack:platform.serviceAccountAnnotations", "key",
     dev_with("platform", "serviceAccountAnnotations", {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/s"})),
    # metrics
    ("pod monitor label key with a space", dev_with("platform", "metrics.podMonitorLabels", {"my release": "x"}),
     "sparkstack:platform.metrics.podMonitorLabels", "label key",
     dev_with("platform", "metrics.podMonitorLabels", {"example.com/release": "kube-prometheus-stack"})),
    ("pod monitor label value too long", dev_with("platform", "metrics.podMonitorLabels", {"release": "r" * 64}),
     "sparkstack:platform.metrics.podMonitorLabels", "label value",
     dev_with("platform", "metrics.podMonitorLabels", {"release": "r" * 63})),
    ("prometheus pods without their namespace", dev_with("platform", "metrics.prometheusPodLabels",
                                                         {"app": "prometheus"}),
     "sparkstack:platform.metrics.prometheusPodLabels", "prometheusNamespace",
     dev_with("platform", "metrics.prometheusPodLabels", {"app": "prometheus"}, "platform",
              "metrics.prometheusNamespace", "monitoring")),
    ("prometheus namespace with metrics off", dev_with("platform", "metrics.prometheusNamespace", "monitoring",
                                                       "platform", "metrics.enabled", False),
     "sparkstack:platform.metrics.prometheusNamespace", "metrics.enabled: true",
     dev_with("platform", "metrics.prometheusNamespace", "monitoring")),
    ("bad prometheus namespace", dev_with("platform", "metrics.prometheusNamespace", "Monitoring"),
     "sparkstack:platform.metrics.prometheusNamespace", "lowercase",
     dev_with("platform", "metrics.prometheusNamespace", "monitoring")),
    # generator
    ("generator files zero", dev_with("generator", "files", 0), "sparkstack:generator.files",
     "greater than or equal to 1", dev_with("generator", "files", 1)),
    ("generator outside the data volume", dev_with("generator", "output", "/tmp/input"),
     "sparkstack:generator.output", "/data/", dev_with("generator", "output", "/data/raw")),
    ("generator seed as text", dev_with("generator", "seed", "42"), "sparkstack:generator.seed", "plain number",
     dev_with("generator", "seed", 7)),
]


@pytest.mark.parametrize(("config", "key", "hint", "neighbour"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_config_stops_before_any_resource(config: dict[str, Any], key: str, hint: str,
                                              neighbour: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        run_program(config)
    message = str(caught.value)
    line = next((ln for ln in message.splitlines() if ln.strip().startswith(key)), None)
    assert line is not None, f"no line names {key}:\n{message}"
    assert hint in line, line
    assert caught.value.recording.resources == []  # type: ignore[attr-defined]
    parse_config(neighbour_sections(neighbour))  # the valid neighbour passes the same rules


def neighbour_sections(config: dict[str, Any]) -> dict[str, Any]:
    return {k.split(":", 1)[1]: v for k, v in config.items()}


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 60


def test_all_errors_reported_at_once_in_the_documented_form() -> None:
    raw = neighbour_sections(DEV)
    raw["spark"] = {"image": "x"}
    raw["platform"] = {"namespace": "A"}
    raw["applications"] = {"sales-etl": {"script": "sales_etl.py", "executor": {"memory": "8 GB"}}}
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    lines = [ln for ln in str(caught.value).splitlines() if ln.startswith("  sparkstack:")]
    assert len(lines) == 3
    assert ("  sparkstack:applications.sales-etl.executor.memory (got '8 GB'): not a Spark memory size; write a "
            "whole number with a unit") in str(caught.value)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"sparkstack:clustr": {"kind": "kind"}}, "sparkstack:clustr: unknown key"),
        ({"sparkstack:jobs": {"salesEtl": {}}}, "applications now live under sparkstack:applications"),
        ({"sparkstack:cluster": {"kind": "existing"}}, "sparkstack:cluster.context"),
    ],
)
def test_top_level_mistakes_stop_the_program(config: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        run_program(config)
    assert expected in str(caught.value)
    assert caught.value.recording.resources == []  # type: ignore[attr-defined]


def _chart(folder: Path, name: str = "spark-operator", version: str = "2.5.2") -> Path:
    folder.mkdir(parents=True)
    (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    return folder


@pytest.mark.parametrize(("make", "hint"), [
    (lambda tmp: tmp / "missing", "neither a chart folder"),
    (lambda tmp: _chart(tmp / "old", version="2.4.0"), "holds chart spark-operator 2.4.0"),
    (lambda tmp: _chart(tmp / "other", name="prometheus"), "holds chart prometheus 2.5.2"),
    (lambda tmp: (tmp / "spark-operator-2.4.0.tgz", (tmp / "spark-operator-2.4.0.tgz").write_bytes(b"x"))[0],
     "spark-operator-2.5.2.tgz"),
])
def test_a_local_chart_must_be_the_pinned_operator_chart(tmp_path: Path, make: Any, hint: str) -> None:
    bad = str(make(tmp_path))
    with pytest.raises(ConfigError) as caught:
        run_program(dev_with("platform", "operator.chartPath", bad))
    line = next(ln for ln in str(caught.value).splitlines() if "platform.operator.chartPath" in ln)
    assert f"(got {bad!r})" in line and hint in line, line
    assert caught.value.recording.resources == []  # type: ignore[attr-defined]


def test_a_local_chart_replaces_the_repository_in_the_release(tmp_path: Path) -> None:
    chart = _chart(tmp_path / "chart")
    release = run_program(dev_with("platform", "operator.chartPath", str(chart))).one(
        "kubernetes:helm.sh/v3:Release").plain_inputs
    assert release["chart"] == str(chart)
    assert "repositoryOpts" not in release and "version" not in release  # the folder is the version


def test_keys_that_do_not_apply_to_the_cluster_kind() -> None:
    existing = {k: v for k, v in stack_config("existing").items()}
    with_kind_keys = copy.deepcopy(existing)
    with_kind_keys["sparkstack:cluster"]["workers"] = 2
    with pytest.raises(ConfigError) as caught:
        run_program(with_kind_keys, stack="existing")
    assert "sparkstack:cluster.workers (got 2): applies to kind clusters only" in str(caught.value)
    kind_with_kubeconfig = {**DEV, "sparkstack:kubeconfig": "apiVersion: v1\nkind: Config\n"}
    with pytest.raises(ConfigError) as caught:
        run_program(kind_with_kubeconfig, secret_keys=["sparkstack:kubeconfig"])
    message = str(caught.value)
    assert "sparkstack:kubeconfig: applies to kind: existing only" in message
    assert "apiVersion" not in message  # a secret is never echoed


def test_incomplete_object_store_credentials_fail_first_and_stay_secret() -> None:
    config = {**stack_config("existing"), "sparkstack:objectStoreCredentials": {"accessKeyId": "AKIASECRET1"}}
    with pytest.raises(ConfigError) as caught:
        run_program(config, stack="existing", secret_keys=["sparkstack:objectStoreCredentials"])
    assert "sparkstack:objectStoreCredentials.secretAccessKey: is missing" in str(caught.value)
    assert "AKIASECRET1" not in str(caught.value)
    assert caught.value.recording.resources == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("cron", ["0 3 * * *", "*/15 * * * *", "0 3 * * MON-FRI", "30 2 1,15 * *", "@daily",
                                  "@every 90s", "0 0 ? * sun", "5-55/10 * * jan-jun *", "0 3 * * 6"])
def test_valid_schedules_accepted(cron: str) -> None:
    raw = neighbour_sections(app_with("schedule.cron", cron))
    assert parse_config(raw).applications["sales-etl"].schedule.cron == cron  # type: ignore[union-attr]


def test_defaults_and_config_values_spelled_as_spark_reads_them() -> None:
    raw = {"applications": {"etl": {"script": "sales_etl.py", "arguments": ["--ratio", 0.01, "--dry", True],
                                    "sparkConf": {"spark.sql.shuffle.partitions": 8, "spark.sql.ansi.enabled": False}}}}
    app = parse_config(raw).applications["etl"]
    assert app.arguments == ["--ratio", "0.01", "--dry", "true"]
    assert app.spark_conf == {"spark.sql.shuffle.partitions": "8", "spark.sql.ansi.enabled": "false"}
    assert (app.run_on_up, app.wait_for_completion, app.schedule) == (True, False, None)
    assert app.driver.memory == "2g"


def test_dev_stack_file_is_valid_and_uses_pinned_versions() -> None:
    cfg = parse_config(neighbour_sections(DEV))
    assert cfg.cluster.kind == "kind"
    assert cfg.spark.image == "apache/spark:4.0.4-python3" and cfg.spark.version == "4.0.4"
    assert cfg.platform.operator.chart_version == "2.5.2"
    assert list(cfg.applications) == ["sales-etl"]


def test_the_config_refuses_the_outputs_the_jobs_refuse() -> None:
    """The config's list of publishable schemes is the jobs' own (jobs/publish.py decides at run time)."""
    from infra.config_rules import PUBLISH_SCHEMES
    from tests.job_modules import load_job

    assert PUBLISH_SCHEMES == load_job("publish").PUBLISH_SCHEMES


# --- the exact lines the user reads (pure: parse_config, no engine) -------------------------------------------


def config_lines(raw: dict[str, Any], secrets: dict[str, Any] | None = None) -> list[str]:
    """The problem lines of a refused config, without the header."""
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, scripts={"sales_etl.py"}, secrets=secrets)
    header, *lines = str(caught.value).splitlines()
    assert header == "Invalid stack configuration; nothing was created. Fix these keys:"
    return lines


def test_one_problem_is_the_header_and_one_line_naming_key_value_and_fix() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"generator": {"output": "/tmp/input"}}, scripts=set())
    assert str(caught.value) == (
        "Invalid stack configuration; nothing was created. Fix these keys:\n"
        "  sparkstack:generator.output (got '/tmp/input'): the generator writes to the data volume; use a path "
        "under /data/, e.g. '/data/input'")


def test_cluster_keys_that_need_the_other_kind_say_which() -> None:
    assert config_lines({"cluster": {"context": "prod"}}, secrets={"kubeconfig": "x"}) == [
        "  sparkstack:cluster.context (got 'prod'): applies to kind: existing only; remove it (kind makes its own "
        "context) or set cluster.kind: existing",
        "  sparkstack:kubeconfig: applies to kind: existing only; remove it with "
        "`pulumi config rm sparkstack:kubeconfig` or set cluster.kind: existing"]
    existing = {"kind": "existing", "nodeImage": "kindest/node:v1.33.1", "workers": 0,
                "extraMounts": [], "createTimeoutSeconds": 60}
    only = "applies to kind clusters only; remove it for kind: existing"
    assert config_lines({"cluster": existing, "platform": {"history": {"enabled": False}}}) == [
        f"  sparkstack:cluster.nodeImage (got 'kindest/node:v1.33.1'): {only}",
        f"  sparkstack:cluster.workers (got 0): {only}",
        f"  sparkstack:cluster.extraMounts: {only}",
        f"  sparkstack:cluster.createTimeoutSeconds (got 60): {only}",
        "  sparkstack:cluster.context (got None): kind: existing needs a target; set cluster.context (a context in "
        "your kubeconfig) and/or the secret `pulumi config set --secret sparkstack:kubeconfig \"$(cat FILE)\"`"]
    # Either target is enough.
    no_claim = {"history": {"enabled": False}}
    parse_config({"cluster": {"kind": "existing", "context": "prod"}, "platform": no_claim}, scripts=set())
    parse_config({"cluster": {"kind": "existing"}, "platform": no_claim}, scripts=set(), secrets={"kubeconfig": "x"})


def test_the_kind_providers_own_checks_name_the_cluster_key() -> None:
    [line] = config_lines({"cluster": {"name": "k" * 50}})
    assert line.startswith(f"  sparkstack:cluster.name (got '{'k' * 50}'): ")


def test_platform_rules_across_its_sections_read_in_full() -> None:
    assert config_lines({"platform": {"operator": {"namespace": "spark-jobs"},
                                      "metrics": {"enabled": False, "podMonitor": True}}}) == [
        "  sparkstack:platform.operator.namespace (got 'spark-jobs'): must differ from platform.namespace; the "
        "operator gets its own namespace, e.g. 'spark-operator'",
        "  sparkstack:platform.metrics.podMonitor (got True): needs platform.metrics.enabled: true"]


def test_metrics_keys_without_metrics_and_prometheus_labels_without_namespace() -> None:
    off = {"enabled": False, "podMonitorLabels": {"release": "kps"}, "prometheusNamespace": "monitoring",
           "prometheusPodLabels": {"app": "prometheus"}}
    fix = "needs platform.metrics.enabled: true; remove it or turn metrics on"
    assert config_lines({"platform": {"metrics": off}}) == [
        f"  sparkstack:platform.metrics.podMonitorLabels: {fix}",
        f"  sparkstack:platform.metrics.prometheusNamespace (got 'monitoring'): {fix}",
        f"  sparkstack:platform.metrics.prometheusPodLabels: {fix}"]
    assert config_lines({"platform": {"metrics": {"prometheusPodLabels": {"app": "prometheus"}}}}) == [
        "  sparkstack:platform.metrics.prometheusPodLabels: selects pods in platform.metrics.prometheusNamespace; "
        "set that too (e.g. 'monitoring')"]


def test_object_store_refusals_read_in_full() -> None:
    store = {"region": "EU", "endpoint": "minio:9000/b", "credentialsProviders": ["x.Y", "no class"]}
    assert config_lines({"platform": {"objectStore": store}}) == [
        "  sparkstack:platform.objectStore.region (got 'EU'): is not a region name; write e.g. 'eu-west-1'",
        "  sparkstack:platform.objectStore.endpoint (got 'minio:9000/b'): is not a host or URL; write e.g. "
        "'https://minio.storage:9000' (no path)",
        "  sparkstack:platform.objectStore.credentialsProviders.1 (got 'no class'): is not a Java class name; write "
        "e.g. 'software.amazon.awssdk.auth.credentials.WebIdentityTokenFileCredentialsProvider'"]
    assert config_lines({"platform": {"objectStore": {"credentialsProviders": []}}}) == [
        "  sparkstack:platform.objectStore.credentialsProviders: is empty; remove the key for the default chain "
        "(which includes web identity for IRSA)"]


@pytest.mark.parametrize(("key", "value", "ok"), [
    *[("region", region, ok) for region, ok in (
        ("eu-west-1", True), ("us-gov-west-1", True), ("garage", True), ("eu-west-1a", True), ("Eu-west-1", False),
        ("eu_west_1", False), ("eu west 1", False), ("", False))],
    *[("endpoint", endpoint, ok) for endpoint, ok in (
        ("https://minio.storage:9000", True), ("http://10.0.0.1:9000/", True), ("minio", True),
        ("ftp://minio", False), ("https://minio:900000", False), ("https://minio/bucket", False), ("", False))]])
def test_object_store_regions_and_endpoints(key: str, value: str, ok: bool) -> None:
    raw = {"platform": {"objectStore": {key: value}}}
    if ok:
        parse_config(raw, scripts=set())
    else:
        assert config_lines(raw)[0].startswith(f"  sparkstack:platform.objectStore.{key}")


@pytest.mark.parametrize(("name", "ok"), [
    ("a.B", True), ("$x.y_1.Z$", True), ("org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider", True),
    ("Simple", False), ("1a.b", False), ("a..b", False), ("a.b.", False)])
def test_credentials_providers_are_java_class_names(name: str, ok: bool) -> None:
    raw = {"platform": {"objectStore": {"credentialsProviders": [name]}}}
    if ok:
        parse_config(raw, scripts=set())
    else:
        assert config_lines(raw)[0].startswith("  sparkstack:platform.objectStore.credentialsProviders.0")


def test_object_store_spark_settings() -> None:
    from infra.config import ObjectStoreConfig

    provider = "spark.hadoop.fs.s3a.aws.credentials.provider"
    assert ObjectStoreConfig.model_validate({"credentialsProviders": ["a.B", "c.D"]}).spark_conf() == {
        provider: "a.B,c.D"}
    assert ObjectStoreConfig.model_validate({"region": "eu-west-1", "endpoint": "http://minio:9000",
                                             "pathStyleAccess": False, "credentialsProviders": ["a.B"]}).spark_conf() \
        == {provider: "a.B", "spark.hadoop.fs.s3a.endpoint.region": "eu-west-1",
            "spark.hadoop.fs.s3a.endpoint": "http://minio:9000", "spark.hadoop.fs.s3a.path.style.access": "false"}
    assert ObjectStoreConfig.model_validate({"pathStyleAccess": True}).spark_conf()[
        "spark.hadoop.fs.s3a.path.style.access"] == "true"


def test_history_log_directory_as_spark_reads_it() -> None:
    from infra.config import HistoryConfig

    assert HistoryConfig().log_uri == "file:///data/spark-events"
    assert HistoryConfig(log_directory="s3a://b/events/").log_uri == "s3a://b/events/"
    assert not HistoryConfig(log_directory="/database/events").on_data_volume  # /data/ is the mount, not a prefix
    assert config_lines({"platform": {"history": {"logDirectory": "/tmp/events"}}}) == [
        "  sparkstack:platform.history.logDirectory (got '/tmp/events'): use a folder on the data volume (under "
        "/data/) or object storage (s3a://bucket/prefix)"]
    parse_config({"platform": {"history": {"enabled": False, "logDirectory": "/tmp/events"}}}, scripts=set())


def test_a_relative_chart_path_is_read_from_the_project_folder() -> None:
    from infra.config import PROJECT_DIR, OperatorConfig

    assert OperatorConfig().chart_location is None
    assert OperatorConfig(chart_path="charts/op").chart_location == PROJECT_DIR / "charts" / "op"
    assert OperatorConfig(chart_path="/srv/op").chart_location == Path("/srv/op")
    assert OperatorConfig(chart_path="~/op").chart_location == Path.home() / "op"


def test_an_image_of_another_spark_reads_in_full() -> None:
    assert config_lines({"spark": {"image": "apache/spark:3.5.1-python3"}}) == [
        "  sparkstack:spark.image (got 'apache/spark:3.5.1-python3'): its tag names Spark 3.5.1 but spark.version "
        "is 4.0.4; use an image of Spark 4.0.4 (e.g. 'apache/spark:4.0.4-python3')"]


def test_team_priority_and_admins_read_in_full() -> None:
    team = {"quota": {"cpu": "2", "memory": "4Gi", "pods": 5}, "priority": "urgent",
            "admins": ["group:eng", "group:", "group:a b", "user:bob"]}
    assert config_lines({"teams": {"data": team}}) == [
        "  sparkstack:teams.data.priority (got 'urgent'): is not one of the platform's priority classes; write one of "
        "batch-critical, batch-default, batch-preemptible",
        *(f"  sparkstack:teams.data.admins.{i} (got {admin!r}): must name a Kubernetes group as 'group:<name>', e.g. "
          "'group:analytics-eng'" for i, admin in ((1, "group:"), (2, "group:a b"), (3, "user:bob")))]


@pytest.mark.parametrize(("raw", "line"), [
    ({"cluster": {"extraMounts": [{"hostPath": "/a", "containerPath": "/b", "readonly": True}]}},
     "  sparkstack:cluster.extraMounts.0.readonly: unknown key; check its spelling (valid keys here: hostPath, "
     "containerPath, readOnly)"),
    ({"images": {"etl": {"jars": [{"coordinates": "a:b:1", "sha256": "a" * 64, "sha": 1}]}}},
     "  sparkstack:images.etl.jars.0.sha: unknown key; check its spelling (valid keys here: coordinates, sha256)"),
    ({"platform": {"operator": {"chart": "x"}}},
     "  sparkstack:platform.operator.chart: unknown key; check its spelling (valid keys here: namespace, "
     "chartVersion, repository, chartPath, timeoutSeconds)"),
    ({"applications": {"e": {"script": "sales_etl.py", "driver": {"memry": "2g"}}}},
     "  sparkstack:applications.e.driver.memry: unknown key; check its spelling (valid keys here: cores, "
     "coreRequest, coreLimit, memoryOverhead, memory)"),
    ({"teams": {"t": {"quota": {"cpu": "1", "memory": "1Gi", "pods": 2}, "queue": {"max": {"cpu": "1",
                                                                                       "memory": "1Gi", "gpu": 1}}}}},
     "  sparkstack:teams.t.queue.max.gpu: unknown key; check its spelling (valid keys here: cpu, memory)"),
    ({"platform": {"metrics": {"podMonitorLabels": {"a": "b"}}, "storage": {"dataSize": "1Gi", "size": 1}}},
     "  sparkstack:platform.storage.size: unknown key; check its spelling (valid keys here: dataSize, storageClass, "
     "accessMode, protectData, scratchSizeLimit, scratchHostPath)"),
])
def test_an_unknown_key_lists_the_valid_keys_where_it_stands(raw: dict[str, Any], line: str) -> None:
    assert config_lines(raw) == [line]


def test_each_kind_of_pydantic_error_says_what_to_write() -> None:
    app = {"script": 5, "arguments": "x", "runOnUp": "yes", "timeoutSeconds": 1.5, "retries": 11, "driver": "big",
           "executor": {"instances": "2", "cores": 0}, "schedule": {"timeZone": "UTC"},
           "shuffle": {"mode": "remote"}}
    assert config_lines({"applications": {"e": app}}) == [
        "  sparkstack:applications.e.script (got 5): must be text; put the value in quotes",
        "  sparkstack:applications.e.arguments (got 'x'): must be a list, e.g. [--input, /data/input]",
        "  sparkstack:applications.e.driver (got 'big'): must be a mapping of keys; see the README's configuration "
        "reference",
        "  sparkstack:applications.e.executor.cores (got 0): must be greater than or equal to 1; write a number in "
        "that range",
        "  sparkstack:applications.e.executor.instances (got '2'): must be a plain number; write it without quotes "
        "or units",
        "  sparkstack:applications.e.shuffle.mode (got 'remote'): unsupported value; write 'local', 'decommission' "
        "or 'celeborn'",
        "  sparkstack:applications.e.runOnUp (got 'yes'): must be true or false, without quotes",
        "  sparkstack:applications.e.timeoutSeconds (got 1.5): must be a whole number; write e.g. 1 or 2",
        "  sparkstack:applications.e.retries (got 11): must be less than or equal to 10; write a number in that range",
        "  sparkstack:applications.e.schedule.cron: is required; add it"]
    # A value rule's own message, without pydantic's "Value error, " prefix.
    assert config_lines({"platform": {"storage": {"dataSize": "5 Gi"}}}) == [
        "  sparkstack:platform.storage.dataSize (got '5 Gi'): not a Kubernetes quantity; write a number with a unit, "
        "e.g. '5Gi', '512Mi' or '500m'"]


def test_sections_that_are_not_mappings() -> None:
    assert config_lines({"applications": 5, "teams": [], "images": "x"}) == [
        "  sparkstack:applications (got 5): must be a mapping of application name to its settings",
        "  sparkstack:teams: must be a mapping of team name to its quota, queue, priority and admins",
        "  sparkstack:images (got 'x'): must be a mapping of image name to its base, requirements and jars"]
    assert config_lines({"cluster": "kind"}) == [
        "  sparkstack:cluster (got 'kind'): must be a mapping of keys; see the README's configuration reference"]


def test_an_application_whose_settings_fail_still_has_its_name_checked() -> None:
    assert config_lines({"applications": {"Sales": {"script": 1}}}) == [
        "  sparkstack:applications.Sales.script (got 1): must be text; put the value in quotes",
        "  sparkstack:applications.Sales (got 'Sales'): not a valid application name; use at most 56 lowercase "
        "letters, digits and '-', starting with a letter and ending with a letter or digit (e.g. 'sales-etl')"]
    assert config_lines({"applications": {"s" * 37: {"script": 1, "schedule": {"cron": "@daily"}}}})[-1] == (
        f"  sparkstack:applications.{'s' * 37} (got '{'s' * 37}'): not a valid application name; use at most 36 "
        "lowercase letters, digits and '-', starting with a letter and ending with a letter or digit (e.g. "
        "'sales-etl') (scheduled runs add a 20-character suffix)")


def test_images_are_checked_against_the_spark_version_and_cluster_kind() -> None:
    assert config_lines({"images": {"etl": {"base": "apache/spark:3.5.1-python3"}}}) == [
        "  sparkstack:images.etl.base (got 'apache/spark:3.5.1-python3'): its tag names Spark 3.5.1 but spark.version "
        "is 4.0.4; use e.g. 'apache/spark:4.0.4-python3'"]
    # With spark or cluster refused, the image rules that need them wait for the fix.
    assert config_lines({"images": {"etl": {"base": "apache/spark:3.5.1-python3"}}, "cluster": {"kind": "eks"}}) == [
        "  sparkstack:cluster.kind (got 'eks'): unsupported value; write 'kind' or 'existing'"]


def test_which_stacks_carry_the_object_store_settings() -> None:
    from infra.config_loader import uses_object_store

    def uses(raw: dict[str, Any]) -> bool:
        return uses_object_store(parse_config(raw, scripts={"sales_etl.py"}))

    etl = {"script": "sales_etl.py", "sparkConf": {"spark.jars.packages": HADOOP_AWS, "spark.jars.ivy": "/tmp/.ivy2"}}
    assert not uses({})
    assert not uses({"applications": {"etl": etl}})
    assert uses({"platform": {"objectStore": {"region": "eu-west-1"}}})
    assert uses({"applications": {"etl": {**etl, "arguments": ["--input", "s3a://b/in/"]}}})
    assert uses({"platform": {"history": {"logDirectory": "s3a://b/ev/", "image": "s3"}},
                 "images": {"s3": {"jars": [{"coordinates": HADOOP_AWS, "sha256": "a" * 64}]}}})
    assert not uses({"platform": {"history": {"enabled": False, "logDirectory": "s3a://b/ev/"}}})
    fallback = {"mode": "decommission", "decommission": {"fallbackStoragePath": "s3a://b/fb/"}}
    assert uses({"platform": {"shuffle": fallback}, "spark": {"image": "example.com/spark-s3:4.0.4"}})
    assert not uses({"platform": {"shuffle": {"mode": "decommission",
                                              "decommission": {"fallbackStoragePath": "/data/fb/"}}}})


def test_a_misspelt_top_level_key_lists_every_valid_one() -> None:
    with pytest.raises(ConfigError) as caught:
        run_program({"sparkstack:clustr": {"kind": "kind"}, "sparkstack:jobs": {}})
    assert str(caught.value).splitlines()[1:] == [
        "  sparkstack:clustr: unknown key; valid keys are cluster, platform, spark, generator, applications, teams, "
        "images, kubeconfig, objectStoreCredentials, registryCredentials",
        "  sparkstack:jobs: unknown key; valid keys are cluster, platform, spark, generator, applications, teams, "
        "images, kubeconfig, objectStoreCredentials, registryCredentials; applications now live under "
        "sparkstack:applications and the generator under sparkstack:generator (see the README)"]


# --- rules across sections (infra/config_rules.py), line by line -------------------------------------------------

EXISTING = {"kind": "existing", "context": "prod"}
S3A_JARS = [{"coordinates": HADOOP_AWS, "sha256": "a" * 64}]
WITH_IVY = {"spark.jars.packages": HADOOP_AWS, "spark.jars.ivy": "/tmp/.ivy2"}


def etl(**more: Any) -> dict[str, Any]:
    return {"script": "sales_etl.py", **more}


def test_a_read_write_once_claim_on_an_existing_cluster_names_its_users() -> None:
    fallback = {"decommission": {"fallbackStoragePath": "/data/fb/"}}
    raw = {"cluster": EXISTING, "platform": {"shuffle": fallback},
           "applications": {"a": etl(arguments=["--input", "/data/in"]), "b": etl(arguments=["--input", "s3a://b/"],
                                                                                  sparkConf=WITH_IVY),
                            "c": etl(sparkConf=WITH_IVY)}}
    # a reads /data; c writes decommissioned blocks to /data/fb/ (existing clusters decommission by default);
    # b does too: every application in decommission mode mounts the fallback folder.
    assert config_lines(raw) == [
        "  sparkstack:platform.storage.accessMode (got 'ReadWriteOnce'): the data claim is used by a, b, c, the "
        "History Server; pods on other nodes cannot attach a ReadWriteOnce claim; set ReadWriteMany (with a storage "
        "class that offers it) or keep data and event logs in object storage (s3a://...)"]
    local = {"cluster": EXISTING, "platform": {"history": {"enabled": False}, "shuffle": {"mode": "local"}},
             "applications": {"b": etl(arguments=["--input", "s3a://b/"], sparkConf=WITH_IVY)}}
    parse_config(local, scripts={"sales_etl.py"})
    # Event logs in object storage need no claim.
    s3a_logs = {"history": {"logDirectory": "s3a://b/ev/"}, "shuffle": {"mode": "local"}}
    parse_config({"cluster": EXISTING, "platform": s3a_logs, "spark": {"image": "example.com/spark-s3:4.0.4"}},
                 scripts=set())
    rwx = {"cluster": EXISTING, "platform": {"storage": {"accessMode": "ReadWriteMany"}},
           "applications": {"a": etl(arguments=["--input", "/data/in"])}}
    parse_config(rwx, scripts={"sales_etl.py"})


def test_s3a_with_images_that_lack_hadoop_aws() -> None:
    images = {"plain": {}, "s3": {"jars": S3A_JARS}}
    raw = {"images": images, "platform": {"history": {"logDirectory": "s3a://b/ev/", "image": "plain"}},
           "applications": {"a": etl(image="plain", arguments=["--input", "s3a://b/in/"]),
                            "b": etl(image="s3", arguments=["--input", "s3a://b/in/"]),
                            "c": etl(image="plain")}}
    assert config_lines(raw) == [
        "  sparkstack:applications.a.image (got 'plain'): reads or writes s3a:// but image plain has no hadoop-aws; "
        "add org.apache.hadoop:hadoop-aws:3.4.1 and software.amazon.awssdk:bundle:2.24.6 to images.plain.jars "
        "(docs/object-storage.md)",
        "  sparkstack:platform.history.image (got 'plain'): the History Server reads s3a:// logs but image plain has "
        "no hadoop-aws; add org.apache.hadoop:hadoop-aws:3.4.1 and its SDK bundle to images.plain.jars"]
    raw["platform"]["history"]["image"] = "s3"
    raw["applications"]["a"]["image"] = "s3"
    parse_config(raw, scripts={"sales_etl.py"})
    raw["platform"]["history"]["logDirectory"] = "/data/ev"
    raw["platform"]["history"]["image"] = "plain"
    parse_config(raw, scripts={"sales_etl.py"})


def test_s3a_with_the_stock_image() -> None:
    raw = {"platform": {"history": {"logDirectory": "s3a://b/ev/"}},
           "applications": {"a": etl(arguments=["--input", "s3a://b/in/"]),
                            "b": etl(arguments=["--input", "s3a://b/in/"], sparkConf=WITH_IVY)}}
    assert config_lines(raw) == [
        "  sparkstack:applications.a.sparkConf: reads or writes s3a:// but apache/spark has no hadoop-aws; use an "
        "image that carries it (spark.image; docs/object-storage.md), or add spark.jars.packages: "
        "org.apache.hadoop:hadoop-aws:3.4.1 and spark.jars.ivy: /tmp/.ivy2 (resolved in the operator's controller "
        "and in each driver, needing egress to Maven Central)",
        "  sparkstack:platform.history.logDirectory (got 's3a://b/ev/'): the History Server cannot fetch hadoop-aws "
        "and apache/spark lacks it; use an image that carries it (spark.image) or keep event logs on a ReadWriteMany "
        "data volume"]
    parse_config({**raw, "spark": {"image": "example.com/spark-s3:4.0.4"}}, scripts={"sales_etl.py"})
    parse_config({"platform": {"history": {"enabled": False, "logDirectory": "s3a://b/ev/"}}}, scripts=set())


def test_packages_need_a_writable_ivy_folder() -> None:
    raw = {"applications": {"a": etl(sparkConf={"spark.jars.packages": "x:y:1"}),
                            "b": etl(sparkConf={"spark.jars.packages": "x:y:1", "spark.jars.ivy": "/opt/ivy"})}}
    fix = ("spark.jars.packages is resolved by spark-submit inside the operator's controller (read-only but for /tmp) "
           "and again in the driver; set spark.jars.ivy: /tmp/.ivy2, or better, put the jars in the image "
           "(docs/object-storage.md)")
    assert config_lines(raw) == [f"  sparkstack:applications.a.sparkConf.spark.jars.ivy: {fix}",
                                 f"  sparkstack:applications.b.sparkConf.spark.jars.ivy (got '/opt/ivy'): {fix}"]
    parse_config({"applications": {"a": etl(sparkConf={"spark.jars.packages": " "})}}, scripts={"sales_etl.py"})


@pytest.mark.parametrize(("arguments", "scheme"), [
    (["--output", "s3a://b/o"], "s3a"), (["--output=GS://b/o"], "gs"), (["x", "--output", "abfs://c@a/o", "y"], "abfs"),
])
def test_outputs_in_an_object_store(arguments: list[str], scheme: str) -> None:
    value = arguments[arguments.index("--output") + 1] if "--output" in arguments else arguments[0][len("--output="):]
    assert config_lines({"applications": {"a": etl(arguments=arguments, sparkConf=WITH_IVY)}}) == [
        f"  sparkstack:applications.a.arguments (got {value!r}): --output in an object store ({scheme}://) is refused "
        "by the jobs: there a rename is a copy and a delete, so a failed or concurrent run could leave a "
        "half-published output; write to the data volume (/data/...) or HDFS, --input may stay in the object store "
        "(docs/object-storage.md)"]


@pytest.mark.parametrize("arguments", [["--output"], ["--output", "/data/o"], ["--output=file:///data/o"],
                                       ["--input", "s3a://b/i", "--output", "hdfs://nn/o"], ["s3a://b/o"]])
def test_outputs_the_jobs_publish(arguments: list[str]) -> None:
    parse_config({"applications": {"a": etl(arguments=arguments, sparkConf=WITH_IVY)}}, scripts={"sales_etl.py"})


def test_decommissioned_blocks_in_s3a_need_hadoop_aws() -> None:
    fallback = {"mode": "decommission", "decommission": {"fallbackStoragePath": "s3a://b/fb/"}}
    raw = {"platform": {"shuffle": fallback}, "images": {"s3": {"jars": S3A_JARS}},
           "applications": {"a": etl(), "b": etl(sparkConf=WITH_IVY), "c": etl(image="s3"),
                            "d": etl(shuffle={"mode": "local"})}}
    assert config_lines(raw) == [
        "  sparkstack:applications.a.sparkConf: its executors write decommissioned blocks to s3a://b/fb/ "
        "(platform.shuffle.decommission.fallbackStoragePath) but apache/spark has no hadoop-aws; add "
        "spark.jars.packages: org.apache.hadoop:hadoop-aws:3.4.1 and spark.jars.ivy: /tmp/.ivy2, use an image that "
        "carries it, or a fallback folder on a ReadWriteMany data volume"]
    parse_config({**raw, "spark": {"image": "example.com/spark-s3:4.0.4"}}, scripts={"sales_etl.py"})


def test_images_that_applications_name_must_exist() -> None:
    raw = {"images": {"s3": {}}, "platform": {"history": {"image": "hs"}},
           "applications": {"a": etl(image="etl")}}
    assert config_lines(raw) == [
        "  sparkstack:applications.a.image (got 'etl'): is not a key of sparkstack:images; use one of: s3",
        "  sparkstack:platform.history.image (got 'hs'): is not a key of sparkstack:images; name a built image (one "
        "with hadoop-aws for logs in s3a://) or remove the key to use spark.image"]
    assert config_lines({"applications": {"a": etl(image="etl")}}) == [
        "  sparkstack:applications.a.image (got 'etl'): is not a key of sparkstack:images; use one of: none (add "
        "sparkstack:images)"]


@pytest.mark.parametrize("creds", [{"username": "u"}, {"username": "u", "password": ""},
                                   {"username": "u", "password": 5}, {"username": "u", "password": "p", "token": "t"},
                                   "u:p"])
def test_registry_credentials_must_be_whole(creds: Any) -> None:
    raw = {"cluster": EXISTING, "platform": {"history": {"enabled": False}}}
    assert config_lines(raw, secrets={"registryCredentials": creds}) == [
        "  sparkstack:registryCredentials: must hold username and password; set each with `pulumi config set "
        "--secret --path 'sparkstack:registryCredentials.username' ...`"]
    parse_config(raw, scripts=set(), secrets={"registryCredentials": {"username": "u", "password": "p"}})
    assert config_lines({}, secrets={"registryCredentials": {"username": "u", "password": "p"}}) == [
        "  sparkstack:registryCredentials: images are loaded into kind's nodes, not pushed; remove it with "
        "`pulumi config rm sparkstack:registryCredentials`"]


def test_object_store_credentials_lines() -> None:
    assert config_lines({}, secrets={"objectStoreCredentials": "AKIA:secret"}) == [
        "  sparkstack:objectStoreCredentials: must be a mapping with accessKeyId and secretAccessKey"]
    assert config_lines({}, secrets={"objectStoreCredentials": {"accessKeyId": "", "secretAccessKey": "s",
                                                                "token": "t"}}) == [
        "  sparkstack:objectStoreCredentials.token: unknown key; valid keys: accessKeyId, secretAccessKey",
        "  sparkstack:objectStoreCredentials.accessKeyId: is missing; set it with `pulumi config set --secret --path "
        "'sparkstack:objectStoreCredentials.accessKeyId' ...`"]
    parse_config({}, scripts=set(), secrets={"objectStoreCredentials": {"accessKeyId": "a", "secretAccessKey": "s"}})


# --- an application's own rules (infra/config_applications.py) ---------------------------------------------------

# sparkConf keys a typed field sets (operator v2.5.2 buildSparkSubmitArgs passes the typed fields after sparkConf),
# and the field the user is told to set instead.
TYPED = [
    ("spark.driver.cores", "driver.cores"), ("spark.driver.memory", "driver.memory"),
    ("spark.driver.memoryOverhead", "driver.memoryOverhead"), ("spark.executor.cores", "executor.cores"),
    ("spark.executor.memory", "executor.memory"), ("spark.executor.memoryOverhead", "executor.memoryOverhead"),
    ("spark.executor.instances", "executor.instances"),
    ("spark.kubernetes.driver.request.cores", "driver.coreRequest"),
    ("spark.kubernetes.driver.limit.cores", "driver.coreLimit"),
    ("spark.kubernetes.executor.request.cores", "executor.coreRequest"),
    ("spark.kubernetes.executor.limit.cores", "executor.coreLimit"),
    ("spark.dynamicAllocation.enabled", "dynamicAllocation.enabled"),
    ("spark.dynamicAllocation.initialExecutors", "dynamicAllocation.initialExecutors"),
    ("spark.dynamicAllocation.minExecutors", "dynamicAllocation.minExecutors"),
    ("spark.dynamicAllocation.maxExecutors", "dynamicAllocation.maxExecutors"),
    ("spark.kubernetes.container.image", "spark.image"), ("spark.local.dir", "platform.storage"),
    ("spark.kubernetes.authenticate.driver.serviceAccountName", "the platform's service accounts"),
    ("spark.kubernetes.authenticate.executor.serviceAccountName", "the platform's service accounts"),
    ("spark.kubernetes.driver.pod.name", "the application name"),
    ("spark.kubernetes.container.image.pullPolicy", "the platform (IfNotPresent, after the pre-pull)"),
]


@pytest.mark.parametrize(("key", "field"), TYPED)
def test_spark_conf_keys_a_typed_field_sets(key: str, field: str) -> None:
    assert config_lines({"applications": {"e": {"script": "sales_etl.py", "sparkConf": {key: "x"}}}}) == [
        f"  sparkstack:applications.e.sparkConf.{key} (got 'x'): is set by the stack; set {field} instead and remove "
        "this key"]


def test_an_applications_own_rules_read_in_full() -> None:
    app = {"script": "etl.py", "runOnUp": False, "driver": {"cores": 2, "coreRequest": "1500m", "coreLimit": "1"},
           "executor": {"coreLimit": "999m"}, "dynamicAllocation": {"minExecutors": 3, "maxExecutors": 2},
           "sparkConf": {"hadoop.fs.x": "1", "spark.dynamicAllocation.shuffleTracking.enabled": " False"}}
    assert config_lines({"applications": {"e": app}}) == [
        "  sparkstack:applications.e.script (got 'etl.py'): there is no jobs/etl.py; add the file or use one of: "
        "sales_etl.py",
        "  sparkstack:applications.e.runOnUp (got False): with runOnUp: false and no schedule the application never "
        "runs; add a schedule or set runOnUp: true",
        "  sparkstack:applications.e.driver.coreLimit (got '1'): is below the CPU request (1500m); Kubernetes "
        "refuses such a pod; raise coreLimit to at least 1500m (twice the request lets Spark burst)",
        "  sparkstack:applications.e.executor.coreLimit (got '999m'): is below the CPU request (1); Kubernetes "
        "refuses such a pod; raise coreLimit to at least 1 (twice the request lets Spark burst)",
        "  sparkstack:applications.e.dynamicAllocation.maxExecutors (got 2): is below minExecutors (3); raise it",
        "  sparkstack:applications.e.sparkConf.hadoop.fs.x (got '1'): is not a Spark setting; Spark keys start with "
        "'spark.' (Hadoop settings are 'spark.hadoop.*')",
        "  sparkstack:applications.e.sparkConf.spark.dynamicAllocation.shuffleTracking.enabled (got ' False'): turns "
        "off shuffle tracking while dynamic allocation is on and there is no shuffle service; Spark refuses to "
        "start; remove it (or set dynamicAllocation.enabled: false)"]
    # The limit is held against the request, not the task slots: 2 slots on half a core may burst to one.
    parse_config({"applications": {"e": {"script": "sales_etl.py", "driver": {"cores": 2, "coreRequest": "500m",
                                                                              "coreLimit": "1"}}}},
                 scripts={"sales_etl.py"})
    with pytest.raises(ConfigError, match=r"there is no jobs/sales_etl\.py; add the file or use one of: none"):
        parse_config({"applications": {"e": {"script": "sales_etl.py"}}}, scripts=set())


@pytest.mark.parametrize(("da", "ok"), [
    ({"minExecutors": 1, "initialExecutors": 0, "maxExecutors": 2}, False),
    ({"minExecutors": 0, "initialExecutors": 3, "maxExecutors": 2}, False),
    ({"minExecutors": 2, "initialExecutors": 2, "maxExecutors": 2}, True),
    ({"minExecutors": 0, "initialExecutors": 0, "maxExecutors": 1}, True),
])
def test_initial_executors_lie_between_min_and_max(da: dict[str, int], ok: bool) -> None:
    raw = {"applications": {"e": {"script": "sales_etl.py", "dynamicAllocation": da}}}
    if ok:
        parse_config(raw, scripts={"sales_etl.py"})
    else:
        assert config_lines(raw) == [
            f"  sparkstack:applications.e.dynamicAllocation.initialExecutors (got {da['initialExecutors']}): must lie "
            f"between minExecutors ({da['minExecutors']}) and maxExecutors ({da['maxExecutors']})"]


@pytest.mark.parametrize(("script", "ok"), [
    ("sales_etl.py", True), ("_x.py", True), ("a-b.c.py", True), (".py", False), ("-a.py", False), ("a.txt", False),
    ("a.py.bak", False), ("a/b.py", False),
])
def test_script_names(script: str, ok: bool) -> None:
    raw = {"applications": {"e": {"script": script}}}
    if ok:
        parse_config(raw, scripts={script})
    else:
        assert config_lines(raw) == [
            f"  sparkstack:applications.e.script (got {script!r}): must be the name of a .py file directly in jobs/, "
            "e.g. 'sales_etl.py'"]


def test_how_an_application_reads_its_spark_conf() -> None:
    from infra.config_applications import ApplicationConfig

    def app(**more: Any) -> ApplicationConfig:
        return ApplicationConfig.model_validate({"script": "a.py", **more})

    assert not app().uses_s3a and not app().shuffle_service and app().shuffle_tracking
    assert app(arguments=["--input", "s3a://b/x"]).uses_s3a
    assert app(sparkConf={"spark.sql.warehouse.dir": "s3a://b/w"}).uses_s3a
    service = app(sparkConf={"spark.shuffle.service.enabled": " True "})
    assert service.shuffle_service and not service.shuffle_tracking  # a shuffle service replaces tracking
    both = app(sparkConf={"spark.shuffle.service.enabled": "true",
                          "spark.dynamicAllocation.shuffleTracking.enabled": "TRUE"})
    assert both.shuffle_tracking
    assert not app(sparkConf={"spark.dynamicAllocation.shuffleTracking.enabled": "false"}).shuffle_tracking


def test_spark_values_must_be_single_values() -> None:
    assert config_lines({"applications": {"e": {"script": "sales_etl.py", "arguments": [["a"]],
                                                "sparkConf": {"spark.x": {"y": 1}}}}}) == [
        "  sparkstack:applications.e.arguments.0: must be a single value (text, number or true/false), not a list or "
        "mapping",
        "  sparkstack:applications.e.sparkConf.spark.x: must be a single value (text, number or true/false), not a "
        "list or mapping"]


def test_cpu_may_be_a_number_but_not_true_or_false() -> None:
    cfg = parse_config({"platform": {"history": {"cpu": 1.5}, "capacity": {"cpu": 8, "memory": "32Gi"}}},
                       scripts=set())
    assert (cfg.platform.history.cpu, cfg.platform.capacity.cpu) == ("1.5", "8")  # type: ignore[union-attr]
    assert config_lines({"platform": {"history": {"cpu": True}}}) == [
        "  sparkstack:platform.history.cpu (got True): must be text; put the value in quotes"]


def test_a_value_that_is_not_yaml_or_json_names_its_key() -> None:
    with pytest.raises(ConfigError) as caught:
        run_program({"sparkstack:cluster": "{bad"})
    assert str(caught.value) == (
        "  sparkstack:cluster: not a valid YAML/JSON value (Configuration 'sparkstack:cluster' value '{bad' is not a "
        "valid 'JSON object')")
    assert caught.value.recording.resources == []  # type: ignore[attr-defined]


def test_images_are_checked_for_the_clusters_kind() -> None:
    raw = {"cluster": EXISTING, "platform": {"history": {"enabled": False}}, "images": {"etl": {}}}
    assert config_lines(raw) == [
        "  sparkstack:images.etl.repository: an existing cluster pulls images from a registry; set the repository to "
        "push to, e.g. 'registry.example.com/data/spark-etl' (credentials: secret sparkstack:registryCredentials)"]

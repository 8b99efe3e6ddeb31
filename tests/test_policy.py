"""The policy pack (policy/): each rule case by case, then the pack itself over the analyzer gRPC protocol.

The direct tests call `policy/sparkstack_rules.py` on a correct application with one thing changed: each mistake
must be reported, and its valid neighbours must not be (precision matters as much as recall). The gRPC tests
start `policy/__main__.py` as the Pulumi CLI does (tests/policy_server.py) and run it over every resource the
mock engine records for the dev stack, and over one mutated resource per rule.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import jsonschema
import pytest
import sparkstack_rules as rules  # policy/ is on pytest's pythonpath, as the pack's folder is for the CLI
from google.protobuf import empty_pb2
from script_rules import unbounded_collects
from sparkstack_rules import CONFIG_MAP, RULES, SCHEDULED_SPARK_APPLICATION, SPARK_APPLICATION, evaluate
from team_rules import BATCH_QUEUE, NAMESPACE_QUOTA, STACK_RULES, stack_violations

from tests.policy_server import PolicyPackServer
from tools.plan.mock_engine import run_program, stack_config

# The mock engine's recording and its resources (.type, .name, .urn, .inputs, .plain_inputs, .provider, ...);
# only run_program and stack_config are its stable interface, so their types are not imported.
Recording = Any
Registered = Any

REPO = Path(__file__).resolve().parent.parent
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's "unknown during preview" string sentinel


# --- a correct application -------------------------------------------------------------------------------


def clean_spec() -> dict[str, Any]:
    """A PySpark SparkApplication spec that follows the seed everywhere (the shape the stack produces)."""
    mounts = [{"name": "jobs", "mountPath": "/opt/sparkstack/jobs", "readOnly": True},
              {"name": "spark-local-dir-scratch", "mountPath": "/var/spark/scratch"}]
    pod = {"cores": 1.0, "coreRequest": "500m", "coreLimit": "1200m", "memory": "2g", "memoryOverhead": "512m",
           "volumeMounts": copy.deepcopy(mounts)}
    return {
        "type": "Python",
        "mode": "cluster",
        "sparkVersion": "4.0.4",
        "image": "apache/spark:4.0.4-python3",
        "imagePullPolicy": "IfNotPresent",
        "mainApplicationFile": "local:///opt/sparkstack/jobs/sales_etl.py",
        "sparkConf": {
            "spark.sql.adaptive.enabled": "true",
            "spark.sql.adaptive.coalescePartitions.enabled": "true",
            "spark.sql.adaptive.skewJoin.enabled": "true",
            "spark.local.dir": "/var/spark/scratch",
        },
        "driver": copy.deepcopy(pod),
        "executor": copy.deepcopy(pod),
        "volumes": [{"name": "jobs", "configMap": {"name": "sparkstack-jobs-0123456789"}},
                    {"name": "spark-local-dir-scratch", "emptyDir": {"sizeLimit": "10Gi"}}],
        "dynamicAllocation": {"enabled": True, "shuffleTrackingEnabled": True, "initialExecutors": 1.0,
                              "minExecutors": 1.0, "maxExecutors": 2.0},
    }


def clean_schedule() -> dict[str, Any]:
    return {"schedule": "0 3 * * *", "concurrencyPolicy": "Forbid", "template": clean_spec()}


def check(name: str, spec: dict[str, Any], **config: Any) -> list[str]:
    return evaluate(rules.rule(name), SPARK_APPLICATION, {"spec": spec}, config)


Mutation = Callable[[dict[str, Any]], None]


def set_path(path: str, value: Any) -> Mutation:
    """A mutation that sets (or, with value None, removes) `a.b.c` in a spec."""
    def mutate(spec: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = spec
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target.setdefault(key, {})
        if isinstance(target, list):
            target[int(last)] = value
        elif value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(spec: dict[str, Any]) -> None:
        for m in mutations:
            m(spec)
    return mutate


def without_scratch(spec: dict[str, Any]) -> None:
    spec["volumes"] = [v for v in spec["volumes"] if not v["name"].startswith("spark-local-dir-")]
    for role in ("driver", "executor"):
        spec[role]["volumeMounts"] = [m for m in spec[role]["volumeMounts"] if m["name"] == "jobs"]
    spec["sparkConf"].pop("spark.local.dir")


def test_a_correct_application_and_schedule_pass_every_rule() -> None:
    for rule in RULES:
        assert evaluate(rule, SPARK_APPLICATION, {"spec": clean_spec()}) == [], rule.name
        assert evaluate(rule, SCHEDULED_SPARK_APPLICATION, {"spec": clean_schedule()}) == [], rule.name


def conf(key: str, value: str | None) -> Mutation:
    return set_path(f"sparkConf/{key}", value)


VIOLATIONS: list[tuple[str, Mutation, str]] = [
    # memoryOverhead set explicitly below 20 % of memory, for a Python application
    ("pyspark-memory-overhead", set_path("executor/memoryOverhead", "384m"), "executor.memoryOverhead 384m is 19%"),
    ("pyspark-memory-overhead", both(set_path("executor/memory", "4g"), set_path("executor/memoryOverhead", "409m")),
     "below 20%"),
    ("pyspark-memory-overhead", set_path("driver/memoryOverhead", "200m"), "driver.memoryOverhead"),
    ("pyspark-memory-overhead", both(set_path("executor/memoryOverhead", None),
                                     conf("spark.executor.memoryOverhead", "100m")), "executor.memoryOverhead 100m"),
    ("pyspark-memory-overhead", both(set_path("executor/memoryOverhead", None),
                                     conf("spark.executor.memoryOverheadFactor", "0.1")), "memoryOverheadFactor"),
    ("pyspark-memory-overhead", both(set_path("executor/memoryOverhead", None), set_path("driver/memoryOverhead", None),
                                     conf("spark.kubernetes.memoryOverheadFactor", "0.1")),
     "spark.kubernetes.memoryOverheadFactor is 0.1"),  # covers both pods: reported once
    # AQE off, or its skew-join handling off
    ("spark-aqe-enabled", conf("spark.sql.adaptive.enabled", "false"), "spark.sql.adaptive.enabled is set to false"),
    ("spark-aqe-enabled", conf("spark.sql.adaptive.skewJoin.enabled", "false"), "skewJoin.enabled is set to false"),
    ("spark-aqe-enabled", both(set_path("sparkVersion", "3.1.3"), conf("spark.sql.adaptive.enabled", None)),
     "off by default before 3.2"),
    # driver memory below 2 GB
    ("spark-driver-memory", set_path("driver/memory", "1g"), "driver.memory is 1g, below 2g"),
    ("spark-driver-memory", set_path("driver/memory", "1536m"), "below 2g"),
    ("spark-driver-memory", set_path("driver/memory", None), "unset (Spark's default 1g)"),
    ("spark-driver-memory", both(set_path("driver/memory", None), conf("spark.driver.memory", "512m")),
     "spark.driver.memory is 512m"),
    # untagged or latest image (and no image at all)
    ("spark-image-pinned", set_path("image", "apache/spark"), "has no tag"),
    ("spark-image-pinned", set_path("image", "apache/spark:latest"), "uses the latest tag"),
    ("spark-image-pinned", set_path("image", "registry.local:5000/spark"), "has no tag"),
    ("spark-image-pinned", set_path("executor/image", "apache/spark:latest"), "executor.image"),
    ("spark-image-pinned", both(set_path("image", None), conf("spark.kubernetes.container.image", "spark")),
     "spark.kubernetes.container.image"),
    ("spark-image-pinned", set_path("image", None), "no image is set"),
    # imagePullPolicy Always
    ("spark-image-pull-policy", set_path("imagePullPolicy", "Always"), "imagePullPolicy is Always"),
    ("spark-image-pull-policy", both(set_path("imagePullPolicy", None),
                                     conf("spark.kubernetes.container.image.pullPolicy", "Always")), "Always"),
    # a CPU limit without room to burst
    ("spark-cpu-burst", both(set_path("executor/coreRequest", "1"), set_path("executor/coreLimit", "1")),
     "executor CPU limit 1 is 1x its request 1, below 2x"),
    ("spark-cpu-burst", both(set_path("driver/coreRequest", "1"), set_path("driver/coreLimit", "1500m")),
     "driver CPU limit 1500m is 1.5x"),
    ("spark-cpu-burst", both(set_path("executor/coreRequest", None), set_path("executor/coreLimit", "1")),
     "its request 1,"),
    # no local scratch space
    ("spark-local-scratch", without_scratch, "no local scratch volume"),
    ("spark-local-scratch", set_path("volumes", [{"name": "spark-local-dir-scratch", "emptyDir": {}}]),
     "without sizeLimit"),
    ("spark-local-scratch", set_path("executor/volumeMounts", []), "no local scratch volume"),
    # shuffle partitions far from 2-4 per core with coalescing off
    ("spark-shuffle-partitions", conf("spark.sql.adaptive.coalescePartitions.enabled", "false"),
     "unset (Spark's default 200) for at most 2 executor cores"),
    ("spark-shuffle-partitions", both(conf("spark.sql.adaptive.enabled", "false"),
                                      conf("spark.sql.shuffle.partitions", "400")), "is 400"),
    ("spark-shuffle-partitions", both(conf("spark.sql.adaptive.coalescePartitions.enabled", "false"),
                                      set_path("executor/cores", 4.0), set_path("dynamicAllocation/maxExecutors", 10.0),
                                      conf("spark.sql.shuffle.partitions", "4")), "0.1 per core"),
    # dynamic allocation without shuffle tracking or a shuffle service
    ("spark-dynamic-allocation-shuffle", set_path("dynamicAllocation/shuffleTrackingEnabled", False),
     "without shuffle tracking"),
    ("spark-dynamic-allocation-shuffle", both(set_path("dynamicAllocation", None), set_path("sparkVersion", "3.3.2"),
                                              conf("spark.dynamicAllocation.enabled", "true")), "shuffle tracking"),
    ("spark-dynamic-allocation-shuffle", both(set_path("dynamicAllocation", None),
                                              conf("spark.dynamicAllocation.enabled", "true"),
                                              conf("spark.dynamicAllocation.shuffleTracking.enabled", "false")),
     "shuffle tracking"),
    # an external shuffle service that Kubernetes does not have, or Celeborn without its shuffle manager
    ("spark-no-shuffle-service", conf("spark.kubernetes.shuffle.service.name", "shuffle"),
     "sparkConf.spark.kubernetes.shuffle.service.name is a key of the retired Spark-on-Kubernetes fork"),
    ("spark-no-shuffle-service", conf("spark.shuffle.service.enabled", "true"),
     "Kubernetes has no external shuffle service"),
    ("spark-no-shuffle-service", both(conf("spark.celeborn.master.endpoints", "celeborn-master-0:9097"),
                                      conf("spark.shuffle.manager", "sort")),
     "spark.shuffle.manager is sort"),
    ("spark-no-shuffle-service", conf("spark.celeborn.master.endpoints", "celeborn-master-0:9097"),
     "spark.shuffle.manager is sort (Spark's default)"),
]


@pytest.mark.parametrize(("name", "mutate", "expected"), VIOLATIONS,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(VIOLATIONS)])
def test_each_mistake_is_reported_with_its_fix(name: str, mutate: Mutation, expected: str) -> None:
    spec = clean_spec()
    mutate(spec)
    found = check(name, spec)
    assert len(found) == 1, found
    assert expected in found[0]
    assert "Fix:" in found[0]
    # Only that rule fires, except where the mutation is itself a second mistake (no image at all also breaks
    # nothing else; AQE off also turns the partition check on; an image in sparkConf is refused by the webhook).
    others = {r.name for r in RULES if r.name != name and evaluate(r, SPARK_APPLICATION, {"spec": spec})}
    assert others <= {"spark-shuffle-partitions", "spark-aqe-enabled", "spark-operator-admits-sparkconf"}, others


VALID: list[tuple[str, Mutation]] = [
    ("pyspark-memory-overhead", set_path("executor/memoryOverhead", None)),  # Spark's Python default is 40 %
    ("pyspark-memory-overhead", set_path("executor/memoryOverhead", "410m")),  # 20 % of 2g, rounded up
    ("pyspark-memory-overhead", both(set_path("type", "Scala"), set_path("executor/memoryOverhead", "100m"))),
    ("pyspark-memory-overhead", both(set_path("executor/memoryOverhead", None),
                                     conf("spark.executor.memoryOverheadFactor", "0.25"))),
    ("spark-aqe-enabled", both(conf("spark.sql.adaptive.enabled", None), conf("spark.sql.adaptive.skewJoin.enabled",
                                                                              None))),  # Spark 4 defaults: on
    ("spark-aqe-enabled", conf("spark.sql.adaptive.enabled", "True")),
    ("spark-driver-memory", set_path("driver/memory", "2048m")),
    ("spark-driver-memory", set_path("driver/memory", "4g")),
    ("spark-image-pinned", set_path("image", "registry.local:5000/team/spark:4.0.4")),
    ("spark-image-pinned", set_path("image", "apache/spark@sha256:" + "a" * 64)),
    ("spark-image-pull-policy", set_path("imagePullPolicy", "Never")),
    ("spark-image-pull-policy", set_path("imagePullPolicy", None)),
    ("spark-cpu-burst", set_path("executor/coreLimit", None)),  # no limit: bursting allowed
    ("spark-cpu-burst", both(set_path("executor/coreRequest", "1"), set_path("executor/coreLimit", "2"))),
    ("spark-local-scratch", set_path("volumes", [{"name": "spark-local-dir-scratch",
                                                  "persistentVolumeClaim": {"claimName": "scratch"}}])),
    ("spark-local-scratch", both(  # not prefixed, but it is where spark.local.dir points
        set_path("volumes", [{"name": "scratch", "emptyDir": {"sizeLimit": "5Gi"}}]),
        set_path("executor/volumeMounts", [{"name": "scratch", "mountPath": "/var/spark/scratch"}]))),
    ("spark-local-scratch", both(without_scratch, conf(  # Spark's own on-demand PVC per executor
        "spark.kubernetes.executor.volumes.persistentVolumeClaim.spark-local-dir-1.options.claimName", "OnDemand"))),
    ("spark-shuffle-partitions", conf("spark.sql.shuffle.partitions", "200")),  # coalescing on: AQE right-sizes
    ("spark-shuffle-partitions", both(conf("spark.sql.adaptive.coalescePartitions.enabled", "false"),
                                      conf("spark.sql.shuffle.partitions", "8"))),  # 4 per core on 2 cores
    ("spark-shuffle-partitions", both(conf("spark.sql.adaptive.coalescePartitions.enabled", "false"),
                                      conf("spark.sql.shuffle.partitions", "32"))),  # 16 per core: 4x the top end
    ("spark-shuffle-partitions", both(conf("spark.sql.adaptive.coalescePartitions.enabled", "false"),
                                      set_path("dynamicAllocation/maxExecutors", None))),  # cores unbounded
    ("spark-dynamic-allocation-shuffle", set_path("dynamicAllocation/shuffleTrackingEnabled", None)),  # operator: on
    ("spark-dynamic-allocation-shuffle", both(set_path("dynamicAllocation/shuffleTrackingEnabled", False),
                                              conf("spark.shuffle.service.enabled", "true"))),
    ("spark-dynamic-allocation-shuffle", both(set_path("dynamicAllocation", {"enabled": False}),
                                              conf("spark.dynamicAllocation.shuffleTracking.enabled", "false"))),
    ("spark-dynamic-allocation-shuffle", both(set_path("dynamicAllocation", None),
                                              conf("spark.dynamicAllocation.enabled", "true"))),  # Spark >= 3.4
    ("spark-no-shuffle-service", conf("spark.shuffle.service.enabled", "false")),
    ("spark-no-shuffle-service", conf("spark.kubernetes.executor.decommissionLabel", "decommissioning")),
    ("spark-no-shuffle-service", both(conf("spark.celeborn.master.endpoints", "celeborn-master-0:9097"),
                                      conf("spark.shuffle.manager",
                                           "org.apache.spark.shuffle.celeborn.SparkShuffleManager"))),
    ("spark-no-shuffle-service", both(conf("spark.celeborn.master.endpoints", "celeborn-master-0:9097"),
                                      set_path("dynamicAllocation", {"enabled": False}))),
]


@pytest.mark.parametrize(("name", "mutate"), VALID, ids=[f"{n}-{i}" for i, (n, _) in enumerate(VALID)])
def test_valid_neighbours_are_not_reported(name: str, mutate: Mutation) -> None:
    spec = clean_spec()
    mutate(spec)
    assert check(name, spec) == []


@pytest.mark.parametrize(("name", "spec_mutation", "config", "flagged"), [
    ("spark-driver-memory", set_path("driver/memory", "1g"), {"minDriverMemoryMiB": 1024}, False),
    ("spark-driver-memory", set_path("driver/memory", "3g"), {"minDriverMemoryMiB": 4096}, True),
    ("pyspark-memory-overhead", set_path("executor/memoryOverhead", "512m"), {"minOverheadFraction": 0.3}, True),
    ("pyspark-memory-overhead", set_path("executor/memoryOverhead", "300m"), {"minOverheadFraction": 0.1}, False),
    ("spark-cpu-burst", set_path("executor/coreLimit", "1200m"), {"minBurstRatio": 3.0}, True),
    ("spark-cpu-burst", set_path("executor/coreLimit", "600m"), {"minBurstRatio": 1.0}, False),
    ("spark-shuffle-partitions", both(conf("spark.sql.adaptive.coalescePartitions.enabled", "false"),
                                      conf("spark.sql.shuffle.partitions", "32")), {"farOutsideFactor": 1}, True),
])
def test_thresholds_come_from_the_config(name: str, spec_mutation: Mutation, config: dict[str, Any],
                                         flagged: bool) -> None:
    spec = clean_spec()
    spec_mutation(spec)
    assert bool(check(name, spec, **config)) is flagged


@pytest.mark.parametrize(("policy", "flagged"), [("Allow", True), (None, True), ("Forbid", False),
                                                 ("Replace", False)])
def test_schedules_that_allow_overlapping_runs_are_reported(policy: str | None, flagged: bool) -> None:
    schedule = clean_schedule()
    set_path("concurrencyPolicy", policy)(schedule)
    found = evaluate(rules.rule("spark-schedule-no-overlap"), SCHEDULED_SPARK_APPLICATION, {"spec": schedule})
    assert bool(found) is flagged
    # The schedule rule reads the schedule, not a plain SparkApplication.
    assert evaluate(rules.rule("spark-schedule-no-overlap"), SPARK_APPLICATION, {"spec": schedule}) == []


def test_application_rules_read_a_schedules_template() -> None:
    schedule = clean_schedule()
    schedule["template"]["image"] = "apache/spark:latest"
    found = evaluate(rules.rule("spark-image-pinned"), SCHEDULED_SPARK_APPLICATION, {"spec": schedule})
    assert len(found) == 1 and found[0].startswith("template: image 'apache/spark:latest'")


# --- scripts ---------------------------------------------------------------------------------------------

UNBOUNDED = [
    "rows = df.collect()",
    "pdf = df.toPandas()",
    "spark.read.parquet(path).where(F.col('x') > 1).select('x').collect()",
    "df.groupBy('city').agg(F.sum('revenue')).collect()",
    "df.limit(5).union(other).collect()",
    "df.rdd.collect()",
    "rows = tally(groups).collect()",
    "outputs['city_revenue'].toPandas()",
    "rows = (\n    df.where('x > 1')\n    .collect()\n)",
    "small = df.limit(5)\nsmall.collect()",  # bounded on another line: not visible, needs the comment
    "df.collect()  # allow-collect",  # not the escape comment
]
BOUNDED = [
    "rows = df.limit(10).collect()",
    "pdf = df.where('x > 1').limit(1000).toPandas()",
    "rows = df.take(5)",
    "row = df.head(3)",
    "df.show(20, truncate=False)",
    "df.agg(F.max('x')).collect()",
    "df.where('x > 1').groupBy().agg(F.sum('x')).collect()",
    "df.summary().toPandas()",
    "import gc\ngc.collect()",
    "rows = tally(groups).collect()  # policy: allow-collect (a few thousand rows)",
    "rows = (\n    tally(groups)  # policy: allow-collect\n    .collect()\n)",
    "F.collect_list('x')",
    "queue.collect(timeout=5)",  # takes arguments: not DataFrame.collect()
    "text = '# policy: allow-collect'\nprint(text)",
]


@pytest.mark.parametrize("source", UNBOUNDED)
def test_unbounded_collect_and_to_pandas_are_found(source: str) -> None:
    found = unbounded_collects(source, "job.py")
    assert len(found) == 1, found
    assert found[0].action in ("collect", "toPandas")
    assert "job.py:" in found[0].message() and "policy: allow-collect" in found[0].message()


@pytest.mark.parametrize("source", BOUNDED)
def test_bounded_or_marked_collects_pass(source: str) -> None:
    assert unbounded_collects(source, "job.py") == []


def test_a_string_holding_the_escape_comment_is_not_an_escape() -> None:
    assert len(unbounded_collects("df.collect(); note = '# policy: allow-collect'", "job.py")) == 1


def scripts_config_map(data: dict[str, str], component: str = "job-scripts") -> dict[str, Any]:
    return {"metadata": {"name": "sparkstack-jobs-0123456789", "labels": {"app.kubernetes.io/component": component}},
            "data": data}


def test_scripts_config_map_is_checked_file_by_file_and_never_run() -> None:
    rule = rules.rule("pyspark-bounded-collect")
    data = {
        "job.py": "import os\nos.system('touch /tmp/should-not-exist')\nrows = df.collect()\n",
        "lib.py": "def helper(df):\n    return df.limit(5).collect()\n",
        "broken.py": "def (:\n",
        "README.txt": "df.collect()",
    }
    found = evaluate(rule, CONFIG_MAP, scripts_config_map(data))
    assert len(found) == 2, found
    assert found[0].startswith("broken.py:1: does not parse")
    assert found[1].startswith("job.py:3: df.collect()")
    assert not Path("/tmp/should-not-exist").exists()
    # Any ConfigMap's *.py entries are scripts (the seed ships its own with kubectl create configmap).
    assert evaluate(rule, CONFIG_MAP, scripts_config_map(data, component="something-else")) == found


def test_shipped_jobs_collect_only_small_aggregates() -> None:
    found = [f for path in sorted((REPO / "jobs").glob("*.py"))
             for f in unbounded_collects(path.read_text(encoding="utf-8"), path.name)]
    assert found == [], [f.message() for f in found]  # the small ones carry `# policy: allow-collect`


# --- the pack over gRPC ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackServer]:
    server = PolicyPackServer().start()
    try:
        server.configure_stack()
        server.configure()
        yield server
    finally:
        code = server.stop()
        assert code == 0, f"policy pack exited with {code}: {server.stderr()}"


@pytest.fixture(scope="module")
def dev() -> Recording:
    return run_program(stack_config("dev"))


def test_pack_describes_its_policies_levels_and_config(pack: PolicyPackServer) -> None:
    info = pack.info()
    assert info.name == "sparkstack" and info.supportsConfig
    by_name = {p.name: p for p in info.policies}
    assert list(by_name) == [r.name for r in RULES] + [r.name for r in STACK_RULES]
    config = pack.reconcile()
    for rule in RULES:
        assert config[rule.name] == (rule.enforcement, rule.defaults()), rule.name
    for stack_rule in STACK_RULES:
        assert config[stack_rule.name][0] == "advisory", stack_rule.name
    assert config["spark-driver-memory"][1] == {"minDriverMemoryMiB": 2048}
    assert config["spark-image-pinned"][0] == "mandatory"
    assert config["spark-dynamic-allocation-shuffle"][0] == "mandatory"


def test_pack_leaves_handshake_to_the_cli_fallback(pack: PolicyPackServer) -> None:
    from pulumi.runtime.proto import analyzer_pb2

    assert pack.stub is not None
    with pytest.raises(grpc.RpcError) as raised:
        pack.stub.Handshake(analyzer_pb2.AnalyzerHandshakeRequest(engine_address="127.0.0.1:1"))
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert pack.stub.GetPluginInfo(empty_pb2.Empty()).version


@pytest.mark.parametrize("stack", ["dev", "existing"])
def test_shipped_stacks_get_no_violation(pack: PolicyPackServer, dev: Recording, stack: str) -> None:
    recording = dev if stack == "dev" else run_program(stack_config(stack), stack=stack)
    found: dict[tuple[str, str], list[str]] = {}
    for resource in recording.resources:
        for diagnostic in pack.analyze_registered(resource, recording.resources):
            found.setdefault((diagnostic.policy, resource.type), []).append(f"{resource.name}: {diagnostic.message}")
    checked = {r.type for r in recording.resources}
    assert CONFIG_MAP in checked and checked & {SPARK_APPLICATION, SCHEDULED_SPARK_APPLICATION}, checked
    if stack == "dev":
        assert {SPARK_APPLICATION, SCHEDULED_SPARK_APPLICATION} <= checked
    assert found == {}


def dev_resource(dev: Recording, type_: str, component: str | None = None) -> Registered:
    def labelled(r: Registered) -> bool:
        return r.plain_inputs["metadata"]["labels"].get("app.kubernetes.io/component") == component

    found = [r for r in dev.of_type(type_) if component is None or labelled(r)]
    assert found, type_
    return found[0]


def clean_dev_inputs(resource: Registered) -> dict[str, Any]:
    """The dev stack's resource as the seed wants it (2 GB driver) - the base each mutation starts from."""
    props = copy.deepcopy(resource.plain_inputs)
    spec = props["spec"]["template"] if resource.type == SCHEDULED_SPARK_APPLICATION else props["spec"]
    spec["driver"]["memory"] = "2g"
    return props


GRPC_CASES: list[tuple[str, str, Mutation]] = [
    ("pyspark-memory-overhead", SPARK_APPLICATION, set_path("spec/executor/memoryOverhead", "100m")),
    ("spark-aqe-enabled", SPARK_APPLICATION, set_path("spec/sparkConf/spark.sql.adaptive.skewJoin.enabled", "false")),
    ("spark-driver-memory", SPARK_APPLICATION, set_path("spec/driver/memory", "1g")),
    ("spark-image-pinned", SPARK_APPLICATION, set_path("spec/image", "apache/spark:latest")),
    ("spark-image-pull-policy", SPARK_APPLICATION, set_path("spec/imagePullPolicy", "Always")),
    ("spark-cpu-burst", SPARK_APPLICATION, set_path("spec/executor/coreLimit", "500m")),
    ("spark-local-scratch", SPARK_APPLICATION, set_path("spec/volumes", [])),
    ("spark-shuffle-partitions", SPARK_APPLICATION,
     both(set_path("spec/sparkConf/spark.sql.adaptive.coalescePartitions.enabled", "false"),
          set_path("spec/sparkConf/spark.sql.shuffle.partitions", "2000"))),
    ("spark-dynamic-allocation-shuffle", SPARK_APPLICATION,
     set_path("spec/dynamicAllocation/shuffleTrackingEnabled", False)),
    ("spark-schedule-no-overlap", SCHEDULED_SPARK_APPLICATION, set_path("spec/concurrencyPolicy", "Allow")),
    ("spark-image-pinned", SCHEDULED_SPARK_APPLICATION, set_path("spec/template/image", "apache/spark")),
    ("pyspark-bounded-collect", CONFIG_MAP,
     set_path("data", {"report.py": "from pyspark.sql import SparkSession\n"
                                    "spark = SparkSession.builder.getOrCreate()\n"
                                    "pdf = spark.table('sales').toPandas()\n"})),
]


def test_the_clean_bases_get_no_violation(pack: PolicyPackServer, dev: Recording) -> None:
    for type_ in (SPARK_APPLICATION, SCHEDULED_SPARK_APPLICATION):
        resource = dev_resource(dev, type_)
        assert pack.analyze(type_, resource.name, clean_dev_inputs(resource)) == []
    scripts = copy.deepcopy(dev_resource(dev, CONFIG_MAP, "job-scripts").plain_inputs)
    scripts["data"] = {"generate_data.py": scripts["data"]["generate_data.py"]}
    assert pack.analyze(CONFIG_MAP, "job-scripts", scripts) == []


@pytest.mark.parametrize(("name", "type_", "mutate"), GRPC_CASES,
                         ids=[f"{n}-{t.rsplit(':', 1)[-1]}" for n, t, _ in GRPC_CASES])
def test_pack_flags_each_mistake_over_grpc(pack: PolicyPackServer, dev: Recording, name: str, type_: str,
                                           mutate: Mutation) -> None:
    if type_ == CONFIG_MAP:
        resource = dev_resource(dev, CONFIG_MAP, "job-scripts")
        props = copy.deepcopy(resource.plain_inputs)
    else:
        resource = dev_resource(dev, type_)
        props = clean_dev_inputs(resource)
    mutate(props)
    found = pack.analyze(type_, resource.name, props)
    assert [(d.policy, d.level) for d in found] == [(name, rules.rule(name).enforcement)], found
    # pulumi-policy puts the policy's description first, then our message with the fix.
    assert found[0].message.startswith(rules.rule(name).description) and "Fix:" in found[0].message


def test_configure_changes_thresholds_and_levels(pack: PolicyPackServer, dev: Recording) -> None:
    resource = dev_resource(dev, SPARK_APPLICATION)
    props = clean_dev_inputs(resource)
    props["spec"]["driver"]["memory"] = "3g"
    try:
        assert pack.analyze(SPARK_APPLICATION, resource.name, props) == []
        pack.configure({"spark-driver-memory": {"minDriverMemoryMiB": 4096}})
        found = pack.analyze(SPARK_APPLICATION, resource.name, props)
        assert [(d.policy, d.level) for d in found] == [("spark-driver-memory", "advisory")]
        assert "driver.memory is 3g, below 4g" in found[0].message

        props["spec"]["driver"]["memory"] = "1g"
        pack.configure({"spark-driver-memory": "mandatory"})
        assert [d.level for d in pack.analyze(SPARK_APPLICATION, resource.name, props)] == ["mandatory"]
        pack.configure({"spark-driver-memory": {"enforcementLevel": "disabled"}})
        assert pack.analyze(SPARK_APPLICATION, resource.name, props) == []
        pack.configure({"all": "disabled"})
        props["spec"]["image"] = "apache/spark:latest"
        assert pack.analyze(SPARK_APPLICATION, resource.name, props) == []
    finally:
        pack.configure()
    assert [d.policy for d in pack.analyze(SPARK_APPLICATION, resource.name, props)] == [
        "spark-driver-memory", "spark-image-pinned"]


def test_config_outside_the_schema_is_refused_as_the_cli_does(pack: PolicyPackServer) -> None:
    with pytest.raises(jsonschema.ValidationError):
        pack.reconcile({"spark-cpu-burst": {"minBurstRatio": 0.5}})
    with pytest.raises(jsonschema.ValidationError):
        pack.reconcile({"spark-driver-memory": {"minDriverMemoryMiB": "2g"}})


def test_values_unknown_during_preview_do_not_stop_the_checks(pack: PolicyPackServer, dev: Recording) -> None:
    """The first preview does not know the namespace's or the PVC's name yet; the rules never read them."""
    resource = dev_resource(dev, SPARK_APPLICATION)
    props = clean_dev_inputs(resource)
    props["metadata"]["namespace"] = UNKNOWN_STRING
    for volume in props["spec"]["volumes"]:
        for source in ("persistentVolumeClaim", "configMap"):
            if source in volume:
                volume[source] = {"claimName" if source == "persistentVolumeClaim" else "name": UNKNOWN_STRING}
    assert pack.analyze(SPARK_APPLICATION, resource.name, props) == []


# --- round 2: inputs an adversarial user would try, over gRPC as the CLI sends them -----------------------------
# Expected values come from the sources read by hand, not from the pack: the operator v2.5.2's option order
# (internal/controller/sparkapplication/submission.go), its webhook's refused keys and reasons
# (internal/webhook/sparkconf_validator.go) and Spark 4.0.4's byteStringAs (whole numbers, b/k/m/g/t/p suffixes).

SPARK_APPLICATION_PATCH = SPARK_APPLICATION + "Patch"
SCHEDULED_SPARK_APPLICATION_PATCH = SCHEDULED_SPARK_APPLICATION + "Patch"


def app_props(dev: Recording, *mutations: Mutation) -> dict[str, Any]:
    props = clean_dev_inputs(dev_resource(dev, SPARK_APPLICATION))
    for mutate in mutations:
        mutate(props)
    return props


def verdicts(pack: PolicyPackServer, type_: str, props: dict[str, Any]) -> list[tuple[str, str]]:
    return [(d.policy, d.level) for d in pack.analyze(type_, "r2", props)]


def test_a_rule_that_cannot_read_its_value_says_so_and_the_others_still_report(
        pack: PolicyPackServer, dev: Recording) -> None:
    props = app_props(dev, set_path("spec/image", "apache/spark:latest"),
                      set_path("spec/sparkConf/spark.sql.adaptive.enabled", {"on": True}))
    found = pack.analyze(SPARK_APPLICATION, "r2", props)  # an exception here is the old StatusCode.UNKNOWN
    assert ("spark-image-pinned", "mandatory") in [(d.policy, d.level) for d in found]
    aqe = [d for d in found if d.policy == "spark-aqe-enabled"]
    assert [d.level for d in aqe] == ["advisory"]
    assert "spec.sparkConf.spark.sql.adaptive.enabled" in aqe[0].message and "'on': True" in aqe[0].message


@pytest.mark.parametrize("mutate", [
    set_path("spec/volumes/0/name", {"not": "a name"}),
    set_path("spec/driver/memory", "9" * 400),
    both(set_path("spec/executor/cores", 0.0), set_path("spec/dynamicAllocation", {"enabled": False}),
         set_path("spec/executor/instances", 0.0),
         set_path("spec/sparkConf/spark.sql.adaptive.coalescePartitions.enabled", "false")),
    set_path("spec/executor/volumeMounts", [{"name": ["x"], "mountPath": 5.0}, "not a mount"]),
    set_path("spec/dynamicAllocation", "on"),
    set_path("spec/driver", ["not", "a", "pod"]),
])
def test_odd_values_never_lose_the_image_verdict(pack: PolicyPackServer, dev: Recording, mutate: Mutation) -> None:
    props = app_props(dev, mutate, set_path("spec/image", "apache/spark:latest"))
    assert ("spark-image-pinned", "mandatory") in verdicts(pack, SPARK_APPLICATION, props)


def test_a_crashing_rule_names_the_last_field_it_read() -> None:
    def crashes(view: Any, config: Any) -> list[str]:
        view.value("driver.memory")
        raise ZeroDivisionError("boom")

    broken = rules.Rule("crashes", "x", "mandatory", "application", crashes)
    result = rules.verdict(broken, SPARK_APPLICATION, {"spec": clean_spec()})
    assert result.violations == []
    assert len(result.notes) == 1
    assert "spec.driver.memory = '2g'" in result.notes[0] and "ZeroDivisionError" in result.notes[0]
    assert result.notes[0].startswith("mandatory rule crashes could not check")


@pytest.mark.parametrize(("mutations", "expected"), [
    # memoryOverheadFactorOption writes spark.kubernetes.memoryOverheadFactor: 10 % of memory is below 20 %.
    ((set_path("spec/memoryOverheadFactor", "0.1"),), [("pyspark-memory-overhead", "advisory")]),
    # imageOption writes the typed pull policy before sparkConfOption: sparkConf's Always wins.
    ((set_path("spec/sparkConf/spark.kubernetes.container.image.pullPolicy", "Always"),),
     [("spark-image-pull-policy", "advisory")]),
    # dynamicAllocationOption runs after sparkConfOption and writes shuffleTracking.enabled=true: tracking is on.
    ((set_path("spec/sparkConf/spark.dynamicAllocation.shuffleTracking.enabled", "false"),), []),
    # typed enabled: false writes nothing, so sparkConf turns dynamic allocation on, here without tracking.
    ((set_path("spec/dynamicAllocation", {"enabled": False}),
      set_path("spec/sparkConf/spark.dynamicAllocation.enabled", "true"),
      set_path("spec/sparkConf/spark.dynamicAllocation.shuffleTracking.enabled", "false")),
     [("spark-dynamic-allocation-shuffle", "mandatory")]),
    # typed driver.memory is written after sparkConf: sparkConf's 512m loses to the typed 2g.
    ((set_path("spec/sparkConf/spark.driver.memory", "512m"),), []),
])
def test_settings_are_read_in_the_operators_order(pack: PolicyPackServer, dev: Recording,
                                                  mutations: tuple[Mutation, ...],
                                                  expected: list[tuple[str, str]]) -> None:
    assert verdicts(pack, SPARK_APPLICATION, app_props(dev, *mutations)) == expected


def test_the_offline_plan_submits_what_the_pack_reads(dev: Recording) -> None:
    """tools/pods/submission.py and the pack share one model of the operator's order: the same cases, as spark-submit
    would receive them."""
    from tools.pods.submission import submission

    app = app_props(dev, set_path("spec/memoryOverheadFactor", "0.1"),
                    set_path("spec/sparkConf/spark.kubernetes.container.image.pullPolicy", "Always"),
                    set_path("spec/sparkConf/spark.dynamicAllocation.shuffleTracking.enabled", "false"),
                    set_path("spec/sparkConf/spark.driver.memory", "512m"))
    conf = submission(app).conf
    assert conf["spark.kubernetes.memoryOverheadFactor"] == "0.1"
    assert conf["spark.kubernetes.container.image.pullPolicy"] == "Always"
    assert conf["spark.dynamicAllocation.shuffleTracking.enabled"] == "true"
    assert conf["spark.driver.memory"] == "2g"
    assert conf["spark.executor.cores"] == "1"  # %d of the engine's 1.0
    import tools.pods.submission
    assert "def submit_settings" not in Path(tools.pods.submission.__file__).read_text(encoding="utf-8")


# spark-submit's options and the configuration keys they set (Spark 4.0.4, SparkSubmit's OptionAssigner table):
# --jars spark.jars, --packages spark.jars.packages, --exclude-packages spark.jars.excludes, --repositories
# spark.jars.repositories, --py-files spark.submit.pyFiles, --files spark.files, --archives spark.archives.
SUBMIT_DEPS = {"jars": ("spark.jars", ["local:///opt/a.jar", "local:///opt/b.jar"]),
               "packages": ("spark.jars.packages", ["org.example:lib:1.0"]),
               "excludePackages": ("spark.jars.excludes", ["org.example:old"]),
               "repositories": ("spark.jars.repositories", ["https://repo.example/maven"]),
               "pyFiles": ("spark.submit.pyFiles", ["local:///opt/helpers.zip"]),
               "files": ("spark.files", ["local:///opt/lookup.csv"]),
               "archives": ("spark.archives", ["local:///opt/env.tgz#env"])}


def test_typed_dependencies_and_python_version_reach_spark_under_its_keys() -> None:
    """The pack reads the application as spark-submit will: each typed dependency list becomes its key's
    comma-separated value, and pythonVersion the Kubernetes PySpark key; no typed field, no key."""
    from spark_submit_conf import plain_conf, submit_settings

    spec = {**clean_spec(), "pythonVersion": "3", "deps": {dep: items for dep, (_, items) in SUBMIT_DEPS.items()}}
    conf = plain_conf(submit_settings("etl", "spark-jobs", {}, spec))
    expected = {key: ",".join(items) for key, items in SUBMIT_DEPS.values()}
    expected["spark.kubernetes.pyspark.pythonVersion"] = "3"
    assert {key: conf.get(key) for key in expected} == expected
    bare = plain_conf(submit_settings("etl", "spark-jobs", {}, clean_spec()))
    assert not set(expected) & set(bare)


@pytest.mark.parametrize(("value", "cores"), [
    ("500m", 0.5), ("1.5", 1.5), (" 2 ", 2.0), (2, 2.0), (0.25, 0.25), ("1200m", 1.2),
    (True, None), (False, None), (None, None), ("one", None), ("m", None)])
def test_cpu_settings_are_read_as_kubernetes_quantities(value: Any, cores: float | None) -> None:
    """A CPU setting in cores or millicores; a YAML boolean is not a number of cores (Python would read True as 1)."""
    from spec_values import cpu_cores

    assert cpu_cores(value) == (pytest.approx(cores) if cores is not None else None)


@pytest.mark.parametrize(("decommission", "shuffle_blocks", "flagged"), [
    ("true", "true", False), ("true", "false", True), ("false", "true", True), (None, "true", True)])
def test_dynamic_allocation_without_tracking_needs_both_decommission_keys(decommission: str | None,
                                                                         shuffle_blocks: str, flagged: bool) -> None:
    """Shuffle blocks leave a removed executor only when decommissioning is on and told to move shuffle blocks
    (Spark 4.0.4: spark.decommission.enabled and spark.storage.decommission.shuffleBlocks.enabled, both false by
    default); either alone leaves dynamic allocation without tracking unsafe."""
    spec = clean_spec()
    spec["dynamicAllocation"]["shuffleTrackingEnabled"] = False
    if decommission is not None:
        spec["sparkConf"]["spark.decommission.enabled"] = decommission
    spec["sparkConf"]["spark.storage.decommission.shuffleBlocks.enabled"] = shuffle_blocks
    found = check("spark-dynamic-allocation-shuffle", spec)
    assert bool(found) == flagged, found


def test_each_pods_image_is_judged_even_after_a_digest() -> None:
    """The driver's image pinned by digest says nothing of the executor's own image: a moving tag there is still
    reported, naming the executor's field."""
    spec = clean_spec()
    spec["driver"]["image"] = "apache/spark@sha256:" + "ab" * 32
    spec["executor"]["image"] = "apache/spark:python3"
    found = check("spark-image-pinned", spec)
    assert len(found) == 1 and found[0].startswith("executor.image 'apache/spark:python3' has the tag 'python3'")


@pytest.mark.parametrize(("mutate", "policy", "text"), [
    # byteStringAs("1073741824b", MiB) = 1073741824 // 2**20 = 1024 MiB: below 2 GiB.
    (set_path("spec/driver/memory", "1073741824b"), "spark-driver-memory", "1073741824b (1g), below 2g"),
    # 429496730 // 2**20 = 409 MiB of 4096 MiB: 10 %.
    (both(set_path("spec/executor/memory", "4g"), set_path("spec/executor/memoryOverhead", "429496730b")),
     "pyspark-memory-overhead", "429496730b (409m) is 10% of executor memory 4g"),
    (set_path("spec/driver/memory", "4Gi"), "spark-driver-memory", 'invalid suffix "gi"'),
    (set_path("spec/driver/memory", "1.5g"), "spark-driver-memory", "fractional values are not supported"),
    (set_path("spec/executor/memory", "2Gi"), "pyspark-memory-overhead", "cannot read as a size"),
    (set_path("spec/driver/memory", "9" * 400), "spark-driver-memory", "does not fit in a long"),
    (set_path("spec/driver/memory", 1024.0), "spark-driver-memory", "driver.memory is 1024 (1g), below 2g"),
])
def test_sizes_are_read_as_spark_reads_them(pack: PolicyPackServer, dev: Recording, mutate: Mutation, policy: str,
                                            text: str) -> None:
    found = pack.analyze(SPARK_APPLICATION, "r2", app_props(dev, mutate))
    assert [d.policy for d in found] == [policy], found
    assert text in found[0].message and ".0" not in found[0].message.split("\n", 1)[1].split(". Fix")[0]


def test_sizes_spark_accepts_pass(pack: PolicyPackServer, dev: Recording) -> None:
    for size in ("2g", "2G", "2048", "2048m", "2048MB", "2147483648b", " 3g "):
        assert verdicts(pack, SPARK_APPLICATION, app_props(dev, set_path("spec/driver/memory", size))) == [], size


WEBHOOK_REFUSES = {  # internal/webhook/sparkconf_validator.go, deniedSparkConfKeys
    "spark.kubernetes.authenticate.driver.serviceAccountName": "configure the service account via the CRD spec",
    "spark.kubernetes.authenticate.executor.serviceAccountName": "configure the service account via the CRD spec",
    "spark.kubernetes.authenticate.oauthTokenFile": "authentication credentials are managed by the operator",
    "spark.kubernetes.authenticate.oauthToken": "authentication credentials are managed by the operator",
    "spark.kubernetes.authenticate.driver.oauthTokenFile": "authentication credentials are managed by the operator",
    "spark.kubernetes.authenticate.driver.oauthToken": "authentication credentials are managed by the operator",
    "spark.kubernetes.authenticate.executor.oauthTokenFile": "authentication credentials are managed by the operator",
    "spark.kubernetes.authenticate.executor.oauthToken": "authentication credentials are managed by the operator",
    "spark.master": "this value is managed by the operator",
    "spark.kubernetes.driver.master": "this value is managed by the operator",
    "spark.kubernetes.container.image": "use the image field on the CRD instead",
    "spark.kubernetes.driver.container.image": "use the image field on the CRD instead",
    "spark.kubernetes.executor.container.image": "use the image field on the CRD instead",
}


@pytest.mark.parametrize("key", sorted(WEBHOOK_REFUSES))
def test_keys_the_webhook_refuses_are_mandatory_with_its_reason(pack: PolicyPackServer, dev: Recording,
                                                                key: str) -> None:
    value = "apache/spark:4.0.4-python3" if key.endswith("image") else "x"
    found = pack.analyze(SPARK_APPLICATION, "r2", app_props(dev, set_path(f"spec/sparkConf/{key}", value)))
    assert [(d.policy, d.level) for d in found] == [("spark-operator-admits-sparkconf", "mandatory")], found
    assert key in found[0].message and WEBHOOK_REFUSES[key] in found[0].message


def test_a_namespace_key_must_be_the_applications(pack: PolicyPackServer, dev: Recording) -> None:
    key = "spec/sparkConf/spark.kubernetes.namespace"
    assert verdicts(pack, SPARK_APPLICATION, app_props(dev, set_path(key, "spark-jobs"))) == []
    found = pack.analyze(SPARK_APPLICATION, "r2", app_props(dev, set_path(key, "default")))
    assert [(d.policy, d.level) for d in found] == [("spark-operator-admits-sparkconf", "mandatory")]
    assert "'spark-jobs'" in found[0].message


@pytest.mark.parametrize(("image", "flagged"), [
    ("apache/spark:python3", True), ("apache/spark:", True), ("apache/spark:java17-python3", True),
    ("apache/spark:4.0.4-python3", False), ("registry.local:5000/spark:v4", False),
    ("apache/spark@sha256:" + "b" * 64, False),
])
def test_a_tag_without_a_version_moves_like_latest(pack: PolicyPackServer, dev: Recording, image: str,
                                                   flagged: bool) -> None:
    found = verdicts(pack, SPARK_APPLICATION, app_props(dev, set_path("spec/image", image)))
    assert found == ([("spark-image-pinned", "mandatory")] if flagged else [])


def scripts_props(dev: Recording, data: dict[str, str], labelled: bool = True) -> dict[str, Any]:
    props = copy.deepcopy(dev_resource(dev, CONFIG_MAP, "job-scripts").plain_inputs)
    props["data"] = data
    if not labelled:
        props["metadata"] = {"name": "spark-etl"}
    return props


@pytest.mark.parametrize("source", [
    "t = df.toArrow()",
    "m = df.rdd.map(lambda r: (r.k, r.v)).collectAsMap()",
    "pdf = df.pandas_api().to_pandas()",
    "c = df.collect\nrows = c()",
])
def test_every_unbounded_fetch_is_found(pack: PolicyPackServer, dev: Recording, source: str) -> None:
    found = pack.analyze(CONFIG_MAP, "r2", scripts_props(dev, {"etl.py": source}))
    assert [(d.policy, d.level) for d in found] == [("pyspark-bounded-collect", "advisory")]
    assert found[0].message.split("\n")[1].startswith(f"etl.py:{source.count(chr(10)) + 1}: ")


@pytest.mark.parametrize("source", [
    "top = df.select(F.max('x')).collect()",
    "n = df.groupBy().count().collect()",
    "s = df.select(F.sum('x').alias('s'), F.min('y')).toPandas()",
])
def test_a_global_aggregate_returns_one_row_and_passes(pack: PolicyPackServer, dev: Recording, source: str) -> None:
    assert verdicts(pack, CONFIG_MAP, scripts_props(dev, {"etl.py": source})) == []


def test_scripts_with_a_bom_in_any_config_map_are_parsed(pack: PolicyPackServer, dev: Recording) -> None:
    # The seed's own: kubectl create configmap spark-etl --from-literal=etl.py=..., no labels of ours.
    props = scripts_props(dev, {"etl.py": "\ufeffrows = df.collect()\n"}, labelled=False)
    found = pack.analyze(CONFIG_MAP, "spark-etl", props)
    assert len(found) == 1 and "etl.py:1: df.collect() brings every row" in found[0].message
    props = scripts_props(dev, {"etl.py": "\ufeffprint('ok')\n"}, labelled=False)
    assert pack.analyze(CONFIG_MAP, "spark-etl", props) == []


def test_violations_are_capped_per_script_and_kind(pack: PolicyPackServer, dev: Recording) -> None:
    source = "".join(f"a{i} = df{i}.collect()\n" for i in range(12)) + "p = df.toPandas()\n"
    found = pack.analyze(CONFIG_MAP, "r2", scripts_props(dev, {"etl.py": source}))
    messages = [d.message.split("\n")[1] for d in found]
    assert len(messages) == 2, messages
    assert messages[0].startswith("etl.py:1: a0 = df0.collect()"[:9]) and "12 such collect() calls" in messages[0]
    assert messages[1].startswith("etl.py:13: df.toPandas()")


def test_a_long_method_chain_is_checked_not_crashed(pack: PolicyPackServer, dev: Recording) -> None:
    source = "rows = df" + ".where('x > 1')" * 165 + ".collect()\n"
    found = pack.analyze(CONFIG_MAP, "r2", scripts_props(dev, {"etl.py": source}))
    assert [(d.policy, d.level) for d in found] == [("pyspark-bounded-collect", "advisory")]
    assert found[0].message.split("\n")[1].startswith("etl.py:1: ")


def test_patch_types_are_checked_like_the_full_types(pack: PolicyPackServer) -> None:
    patch = {"metadata": {"name": "sales-etl", "namespace": "spark-jobs"},
             "spec": {"image": "apache/spark:latest"}}
    assert verdicts(pack, SPARK_APPLICATION_PATCH, patch) == [("spark-image-pinned", "mandatory")]
    # What a patch leaves out stays as on the cluster: not judged.
    patch["spec"]["image"] = "apache/spark:4.0.4-python3"
    assert verdicts(pack, SPARK_APPLICATION_PATCH, patch) == []
    patch["spec"]["sparkConf"] = {"spark.master": "local[*]"}
    assert verdicts(pack, SPARK_APPLICATION_PATCH, patch) == [("spark-operator-admits-sparkconf", "mandatory")]
    schedule = {"metadata": {"name": "nightly"}, "spec": {"concurrencyPolicy": "Allow",
                                                          "template": {"image": "apache/spark"}}}
    assert sorted(verdicts(pack, SCHEDULED_SPARK_APPLICATION_PATCH, schedule)) == [
        ("spark-image-pinned", "mandatory"), ("spark-schedule-no-overlap", "advisory")]


def test_an_unknown_spark_conf_silences_only_the_rules_that_read_it(pack: PolicyPackServer, dev: Recording) -> None:
    props = app_props(dev, set_path("spec/sparkConf", UNKNOWN_STRING), set_path("spec/image", "apache/spark:latest"),
                      set_path("spec/driver/memory", "1g"))
    found = pack.analyze(SPARK_APPLICATION, "r2", props)
    by_policy = {d.policy: d for d in found}
    # The image and the typed driver memory are written after sparkConf, so they are still decided.
    assert by_policy["spark-image-pinned"].level == "mandatory"
    assert by_policy["spark-driver-memory"].level == "advisory"
    assert "below 2g" in by_policy["spark-driver-memory"].message
    # AQE reads keys sparkConf could hold: undecided, an advisory note.
    assert by_policy["spark-aqe-enabled"].level == "advisory"
    assert "undecided" in by_policy["spark-aqe-enabled"].message
    assert "spec.sparkConf" in by_policy["spark-aqe-enabled"].message


def test_an_unknown_value_a_mandatory_rule_needs_says_so(pack: PolicyPackServer, dev: Recording) -> None:
    found = pack.analyze(SPARK_APPLICATION, "r2", app_props(dev, set_path("spec/image", UNKNOWN_STRING)))
    assert [(d.policy, d.level) for d in found] == [("spark-image-pinned", "advisory")]
    assert "mandatory rule spark-image-pinned is undecided: spec.image is unknown until apply" in found[0].message


def test_policies_carry_severity_remediation_and_docs(pack: PolicyPackServer) -> None:
    from pulumi.runtime.proto import analyzer_pb2

    docs = (REPO / "docs" / "policy.md").read_text(encoding="utf-8")
    for info in pack.info().policies:
        assert info.severity != analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED, info.name
        assert info.remediation_steps, info.name
        assert info.url == f"docs/policy.md#{info.name}"
        assert f'<a id="{info.name}"></a>' in docs, info.name
    levels = {p.name: p.severity for p in pack.info().policies}
    assert levels["spark-image-pinned"] == analyzer_pb2.POLICY_SEVERITY_HIGH


def test_the_fix_says_the_configured_threshold(pack: PolicyPackServer, dev: Recording) -> None:
    props = app_props(dev, set_path("spec/executor/memoryOverhead", "512m"))  # 25 % of 2g: fine at 20 %
    props["spec"]["executor"]["memory"] = "2g"
    try:
        pack.configure({"pyspark-memory-overhead": {"minOverheadFraction": 0.3}})
        found = pack.analyze(SPARK_APPLICATION, "r2", props)
    finally:
        pack.configure()
    assert len(found) == 1
    fix = found[0].message.split("Fix:", 1)[1]
    assert "at least 30%" in fix and "615m" in fix and "20" not in fix  # ceil(0.3 * 2048) = 615


def test_an_unknown_map_only_hides_the_keys_it_maps_to(pack: PolicyPackServer, dev: Recording) -> None:
    """Unknown labels or hadoopConf write only label or spark.hadoop.* keys: no rule reads those."""
    props = app_props(dev, set_path("metadata/labels", UNKNOWN_STRING), set_path("spec/hadoopConf", UNKNOWN_STRING),
                      set_path("spec/executor/labels", UNKNOWN_STRING))
    assert pack.analyze(SPARK_APPLICATION, "r2", props) == []


def test_an_unknown_pod_spec_leaves_the_other_pod_decided(pack: PolicyPackServer, dev: Recording) -> None:
    props = app_props(dev, set_path("spec/driver", UNKNOWN_STRING), set_path("spec/executor/image", "spark:latest"))
    found = {(d.policy, d.level): d.message for d in pack.analyze(SPARK_APPLICATION, "r2", props)}
    assert ("spark-image-pinned", "mandatory") in found  # the executor's image
    assert "undecided: spec.driver is unknown until apply" in found[("spark-driver-memory", "advisory")]


# --- stack rules for teams (policy/team_rules.py) --------------------------------------------------------------


def _stack(recording: Recording) -> list[tuple[str, str, dict[str, Any]]]:
    return [(r.type, r.name, r.plain_inputs) for r in recording.resources]


def test_applications_outside_a_quota_namespace_are_reported(dev: Recording) -> None:
    # dev: sales-etl runs and is scheduled in spark-jobs, which has no ResourceQuota.
    assert sorted(stack_violations(NAMESPACE_QUOTA, _stack(dev))) == [
        ("sales-etl", "runs in namespace spark-jobs, which has no ResourceQuota in this stack")] * 2
    teams = run_program(stack_config("teams"), stack="teams")
    assert stack_violations(NAMESPACE_QUOTA, _stack(teams)) == []  # sales-etl runs in analytics, with its quota


def test_applications_without_a_queue_are_reported_when_a_batch_scheduler_is_on(dev: Recording) -> None:
    assert stack_violations(BATCH_QUEUE, _stack(dev)) == []  # no batch scheduler: nothing to say
    teams = run_program(stack_config("teams"), stack="teams")
    resources = _stack(teams)
    assert stack_violations(BATCH_QUEUE, resources) == []
    for type_, _, props in resources:
        if type_ == SCHEDULED_SPARK_APPLICATION:
            props["spec"]["template"]["batchSchedulerOptions"].pop("queue")
    assert [name for name, _ in stack_violations(BATCH_QUEUE, resources)] == ["sales-etl"]


def test_stack_rules_report_over_grpc_as_advisory(pack: PolicyPackServer, dev: Recording) -> None:
    found = pack.analyze_stack(dev.resources)
    assert sorted((d.policy, d.level) for d in found) == [("spark-namespace-quota", "advisory")] * 2
    assert all("sales-etl: runs in namespace spark-jobs" in d.message for d in found)
    teams = run_program(stack_config("teams"), stack="teams")
    assert pack.analyze_stack(teams.resources) == []

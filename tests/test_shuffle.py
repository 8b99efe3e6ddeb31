"""Shuffle modes (infra/spark/shuffle.py) under the mock engine: the Spark settings and executor grace period each
mode puts into the SparkApplications, the per-application override, and the settings refused with why.

Expected keys and values are written out here from Spark 4.0.4's jars (spark-core's config package, read with
javap), not taken from the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError
from infra.config_loader import parse_config
from tests.test_config import APP, app_with, dev_with, neighbour_sections
from tools.plan.mock_engine import Recording, run_program, stack_config

SPARK_APP = "kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication"
SCHEDULED = "kubernetes:sparkoperator.k8s.io/v1beta2:ScheduledSparkApplication"
DECOMMISSION = {
    "spark.decommission.enabled": "true",
    "spark.storage.decommission.enabled": "true",
    "spark.storage.decommission.shuffleBlocks.enabled": "true",
    "spark.storage.decommission.rddBlocks.enabled": "true",
    "spark.storage.decommission.shuffleBlocks.maxThreads": "8",
}


def specs(rec: Recording) -> list[dict[str, Any]]:
    """Every run's spec: the run-on-up SparkApplications' and the scheduled ones' templates."""
    found = [r.plain_inputs["spec"] for r in rec.of_type(SPARK_APP)]
    found += [r.plain_inputs["spec"]["template"] for r in rec.of_type(SCHEDULED)]
    assert found, "the stack has no Spark application"
    return found


def shuffle_keys(spec: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in spec["sparkConf"].items() if "decommission" in k}


def test_local_mode_is_the_default_on_kind_and_changes_nothing() -> None:
    for spec in specs(run_program(stack_config("dev"))):
        assert shuffle_keys(spec) == {}
        assert "terminationGracePeriodSeconds" not in spec["executor"]


def test_decommission_mode_sets_migration_and_a_grace_period_on_every_run() -> None:
    rec = run_program(dev_with("platform", "shuffle.mode", "decommission"))
    for spec in specs(rec):
        assert shuffle_keys(spec) == DECOMMISSION
        assert int(spec["executor"]["terminationGracePeriodSeconds"]) == 120
        assert "terminationGracePeriodSeconds" not in spec["driver"]


def test_existing_clusters_default_to_decommission() -> None:
    for spec in specs(run_program(stack_config("existing"))):
        assert shuffle_keys(spec) == DECOMMISSION


def test_an_application_overrides_the_platforms_mode() -> None:
    rec = run_program(dev_with("platform", "shuffle.mode", "decommission",
                               "applications", "sales-etl.shuffle.mode", "local"))
    for spec in specs(rec):
        assert shuffle_keys(spec) == {}
        assert "terminationGracePeriodSeconds" not in spec["executor"]
    rec = run_program(app_with("shuffle.mode", "decommission"))
    assert all(shuffle_keys(spec) == DECOMMISSION for spec in specs(rec))


def test_fallback_storage_on_the_data_volume_is_mounted_in_the_executors() -> None:
    config = dev_with("platform", "shuffle", {"mode": "decommission", "decommission": {
        "fallbackStoragePath": "/data/shuffle-fallback/", "gracePeriodSeconds": 300, "rddBlocks": False}},
        "applications", "sales-etl.arguments", ["--input", "s3a://b/in", "--output", "hdfs://nn/out"],
        "applications", "sales-etl.sparkConf", {"spark.jars.packages": "org.apache.hadoop:hadoop-aws:3.4.1",
                                                  "spark.jars.ivy": "/tmp/.ivy2"})
    for spec in specs(run_program(config)):
        conf = shuffle_keys(spec)
        assert conf["spark.storage.decommission.fallbackStorage.path"] == "/data/shuffle-fallback/"
        assert conf["spark.storage.decommission.rddBlocks.enabled"] == "false"
        assert int(spec["executor"]["terminationGracePeriodSeconds"]) == 300
        assert "/data" in [m["mountPath"] for m in spec["executor"]["volumeMounts"]]


def test_the_applications_own_spark_conf_wins_over_the_mode() -> None:
    config = dev_with("platform", "shuffle.mode", "decommission",
                      "applications", "sales-etl.sparkConf", {"spark.storage.decommission.rddBlocks.enabled": False})
    for spec in specs(run_program(config)):
        assert shuffle_keys(spec)["spark.storage.decommission.rddBlocks.enabled"] == "false"


PLATFORM = "sparkstack:platform.shuffle"
CASES: list[tuple[str, dict[str, Any], str, str, dict[str, Any]]] = [
    ("unknown mode", dev_with("platform", "shuffle.mode", "external"), f"{PLATFORM}.mode", "'celeborn'",
     dev_with("platform", "shuffle.mode", "local")),
    ("celeborn without its client jar", dev_with("platform", "shuffle.mode", "celeborn"), f"{PLATFORM}.mode",
     "celeborn-client-spark-4-shaded_2.13", dev_with("platform", "shuffle.mode", "decommission")),
    ("application celeborn", app_with("shuffle.mode", "celeborn"), f"{APP}.shuffle.mode",
     "celeborn-client-spark-4-shaded_2.13", app_with("shuffle.mode", "local")),
    ("fallback without trailing slash", dev_with("platform", "shuffle.decommission.fallbackStoragePath",
                                                 "s3a://bucket/fallback"),
     f"{PLATFORM}.decommission.fallbackStoragePath", "end with '/'",
     dev_with("platform", "shuffle.decommission.fallbackStoragePath", "s3a://bucket/fallback/")),
    ("fallback on a pod's own disk", dev_with("platform", "shuffle.decommission.fallbackStoragePath", "/tmp/fb/"),
     f"{PLATFORM}.decommission.fallbackStoragePath", "under /data/",
     dev_with("platform", "shuffle.decommission.fallbackStoragePath", "/data/fb/")),
    ("grace period too short to migrate", dev_with("platform", "shuffle.decommission.gracePeriodSeconds", 10),
     f"{PLATFORM}.decommission.gracePeriodSeconds", "greater than or equal to 30",
     dev_with("platform", "shuffle.decommission.gracePeriodSeconds", 30)),
    ("s3a fallback storage without hadoop-aws", dev_with("platform", "shuffle", {
        "mode": "decommission", "decommission": {"fallbackStoragePath": "s3a://bucket/fallback/"}}),
     f"{APP}.sparkConf", "hadoop-aws", dev_with("platform", "shuffle", {
         "mode": "decommission", "decommission": {"fallbackStoragePath": "s3a://bucket/fallback/"}},
         "applications", "sales-etl.sparkConf", {"spark.jars.packages": "org.apache.hadoop:hadoop-aws:3.4.1",
                                                  "spark.jars.ivy": "/tmp/.ivy2"})),
    ("the fork's shuffle service keys", app_with("sparkConf", {"spark.kubernetes.shuffle.service.name": "shuffle"}),
     f"{APP}.sparkConf.spark.kubernetes.shuffle.service.name", "retired Spark-on-Kubernetes fork",
     app_with("sparkConf", {"spark.kubernetes.executor.decommissionLabel": "x"})),
    ("a shuffle service that does not exist", app_with("sparkConf", {"spark.shuffle.service.enabled": True}),
     f"{APP}.sparkConf.spark.shuffle.service.enabled", "no shuffle service",
     app_with("sparkConf", {"spark.shuffle.service.enabled": False})),
]


@pytest.mark.parametrize(("config", "key", "hint", "neighbour"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_shuffle_config_stops_before_any_resource(config: dict[str, Any], key: str, hint: str,
                                                      neighbour: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        run_program(config)
    line = next((ln for ln in str(caught.value).splitlines() if ln.strip().startswith(key)), None)
    assert line is not None, f"no line names {key}:\n{caught.value}"
    assert hint in line, line
    assert caught.value.recording.resources == []  # type: ignore[attr-defined]
    parse_config(neighbour_sections(neighbour))


def test_fallback_on_a_read_write_once_claim_of_an_existing_cluster_is_refused() -> None:
    config = stack_config("existing")
    raw = neighbour_sections(config)
    raw["platform"] = {**raw.get("platform", {}), "shuffle": {"decommission": {"fallbackStoragePath": "/data/fb/"}}}
    raw["platform"]["storage"] = {**raw["platform"].get("storage", {}), "accessMode": "ReadWriteOnce"}
    raw["platform"]["history"] = {"enabled": False}
    with pytest.raises(ConfigError, match=r"platform\.storage\.accessMode.*sales-etl"):
        parse_config(raw)


# --- the proof script's reading of its event logs, and its verdict (the runs themselves take minutes) ----------

PROOF_LOGS = Path(__file__).resolve().parent / "scenarios" / "shuffle_proof"


def test_the_proof_reads_each_jobs_stages_from_a_real_log(tmp_path: Path) -> None:
    import zstandard

    from tools.dev.shuffle_proof import _submitted_stages

    for log_path, after in (("decommission-off-app-20261205144020-0000.zstd", 2),
                            ("decommission-on-app-20261205144122-0000.zstd", 1)):
        folder = tmp_path / log_path
        folder.mkdir()
        with (PROOF_LOGS / log_path).open("rb") as raw:
            text = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True).read()
        (folder / "app").write_bytes(text)
        lines = [json.loads(line) for line in text.decode().splitlines()]
        jobs = _submitted_stages(folder)
        assert len(jobs) == sum(1 for e in lines if e["Event"] == "SparkListenerJobStart") == 2
        assert [len(j) for j in jobs] == [2, after]


def test_the_proofs_verdict() -> None:
    from tools.dev.shuffle_proof import ROWS, RunResult, as_claimed

    total = ROWS * (ROWS - 1) // 2

    def result(decommission: bool, recomputed: int, answer: int = total) -> RunResult:
        return RunResult(decommission, total, answer, 2, 1 + recomputed, recomputed, 3 * recomputed, 0)

    assert as_claimed(result(False, 1), result(True, 0))
    assert not as_claimed(result(False, 0), result(True, 0))  # nothing lost without decommissioning: no proof
    assert not as_claimed(result(False, 1), result(True, 1))  # decommissioning did not keep the shuffle
    assert not as_claimed(result(False, 1), result(True, 0, answer=total - 1))  # a wrong result after the loss


# --- the rules as pure functions: full messages and settings ---------------------------------------------------


def _lines(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, scripts={"sales_etl.py"})
    return str(caught.value).splitlines()[1:]


def test_shuffle_refusals_read_in_full() -> None:
    celeborn = ("is not available yet: the Celeborn client jar (org.apache.celeborn:celeborn-client-spark-4-"
                "shaded_2.13) could not be obtained and checked, and the pinned Spark image does not carry it; use "
                "decommission (or local)")
    platform = {"shuffle": {"mode": "celeborn", "decommission": {"fallbackStoragePath": "/data/fb"}}}
    assert _lines({"platform": platform}) == [f"  sparkstack:platform.shuffle.mode (got 'celeborn'): {celeborn}",
            "  sparkstack:platform.shuffle.decommission.fallbackStoragePath (got '/data/fb'): must end with '/' (Spark "
            "refuses it otherwise), e.g. '/data/fb/'"]
    assert _lines({"platform": {"shuffle": {"decommission": {"fallbackStoragePath": "/database/fb/"}}}}) == [
        "  sparkstack:platform.shuffle.decommission.fallbackStoragePath (got '/database/fb/'): use a folder on the "
        "data volume (under /data/) or object storage (s3a://bucket/prefix/)"]
    service = "Spark on Kubernetes has no external shuffle service: the spark.kubernetes.shuffle.service.* keys come " \
              "from the retired Spark-on-Kubernetes fork and no Spark 4.0.4 jar reads them"
    fix = "remove it and set platform.shuffle.mode (or applications.<name>.shuffle.mode) to decommission, which " \
          "migrates shuffle blocks off an executor that is told to stop"
    app = {"script": "sales_etl.py", "shuffle": {"mode": "celeborn"}, "dynamicAllocation": {"enabled": False},
           "sparkConf": {"spark.kubernetes.shuffle.service.name": "s", "spark.shuffle.service.enabled": " TRUE"}}
    assert _lines({"applications": {"etl": app}}) == [
        f"  sparkstack:applications.etl.shuffle.mode (got 'celeborn'): {celeborn}",
        f"  sparkstack:applications.etl.sparkConf.spark.kubernetes.shuffle.service.name (got 's'): {service}; {fix}",
        "  sparkstack:applications.etl.sparkConf.spark.shuffle.service.enabled (got ' TRUE'): there is no shuffle "
        f"service for it to reach ({service}); executors would fail to register with it; {fix}"]


def test_decommission_settings_from_the_config() -> None:
    from infra.config import ShuffleConfig
    from infra.spark.shuffle import executor_grace_period, fallback_on_data_volume, shuffle_spark_conf

    shuffle = ShuffleConfig.model_validate({"mode": "decommission", "decommission": {
        "fallbackStoragePath": "/data/fb/", "rddBlocks": False, "maxThreads": 3, "gracePeriodSeconds": 45}})
    assert shuffle_spark_conf("decommission", shuffle) == {
        **DECOMMISSION, "spark.storage.decommission.rddBlocks.enabled": "false",
        "spark.storage.decommission.shuffleBlocks.maxThreads": "3",
        "spark.storage.decommission.fallbackStorage.path": "/data/fb/"}
    assert shuffle_spark_conf("local", shuffle) == {}
    assert (executor_grace_period("decommission", shuffle), executor_grace_period("local", shuffle)) == (45, None)
    assert fallback_on_data_volume("decommission", shuffle) and not fallback_on_data_volume("local", shuffle)
    s3a = ShuffleConfig.model_validate({"decommission": {"fallbackStoragePath": "s3a://b/fb/"}})
    assert not fallback_on_data_volume("decommission", s3a)
    assert not fallback_on_data_volume("decommission", ShuffleConfig())


def test_the_platforms_mode_when_none_is_set() -> None:
    from infra.config import ShuffleConfig
    from infra.spark.shuffle import platform_shuffle

    assert platform_shuffle("kind", ShuffleConfig()).mode == "local"
    assert platform_shuffle("existing", ShuffleConfig()).mode == "decommission"
    assert platform_shuffle("existing", ShuffleConfig(mode="local")).mode == "local"
    assert platform_shuffle("kind", ShuffleConfig(mode="decommission")).mode == "decommission"

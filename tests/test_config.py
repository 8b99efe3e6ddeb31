"""Bad configuration fails before any resource is registered, naming the key and the fix."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, parse_config
from tools.mock_engine import run_program, stack_config

# The floating tag the config must refuse (test input only; nothing deploys it).
UNPINNED = "latest"


def errors_for(raw: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    return str(caught.value)


@pytest.mark.parametrize(
    ("raw", "key", "hint"),
    [
        ({"jobs": {"salesEtl": {"executor": {"memory": "8 GB"}}}}, "sparkstack:jobs.salesEtl.executor.memory", "'2g'"),
        ({"platform": {"storage": {"dataSize": "8 GB"}}}, "sparkstack:platform.storage.dataSize", "'5Gi'"),
        ({"jobs": {"salesEtl": {"executor": {"instances": 0}}}}, "sparkstack:jobs.salesEtl.executor.instances",
         "greater than or equal to 1"),
        ({"jobs": {"generator": {"files": 0}}}, "sparkstack:jobs.generator.files", "greater than or equal to 1"),
        ({"platform": {"namespace": "Spark_Jobs"}}, "sparkstack:platform.namespace", "lowercase"),
        ({"jobs": {"salesEtl": {"name": "sales.etl!"}}}, "sparkstack:jobs.salesEtl.name", "lowercase"),
        ({"spark": {"image": "apache/spark"}}, "sparkstack:spark.image", "pin an exact version"),
        ({"spark": {"image": f"apache/spark:{UNPINNED}"}}, "sparkstack:spark.image", "exact tag"),
        ({"cluster": {"nodeImage": f"kindest/node:{UNPINNED}"}}, "sparkstack:cluster.nodeImage", "exact tag"),
        ({"jobs": {"nightly": {"schedule": "0 25 * * *"}}}, "sparkstack:jobs.nightly.schedule", "'0 3 * * *'"),
        ({"jobs": {"nightly": {"schedule": "every night"}}}, "sparkstack:jobs.nightly.schedule", "5-field"),
        ({"cluster": {"kind": "eks"}}, "sparkstack:cluster.kind", "'kind' or 'existing'"),
        ({"jobs": {"salesEtll": {}}}, "sparkstack:jobs.salesEtll", "unknown key"),
        ({"jobs": {"salesEtl": {"driver": {"cores": "two"}}}}, "sparkstack:jobs.salesEtl.driver.cores", "plain number"),
    ],
)
def test_invalid_values_name_key_and_fix(raw: dict, key: str, hint: str) -> None:
    message = errors_for(raw)
    assert key in message
    assert hint in message


def test_all_errors_reported_at_once() -> None:
    message = errors_for({"spark": {"image": "x"}, "platform": {"namespace": "A"}, "cluster": {"workers": -1}})
    assert message.count("\n  sparkstack:") == 3


@pytest.mark.parametrize("schedule", ["0 3 * * *", "*/15 * * * *", "0 3 * * mon-fri", "30 2 1,15 * *", "@daily"])
def test_valid_cron_schedules_accepted(schedule: str) -> None:
    assert parse_config({"jobs": {"nightly": {"schedule": schedule}}}).jobs.nightly.schedule == schedule


def test_dynamic_allocation_bounds_checked() -> None:
    message = errors_for({"jobs": {"salesEtl": {"dynamicAllocation": {"minExecutors": 3, "maxExecutors": 2}}}})
    assert "sparkstack:jobs.salesEtl.dynamicAllocation" in message and "minExecutors <=" in message


def test_generator_cannot_feed_object_store_input() -> None:
    message = errors_for({"jobs": {"salesEtl": {"input": "s3a://bucket/raw/"}}})
    assert "jobs.generator.enabled: false" in message


def test_dev_stack_file_is_valid_and_uses_pinned_versions() -> None:
    raw = {k.split(":", 1)[1]: v for k, v in stack_config("dev").items()}
    cfg = parse_config(raw)
    assert cfg.cluster.kind == "kind"
    assert cfg.spark.image == "apache/spark:4.0.4-python3" and cfg.spark.version == "4.0.4"
    assert cfg.platform.operator.chart_version == "2.5.2"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"sparkstack:jobs": {"salesEtl": {"executor": {"memory": "8 GB"}}}}, "jobs.salesEtl.executor.memory"),
        ({"sparkstack:clustr": {"kind": "kind"}}, "sparkstack:clustr: unknown key"),
        ({"sparkstack:cluster": {"kind": "existing"}}, "needs a target"),
    ],
)
def test_program_fails_before_registering_anything(config: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        run_program(config)
    assert expected in str(caught.value)
    assert caught.value.recording.resources == []  # type: ignore[attr-defined]

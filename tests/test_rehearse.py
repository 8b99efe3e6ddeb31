"""tools/plan/rehearse.py: the dev stack's sales-etl run locally with the settings the stack deploys, on generated
data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios import event_logs
from tools.doctor.eventlog import open_log
from tools.plan.mock_engine import ROOT
from tools.plan.rehearse import (
    Rehearsal,
    RehearsalInputError,
    _report,
    find_application,
    local_command,
    local_settings,
    map_path,
    rehearse,
    run_doctor,
)
from tools.pods.submission import submission

FILES, ROWS = 3, 2000


@pytest.fixture(scope="module")
def dev_etl() -> dict[str, Any]:
    return find_application("dev", "sales-etl")


def test_data_volume_paths_move_into_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert map_path("/data/input", data) == f"{data.resolve()}/input"
    assert map_path("file:///data/spark-events", data) == f"file://{data.resolve()}/spark-events"
    assert map_path("/data", data) == str(data.resolve())
    assert map_path("/database", data) == "/database"  # not on the volume
    assert map_path("s3a://bucket/data/x", data) == "s3a://bucket/data/x"


def test_local_run_keeps_the_deployed_settings_minus_kubernetes(dev_etl: dict[str, Any], tmp_path: Path) -> None:
    sub = submission(dev_etl)
    conf, env = local_settings(sub, tmp_path, tmp_path / "scratch")
    assert not [k for k in conf if k.startswith("spark.kubernetes.")]
    assert conf["spark.local.dir"] == str(tmp_path / "scratch")
    deployed = dev_etl["spec"]["sparkConf"]
    assert conf["spark.serializer"] == deployed["spark.serializer"] == "org.apache.spark.serializer.KryoSerializer"
    assert conf["spark.eventLog.dir"] == f"file://{tmp_path.resolve()}/spark-events"
    assert conf["spark.dynamicAllocation.enabled"] == "true" and env == {}
    command = local_command(sub, conf, tmp_path, "local[2]", spark_submit=Path("spark-submit"))
    assert command[:7] == ["spark-submit", "--master", "local[2]", "--name", "sales-etl", "--driver-memory",
                           dev_etl["spec"]["driver"]["memory"]]
    script = command.index(str(ROOT / "jobs" / "sales_etl.py"))
    assert command[script + 1:] == ["--input", f"{tmp_path.resolve()}/input", "--output",
                                    f"{tmp_path.resolve()}/output", "--max-reject-ratio", "0.01"]


def test_unknown_application_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RehearsalInputError, match="has no application 'nope' \\(it has: sales-etl\\)"):
        find_application("dev", "nope")


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory, dev_etl: dict[str, Any]) -> tuple[Rehearsal, Path]:
    data = tmp_path_factory.mktemp("data")
    subprocess.run([sys.executable, str(ROOT / "jobs" / "generate_data.py"), "--output", str(data / "input"),
                    "--files", str(FILES), "--rows-per-file", str(ROWS), "--seed", "7"], check=True,
                   capture_output=True)
    return rehearse("dev", "sales-etl", data, cores=2, app=dev_etl), data


def test_rehearsal_of_sales_etl_succeeds_with_its_summary(rehearsal: tuple[Rehearsal, Path]) -> None:
    result, data = rehearsal
    assert result.ok, result.stderr[-3000:]
    assert result.summary is not None
    assert result.summary["status"] == "succeeded"
    assert result.summary["rows_read"] == FILES * ROWS and result.summary["rows_rejected"] == 0
    assert Path(result.summary["output"]) == (data / "output").resolve()
    assert (data / "output" / "_summary.json").is_file()


def test_rehearsal_writes_its_event_log_with_the_deployed_settings(rehearsal: tuple[Rehearsal, Path]) -> None:
    result, data = rehearsal
    assert result.event_log is not None and result.event_log.parent == (data / "spark-events").resolve()
    [environment] = list(open_log(result.event_log).events(["SparkListenerEnvironmentUpdate"]))
    spark = dict(environment["Spark Properties"])
    assert spark["spark.driver.memory"] == "2g"
    assert spark["spark.serializer"] == "org.apache.spark.serializer.KryoSerializer"
    assert spark["spark.sql.adaptive.skewJoin.enabled"] == "true"
    assert not [k for k in spark if k.startswith("spark.kubernetes.")]


def test_the_job_keeps_the_master_spark_submit_gave_it(rehearsal: tuple[Rehearsal, Path]) -> None:
    result, _ = rehearsal
    assert result.summary is not None and result.summary["spark"]["master"] == "local[2]"


def test_rehearsal_shows_the_doctors_findings(rehearsal: tuple[Rehearsal, Path]) -> None:
    result, _ = rehearsal
    assert result.doctor is not None, result.doctor_note
    assert result.doctor["application"]["name"] == "sales-etl" and result.doctor["application"]["completed"]
    assert isinstance(result.doctor["findings"], list)
    report = _report(result)
    assert f"doctor: {len(result.doctor['findings'])} finding(s)" in report
    assert json.dumps(result.summary, indent=2, sort_keys=True) in report


def test_the_report_lists_every_finding_the_doctor_makes(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The rehearsal's own run has nothing to find, so the report is checked on a real troubled application's log:
    every finding the doctor makes on its own appears, with its check and severity."""
    root, apps = event_logs(tmp_path_factory)
    log = root / "troubled" / f"eventlog_v2_{apps['troubled']}"
    alone = subprocess.run([sys.executable, "-m", "tools.doctor", str(log), "--json"], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    expected = json.loads(alone.stdout)["findings"]
    assert expected, "the troubled application should give the doctor something to find"
    doctor, note = run_doctor(log)
    assert doctor is not None and doctor["findings"] == expected, note
    report = _report(Rehearsal("troubled", ["spark-submit"], 0, "", "", event_log=log, doctor=doctor)).splitlines()
    assert f"doctor: {len(expected)} finding(s)" in report
    for finding in expected:
        assert [line for line in report if finding["check"] in line and finding["severity"].upper() in line], finding

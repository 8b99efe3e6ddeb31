"""The doctor's second round (issue 20): killed applications, failed jobs, false skew, AQE advice, OOM kinds, damaged
files and folders of logs, on event logs that real Spark 4.0.4 applications wrote (tests/scenarios/eventlog_apps.py:
the round2 and killed applications, and the clean and troubled ones of test_doctor.py, all from one JVM).

Expected figures come from the raw JSON lines, parsed here with plain json (and zstandard/lz4 directly where a file is
cut), never from tools.doctor. A few cases are small edits of real logs, where a local run cannot make them
(a driver OutOfMemoryError, a broadcast too big for the driver, two 12 s stragglers).
"""

from __future__ import annotations

import json
import statistics
import struct
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios import event_logs
from tests.test_doctor import clean_lines, findings_of, raw_events, run_cli, task_ends, zstd_lines
from tools.doctor.diagnosis import diagnose, main, render, report
from tools.doctor.eventlog import open_log

SHUT_DOWN = "cancelled because SparkContext was shut down"


@pytest.fixture(scope="session")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return event_logs(tmp_path_factory)


def single(root: Path, apps: dict[str, str], name: str) -> Path:
    return root / name / f"{apps[name]}.zstd"


def raw_of(root: Path, apps: dict[str, str], name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in zstd_lines(single(root, apps, name))]


def doctor(path: Path) -> dict[str, Any]:
    log = open_log(path)
    return report(log, *diagnose(log))


def shuffle_reads(events: list[dict[str, Any]]) -> dict[int, list[int]]:
    reads: dict[int, list[int]] = defaultdict(list)
    for e in task_ends(events):
        if e["Task End Reason"]["Reason"] == "Success":
            m = e["Task Metrics"]["Shuffle Read Metrics"]
            reads[e["Stage ID"]].append(m["Remote Bytes Read"] + m["Local Bytes Read"])
    return reads


def job_properties(events: list[dict[str, Any]]) -> dict[int, dict[str, str]]:
    """Stage id -> the properties of the job that ran it."""
    return {stage: e["Properties"] for e in events if e["Event"] == "SparkListenerJobStart"
            for stage in e["Stage IDs"]}


# --- killed applications and failed jobs ------------------------------------------------------------------------


@pytest.mark.spark
def test_an_application_stopped_mid_job_is_reported_killed(logs: tuple[Path, dict[str, str]]) -> None:
    root, apps = logs
    raw = raw_of(root, apps, "killed")
    kinds = [e["Event"] for e in raw]
    end = kinds.index("SparkListenerApplicationEnd")
    killed = [e["Job ID"] for e in raw[end:] if e["Event"] == "SparkListenerJobEnd"
              and SHUT_DOWN in e["Job Result"]["Exception"]["Message"]]
    assert killed, "Spark writes the running job's JobFailed after ApplicationEnd"
    doc = doctor(single(root, apps, "killed"))
    assert doc["application"]["status"] == "killed" and doc["application"]["completed"] is False
    (finding,) = findings_of(doc, "job_failures")
    assert finding["severity"] == "critical" and finding["evidence"]["killed"] is True
    assert [j["job"] for j in finding["evidence"]["failed_jobs"]] == killed
    assert finding["evidence"]["failed_after_application_end"] == killed
    jobs = sum(1 for e in raw if e["Event"] == "SparkListenerJobStart")
    assert finding["evidence"]["failure_rate"] == round(len(killed) / jobs, 3)
    result = run_cli(str(single(root, apps, "killed")))
    assert result.returncode == 1, result.stdout
    assert "stopped while jobs ran (killed)" in result.stdout.splitlines()[0]


@pytest.mark.spark
def test_a_cancelled_job_without_failed_tasks_is_reported(logs: tuple[Path, dict[str, str]]) -> None:
    root, apps = logs
    raw = raw_of(root, apps, "round2")
    stages_of = {e["Job ID"]: set(e["Stage IDs"]) for e in raw if e["Event"] == "SparkListenerJobStart"}
    failed_task_stages = {e["Stage ID"] for e in task_ends(raw)
                          if e["Task End Reason"]["Reason"] not in ("Success", "TaskKilled")}
    failed = {e["Job ID"]: e["Job Result"]["Exception"]["Message"] for e in raw
              if e["Event"] == "SparkListenerJobEnd" and e["Job Result"]["Result"] == "JobFailed"}
    without_task_failures = [j for j in failed if not stages_of[j] & failed_task_stages]
    assert len(without_task_failures) == 1 and "cancelled part of cancelled job group" in failed[
        without_task_failures[0]]
    doc = doctor(single(root, apps, "round2"))
    assert doc["application"]["status"] == "completed"
    (finding,) = findings_of(doc, "job_failures")
    assert finding["severity"] == "warning" and finding["evidence"]["killed"] is False
    assert [j["job"] for j in finding["evidence"]["failed_jobs"]] == without_task_failures
    assert findings_of(doc, "task_failures") == []


# --- skew: AQE's thresholds, AQE off at run time, too few keys, stragglers ---------------------------------------


@pytest.mark.spark
def test_skew_advice_names_aqes_thresholds_for_a_sort_merge_join(logs: tuple[Path, dict[str, str]]) -> None:
    root, apps = logs
    raw = raw_of(root, apps, "round2")
    joins = [e["Stage Info"]["Stage ID"] for e in raw if e["Event"] == "SparkListenerStageSubmitted"
             and any(r["Name"] == "ZippedPartitionsRDD2" for r in e["Stage Info"]["RDD Info"])]
    reads = shuffle_reads(raw)
    (stage,) = joins
    top, median = max(reads[stage]), statistics.median(reads[stage])
    assert 16 * 1024**2 <= top < 256 * 1024**2 and top / median >= 10
    assert job_properties(raw)[stage]["spark.sql.adaptive.enabled"] == "true"
    (finding,) = [f for f in findings_of(doctor(single(root, apps, "round2")), "skew") if f["stage"] == stage]
    evidence = finding["evidence"]
    assert (evidence["max"], evidence["median"], finding["severity"]) == (top, median, "critical")
    assert evidence["aqe_enabled"] is True and evidence["shuffle_join"] is True
    assert evidence["skew_threshold_bytes"] == 256 * 1024**2 and evidence["skew_factor"] == 5.0  # SQLConf defaults
    advice = finding["advice"]
    assert "spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes (256.0 MiB)" in advice
    assert "spark.sql.adaptive.skewJoin.skewedPartitionFactor" in advice
    assert f"the largest partition is {top / 1024**2:,.1f} MiB" in advice
    assert "not in aggregations" not in advice  # the advice for AQE off or non-join stages


@pytest.mark.spark
def test_too_few_keys_with_aqe_switched_off_at_run_time(logs: tuple[Path, dict[str, str]]) -> None:
    """repartition(8, k) over three keys, after spark.conf.set("spark.sql.adaptive.enabled", "false"): most
    partitions are empty (median 0), the others alike: not a hot key."""
    root, apps = logs
    raw = raw_of(root, apps, "round2")
    env = next(e for e in raw if e["Event"] == "SparkListenerEnvironmentUpdate")["Spark Properties"]
    assert env["spark.sql.adaptive.enabled"] == "true"
    modified = [e["modifiedConfigs"] for e in raw if e["Event"].endswith("SparkListenerSQLExecutionStart")]
    assert {"spark.sql.adaptive.enabled": "false"} in modified
    props = job_properties(raw)
    reads = shuffle_reads(raw)
    (stage,) = [s for s, p in props.items() if p.get("spark.sql.adaptive.enabled") == "false" and s in reads
                and max(reads[s]) > 0]
    busy = [r for r in reads[stage] if r]
    assert statistics.median(reads[stage]) == 0 and len(busy) <= 3 and max(busy) / statistics.median(busy) < 2
    (finding,) = [f for f in findings_of(doctor(single(root, apps, "round2")), "skew") if f["stage"] == stage]
    assert finding["severity"] == "warning" and finding["evidence"]["problem"] == "few_keys"
    assert finding["evidence"]["nonempty_tasks"] == len(busy)
    assert finding["evidence"]["nonempty_median"] == statistics.median(busy)
    assert finding["evidence"]["aqe_enabled"] is False
    assert "too few distinct values" in finding["advice"] and "One key holds most" not in finding["advice"]


@pytest.mark.spark
def test_a_hot_key_among_few_is_still_skew(logs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """The three-key stage with one of its empty tasks given 1 MiB: the median is still 0, but among the tasks
    that got data the largest is far above the rest: skew, measured against those tasks."""
    root, apps = logs
    raw = raw_of(root, apps, "round2")
    props = job_properties(raw)
    reads = shuffle_reads(raw)
    (stage,) = [s for s, p in props.items() if p.get("spark.sql.adaptive.enabled") == "false" and s in reads
                and max(reads[s]) > 0]
    edited = 0
    for e in task_ends(raw):
        m = e["Task Metrics"]["Shuffle Read Metrics"]
        if e["Stage ID"] == stage and m["Local Bytes Read"] + m["Remote Bytes Read"] == 0 and edited < 1:
            m["Local Bytes Read"] = 1024**2
            edited += 1
    new_reads = shuffle_reads(raw)[stage]
    busy = [r for r in new_reads if r]
    assert statistics.median(new_reads) == 0 and max(busy) / statistics.median(busy) >= 2
    path = tmp_path / apps["round2"]
    path.write_text("".join(json.dumps(e) + "\n" for e in raw))
    (finding,) = [f for f in findings_of(doctor(path), "skew") if f["stage"] == stage]
    assert finding["evidence"]["problem"] == "skew" and finding["evidence"]["median"] == 0
    assert finding["evidence"]["nonempty_median"] == statistics.median(busy)
    assert finding["evidence"]["ratio"] == round(max(busy) / statistics.median(busy), 1)


@pytest.mark.spark
def test_slow_first_tasks_are_not_skew(logs: tuple[Path, dict[str, str]]) -> None:
    """Two slow tasks among eight (fresh Python workers plus a longer sleep), no data: no skew."""
    root, apps = logs
    raw = raw_of(root, apps, "round2")
    runs: dict[int, list[int]] = defaultdict(list)
    for e in task_ends(raw):
        runs[e["Stage ID"]].append(e["Task Metrics"]["Executor Run Time"])
    reads = shuffle_reads(raw)
    (stage,) = [s for s, r in runs.items() if len(r) == 8 and max(reads[s]) == 0]
    assert max(runs[stage]) / statistics.median(runs[stage]) >= 2  # the old 2x rule would have fired
    assert [f for f in findings_of(doctor(single(root, apps, "round2")), "skew") if f["stage"] == stage] == []


@pytest.mark.spark
@pytest.mark.parametrize(("slow", "slow_ms", "rest_ms", "fires"), [
    (1, 30_000, None, False),  # one straggler: speculation's domain, not skew
    (2, 30_000, None, True),  # two tasks at 10x the median and above 5 s
    (2, 4_900, 400, False),  # 12x, but the slowest task is under DataFlint's 5 s: not worth a finding
])
def test_task_time_skew(logs: tuple[Path, dict[str, str]], tmp_path: Path, slow: int, slow_ms: int,
                        rest_ms: int | None, fires: bool) -> None:
    """The real warm-up stage with the run time of its first tasks (and of the rest) edited."""
    root, apps = logs
    lines = zstd_lines(single(root, apps, "round2"))
    events = [json.loads(line) for line in lines]
    runs: dict[int, list[int]] = defaultdict(list)
    for e in task_ends(events):
        runs[e["Stage ID"]].append(e["Task Metrics"]["Executor Run Time"])
    reads = shuffle_reads(events)
    (stage,) = [s for s, r in runs.items() if len(r) == 8 and max(reads[s]) == 0]
    edited, made, new_runs = 0, [], []
    for line, e in zip(lines, events, strict=True):
        if e["Event"] == "SparkListenerTaskEnd" and e["Stage ID"] == stage:
            metrics = e["Task Metrics"]
            if edited < slow:
                metrics["Executor Run Time"] = slow_ms
                edited += 1
            elif rest_ms is not None:
                metrics["Executor Run Time"] = rest_ms
            line = json.dumps(e)
            new_runs.append(metrics["Executor Run Time"])
        made.append(line)
    path = tmp_path / apps["round2"]
    path.write_text("\n".join(made) + "\n")
    median = statistics.median(new_runs)
    assert slow_ms / median >= 10
    found = [f for f in findings_of(doctor(path), "skew") if f["stage"] == stage]
    if not fires:
        assert found == []
    else:
        (finding,) = found
        assert finding["evidence"]["metric"] == "task_run_ms" and finding["severity"] == "warning"
        assert (finding["evidence"]["max"], finding["evidence"]["median"]) == (slow_ms, median)


# --- OOM kinds named right --------------------------------------------------------------------------------------


def with_sql_error(root: Path, apps: dict[str, str], tmp_path: Path, message: str) -> Path:
    """The real clean log whose last SQL execution ends with errorMessage, and which then stops."""
    lines = clean_lines(root, apps["clean"])
    at = max(i for i, line in enumerate(lines) if "SparkListenerSQLExecutionEnd" in line)
    end = json.loads(lines[at])
    assert end["errorMessage"] == ""
    end["errorMessage"] = message
    path = tmp_path / f"{apps['clean']}.inprogress"
    path.write_text("\n".join([*lines[:at], json.dumps(end)]) + "\n")
    return path


@pytest.mark.spark
def test_driver_oom_seen_only_in_the_sql_execution_end(logs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """collect() on a small driver: every task succeeded, the driver died decoding the result."""
    root, apps = logs
    path = with_sql_error(root, apps, tmp_path, "java.lang.OutOfMemoryError: Java heap space\n\tat java.base/"
                                                "java.util.Arrays.copyOf(Arrays.java:3537)")
    doc = doctor(path)
    (finding,) = findings_of(doc, "driver_oom")
    assert finding["severity"] == "critical"
    assert finding["evidence"]["oom"] == "java.lang.OutOfMemoryError: Java heap space"
    assert "spark.driver.memory" in finding["advice"] and "collect()" in finding["advice"]
    assert findings_of(doc, "executor_oom") == []


@pytest.mark.spark
def test_a_broadcast_that_kills_the_driver_is_named(logs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, apps = logs
    # error class _LEGACY_ERROR_TEMP_2250 as error/error-conditions.json (spark-common-utils_2.13-4.0.4) words it
    message = ("[_LEGACY_ERROR_TEMP_2250] Not enough memory to build and broadcast the table to all worker nodes. As "
               "a workaround, you can either disable broadcast by setting spark.sql.autoBroadcastJoinThreshold to -1 "
               "or increase the spark driver memory by setting spark.driver.memory to a higher value.")
    (finding,) = findings_of(doctor(with_sql_error(root, apps, tmp_path, message)), "driver_oom")
    assert finding["severity"] == "critical" and "broadcast join" in finding["advice"]
    assert finding["evidence"]["broadcast"].startswith("[_LEGACY_ERROR_TEMP_2250] Not enough memory to build")
    assert "spark.sql.autoBroadcastJoinThreshold" in finding["advice"]
    assert "spark.sql.adaptive.autoBroadcastJoinThreshold" in finding["advice"]


# --- GC advice that reads the heap ------------------------------------------------------------------------------


@pytest.mark.spark
def test_gc_advice_reads_the_heap_peak_and_full_collections(logs: tuple[Path, dict[str, str]],
                                                            tmp_path: Path) -> None:
    """The troubled log as Spark wrote it: full collections ran, so the advice is a bigger heap (the driver's,
    in local mode). The same log with every executor-metrics sample saying no full collection and a heap at
    30 % of spark.driver.memory: young-generation churn, a bigger heap would not help, one severity lower."""
    root, apps = logs
    none = root / "variants" / "none" / apps["troubled"]
    raw = raw_events(none)
    samples = [e["Task Executor Metrics"] for e in task_ends(raw) if e.get("Task Executor Metrics")]
    majors = max(s["MajorGCCount"] for s in samples)
    heap = 512 * 1024**2  # spark.driver.memory of the scenario's JVM
    env = next(e for e in raw if e["Event"] == "SparkListenerEnvironmentUpdate")["Spark Properties"]
    assert env["spark.driver.memory"] == "512m" and env["spark.master"].startswith("local")
    as_written = [f for f in findings_of(doctor(none), "gc")]
    assert as_written and majors > 0
    for f in as_written:
        assert f["evidence"]["major_gcs"] == majors and f["evidence"]["young_gc_churn"] is False
        assert "Raise spark.driver.memory" in f["advice"]
        assert f["evidence"]["heap_max_bytes"] == heap

    edited = []
    for line in none.read_text().splitlines():
        e = json.loads(line)
        if e["Event"] == "SparkListenerTaskEnd" and e.get("Task Executor Metrics"):
            e["Task Executor Metrics"].update(MajorGCCount=0, MajorGCTime=0,
                                              JVMHeapMemory=min(e["Task Executor Metrics"]["JVMHeapMemory"],
                                                                int(heap * 0.3)))
            line = json.dumps(e)
        edited.append(line)
    path = tmp_path / apps["troubled"]
    path.write_text("\n".join(edited) + "\n")
    churn = findings_of(doctor(path), "gc")
    lower = {"critical": "warning", "warning": "info"}
    assert [(f["stage"], lower[f["severity"]]) for f in as_written] == [(f["stage"], f["severity"]) for f in churn]
    for f in churn:
        assert f["evidence"]["young_gc_churn"] is True and f["evidence"]["major_gcs"] == 0
        assert "bigger heap will not help" in f["advice"] and "Raise spark" not in f["advice"]


# --- damaged files, odd folders ---------------------------------------------------------------------------------


def lz4_block_ends(data: bytes) -> list[int]:
    """Offsets where lz4-java LZ4BlockOutputStream blocks end (21-byte header: magic, token, sizes, checksum)."""
    ends, at = [], 0
    while at < len(data):
        _magic, _token, compressed, _original, _check = struct.unpack_from("<8sBiii", data, at)
        at += 21 + compressed
        ends.append(at)
    return ends


@pytest.mark.spark
def test_an_lz4_log_cut_at_a_block_end_is_flagged(logs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """A JVM killed mid-way leaves an lz4 log of whole 32 KB blocks: the last event is cut and no job shows as
    running. Cut the real lz4 log at the first block end where every started job had ended."""
    import lz4.block

    root, apps = logs
    data = (root / "variants" / "lz4" / f"{apps['troubled']}.lz4").read_bytes()
    text, at = b"", 0
    for end in lz4_block_ends(data):
        header = struct.unpack_from("<8sBiii", data, at)
        block = data[at + 21:end]
        text += block if header[1] & 0xF0 == 0x10 else lz4.block.decompress(block, uncompressed_size=header[3])
        at = end
        whole = [json.loads(line) for line in text.split(b"\n")[:-1]]
        started = {e["Job ID"] for e in whole if e["Event"] == "SparkListenerJobStart"}
        ended = {e["Job ID"] for e in whole if e["Event"] == "SparkListenerJobEnd"}
        if started and started == ended and not text.endswith(b"\n"):
            break
    cut = tmp_path / f"{apps['troubled']}.lz4.inprogress"
    cut.write_bytes(data[:at])
    doc = doctor(cut)
    (finding,) = findings_of(doc, "driver_oom")
    assert finding["severity"] == "warning" and finding["evidence"]["cut_mid_event"] is True
    assert finding["evidence"]["jobs_running_at_end"] == []
    assert run_cli(str(cut)).returncode == 1


@pytest.mark.spark
def test_a_zstd_log_cut_inside_its_last_frame_is_flagged(logs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """Spark closes a zstd frame on every flush, on a whole event: cut inside the last frame, the data decoded
    before the cut still ends on a whole line, and only the unfinished frame tells."""
    import zstandard

    root, apps = logs
    data = single(root, apps, "round2").read_bytes()
    magic = b"\x28\xb5\x2f\xfd"
    starts = [i for i in range(len(data)) if data.startswith(magic, i)]
    last = starts[-1]
    before = zstandard.ZstdDecompressor().stream_reader(data[:last], read_across_frames=True).read()
    assert before.endswith(b"\n")
    cut = tmp_path / f"{apps['round2']}.zstd"
    cut.write_bytes(data[:last + 6])
    log = open_log(cut)
    events = list(log.events())
    assert len(events) == before.count(b"\n") and log.truncated
    assert "cut off mid-event" in render(log, *diagnose(log))


def test_a_log_with_only_log_start(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "local-1"
    path.write_text('{"Event":"SparkListenerLogStart","Spark Version":"4.0.4"}\n')
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "None" not in out and out.startswith("an application that never started")
    doc = doctor(path)
    assert doc["application"]["id"] is None and doc["application"]["status"] == "incomplete"


@pytest.mark.spark
def test_a_folder_with_strays_and_an_empty_in_progress_log(logs: tuple[Path, dict[str, str]], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    root, apps = logs
    clean = single(root, apps, "clean")
    (tmp_path / clean.name).write_bytes(clean.read_bytes())
    (tmp_path / "README.md").write_text("# event logs\n")
    (tmp_path / "local-9999999999999.inprogress").touch()  # newest, empty: an application that just started
    (tmp_path / "eventlog_v2_local-8").mkdir()
    (tmp_path / "local-7.zstd").write_bytes(b"<html>not a log</html>")  # a half-copied or misnamed file
    assert main([str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["application"]["id"] == apps["clean"]
    assert sorted(doc["notes"]) == [
        "skipped README.md: not an event log (Spark names them <appId>[.zstd|.lz4|.snappy][.inprogress])",
        "skipped eventlog_v2_local-8: no events_<n>_local-8 files yet",
        "skipped local-7.zstd: does not start like a zstd event log",
        "skipped local-9999999999999.inprogress: empty (an application that has not written its first event yet)"]
    assert main([str(tmp_path)]) == 0
    assert "note: skipped README.md" in capsys.readouterr().out


@pytest.mark.spark
def test_no_check_fires_on_the_clean_log(logs: tuple[Path, dict[str, str]]) -> None:
    root, apps = logs
    doc = doctor(single(root, apps, "clean"))
    assert doc["findings"] == [] and doc["application"]["status"] == "completed"



@pytest.mark.spark
def test_a_non_zero_exit_code_is_reported(logs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """The clean log with ApplicationEnd's ExitCode 1 (a driver program that failed after its jobs): failed."""
    root, apps = logs
    events = raw_of(root, apps, "clean")
    end = next(e for e in events if e["Event"] == "SparkListenerApplicationEnd")
    assert end["ExitCode"] == 0
    end["ExitCode"] = 1
    path = tmp_path / apps["clean"]
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    doc = doctor(path)
    assert doc["application"]["status"] == "failed" and doc["application"]["exit_code"] == 1
    (finding,) = findings_of(doc, "job_failures")
    assert finding["severity"] == "warning" and finding["evidence"]["exit_code"] == 1
    log = open_log(path)
    assert f"({apps['clean']}): failed (exit code 1), " in render(log, *diagnose(log)).splitlines()[0]

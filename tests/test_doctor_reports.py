"""The doctor's outputs beyond the report: --suggest, --html, comparing two runs, and logs from other sources.

The logs are the real Spark 4.0.4 applications of tests/scenarios/eventlog_apps.py (shared with test_doctor.py).
Expected figures are computed here from the raw JSON lines (the uncompressed copy Spark's own codec wrote), never
with tools.doctor. The History Server path is tested against the real server in tests/test_history_server.py.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import subprocess
import sys
import zipfile
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.scenarios import REPO, event_logs

SPARKSTACK = Path(sys.executable).parent / "sparkstack"  # the console script scripts/setup.sh writes
MIB = 1024**2


@pytest.fixture(scope="session")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return event_logs(tmp_path_factory)


def raw(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def zstd_raw(path: Path) -> list[dict[str, Any]]:
    import zstandard

    with path.open("rb") as f:
        text = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True).read().decode()
    return [json.loads(line) for line in text.splitlines() if line]


def troubled_paths(logs: tuple[Path, dict[str, str]]) -> tuple[Path, list[dict[str, Any]]]:
    root, apps = logs
    return root / "troubled" / f"eventlog_v2_{apps['troubled']}", raw(root / "variants" / "none" / apps["troubled"])


def doctor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SPARKSTACK), "doctor", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def task_ends(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["Event"] == "SparkListenerTaskEnd"]


# --- --suggest ------------------------------------------------------------------------------------------------


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Key by key, as docs/observability.md says to merge the suggestion."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


@pytest.mark.spark
def test_suggestion_from_measured_peaks_passes_config_checks_and_policy_pack(
        logs: tuple[Path, dict[str, str]]) -> None:


    path, events = troubled_paths(logs)
    done = doctor(str(path), "--suggest", "sales-etl")
    assert done.returncode == 0, done.stderr
    block = yaml.safe_load(done.stdout)
    assert list(block) == ["sales-etl"]
    suggested = block["sales-etl"]
    # The figures, from the raw task end events: heap peak x 1.25 rounded up to 256 MiB (at least 512 MiB).
    heap = max(e.get("Task Executor Metrics", {}).get("JVMHeapMemory", 0) for e in task_ends(events))
    assert heap > 0
    memory = max(512, math.ceil(heap * 1.25 / MIB / 256) * 256)
    expected_memory = f"{memory // 1024}g" if memory % 1024 == 0 else f"{memory}m"
    assert suggested["executor"]["memory"] == expected_memory
    assert f"heap peak {heap / MIB:,.0f} MiB" in done.stdout
    assert suggested["executor"]["cores"] == 2  # local[2,4]
    assert suggested["driver"]["memory"] == "2g"  # the policy pack's floor: the peak x 1.25 is far below it
    written = defaultdict(int)
    run_time = defaultdict(int)
    tasks = defaultdict(int)
    for e in task_ends(events):
        written[e["Stage ID"]] += e["Task Metrics"]["Shuffle Write Metrics"]["Shuffle Bytes Written"]
        run_time[e["Stage ID"]] += e["Task Metrics"]["Executor Run Time"]
    for e in events:
        if e["Event"] == "SparkListenerStageCompleted":
            tasks[e["Stage Info"]["Stage ID"]] = e["Stage Info"]["Number of Tasks"]
    slots = max(min(tasks[s], math.ceil(run_time[s] / 1000 / 60)) for s in tasks)
    executors = max(1, math.ceil(slots / 2))
    assert suggested["dynamicAllocation"] == {"enabled": True, "initialExecutors": 1, "minExecutors": 1,
                                              "maxExecutors": executors}
    partitions = max(math.ceil(max(written.values()) / (128 * MIB)), 2 * executors * 2)
    assert suggested["sparkConf"] == {"spark.sql.shuffle.partitions": str(partitions)}  # AQE was off in this run

    applied = applied_to_dev_stack(suggested)
    assert applied["executor"]["memory"] == expected_memory  # the suggestion reached the application


def applied_to_dev_stack(suggested: dict[str, Any]) -> dict[str, Any]:
    """Merge the suggestion into the dev stack's sales-etl; the config checks must accept it and the policy pack,
    over gRPC on every resource the program then registers, must report nothing. Returns the application's spec."""
    from sparkstack_rules import SCHEDULED_SPARK_APPLICATION, SPARK_APPLICATION

    from infra.config_loader import parse_config
    from tests.policy_server import PolicyPackServer
    from tools.plan.mock_engine import run_program, stack_config

    config = stack_config("dev")
    apps = config["sparkstack:applications"]
    apps["sales-etl"] = merge(apps["sales-etl"], suggested)
    sections = {key.split(":", 1)[1]: value for key, value in config.items()}
    parse_config(sections)  # raises ConfigError naming every refused key
    recording = run_program(config)
    pack = PolicyPackServer().start()
    try:
        pack.configure_stack()
        pack.configure()
        found = [f"{r.name}: {d.policy}: {d.message}" for r in recording.resources
                 for d in pack.analyze_registered(r, recording.resources)]
    finally:
        assert pack.stop() == 0
    checked = {r.type for r in recording.resources}
    assert {SPARK_APPLICATION, SCHEDULED_SPARK_APPLICATION} <= checked
    assert found == []
    return next(r for r in recording.resources if r.type == SPARK_APPLICATION).inputs["spec"]


@pytest.mark.spark
def test_suggestion_for_a_cluster_run_with_process_tree_and_driver_metrics(logs: tuple[Path, dict[str, str]],
                                                                          tmp_path: Path) -> None:
    """The troubled log edited minimally into a Kubernetes run: tasks on executor 1 with process-tree memory, the
    driver's peak in a SparkListenerStageExecutorMetrics event, dynamic allocation off."""
    from tools.doctor.diagnosis import diagnose
    from tools.doctor.eventlog import open_log
    from tools.doctor.suggest import suggest

    _, events = troubled_paths(logs)
    python_rss, driver_heap = 300 * MIB, 1800 * MIB
    edited: list[dict[str, Any]] = []
    for e in copy.deepcopy(events):
        if e["Event"] == "SparkListenerEnvironmentUpdate":
            e["Spark Properties"].update({"spark.master": "k8s://https://10.0.0.1:443", "spark.executor.memory": "1g",
                                          "spark.driver.memory": "4g", "spark.dynamicAllocation.enabled": "false"})
        if e["Event"] == "SparkListenerExecutorAdded":
            e["Executor ID"] = "1"
        if e["Event"] == "SparkListenerTaskEnd":
            e["Task Info"]["Executor ID"] = "1"
            metrics = e.get("Task Executor Metrics") or {}
            if metrics.get("JVMHeapMemory"):
                metrics.update({"ProcessTreeJVMRSSMemory": metrics["JVMHeapMemory"] + 200 * MIB,
                                "ProcessTreePythonRSSMemory": python_rss})
        if e["Event"] == "SparkListenerStageCompleted" and e["Stage Info"]["Stage ID"] == 0:
            edited.append({"Event": "SparkListenerStageExecutorMetrics", "Executor ID": "driver", "Stage ID": 0,
                           "Stage Attempt ID": 0, "Executor Metrics": {"JVMHeapMemory": driver_heap}})
        edited.append(e)
    log = tmp_path / "spark-0123456789abcdef"
    log.write_text("".join(json.dumps(e) + "\n" for e in edited))
    done = doctor(str(log), "--suggest", "sales-etl")
    assert done.returncode == 0, done.stderr
    suggested = yaml.safe_load(done.stdout)["sales-etl"]
    ends = task_ends(edited)
    heap = max(e.get("Task Executor Metrics", {}).get("JVMHeapMemory", 0) for e in ends)
    rss = max(e.get("Task Executor Metrics", {}).get("ProcessTreeJVMRSSMemory", 0) for e in ends) + python_rss

    def size(mib: float, floor: int) -> str:
        value = max(floor, math.ceil(mib / 256) * 256)
        return f"{value // 1024}g" if value % 1024 == 0 else f"{value}m"

    spilled = sum(e["Task Metrics"]["Memory Bytes Spilled"] + e["Task Metrics"]["Disk Bytes Spilled"] for e in ends)
    assert spilled > 0  # stage 2: so the executor keeps at least the run's 1g
    memory = size(max(heap * 1.25 / MIB, 1024), 512)
    memory_mib = int(memory[:-1]) * (1024 if memory.endswith("g") else 1)
    assert suggested["executor"]["memory"] == memory
    assert suggested["executor"]["memoryOverhead"] == size(max((rss - heap) / MIB * 1.25, 384, memory_mib * 0.2),
                                                           384)
    assert suggested["driver"]["memory"] == size(driver_heap * 1.25 / MIB, 2048) == "2304m"
    assert suggested["dynamicAllocation"] == {"enabled": False}
    assert suggested["executor"]["instances"] >= 1
    spec = applied_to_dev_stack(suggested)
    assert (spec["executor"]["memoryOverhead"], spec["driver"]["memory"]) == (
        suggested["executor"]["memoryOverhead"], "2304m")
    # A run that died of OOM measured less than it needed: at least the run's 1g x 1.5.
    analysis, _ = diagnose(open_log(log))
    assert suggest(analysis, "x", oom=True).settings["executor"]["memory"] == size(max(1024 * 1.5, memory_mib), 512)


@pytest.mark.spark
def test_suggest_json_and_the_oom_raise(logs: tuple[Path, dict[str, str]]) -> None:
    path, _ = troubled_paths(logs)
    done = doctor(str(path), "--suggest", "etl", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert set(doc) == {"application", "settings", "reasons"} and doc["application"] == "etl"
    assert any("margin" in r for r in doc["reasons"])


@pytest.mark.spark
def test_suggest_refuses_a_log_too_short_to_tell(logs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, apps = logs
    dead = doctor(str(root / "dead" / f"eventlog_v2_{apps['dead']}"), "--suggest", "etl")
    assert dead.returncode == 2 and "no finished stage" in dead.stderr and dead.stdout == ""
    # The clean log with every task's run time scaled so that they add up to 5 s (hand-made: how long a real
    # run's tasks take depends on the machine's load).
    events = zstd_raw(root / "clean" / f"{apps['clean']}.zstd")
    ends = task_ends(events)
    total = sum(e["Task Metrics"]["Executor Run Time"] for e in ends)
    for i, e in enumerate(ends):
        e["Task Metrics"]["Executor Run Time"] = 5000 // len(ends) + (5000 % len(ends) if i == 0 else 0)
    assert total > 0 and sum(e["Task Metrics"]["Executor Run Time"] for e in ends) == 5000
    short = tmp_path / apps["clean"]
    short.write_text("".join(json.dumps(e) + "\n" for e in events))
    refused = doctor(str(short), "--suggest", "etl")
    assert refused.returncode == 2 and "5.0 s of task time" in refused.stderr and refused.stdout == ""
    bad_name = doctor(str(short), "--suggest", "Sales_ETL")
    assert bad_name.returncode == 2 and "not an application name" in bad_name.stderr


# --- --html in a real browser ------------------------------------------------------------------------------------


class Counter(HTMLParser):
    """Elements by class in the DOM Chromium dumped."""

    def __init__(self) -> None:
        super().__init__()
        self.classes: dict[str, int] = defaultdict(int)
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "class" and value:
                for cls in value.split():
                    self.classes[cls] += 1
            if name == "id" and value:
                self.ids.add(value)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("no chromium on PATH: the HTML report is checked in a real headless browser; install it with "
                    "`apt-get install -y chromium` (.ci/run does, through scripts/install-browser.sh)")
    return found


def render_in_browser(page: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """The DOM after load and the console messages, from headless Chromium (console lines go to stderr)."""
    done = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
                           "--dump-dom", page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.spark
def test_html_report_renders_in_chromium_with_one_series_per_stage_and_executor(
        logs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    path, events = troubled_paths(logs)
    page = tmp_path / "report.html"
    done = doctor(str(path), "--html", str(page), "--json")
    assert done.returncode == 1, done.stderr  # the troubled run has warnings
    assert json.loads(done.stdout)["findings"], "the report on stdout is unchanged by --html"
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text and "<script" not in text  # nothing to fetch or run
    dom, console = render_in_browser(page, tmp_path)
    assert console == []
    counted = Counter()
    counted.feed(dom)
    completed = [e["Stage Info"] for e in events if e["Event"] == "SparkListenerStageCompleted"]
    ends = task_ends(events)
    succeeded = {e["Stage ID"] for e in ends if e["Task End Reason"]["Reason"] == "Success"}
    executors = {e["Task Info"]["Executor ID"] for e in ends
                 if e.get("Task Executor Metrics", {}).get("JVMHeapMemory", 0) > 0}
    spilled = {e["Stage ID"] for e in ends
               if e["Task Metrics"]["Memory Bytes Spilled"] or e["Task Metrics"]["Disk Bytes Spilled"]}
    assert counted.classes["stage-bar"] == len(completed) == 9
    assert counted.classes["dist"] == len(succeeded)
    assert counted.classes["mem-series"] == len(executors) == 1  # local mode: the driver runs the tasks
    assert counted.classes["mem-limit"] == 1
    assert counted.classes["spill"] == len(spilled) == 1
    assert {"timeline", "durations", "memory", "spill"} <= counted.ids
    # Findings come first, the skewed stage's distribution is drawn in the alarm colour.
    assert dom.index("Findings") < dom.index('id="timeline"')
    skewed = dom.split('<g class="dist" data-stage="1">')[1].split("</g>")[0]
    assert 'stroke="#b00020"' in skewed
    calm = dom.split('<g class="dist" data-stage="0">')[1].split("</g>")[0]
    assert "#b00020" not in calm


@pytest.mark.spark
def test_html_report_of_a_clean_run_and_a_bad_target(logs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, apps = logs
    page = tmp_path / "clean.html"
    done = doctor(str(root / "clean"), "--html", str(page))
    assert done.returncode == 0, done.stderr
    dom, console = render_in_browser(page, tmp_path)
    assert console == [] and "No findings" in dom
    events = zstd_raw(root / "clean" / f"{apps['clean']}.zstd")
    counted = Counter()
    counted.feed(dom)
    assert counted.classes["stage-bar"] == sum(e["Event"] == "SparkListenerStageCompleted" for e in events)
    assert counted.classes["spill"] == 0 and "No stage spilled" in dom
    bad = doctor(str(root / "clean"), "--html", str(tmp_path / "no-such-dir" / "x.html"))
    assert bad.returncode == 2 and "no-such-dir" in bad.stderr and "Traceback" not in bad.stderr


# --- comparing two runs ------------------------------------------------------------------------------------------


def figures(events: list[dict[str, Any]]) -> dict[str, float]:
    ends = task_ends(events)
    start = next(e["Timestamp"] for e in events if e["Event"] == "SparkListenerApplicationStart")
    end = next(e["Timestamp"] for e in events if e["Event"] == "SparkListenerApplicationEnd")
    return {
        "duration_s": round((end - start) / 1000, 3),
        "tasks": len(ends),
        "shuffle_write_bytes": sum(e["Task Metrics"]["Shuffle Write Metrics"]["Shuffle Bytes Written"] for e in ends),
        "disk_spilled_bytes": sum(e["Task Metrics"]["Disk Bytes Spilled"] for e in ends),
        "memory_spilled_bytes": sum(e["Task Metrics"]["Memory Bytes Spilled"] for e in ends),
        "peak_heap_bytes": max(e.get("Task Executor Metrics", {}).get("JVMHeapMemory", 0) for e in ends),
        "input_bytes": sum(e["Task Metrics"]["Input Metrics"]["Bytes Read"] for e in ends),
    }


@pytest.mark.spark
def test_compare_two_runs(logs: tuple[Path, dict[str, str]]) -> None:
    root, apps = logs
    clean = root / "clean" / f"{apps['clean']}.zstd"
    troubled, troubled_events = troubled_paths(logs)
    done = doctor(str(clean), str(troubled), "--json")
    assert done.returncode == 1, done.stderr  # the new run gained warnings
    doc = json.loads(done.stdout)
    assert (doc["old"]["id"], doc["new"]["id"]) == (apps["clean"], apps["troubled"])
    by_name = {m["metric"]: m for m in doc["metrics"]}
    old, new = figures(zstd_raw(clean)), figures(troubled_events)
    for key in old:
        assert (by_name[key]["old"], by_name[key]["new"]) == (old[key], new[key]), key
    assert by_name["disk_spilled_bytes"]["change"] is None  # the old run spilled nothing: no ratio
    assert by_name["tasks"]["change"] == round((new["tasks"] - old["tasks"]) / old["tasks"], 4)
    one = json.loads(doctor(str(troubled), "--json").stdout)["findings"]
    base = json.loads(doctor(str(clean), "--json").stdout)["findings"]
    keys = {(f["check"], f["stage"]) for f in base}
    assert doc["findings_gained"] == [f for f in one if (f["check"], f["stage"]) not in keys]
    assert doc["findings_lost"] == [f for f in base if (f["check"], f["stage"]) not in {(g["check"], g["stage"])
                                                                                        for g in one}]
    back = doctor(str(troubled), str(clean))  # the fix: findings lost, none gained, exit 0
    assert back.returncode == 0, back.stderr
    assert "findings gained: none" in back.stdout and "spill (disk)" in back.stdout
    assert f"findings lost: {len(one) - len([f for f in one if (f['check'], f['stage']) in keys])}" in back.stdout
    old_entry = subprocess.run([sys.executable, "-m", "tools.doctor", str(troubled), str(clean), "--json"],
                               cwd=REPO, capture_output=True, text=True, timeout=300)
    assert old_entry.returncode == 0 and json.loads(old_entry.stdout)["findings_lost"]


def test_mixing_modes_is_bad_input(tmp_path: Path) -> None:
    for args, words in ((["a", "b", "--html", "x.html"], "comparing two logs"),
                        (["--app", "local-1"], "add --history-server"),
                        ([], "pass an event log PATH"),
                        (["a", "--history-server", "http://127.0.0.1:1"], "not both"),
                        (["--history-server", "ftp://x"], "not an http(s) URL"),
                        (["--history-server", "http://127.0.0.1:9", "--app", "x"], "cannot be reached")):
        done = doctor(*args)
        assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)


# --- object storage ----------------------------------------------------------------------------------------------


def test_object_storage_without_its_library_names_what_to_install() -> None:
    try:
        import fsspec  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("fsspec is installed here; this checks the message shown without it")
    for url, package in (("s3a://bucket/spark-events/app-1.zstd", "s3fs"), ("gs://bucket/events", "gcsfs")):
        done = doctor(url)
        assert done.returncode == 2 and package in done.stderr and "pip install" in done.stderr, done.stderr


class LocalFs:
    """The part of fsspec's AbstractFileSystem the reader uses (info, ls(detail=True), open), over local files, as
    fsspec documents it: names without the protocol, "type" file or directory, "mtime" for local files."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _entry(self, path: Path) -> dict[str, Any]:
        return {"name": str(path.relative_to(self.root)), "type": "directory" if path.is_dir() else "file",
                "size": path.stat().st_size, "mtime": path.stat().st_mtime}

    def info(self, key: str) -> dict[str, Any]:
        path = self.root / key
        if not path.exists():
            raise FileNotFoundError(key)
        return self._entry(path)

    def ls(self, key: str, detail: bool = True) -> list[dict[str, Any]]:
        return [self._entry(p) for p in sorted((self.root / key).iterdir())]

    def open(self, key: str, mode: str = "rb") -> Any:
        return (self.root / key).open(mode)


@pytest.mark.spark
def test_object_storage_reader_copies_a_rolling_log_and_picks_the_newest(logs: tuple[Path, dict[str, str]],
                                                                        tmp_path: Path) -> None:
    from tools.doctor.eventlog import open_log
    from tools.doctor.sources import SourceError, fetch_remote

    root, apps = logs
    bucket = tmp_path / "bucket"
    events_dir = bucket / "spark-events"
    shutil.copytree(root / "troubled" / f"eventlog_v2_{apps['troubled']}",
                    events_dir / f"eventlog_v2_{apps['troubled']}")
    shutil.copy(root / "clean" / f"{apps['clean']}.zstd", events_dir)
    os.utime(events_dir / f"{apps['clean']}.zstd", (1, 1))  # older than the rolling log
    fs = LocalFs(bucket)
    first = tmp_path / "one"
    first.mkdir()
    got = fetch_remote("s3a://spark-events/", first, fs)  # the folder: its newest log, the rolling one
    assert got.name == f"eventlog_v2_{apps['troubled']}"
    _, troubled_events = troubled_paths(logs)
    assert list(open_log(got).events()) == troubled_events
    second = tmp_path / "two"
    second.mkdir()
    single = fetch_remote(f"gs://spark-events/{apps['clean']}.zstd", second, fs)
    assert list(open_log(single).events()) == zstd_raw(root / "clean" / f"{apps['clean']}.zstd")
    with pytest.raises(SourceError, match="no such object"):
        fetch_remote("s3a://spark-events/nope", second, fs)


def test_a_zip_entry_outside_its_folder_is_refused(tmp_path: Path) -> None:
    from tools.doctor.sources import SourceError, _safe_extract

    archive = tmp_path / "logs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("../escaped", "x")
    (tmp_path / "out").mkdir()
    with zipfile.ZipFile(archive) as z, pytest.raises(SourceError, match="outside its folder"):
        _safe_extract(z, tmp_path / "out")
    assert not (tmp_path / "escaped").exists()


# --- what the summary gathers for these outputs -------------------------------------------------------------------


@pytest.mark.spark
def test_stage_summaries_carry_times_quantiles_histograms_totals_and_peaks(logs: tuple[Path, dict[str, str]]) -> None:
    import bisect
    import statistics

    from tools.doctor.diagnosis import diagnose
    from tools.doctor.eventlog import open_log

    path, events = troubled_paths(logs)
    analysis, _ = diagnose(open_log(path))
    bins = (10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000, 300_000)  # docs: fixed bins, ms
    durations, peaks, totals = defaultdict(list), defaultdict(dict), defaultdict(lambda: [0, 0, 0, 0])
    for e in task_ends(events):
        stage, metrics = e["Stage ID"], e["Task Metrics"]
        if e["Task End Reason"]["Reason"] == "Success":
            durations[stage].append(e["Task Info"]["Finish Time"] - e["Task Info"]["Launch Time"])
        heap = e.get("Task Executor Metrics", {}).get("JVMHeapMemory", 0)
        if heap:
            mine = peaks[stage].setdefault(e["Task Info"]["Executor ID"], 0)
            peaks[stage][e["Task Info"]["Executor ID"]] = max(mine, heap)
        read = metrics["Shuffle Read Metrics"]
        totals[stage][0] += metrics["Input Metrics"]["Bytes Read"]
        totals[stage][1] += metrics["Output Metrics"]["Bytes Written"]
        totals[stage][2] += read["Remote Bytes Read"] + read["Local Bytes Read"]
        totals[stage][3] += metrics["Shuffle Write Metrics"]["Shuffle Bytes Written"]
    completed = {e["Stage Info"]["Stage ID"]: e["Stage Info"] for e in events
                 if e["Event"] == "SparkListenerStageCompleted"}
    assert [s.stage for s in analysis.stages] == sorted(completed)
    for s in analysis.stages:
        info = completed[s.stage]
        assert (s.submitted_ms, s.completed_ms) == (info["Submission Time"], info["Completion Time"])
        values = sorted(durations[s.stage])
        quartiles = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
        assert s.duration_quantiles == pytest.approx((values[0], *quartiles, values[-1])), s.stage
        histogram = [0] * (len(bins) + 1)
        for d in values:
            histogram[bisect.bisect_left(bins, d)] += 1
        assert s.duration_histogram == tuple(histogram), s.stage
        assert [s.input_bytes, s.output_bytes, s.shuffle_read_bytes, s.shuffle_write_bytes] == totals[s.stage]
        heap = {e: p["JVMHeapMemory"] for e, p in s.executor_peaks.items() if p.get("JVMHeapMemory")}
        assert heap == peaks[s.stage], s.stage
    assert analysis.spark_conf["spark.app.name"] == "doctor-troubled"

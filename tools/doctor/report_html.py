"""`sparkstack doctor LOG --html FILE`: one self-contained page people look at.

Findings first, then four charts drawn as inline SVG by this module (no script, no font, no CDN; a
Content-Security-Policy of ``default-src 'none'`` makes the browser refuse anything else, so the page works offline
and cannot call out):

- stage timeline: one bar per stage attempt from submission to completion;
- task durations per stage: a box (quartiles), the median and whiskers to the shortest and longest task, on a log
  axis, so a stage whose longest task sits far right of its box (skew, stragglers) stands out;
- executor memory against its limit: each executor's JVM heap peak per stage (the task end events' executor
  metrics, or SparkListenerStageExecutorMetrics where logged) drawn at the stage's end, and spark.executor.memory
  (spark.driver.memory in local mode) as the limit line: per-stage peaks, not a continuous trace;
- spill per stage: memory and disk spill as bars.

Each chart marks its series with a class (``stage-bar``, ``dist``, ``mem-series``, ``spill``) so tests can count them.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from tools.doctor.log_summary import Analysis
from tools.doctor.stage_summary import StageSummary
from tools.doctor.suggest import spark_mib

WIDTH, ROW, LEFT, RIGHT, TOP = 900, 18, 150, 20, 24
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
SEVERITY_COLOURS = {"critical": "#b00020", "warning": "#b26a00", "info": "#355c7d"}
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:960px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
.finding{border-left:4px solid;padding:4px 10px;margin:8px 0;background:#fafafa}
.finding .sev{font-weight:bold}.evidence{color:#555;font-size:12px}
svg{background:#fff;border:1px solid #ddd}svg text{font-size:11px;fill:#333}
.note{color:#555;font-size:12px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _mib(n: float) -> str:
    return f"{n / 1024**2:,.1f} MiB"


def _label(s: StageSummary) -> str:
    return f"stage {s.stage}" + (f".{s.attempt}" if s.attempt else "")


def _findings(doc: dict[str, Any]) -> str:
    if not doc["findings"]:
        return '<p class="finding" style="border-color:#2ca02c">No findings: nothing to fix.</p>'
    parts = []
    for f in doc["findings"]:
        where = f"stage {f['stage']}" if f["stage"] is not None else "application"
        evidence = ", ".join(f"{k}={v}" for k, v in f["evidence"].items())
        parts.append(f'<div class="finding" style="border-color:{SEVERITY_COLOURS.get(f["severity"], "#555")}">'
                     f'<span class="sev">{_e(f["severity"].upper())}</span> {_e(f["check"])} ({_e(where)})'
                     f'<div>{_e(f["advice"])}</div><div class="evidence">{_e(evidence)}</div></div>')
    return "\n".join(parts)


def _axis_x(x0: float, x1: float, y: float, ticks: list[tuple[float, str]]) -> str:
    out = [f'<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="#999"/>']
    for x, text in ticks:
        out.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="#999"/>'
                   f'<text x="{x:.1f}" y="{y + 15}" text-anchor="middle">{_e(text)}</text>')
    return "".join(out)


def _time_ticks(span_s: float, scale: Any) -> list[tuple[float, str]]:
    step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600) if span_s / s <= 8), 7200)
    return [(scale(t), f"{t:g} s") for t in range(0, int(span_s) + 1, step)]


def _timeline(a: Analysis, start: int, end: int) -> str:
    stages = [s for s in a.stages if s.submitted_ms is not None]
    if not stages:
        return '<p class="note">No stage has a submission time.</p>'
    span = max(end - start, 1)
    inner = WIDTH - LEFT - RIGHT

    def x(ms: float) -> float:
        return LEFT + (ms - start) / span * inner

    height = TOP + ROW * len(stages) + 30
    rows = []
    for i, s in enumerate(stages):
        y = TOP + i * ROW
        stop = s.completed_ms if s.completed_ms is not None else end
        colour = "#b00020" if s.failed else COLOURS[0]
        wall = (stop - s.submitted_ms) / 1000
        rows.append(f'<g class="stage-bar" data-stage="{s.stage}"><text x="{LEFT - 6}" y="{y + 12}" '
                    f'text-anchor="end">{_e(_label(s))}</text><rect x="{x(s.submitted_ms):.1f}" y="{y + 2}" '
                    f'width="{max(1.0, x(stop) - x(s.submitted_ms)):.1f}" height="{ROW - 4}" fill="{colour}">'
                    f'<title>{_e(_label(s))} {_e(s.name)}: {wall:,.1f} s, {s.tasks} tasks'
                    f'{", " + _e(s.failed) if s.failed else ""}</title></rect></g>')
    axis = _axis_x(LEFT, WIDTH - RIGHT, TOP + ROW * len(stages) + 4, _time_ticks(span / 1000,
                                                                                  lambda t: x(start + t * 1000)))
    return f'<svg id="timeline" width="{WIDTH}" height="{height}" role="img">{"".join(rows)}{axis}</svg>'


def _distributions(a: Analysis, skewed: set[int]) -> str:
    stages = [s for s in a.stages if s.duration_quantiles]
    if not stages:
        return '<p class="note">No successful task.</p>'
    low = max(1.0, min(s.duration_quantiles[0] for s in stages))
    high = max(low * 10, max(s.duration_quantiles[4] for s in stages))
    lo, hi = math.log10(low), math.log10(high)
    inner = WIDTH - LEFT - RIGHT

    def x(ms: float) -> float:
        return LEFT + (math.log10(max(ms, low)) - lo) / (hi - lo) * inner

    rows = []
    for i, s in enumerate(stages):
        y = TOP + i * ROW
        mn, q1, med, q3, mx = s.duration_quantiles
        colour = "#b00020" if s.stage in skewed else COLOURS[0]
        mid = y + ROW / 2
        rows.append(
            f'<g class="dist" data-stage="{s.stage}"><text x="{LEFT - 6}" y="{y + 12}" text-anchor="end">'
            f'{_e(_label(s))}</text><line x1="{x(mn):.1f}" y1="{mid}" x2="{x(mx):.1f}" y2="{mid}" stroke="{colour}"/>'
            f'<rect x="{x(q1):.1f}" y="{y + 3}" width="{max(1.0, x(q3) - x(q1)):.1f}" height="{ROW - 6}" '
            f'fill="{colour}" fill-opacity="0.35" stroke="{colour}"/>'
            f'<line x1="{x(med):.1f}" y1="{y + 2}" x2="{x(med):.1f}" y2="{y + ROW - 2}" stroke="{colour}" '
            f'stroke-width="2"/><circle cx="{x(mx):.1f}" cy="{mid}" r="3" fill="{colour}"/>'
            f'<title>{_e(_label(s))}: {s.tasks} tasks, min {mn:,.0f} ms, median {med:,.0f} ms, '
            f'p75 {q3:,.0f} ms, max {mx:,.0f} ms</title></g>')
    ticks = [(x(10**p), f"{10**p / 1000:g} s" if p >= 3 else f"{10**p} ms")
             for p in range(math.ceil(lo), math.floor(hi) + 1)]
    axis = _axis_x(LEFT, WIDTH - RIGHT, TOP + ROW * len(stages) + 4, ticks)
    height = TOP + ROW * len(stages) + 30
    return f'<svg id="durations" width="{WIDTH}" height="{height}" role="img">{"".join(rows)}{axis}</svg>'


def memory_limit_bytes(a: Analysis) -> int:
    """The heap limit the executors ran with: spark.executor.memory, or spark.driver.memory in local mode."""
    local = a.spark_conf.get("spark.master", "").startswith("local")
    return spark_mib(a.spark_conf.get("spark.driver.memory" if local else "spark.executor.memory"), 1024) * 1024**2


def _memory(a: Analysis, start: int, end: int) -> str:
    series: dict[str, list[tuple[int, int]]] = {}
    for s in a.stages:
        at = s.completed_ms if s.completed_ms is not None else end
        for executor, peaks in s.executor_peaks.items():
            if peaks.get("JVMHeapMemory", 0) > 0:
                series.setdefault(executor, []).append((at, peaks["JVMHeapMemory"]))
    if not series:
        return '<p class="note">The log holds no executor memory metrics.</p>'
    limit = memory_limit_bytes(a)
    top = max(limit, max(v for points in series.values() for _, v in points)) * 1.1
    span = max(end - start, 1)
    inner, height = WIDTH - LEFT - RIGHT, 220

    def x(ms: float) -> float:
        return LEFT + (ms - start) / span * inner

    def y(v: float) -> float:
        return TOP + (1 - v / top) * (height - TOP - 30)

    parts = [f'<line class="mem-limit" x1="{LEFT}" y1="{y(limit):.1f}" x2="{WIDTH - RIGHT}" y2="{y(limit):.1f}" '
             f'stroke="#b00020" stroke-dasharray="6 4"><title>limit {_mib(limit)}</title></line>'
             f'<text x="{WIDTH - RIGHT}" y="{y(limit) - 4:.1f}" text-anchor="end">limit {_e(_mib(limit))}</text>']
    for i, (executor, points) in enumerate(sorted(series.items())):
        colour = COLOURS[i % len(COLOURS)]
        points.sort()
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        dots = "".join(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}"/>' for t, v in points)
        parts.append(f'<g class="mem-series" data-executor="{_e(executor)}"><polyline points="{coords}" fill="none" '
                     f'stroke="{colour}" stroke-width="1.5"/>{dots}<title>executor {_e(executor)}: peak '
                     f'{_e(_mib(max(v for _, v in points)))}</title>'
                     f'<text x="{LEFT + 4}" y="{TOP + 12 * (i + 1)}" fill="{colour}">executor {_e(executor)}</text>'
                     f'</g>')
    for frac in (0, 0.5, 1):
        v = top / 1.1 * frac
        parts.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{_e(_mib(v))}</text>')
    parts.append(_axis_x(LEFT, WIDTH - RIGHT, height - 26, _time_ticks(span / 1000, lambda t: x(start + t * 1000))))
    return f'<svg id="memory" width="{WIDTH}" height="{height}" role="img">{"".join(parts)}</svg>'


def _spill(a: Analysis) -> str:
    stages = [s for s in a.stages if s.memory_spilled or s.disk_spilled]
    if not stages:
        return '<p class="note">No stage spilled.</p>'
    top = max(max(s.memory_spilled, s.disk_spilled) for s in stages)
    inner = WIDTH - LEFT - RIGHT
    rows = []
    for i, s in enumerate(stages):
        y = TOP + i * ROW * 2
        rows.append(f'<g class="spill" data-stage="{s.stage}"><text x="{LEFT - 6}" y="{y + 16}" text-anchor="end">'
                    f'{_e(_label(s))}</text>'
                    f'<rect x="{LEFT}" y="{y + 2}" width="{max(1.0, s.memory_spilled / top * inner):.1f}" '
                    f'height="{ROW - 4}" fill="{COLOURS[1]}"><title>memory {_e(_mib(s.memory_spilled))}</title></rect>'
                    f'<rect x="{LEFT}" y="{y + ROW}" width="{max(1.0, s.disk_spilled / top * inner):.1f}" '
                    f'height="{ROW - 4}" fill="{COLOURS[3]}"><title>disk {_e(_mib(s.disk_spilled))}</title></rect>'
                    f'<text x="{WIDTH - RIGHT}" y="{y + 14}" text-anchor="end">memory {_e(_mib(s.memory_spilled))}, '
                    f'disk {_e(_mib(s.disk_spilled))}</text></g>')
    height = TOP + ROW * 2 * len(stages) + 10
    return f'<svg id="spill" width="{WIDTH}" height="{height}" role="img">{"".join(rows)}</svg>'


def render(doc: dict[str, Any], a: Analysis, log_name: str) -> str:
    """The whole page as one string."""
    app = doc["application"]
    start = a.start_ms or min((s.submitted_ms for s in a.stages if s.submitted_ms), default=0)
    end = a.end_ms or a.last_ms or start
    skewed = {f["stage"] for f in doc["findings"] if f["check"] == "skew" and f["stage"] is not None}
    title = f"{app['name']} ({app['id']})"
    state = "completed" if app["completed"] else "did not complete"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>sparkstack doctor: {_e(title)}</title><style>{STYLE}</style></head>
<body>
<h1>sparkstack doctor: {_e(title)}</h1>
<p>{_e(state)}, {app['duration_s']:,.1f} s, {len(a.stages)} stages, {a.tasks:,} tasks, {a.cores()} cores.
Log: {_e(log_name)}</p>
<h2>Findings</h2>
{_findings(doc)}
<h2>Stage timeline</h2>
{_timeline(a, start, end)}
<h2>Task durations per stage</h2>
<p class="note">Box: middle half of the tasks; bar: median; whiskers and dot: shortest and longest task (log scale).
Red: a stage with a skew finding.</p>
{_distributions(a, skewed)}
<h2>Executor memory against its limit</h2>
<p class="note">JVM heap peak of each executor in each stage, drawn at the stage's end (per-stage peaks from the
task end events' executor metrics, not a continuous trace); dashed: the heap limit
({"spark.driver.memory, local mode" if a.spark_conf.get("spark.master", "").startswith("local")
  else "spark.executor.memory"}).</p>
{_memory(a, start, end)}
<h2>Spill per stage</h2>
{_spill(a)}
</body></html>
"""


def write(path: Path, doc: dict[str, Any], a: Analysis, log_name: str) -> None:
    """Write through a temporary file, so a failed write never leaves half a page where a good one was."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render(doc, a, log_name), encoding="utf-8")
    tmp.replace(path)

"""Two runs side by side: `sparkstack doctor OLD NEW` says what a config change did.

Application totals (duration, task time, GC, input, output, shuffle, spill, memory peaks) with their change, and
the findings the new run gained and lost. Findings match on their check and stage: the same code gives the same
stage ids, so "spill in stage 2" before and after is one finding that stayed.
"""

from __future__ import annotations

from typing import Any

from tools.doctor.log_summary import Analysis

# (key, label, unit); unit "bytes" is shown in MiB, "s" in seconds.
METRICS = (
    ("duration_s", "duration", "s"),
    ("stages", "stages", ""),
    ("tasks", "tasks", ""),
    ("task_time_s", "task time", "s"),
    ("gc_s", "GC time", "s"),
    ("input_bytes", "input", "bytes"),
    ("output_bytes", "output", "bytes"),
    ("shuffle_read_bytes", "shuffle read", "bytes"),
    ("shuffle_write_bytes", "shuffle write", "bytes"),
    ("memory_spilled_bytes", "spill (memory)", "bytes"),
    ("disk_spilled_bytes", "spill (disk)", "bytes"),
    ("peak_heap_bytes", "peak JVM heap", "bytes"),
    ("peak_execution_bytes", "peak execution memory", "bytes"),
    ("failed_tasks", "failed task attempts", ""),
)


def totals(a: Analysis, duration_s: float) -> dict[str, float]:
    """One run's figures, each summed (or maxed, for peaks) over its stage attempts."""
    peak = {m: max((p.get(m, 0) for p in a.executor_peaks.values()), default=0)
            for m in ("JVMHeapMemory", "OnHeapExecutionMemory", "OffHeapExecutionMemory")}
    return {
        "duration_s": duration_s, "stages": len(a.stages), "tasks": a.tasks,
        "task_time_s": round(sum(s.run_s for s in a.stages), 3), "gc_s": round(sum(s.gc_s for s in a.stages), 3),
        "input_bytes": sum(s.input_bytes for s in a.stages), "output_bytes": sum(s.output_bytes for s in a.stages),
        "shuffle_read_bytes": sum(s.shuffle_read_bytes for s in a.stages),
        "shuffle_write_bytes": sum(s.shuffle_write_bytes for s in a.stages),
        "memory_spilled_bytes": sum(s.memory_spilled for s in a.stages),
        "disk_spilled_bytes": sum(s.disk_spilled for s in a.stages),
        "peak_heap_bytes": peak["JVMHeapMemory"],
        "peak_execution_bytes": peak["OnHeapExecutionMemory"] + peak["OffHeapExecutionMemory"],
        "failed_tasks": sum(sum(s.failures.values()) for s in a.stages),
    }


def _key(finding: dict[str, Any]) -> tuple[str, int | None]:
    return finding["check"], finding["stage"]


def compare(old: dict[str, Any], new: dict[str, Any], old_totals: dict[str, float],
            new_totals: dict[str, float]) -> dict[str, Any]:
    """The --json document: both applications, each metric's change, the findings gained, lost and kept."""
    metrics = []
    for key, label, unit in METRICS:
        before, after = old_totals[key], new_totals[key]
        change = None if not before else round((after - before) / before, 4)
        metrics.append({"metric": key, "label": label, "unit": unit, "old": before, "new": after,
                        "change": change})
    old_keys = {_key(f) for f in old["findings"]}
    new_keys = {_key(f) for f in new["findings"]}
    return {"old": old["application"], "new": new["application"], "metrics": metrics,
            "findings_gained": [f for f in new["findings"] if _key(f) not in old_keys],
            "findings_lost": [f for f in old["findings"] if _key(f) not in new_keys],
            "findings_kept": [f for f in new["findings"] if _key(f) in old_keys]}


def _show(value: float, unit: str) -> str:
    if unit == "bytes":
        return f"{value / 1024**2:,.1f} MiB"
    if unit == "s":
        return f"{value:,.1f} s"
    return f"{value:,.0f}"


def render(doc: dict[str, Any]) -> str:
    old, new = doc["old"], doc["new"]
    lines = [f"old: {old['name']} ({old['id']}), {'completed' if old['completed'] else 'did not complete'}",
             f"new: {new['name']} ({new['id']}), {'completed' if new['completed'] else 'did not complete'}", "",
             f"{'':<24}{'old':>16}{'new':>16}{'change':>10}"]
    for m in doc["metrics"]:
        change = "" if m["change"] is None else f"{m['change']:+.0%}"
        if m["old"] == m["new"]:
            change = "="
        lines.append(f"{m['label']:<24}{_show(m['old'], m['unit']):>16}{_show(m['new'], m['unit']):>16}{change:>10}")
    for title, key in (("findings gained", "findings_gained"), ("findings lost", "findings_lost"),
                       ("findings in both", "findings_kept")):
        lines.append("")
        lines.append(f"{title}: {len(doc[key]) or 'none'}")
        for f in doc[key]:
            where = f"stage {f['stage']}" if f["stage"] is not None else "application"
            lines.append(f"  {f['severity'].upper():<8}  {f['check']} ({where})")
    return "\n".join(lines)


def worse(doc: dict[str, Any]) -> bool:
    """The new run gained a warning or a critical finding (the comparison's exit code 1)."""
    return any(f["severity"] != "info" for f in doc["findings_gained"])

"""Benchmark the sales ETL against DuckDB on the same generated files.

    .venv/bin/python benchmarks/etl_bench.py [--sizes 150k,1.5m,15m] [--workdir build/bench] [--tutorial]

For each size it generates three CSV files with ``jobs/generate_data.py --scale`` and then times,
each as a whole separate process (JVM start-up included, as a user would see it):

* ``etl``: ``jobs/sales_etl.py`` as shipped (single scan, exact decimals, header and bad-row checks on), run
  the way a local user runs it: through ``tools/dev/local_run.py``, after one priming run has written the JVM class
  archive a user's first local run leaves behind (the event log goes to the work directory);
* ``etl-no-cds``: the same with the archive switched off (``SPARKSTACK_CDS_DIR=off``);
* ``etl-baseline`` (with ``--baseline SCRIPT``): an older ``sales_etl.py`` run directly, e.g. the previous
  commit's (``git show HEAD:jobs/sales_etl.py > /tmp/old.py``), to measure what a change costs;
* ``duckdb``: the same three outputs in DuckDB (DECIMAL(18,2) amounts, exact sums, averages rounded half up),
  one query per output, written as Parquet;
* ``duckdb-1scan``: DuckDB given the ETL's own plan (one scan into the fine-grained cube, the three outputs
  derived from it): the fastest plan we know, and the floor the ETL's ratio is judged against;
* ``tutorial`` (with ``--tutorial``): the tutorial's approach (inferSchema, one read per action).

The programs are run in interleaved rounds (each program once per round, best of ``--repeat``), so a change in
the machine's load affects all of them alike; the ratios within each round and their median are printed too.

Wall time, rows/s and the peak memory of the whole process tree (proportional set size sampled
from /proc every 100 ms, so the JVM started by PySpark counts) are printed, with ETL/DuckDB ratios. DuckDB is only a
benchmark dependency. After timing, the ETL's three outputs are compared with
DuckDB's, exactly (decimal values), so the processes being compared did the same work.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "jobs" / "generate_data.py"
ETL = [sys.executable, "-m", "tools.dev.local_run", "jobs/sales_etl.py"]
FILES = 3
COLUMNS = ("{'order_id': 'VARCHAR', 'city': 'VARCHAR', 'category': 'VARCHAR', 'amount': 'DECIMAL(18,2)', "
           "'quantity': 'INTEGER', 'date': 'DATE'}")
# Average rounded half up to cents in whole cents, as the ETL does (DuckDB's decimal division gives a double).
AVERAGE = ("CAST(CAST((CAST({total} * 100 AS HUGEINT) * 2 + {count}) // (2 * {count}) AS DECIMAL(18,0)) * 0.01 "
           "AS DECIMAL(18,2))")


@dataclass
class Measurement:
    """One timed process."""

    size: int
    tool: str
    wall_s: float
    peak_mb: float
    exit_code: int

    @property
    def rows_per_s(self) -> float:
        return self.size / self.wall_s if self.wall_s else math.inf


def parse_size(text: str) -> int:
    """'150k', '1.5m', '15m' or a plain number of rows."""
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def label(rows: int) -> str:
    return f"{rows / 1e6:g}M" if rows >= 1_000_000 else f"{rows / 1e3:g}k"


# ------------------------------------------------------------------------- process measurement


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def _memory_bytes(pid: int) -> int:
    """Proportional set size: shared pages (a forked child, mapped jars) are not counted twice."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/statm") as f:  # older kernels: resident set size
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _tree_memory_bytes(root: int) -> int:
    """Memory of a process and all its descendants (the JVM is PySpark's child)."""
    children = _children_map()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, ()))
        total += _memory_bytes(pid)
    return total


def measure(cmd: list[str], size: int, tool: str, log: Path, env: dict[str, str] | None = None) -> Measurement:
    """Run ``cmd`` to completion, sampling the tree's memory every 100 ms."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **(env or {})})
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _tree_memory_bytes(proc.pid))
            time.sleep(0.1)
        wall = time.perf_counter() - started
    return Measurement(size, tool, round(wall, 2), round(peak / 2**20), proc.returncode)


# ------------------------------------------------------------------------ the compared programs


def run_duckdb(input_dir: str, output: str, single_scan: bool) -> None:
    """The three aggregations in DuckDB, written as Parquet like the ETL's outputs."""
    import duckdb

    os.makedirs(output, exist_ok=True)
    con = duckdb.connect()
    source = f"read_csv('{input_dir}/*.csv', header = true, columns = {COLUMNS}, dateformat = '%Y-%m-%d')"
    if single_scan:
        con.execute(f"""CREATE TEMP TABLE fine AS SELECT city, category, month(date) AS month,
            sum(amount) AS revenue, count(*) AS orders, sum(quantity) AS items FROM {source} GROUP BY ALL""")
        city = f"""SELECT city, sum(revenue) AS total_revenue,
            {AVERAGE.format(total="sum(revenue)", count="sum(orders)")} AS avg_order_value,
            CAST(sum(orders) AS BIGINT) AS total_orders, CAST(sum(items) AS BIGINT) AS total_items
            FROM fine GROUP BY city"""
        monthly = ("SELECT month, category, sum(revenue) AS revenue, CAST(sum(orders) AS BIGINT) AS orders "
                   "FROM fine GROUP BY ALL")
        cross = "SELECT city, category, sum(revenue) AS revenue FROM fine GROUP BY ALL"
    else:
        city = f"""SELECT city, sum(amount) AS total_revenue,
            {AVERAGE.format(total="sum(amount)", count="count(*)")} AS avg_order_value,
            count(*) AS total_orders, CAST(sum(quantity) AS BIGINT) AS total_items FROM {source} GROUP BY city"""
        monthly = f"""SELECT month(date) AS month, category, sum(amount) AS revenue, count(*) AS orders
            FROM {source} GROUP BY ALL"""
        cross = f"SELECT city, category, sum(amount) AS revenue FROM {source} GROUP BY ALL"
    for name, query, order in (
        ("city_revenue", city, "total_revenue DESC"),
        ("monthly_categories", monthly, "month, revenue DESC"),
        ("cross_tab", cross, "revenue DESC"),
    ):
        con.execute(f"COPY ({query} ORDER BY {order}) TO '{output}/{name}.parquet' (FORMAT parquet)")


def run_tutorial(input_dir: str, output: str) -> None:
    """The tutorial's approach, for the 'before' figure: inferred schema, a read per action."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F  # noqa: N812

    spark = SparkSession.builder.appName("tutorial-etl").getOrCreate()
    df = spark.read.option("header", True).option("inferSchema", True).csv(f"{input_dir}/*.csv")
    city = df.groupBy("city").agg(
        F.sum("amount").alias("total_revenue"), F.avg("amount").alias("avg_order_value"),
        F.count("*").alias("total_orders"), F.sum("quantity").alias("total_items"),
    ).orderBy(F.desc("total_revenue"))
    city.show(10, truncate=False)
    monthly = df.withColumn("month", F.month(F.to_date("date"))).groupBy("month", "category").agg(
        F.sum("amount").alias("revenue"), F.count("*").alias("orders")
    ).orderBy("month", F.desc("revenue"))
    monthly.show(20, truncate=False)
    cross = df.groupBy("city", "category").agg(F.sum("amount").alias("revenue")).orderBy(F.desc("revenue"))
    for name, result in (("city_revenue", city), ("monthly_categories", monthly), ("cross_tab", cross)):
        result.write.mode("overwrite").parquet(f"{output}/{name}")
    spark.stop()


# --------------------------------------------------------------------------------- the benchmark


def generate(rows: int, data_dir: Path, log: Path) -> Measurement:
    per_file = math.ceil(rows / FILES)
    cmd = [sys.executable, str(GENERATOR), "--output", str(data_dir), "--scale",
           "--files", str(FILES), "--rows-per-file", str(per_file)]
    result = measure(cmd, per_file * FILES, "generate", log)
    if result.exit_code:
        raise SystemExit(f"generator failed, see {log}")
    return result


def same_results(etl_out: Path, duck_out: Path) -> bool:
    """The ETL and DuckDB agree exactly on all three outputs (decimal money, counts, keys)."""
    import duckdb

    keys = {"city_revenue": "city", "monthly_categories": "month, category", "cross_tab": "city, category"}
    for name, key in keys.items():
        ours = duckdb.sql(f"SELECT * FROM read_parquet('{etl_out}/{name}/*.parquet') ORDER BY {key}").fetchall()
        theirs = duckdb.sql(f"SELECT * FROM read_parquet('{duck_out}/{name}.parquet') ORDER BY {key}").fetchall()
        if ours != theirs:
            print(f"{name} differs: {ours[:3]} vs {theirs[:3]}", file=sys.stderr)
            return False
    return True


def bench_size(rows: int, workdir: Path, tutorial: bool, repeat: int, baseline: Path | None) -> list[Measurement]:
    name = label(rows)
    data, logs = workdir / f"data-{name}", workdir / "logs"
    results = [generate(rows, data, logs / f"generate-{name}.log")]
    rows = results[0].size
    me = str(Path(__file__).resolve())
    etl = [*ETL, "--input", str(data), "--output", str(workdir / f"out-etl-{name}")]
    tools = [
        ("etl", etl),
        ("etl-no-cds", etl),
        ("duckdb", [sys.executable, me, "--run", "duckdb", str(data), str(workdir / f"out-duckdb-{name}")]),
        ("duckdb-1scan", [sys.executable, me, "--run", "duckdb-1scan", str(data),
                          str(workdir / f"out-duckdb1-{name}")]),
    ]
    if baseline is not None:
        tools.append(("etl-baseline", [sys.executable, str(baseline), "--input", str(data),
                                       "--output", str(workdir / f"out-baseline-{name}")]))
    if tutorial:
        tools.append(("tutorial", [sys.executable, me, "--run", "tutorial", str(data),
                                   str(workdir / f"out-tutorial-{name}")]))
    rounds: list[dict[str, Measurement]] = []
    for attempt in range(repeat):  # interleaved rounds: load changes hit every program alike
        rounds.append({})
        for tool, cmd in tools:
            env = {"SPARKSTACK_CDS_DIR": "off" if tool == "etl-no-cds" else str(workdir / "cds"),
                   "SPARKSTACK_EVENT_DIR": str(workdir / "events")}
            m = measure(cmd, rows, tool, logs / f"{tool}-{name}-{attempt}.log", env)
            if m.exit_code:
                raise SystemExit(f"{tool} failed at {name} rows, see {logs}")
            print(f"  {tool}: {m.wall_s:.2f} s", flush=True)
            rounds[-1][tool] = m
    results += [min((r[tool] for r in rounds), key=lambda m: m.wall_s) for tool, _ in tools]
    for line in paired_ratios(rounds):
        print(line, flush=True)
    if not same_results(workdir / f"out-etl-{name}", workdir / f"out-duckdb1-{name}"):
        raise SystemExit(f"ETL and DuckDB results differ at {name} rows")
    return results


# Ratios taken within each round, where both programs ran a minute apart: on a machine whose speed drifts,
# their median is steadier than the ratio of two best-of times taken in different rounds. Which ETL pairs
# like for like with the baseline depends on whether the older script maps the class archive itself (jobs
# before the local launcher existed did); both are printed.
PAIRS = (("etl", "duckdb-1scan"), ("etl", "etl-baseline"), ("etl-no-cds", "etl-baseline"))


def paired_ratios(rounds: list[dict[str, Measurement]]) -> list[str]:
    """One line per pair of programs: its ratio in each round and their median."""
    lines = []
    for a, b in PAIRS:
        ratios = [r[a].wall_s / r[b].wall_s for r in rounds if a in r and b in r]
        if ratios:
            per_round = ", ".join(f"{x:.2f}" for x in ratios)
            lines.append(f"  {a} / {b} per round: {per_round}; median {statistics.median(ratios):.2f}")
    return lines


def prime_class_archive(workdir: Path) -> Measurement:
    """Run the ETL once on a small input so the timed runs find the class archive, as every run
    after a user's first one does (``etl-no-cds`` shows the runs without it)."""
    shutil.rmtree(workdir / "cds", ignore_errors=True)
    data = workdir / "data-prime"
    generate(3_000, data, workdir / "logs" / "generate-prime.log")
    cmd = [*ETL, "--input", str(data), "--output", str(workdir / "out-prime")]
    result = measure(cmd, 3_000, "etl-first-run", workdir / "logs" / "etl-first-run.log",
                     {"SPARKSTACK_CDS_DIR": str(workdir / "cds"), "SPARKSTACK_EVENT_DIR": str(workdir / "events")})
    if result.exit_code or not any((workdir / "cds").glob("*.jsa")):
        raise SystemExit(f"priming run failed, see {workdir / 'logs' / 'etl-first-run.log'}")
    return result


def report(results: list[Measurement]) -> str:
    """A Markdown table, ready for the docs."""
    lines = ["| rows | program | wall s | rows/s | peak MB | vs duckdb | vs duckdb-1scan |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    by_key = {(m.size, m.tool): m for m in results}
    for m in results:
        if m.tool == "etl-first-run":
            continue
        duck, floor = by_key.get((m.size, "duckdb")), by_key.get((m.size, "duckdb-1scan"))
        ratio = f"{m.wall_s / duck.wall_s:.1f}x" if duck and m.tool != "generate" else ""
        ratio1 = f"{m.wall_s / floor.wall_s:.1f}x" if floor and m.tool != "generate" else ""
        lines.append(f"| {label(m.size)} | {m.tool} | {m.wall_s:.2f} | {m.rows_per_s:,.0f} | "
                     f"{m.peak_mb:,.0f} | {ratio} | {ratio1} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time the sales ETL against DuckDB.")
    parser.add_argument("--sizes", default="150k,1.5m,15m",
                        help="comma-separated row counts (default %(default)s)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "bench",
                        help="data, outputs and logs (default build/bench)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per program, best kept (default 1)")
    parser.add_argument("--tutorial", action="store_true", help="also time the tutorial's approach (slow)")
    parser.add_argument("--baseline", type=Path, help="also time this older sales_etl.py script (run directly)")
    parser.add_argument("--json", type=Path, help="also write the measurements to this file")
    parser.add_argument("--run", nargs=3, metavar=("PROGRAM", "INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.run:  # a child process started by the benchmark itself
        program, input_dir, output = args.run
        if program == "tutorial":
            run_tutorial(input_dir, output)
        else:
            run_duckdb(input_dir, output, single_scan=program == "duckdb-1scan")
        return 0
    results = [prime_class_archive(args.workdir)]
    print(f"first local run, 3k rows (dumps the JVM class archive, once): {results[0].wall_s:.1f} s, "
          f"peak {results[0].peak_mb:,.0f} MB", flush=True)
    for size in (parse_size(s) for s in args.sizes.split(",") if s.strip()):
        results += bench_size(size, args.workdir, args.tutorial, args.repeat, args.baseline)
        print(report([m for m in results if m.size == results[-1].size]), flush=True)
    print(f"\n{os.cpu_count()} CPUs; peak MB = memory (PSS) of the process tree\n")
    print(report(results))
    if args.json:
        rows = [asdict(m) | {"rows_per_s": round(m.rows_per_s)} for m in results]
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

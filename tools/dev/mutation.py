"""Mutation testing with mutmut, one package at a time: the score per package and every surviving mutant.

A mutant is a small change to product code (a flipped comparison, a changed constant, a dropped argument); the
tests that run the changed function must fail for it. A survivor is a change no test notices: in a rule, a
default, a security context or money it is a missing test; in a log message it may stay.

Each package is mutated in its own scratch copy of the working tree (`--work`, default
~/.cache/sparkstack/mutation/<package>), so the tree and anything running in it stay untouched and a re-run
reuses mutmut's results for code that did not change. mutmut maps tests to functions by running them in
process, so each package lists the tests that call its code directly; code reached only through a subprocess
(spark-submit, the policy pack's own wiring) shows up as "no tests" unless an in-process test also calls it. The
policy tests that go over gRPC run the same rules in process during mutmut's stats pass (tests/policy_server.py),
so they are run against the rules' mutants, which the pack's process inherits.

    scripts/mutation.sh infra doctor                  # or no argument: every package (many hours on 2 cores)
    scripts/mutation.sh infra --only 'infra.values.*'  # one module's mutants (pure rules: about 20 a minute;
                                                      # code the Pulumi program runs: about 4)
    scripts/mutation.sh --json policy                 # machine-readable: scores and survivors
    scripts/mutation.sh policy --sample 120 --seed 1  # a seeded uniform sample of the package's mutants

A whole package takes hours here (infra has about 4,300 mutants), so `--sample N --seed S` checks a uniform random
sample instead: mutmut generates every mutant, `N` names are drawn with Python's `random.Random(S)` from the
sorted list of all of them, and only those run. The score is then an estimate, printed with its 95 % Wilson
interval; the same seed and the same code draw the same mutants.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sparkstack" / "mutation"
# Tests that need a cluster, the real engines or minutes of Spark per run: never part of a mutant's check.
_NEVER = ("tests/test_real_engines.py", "tests/test_e2e.py")


@dataclass(frozen=True)
class Package:
    sources: tuple[str, ...]
    tests: tuple[str, ...]
    # The score this package should reach (issue 24's aim); the command exits 1 below it.
    aim: float
    # A folder whose modules are imported by their bare names (`import sparkstack_rules`): the policy pack's, as
    # the Pulumi CLI runs it from policy/, and so its tests too. mutmut names a mutant after its file's path
    # (`policy.sparkstack_rules.x_f__mutmut_1`) and applies it only in a module of that name, so such a folder
    # is mutated as `src/` (mutmut drops that prefix from names) and the mutated copy is linked back as
    # mutants/<folder>: tests and the pack's process then import the mutated modules under their own names.
    top_level: str | None = None
    # Tests of this package mutmut must not run: they check the process around the code, not the code.
    deselect: tuple[str, ...] = ()


PACKAGES = {
    "infra": Package(("infra/",), (
        "tests/test_values.py", "tests/test_config.py", "tests/test_stack.py", "tests/test_application.py",
        "tests/test_spark_spec.py", "tests/test_network_policy.py", "tests/test_kind_cluster.py",
        "tests/test_manifests.py", "tests/test_pod_security.py", "tests/test_teams.py", "tests/test_shuffle.py",
        "tests/test_images.py", "tests/test_object_store.py", "tests/test_conventions.py",
        "tests/test_config_images.py"), 85.0),
    "policy": Package(("src/",), (
        "tests/test_policy.py", "tests/test_policy_conf.py", "tests/test_policy_scripts.py",
        "tests/test_policy_values.py", "tests/test_policy_rules.py"), 85.0, top_level="policy"),
    # The jobs are a flat folder of scripts that import each other by bare name (`import sales_transforms`, as
    # spark-submit runs them), and the tests import them the same way (tests/job_modules.py), so mutmut would
    # find no test for any mutant under their `jobs.` names: mutated as `src/`, like the policy pack.
    "jobs": Package(("src/",), (
        "tests/test_sales_transforms.py", "tests/test_sales_etl.py", "tests/test_publish.py",
        "tests/test_generate_data.py", "tests/test_spark_session.py"), 80.0, top_level="jobs",
        # It kills the job's JVM and wants one line on stderr; under mutmut's fork server py4j adds a traceback.
        deselect=("tests/test_sales_etl.py::test_a_dead_jvm_exits_3_with_one_line",)),
    "doctor": Package(("tools/doctor/diagnosis.py", "tools/doctor/eventlog.py", "tools/doctor/log_summary.py",
                       "tools/doctor/sql_summary.py", "tools/doctor/resource_checks.py", "tools/doctor/sql_checks.py",
                       "tools/doctor/finding.py", "tools/doctor/failure_checks.py",
                       "tools/doctor/stage_checks.py", "tools/doctor/stage_summary.py"),
                      ("tests/test_doctor.py", "tests/test_doctor_round2.py", "tests/test_doctor_checks.py"), 80.0),
}
# mutmut's exit-code statuses that count as caught.
_CAUGHT = {"killed", "timeout", "caught by type check"}
_RESULT = re.compile(r"^\s+(\S+): (.+)$")
# The normal quantile of a two-sided 95 % interval.
_Z95 = 1.959963984540054
# Generates every mutant of the copy's configured sources and writes mutants/<file>.meta, without running a
# test: the first steps of `mutmut run` (mutmut 3.8.1's __main__._run), which has no command that stops there.
_GENERATE = (
    "import sys\n"
    "from mutmut.__main__ import copy_also_copy_files, copy_src_dir, create_mutants, setup_source_paths\n"
    "copy_src_dir(); copy_also_copy_files(); setup_source_paths(); create_mutants(int(sys.argv[1]))\n"
)


def wilson(caught: int, checked: int, z: float = _Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion, in percent: it stays inside 0-100 % and keeps its coverage for
    small samples and scores near 100 %, where the normal approximation (p ± z·√(p(1-p)/n)) does not."""
    if checked <= 0:
        return 0.0, 100.0
    if not 0 <= caught <= checked:
        raise ValueError(f"caught ({caught}) must lie between 0 and checked ({checked})")
    p = caught / checked
    denominator = 1 + z * z / checked
    centre = (p + z * z / (2 * checked)) / denominator
    half = z * math.sqrt(p * (1 - p) / checked + z * z / (4 * checked * checked)) / denominator
    return 100.0 * max(0.0, centre - half), 100.0 * min(1.0, centre + half)


def eligible(names: list[str], only: list[str] | None = None) -> list[str]:
    """The distinct names, sorted, that match a glob of `only` (all of them without `only`), as mutmut matches."""
    return sorted({n for n in names if not only or any(fnmatch.fnmatch(n, glob) for glob in only)})


def sample_names(names: list[str], size: int, seed: int, only: list[str] | None = None) -> list[str]:
    """`size` names drawn uniformly without replacement from `names` (those matching a glob of `only`, when
    given), reproducible from `seed`: the draw is made from the sorted list, so the order names are found in does
    not matter. All of them when `size` is not smaller than their number."""
    if size < 1:
        raise ValueError(f"--sample must be at least 1, not {size}")
    pool = eligible(names, only)
    if size >= len(pool):
        return pool
    return sorted(random.Random(seed).sample(pool, size))


def mutant_names(copy: Path) -> list[str]:
    """Every mutant mutmut generated in `copy`: the keys of its mutants/**/*.py.meta files."""
    names: list[str] = []
    for meta in sorted((copy / "mutants").rglob("*.py.meta")):
        names.extend(json.loads(meta.read_text())["exit_code_by_key"])
    return names


@dataclass
class Score:
    package: str
    statuses: Counter
    survivors: list[str]
    # The number of mutants the package has when only a sample was checked, else None.
    population: int | None = None

    @property
    def total(self) -> int:
        return sum(n for status, n in self.statuses.items() if status not in ("skipped", "not checked"))

    @property
    def caught(self) -> int:
        return sum(self.statuses[s] for s in _CAUGHT)

    @property
    def percent(self) -> float:
        return 100.0 * self.caught / self.total if self.total else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """95 % Wilson interval of the package's score: the uncertainty of a sample; a full run has none, but
        the interval is still the honest statement of what `total` checks support."""
        return wilson(self.caught, self.total)


def parse_results(listing: str, keep: set[str] | None = None) -> tuple[Counter, list[str]]:
    """Statuses and survivors from `mutmut results --all true`, only for the names in `keep` when given."""
    statuses: Counter = Counter()
    survivors = []
    for line in listing.splitlines():
        match = _RESULT.match(line)
        if match and (keep is None or match.group(1) in keep):
            statuses[match.group(2)] += 1
            if match.group(2) in ("survived", "no tests"):
                survivors.append(f"{match.group(1)} ({match.group(2)})")
    return statuses, survivors


def scratch_copy(package: str, work: Path) -> Path:
    """The working tree's tracked files (with uncommitted edits) in `work/package`; mutmut's cache is kept."""
    target = work / package
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source, dest = ROOT / name, target / name
        if not source.is_file():
            continue
        if dest.exists() and dest.stat().st_mtime >= source.stat().st_mtime and dest.stat().st_size == \
                source.stat().st_size:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)
    return target


def lay_out_top_level(pkg: Package, copy: Path) -> None:
    """For a `top_level` package: its folder's files as `src/` of the copy (mtimes kept, so mutmut reuses the
    mutants of unchanged files), and mutants/<folder> a link to the mutated mutants/src."""
    if pkg.top_level is None:
        return
    shutil.copytree(copy / pkg.top_level, copy / "src", copy_function=shutil.copy2, dirs_exist_ok=True)
    link = copy / "mutants" / pkg.top_level
    link.parent.mkdir(exist_ok=True)
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    if not link.is_symlink():
        link.symlink_to("src", target_is_directory=True)


def eventlog_apps(work: Path) -> Path:
    """The doctor's test event logs (tests/scenarios/eventlog_apps.py), written once into `work` and reused.

    mutmut runs each mutant's tests as a pytest session of its own, and the doctor's tests write their logs with
    real Spark applications once per session: minutes per mutant. The logs do not depend on the doctor's code, so
    they are made once (again when the script changes) and passed on in SPARKSTACK_EVENTLOG_APPS."""
    script = ROOT / "tests" / "scenarios" / "eventlog_apps.py"
    target = work / "eventlog-apps"
    done = target / "apps.json"
    if done.is_file() and done.stat().st_mtime >= script.stat().st_mtime:
        return target
    shutil.rmtree(target, ignore_errors=True)
    result = subprocess.run([sys.executable, str(script), str(target)], cwd=ROOT, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0 or not done.is_file():
        raise SystemExit(f"{script.name} failed ({result.returncode}), so the doctor's tests have no event logs:\n"
                         f"{result.stderr[-4000:]}")
    return target


def mutmut_config(pkg: Package, copy: Path) -> str:
    """The [tool.mutmut] table for `pkg`: everything else in the copy goes along, so tests find their files."""
    # The package's own folder is left out: mutmut copies its sources itself, and copying them again after would
    # make every run regenerate (and re-hash) all of the package's mutants.
    also = sorted(p.name + ("/" if p.is_dir() else "") for p in copy.iterdir()
                  if p.name not in ("mutants", "pyproject.toml") and not p.name.startswith(".venv")
                  and f"{p.name}/" not in pkg.sources and p.name != pkg.top_level)
    table = {
        "source_paths": list(pkg.sources),
        "also_copy": also,
        "pytest_add_cli_args_test_selection": list(pkg.tests),
        # checkov takes half a minute a run and checks no code of ours.
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q", "-k", "not checkov",
                                *[f"--deselect={t}" for t in (*_NEVER, *pkg.deselect)]],
        # The mock engine runs gRPC servers in the test process; gRPC does not survive fork, so workers come
        # from a clean fork server instead of the process that ran the tests.
        "process_isolation": "forkserver",
        # Every pytest run's command and output, in mutmut.log of the copy: without it a failed clean or stats pass
        # says only "failed", not which test failed or why.
        "debug": True,
    }
    return "\n[tool.mutmut]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in table.items())


def run(package: str, work: Path, children: int, quiet: bool, only: list[str], sample: int | None = None,
        seed: int = 0) -> Score:
    pkg = PACKAGES[package]
    copy = scratch_copy(package, work)
    lay_out_top_level(pkg, copy)
    pyproject = (ROOT / "pyproject.toml").read_text() + mutmut_config(pkg, copy)
    (copy / "pyproject.toml").write_text(pyproject)
    mutmut = [str(Path(sys.executable).parent / "mutmut")]
    # SPARKSTACK_MUTATION: fixtures that run the Pulumi program run once per test (tests/scopes.py).
    env = {**os.environ, "SPARKSTACK_MUTATION": "1", "SPARK_OPERATOR_REFERENCE": os.environ.get(
        "SPARK_OPERATOR_REFERENCE", str(ROOT.parent / "shared" / "reference" / "spark-operator-v2.5.2"))}
    if package == "doctor" and not env.get("SPARKSTACK_EVENTLOG_APPS"):
        env["SPARKSTACK_EVENTLOG_APPS"] = str(eventlog_apps(work))
    log = (copy / "mutmut.log").open("w")
    chosen: list[str] | None = None
    population = None
    if sample is not None:
        subprocess.run([sys.executable, "-c", _GENERATE, str(children)], cwd=copy, env=env, stdout=subprocess.DEVNULL,
                       check=True)
        names = mutant_names(copy)
        chosen = sample_names(names, sample, seed, only)
        population = len(eligible(names, only))
        if not chosen:
            raise SystemExit(f"{package}: no mutant matches {only}")
        (copy / "mutants" / "sample.txt").write_text("".join(f"{n}\n" for n in chosen))
    if not quiet:
        what = f"{len(chosen)} sampled" if chosen is not None else "the --only" if only else "all"
        print(f"{package}: mutmut run on {what} mutant(s); its output goes "
              f"to {copy / 'mutmut.log'}", flush=True)
    with log:
        subprocess.run([*mutmut, "run", "--max-children", str(children), *(chosen or only)], cwd=copy, env=env,
                       stdout=log, stderr=subprocess.STDOUT, check=False)
    listing = subprocess.run([*mutmut, "results", "--all", "true"], cwd=copy, env=env, capture_output=True,
                             text=True, check=True).stdout
    statuses, survivors = parse_results(listing, set(chosen) if chosen is not None else None)
    return Score(package, statuses, survivors, population)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/mutation.sh", description=__doc__.split("\n\n")[0],
        epilog="example: scripts/mutation.sh infra doctor", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("packages", nargs="*", metavar="PACKAGE",
                        help=f"one of {', '.join(PACKAGES)} (default: all)")
    parser.add_argument("--work", type=Path, default=WORK, help=f"scratch copies (default {WORK})")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2, help="mutants tested at once")
    parser.add_argument("--only", action="append", default=[], metavar="GLOB",
                        help="only mutants whose name matches, e.g. 'infra.values.*' (repeatable); the score counts "
                             "every mutant checked so far, this run or an earlier one")
    parser.add_argument("--sample", type=int, metavar="N",
                        help="check only N mutants drawn uniformly at random from all of the package's (after "
                             "--only); the score is then an estimate with its 95 %% interval")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --sample draw (default 0)")
    parser.add_argument("--json", action="store_true", help="print scores and survivors as JSON")
    args = parser.parse_args(argv)
    if args.sample is not None and args.sample < 1:
        parser.error(f"--sample must be at least 1, not {args.sample}")
    unknown = [p for p in args.packages if p not in PACKAGES]
    if unknown:
        parser.error(f"unknown package(s) {', '.join(unknown)}; choose from {', '.join(PACKAGES)}")
    scores = [run(p, args.work, args.children, args.json, args.only, args.sample, args.seed)
              for p in args.packages or PACKAGES]
    print(report(scores, as_json=args.json, seed=args.seed if args.sample is not None else None))
    return 0 if all(s.percent >= PACKAGES[s.package].aim for s in scores) else 1


def report(scores: list[Score], as_json: bool = False, seed: int | None = None) -> str:
    """Survivors and the score table (or JSON): checked, caught, score and its 95 % interval per package."""
    if as_json:
        return json.dumps({s.package: {
            "score": round(s.percent, 1), "caught": s.caught, "total": s.total,
            "interval95": [round(x, 1) for x in s.interval], "population": s.population, "seed": seed,
            "aim": PACKAGES[s.package].aim, "statuses": dict(s.statuses), "survivors": s.survivors}
            for s in scores}, indent=2)
    lines = []
    for s in scores:
        lines += [f"\n{s.package}: {len(s.survivors)} surviving mutant(s)", *(f"  {name}" for name in s.survivors)]
    lines.append(f"\n{'package':<8} {'score':>7} {'95 % interval':>15} {'caught':>7} {'checked':>8} {'of':>6} "
                 f"{'aim':>5}")
    for s in scores:
        low, high = s.interval
        population = s.population if s.population is not None else s.total
        lines.append(f"{s.package:<8} {s.percent:>6.1f}% {f'{low:.1f}-{high:.1f} %':>15} {s.caught:>7} "
                     f"{s.total:>8} {population:>6} {PACKAGES[s.package].aim:>4.0f}%")
    if seed is not None:
        lines.append(f"(a uniform sample, seed {seed}: the score estimates the package's; the interval is its 95 % "
                     "Wilson interval)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

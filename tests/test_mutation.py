"""Mutation testing's sample and statistics (tools/dev/mutation.py): the draw is reproducible and uniform, the
score's 95 % interval is Wilson's, and the mutant names are mutmut's own."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tools.dev import mutation
from tools.dev.mutation import _GENERATE, Score, mutant_names, parse_results, report, sample_names, wilson

NAMES = [f"infra.values.x_rule__mutmut_{i}" for i in range(1, 41)] + [f"infra.conventions.x_labels__mutmut_{i}"
                                                                       for i in range(1, 11)]


# Newcombe (1998), "Two-sided confidence intervals for the single proportion: comparison of seven methods",
# Statistics in Medicine 17:857-872, table II, method 3 (Wilson's score interval without continuity correction),
# to the paper's four decimals.
@pytest.mark.parametrize(("caught", "checked", "low", "high"), [
    (81, 263, 25.53, 36.62), (15, 148, 6.24, 16.05), (0, 20, 0.0, 16.11), (1, 29, 0.61, 17.18)])
def test_the_interval_is_wilsons_as_published(caught: int, checked: int, low: float, high: float) -> None:
    got = wilson(caught, checked)
    assert got == (pytest.approx(low, abs=0.006), pytest.approx(high, abs=0.006))


def _score_test_bound(caught: int, checked: int, upper: bool) -> float:
    """The proportion p0 where the score test |p - p0| / sqrt(p0 (1 - p0) / n) reaches 1.96 (to 4 decimals of
    z), found by bisection: Wilson's interval is exactly the set of p0 that test does not reject."""
    p, z = caught / checked, 1.959964
    lo, hi = (p, 1.0) if upper else (0.0, p)
    for _ in range(100):
        mid = (lo + hi) / 2
        rejected = abs(p - mid) / math.sqrt(mid * (1 - mid) / checked) > z
        # Going outwards from p, the statistic grows: rejected means we are past the bound.
        if rejected == upper:
            hi = mid
        else:
            lo = mid
    return 100 * (lo + hi) / 2


@pytest.mark.parametrize(("caught", "checked"), [(88, 116), (110, 120), (269, 361), (119, 120)])
def test_the_interval_inverts_the_score_test(caught: int, checked: int) -> None:
    low, high = wilson(caught, checked)
    assert low == pytest.approx(_score_test_bound(caught, checked, upper=False), abs=1e-4)
    assert high == pytest.approx(_score_test_bound(caught, checked, upper=True), abs=1e-4)
    assert low < 100 * caught / checked < high


def test_the_interval_of_every_mutant_caught_ends_at_100_and_of_none_checked_says_nothing() -> None:
    low, high = wilson(120, 120)
    assert high == pytest.approx(100.0) and 96 < low < 97  # 120/(120+1.96²) = 96.9 %
    assert wilson(0, 0) == (0.0, 100.0)
    with pytest.raises(ValueError, match="caught"):
        wilson(5, 4)


def test_the_same_seed_draws_the_same_mutants_whatever_order_they_are_listed_in() -> None:
    first = sample_names(NAMES, 12, seed=7)
    assert sample_names(list(reversed(NAMES)), 12, seed=7) == first
    assert len(first) == len(set(first)) == 12 and set(first) <= set(NAMES)
    assert sample_names(NAMES, 12, seed=8) != first


def test_the_sample_is_uniform_over_every_mutant() -> None:
    # 3 of 10 over 3000 seeds: each name is expected 900 times, standard deviation sqrt(3000 * 0.3 * 0.7) = 25.
    pool = [f"m{i}" for i in range(10)]
    counts = Counter(name for seed in range(3000) for name in sample_names(pool, 3, seed))
    assert set(counts) == set(pool)
    assert all(abs(n - 900) < 5 * 25 for n in counts.values()), counts


def test_only_narrows_the_pool_and_a_sample_as_large_as_the_pool_takes_all_of_it() -> None:
    conventions = sample_names(NAMES, 100, seed=1, only=["infra.conventions.*"])
    assert conventions == sorted(n for n in NAMES if n.startswith("infra.conventions."))
    assert len(sample_names(NAMES, 5, seed=1, only=["infra.values.*"])) == 5
    with pytest.raises(ValueError, match="at least 1"):
        sample_names(NAMES, 0, seed=1)


def test_the_score_counts_only_the_sampled_mutants() -> None:
    listing = ("    a.x_f__mutmut_1: killed\n    a.x_f__mutmut_2: survived\n    a.x_f__mutmut_3: no tests\n"
               "    a.x_g__mutmut_1: timeout\n    a.x_g__mutmut_2: survived\n")
    statuses, survivors = parse_results(listing, keep={"a.x_f__mutmut_1", "a.x_f__mutmut_2", "a.x_g__mutmut_1"})
    assert statuses == Counter({"killed": 1, "survived": 1, "timeout": 1})
    assert survivors == ["a.x_f__mutmut_2 (survived)"]
    score = Score("infra", statuses, survivors, population=4312)
    assert (score.caught, score.total) == (2, 3)
    assert score.percent == pytest.approx(200 / 3)
    table = report([score], seed=3)
    assert "infra      66.7%" in table and "seed 3" in table and " 4312 " in table
    low, high = wilson(2, 3)
    assert f"{low:.1f}-{high:.1f} %" in table
    data = json.loads(report([score], as_json=True, seed=3))["infra"]
    assert (data["caught"], data["total"], data["population"], data["seed"]) == (2, 3, 4312, 3)


def test_every_generated_mutant_is_listed_under_mutmuts_own_names(tmp_path: Path) -> None:
    """The generation step runs the pinned mutmut on a one-function package; the names it lists are the ones
    `mutmut run` accepts (module path, x_<function>, __mutmut_<n>), one for each mutation mutmut made."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "rule.py").write_text("def at_least(x):\n    return x >= 3\n")
    (tmp_path / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["pkg/"]\n')
    subprocess.run([sys.executable, "-c", _GENERATE, "1"], cwd=tmp_path, check=True, capture_output=True)
    names = mutant_names(tmp_path)
    # `>=` becomes `>`, and 3 becomes 4: the two mutations mutmut 3.8.1 makes of this line.
    assert sorted(names) == ["pkg.rule.x_at_least__mutmut_1", "pkg.rule.x_at_least__mutmut_2"]
    mutated = (tmp_path / "mutants" / "pkg" / "rule.py").read_text()
    assert "x > 3" in mutated and "x >= 4" in mutated


def test_the_doctors_event_logs_are_written_once_and_again_when_their_script_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """mutmut runs each mutant's tests in a session of its own: the Spark applications that write the doctor's
    logs must run once per scratch directory, not once per mutant, and a changed script must not be served old
    logs; a failed run stops the measurement with the script's error instead of scoring tests that cannot run."""
    script = tmp_path / "tests" / "scenarios" / "eventlog_apps.py"
    script.parent.mkdir(parents=True)
    script.write_text("import pathlib, sys\nout = pathlib.Path(sys.argv[1]); out.mkdir(parents=True)\n"
                      "(out / 'apps.json').write_text('{}')\nprint('ran', file=sys.stderr)\n")
    monkeypatch.setattr(mutation, "ROOT", tmp_path)
    runs = []
    real_run = subprocess.run
    monkeypatch.setattr(mutation.subprocess, "run", lambda *a, **k: runs.append(a[0]) or real_run(*a, **k))
    work = tmp_path / "work"
    assert mutation.eventlog_apps(work) == work / "eventlog-apps"
    assert (work / "eventlog-apps" / "apps.json").read_text() == "{}" and len(runs) == 1
    assert mutation.eventlog_apps(work) == work / "eventlog-apps" and len(runs) == 1  # reused
    stamp = (work / "eventlog-apps" / "apps.json").stat().st_mtime
    os.utime(script, (stamp + 10, stamp + 10))  # the script changed after the logs were written
    mutation.eventlog_apps(work)
    assert len(runs) == 2
    script.write_text("import sys\nprint('no Java here', file=sys.stderr)\nsys.exit(3)\n")
    os.utime(script, (stamp + 100, stamp + 100))
    with pytest.raises(SystemExit) as stopped:
        mutation.eventlog_apps(work)
    assert str(stopped.value) == ("eventlog_apps.py failed (3), so the doctor's tests have no event logs:\n"
                                  "no Java here\n")

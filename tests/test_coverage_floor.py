"""The coverage floors: which package a file counts towards, and what falls under a floor."""

from __future__ import annotations

import pytest

from tools.dev.coverage_floor import FLOORS, Figures, package_of, under_floor


@pytest.mark.parametrize(("path", "package"), [
    ("infra/config.py", "infra"), ("infra/spark/builder.py", "infra"), ("tools/engines/kube.py", "tools/engines"),
    ("tools/plan/render.py", "tools"), ("tools/cli.py", "tools"), ("jobs/sales_etl.py", "jobs"),
    ("policy/spec_rules.py", "policy"), ("tests/test_stack.py", None), ("__main__.py", None), ("infra", None),
])
def test_each_file_counts_towards_its_most_specific_package(path: str, package: str | None) -> None:
    assert package_of(path) == package


def test_a_figure_one_statement_under_its_floor_fails_and_the_floor_itself_passes() -> None:
    lines, branches = FLOORS["jobs"]
    at_floor = Figures(statements=1000, covered=int(lines * 10), branches=1000, covered_branches=int(branches * 10))
    assert under_floor({"jobs": at_floor}) == []
    below = Figures(statements=1000, covered=int(lines * 10) - 1, branches=1000,
                    covered_branches=int(branches * 10))
    assert under_floor({"jobs": below}) == [f"jobs: lines {lines - 0.1:.1f}% < floor {lines:.0f}%"]
    assert under_floor({"jobs": below}, skip={"jobs"}) == []


def test_a_package_without_branches_or_statements_is_not_under_any_floor() -> None:
    assert under_floor({"tools/engines": Figures()}) == []
